//! OTLP metrics → remote-write series, as the collector's `prometheusremotewrite` translator
//! builds them: names and labels from the shared `promtranslate` rules, `job`/`instance` from
//! the service attributes, external labels where the data has none, histograms as
//! `_bucket{le}`/`_sum`/`_count`, summaries as `{quantile}`/`_sum`/`_count`, `target_info` per
//! resource, stale markers for points flagged "no recorded value", exemplars on sums and on the
//! first histogram bucket that holds their value. Delta monotonic sums and
//! delta histograms are made cumulative with the `prometheus` exporter's rules.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::exemplar::Value as ExemplarValue;
use opentelemetry_proto::tonic::metrics::v1::metric::Data as MetricData;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as NumberValue;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Exemplar as OtlpExemplar, HistogramDataPoint, Metric, NumberDataPoint,
};

use super::proto::{
    Exemplar, Label, MetricMetadata, Sample, TimeSeries, TYPE_COUNTER, TYPE_GAUGE, TYPE_HISTOGRAM,
    TYPE_SUMMARY,
};
use crate::exporters::prometheus::{DropReason, Series, SeriesValue, Update};
use crate::exporters::promtranslate::labels::{attr_string, job_instance, Labels};
use crate::exporters::promtranslate::naming::{
    label_name, metric_name, unit_name, NameKind, Strategy,
};

/// The bit pattern Prometheus reads as a staleness marker.
pub const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

/// Data point flag: no recorded value.
const NO_RECORDED_VALUE: u32 = 1;

/// Delta series not updated for this long are forgotten (their next point starts over).
const DELTA_EXPIRY: Duration = Duration::from_secs(300);

/// What shapes names and labels.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Prefix for every name.
    pub namespace: String,
    /// Name translation.
    pub strategy: Strategy,
    /// Sanitized external labels, added where the data has no label of that name.
    pub external_labels: Labels,
    /// Copy every resource attribute into labels.
    pub resource_to_telemetry: bool,
    /// A `target_info` series per resource.
    pub target_info: bool,
    /// `_created` series.
    pub created_metric: bool,
    /// Collect metric metadata.
    pub send_metadata: bool,
}

/// The series and metadata of one export, and what was dropped.
#[derive(Debug, Default)]
pub struct Output {
    /// Series, each once, samples in time order.
    pub series: Vec<TimeSeries>,
    /// One entry per family (with `send_metadata`).
    pub metadata: Vec<MetricMetadata>,
    /// Points dropped, by reason, with the first metric name.
    pub dropped: Vec<(DropReason, u64, String)>,
}

/// Cumulative state of delta series, kept across exports.
#[derive(Default)]
pub struct DeltaState {
    series: HashMap<Vec<Label>, Series>,
    last_sweep: Option<Instant>,
}

impl DeltaState {
    /// Delta series currently tracked.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// Whether no delta series is tracked.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// Folds a delta point into its series; returns the cumulative value and start time to
    /// send, or `None` for a point older than what was already sent. A point at the time
    /// already folded is a retry of the same export: it is not added twice.
    fn fold(
        &mut self,
        key: Vec<Label>,
        value: SeriesValue,
        start_ns: u64,
        time_ns: u64,
        now: Instant,
    ) -> Option<(SeriesValue, u64)> {
        match self.series.get_mut(&key) {
            Some(s) if time_ns != 0 && time_ns < s.time_ns => None,
            Some(s) if time_ns != 0 && time_ns == s.time_ns => Some((s.value.clone(), s.start_ns)),
            Some(s) => {
                let mut u = Update::replace(value, start_ns, time_ns, 0);
                u.delta = true;
                u.apply(s, now);
                Some((s.value.clone(), s.start_ns))
            }
            None => {
                self.series.insert(
                    key,
                    Series {
                        value: value.clone(),
                        start_ns,
                        time_ns,
                        updated: now,
                    },
                );
                Some((value, start_ns))
            }
        }
    }

    fn sweep(&mut self, now: Instant) {
        if self
            .last_sweep
            .is_some_and(|t| now.duration_since(t) < DELTA_EXPIRY / 5)
        {
            return;
        }
        self.last_sweep = Some(now);
        if let Some(cutoff) = now.checked_sub(DELTA_EXPIRY) {
            self.series.retain(|_, s| s.updated >= cutoff);
        }
    }
}

