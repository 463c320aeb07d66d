//! The zpages extension over HTTP from a running `sluice`: each page answers HTML, pipelinez
//! shows the live counts of what the test sent, tracez the per-export spans, servicez the
//! config with secrets redacted. With Debian's chromium installed, a real browser renders
//! pipelinez and tracez (`--dump-dom`) and saves a screenshot to target/zpages.png.

mod common;

use std::process::Command;
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

fn get(url: &str) -> (u16, String, String) {
    let r = reqwest::blocking::get(url).unwrap();
    let code = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (code, ct, r.text().unwrap())
}

const N: usize = 37;

fn start(sink: &Sink) -> (Sluice, u16) {
    let (http, zp) = (free_port(), free_port());
    let sluice = Sluice::start(&format!(
        r#"
extensions:
  zpages:
    endpoint: 127.0.0.1:{zp}
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{http}
processors:
  batch/fast:
    timeout: 50ms
exporters:
  otlp_grpc/sink:
    endpoint: {sink}
    tls: {{insecure: true}}
    headers:
      authorization: Bearer zp-very-secret-token
service:
  extensions: [zpages]
  pipelines:
    traces/zp:
      receivers: [otlp]
      processors: [batch/fast]
      exporters: [otlp_grpc/sink]
"#,
        sink = sink.grpc
    ));
    wait_port(http);
    wait_port(zp);
    for n in [10, 20, 7] {
        let r = reqwest::blocking::Client::new()
            .post(format!("http://127.0.0.1:{http}/v1/traces"))
            .header("content-type", "application/x-protobuf")
            .body(spans(n))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    assert!(wait_until(Duration::from_secs(10), || sink.spans().len() == N));
    (sluice, zp)
}

#[test]
fn pages_show_live_state() {
    let rt = common::runtime(1);
    let sink = Sink::start(&rt);
    let (_sluice, zp) = start(&sink);
    let base = format!("http://127.0.0.1:{zp}/debug");

    let mut page = String::new();
    assert!(
        wait_until(Duration::from_secs(5), || {
            page = get(&format!("{base}/pipelinez")).2;
            page.contains(&format!("<td>sent</td><td class=\"n\">{N}</td>"))
        }),
        "{page}"
    );
    for want in [
        "Pipeline <code>traces/zp</code>",
        &format!("<code>otlp</code><table><tr><td>accepted</td><td class=\"n\">{N}</td>"),
        &format!("<td>incoming</td><td class=\"n\">{N}</td>"),
        &format!("<td>outgoing</td><td class=\"n\">{N}</td>"),
        "<code>batch/fast</code>",
        "<code>otlp_grpc/sink</code>",
    ] {
        assert!(page.contains(want), "{want}\n{page}");
    }

    let (code, ct, tracez) = get(&format!("{base}/tracez"));
    assert_eq!(code, 200);
    assert!(ct.starts_with("text/html"), "{ct}");
    assert!(
        tracez.contains("<code>exporter/otlp_grpc/sink/export</code>"),
        "{tracez}"
    );
    let sample = get(&format!(
        "{base}/tracez?name=exporter%2Fotlp_grpc%2Fsink%2Fexport&bucket=4"
    ))
    .2;
    let any_bucket = (0..9).any(|b| {
        get(&format!(
            "{base}/tracez?name=exporter%2Fotlp_grpc%2Fsink%2Fexport&bucket={b}"
        ))
        .2
        .contains("items=")
    });
    assert!(any_bucket, "{sample}");

    let servicez = get(&format!("{base}/servicez")).2;
    assert!(servicez.contains(env!("CARGO_PKG_VERSION")));
    assert!(servicez.contains("running since"), "{servicez}");
    assert!(servicez.contains("otlp_grpc/sink"));
    assert!(!servicez.contains("zp-very-secret-token"), "secret leaked");
    assert!(servicez.contains("[REDACTED]"));

    assert!(get(&format!("{base}/extensionz"))
        .2
        .contains("<code>zpages</code>"));
    assert!(get(&format!("{base}/featurez"))
        .2
        .contains("<code>health_check</code>"));
    assert_eq!(get(&format!("{base}/nope")).0, 404);
}

/// The headless browser, if installed (scripts/test.sh installs Debian's `chromium`).
fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

fn browser(bin: &str, profile: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-dev-shm-usage",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_real_browser_renders_pipelinez_and_tracez() {
    let Some(bin) = chromium() else {
        eprintln!("SKIPPED: chromium is not installed (scripts/test.sh installs it)");
        return;
    };
    let rt = common::runtime(1);
    let sink = Sink::start(&rt);
    let (_sluice, zp) = start(&sink);
    let base = format!("http://127.0.0.1:{zp}/debug");
    let profile = tempfile::tempdir().unwrap();
    assert!(wait_until(Duration::from_secs(5), || get(&format!(
        "{base}/pipelinez"
    ))
    .2
    .contains(&format!("<td>sent</td><td class=\"n\">{N}</td>"))));

    let dom = browser(
        bin,
        profile.path(),
        &["--dump-dom", &format!("{base}/pipelinez")],
    );
    assert!(dom.contains("<title>Pipelines · Sluice</title>"), "{dom}");
    assert!(dom.contains("Pipeline <code>traces/zp</code>"), "{dom}");
    assert!(
        dom.contains(&format!("<td>accepted</td><td class=\"n\">{N}</td>")),
        "{dom}"
    );
    assert!(
        dom.contains(&format!("<td>sent</td><td class=\"n\">{N}</td>")),
        "{dom}"
    );

    let dom = browser(
        bin,
        profile.path(),
        &["--dump-dom", &format!("{base}/tracez")],
    );
    assert!(dom.contains("exporter/otlp_grpc/sink/export"), "{dom}");
    assert!(dom.contains("[1ms, 10ms)"), "{dom}");

    let shot = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/zpages.png");
    let _ = std::fs::remove_file(&shot);
    browser(
        bin,
        profile.path(),
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1280,800",
            &format!("{base}/pipelinez"),
        ],
    );
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    assert!(
        png.len() > 5_000,
        "screenshot too small: {} bytes",
        png.len()
    );
}
