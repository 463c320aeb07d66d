use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::metric::Data as MetricData;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as NV;
use opentelemetry_proto::tonic::metrics::v1::{
    summary_data_point::ValueAtQuantile, AggregationTemporality, ExponentialHistogram,
    ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

use super::naming::Strategy;
use super::*;

const SEC: u64 = 1_000_000_000;

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    }
}

fn point(v: f64, start: u64, t: u64, attrs: &[(&str, &str)]) -> NumberDataPoint {
    NumberDataPoint {
        attributes: attrs.iter().map(|(k, v)| kv(k, v)).collect(),
        start_time_unix_nano: start,
        time_unix_nano: t,
        value: Some(NV::AsDouble(v)),
        ..Default::default()
    }
}

fn request(metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", "checkout"),
                    kv("service.namespace", "shop"),
                    kv("service.instance.id", "pod-1"),
                    kv("host.name", "node-7"),
                ],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: "meter".into(),
                    version: "1.2".into(),
                    ..Default::default()
                }),
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn counter(
    name: &str,
    unit: &str,
    temporality: AggregationTemporality,
    points: Vec<NumberDataPoint>,
) -> Metric {
    Metric {
        name: name.into(),
        description: "Requests served.".into(),
        unit: unit.into(),
        data: Some(MetricData::Sum(Sum {
            data_points: points,
            aggregation_temporality: temporality as i32,
            is_monotonic: true,
        })),
        ..Default::default()
    }
}

fn store() -> Store {
    Store::new(StoreConfig {
        namespace: String::new(),
        strategy: Strategy {
            suffixes: true,
            escape: true,
        },
        const_labels: vec![],
        resource_to_telemetry: false,
        resource_constant_labels: vec![],
        without_scope_info: false,
        max_series: 0,
    })
}

fn text(s: &Store) -> String {
    render(
        s,
        RenderOptions {
            format: Format::Text,
            timestamps: false,
        },
        "target_info",
    )
}

#[test]
fn renders_counters_with_names_labels_and_target_info_as_upstream() {
    let mut s = store();
    let now = Instant::now();
    let out = s.accumulate(
        &request(vec![counter(
            "http.server.requests",
            "1",
            AggregationTemporality::Cumulative,
            vec![point(42.0, SEC, 2 * SEC, &[("http.method", "GET")])],
        )]),
        now,
    );
    assert_eq!(out.stored, 1);
    assert_eq!(
        text(&s),
        "# HELP target_info Target metadata\n\
         # TYPE target_info gauge\n\
         target_info{host_name=\"node-7\",instance=\"pod-1\",job=\"shop/checkout\"} 1\n\
         # HELP http_server_requests_total Requests served.\n\
         # TYPE http_server_requests_total counter\n\
         http_server_requests_total{http_method=\"GET\",instance=\"pod-1\",job=\"shop/checkout\",otel_scope_name=\"meter\",otel_scope_version=\"1.2\"} 42\n"
    );
}

#[test]
fn delta_sums_accumulate_when_aligned_and_restart_after_a_gap() {
    let mut s = store();
    let now = Instant::now();
    let send = |s: &mut Store, v: f64, start: u64, t: u64| {
        s.accumulate(
            &request(vec![counter(
                "jobs",
                "",
                AggregationTemporality::Delta,
                vec![point(v, start, t, &[])],
            )]),
            now,
        );
    };
    let value = |s: &Store| match &s.families["jobs_total"]
        .series
        .values()
        .next()
        .unwrap()
        .value
    {
        store::Value::Number(v) => *v,
        v => panic!("{v:?}"),
    };
    send(&mut s, 5.0, SEC, 2 * SEC);
    send(&mut s, 3.0, 2 * SEC, 3 * SEC);
    assert_eq!(value(&s), 8.0, "aligned deltas add up");
    send(&mut s, 1.0, SEC, 2 * SEC);
    assert_eq!(value(&s), 8.0, "an out-of-order point is ignored");
    send(&mut s, 4.0, 10 * SEC, 11 * SEC);
    assert_eq!(value(&s), 4.0, "a gap starts over");
}

