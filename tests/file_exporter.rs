//! The `file` exporter in a running `sluice`: OTLP/HTTP requests of each signal are written as
//! OTLP/JSON lines, flushed at shutdown, and read back as the requests sent.

mod common;

use common::{free_port, wait_port, Sluice};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use sluice::signal::{Data, Signal};

fn post(http: u16, path: &str, body: Vec<u8>) {
    let resp = reqwest::blocking::Client::new()
        .post(format!("http://127.0.0.1:{http}/v1/{path}"))
        .header("content-type", "application/x-protobuf")
        .body(body)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[test]
fn writes_json_lines_that_read_back_as_the_requests_sent() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("telemetry.json");
    let http = free_port();
    let mut sluice = Sluice::start(&format!(
        r#"
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{http}
exporters:
  file:
    path: {path}
    flush_interval: 1h
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [file]
    logs:
      receivers: [otlp]
      exporters: [file]
"#,
        path = out.display()
    ));
    wait_port(http);
    let traces = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    trace_id: vec![7; 16],
                    span_id: vec![8; 8],
                    name: "checkout".into(),
                    start_time_unix_nano: 1,
                    end_time_unix_nano: 2,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let logs = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord {
                    time_unix_nano: 5,
                    severity_text: "WARN".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    post(http, "traces", traces.encode_to_vec());
    post(http, "logs", logs.encode_to_vec());
    // flush_interval is an hour: what is in the file was flushed at shutdown.
    assert_eq!(sluice.terminate(), 0);
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    let mut got: Vec<Data> = lines
        .iter()
        .map(|l| {
            let signal = if l.contains("resourceSpans") {
                Signal::Traces
            } else {
                Signal::Logs
            };
            sluice::otlp_json::decode_data(signal, l.as_bytes()).unwrap()
        })
        .collect();
    got.sort_by_key(|d| d.signal() != Signal::Traces);
    assert_eq!(got, vec![Data::Traces(traces), Data::Logs(logs)]);
}
