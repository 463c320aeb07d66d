//! The debug exporter's output, as pure functions returning lines, in the shapes of the
//! collector's debug exporter (basic counts, normal one line per item, detailed dump).

use opentelemetry_proto::tonic::common::v1::{any_value::Value as V, AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    exemplar, metric::Data as M, number_data_point, Metric,
};

use crate::signal::{metric_point_count, Data};

/// The basic summary: the signal's name and its counts, as upstream logs them.
pub fn basic_fields(data: &Data) -> (&'static str, Vec<(&'static str, usize)>) {
    match data {
        Data::Traces(r) => (
            "Traces",
            vec![
                ("resource spans", r.resource_spans.len()),
                ("spans", data.item_count()),
            ],
        ),
        Data::Metrics(r) => (
            "Metrics",
            vec![
                ("resource metrics", r.resource_metrics.len()),
                (
                    "metrics",
                    r.resource_metrics
                        .iter()
                        .flat_map(|rm| &rm.scope_metrics)
                        .map(|sm| sm.metrics.len())
                        .sum(),
                ),
                ("data points", data.item_count()),
            ],
        ),
        Data::Logs(r) => (
            "Logs",
            vec![
                ("resource logs", r.resource_logs.len()),
                ("log records", data.item_count()),
            ],
        ),
    }
}

/// An attribute value as upstream prints it: `Str(x)`, `Int(1)`, `Bool(true)`, …
pub fn any_value(v: Option<&AnyValue>) -> String {
    match v.and_then(|v| v.value.as_ref()) {
        None => "Empty()".into(),
        Some(V::StringValue(s)) => format!("Str({s})"),
        Some(V::BoolValue(b)) => format!("Bool({b})"),
        Some(V::IntValue(i)) => format!("Int({i})"),
        Some(V::DoubleValue(d)) => format!("Double({d})"),
        Some(V::BytesValue(b)) => format!("Bytes({})", hex::encode(b)),
        Some(V::StringValueStrindex(i)) => format!("Strindex({i})"),
        Some(V::ArrayValue(a)) => format!(
            "Slice([{}])",
            a.values
                .iter()
                .map(|x| plain_value(Some(x)))
                .collect::<Vec<_>>()
                .join(",")
        ),
        Some(V::KvlistValue(kv)) => format!(
            "Map({{{}}})",
            kv.values
                .iter()
                .map(|x| format!("{:?}:{}", x.key, plain_value(x.value.as_ref())))
                .collect::<Vec<_>>()
                .join(",")
        ),
    }
}

/// A value without its type wrapper (used in normal verbosity).
fn plain_value(v: Option<&AnyValue>) -> String {
    match v.and_then(|v| v.value.as_ref()) {
        Some(V::StringValue(s)) => s.clone(),
        Some(V::BoolValue(b)) => b.to_string(),
        Some(V::IntValue(i)) => i.to_string(),
        Some(V::DoubleValue(d)) => d.to_string(),
        _ => any_value(v),
    }
}

fn attrs_inline(attrs: &[KeyValue]) -> String {
    attrs
        .iter()
        .map(|kv| format!("{}={}", kv.key, plain_value(kv.value.as_ref())))
        .collect::<Vec<_>>()
        .join(" ")
}

fn attrs_block(out: &mut Vec<String>, title: &str, attrs: &[KeyValue]) {
    if attrs.is_empty() {
        return;
    }
    out.push(format!("{title}:"));
    for kv in attrs {
        out.push(format!(
            "     -> {}: {}",
            kv.key,
            any_value(kv.value.as_ref())
        ));
    }
}

/// Unix nanoseconds as `2018-12-13 14:51:00.3 +0000 UTC`.
pub fn timestamp(nanos: u64) -> String {
    let secs = (nanos / 1_000_000_000) as i64;
    let frac = nanos % 1_000_000_000;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Days to civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let mut s = format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        sod / 3600,
        (sod % 3600) / 60,
        sod % 60
    );
    if frac != 0 {
        let f = format!("{frac:09}");
        s.push('.');
        s.push_str(f.trim_end_matches('0'));
    }
    s.push_str(" +0000 UTC");
    s
}

fn span_kind(k: i32) -> &'static str {
    match k {
        1 => "Internal",
        2 => "Server",
        3 => "Client",
        4 => "Producer",
        5 => "Consumer",
        _ => "Unspecified",
    }
}

