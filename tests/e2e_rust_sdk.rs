//! End to end with the official `opentelemetry-otlp` crate as the client: traces, metrics and
//! logs go through a running `sluice` to an OTLP sink served by the test, over gRPC and
//! HTTP/protobuf, and arrive with IDs, names and attributes intact. One receiver shared by two
//! trace pipelines delivers to both.

mod common;

use std::time::Duration;

use common::sink::{int_attr, string_attr, Sink};
use common::{free_port, wait_port, wait_until, Sluice};
use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::{Span as _, SpanKind, Tracer as _, TracerProvider as _};
use opentelemetry::KeyValue;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_proto::tonic::metrics::v1::metric::Data as MetricData;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;

const SPANS: usize = 25;
const LOGS: usize = 10;

fn config(grpc: u16, http: u16, sink: &Sink) -> String {
    format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
      http:
        endpoint: 127.0.0.1:{http}
exporters:
  otlp/sink:
    endpoint: 127.0.0.1:{sink_grpc}
    tls:
      insecure: true
  otlphttp/sink:
    endpoint: http://127.0.0.1:{sink_http}
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlp/sink]
    traces/copy:
      receivers: [otlp]
      exporters: [otlphttp/sink]
    metrics:
      receivers: [otlp]
      exporters: [otlp/sink]
    logs:
      receivers: [otlp]
      exporters: [otlphttp/sink]
"#,
        sink_grpc = sink.grpc.port(),
        sink_http = sink.http.port(),
    )
}

/// What the SDK sent: (trace id hex, span id hex, name) per span.
struct Sent {
    spans: Vec<(String, String, String)>,
}

enum Transport {
    Grpc(u16),
    Http(u16, Protocol),
}

fn resource(service: &str) -> Resource {
    Resource::builder()
        .with_service_name(service.to_string())
        .with_attribute(KeyValue::new("deployment.environment", "e2e"))
        .build()
}

/// Sends SPANS spans, one counter and one histogram, and LOGS log records with the SDK.
fn send_all(transport: &Transport, service: &str) -> Sent {
    let (span_exp, metric_exp, log_exp) = match transport {
        Transport::Grpc(port) => {
            let url = format!("http://127.0.0.1:{port}");
            (
                opentelemetry_otlp::SpanExporter::builder()
                    .with_tonic()
                    .with_endpoint(&url)
                    .build()
                    .unwrap(),
                opentelemetry_otlp::MetricExporter::builder()
                    .with_tonic()
                    .with_endpoint(&url)
                    .build()
                    .unwrap(),
                opentelemetry_otlp::LogExporter::builder()
                    .with_tonic()
                    .with_endpoint(&url)
                    .build()
                    .unwrap(),
            )
        }
        Transport::Http(port, protocol) => {
            let protocol = *protocol;
            let url = |p: &str| format!("http://127.0.0.1:{port}/v1/{p}");
            (
                opentelemetry_otlp::SpanExporter::builder()
                    .with_http()
                    .with_protocol(protocol)
                    .with_endpoint(url("traces"))
                    .build()
                    .unwrap(),
                opentelemetry_otlp::MetricExporter::builder()
                    .with_http()
                    .with_protocol(protocol)
                    .with_endpoint(url("metrics"))
                    .build()
                    .unwrap(),
                opentelemetry_otlp::LogExporter::builder()
                    .with_http()
                    .with_protocol(protocol)
                    .with_endpoint(url("logs"))
                    .build()
                    .unwrap(),
            )
        }
    };

    let tracer_provider = SdkTracerProvider::builder()
        .with_batch_exporter(span_exp)
        .with_resource(resource(service))
        .build();
    let tracer = tracer_provider.tracer("e2e");
    let mut spans = Vec::new();
    for i in 0..SPANS {
        let mut span = tracer
            .span_builder(format!("op-{i}"))
            .with_kind(SpanKind::Server)
            .start(&tracer);
        span.set_attribute(KeyValue::new("http.route", format!("/items/{i}")));
        span.set_attribute(KeyValue::new("item.index", i as i64));
        span.add_event("checkpoint", vec![KeyValue::new("step", 1)]);
        let ctx = span.span_context().clone();
        span.end();
        spans.push((
            format!("{:032x}", ctx.trace_id()),
            format!("{:016x}", ctx.span_id()),
            format!("op-{i}"),
        ));
    }
    tracer_provider.shutdown().expect("trace export");

    let meter_provider = SdkMeterProvider::builder()
        .with_periodic_exporter(metric_exp)
        .with_resource(resource(service))
        .build();
    let meter = meter_provider.meter("e2e");
    let counter = meter.u64_counter("e2e.requests").build();
    counter.add(5, &[KeyValue::new("route", "/a")]);
    counter.add(7, &[KeyValue::new("route", "/b")]);
    let hist = meter.f64_histogram("e2e.latency").with_unit("ms").build();
    for v in [1.0, 5.0, 250.0] {
        hist.record(v, &[KeyValue::new("route", "/a")]);
    }
    meter_provider.shutdown().expect("metric export");

    let logger_provider = SdkLoggerProvider::builder()
        .with_batch_exporter(log_exp)
        .with_resource(resource(service))
        .build();
    let logger = logger_provider.logger("e2e");
    for i in 0..LOGS {
        let mut rec = logger.create_log_record();
        rec.set_body(AnyValue::from(format!("log line {i}")));
        rec.set_severity_number(Severity::Warn);
        rec.set_severity_text("WARN");
        rec.add_attribute("log.index", i as i64);
        logger.emit(rec);
    }
    logger_provider.shutdown().expect("log export");
    Sent { spans }
}

