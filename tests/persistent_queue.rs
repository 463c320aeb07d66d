//! Fault tests for the persistent sending queue (`sending_queue.storage: file_storage`):
//! crashes under load, a backend down for longer than the retry budget, shutdown with a full
//! queue, and a corrupted segment. Every item a client saw acknowledged must reach the sink;
//! duplicates are allowed (at least once) and reported.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::sink::Sink;
use common::{free_port, wait_port, wait_until, Sluice};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

fn request(first_id: u64, n: u64) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: (first_id..first_id + n)
                    .map(|i| Span {
                        trace_id: [9; 16].to_vec(),
                        span_id: i.to_be_bytes().to_vec(),
                        name: format!("span-{i}"),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn config(grpc: u16, sink: u16, dir: &std::path::Path, fsync: bool) -> String {
    format!(
        r#"
extensions:
  file_storage/queue:
    directory: {dir}
    fsync: {fsync}
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
processors:
  batch:
    send_batch_size: 50
    timeout: 20ms
exporters:
  otlp:
    endpoint: 127.0.0.1:{sink}
    tls: {{insecure: true}}
    timeout: 5s
    retry_on_failure:
      initial_interval: 50ms
      max_interval: 200ms
      max_elapsed_time: 1s
    sending_queue:
      storage: file_storage/queue
      queue_size: 100000
service:
  extensions: [file_storage/queue]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [otlp]
"#,
        dir = dir.display()
    )
}

fn rt() -> tokio::runtime::Runtime {
    common::runtime(2)
}

/// Sends one request of `n` spans starting at `first`; true if Sluice acknowledged it.
fn send(rt: &tokio::runtime::Runtime, grpc: u16, first: u64, n: u64) -> bool {
    rt.block_on(async {
        let Ok(mut c) = TraceServiceClient::connect(format!("http://127.0.0.1:{grpc}")).await
        else {
            return false;
        };
        c.export(request(first, n)).await.is_ok()
    })
}

/// Received span IDs: (distinct, duplicates).
fn received(sink: &Sink) -> (HashSet<u64>, usize) {
    let spans = sink.spans();
    let mut ids = HashSet::new();
    let mut dups = 0;
    for s in spans {
        let id = u64::from_be_bytes(s.span_id.as_slice().try_into().unwrap());
        if !ids.insert(id) {
            dups += 1;
        }
    }
    (ids, dups)
}

#[test]
fn kill_9_under_load_five_times_loses_nothing_acknowledged() {
    let rt = rt();
    let dir = tempfile::tempdir().unwrap();
    let grpc = free_port();
    let sink_port = free_port();
    let sink = Sink::start_at(&rt, &format!("127.0.0.1:{sink_port}"));
    let cfg = config(grpc, sink_port, dir.path(), false);
    let mut sluice = Sluice::start(&cfg);
    wait_port(grpc);

    let acked = Arc::new(Mutex::new(Vec::<u64>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..2u64)
        .map(|c| {
            let acked = acked.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let rt = rt_small();
                let mut next = c << 40;
                while !stop.load(Ordering::Relaxed) {
                    if send(&rt, grpc, next, 10) {
                        acked.lock().unwrap().extend(next..next + 10);
                        next += 10;
                    } else {
                        std::thread::sleep(Duration::from_millis(20));
                        next += 10;
                    }
                }
            })
        })
        .collect();
    let mut problems = Vec::new();
    for round in 0..5 {
        std::thread::sleep(Duration::from_millis(700));
        sluice.kill9();
        let before = acked.lock().unwrap().len();
        sluice = Sluice::start(&cfg);
        wait_port(grpc);
        problems.push(format!(
            "round {round}: {before} acknowledged before the crash"
        ));
    }
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let acked: HashSet<u64> = acked.lock().unwrap().iter().copied().collect();
    let all = wait_until(Duration::from_secs(60), || {
        let (got, _) = received(&sink);
        acked.is_subset(&got)
    });
    let (got, dups) = received(&sink);
    let lost = acked.difference(&got).count();
    eprintln!(
        "kill -9 x5: {} spans acknowledged, {} distinct received, {lost} lost, {dups} duplicates\n{}",
        acked.len(),
        got.len(),
        problems.join("\n")
    );
    assert!(all, "{lost} acknowledged spans lost\n{}", sluice.stderr());
    assert!(
        acked.len() > 100,
        "the load was too small to prove anything"
    );
    assert_eq!(sluice.terminate(), 0);
}

fn rt_small() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn backend_down_longer_than_the_retry_budget_and_a_restart_lose_nothing() {
    let rt = rt();
    let dir = tempfile::tempdir().unwrap();
    let grpc = free_port();
    let sink_port = free_port();
    let telemetry = free_port();
    let cfg = config(grpc, sink_port, dir.path(), true)
        + &format!("  telemetry:\n    metrics:\n      address: 127.0.0.1:{telemetry}\n");
    let mut sluice = Sluice::start(&cfg);
    wait_port(grpc);
    // The backend is down: everything is acknowledged once it is on disk.
    for i in 0..20 {
        assert!(send(&rt, grpc, i * 10, 10), "request {i} refused");
    }
    // The persistent queue reports its fill like the in-memory one.
    let gauge = |name: &str| -> f64 {
        let body = reqwest::blocking::get(format!("http://127.0.0.1:{telemetry}/metrics"))
            .and_then(|r| r.text())
            .unwrap_or_default();
        body.lines()
            .find(|l| l.starts_with(name) && l.contains("exporter=\"otlp\""))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(-1.0)
    };
    assert_eq!(gauge("otelcol_exporter_queue_capacity"), 100000.0);
    let queued = gauge("otelcol_exporter_queue_size");
    assert!(
        queued >= 4.0,
        "200 spans in batches of at most 50 are queued: {queued}"
    );
    // Longer than max_elapsed_time (1s): upstream would drop these; a durable queue keeps them.
    std::thread::sleep(Duration::from_millis(2500));
    // A graceful stop with the queue full, then a restart (upstream has lost items here).
    assert_eq!(sluice.terminate(), 0);
    let mut sluice = Sluice::start(&cfg);
    wait_port(grpc);
    assert!(send(&rt, grpc, 200, 10));
    let sink = Sink::start_at(&rt, &format!("127.0.0.1:{sink_port}"));
    let want: HashSet<u64> = (0..210).collect();
    let ok = wait_until(Duration::from_secs(30), || {
        received(&sink).0.is_superset(&want)
    });
    let (got, dups) = received(&sink);
    eprintln!(
        "outage + restart: 210 acknowledged, {} received, {dups} duplicates",
        got.len()
    );
    assert!(
        ok,
        "lost {:?}\n{}",
        want.difference(&got).count(),
        sluice.stderr()
    );
    assert_eq!(sluice.terminate(), 0);
}

#[test]
fn a_corrupt_segment_tail_is_reported_and_intact_items_are_kept() {
    let rt = rt();
    let dir = tempfile::tempdir().unwrap();
    let grpc = free_port();
    let sink_port = free_port();
    let cfg = config(grpc, sink_port, dir.path(), true);
    let mut sluice = Sluice::start(&cfg);
    wait_port(grpc);
    for i in 0..10 {
        assert!(send(&rt, grpc, i * 10, 10));
        // One request per batch, so records map to requests.
        std::thread::sleep(Duration::from_millis(40));
    }
    assert_eq!(sluice.terminate(), 0);
    // Damage the end of the newest segment: flip bytes inside the last record.
    let mut segments: Vec<_> = walk(dir.path())
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    segments.sort();
    let last = segments.last().expect("a segment file");
    let mut bytes = std::fs::read(last).unwrap();
    let n = bytes.len();
    for b in &mut bytes[n - 20..n - 10] {
        *b ^= 0xff;
    }
    std::fs::write(last, &bytes).unwrap();

    let sink = Sink::start_at(&rt, &format!("127.0.0.1:{sink_port}"));
    let mut sluice = Sluice::start(&cfg);
    wait_port(grpc);
    let sent: HashSet<u64> = (0..100).collect();
    let ok = wait_until(Duration::from_secs(20), || received(&sink).0.len() >= 90);
    std::thread::sleep(Duration::from_millis(300));
    let (got, _) = received(&sink);
    let log = sluice.stderr();
    eprintln!("corrupt tail: {} of 100 spans kept", got.len());
    assert!(
        ok,
        "intact items were not replayed: {} received\n{log}",
        got.len()
    );
    assert!(got.is_subset(&sent), "garbage was replayed");
    assert!(
        log.contains("corrupt"),
        "the damage was not reported:\n{log}"
    );
    // It keeps working after the repair.
    assert!(send(&rt, grpc, 1000, 10));
    assert!(wait_until(Duration::from_secs(10), || received(&sink)
        .0
        .contains(&1009)));
    assert_eq!(sluice.terminate(), 0);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
