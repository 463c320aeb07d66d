use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::metric::Data as MetricData;
use opentelemetry_proto::tonic::metrics::v1::{
    Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use serde_json::json;

use super::*;
use crate::signal::{Data, Encoded};

fn resource(name: &str) -> Option<Resource> {
    Some(Resource {
        attributes: vec![KeyValue {
            key: "service.name".into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(name.into())),
            }),
            ..Default::default()
        }],
        ..Default::default()
    })
}

/// A traces request: one resource per (service, scopes) entry, each scope with `n` spans named
/// `service/scope/i`.
fn traces(services: &[(&str, &[usize])]) -> Data {
    Data::Traces(ExportTraceServiceRequest {
        resource_spans: services
            .iter()
            .map(|(svc, scopes)| ResourceSpans {
                resource: resource(svc),
                scope_spans: scopes
                    .iter()
                    .enumerate()
                    .map(|(si, &n)| ScopeSpans {
                        scope: Some(InstrumentationScope {
                            name: format!("scope{si}"),
                            ..Default::default()
                        }),
                        spans: (0..n)
                            .map(|i| Span {
                                name: format!("{svc}/scope{si}/{i}"),
                                ..Default::default()
                            })
                            .collect(),
                        schema_url: String::new(),
                    })
                    .collect(),
                schema_url: "https://opentelemetry.io/schemas/1.21.0".into(),
            })
            .collect(),
    })
}

fn span_names(data: &Data) -> Vec<String> {
    let Data::Traces(r) = data else {
        panic!("not traces")
    };
    r.resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
        .map(|s| s.name.clone())
        .collect()
}

/// Every span keeps the resource and scope it came with.
fn assert_grouping_intact(data: &Data) {
    let Data::Traces(r) = data else {
        panic!("not traces")
    };
    for rs in &r.resource_spans {
        let svc = match &rs.resource.as_ref().unwrap().attributes[0].value {
            Some(AnyValue {
                value: Some(any_value::Value::StringValue(s)),
            }) => s.clone(),
            _ => panic!("no service name"),
        };
        assert_eq!(rs.schema_url, "https://opentelemetry.io/schemas/1.21.0");
        for ss in &rs.scope_spans {
            let scope = &ss.scope.as_ref().unwrap().name;
            for s in &ss.spans {
                assert!(
                    s.name.starts_with(&format!("{svc}/{scope}/")),
                    "span {} under {svc}/{scope}",
                    s.name
                );
            }
        }
    }
}

fn processor(cfg: serde_json::Value) -> Box<dyn Processor> {
    create(&ComponentId::new("batch", None), Signal::Traces, &cfg).expect("valid config")
}

fn counts(out: &[Batch]) -> Vec<usize> {
    out.iter().map(|b| b.item_count()).collect()
}

#[test]
fn defaults_match_the_collector() {
    let cfg: BatchConfig = decode(&serde_json::Value::Null).unwrap();
    assert_eq!(cfg.send_batch_size, 8192);
    assert_eq!(cfg.timeout, Duration::from_millis(200));
    assert_eq!(cfg.send_batch_max_size, 0);
    assert_eq!(cfg.metadata_cardinality_limit, 1000);
    assert!(cfg.metadata_keys.is_empty());
}

