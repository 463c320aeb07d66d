use super::*;

fn parse(text: &str, f: Format) -> Result<Vec<Entry<'_>>, ParseError> {
    Parser::new(text, f).collect()
}

fn samples(text: &str, f: Format) -> Vec<Sample<'_>> {
    parse(text, f)
        .unwrap()
        .into_iter()
        .filter_map(|e| match e {
            Entry::Sample(s) => Some(s),
            _ => None,
        })
        .collect()
}

fn labels<'a>(s: &'a Sample<'_>) -> Vec<(&'a str, &'a str)> {
    s.labels
        .iter()
        .map(|(k, v)| (k.as_ref(), v.as_ref()))
        .collect()
}

#[test]
fn prometheus_text_with_help_type_and_comments() {
    let text = "# HELP http_requests_total The total number of HTTP requests.\n\
# TYPE http_requests_total counter\n\
http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000\n\
http_requests_total{method=\"post\",code=\"400\"}    3 1395066363000\n\
\n\
# A normal comment.\n\
#\n\
metric_without_timestamp_and_labels 12.47\n\
something_weird{problem=\"division by zero\"} +Inf -3982045\n\
\t  indented 1\n";
    let e = parse(text, Format::Prometheus).unwrap();
    assert_eq!(
        e[0],
        Entry::Help {
            name: "http_requests_total".into(),
            text: "The total number of HTTP requests.".into()
        }
    );
    assert_eq!(
        e[1],
        Entry::Type {
            name: "http_requests_total".into(),
            kind: MetricType::Counter
        }
    );
    let s = samples(text, Format::Prometheus);
    assert_eq!(s.len(), 5);
    assert_eq!(labels(&s[0]), vec![("method", "post"), ("code", "200")]);
    assert_eq!(s[0].value, 1027.0);
    assert_eq!(s[0].timestamp_ms, Some(1395066363000));
    assert_eq!(s[1].value, 3.0);
    assert_eq!(s[2].name, "metric_without_timestamp_and_labels");
    assert_eq!(s[2].timestamp_ms, None);
    assert_eq!(s[3].value, f64::INFINITY);
    assert_eq!(s[3].timestamp_ms, Some(-3982045));
    assert_eq!(s[4].name, "indented");
}

#[test]
fn escaping_in_label_values_and_help() {
    let text = "# HELP m A \\\\ backslash,\\na newline and \\\"kept\\\" quote.\n\
m{path=\"C:\\\\dir\",msg=\"say \\\"hi\\\"\\nbye\",odd=\"\\t\"} 1\n";
    let e = parse(text, Format::Prometheus).unwrap();
    assert_eq!(
        e[0],
        Entry::Help {
            name: "m".into(),
            text: "A \\ backslash,\na newline and \\\"kept\\\" quote.".into()
        }
    );
    let s = samples(text, Format::Prometheus);
    assert_eq!(
        labels(&s[0]),
        vec![
            ("path", "C:\\dir"),
            ("msg", "say \"hi\"\nbye"),
            ("odd", "\\t")
        ]
    );
    // OpenMetrics HELP also unescapes \".
    let om = "# HELP m say \\\"x\\\"\n# EOF\n";
    assert_eq!(
        parse(om, Format::OpenMetrics).unwrap()[0],
        Entry::Help {
            name: "m".into(),
            text: "say \"x\"".into()
        }
    );
}

#[test]
fn nan_and_infinities() {
    let text = "a NaN\nb +Inf\nc -Inf\nd Inf\ne 1e-3\nf -0\n";
    let s = samples(text, Format::Prometheus);
    assert!(s[0].value.is_nan());
    assert_eq!(s[1].value, f64::INFINITY);
    assert_eq!(s[2].value, f64::NEG_INFINITY);
    assert_eq!(s[3].value, f64::INFINITY);
    assert_eq!(s[4].value, 0.001);
    let om = "a NaN\nb +Inf\nc -Inf\n# EOF\n";
    let s = samples(om, Format::OpenMetrics);
    assert!(s[0].value.is_nan());
    assert_eq!(s[2].value, f64::NEG_INFINITY);
}

