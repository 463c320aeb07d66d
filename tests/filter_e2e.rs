//! The filter processor end to end: OTLP/protobuf requests are POSTed to a running `sluice`
//! whose pipelines filter spans, span events, data points and log records with OTTL and legacy
//! conditions; the sink receives exactly what the conditions keep.

mod common;

use std::time::Duration;

use common::sink::{string_attr, Sink};
use common::{free_port, wait_port, wait_until, Sluice};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::metric::Data as MetricData;
use opentelemetry_proto::tonic::metrics::v1::{
    number_data_point, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, ResourceSpans, ScopeSpans, Span};
use prost::Message;

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
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

fn span(name: &str, route: &str, events: &[&str]) -> Span {
    Span {
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        name: name.into(),
        kind: 2,
        attributes: vec![kv("http.route", route)],
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

fn traces() -> ExportTraceServiceRequest {
    let rs = |svc: &str, spans: Vec<Span>| ResourceSpans {
        resource: resource(svc),
        scope_spans: vec![ScopeSpans {
            spans,
            ..Default::default()
        }],
        ..Default::default()
    };
    ExportTraceServiceRequest {
        resource_spans: vec![
            rs(
                "checkout",
                vec![
                    span("GET /health", "/health", &[]),
                    span("GET /cart", "/cart", &["cache.miss", "exception"]),
                ],
            ),
            rs("synthetic-probe", vec![span("GET /", "/", &[])]),
        ],
    }
}

fn metrics() -> ExportMetricsServiceRequest {
    let gauge = |name: &str, hosts: &[&str]| Metric {
        name: name.into(),
        data: Some(MetricData::Gauge(Gauge {
            data_points: hosts
                .iter()
                .map(|h| NumberDataPoint {
                    attributes: vec![kv("host", h)],
                    value: Some(number_data_point::Value::AsInt(1)),
                    ..Default::default()
                })
                .collect(),
        })),
        ..Default::default()
    };
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource("checkout"),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![
                    gauge("cpu", &["web-1", "canary-1"]),
                    gauge("mem", &["canary-2"]),
                    gauge("debug.gc", &["web-1"]),
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn logs() -> ExportLogsServiceRequest {
    let log = |body: &str, sev: i32| LogRecord {
        body: Some(AnyValue {
            value: Some(any_value::Value::StringValue(body.into())),
        }),
        severity_number: sev,
        ..Default::default()
    };
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource("checkout"),
            scope_logs: vec![ScopeLogs {
                log_records: vec![
                    log("cache warmed", 5),
                    log("payment declined", 17),
                    log("GET /healthz 200", 9),
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

#[test]
fn filter_processor_drops_what_its_conditions_match() {
    let rt = common::runtime(2);
    let sink = Sink::start(&rt);
    let http = free_port();
    let sluice = Sluice::start(&format!(
        r#"
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{http}
processors:
  filter/ottl:
    error_mode: ignore
    traces:
      span:
        - 'attributes["http.route"] == "/health"'
      spanevent:
        - 'name == "cache.miss"'
    metrics:
      metric:
        - 'IsMatch(name, "^debug\\.")'
      datapoint:
        - 'IsMatch(attributes["host"], "^canary-")'
  filter/inferred:
    trace_conditions:
      - 'resource.attributes["service.name"] == "synthetic-probe"'
  filter/legacy:
    logs:
      exclude:
        match_type: regexp
        bodies: ["healthz"]
      include:
        severity_number:
          min: INFO
exporters:
  otlp_grpc/sink:
    endpoint: 127.0.0.1:{sink_grpc}
    tls:
      insecure: true
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [filter/ottl, filter/inferred]
      exporters: [otlp_grpc/sink]
    metrics:
      receivers: [otlp]
      processors: [filter/ottl]
      exporters: [otlp_grpc/sink]
    logs:
      receivers: [otlp]
      processors: [filter/legacy]
      exporters: [otlp_grpc/sink]
"#,
        sink_grpc = sink.grpc.port(),
    ));
    wait_port(http);
    let client = reqwest::blocking::Client::new();
    for (path, body) in [
        ("traces", traces().encode_to_vec()),
        ("metrics", metrics().encode_to_vec()),
        ("logs", logs().encode_to_vec()),
    ] {
        let resp = client
            .post(format!("http://127.0.0.1:{http}/v1/{path}"))
            .header("content-type", "application/x-protobuf")
            .body(body)
            .send()
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
    }
    assert!(
        wait_until(Duration::from_secs(10), || {
            let g = sink.got.lock().unwrap();
            !g.traces.is_empty() && !g.metrics.is_empty() && !g.logs.is_empty()
        }),
        "not everything arrived\n{}",
        sluice.stderr()
    );
    let spans = sink.spans();
    assert_eq!(spans.len(), 1, "{spans:?}");
    assert_eq!(spans[0].name, "GET /cart");
    let events: Vec<&str> = spans[0].events.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(events, ["exception"]);
    assert_eq!(sink.trace_service_names(), ["checkout"]);

    let metrics = sink.metrics();
    let got: Vec<(String, Vec<String>)> = metrics
        .iter()
        .map(|m| {
            let Some(MetricData::Gauge(g)) = &m.data else {
                panic!("not a gauge")
            };
            let hosts = g
                .data_points
                .iter()
                .filter_map(|p| string_attr(&p.attributes, "host"))
                .collect();
            (m.name.clone(), hosts)
        })
        .collect();
    assert_eq!(got, [("cpu".to_string(), vec!["web-1".to_string()])]);

    let bodies: Vec<String> = sink
        .logs()
        .iter()
        .filter_map(|l| match l.body.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(bodies, ["payment declined"]);
}
