//! Per-second log sampling as the collector's debug exporter does it: the first `initial`
//! messages of each second are logged, then one in every `thereafter`.

use std::time::{Duration, Instant};

/// Decides which exports get logged.
pub struct Sampler {
    initial: u64,
    thereafter: u64,
    window_start: Option<Instant>,
    count: u64,
}

impl Sampler {
    /// A sampler with the collector's two settings.
    pub fn new(initial: u64, thereafter: u64) -> Self {
        Sampler {
            initial,
            thereafter: thereafter.max(1),
            window_start: None,
            count: 0,
        }
    }

    /// Whether the message at `now` is logged.
    pub fn keep(&mut self, now: Instant) -> bool {
        match self.window_start {
            Some(s) if now.duration_since(s) < Duration::from_secs(1) => {}
            _ => {
                self.window_start = Some(now);
                self.count = 0;
            }
        }
        self.count += 1;
        if self.count <= self.initial {
            return true;
        }
        (self.count - self.initial).is_multiple_of(self.thereafter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_initial_then_every_nth_per_second() {
        let t0 = Instant::now();
        let mut s = Sampler::new(2, 3);
        let kept: Vec<bool> = (0..8).map(|_| s.keep(t0)).collect();
        assert_eq!(kept, [true, true, false, false, true, false, false, true]);
        assert!(
            s.keep(t0 + Duration::from_secs(1)),
            "new second starts over"
        );
        let mut all = Sampler::new(2, 1);
        assert!((0..10).all(|_| all.keep(t0)));
    }
}