#[test]
fn bad_configs_are_rejected_with_paths() {
    let cases = [
        (
            json!({"send_batch_size": 100, "send_batch_max_size": 50}),
            "send_batch_max_size",
            "must be greater or equal to send_batch_size",
        ),
        (
            json!({"metadata_keys": ["tenant", "Tenant"]}),
            "metadata_keys::1",
            "duplicate entry in metadata_keys: \"tenant\" (case-insensitive)",
        ),
        (json!({"timeout": "-5s"}), "timeout", ""),
        (
            json!({"send_batch_sise": 5}),
            "send_batch_sise",
            "unknown field",
        ),
        (
            json!({"metadata_keys": ["a"], "metadata_cardinality_limit": 0}),
            "metadata_cardinality_limit",
            "greater than 0",
        ),
    ];
    for (cfg, path, msg) in cases {
        let err = create(&ComponentId::new("batch", None), Signal::Traces, &cfg)
            .err()
            .unwrap_or_else(|| panic!("{cfg} should be rejected"));
        assert_eq!(err.path.join("::"), path, "{cfg}: {err}");
        assert!(err.message.contains(msg), "{cfg}: {err}");
    }
    let err = create(
        &ComponentId::new("batch", None),
        Signal::Traces,
        &json!({"send_batch_sise": 5}),
    )
    .err()
    .unwrap();
    assert_eq!(
        err.hint.as_deref(),
        Some("did you mean \"send_batch_size\"?")
    );
}

/// Each case feeds requests of the given span counts and expects the batches that come out
/// before any timeout, then the batches flushed at shutdown.
#[test]
fn size_trigger_and_max_size_splitting() {
    struct Case {
        name: &'static str,
        cfg: serde_json::Value,
        input: &'static [usize],
        on_size: &'static [usize],
        at_shutdown: &'static [usize],
    }
    let cases = [
        Case {
            name: "below size: held until shutdown",
            cfg: json!({"send_batch_size": 10}),
            input: &[3, 3],
            on_size: &[],
            at_shutdown: &[6],
        },
        Case {
            name: "reaching size sends everything held, uncapped",
            cfg: json!({"send_batch_size": 10}),
            input: &[6, 7],
            on_size: &[13],
            at_shutdown: &[],
        },
        Case {
            name: "max size splits and keeps the remainder",
            cfg: json!({"send_batch_size": 10, "send_batch_max_size": 10}),
            input: &[6, 7, 12],
            on_size: &[10, 10],
            at_shutdown: &[5],
        },
        Case {
            name: "one huge request is cut into max-size pieces",
            cfg: json!({"send_batch_size": 4, "send_batch_max_size": 5}),
            input: &[23],
            on_size: &[5, 5, 5, 5],
            at_shutdown: &[3],
        },
        Case {
            name: "timeout 0 sends at once, split by max size",
            cfg: json!({"timeout": "0s", "send_batch_size": 100, "send_batch_max_size": 100}),
            input: &[3, 250],
            on_size: &[3, 100, 100, 50],
            at_shutdown: &[],
        },
        Case {
            name: "send_batch_size 0 sends at once",
            cfg: json!({"send_batch_size": 0}),
            input: &[3, 4],
            on_size: &[3, 4],
            at_shutdown: &[],
        },
    ];
    for case in cases {
        let mut p = processor(case.cfg);
        let mut out = Vec::new();
        for (i, &n) in case.input.iter().enumerate() {
            let svc = format!("svc{i}");
            p.process(Batch::new(traces(&[(&svc, &[n])])), &mut out);
        }
        assert_eq!(counts(&out), case.on_size, "{}", case.name);
        for b in &out {
            assert_grouping_intact(&b.to_data());
        }
        let mut rest = Vec::new();
        p.shutdown(&mut rest);
        assert_eq!(counts(&rest), case.at_shutdown, "{}: shutdown", case.name);
        assert!(p.next_deadline().is_none(), "{}: nothing held", case.name);
        let total: usize = case.input.iter().sum();
        let sent: usize = counts(&out).iter().chain(counts(&rest).iter()).sum();
        assert_eq!(sent, total, "{}: items conserved", case.name);
    }
}

