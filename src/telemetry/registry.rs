//! Sluice's own `metrics` recorder: counters, gauges and histograms kept in memory, read by
//! the Prometheus endpoint on `service.telemetry.metrics` and by the zpages extension.
//!
//! It is a few hundred lines on top of the `metrics` facade rather than an exporter crate:
//! Sluice needs to render Prometheus text and to read single series back (live counts on
//! zpages), and both are simple over one sorted map.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, RwLock};

use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};

/// A series' identity: metric name and sorted `(label, value)` pairs.
pub type SeriesKey = (String, Vec<(String, String)>);

/// The kind of a metric, as Prometheus types it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// Only goes up.
    Counter,
    /// Goes up and down.
    Gauge,
    /// Observations in buckets.
    Histogram,
}

impl MetricKind {
    fn as_str(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
        }
    }
}

struct CounterCell(AtomicU64);

impl CounterFn for CounterCell {
    fn increment(&self, value: u64) {
        self.0.fetch_add(value, Ordering::Relaxed);
    }
    fn absolute(&self, value: u64) {
        self.0.fetch_max(value, Ordering::Relaxed);
    }
}

/// A gauge: an f64 kept as its bits.
struct GaugeCell(AtomicU64);

impl GaugeCell {
    fn update(&self, f: impl Fn(f64) -> f64) {
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some(f(f64::from_bits(bits)).to_bits())
            });
    }
    fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
}

impl GaugeFn for GaugeCell {
    fn increment(&self, value: f64) {
        self.update(|v| v + value);
    }
    fn decrement(&self, value: f64) {
        self.update(|v| v - value);
    }
    fn set(&self, value: f64) {
        self.0.store(value.to_bits(), Ordering::Relaxed);
    }
}

/// Histogram state: cumulative counts are computed when rendering.
struct HistCell {
    bounds: &'static [f64],
    state: Mutex<HistState>,
}

#[derive(Default)]
struct HistState {
    buckets: Vec<u64>,
    sum: f64,
    count: u64,
}

impl HistogramFn for HistCell {
    fn record(&self, value: f64) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if s.buckets.len() != self.bounds.len() {
            s.buckets = vec![0; self.bounds.len()];
        }
        if let Some(i) = self.bounds.iter().position(|b| value <= *b) {
            s.buckets[i] += 1;
        }
        s.sum += value;
        s.count += 1;
    }
}

/// Bucket bounds the collector uses for `otelcol_processor_batch_batch_send_size`.
const BATCH_SIZE_BOUNDS: &[f64] = &[
    10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2000.0, 3000.0, 4000.0, 5000.0,
    6000.0, 7000.0, 8000.0, 9000.0, 10000.0, 20000.0, 30000.0, 50000.0, 100000.0,
];
/// Bucket bounds for everything else (durations in seconds, sizes).
const DEFAULT_BOUNDS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 100.0, 1000.0, 10000.0,
];

fn bounds_for(name: &str) -> &'static [f64] {
    if name.ends_with("_send_size") {
        BATCH_SIZE_BOUNDS
    } else {
        DEFAULT_BOUNDS
    }
}

#[derive(Clone)]
enum Cell {
    Counter(Arc<CounterCell>),
    Gauge(Arc<GaugeCell>),
    Histogram(Arc<HistCell>),
}

/// Every series recorded so far, plus descriptions.
#[derive(Default)]
pub struct Registry {
    series: RwLock<BTreeMap<SeriesKey, Cell>>,
    help: RwLock<BTreeMap<String, String>>,
}

fn series_key(key: &Key) -> SeriesKey {
    let mut labels: Vec<(String, String)> = key
        .labels()
        .map(|l| (l.key().to_string(), l.value().to_string()))
        .collect();
    labels.sort();
    (key.name().to_string(), labels)
}

