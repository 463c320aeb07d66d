//! Recent export failures per exporter, for the health_check extension's
//! `check_collector_pipeline` readiness: every failed export attempt (retries included) is
//! recorded with its time, and a success clears nothing (failures age out of the window).

use std::collections::{BTreeMap, VecDeque};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

/// Failures older than this are forgotten even if nobody asks.
const KEEP: Duration = Duration::from_secs(3600);
/// At most this many failure times are kept per exporter.
const MAX_KEPT: usize = 10_000;

#[derive(Default)]
struct State {
    failures: BTreeMap<String, VecDeque<Instant>>,
}

static STATE: LazyLock<Mutex<State>> = LazyLock::new(Mutex::default);

/// Records one failed export attempt of exporter `id`.
pub fn record_failure(id: &str) {
    let now = Instant::now();
    let mut s = STATE.lock().unwrap_or_else(|e| e.into_inner());
    let q = s.failures.entry(id.to_string()).or_default();
    q.push_back(now);
    while q.len() > MAX_KEPT || q.front().is_some_and(|t| now.duration_since(*t) > KEEP) {
        q.pop_front();
    }
}

/// Failed export attempts per exporter within the last `window`, for exporters with any.
pub fn failures_within(window: Duration) -> BTreeMap<String, usize> {
    let now = Instant::now();
    let s = STATE.lock().unwrap_or_else(|e| e.into_inner());
    s.failures
        .iter()
        .map(|(id, q)| {
            let n = q
                .iter()
                .rev()
                .take_while(|t| now.duration_since(**t) <= window)
                .count();
            (id.clone(), n)
        })
        .filter(|(_, n)| *n > 0)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_age_out_of_the_window() {
        record_failure("test_exporter/health");
        record_failure("test_exporter/health");
        let recent = failures_within(Duration::from_secs(60));
        assert_eq!(recent.get("test_exporter/health"), Some(&2));
        std::thread::sleep(Duration::from_millis(30));
        let none = failures_within(Duration::from_millis(10));
        assert_eq!(none.get("test_exporter/health"), None);
    }
}