#[test]
fn conflicts_caps_stale_markers_and_exponential_histograms() {
    let mut s = Store::new(StoreConfig {
        max_series: 2,
        ..store_config()
    });
    let now = Instant::now();
    let gauge = |name: &str, attrs: &[(&str, &str)], flags: u32| Metric {
        name: name.into(),
        data: Some(MetricData::Gauge(Gauge {
            data_points: vec![NumberDataPoint {
                flags,
                ..point(1.0, 0, SEC, attrs)
            }],
        })),
        ..Default::default()
    };
    // `jobs_total` as a counter, then as a gauge of the same final name: the gauge is dropped.
    s.accumulate(
        &request(vec![counter(
            "jobs",
            "",
            AggregationTemporality::Cumulative,
            vec![point(1.0, 0, SEC, &[])],
        )]),
        now,
    );
    let out = s.accumulate(&request(vec![gauge("jobs_total", &[], 0)]), now);
    assert_eq!(out.dropped[0].0, DropReason::TypeConflict);
    // The cap: one more series fits, the third is dropped.
    assert_eq!(
        s.accumulate(&request(vec![gauge("g", &[("k", "a")], 0)]), now)
            .stored,
        1
    );
    let out = s.accumulate(&request(vec![gauge("g", &[("k", "b")], 0)]), now);
    assert_eq!(out.dropped[0].0, DropReason::MaxSeries);
    assert_eq!(s.series_count(), 2);
    // A stale marker removes the series.
    s.accumulate(&request(vec![gauge("g", &[("k", "a")], 1)]), now);
    assert_eq!(s.series_count(), 1);
    assert!(!text(&s).contains("\ng{"));
    // Exponential histograms cannot be written in the text formats.
    let exp = Metric {
        name: "latency".into(),
        data: Some(MetricData::ExponentialHistogram(ExponentialHistogram {
            data_points: vec![ExponentialHistogramDataPoint::default()],
            aggregation_temporality: 2,
        })),
        ..Default::default()
    };
    let out = s.accumulate(&request(vec![exp]), now);
    assert_eq!(
        out.dropped,
        vec![(DropReason::ExponentialHistogram, 1, "latency".to_string())]
    );
}

fn store_config() -> StoreConfig {
    StoreConfig {
        namespace: String::new(),
        strategy: Strategy {
            suffixes: true,
            escape: true,
        },
        const_labels: vec![],
        resource_to_telemetry: false,
        resource_constant_labels: vec![],
        without_scope_info: true,
        max_series: 0,
    }
}

#[test]
fn series_expire_in_the_background_sweep() {
    let mut s = Store::new(store_config());
    let t0 = Instant::now();
    s.accumulate(
        &request(vec![counter(
            "a",
            "",
            AggregationTemporality::Cumulative,
            vec![point(1.0, 0, SEC, &[])],
        )]),
        t0,
    );
    let t1 = t0 + Duration::from_secs(60);
    s.accumulate(
        &request(vec![counter(
            "b",
            "",
            AggregationTemporality::Cumulative,
            vec![point(1.0, 0, SEC, &[])],
        )]),
        t1,
    );
    assert_eq!(
        s.expire(t1 + Duration::from_secs(10), Duration::from_secs(30)),
        1
    );
    assert_eq!(s.families.keys().collect::<Vec<_>>(), ["b_total"]);
    assert_eq!(s.series_count(), 1);
}