#[test]
fn untyped_and_trailing_comma_and_empty_labels() {
    let text = "# TYPE u untyped\nu{a=\"1\",} 5\nv{} 6\nw{ a = \"x\" , b=\"y\" } 7\n";
    let e = parse(text, Format::Prometheus).unwrap();
    assert_eq!(
        e[0],
        Entry::Type {
            name: "u".into(),
            kind: MetricType::Unknown
        }
    );
    let s = samples(text, Format::Prometheus);
    assert_eq!(labels(&s[0]), vec![("a", "1")]);
    assert!(s[1].labels.is_empty());
    assert_eq!(labels(&s[2]), vec![("a", "x"), ("b", "y")]);
}

#[test]
fn utf8_quoted_metric_names() {
    let s = samples("{\"my.metric\",\"label.x\"=\"v\"} 1\n", Format::Prometheus);
    assert_eq!(s[0].name, "my.metric");
    assert_eq!(labels(&s[0]), vec![("label.x", "v")]);
}

#[test]
fn openmetrics_full_exposition() {
    let text = "# TYPE rpc_seconds histogram\n\
# UNIT rpc_seconds seconds\n\
# HELP rpc_seconds RPC latency.\n\
rpc_seconds_bucket{le=\"0.1\"} 8 # {trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\",span_id=\"00f067aa0ba902b7\"} 0.05 1700000000.123\n\
rpc_seconds_bucket{le=\"+Inf\"} 10 # {} 3\n\
rpc_seconds_sum 1.5\n\
rpc_seconds_count 10\n\
rpc_seconds_created 1700000000.5\n\
# TYPE jobs counter\n\
jobs_total 3 1700000001.25\n\
jobs_created 1699999999\n\
# TYPE state stateset\n\
state{state=\"a\"} 1\n\
# TYPE build info\n\
build_info{version=\"1.2\"} 1\n\
# TYPE u unknown\n\
u 1\n\
# EOF\n";
    let e = parse(text, Format::OpenMetrics).unwrap();
    assert_eq!(
        e[1],
        Entry::Unit {
            name: "rpc_seconds".into(),
            unit: "seconds".into()
        }
    );
    let s = samples(text, Format::OpenMetrics);
    let ex = s[0].exemplar.as_ref().unwrap();
    assert_eq!(ex.value, 0.05);
    assert_eq!(ex.timestamp_ms, Some(1700000000123));
    assert_eq!(ex.labels.len(), 2);
    let ex2 = s[1].exemplar.as_ref().unwrap();
    assert!(ex2.labels.is_empty());
    assert_eq!(ex2.timestamp_ms, None);
    assert_eq!(s[4].name, "rpc_seconds_created");
    assert_eq!(s[4].value, 1700000000.5);
    assert_eq!(s[5].timestamp_ms, Some(1700000001250));
    assert_eq!(s.len(), 10);
}

#[test]
fn format_from_content_type() {
    assert_eq!(
        Format::from_content_type(Some(
            "application/openmetrics-text; version=1.0.0; charset=utf-8"
        )),
        Format::OpenMetrics
    );
    assert_eq!(
        Format::from_content_type(Some("text/plain; version=0.0.4")),
        Format::Prometheus
    );
    assert_eq!(Format::from_content_type(None), Format::Prometheus);
}

