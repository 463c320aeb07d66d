//! Interop with the Python OpenTelemetry SDK (opentelemetry-sdk with the otlp-proto-grpc and
//! otlp-proto-http exporters, from PyPI): it sends all three signals to `sluice`, which exports
//! them to an OTLP sink served by the test; the counts and IDs that reach the sink are asserted.
//!
//! The Python interpreter is `$SLUICE_TEST_PYTHON`, else `.venv/bin/python` in the repository
//! (the README's test command, `scripts/test.sh`, creates that venv).

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::sink::{int_attr, string_attr, Sink};
use common::{free_port, python, wait_port, wait_until, Sluice};

fn run(protocol: &str) {
    let rt = common::runtime(2);
    let sink = Sink::start(&rt);
    let (grpc, http) = (free_port(), free_port());
    let sluice = Sluice::start(&format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
      http:
        endpoint: 127.0.0.1:{http}
exporters:
  otlp_grpc/sink:
    endpoint: 127.0.0.1:{sink}
    tls:
      insecure: true
service:
  pipelines:
    traces: {{receivers: [otlp], exporters: [otlp_grpc/sink]}}
    metrics: {{receivers: [otlp], exporters: [otlp_grpc/sink]}}
    logs: {{receivers: [otlp], exporters: [otlp_grpc/sink]}}
"#,
        sink = sink.grpc.port()
    ));
    wait_port(grpc);
    wait_port(http);
    let endpoint = format!("127.0.0.1:{}", if protocol == "grpc" { grpc } else { http });
    let service = format!("py-{protocol}");
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/send_with_python_sdk.py");
    let out = Command::new(python())
        .arg(script)
        .args([
            "--protocol",
            protocol,
            "--endpoint",
            &endpoint,
            "--service",
            &service,
        ])
        .output()
        .expect("run the Python SDK script");
    assert!(
        out.status.success(),
        "python failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        sluice.stderr()
    );
    let sent: serde_json::Value = serde_json::from_slice(
        out.stdout
            .split(|b| *b == b'\n')
            .find(|l| l.starts_with(b"{"))
            .unwrap(),
    )
    .unwrap();
    let sent_spans = sent["spans"].as_array().unwrap();
    let want_logs = sent["logs"].as_u64().unwrap() as usize;

    assert!(
        wait_until(Duration::from_secs(20), || {
            sink.spans().len() >= sent_spans.len()
                && sink.logs().len() >= want_logs
                && sink.metrics().len() >= 2
        }),
        "not everything arrived: spans={}/{} logs={}/{} metrics={}\npython stderr:\n{}\nsluice:\n{}",
        sink.spans().len(),
        sent_spans.len(),
        sink.logs().len(),
        want_logs,
        sink.metrics().len(),
        String::from_utf8_lossy(&out.stderr),
        sluice.stderr()
    );
    let spans = sink.spans();
    assert_eq!(spans.len(), sent_spans.len(), "each span exactly once");
    for s in sent_spans {
        let span = spans
            .iter()
            .find(|x| hex::encode(&x.span_id) == s["span_id"].as_str().unwrap())
            .expect("span arrived");
        assert_eq!(hex::encode(&span.trace_id), s["trace_id"].as_str().unwrap());
        assert_eq!(span.name, s["name"].as_str().unwrap());
        let i: i64 = span.name.trim_start_matches("py-op-").parse().unwrap();
        assert_eq!(int_attr(&span.attributes, "py.index"), Some(i));
        assert_eq!(
            string_attr(&span.attributes, "py.route"),
            Some(format!("/py/{i}"))
        );
    }
    assert!(sink.trace_service_names().iter().all(|n| *n == service));
    let metrics = sink.metrics();
    let names: Vec<&str> = metrics.iter().map(|m| m.name.as_str()).collect();
    assert!(
        names.contains(&"py.requests") && names.contains(&"py.latency"),
        "{names:?}"
    );
    let logs = sink.logs();
    assert_eq!(logs.len(), want_logs);
    for i in 0..want_logs as i64 {
        assert!(
            logs.iter()
                .any(|l| int_attr(&l.attributes, "py.log_index") == Some(i)),
            "log {i} missing"
        );
    }
    eprintln!(
        "python {protocol}: sent {} spans, {} log records, 2 metrics; sink got {} spans, {} logs, {} metrics",
        sent_spans.len(),
        want_logs,
        spans.len(),
        logs.len(),
        metrics.len()
    );
}

#[test]
fn python_sdk_over_grpc() {
    run("grpc");
}

#[test]
fn python_sdk_over_http_protobuf() {
    run("http");
}
