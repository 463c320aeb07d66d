//! Converts one scrape to OTLP as the collector's prometheus receiver does.
//!
//! - Samples are grouped into families by their `# TYPE` metadata (suffixes `_bucket`, `_count`,
//!   `_sum`, `_total`, `_info`, `_created` are looked through, as upstream does); a sample with no
//!   metadata is its own `unknown` family.
//! - counter → cumulative monotonic Sum (named as the sample, `_total` kept); gauge, unknown
//!   (untyped) and gaugehistogram samples → Gauge; histogram → cumulative Histogram (explicit
//!   bounds from `le`, per-bucket counts, sum, count; the `+Inf` bucket folds into the count);
//!   summary → Summary (quantiles, sum, count); info and stateset → non-monotonic Sum.
//! - `job`/`instance` become the resource (`service.name`, `service.instance.id`,
//!   `server.address`, `server.port`, `url.scheme`, plus `target_info` labels); other labels
//!   become point attributes (empty values omitted).
//! - `_created` sets the start time; otherwise [`super::adjust`] applies the start-time policy
//!   and emits staleness markers.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    exemplar, metric, number_data_point, summary_data_point, Exemplar as OtlpExemplar, Gauge,
    Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
    Summary, SummaryDataPoint,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

use super::adjust::TargetState;
use super::config::StartTimePolicy;
use super::parser::{Entry, Exemplar, Format, MetricType, ParseError, Parser, Sample};
use super::relabel::{self, Labels, Rule};

/// The instrumentation scope upstream gives scraped metrics.
pub const SCOPE_NAME: &str =
    "github.com/open-telemetry/opentelemetry-collector-contrib/receiver/prometheusreceiver";

/// OTLP cumulative temporality.
const CUMULATIVE: i32 = 2;

/// What a scrape target is, after target relabeling.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    /// `job` label.
    pub job: String,
    /// `instance` label.
    pub instance: String,
    /// `http` or `https`.
    pub scheme: String,
    /// Every target label (including `job` and `instance`), sorted, added to each sample.
    pub labels: Labels,
}

/// How samples of one scrape config are treated.
#[derive(Debug, Clone)]
pub struct ScrapeOptions {
    /// Scraped labels win over target labels.
    pub honor_labels: bool,
    /// Exposed timestamps are used.
    pub honor_timestamps: bool,
    /// Most samples kept after metric relabeling (0 = no limit).
    pub sample_limit: u64,
    /// `metric_relabel_configs`.
    pub metric_relabel: Vec<Rule>,
    /// `global.external_labels`.
    pub external_labels: Vec<(String, String)>,
    /// Start-time policy.
    pub start_time: StartTimePolicy,
    /// Metric giving the process start time, for [`StartTimePolicy::StartTimeMetric`].
    pub start_time_metric: regex::Regex,
}

/// Why a scrape produced no samples (the target's `up` is 0).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScrapeError {
    /// The exposition is malformed.
    #[error("malformed exposition: {0}")]
    Parse(ParseError),
    /// More samples than `sample_limit`.
    #[error("sample_limit exceeded: more than {0} samples after metric relabeling")]
    SampleLimit(u64),
    /// The HTTP request failed, timed out, or returned an error status.
    #[error("{0}")]
    Http(String),
}

/// Counts of one scrape, reported as the synthetic `scrape_*` series.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScrapeCounts {
    /// Samples in the exposition.
    pub scraped: u64,
    /// Samples left after metric relabeling.
    pub post_relabel: u64,
    /// Series not seen in the previous scrape.
    pub added: u64,
}

/// Family metadata from HELP/TYPE/UNIT lines.
#[derive(Debug, Clone, Default)]
struct Meta {
    kind: Option<MetricType>,
    help: String,
    unit: String,
}

/// The OTLP shape of a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shape {
    /// Gauge.
    Gauge,
    /// Cumulative Sum, monotonic or not.
    Sum(bool),
    /// Cumulative explicit-bucket Histogram.
    Histogram,
    /// Summary.
    Summary,
}

