//! State kept per target between scrapes: start times of cumulative series and the series seen
//! last time, for staleness markers.
//!
//! Start-time policy ([`StartTimePolicy`]):
//! - a point whose family exposes `_created` keeps that start time, whatever the policy;
//! - `first_observation` (default): a series starts at its first observation (that point has
//!   start time = time), later points keep that start; when the value decreases (a Sum's value,
//!   a Histogram's or Summary's count or sum) the series was reset and the decreasing point
//!   starts it again (start time = its time);
//! - `created_only`: no start time (0) without `_created`, as upstream since it dropped its
//!   start-time adjustment (use a start-time processor downstream);
//! - `start_time_metric`: the scrape's `process_start_time_seconds` (or the metric matching
//!   `start_time_metric_regex`) for every cumulative point; falls back to first observation
//!   when the target does not expose it.
//!
//! Staleness: a series present in the previous scrape and absent now (or every series, when
//! the scrape failed or the target went away) gets one point with the no-recorded-value flag
//! (DataPointFlags = 1) at the scrape time; its state is then forgotten, so a series that comes
//! back starts anew.

use std::collections::HashMap;

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::{
    metric, summary_data_point, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint, Sum,
    Summary, SummaryDataPoint,
};

use super::config::StartTimePolicy;
use super::convert::{ms_to_ns, series_key, ResourceKey, Shape};

/// OTLP DataPointFlags.FLAG_NO_RECORDED_VALUE.
pub const NO_RECORDED_VALUE: u32 = 1;

#[derive(Debug, Clone, Copy)]
enum Prev {
    None,
    Number(f64),
    Dist(u64, f64),
}

/// What is needed to emit a staleness marker for a series.
#[derive(Debug, Clone)]
struct Template {
    rk: ResourceKey,
    name: String,
    description: String,
    unit: String,
    metadata: Vec<KeyValue>,
    shape: Shape,
    attrs: Vec<KeyValue>,
    bounds: Vec<f64>,
    quantiles: Vec<f64>,
}

#[derive(Debug, Clone)]
struct Series {
    start_ns: u64,
    prev: Prev,
    seen: u64,
    template: Template,
}

/// Per-target state between scrapes.
#[derive(Debug, Default)]
pub struct TargetState {
    series: HashMap<u64, Series>,
    generation: u64,
}

fn template(rk: &ResourceKey, m: &Metric, shape: Shape, attrs: &[KeyValue]) -> Template {
    Template {
        rk: rk.clone(),
        name: m.name.clone(),
        description: m.description.clone(),
        unit: m.unit.clone(),
        metadata: m.metadata.clone(),
        shape,
        attrs: attrs.to_vec(),
        bounds: Vec::new(),
        quantiles: Vec::new(),
    }
}

struct Ctx {
    ts_ns: u64,
    policy: StartTimePolicy,
    process_start_ns: Option<u64>,
    generation: u64,
}

impl TargetState {
    /// Number of series tracked.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// True when no series is tracked.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// Sets start times on this scrape's cumulative points, records every series, and appends
    /// staleness markers for series of the previous scrape that are gone.
    pub fn adjust(
        &mut self,
        out: &mut Vec<(ResourceKey, Metric)>,
        scrape_ts_ms: i64,
        policy: StartTimePolicy,
        process_start_ns: Option<u64>,
    ) {
        self.generation += 1;
        let ctx = Ctx {
            ts_ns: ms_to_ns(scrape_ts_ms),
            policy,
            process_start_ns,
            generation: self.generation,
        };
        for (rk, m) in out.iter_mut() {
            let Some(data) = m.data.as_mut() else {
                continue;
            };
            let name = m.name.clone();
            let meta = Metric {
                name: m.name.clone(),
                description: m.description.clone(),
                unit: m.unit.clone(),
                metadata: m.metadata.clone(),
                data: None,
            };
            match data {
                metric::Data::Gauge(g) => {
                    for p in &mut g.data_points {
                        let key = series_key(rk, &name, Shape::Gauge, &p.attributes);
                        self.touch(key, &ctx, || {
                            template(rk, &meta, Shape::Gauge, &p.attributes)
                        });
                    }
                }
                metric::Data::Sum(s) => {
                    let shape = Shape::Sum(s.is_monotonic);
                    for p in &mut s.data_points {
                        let key = series_key(rk, &name, shape, &p.attributes);
                        let v = match p.value {
                            Some(opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsDouble(v)) => v,
                            Some(opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsInt(v)) => v as f64,
                            None => 0.0,
                        };
                        let start = self.start(
                            key,
                            &ctx,
                            p.start_time_unix_nano,
                            p.time_unix_nano,
                            Prev::Number(v),
                            || template(rk, &meta, shape, &p.attributes),
                        );
                        p.start_time_unix_nano = start;
                    }
                }
                metric::Data::Histogram(h) => {
                    for p in &mut h.data_points {
                        let key = series_key(rk, &name, Shape::Histogram, &p.attributes);
                        let prev = Prev::Dist(p.count, p.sum.unwrap_or(0.0));
                        let start = self.start(
                            key,
                            &ctx,
                            p.start_time_unix_nano,
                            p.time_unix_nano,
                            prev,
                            || {
                                let mut t = template(rk, &meta, Shape::Histogram, &p.attributes);
                                t.bounds = p.explicit_bounds.clone();
                                t
                            },
                        );
                        p.start_time_unix_nano = start;
                    }
                }
                metric::Data::Summary(s) => {
                    for p in &mut s.data_points {
                        let key = series_key(rk, &name, Shape::Summary, &p.attributes);
                        let prev = Prev::Dist(p.count, p.sum);
                        let start = self.start(
                            key,
                            &ctx,
                            p.start_time_unix_nano,
                            p.time_unix_nano,
                            prev,
                            || {
                                let mut t = template(rk, &meta, Shape::Summary, &p.attributes);
                                t.quantiles =
                                    p.quantile_values.iter().map(|q| q.quantile).collect();
                                t
                            },
                        );
                        p.start_time_unix_nano = start;
                    }
                }
                metric::Data::ExponentialHistogram(_) => {}
            }
        }
        let gen = self.generation;
        let ts = ctx.ts_ns;
        let gone: Vec<u64> = self
            .series
            .iter()
            .filter(|(_, s)| s.seen != gen)
            .map(|(k, _)| *k)
            .collect();
        for k in gone {
            if let Some(s) = self.series.remove(&k) {
                out.push(stale_metric(&s, ts));
            }
        }
    }