fn status_code(c: i32) -> &'static str {
    match c {
        1 => "Ok",
        2 => "Error",
        _ => "Unset",
    }
}

fn metric_type(m: &Metric) -> &'static str {
    match &m.data {
        Some(M::Gauge(_)) => "Gauge",
        Some(M::Sum(_)) => "Sum",
        Some(M::Histogram(_)) => "Histogram",
        Some(M::ExponentialHistogram(_)) => "ExponentialHistogram",
        Some(M::Summary(_)) => "Summary",
        None => "Empty",
    }
}

/// One line per item: spans `name trace_id span_id attrs`, metrics `name type points`,
/// logs `body attrs`, each under its resource and scope.
pub fn normal(data: &Data) -> Vec<String> {
    let mut out = Vec::new();
    match data {
        Data::Traces(r) => {
            for (i, rs) in r.resource_spans.iter().enumerate() {
                let attrs = rs
                    .resource
                    .as_ref()
                    .map(|r| &r.attributes[..])
                    .unwrap_or(&[]);
                out.push(
                    format!("ResourceSpans #{i} {}", attrs_inline(attrs))
                        .trim_end()
                        .into(),
                );
                for (j, ss) in rs.scope_spans.iter().enumerate() {
                    let scope = ss.scope.as_ref();
                    out.push(format!(
                        "ScopeSpans #{j} {}@{}",
                        scope.map(|s| s.name.as_str()).unwrap_or(""),
                        scope.map(|s| s.version.as_str()).unwrap_or("")
                    ));
                    for s in &ss.spans {
                        out.push(
                            format!(
                                "{} {} {} {}",
                                s.name,
                                hex::encode(&s.trace_id),
                                hex::encode(&s.span_id),
                                attrs_inline(&s.attributes)
                            )
                            .trim_end()
                            .into(),
                        );
                    }
                }
            }
        }
        Data::Metrics(r) => {
            for (i, rm) in r.resource_metrics.iter().enumerate() {
                let attrs = rm
                    .resource
                    .as_ref()
                    .map(|r| &r.attributes[..])
                    .unwrap_or(&[]);
                out.push(
                    format!("ResourceMetrics #{i} {}", attrs_inline(attrs))
                        .trim_end()
                        .into(),
                );
                for (j, sm) in rm.scope_metrics.iter().enumerate() {
                    let scope = sm.scope.as_ref();
                    out.push(format!(
                        "ScopeMetrics #{j} {}@{}",
                        scope.map(|s| s.name.as_str()).unwrap_or(""),
                        scope.map(|s| s.version.as_str()).unwrap_or("")
                    ));
                    for m in &sm.metrics {
                        out.push(format!(
                            "{} {} data points: {}",
                            m.name,
                            metric_type(m),
                            metric_point_count(m.data.as_ref())
                        ));
                    }
                }
            }
        }
        Data::Logs(r) => {
            for (i, rl) in r.resource_logs.iter().enumerate() {
                let attrs = rl
                    .resource
                    .as_ref()
                    .map(|r| &r.attributes[..])
                    .unwrap_or(&[]);
                out.push(
                    format!("ResourceLog #{i} {}", attrs_inline(attrs))
                        .trim_end()
                        .into(),
                );
                for (j, sl) in rl.scope_logs.iter().enumerate() {
                    let scope = sl.scope.as_ref();
                    out.push(format!(
                        "ScopeLog #{j} {}@{}",
                        scope.map(|s| s.name.as_str()).unwrap_or(""),
                        scope.map(|s| s.version.as_str()).unwrap_or("")
                    ));
                    for l in &sl.log_records {
                        out.push(
                            format!(
                                "{} {}",
                                plain_value(l.body.as_ref()),
                                attrs_inline(&l.attributes)
                            )
                            .trim_end()
                            .into(),
                        );
                    }
                }
            }
        }
    }
    out
}

