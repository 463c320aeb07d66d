//! OTLP traces → Jaeger `api_v2` batches, as the collector's `pkg/translator/jaeger` did it:
//! one batch per resource, whose process is named by `service.name` and tagged with the other
//! resource attributes; scope, span kind, status and trace state as span tags; events as logs;
//! the parent as the first CHILD_OF reference and links as FOLLOWS_FROM references; 128-bit
//! trace IDs as their high and low 64-bit halves.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, InstrumentationScope};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;

use crate::exporters::promtranslate::labels::attr_string;

use super::proto::{
    Batch, Duration, KeyValue, Log, Process, Span, SpanRef, SpanRefType, Timestamp, ValueType,
};

/// The process name of a resource without attributes, as upstream names it.
pub const NO_SERVICE_NAME: &str = "OTLPResourceNoServiceName";

/// A 16-byte OTLP trace ID as Jaeger's (high, low) pair; shorter IDs are left-padded.
pub fn trace_id_halves(id: &[u8]) -> (u64, u64) {
    let mut b = [0u8; 16];
    let n = id.len().min(16);
    b[16 - n..].copy_from_slice(&id[id.len() - n..]);
    (
        u64::from_be_bytes(b[..8].try_into().unwrap_or_default()),
        u64::from_be_bytes(b[8..].try_into().unwrap_or_default()),
    )
}

/// Jaeger's wire form of a trace ID: high then low, big-endian.
fn trace_id(id: &[u8]) -> Vec<u8> {
    let (high, low) = trace_id_halves(id);
    let mut out = Vec::with_capacity(16);
    out.extend_from_slice(&high.to_be_bytes());
    out.extend_from_slice(&low.to_be_bytes());
    out
}

/// Jaeger's wire form of a span ID: 8 bytes, big-endian.
fn span_id(id: &[u8]) -> Vec<u8> {
    let mut b = [0u8; 8];
    let n = id.len().min(8);
    b[8 - n..].copy_from_slice(&id[id.len() - n..]);
    b.to_vec()
}

fn timestamp(ns: u64) -> Timestamp {
    Timestamp {
        seconds: (ns / 1_000_000_000) as i64,
        nanos: (ns % 1_000_000_000) as i32,
    }
}

fn duration(start: u64, end: u64) -> Duration {
    let d = end as i128 - start as i128;
    Duration {
        seconds: (d / 1_000_000_000) as i64,
        nanos: (d % 1_000_000_000) as i32,
    }
}

fn string_tag(key: &str, v: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        v_type: ValueType::String as i32,
        v_str: v.into(),
        ..Default::default()
    }
}

/// An attribute as a tag: strings, bools, ints, doubles and bytes keep their type; lists and
/// maps become their JSON text.
fn tag(kv: &opentelemetry_proto::tonic::common::v1::KeyValue) -> KeyValue {
    let mut t = KeyValue {
        key: kv.key.clone(),
        ..Default::default()
    };
    match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => t.v_str = s.clone(),
        Some(any_value::Value::BoolValue(b)) => {
            t.v_type = ValueType::Bool as i32;
            t.v_bool = *b;
        }
        Some(any_value::Value::IntValue(i)) => {
            t.v_type = ValueType::Int64 as i32;
            t.v_int64 = *i;
        }
        Some(any_value::Value::DoubleValue(d)) => {
            t.v_type = ValueType::Float64 as i32;
            t.v_float64 = *d;
        }
        Some(any_value::Value::BytesValue(b)) => {
            t.v_type = ValueType::Binary as i32;
            t.v_binary = b.clone();
        }
        Some(_) => t.v_str = attr_string(&kv.value),
        None => {}
    }
    t
}

fn process(attrs: &[opentelemetry_proto::tonic::common::v1::KeyValue]) -> Process {
    if attrs.is_empty() {
        return Process {
            service_name: NO_SERVICE_NAME.into(),
            tags: Vec::new(),
        };
    }
    let service_name = attrs
        .iter()
        .find(|kv| kv.key == "service.name")
        .map(
            |kv| match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(any_value::Value::StringValue(s)) => s.clone(),
                _ => tag(kv).v_str,
            },
        )
        .unwrap_or_default();
    Process {
        service_name,
        tags: attrs
            .iter()
            .filter(|kv| kv.key != "service.name")
            .map(tag)
            .collect(),
    }
}

fn span_tags(
    span: &opentelemetry_proto::tonic::trace::v1::Span,
    scope: Option<&InstrumentationScope>,
) -> Vec<KeyValue> {
    let mut tags = Vec::with_capacity(span.attributes.len() + 6);
    if let Some(s) = scope {
        if !s.name.is_empty() {
            tags.push(string_tag("otel.scope.name", &s.name));
        }
        if !s.version.is_empty() {
            tags.push(string_tag("otel.scope.version", &s.version));
        }
    }
    tags.extend(span.attributes.iter().map(tag));
    let kind = match SpanKind::try_from(span.kind).unwrap_or(SpanKind::Unspecified) {
        SpanKind::Client => Some("client"),
        SpanKind::Server => Some("server"),
        SpanKind::Producer => Some("producer"),
        SpanKind::Consumer => Some("consumer"),
        SpanKind::Internal => Some("internal"),
        SpanKind::Unspecified => None,
    };
    if let Some(k) = kind {
        tags.push(string_tag("span.kind", k));
    }
    let status = span.status.clone().unwrap_or_default();
    match StatusCode::try_from(status.code).unwrap_or(StatusCode::Unset) {
        StatusCode::Error => {
            tags.push(string_tag("otel.status_code", "ERROR"));
            tags.push(KeyValue {
                key: "error".into(),
                v_type: ValueType::Bool as i32,
                v_bool: true,
                ..Default::default()
            });
        }
        StatusCode::Ok => tags.push(string_tag("otel.status_code", "OK")),
        StatusCode::Unset => {}
    }
    if !status.message.is_empty() {
        tags.push(string_tag("otel.status_description", &status.message));
    }
    if !span.trace_state.is_empty() {
        tags.push(string_tag("w3c.tracestate", &span.trace_state));
    }
    tags
}