#[test]
fn histograms_summaries_and_openmetrics() {
    let mut s = Store::new(StoreConfig {
        const_labels: vec![("env".into(), "prod".into())],
        ..store_config()
    });
    let now = Instant::now();
    let hist = Metric {
        name: "http.server.duration".into(),
        unit: "s".into(),
        description: "Duration of \"requests\"\\ok".into(),
        data: Some(MetricData::Histogram(Histogram {
            data_points: vec![HistogramDataPoint {
                start_time_unix_nano: 1_700_000_000 * SEC + 250_000_000,
                time_unix_nano: 1_700_000_100 * SEC,
                count: 6,
                sum: Some(3.5),
                bucket_counts: vec![1, 2, 3],
                explicit_bounds: vec![0.1, 1.0],
                ..Default::default()
            }],
            aggregation_temporality: 2,
        })),
        ..Default::default()
    };
    let summary = Metric {
        name: "rpc.latency".into(),
        data: Some(MetricData::Summary(Summary {
            data_points: vec![SummaryDataPoint {
                count: 10,
                sum: 5.0,
                quantile_values: vec![
                    ValueAtQuantile {
                        quantile: 0.99,
                        value: f64::INFINITY,
                    },
                    ValueAtQuantile {
                        quantile: 0.5,
                        value: 0.25,
                    },
                ],
                ..Default::default()
            }],
        })),
        ..Default::default()
    };
    let c = counter(
        "jobs",
        "",
        AggregationTemporality::Cumulative,
        vec![point(7.0, 1_700_000_000 * SEC, 1_700_000_100 * SEC, &[])],
    );
    s.accumulate(&request(vec![hist, summary, c]), now);
    let t = text(&s);
    assert!(t.contains(
        "# HELP http_server_duration_seconds Duration of \"requests\"\\\\ok\n\
         # TYPE http_server_duration_seconds histogram\n\
         http_server_duration_seconds_bucket{env=\"prod\",instance=\"pod-1\",job=\"shop/checkout\",le=\"0.1\"} 1\n\
         http_server_duration_seconds_bucket{env=\"prod\",instance=\"pod-1\",job=\"shop/checkout\",le=\"1\"} 3\n\
         http_server_duration_seconds_bucket{env=\"prod\",instance=\"pod-1\",job=\"shop/checkout\",le=\"+Inf\"} 6\n\
         http_server_duration_seconds_sum{env=\"prod\",instance=\"pod-1\",job=\"shop/checkout\"} 3.5\n\
         http_server_duration_seconds_count{env=\"prod\",instance=\"pod-1\",job=\"shop/checkout\"} 6\n"
    ), "{t}");
    assert!(t.contains("rpc_latency{env=\"prod\",instance=\"pod-1\",job=\"shop/checkout\",quantile=\"0.5\"} 0.25\n"), "{t}");
    assert!(t.contains("rpc_latency{env=\"prod\",instance=\"pod-1\",job=\"shop/checkout\",quantile=\"0.99\"} +Inf\n"), "{t}");
    let om = render(
        &s,
        RenderOptions {
            format: Format::OpenMetrics,
            timestamps: true,
        },
        "target_info",
    );
    assert!(om.contains("# TYPE jobs counter\n"), "{om}");
    assert!(
        om.contains(
            "jobs_total{env=\"prod\",instance=\"pod-1\",job=\"shop/checkout\"} 7 1700000100.000\n"
        ),
        "{om}"
    );
    assert!(om.contains("jobs_created{env=\"prod\",instance=\"pod-1\",job=\"shop/checkout\"} 1700000000.000 1700000100.000\n"), "{om}");
    assert!(
        om.contains("# UNIT http_server_duration_seconds seconds\n"),
        "{om}"
    );
    assert!(om.contains("http_server_duration_seconds_created{env=\"prod\",instance=\"pod-1\",job=\"shop/checkout\"} 1700000000.250"), "{om}");
    assert!(om.ends_with("# EOF\n"));
}

#[test]
fn config_checks() {
    let bad = [
        (serde_json::json!({}), "endpoint"),
        (
            serde_json::json!({"endpoint": "0.0.0.0:8889", "translation_strategy": "UnderscoreEscapingWithSufixes"}),
            "translation_strategy",
        ),
        (serde_json::json!({"endpoint": "0.0.0.0"}), "endpoint"),
        (
            serde_json::json!({"endpoint": "0.0.0.0:8889", "const_labels": {"bad-label": "x"}}),
            "const_labels::bad-label",
        ),
        (
            serde_json::json!({"endpoint": "0.0.0.0:8889", "metric_expiraton": "1m"}),
            "metric_expiraton",
        ),
    ];
    for (cfg, path) in bad {
        let err = create(&ComponentId::new("prometheus", None), &cfg)
            .err()
            .unwrap_or_else(|| panic!("{cfg}"));
        assert_eq!(err.path.join("::"), path, "{err}");
    }
    let cfg: PrometheusConfig = decode(&serde_json::json!({"endpoint": "0.0.0.0:8889"})).unwrap();
    assert_eq!(cfg.metric_expiration, Duration::from_secs(300));
    assert!(cfg.add_metric_suffixes);
    assert_eq!(
        cfg.strategy(),
        Strategy {
            suffixes: true,
            escape: true
        }
    );
    let cfg: PrometheusConfig =
        decode(&serde_json::json!({"endpoint": ":8889", "add_metric_suffixes": false})).unwrap();
    assert_eq!(
        cfg.strategy(),
        Strategy {
            suffixes: false,
            escape: true
        }
    );
}
