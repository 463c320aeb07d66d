use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::AnyValue;
use opentelemetry_proto::tonic::logs::v1::{ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};
use rand::{Rng, SeedableRng};
use serde_json::json;

use super::*;

const VECTORS: &str =
    include_str!("../../../tests/data/probabilistic_sampler/hash_seed_vectors.csv");

fn sampler(cfg: serde_json::Value, signal: Signal) -> ProbabilisticSampler {
    let cfg: SamplerConfig = decode(&cfg).expect("decodes");
    cfg.build(&ComponentId::new("probabilistic_sampler", None), signal)
        .expect("valid")
}

fn span(trace_id: [u8; 16], trace_state: &str, attrs: Vec<KeyValue>) -> Span {
    Span {
        trace_id: trace_id.to_vec(),
        span_id: vec![1; 8],
        trace_state: trace_state.into(),
        name: "s".into(),
        attributes: attrs,
        ..Default::default()
    }
}

fn traces(spans: Vec<Span>) -> Data {
    Data::Traces(ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

fn kept_spans(data: &Data) -> Vec<Span> {
    match data {
        Data::Traces(r) => r
            .resource_spans
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .flat_map(|ss| ss.spans.clone())
            .collect(),
        _ => panic!("not traces"),
    }
}

/// Runs one span through a sampler; the span as kept, or `None` when dropped.
fn one(s: &ProbabilisticSampler, sp: Span) -> Option<Span> {
    let mut data = traces(vec![sp]);
    let left = s.sample_data(&mut data);
    let kept = kept_spans(&data);
    assert_eq!(left, !kept.is_empty(), "empty requests are dropped");
    kept.into_iter().next()
}

fn kv(k: &str, v: V) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

/// A trace ID whose 56 W3C random bits are `r`.
fn tid_with_randomness(r: u64) -> [u8; 16] {
    let mut t = [0xabu8; 16];
    t[8..].copy_from_slice(&r.to_be_bytes());
    t[8] = 0x5a;
    t
}

#[test]
fn hash_seed_decisions_match_collector_vectors() {
    let mut rows = 0;
    for line in VECTORS.lines() {
        if line.starts_with('#') || line.starts_with("trace_id") || line.is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(',').collect();
        let tid: [u8; 16] = hex::decode(f[0]).unwrap().try_into().unwrap();
        let seed: u32 = f[1].parse().unwrap();
        let pct_f64: f64 = f[2].parse().unwrap();
        let want = f[3] == "keep";
        assert_eq!(hash_seed_keeps(&tid, seed, pct_f64 as f32), want, "{line}");
        // The same decision through the processor as configured from YAML.
        let s = sampler(
            json!({"sampling_percentage": pct_f64, "hash_seed": seed, "mode": "hash_seed"}),
            Signal::Traces,
        );
        assert_eq!(one(&s, span(tid, "", vec![])).is_some(), want, "{line}");
        rows += 1;
    }
    assert_eq!(rows, 2800);
}

#[test]
fn fnv1a32_matches_reference_values() {
    // FNV-1a 32 of the empty input is the offset basis; "a" is a published test vector.
    let mut h: u32 = 0x811c9dc5;
    for b in b"a" {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x01000193);
    }
    assert_eq!(h, 0xe40c292c);
    // With a zero seed the input is prefixed by four zero bytes.
    let mut with_seed: u32 = 0x811c9dc5;
    for b in [0u8, 0, 0, 0, b'a'] {
        with_seed ^= u32::from(b);
        with_seed = with_seed.wrapping_mul(0x01000193);
    }
    assert_eq!(fnv1a32(b"a", 0), with_seed);
}

#[test]
fn observed_rate_is_within_one_percent_over_100k_traces() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(4);
    let ids: Vec<[u8; 16]> = (0..100_000).map(|_| rng.random()).collect();
    for (mode, pct) in [
        ("hash_seed", 10.0),
        ("hash_seed", 33.3),
        ("hash_seed", 75.0),
        ("proportional", 25.0),
        ("equalizing", 50.0),
        ("proportional", 1.0),
    ] {
        let s = sampler(
            json!({"sampling_percentage": pct, "mode": mode, "hash_seed": 7}),
            Signal::Traces,
        );
        let spans: Vec<Span> = ids.iter().map(|t| span(*t, "", vec![])).collect();
        let mut data = traces(spans);
        s.sample_data(&mut data);
        let observed = data.item_count() as f64 / 1000.0;
        eprintln!("{mode} {pct}%: observed {observed}% of 100000 traces");
        assert!(
            (observed - pct).abs() <= 1.0,
            "{mode} {pct}%: observed {observed}%"
        );
    }
}

