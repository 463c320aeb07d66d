//! The usual processor chain, memory_limiter → resource → probabilistic_sampler → filter →
//! batch, in a running `sluice` fed by the Python OpenTelemetry SDK: exactly the spans that
//! the collector's hash_seed sampler keeps (or `sampling.priority` forces), minus those the
//! filter drops, arrive at the sink, with the resource rewritten and the sampling decision in
//! each span's tracestate.
//!
//! The Python interpreter is `$SLUICE_TEST_PYTHON`, else `.venv/bin/python` (made by
//! `scripts/test.sh`).

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::sink::{string_attr, Sink};
use common::{free_port, python, wait_port, wait_until, Sluice};
use sluice::processors::probabilistic_sampler::hash_seed_keeps;

#[test]
fn python_spans_through_the_usual_processor_chain() {
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
  memory_limiter:
    check_interval: 1s
    limit_mib: 2048
    spike_limit_mib: 512
  resource:
    attributes:
      - {{key: deployment.environment, value: e2e, action: upsert}}
      - {{key: interop.sdk, action: delete}}
  probabilistic_sampler:
    sampling_percentage: 50
    hash_seed: 7
  filter:
    error_mode: ignore
    traces:
      span:
        - 'attributes["drop.me"] == true'
  batch:
    timeout: 200ms
exporters:
  otlp_grpc/sink:
    endpoint: 127.0.0.1:{sink}
    tls:
      insecure: true
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [memory_limiter, resource, probabilistic_sampler, filter, batch]
      exporters: [otlp_grpc/sink]
"#,
        sink = sink.grpc.port()
    ));
    wait_port(http);

    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/send_chain.py");
    let out = Command::new(python())
        .arg(script)
        .args(["--endpoint", &format!("127.0.0.1:{http}"), "--spans", "600"])
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
    let sent = sent["spans"].as_array().unwrap();
    assert_eq!(sent.len(), 600);

    // What the collector would pass: priority 1 always, priority 0 never, otherwise the
    // hash_seed decision; then the filter drops `drop.me` spans.
    let mut want: Vec<(String, bool)> = Vec::new();
    for s in sent {
        let tid: [u8; 16] = hex::decode(s["trace_id"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        let priority = s["priority"].as_i64();
        let sampled = match priority {
            Some(0) => false,
            Some(_) => true,
            None => hash_seed_keeps(&tid, 7, 50.0),
        };
        if sampled && !s["drop"].as_bool().unwrap() {
            want.push((s["name"].as_str().unwrap().to_string(), priority == Some(1)));
        }
    }
    assert!(
        wait_until(Duration::from_secs(20), || sink.spans().len() >= want.len()),
        "spans missing: {} of {}\n{}",
        sink.spans().len(),
        want.len(),
        sluice.stderr()
    );
    std::thread::sleep(Duration::from_millis(500));
    let spans = sink.spans();
    let mut got: Vec<String> = spans.iter().map(|s| s.name.clone()).collect();
    got.sort();
    let mut want_names: Vec<String> = want.iter().map(|(n, _)| n.clone()).collect();
    want_names.sort();
    assert_eq!(got, want_names);
    // 600 spans: 120 filtered, 30 forced in, 30 forced out, about half of the other 420.
    assert!((200..320).contains(&got.len()), "{}", got.len());
    eprintln!("{} of 600 Python spans passed the chain", got.len());

    for (name, forced) in &want {
        let span = spans.iter().find(|s| &s.name == name).unwrap();
        let th = if *forced { ";th:0" } else { ";th:8" };
        assert!(
            span.trace_state.starts_with("ot=rv:") && span.trace_state.ends_with(th),
            "{name}: {}",
            span.trace_state
        );
    }
    let g = sink.got.lock().unwrap();
    for (_, r) in &g.traces {
        for rs in &r.resource_spans {
            let attrs = &rs.resource.as_ref().unwrap().attributes;
            assert_eq!(string_attr(attrs, "service.name").as_deref(), Some("chain"));
            assert_eq!(
                string_attr(attrs, "deployment.environment").as_deref(),
                Some("e2e")
            );
            assert_eq!(string_attr(attrs, "interop.sdk"), None);
        }
    }
}
