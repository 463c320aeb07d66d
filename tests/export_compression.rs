//! Every export compression, on both OTLP exporters, in one running daemon: requests joined by
//! the batch processor (with gzip, compressed as they join) reach a sink that decompresses
//! them (tonic's gzip and zstd for gRPC, flate2 and zstd for HTTP `Content-Encoding`), each
//! span once per exporter. `otlp_http` also takes confighttp's `compression_params.level`.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::sink::Sink;
use common::{free_port, wait_port, wait_until, Sluice};
use opentelemetry_proto::tonic::trace::v1::Span;

#[test]
fn gzip_zstd_and_plain_exports_arrive_whole() {
    let rt = common::runtime(2);
    let sink = Sink::start(&rt);
    let http = free_port();
    let (g, h) = (sink.grpc, sink.http);
    let sluice = Sluice::start(&format!(
        r#"
receivers:
  otlp:
    protocols:
      http: {{endpoint: 127.0.0.1:{http}}}
processors:
  batch: {{timeout: 300ms}}
exporters:
  otlp_grpc/gzip: {{endpoint: "{g}", tls: {{insecure: true}}}}
  otlp_grpc/zstd: {{endpoint: "{g}", tls: {{insecure: true}}, compression: zstd}}
  otlp_grpc/none: {{endpoint: "{g}", tls: {{insecure: true}}, compression: none}}
  otlp_http/gzip1:
    endpoint: http://{h}
    compression_params: {{level: 1}}
  otlp_http/zstd19:
    endpoint: http://{h}
    compression: zstd
    compression_params: {{level: 19}}
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [otlp_grpc/gzip, otlp_grpc/zstd, otlp_grpc/none, otlp_http/gzip1, otlp_http/zstd19]
"#
    ));
    wait_port(http);
    let client = reqwest::blocking::Client::new();
    for r in 0..6 {
        let body = common::encoded_spans(50, |i| Span {
            name: format!("span-{r}-{i}"),
            trace_id: vec![r as u8 + 1; 16],
            span_id: vec![i as u8 + 1; 8],
            ..Default::default()
        });
        let resp = client
            .post(format!("http://127.0.0.1:{http}/v1/traces"))
            .header("content-type", "application/x-protobuf")
            .body(body)
            .send()
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
    let arrived = wait_until(Duration::from_secs(15), || sink.spans().len() == 5 * 300);
    assert!(
        arrived,
        "{} of 1500 spans arrived; sluice log:\n{}",
        sink.spans().len(),
        sluice.stderr()
    );
    assert_eq!(sink.spans_via("grpc").len(), 3 * 300);
    assert_eq!(sink.spans_via("http").len(), 2 * 300);
    let mut copies: HashMap<String, usize> = HashMap::new();
    for s in sink.spans() {
        *copies.entry(s.name).or_default() += 1;
    }
    assert_eq!(copies.len(), 300);
    assert!(
        copies.values().all(|n| *n == 5),
        "each span once per exporter"
    );
    // Fewer requests than were sent, per exporter: the batch joined them.
    let requests = sink.got.lock().unwrap().traces.len();
    assert!(
        requests < 5 * 6,
        "{requests} export requests for 6 received"
    );
}
