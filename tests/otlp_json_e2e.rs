//! OTLP/JSON end to end: the OTLP specification's example bodies are POSTed to a running
//! `sluice`, which forwards them as OTLP/JSON (otlp_http, `encoding: json`) and as protobuf
//! (otlp_grpc) to the test's sink; both arrive equal to the items the examples describe.

mod common;

use std::time::Duration;

use common::sink::Sink;
use common::{free_port, wait_port, wait_until, Sluice};
use sluice::otlp_json;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/data/otlp_json/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[test]
fn spec_examples_pass_through_unchanged() {
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
exporters:
  otlp_http/json:
    endpoint: http://127.0.0.1:{sink_http}
    encoding: json
    compression: none
  otlp_grpc/proto:
    endpoint: http://127.0.0.1:{sink_grpc}
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlp_http/json, otlp_grpc/proto]
    metrics:
      receivers: [otlp]
      exporters: [otlp_http/json, otlp_grpc/proto]
    logs:
      receivers: [otlp]
      exporters: [otlp_http/json, otlp_grpc/proto]
"#,
        sink_http = sink.http.port(),
        sink_grpc = sink.grpc.port(),
    ));
    wait_port(http);
    let client = reqwest::blocking::Client::new();
    for (path, file) in [
        ("traces", "trace.json"),
        ("metrics", "metrics.json"),
        ("metrics", "metrics_strings.json"),
        ("logs", "logs.json"),
    ] {
        let resp = client
            .post(format!("http://127.0.0.1:{http}/v1/{path}"))
            .header("content-type", "application/json")
            .body(fixture(file))
            .send()
            .unwrap();
        assert_eq!(
            resp.status(),
            200,
            "{file}: {}",
            resp.text().unwrap_or_default()
        );
        assert_eq!(resp.text().unwrap(), "{}");
    }
    assert!(
        wait_until(Duration::from_secs(10), || {
            let g = sink.got.lock().unwrap();
            g.traces.len() == 2 && g.metrics.len() == 4 && g.logs.len() == 2
        }),
        "not everything arrived\n{}",
        sluice.stderr()
    );
    let want_traces = otlp_json::decode_traces(&fixture("trace.json")).unwrap();
    let want_metrics = [
        otlp_json::decode_metrics(&fixture("metrics.json")).unwrap(),
        otlp_json::decode_metrics(&fixture("metrics_strings.json")).unwrap(),
    ];
    let want_logs = otlp_json::decode_logs(&fixture("logs.json")).unwrap();
    let g = sink.got.lock().unwrap();
    let mut protos: Vec<&str> = g.traces.iter().map(|(p, _)| *p).collect();
    protos.sort();
    assert_eq!(protos, ["grpc", "http-json"]);
    for (_, got) in &g.traces {
        assert_eq!(*got, want_traces);
    }
    for (_, got) in &g.metrics {
        assert!(want_metrics.contains(got), "unexpected metrics {got:?}");
    }
    for (_, got) in &g.logs {
        assert_eq!(*got, want_logs);
    }
}
