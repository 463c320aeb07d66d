//! Lifecycle: SIGTERM drains everything accepted before it; a port in use is a clear startup
//! error.

mod common;

use std::time::Duration;

use common::sink::Sink;
use common::{free_port, wait_port, wait_until, Sluice};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

fn request(batch: usize, spans_per_request: usize) -> ExportTraceServiceRequest {
    let spans = (0..spans_per_request)
        .map(|i| {
            let mut span_id = [0u8; 8];
            span_id[..4].copy_from_slice(&(batch as u32).to_be_bytes());
            span_id[4..].copy_from_slice(&(i as u32).to_be_bytes());
            Span {
                trace_id: vec![7; 16],
                span_id: span_id.to_vec(),
                name: format!("b{batch}-s{i}"),
                ..Default::default()
            }
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

#[test]
fn sigterm_drains_everything_accepted_before_it() {
    const REQUESTS: usize = 40;
    const SPANS: usize = 50;
    let rt = common::runtime(2);
    // A slow backend: accepted data is still queued inside Sluice when SIGTERM arrives.
    let sink = Sink::start_slow(&rt, Duration::from_millis(300));
    let grpc = free_port();
    let mut sluice = Sluice::start(&format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
exporters:
  otlp:
    endpoint: 127.0.0.1:{sink}
    tls:
      insecure: true
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlp]
"#,
        sink = sink.grpc.port()
    ));
    wait_port(grpc);
    let accepted = rt.block_on(async {
        let mut client = TraceServiceClient::connect(format!("http://127.0.0.1:{grpc}"))
            .await
            .unwrap();
        let mut accepted = 0;
        for b in 0..REQUESTS {
            if client.export(request(b, SPANS)).await.is_ok() {
                accepted += SPANS;
            }
        }
        accepted
    });
    assert_eq!(accepted, REQUESTS * SPANS, "all requests accepted");
    let in_sink_at_sigterm = sink.spans().len();
    assert!(
        in_sink_at_sigterm < accepted,
        "test needs data still queued at SIGTERM (sink already has {in_sink_at_sigterm})"
    );
    let code = sluice.terminate();
    assert_eq!(code, 0, "exit code; stderr:\n{}", sluice.stderr());
    let spans = sink.spans();
    assert_eq!(
        spans.len(),
        accepted,
        "accepted {accepted}, sink got {} ({} before SIGTERM)\n{}",
        spans.len(),
        in_sink_at_sigterm,
        sluice.stderr()
    );
    let mut names: Vec<String> = spans.into_iter().map(|s| s.name).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), accepted, "no duplicates");
    eprintln!("accepted {accepted} spans; {in_sink_at_sigterm} exported before SIGTERM, all {accepted} after drain");
}

#[test]
fn port_in_use_is_a_startup_error_naming_component_and_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let mut sluice = Sluice::start(&format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{port}
exporters:
  debug:
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [debug]
"#
    ));
    let code = sluice.wait_exit(Duration::from_secs(20));
    assert_eq!(code, Some(1), "stderr:\n{}", sluice.stderr());
    let err = sluice.stderr();
    assert!(err.contains("otlp"), "names the component: {err}");
    assert!(
        err.contains(&format!("127.0.0.1:{port}")),
        "names the address: {err}"
    );
    assert!(
        wait_until(Duration::from_secs(1), || err
            .to_lowercase()
            .contains("in use")),
        "says the address is in use: {err}"
    );
}
