//! The exporter's state: the latest value of every series, keyed by family name and labels,
//! as the collector's accumulator keeps it. Cumulative points replace older ones (out-of-order
//! points are ignored); delta sums and histograms are added up into cumulative ones when they
//! line up (start == previous end), else they start over; series not updated for
//! `metric_expiration` are removed by a background sweep.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::metric::Data as MetricData;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as NumberValue;
use opentelemetry_proto::tonic::metrics::v1::{AggregationTemporality, Metric};

use crate::exporters::promtranslate::labels::{attr_string, find, job_instance, push_label};
use crate::exporters::promtranslate::naming::{
    label_name, metric_name, unit_name, NameKind, Strategy,
};

/// Sorted, de-duplicated label pairs.
pub use crate::exporters::promtranslate::labels::Labels;

/// The Prometheus type of a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FamilyKind {
    /// `counter`.
    Counter,
    /// `gauge`.
    Gauge,
    /// `untyped` (from a Prometheus scrape that had no TYPE).
    Untyped,
    /// `histogram`.
    Histogram,
    /// `summary`.
    Summary,
}

impl FamilyKind {
    /// The TYPE word.
    pub fn as_str(self) -> &'static str {
        match self {
            FamilyKind::Counter => "counter",
            FamilyKind::Gauge => "gauge",
            FamilyKind::Untyped => "untyped",
            FamilyKind::Histogram => "histogram",
            FamilyKind::Summary => "summary",
        }
    }
}

/// A series' value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Counter, gauge or untyped.
    Number(f64),
    /// Explicit-bucket histogram: upper bounds with cumulative counts (without +Inf), sum,
    /// count.
    Histogram {
        /// (upper bound, cumulative count), ascending.
        buckets: Vec<(f64, u64)>,
        /// Sum of observations.
        sum: f64,
        /// Count of observations.
        count: u64,
    },
    /// Summary: (quantile, value), sum, count.
    Summary {
        /// (quantile, value), ascending.
        quantiles: Vec<(f64, f64)>,
        /// Sum of observations.
        sum: f64,
        /// Count of observations.
        count: u64,
    },
}

/// One series.
#[derive(Debug, Clone)]
pub struct Series {
    /// Current value.
    pub value: Value,
    /// Start of the cumulative period, ns since the epoch (0: unknown).
    pub start_ns: u64,
    /// Time of the latest point, ns since the epoch.
    pub time_ns: u64,
    /// When the series was last updated (for expiry).
    pub updated: Instant,
}

/// All series of one metric name.
#[derive(Debug, Clone)]
pub struct Family {
    /// Its Prometheus type.
    pub kind: FamilyKind,
    /// HELP text (the OTLP description).
    pub help: String,
    /// The OTLP metric name (HELP text when there is no description).
    pub source_name: String,
    /// OpenMetrics UNIT.
    pub unit: String,
    /// Series by labels.
    pub series: HashMap<Labels, Series>,
}

/// Settings that shape names and labels.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Prefix for every name.
    pub namespace: String,
    /// Name translation.
    pub strategy: Strategy,
    /// Labels added to every series.
    pub const_labels: Labels,
    /// Copy every resource attribute into labels.
    pub resource_to_telemetry: bool,
    /// Resource attributes copied into labels of every series.
    pub resource_constant_labels: Vec<String>,
    /// Leave out `otel_scope_*` labels.
    pub without_scope_info: bool,
    /// Most series kept; 0 for no cap.
    pub max_series: usize,
}

/// Why points were not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// The name had nothing valid left after translation.
    InvalidName,
    /// The name is already used by a family of another type.
    TypeConflict,
    /// Over `max_series`.
    MaxSeries,
    /// A non-monotonic delta sum: cannot be made cumulative.
    NonMonotonicDelta,
    /// Exponential histograms cannot be written in the text formats.
    ExponentialHistogram,
}

impl DropReason {
    /// A short label.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::InvalidName => "invalid_name",
            DropReason::TypeConflict => "type_conflict",
            DropReason::MaxSeries => "max_series",
            DropReason::NonMonotonicDelta => "non_monotonic_delta",
            DropReason::ExponentialHistogram => "exponential_histogram",
        }
    }
}

/// What one `accumulate` did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Points stored.
    pub stored: u64,
    /// Points dropped, by reason, with the metric name that caused the first one.
    pub dropped: Vec<(DropReason, u64, String)>,
}

impl Outcome {
    fn drop(&mut self, reason: DropReason, n: u64, name: &str) {
        match self.dropped.iter_mut().find(|(r, _, _)| *r == reason) {
            Some((_, c, _)) => *c += n,
            None => self.dropped.push((reason, n, name.to_string())),
        }
    }
}