impl Registry {
    fn cell(&self, key: &Key, make: impl FnOnce(&str) -> Cell) -> Cell {
        let k = series_key(key);
        if let Some(c) = self
            .series
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&k)
        {
            return c.clone();
        }
        let mut w = self.series.write().unwrap_or_else(|e| e.into_inner());
        w.entry(k.clone()).or_insert_with(|| make(&k.0)).clone()
    }

    fn describe(&self, key: KeyName, description: SharedString) {
        self.help
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.as_str().to_string(), description.to_string());
    }

    /// The value of one counter or gauge series (0 when absent). Labels need not be sorted.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let mut l: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        l.sort();
        match self
            .series
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(name.to_string(), l))
        {
            Some(Cell::Counter(c)) => c.0.load(Ordering::Relaxed) as f64,
            Some(Cell::Gauge(g)) => g.get(),
            Some(Cell::Histogram(h)) => {
                h.state.lock().unwrap_or_else(|e| e.into_inner()).count as f64
            }
            None => 0.0,
        }
    }

    /// The sum over every series of `name` whose labels include all of `labels`.
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let series = self.series.read().unwrap_or_else(|e| e.into_inner());
        series
            .range((name.to_string(), Vec::new())..)
            .take_while(|((n, _), _)| n == name)
            .filter(|((_, l), _)| {
                labels
                    .iter()
                    .all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
            })
            .map(|(_, c)| match c {
                Cell::Counter(c) => c.0.load(Ordering::Relaxed) as f64,
                Cell::Gauge(g) => g.get(),
                Cell::Histogram(_) => 0.0,
            })
            .sum()
    }

    /// Renders every series whose name `keep` accepts in the Prometheus text format 0.0.4,
    /// followed by `extra` (already rendered families).
    pub fn render(&self, keep: impl Fn(&str) -> bool, extra: &str) -> String {
        let series = self.series.read().unwrap_or_else(|e| e.into_inner());
        let help = self.help.read().unwrap_or_else(|e| e.into_inner());
        let mut out = String::with_capacity(4096);
        let mut last: Option<&str> = None;
        for ((raw_name, labels), cell) in series.iter() {
            if !keep(raw_name) {
                continue;
            }
            let name = sanitize(raw_name, true);
            let name = name.as_ref();
            if last != Some(raw_name.as_str()) {
                let kind = match cell {
                    Cell::Counter(_) => MetricKind::Counter,
                    Cell::Gauge(_) => MetricKind::Gauge,
                    Cell::Histogram(_) => MetricKind::Histogram,
                };
                let _ = writeln!(
                    out,
                    "# HELP {name} {}",
                    escape_help(help_of(&help, raw_name))
                );
                let _ = writeln!(out, "# TYPE {name} {}", kind.as_str());
                last = Some(raw_name);
            }
            match cell {
                Cell::Counter(c) => write_sample(
                    &mut out,
                    name,
                    labels,
                    None,
                    c.0.load(Ordering::Relaxed) as f64,
                ),
                Cell::Gauge(g) => write_sample(&mut out, name, labels, None, g.get()),
                Cell::Histogram(h) => {
                    let s = h.state.lock().unwrap_or_else(|e| e.into_inner());
                    let mut cum = 0u64;
                    let bucket = format!("{name}_bucket");
                    for (i, b) in h.bounds.iter().enumerate() {
                        cum += s.buckets.get(i).copied().unwrap_or(0);
                        write_sample(&mut out, &bucket, labels, Some(&fmt_value(*b)), cum as f64);
                    }
                    write_sample(&mut out, &bucket, labels, Some("+Inf"), s.count as f64);
                    write_sample(&mut out, &format!("{name}_sum"), labels, None, s.sum);
                    write_sample(
                        &mut out,
                        &format!("{name}_count"),
                        labels,
                        None,
                        s.count as f64,
                    );
                }
            }
        }
        out.push_str(extra);
        out
    }
}

fn help_of<'a>(help: &'a BTreeMap<String, String>, name: &'a str) -> &'a str {
    help.get(name).map(String::as_str).unwrap_or(name)
}

fn escape_help(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

fn escape_label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('\n', "\\n")
        .replace('"', "\\\"")
}

/// A metric or label name made valid for the Prometheus text format: characters other than
/// letters, digits, `_` (and `:` in metric names) become `_` (`…spans.filtered` →
/// `…spans_filtered`, as the collector's Prometheus exporter names it).
pub fn sanitize(name: &str, colon_ok: bool) -> std::borrow::Cow<'_, str> {
    let ok = |i: usize, c: char| {
        c.is_ascii_alphabetic()
            || c == '_'
            || (colon_ok && c == ':')
            || (i > 0 && c.is_ascii_digit())
    };
    if name.chars().enumerate().all(|(i, c)| ok(i, c)) {
        return name.into();
    }
    name.chars()
        .enumerate()
        .map(|(i, c)| if ok(i, c) { c } else { '_' })
        .collect::<String>()
        .into()
}

/// Formats a sample value as Prometheus expects (`+Inf`, `NaN`, integers without `.0`).
pub fn fmt_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// Appends one sample line.
pub fn write_sample(
    out: &mut String,
    name: &str,
    labels: &[(String, String)],
    le: Option<&str>,
    value: f64,
) {
    out.push_str(name);
    if !labels.is_empty() || le.is_some() {
        out.push('{');
        let mut first = true;
        for (k, v) in labels {
            if !first {
                out.push(',');
            }
            first = false;
            let _ = write!(out, "{}=\"{}\"", sanitize(k, false), escape_label(v));
        }
        if let Some(le) = le {
            if !first {
                out.push(',');
            }
            let _ = write!(out, "le=\"{le}\"");
        }
        out.push('}');
    }
    let _ = writeln!(out, " {}", fmt_value(value));
}

impl Recorder for Registry {
    fn describe_counter(&self, key: KeyName, _unit: Option<Unit>, description: SharedString) {
        self.describe(key, description);
    }

    fn describe_gauge(&self, key: KeyName, _unit: Option<Unit>, description: SharedString) {
        self.describe(key, description);
    }