fn ms(ns: u64) -> i64 {
    (ns / 1_000_000) as i64
}

fn number(v: &Option<NumberValue>) -> f64 {
    match v {
        Some(NumberValue::AsDouble(d)) => *d,
        Some(NumberValue::AsInt(i)) => *i as f64,
        None => 0.0,
    }
}

/// A float as Go's `strconv.FormatFloat(f, 'f', -1, 64)` writes it (`le`, `quantile`).
pub fn format_float(f: f64) -> String {
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if f.is_nan() {
        return "NaN".into();
    }
    format!("{f}")
}

/// The resource a metric belongs to.
struct ResourceCtx<'a> {
    attrs: &'a [KeyValue],
    job: Option<String>,
    instance: Option<String>,
}

struct Builder<'a> {
    settings: &'a Settings,
    index: HashMap<Vec<Label>, usize>,
    out: Output,
    families: HashSet<String>,
}

impl Builder<'_> {
    fn count_drop(&mut self, reason: DropReason, n: u64, name: &str) {
        match self.out.dropped.iter_mut().find(|(r, _, _)| *r == reason) {
            Some((_, c, _)) => *c += n,
            None => self.out.dropped.push((reason, n, name.to_string())),
        }
    }

    /// Labels of a series: attributes (and resource attributes with
    /// `resource_to_telemetry_conversion`), then `job`/`instance` (which win), external labels
    /// where absent, then `__name__` and the extra label.
    fn labels(
        &self,
        attrs: &[KeyValue],
        res: &ResourceCtx<'_>,
        name: &str,
        extra: Option<(&str, String)>,
    ) -> Vec<Label> {
        let escape = self.settings.strategy.escape;
        let mut source: Vec<(&str, String)> = attrs
            .iter()
            .map(|kv| (kv.key.as_str(), attr_string(&kv.value)))
            .collect();
        if self.settings.resource_to_telemetry {
            for kv in res.attrs {
                if !attrs.iter().any(|a| a.key == kv.key) {
                    source.push((kv.key.as_str(), attr_string(&kv.value)));
                }
            }
        }
        source.sort_by(|a, b| a.0.cmp(b.0));
        let mut map: BTreeMap<String, String> = BTreeMap::new();
        for (key, value) in source {
            let Some(n) = label_name(key, escape) else {
                continue;
            };
            map.entry(n)
                .and_modify(|v| {
                    v.push(';');
                    v.push_str(&value);
                })
                .or_insert(value);
        }
        if let Some(j) = &res.job {
            map.insert("job".into(), j.clone());
        }
        if let Some(i) = &res.instance {
            map.insert("instance".into(), i.clone());
        }
        for (n, v) in &self.settings.external_labels {
            map.entry(n.clone()).or_insert_with(|| v.clone());
        }
        map.insert("__name__".into(), name.to_string());
        if let Some((n, v)) = extra {
            map.insert(n.to_string(), v);
        }
        map.into_iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(name, value)| Label { name, value })
            .collect()
    }

    /// Adds a sample to its series; returns the series' index.
    fn add(&mut self, labels: Vec<Label>, value: f64, timestamp: i64) -> usize {
        let sample = Sample { value, timestamp };
        match self.index.get(&labels) {
            Some(&i) => {
                self.out.series[i].samples.push(sample);
                i
            }
            None => {
                let i = self.out.series.len();
                self.index.insert(labels.clone(), i);
                self.out.series.push(TimeSeries {
                    labels,
                    samples: vec![sample],
                    exemplars: Vec::new(),
                });
                i
            }
        }
    }

    fn metadata(&mut self, name: &str, kind: i32, m: &Metric) {
        if !self.settings.send_metadata || !self.families.insert(name.to_string()) {
            return;
        }
        self.out.metadata.push(MetricMetadata {
            r#type: kind,
            metric_family_name: name.to_string(),
            help: m.description.clone(),
            unit: unit_name(&m.unit, self.settings.strategy.escape),
        });
    }

    fn created(
        &mut self,
        attrs: &[KeyValue],
        res: &ResourceCtx<'_>,
        base: &str,
        start_ns: u64,
        time_ns: u64,
    ) {
        if !self.settings.created_metric || start_ns == 0 {
            return;
        }
        let base = base.strip_suffix("_total").unwrap_or(base);
        let labels = self.labels(attrs, res, &format!("{base}_created"), None);
        self.add(labels, ms(start_ns) as f64, ms(time_ns));
    }

    /// Emits one histogram point; each exemplar goes to the first bucket whose bound holds
    /// its value.
    #[allow(clippy::too_many_arguments)]
    fn histogram(
        &mut self,
        name: &str,
        attrs: &[KeyValue],
        res: &ResourceCtx<'_>,
        value: &SeriesValue,
        has_sum: bool,
        stale: bool,
        start_ns: u64,
        time_ns: u64,
        exemplars: &[OtlpExemplar],
    ) {
        let SeriesValue::Histogram {
            buckets,
            sum,
            count,
        } = value
        else {
            return;
        };
        let t = ms(time_ns);
        let v = |x: f64| if stale { f64::from_bits(STALE_NAN) } else { x };
        let mut bucket_series = Vec::with_capacity(buckets.len() + 1);
        for (bound, cum) in buckets {
            let l = self.labels(
                attrs,
                res,
                &format!("{name}_bucket"),
                Some(("le", format_float(*bound))),
            );
            bucket_series.push((*bound, self.add(l, v(*cum as f64), t)));
        }
        let l = self.labels(
            attrs,
            res,
            &format!("{name}_bucket"),
            Some(("le", "+Inf".into())),
        );
        bucket_series.push((f64::INFINITY, self.add(l, v(*count as f64), t)));
        if !stale {
            for e in to_exemplars(exemplars) {
                if let Some((_, i)) = bucket_series.iter().find(|(b, _)| e.value <= *b) {
                    self.out.series[*i].exemplars.push(e);
                }
            }
        }
        if has_sum {
            let l = self.labels(attrs, res, &format!("{name}_sum"), None);
            self.add(l, v(*sum), t);
        }
        let l = self.labels(attrs, res, &format!("{name}_count"), None);
        self.add(l, v(*count as f64), t);
        if !stale {
            self.created(attrs, res, name, start_ns, time_ns);
        }
    }
}

