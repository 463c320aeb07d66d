//! Moving items between OTLP requests without breaking resource and scope grouping: append a
//! request to another, and cut the first `n` items off a request (spans, metric data points or
//! log records, counted as the collector counts them).

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::logs::v1::{ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::metric::Data as MetricData;
use opentelemetry_proto::tonic::metrics::v1::{
    ExponentialHistogram, Gauge, Histogram, Metric, ResourceMetrics, ScopeMetrics, Sum, Summary,
};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};

use crate::signal::{metric_point_count, Data, Payload};

/// Appends `from` to `into` (both must be the same signal). Resources are appended as they
/// are, as the collector's batcher does; nothing is merged or reordered.
pub fn append(into: &mut Data, from: Data) {
    match (into, from) {
        (Data::Traces(a), Data::Traces(b)) => a.resource_spans.extend(b.resource_spans),
        (Data::Metrics(a), Data::Metrics(b)) => a.resource_metrics.extend(b.resource_metrics),
        (Data::Logs(a), Data::Logs(b)) => a.resource_logs.extend(b.resource_logs),
        (a, b) => panic!("batch: cannot append {} to {}", b.signal(), a.signal()),
    }
}

/// Appends payload `from` to `into` (same signal). Two encoded payloads are joined without
/// decoding; otherwise both are decoded and appended with [`append`]. A payload that fails to
/// decode (impossible for checked requests) is logged and its items are lost.
pub fn append_payload(into: &mut Payload, from: Payload) {
    match (into, from) {
        (Payload::Encoded(a), Payload::Encoded(b)) => a.append(b),
        (into, mut from) => {
            let (b, e1) = from.decode_in_place();
            let b = std::mem::replace(b, Data::empty(b.signal()));
            let (a, e2) = into.decode_in_place();
            if let Some(e) = e1.or(e2) {
                tracing::error!(error = %e, "batch: a checked OTLP request failed to decode; its data is dropped");
            }
            append(a, b);
        }
    }
}

/// Removes the first `n` items from `data` and returns them as a request of their own. Partly
/// taken resources, scopes and metrics are copied (attributes, schema URL, metric type and
/// temporality) so each half stays a complete, valid request.
pub fn take_items(data: &mut Data, n: usize) -> Data {
    match data {
        Data::Traces(r) => Data::Traces(ExportTraceServiceRequest {
            resource_spans: take_spans(&mut r.resource_spans, n),
        }),
        Data::Metrics(r) => Data::Metrics(ExportMetricsServiceRequest {
            resource_metrics: take_metrics(&mut r.resource_metrics, n),
        }),
        Data::Logs(r) => Data::Logs(ExportLogsServiceRequest {
            resource_logs: take_logs(&mut r.resource_logs, n),
        }),
    }
}

fn take_spans(rss: &mut Vec<ResourceSpans>, mut n: usize) -> Vec<ResourceSpans> {
    let mut out = Vec::new();
    let whole = count_whole(rss, &mut n, |rs| {
        rs.scope_spans.iter().map(|s| s.spans.len()).sum()
    });
    out.extend(rss.drain(..whole));
    if n > 0 {
        if let Some(rs) = rss.first_mut() {
            let mut part = ResourceSpans {
                resource: rs.resource.clone(),
                scope_spans: Vec::new(),
                schema_url: rs.schema_url.clone(),
            };
            let whole = count_whole(&rs.scope_spans, &mut n, |s| s.spans.len());
            part.scope_spans.extend(rs.scope_spans.drain(..whole));
            if n > 0 {
                if let Some(ss) = rs.scope_spans.first_mut() {
                    part.scope_spans.push(ScopeSpans {
                        scope: ss.scope.clone(),
                        spans: ss.spans.drain(..n).collect(),
                        schema_url: ss.schema_url.clone(),
                    });
                }
            }
            out.push(part);
        }
    }
    out
}