/// The exporter's series store.
pub struct Store {
    cfg: StoreConfig,
    /// Families by name, sorted for output.
    pub families: BTreeMap<String, Family>,
    /// `target_info` series: labels → last update.
    pub targets: HashMap<Labels, Instant>,
    series: usize,
}

fn number(v: &Option<NumberValue>) -> f64 {
    match v {
        Some(NumberValue::AsDouble(d)) => *d,
        Some(NumberValue::AsInt(i)) => *i as f64,
        None => 0.0,
    }
}

/// Data point flag: no recorded value (a stale marker).
const NO_RECORDED_VALUE: u32 = 1;

impl Store {
    /// An empty store.
    pub fn new(cfg: StoreConfig) -> Store {
        Store {
            cfg,
            families: BTreeMap::new(),
            targets: HashMap::new(),
            series: 0,
        }
    }

    /// Series currently held (excluding target_info).
    pub fn series_count(&self) -> usize {
        self.series
    }

    /// Takes in one OTLP metrics request.
    pub fn accumulate(&mut self, req: &ExportMetricsServiceRequest, now: Instant) -> Outcome {
        let mut out = Outcome::default();
        for rm in &req.resource_metrics {
            let resource: &[KeyValue] = rm
                .resource
                .as_ref()
                .map(|r| r.attributes.as_slice())
                .unwrap_or(&[]);
            let (job, instance) = job_instance(resource);
            self.note_target(resource, &job, &instance, now);
            let mut base = Labels::new();
            if let Some(j) = &job {
                push_label(&mut base, "job".into(), j.clone());
            }
            if let Some(i) = &instance {
                push_label(&mut base, "instance".into(), i.clone());
            }
            for key in &self.cfg.resource_constant_labels {
                if let (Some(kv), Some(name)) = (
                    find(resource, key),
                    label_name(key, self.cfg.strategy.escape),
                ) {
                    push_label(&mut base, name, attr_string(&kv.value));
                }
            }
            if self.cfg.resource_to_telemetry {
                for kv in resource {
                    if let Some(name) = label_name(&kv.key, self.cfg.strategy.escape) {
                        push_label(&mut base, name, attr_string(&kv.value));
                    }
                }
            }
            for sm in &rm.scope_metrics {
                let mut scope_labels = Labels::new();
                if !self.cfg.without_scope_info {
                    if let Some(scope) = &sm.scope {
                        for kv in &scope.attributes {
                            if let Some(name) = label_name(
                                &format!("otel_scope_{}", kv.key),
                                self.cfg.strategy.escape,
                            ) {
                                push_label(&mut scope_labels, name, attr_string(&kv.value));
                            }
                        }
                        push_label(
                            &mut scope_labels,
                            "otel_scope_name".into(),
                            scope.name.clone(),
                        );
                        push_label(
                            &mut scope_labels,
                            "otel_scope_version".into(),
                            scope.version.clone(),
                        );
                    }
                    push_label(
                        &mut scope_labels,
                        "otel_scope_schema_url".into(),
                        sm.schema_url.clone(),
                    );
                }
                for m in &sm.metrics {
                    self.metric(m, &scope_labels, &base, now, &mut out);
                }
            }
        }
        out
    }

    fn note_target(
        &mut self,
        resource: &[KeyValue],
        job: &Option<String>,
        instance: &Option<String>,
        now: Instant,
    ) {
        if job.is_none() && instance.is_none() {
            return;
        }
        let mut labels = Labels::new();
        for kv in resource {
            if matches!(
                kv.key.as_str(),
                "service.name" | "service.namespace" | "service.instance.id"
            ) {
                continue;
            }
            let Some(name) = label_name(&kv.key, self.cfg.strategy.escape) else {
                continue;
            };
            let value = attr_string(&kv.value);
            match labels.iter_mut().find(|(n, _)| *n == name) {
                Some((_, v)) => {
                    v.push(';');
                    v.push_str(&value);
                }
                None => labels.push((name, value)),
            }
        }
        if let Some(j) = job {
            labels.retain(|(n, _)| n != "job");
            labels.push(("job".into(), j.clone()));
        }
        if let Some(i) = instance {
            labels.retain(|(n, _)| n != "instance");
            labels.push(("instance".into(), i.clone()));
        }
        labels.retain(|(_, v)| !v.is_empty());
        labels.sort();
        self.targets.insert(labels, now);
    }

