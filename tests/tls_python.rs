//! TLS interop with a client we did not write: the Python OpenTelemetry SDK's OTLP exporters
//! (gRPC via grpcio, HTTP via requests) send spans to Sluice's TLS receivers, trusting only the
//! test's CA; with mTLS required on HTTP, the SDK presenting a client certificate gets in and
//! the SDK without one is refused (its exports fail and nothing of it arrives).

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use common::certs;
use common::sink::Sink;
use common::{free_port, python, wait_port, wait_until, Sluice};

/// Runs the SDK script sending `spans` spans, one export each.
fn send(
    protocol: &str,
    port: u16,
    service: &str,
    spans: u32,
    tls: &[(&str, &std::path::Path)],
) -> Output {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/send_tls.py");
    let mut cmd = Command::new(python());
    // requests lets these override the SDK's certificate_file (a session's `verify`), which
    // would make the SDK trust the system bundle instead of the test's CA.
    cmd.env_remove("REQUESTS_CA_BUNDLE")
        .env_remove("CURL_CA_BUNDLE");
    cmd.arg(script).args([
        "--protocol",
        protocol,
        "--endpoint",
        &format!("localhost:{port}"),
        "--service",
        service,
        "--spans",
        &spans.to_string(),
    ]);
    for (flag, path) in tls {
        cmd.arg(flag).arg(path);
    }
    cmd.output().expect("run the Python SDK script")
}

#[test]
fn python_sdk_over_tls_and_mtls() {
    let pki = certs::generate(&["localhost", "127.0.0.1"]);
    let rt = common::runtime(1);
    let sink = Sink::start(&rt);
    let (grpc, http) = (free_port(), free_port());
    let sluice = Sluice::start(&format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
        tls:
          cert_file: {cert}
          key_file: {key}
      http:
        endpoint: 127.0.0.1:{http}
        tls:
          cert_file: {cert}
          key_file: {key}
          client_ca_file: {ca}
exporters:
  otlp_grpc:
    endpoint: {sink}
    tls: {{insecure: true}}
service:
  pipelines:
    traces: {{receivers: [otlp], exporters: [otlp_grpc]}}
"#,
        cert = pki.server_cert.display(),
        key = pki.server_key.display(),
        ca = pki.ca.display(),
        sink = sink.grpc
    ));
    wait_port(grpc);
    wait_port(http);

    let count = |service: &str| sink.spans_with_service(service);
    let ok = |out: &Output, what: &str| {
        assert!(
            out.status.success(),
            "{what}: {}\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            sluice.stderr()
        );
    };
    ok(
        &send("grpc", grpc, "py-grpc-tls", 20, &[("--ca", &pki.ca)]),
        "gRPC over TLS",
    );
    ok(
        &send(
            "http",
            http,
            "py-http-mtls",
            20,
            &[
                ("--ca", &pki.ca),
                ("--cert", &pki.client_cert),
                ("--key", &pki.client_key),
            ],
        ),
        "HTTP over mTLS",
    );
    let refused = send("http", http, "py-http-no-cert", 1, &[("--ca", &pki.ca)]);
    assert!(
        !refused.status.success(),
        "an SDK without a client certificate must be refused: {}",
        String::from_utf8_lossy(&refused.stdout)
    );
    let untrusting = send(
        "grpc",
        grpc,
        "py-grpc-wrong-ca",
        1,
        &[("--ca", &pki.other_ca)],
    );
    assert!(
        !untrusting.status.success(),
        "an SDK that does not trust the server's CA must fail"
    );

    assert!(
        wait_until(Duration::from_secs(20), || count("py-grpc-tls") == 20
            && count("py-http-mtls") == 20),
        "grpc {} http {}\n{}",
        count("py-grpc-tls"),
        count("py-http-mtls"),
        sluice.stderr()
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(count("py-grpc-tls"), 20);
    assert_eq!(count("py-http-mtls"), 20);
    assert_eq!(count("py-http-no-cert"), 0);
    assert_eq!(count("py-grpc-wrong-ca"), 0);
    let log = sluice.stderr();
    assert!(log.contains("peer sent no certificates"), "{log}");
}