impl Shape {
    fn of(kind: MetricType) -> Shape {
        match kind {
            MetricType::Counter => Shape::Sum(true),
            MetricType::Gauge | MetricType::Unknown | MetricType::GaugeHistogram => Shape::Gauge,
            MetricType::Histogram => Shape::Histogram,
            MetricType::Summary => Shape::Summary,
            MetricType::Info | MetricType::StateSet => Shape::Sum(false),
        }
    }
}

/// One OTLP point being assembled from one or more samples.
#[derive(Debug, Clone, Default)]
pub struct Group {
    /// Point attributes (sorted, without job/instance/le/quantile, empty values omitted).
    pub attrs: Labels,
    /// Point time, ms since the epoch.
    pub ts_ms: i64,
    /// Value of a gauge/sum.
    pub value: Option<f64>,
    /// `_count` of a histogram/summary.
    pub count: Option<f64>,
    /// `_sum` of a histogram/summary.
    pub sum: Option<f64>,
    /// `_created`, seconds since the epoch.
    pub created: Option<f64>,
    /// (le or quantile, value) pairs.
    pub points: Vec<(f64, f64)>,
    /// Exemplars.
    pub exemplars: Vec<OtlpExemplar>,
}

/// One metric family of one resource.
#[derive(Debug, Clone)]
pub struct Family {
    /// OTLP metric name.
    pub name: String,
    /// Prometheus type (for `prometheus.type` metadata).
    pub kind: MetricType,
    /// OTLP shape.
    pub shape: Shape,
    /// HELP.
    pub help: String,
    /// UNIT word (`seconds`).
    pub unit: String,
    /// Points, in first-seen order.
    pub groups: Vec<Group>,
    index: HashMap<Labels, usize>,
    named: bool,
}

/// A resource: job and instance.
pub type ResourceKey = (String, String);

/// Groups one scrape's samples into families, per resource.
#[derive(Debug, Default)]
pub struct Builder {
    meta: HashMap<String, Meta>,
    /// Families per resource, in first-seen order.
    pub resources: Vec<(ResourceKey, Vec<Family>)>,
    index: HashMap<(usize, String), usize>,
    /// Extra resource attributes from `target_info`, per resource index.
    pub target_info: HashMap<usize, Labels>,
    /// Value of the start-time metric, if seen.
    pub process_start: Option<f64>,
    last: Option<LastFamily>,
}

/// The family of the previous sample, reused while names repeat.
#[derive(Debug)]
struct LastFamily {
    name: String,
    ri: usize,
    fi: usize,
    key_len: usize,
    is_created: bool,
    shape: Shape,
}

fn strip_suffix(name: &str) -> &str {
    for s in ["_bucket", "_count", "_sum", "_total", "_info", "_created"] {
        if let Some(b) = name.strip_suffix(s) {
            if !b.is_empty() {
                return b;
            }
        }
    }
    name
}

fn not_attribute(name: &str, shape: Shape) -> bool {
    matches!(
        name,
        "__name__" | "job" | "instance" | "__scheme__" | "__metrics_path__"
    ) || (shape == Shape::Histogram && name == "le")
        || (shape == Shape::Summary && name == "quantile")
}

/// Parses an `le`/`quantile` label value.
fn boundary(v: &str) -> Option<f64> {
    v.trim().parse::<f64>().ok()
}

impl Builder {
    /// Records a HELP/TYPE/UNIT line.
    pub fn metadata(&mut self, e: &Entry<'_>) {
        match e {
            Entry::Help { name, text } => {
                self.meta.entry(name.to_string()).or_default().help = text.to_string()
            }
            Entry::Type { name, kind } => {
                self.meta.entry(name.to_string()).or_default().kind = Some(*kind)
            }
            Entry::Unit { name, unit } => {
                self.meta.entry(name.to_string()).or_default().unit = unit.to_string()
            }
            Entry::Sample(_) => {}
        }
    }

    fn resource(&mut self, job: &str, instance: &str) -> usize {
        if let Some(i) = self
            .resources
            .iter()
            .position(|((j, i), _)| j == job && i == instance)
        {
            return i;
        }
        self.resources
            .push(((job.to_string(), instance.to_string()), Vec::new()));
        self.resources.len() - 1
    }

