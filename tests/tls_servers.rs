//! TLS on Sluice's other HTTP servers: the health_check extension and the prometheus
//! exporter's endpoint, checked with Python's `requests` (not our code) trusting only the
//! test's CA; plaintext requests to them get no answer.

mod common;

use std::process::Command;

use common::certs;
use common::{free_port, python, wait_port, Sluice};

/// GETs `url` with Python requests trusting `ca`; returns "STATUS BODY" or the error.
fn https_get(url: &str, ca: &std::path::Path) -> String {
    let out = Command::new(python())
        .env_remove("REQUESTS_CA_BUNDLE")
        .env_remove("CURL_CA_BUNDLE")
        .args([
            "-c",
            "import sys, requests\ntry:\n r = requests.get(sys.argv[1], verify=sys.argv[2], timeout=10)\n print(r.status_code, r.text)\nexcept Exception as e:\n print('ERROR', e)",
            url,
        ])
        .arg(ca)
        .output()
        .expect("run python");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn health_check_and_prometheus_exporter_serve_tls() {
    let pki = certs::generate(&["localhost", "127.0.0.1"]);
    let (hc, prom, grpc) = (free_port(), free_port(), free_port());
    let tls = format!(
        "{{cert_file: {}, key_file: {}}}",
        pki.server_cert.display(),
        pki.server_key.display()
    );
    let _sluice = Sluice::start(&format!(
        r#"
extensions:
  health_check:
    endpoint: 127.0.0.1:{hc}
    tls: {tls}
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
exporters:
  prometheus:
    endpoint: 127.0.0.1:{prom}
    tls: {tls}
service:
  extensions: [health_check]
  pipelines:
    metrics: {{receivers: [otlp], exporters: [prometheus]}}
"#
    ));
    wait_port(hc);
    wait_port(prom);
    let health = https_get(&format!("https://localhost:{hc}/"), &pki.ca);
    assert!(
        health.starts_with("200 ") && health.contains("Server available"),
        "{health}"
    );
    let metrics = https_get(&format!("https://localhost:{prom}/metrics"), &pki.ca);
    assert!(metrics.starts_with("200"), "{metrics}");
    let wrong = https_get(&format!("https://localhost:{hc}/"), &pki.other_ca);
    assert!(
        wrong.starts_with("ERROR") && wrong.contains("CERTIFICATE_VERIFY_FAILED"),
        "{wrong}"
    );
    let plain = reqwest::blocking::get(format!("http://127.0.0.1:{hc}/"));
    assert!(
        plain.map(|r| r.status() != 200).unwrap_or(true),
        "plaintext must not be served on a TLS port"
    );
}
