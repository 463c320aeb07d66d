//! Filter processor tests: upstream configs, each condition kind on real OTLP requests, the
//! removal rules, error modes, the legacy matchers and the filtered counters.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, ResourceSpans, ScopeSpans, Span};
use serde_json::{json, Value};

use super::*;

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    }
}

fn kv_int(k: &str, v: i64) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(v)),
        }),
        ..Default::default()
    }
}

fn resource(service: &str) -> Option<Resource> {
    Some(Resource {
        attributes: vec![kv("service.name", service)],
        ..Default::default()
    })
}

fn scope(name: &str) -> Option<InstrumentationScope> {
    Some(InstrumentationScope {
        name: name.into(),
        ..Default::default()
    })
}

/// A span with a name, attributes and named events.
fn span(name: &str, attrs: Vec<KeyValue>, events: &[&str]) -> Span {
    Span {
        name: name.into(),
        kind: 2,
        attributes: attrs,
        events: events
            .iter()
            .map(|e| span::Event {
                name: e.to_string(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

/// Per service: per scope name, the spans.
type TraceSpec<'a> = Vec<(&'a str, Vec<(&'a str, Vec<Span>)>)>;

/// Traces: per service, per scope, the spans.
fn traces(resources: TraceSpec<'_>) -> Data {
    Data::Traces(ExportTraceServiceRequest {
        resource_spans: resources
            .into_iter()
            .map(|(svc, scopes)| ResourceSpans {
                resource: resource(svc),
                scope_spans: scopes
                    .into_iter()
                    .map(|(sc, spans)| ScopeSpans {
                        scope: scope(sc),
                        spans,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
    })
}

fn gauge(name: &str, points: &[(&str, i64)]) -> Metric {
    Metric {
        name: name.into(),
        data: Some(metric::Data::Gauge(Gauge {
            data_points: points
                .iter()
                .map(|(host, v)| NumberDataPoint {
                    attributes: vec![kv("host", host)],
                    value: Some(number_data_point::Value::AsInt(*v)),
                    ..Default::default()
                })
                .collect(),
        })),
        ..Default::default()
    }
}

fn metrics(resources: Vec<(&str, Vec<Metric>)>) -> Data {
    Data::Metrics(ExportMetricsServiceRequest {
        resource_metrics: resources
            .into_iter()
            .map(|(svc, ms)| ResourceMetrics {
                resource: resource(svc),
                scope_metrics: vec![ScopeMetrics {
                    scope: scope("meter"),
                    metrics: ms,
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect(),
    })
}

fn log(body: &str, severity: i32, text: &str, attrs: Vec<KeyValue>) -> LogRecord {
    LogRecord {
        body: Some(AnyValue {
            value: Some(any_value::Value::StringValue(body.into())),
        }),
        severity_number: severity,
        severity_text: text.into(),
        attributes: attrs,
        ..Default::default()
    }
}

fn logs(resources: Vec<(&str, Vec<LogRecord>)>) -> Data {
    Data::Logs(ExportLogsServiceRequest {
        resource_logs: resources
            .into_iter()
            .map(|(svc, records)| ResourceLogs {
                resource: resource(svc),
                scope_logs: vec![ScopeLogs {
                    scope: scope("logger"),
                    log_records: records,
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect(),
    })
}

fn processor(signal: Signal, cfg: Value) -> Box<dyn Processor> {
    create(&ComponentId::new("filter", None), signal, &cfg).unwrap_or_else(|e| panic!("{e}"))
}

fn config_error(cfg: Value) -> ComponentConfigError {
    match create(&ComponentId::new("filter", None), Signal::Traces, &cfg) {
        Ok(_) => panic!("config accepted: {cfg}"),
        Err(e) => e,
    }
}

/// Runs one batch through; `None` when the processor emitted nothing.
fn run(p: &mut dyn Processor, data: Data) -> Option<Data> {
    let mut out = Vec::new();
    p.process(Batch::new(data), &mut out);
    assert!(out.len() <= 1);
    out.pop().map(|b| b.to_data())
}

fn span_names(d: &Data) -> Vec<Vec<Vec<String>>> {
    let Data::Traces(r) = d else {
        panic!("not traces")
    };
    r.resource_spans
        .iter()
        .map(|rs| {
            rs.scope_spans
                .iter()
                .map(|ss| ss.spans.iter().map(|s| s.name.clone()).collect())
                .collect()
        })
        .collect()
}

fn metric_points(d: &Data) -> Vec<(String, Vec<String>)> {
    let Data::Metrics(r) = d else {
        panic!("not metrics")
    };
    r.resource_metrics
        .iter()
        .flat_map(|rm| &rm.scope_metrics)
        .flat_map(|sm| &sm.metrics)
        .map(|m| {
            let hosts = match &m.data {
                Some(metric::Data::Gauge(g)) => g
                    .data_points
                    .iter()
                    .map(|p| match &p.attributes[0].value.as_ref().unwrap().value {
                        Some(any_value::Value::StringValue(s)) => s.clone(),
                        _ => String::new(),
                    })
                    .collect(),
                _ => vec![],
            };
            (m.name.clone(), hosts)
        })
        .collect()
}

fn log_bodies(d: &Data) -> Vec<String> {
    let Data::Logs(r) = d else { panic!("not logs") };
    r.resource_logs
        .iter()
        .flat_map(|rl| &rl.scope_logs)
        .flat_map(|sl| &sl.log_records)
        .map(|l| match l.body.as_ref().and_then(|b| b.value.as_ref()) {
            Some(any_value::Value::StringValue(s)) => s.clone(),
            _ => String::new(),
        })
        .collect()
}

fn sample_traces() -> Data {
    traces(vec![
        (
            "checkout",
            vec![
                (
                    "http",
                    vec![
                        span("GET /health", vec![], &[]),
                        span("GET /cart", vec![], &[]),
                    ],
                ),
                (
                    "db",
                    vec![span("SELECT", vec![kv("db.system", "postgres")], &[])],
                ),
            ],
        ),
        (
            "health-checker",
            vec![("http", vec![span("GET /health", vec![], &[])])],
        ),
    ])
}

#[test]
fn span_conditions_drop_spans_and_remove_emptied_scopes_and_resources() {
    let mut p = processor(
        Signal::Traces,
        json!({"traces": {"span": [
            r#"name == "GET /health""#,
            r#"attributes["db.system"] == "postgres""#,
        ]}}),
    );
    let out = run(p.as_mut(), sample_traces()).unwrap();
    // checkout keeps one scope with one span; the db scope and health-checker are gone.
    assert_eq!(span_names(&out), vec![vec![vec!["GET /cart".to_string()]]]);
}

#[test]
fn a_batch_filtered_to_nothing_is_not_emitted() {
    let mut p = processor(Signal::Traces, json!({"traces": {"span": ["true"]}}));
    assert!(run(p.as_mut(), sample_traces()).is_none());
    let mut p = processor(Signal::Logs, json!({"logs": {"log_record": ["true"]}}));
    assert!(run(
        p.as_mut(),
        logs(vec![("a", vec![log("x", 9, "INFO", vec![])])])
    )
    .is_none());
}

#[test]
fn resource_and_scope_conditions_drop_whole_groups() {
    let mut p = processor(
        Signal::Traces,
        json!({"traces": {"resource": [r#"attributes["service.name"] == "health-checker""#]}}),
    );
    let out = run(p.as_mut(), sample_traces()).unwrap();
    assert_eq!(span_names(&out).len(), 1);
    let mut p = processor(
        Signal::Traces,
        json!({"trace_conditions": [{"context": "scope", "conditions": [r#"name == "db""#]}]}),
    );
    let out = run(p.as_mut(), sample_traces()).unwrap();
    assert_eq!(
        span_names(&out),
        vec![
            vec![vec!["GET /health".to_string(), "GET /cart".to_string()]],
            vec![vec!["GET /health".to_string()]]
        ]
    );
}

#[test]
fn spanevent_conditions_drop_events_and_keep_the_span() {
    let mut p = processor(
        Signal::Traces,
        json!({"traces": {"spanevent": [r#"name == "cache.miss""#, r#"IsMatch(name, "^retry")"#]}}),
    );
    let data = traces(vec![(
        "svc",
        vec![(
            "s",
            vec![
                span("a", vec![], &["cache.miss", "retry.1", "exception"]),
                span("b", vec![], &["cache.miss"]),
            ],
        )],
    )]);
    let Some(Data::Traces(r)) = run(p.as_mut(), data) else {
        panic!()
    };
    let spans = &r.resource_spans[0].scope_spans[0].spans;
    assert_eq!(
        spans.len(),
        2,
        "spans stay even when all their events are dropped"
    );
    assert_eq!(
        spans[0]
            .events
            .iter()
            .map(|e| e.name.as_str())
            .collect::<Vec<_>>(),
        ["exception"]
    );
    assert!(spans[1].events.is_empty());
}

#[test]
fn metric_and_datapoint_conditions_with_removal_of_emptied_metrics() {
    let data = || {
        metrics(vec![
            (
                "a",
                vec![
                    gauge("cpu", &[("h1", 1), ("h2", 50)]),
                    gauge("mem", &[("h1", 5)]),
                ],
            ),
            ("b", vec![gauge("debug.internal", &[("h3", 1)])]),
        ])
    };
    let mut p = processor(
        Signal::Metrics,
        json!({"metrics": {"metric": [r#"IsMatch(name, "^debug\\.")"#]}}),
    );
    let out = run(p.as_mut(), data()).unwrap();
    assert_eq!(
        metric_points(&out),
        vec![
            ("cpu".to_string(), vec!["h1".to_string(), "h2".to_string()]),
            ("mem".to_string(), vec!["h1".to_string()])
        ]
    );
    let Data::Metrics(r) = &out else { panic!() };
    assert_eq!(
        r.resource_metrics.len(),
        1,
        "resource b lost its only metric"
    );

    let mut p = processor(
        Signal::Metrics,
        json!({"metrics": {"datapoint": [r#"attributes["host"] == "h1""#, "value_int < 2"]}}),
    );
    let out = run(p.as_mut(), data()).unwrap();
    // cpu keeps h2; mem lost its only point and is removed; b's point has value 1.
    assert_eq!(
        metric_points(&out),
        vec![("cpu".to_string(), vec!["h2".to_string()])]
    );

    let mut p = processor(
        Signal::Metrics,
        json!({"metrics": {"metric": [r#"HasAttrOnDatapoint("host", "h2")"#]}}),
    );
    let out = run(p.as_mut(), data()).unwrap();
    assert_eq!(
        metric_points(&out)
            .iter()
            .map(|m| m.0.as_str())
            .collect::<Vec<_>>(),
        ["mem", "debug.internal"]
    );
}

#[test]
fn log_record_conditions_drop_records() {
    let mut p = processor(
        Signal::Logs,
        json!({"logs": {"log_record": [
            "severity_number < SEVERITY_NUMBER_WARN",
            r#"IsMatch(body, "healthz")"#,
        ]}}),
    );
    let data = logs(vec![
        (
            "a",
            vec![
                log("debug noise", 5, "DEBUG", vec![]),
                log("disk full", 17, "ERROR", vec![]),
            ],
        ),
        ("b", vec![log("GET /healthz", 13, "WARN", vec![])]),
    ]);
    let out = run(p.as_mut(), data).unwrap();
    assert_eq!(log_bodies(&out), ["disk full"]);
    let Data::Logs(r) = &out else { panic!() };
    assert_eq!(r.resource_logs.len(), 1);
}

#[test]
fn inferred_conditions_flat_and_structured() {
    let mut p = processor(
        Signal::Traces,
        json!({"trace_conditions": [
            r#"resource.attributes["service.name"] == "checkout" and span.name == "SELECT""#,
        ]}),
    );
    let out = run(p.as_mut(), sample_traces()).unwrap();
    assert_eq!(
        span_names(&out)[0],
        vec![vec!["GET /health".to_string(), "GET /cart".to_string()]]
    );

    let mut p = processor(
        Signal::Metrics,
        json!({"metric_conditions": [
            {"context": "datapoint", "conditions": [r#"attributes["host"] == "h2""#]},
            {"conditions": [r#"metric.name == "mem""#]},
        ]}),
    );
    let out = run(
        p.as_mut(),
        metrics(vec![(
            "a",
            vec![
                gauge("cpu", &[("h1", 1), ("h2", 2)]),
                gauge("mem", &[("h1", 1)]),
            ],
        )]),
    )
    .unwrap();
    assert_eq!(
        metric_points(&out),
        vec![("cpu".to_string(), vec!["h1".to_string()])]
    );

    let mut p = processor(
        Signal::Logs,
        json!({"log_conditions": [r#"log.severity_text == "DEBUG""#]}),
    );
    let out = run(
        p.as_mut(),
        logs(vec![(
            "a",
            vec![log("x", 5, "DEBUG", vec![]), log("y", 9, "INFO", vec![])],
        )]),
    )
    .unwrap();
    assert_eq!(log_bodies(&out), ["y"]);
}

#[test]
fn error_mode_propagate_drops_the_batch_ignore_and_silent_treat_errors_as_false() {
    // `Len` of an int fails at run time; the second condition matches "GET /cart".
    let conds = json!([r#"Len(attributes["n"]) > 0"#, r#"name == "GET /cart""#]);
    let data = || {
        traces(vec![(
            "svc",
            vec![(
                "s",
                vec![
                    span("GET /cart", vec![kv_int("n", 1)], &[]),
                    span("GET /x", vec![], &[]),
                ],
            )],
        )])
    };
    let mut p = processor(Signal::Traces, json!({"traces": {"span": conds}}));
    assert!(
        run(p.as_mut(), data()).is_none(),
        "propagate (default) drops the whole batch"
    );
    for mode in ["ignore", "silent", "IGNORE"] {
        let mut p = processor(
            Signal::Traces,
            json!({"error_mode": mode, "traces": {"span": conds}}),
        );
        let out = run(p.as_mut(), data()).unwrap();
        assert_eq!(
            span_names(&out),
            vec![vec![vec!["GET /x".to_string()]]],
            "{mode}"
        );
    }
    // A group's error_mode overrides the processor's.
    let mut p = processor(
        Signal::Traces,
        json!({"error_mode": "propagate", "trace_conditions": [{"context": "span", "error_mode": "ignore", "conditions": conds}]}),
    );
    assert!(run(p.as_mut(), data()).is_some());
    let e = config_error(json!({"error_mode": "loud"}));
    assert!(e.message.contains("unknown error_mode \"loud\""), "{e}");
}

#[test]
fn legacy_span_include_exclude_strict_and_regexp() {
    let data = || {
        traces(vec![
            (
                "test",
                vec![(
                    "s",
                    vec![
                        span("keep", vec![kv("should_include", "true")], &[]),
                        span("maybe", vec![kv("should_include", "probably_true")], &[]),
                        span(
                            "excluded",
                            vec![kv("should_include", "true"), kv("should_exclude", "false")],
                            &[],
                        ),
                        span("no_attr", vec![], &[]),
                    ],
                )],
            ),
            (
                "other",
                vec![(
                    "s",
                    vec![span("keep", vec![kv("should_include", "true")], &[])],
                )],
            ),
        ])
    };
    // Adapted from upstream testdata/config_traces.yaml (with match_type, which upstream requires).
    let mut p = processor(
        Signal::Traces,
        json!({"spans": {
            "include": {"match_type": "regexp", "services": "test", "attributes": [{"key": "should_include", "value": "(true|probably_true)"}]},
            "exclude": {"match_type": "regexp", "attributes": [{"key": "should_exclude", "value": "(probably_false|false)"}]},
        }}),
    );
    let out = run(p.as_mut(), data()).unwrap();
    assert_eq!(
        span_names(&out),
        vec![vec![vec!["keep".to_string(), "maybe".to_string()]]]
    );

    let mut p = processor(
        Signal::Traces,
        json!({"spans": {"exclude": {"match_type": "strict", "span_names": ["keep", "no_attr"], "span_kinds": ["SPAN_KIND_SERVER"]}}}),
    );
    let out = run(p.as_mut(), data()).unwrap();
    assert_eq!(
        span_names(&out),
        vec![vec![vec!["maybe".to_string(), "excluded".to_string()]]]
    );

    // Libraries: the scope name matches (regexp), and the version when one is given.
    let mut p = processor(
        Signal::Traces,
        json!({"spans": {"include": {"match_type": "regexp", "libraries": [{"name": "^d"}]}}}),
    );
    let out = run(p.as_mut(), sample_traces()).unwrap();
    assert_eq!(span_names(&out), vec![vec![vec!["SELECT".to_string()]]]);
    let mut p = processor(
        Signal::Traces,
        json!({"spans": {"include": {"match_type": "strict", "libraries": [{"name": "db", "version": "2"}]}}}),
    );
    assert!(run(p.as_mut(), sample_traces()).is_none());

    // Strict attribute values keep their type: 1 (int) does not match "1".
    let mut p = processor(
        Signal::Traces,
        json!({"spans": {"exclude": {"match_type": "strict", "attributes": [{"key": "n", "value": 1}]}}}),
    );
    let d = traces(vec![(
        "s",
        vec![(
            "s",
            vec![
                span("int", vec![kv_int("n", 1)], &[]),
                span("str", vec![kv("n", "1")], &[]),
            ],
        )],
    )]);
    assert_eq!(
        span_names(&run(p.as_mut(), d).unwrap()),
        vec![vec![vec!["str".to_string()]]]
    );
}

#[test]
fn legacy_metric_include_exclude() {
    let data = || {
        metrics(vec![
            (
                "a",
                vec![
                    gauge("hello_world", &[("h", 1)]),
                    gauge("hello/world", &[("h", 1)]),
                    gauge("other", &[("h", 1)]),
                ],
            ),
            ("b", vec![gauge("hello_world", &[("h", 1)])]),
        ])
    };
    let names = |d: &Data| {
        metric_points(d)
            .into_iter()
            .map(|m| m.0)
            .collect::<Vec<_>>()
    };
    // Upstream testdata/config_strict.yaml `filter/includeexclude`.
    let mut p = processor(
        Signal::Metrics,
        json!({"metrics": {
            "include": {"match_type": "strict", "metric_names": ["hello_world", "hello/world"]},
            "exclude": {"match_type": "strict", "metric_names": ["hello_world"]},
        }}),
    );
    assert_eq!(names(&run(p.as_mut(), data()).unwrap()), ["hello/world"]);
    let mut p = processor(
        Signal::Metrics,
        json!({"metrics": {"exclude": {"match_type": "regexp", "metric_names": ["^hello"]}}}),
    );
    assert_eq!(names(&run(p.as_mut(), data()).unwrap()), ["other"]);
    let mut p = processor(
        Signal::Metrics,
        json!({"metrics": {"include": {"match_type": "strict", "resource_attributes": [{"key": "service.name", "value": "b"}]}}}),
    );
    assert_eq!(names(&run(p.as_mut(), data()).unwrap()), ["hello_world"]);
    // `filter/empty`: include without names filters nothing.
    let mut p = processor(
        Signal::Metrics,
        json!({"metrics": {"include": {"match_type": "strict"}}}),
    );
    assert_eq!(names(&run(p.as_mut(), data()).unwrap()).len(), 4);
}

#[test]
fn legacy_log_include_exclude() {
    let data = || {
        logs(vec![(
            "a",
            vec![
                log(
                    "This is an important event",
                    9,
                    "INFO",
                    vec![kv("user", "alice")],
                ),
                log("This event is not important", 5, "DEBUG", vec![]),
                log("undefined severity", 0, "", vec![]),
                log("boom", 18, "ERROR2", vec![kv("user", "bob")]),
            ],
        )])
    };
    let cases = [
        // Upstream testdata/config_logs_body_strict.yaml.
        (
            json!({"include": {"match_type": "strict", "bodies": ["This is an important event"]}}),
            vec!["This is an important event"],
        ),
        (
            json!({"exclude": {"match_type": "strict", "bodies": ["This event is not important"]}}),
            vec!["This is an important event", "undefined severity", "boom"],
        ),
        // Upstream testdata/config_logs_min_severity.yaml `filter/includeexclude`.
        (
            json!({"include": {"severity_number": {"min": "INFO", "match_undefined": true}}, "exclude": {"severity_number": {"min": "ERROR"}}}),
            vec!["This is an important event", "undefined severity"],
        ),
        (
            json!({"exclude": {"match_type": "regexp", "severity_texts": ["^ERROR"]}}),
            vec![
                "This is an important event",
                "This event is not important",
                "undefined severity",
            ],
        ),
        (
            json!({"include": {"match_type": "regexp", "record_attributes": [{"key": "user", "value": "^a"}]}}),
            vec!["This is an important event"],
        ),
        (
            json!({"exclude": {"match_type": "strict", "record_attributes": [{"key": "user"}]}}),
            vec!["This event is not important", "undefined severity"],
        ),
        (
            json!({"include": {"match_type": "strict", "resource_attributes": [{"key": "service.name", "value": "a"}]}}),
            vec![
                "This is an important event",
                "This event is not important",
                "undefined severity",
                "boom",
            ],
        ),
    ];
    for (logs_cfg, want) in cases {
        let mut p = processor(Signal::Logs, json!({"logs": logs_cfg}));
        let out = run(p.as_mut(), data()).unwrap();
        assert_eq!(log_bodies(&out), want, "{logs_cfg}");
    }
}

#[test]
fn config_errors_name_the_key_condition_and_position() {
    let cases = [
        (
            json!({"traces": {"span": [r#"attributes[test] == "pass""#]}}),
            "traces::span::0",
            "column 12",
        ),
        (
            json!({"metrics": {"datapoint": ["ok == 1"]}}),
            "metrics::datapoint::0",
            "unknown path `ok`",
        ),
        (
            json!({"logs": {"log_record": [r#"name == "x""#]}}),
            "logs::log_record::0",
            "unknown path `name` in the log context",
        ),
        (
            json!({"trace_conditions": [r#"name == "x""#]}),
            "trace_conditions::0",
            "unable to infer",
        ),
        (
            json!({"trace_conditions": ["span.name == \"x\"", {"conditions": ["span.name == \"y\""]}]}),
            "trace_conditions",
            "multiple configuration styles",
        ),
        (
            json!({"trace_conditions": [{"context": "spam", "conditions": ["name == \"y\""]}]}),
            "trace_conditions::0::context",
            "unknown context",
        ),
        (
            json!({"trace_conditions": [{"context": "span", "conditions": ["name == \"y\"", "nme == 1"]}]}),
            "trace_conditions::0::conditions::1",
            "unknown path",
        ),
        (
            json!({"trace_conditions": [{"contxt": "span"}]}),
            "trace_conditions::0::contxt",
            "unknown field",
        ),
        (
            json!({"traces": {"spam": []}}),
            "traces::spam",
            "unknown field",
        ),
        (
            json!({"trace_conditions": ["span.name == \"x\""], "traces": {"span": ["name == \"x\""]}}),
            "",
            "cannot use context inferred trace conditions",
        ),
        (
            json!({"metric_conditions": ["metric.name == \"x\""], "metrics": {"include": {"match_type": "strict", "metric_names": ["a"]}}}),
            "",
            "metric_conditions",
        ),
        (
            json!({"spans": {"include": {"match_type": "strict", "span_names": ["a"]}}, "traces": {"span": ["name == \"x\""]}}),
            "",
            "spans.include",
        ),
        (
            json!({"metrics": {"include": {"match_type": "expr", "expressions": ["Label(\"foo\") == \"bar\""]}}}),
            "metrics::include::match_type",
            "expr is not supported",
        ),
        (
            json!({"spans": {"include": {"match_type": "regex", "span_names": ["a"]}}}),
            "spans::include::match_type",
            "unrecognized match_type",
        ),
        (
            json!({"spans": {"include": {"span_names": ["a"]}}}),
            "spans::include::match_type",
            "unrecognized match_type",
        ),
        (
            json!({"spans": {"include": {"match_type": "strict"}}}),
            "spans::include",
            "at least one of",
        ),
        (
            json!({"spans": {"include": {"match_type": "strict", "span_kinds": ["server"]}}}),
            "spans::include::span_kinds",
            "not one of",
        ),
        (
            json!({"spans": {"exclude": {"match_type": "regexp", "span_names": ["("]}}}),
            "spans::exclude::span_names",
            "invalid regexp",
        ),
        (
            json!({"spans": {"exclude": {"match_type": "regexp", "attributes": [{"key": "a", "value": 1}]}}}),
            "spans::exclude::attributes::0",
            "only supports Str",
        ),
        (
            json!({"logs": {"exclude": {"severity_number": {"min": "LOUD"}}}}),
            "logs::exclude::severity_number::min",
            "not a valid severity",
        ),
    ];
    for (cfg, path, msg) in cases {
        let e = config_error(cfg.clone());
        assert_eq!(e.path.join("::"), path, "{cfg}: {e}");
        assert!(e.to_string().contains(msg), "{cfg}: {e}");
    }
}

/// Upstream `testdata/config_ottl.yaml` and friends, as YAML: valid ones build, invalid
/// ones fail with the message upstream's tests expect in spirit.
#[test]
fn upstream_testdata_configs() {
    let yaml = r#"
filter/ottl:
  error_mode: ignore
  traces:
    span:
      - 'attributes["test"] == "pass"'
    spanevent:
      - 'attributes["test"] == "pass"'
  metrics:
    metric:
      - 'name == "pass"'
    datapoint:
      - 'attributes["test"] == "pass"'
  logs:
    log_record:
      - 'attributes["test"] == "pass"'
filter/multiline:
  traces:
    span:
      - 'attributes["test"] == "pass"'
      - 'attributes["test"] == "also pass"'
filter/spans_mix_config:
  spans:
    include:
      match_type: strict
      services:
        - test
        - test2
      attributes:
        - key: should_include
          value: "(true|probably_true)"
  traces:
    span:
      - 'attributes["test"] == "pass"'
filter/metrics_mix_config:
  metrics:
    include:
      match_type: expr
      expressions:
        - Label("foo") == "bar"
        - HasLabel("baz")
    metric:
      - 'attributes["test"] == "pass"'
filter/logs_mix_config:
  logs:
    include:
      match_type: strict
      resource_attributes:
        - key: should_include
          value: "true"
    log_record:
      - 'attributes["test"] == "pass"'
filter/bad_syntax_span:
  traces:
    span:
      - 'attributes[test] == "pass"'
filter/bad_syntax_spanevent:
  traces:
    spanevent:
      - 'attributes[test] == "pass"'
filter/bad_syntax_metric:
  metrics:
    metric:
      - 'resource.attributes[test] == "pass"'
filter/bad_syntax_datapoint:
  metrics:
    datapoint:
      - 'attributes[test] == "pass"'
filter/bad_syntax_log:
  logs:
    log_record:
      - 'attributes[test] == "pass"'
filter/logs_min_severity:
  logs:
    include:
      severity_number:
        min: "INFO"
        match_undefined: true
    exclude:
      severity_number:
        min: "ERROR"
filter/regexp:
  metrics:
    include:
      match_type: regexp
      metric_names:
        - prefix/.*
        - prefix_.*
        - .*/suffix
        - .*_suffix
        - .*/contains/.*
        - .*_contains_.*
        - full/name/match
        - full_name_match
filter/inferred:
  trace_conditions:
    - 'resource.attributes["host.name"] == "localhost"'
    - 'span.name == "operationA"'
  metric_conditions:
    - context: datapoint
      conditions:
        - 'attributes["test"] == "pass"'
      error_mode: silent
  log_conditions:
    - 'log.severity_number < SEVERITY_NUMBER_WARN'
filter/span_events_strict:
  traces:
    spanevent:
      - 'name == "event1" and attributes["key"] == "value"'
"#;
    let doc = crate::config::yaml::parse("config_ottl.yaml", yaml)
        .unwrap()
        .to_json();
    let expect: &[(&str, Option<&str>)] = &[
        ("filter/ottl", None),
        ("filter/multiline", None),
        ("filter/spans_mix_config", Some("spans.include")),
        (
            "filter/metrics_mix_config",
            Some("cannot use \"metrics.resource\""),
        ),
        (
            "filter/logs_mix_config",
            Some("cannot use \"logs.resource\""),
        ),
        ("filter/bad_syntax_span", Some("column 12")),
        ("filter/bad_syntax_spanevent", Some("column 12")),
        ("filter/bad_syntax_metric", Some("column 21")),
        ("filter/bad_syntax_datapoint", Some("column 12")),
        ("filter/bad_syntax_log", Some("column 12")),
        ("filter/logs_min_severity", None),
        ("filter/regexp", None),
        ("filter/inferred", None),
        ("filter/span_events_strict", None),
    ];
    let Value::Object(map) = &doc else { panic!() };
    assert_eq!(map.len(), expect.len());
    for (id, want) in expect {
        let cfg = &doc[*id];
        for signal in Signal::ALL {
            let got = create(&ComponentId::parse(id).unwrap(), signal, cfg);
            match (want, got) {
                (None, Ok(_)) => {}
                (None, Err(e)) => panic!("{id}: {e}"),
                (Some(_), Ok(_)) => panic!("{id}: accepted"),
                (Some(msg), Err(e)) => assert!(e.to_string().contains(msg), "{id}: {e}"),
            }
        }
    }
}

/// A recorder that keeps counters, to check what the processor counts.
#[derive(Default)]
struct Counters(Mutex<HashMap<String, Arc<AtomicU64>>>);

impl metrics::Recorder for Counters {
    fn describe_counter(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_gauge(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_histogram(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn register_counter(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
        let labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        let name = format!("{}{{{}}}", key.name(), labels.join(","));
        let c = self.0.lock().unwrap().entry(name).or_default().clone();
        metrics::Counter::from_arc(c)
    }
    fn register_gauge(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        metrics::Gauge::noop()
    }
    fn register_histogram(
        &self,
        _: &metrics::Key,
        _: &metrics::Metadata<'_>,
    ) -> metrics::Histogram {
        metrics::Histogram::noop()
    }
}

impl Counters {
    fn get(&self, name: &str) -> u64 {
        self.0
            .lock()
            .unwrap()
            .get(name)
            .map(|c| c.load(Ordering::Relaxed))
            .unwrap_or(0)
    }
}

#[test]
fn dropped_items_are_counted_as_upstream_names_them() {
    let rec = Counters::default();
    metrics::with_local_recorder(&rec, || {
        let mut p = processor(
            Signal::Traces,
            json!({"traces": {"span": [r#"name == "GET /health""#]}}),
        );
        run(p.as_mut(), sample_traces());
        let mut p = processor(
            Signal::Metrics,
            json!({"metrics": {"metric": [r#"name == "cpu""#]}}),
        );
        run(
            p.as_mut(),
            metrics(vec![(
                "a",
                vec![
                    gauge("cpu", &[("h1", 1), ("h2", 2)]),
                    gauge("mem", &[("h", 1)]),
                ],
            )]),
        );
        let mut p = processor(
            Signal::Logs,
            json!({"logs": {"log_record": ["severity_number < 9"]}}),
        );
        run(
            p.as_mut(),
            logs(vec![(
                "a",
                vec![log("a", 5, "", vec![]), log("b", 13, "", vec![])],
            )]),
        );
    });
    assert_eq!(
        rec.get("otelcol_processor_filter_spans.filtered{filter=filter}"),
        2
    );
    assert_eq!(
        rec.get("otelcol_processor_filter_datapoints.filtered{filter=filter}"),
        2
    );
    assert_eq!(
        rec.get("otelcol_processor_filter_logs.filtered{filter=filter}"),
        1
    );
}

#[test]
fn no_conditions_pass_everything_through() {
    let mut p = processor(Signal::Traces, Value::Null);
    let data = sample_traces();
    assert_eq!(run(p.as_mut(), data.clone()), Some(data));
}

#[test]
fn senders_learn_of_propagated_errors_and_filtered_data_counts_as_delivered() {
    use crate::pipeline::ack::{Ack, Acks};
    let send = |cfg: Value| {
        let mut p = processor(Signal::Traces, cfg);
        let (ack, mut wait) = Ack::new();
        let mut batch = Batch::new(sample_traces());
        batch.acks = Acks::one(ack);
        let mut out = Vec::new();
        p.process(batch, &mut out);
        assert!(out.is_empty());
        wait.try_recv()
            .expect("acknowledged once the batch is gone")
    };
    assert_eq!(send(json!({"traces": {"span": ["true"]}})), Ok(()));
    let err = send(json!({"traces": {"span": ["Len(attributes[\"missing\"]) > 0"]}})).unwrap_err();
    assert!(
        err.contains("filter processor filter: condition")
            && err.contains("Len: unsupported type nil"),
        "{err}"
    );
}

/// More upstream testdata files, verbatim: `config_regexp.yaml`,
/// `config_logs_record_attributes_regexp.yaml`, `config_logs_severity_regexp.yaml` (its
/// processors), `config_traces_invalid.yaml`, `config_logs_invalid_severity.yaml`.
#[test]
fn upstream_legacy_testdata_configs() {
    let yaml = r#"
filter:
filter/include:
  # any names NOT matching filters are excluded from remainder of pipeline
  metrics:
    include:
      match_type: regexp
      metric_names:
        # re2 regexp patterns
        - prefix/.*
        - prefix_.*
        - .*/suffix
        - .*_suffix
        - .*/contains/.*
        - .*_contains_.*
        - full/name/match
        - full_name_match
filter/unlimitedcache:
  metrics:
    include:
      match_type: regexp
      regexp:
        cacheenabled: true
      metric_names:
        - prefix/.*
filter/limitedcache:
  metrics:
    exclude:
      match_type: regexp
      metric_names:
        - prefix/.*
      regexp:
        cacheenabled: true
        cachemaxnumentries: 10
filter/logs_empty:
  logs:
    include:
      match_type: regexp
filter/logs_include:
  logs:
    include:
      match_type: regexp
      record_attributes:
        - key: host.name
          value: "(host1|mycustomhost2)"
filter/logs_includeexclude:
  logs:
    include:
      match_type: regexp
      record_attributes:
        - key: should_include
          value: "(true|probably_true)"
    exclude:
      match_type: regexp
      record_attributes:
        - key: should_exclude
          value: "(probably_false|false)"
filter/severity_includeexclude:
  logs:
    include:
      match_type: regexp
      severity_texts:
        - "INFO[2-4]?"
    exclude:
      match_type: regexp
      severity_texts:
        - "DEBUG[2-4]?"
filter/spans_invalid:
  spans:
    include:
      match_type: regexp
      services:
        - test
      attributes:
        - key: should_include
          value: "(true|probably_true)"
    # should error since nothing is set to match on
    exclude:
      match_type: regexp
filter/invalid_include_severity:
  logs:
    include:
      severity_number:
        min: "INVALID_SEVERITY"
"#;
    let doc = crate::config::yaml::parse("testdata.yaml", yaml)
        .unwrap()
        .to_json();
    let expect: &[(&str, Option<&str>)] = &[
        ("filter", None),
        ("filter/include", None),
        ("filter/unlimitedcache", None),
        ("filter/limitedcache", None),
        ("filter/logs_empty", None),
        ("filter/logs_include", None),
        ("filter/logs_includeexclude", None),
        ("filter/severity_includeexclude", None),
        (
            "filter/spans_invalid",
            Some("spans::exclude: at least one of"),
        ),
        (
            "filter/invalid_include_severity",
            Some("\"INVALID_SEVERITY\" is not a valid severity"),
        ),
    ];
    let Value::Object(map) = &doc else { panic!() };
    assert_eq!(map.len(), expect.len());
    for (id, want) in expect {
        let got = create(&ComponentId::parse(id).unwrap(), Signal::Logs, &doc[*id]);
        match (want, got) {
            (None, Ok(_)) => {}
            (None, Err(e)) => panic!("{id}: {e}"),
            (Some(_), Ok(_)) => panic!("{id}: accepted"),
            (Some(msg), Err(e)) => assert!(e.to_string().contains(msg), "{id}: {e}"),
        }
    }
    // The regexp names behave as upstream's test expects: unanchored RE2 patterns.
    let mut p = processor(Signal::Metrics, doc["filter/include"].clone());
    let data = metrics(vec![(
        "a",
        vec![
            gauge("prefix/test", &[("h", 1)]),
            gauge("test_suffix", &[("h", 1)]),
            gauge("a/contains/b", &[("h", 1)]),
            gauge("full_name_match", &[("h", 1)]),
            gauge("not_matching", &[("h", 1)]),
        ],
    )]);
    let kept: Vec<String> = metric_points(&run(p.as_mut(), data).unwrap())
        .into_iter()
        .map(|m| m.0)
        .collect();
    assert_eq!(
        kept,
        [
            "prefix/test",
            "test_suffix",
            "a/contains/b",
            "full_name_match"
        ]
    );
}