    /// Resolves a sample name to (family key, OTLP name, type), as upstream's metadataForMetric.
    fn resolve(&self, name: &str) -> (String, String, MetricType, bool) {
        if let Some(m) = self.meta.get(name) {
            if let Some(k) = m.kind {
                return (name.to_string(), name.to_string(), k, false);
            }
        }
        let base = strip_suffix(name);
        if base != name {
            if let Some(k) = self.meta.get(base).and_then(|m| m.kind) {
                let created = name.ends_with("_created");
                return match k {
                    MetricType::Counter => (base.to_string(), name.to_string(), k, created),
                    MetricType::Unknown | MetricType::Gauge | MetricType::GaugeHistogram => (
                        name.to_string(),
                        name.to_string(),
                        MetricType::Unknown,
                        false,
                    ),
                    _ => (base.to_string(), base.to_string(), k, created),
                };
            }
            // `foo_created` next to a 0.0.4 `# TYPE foo_total counter` (see
            // prometheus/prometheus#14823): it is that counter's creation time.
            if let Some(b) = name.strip_suffix("_created") {
                let total = format!("{b}_total");
                if self.meta.get(&total).and_then(|m| m.kind) == Some(MetricType::Counter) {
                    return (total.clone(), total, MetricType::Counter, true);
                }
            }
        }
        (
            name.to_string(),
            name.to_string(),
            MetricType::Unknown,
            false,
        )
    }

    /// Finds or creates the family of a sample name in a resource: (family index, length of the
    /// family key, whether the sample is a `_created` one, shape).
    fn family_for(&mut self, ri: usize, name: &str) -> (usize, usize, bool, Shape) {
        let (key, otlp_name, kind, is_created) = self.resolve(name);
        let shape = Shape::of(kind);
        let fi = match self.index.get(&(ri, key.clone())) {
            Some(i) => *i,
            None => {
                let meta_key = if self.meta.contains_key(&key) {
                    key.as_str()
                } else {
                    strip_suffix(&key)
                };
                let meta = self.meta.get(meta_key).cloned().unwrap_or_default();
                let fams = &mut self.resources[ri].1;
                fams.push(Family {
                    name: otlp_name.clone(),
                    kind,
                    shape,
                    help: meta.help,
                    unit: meta.unit,
                    groups: Vec::new(),
                    index: HashMap::new(),
                    named: !is_created,
                });
                self.index.insert((ri, key.clone()), fams.len() - 1);
                fams.len() - 1
            }
        };
        let fam = &mut self.resources[ri].1[fi];
        if !is_created && !fam.named {
            // A family is named after its value samples (`foo_total` for an OpenMetrics
            // counter `foo`), as upstream, even when its `_created` came first.
            fam.name = otlp_name;
            fam.named = true;
        }
        (fi, key.len(), is_created, shape)
    }