fn histogram_value(p: &HistogramDataPoint) -> SeriesValue {
    let mut pairs: Vec<(f64, u64)> = p
        .explicit_bounds
        .iter()
        .enumerate()
        .map(|(i, b)| (*b, p.bucket_counts.get(i).copied().unwrap_or(0)))
        .collect();
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    pairs.dedup_by(|a, b| a.0 == b.0);
    let mut cum = 0u64;
    let buckets = pairs
        .into_iter()
        .map(|(bound, c)| {
            cum += c;
            (bound, cum)
        })
        .collect();
    SeriesValue::Histogram {
        buckets,
        sum: p.sum.unwrap_or(0.0),
        count: p.count,
    }
}

/// Translates one OTLP request. `deltas` carries the cumulative state of delta series.
pub fn translate(
    req: &ExportMetricsServiceRequest,
    settings: &Settings,
    deltas: &mut DeltaState,
    now: Instant,
) -> Output {
    deltas.sweep(now);
    let mut b = Builder {
        settings,
        index: HashMap::new(),
        out: Output::default(),
        families: HashSet::new(),
    };
    for rm in &req.resource_metrics {
        let attrs: &[KeyValue] = rm
            .resource
            .as_ref()
            .map(|r| r.attributes.as_slice())
            .unwrap_or(&[]);
        let (job, instance) = job_instance(attrs);
        let res = ResourceCtx {
            attrs,
            job,
            instance,
        };
        let mut latest_ns = 0u64;
        for sm in &rm.scope_metrics {
            for m in &sm.metrics {
                latest_ns = latest_ns.max(metric(&mut b, m, &res, deltas, now));
            }
        }
        if settings.target_info && latest_ns > 0 {
            target_info(&mut b, &res, latest_ns);
        }
    }
    for s in &mut b.out.series {
        s.samples.sort_by_key(|s| s.timestamp);
    }
    b.out
}

