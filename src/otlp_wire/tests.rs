use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, ArrayValue};
use opentelemetry_proto::tonic::metrics::v1::metric::Data as MetricData;
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use prost::Message;

use super::*;
use crate::loadgen::payload;
use crate::signal::Data;

#[test]
fn counts_what_the_decoder_counts_for_every_signal() {
    let mut ids = payload::IdGen::new(1, 0);
    let cases = [
        Data::Traces(payload::traces(37, &mut ids)),
        Data::Metrics(payload::metrics(41)),
        Data::Logs(payload::logs(23, &mut ids)),
        Data::Traces(ExportTraceServiceRequest::default()),
    ];
    for data in cases {
        let bytes = crate::signal::encode(&data);
        assert_eq!(
            check(data.signal(), &bytes),
            Ok(data.item_count()),
            "{}",
            data.signal()
        );
    }
}

#[test]
fn a_metric_counts_only_its_last_kind_of_data_as_prost_keeps_it() {
    // Two Metric messages concatenated on the wire merge into one whose `data` oneof is the
    // last one seen: a gauge with 2 points, then a sum with 3, then more sum points (merged).
    let points = |n| {
        (0..n)
            .map(|_| NumberDataPoint::default())
            .collect::<Vec<_>>()
    };
    let part = |data| Metric {
        name: "m".into(),
        data: Some(data),
        ..Default::default()
    };
    let mut metric_bytes = part(MetricData::Gauge(Gauge {
        data_points: points(2),
    }))
    .encode_to_vec();
    for n in [3, 4] {
        metric_bytes.extend(
            part(MetricData::Sum(Sum {
                data_points: points(n),
                ..Default::default()
            }))
            .encode_to_vec(),
        );
    }
    let decoded = Metric::decode(&metric_bytes[..]).unwrap();
    let req = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![decoded],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    assert_eq!(Data::Metrics(req.clone()).item_count(), 7);
    // Build the same request around the raw (unmerged) metric bytes.
    let mut sm = Vec::new();
    prost::encoding::encode_key(2, prost::encoding::WireType::LengthDelimited, &mut sm);
    prost::encoding::encode_varint(metric_bytes.len() as u64, &mut sm);
    sm.extend(&metric_bytes);
    let mut rm = Vec::new();
    prost::encoding::bytes::encode(2, &sm, &mut rm);
    let mut body = Vec::new();
    prost::encoding::bytes::encode(1, &rm, &mut body);
    let decoded = ExportMetricsServiceRequest::decode(&body[..]).unwrap();
    assert_eq!(Data::Metrics(decoded).item_count(), 7);
    assert_eq!(check(Signal::Metrics, &body), Ok(7));
}

#[test]
fn refuses_what_the_decoder_refuses() {
    let mut ids = payload::IdGen::new(1, 0);
    let good = payload::traces(2, &mut ids).encode_to_vec();
    let mut bad_utf8 = payload::traces(1, &mut ids);
    bad_utf8.resource_spans[0].scope_spans[0].spans[0].name = "NAME".into();
    let mut bad_utf8 = bad_utf8.encode_to_vec();
    let at = bad_utf8.windows(4).position(|w| w == b"NAME").unwrap();
    bad_utf8[at] = 0xff;
    let mut wrong_wire = Vec::new();
    // resource_spans (field 1) as a varint
    prost::encoding::uint64::encode(1, &7, &mut wrong_wire);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("garbage", b"\xff\xff\xff\xffgarbage".to_vec()),
        ("truncated", good[..good.len() - 3].to_vec()),
        ("bad utf-8 in a span name", bad_utf8),
        ("wrong wire type", wrong_wire),
        ("field 0", vec![0x02, 0x00]),
        ("group wire type", vec![0x0b]),
    ];
    for (what, body) in cases {
        let ours = check(Signal::Traces, &body);
        let prost = ExportTraceServiceRequest::decode(&body[..]);
        assert!(ours.is_err(), "{what}: accepted");
        assert!(
            prost.is_err(),
            "{what}: prost accepts it, the test is wrong"
        );
    }
    assert_eq!(check(Signal::Traces, &good), Ok(2));
}

