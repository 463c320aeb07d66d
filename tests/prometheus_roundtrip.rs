//! Round trip of real node_exporter output through both Prometheus components: the exposition of
//! Debian's `prometheus-node-exporter` is captured once and served as a fixed target, Sluice's
//! `prometheus` receiver scrapes it and its `prometheus` exporter serves it again; every sample
//! of the capture (name, labels, value) must come back unchanged.

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{free_port, wait_port, wait_until, Sluice};
use sluice::receivers::prometheus::parser::{Entry, Format, Parser};

const NODE_EXPORTER: &str = "/usr/bin/prometheus-node-exporter";

struct Exporter(Child);

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

type Series = (String, Vec<(String, String)>);

/// Samples keyed by name and labels; `job`, `instance`, `otel_scope_*` and empty-valued labels
/// (the same as absent, for Prometheus) are left out and `le`/`quantile` are normalised as numbers.
fn samples(text: &str) -> HashMap<Series, f64> {
    let mut out = HashMap::new();
    for e in Parser::new(text, Format::Prometheus) {
        let Entry::Sample(s) = e.expect("exposition parses") else {
            continue;
        };
        let mut labels: Vec<(String, String)> = s
            .labels
            .iter()
            .filter(|(k, v)| {
                !v.is_empty()
                    && !matches!(k.as_ref(), "job" | "instance")
                    && !k.starts_with("otel_scope_")
            })
            .map(|(k, v)| {
                let v = if matches!(k.as_ref(), "le" | "quantile") {
                    v.parse::<f64>()
                        .map(|f| f.to_string())
                        .unwrap_or(v.to_string())
                } else {
                    v.to_string()
                };
                (k.to_string(), v)
            })
            .collect();
        labels.sort();
        out.insert((s.name.to_string(), labels), s.value);
    }
    out
}

fn http_get(port: u16) -> String {
    reqwest::blocking::get(format!("http://127.0.0.1:{port}/metrics"))
        .and_then(|r| r.text())
        .unwrap_or_default()
}

#[test]
fn node_exporter_samples_survive_receiver_and_exporter() {
    assert!(
        std::path::Path::new(NODE_EXPORTER).exists(),
        "{NODE_EXPORTER} is missing: run scripts/test.sh"
    );
    let node_port = free_port();
    let _node = Exporter(
        Command::new(NODE_EXPORTER)
            .arg(format!("--web.listen-address=127.0.0.1:{node_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start node_exporter"),
    );
    wait_port(node_port);
    let captured = http_get(node_port);
    let want = samples(&captured);
    assert!(
        want.len() > 100,
        "node_exporter exposed only {} samples",
        want.len()
    );

    // Serve the capture as a fixed target.
    let target = TcpListener::bind("127.0.0.1:0").unwrap();
    let target_port = target.local_addr().unwrap().port();
    let body = captured.clone();
    std::thread::spawn(move || {
        for mut c in target.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = c.read(&mut buf);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = c.write_all(head.as_bytes());
            let _ = c.write_all(body.as_bytes());
        }
    });

    let exp_port = free_port();
    let sluice = Sluice::start(&format!(
        r#"
receivers:
  prometheus:
    config:
      scrape_configs:
        - job_name: captured
          scrape_interval: 1s
          static_configs:
            - targets: ["127.0.0.1:{target_port}"]
exporters:
  prometheus:
    endpoint: 127.0.0.1:{exp_port}
    without_scope_info: true
service:
  pipelines:
    metrics:
      receivers: [prometheus]
      exporters: [prometheus]
"#
    ));
    wait_port(exp_port);
    let mut served = String::new();
    assert!(
        wait_until(Duration::from_secs(20), || {
            served = http_get(exp_port);
            served.contains("node_cpu_seconds_total")
        }),
        "the exporter never served node_exporter's samples:\n{}",
        sluice.stderr()
    );
    let got = samples(&served);
    let mut missing = Vec::new();
    let mut changed = Vec::new();
    for (series, v) in &want {
        match got.get(series) {
            None => missing.push(series.clone()),
            Some(g) if !(g == v || (g.is_nan() && v.is_nan())) => {
                changed.push((series.clone(), *v, *g))
            }
            Some(_) => {}
        }
    }
    assert!(
        missing.is_empty() && changed.is_empty(),
        "{} of {} samples missing (first: {:?}), {} changed (first: {:?})",
        missing.len(),
        want.len(),
        missing.first(),
        changed.len(),
        changed.first()
    );
}