    /// Adds one sample whose labels (with `__name__`, `job`, `instance`) are final.
    /// Returns false when the sample was dropped as invalid (bad `le`/`quantile`).
    pub fn add(
        &mut self,
        labels: &Labels,
        value: f64,
        ts_ms: i64,
        exemplar: Option<&Exemplar<'_>>,
        target: &Target,
        start_metric: Option<&regex::Regex>,
    ) -> bool {
        let name = relabel::get(labels, "__name__").unwrap_or("");
        let job = relabel::get(labels, "job").unwrap_or(&target.job);
        let instance = relabel::get(labels, "instance").unwrap_or(&target.instance);
        let ri = self.resource(job, instance);
        if name == "target_info" {
            let extra = self.target_info.entry(ri).or_default();
            for (k, v) in labels {
                if !matches!(k.as_str(), "__name__" | "job" | "instance") && !v.is_empty() {
                    relabel::set(extra, k, v);
                }
            }
            return true;
        }
        if let Some(re) = start_metric {
            if self.process_start.is_none() && re.is_match(name) {
                self.process_start = Some(value);
            }
        }
        let (fi, key_len, is_created, shape) = match &self.last {
            // Samples of one family come in a row: skip the lookups for the same name.
            Some(l) if l.name == name && l.ri == ri => (l.fi, l.key_len, l.is_created, l.shape),
            _ => {
                let r = self.family_for(ri, name);
                self.last = Some(LastFamily {
                    name: name.to_string(),
                    ri,
                    fi: r.0,
                    key_len: r.1,
                    is_created: r.2,
                    shape: r.3,
                });
                r
            }
        };
        let fam = &mut self.resources[ri].1[fi];
        let attrs: Labels = labels
            .iter()
            .filter(|(k, v)| !v.is_empty() && !not_attribute(k, shape))
            .cloned()
            .collect();
        let gi = match fam.index.get(&attrs) {
            Some(i) => *i,
            None => {
                fam.groups.push(Group {
                    attrs: attrs.clone(),
                    ts_ms,
                    ..Default::default()
                });
                fam.index.insert(attrs, fam.groups.len() - 1);
                fam.groups.len() - 1
            }
        };
        let g = &mut fam.groups[gi];
        if is_created {
            g.created = Some(value);
            return true;
        }
        match shape {
            Shape::Histogram | Shape::Summary => {
                if name.ends_with("_sum") && name.len() > key_len {
                    g.sum = Some(value);
                } else if name.ends_with("_count") && name.len() > key_len {
                    g.count = Some(value);
                    g.ts_ms = ts_ms;
                } else {
                    let label = if shape == Shape::Histogram {
                        "le"
                    } else {
                        "quantile"
                    };
                    match relabel::get(labels, label).and_then(boundary) {
                        Some(b) => g.points.push((b, value)),
                        None => return false,
                    }
                }
            }
            _ => g.value = Some(value),
        }
        if let Some(e) = exemplar {
            if shape != Shape::Summary {
                g.exemplars.push(convert_exemplar(e, ts_ms));
            }
        }
        true
    }
}

fn str_kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.to_string())),
        }),
        ..Default::default()
    }
}

fn convert_exemplar(e: &Exemplar<'_>, sample_ts_ms: i64) -> OtlpExemplar {
    let mut out = OtlpExemplar {
        time_unix_nano: ms_to_ns(e.timestamp_ms.unwrap_or(sample_ts_ms)),
        value: Some(exemplar::Value::AsDouble(e.value)),
        ..Default::default()
    };
    for (k, v) in &e.labels {
        if v.is_empty() {
            continue;
        }
        let lk = k.to_ascii_lowercase();
        let decoded = hex::decode(v.as_ref()).ok();
        match (lk.as_str(), decoded) {
            ("trace_id", Some(b)) if b.len() == 16 && b.iter().any(|x| *x != 0) => out.trace_id = b,
            ("span_id", Some(b)) if b.len() == 8 && b.iter().any(|x| *x != 0) => out.span_id = b,
            _ => out.filtered_attributes.push(str_kv(k, v)),
        }
    }
    out
}

/// Milliseconds to nanoseconds (negative times clamp to 0).
pub fn ms_to_ns(ms: i64) -> u64 {
    (ms.max(0) as u64).saturating_mul(1_000_000)
}

/// Seconds (float) to nanoseconds.
pub fn secs_to_ns(s: f64) -> u64 {
    if !s.is_finite() || s <= 0.0 {
        return 0;
    }
    let secs = s.trunc();
    (secs as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(((s - secs) * 1e9) as u64)
}

/// Prometheus unit words to UCUM, as upstream's UnitWordToUCUM (`seconds` → `s`, `bytes` →
/// `By`, `x_per_y` → `x/y`); unknown words are kept.
pub fn unit_to_ucum(unit: &str) -> String {
    fn word(w: &str) -> &str {
        match w {
            "days" => "d",
            "hours" => "h",
            "minutes" => "min",
            "seconds" => "s",
            "milliseconds" => "ms",
            "microseconds" => "us",
            "nanoseconds" => "ns",
            "bytes" => "By",
            "kibibytes" => "KiBy",
            "mebibytes" => "MiBy",
            "gibibytes" => "GiBy",
            "tibibytes" => "TiBy",
            "kilobytes" => "KBy",
            "megabytes" => "MBy",
            "gigabytes" => "GBy",
            "terabytes" => "TBy",
            "meters" => "m",
            "volts" => "V",
            "amperes" => "A",
            "joules" => "J",
            "watts" => "W",
            "grams" => "g",
            "celsius" => "Cel",
            "hertz" => "Hz",
            "percent" => "%",
            "ratio" => "1",
            other => other,
        }
    }
    fn per(w: &str) -> &str {
        match w {
            "second" => "s",
            "minute" => "m",
            "hour" => "h",
            "day" => "d",
            "week" => "w",
            "month" => "mo",
            "year" => "y",
            other => other,
        }
    }
    match unit.split_once("_per_") {
        Some((a, b)) => format!("{}/{}", word(a), per(b)),
        None => word(unit).to_string(),
    }
}

fn is_discernible_host(host: &str) -> bool {
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => !ip.is_loopback() && !ip.is_unspecified(),
        Err(_) => host != "localhost",
    }
}

