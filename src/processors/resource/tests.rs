use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value::Value as V, AnyValue, ArrayValue, KeyValue,
};
use opentelemetry_proto::tonic::logs::v1::ResourceLogs;
use opentelemetry_proto::tonic::metrics::v1::ResourceMetrics;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::ResourceSpans;
use serde_json::json;

use super::attraction::{as_string, hash_value};
use super::*;
use crate::signal::Metadata;

fn s(v: &str) -> AnyValue {
    AnyValue {
        value: Some(V::StringValue(v.into())),
    }
}
fn i(v: i64) -> AnyValue {
    AnyValue {
        value: Some(V::IntValue(v)),
    }
}
fn d(v: f64) -> AnyValue {
    AnyValue {
        value: Some(V::DoubleValue(v)),
    }
}
fn b(v: bool) -> AnyValue {
    AnyValue {
        value: Some(V::BoolValue(v)),
    }
}

fn kvs(pairs: &[(&str, AnyValue)]) -> Vec<KeyValue> {
    pairs
        .iter()
        .map(|(k, v)| KeyValue {
            key: k.to_string(),
            value: Some(v.clone()),
            ..Default::default()
        })
        .collect()
}

fn build(actions: serde_json::Value) -> Result<ResourceProcessor, ComponentConfigError> {
    let cfg: ResourceConfig = crate::config::decode::decode(&json!({ "attributes": actions }))?;
    cfg.build()
}

