//! The pprof extension from a running `sluice`: a CPU profile taken while the daemon is busy
//! decodes as a gzip-compressed pprof protobuf with samples and symbolised functions; a
//! second profile meanwhile is refused with 409; heap stats come from jemalloc.

mod common;

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{free_port, wait_port, Sluice};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use sluice::extensions::pprof::proto::Profile;

fn spans(n: usize) -> Vec<u8> {
    common::encoded_spans(n, |i| Span {
        name: format!("span-{i}"),
        ..Default::default()
    })
}

#[test]
fn cpu_profile_and_heap_stats() {
    let (http, pp) = (free_port(), free_port());
    let _sluice = Sluice::start(&format!(
        r#"
extensions:
  pprof:
    endpoint: 127.0.0.1:{pp}
    sampling_rate: 250
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{http}
processors:
  batch:
exporters:
  debug:
    verbosity: basic
service:
  extensions: [pprof]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [debug]
"#
    ));
    wait_port(http);
    wait_port(pp);
    let base = format!("http://127.0.0.1:{pp}/debug/pprof");

    // Keep the daemon busy while it profiles itself (bounded: stops with the profile).
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let client = reqwest::blocking::Client::new();
            let body = spans(500);
            let mut sent = 0;
            while !stop.load(Ordering::Relaxed) && sent < 5_000 {
                let _ = client
                    .post(format!("http://127.0.0.1:{http}/v1/traces"))
                    .header("content-type", "application/x-protobuf")
                    .body(body.clone())
                    .send();
                sent += 1;
            }
        })
    };
    let profiler = {
        let url = format!("{base}/profile?seconds=2");
        std::thread::spawn(move || {
            reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap()
                .get(url)
                .send()
                .unwrap()
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    let busy = reqwest::blocking::get(format!("{base}/profile?seconds=1")).unwrap();
    assert_eq!(busy.status(), 409, "one profile at a time");
    let resp = profiler.join().unwrap();
    stop.store(true, Ordering::Relaxed);
    load.join().unwrap();
    assert_eq!(resp.status(), 200);
    let gz = resp.bytes().unwrap();
    assert_eq!(&gz[..2], &[0x1f, 0x8b], "gzip");
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut raw)
        .unwrap();
    let p = Profile::decode(raw.as_slice()).expect("pprof protobuf");
    let s = |i: i64| p.string_table[i as usize].clone();
    assert_eq!(s(p.sample_type[0].r#type), "samples");
    assert_eq!(s(p.sample_type[1].r#type), "cpu");
    assert_eq!(s(p.sample_type[1].unit), "nanoseconds");
    assert_eq!(p.period, 1_000_000_000 / 250);
    assert!(p.duration_nanos >= 1_900_000_000, "{}", p.duration_nanos);
    let samples: i64 = p.sample.iter().map(|s| s.value[0]).sum();
    assert!(samples >= 5, "only {samples} samples of a busy daemon");
    let names: Vec<String> = p.function.iter().map(|f| s(f.name)).collect();
    assert!(
        names.iter().any(|n| n.contains("sluice")),
        "no sluice function among {} symbols",
        names.len()
    );
    eprintln!(
        "profile: {} samples, {} stacks, {} functions",
        samples,
        p.sample.len(),
        p.function.len()
    );

    let heap = reqwest::blocking::get(format!("{base}/heap"))
        .unwrap()
        .text()
        .unwrap();
    assert!(heap.contains("# allocator: jemalloc"), "{heap}");
    let allocated: u64 = heap
        .lines()
        .find_map(|l| l.strip_prefix("allocated_bytes "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(allocated > 100_000, "{heap}");
    assert!(reqwest::blocking::get(format!("{base}/"))
        .unwrap()
        .text()
        .unwrap()
        .contains("profile"));
}