/// Everything, field by field, in the layout of the collector's text marshaler.
pub fn detailed(data: &Data) -> Vec<String> {
    let mut out = Vec::new();
    match data {
        Data::Traces(r) => {
            for (i, rs) in r.resource_spans.iter().enumerate() {
                out.push(format!("ResourceSpans #{i}"));
                out.push(format!("Resource SchemaURL: {}", rs.schema_url));
                if let Some(res) = &rs.resource {
                    attrs_block(&mut out, "Resource attributes", &res.attributes);
                }
                for (j, ss) in rs.scope_spans.iter().enumerate() {
                    out.push(format!("ScopeSpans #{j}"));
                    out.push(format!("ScopeSpans SchemaURL: {}", ss.schema_url));
                    if let Some(s) = &ss.scope {
                        out.push(format!("InstrumentationScope {} {}", s.name, s.version));
                        attrs_block(&mut out, "InstrumentationScope attributes", &s.attributes);
                    }
                    for (k, s) in ss.spans.iter().enumerate() {
                        out.push(format!("Span #{k}"));
                        out.push(format!("    Trace ID       : {}", hex::encode(&s.trace_id)));
                        out.push(format!(
                            "    Parent ID      : {}",
                            hex::encode(&s.parent_span_id)
                        ));
                        out.push(format!("    ID             : {}", hex::encode(&s.span_id)));
                        out.push(format!("    Name           : {}", s.name));
                        out.push(format!("    Kind           : {}", span_kind(s.kind)));
                        out.push(format!(
                            "    Start time     : {}",
                            timestamp(s.start_time_unix_nano)
                        ));
                        out.push(format!(
                            "    End time       : {}",
                            timestamp(s.end_time_unix_nano)
                        ));
                        let st = s.status.as_ref();
                        out.push(format!(
                            "    Status code    : {}",
                            status_code(st.map(|s| s.code).unwrap_or(0))
                        ));
                        out.push(format!(
                            "    Status message : {}",
                            st.map(|s| s.message.as_str()).unwrap_or("")
                        ));
                        attrs_block(&mut out, "Attributes", &s.attributes);
                        if !s.events.is_empty() {
                            out.push("Events:".into());
                            for (e, ev) in s.events.iter().enumerate() {
                                out.push(format!("SpanEvent #{e}"));
                                out.push(format!("     -> Name: {}", ev.name));
                                out.push(format!(
                                    "     -> Timestamp: {}",
                                    timestamp(ev.time_unix_nano)
                                ));
                                out.push(format!(
                                    "     -> DroppedAttributesCount: {}",
                                    ev.dropped_attributes_count
                                ));
                                attrs_block(&mut out, "     -> Attributes", &ev.attributes);
                            }
                        }
                        if !s.links.is_empty() {
                            out.push("Links:".into());
                            for (l, link) in s.links.iter().enumerate() {
                                out.push(format!("SpanLink #{l}"));
                                out.push(format!(
                                    "     -> Trace ID: {}",
                                    hex::encode(&link.trace_id)
                                ));
                                out.push(format!("     -> ID: {}", hex::encode(&link.span_id)));
                                out.push(format!("     -> TraceState: {}", link.trace_state));
                            }
                        }
                    }
                }
            }
        }
        Data::Metrics(r) => {
            for (i, rm) in r.resource_metrics.iter().enumerate() {
                out.push(format!("ResourceMetrics #{i}"));
                out.push(format!("Resource SchemaURL: {}", rm.schema_url));
                if let Some(res) = &rm.resource {
                    attrs_block(&mut out, "Resource attributes", &res.attributes);
                }
                for (j, sm) in rm.scope_metrics.iter().enumerate() {
                    out.push(format!("ScopeMetrics #{j}"));
                    out.push(format!("ScopeMetrics SchemaURL: {}", sm.schema_url));
                    if let Some(s) = &sm.scope {
                        out.push(format!("InstrumentationScope {} {}", s.name, s.version));
                    }
                    for (k, m) in sm.metrics.iter().enumerate() {
                        out.push(format!("Metric #{k}"));
                        out.push("Descriptor:".into());
                        out.push(format!("     -> Name: {}", m.name));
                        out.push(format!("     -> Description: {}", m.description));
                        out.push(format!("     -> Unit: {}", m.unit));
                        out.push(format!("     -> DataType: {}", metric_type(m)));
                        metric_points(&mut out, m);
                    }
                }
            }
        }
        Data::Logs(r) => {
            for (i, rl) in r.resource_logs.iter().enumerate() {
                out.push(format!("ResourceLog #{i}"));
                out.push(format!("Resource SchemaURL: {}", rl.schema_url));
                if let Some(res) = &rl.resource {
                    attrs_block(&mut out, "Resource attributes", &res.attributes);
                }
                for (j, sl) in rl.scope_logs.iter().enumerate() {
                    out.push(format!("ScopeLogs #{j}"));
                    out.push(format!("ScopeLogs SchemaURL: {}", sl.schema_url));
                    if let Some(s) = &sl.scope {
                        out.push(format!("InstrumentationScope {} {}", s.name, s.version));
                    }
                    for (k, l) in sl.log_records.iter().enumerate() {
                        out.push(format!("LogRecord #{k}"));
                        out.push(format!(
                            "ObservedTimestamp: {}",
                            timestamp(l.observed_time_unix_nano)
                        ));
                        out.push(format!("Timestamp: {}", timestamp(l.time_unix_nano)));
                        out.push(format!("SeverityText: {}", l.severity_text));
                        out.push(format!("SeverityNumber: {}", l.severity_number));
                        if !l.event_name.is_empty() {
                            out.push(format!("EventName: {}", l.event_name));
                        }
                        out.push(format!("Body: {}", any_value(l.body.as_ref())));
                        attrs_block(&mut out, "Attributes", &l.attributes);
                        out.push(format!("Trace ID: {}", hex::encode(&l.trace_id)));
                        out.push(format!("Span ID: {}", hex::encode(&l.span_id)));
                        out.push(format!("Flags: {}", l.flags));
                    }
                }
            }
        }
    }
    out
}

