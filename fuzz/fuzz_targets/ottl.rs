//! OTTL conditions: lexing, parsing and binding in every context (`Condition::parse`),
//! context inference for each signal (`ottl::parse_group`), evaluation of every condition
//! that binds against real OTLP items, and the filter processor's config binding
//! (`trace_conditions` / `metric_conditions` / `log_conditions` and the explicit-context
//! lists) through its factory.
//!
//! Input: UTF-8 text; the whole text is one condition, and its lines are also a group.
#![no_main]

use libfuzzer_sys::fuzz_target;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::Event;
use opentelemetry_proto::tonic::trace::v1::{span, ResourceSpans, ScopeSpans, Span, Status};
use serde_json::json;
use sluice::component::ComponentId;
use sluice::ottl::{parse_group, Condition, Context, DataPointRef, TransformContext};
use sluice::signal::{Batch, Data, Signal};

const ALL: [Context; 7] = [
    Context::Resource,
    Context::Scope,
    Context::Span,
    Context::SpanEvent,
    Context::Metric,
    Context::DataPoint,
    Context::Log,
];

fn s(v: &str) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(v.into())),
    }
}

fn kv(k: &str, v: AnyValue) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(v),
        ..Default::default()
    }
}

fn attrs() -> Vec<KeyValue> {
    vec![
        kv("service.name", s("checkout")),
        kv("http.method", s("GET")),
        kv(
            "http.status_code",
            AnyValue {
                value: Some(any_value::Value::IntValue(500)),
            },
        ),
        kv(
            "ratio",
            AnyValue {
                value: Some(any_value::Value::DoubleValue(f64::NAN)),
            },
        ),
        kv(
            "retry",
            AnyValue {
                value: Some(any_value::Value::BoolValue(true)),
            },
        ),
        kv(
            "raw",
            AnyValue {
                value: Some(any_value::Value::BytesValue(vec![0xde, 0xad])),
            },
        ),
        kv(
            "tags",
            AnyValue {
                value: Some(any_value::Value::ArrayValue(ArrayValue {
                    values: vec![s("a"), s("b")],
                })),
            },
        ),
        kv(
            "nested",
            AnyValue {
                value: Some(any_value::Value::KvlistValue(KeyValueList {
                    values: vec![kv("k", s("v")), kv("empty", AnyValue { value: None })],
                })),
            },
        ),
    ]
}

struct Items {
    resource: Resource,
    scope: InstrumentationScope,
    span: Span,
    metric: Metric,
    number: NumberDataPoint,
    histogram: HistogramDataPoint,
    log: LogRecord,
}

fn items() -> Items {
    let number = NumberDataPoint {
        attributes: attrs(),
        time_unix_nano: 2_000,
        value: Some(number_data_point::Value::AsDouble(1.5)),
        ..Default::default()
    };
    Items {
        resource: Resource {
            attributes: attrs(),
            ..Default::default()
        },
        scope: InstrumentationScope {
            name: "io.opentelemetry.http".into(),
            version: "1.2.0".into(),
            attributes: attrs(),
            ..Default::default()
        },
        span: Span {
            trace_id: (1..=16).collect(),
            span_id: vec![0xaa; 8],
            name: "GET /users".into(),
            kind: span::SpanKind::Server as i32,
            start_time_unix_nano: 1_000,
            end_time_unix_nano: 5_000,
            attributes: attrs(),
            events: vec![Event {
                name: "exception".into(),
                attributes: attrs(),
                ..Default::default()
            }],
            status: Some(Status {
                code: 2,
                message: "boom".into(),
            }),
            ..Default::default()
        },
        metric: Metric {
            name: "http.server.duration".into(),
            unit: "ms".into(),
            data: Some(metric::Data::Gauge(Gauge {
                data_points: vec![number.clone()],
            })),
            ..Default::default()
        },
        number,
        histogram: HistogramDataPoint {
            attributes: attrs(),
            count: 3,
            sum: Some(7.0),
            bucket_counts: vec![1, 2],
            explicit_bounds: vec![5.0],
            ..Default::default()
        },
        log: LogRecord {
            body: Some(AnyValue {
                value: Some(any_value::Value::KvlistValue(KeyValueList {
                    values: attrs(),
                })),
            }),
            severity_number: 17,
            severity_text: "ERROR".into(),
            attributes: attrs(),
            trace_id: vec![7; 16],
            ..Default::default()
        },
    }
}

