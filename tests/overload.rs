//! Overload: clients send several times what a stopped backend takes, in large requests, to a
//! pipeline with a small memory_limiter. Sluice's memory stays under the limit plus a
//! documented tolerance, clients get retryable errors, and once the backend is up every item
//! that was answered with success arrives, exactly once.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::sink::Sink;
use common::{free_port, wait_port, wait_until, Sluice};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

/// The memory_limiter's hard limit in the test config.
const LIMIT_MIB: u64 = 96;
/// Allowed RSS above the limit: the limiter bounds jemalloc's allocated bytes, while RSS also
/// holds the binary and libraries (~10 MiB), thread stacks, allocator metadata and dirty pages
/// not yet returned, and gRPC messages read and decompressed before admission (at most one
/// per concurrent stream, `max_recv_msg_size_mib` each).
const TOLERANCE_MIB: u64 = 32;

const MIB: u64 = 1024 * 1024;

fn attr(k: &str, v: String) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v)),
        }),
        ..Default::default()
    }
}

/// A request of `n` spans of about 1 KiB each, span IDs made from (client, request, index).
fn big_request(client: u32, req: u32, n: u32) -> ExportTraceServiceRequest {
    let spans = (0..n)
        .map(|i| {
            let mut span_id = [0u8; 8];
            span_id[0] = client as u8;
            span_id[1..4].copy_from_slice(&req.to_be_bytes()[1..]);
            span_id[4..].copy_from_slice(&i.to_be_bytes());
            Span {
                trace_id: [client as u8 + 1; 16].to_vec(),
                span_id: span_id.to_vec(),
                name: format!("c{client}-r{req}-s{i}"),
                attributes: (0..10)
                    .map(|a| attr(&format!("attribute.{a}"), format!("{a:0>80}")))
                    .collect(),
                ..Default::default()
            }
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(opentelemetry_proto::tonic::resource::v1::Resource {
                attributes: vec![attr("service.name", "overload".into())],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn span_ids(r: &ExportTraceServiceRequest) -> Vec<Vec<u8>> {
    r.resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
        .map(|s| s.span_id.clone())
        .collect()
}

fn rss_of(pid: u32) -> (u64, u64) {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| -> u64 {
        s.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[derive(Default)]
struct Outcome {
    accepted: Mutex<Vec<Vec<u8>>>,
    refused: AtomicU64,
    errors: Mutex<Vec<String>>,
}

#[test]
fn memory_stays_bounded_refusals_are_retryable_and_nothing_accepted_is_lost() {
    let rt = common::runtime(2);
    let grpc = free_port();
    let http = free_port();
    let backend = free_port();
    let mut sluice = Sluice::start(&format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
        max_recv_msg_size_mib: 8
      http:
        endpoint: 127.0.0.1:{http}
processors:
  memory_limiter:
    check_interval: 100ms
    limit_mib: {LIMIT_MIB}
    spike_limit_mib: 24
  batch:
    send_batch_size: 2000
    send_batch_max_size: 2000
exporters:
  otlp:
    endpoint: 127.0.0.1:{backend}
    tls:
      insecure: true
    timeout: 30s
    retry_on_failure:
      initial_interval: 100ms
      max_interval: 500ms
      max_elapsed_time: 0
service:
  telemetry:
    logs:
      level: info
  pipelines:
    traces:
      receivers: [otlp]
      processors: [memory_limiter, batch]
      exporters: [otlp]
"#
    ));
    wait_port(grpc);
    wait_port(http);
    let pid = sluice.pid();
    let (baseline, _) = rss_of(pid);

    // Clients: two over gRPC, two over HTTP, each sending ~3 MiB requests as fast as Sluice
    // answers, for a few seconds, while the backend is down.
    let outcome = Arc::new(Outcome::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for c in 0..4u32 {
        let outcome = outcome.clone();
        let stop = stop.clone();
        let handle = rt.handle().clone();
        clients.push(std::thread::spawn(move || {
            let mut grpc_client = (c % 2 == 0).then(|| {
                handle
                    .block_on(TraceServiceClient::connect(format!(
                        "http://127.0.0.1:{grpc}"
                    )))
                    .unwrap()
                    .max_encoding_message_size(usize::MAX)
            });
            let http_client = reqwest::blocking::Client::new();
            let mut r = 0u32;
            while !stop.load(Ordering::Relaxed) {
                r += 1;
                let req = big_request(c, r, 3000);
                let ids = span_ids(&req);
                let result: Result<(), (bool, String)> = match grpc_client.as_mut() {
                    Some(client) => handle
                        .block_on(client.export(req))
                        .map(|_| ())
                        .map_err(|s| (s.code() == tonic::Code::Unavailable, format!("grpc {s}"))),
                    None => {
                        let resp = http_client
                            .post(format!("http://127.0.0.1:{http}/v1/traces"))
                            .header("content-type", "application/x-protobuf")
                            .body(req.encode_to_vec())
                            .send();
                        match resp {
                            Ok(resp) if resp.status() == 200 => Ok(()),
                            Ok(resp) => {
                                let retry = resp.status() == 503
                                    && resp.headers().contains_key("retry-after");
                                Err((retry, format!("http {}", resp.status())))
                            }
                            Err(e) => Err((false, format!("http {e}"))),
                        }
                    }
                };
                match result {
                    Ok(()) => outcome.accepted.lock().unwrap().extend(ids),
                    Err((true, _)) => {
                        outcome.refused.fetch_add(1, Ordering::Relaxed);
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    Err((false, e)) => outcome.errors.lock().unwrap().push(e),
                }
            }
        }));
    }

    // Watch RSS while the clients push.
    let start = Instant::now();
    let mut peak = 0;
    while start.elapsed() < Duration::from_secs(6) {
        peak = peak.max(rss_of(pid).0);
        std::thread::sleep(Duration::from_millis(10));
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let (_, hwm) = rss_of(pid);
    let peak = peak.max(hwm);
    let accepted: Vec<Vec<u8>> = outcome.accepted.lock().unwrap().clone();
    let refused = outcome.refused.load(Ordering::Relaxed);
    let errors = outcome.errors.lock().unwrap().clone();
    eprintln!(
        "overload: baseline RSS {:.1} MiB, peak RSS {:.1} MiB (limit {LIMIT_MIB} MiB + {TOLERANCE_MIB} MiB tolerance); \
         {} spans accepted, {refused} requests refused with retryable errors, {} other errors",
        baseline as f64 / MIB as f64,
        peak as f64 / MIB as f64,
        accepted.len(),
        errors.len()
    );
    assert!(
        errors.is_empty(),
        "non-retryable errors: {errors:?}\n{}",
        sluice.stderr()
    );
    assert!(refused > 0, "clients were never pushed back");
    assert!(!accepted.is_empty(), "nothing was accepted");
    assert!(
        peak <= (LIMIT_MIB + TOLERANCE_MIB) * MIB,
        "peak RSS {} MiB over limit {LIMIT_MIB} MiB + {TOLERANCE_MIB} MiB",
        peak / MIB
    );
    let log = sluice.stderr();
    let warnings = log.matches("above the soft limit; refusing").count();
    assert!(warnings >= 1, "the limit was not logged:\n{log}");
    assert!(
        (warnings as u64) < refused,
        "logged per transition, not per request ({warnings} warnings, {refused} refusals)"
    );

    // The backend comes up: everything accepted arrives, exactly once.
    let sink = Sink::start_at(&rt, &format!("127.0.0.1:{backend}"));
    let want: HashSet<Vec<u8>> = accepted.iter().cloned().collect();
    assert_eq!(want.len(), accepted.len(), "span IDs are unique");
    let arrived = wait_until(Duration::from_secs(90), || {
        sink.spans().len() >= accepted.len()
    });
    let got: Vec<Vec<u8>> = sink.spans().into_iter().map(|s| s.span_id).collect();
    assert!(
        arrived,
        "only {} of {} accepted spans arrived",
        got.len(),
        accepted.len()
    );
    let got_set: HashSet<Vec<u8>> = got.iter().cloned().collect();
    assert_eq!(got.len(), got_set.len(), "no duplicates");
    assert_eq!(got_set, want, "exactly the accepted spans arrived");
    assert_eq!(sluice.terminate(), 0);
}
