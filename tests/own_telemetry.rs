//! Sluice's own metrics on `service.telemetry.metrics`: counts served in Prometheus text equal
//! what the test sent, per component ID, for traces, metrics and logs; both config shapes;
//! `level: none` serves nothing; `level: basic` hides batch processor metrics.

mod common;

use std::time::Duration;

use common::sink::Sink;
use common::{free_port, wait_port, wait_until, Sluice};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

fn spans(n: usize) -> Vec<u8> {
    common::encoded_spans(n, |i| Span {
        name: format!("s{i}"),
        trace_id: vec![1; 16],
        span_id: (i as u64 + 1).to_be_bytes().to_vec(),
        ..Default::default()
    })
}

fn points(n: usize) -> Vec<u8> {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "g".into(),
                    data: Some(metric::Data::Gauge(Gauge {
                        data_points: (0..n)
                            .map(|i| NumberDataPoint {
                                time_unix_nano: 1_000 + i as u64,
                                value: Some(
                                    opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsInt(
                                        i as i64,
                                    ),
                                ),
                                ..Default::default()
                            })
                            .collect(),
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

fn logs(n: usize) -> Vec<u8> {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: (0..n)
                    .map(|i| LogRecord {
                        time_unix_nano: i as u64,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

fn scrape(port: u16) -> String {
    let resp = reqwest::blocking::get(format!("http://127.0.0.1:{port}/metrics")).unwrap();
    assert_eq!(resp.status(), 200);
    let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    resp.text().unwrap()
}

/// The value of the sample line `series` (name and labels exactly as rendered).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn counts_equal_what_was_sent_per_component() {
    let rt = common::runtime(1);
    let sink = Sink::start(&rt);
    let (http, own) = (free_port(), free_port());
    let _sluice = Sluice::start(&format!(
        r#"
receivers:
  otlp/in:
    protocols:
      http:
        endpoint: 127.0.0.1:{http}
processors:
  batch/small:
    send_batch_size: 50
    timeout: 100ms
exporters:
  otlp_grpc/sink:
    endpoint: {sink}
    tls: {{insecure: true}}
service:
  telemetry:
    metrics:
      address: 127.0.0.1:{own}
  pipelines:
    traces:
      receivers: [otlp/in]
      processors: [batch/small]
      exporters: [otlp_grpc/sink]
    metrics:
      receivers: [otlp/in]
      processors: [batch/small]
      exporters: [otlp_grpc/sink]
    logs:
      receivers: [otlp/in]
      processors: [batch/small]
      exporters: [otlp_grpc/sink]
"#,
        sink = sink.grpc
    ));
    wait_port(http);
    wait_port(own);
    let client = reqwest::blocking::Client::new();
    let post = |path: &str, body: Vec<u8>| {
        let r = client
            .post(format!("http://127.0.0.1:{http}/v1/{path}"))
            .header("content-type", "application/x-protobuf")
            .body(body)
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
    };
    // 7 requests per signal of varied sizes: 3+17+40+1+60+9+20 = 150 items each.
    const SIZES: [usize; 7] = [3, 17, 40, 1, 60, 9, 20];
    const N: usize = 150;
    for n in SIZES {
        post("traces", spans(n));
        post("metrics", points(n));
        post("logs", logs(n));
    }
    assert!(wait_until(Duration::from_secs(15), || {
        sink.spans().len() == N
            && sink.logs().len() == N
            && sink
                .metrics()
                .iter()
                .map(|m| match &m.data {
                    Some(metric::Data::Gauge(g)) => g.data_points.len(),
                    _ => 0,
                })
                .sum::<usize>()
                == N
    }));
    // The exporter counts after the sink answered; give it a moment.
    let mut text = String::new();
    assert!(
        wait_until(Duration::from_secs(5), || {
            text = scrape(own);
            sample(
                &text,
                r#"otelcol_exporter_sent_log_records{exporter="otlp_grpc/sink"}"#,
            ) == Some(N as f64)
                && sample(
                    &text,
                    r#"otelcol_exporter_sent_spans{exporter="otlp_grpc/sink"}"#,
                ) == Some(N as f64)
                && sample(
                    &text,
                    r#"otelcol_exporter_sent_metric_points{exporter="otlp_grpc/sink"}"#,
                ) == Some(N as f64)
        }),
        "{text}"
    );
    let n = Some(N as f64);
    for (series, want) in [
        (r#"otelcol_receiver_accepted_spans{receiver="otlp/in"}"#, n),
        (
            r#"otelcol_receiver_accepted_metric_points{receiver="otlp/in"}"#,
            n,
        ),
        (
            r#"otelcol_receiver_accepted_log_records{receiver="otlp/in"}"#,
            n,
        ),
        (
            r#"otelcol_processor_incoming_items{otel_signal="traces",processor="batch/small"}"#,
            n,
        ),
        (
            r#"otelcol_processor_outgoing_items{otel_signal="traces",processor="batch/small"}"#,
            n,
        ),
        (
            r#"otelcol_processor_incoming_items{otel_signal="metrics",processor="batch/small"}"#,
            n,
        ),
        (
            r#"otelcol_processor_outgoing_items{otel_signal="logs",processor="batch/small"}"#,
            n,
        ),
        (
            r#"otelcol_exporter_queue_capacity{exporter="otlp_grpc/sink"}"#,
            Some(1000.0),
        ),
        (
            r#"otelcol_exporter_queue_size{exporter="otlp_grpc/sink"}"#,
            Some(0.0),
        ),
    ] {
        assert_eq!(sample(&text, series), want, "{series}\n{text}");
    }
    for absent in [
        "otelcol_receiver_refused_spans{",
        "otelcol_exporter_send_failed_spans{",
    ] {
        assert!(!text.contains(absent), "{absent}");
    }
    assert!(text.contains("# TYPE otelcol_receiver_accepted_spans counter\n"));
    assert!(text.contains(
        "# HELP otelcol_receiver_accepted_spans Number of spans successfully pushed into the pipeline.\n"
    ));
    assert!(text.contains("# TYPE otelcol_processor_batch_batch_send_size histogram\n"));
    assert!(sample(&text, "otelcol_process_uptime").unwrap() > 0.0);
    assert!(sample(&text, "otelcol_process_memory_rss").unwrap() > 1e6);
    assert!(sample(&text, "otelcol_process_cpu_seconds").unwrap() >= 0.0);
}

fn minimal(http: u16, telemetry: &str) -> String {
    format!(
        r#"
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{http}
processors:
  batch:
exporters:
  debug:
    verbosity: basic
service:
  telemetry:
    metrics:
{telemetry}
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [debug]
"#
    )
}

#[test]
fn readers_shape_and_levels() {
    // The newer readers shape, with level basic: batch processor families are hidden.
    let (http, own) = (free_port(), free_port());
    let _a = Sluice::start(&minimal(
        http,
        &format!(
            "      level: basic\n      readers:\n        - pull:\n            exporter:\n              prometheus:\n                host: 127.0.0.1\n                port: {own}"
        ),
    ));
    wait_port(http);
    wait_port(own);
    let r = reqwest::blocking::Client::new()
        .post(format!("http://127.0.0.1:{http}/v1/traces"))
        .header("content-type", "application/x-protobuf")
        .body(spans(5))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut text = String::new();
    assert!(wait_until(Duration::from_secs(10), || {
        text = scrape(own);
        sample(&text, r#"otelcol_exporter_sent_spans{exporter="debug"}"#) == Some(5.0)
    }));
    assert_eq!(
        sample(&text, r#"otelcol_receiver_accepted_spans{receiver="otlp"}"#),
        Some(5.0)
    );
    assert!(!text.contains("otelcol_processor_batch_"), "{text}");

    // level: none binds nothing, even at an explicit address.
    let (http2, own2) = (free_port(), free_port());
    let mut b = Sluice::start(&minimal(
        http2,
        &format!("      level: none\n      address: 127.0.0.1:{own2}"),
    ));
    wait_port(http2);
    assert!(std::net::TcpStream::connect(("127.0.0.1", own2)).is_err());
    assert_eq!(b.terminate(), 0);
}