/// `target_info`: the resource's attributes other than the service identity, as labels.
fn target_info(b: &mut Builder<'_>, res: &ResourceCtx<'_>, latest_ns: u64) {
    let rest: Vec<KeyValue> = res
        .attrs
        .iter()
        .filter(|kv| {
            !matches!(
                kv.key.as_str(),
                "service.name" | "service.namespace" | "service.instance.id"
            )
        })
        .cloned()
        .collect();
    if rest.is_empty() {
        return;
    }
    let name = if b.settings.namespace.is_empty() {
        "target_info".to_string()
    } else {
        format!("{}_target_info", b.settings.namespace)
    };
    let bare = ResourceCtx {
        attrs: &[],
        job: res.job.clone(),
        instance: res.instance.clone(),
    };
    let labels = b.labels(&rest, &bare, &name, None);
    b.add(labels, 1.0, ms(latest_ns));
}

/// Translates one metric; returns the latest point time seen (ns).
fn metric(
    b: &mut Builder<'_>,
    m: &Metric,
    res: &ResourceCtx<'_>,
    deltas: &mut DeltaState,
    now: Instant,
) -> u64 {
    let Some(data) = &m.data else { return 0 };
    let points = crate::signal::metric_point_count(Some(data)) as u64;
    let (name_kind, meta_kind) = match data {
        MetricData::Gauge(_) => (NameKind::Gauge, TYPE_GAUGE),
        MetricData::Sum(s) if s.is_monotonic => (NameKind::Counter, TYPE_COUNTER),
        MetricData::Sum(_) => (NameKind::Gauge, TYPE_GAUGE),
        MetricData::Histogram(_) => (NameKind::Histogram, TYPE_HISTOGRAM),
        MetricData::Summary(_) => (NameKind::Summary, TYPE_SUMMARY),
        MetricData::ExponentialHistogram(_) => {
            b.count_drop(DropReason::ExponentialHistogram, points, &m.name);
            return 0;
        }
    };
    let s = b.settings;
    let Some(name) = metric_name(&m.name, &m.unit, name_kind, &s.namespace, s.strategy) else {
        b.count_drop(DropReason::InvalidName, points, &m.name);
        return 0;
    };
    let stale_v = f64::from_bits(STALE_NAN);
    let mut latest = 0u64;
    match data {
        MetricData::Gauge(g) => {
            b.metadata(&name, meta_kind, m);
            for p in &g.data_points {
                latest = latest.max(p.time_unix_nano);
                let l = b.labels(&p.attributes, res, &name, None);
                let v = if p.flags & NO_RECORDED_VALUE != 0 {
                    stale_v
                } else {
                    number(&p.value)
                };
                b.add(l, v, ms(p.time_unix_nano));
            }
        }
        MetricData::Sum(sum) => {
            let delta = sum.aggregation_temporality == AggregationTemporality::Delta as i32;
            if delta && !sum.is_monotonic {
                b.count_drop(DropReason::NonMonotonicDelta, points, &name);
                return 0;
            }
            b.metadata(&name, meta_kind, m);
            for p in &sum.data_points {
                latest = latest.max(p.time_unix_nano);
                number_point(b, p, res, &name, sum.is_monotonic, delta, deltas, now);
            }
        }
        MetricData::Histogram(h) => {
            let delta = h.aggregation_temporality == AggregationTemporality::Delta as i32;
            b.metadata(&name, meta_kind, m);
            for p in &h.data_points {
                latest = latest.max(p.time_unix_nano);
                let stale = p.flags & NO_RECORDED_VALUE != 0;
                let value = histogram_value(p);
                let (value, start) = if delta && !stale {
                    let key = b.labels(&p.attributes, res, &name, None);
                    match deltas.fold(key, value, p.start_time_unix_nano, p.time_unix_nano, now) {
                        Some(v) => v,
                        None => continue,
                    }
                } else {
                    (value, p.start_time_unix_nano)
                };
                let has_sum = p.sum.is_some() || delta;
                b.histogram(
                    &name,
                    &p.attributes,
                    res,
                    &value,
                    has_sum,
                    stale,
                    start,
                    p.time_unix_nano,
                    &p.exemplars,
                );
            }
        }
        MetricData::Summary(sm) => {
            b.metadata(&name, meta_kind, m);
            for p in &sm.data_points {
                latest = latest.max(p.time_unix_nano);
                let stale = p.flags & NO_RECORDED_VALUE != 0;
                let v = |x: f64| if stale { stale_v } else { x };
                let t = ms(p.time_unix_nano);
                for q in &p.quantile_values {
                    let l = b.labels(
                        &p.attributes,
                        res,
                        &name,
                        Some(("quantile", format_float(q.quantile))),
                    );
                    b.add(l, v(q.value), t);
                }
                let l = b.labels(&p.attributes, res, &format!("{name}_sum"), None);
                b.add(l, v(p.sum), t);
                let l = b.labels(&p.attributes, res, &format!("{name}_count"), None);
                b.add(l, v(p.count as f64), t);
                if !stale {
                    b.created(
                        &p.attributes,
                        res,
                        &name,
                        p.start_time_unix_nano,
                        p.time_unix_nano,
                    );
                }
            }
        }
        MetricData::ExponentialHistogram(_) => unreachable!("dropped above"),
    }
    latest
}

