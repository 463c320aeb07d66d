//! Decoding the OTLP specification's JSON examples, SDK-style string integers, and errors.

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::metrics::v1::{metric::Data as M, number_data_point};

use super::*;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/data/otlp_json/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[test]
fn decodes_the_spec_trace_example() {
    let req = decode_traces(&fixture("trace.json")).unwrap();
    let rs = &req.resource_spans[0];
    let span = &rs.scope_spans[0].spans[0];
    assert_eq!(
        hex::encode(&span.trace_id),
        "5b8efff798038103d269b633813fc60c"
    );
    assert_eq!(hex::encode(&span.span_id), "eee19b7ec3c1b174");
    assert_eq!(hex::encode(&span.parent_span_id), "eee19b7ec3c1b173");
    assert_eq!(span.name, "I'm a server span");
    assert_eq!(span.kind, 2);
    assert_eq!(span.start_time_unix_nano, 1544712660000000000);
    assert_eq!(span.end_time_unix_nano, 1544712661000000000);
    assert_eq!(span.attributes[0].key, "my.span.attr");
    let scope = rs.scope_spans[0].scope.as_ref().unwrap();
    assert_eq!(
        (scope.name.as_str(), scope.version.as_str()),
        ("my.library", "1.0.0")
    );
    let res = rs.resource.as_ref().unwrap();
    assert_eq!(
        res.attributes[0].value.as_ref().unwrap().value,
        Some(Value::StringValue("my.service".into()))
    );
}

#[test]
fn decodes_the_spec_metrics_example() {
    let req = decode_metrics(&fixture("metrics.json")).unwrap();
    let metrics = &req.resource_metrics[0].scope_metrics[0].metrics;
    assert_eq!(metrics.len(), 3);
    match &metrics[0].data {
        Some(M::Sum(s)) => {
            assert!(s.is_monotonic);
            assert_eq!(s.aggregation_temporality, 1);
            assert_eq!(
                s.data_points[0].value,
                Some(number_data_point::Value::AsDouble(5.0))
            );
        }
        other => panic!("{other:?}"),
    }
    match &metrics[2].data {
        Some(M::Histogram(h)) => {
            let p = &h.data_points[0];
            assert_eq!(p.count, 3);
            assert_eq!(p.bucket_counts, vec![1, 1, 1]);
            assert_eq!(p.explicit_bounds, vec![1.0]);
            assert_eq!((p.sum, p.min, p.max), (Some(3.0), Some(1.0), Some(1.0)));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn accepts_64_bit_fields_as_strings() {
    let req = decode_metrics(&fixture("metrics_strings.json")).unwrap();
    let metrics = &req.resource_metrics[0].scope_metrics[0].metrics;
    match &metrics[2].data {
        Some(M::Histogram(h)) => {
            assert_eq!(h.data_points[0].count, 3);
            assert_eq!(h.data_points[0].bucket_counts, vec![1, 1, 1]);
            assert_eq!(h.data_points[0].time_unix_nano, 1544712660300000000);
        }
        other => panic!("{other:?}"),
    }
    match &metrics[3].data {
        Some(M::Sum(s)) => {
            assert_eq!(
                s.data_points[0].value,
                Some(number_data_point::Value::AsInt(42))
            )
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn decodes_the_spec_logs_example_with_every_value_type() {
    let req = decode_logs(&fixture("logs.json")).unwrap();
    let rec = &req.resource_logs[0].scope_logs[0].log_records[0];
    assert_eq!(rec.severity_text, "Information");
    assert_eq!(
        hex::encode(&rec.trace_id),
        "5b8efff798038103d269b633813fc60c"
    );
    assert_eq!(
        rec.body.as_ref().unwrap().value,
        Some(Value::StringValue("Example log record".into()))
    );
    let kinds: Vec<&str> = rec
        .attributes
        .iter()
        .map(
            |kv| match kv.value.as_ref().unwrap().value.as_ref().unwrap() {
                Value::StringValue(_) => "string",
                Value::BoolValue(true) => "bool",
                Value::IntValue(10) => "int",
                Value::DoubleValue(_) => "double",
                Value::ArrayValue(a) if a.values.len() == 2 => "array",
                Value::KvlistValue(k) if k.values[0].key == "some.map.key" => "map",
                other => panic!("unexpected {other:?}"),
            },
        )
        .collect();
    assert_eq!(kinds, ["string", "bool", "int", "double", "array", "map"]);
}

#[test]
fn round_trips_through_encode() {
    for (signal, file) in [
        (Signal::Traces, "trace.json"),
        (Signal::Metrics, "metrics.json"),
        (Signal::Logs, "logs.json"),
    ] {
        let data = decode_data(signal, &fixture(file)).unwrap();
        let again = decode_data(signal, &encode_data(&data)).unwrap();
        assert_eq!(data, again, "{file}");
    }
}

#[test]
fn errors_name_the_path() {
    let bad_id = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"abcd","spanId":"EEE19B7EC3C1B174"}]}]}]}"#;
    let e = decode_traces(bad_id).unwrap_err();
    assert_eq!(e.path, "resourceSpans[0].scopeSpans[0].spans[0].traceId");
    assert!(e.message.contains("32 hex digits"), "{e}");

    let bad_type = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":42}]}]}]}"#;
    let e = decode_traces(bad_type).unwrap_err();
    assert!(e.path.contains("spans[0].name"), "{e}");

    let not_hex = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz8EFFF798038103D269B633813FC60C"}]}]}]}"#;
    assert!(decode_traces(not_hex).is_err());
    assert!(decode_logs(b"{not json").is_err());
    assert!(decode_metrics(br#"{"resourceMetrics":{}}"#).is_err());
}