fn run(transport_of: impl Fn(u16, u16) -> Transport, service: &str) {
    let rt = common::runtime(2);
    let sink = Sink::start(&rt);
    let (grpc, http) = (free_port(), free_port());
    let sluice = Sluice::start(&config(grpc, http, &sink));
    wait_port(grpc);
    wait_port(http);

    let transport = transport_of(grpc, http);
    let sent = {
        let _guard = rt.enter();
        send_all(&transport, service)
    };

    // Each span arrives twice: the shared receiver feeds `traces` (→ gRPC) and `traces/copy`
    // (→ HTTP), and each is exported whole.
    assert!(
        wait_until(Duration::from_secs(20), || {
            sink.spans_via("grpc").len() >= SPANS
                && sink.spans_via("http").len() >= SPANS
                && sink.logs().len() >= LOGS
                && sink.metrics().len() >= 2
        }),
        "not everything arrived: spans grpc={} http={} logs={} metrics={}\n{}",
        sink.spans_via("grpc").len(),
        sink.spans_via("http").len(),
        sink.logs().len(),
        sink.metrics().len(),
        sluice.stderr()
    );

    for proto in ["grpc", "http"] {
        let got = sink.spans_via(proto);
        assert_eq!(got.len(), SPANS, "exactly once per pipeline via {proto}");
        for (trace_id, span_id, name) in &sent.spans {
            let span = got
                .iter()
                .find(|s| hex::encode(&s.span_id) == *span_id)
                .unwrap_or_else(|| panic!("span {span_id} missing via {proto}"));
            assert_eq!(hex::encode(&span.trace_id), *trace_id);
            assert_eq!(span.name, *name);
            let i: i64 = name.trim_start_matches("op-").parse().unwrap();
            assert_eq!(
                string_attr(&span.attributes, "http.route"),
                Some(format!("/items/{i}"))
            );
            assert_eq!(int_attr(&span.attributes, "item.index"), Some(i));
            assert_eq!(span.kind, 2, "SPAN_KIND_SERVER");
            assert_eq!(span.events.len(), 1);
            assert_eq!(span.events[0].name, "checkpoint");
        }
    }
    assert!(sink.trace_service_names().iter().all(|s| s == service));

    let metrics = sink.metrics();
    let counter = metrics
        .iter()
        .find(|m| m.name == "e2e.requests")
        .expect("counter");
    match &counter.data {
        Some(MetricData::Sum(sum)) => {
            assert!(sum.is_monotonic);
            let mut by_route: Vec<(String, i64)> = sum
                .data_points
                .iter()
                .map(|p| {
                    let v = match p.value {
                        Some(opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsInt(v)) => v,
                        other => panic!("unexpected value {other:?}"),
                    };
                    (string_attr(&p.attributes, "route").unwrap(), v)
                })
                .collect();
            by_route.sort();
            assert_eq!(by_route, vec![("/a".into(), 5), ("/b".into(), 7)]);
        }
        other => panic!("counter is not a sum: {other:?}"),
    }
    let hist = metrics
        .iter()
        .find(|m| m.name == "e2e.latency")
        .expect("histogram");
    assert_eq!(hist.unit, "ms");
    match &hist.data {
        Some(MetricData::Histogram(h)) => {
            assert_eq!(h.data_points.len(), 1);
            assert_eq!(h.data_points[0].count, 3);
            assert_eq!(h.data_points[0].sum, Some(256.0));
        }
        other => panic!("not a histogram: {other:?}"),
    }

    let logs = sink.logs();
    assert_eq!(logs.len(), LOGS);
    for i in 0..LOGS as i64 {
        let rec = logs
            .iter()
            .find(|l| int_attr(&l.attributes, "log.index") == Some(i))
            .unwrap_or_else(|| panic!("log {i} missing"));
        assert_eq!(rec.severity_number, 13, "SEVERITY_NUMBER_WARN");
        assert_eq!(rec.severity_text, "WARN");
        let body = rec.body.as_ref().and_then(|b| b.value.as_ref());
        assert_eq!(
            body,
            Some(
                &opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(format!(
                    "log line {i}"
                ))
            )
        );
    }
    drop(sluice);
}

#[test]
fn rust_sdk_over_grpc_reaches_the_sink_intact() {
    run(|grpc, _| Transport::Grpc(grpc), "e2e-grpc");
}

#[test]
fn rust_sdk_over_http_protobuf_reaches_the_sink_intact() {
    run(
        |_, http| Transport::Http(http, Protocol::HttpBinary),
        "e2e-http",
    );
}

#[test]
fn rust_sdk_over_http_json_reaches_the_sink_intact() {
    run(
        |_, http| Transport::Http(http, Protocol::HttpJson),
        "e2e-http-json",
    );
}