fn run(actions: serde_json::Value, input: &[(&str, AnyValue)], md: &Metadata) -> Vec<KeyValue> {
    let p = build(actions).expect("valid config");
    let mut attrs = kvs(input);
    p.actions.apply(&mut attrs, md);
    attrs
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[test]
fn actions_behave_as_the_collector() {
    let none = Metadata::default();
    /// name, actions, attributes before, attributes after.
    type Case<'a> = (
        &'a str,
        serde_json::Value,
        Vec<(&'a str, AnyValue)>,
        Vec<(&'a str, AnyValue)>,
    );
    let cases: Vec<Case> = vec![
        (
            "insert adds a missing key with the value's type",
            json!([{"key": "n", "value": 42, "action": "insert"}]),
            vec![("a", s("x"))],
            vec![("a", s("x")), ("n", i(42))],
        ),
        (
            "insert leaves an existing key alone",
            json!([{"key": "a", "value": "new", "action": "insert"}]),
            vec![("a", s("old"))],
            vec![("a", s("old"))],
        ),
        (
            "update changes only existing keys",
            json!([{"key": "a", "value": 1.5, "action": "update"},
                   {"key": "zz", "value": true, "action": "update"}]),
            vec![("a", s("old"))],
            vec![("a", d(1.5))],
        ),
        (
            "upsert inserts or updates",
            json!([{"key": "a", "value": true, "action": "UPSERT"},
                   {"key": "b", "value": "v", "action": "upsert"}]),
            vec![("a", s("old"))],
            vec![("a", b(true)), ("b", s("v"))],
        ),
        (
            "from_attribute copies the value and its type",
            json!([{"key": "copy", "from_attribute": "n", "action": "upsert"},
                   {"key": "none", "from_attribute": "missing", "action": "upsert"}]),
            vec![("n", i(7))],
            vec![("n", i(7)), ("copy", i(7))],
        ),
        (
            "default_value is used when the source is absent",
            json!([{"key": "env", "from_attribute": "missing", "default_value": "dev", "action": "insert"},
                   {"key": "n", "from_attribute": "src", "default_value": 0, "action": "upsert"}]),
            vec![("src", i(3))],
            vec![("src", i(3)), ("env", s("dev")), ("n", i(3))],
        ),
        (
            "update with default_value changes only an existing key",
            json!([{"key": "ns", "from_attribute": "namespace", "default_value": "default", "action": "update"},
                   {"key": "absent", "from_attribute": "namespace", "default_value": "x", "action": "update"},
                   {"key": "region", "value": "us-west-2", "default_value": "us-east-1", "action": "upsert"},
                   {"key": "only_default", "default_value": 2.5, "action": "insert"}]),
            vec![("ns", s("old"))],
            vec![
                ("ns", s("default")),
                ("region", s("us-west-2")),
                ("only_default", d(2.5)),
            ],
        ),
        (
            "delete by key and by pattern (last entry takes the removed place)",
            json!([{"key": "a", "action": "delete"},
                   {"pattern": "^tmp\\.", "action": "delete"}]),
            vec![
                ("a", s("1")),
                ("tmp.x", s("2")),
                ("keep", s("3")),
                ("tmp.y", s("4")),
                ("last", s("5")),
            ],
            vec![("last", s("5")), ("keep", s("3"))],
        ),
        (
            "extract upserts named groups as strings",
            json!([{"key": "url", "pattern": "^(?P<scheme>\\w+)://(?P<host>[^/:]+)(?::(?P<port>\\d+))?", "action": "extract"}]),
            vec![("url", s("https://example.com/x")), ("host", i(1))],
            vec![
                ("url", s("https://example.com/x")),
                ("host", s("example.com")),
                ("scheme", s("https")),
                ("port", s("")),
            ],
        ),
        (
            "extract ignores non-string and non-matching values",
            json!([{"key": "url", "pattern": "^(?P<scheme>\\w+)://", "action": "extract"},
                   {"key": "n", "pattern": "(?P<d>\\d)", "action": "extract"}]),
            vec![("url", s("no scheme")), ("n", i(5))],
            vec![("url", s("no scheme")), ("n", i(5))],
        ),
        (
            "convert to int, double and string; failures leave the value",
            json!([{"key": "a", "converted_type": "int", "action": "convert"},
                   {"key": "b", "converted_type": "int", "action": "convert"},
                   {"key": "c", "converted_type": "double", "action": "convert"},
                   {"key": "d", "converted_type": "string", "action": "convert"},
                   {"key": "e", "converted_type": "int", "action": "convert"},
                   {"key": "f", "converted_type": "double", "action": "convert"},
                   {"key": "g", "converted_type": "string", "action": "convert"}]),
            vec![
                ("a", s("123")),
                ("b", s("12x")),
                ("c", i(2)),
                ("d", d(1.5)),
                ("e", d(-2.9)),
                ("f", b(true)),
                ("g", b(false)),
            ],
            vec![
                ("a", i(123)),
                ("b", s("12x")),
                ("c", d(2.0)),
                ("d", s("1.5")),
                ("e", i(-2)),
                ("f", d(1.0)),
                ("g", s("false")),
            ],
        ),
    ];
    for (name, actions, input, want) in cases {
        assert_eq!(run(actions, &input, &none), kvs(&want), "{name}");
    }
}

#[test]
fn hash_uses_sha256_hex_of_the_collector_encoding() {
    let none = Metadata::default();
    let out = run(
        json!([{"key": "s", "action": "hash"}, {"pattern": "^n", "action": "hash"}]),
        &[
            ("s", s("secret")),
            ("n1", i(1)),
            ("n2", b(true)),
            ("x", d(0.5)),
        ],
        &none,
    );
    assert_eq!(
        out,
        kvs(&[
            ("s", s(&sha256_hex(b"secret"))),
            ("n1", s(&sha256_hex(&1i64.to_le_bytes()))),
            ("n2", s(&sha256_hex(&[1]))),
            ("x", d(0.5)),
        ])
    );
    // Known digest of "secret".
    assert_eq!(
        hash_value(&s("secret")),
        "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"
    );
    assert_eq!(
        hash_value(&d(0.5)),
        sha256_hex(&0.5f64.to_bits().to_le_bytes())
    );
    // Lists hash to the empty string.
    let list = AnyValue {
        value: Some(V::ArrayValue(ArrayValue { values: vec![i(1)] })),
    };
    assert_eq!(hash_value(&list), "");
}

#[test]
fn from_context_reads_client_metadata() {
    let md = Metadata::from_pairs([("X-Tenant", "acme"), ("x-tenant", "beta"), ("region", "eu")]);
    let out = run(
        json!([
            {"key": "tenant", "from_context": "metadata.x-tenant", "action": "insert"},
            {"key": "region", "from_context": "region", "action": "insert"},
            {"key": "absent", "from_context": "metadata.nope", "action": "insert"},
            {"key": "auth", "from_context": "auth.subject", "action": "insert"},
            {"key": "fallback", "from_context": "nope", "default_value": "none", "action": "insert"}
        ]),
        &[],
        &md,
    );
    assert_eq!(
        out,
        kvs(&[
            ("tenant", s("acme;beta")),
            ("region", s("eu")),
            ("fallback", s("none"))
        ])
    );
}

#[test]
fn values_keep_their_yaml_types() {
    let out = run(
        json!([{"key": "list", "value": [1, "a", 2.5], "action": "insert"},
               {"key": "map", "value": {"k": true}, "action": "insert"}]),
        &[],
        &Metadata::default(),
    );
    assert_eq!(as_string(out[0].value.as_ref().unwrap()), "[1,\"a\",2.5]");
    assert_eq!(as_string(out[1].value.as_ref().unwrap()), "{\"k\":true}");
}

#[test]
fn as_string_formats_doubles_like_go() {
    for (f, want) in [
        (1.0, "1"),
        (1.5, "1.5"),
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (1e-7, "1e-7"),
        (0.000001, "0.000001"),
        (-2.25, "-2.25"),
    ] {
        assert_eq!(as_string(&d(f)), want, "{f}");
    }
}

#[test]
fn config_errors_name_the_key_path() {
    let cases: Vec<(serde_json::Value, &str, &str)> = vec![
        (
            json!([]),
            "attributes",
            "missing required field \"attributes\"",
        ),
        (
            serde_json::Value::Null,
            "attributes",
            "missing required field \"attributes\"",
        ),
        (
            json!([{"key": "a", "value": 1, "action": "inserrt"}]),
            "attributes::0::action",
            "unsupported action",
        ),
        (
            json!([{"value": 1, "action": "insert"}]),
            "attributes::0::key",
            "missing required field \"key\"",
        ),
        (
            json!([{"key": "a", "action": "insert"}]),
            "attributes::0",
            "needs one of",
        ),
        (
            json!([{"key": "a", "value": 1, "from_attribute": "b", "action": "upsert"}]),
            "attributes::0",
            "only one of",
        ),
        (
            json!([{"key": "a", "value": 1, "pattern": "x", "action": "upsert"}]),
            "attributes::0::pattern",
            "does not use",
        ),
        (
            json!([{"action": "delete"}]),
            "attributes::0",
            "\"key\" and/or \"pattern\"",
        ),
        (
            json!([{"key": "a", "value": 1, "action": "delete"}]),
            "attributes::0::value",
            "does not use",
        ),
        (
            json!([{"pattern": "(", "action": "hash"}]),
            "attributes::0::pattern",
            "invalid pattern",
        ),
        (
            json!([{"key": "a", "action": "extract"}]),
            "attributes::0::pattern",
            "missing required field \"pattern\"",
        ),
        (
            json!([{"key": "a", "pattern": "\\d+", "action": "extract"}]),
            "attributes::0::pattern",
            "no named groups",
        ),
        (
            json!([{"key": "a", "pattern": "(\\d+)", "action": "extract"}]),
            "attributes::0::pattern",
            "unnamed group",
        ),
        (
            json!([{"key": "a", "pattern": "(?P<x>\\d+)(\\w)", "action": "extract"}]),
            "attributes::0::pattern",
            "unnamed group",
        ),
        (
            json!([{"key": "a", "action": "convert"}]),
            "attributes::0::converted_type",
            "missing required field",
        ),
        (
            json!([{"key": "a", "converted_type": "integer", "action": "convert"}]),
            "attributes::0::converted_type",
            "invalid converted_type",
        ),
        (
            json!([{"key": "a", "vaule": 1, "action": "insert"}]),
            "attributes::0::vaule",
            "unknown field `vaule`",
        ),
    ];
    for (actions, path, msg) in cases {
        let e = build(actions.clone()).expect_err(&actions.to_string());
        assert_eq!(e.path.join("::"), path, "{actions}: {e}");
        assert!(e.message.contains(msg), "{actions}: {e}");
    }
    let e = build(json!([{"key": "a", "value": 1, "action": "upsret"}])).unwrap_err();
    assert_eq!(e.hint.as_deref(), Some("did you mean \"upsert\"?"));
    let e = build(json!([{"key": "a", "vaule": 1, "action": "insert"}])).unwrap_err();
    assert_eq!(e.hint.as_deref(), Some("did you mean \"value\"?"));
}

#[test]
fn applies_to_every_resource_of_every_signal() {
    let mut p = build(json!([{"key": "env", "value": "prod", "action": "upsert"}])).unwrap();
    let res = || {
        Some(Resource {
            attributes: kvs(&[("service.name", s("svc"))]),
            ..Default::default()
        })
    };
    let want = kvs(&[("service.name", s("svc")), ("env", s("prod"))]);
    let batches = vec![
        Data::Traces(ExportTraceServiceRequest {
            resource_spans: vec![
                ResourceSpans {
                    resource: res(),
                    ..Default::default()
                },
                ResourceSpans::default(),
            ],
        }),
        Data::Metrics(ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: res(),
                ..Default::default()
            }],
        }),
        Data::Logs(ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: res(),
                ..Default::default()
            }],
        }),
    ];
    for data in batches {
        let mut out = Vec::new();
        p.process(Batch::new(data), &mut out);
        assert_eq!(out.len(), 1);
        let resources: Vec<Option<Resource>> = match &out[0].to_data() {
            Data::Traces(r) => r
                .resource_spans
                .iter()
                .map(|x| x.resource.clone())
                .collect(),
            Data::Metrics(r) => r
                .resource_metrics
                .iter()
                .map(|x| x.resource.clone())
                .collect(),
            Data::Logs(r) => r.resource_logs.iter().map(|x| x.resource.clone()).collect(),
        };
        assert_eq!(resources[0].as_ref().unwrap().attributes, want);
        if resources.len() > 1 {
            // An absent resource becomes one with the inserted attribute.
            assert_eq!(
                resources[1].as_ref().unwrap().attributes,
                kvs(&[("env", s("prod"))])
            );
        }
    }
}

#[test]
fn factory_validates_through_create() {
    let id = ComponentId::new("resource", None);
    assert!((FACTORY.create)(&id, Signal::Logs, &serde_json::Value::Null).is_err());
    assert!((FACTORY.create)(
        &id,
        Signal::Logs,
        &json!({"attributes": [{"key": "a", "action": "delete"}]})
    )
    .is_ok());
}