/// Splits `host:port` as Go's net.SplitHostPort; without a port the whole string is the host.
fn split_host_port(instance: &str) -> (&str, &str) {
    if let Some(rest) = instance.strip_prefix('[') {
        if let Some((h, p)) = rest.split_once("]:") {
            return (h, p);
        }
        return (instance, "");
    }
    match instance.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, p),
        _ => (instance, ""),
    }
}

/// The resource upstream creates for a job and instance (semantic conventions as of upstream
/// v0.129+, where the legacy `net.host.*`/`http.scheme` attributes were removed).
pub fn resource(job: &str, instance: &str, scheme: &str, extra: Option<&Labels>) -> Resource {
    let (host, port) = split_host_port(instance);
    let mut attributes = vec![str_kv("service.name", job)];
    if is_discernible_host(host) {
        attributes.push(str_kv("server.address", host));
    }
    attributes.push(str_kv("service.instance.id", instance));
    attributes.push(str_kv("server.port", port));
    attributes.push(str_kv("url.scheme", scheme));
    if let Some(extra) = extra {
        for (k, v) in extra {
            attributes.retain(|a| a.key != *k);
            attributes.push(str_kv(k, v));
        }
    }
    Resource {
        attributes,
        ..Default::default()
    }
}

/// One converted point with what the adjuster needs: the series key and its values.
pub struct PointRef<'a> {
    /// Stable hash of (resource, metric name, shape, attributes).
    pub key: u64,
    /// The point, to set its start time.
    pub point: PointMut<'a>,
}

/// A mutable OTLP point of any kind.
pub enum PointMut<'a> {
    /// Gauge point (no start time).
    Gauge(&'a mut NumberDataPoint),
    /// Sum point.
    Sum(&'a mut NumberDataPoint),
    /// Histogram point.
    Histogram(&'a mut HistogramDataPoint),
    /// Summary point.
    Summary(&'a mut SummaryDataPoint),
}

/// Hashes a series identity.
pub fn series_key(res: &ResourceKey, name: &str, shape: Shape, attrs: &[KeyValue]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    res.hash(&mut h);
    name.hash(&mut h);
    shape.hash(&mut h);
    for kv in attrs {
        kv.key.hash(&mut h);
        if let Some(AnyValue {
            value: Some(any_value::Value::StringValue(s)),
        }) = &kv.value
        {
            s.hash(&mut h);
        }
    }
    h.finish()
}

fn attrs_kv(attrs: Labels) -> Vec<KeyValue> {
    attrs
        .into_iter()
        .map(|(key, v)| KeyValue {
            key,
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(v)),
            }),
            ..Default::default()
        })
        .collect()
}