#[test]
fn default_mode_is_hash_seed_and_writes_rv_and_th() {
    let s = sampler(json!({"sampling_percentage": 25}), Signal::Traces);
    assert!(matches!(s.sampler, Sampler::Hashing { .. }));
    // Find a kept trace and check its tracestate.
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let kept = (0..100)
        .find_map(|_| one(&s, span(rng.random(), "vendor=x", vec![])))
        .expect("some trace is kept at 25%");
    let rv = randomness_from_bytes(&kept.trace_id, 0).rvalue();
    assert_eq!(kept.trace_state, format!("ot=rv:{rv};th:c,vendor=x"));
}

#[test]
fn consistent_modes_write_thresholds_into_tracestate() {
    let high = tid_with_randomness(u64::MAX); // 56 random bits all set
    /// mode, percentage, trace ID, arriving tracestate, tracestate when kept.
    type Case<'a> = (&'a str, f64, [u8; 16], &'a str, Option<&'a str>);
    let cases: Vec<Case> = vec![
        ("proportional", 25.0, high, "", Some("ot=th:c")),
        ("proportional", 25.0, high, "ot=th:8", Some("ot=th:e")),
        (
            "proportional",
            25.0,
            high,
            "ot=th:8;rv:ffffffffffffff,b=c",
            Some("ot=rv:ffffffffffffff;th:e,b=c"),
        ),
        ("equalizing", 25.0, high, "ot=th:8", Some("ot=th:c")),
        ("equalizing", 25.0, high, "ot=th:e", Some("ot=th:e")),
        ("equalizing", 50.0, high, "", Some("ot=th:8")),
        // Randomness 0 is below every threshold but 0.
        ("proportional", 99.0, tid_with_randomness(0), "", None),
        // rv wins over the trace ID.
        (
            "equalizing",
            50.0,
            tid_with_randomness(0),
            "ot=rv:f0000000000000",
            Some("ot=rv:f0000000000000;th:8"),
        ),
        // An arriving th that the randomness contradicts is an error: fail closed.
        ("equalizing", 50.0, tid_with_randomness(0), "ot=th:8", None),
        // Invalid tracestate: fail closed.
        ("proportional", 50.0, high, "ot=th:zz", None),
        ("proportional", 50.0, high, "Bad=1", None),
    ];
    for (mode, pct, tid, ts, want) in cases {
        let s = sampler(
            json!({"sampling_percentage": pct, "mode": mode}),
            Signal::Traces,
        );
        let got = one(&s, span(tid, ts, vec![])).map(|sp| sp.trace_state);
        assert_eq!(got.as_deref(), want, "{mode} {pct}% {ts:?}");
    }
}

#[test]
fn fail_closed_and_open() {
    let zero = [0u8; 16];
    for (mode, fail_closed, ts, want_kept) in [
        ("hash_seed", true, "", false),
        ("hash_seed", false, "", true),
        ("proportional", true, "", false),
        ("proportional", false, "", true),
        ("hash_seed", true, "ot=th:0", false),
    ] {
        let s = sampler(
            json!({"sampling_percentage": 100, "mode": mode, "fail_closed": fail_closed}),
            Signal::Traces,
        );
        let tid = if ts.is_empty() { zero } else { [9u8; 16] };
        assert_eq!(
            one(&s, span(tid, ts, vec![])).is_some(),
            want_kept,
            "{mode} fail_closed={fail_closed} {ts:?}"
        );
    }
}

