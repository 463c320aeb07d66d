//! The otlp_grpc exporter against a gRPC server we did not write: grpcio (gRPC's C core, from
//! PyPI) serving the OpenTelemetry proto package's generated OTLP services
//! (`tests/interop/otlp_grpc_server.py`). The Python SDK sends traces to `sluice` over
//! OTLP/HTTP; `sluice` batches them (requests join, and with gzip are compressed as they join)
//! and exports over gRPC with gzip or without compression, through a proxy in the test that
//! counts the bytes. Every trace must arrive, also when the backend first answers
//! UNAVAILABLE, and gzip must shrink what goes over the wire.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use common::{free_port, python, wait_port, wait_until, Sluice};

/// The grpcio server, with the JSON lines it printed so far.
struct Backend {
    child: Child,
    lines: mpsc::Receiver<serde_json::Value>,
    seen: Vec<serde_json::Value>,
}

impl Backend {
    fn start(port: u16, fail_first: u32) -> Backend {
        let script =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/otlp_grpc_server.py");
        let mut child = Command::new(python())
            .arg(script)
            .args(["--port", &port.to_string()])
            .args(["--fail-first", &fail_first.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the grpcio server");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str(&line) {
                    let _ = tx.send(v);
                }
            }
        });
        wait_port(port);
        Backend {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Trace IDs received so far.
    fn trace_ids(&mut self) -> BTreeSet<String> {
        self.seen.extend(self.lines.try_iter());
        self.seen
            .iter()
            .flat_map(|l| l["trace_ids"].as_array().cloned().unwrap_or_default())
            .map(|id| id.as_str().unwrap().to_string())
            .collect()
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP proxy on `listen` to `upstream`; returns the count of bytes sent upstream.
fn proxy(listen: u16, upstream: u16) -> Arc<AtomicU64> {
    let sent = Arc::new(AtomicU64::new(0));
    let listener = TcpListener::bind(("127.0.0.1", listen)).unwrap();
    let counter = sent.clone();
    std::thread::spawn(move || {
        for down in listener.incoming().map_while(Result::ok) {
            let up = TcpStream::connect(("127.0.0.1", upstream)).unwrap();
            let (mut down_r, mut up_w) = (down.try_clone().unwrap(), up.try_clone().unwrap());
            let counter = counter.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 16384];
                while let Ok(n @ 1..) = down_r.read(&mut buf) {
                    counter.fetch_add(n as u64, Ordering::Relaxed);
                    if up_w.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
            let (mut up_r, mut down_w) = (up, down);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut up_r, &mut down_w);
            });
        }
    });
    sent
}

/// Runs one export path; returns the bytes sluice sent to the backend.
fn run(compression: &str, fail_first: u32) -> u64 {
    let backend_port = free_port();
    let mut backend = Backend::start(backend_port, fail_first);
    let proxy_port = free_port();
    let wire = proxy(proxy_port, backend_port);
    let http = free_port();
    let sluice = Sluice::start(&format!(
        r#"
receivers:
  otlp:
    protocols:
      http: {{endpoint: 127.0.0.1:{http}}}
processors:
  batch: {{timeout: 300ms}}
exporters:
  otlp_grpc:
    endpoint: 127.0.0.1:{proxy_port}
    compression: {compression}
    tls: {{insecure: true}}
    retry_on_failure: {{initial_interval: 100ms}}
service:
  pipelines:
    traces: {{receivers: [otlp], processors: [batch], exporters: [otlp_grpc]}}
"#
    ));
    wait_port(http);
    let sent: BTreeSet<String> = common::send_traces_with_python_sdk(http, 1500, 2, 0.0, "grpcio")
        .into_keys()
        .collect();
    assert_eq!(sent.len(), 1500);
    let arrived = wait_until(Duration::from_secs(30), || backend.trace_ids() == sent);
    assert!(
        arrived,
        "{} of {} traces reached grpcio; sluice log:\n{}",
        backend.trace_ids().intersection(&sent).count(),
        sent.len(),
        sluice.stderr()
    );
    let exports: Vec<u64> = backend
        .seen
        .iter()
        .filter(|l| l["signal"] == "traces")
        .map(|l| l["items"].as_u64().unwrap())
        .collect();
    assert_eq!(
        exports.iter().sum::<u64>(),
        3000,
        "each span once: {exports:?}"
    );
    // The SDK sends 256 spans per request: bigger exports are joined requests, which with gzip
    // were compressed as they joined.
    assert!(
        exports.iter().any(|n| *n > 256),
        "batches joined requests: {exports:?}"
    );
    if fail_first > 0 {
        assert!(
            sluice.stderr().contains("Unavailable"),
            "the refused exports were logged and retried:\n{}",
            sluice.stderr()
        );
    }
    wire.load(Ordering::Relaxed)
}

#[test]
fn gzip_and_uncompressed_exports_reach_grpcio() {
    let plain = run("none", 0);
    let gzip = run("gzip", 0);
    assert!(
        gzip * 2 < plain,
        "gzip shrinks the wire bytes: {gzip} with gzip, {plain} without"
    );
}

#[test]
fn gzip_exports_reach_grpcio_after_it_refused_the_first() {
    run("gzip", 2);
}