/// Builds the OTLP metric of a family (points with invalid buckets are dropped, as upstream).
pub fn family_metric(f: Family) -> Option<Metric> {
    let data = match f.shape {
        Shape::Gauge | Shape::Sum(_) => {
            let mut pts = Vec::with_capacity(f.groups.len());
            for mut g in f.groups {
                let Some(v) = g.value else { continue };
                pts.push(NumberDataPoint {
                    attributes: attrs_kv(std::mem::take(&mut g.attrs)),
                    start_time_unix_nano: match (f.shape, g.created) {
                        (Shape::Sum(_), Some(c)) => secs_to_ns(c),
                        _ => 0,
                    },
                    time_unix_nano: ms_to_ns(g.ts_ms),
                    exemplars: g.exemplars,
                    flags: 0,
                    value: Some(number_data_point::Value::AsDouble(v)),
                });
            }
            if pts.is_empty() {
                return None;
            }
            match f.shape {
                Shape::Sum(mono) => metric::Data::Sum(Sum {
                    data_points: pts,
                    aggregation_temporality: CUMULATIVE,
                    is_monotonic: mono,
                }),
                _ => metric::Data::Gauge(Gauge { data_points: pts }),
            }
        }
        Shape::Histogram => {
            let mut pts = Vec::with_capacity(f.groups.len());
            for mut g in f.groups {
                if let Some(p) = histogram_point(&mut g) {
                    pts.push(p);
                }
            }
            if pts.is_empty() {
                return None;
            }
            metric::Data::Histogram(Histogram {
                data_points: pts,
                aggregation_temporality: CUMULATIVE,
            })
        }
        Shape::Summary => {
            let mut pts = Vec::with_capacity(f.groups.len());
            for mut g in f.groups {
                let Some(count) = g.count else { continue };
                g.points
                    .sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
                pts.push(SummaryDataPoint {
                    attributes: attrs_kv(std::mem::take(&mut g.attrs)),
                    start_time_unix_nano: g.created.map(secs_to_ns).unwrap_or(0),
                    time_unix_nano: ms_to_ns(g.ts_ms),
                    count: count as u64,
                    sum: g.sum.unwrap_or(0.0),
                    quantile_values: g
                        .points
                        .iter()
                        .map(|(q, v)| summary_data_point::ValueAtQuantile {
                            quantile: *q,
                            value: *v,
                        })
                        .collect(),
                    flags: 0,
                });
            }
            if pts.is_empty() {
                return None;
            }
            metric::Data::Summary(Summary { data_points: pts })
        }
    };
    Some(Metric {
        name: f.name,
        description: f.help,
        unit: unit_to_ucum(&f.unit),
        metadata: vec![str_kv("prometheus.type", f.kind.as_str())],
        data: Some(data),
    })
}

fn histogram_point(g: &mut Group) -> Option<HistogramDataPoint> {
    let count = g.count?;
    g.points
        .sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
    let mut n = g.points.len();
    if n > 0 && g.points[n - 1].0 == f64::INFINITY {
        n -= 1;
    }
    let mut prev = 0.0;
    for (_, v) in &g.points[..n] {
        if v.is_nan() || *v < prev {
            return None;
        }
        prev = *v;
    }
    if count.is_nan() || count < prev {
        return None;
    }
    let mut bounds = Vec::with_capacity(n);
    let mut counts = Vec::with_capacity(n + 1);
    let mut last = 0.0;
    for (b, v) in &g.points[..n] {
        bounds.push(*b);
        counts.push((v - last) as u64);
        last = *v;
    }
    counts.push((count - last) as u64);
    Some(HistogramDataPoint {
        attributes: attrs_kv(std::mem::take(&mut g.attrs)),
        start_time_unix_nano: g.created.map(secs_to_ns).unwrap_or(0),
        time_unix_nano: ms_to_ns(g.ts_ms),
        count: count as u64,
        sum: g.sum,
        bucket_counts: counts,
        explicit_bounds: bounds,
        exemplars: std::mem::take(&mut g.exemplars),
        flags: 0,
        min: None,
        max: None,
    })
}

/// Merges target labels into a scraped sample's labels as Prometheus does: on a clash the
/// scraped label is kept with `honor_labels`, otherwise it is renamed `exported_<name>`.
/// Empty-valued labels are dropped.
pub fn merge_target_labels(sample: &mut Labels, target: &Labels, honor_labels: bool) {
    for (k, v) in target {
        match relabel::get(sample, k) {
            Some(_) if honor_labels => {}
            Some(existing) => {
                let existing = existing.to_string();
                let mut name = format!("exported_{k}");
                while relabel::get(sample, &name).is_some() {
                    name = format!("exported_{name}");
                }
                relabel::set(sample, &name, &existing);
                relabel::set(sample, k, v);
            }
            None => relabel::set(sample, k, v),
        }
    }
}