#[test]
fn sampling_priority_attribute_overrides_the_decision() {
    let high = tid_with_randomness(u64::MAX);
    for (pct, prio, want) in [
        (100.0, V::IntValue(0), false),
        (100.0, V::DoubleValue(0.0), false),
        (100.0, V::StringValue("0".into()), false),
        (0.0, V::IntValue(1), true),
        (0.0, V::StringValue("2.5".into()), true),
        (0.0, V::IntValue(-1), false),
        (0.0, V::StringValue("x".into()), false),
        (100.0, V::BoolValue(false), true),
    ] {
        let s = sampler(json!({"sampling_percentage": pct}), Signal::Traces);
        let sp = span(high, "", vec![kv("sampling.priority", prio.clone())]);
        assert_eq!(one(&s, sp).is_some(), want, "{pct}% {prio:?}");
    }
}

fn logs(records: Vec<LogRecord>) -> Data {
    Data::Logs(ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

fn kept_logs(data: &Data) -> Vec<LogRecord> {
    match data {
        Data::Logs(r) => r
            .resource_logs
            .iter()
            .flat_map(|rl| &rl.scope_logs)
            .flat_map(|sl| sl.log_records.clone())
            .collect(),
        _ => panic!("not logs"),
    }
}

#[test]
fn logs_sample_by_trace_id_or_record_attribute() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    let records: Vec<LogRecord> = (0..20_000)
        .map(|i| LogRecord {
            trace_id: if i % 2 == 0 {
                rng.random::<[u8; 16]>().to_vec()
            } else {
                Vec::new()
            },
            attributes: vec![kv("id", V::StringValue(format!("rec-{i}")))],
            ..Default::default()
        })
        .collect();
    // traceID source: records without a trace ID have no randomness and are dropped.
    let s = sampler(json!({"sampling_percentage": 50}), Signal::Logs);
    let mut d = logs(records.clone());
    s.sample_data(&mut d);
    let kept = kept_logs(&d);
    assert!(kept.iter().all(|r| !r.trace_id.is_empty()));
    let rate = kept.len() as f64 / 10_000.0;
    assert!((rate - 0.5).abs() < 0.02, "{rate}");
    // Kept records carry sampling.randomness and sampling.threshold.
    let r = &kept[0];
    let th = attraction::get(&r.attributes, "sampling.threshold").unwrap();
    assert_eq!(as_string(th), "8");
    let rv = attraction::get(&r.attributes, "sampling.randomness").unwrap();
    let tid: [u8; 16] = r.trace_id.clone().try_into().unwrap();
    assert_eq!(as_string(rv), randomness_from_bytes(&tid, 0).rvalue());

    // traceID with from_attribute fallback: all records are candidates.
    let s = sampler(
        json!({"sampling_percentage": 50, "from_attribute": "id"}),
        Signal::Logs,
    );
    let mut d = logs(records.clone());
    s.sample_data(&mut d);
    let rate = d.item_count() as f64 / 20_000.0;
    assert!((rate - 0.5).abs() < 0.02, "{rate}");

    // record source: the attribute is hashed even when a trace ID exists, with the seed.
    let s = sampler(
        json!({"sampling_percentage": 30, "attribute_source": "record", "from_attribute": "id", "hash_seed": 3}),
        Signal::Logs,
    );
    let mut d = logs(records);
    s.sample_data(&mut d);
    for r in kept_logs(&d) {
        let id = as_string(attraction::get(&r.attributes, "id").unwrap());
        assert!(
            hash_seed_threshold(30.0)
                .unwrap()
                .should_sample(randomness_from_bytes(id.as_bytes(), 3)),
            "{id}"
        );
    }
    let rate = d.item_count() as f64 / 20_000.0;
    assert!((rate - 0.3).abs() < 0.02, "{rate}");
}

#[test]
fn logs_sampling_priority_sets_the_record_probability() {
    let high = tid_with_randomness(u64::MAX).to_vec();
    let low = tid_with_randomness(0).to_vec();
    let s = sampler(
        json!({"sampling_percentage": 1, "sampling_priority": "prio", "mode": "proportional"}),
        Signal::Logs,
    );
    let rec = |tid: &Vec<u8>, p: Option<V>| LogRecord {
        trace_id: tid.clone(),
        attributes: p.map(|p| vec![kv("prio", p)]).unwrap_or_default(),
        ..Default::default()
    };
    let mut d = logs(vec![
        rec(&high, Some(V::IntValue(100))),
        rec(&low, Some(V::IntValue(100))),
        rec(&high, Some(V::DoubleValue(50.0))),
        rec(&low, Some(V::DoubleValue(50.0))),
        rec(&high, Some(V::StringValue("100".into()))),
        rec(&high, None),
    ]);
    s.sample_data(&mut d);
    let kept = kept_logs(&d);
    let ths: Vec<String> = kept
        .iter()
        .map(|r| as_string(attraction::get(&r.attributes, "sampling.threshold").unwrap()))
        .collect();
    // 100 -> always; 50 -> th 8 (the low record is dropped); a non-numeric priority and no
    // priority leave the configured 1% (th fd70a), which the high randomness passes.
    assert_eq!(ths, vec!["0", "0", "8", "fd70a", "fd70a"]);
}

#[test]
fn config_is_validated_with_key_paths() {
    let id = ComponentId::new("probabilistic_sampler", None);
    let cases: Vec<(serde_json::Value, &str, &str)> = vec![
        (
            json!({"sampling_percentage": -1}),
            "sampling_percentage",
            "negative",
        ),
        (
            json!({"sampling_percentage": 1e-20}),
            "sampling_percentage",
            "too small",
        ),
        (
            json!({"sampling_percentage": 1e300}),
            "sampling_percentage",
            "invalid",
        ),
        (json!({"mode": "hash"}), "mode", "unsupported sampler mode"),
        (
            json!({"sampling_precision": 0}),
            "sampling_precision",
            "invalid sampling precision: 0",
        ),
        (
            json!({"sampling_precision": 15}),
            "sampling_precision",
            "1 to 14",
        ),
        (
            json!({"attribute_source": "traceid"}),
            "attribute_source",
            "invalid attribute source",
        ),
        (json!({"hash_seed": -1}), "hash_seed", "invalid value"),
        (
            json!({"sampling_percentag": 5}),
            "sampling_percentag",
            "unknown field",
        ),
    ];
    for (cfg, path, msg) in cases {
        let e = match (FACTORY.create)(&id, Signal::Traces, &cfg) {
            Err(e) => e,
            Ok(_) => panic!("{cfg} should be refused"),
        };
        assert_eq!(e.path.join("::"), path, "{cfg}: {e}");
        assert!(e.message.contains(msg), "{cfg}: {e}");
    }
    let e = match (FACTORY.create)(&id, Signal::Traces, &json!({"mode": "equalising"})) {
        Err(e) => e,
        Ok(_) => panic!("refused"),
    };
    assert_eq!(e.hint.as_deref(), Some("did you mean \"equalizing\"?"));
    assert!((FACTORY.create)(&id, Signal::Logs, &serde_json::Value::Null).is_ok());
    let d = SamplerConfig::default();
    assert!(d.fail_closed);
    assert_eq!(d.sampling_precision, 4);
    assert_eq!(d.attribute_source, "traceID");
}

#[test]
fn percentages_over_100_keep_everything_and_zero_keeps_nothing() {
    let t = [7u8; 16];
    let all = sampler(json!({"sampling_percentage": 250}), Signal::Traces);
    assert!(one(&all, span(t, "", vec![])).is_some());
    let none = sampler(json!({"sampling_percentage": 0}), Signal::Traces);
    let mut d = traces(vec![span(t, "", vec![]); 10]);
    assert!(!none.sample_data(&mut d));
    assert_eq!(d.item_count(), 0);
}

fn tid(hex_str: &str) -> [u8; 16] {
    hex::decode(hex_str).unwrap().try_into().unwrap()
}

/// The collector's own consistent-mode cases (Test_tracesamplerprocessor_TraceState, run with
/// fail_closed off and full precision unless given), for both modes.
#[test]
fn consistent_modes_match_the_collector_tracestate_cases() {
    const DEFAULT_TID: &str = "fefefefefefefefefe80000000000000";
    const IMPROBABLE: &str = "111111111111111111ffffffffffffff";
    struct Case {
        name: &'static str,
        pct: f32,
        precision: i64,
        tid: &'static str,
        ts: &'static str,
        priority: Option<i64>,
        equalizing: Option<&'static str>,
        proportional: Option<&'static str>,
    }
    let c = |name, pct, precision, tid, ts, eq, prop| Case {
        name,
        pct,
        precision,
        tid,
        ts,
        priority: None,
        equalizing: eq,
        proportional: prop,
    };
    let both = |name, pct, precision, tid, ts, want: Option<&'static str>| {
        c(name, pct, precision, tid, ts, want, want)
    };
    let mut cases = vec![
        both("100 percent", 100.0, 14, DEFAULT_TID, "", Some("ot=th:0")),
        both(
            "50 percent sampled",
            50.0,
            14,
            DEFAULT_TID,
            "",
            Some("ot=th:8"),
        ),
        both(
            "25 percent sampled",
            25.0,
            14,
            "ddddddddddddddddddc0000000000000",
            "",
            Some("ot=th:c"),
        ),
        both(
            "25 percent unsampled",
            25.0,
            14,
            "ddddddddddddddddddb0000000000000",
            "",
            None,
        ),
        both(
            "1 percent sampled",
            1.0,
            14,
            DEFAULT_TID,
            "ot=rv:FD70A3D70A3D71",
            Some("ot=rv:FD70A3D70A3D71;th:fd70a3d70a3d71"),
        ),
        both(
            "1 percent precision 4",
            1.0,
            4,
            DEFAULT_TID,
            "ot=rv:FD70A3D70A3D71",
            Some("ot=rv:FD70A3D70A3D71;th:fd70a"),
        ),
        both(
            "1 percent precision 3",
            1.0,
            3,
            DEFAULT_TID,
            "ot=rv:FD70A3D70A3D71",
            None,
        ),
        both(
            "1 percent not sampled with rvalue",
            1.0,
            14,
            DEFAULT_TID,
            "ot=rv:FD70A3D70A3D70",
            None,
        ),
        both("49 percent not sampled", 49.0, 14, DEFAULT_TID, "", None),
        both(
            "1 percent sampled with rvalue",
            1.0,
            14,
            DEFAULT_TID,
            "ot=rv:fd70B000000000",
            Some("ot=rv:fd70B000000000;th:fd70a3d70a3d71"),
        ),
        both(
            "1 percent sampled with tid",
            1.0,
            4,
            "a0a0a0a0a0a0a0a0a0fe000000000000",
            "",
            Some("ot=th:fd70a"),
        ),
        c(
            "incoming 50 percent with rvalue",
            50.0,
            14,
            DEFAULT_TID,
            "ot=rv:90000000000000;th:80000000000000",
            Some("ot=rv:90000000000000;th:8"),
            None,
        ),
        both(
            "incoming 50 at 25 not sampled",
            25.0,
            14,
            DEFAULT_TID,
            "ot=th:8",
            None,
        ),
        c(
            "incoming 50 at 25 sampled",
            25.0,
            14,
            "ffffffffffffffffffffffffffffffff",
            "ot=th:8",
            Some("ot=th:c"),
            Some("ot=th:e"),
        ),
        c(
            "equalizing vs proportional",
            50.0,
            14,
            DEFAULT_TID,
            "ot=rv:c0000000000000;th:8",
            Some("ot=rv:c0000000000000;th:8"),
            Some("ot=rv:c0000000000000;th:c"),
        ),
        both(
            "inconsistent arriving threshold",
            100.0,
            14,
            DEFAULT_TID,
            "ot=rv:40000000000000;th:8",
            Some("ot=rv:40000000000000;th:0"),
        ),
        both(
            "40 percent precision 3 with rvalue",
            40.0,
            3,
            DEFAULT_TID,
            "ot=rv:a0000000000000",
            Some("ot=rv:a0000000000000;th:99a"),
        ),
        c(
            "arriving 50 at 40 precision 6",
            40.0,
            6,
            "a0a0a0a0a0a0a0a0a0d0000000000000",
            "ot=th:8",
            Some("ot=th:99999a"),
            Some("ot=th:cccccd"),
        ),
        c(
            "arriving 50 at 40 partly sampled",
            40.0,
            3,
            "a0a0a0a0a0a0a0a0a0b0000000000000",
            "ot=th:8",
            Some("ot=th:99a"),
            None,
        ),
        both(
            "arriving 50 at 40 not sampled",
            40.0,
            3,
            "a0a0a0a0a0a0a0a0a080000000000000",
            "ot=th:8",
            None,
        ),
        both(
            "200 percent equals 100 percent",
            200.0,
            14,
            DEFAULT_TID,
            "",
            Some("ot=th:0"),
        ),
        c(
            "tiny probability rounding",
            100.0 / 16384.0,
            14,
            IMPROBABLE,
            "ot=th:fffc",
            Some("ot=th:fffc"),
            Some("ot=th:fffffff"),
        ),
        both(
            "almost 100pct sampling",
            ((1.0 - 8e-7) * 100.0) as f32,
            10,
            IMPROBABLE,
            "",
            Some("ot=th:00000cccccccd"),
        ),
        c(
            "probability underflow",
            0.0625,
            14,
            IMPROBABLE,
            "ot=th:fffffffffffff8",
            Some("ot=th:fffffffffffff8"),
            None,
        ),
    ];
    cases.push(Case {
        priority: Some(2),
        ..both(
            "sampled by priority",
            1.0,
            14,
            DEFAULT_TID,
            "",
            Some("ot=th:0"),
        )
    });
    cases.push(Case {
        priority: Some(0),
        ..both("not sampled by priority", 99.0, 14, DEFAULT_TID, "", None)
    });
    for case in &cases {
        for (mode, want) in [
            ("equalizing", case.equalizing),
            ("proportional", case.proportional),
        ] {
            let s = sampler(
                json!({"sampling_percentage": case.pct, "sampling_precision": case.precision,
                       "mode": mode, "fail_closed": false}),
                Signal::Traces,
            );
            let attrs = case
                .priority
                .map(|p| vec![kv("sampling.priority", V::IntValue(p))])
                .unwrap_or_default();
            let got = one(&s, span(tid(case.tid), case.ts, attrs)).map(|sp| sp.trace_state);
            assert_eq!(got.as_deref(), want, "{mode}: {}", case.name);
        }
    }
}

