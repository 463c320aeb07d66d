//! OTTL parser and evaluator tests: every supported construct, parsed and evaluated against
//! real OTLP items, and parse errors with their positions.

use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, Histogram, HistogramDataPoint, Metric, NumberDataPoint, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, Span, Status};

use super::*;

fn s(v: &str) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(v.into())),
    }
}

fn kv(k: &str, v: AnyValue) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(v),
        ..Default::default()
    }
}

fn int(i: i64) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::IntValue(i)),
    }
}

fn resource() -> Resource {
    Resource {
        attributes: vec![kv("service.name", s("checkout"))],
        ..Default::default()
    }
}

fn scope() -> InstrumentationScope {
    InstrumentationScope {
        name: "io.opentelemetry.http".into(),
        version: "1.2.0".into(),
        ..Default::default()
    }
}

fn test_span() -> Span {
    Span {
        trace_id: (1..=16).collect(),
        span_id: vec![0xaa; 8],
        name: "GET /users".into(),
        kind: 2,
        start_time_unix_nano: 1_000,
        end_time_unix_nano: 5_000,
        attributes: vec![
            kv("http.method", s("GET")),
            kv("http.status_code", int(500)),
            kv(
                "ratio",
                AnyValue {
                    value: Some(any_value::Value::DoubleValue(0.5)),
                },
            ),
            kv(
                "retry",
                AnyValue {
                    value: Some(any_value::Value::BoolValue(true)),
                },
            ),
            kv(
                "tags",
                AnyValue {
                    value: Some(any_value::Value::ArrayValue(ArrayValue {
                        values: vec![s("a"), s("b")],
                    })),
                },
            ),
            kv(
                "nested",
                AnyValue {
                    value: Some(any_value::Value::KvlistValue(KeyValueList {
                        values: vec![kv("inner", s("x"))],
                    })),
                },
            ),
        ],
        events: vec![span::Event {
            name: "exception".into(),
            attributes: vec![kv("exception.type", s("IOError"))],
            ..Default::default()
        }],
        status: Some(Status {
            message: "boom".into(),
            code: 2,
        }),
        ..Default::default()
    }
}

fn check(ctx: Context, tc: &TransformContext<'_>, cases: &[(&str, bool)]) {
    for (src, want) in cases {
        let c = Condition::parse(src, ctx).unwrap_or_else(|e| panic!("{src}: {e}"));
        let got = c.eval(tc).unwrap_or_else(|e| panic!("{src}: {e}"));
        assert_eq!(got, *want, "{src}");
    }
}

