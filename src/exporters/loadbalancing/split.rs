//! Splitting a batch by routing key, keeping the resource/scope structure of what goes to each
//! backend, and merging pieces back together for re-routing.

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::logs::v1::{ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{ResourceMetrics, ScopeMetrics};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};

use super::ring::{hash, Ring};
use crate::signal::Data;

/// What decides where an item goes (`routing_key`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoutingKey {
    /// The trace ID (spans; logs that carry one): all spans of a trace reach one backend.
    TraceId,
    /// The resource's `service.name`.
    Service,
    /// All resource attributes.
    Resource,
    /// The metric name (metrics only).
    Metric,
}

impl RoutingKey {
    /// Parses the collector's spelling.
    pub fn parse(s: &str) -> Option<RoutingKey> {
        match s {
            "" | "traceID" => Some(RoutingKey::TraceId),
            "service" => Some(RoutingKey::Service),
            "resource" => Some(RoutingKey::Resource),
            "metric" => Some(RoutingKey::Metric),
            _ => None,
        }
    }
}

fn service_hash(r: &Option<Resource>) -> u64 {
    let name = r
        .as_ref()
        .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            Any::StringValue(s) => Some(s.as_str()),
            _ => None,
        })
        .unwrap_or("");
    hash(name.as_bytes())
}

fn resource_hash(r: &Option<Resource>) -> u64 {
    let mut parts: Vec<String> = r
        .iter()
        .flat_map(|r| &r.attributes)
        .map(|kv| format!("{}={:?}", kv.key, kv.value))
        .collect();
    parts.sort();
    hash(parts.join("\u{1}").as_bytes())
}

fn unit_hash(key: RoutingKey, r: &Option<Resource>) -> u64 {
    match key {
        RoutingKey::Service => service_hash(r),
        _ => resource_hash(r),
    }
}

/// Splits `data` over `ring`: one request per backend index.
pub fn split(data: &Data, key: RoutingKey, ring: &Ring) -> BTreeMap<usize, Data> {
    match data {
        Data::Traces(r) => split_traces(r, key, ring)
            .into_iter()
            .map(|(i, r)| (i, Data::Traces(r)))
            .collect(),
        Data::Logs(r) => split_logs(r, key, ring)
            .into_iter()
            .map(|(i, r)| (i, Data::Logs(r)))
            .collect(),
        Data::Metrics(r) => split_metrics(r, key, ring)
            .into_iter()
            .map(|(i, r)| (i, Data::Metrics(r)))
            .collect(),
    }
}

fn split_traces(
    r: &ExportTraceServiceRequest,
    key: RoutingKey,
    ring: &Ring,
) -> BTreeMap<usize, ExportTraceServiceRequest> {
    let mut out: BTreeMap<usize, ExportTraceServiceRequest> = BTreeMap::new();
    for rs in &r.resource_spans {
        if key != RoutingKey::TraceId {
            let b = ring.get(unit_hash(key, &rs.resource));
            out.entry(b).or_default().resource_spans.push(rs.clone());
            continue;
        }
        let mut per: BTreeMap<usize, ResourceSpans> = BTreeMap::new();
        for ss in &rs.scope_spans {
            let mut scopes: BTreeMap<usize, ScopeSpans> = BTreeMap::new();
            for sp in &ss.spans {
                let b = ring.get(hash(&sp.trace_id));
                scopes
                    .entry(b)
                    .or_insert_with(|| ScopeSpans {
                        scope: ss.scope.clone(),
                        spans: Vec::new(),
                        schema_url: ss.schema_url.clone(),
                    })
                    .spans
                    .push(sp.clone());
            }
            for (b, s) in scopes {
                per.entry(b)
                    .or_insert_with(|| ResourceSpans {
                        resource: rs.resource.clone(),
                        scope_spans: Vec::new(),
                        schema_url: rs.schema_url.clone(),
                    })
                    .scope_spans
                    .push(s);
            }
        }
        for (b, rs) in per {
            out.entry(b).or_default().resource_spans.push(rs);
        }
    }
    out
}

