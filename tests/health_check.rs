//! The health_check extension over HTTP: 200 "Server available" once running, 503 "Server not
//! available" while shutting down (draining into a slow backend), custom path and bodies,
//! and the check_collector_pipeline readiness: 503 while an exporter keeps failing, 200 once
//! its backend is back and the failures aged out.

mod common;

use std::time::Duration;

use common::sink::Sink;
use common::{free_port, wait_port, wait_until, Sluice};
use opentelemetry_proto::tonic::trace::v1::Span;

fn spans(n: usize) -> Vec<u8> {
    common::encoded_spans(n, |i| Span {
        name: format!("s{i}"),
        ..Default::default()
    })
}

/// GET the health endpoint: (status code, body), or None if nothing answers.
fn probe(url: &str) -> Option<(u16, String)> {
    let resp = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap()
        .get(url)
        .send()
        .ok()?;
    let code = resp.status().as_u16();
    Some((code, resp.text().unwrap()))
}

fn post_spans(http: u16, n: usize) {
    let r = reqwest::blocking::Client::new()
        .post(format!("http://127.0.0.1:{http}/v1/traces"))
        .header("content-type", "application/x-protobuf")
        .body(spans(n))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[test]
fn available_when_running_unavailable_while_stopping() {
    let rt = common::runtime(1);
    // Every export takes 3 s, so draining at shutdown takes a while.
    let sink = Sink::start_slow(&rt, Duration::from_secs(3));
    let (http, hc) = (free_port(), free_port());
    let mut sluice = Sluice::start(&format!(
        r#"
extensions:
  health_check:
    endpoint: 127.0.0.1:{hc}
    path: /health/status
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{http}
exporters:
  otlp_grpc:
    endpoint: {sink}
    tls: {{insecure: true}}
    timeout: 30s
service:
  extensions: [health_check]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlp_grpc]
"#,
        sink = sink.grpc
    ));
    wait_port(hc);
    let url = format!("http://127.0.0.1:{hc}/health/status");
    let mut last = None;
    assert!(wait_until(Duration::from_secs(10), || {
        last = probe(&url);
        last.as_ref().is_some_and(|(c, _)| *c == 200)
    }));
    let (_, body) = last.unwrap();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "Server available");
    assert!(v["upSince"].as_str().unwrap().ends_with('Z'), "{body}");
    assert!(v["uptime"].as_str().unwrap().ends_with('s'), "{body}");
    // Other paths are not the health endpoint.
    assert_eq!(
        probe(&format!("http://127.0.0.1:{hc}/")).unwrap().0,
        404,
        "only the configured path answers"
    );

    post_spans(http, 3);
    std::thread::sleep(Duration::from_millis(300)); // the export is now in flight
    std::process::Command::new("kill")
        .args(["-TERM", &sluice.pid().to_string()])
        .status()
        .unwrap();
    let mut stopping = None;
    assert!(
        wait_until(Duration::from_secs(5), || {
            stopping = probe(&url);
            stopping.as_ref().is_some_and(|(c, _)| *c == 503)
        }),
        "no 503 while draining: {stopping:?}"
    );
    let v: serde_json::Value = serde_json::from_str(&stopping.unwrap().1).unwrap();
    assert_eq!(v["status"], "Server not available");
    assert_eq!(v["uptime"], "");
    assert_eq!(sluice.wait_exit(Duration::from_secs(20)), Some(0));
    assert_eq!(sink.spans().len(), 3, "drained before exit");
    assert!(probe(&url).is_none(), "endpoint closed after exit");
}

#[test]
fn pipeline_check_reports_a_failing_exporter_until_it_recovers() {
    let rt = common::runtime(1);
    let (http, hc, backend) = (free_port(), free_port(), free_port());
    let _sluice = Sluice::start(&format!(
        r#"
extensions:
  health_check:
    endpoint: 127.0.0.1:{hc}
    response_body:
      healthy: all good
      unhealthy: not ready
    check_collector_pipeline:
      enabled: true
      interval: 2s
      exporter_failure_threshold: 3
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{http}
exporters:
  otlp_grpc/backend:
    endpoint: 127.0.0.1:{backend}
    tls: {{insecure: true}}
    timeout: 1s
    retry_on_failure:
      initial_interval: 100ms
      max_interval: 200ms
      max_elapsed_time: 120s
service:
  extensions: [health_check]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlp_grpc/backend]
"#
    ));
    wait_port(hc);
    let url = format!("http://127.0.0.1:{hc}/");
    assert!(wait_until(Duration::from_secs(10), || probe(&url)
        == Some((200, "all good".into()))));
    // The backend is down: every attempt fails, and the exporter keeps retrying.
    post_spans(http, 4);
    assert!(
        wait_until(Duration::from_secs(10), || probe(&url)
            == Some((503, "not ready".into()))),
        "no 503 while the exporter fails"
    );
    // Still failing a second later.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(probe(&url), Some((503, "not ready".into())));
    // The backend comes up: the retry delivers, failures age out of the 2 s window.
    let sink = Sink::start_at(&rt, &format!("127.0.0.1:{backend}"));
    assert!(wait_until(Duration::from_secs(10), || sink.spans().len() == 4));
    assert!(
        wait_until(Duration::from_secs(10), || probe(&url)
            == Some((200, "all good".into()))),
        "healthy again after recovery"
    );
}