#[test]
fn span_conditions_evaluate_as_the_collector_does() {
    let (r, sc, sp) = (resource(), scope(), test_span());
    let tc = TransformContext {
        resource: Some(&r),
        scope: Some(&sc),
        span: Some(&sp),
        ..Default::default()
    };
    check(
        Context::Span,
        &tc,
        &[
            (r#"name == "GET /users""#, true),
            (r#"name != "GET /users""#, false),
            (r#"span.name == "GET /users""#, true),
            (r#""GET /users" == name"#, true),
            ("kind == SPAN_KIND_SERVER", true),
            ("kind == 2", true),
            ("kind == SPAN_KIND_CLIENT", false),
            ("status.code == STATUS_CODE_ERROR", true),
            (r#"status.message == "boom""#, true),
            (r#"attributes["http.method"] == "GET""#, true),
            (r#"attributes["http.status_code"] >= 500"#, true),
            (r#"attributes["http.status_code"] > 500.5"#, false),
            (r#"attributes["http.status_code"] == "500""#, false),
            (r#"attributes["http.status_code"] != "500""#, true),
            (r#"attributes["ratio"] < 1"#, true),
            (r#"attributes["ratio"] == 0.5"#, true),
            (r#"attributes["ratio"] == .5"#, true),
            (r#"attributes["retry"] == true"#, true),
            (r#"attributes["retry"] > false"#, true),
            (r#"attributes["http.method"] < "POST""#, true),
            (r#"attributes["missing"] == nil"#, true),
            (r#"attributes["missing"] != nil"#, false),
            (r#"attributes["missing"] < 1"#, false),
            ("nil == nil", true),
            (r#"attributes["nested"]["inner"] == "x""#, true),
            (r#"attributes["tags"][1] == "b""#, true),
            (r#"attributes["missing"]["x"] == nil"#, true),
            (r#"resource.attributes["service.name"] == "checkout""#, true),
            (
                r#"instrumentation_scope.name == "io.opentelemetry.http""#,
                true,
            ),
            (r#"instrumentation_scope.version == "1.2.0""#, true),
            (r#"scope.version == "1.2.0""#, true),
            (r#"IsMatch(name, "^GET ")"#, true),
            (r#"IsMatch(name, "^POST ")"#, false),
            (r#"not IsMatch(name, "^POST ")"#, true),
            (r#"IsMatch(name, "^GET ") == true"#, true),
            (r#"attributes["http.status_code"] == 500.0"#, true),
            (
                r#"IsMatch(attributes["http.status_code"], "^5\\d\\d$")"#,
                true,
            ),
            (r#"IsMatch(attributes["missing"], ".*")"#, false),
            ("IsString(name)", true),
            (r#"IsString(attributes["http.status_code"])"#, false),
            (r#"IsInt(attributes["http.status_code"])"#, true),
            (r#"IsDouble(attributes["ratio"])"#, true),
            (r#"IsBool(attributes["retry"])"#, true),
            (r#"IsMap(attributes["nested"])"#, true),
            (r#"IsList(attributes["tags"])"#, true),
            ("Len(name) == 10", true),
            (r#"Len(attributes["tags"]) == 2"#, true),
            ("Len(attributes) > 3", true),
            (r#"not name == "x""#, true),
            // `and` binds tighter than `or`.
            (
                r#"kind == SPAN_KIND_SERVER or name == "x" and status.code == STATUS_CODE_OK"#,
                true,
            ),
            (
                r#"(kind == SPAN_KIND_SERVER or name == "x") and status.code == STATUS_CODE_OK"#,
                false,
            ),
            // `not` applies to the one value after it.
            (r#"not name == "x" and name == "y""#, false),
            (r#"not (name == "x" or name == "y")"#, true),
            ("true", true),
            ("false", false),
            ("not false", true),
            ("-1 < 0", true),
            (
                r#"trace_id.string == "0102030405060708090a0b0c0d0e0f10""#,
                true,
            ),
            ("trace_id == 0x0102030405060708090a0b0c0d0e0f10", true),
            ("span_id == 0xaaaaaaaaaaaaaaaa", true),
            ("IsRootSpan()", true),
            ("end_time_unix_nano > start_time_unix_nano", true),
            (
                "name == \"GET /users\"\n  and kind == SPAN_KIND_SERVER",
                true,
            ),
        ],
    );
}

#[test]
fn spanevent_conditions_read_the_event_and_its_span() {
    let (r, sc, sp) = (resource(), scope(), test_span());
    let tc = TransformContext {
        resource: Some(&r),
        scope: Some(&sc),
        span: Some(&sp),
        event: Some(&sp.events[0]),
        ..Default::default()
    };
    check(
        Context::SpanEvent,
        &tc,
        &[
            (r#"name == "exception""#, true),
            (r#"attributes["exception.type"] == "IOError""#, true),
            (r#"span.name == "GET /users""#, true),
            ("span.kind == SPAN_KIND_SERVER", true),
            (r#"resource.attributes["service.name"] == "checkout""#, true),
            (r#"spanevent.name == "other""#, false),
            ("span.status.code == STATUS_CODE_ERROR", true),
            (r#"not IsMatch(name, "^exc")"#, false),
        ],
    );
}

#[test]
fn log_conditions_evaluate() {
    let (r, sc) = (resource(), scope());
    let log = LogRecord {
        body: Some(s("user login failed for alice")),
        severity_number: 17,
        severity_text: "ERROR".into(),
        attributes: vec![kv("user", s("alice"))],
        ..Default::default()
    };
    let tc = TransformContext {
        resource: Some(&r),
        scope: Some(&sc),
        log: Some(&log),
        ..Default::default()
    };
    check(
        Context::Log,
        &tc,
        &[
            ("severity_number >= SEVERITY_NUMBER_WARN", true),
            ("severity_number < SEVERITY_NUMBER_ERROR", false),
            ("severity_number == SEVERITY_NUMBER_ERROR", true),
            ("severity_number < SEVERITY_NUMBER_ERROR2", true),
            (r#"severity_text == "ERROR""#, true),
            (r#"IsMatch(body, "login failed")"#, true),
            (r#"body == "user login failed for alice""#, true),
            (r#"body.string == "user login failed for alice""#, true),
            ("log.severity_number == 17", true),
            (r#"attributes["user"] == "alice""#, true),
            (r#"resource.attributes["service.name"] == "checkout""#, true),
            (
                r#"instrumentation_scope.name == "io.opentelemetry.http""#,
                true,
            ),
        ],
    );
}

fn histogram_metric() -> Metric {
    Metric {
        name: "http.server.duration".into(),
        unit: "ms".into(),
        data: Some(metric::Data::Histogram(Histogram {
            data_points: vec![
                HistogramDataPoint {
                    attributes: vec![kv("http.route", s("/users"))],
                    count: 3,
                    sum: Some(12.5),
                    ..Default::default()
                },
                HistogramDataPoint {
                    attributes: vec![kv("http.route", s("/health"))],
                    ..Default::default()
                },
            ],
            aggregation_temporality: 2,
        })),
        ..Default::default()
    }
}

#[test]
fn metric_conditions_evaluate() {
    let (r, m) = (resource(), histogram_metric());
    let tc = TransformContext {
        resource: Some(&r),
        metric: Some(&m),
        ..Default::default()
    };
    check(
        Context::Metric,
        &tc,
        &[
            (r#"name == "http.server.duration""#, true),
            (r#"metric.name == "http.server.duration""#, true),
            ("type == METRIC_DATA_TYPE_HISTOGRAM", true),
            ("type == METRIC_DATA_TYPE_SUM", false),
            (r#"unit == "ms""#, true),
            (
                "aggregation_temporality == AGGREGATION_TEMPORALITY_CUMULATIVE",
                true,
            ),
            (r#"HasAttrKeyOnDatapoint("http.route")"#, true),
            (r#"HasAttrKeyOnDatapoint("host")"#, false),
            (r#"HasAttrOnDatapoint("http.route", "/health")"#, true),
            (r#"HasAttrOnDatapoint("http.route", "/x")"#, false),
        ],
    );
}

#[test]
fn datapoint_conditions_read_the_point_and_its_metric() {
    let r = resource();
    let m = Metric {
        name: "requests".into(),
        data: Some(metric::Data::Sum(Sum {
            data_points: vec![NumberDataPoint {
                attributes: vec![kv("host", s("a"))],
                value: Some(number_data_point::Value::AsInt(42)),
                ..Default::default()
            }],
            aggregation_temporality: 1,
            is_monotonic: true,
        })),
        ..Default::default()
    };
    let Some(metric::Data::Sum(sum)) = &m.data else {
        unreachable!()
    };
    let tc = TransformContext {
        resource: Some(&r),
        metric: Some(&m),
        datapoint: Some(DataPointRef::Number(&sum.data_points[0])),
        ..Default::default()
    };
    check(
        Context::DataPoint,
        &tc,
        &[
            (r#"attributes["host"] == "a""#, true),
            (r#"metric.name == "requests""#, true),
            ("metric.type == METRIC_DATA_TYPE_SUM", true),
            ("metric.is_monotonic == true", true),
            ("value_int > 10", true),
            ("value_double == 0.0", true),
            ("count == nil", true),
            (r#"resource.attributes["service.name"] == "checkout""#, true),
        ],
    );
    let hm = histogram_metric();
    let Some(metric::Data::Histogram(h)) = &hm.data else {
        unreachable!()
    };
    let tc = TransformContext {
        metric: Some(&hm),
        datapoint: Some(DataPointRef::Histogram(&h.data_points[0])),
        ..Default::default()
    };
    check(
        Context::DataPoint,
        &tc,
        &[("count == 3", true), ("sum > 12.0", true)],
    );
}

#[test]
fn parse_errors_name_the_condition_and_position() {
    // (condition, context, byte offset, column, message fragment)
    let cases: &[(&str, Context, usize, usize, &str)] = &[
        (
            r#"attributes[test] == "pass""#,
            Context::Span,
            11,
            12,
            "expected a string or integer key",
        ),
        (
            r#"name = "x""#,
            Context::Span,
            5,
            6,
            "expected a comparison operator",
        ),
        (
            r#"name == "x" and"#,
            Context::Span,
            15,
            16,
            "expected a value",
        ),
        (
            r#"nme == "x""#,
            Context::Span,
            0,
            1,
            "unknown path `nme` in the span context (did you mean \"name\"?)",
        ),
        (
            "IsMatch(name)",
            Context::Span,
            0,
            1,
            "IsMatch takes 2 arguments, got 1",
        ),
        ("Foo(name)", Context::Span, 0, 1, "unknown function `Foo`"),
        (r#"isMatch(name, "x")"#, Context::Span, 0, 1, "editor name"),
        (
            "name == SPAN_KIND_BOGUS",
            Context::Span,
            8,
            9,
            "unknown enum `SPAN_KIND_BOGUS` in the span context",
        ),
        (
            "severity_number == SEVERITY_NUMBER_INFO",
            Context::Span,
            0,
            1,
            "unknown path `severity_number`",
        ),
        (
            "severity_number == SEVERITY_NUMBER_BOGUS",
            Context::Log,
            19,
            20,
            "unknown enum",
        ),
        (r#"name == "x"#, Context::Span, 8, 9, "unterminated string"),
        (r#"(name == "x""#, Context::Span, 12, 13, "expected `)`"),
        (r#"name == "x")"#, Context::Span, 11, 12, "unbalanced `)`"),
        ("Len(name)", Context::Span, 0, 1, "Len returns an integer"),
        (
            r#"IsMatch(name, "(")"#,
            Context::Span,
            14,
            15,
            "invalid regular expression",
        ),
        (
            r#"IsMatch(name, attributes["x"])"#,
            Context::Span,
            14,
            15,
            "argument 2 of IsMatch must be a string literal",
        ),
        (
            r#"log.body == "x""#,
            Context::Span,
            0,
            1,
            "belongs to the log context",
        ),
        (
            "end_time_unix_nano - start_time_unix_nano > 100",
            Context::Span,
            19,
            20,
            "math expressions",
        ),
        (
            r#"name == "a" == "b""#,
            Context::Span,
            12,
            13,
            "cannot be chained",
        ),
        (
            r#"attributes == ["a"]"#,
            Context::Span,
            14,
            15,
            "list literals are not supported",
        ),
        (r#"name ! "x""#, Context::Span, 5, 6, "unexpected `!`"),
        (
            r#"HasAttrOnDatapoint("a", "b")"#,
            Context::Span,
            0,
            1,
            "only available in the metric context",
        ),
        ("", Context::Span, 0, 1, "empty condition"),
        (
            "name",
            Context::Span,
            4,
            5,
            "expected a comparison operator",
        ),
        (
            r#"name["x"] == "y""#,
            Context::Span,
            0,
            1,
            "cannot be indexed",
        ),
        (
            r#"name == "é" and nme == "x""#,
            Context::Span,
            17,
            17,
            "unknown path",
        ),
        (
            "99999999999999999999 > 1",
            Context::Span,
            0,
            1,
            "does not fit in 64 bits",
        ),
    ];
    for (src, ctx, offset, column, msg) in cases {
        let e = Condition::parse(src, *ctx).expect_err(src);
        assert_eq!(e.condition, *src);
        assert!(e.message.contains(msg), "{src}: {}", e.message);
        assert_eq!((e.offset, e.column), (*offset, *column), "{src}: {e}");
        let shown = e.to_string();
        assert!(
            shown.contains(&format!("{src:?}")) && shown.contains(&format!("column {column}")),
            "{shown}"
        );
    }
}

#[test]
fn parse_errors_in_multiline_conditions_give_the_line() {
    let src = "name == \"x\" or\n  nme == \"y\"";
    let e = Condition::parse(src, Context::Span).unwrap_err();
    assert_eq!((e.line, e.column, e.offset), (2, 3, 17));
    assert!(e.to_string().contains("line 2, column 3"), "{e}");
}

#[test]
fn runtime_errors_name_the_condition() {
    let sp = test_span();
    let tc = TransformContext {
        span: Some(&sp),
        ..Default::default()
    };
    for (src, msg) in [
        (
            r#"Len(attributes["http.status_code"]) > 1"#,
            "Len: unsupported type int",
        ),
        (
            r#"Len(attributes["missing"]) > 1"#,
            "Len: unsupported type nil",
        ),
        (
            r#"attributes["http.method"]["x"] == 1"#,
            "a string value cannot be indexed",
        ),
        (r#"attributes["tags"][5] == 1"#, "index 5 out of range"),
    ] {
        let c = Condition::parse(src, Context::Span).unwrap();
        let e = c.eval(&tc).unwrap_err();
        assert_eq!(e.condition, src);
        assert!(e.message.contains(msg), "{src}: {}", e.message);
    }
    // Short-circuit: the failing side is never evaluated.
    let c = Condition::parse(r#"true or Len(attributes["missing"]) > 1"#, Context::Span).unwrap();
    assert!(c.eval(&tc).unwrap());
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn context_is_inferred_from_path_prefixes_and_functions() {
    let traces = [
        Context::Resource,
        Context::Scope,
        Context::Span,
        Context::SpanEvent,
    ];
    let metrics = [
        Context::Resource,
        Context::Scope,
        Context::Metric,
        Context::DataPoint,
    ];
    let ok: &[(&[&str], &[Context], Context)] = &[
        (&[r#"span.name == "x""#], &traces, Context::Span),
        (
            &[r#"resource.attributes["a"] == "b""#],
            &traces,
            Context::Resource,
        ),
        (&[r#"scope.name == "s""#], &traces, Context::Scope),
        (
            &[r#"span.name == "x""#, r#"spanevent.name == "e""#],
            &traces,
            Context::SpanEvent,
        ),
        (
            &[r#"resource.attributes["a"] == "b" and span.kind == SPAN_KIND_SERVER"#],
            &traces,
            Context::Span,
        ),
        (
            &[r#"metric.name == "m" and datapoint.attributes["a"] == "b""#],
            &metrics,
            Context::DataPoint,
        ),
        (
            &[r#"HasAttrOnDatapoint("a", "b")"#],
            &metrics,
            Context::Metric,
        ),
    ];
    for (srcs, allowed, want) in ok {
        let (ctx, conds) =
            parse_group(&strings(srcs), None, allowed).unwrap_or_else(|e| panic!("{srcs:?}: {e}"));
        assert_eq!(ctx, *want, "{srcs:?}");
        assert_eq!(conds.len(), srcs.len());
    }
    let bad: &[(&[&str], &[Context], &str)] = &[
        (&[r#"name == "x""#], &traces, "unable to infer the context"),
        (
            &[r#"log.body == "x""#],
            &traces,
            "the log context is not available here",
        ),
        (
            &[r#"span.name == "x""#, r#"name == "y""#],
            &traces,
            "does not name its context",
        ),
    ];
    for (srcs, allowed, msg) in bad {
        let e = parse_group(&strings(srcs), None, allowed).unwrap_err();
        assert!(e.message.contains(msg), "{srcs:?}: {}", e.message);
    }
    // With an explicit context, paths may leave out the prefix.
    let (ctx, _) =
        parse_group(&strings(&[r#"name == "x""#]), Some(Context::Span), &traces).unwrap();
    assert_eq!(ctx, Context::Span);
    let e = parse_group(&strings(&[r#"name == "x""#]), Some(Context::Log), &traces).unwrap_err();
    assert!(e.message.contains("not available"), "{}", e.message);
}

/// Found with the `ottl` fuzz target (input `fuzz/seeds/ottl/regress-deep-parens`): 4000 nested
/// parentheses overflowed the stack in the recursive-descent parser. Nesting (parentheses,
/// `not`, call arguments) is now bounded.
#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let deep = |open: &str, close: &str, n: usize, inner: &str| {
        format!("{}{inner}{}", open.repeat(n), close.repeat(n))
    };
    let max = parser::MAX_NESTING;
    let msg = format!(
        "the condition nests more than {max} levels deep (parentheses, `not` and function calls)"
    );

    // The crashing input, minimized shape: only parentheses around a constant.
    let src = deep("(", ")", 4000, "true");
    let e = Condition::parse(&src, Context::Span).unwrap_err();
    assert_eq!(e.message, msg);
    assert_eq!((e.offset, e.line, e.column), (max, 1, max + 1));

    // Exactly the limit still parses and evaluates.
    let sp = test_span();
    let tc = TransformContext {
        span: Some(&sp),
        ..Default::default()
    };
    let ok = deep("(", ")", max, r#"name == "GET /users""#);
    assert!(Condition::parse(&ok, Context::Span)
        .unwrap()
        .eval(&tc)
        .unwrap());
    let nots = format!("{}true", "not ".repeat(max));
    assert!(Condition::parse(&nots, Context::Span)
        .unwrap()
        .eval(&tc)
        .unwrap());

    // One more level of each kind is refused at the token that opens it.
    let e = Condition::parse(&deep("(", ")", max + 1, "true"), Context::Span).unwrap_err();
    assert_eq!((e.offset, e.message.as_str()), (max, msg.as_str()));
    let e =
        Condition::parse(&format!("{}true", "not ".repeat(max + 1)), Context::Span).unwrap_err();
    assert_eq!((e.offset, e.message.as_str()), (4 * max, msg.as_str()));
    // Calls: each argument list is one level, so `max` nested calls parse and the argument
    // of call number max + 1 is refused.
    let calls = |n: usize| format!("{}name{} == true", "IsString(".repeat(n), ")".repeat(n));
    assert!(Condition::parse(&calls(max), Context::Span).is_ok());
    let e = Condition::parse(&calls(max + 1), Context::Span).unwrap_err();
    assert_eq!(
        (e.offset, e.message.as_str()),
        (9 * (max + 1), msg.as_str())
    );
    // Long, flat conditions are not nesting.
    let flat = vec![r#"name == "x""#; 2000].join(" or ");
    assert!(!Condition::parse(&flat, Context::Span)
        .unwrap()
        .eval(&tc)
        .unwrap());
}