fn split_logs(
    r: &ExportLogsServiceRequest,
    key: RoutingKey,
    ring: &Ring,
) -> BTreeMap<usize, ExportLogsServiceRequest> {
    let mut out: BTreeMap<usize, ExportLogsServiceRequest> = BTreeMap::new();
    for rl in &r.resource_logs {
        if key != RoutingKey::TraceId {
            let b = ring.get(unit_hash(key, &rl.resource));
            out.entry(b).or_default().resource_logs.push(rl.clone());
            continue;
        }
        let fallback = resource_hash(&rl.resource);
        let mut per: BTreeMap<usize, ResourceLogs> = BTreeMap::new();
        for sl in &rl.scope_logs {
            let mut scopes: BTreeMap<usize, ScopeLogs> = BTreeMap::new();
            for lr in &sl.log_records {
                let h = if lr.trace_id.is_empty() {
                    fallback
                } else {
                    hash(&lr.trace_id)
                };
                scopes
                    .entry(ring.get(h))
                    .or_insert_with(|| ScopeLogs {
                        scope: sl.scope.clone(),
                        log_records: Vec::new(),
                        schema_url: sl.schema_url.clone(),
                    })
                    .log_records
                    .push(lr.clone());
            }
            for (b, s) in scopes {
                per.entry(b)
                    .or_insert_with(|| ResourceLogs {
                        resource: rl.resource.clone(),
                        scope_logs: Vec::new(),
                        schema_url: rl.schema_url.clone(),
                    })
                    .scope_logs
                    .push(s);
            }
        }
        for (b, rl) in per {
            out.entry(b).or_default().resource_logs.push(rl);
        }
    }
    out
}

fn split_metrics(
    r: &ExportMetricsServiceRequest,
    key: RoutingKey,
    ring: &Ring,
) -> BTreeMap<usize, ExportMetricsServiceRequest> {
    let mut out: BTreeMap<usize, ExportMetricsServiceRequest> = BTreeMap::new();
    for rm in &r.resource_metrics {
        if key != RoutingKey::Metric {
            // traceID has no meaning for metrics: they go by resource, as upstream refuses it.
            let b = ring.get(unit_hash(key, &rm.resource));
            out.entry(b).or_default().resource_metrics.push(rm.clone());
            continue;
        }
        let mut per: BTreeMap<usize, ResourceMetrics> = BTreeMap::new();
        for sm in &rm.scope_metrics {
            let mut scopes: BTreeMap<usize, ScopeMetrics> = BTreeMap::new();
            for m in &sm.metrics {
                scopes
                    .entry(ring.get(hash(m.name.as_bytes())))
                    .or_insert_with(|| ScopeMetrics {
                        scope: sm.scope.clone(),
                        metrics: Vec::new(),
                        schema_url: sm.schema_url.clone(),
                    })
                    .metrics
                    .push(m.clone());
            }
            for (b, s) in scopes {
                per.entry(b)
                    .or_insert_with(|| ResourceMetrics {
                        resource: rm.resource.clone(),
                        scope_metrics: Vec::new(),
                        schema_url: rm.schema_url.clone(),
                    })
                    .scope_metrics
                    .push(s);
            }
        }
        for (b, rm) in per {
            out.entry(b).or_default().resource_metrics.push(rm);
        }
    }
    out
}

/// Appends `more` to `into` (same signal): OTLP requests concatenate.
pub fn merge(into: &mut Data, more: Data) {
    match (into, more) {
        (Data::Traces(a), Data::Traces(b)) => a.resource_spans.extend(b.resource_spans),
        (Data::Logs(a), Data::Logs(b)) => a.resource_logs.extend(b.resource_logs),
        (Data::Metrics(a), Data::Metrics(b)) => a.resource_metrics.extend(b.resource_metrics),
        _ => debug_assert!(false, "merging different signals"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::trace::v1::Span;

    #[test]
    fn spans_of_one_trace_stay_together_and_nothing_is_lost() {
        let ring = Ring::new(&["a:1".into(), "b:1".into(), "c:1".into()]);
        let spans: Vec<Span> = (0..600u32)
            .map(|i| Span {
                trace_id: (i / 6).to_be_bytes().repeat(4),
                span_id: i.to_be_bytes().repeat(2),
                ..Default::default()
            })
            .collect();
        let data = Data::Traces(ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        });
        let parts = split(&data, RoutingKey::TraceId, &ring);
        assert_eq!(parts.len(), 3);
        let mut owner = std::collections::HashMap::new();
        let mut total = 0;
        for (b, d) in &parts {
            let Data::Traces(r) = d else { unreachable!() };
            for sp in r
                .resource_spans
                .iter()
                .flat_map(|r| &r.scope_spans)
                .flat_map(|s| &s.spans)
            {
                total += 1;
                assert_eq!(*owner.entry(sp.trace_id.clone()).or_insert(*b), *b);
            }
        }
        assert_eq!(total, 600);
        let mut merged = parts.values().next().unwrap().clone();
        for d in parts.values().skip(1) {
            merge(&mut merged, d.clone());
        }
        assert_eq!(merged.item_count(), 600);
    }
}
