//! Hot reload: SIGHUP, the health_check reload endpoint and `--watch-config` re-read the
//! config; an invalid one is rejected and the old pipelines keep running; valid ones are
//! swapped in while a client keeps sending, and every acknowledged span reaches the sink.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::sink::Sink;
use common::{free_port, wait_port, wait_until, Sluice};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

const PER_REQUEST: u64 = 10;

fn request(first: u64) -> Vec<u8> {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: (first..first + PER_REQUEST)
                    .map(|id| Span {
                        name: "r".into(),
                        trace_id: vec![7; 16],
                        span_id: id.to_be_bytes().to_vec(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

fn config(http: u16, hc: u16, sink: &str, timeout_ms: u64) -> String {
    config_with(http, hc, sink, timeout_ms, "gzip")
}

fn config_with(http: u16, hc: u16, sink: &str, timeout_ms: u64, compression: &str) -> String {
    format!(
        r#"
extensions:
  health_check:
    endpoint: 127.0.0.1:{hc}
    reload:
      enabled: true
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{http}
processors:
  batch:
    timeout: {timeout_ms}ms
    send_batch_size: 200
exporters:
  otlp_grpc:
    endpoint: {sink}
    tls: {{insecure: true}}
    compression: {compression}
service:
  extensions: [health_check]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [otlp_grpc]
"#
    )
}

/// Posts one request of spans `first..first+10` on an open HTTP/1.1 keep-alive connection and
/// returns the status code; the connection stays open for the next request.
fn post_on(conn: &mut std::net::TcpStream, http: u16, first: u64) -> u16 {
    use std::io::{BufRead, BufReader, Read, Write};
    let body = request(first);
    let head = format!(
        "POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1:{http}\r\nContent-Type: application/x-protobuf\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).unwrap();
    conn.write_all(&body).unwrap();
    let mut r = BufReader::new(conn.try_clone().unwrap());
    let mut status = String::new();
    r.read_line(&mut status).unwrap();
    let code: u16 = status.split(' ').nth(1).unwrap_or("0").parse().unwrap_or(0);
    let mut len = 0usize;
    loop {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        if line.trim().is_empty() {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap();
        }
    }
    let mut rest = vec![0; len];
    r.read_exact(&mut rest).unwrap();
    code
}

fn reloads_done(s: &Sluice) -> usize {
    s.stderr().matches("reload complete").count()
}

/// Sends requests of 10 unique span IDs until told to stop; a request is acknowledged
/// when answered 200, and retried (same IDs) otherwise, as an SDK would.
fn sender(
    http: u16,
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<HashSet<u64>>>,
) -> std::thread::JoinHandle<(u64, u64)> {
    std::thread::spawn(move || {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let (mut next, mut retries) = (1u64, 0u64);
        let started = Instant::now();
        while !stop.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(120) {
            let ok = client
                .post(format!("http://127.0.0.1:{http}/v1/traces"))
                .header("content-type", "application/x-protobuf")
                .body(request(next))
                .send()
                .is_ok_and(|r| r.status() == 200);
            if ok {
                acked.lock().unwrap().extend(next..next + PER_REQUEST);
                next += PER_REQUEST;
            } else {
                retries += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        (next - 1, retries)
    })
}

#[test]
fn ten_reloads_under_load_lose_nothing() {
    let rt = common::runtime(1);
    let sink = Sink::start(&rt);
    let (http, hc) = (free_port(), free_port());
    let sink_addr = sink.grpc.to_string();
    let sluice = Sluice::start(&config(http, hc, &sink_addr, 100));
    wait_port(http);
    wait_port(hc);

    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(HashSet::new()));
    // One connection opened before the reloads: it survives them all, because the unchanged
    // receiver is rerouted, never restarted.
    let mut kept_conn = std::net::TcpStream::connect(("127.0.0.1", http)).unwrap();
    kept_conn
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    const KEPT_IDS: u64 = 1 << 40;
    assert_eq!(post_on(&mut kept_conn, http, KEPT_IDS), 200);
    let client = sender(http, stop.clone(), acked.clone());

    const RELOADS: usize = 10;
    for i in 1..=RELOADS {
        std::thread::sleep(Duration::from_millis(300));
        let timeout = if i % 2 == 1 { 250 } else { 100 };
        // Every fourth reload also changes the exporter: the old one drains its queue while
        // the new one takes over.
        let compression = if (i / 4) % 2 == 1 { "none" } else { "gzip" };
        let cfg = config_with(http, hc, &sink_addr, timeout, compression);
        std::fs::write(&sluice.config, &cfg).unwrap();
        if i == 5 {
            // An invalid config in between: rejected, the old pipelines keep running.
            std::fs::write(
                &sluice.config,
                config(http, hc, &sink_addr, 100)
                    .replace("batch:\n    timeout", "batch:\n    timeot"),
            )
            .unwrap();
            let r = reqwest::blocking::Client::new()
                .post(format!("http://127.0.0.1:{hc}/reload"))
                .send()
                .unwrap();
            assert_eq!(r.status(), 400);
            let body = r.text().unwrap();
            assert!(body.contains("timeot"), "{body}");
            std::fs::write(&sluice.config, &cfg).unwrap();
        }
        if i % 3 == 0 {
            // Through the health_check reload endpoint (it answers before the swap).
            let r = reqwest::blocking::Client::new()
                .post(format!("http://127.0.0.1:{hc}/reload"))
                .send()
                .unwrap();
            assert_eq!(r.status(), 200);
        } else {
            std::process::Command::new("kill")
                .args(["-HUP", &sluice.pid().to_string()])
                .status()
                .unwrap();
        }
        assert!(
            wait_until(Duration::from_secs(20), || reloads_done(&sluice) == i),
            "reload {i} did not complete:\n{}",
            sluice.stderr()
        );
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let (last, retries) = client.join().unwrap();
    assert_eq!(
        post_on(&mut kept_conn, http, KEPT_IDS + PER_REQUEST),
        200,
        "the connection opened before the reloads still works"
    );
    let mut acked = acked.lock().unwrap().clone();
    acked.extend(KEPT_IDS..KEPT_IDS + 2 * PER_REQUEST);
    // The receiver and health_check were never restarted; the pipeline (its batch processor
    // changed) was replaced every time, the exporter only when its compression changed.
    let log = sluice.stderr();
    let applied: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("config applied"))
        .collect();
    assert_eq!(applied.len(), RELOADS, "{log}");
    let mut exporter_replaced = 0;
    for line in &applied {
        let kept = line
            .split(" kept=")
            .nth(1)
            .unwrap()
            .split(" started=")
            .next()
            .unwrap();
        assert!(kept.contains("extension health_check"), "{line}");
        assert!(kept.contains("receiver otlp"), "{line}");
        let started = line
            .split(" started=")
            .nth(1)
            .unwrap()
            .split(" stopped=")
            .next()
            .unwrap();
        assert!(started.contains("pipeline traces"), "{line}");
        if started.contains("exporter otlp_grpc") {
            exporter_replaced += 1;
        } else {
            assert!(kept.contains("exporter otlp_grpc"), "{line}");
        }
    }
    // Compression changes at reloads 4 and 8.
    assert_eq!(exporter_replaced, 2, "{applied:#?}");
    assert!(
        acked.len() as u64 >= 20 * PER_REQUEST,
        "too little traffic: {}",
        acked.len()
    );
    let received = || -> HashSet<u64> {
        sink.spans()
            .iter()
            .map(|s| u64::from_be_bytes(s.span_id.as_slice().try_into().unwrap()))
            .collect()
    };
    let ok = wait_until(Duration::from_secs(10), || acked.is_subset(&received()));
    let got = received();
    let lost: Vec<u64> = acked.difference(&got).copied().take(20).collect();
    eprintln!(
        "reloads: {RELOADS} (+1 rejected); acknowledged spans: {}; received unique: {}; \
         lost: {}; client retries: {retries}; last id sent {last}",
        acked.len(),
        got.len(),
        acked.difference(&got).count()
    );
    assert!(
        ok && lost.is_empty(),
        "lost acknowledged spans, e.g. {lost:?}"
    );
    assert!(sluice.stderr().contains("new config rejected"));
}

#[test]
fn watch_config_reloads_on_change() {
    let rt = common::runtime(1);
    let sink = Sink::start(&rt);
    let (http, hc, http2) = (free_port(), free_port(), free_port());
    let sink_addr = sink.grpc.to_string();
    let sluice = Sluice::start_with_args(&config(http, hc, &sink_addr, 100), &["--watch-config"]);
    wait_port(http);
    // Move the receiver to another port: the change is picked up without a signal.
    std::thread::sleep(Duration::from_millis(1100));
    std::fs::write(&sluice.config, config(http2, hc, &sink_addr, 100)).unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || reloads_done(&sluice) == 1),
        "{}",
        sluice.stderr()
    );
    wait_port(http2);
    let r = reqwest::blocking::Client::new()
        .post(format!("http://127.0.0.1:{http2}/v1/traces"))
        .header("content-type", "application/x-protobuf")
        .body(request(1))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(wait_until(Duration::from_secs(5), || sink.spans().len()
        == PER_REQUEST as usize));
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", http)).is_err(),
        "old port closed"
    );
}

#[test]
fn own_metrics_endpoint_moves_on_reload() {
    let rt = common::runtime(1);
    let sink = Sink::start(&rt);
    let (http, hc, m1, m2) = (free_port(), free_port(), free_port(), free_port());
    let sink_addr = sink.grpc.to_string();
    let with_metrics = |port: u16| {
        config(http, hc, &sink_addr, 100)
            + &format!("  telemetry:\n    metrics:\n      address: 127.0.0.1:{port}\n")
    };
    let sluice = Sluice::start(&with_metrics(m1));
    wait_port(m1);
    let scrape = |port: u16| {
        reqwest::blocking::get(format!("http://127.0.0.1:{port}/metrics"))
            .and_then(|r| r.text())
            .unwrap_or_default()
    };
    assert!(scrape(m1).contains("otelcol_process_uptime"));
    std::fs::write(&sluice.config, with_metrics(m2)).unwrap();
    std::process::Command::new("kill")
        .args(["-HUP", &sluice.pid().to_string()])
        .status()
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || reloads_done(&sluice) == 1),
        "{}",
        sluice.stderr()
    );
    wait_port(m2);
    assert!(scrape(m2).contains("otelcol_process_uptime"));
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", m1)).is_err(),
        "the old metrics port is closed"
    );
}