fn references(span: &opentelemetry_proto::tonic::trace::v1::Span) -> Vec<SpanRef> {
    let mut refs = Vec::with_capacity(span.links.len() + 1);
    if !span.parent_span_id.is_empty() && span.parent_span_id.iter().any(|b| *b != 0) {
        refs.push(SpanRef {
            trace_id: trace_id(&span.trace_id),
            span_id: span_id(&span.parent_span_id),
            ref_type: SpanRefType::ChildOf as i32,
        });
    }
    for l in &span.links {
        refs.push(SpanRef {
            trace_id: trace_id(&l.trace_id),
            span_id: span_id(&l.span_id),
            ref_type: SpanRefType::FollowsFrom as i32,
        });
    }
    refs
}

fn logs(span: &opentelemetry_proto::tonic::trace::v1::Span) -> Vec<Log> {
    span.events
        .iter()
        .map(|e| {
            let mut fields = Vec::with_capacity(e.attributes.len() + 1);
            if !e.name.is_empty() && !e.attributes.iter().any(|kv| kv.key == "event") {
                fields.push(string_tag("event", &e.name));
            }
            fields.extend(e.attributes.iter().map(tag));
            Log {
                timestamp: Some(timestamp(e.time_unix_nano)),
                fields,
            }
        })
        .collect()
}

/// Translates one request into one batch per resource.
pub fn batches(req: &ExportTraceServiceRequest) -> Vec<Batch> {
    let mut out = Vec::with_capacity(req.resource_spans.len());
    for rs in &req.resource_spans {
        let attrs = rs
            .resource
            .as_ref()
            .map(|r| r.attributes.as_slice())
            .unwrap_or(&[]);
        if attrs.is_empty() && rs.scope_spans.is_empty() {
            continue;
        }
        let mut spans = Vec::new();
        for ss in &rs.scope_spans {
            for s in &ss.spans {
                spans.push(Span {
                    trace_id: trace_id(&s.trace_id),
                    span_id: span_id(&s.span_id),
                    operation_name: s.name.clone(),
                    references: references(s),
                    flags: 0,
                    start_time: Some(timestamp(s.start_time_unix_nano)),
                    duration: Some(duration(s.start_time_unix_nano, s.end_time_unix_nano)),
                    tags: span_tags(s, ss.scope.as_ref()),
                    logs: logs(s),
                    process: None,
                    process_id: String::new(),
                    warnings: Vec::new(),
                });
            }
        }
        out.push(Batch {
            spans,
            process: Some(process(attrs)),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};

    fn rs(
        attrs: Vec<opentelemetry_proto::tonic::common::v1::KeyValue>,
        spans: usize,
    ) -> ResourceSpans {
        ResourceSpans {
            resource: Some(Resource {
                attributes: attrs,
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: (0..spans)
                    .map(|i| opentelemetry_proto::tonic::trace::v1::Span {
                        trace_id: vec![1; 16],
                        span_id: vec![i as u8 + 1; 8],
                        parent_span_id: vec![0; 8],
                        start_time_unix_nano: 2_000_000_001,
                        end_time_unix_nano: 1_000_000_000,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn one_batch_per_resource_and_upstream_edge_cases() {
        let name = opentelemetry_proto::tonic::common::v1::KeyValue {
            key: "service.name".into(),
            value: Some(opentelemetry_proto::tonic::common::v1::AnyValue {
                value: Some(any_value::Value::StringValue("api".into())),
            }),
            ..Default::default()
        };
        let req = ExportTraceServiceRequest {
            resource_spans: vec![rs(vec![], 1), rs(vec![name], 2), ResourceSpans::default()],
        };
        let b = batches(&req);
        // A resource with neither attributes nor scopes is skipped.
        assert_eq!(b.len(), 2);
        let p0 = b[0].process.as_ref().unwrap();
        assert_eq!(p0.service_name, NO_SERVICE_NAME);
        assert!(p0.tags.is_empty());
        assert_eq!(b[1].process.as_ref().unwrap().service_name, "api");
        assert!(b[1].process.as_ref().unwrap().tags.is_empty());
        assert_eq!(b[1].spans.len(), 2);
        let s = &b[0].spans[0];
        // An all-zero parent is no parent; no kind, status or scope means no such tags.
        assert!(s.references.is_empty());
        assert!(s.tags.is_empty());
        // An end before the start gives a negative duration, as Go's time.Sub does.
        assert_eq!(
            s.duration,
            Some(Duration {
                seconds: -1,
                nanos: -1
            })
        );
    }

    #[test]
    fn trace_ids_split_into_high_and_low_halves() {
        let id: Vec<u8> = (1..=16).collect();
        assert_eq!(
            trace_id_halves(&id),
            (0x0102_0304_0506_0708, 0x090a_0b0c_0d0e_0f10)
        );
        assert_eq!(trace_id_halves(&[0xff; 8]), (0, u64::MAX));
        assert_eq!(span_id(&[7]), vec![0, 0, 0, 0, 0, 0, 0, 7]);
    }
}
