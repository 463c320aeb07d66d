//! OTLP protobuf requests through the OTLP receivers' decode paths, for all three signals:
//! the HTTP receiver's body path (`decode_http_body`: Content-Encoding identity/gzip/zstd/
//! deflate under a decompressed-size limit, then the wire check that counts items and keeps
//! the request encoded) and the gRPC receiver's (`Encoded::parse` on the unframed message),
//! then the decode pipelines do when they need the data (`Payload::decode_in_place`).
//!
//! Differential checks: the hand-written wire check (`otlp_wire::check`) accepts exactly what
//! prost decodes and counts the same items; re-encoding is stable.
//!
//! Input: byte 0 picks the signal (`% 3`) and the Content-Encoding (`/ 3 % 4`); the rest is
//! the request body.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use sluice::payload::{Encoded, Payload};
use sluice::receivers::otlp::{decode_http_body, BodyError};
use sluice::signal::{Data, Signal};

/// A small limit so decompression bombs hit it quickly (the receiver default is 20 MiB).
const LIMIT: u64 = 1 << 20;
const SIGNALS: [Signal; 3] = [Signal::Traces, Signal::Metrics, Signal::Logs];
const ENCODINGS: [&str; 4] = ["", "gzip", "zstd", "deflate"];

fn encode(d: &Data) -> Vec<u8> {
    match d {
        Data::Traces(r) => r.encode_to_vec(),
        Data::Metrics(r) => r.encode_to_vec(),
        Data::Logs(r) => r.encode_to_vec(),
    }
}

/// prost's own decoding, the reference.
fn prost_decode(signal: Signal, body: &[u8]) -> Result<Data, prost::DecodeError> {
    Ok(match signal {
        Signal::Traces => Data::Traces(ExportTraceServiceRequest::decode(body)?),
        Signal::Metrics => Data::Metrics(ExportMetricsServiceRequest::decode(body)?),
        Signal::Logs => Data::Logs(ExportLogsServiceRequest::decode(body)?),
    })
}

fuzz_target!(|input: &[u8]| {
    let Some((&sel, body)) = input.split_first() else {
        return;
    };
    let signal = SIGNALS[(sel % 3) as usize];
    let encoding = ENCODINGS[((sel / 3) % 4) as usize];
    let http = decode_http_body(signal, false, encoding, body, LIMIT);
    if encoding.is_empty() {
        // Uncompressed: the gRPC path, the HTTP path and prost agree.
        let grpc = Encoded::parse(signal, Bytes::copy_from_slice(body));
        let reference = prost_decode(signal, body);
        match (&grpc, &reference) {
            (Ok(e), Ok(d)) => {
                assert_eq!(e.item_count(), d.item_count(), "wire check miscounts");
                assert_eq!(e.encoded_len(), body.len());
                assert_eq!(
                    encode(&e.decode().expect("checked request decodes")),
                    encode(d)
                );
            }
            (Err(_), Err(_)) => {}
            _ => panic!("wire check and prost disagree: {grpc:?} vs {reference:?}"),
        }
        match &http {
            Err(BodyError::TooLarge) => assert!(body.len() as u64 > LIMIT),
            r => assert_eq!(r.is_ok(), grpc.is_ok(), "HTTP and gRPC paths disagree"),
        }
    }
    let Ok(mut payload) = http else { return };
    assert_eq!(payload.signal(), signal);
    let items = payload.item_count();
    let len = payload.encoded_len();
    let bytes = payload.to_bytes();
    assert_eq!(bytes.len(), len);
    let (data, error) = payload.decode_in_place();
    assert!(
        error.is_none(),
        "a checked request failed to decode: {error:?}"
    );
    assert_eq!(data.item_count(), items);
    let again = encode(data);
    let reparsed = Encoded::parse(signal, Bytes::from(again.clone())).expect("re-encoded parses");
    assert_eq!(reparsed.item_count(), items);
    assert!(matches!(payload, Payload::Decoded(_)));
    let _ = sluice::otlp_json::encode_data(&prost_decode(signal, &again).unwrap());
});