#[test]
fn refuses_nesting_deeper_than_the_decoder_allows() {
    let mut v = AnyValue {
        value: Some(any_value::Value::IntValue(1)),
    };
    for _ in 0..120 {
        v = AnyValue {
            value: Some(any_value::Value::ArrayValue(ArrayValue { values: vec![v] })),
        };
    }
    let mut ids = payload::IdGen::new(1, 0);
    let mut req = payload::traces(1, &mut ids);
    req.resource_spans[0].scope_spans[0].spans[0].attributes[0].value = Some(v);
    let body = req.encode_to_vec();
    assert!(ExportTraceServiceRequest::decode(&body[..]).is_err());
    assert!(check(Signal::Traces, &body).is_err());
}

#[test]
fn skips_unknown_fields_as_the_decoder_does() {
    let mut ids = payload::IdGen::new(1, 0);
    let mut body = payload::traces(3, &mut ids).encode_to_vec();
    prost::encoding::string::encode(99, &"future field".to_string(), &mut body);
    prost::encoding::fixed32::encode(98, &5, &mut body);
    assert!(ExportTraceServiceRequest::decode(&body[..]).is_ok());
    assert_eq!(check(Signal::Traces, &body), Ok(3));
}

#[test]
fn whatever_it_accepts_prost_decodes_with_the_same_count() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x51u64);
    let mut ids = payload::IdGen::new(7, 0);
    let (mut accepted, mut refused) = (0, 0);
    for signal in Signal::ALL {
        let good = crate::signal::encode(&payload::request(signal, 3, &mut ids)).to_vec();
        for _ in 0..3000 {
            let mut body = good.clone();
            for _ in 0..rng.random_range(1..4) {
                let at = rng.random_range(0..body.len());
                match rng.random_range(0..4) {
                    0 => body[at] = rng.random(),
                    1 => body[at] ^= 1 << rng.random_range(0..8),
                    2 => body.truncate(at),
                    _ => body.insert(at, rng.random()),
                }
                if body.is_empty() {
                    break;
                }
            }
            match check(signal, &body) {
                Ok(n) => {
                    accepted += 1;
                    let decoded = crate::payload::decode_request(signal, &body)
                        .unwrap_or_else(|e| panic!("{signal}: accepted, prost refuses: {e}"));
                    assert_eq!(decoded.item_count(), n, "{signal}: count differs");
                }
                Err(_) => refused += 1,
            }
        }
    }
    // Both outcomes were exercised.
    assert!(
        accepted > 100 && refused > 100,
        "{accepted} accepted, {refused} refused"
    );
}

/// Found by the `otlp_proto` fuzz target: `[0x63, 0xe4, 0x00]` (an empty group for unknown
/// field 12 of a logs request) decodes with prost but was refused as "unsupported wire type".
/// Unknown groups are skipped like any unknown field; malformed groups are still refused.
#[test]
fn skips_unknown_groups_as_the_decoder_does() {
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    let crash = [0x63, 0xe4, 0x00];
    assert!(ExportLogsServiceRequest::decode(&crash[..]).is_ok());
    assert_eq!(check(Signal::Logs, &crash), Ok(0));
    // A group with fields of every wire type and a nested group, then a real log record.
    let mut body = vec![0x63, 0x08, 0x01, 0x11];
    body.extend([0; 8]);
    body.extend([0x1a, 0x02, b'h', b'i', 0x25, 0, 0, 0, 0, 0x2b, 0x2c, 0x64]);
    let logs = ExportLogsServiceRequest::decode(&body[..]).unwrap();
    assert_eq!(logs.resource_logs.len(), 0);
    assert_eq!(check(Signal::Logs, &body), Ok(0));
    // Unterminated, mismatched and stray end groups, and groups on known fields, are refused
    // by both.
    for bad in [
        &[0x63][..],
        &[0x63, 0x6c][..],
        &[0x64][..],
        &[0x0b, 0x0c][..],
    ] {
        assert!(ExportLogsServiceRequest::decode(bad).is_err(), "{bad:?}");
        assert!(check(Signal::Logs, bad).is_err(), "{bad:?}");
    }
}