/// The collector's Test_tracesamplerprocessor_TraceStateErrors: with fail_closed, these spans
/// are dropped in both consistent modes.
#[test]
fn consistent_modes_fail_closed_on_bad_sampling_information() {
    for (tid_hex, ts) in [
        ("00000000000000000000000000000000", ""),
        ("fefefefefefefefefe80000000000000", "ot=rv:abababababababab"),
        ("fefefefefefefefefe80000000000000", "ot=th:abababababababab"),
        ("fefefefefefefefefe80000000000000", "ot=th:-1"),
        ("ffffffffffffffffff70000000000000", "ot=th:8"),
        (
            "fefefefefefefefefe80000000000000",
            "ot=th:8;rv:70000000000000",
        ),
    ] {
        for mode in ["equalizing", "proportional"] {
            let s = sampler(
                json!({"sampling_percentage": 100, "mode": mode}),
                Signal::Traces,
            );
            assert!(
                one(&s, span(tid(tid_hex), ts, vec![])).is_none(),
                "{mode} {ts:?}"
            );
        }
    }
}

/// hash_seed mode writes the 14-bit threshold it used (so 10% is e668, not e666) and the
/// randomness it derived, and the written pair is consistent.
#[test]
fn hash_seed_tracestate_uses_the_14_bit_threshold() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    for (pct, tv) in [
        (100.0f32, "0"),
        (75.0, "4"),
        (50.0, "8"),
        (25.0, "c"),
        (10.0, "e668"),
        (100.0 / 3.0, "aaac"),
    ] {
        let s = sampler(
            json!({"sampling_percentage": pct, "mode": "hash_seed", "hash_seed": 22}),
            Signal::Traces,
        );
        let mut found = 0;
        while found < 10 {
            let Some(kept) = one(&s, span(rng.random(), "", vec![])) else {
                continue;
            };
            let (ts, err) = W3cTraceState::parse(&kept.trace_state);
            assert_eq!(err, None);
            let th = ts.otel().threshold().unwrap();
            assert_eq!(th.tvalue(), tv, "{pct}%");
            assert!(th.should_sample(ts.otel().rvalue().unwrap()));
            found += 1;
        }
    }
}