fn number(v: Option<&number_data_point::Value>) -> String {
    match v {
        Some(number_data_point::Value::AsInt(i)) => i.to_string(),
        Some(number_data_point::Value::AsDouble(d)) => d.to_string(),
        None => "".into(),
    }
}

fn metric_points(out: &mut Vec<String>, m: &Metric) {
    let point_header = |out: &mut Vec<String>, n: usize, attrs: &[KeyValue], start: u64, t: u64| {
        out.push(format!("NumberDataPoints #{n}"));
        attrs_block(out, "Data point attributes", attrs);
        out.push(format!("StartTimestamp: {}", timestamp(start)));
        out.push(format!("Timestamp: {}", timestamp(t)));
    };
    match &m.data {
        Some(M::Gauge(g)) => {
            for (n, p) in g.data_points.iter().enumerate() {
                point_header(
                    out,
                    n,
                    &p.attributes,
                    p.start_time_unix_nano,
                    p.time_unix_nano,
                );
                out.push(format!("Value: {}", number(p.value.as_ref())));
            }
        }
        Some(M::Sum(s)) => {
            out.push(format!("     -> IsMonotonic: {}", s.is_monotonic));
            out.push(format!(
                "     -> AggregationTemporality: {}",
                temporality(s.aggregation_temporality)
            ));
            for (n, p) in s.data_points.iter().enumerate() {
                point_header(
                    out,
                    n,
                    &p.attributes,
                    p.start_time_unix_nano,
                    p.time_unix_nano,
                );
                out.push(format!("Value: {}", number(p.value.as_ref())));
                for e in &p.exemplars {
                    let v = match &e.value {
                        Some(exemplar::Value::AsInt(i)) => i.to_string(),
                        Some(exemplar::Value::AsDouble(d)) => d.to_string(),
                        None => String::new(),
                    };
                    out.push(format!("Exemplar: {v} trace {}", hex::encode(&e.trace_id)));
                }
            }
        }
        Some(M::Histogram(h)) => {
            out.push(format!(
                "     -> AggregationTemporality: {}",
                temporality(h.aggregation_temporality)
            ));
            for (n, p) in h.data_points.iter().enumerate() {
                out.push(format!("HistogramDataPoints #{n}"));
                attrs_block(out, "Data point attributes", &p.attributes);
                out.push(format!(
                    "StartTimestamp: {}",
                    timestamp(p.start_time_unix_nano)
                ));
                out.push(format!("Timestamp: {}", timestamp(p.time_unix_nano)));
                out.push(format!("Count: {}", p.count));
                if let Some(s) = p.sum {
                    out.push(format!("Sum: {s}"));
                }
                if let Some(v) = p.min {
                    out.push(format!("Min: {v}"));
                }
                if let Some(v) = p.max {
                    out.push(format!("Max: {v}"));
                }
                for (b, bound) in p.explicit_bounds.iter().enumerate() {
                    out.push(format!("ExplicitBounds #{b}: {bound}"));
                }
                for (b, c) in p.bucket_counts.iter().enumerate() {
                    out.push(format!("Buckets #{b}, Count: {c}"));
                }
            }
        }
        Some(M::ExponentialHistogram(h)) => {
            out.push(format!(
                "     -> AggregationTemporality: {}",
                temporality(h.aggregation_temporality)
            ));
            for (n, p) in h.data_points.iter().enumerate() {
                out.push(format!("ExponentialHistogramDataPoints #{n}"));
                attrs_block(out, "Data point attributes", &p.attributes);
                out.push(format!("Timestamp: {}", timestamp(p.time_unix_nano)));
                out.push(format!("Count: {}", p.count));
                out.push(format!("Scale: {}", p.scale));
                out.push(format!("ZeroCount: {}", p.zero_count));
            }
        }
        Some(M::Summary(s)) => {
            for (n, p) in s.data_points.iter().enumerate() {
                out.push(format!("SummaryDataPoints #{n}"));
                attrs_block(out, "Data point attributes", &p.attributes);
                out.push(format!("Timestamp: {}", timestamp(p.time_unix_nano)));
                out.push(format!("Count: {}", p.count));
                out.push(format!("Sum: {}", p.sum));
                for q in &p.quantile_values {
                    out.push(format!("QuantileValue: {} {}", q.quantile, q.value));
                }
            }
        }
        None => {}
    }
}