/// Evaluates `c` against every item of its context (results are data-dependent; only that
/// evaluation returns rather than panics is checked).
fn eval_all(c: &Condition, it: &Items) {
    let base = TransformContext {
        resource: Some(&it.resource),
        scope: Some(&it.scope),
        ..Default::default()
    };
    let tcs: Vec<TransformContext<'_>> = match c.context() {
        Context::Resource => vec![TransformContext {
            scope: None,
            ..base
        }],
        Context::Scope => vec![base],
        Context::Span => vec![TransformContext {
            span: Some(&it.span),
            ..base
        }],
        Context::SpanEvent => vec![TransformContext {
            span: Some(&it.span),
            event: Some(&it.span.events[0]),
            ..base
        }],
        Context::Metric => vec![TransformContext {
            metric: Some(&it.metric),
            ..base
        }],
        Context::DataPoint => vec![
            TransformContext {
                metric: Some(&it.metric),
                datapoint: Some(DataPointRef::Number(&it.number)),
                ..base
            },
            TransformContext {
                metric: Some(&it.metric),
                datapoint: Some(DataPointRef::Histogram(&it.histogram)),
                ..base
            },
        ],
        Context::Log => vec![TransformContext {
            log: Some(&it.log),
            ..base
        }],
    };
    for tc in &tcs {
        let _ = c.eval(tc);
    }
}

fuzz_target!(|input: &[u8]| {
    let Ok(text) = std::str::from_utf8(input) else {
        return;
    };
    let it = items();
    for ctx in ALL {
        if let Ok(c) = Condition::parse(text, ctx) {
            assert_eq!(c.context(), ctx);
            assert_eq!(c.source(), text);
            eval_all(&c, &it);
        }
    }
    let group: Vec<String> = text.lines().map(str::to_string).collect();
    let signals: [(&[Context], &str, Signal); 3] = [
        (&ALL[..4], "trace_conditions", Signal::Traces),
        (
            &[ALL[0], ALL[1], ALL[4], ALL[5]],
            "metric_conditions",
            Signal::Metrics,
        ),
        (&[ALL[0], ALL[1], ALL[6]], "log_conditions", Signal::Logs),
    ];
    for (allowed, _, _) in &signals {
        if let Ok((ctx, conds)) = parse_group(&group, None, allowed) {
            assert!(allowed.contains(&ctx));
            assert_eq!(conds.len(), group.len());
            for c in &conds {
                eval_all(c, &it);
            }
        }
    }
    // The filter processor's own binding of the same conditions; a processor that builds
    // filters a request holding the items above.
    let id = ComponentId::parse("filter/fuzz").unwrap();
    let configs = [
        (Signal::Traces, json!({ "trace_conditions": group })),
        (Signal::Metrics, json!({ "metric_conditions": group })),
        (Signal::Logs, json!({ "log_conditions": group })),
        (
            Signal::Traces,
            json!({ "traces": { "span": [text], "spanevent": [text], "resource": [text] } }),
        ),
        (
            Signal::Metrics,
            json!({ "metrics": { "metric": [text], "datapoint": [text] } }),
        ),
        (Signal::Logs, json!({ "logs": { "log_record": [text] } })),
    ];
    for (signal, cfg) in configs {
        let Ok(mut p) = (sluice::processors::filter::FACTORY.create)(&id, signal, &cfg) else {
            continue;
        };
        let mut out = Vec::new();
        p.process(Batch::new(request(signal, &it)), &mut out);
        for b in &out {
            assert_eq!(b.signal(), signal);
        }
    }
});

/// A request of `signal` holding the items.
fn request(signal: Signal, it: &Items) -> Data {
    let resource = Some(it.resource.clone());
    let scope = Some(it.scope.clone());
    match signal {
        Signal::Traces => Data::Traces(ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource,
                scope_spans: vec![ScopeSpans {
                    scope,
                    spans: vec![it.span.clone(), Span::default()],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }),
        Signal::Metrics => {
            let mut hist = it.metric.clone();
            hist.data = Some(metric::Data::Histogram(Histogram {
                data_points: vec![it.histogram.clone()],
                aggregation_temporality: 2,
            }));
            Data::Metrics(ExportMetricsServiceRequest {
                resource_metrics: vec![ResourceMetrics {
                    resource,
                    scope_metrics: vec![ScopeMetrics {
                        scope,
                        metrics: vec![it.metric.clone(), hist, Metric::default()],
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
            })
        }
        Signal::Logs => Data::Logs(ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource,
                scope_logs: vec![ScopeLogs {
                    scope,
                    log_records: vec![it.log.clone(), LogRecord::default()],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }),
    }
}