/// One gauge-like or counter point of a Sum.
#[allow(clippy::too_many_arguments)]
fn number_point(
    b: &mut Builder<'_>,
    p: &NumberDataPoint,
    res: &ResourceCtx<'_>,
    name: &str,
    monotonic: bool,
    delta: bool,
    deltas: &mut DeltaState,
    now: Instant,
) {
    let l = b.labels(&p.attributes, res, name, None);
    let t = ms(p.time_unix_nano);
    if p.flags & NO_RECORDED_VALUE != 0 {
        b.add(l, f64::from_bits(STALE_NAN), t);
        return;
    }
    let (v, start) = if delta {
        match deltas.fold(
            l.clone(),
            SeriesValue::Number(number(&p.value)),
            p.start_time_unix_nano,
            p.time_unix_nano,
            now,
        ) {
            Some((SeriesValue::Number(v), start)) => (v, start),
            _ => return,
        }
    } else {
        (number(&p.value), p.start_time_unix_nano)
    };
    let i = b.add(l, v, t);
    b.out.series[i].exemplars.extend(to_exemplars(&p.exemplars));
    if monotonic {
        b.created(&p.attributes, res, name, start, p.time_unix_nano);
    }
}

/// Most characters of an exemplar's label names and values; filtered attributes that would
/// pass it are left out (trace and span IDs are kept), as upstream does.
const MAX_EXEMPLAR_RUNES: usize = 128;

/// OTLP exemplars as remote-write exemplars: `trace_id`/`span_id` (hex) labels, then the
/// filtered attributes while the labels stay within 128 characters.
pub fn to_exemplars(list: &[OtlpExemplar]) -> Vec<Exemplar> {
    list.iter()
        .map(|e| {
            let mut labels = Vec::new();
            let mut runes = 0;
            for (name, id) in [("trace_id", &e.trace_id), ("span_id", &e.span_id)] {
                if !id.is_empty() && id.iter().any(|b| *b != 0) {
                    let value = hex::encode(id);
                    runes += name.len() + value.len();
                    labels.push(Label {
                        name: name.into(),
                        value,
                    });
                }
            }
            let attrs: Vec<Label> = e
                .filtered_attributes
                .iter()
                .map(|kv| Label {
                    name: kv.key.clone(),
                    value: attr_string(&kv.value),
                })
                .collect();
            runes += attrs
                .iter()
                .map(|l| l.name.chars().count() + l.value.chars().count())
                .sum::<usize>();
            if runes <= MAX_EXEMPLAR_RUNES {
                labels.extend(attrs);
            }
            Exemplar {
                labels,
                value: match e.value {
                    Some(ExemplarValue::AsDouble(d)) => d,
                    Some(ExemplarValue::AsInt(i)) => i as f64,
                    None => 0.0,
                },
                timestamp: ms(e.time_unix_nano),
            }
        })
        .collect()
}
