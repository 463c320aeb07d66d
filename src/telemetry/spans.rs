//! Sluice's own recent spans, for the zpages `/debug/tracez` page: one span per export
//! attempt (name `exporter/<id>/export`), counted per latency bucket and error, with the last
//! few samples of each kept.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, SystemTime};

/// Upper bounds of the latency buckets, as the collector's tracez page has them; the last
/// bucket (≥100 s) has no bound.
pub const BUCKET_BOUNDS: [Duration; 8] = [
    Duration::from_micros(10),
    Duration::from_micros(100),
    Duration::from_millis(1),
    Duration::from_millis(10),
    Duration::from_millis(100),
    Duration::from_secs(1),
    Duration::from_secs(10),
    Duration::from_secs(100),
];
/// Number of latency buckets.
pub const BUCKETS: usize = BUCKET_BOUNDS.len() + 1;
/// Samples kept per bucket and for errors.
const SAMPLES: usize = 8;

/// One finished span.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanRecord {
    /// When it started.
    pub start: SystemTime,
    /// How long it took.
    pub duration: Duration,
    /// Attributes worth showing (signal, items, attempt).
    pub attributes: Vec<(&'static str, String)>,
    /// The error, if it failed.
    pub error: Option<String>,
}

/// Counts and samples for one span name.
#[derive(Debug, Clone, Default)]
pub struct SpanSummary {
    /// Successful spans per latency bucket.
    pub latency_counts: [u64; BUCKETS],
    /// Failed spans.
    pub errors: u64,
    /// Latest successful samples per bucket, oldest first.
    pub latency_samples: [VecDeque<SpanRecord>; BUCKETS],
    /// Latest failed samples, oldest first.
    pub error_samples: VecDeque<SpanRecord>,
}

static SPANS: LazyLock<Mutex<BTreeMap<String, SpanSummary>>> = LazyLock::new(Mutex::default);

/// The bucket index for a latency.
pub fn bucket_of(d: Duration) -> usize {
    BUCKET_BOUNDS
        .iter()
        .position(|b| d < *b)
        .unwrap_or(BUCKETS - 1)
}

/// A human label for bucket `i` (`[1ms, 10ms)`).
pub fn bucket_label(i: usize) -> String {
    fn f(d: Duration) -> String {
        if d < Duration::from_millis(1) {
            format!("{}µs", d.as_micros())
        } else if d < Duration::from_secs(1) {
            format!("{}ms", d.as_millis())
        } else {
            format!("{}s", d.as_secs())
        }
    }
    match i {
        0 => format!("<{}", f(BUCKET_BOUNDS[0])),
        i if i >= BUCKETS - 1 => format!("≥{}", f(BUCKET_BOUNDS[BUCKETS - 2])),
        i => format!("[{}, {})", f(BUCKET_BOUNDS[i - 1]), f(BUCKET_BOUNDS[i])),
    }
}

/// Records a finished span.
pub fn record(name: &str, span: SpanRecord) {
    let mut all = SPANS.lock().unwrap_or_else(|e| e.into_inner());
    let s = all.entry(name.to_string()).or_default();
    let q = if span.error.is_some() {
        s.errors += 1;
        &mut s.error_samples
    } else {
        let b = bucket_of(span.duration);
        s.latency_counts[b] += 1;
        &mut s.latency_samples[b]
    };
    if q.len() == SAMPLES {
        q.pop_front();
    }
    q.push_back(span);
}

/// A copy of every span name's summary.
pub fn snapshot() -> BTreeMap<String, SpanSummary> {
    SPANS.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_and_samples() {
        assert_eq!(bucket_of(Duration::from_micros(5)), 0);
        assert_eq!(bucket_of(Duration::from_millis(5)), 3);
        assert_eq!(bucket_of(Duration::from_secs(500)), BUCKETS - 1);
        assert_eq!(bucket_label(3), "[1ms, 10ms)");
        assert_eq!(bucket_label(0), "<10µs");
        for i in 0..20 {
            record(
                "test/spans",
                SpanRecord {
                    start: SystemTime::now(),
                    duration: Duration::from_millis(5),
                    attributes: vec![("i", i.to_string())],
                    error: (i % 2 == 0).then(|| "boom".to_string()),
                },
            );
        }
        let s = &snapshot()["test/spans"];
        assert_eq!(s.errors, 10);
        assert_eq!(s.latency_counts[3], 10);
        assert_eq!(s.error_samples.len(), SAMPLES);
        assert_eq!(s.latency_samples[3].back().unwrap().attributes[0].1, "19");
    }
}
