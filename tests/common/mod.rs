//! Shared helpers for integration tests: an OTLP sink (gRPC and HTTP) served by the test,
//! a running `sluice` process, ports and waiting.
#![allow(dead_code)]

pub mod certs;
pub mod deploy;
pub mod sink;

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1 (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `cond` every 20 ms until it holds or `timeout` passes; returns whether it held.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

/// Waits until something listens on 127.0.0.1:port (generously: a debug build starting on a
/// loaded 2-core CI machine can take a while).
pub fn wait_port(port: u16) {
    assert!(
        wait_until(Duration::from_secs(60), || TcpStream::connect((
            "127.0.0.1",
            port
        ))
        .is_ok()),
        "nothing listens on port {port}"
    );
}

/// A multi-threaded tokio runtime with `workers` threads, for test clients and sinks.
pub fn runtime(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// A `sluice` daemon run from the built binary with a config written to a temp file.
pub struct Sluice {
    child: Option<Child>,
    _dir: tempfile::TempDir,
    /// Path of the config file.
    pub config: PathBuf,
    stderr_path: PathBuf,
}

impl Sluice {
    /// Writes `yaml` to a temp file and starts `sluice --config OVERLAY --config FILE`.
    ///
    /// OVERLAY moves Sluice's own metrics endpoint (default localhost:8888) to a free port,
    /// so the many daemons tests run at once do not collide; config files deep-merge with the
    /// later one winning, so a test that sets `service.telemetry.metrics` itself still gets
    /// its settings.
    pub fn start(yaml: &str) -> Sluice {
        Sluice::start_with_args(yaml, &[])
    }

    /// As [`Sluice::start`], with extra command-line arguments after the config files.
    pub fn start_with_args(yaml: &str, args: &[&str]) -> Sluice {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.yaml");
        std::fs::File::create(&config)
            .unwrap()
            .write_all(yaml.as_bytes())
            .unwrap();
        let overlay = dir.path().join("telemetry-overlay.yaml");
        std::fs::write(
            &overlay,
            "service:\n  telemetry:\n    metrics:\n      address: 127.0.0.1:0\n",
        )
        .unwrap();
        let stderr_path = dir.path().join("stderr.log");
        let child = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .arg("--config")
            .arg(&overlay)
            .arg("--config")
            .arg(&config)
            .args(args)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr_path).unwrap())
            .spawn()
            .expect("start sluice");
        Sluice {
            child: Some(child),
            _dir: dir,
            config,
            stderr_path,
        }
    }

    /// Starts `sluice --config FILE ... ARGS` on existing files, in order (later files win),
    /// with extra environment variables. No telemetry overlay is added: the last file should set
    /// `service.telemetry.metrics` (and every other port) itself.
    pub fn start_files(files: &[&std::path::Path], args: &[&str], env: &[(&str, &str)]) -> Sluice {
        let dir = tempfile::tempdir().unwrap();
        let stderr_path = dir.path().join("stderr.log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sluice"));
        for f in files {
            cmd.arg("--config").arg(f);
        }
        cmd.args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr_path).unwrap())
            .spawn()
            .expect("start sluice");
        Sluice {
            child: Some(child),
            config: files.last().expect("a config file").to_path_buf(),
            _dir: dir,
            stderr_path,
        }
    }

    /// The daemon's process ID.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// What the daemon has logged so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for exit; returns the exit code.
    pub fn terminate(&mut self) -> i32 {
        let mut child = self.child.take().expect("running");
        let pid = child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            if start.elapsed() > Duration::from_secs(60) {
                let _ = child.kill();
                panic!("sluice did not exit after SIGTERM:\n{}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the process with SIGKILL (a crash) and reaps it.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("running");
        let pid = child.id().to_string();
        Command::new("kill").args(["-KILL", &pid]).status().unwrap();
        let _ = child.wait();
    }

    /// Waits for the process to exit on its own (e.g. a startup error); returns its code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let child = self.child.as_mut().expect("running");
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Sluice {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The Python with the OpenTelemetry SDK: `$SLUICE_TEST_PYTHON`, else `.venv/bin/python` in
/// the repository (created by scripts/test.sh, the README's test command).
pub fn python() -> std::path::PathBuf {
    if let Ok(p) = std::env::var("SLUICE_TEST_PYTHON") {
        return std::path::PathBuf::from(p);
    }
    let venv = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    assert!(
        venv.exists(),
        "the Python OpenTelemetry SDK venv is missing: run scripts/test.sh (README), or create \
         .venv with `python3 -m venv .venv && .venv/bin/pip install -r tests/interop/requirements.txt`"
    );
    venv
}

/// Sends `traces` traces of `spans_per_trace` spans with the Python SDK over OTLP/HTTP to
/// `127.0.0.1:http_port` (`tests/interop/send_traces.py`), a pause of `delay_ms` after each;
/// asserts every export was acknowledged and returns trace ID → span IDs (hex).
#[allow(dead_code)] // not every test binary uses every helper
pub fn send_traces_with_python_sdk(
    http_port: u16,
    traces: u32,
    spans_per_trace: u32,
    delay_ms: f64,
    service: &str,
) -> std::collections::HashMap<String, Vec<String>> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/send_traces.py");
    let out = Command::new(python())
        .arg(script)
        .args(["--endpoint", &format!("127.0.0.1:{http_port}")])
        .args(["--traces", &traces.to_string()])
        .args(["--spans-per-trace", &spans_per_trace.to_string()])
        .args(["--delay-ms", &delay_ms.to_string(), "--service", service])
        .output()
        .expect("run the Python SDK script");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(
        out.stdout
            .split(|b| *b == b'\n')
            .find(|l| l.starts_with(b"{"))
            .expect("the script's JSON line"),
    )
    .unwrap();
    assert_eq!(v["failures"], 0, "every SDK export was acknowledged");
    v["traces"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(t, ids)| {
            let ids = ids.as_array().unwrap().iter();
            (
                t.clone(),
                ids.map(|s| s.as_str().unwrap().to_string()).collect(),
            )
        })
        .collect()
}

/// An encoded OTLP trace request with one resource and scope holding spans `make(0..n)`.
pub fn encoded_spans(
    n: usize,
    make: impl Fn(usize) -> opentelemetry_proto::tonic::trace::v1::Span,
) -> Vec<u8> {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};
    use prost::Message;
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: (0..n).map(make).collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}