#[test]
fn malformed_input_is_an_error_with_its_line() {
    let cases: &[(&str, Format, usize, &str)] = &[
        ("ok 1\nbad{ 1\n", Format::Prometheus, 2, "label"),
        // Found by the prom_text fuzz target: an empty quoted name was accepted.
        ("{\"\"}9\n", Format::Prometheus, 1, "empty quoted"),
        ("m{\"\"=\"v\"} 1\n", Format::Prometheus, 1, "empty quoted"),
        (
            "# TYPE \"\" counter\n",
            Format::OpenMetrics,
            1,
            "empty quoted",
        ),
        (
            "ok 1\n\nm{a=\"x} 1\n",
            Format::Prometheus,
            3,
            "unterminated",
        ),
        (
            "m{a=\"1\",a=\"2\"} 1\n",
            Format::Prometheus,
            1,
            "duplicate label",
        ),
        ("m abc\n", Format::Prometheus, 1, "invalid value"),
        ("m 1 12.5\n", Format::Prometheus, 1, "invalid timestamp"),
        ("m 1 2 3\n", Format::Prometheus, 1, "after the timestamp"),
        ("m{a=1} 1\n", Format::Prometheus, 1, "quoted value"),
        ("m\n", Format::Prometheus, 1, "expected"),
        ("9m 1\n", Format::Prometheus, 1, "metric name"),
        (
            "# TYPE m countr\n",
            Format::Prometheus,
            1,
            "invalid metric type",
        ),
        (
            "m 1 # {a=\"b\"} 1\n",
            Format::Prometheus,
            1,
            "exemplars need OpenMetrics",
        ),
        ("m{=\"x\"} 1\n", Format::Prometheus, 1, "label name"),
        ("m 1\n", Format::OpenMetrics, 2, "# EOF"),
        ("m 1\n# EOF\nn 2\n", Format::OpenMetrics, 3, "after # EOF"),
        ("m 1\n\n# EOF\n", Format::OpenMetrics, 2, "empty line"),
        (
            "m  1\n# EOF\n",
            Format::OpenMetrics,
            1,
            "more than one space",
        ),
        (
            "# random comment\n# EOF\n",
            Format::OpenMetrics,
            1,
            "unexpected comment",
        ),
        (
            "# UNIT m_bytes seconds\n# EOF\n",
            Format::OpenMetrics,
            1,
            "not a suffix",
        ),
        (
            "m{a=\"1\",} 1\n# EOF\n",
            Format::OpenMetrics,
            1,
            "trailing comma",
        ),
        (
            "m 1 # {a=\"b\"}\n# EOF\n",
            Format::OpenMetrics,
            1,
            "exemplar",
        ),
        (
            "m 1 # {a=\"b\"} x\n# EOF\n",
            Format::OpenMetrics,
            1,
            "invalid value",
        ),
        (
            "m 1 nope\n# EOF\n",
            Format::OpenMetrics,
            1,
            "invalid timestamp",
        ),
    ];
    for (text, f, line, want) in cases {
        let err = parse(text, *f).expect_err(text);
        assert_eq!(err.line, *line, "{text:?}: {err}");
        assert!(err.message.contains(want), "{text:?}: {err}");
    }
}

#[test]
fn invalid_utf8_reports_its_line() {
    let body = b"ok 1\nm{a=\"\xff\"} 1\n";
    let e = Parser::check_utf8(body).unwrap_err();
    assert_eq!(e.line, 2);
}

#[test]
fn never_panics_on_garbage() {
    // Every prefix and a few mutations of a real exposition: errors are fine, panics are not.
    let base = "# HELP a x\\\\y\n# TYPE a histogram\na_bucket{le=\"1\",x=\"\\\"q\"} 1 # {t=\"1\"} 2 3\na_count 1\n{\"q\"} 1\n# EOF\n";
    for f in [Format::Prometheus, Format::OpenMetrics] {
        for i in 0..=base.len() {
            if !base.is_char_boundary(i) {
                continue;
            }
            let _ = parse(&base[..i], f);
            let mut s = base.to_string();
            s.insert(i, '\\');
            let _ = parse(&s, f);
            let mut s = base.to_string();
            s.insert_str(i, "{\"");
            let _ = parse(&s, f);
        }
    }
    for junk in [
        "\\",
        "{",
        "}",
        "\"",
        "#",
        "# ",
        "# HELP",
        "# TYPE ",
        "{\"a\"",
        "m{a=\"\\",
        "m 1 # {",
        "m 1 # {a=\"b\"} 1 2 3",
    ] {
        let _ = parse(junk, Format::Prometheus);
        let _ = parse(junk, Format::OpenMetrics);
    }
}