/// The collector's TestLogsSampling scenario (100 records, trace IDs 0..99 repeated in the
/// low 8 bytes, half with a bytes `foo` and a string `bar`, a quarter with priority 100),
/// with the kept counts the collector gets. fail_closed is off unless stated, and precision
/// 14, as the collector's test builds its configs without defaults.
#[test]
fn logs_sampling_counts_match_the_collector() {
    let records: Vec<LogRecord> = (0..100u8)
        .map(|i| {
            let mut tid = [0u8; 16];
            tid[8..].fill(i);
            let mut attrs = vec![kv("rando", V::IntValue(i64::from(fnv1a32(&tid, 123))))];
            if i % 2 == 0 {
                attrs.push(kv("foo", V::BytesValue(tid.to_vec())));
                // pcommon's TraceID.String() is "" for the all-zero ID.
                let bar = if i == 0 {
                    String::new()
                } else {
                    hex::encode(tid)
                };
                attrs.push(kv("bar", V::StringValue(bar)));
            }
            if i % 4 == 0 {
                attrs.push(kv("priority", V::DoubleValue(100.0)));
            }
            LogRecord {
                trace_id: tid.to_vec(),
                attributes: attrs,
                ..Default::default()
            }
        })
        .collect();
    let cases: Vec<(&str, serde_json::Value, usize)> = vec![
        ("happy_path", json!({"sampling_percentage": 100}), 100),
        (
            "nothing",
            json!({"sampling_percentage": 0, "fail_closed": true}),
            0,
        ),
        (
            "roughly half",
            json!({"sampling_percentage": 50, "mode": "hash_seed", "fail_closed": true}),
            45,
        ),
        (
            "source no sampling",
            json!({"sampling_percentage": 0, "attribute_source": "record", "from_attribute": "foo"}),
            0,
        ),
        (
            "source all",
            json!({"sampling_percentage": 100, "attribute_source": "record", "from_attribute": "foo"}),
            100,
        ),
        (
            "source sampling",
            json!({"sampling_percentage": 50, "attribute_source": "record", "from_attribute": "foo", "fail_closed": true}),
            23,
        ),
        (
            "source as string",
            json!({"sampling_percentage": 50, "attribute_source": "record", "from_attribute": "bar", "fail_closed": true}),
            29,
        ),
        (
            "priority 0 record",
            json!({"sampling_percentage": 0, "sampling_priority": "priority", "attribute_source": "record", "from_attribute": "rando"}),
            25,
        ),
        (
            "priority 50 record",
            json!({"sampling_percentage": 50, "sampling_priority": "priority", "attribute_source": "record", "from_attribute": "rando"}),
            64,
        ),
        (
            "priority 100 record",
            json!({"sampling_percentage": 100, "sampling_priority": "priority", "attribute_source": "record", "from_attribute": "rando"}),
            100,
        ),
        (
            "priority 0 traceid",
            json!({"sampling_percentage": 0, "sampling_priority": "priority"}),
            25,
        ),
        (
            "priority 50 traceid",
            json!({"sampling_percentage": 50, "sampling_priority": "priority"}),
            57,
        ),
        (
            "priority 100 traceid",
            json!({"sampling_percentage": 100, "sampling_priority": "priority"}),
            100,
        ),
        (
            "priority with sampling field",
            json!({"sampling_percentage": 0, "attribute_source": "record", "from_attribute": "foo", "sampling_priority": "priority"}),
            25,
        ),
    ];
    for (name, mut cfg, want) in cases {
        let m = cfg.as_object_mut().unwrap();
        m.entry("fail_closed").or_insert(json!(false));
        m.insert("sampling_precision".into(), json!(14));
        let s = sampler(cfg, Signal::Logs);
        let mut d = logs(records.clone());
        s.sample_data(&mut d);
        assert_eq!(d.item_count(), want, "{name}");
    }
}