/// Everything needed to scrape-convert one target repeatedly: its labels, options and the
/// state kept between scrapes (start times, previous series for staleness).
pub struct TargetConverter {
    /// The target.
    pub target: Target,
    /// Options of its scrape config.
    pub opts: ScrapeOptions,
    state: TargetState,
    prev_raw: std::collections::HashSet<u64>,
}

fn sample_labels(s: &Sample<'_>) -> Labels {
    let mut l: Labels = Vec::with_capacity(s.labels.len() + 1);
    l.push(("__name__".to_string(), s.name.to_string()));
    for (k, v) in &s.labels {
        if !v.is_empty() {
            l.push((k.to_string(), v.to_string()));
        }
    }
    l.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    l
}

impl TargetConverter {
    /// A converter for a target.
    pub fn new(target: Target, opts: ScrapeOptions) -> TargetConverter {
        TargetConverter {
            target,
            opts,
            state: TargetState::default(),
            prev_raw: Default::default(),
        }
    }

    /// Converts one successful response body. On a parse error or an exceeded sample limit the
    /// scrape counts as failed: the returned request carries `up` = 0 and staleness markers.
    pub fn convert(
        &mut self,
        body: &str,
        format: Format,
        scrape_ts_ms: i64,
        duration_s: f64,
    ) -> (
        ExportMetricsServiceRequest,
        Result<ScrapeCounts, ScrapeError>,
    ) {
        match self.build(body, format, scrape_ts_ms) {
            Ok((b, mut counts, raw)) => {
                counts.added = raw.iter().filter(|h| !self.prev_raw.contains(h)).count() as u64;
                self.prev_raw = raw;
                let req = self.finish(Some(b), scrape_ts_ms, duration_s, counts, true);
                (req, Ok(counts))
            }
            Err(e) => (self.failed(scrape_ts_ms, duration_s), Err(e)),
        }
    }

    /// The request for a failed scrape: `up` = 0, zero counts, and staleness markers for every
    /// series of the previous scrape.
    pub fn failed(&mut self, scrape_ts_ms: i64, duration_s: f64) -> ExportMetricsServiceRequest {
        self.prev_raw.clear();
        self.finish(
            None,
            scrape_ts_ms,
            duration_s,
            ScrapeCounts::default(),
            false,
        )
    }

    /// Staleness markers for every series (the target went away).
    pub fn stale_all(&mut self, ts_ms: i64) -> ExportMetricsServiceRequest {
        let mut out = Vec::new();
        self.state.mark_stale_all(ts_ms, &mut out);
        self.assemble(out, &HashMap::new())
    }

    fn build(
        &mut self,
        body: &str,
        format: Format,
        ts: i64,
    ) -> Result<(Builder, ScrapeCounts, std::collections::HashSet<u64>), ScrapeError> {
        let mut b = Builder::default();
        let mut counts = ScrapeCounts::default();
        let mut raw = std::collections::HashSet::new();
        let start_metric = (self.opts.start_time == StartTimePolicy::StartTimeMetric)
            .then_some(&self.opts.start_time_metric);
        for entry in Parser::new(body, format) {
            let entry = entry.map_err(ScrapeError::Parse)?;
            let Entry::Sample(s) = &entry else {
                b.metadata(&entry);
                continue;
            };
            counts.scraped += 1;
            let mut labels = sample_labels(s);
            merge_target_labels(&mut labels, &self.target.labels, self.opts.honor_labels);
            for (k, v) in &self.opts.external_labels {
                if relabel::get(&labels, k).is_none() {
                    relabel::set(&mut labels, k, v);
                }
            }
            if !self.opts.metric_relabel.is_empty()
                && !relabel::process(&mut labels, &self.opts.metric_relabel)
            {
                continue;
            }
            counts.post_relabel += 1;
            if self.opts.sample_limit > 0 && counts.post_relabel > self.opts.sample_limit {
                return Err(ScrapeError::SampleLimit(self.opts.sample_limit));
            }
            let mut h = std::collections::hash_map::DefaultHasher::new();
            labels.hash(&mut h);
            raw.insert(h.finish());
            let ts_ms = match s.timestamp_ms {
                Some(t) if self.opts.honor_timestamps => t,
                _ => ts,
            };
            b.add(
                &labels,
                s.value,
                ts_ms,
                s.exemplar.as_ref(),
                &self.target,
                start_metric,
            );
        }
        Ok((b, counts, raw))
    }