    fn metric(
        &mut self,
        m: &Metric,
        scope: &Labels,
        base: &Labels,
        now: Instant,
        out: &mut Outcome,
    ) {
        let Some(data) = &m.data else { return };
        let untyped = m
            .metadata
            .iter()
            .any(|kv| kv.key == "prometheus.type" && attr_string(&kv.value) == "unknown");
        let (kind, name_kind) = match data {
            MetricData::Gauge(_) if untyped => (FamilyKind::Untyped, NameKind::Gauge),
            MetricData::Gauge(_) => (FamilyKind::Gauge, NameKind::Gauge),
            MetricData::Sum(s) if s.is_monotonic => (FamilyKind::Counter, NameKind::Counter),
            MetricData::Sum(_) => (FamilyKind::Gauge, NameKind::Gauge),
            MetricData::Histogram(_) => (FamilyKind::Histogram, NameKind::Histogram),
            MetricData::Summary(_) => (FamilyKind::Summary, NameKind::Summary),
            MetricData::ExponentialHistogram(h) => {
                out.drop(
                    DropReason::ExponentialHistogram,
                    h.data_points.len() as u64,
                    &m.name,
                );
                return;
            }
        };
        let points = crate::signal::metric_point_count(Some(data)) as u64;
        let Some(name) = metric_name(
            &m.name,
            &m.unit,
            name_kind,
            &self.cfg.namespace,
            self.cfg.strategy,
        ) else {
            out.drop(DropReason::InvalidName, points, &m.name);
            return;
        };
        if let Some(f) = self.families.get(&name) {
            if f.kind != kind {
                out.drop(DropReason::TypeConflict, points, &name);
                return;
            }
        }
        if let MetricData::Sum(s) = data {
            if !s.is_monotonic && s.aggregation_temporality == AggregationTemporality::Delta as i32
            {
                out.drop(DropReason::NonMonotonicDelta, points, &name);
                return;
            }
        }
        let unit = unit_name(&m.unit, self.cfg.strategy.escape);
        let escape = self.cfg.strategy.escape;
        let labels_for = |attrs: &[KeyValue]| -> Labels {
            let mut l = Labels::new();
            for kv in attrs {
                if let Some(n) = label_name(&kv.key, escape) {
                    push_label(&mut l, n, attr_string(&kv.value));
                }
            }
            for (n, v) in scope.iter().chain(base.iter()) {
                push_label(&mut l, n.clone(), v.clone());
            }
            l
        };
        let mut updates: Vec<(Labels, Update)> = Vec::new();
        match data {
            MetricData::Gauge(g) => {
                for p in &g.data_points {
                    updates.push((
                        labels_for(&p.attributes),
                        Update::replace(
                            Value::Number(number(&p.value)),
                            p.start_time_unix_nano,
                            p.time_unix_nano,
                            p.flags,
                        ),
                    ));
                }
            }
            MetricData::Sum(s) => {
                let delta = s.aggregation_temporality == AggregationTemporality::Delta as i32;
                for p in &s.data_points {
                    let mut u = Update::replace(
                        Value::Number(number(&p.value)),
                        p.start_time_unix_nano,
                        p.time_unix_nano,
                        p.flags,
                    );
                    u.delta = delta;
                    updates.push((labels_for(&p.attributes), u));
                }
            }
            MetricData::Histogram(h) => {
                let delta = h.aggregation_temporality == AggregationTemporality::Delta as i32;
                for p in &h.data_points {
                    let mut buckets = Vec::with_capacity(p.explicit_bounds.len());
                    let mut cum = 0u64;
                    let mut pairs: Vec<(f64, u64)> = p
                        .explicit_bounds
                        .iter()
                        .enumerate()
                        .map(|(i, b)| (*b, p.bucket_counts.get(i).copied().unwrap_or(0)))
                        .collect();
                    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
                    pairs.dedup_by(|a, b| a.0 == b.0);
                    for (bound, c) in pairs {
                        cum += c;
                        buckets.push((bound, cum));
                    }
                    let mut u = Update::replace(
                        Value::Histogram {
                            buckets,
                            sum: p.sum.unwrap_or(0.0),
                            count: p.count,
                        },
                        p.start_time_unix_nano,
                        p.time_unix_nano,
                        p.flags,
                    );
                    u.delta = delta;
                    updates.push((labels_for(&p.attributes), u));
                }
            }
            MetricData::Summary(s) => {
                for p in &s.data_points {
                    let mut quantiles: Vec<(f64, f64)> = p
                        .quantile_values
                        .iter()
                        .map(|q| (q.quantile, q.value))
                        .collect();
                    quantiles.sort_by(|a, b| a.0.total_cmp(&b.0));
                    updates.push((
                        labels_for(&p.attributes),
                        Update::replace(
                            Value::Summary {
                                quantiles,
                                sum: p.sum,
                                count: p.count,
                            },
                            p.start_time_unix_nano,
                            p.time_unix_nano,
                            p.flags,
                        ),
                    ));
                }
            }
            MetricData::ExponentialHistogram(_) => unreachable!("handled above"),
        }
        let max = self.cfg.max_series;
        let family = self.families.entry(name.clone()).or_insert_with(|| Family {
            kind,
            help: m.description.clone(),
            source_name: m.name.clone(),
            unit,
            series: HashMap::new(),
        });
        for (mut labels, u) in updates {
            for (n, v) in &self.cfg.const_labels {
                push_label(&mut labels, n.clone(), v.clone());
            }
            labels.sort();
            if u.flags & NO_RECORDED_VALUE != 0 {
                if family.series.remove(&labels).is_some() {
                    self.series -= 1;
                }
                continue;
            }
            match family.series.get_mut(&labels) {
                Some(existing) => {
                    u.apply(existing, now);
                    out.stored += 1;
                }
                None => {
                    if max > 0 && self.series >= max {
                        out.drop(DropReason::MaxSeries, 1, &name);
                        continue;
                    }
                    family.series.insert(
                        labels,
                        Series {
                            value: u.value,
                            start_ns: u.start_ns,
                            time_ns: u.time_ns,
                            updated: now,
                        },
                    );
                    self.series += 1;
                    out.stored += 1;
                }
            }
        }
        if family.series.is_empty() {
            self.families.remove(&name);
        }
    }