fn take_logs(rls: &mut Vec<ResourceLogs>, mut n: usize) -> Vec<ResourceLogs> {
    let mut out = Vec::new();
    let whole = count_whole(rls, &mut n, |rl| {
        rl.scope_logs.iter().map(|s| s.log_records.len()).sum()
    });
    out.extend(rls.drain(..whole));
    if n > 0 {
        if let Some(rl) = rls.first_mut() {
            let mut part = ResourceLogs {
                resource: rl.resource.clone(),
                scope_logs: Vec::new(),
                schema_url: rl.schema_url.clone(),
            };
            let whole = count_whole(&rl.scope_logs, &mut n, |s| s.log_records.len());
            part.scope_logs.extend(rl.scope_logs.drain(..whole));
            if n > 0 {
                if let Some(sl) = rl.scope_logs.first_mut() {
                    part.scope_logs.push(ScopeLogs {
                        scope: sl.scope.clone(),
                        log_records: sl.log_records.drain(..n).collect(),
                        schema_url: sl.schema_url.clone(),
                    });
                }
            }
            out.push(part);
        }
    }
    out
}

fn take_metrics(rms: &mut Vec<ResourceMetrics>, mut n: usize) -> Vec<ResourceMetrics> {
    let mut out = Vec::new();
    let whole = count_whole(rms, &mut n, |rm| {
        rm.scope_metrics
            .iter()
            .flat_map(|s| &s.metrics)
            .map(|m| metric_point_count(m.data.as_ref()))
            .sum()
    });
    out.extend(rms.drain(..whole));
    if n > 0 {
        if let Some(rm) = rms.first_mut() {
            let mut part = ResourceMetrics {
                resource: rm.resource.clone(),
                scope_metrics: Vec::new(),
                schema_url: rm.schema_url.clone(),
            };
            let whole = count_whole(&rm.scope_metrics, &mut n, |s| {
                s.metrics
                    .iter()
                    .map(|m| metric_point_count(m.data.as_ref()))
                    .sum()
            });
            part.scope_metrics.extend(rm.scope_metrics.drain(..whole));
            if n > 0 {
                if let Some(sm) = rm.scope_metrics.first_mut() {
                    let mut scope_part = ScopeMetrics {
                        scope: sm.scope.clone(),
                        metrics: Vec::new(),
                        schema_url: sm.schema_url.clone(),
                    };
                    let whole =
                        count_whole(&sm.metrics, &mut n, |m| metric_point_count(m.data.as_ref()));
                    scope_part.metrics.extend(sm.metrics.drain(..whole));
                    if n > 0 {
                        if let Some(m) = sm.metrics.first_mut() {
                            scope_part.metrics.push(take_points(m, n));
                        }
                    }
                    part.scope_metrics.push(scope_part);
                }
            }
            out.push(part);
        }
    }
    out
}

/// Counts how many leading elements fit whole into `n` items, subtracting their items from
/// `n`. Elements with no items at the front are taken along (they cost nothing).
fn count_whole<T>(items: &[T], n: &mut usize, count: impl Fn(&T) -> usize) -> usize {
    let mut whole = 0;
    for it in items {
        let c = count(it);
        if c > *n || (*n == 0 && c > 0) {
            break;
        }
        *n -= c;
        whole += 1;
        if *n == 0 {
            break;
        }
    }
    whole
}

/// Moves the first `n` data points of a metric into a copy of the metric.
fn take_points(m: &mut Metric, n: usize) -> Metric {
    let data = m.data.as_mut().map(|d| match d {
        MetricData::Gauge(g) => MetricData::Gauge(Gauge {
            data_points: g.data_points.drain(..n).collect(),
        }),
        MetricData::Sum(s) => MetricData::Sum(Sum {
            data_points: s.data_points.drain(..n).collect(),
            aggregation_temporality: s.aggregation_temporality,
            is_monotonic: s.is_monotonic,
        }),
        MetricData::Histogram(h) => MetricData::Histogram(Histogram {
            data_points: h.data_points.drain(..n).collect(),
            aggregation_temporality: h.aggregation_temporality,
        }),
        MetricData::ExponentialHistogram(h) => {
            MetricData::ExponentialHistogram(ExponentialHistogram {
                data_points: h.data_points.drain(..n).collect(),
                aggregation_temporality: h.aggregation_temporality,
            })
        }
        MetricData::Summary(s) => MetricData::Summary(Summary {
            data_points: s.data_points.drain(..n).collect(),
        }),
    });
    Metric {
        name: m.name.clone(),
        description: m.description.clone(),
        unit: m.unit.clone(),
        metadata: m.metadata.clone(),
        data,
    }
}
