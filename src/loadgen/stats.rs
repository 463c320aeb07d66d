//! Load generator counters: items sent, accepted, refused and failed, and the latency of
//! export calls (HDR histogram), per reporting interval and for the whole run.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::client::Outcome;

/// Latencies above this (µs) are clamped into the top bucket.
const MAX_LATENCY_US: u64 = 600_000_000;

/// An empty latency histogram in microseconds, 1 µs to 10 min, 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid histogram bounds")
}

/// Shared, thread-safe counters of one load generator run.
pub struct Stats {
    sent: AtomicU64,
    accepted: AtomicU64,
    refused: AtomicU64,
    errors: AtomicU64,
    requests: AtomicU64,
    interval: Mutex<Histogram<u64>>,
    total: Mutex<Histogram<u64>>,
    last_error: Mutex<Option<String>>,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            sent: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            interval: Mutex::new(histogram()),
            total: Mutex::new(histogram()),
            last_error: Mutex::new(None),
        }
    }
}

/// Counters at one moment, in items (requests for `requests`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Items sent (accepted + refused + errors).
    pub sent: u64,
    /// Items the server accepted.
    pub accepted: u64,
    /// Items refused with a retryable answer (UNAVAILABLE / 503 / 429).
    pub refused: u64,
    /// Items whose call failed otherwise.
    pub errors: u64,
    /// Export calls made.
    pub requests: u64,
}

impl Counts {
    /// The difference `self - earlier`.
    pub fn since(&self, earlier: &Counts) -> Counts {
        Counts {
            sent: self.sent - earlier.sent,
            accepted: self.accepted - earlier.accepted,
            refused: self.refused - earlier.refused,
            errors: self.errors - earlier.errors,
            requests: self.requests - earlier.requests,
        }
    }
}

/// Latency percentiles of export calls, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Latency {
    /// Median.
    pub p50_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// Maximum.
    pub max_us: u64,
}

impl Latency {
    /// Percentiles of a histogram in microseconds (zeros when empty).
    pub fn of(h: &Histogram<u64>) -> Latency {
        if h.is_empty() {
            return Latency::default();
        }
        Latency {
            p50_us: h.value_at_quantile(0.5),
            p99_us: h.value_at_quantile(0.99),
            max_us: h.max(),
        }
    }
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

impl Stats {
    /// Records one export call of `items` items that took `latency`.
    pub fn record(&self, items: u64, outcome: &Outcome, latency: Duration) {
        self.sent.fetch_add(items, Ordering::Relaxed);
        self.requests.fetch_add(1, Ordering::Relaxed);
        match outcome {
            Outcome::Accepted => &self.accepted,
            Outcome::Refused => &self.refused,
            Outcome::Error(e) => {
                *self.last_error.lock().unwrap() = Some(e.clone());
                &self.errors
            }
        }
        .fetch_add(items, Ordering::Relaxed);
        let us = (latency.as_micros() as u64).clamp(1, MAX_LATENCY_US);
        self.interval.lock().unwrap().saturating_record(us);
        self.total.lock().unwrap().saturating_record(us);
    }

    /// Current totals.
    pub fn counts(&self) -> Counts {
        Counts {
            sent: self.sent.load(Ordering::Relaxed),
            accepted: self.accepted.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            requests: self.requests.load(Ordering::Relaxed),
        }
    }

    /// Latency since the previous call of this method, resetting the interval histogram.
    pub fn take_interval_latency(&self) -> Latency {
        let mut h = self.interval.lock().unwrap();
        let l = Latency::of(&h);
        h.reset();
        l
    }

    /// Latency over the whole run.
    pub fn total_latency(&self) -> Latency {
        Latency::of(&self.total.lock().unwrap())
    }

    /// The most recent error message, if any call failed.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().unwrap().clone()
    }
}

/// One per-interval report line: rates over the interval and latency of its calls.
pub fn interval_line(elapsed: Duration, delta: &Counts, secs: f64, lat: &Latency) -> String {
    let r = |n: u64| (n as f64 / secs.max(1e-9)).round() as u64;
    format!(
        "[{:>5.1}s] sent {}/s accepted {}/s refused {}/s errors {}/s | latency p50 {:.2} ms p99 {:.2} ms",
        elapsed.as_secs_f64(),
        r(delta.sent),
        r(delta.accepted),
        r(delta.refused),
        r(delta.errors),
        ms(lat.p50_us),
        ms(lat.p99_us),
    )
}

/// The end-of-run summary, printed as text or JSON (`--json`).
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// `traces`, `metrics` or `logs`.
    pub signal: String,
    /// `grpc` or `http`.
    pub protocol: String,
    /// Item name: `spans`, `metric_points` or `log_records`.
    pub item: String,
    /// Wall time of the run in seconds.
    pub duration_s: f64,
    /// Target rate in items/s (0 = unthrottled).
    pub target_rate: u64,
    /// Totals.
    #[serde(flatten)]
    pub counts: Counts,
    /// Accepted items per second over the run.
    pub accepted_per_s: f64,
    /// Export call latency over the run.
    pub latency: Latency,
    /// The last error message seen, if any.
    pub last_error: Option<String>,
}

impl Summary {
    /// Human-readable multi-line summary.
    pub fn text(&self) -> String {
        let mut s = format!(
            "{} over {} for {:.1}s (target {}): sent {} accepted {} refused {} errors {} {} in {} requests; {:.0} accepted/s; latency p50 {:.2} ms p99 {:.2} ms max {:.2} ms",
            self.signal,
            self.protocol,
            self.duration_s,
            if self.target_rate == 0 { "unthrottled".to_string() } else { format!("{}/s", self.target_rate) },
            self.counts.sent,
            self.counts.accepted,
            self.counts.refused,
            self.counts.errors,
            self.item,
            self.counts.requests,
            self.accepted_per_s,
            ms(self.latency.p50_us),
            ms(self.latency.p99_us),
            ms(self.latency.max_us),
        );
        if let Some(e) = &self.last_error {
            s.push_str(&format!("\nlast error: {e}"));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_latencies_add_up() {
        let s = Stats::default();
        s.record(10, &Outcome::Accepted, Duration::from_millis(1));
        s.record(10, &Outcome::Refused, Duration::from_millis(3));
        s.record(5, &Outcome::Error("x".into()), Duration::from_millis(2));
        let c = s.counts();
        assert_eq!(
            (c.sent, c.accepted, c.refused, c.errors, c.requests),
            (25, 10, 10, 5, 3)
        );
        let l = s.take_interval_latency();
        assert!(l.p50_us >= 1900 && l.p50_us <= 2100, "{l:?}");
        assert_eq!(s.take_interval_latency(), Latency::default());
        assert!(s.total_latency().max_us >= 2990);
        assert_eq!(s.last_error().as_deref(), Some("x"));
    }
}