#[test]
fn timeout_flushes_what_is_held() {
    let mut p = processor(json!({"send_batch_size": 100, "timeout": "50ms"}));
    let mut out = Vec::new();
    let before = Instant::now();
    p.process(Batch::new(traces(&[("a", &[2])])), &mut out);
    p.process(Batch::new(traces(&[("b", &[3])])), &mut out);
    assert!(out.is_empty());
    let deadline = p.next_deadline().expect("holds data");
    assert!(deadline >= before + Duration::from_millis(50));
    assert!(deadline <= Instant::now() + Duration::from_millis(50));
    p.on_deadline(deadline - Duration::from_millis(1), &mut out);
    assert!(out.is_empty(), "not due yet");
    p.on_deadline(deadline, &mut out);
    assert_eq!(counts(&out), [5]);
    assert_eq!(
        span_names(&out[0].to_data()),
        [
            "a/scope0/0",
            "a/scope0/1",
            "b/scope0/0",
            "b/scope0/1",
            "b/scope0/2"
        ]
    );
    assert!(p.next_deadline().is_none());
}

#[test]
fn splitting_keeps_resource_and_scope_grouping() {
    let mut data = traces(&[("a", &[2, 3]), ("b", &[4]), ("c", &[0, 1])]);
    let first = take_items(&mut data, 4);
    assert_eq!(
        span_names(&first),
        ["a/scope0/0", "a/scope0/1", "a/scope1/0", "a/scope1/1"]
    );
    let second = take_items(&mut data, 3);
    assert_eq!(
        span_names(&second),
        ["a/scope1/2", "b/scope0/0", "b/scope0/1"]
    );
    assert_eq!(
        span_names(&data),
        ["b/scope0/2", "b/scope0/3", "c/scope1/0"]
    );
    for d in [&first, &second, &data] {
        assert_grouping_intact(d);
    }
}