fn temporality(t: i32) -> &'static str {
    match t {
        1 => "Delta",
        2 => "Cumulative",
        _ => "Unspecified",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otlp_json;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/tests/data/otlp_json/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    #[test]
    fn basic_counts_per_signal() {
        let t = Data::Traces(otlp_json::decode_traces(&fixture("trace.json")).unwrap());
        assert_eq!(
            basic_fields(&t),
            ("Traces", vec![("resource spans", 1), ("spans", 1)])
        );
        let m = Data::Metrics(otlp_json::decode_metrics(&fixture("metrics.json")).unwrap());
        assert_eq!(
            basic_fields(&m),
            (
                "Metrics",
                vec![("resource metrics", 1), ("metrics", 3), ("data points", 3)]
            )
        );
        let l = Data::Logs(otlp_json::decode_logs(&fixture("logs.json")).unwrap());
        assert_eq!(
            basic_fields(&l),
            ("Logs", vec![("resource logs", 1), ("log records", 1)])
        );
    }

    #[test]
    fn normal_prints_one_line_per_item() {
        let t = Data::Traces(otlp_json::decode_traces(&fixture("trace.json")).unwrap());
        assert_eq!(
            normal(&t),
            [
                "ResourceSpans #0 service.name=my.service",
                "ScopeSpans #0 my.library@1.0.0",
                "I'm a server span 5b8efff798038103d269b633813fc60c eee19b7ec3c1b174 my.span.attr=some value",
            ]
        );
    }

    #[test]
    fn detailed_dumps_every_field() {
        let t = Data::Traces(otlp_json::decode_traces(&fixture("trace.json")).unwrap());
        let lines = detailed(&t);
        for want in [
            "ResourceSpans #0",
            "     -> service.name: Str(my.service)",
            "InstrumentationScope my.library 1.0.0",
            "    Trace ID       : 5b8efff798038103d269b633813fc60c",
            "    Parent ID      : eee19b7ec3c1b173",
            "    Kind           : Server",
            "    Start time     : 2018-12-13 14:51:00 +0000 UTC",
            "    End time       : 2018-12-13 14:51:01 +0000 UTC",
            "     -> my.span.attr: Str(some value)",
        ] {
            assert!(
                lines.iter().any(|l| l == want),
                "missing {want:?} in {lines:#?}"
            );
        }
        let l = Data::Logs(otlp_json::decode_logs(&fixture("logs.json")).unwrap());
        let lines = detailed(&l);
        assert!(lines.contains(&"Body: Str(Example log record)".to_string()));
        assert!(lines.contains(&"     -> array.attribute: Slice([many,values])".to_string()));
        assert!(lines.contains(&"Timestamp: 2018-12-13 14:51:00.3 +0000 UTC".to_string()));
    }
}