    /// Removes series (and target_info entries) not updated since `now - expiration`.
    /// Returns how many series were removed.
    pub fn expire(&mut self, now: Instant, expiration: Duration) -> usize {
        let Some(cutoff) = now.checked_sub(expiration) else {
            return 0;
        };
        let mut removed = 0;
        self.families.retain(|_, f| {
            let before = f.series.len();
            f.series.retain(|_, s| s.updated >= cutoff);
            removed += before - f.series.len();
            // Give the memory of expired series back, not just the slots.
            if f.series.capacity() > 2 * f.series.len() + 16 {
                f.series.shrink_to_fit();
            }
            !f.series.is_empty()
        });
        self.targets.retain(|_, t| *t >= cutoff);
        self.series -= removed;
        removed
    }
}

/// One incoming point for a series; `apply` folds it in with the collector's cumulative/delta
/// rules (also used by the remote-write exporter for delta sums and histograms).
pub struct Update {
    /// The point's value.
    pub value: Value,
    /// Its start time, ns since the epoch.
    pub start_ns: u64,
    /// Its time, ns since the epoch.
    pub time_ns: u64,
    /// Its data point flags.
    pub flags: u32,
    /// Whether it is a delta point.
    pub delta: bool,
}

impl Update {
    /// A point that replaces the series' value (cumulative or gauge); set `delta` for deltas.
    pub fn replace(value: Value, start_ns: u64, time_ns: u64, flags: u32) -> Update {
        Update {
            value,
            start_ns,
            time_ns,
            flags,
            delta: false,
        }
    }

    /// Folds the point into the series: newer cumulative points replace; delta points are
    /// added when aligned with the previous one (start == previous time), start over when there
    /// is a gap; points older than what is held are ignored.
    pub fn apply(self, s: &mut Series, now: Instant) {
        if self.time_ns != 0 && s.time_ns != 0 && self.time_ns < s.time_ns {
            return;
        }
        if self.delta && self.start_ns != 0 && self.start_ns == s.time_ns {
            match (&mut s.value, self.value) {
                (Value::Number(a), Value::Number(b)) => *a += b,
                (
                    Value::Histogram {
                        buckets,
                        sum,
                        count,
                    },
                    Value::Histogram {
                        buckets: nb,
                        sum: ns,
                        count: nc,
                    },
                ) if buckets.len() == nb.len()
                    && buckets.iter().zip(&nb).all(|(a, b)| a.0 == b.0) =>
                {
                    for (a, b) in buckets.iter_mut().zip(&nb) {
                        a.1 += b.1;
                    }
                    *sum += ns;
                    *count += nc;
                }
                (v, nv) => {
                    *v = nv;
                    s.start_ns = self.start_ns;
                }
            }
        } else {
            s.value = self.value;
            s.start_ns = self.start_ns;
        }
        s.time_ns = self.time_ns;
        s.updated = now;
    }
}