#[test]
fn metrics_are_split_by_data_point_keeping_the_metric_type() {
    let points = |n: usize| -> Vec<NumberDataPoint> {
        (0..n)
            .map(|i| NumberDataPoint {
                time_unix_nano: i as u64,
                ..Default::default()
            })
            .collect()
    };
    let mut data = Data::Metrics(ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource("m"),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![
                    Metric {
                        name: "requests".into(),
                        unit: "1".into(),
                        data: Some(MetricData::Sum(Sum {
                            data_points: points(5),
                            aggregation_temporality: 2,
                            is_monotonic: true,
                        })),
                        ..Default::default()
                    },
                    Metric {
                        name: "other".into(),
                        data: Some(MetricData::Sum(Sum {
                            data_points: points(2),
                            aggregation_temporality: 1,
                            is_monotonic: false,
                        })),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    });
    let mut p = processor(json!({"send_batch_size": 3, "send_batch_max_size": 3}));
    let mut out = Vec::new();
    p.process(Batch::new(data.clone()), &mut out);
    p.shutdown(&mut out);
    assert_eq!(counts(&out), [3, 3, 1]);
    let Data::Metrics(second) = &out[1].to_data() else {
        panic!()
    };
    let ms = &second.resource_metrics[0].scope_metrics[0].metrics;
    assert_eq!(ms.len(), 2, "tail of requests + head of other");
    assert_eq!(ms[0].name, "requests");
    assert_eq!(ms[0].unit, "1");
    match &ms[0].data {
        Some(MetricData::Sum(s)) => {
            assert!(s.is_monotonic);
            assert_eq!(s.aggregation_temporality, 2);
            assert_eq!(s.data_points.len(), 2);
            assert_eq!(s.data_points[0].time_unix_nano, 3);
        }
        other => panic!("{other:?}"),
    }
    // take_items on the original agrees with what the processor did.
    let head = take_items(&mut data, 3);
    assert_eq!(head, out[0].to_data());
}

#[test]
fn logs_are_batched_and_split_too() {
    let logs = |n: usize| {
        Data::Logs(ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: resource("l"),
                scope_logs: vec![ScopeLogs {
                    log_records: (0..n).map(|_| LogRecord::default()).collect(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
        })
    };
    let mut p = processor(json!({"send_batch_size": 5, "send_batch_max_size": 6}));
    let mut out = Vec::new();
    p.process(Batch::new(logs(4)), &mut out);
    p.process(Batch::new(logs(9)), &mut out);
    assert_eq!(counts(&out), [6, 6]);
    p.shutdown(&mut out);
    assert_eq!(counts(&out), [6, 6, 1]);
}

#[test]
fn metadata_keys_keep_tenants_apart() {
    let mut p = processor(json!({
        "send_batch_size": 4,
        "metadata_keys": ["X-Tenant"],
        "metadata_cardinality_limit": 2,
    }));
    let tenant = |t: Option<&str>, svc: &str, n: usize| Batch {
        payload: traces(&[(svc, &[n])]).into(),
        metadata: Arc::new(Metadata::from_pairs(
            t.map(|t| ("x-tenant", t.to_string()))
                .into_iter()
                .chain([("authorization", "secret".to_string())]),
        )),
        acks: Default::default(),
    };
    let mut out = Vec::new();
    p.process(tenant(Some("a"), "a1", 2), &mut out);
    p.process(tenant(Some("b"), "b1", 3), &mut out);
    p.process(tenant(Some("a"), "a2", 2), &mut out);
    assert_eq!(counts(&out), [4], "tenant a reached the size");
    assert_eq!(out[0].metadata.get("x-tenant"), ["a"]);
    assert!(
        out[0].metadata.get("authorization").is_empty(),
        "only metadata_keys travel on"
    );
    assert!(span_names(&out[0].to_data())
        .iter()
        .all(|n| n.starts_with('a')));
    // Tenant a's batcher flushed and is gone, so requests without the header get the second
    // of the two batchers the limit allows …
    p.process(tenant(None, "none", 1), &mut out);
    // … and with b and "none" active, a third combination is dropped and counted.
    p.process(tenant(Some("c"), "c1", 1), &mut out);
    p.shutdown(&mut out);
    let mut rest: Vec<(Vec<String>, usize)> = out[1..]
        .iter()
        .map(|b| (b.metadata.get("x-tenant").to_vec(), b.item_count()))
        .collect();
    rest.sort();
    assert_eq!(rest, [(vec![], 1), (vec!["b".to_string()], 3)]);
}

fn encoded(data: &Data) -> Batch {
    Batch::encoded(Encoded::parse(data.signal(), crate::signal::encode(data)).expect("valid"))
}

#[test]
fn encoded_requests_are_joined_without_decoding() {
    let mut p = processor(json!({"send_batch_size": 5}));
    let mut out = Vec::new();
    let (a, b) = (traces(&[("a", &[2])]), traces(&[("b", &[3])]));
    p.process(encoded(&a), &mut out);
    p.process(encoded(&b), &mut out);
    assert_eq!(counts(&out), [5]);
    let Payload::Encoded(joined) = &out[0].payload else {
        panic!("the joined batch was decoded")
    };
    assert_eq!(joined.parts().len(), 2, "the received bytes, as they are");
    let mut expected = a;
    append(&mut expected, b);
    assert_eq!(out[0].to_data(), expected);
}

#[test]
fn encoded_and_decoded_requests_mix_and_split() {
    // A decoded request joining encoded ones, and a split by send_batch_max_size, decode.
    let mut p = processor(json!({"send_batch_size": 4, "send_batch_max_size": 4}));
    let mut out = Vec::new();
    p.process(encoded(&traces(&[("a", &[2])])), &mut out);
    p.process(Batch::new(traces(&[("b", &[3])])), &mut out);
    assert_eq!(counts(&out), [4]);
    assert!(matches!(out[0].payload, Payload::Decoded(_)));
    assert_eq!(
        span_names(&out[0].to_data()),
        ["a/scope0/0", "a/scope0/1", "b/scope0/0", "b/scope0/1"]
    );
    out.clear();
    p.shutdown(&mut out);
    assert_eq!(span_names(&out[0].to_data()), ["b/scope0/2"]);
    assert_grouping_intact(&out[0].to_data());
}