    /// Appends staleness markers for every tracked series and forgets them.
    pub fn mark_stale_all(&mut self, scrape_ts_ms: i64, out: &mut Vec<(ResourceKey, Metric)>) {
        let ts = ms_to_ns(scrape_ts_ms);
        for (_, s) in self.series.drain() {
            out.push(stale_metric(&s, ts));
        }
    }

    fn touch(&mut self, key: u64, ctx: &Ctx, t: impl FnOnce() -> Template) {
        let s = self.series.entry(key).or_insert_with(|| Series {
            start_ns: 0,
            prev: Prev::None,
            seen: 0,
            template: t(),
        });
        s.seen = ctx.generation;
    }

    fn start(
        &mut self,
        key: u64,
        ctx: &Ctx,
        created_ns: u64,
        point_ns: u64,
        value: Prev,
        t: impl FnOnce() -> Template,
    ) -> u64 {
        let _ = ctx.ts_ns;
        let mut new = false;
        let s = self.series.entry(key).or_insert_with(|| {
            new = true;
            Series {
                start_ns: 0,
                prev: Prev::None,
                seen: 0,
                template: t(),
            }
        });
        s.seen = ctx.generation;
        let reset = match (s.prev, value) {
            (Prev::Number(a), Prev::Number(b)) => b < a,
            (Prev::Dist(c0, s0), Prev::Dist(c1, s1)) => c1 < c0 || s1 < s0,
            _ => false,
        };
        s.prev = value;
        let start = if created_ns != 0 {
            created_ns
        } else {
            match (ctx.policy, ctx.process_start_ns) {
                (StartTimePolicy::CreatedOnly, _) => 0,
                (StartTimePolicy::StartTimeMetric, Some(ps)) => ps,
                _ if new || reset || s.start_ns == 0 => point_ns,
                _ => s.start_ns,
            }
        };
        s.start_ns = start;
        start
    }
}

fn stale_metric(s: &Series, ts_ns: u64) -> (ResourceKey, Metric) {
    let t = &s.template;
    let data = match t.shape {
        Shape::Gauge | Shape::Sum(_) => {
            let p = NumberDataPoint {
                attributes: t.attrs.clone(),
                start_time_unix_nano: if t.shape == Shape::Gauge {
                    0
                } else {
                    s.start_ns
                },
                time_unix_nano: ts_ns,
                flags: NO_RECORDED_VALUE,
                ..Default::default()
            };
            match t.shape {
                Shape::Sum(mono) => metric::Data::Sum(Sum {
                    data_points: vec![p],
                    aggregation_temporality: 2,
                    is_monotonic: mono,
                }),
                _ => metric::Data::Gauge(Gauge {
                    data_points: vec![p],
                }),
            }
        }
        Shape::Histogram => metric::Data::Histogram(Histogram {
            data_points: vec![HistogramDataPoint {
                attributes: t.attrs.clone(),
                start_time_unix_nano: s.start_ns,
                time_unix_nano: ts_ns,
                bucket_counts: vec![0; t.bounds.len() + 1],
                explicit_bounds: t.bounds.clone(),
                flags: NO_RECORDED_VALUE,
                ..Default::default()
            }],
            aggregation_temporality: 2,
        }),
        Shape::Summary => metric::Data::Summary(Summary {
            data_points: vec![SummaryDataPoint {
                attributes: t.attrs.clone(),
                start_time_unix_nano: s.start_ns,
                time_unix_nano: ts_ns,
                quantile_values: t
                    .quantiles
                    .iter()
                    .map(|q| summary_data_point::ValueAtQuantile {
                        quantile: *q,
                        value: 0.0,
                    })
                    .collect(),
                flags: NO_RECORDED_VALUE,
                ..Default::default()
            }],
        }),
    };
    (
        t.rk.clone(),
        Metric {
            name: t.name.clone(),
            description: t.description.clone(),
            unit: t.unit.clone(),
            metadata: t.metadata.clone(),
            data: Some(data),
        },
    )
}
