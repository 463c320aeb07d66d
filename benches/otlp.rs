//! OTLP codec benchmarks on 1000-item requests of the load generator's payload shape:
//! protobuf decode and encode (together, the bound of a pipeline that decodes what it receives
//! and encodes what it sends), the wire check that replaces them when no processor needs the
//! data (`otlp_wire::check`), and JSON decode.
//!
//! `benches/e2e.sh` reads `target/criterion/otlp/{decode,encode}/<signal>/new/estimates.json`
//! for the bound in its report.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use sluice::loadgen::payload;
use sluice::otlp_json;
use sluice::signal::{Data, Signal};

/// Items per request.
const ITEMS: usize = 1000;

fn decode(signal: Signal, bytes: &[u8]) -> Data {
    match signal {
        Signal::Traces => Data::Traces(ExportTraceServiceRequest::decode(bytes).unwrap()),
        Signal::Metrics => Data::Metrics(ExportMetricsServiceRequest::decode(bytes).unwrap()),
        Signal::Logs => Data::Logs(ExportLogsServiceRequest::decode(bytes).unwrap()),
    }
}

fn encode(data: &Data) -> Vec<u8> {
    match data {
        Data::Traces(r) => r.encode_to_vec(),
        Data::Metrics(r) => r.encode_to_vec(),
        Data::Logs(r) => r.encode_to_vec(),
    }
}

fn codec(c: &mut Criterion) {
    let mut g = c.benchmark_group("otlp");
    g.throughput(Throughput::Elements(ITEMS as u64));
    for signal in Signal::ALL {
        let bytes = payload::encoded(signal, ITEMS);
        let data = payload::batch(signal, ITEMS).into_data();
        let json = otlp_json::encode_data(&data);
        g.bench_with_input(BenchmarkId::new("decode", signal), &bytes, |b, bytes| {
            b.iter(|| decode(signal, black_box(bytes)))
        });
        g.bench_with_input(BenchmarkId::new("encode", signal), &data, |b, data| {
            b.iter(|| encode(black_box(data)))
        });
        // What a pass-through pipeline does instead of decode + encode: check and count.
        g.bench_with_input(BenchmarkId::new("check", signal), &bytes, |b, bytes| {
            b.iter(|| sluice::otlp_wire::check(signal, black_box(bytes)).unwrap())
        });
        g.bench_with_input(BenchmarkId::new("decode_json", signal), &json, |b, json| {
            b.iter(|| otlp_json::decode_data(signal, black_box(json)).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