/// The collector's TestLogsSamplingState cases: attributes written on kept records.
#[test]
fn logs_sampling_state_matches_the_collector() {
    let default_tid = tid("fefefefefefefefefe80000000000000");
    let run = |cfg: serde_json::Value, t: [u8; 16], attrs: Vec<KeyValue>| {
        let mut cfg = cfg;
        let m = cfg.as_object_mut().unwrap();
        m.entry("fail_closed").or_insert(json!(false));
        m.entry("sampling_precision").or_insert(json!(14));
        let s = sampler(cfg, Signal::Logs);
        let mut d = logs(vec![LogRecord {
            trace_id: t.to_vec(),
            attributes: attrs,
            ..Default::default()
        }]);
        s.sample_data(&mut d);
        kept_logs(&d).into_iter().next().map(|r| {
            let mut a: Vec<(String, String)> = r
                .attributes
                .iter()
                .map(|kv| (kv.key.clone(), as_string(kv.value.as_ref().unwrap())))
                .collect();
            a.sort();
            a
        })
    };
    let s = |k: &str, v: &str| kv(k, V::StringValue(v.into()));
    let pairs = |p: &[(&str, &str)]| {
        let mut v: Vec<(String, String)> = p
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        v.sort();
        Some(v)
    };
    assert_eq!(
        run(
            json!({"sampling_percentage": 100, "mode": "proportional"}),
            default_tid,
            vec![s("ignored", "value")]
        ),
        pairs(&[("ignored", "value"), ("sampling.threshold", "0")])
    );
    let rv = randomness_from_bytes(&default_tid, 22).rvalue();
    assert_eq!(
        run(
            json!({"sampling_percentage": 100, "mode": "hash_seed", "hash_seed": 22}),
            default_tid,
            vec![s("K", "V")]
        ),
        pairs(&[
            ("K", "V"),
            ("sampling.threshold", "0"),
            ("sampling.randomness", &rv)
        ])
    );
    let rv = randomness_from_bytes(b"1234", 49).rvalue();
    assert_eq!(
        run(
            json!({"sampling_percentage": 100, "attribute_source": "record", "from_attribute": "veryrandom", "hash_seed": 49}),
            [0; 16],
            vec![s("veryrandom", "1234")]
        ),
        pairs(&[
            ("veryrandom", "1234"),
            ("sampling.threshold", "0"),
            ("sampling.randomness", &rv)
        ])
    );
    assert_eq!(
        run(json!({"sampling_percentage": 0}), default_tid, vec![]),
        None
    );
    assert_eq!(
        run(
            json!({"sampling_percentage": 0, "sampling_priority": "veryrandom", "sampling_precision": 6}),
            default_tid,
            vec![
                s("sampling.randomness", "e6147c00000000"),
                kv("veryrandom", V::DoubleValue(10.125))
            ]
        ),
        pairs(&[
            ("sampling.randomness", "e6147c00000000"),
            ("sampling.threshold", "e6147b"),
            ("veryrandom", "10.125")
        ])
    );
    assert_eq!(
        run(
            json!({"sampling_percentage": 50, "mode": "proportional"}),
            tid("fefefefefefefefefef0000000000000"),
            vec![s("sampling.threshold", "c")]
        ),
        pairs(&[("sampling.threshold", "e")])
    );
    assert_eq!(
        run(
            json!({"sampling_percentage": 50, "mode": "equalizing", "fail_closed": true}),
            tid("fefefefefefefefefeb0000000000000"),
            vec![s("sampling.threshold", "c")]
        ),
        None
    );
    assert_eq!(
        run(
            json!({"sampling_percentage": 50, "mode": "equalizing", "sampling_priority": "prio"}),
            tid("fefefefefefefefefefefefefefefefe"),
            vec![s("sampling.threshold", "c"), kv("prio", V::IntValue(37))]
        ),
        pairs(&[("sampling.threshold", "c"), ("prio", "37")])
    );
    assert_eq!(
        run(
            json!({"sampling_percentage": 100, "mode": "hash_seed"}),
            default_tid,
            vec![s("sampling.randomness", "f2341234123412")]
        ),
        pairs(&[("sampling.randomness", "f2341234123412")])
    );
}
