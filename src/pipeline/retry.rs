//! `retry_on_failure` as the collector's exporterhelper does it: exponential backoff with
//! jitter, capped intervals, a total time budget, and server-given delays (RetryInfo,
//! Retry-After) honoured.

use std::time::Duration;

use serde::Deserialize;

use crate::config::decode::duration;

/// `retry_on_failure:` (the collector's defaults).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// Retry failed exports (default true).
    pub enabled: bool,
    /// First wait (default 5s).
    #[serde(deserialize_with = "duration")]
    pub initial_interval: Duration,
    /// Jitter: each wait is drawn from interval × [1 − f, 1 + f] (default 0.5).
    pub randomization_factor: f64,
    /// Backoff multiplier (default 1.5).
    pub multiplier: f64,
    /// Longest wait (default 30s).
    #[serde(deserialize_with = "duration")]
    pub max_interval: Duration,
    /// Give up after this long in total (default 300s; 0 = never).
    #[serde(deserialize_with = "duration")]
    pub max_elapsed_time: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            enabled: true,
            initial_interval: Duration::from_secs(5),
            randomization_factor: 0.5,
            multiplier: 1.5,
            max_interval: Duration::from_secs(30),
            max_elapsed_time: Duration::from_secs(300),
        }
    }
}

impl RetryConfig {
    /// No retries.
    pub fn disabled() -> Self {
        RetryConfig {
            enabled: false,
            ..RetryConfig::default()
        }
    }

    /// Checks the values as the collector does.
    pub fn validate(&self) -> Result<(), String> {
        if !self.enabled {
            return Ok(());
        }
        if !(0.0..=1.0).contains(&self.randomization_factor) {
            return Err("randomization_factor must be between 0 and 1".into());
        }
        if self.multiplier < 1.0 {
            return Err("multiplier must be at least 1".into());
        }
        if self.max_interval < self.initial_interval {
            return Err("max_interval must not be less than initial_interval".into());
        }
        Ok(())
    }
}

/// The waits of one export's retries.
pub struct Backoff<'a> {
    cfg: &'a RetryConfig,
    next_interval: Duration,
    elapsed: Duration,
}

impl<'a> Backoff<'a> {
    /// A fresh backoff for one export.
    pub fn new(cfg: &'a RetryConfig) -> Self {
        Backoff {
            cfg,
            next_interval: cfg.initial_interval,
            elapsed: Duration::ZERO,
        }
    }

    /// The wait before the next attempt, or `None` when retries are off or the time budget
    /// would be exceeded. A server-requested delay replaces the computed one when longer.
    /// `jitter` is a number in [0, 1) (random in production, fixed in tests).
    pub fn next(&mut self, server_delay: Option<Duration>, jitter: f64) -> Option<Duration> {
        if !self.cfg.enabled {
            return None;
        }
        let base = self.next_interval.as_secs_f64();
        let f = self.cfg.randomization_factor;
        let randomized = base * (1.0 - f + 2.0 * f * jitter);
        let mut wait = Duration::from_secs_f64(randomized.max(0.0));
        if let Some(d) = server_delay {
            wait = wait.max(d);
        }
        let grown = (base * self.cfg.multiplier).min(self.cfg.max_interval.as_secs_f64());
        self.next_interval = Duration::from_secs_f64(grown);
        let max = self.cfg.max_elapsed_time;
        if !max.is_zero() && self.elapsed + wait > max {
            return None;
        }
        self.elapsed += wait;
        Some(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(initial: u64, max: u64, budget: u64) -> RetryConfig {
        RetryConfig {
            enabled: true,
            initial_interval: Duration::from_secs(initial),
            randomization_factor: 0.5,
            multiplier: 2.0,
            max_interval: Duration::from_secs(max),
            max_elapsed_time: Duration::from_secs(budget),
        }
    }

    #[test]
    fn grows_caps_and_stops_at_the_budget() {
        let c = cfg(1, 4, 10);
        let mut b = Backoff::new(&c);
        // jitter 0.5 is the midpoint: no randomization.
        let waits: Vec<_> = std::iter::from_fn(|| b.next(None, 0.5)).collect();
        let secs: Vec<u64> = waits.iter().map(|d| d.as_secs()).collect();
        assert_eq!(secs, [1, 2, 4]); // 1+2+4 = 7; another 4 would pass 10
    }

    #[test]
    fn jitter_stays_within_the_factor() {
        let c = cfg(10, 100, 0);
        assert_eq!(
            Backoff::new(&c).next(None, 0.0),
            Some(Duration::from_secs(5))
        );
        let hi = Backoff::new(&c).next(None, 0.999_999).unwrap();
        assert!(hi > Duration::from_secs(14) && hi <= Duration::from_secs(15));
    }

    #[test]
    fn server_delay_wins_when_longer_and_zero_budget_means_forever() {
        let c = cfg(1, 2, 0);
        let mut b = Backoff::new(&c);
        assert_eq!(
            b.next(Some(Duration::from_secs(7)), 0.5),
            Some(Duration::from_secs(7))
        );
        for _ in 0..1000 {
            assert!(b.next(None, 0.5).is_some());
        }
    }

    #[test]
    fn disabled_never_retries() {
        let c = RetryConfig::disabled();
        assert_eq!(Backoff::new(&c).next(None, 0.5), None);
    }
}