    fn describe_histogram(&self, key: KeyName, _unit: Option<Unit>, description: SharedString) {
        self.describe(key, description);
    }

    fn register_counter(&self, key: &Key, _metadata: &Metadata<'_>) -> Counter {
        match self.cell(key, |_| {
            Cell::Counter(Arc::new(CounterCell(AtomicU64::new(0))))
        }) {
            Cell::Counter(c) => Counter::from_arc(c),
            _ => Counter::noop(),
        }
    }

    fn register_gauge(&self, key: &Key, _metadata: &Metadata<'_>) -> Gauge {
        match self.cell(key, |_| {
            Cell::Gauge(Arc::new(GaugeCell(AtomicU64::new(0f64.to_bits()))))
        }) {
            Cell::Gauge(g) => Gauge::from_arc(g),
            _ => Gauge::noop(),
        }
    }

    fn register_histogram(&self, key: &Key, _metadata: &Metadata<'_>) -> Histogram {
        match self.cell(key, |name| {
            Cell::Histogram(Arc::new(HistCell {
                bounds: bounds_for(name),
                state: Mutex::new(HistState::default()),
            }))
        }) {
            Cell::Histogram(h) => Histogram::from_arc(h),
            _ => Histogram::noop(),
        }
    }
}

/// The process-wide registry the installed recorder writes to.
pub static GLOBAL: LazyLock<Registry> = LazyLock::new(Registry::default);

struct GlobalRecorder;

impl Recorder for GlobalRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        GLOBAL.describe_counter(key, unit, description)
    }
    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        GLOBAL.describe_gauge(key, unit, description)
    }
    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        GLOBAL.describe_histogram(key, unit, description)
    }
    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        GLOBAL.register_counter(key, metadata)
    }
    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        GLOBAL.register_gauge(key, metadata)
    }
    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        GLOBAL.register_histogram(key, metadata)
    }
}

/// Installs [`GLOBAL`] as the process's `metrics` recorder. Returns false if another recorder
/// was installed first.
pub fn install() -> bool {
    metrics::set_global_recorder(GlobalRecorder).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_gauges_histograms_with_labels() {
        let reg = Registry::default();
        metrics::with_local_recorder(&reg, || {
            metrics::describe_counter!("otelcol_receiver_accepted_spans", "Spans accepted.");
            metrics::counter!("otelcol_receiver_accepted_spans", "receiver" => "otlp").increment(3);
            metrics::counter!("otelcol_receiver_accepted_spans", "receiver" => "otlp").increment(4);
            metrics::counter!("otelcol_receiver_accepted_spans", "receiver" => "otlp/\"b\"")
                .increment(1);
            metrics::gauge!("otelcol_exporter_queue_size", "exporter" => "debug").set(2.0);
            metrics::histogram!("otelcol_processor_batch_batch_send_size", "processor" => "batch")
                .record(30.0);
        });
        let text = reg.render(|_| true, "");
        assert!(text.contains("# HELP otelcol_receiver_accepted_spans Spans accepted.\n"));
        assert!(text.contains("# TYPE otelcol_receiver_accepted_spans counter\n"));
        assert!(
            text.contains("otelcol_receiver_accepted_spans{receiver=\"otlp\"} 7\n"),
            "{text}"
        );
        assert!(text.contains("otelcol_receiver_accepted_spans{receiver=\"otlp/\\\"b\\\"\"} 1\n"));
        assert!(text.contains("otelcol_exporter_queue_size{exporter=\"debug\"} 2\n"));
        assert!(text.contains(
            "otelcol_processor_batch_batch_send_size_bucket{processor=\"batch\",le=\"25\"} 0\n"
        ));
        assert!(text.contains(
            "otelcol_processor_batch_batch_send_size_bucket{processor=\"batch\",le=\"50\"} 1\n"
        ));
        assert!(
            text.contains("otelcol_processor_batch_batch_send_size_count{processor=\"batch\"} 1\n")
        );
        assert_eq!(
            reg.value("otelcol_receiver_accepted_spans", &[("receiver", "otlp")]),
            7.0
        );
        assert_eq!(reg.sum("otelcol_receiver_accepted_spans", &[]), 8.0);
        metrics::with_local_recorder(&reg, || {
            metrics::counter!("otelcol_processor_filter_spans.filtered", "filter" => "f")
                .increment(2);
        });
        let text = reg.render(|_| true, "");
        assert!(text.contains("# TYPE otelcol_processor_filter_spans_filtered counter\n"));
        assert!(text.contains("otelcol_processor_filter_spans_filtered{filter=\"f\"} 2\n"));
        assert_eq!(sanitize("9a.b:c", true), "_a_b:c");
        assert_eq!(sanitize("a:b", false), "a_b");
        let filtered = reg.render(|n| !n.starts_with("otelcol_processor_batch"), "");
        assert!(!filtered.contains("batch_send_size"));
    }
}
