//! Smoke test of `sluice-loadgen`: load generator → sluice → loadgen sink for a second or
//! two at a low rate; every accepted item must arrive at the sink exactly once. Not timed,
//! no performance thresholds (those belong to `benches/e2e.sh`).

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{free_port, wait_port, wait_until, Sluice};

const LOADGEN: &str = env!("CARGO_BIN_EXE_sluice-loadgen");

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn counts(http_port: u16) -> serde_json::Value {
    let body = reqwest::blocking::get(format!("http://127.0.0.1:{http_port}/control/counts"))
        .unwrap()
        .text()
        .unwrap();
    serde_json::from_str(&body).unwrap()
}

fn load(signal: &str, protocol: &str, port: u16) -> serde_json::Value {
    let out = Command::new(LOADGEN)
        .args([
            signal,
            "--protocol",
            protocol,
            "--rate",
            "400",
            "--duration",
            "1500ms",
        ])
        .args(["--batch", "20", "--workers", "2", "--json", "--quiet"])
        .args(["--endpoint", &format!("127.0.0.1:{port}")])
        .stderr(Stdio::inherit())
        .output()
        .expect("run sluice-loadgen");
    assert!(out.status.success(), "loadgen {signal} failed");
    serde_json::from_slice(&out.stdout).expect("JSON summary")
}

#[test]
fn loadgen_through_sluice_to_sink_loses_and_duplicates_nothing() {
    let (sink_grpc, sink_http) = (free_port(), free_port());
    let _sink = Proc(
        Command::new(LOADGEN)
            .args(["sink", "--check-unique-trace-ids", "--quiet"])
            .args(["--grpc-listen", &format!("127.0.0.1:{sink_grpc}")])
            .args(["--http-listen", &format!("127.0.0.1:{sink_http}")])
            .stdout(Stdio::null())
            .spawn()
            .expect("start sink"),
    );
    wait_port(sink_grpc);
    wait_port(sink_http);

    let (grpc, http) = (free_port(), free_port());
    let mut sluice = Sluice::start(&format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
      http:
        endpoint: 127.0.0.1:{http}
processors:
  batch:
    timeout: 100ms
exporters:
  otlp:
    endpoint: 127.0.0.1:{sink_grpc}
    tls:
      insecure: true
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [otlp]
    metrics:
      receivers: [otlp]
      processors: [batch]
      exporters: [otlp]
    logs:
      receivers: [otlp]
      processors: [batch]
      exporters: [otlp]
"#
    ));
    wait_port(grpc);
    wait_port(http);

    let runs = [
        ("traces", "grpc", grpc, "spans"),
        ("metrics", "http", http, "metric_points"),
        ("logs", "grpc", grpc, "log_records"),
    ];
    let mut expected = Vec::new();
    for (signal, protocol, port, item) in runs {
        let s = load(signal, protocol, port);
        let accepted = s["accepted"].as_u64().unwrap();
        assert!(accepted > 0, "{signal}: nothing accepted: {s}");
        assert_eq!(s["errors"], 0, "{signal}: {s}");
        assert_eq!(
            s["sent"].as_u64().unwrap(),
            accepted + s["refused"].as_u64().unwrap(),
            "{s}"
        );
        expected.push((item, accepted));
    }
    assert_eq!(sluice.terminate(), 0, "{}", sluice.stderr());
    let all_arrived = wait_until(Duration::from_secs(10), || {
        let c = counts(sink_http);
        expected
            .iter()
            .all(|(item, n)| c[item].as_u64() == Some(*n))
    });
    let c = counts(sink_http);
    assert!(all_arrived, "sink counts {c} != accepted {expected:?}");
    assert_eq!(c["duplicate_trace_ids"], 0, "{c}");
    assert_eq!(c["malformed_requests"], 0, "{c}");
}
