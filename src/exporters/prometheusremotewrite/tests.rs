use std::sync::Arc;
use std::time::Instant;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::metric::Data as MetricData;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as NV;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use serde_json::json;

use super::proto::{Label, Sample, WriteRequest};
use super::translate::{translate, DeltaState, Output, Settings, STALE_NAN};
use super::*;
use crate::exporters::prometheus::DropReason;
use crate::exporters::promtranslate::naming::Strategy;

const MS: u64 = 1_000_000;
const T0: u64 = 1_700_000_000_000 * MS;

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    }
}

fn settings() -> Settings {
    Settings {
        namespace: String::new(),
        strategy: Strategy {
            suffixes: true,
            escape: true,
        },
        external_labels: vec![
            ("cluster".into(), "eu-1".into()),
            ("job".into(), "ignored".into()),
        ],
        resource_to_telemetry: false,
        target_info: true,
        created_metric: false,
        send_metadata: false,
    }
}

fn request(resource: Vec<KeyValue>, metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: resource,
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn point(v: f64, start: u64, t: u64, attrs: Vec<KeyValue>) -> NumberDataPoint {
    NumberDataPoint {
        attributes: attrs,
        start_time_unix_nano: start,
        time_unix_nano: t,
        value: Some(NV::AsDouble(v)),
        ..Default::default()
    }
}

fn sum(
    name: &str,
    unit: &str,
    temporality: AggregationTemporality,
    monotonic: bool,
    points: Vec<NumberDataPoint>,
) -> Metric {
    Metric {
        name: name.into(),
        unit: unit.into(),
        data: Some(MetricData::Sum(Sum {
            data_points: points,
            aggregation_temporality: temporality as i32,
            is_monotonic: monotonic,
        })),
        ..Default::default()
    }
}

fn labels(pairs: &[(&str, &str)]) -> Vec<Label> {
    pairs
        .iter()
        .map(|(n, v)| Label {
            name: n.to_string(),
            value: v.to_string(),
        })
        .collect()
}

/// (labels as `name{k=v,…}`, samples) for readable assertions.
fn flat(out: &Output) -> Vec<(String, Vec<(f64, i64)>)> {
    let mut v: Vec<_> = out
        .series
        .iter()
        .map(|ts| {
            let l: Vec<String> = ts
                .labels
                .iter()
                .map(|l| format!("{}={}", l.name, l.value))
                .collect();
            (
                l.join(","),
                ts.samples.iter().map(|s| (s.value, s.timestamp)).collect(),
            )
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[test]
fn counter_labels_job_instance_external_labels_and_target_info() {
    let req = request(
        vec![
            kv("service.name", "checkout"),
            kv("service.namespace", "shop"),
            kv("service.instance.id", "i-1"),
            kv("host.name", "web-7"),
        ],
        vec![sum(
            "http.requests",
            "1",
            AggregationTemporality::Cumulative,
            true,
            vec![
                point(
                    3.0,
                    T0,
                    T0 + 1000 * MS,
                    vec![
                        kv("http.method", "GET"),
                        kv("http_method", "get"),
                        kv("job", "mine"),
                    ],
                ),
                point(
                    5.0,
                    T0,
                    T0 + 2000 * MS,
                    vec![
                        kv("http.method", "GET"),
                        kv("http_method", "get"),
                        kv("job", "mine"),
                    ],
                ),
            ],
        )],
    );
    let out = translate(
        &req,
        &settings(),
        &mut DeltaState::default(),
        Instant::now(),
    );
    let t1 = (T0 / MS + 1000) as i64;
    let t2 = (T0 / MS + 2000) as i64;
    assert_eq!(
        flat(&out),
        vec![
            (
                "__name__=http_requests_total,cluster=eu-1,http_method=GET;get,instance=i-1,job=shop/checkout".to_string(),
                vec![(3.0, t1), (5.0, t2)]
            ),
            (
                "__name__=target_info,cluster=eu-1,host_name=web-7,instance=i-1,job=shop/checkout".to_string(),
                vec![(1.0, t2)]
            ),
        ]
    );
    // Labels are sorted by name, as remote write requires.
    for ts in &out.series {
        let names: Vec<_> = ts.labels.iter().map(|l| l.name.clone()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
    }
}

#[test]
fn histograms_become_buckets_sum_count_and_created() {
    let m = Metric {
        name: "rpc.duration".into(),
        unit: "s".into(),
        data: Some(MetricData::Histogram(Histogram {
            data_points: vec![HistogramDataPoint {
                start_time_unix_nano: T0,
                time_unix_nano: T0 + 5000 * MS,
                count: 6,
                sum: Some(12.5),
                bucket_counts: vec![1, 2, 3],
                explicit_bounds: vec![0.5, 2.0],
                ..Default::default()
            }],
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
        })),
        ..Default::default()
    };
    let mut s = settings();
    s.target_info = false;
    s.external_labels.clear();
    s.created_metric = true;
    s.send_metadata = true;
    let out = translate(
        &request(vec![], vec![m]),
        &s,
        &mut DeltaState::default(),
        Instant::now(),
    );
    let t = (T0 / MS + 5000) as i64;
    let created = (T0 / MS) as f64;
    assert_eq!(
        flat(&out),
        vec![
            (
                "__name__=rpc_duration_seconds_bucket,le=+Inf".to_string(),
                vec![(6.0, t)]
            ),
            (
                "__name__=rpc_duration_seconds_bucket,le=0.5".to_string(),
                vec![(1.0, t)]
            ),
            (
                "__name__=rpc_duration_seconds_bucket,le=2".to_string(),
                vec![(3.0, t)]
            ),
            (
                "__name__=rpc_duration_seconds_count".to_string(),
                vec![(6.0, t)]
            ),
            (
                "__name__=rpc_duration_seconds_created".to_string(),
                vec![(created, t)]
            ),
            (
                "__name__=rpc_duration_seconds_sum".to_string(),
                vec![(12.5, t)]
            ),
        ]
    );
    assert_eq!(out.metadata.len(), 1);
    assert_eq!(out.metadata[0].metric_family_name, "rpc_duration_seconds");
    assert_eq!(out.metadata[0].r#type, proto::TYPE_HISTOGRAM);
    assert_eq!(out.metadata[0].unit, "seconds");
}

#[test]
fn delta_sums_accumulate_once_even_when_an_export_is_retried() {
    let mut s = settings();
    s.target_info = false;
    s.external_labels.clear();
    let mut deltas = DeltaState::default();
    let now = Instant::now();
    let req = |v: f64, start: u64, end: u64| {
        request(
            vec![],
            vec![sum(
                "jobs",
                "",
                AggregationTemporality::Delta,
                true,
                vec![point(v, start, end, vec![])],
            )],
        )
    };
    let value = |out: &Output| out.series[0].samples[0].value;
    assert_eq!(
        value(&translate(
            &req(2.0, T0, T0 + MS * 1000),
            &s,
            &mut deltas,
            now
        )),
        2.0
    );
    assert_eq!(
        value(&translate(
            &req(3.0, T0 + MS * 1000, T0 + MS * 2000),
            &s,
            &mut deltas,
            now
        )),
        5.0
    );
    // The same export again (a retry): not added twice.
    assert_eq!(
        value(&translate(
            &req(3.0, T0 + MS * 1000, T0 + MS * 2000),
            &s,
            &mut deltas,
            now
        )),
        5.0
    );
    // An older point is not sent (the receiver would refuse it as out of order).
    assert!(
        translate(&req(1.0, T0, T0 + MS * 500), &s, &mut deltas, now)
            .series
            .is_empty()
    );
    // A gap starts over, as in the prometheus exporter.
    assert_eq!(
        value(&translate(
            &req(4.0, T0 + MS * 9000, T0 + MS * 9500),
            &s,
            &mut deltas,
            now
        )),
        4.0
    );
    assert_eq!(deltas.len(), 1);
    // Non-monotonic deltas cannot be made cumulative: dropped and counted.
    let out = translate(
        &request(
            vec![],
            vec![sum(
                "queue",
                "",
                AggregationTemporality::Delta,
                false,
                vec![point(1.0, T0, T0 + MS, vec![])],
            )],
        ),
        &s,
        &mut deltas,
        now,
    );
    assert!(out.series.is_empty());
    assert_eq!(
        out.dropped,
        vec![(DropReason::NonMonotonicDelta, 1, "queue".to_string())]
    );
}

#[test]
fn no_recorded_value_becomes_a_stale_marker() {
    let mut p = point(0.0, 0, T0, vec![]);
    p.flags = 1;
    let m = Metric {
        name: "temp".into(),
        data: Some(MetricData::Gauge(Gauge {
            data_points: vec![p],
        })),
        ..Default::default()
    };
    let out = translate(
        &request(vec![], vec![m]),
        &settings(),
        &mut DeltaState::default(),
        Instant::now(),
    );
    assert_eq!(out.series.len(), 1);
    assert_eq!(out.series[0].samples[0].value.to_bits(), STALE_NAN);
}

#[test]
fn requests_are_split_at_max_batch_size_bytes() {
    let series: Vec<TimeSeries> = (0..100)
        .map(|i| TimeSeries {
            labels: labels(&[("__name__", "m"), ("i", &i.to_string())]),
            samples: vec![Sample {
                value: i as f64,
                timestamp: 1,
            }],
            exemplars: vec![],
        })
        .collect();
    let one = series[0].encoded_len() + 2;
    let bodies = batch_requests(series.clone(), vec![], one * 10);
    assert!(bodies.len() >= 10, "{}", bodies.len());
    let mut back = Vec::new();
    for b in &bodies {
        assert!(b.len() <= one * 10);
        back.extend(WriteRequest::decode(&b[..]).unwrap().timeseries);
    }
    assert_eq!(back, series);
    assert_eq!(batch_requests(series, vec![], 3_000_000).len(), 1);
}

#[test]
fn config_defaults_and_errors_match_upstream() {
    let c: RemoteWriteConfig = decode(&json!({"endpoint": "http://p:9090/api/v1/write"})).unwrap();
    assert_eq!(c.max_batch_size_bytes, 3_000_000);
    assert_eq!(
        c.remote_write_queue,
        RemoteWriteQueue {
            enabled: true,
            queue_size: 10000,
            num_consumers: 5
        }
    );
    assert_eq!(
        c.retry_on_failure.initial_interval,
        std::time::Duration::from_millis(50)
    );
    assert_eq!(
        c.retry_on_failure.max_interval,
        std::time::Duration::from_millis(200)
    );
    assert_eq!(
        c.retry_on_failure.max_elapsed_time,
        std::time::Duration::from_secs(60)
    );
    assert!(c.target_info.enabled && !c.export_created_metric.enabled && !c.send_metadata);
    assert_eq!(c.queue_settings().concurrency, 1);
    assert_eq!(c.parallelism(), 5);
    let c: RemoteWriteConfig =
        decode(&json!({"endpoint": "http://p", "target_info": {}, "export_created_metric": {}}))
            .unwrap();
    assert!(c.target_info.enabled && !c.export_created_metric.enabled);
    let err = |v: serde_json::Value| {
        create(&ComponentId::parse("prometheusremotewrite").unwrap(), &v)
            .err()
            .unwrap()
    };
    assert_eq!(err(json!({})).path, ["endpoint"]);
    assert_eq!(
        err(json!({"endpoint": "http://x", "headers": {"Content-Type": "x"}})).path,
        ["headers", "Content-Type"]
    );
    assert_eq!(
        err(json!({"endpoint": "http://x", "external_labels": {"a": ""}})).path,
        ["external_labels", "a"]
    );
    assert_eq!(
        err(json!({"endpoint": "http://x", "remote_write_queue": {"queue_size": 0}})).path,
        ["remote_write_queue", "queue_size"]
    );
    assert_eq!(
        err(json!({"endpoint": "http://x", "wal": {"directory": "/tmp"}})).path,
        ["wal"]
    );
    assert_eq!(
        err(json!({"endpoint": "http://x", "sending_queue": {}})).path,
        ["sending_queue"]
    );
    let e = err(json!({"endpoint": "http://x", "translation_strategy": "NoTranslatio"}));
    assert_eq!(e.hint.as_deref(), Some("did you mean \"NoTranslation\"?"));
}

/// A remote-write receiver on port 0 that records each request and answers with the given
/// statuses in turn.
async fn receiver(
    statuses: Vec<u16>,
) -> (String, Arc<Mutex<Vec<(http::HeaderMap, WriteRequest)>>>) {
    use axum::body::Bytes as AxBytes;
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    type Shared = (
        Arc<Mutex<Vec<(HeaderMap, WriteRequest)>>>,
        Arc<Mutex<Vec<u16>>>,
    );
    let got = Arc::new(Mutex::new(Vec::new()));
    let shared: Shared = (got.clone(), Arc::new(Mutex::new(statuses)));
    async fn handle(
        State((got, st)): State<Shared>,
        headers: HeaderMap,
        body: AxBytes,
    ) -> StatusCode {
        let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
        got.lock()
            .unwrap()
            .push((headers, WriteRequest::decode(&raw[..]).unwrap()));
        let mut st = st.lock().unwrap();
        let code = if st.is_empty() { 204 } else { st.remove(0) };
        StatusCode::from_u16(code).unwrap()
    }
    let app = axum::Router::new()
        .route("/api/v1/write", axum::routing::post(handle))
        .with_state(shared);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/api/v1/write"), got)
}

#[tokio::test]
async fn posts_snappy_protobuf_with_remote_write_headers_and_maps_statuses() {
    let (url, got) = receiver(vec![500, 429, 400]).await;
    let exp = create(
        &ComponentId::parse("prometheusremotewrite").unwrap(),
        &json!({"endpoint": url, "headers": {"X-Scope-OrgID": "tenant-a"}, "target_info": {"enabled": false}}),
    )
    .unwrap();
    let data = Data::Metrics(request(
        vec![kv("service.name", "api")],
        vec![sum(
            "hits",
            "",
            AggregationTemporality::Cumulative,
            true,
            vec![point(7.0, T0, T0 + MS, vec![])],
        )],
    ));
    assert!(matches!(
        exp.export(&data).await,
        Err(ExportError::Retryable { .. })
    ));
    assert!(matches!(
        exp.export(&data).await,
        Err(ExportError::Retryable { .. })
    ));
    assert!(matches!(
        exp.export(&data).await,
        Err(ExportError::Permanent(_))
    ));
    exp.export(&data).await.unwrap();
    let got = got.lock().unwrap();
    assert_eq!(got.len(), 4);
    let (headers, req) = &got[3];
    assert_eq!(headers["content-encoding"], "snappy");
    assert_eq!(headers["content-type"], "application/x-protobuf");
    assert_eq!(headers["x-prometheus-remote-write-version"], "0.1.0");
    assert_eq!(headers["x-scope-orgid"], "tenant-a");
    assert_eq!(req.timeseries.len(), 1);
    assert_eq!(
        req.timeseries[0].labels,
        labels(&[("__name__", "hits_total"), ("job", "api")])
    );
    assert_eq!(
        req.timeseries[0].samples,
        vec![Sample {
            value: 7.0,
            timestamp: (T0 / MS + 1) as i64
        }]
    );
}

fn exemplar(v: f64, t_ms: u64, trace: u8) -> opentelemetry_proto::tonic::metrics::v1::Exemplar {
    use opentelemetry_proto::tonic::metrics::v1::exemplar::Value;
    opentelemetry_proto::tonic::metrics::v1::Exemplar {
        filtered_attributes: vec![kv("user", "u-1")],
        time_unix_nano: t_ms * MS,
        value: Some(Value::AsDouble(v)),
        trace_id: vec![trace; 16],
        span_id: vec![0xab; 8],
    }
}

#[test]
fn exemplars_go_to_their_series_and_histogram_buckets() {
    let mut s = settings();
    s.target_info = false;
    s.external_labels.clear();
    let t = T0 / MS + 5000;
    let mut counter_point = point(3.0, T0, t * MS, vec![]);
    counter_point.exemplars = vec![exemplar(1.0, t - 10, 1)];
    let m = Metric {
        name: "lat".into(),
        data: Some(MetricData::Histogram(Histogram {
            data_points: vec![HistogramDataPoint {
                start_time_unix_nano: T0,
                time_unix_nano: t * MS,
                count: 3,
                sum: Some(10.8),
                bucket_counts: vec![1, 1, 1],
                explicit_bounds: vec![0.5, 2.0],
                exemplars: vec![
                    exemplar(0.3, t - 3, 2),
                    exemplar(1.5, t - 2, 3),
                    exemplar(9.0, t - 1, 4),
                ],
                ..Default::default()
            }],
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
        })),
        ..Default::default()
    };
    let req = request(
        vec![],
        vec![
            sum(
                "hits",
                "",
                AggregationTemporality::Cumulative,
                true,
                vec![counter_point],
            ),
            m,
        ],
    );
    let out = translate(&req, &s, &mut DeltaState::default(), Instant::now());
    let of = |name: &str, le: Option<&str>| {
        out.series
            .iter()
            .find(|ts| {
                ts.labels
                    .iter()
                    .any(|l| l.name == "__name__" && l.value == name)
                    && le.is_none_or(|le| ts.labels.iter().any(|l| l.name == "le" && l.value == le))
            })
            .unwrap()
            .exemplars
            .iter()
            .map(|e| (e.value, e.timestamp, e.labels.clone()))
            .collect::<Vec<_>>()
    };
    let ex_labels = |trace: u8| {
        labels(&[
            ("trace_id", &hex::encode([trace; 16])),
            ("span_id", "abababababababab"),
            ("user", "u-1"),
        ])
    };
    assert_eq!(
        of("hits_total", None),
        vec![(1.0, (t - 10) as i64, ex_labels(1))]
    );
    assert_eq!(
        of("lat_bucket", Some("0.5")),
        vec![(0.3, (t - 3) as i64, ex_labels(2))]
    );
    assert_eq!(
        of("lat_bucket", Some("2")),
        vec![(1.5, (t - 2) as i64, ex_labels(3))]
    );
    assert_eq!(
        of("lat_bucket", Some("+Inf")),
        vec![(9.0, (t - 1) as i64, ex_labels(4))]
    );
    assert!(of("lat_count", None).is_empty());
}

/// A client authenticator with a fixed token (what the bearertokenauth extension attaches).
struct Token;

impl crate::auth::ClientAuth for Token {
    fn headers(&self) -> Result<Vec<(http::HeaderName, http::HeaderValue)>, String> {
        Ok(vec![(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_static("Bearer s3cret"),
        )])
    }
}

#[tokio::test]
async fn sends_the_attached_authenticators_headers() {
    let (url, got) = receiver(vec![]).await;
    let mut exp = create(
        &ComponentId::parse("prometheusremotewrite").unwrap(),
        &json!({"endpoint": url, "auth": {"authenticator": "bearertokenauth/prw"}}),
    )
    .unwrap();
    assert_eq!(
        exp.auth_id(),
        Some(ComponentId::parse("bearertokenauth/prw").unwrap())
    );
    exp.attach_auth(Arc::new(Token));
    let data = Data::Metrics(request(
        vec![],
        vec![sum(
            "hits",
            "",
            AggregationTemporality::Cumulative,
            true,
            vec![point(1.0, T0, T0 + MS, vec![])],
        )],
    ));
    exp.export(&data).await.unwrap();
    assert_eq!(got.lock().unwrap()[0].0["authorization"], "Bearer s3cret");
}