    fn finish(
        &mut self,
        b: Option<Builder>,
        ts: i64,
        duration_s: f64,
        counts: ScrapeCounts,
        up: bool,
    ) -> ExportMetricsServiceRequest {
        let mut out: Vec<(ResourceKey, Metric)> = Vec::new();
        let mut info = HashMap::new();
        let mut process_start = None;
        if let Some(b) = b {
            process_start = b.process_start;
            for (ri, (rk, fams)) in b.resources.into_iter().enumerate() {
                if let Some(extra) = b.target_info.get(&ri) {
                    info.insert(rk.clone(), extra.clone());
                }
                for f in fams {
                    if let Some(m) = family_metric(f) {
                        out.push((rk.clone(), m));
                    }
                }
            }
        }
        let rk = (self.target.job.clone(), self.target.instance.clone());
        let attrs: Labels = self
            .target
            .labels
            .iter()
            .filter(|(k, v)| !v.is_empty() && !not_attribute(k, Shape::Gauge))
            .cloned()
            .collect();
        for (name, help, unit, v) in [
            (
                "up",
                "The scraping was successful",
                "",
                if up { 1.0 } else { 0.0 },
            ),
            (
                "scrape_duration_seconds",
                "Duration of the scrape",
                "seconds",
                duration_s,
            ),
            (
                "scrape_samples_scraped",
                "The number of samples the target exposed",
                "",
                counts.scraped as f64,
            ),
            (
                "scrape_samples_post_metric_relabeling",
                "The number of samples remaining after metric relabeling was applied",
                "",
                counts.post_relabel as f64,
            ),
            (
                "scrape_series_added",
                "The approximate number of new series in this scrape",
                "",
                counts.added as f64,
            ),
        ] {
            let g = Group {
                attrs: attrs.clone(),
                ts_ms: ts,
                value: Some(v),
                ..Default::default()
            };
            let f = Family {
                name: name.into(),
                kind: MetricType::Gauge,
                shape: Shape::Gauge,
                help: help.into(),
                unit: unit.into(),
                groups: vec![g],
                index: HashMap::new(),
                named: true,
            };
            if let Some(m) = family_metric(f) {
                out.push((rk.clone(), m));
            }
        }
        let process_start_ns = process_start.map(secs_to_ns);
        self.state
            .adjust(&mut out, ts, self.opts.start_time, process_start_ns);
        self.assemble(out, &info)
    }

    fn assemble(
        &self,
        metrics: Vec<(ResourceKey, Metric)>,
        info: &HashMap<ResourceKey, Labels>,
    ) -> ExportMetricsServiceRequest {
        let mut rms: Vec<ResourceMetrics> = Vec::new();
        let mut keys: Vec<ResourceKey> = Vec::new();
        for (rk, m) in metrics {
            let i = match keys.iter().position(|k| *k == rk) {
                Some(i) => i,
                None => {
                    rms.push(ResourceMetrics {
                        resource: Some(resource(&rk.0, &rk.1, &self.target.scheme, info.get(&rk))),
                        scope_metrics: vec![ScopeMetrics {
                            scope: Some(InstrumentationScope {
                                name: SCOPE_NAME.into(),
                                version: env!("CARGO_PKG_VERSION").into(),
                                ..Default::default()
                            }),
                            ..Default::default()
                        }],
                        ..Default::default()
                    });
                    keys.push(rk);
                    rms.len() - 1
                }
            };
            rms[i].scope_metrics[0].metrics.push(m);
        }
        ExportMetricsServiceRequest {
            resource_metrics: rms,
        }
    }
}

#[cfg(test)]
#[path = "convert_tests.rs"]
mod tests;
