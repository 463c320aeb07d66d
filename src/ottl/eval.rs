//! Evaluates bound conditions against one item, with the collector's comparison rules.

use std::borrow::Cow;

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::metric::Data as MetricData;
use opentelemetry_proto::tonic::metrics::v1::number_data_point;

use super::bind::{BoolExpr, Field, Func, ValueExpr};
use super::lexer::CmpOp;
use super::parser::Key;
use super::{DataPointRef, TransformContext, Value};

impl<'a> Value<'a> {
    /// Converts an OTLP `AnyValue` (an attribute value or log body) without copying.
    pub fn from_any(v: &'a AnyValue) -> Value<'a> {
        match &v.value {
            None => Value::Nil,
            Some(any_value::Value::StringValue(s)) => Value::Str(Cow::Borrowed(s)),
            Some(any_value::Value::BoolValue(b)) => Value::Bool(*b),
            Some(any_value::Value::IntValue(i)) => Value::Int(*i),
            Some(any_value::Value::DoubleValue(d)) => Value::Double(*d),
            Some(any_value::Value::ArrayValue(a)) => Value::List(&a.values),
            Some(any_value::Value::KvlistValue(m)) => Value::Map(&m.values),
            Some(any_value::Value::BytesValue(b)) => Value::Bytes(Cow::Borrowed(b)),
            // A profiles string-table index: meaningless without the table.
            Some(any_value::Value::StringValueStrindex(_)) => Value::Nil,
        }
    }

    /// The OTTL name of the value's type, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "nil",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Double(_) => "double",
            Value::Str(_) => "string",
            Value::Bytes(_) => "bytes",
            Value::Map(_) => "map",
            Value::List(_) => "slice",
        }
    }

    /// The value as a string the way OTTL's string-like getters convert it: ints and
    /// doubles in decimal, bools as `true`/`false`, bytes as hex, maps and lists as JSON.
    /// `None` for nil.
    pub fn to_string_like(&self) -> Option<Cow<'a, str>> {
        Some(match self {
            Value::Nil => return None,
            Value::Str(s) => s.clone(),
            Value::Bool(b) => Cow::Owned(b.to_string()),
            Value::Int(i) => Cow::Owned(i.to_string()),
            Value::Double(d) => Cow::Owned(d.to_string()),
            Value::Bytes(b) => Cow::Owned(hex::encode(b)),
            Value::Map(m) => Cow::Owned(kvs_to_json(m).to_string()),
            Value::List(l) => Cow::Owned(
                serde_json::Value::Array(l.iter().map(any_to_json).collect()).to_string(),
            ),
        })
    }
}

fn any_to_json(v: &AnyValue) -> serde_json::Value {
    use serde_json::Value as J;
    match &v.value {
        None => J::Null,
        Some(any_value::Value::StringValue(s)) => J::String(s.clone()),
        Some(any_value::Value::BoolValue(b)) => J::Bool(*b),
        Some(any_value::Value::IntValue(i)) => J::from(*i),
        Some(any_value::Value::DoubleValue(d)) => J::from(*d),
        Some(any_value::Value::ArrayValue(a)) => {
            J::Array(a.values.iter().map(any_to_json).collect())
        }
        Some(any_value::Value::KvlistValue(m)) => kvs_to_json(&m.values),
        Some(any_value::Value::BytesValue(b)) => J::String(base64_std(b)),
        Some(any_value::Value::StringValueStrindex(_)) => J::Null,
    }
}

fn kvs_to_json(kvs: &[KeyValue]) -> serde_json::Value {
    serde_json::Value::Object(
        kvs.iter()
            .map(|kv| {
                let v = kv
                    .value
                    .as_ref()
                    .map(any_to_json)
                    .unwrap_or(serde_json::Value::Null);
                (kv.key.clone(), v)
            })
            .collect(),
    )
}

fn base64_std(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn lookup<'a>(kvs: &'a [KeyValue], key: &str) -> Value<'a> {
    kvs.iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .map(Value::from_any)
        .unwrap_or(Value::Nil)
}

fn index<'a>(v: Value<'a>, key: &Key) -> Result<Value<'a>, String> {
    match (v, key) {
        (Value::Nil, _) => Ok(Value::Nil),
        (Value::Map(kvs), Key::Str(k)) => Ok(lookup(kvs, k)),
        (Value::List(xs), Key::Int(i)) => usize::try_from(*i)
            .ok()
            .and_then(|i| xs.get(i))
            .map(Value::from_any)
            .ok_or_else(|| format!("index {i} out of range for a slice of length {}", xs.len())),
        (Value::Map(_), Key::Int(i)) => {
            Err(format!("a map cannot be indexed with the integer {i}"))
        }
        (Value::List(_), Key::Str(k)) => {
            Err(format!("a slice cannot be indexed with the string {k:?}"))
        }
        (other, _) => Err(format!("a {} value cannot be indexed", other.type_name())),
    }
}

fn ids<'a>(b: &'a [u8], as_string: bool) -> Value<'a> {
    if as_string {
        Value::Str(Cow::Owned(hex::encode(b)))
    } else {
        Value::Bytes(Cow::Borrowed(b))
    }
}

fn read<'a>(field: Field, tc: &TransformContext<'a>) -> Value<'a> {
    use Field::*;
    let int = |v: i64| Value::Int(v);
    let s = |v: &'a str| Value::Str(Cow::Borrowed(v));
    match field {
        ResourceAttributes => tc
            .resource
            .map(|r| Value::Map(&r.attributes))
            .unwrap_or(Value::Map(&[])),
        ResourceDroppedAttributesCount => int(tc
            .resource
            .map(|r| r.dropped_attributes_count)
            .unwrap_or(0)
            .into()),
        ScopeName => tc.scope.map(|x| s(&x.name)).unwrap_or(s("")),
        ScopeVersion => tc.scope.map(|x| s(&x.version)).unwrap_or(s("")),
        ScopeAttributes => tc
            .scope
            .map(|x| Value::Map(&x.attributes))
            .unwrap_or(Value::Map(&[])),
        ScopeDroppedAttributesCount => int(tc
            .scope
            .map(|x| x.dropped_attributes_count)
            .unwrap_or(0)
            .into()),
        _ => {
            if let Some(v) = read_span(field, tc) {
                return v;
            }
            if let Some(v) = read_metric(field, tc) {
                return v;
            }
            read_log(field, tc).unwrap_or(Value::Nil)
        }
    }
}

fn read_span<'a>(field: Field, tc: &TransformContext<'a>) -> Option<Value<'a>> {
    use Field::*;
    let s = |v: &'a str| Value::Str(Cow::Borrowed(v));
    if let Some(e) = tc.event {
        match field {
            EventName => return Some(s(&e.name)),
            EventAttributes => return Some(Value::Map(&e.attributes)),
            EventTime => return Some(Value::Int(e.time_unix_nano as i64)),
            EventDroppedAttributesCount => {
                return Some(Value::Int(e.dropped_attributes_count.into()))
            }
            _ => {}
        }
    }
    let sp = tc.span?;
    Some(match field {
        SpanName => s(&sp.name),
        SpanKind => Value::Int(sp.kind.into()),
        SpanStatusCode => Value::Int(sp.status.as_ref().map(|x| x.code).unwrap_or(0).into()),
        SpanStatusMessage => sp.status.as_ref().map(|x| s(&x.message)).unwrap_or(s("")),
        SpanAttributes => Value::Map(&sp.attributes),
        SpanTraceId => ids(&sp.trace_id, false),
        SpanTraceIdString => ids(&sp.trace_id, true),
        SpanId => ids(&sp.span_id, false),
        SpanIdString => ids(&sp.span_id, true),
        SpanParentSpanId => ids(&sp.parent_span_id, false),
        SpanParentSpanIdString => ids(&sp.parent_span_id, true),
        SpanTraceState => s(&sp.trace_state),
        SpanStartTime => Value::Int(sp.start_time_unix_nano as i64),
        SpanEndTime => Value::Int(sp.end_time_unix_nano as i64),
        SpanDroppedAttributesCount => Value::Int(sp.dropped_attributes_count.into()),
        SpanDroppedEventsCount => Value::Int(sp.dropped_events_count.into()),
        SpanDroppedLinksCount => Value::Int(sp.dropped_links_count.into()),
        SpanFlags => Value::Int(sp.flags.into()),
        _ => return None,
    })
}

fn read_metric<'a>(field: Field, tc: &TransformContext<'a>) -> Option<Value<'a>> {
    use Field::*;
    if let Some(dp) = tc.datapoint {
        let v = match (field, dp) {
            (DataPointAttributes, dp) => Value::Map(dp.attributes()),
            (DataPointValueInt, DataPointRef::Number(n)) => Value::Int(match n.value {
                Some(number_data_point::Value::AsInt(i)) => i,
                _ => 0,
            }),
            (DataPointValueDouble, DataPointRef::Number(n)) => Value::Double(match n.value {
                Some(number_data_point::Value::AsDouble(d)) => d,
                _ => 0.0,
            }),
            (DataPointStartTime, dp) => Value::Int(dp.start_time_unix_nano() as i64),
            (DataPointTime, dp) => Value::Int(dp.time_unix_nano() as i64),
            (DataPointFlags, dp) => Value::Int(dp.flags().into()),
            (DataPointCount, DataPointRef::Histogram(h)) => Value::Int(h.count as i64),
            (DataPointCount, DataPointRef::ExponentialHistogram(h)) => Value::Int(h.count as i64),
            (DataPointCount, DataPointRef::Summary(h)) => Value::Int(h.count as i64),
            (DataPointSum, DataPointRef::Histogram(h)) => Value::Double(h.sum.unwrap_or(0.0)),
            (DataPointSum, DataPointRef::ExponentialHistogram(h)) => {
                Value::Double(h.sum.unwrap_or(0.0))
            }
            (DataPointSum, DataPointRef::Summary(h)) => Value::Double(h.sum),
            (DataPointValueInt | DataPointValueDouble | DataPointCount | DataPointSum, _) => {
                Value::Nil
            }
            _ => return read_metric_only(field, tc),
        };
        return Some(v);
    }
    read_metric_only(field, tc)
}

fn read_metric_only<'a>(field: Field, tc: &TransformContext<'a>) -> Option<Value<'a>> {
    use Field::*;
    let m = tc.metric?;
    let s = |v: &'a str| Value::Str(Cow::Borrowed(v));
    Some(match field {
        MetricName => s(&m.name),
        MetricDescription => s(&m.description),
        MetricUnit => s(&m.unit),
        MetricType => Value::Int(match &m.data {
            None => 0,
            Some(MetricData::Gauge(_)) => 1,
            Some(MetricData::Sum(_)) => 2,
            Some(MetricData::Histogram(_)) => 3,
            Some(MetricData::ExponentialHistogram(_)) => 4,
            Some(MetricData::Summary(_)) => 5,
        }),
        MetricAggregationTemporality => Value::Int(match &m.data {
            Some(MetricData::Sum(x)) => x.aggregation_temporality.into(),
            Some(MetricData::Histogram(x)) => x.aggregation_temporality.into(),
            Some(MetricData::ExponentialHistogram(x)) => x.aggregation_temporality.into(),
            _ => 0,
        }),
        MetricIsMonotonic => {
            Value::Bool(matches!(&m.data, Some(MetricData::Sum(x)) if x.is_monotonic))
        }
        _ => return None,
    })
}

fn read_log<'a>(field: Field, tc: &TransformContext<'a>) -> Option<Value<'a>> {
    use Field::*;
    let l = tc.log?;
    let s = |v: &'a str| Value::Str(Cow::Borrowed(v));
    Some(match field {
        LogBody => l.body.as_ref().map(Value::from_any).unwrap_or(Value::Nil),
        LogBodyString => {
            let body = l.body.as_ref().map(Value::from_any).unwrap_or(Value::Nil);
            Value::Str(body.to_string_like().unwrap_or(Cow::Borrowed("")))
        }
        LogSeverityNumber => Value::Int(l.severity_number.into()),
        LogSeverityText => s(&l.severity_text),
        LogAttributes => Value::Map(&l.attributes),
        LogTraceId => ids(&l.trace_id, false),
        LogTraceIdString => ids(&l.trace_id, true),
        LogSpanId => ids(&l.span_id, false),
        LogSpanIdString => ids(&l.span_id, true),
        LogTime => Value::Int(l.time_unix_nano as i64),
        LogObservedTime => Value::Int(l.observed_time_unix_nano as i64),
        LogFlags => Value::Int(l.flags.into()),
        LogDroppedAttributesCount => Value::Int(l.dropped_attributes_count.into()),
        LogEventName => s(&l.event_name),
        _ => return None,
    })
}

fn ord_matches(o: std::cmp::Ordering, op: CmpOp) -> bool {
    use std::cmp::Ordering::*;
    match op {
        CmpOp::Eq => o == Equal,
        CmpOp::Ne => o != Equal,
        CmpOp::Lt => o == Less,
        CmpOp::Le => o != Greater,
        CmpOp::Gt => o == Greater,
        CmpOp::Ge => o != Less,
    }
}

fn float_matches(a: f64, b: f64, op: CmpOp) -> bool {
    match a.partial_cmp(&b) {
        Some(o) => ord_matches(o, op),
        None => op == CmpOp::Ne,
    }
}

/// Compares two values as OTTL does: nil equals only nil; ints and doubles compare
/// numerically; strings and bytes lexically; bools with false < true; maps and slices only
/// for (in)equality; values of different types are never equal and never ordered.
pub fn compare(a: &Value<'_>, b: &Value<'_>, op: CmpOp) -> bool {
    use Value::*;
    match (a, b) {
        (Nil, Nil) => matches!(op, CmpOp::Eq | CmpOp::Le | CmpOp::Ge),
        (Nil, _) | (_, Nil) => op == CmpOp::Ne,
        (Bool(x), Bool(y)) => match op {
            CmpOp::Eq => x == y,
            CmpOp::Ne => x != y,
            CmpOp::Lt => !x & y,
            CmpOp::Le => !x | y,
            CmpOp::Gt => x & !y,
            CmpOp::Ge => x | !y,
        },
        (Int(x), Int(y)) => ord_matches(x.cmp(y), op),
        (Int(x), Double(y)) => float_matches(*x as f64, *y, op),
        (Double(x), Int(y)) => float_matches(*x, *y as f64, op),
        (Double(x), Double(y)) => float_matches(*x, *y, op),
        (Str(x), Str(y)) => ord_matches(x.as_ref().cmp(y.as_ref()), op),
        (Bytes(x), Bytes(y)) => ord_matches(x.as_ref().cmp(y.as_ref()), op),
        (Map(x), Map(y)) => eq_only(maps_equal(x, y), op),
        (List(x), List(y)) => eq_only(x == y, op),
        _ => op == CmpOp::Ne,
    }
}

fn eq_only(equal: bool, op: CmpOp) -> bool {
    match op {
        CmpOp::Eq => equal,
        CmpOp::Ne => !equal,
        _ => false,
    }
}

/// Map equality ignores key order, as pdata's does.
fn maps_equal(x: &[KeyValue], y: &[KeyValue]) -> bool {
    x.len() == y.len()
        && x.iter()
            .all(|kv| y.iter().any(|o| o.key == kv.key && o.value == kv.value))
}

impl ValueExpr {
    pub(crate) fn eval<'a>(&'a self, tc: &TransformContext<'a>) -> Result<Value<'a>, String> {
        Ok(match self {
            ValueExpr::Nil => Value::Nil,
            ValueExpr::Bool(b) => Value::Bool(*b),
            ValueExpr::Int(i) => Value::Int(*i),
            ValueExpr::Float(f) => Value::Double(*f),
            ValueExpr::Str(s) => Value::Str(Cow::Borrowed(s)),
            ValueExpr::Bytes(b) => Value::Bytes(Cow::Borrowed(b)),
            ValueExpr::Path(field, keys) => {
                let mut v = read(*field, tc);
                for k in keys {
                    v = index(v, k)?;
                }
                v
            }
            ValueExpr::Call(f, args) => call(f, args, tc)?,
        })
    }
}

fn call<'a>(
    f: &'a Func,
    args: &'a [ValueExpr],
    tc: &TransformContext<'a>,
) -> Result<Value<'a>, String> {
    let arg = |i: usize| args[i].eval(tc);
    Ok(match f {
        Func::IsMatch(re) => match arg(0)?.to_string_like() {
            Some(s) => Value::Bool(re.is_match(&s)),
            None => Value::Bool(false),
        },
        Func::IsString => Value::Bool(matches!(arg(0)?, Value::Str(_))),
        Func::IsInt => Value::Bool(matches!(arg(0)?, Value::Int(_))),
        Func::IsDouble => Value::Bool(matches!(arg(0)?, Value::Double(_))),
        Func::IsBool => Value::Bool(matches!(arg(0)?, Value::Bool(_))),
        Func::IsMap => Value::Bool(matches!(arg(0)?, Value::Map(_))),
        Func::IsList => Value::Bool(matches!(arg(0)?, Value::List(_))),
        Func::Len => match arg(0)? {
            // Go's len(): bytes of the UTF-8 encoding.
            Value::Str(s) => Value::Int(s.len() as i64),
            Value::Bytes(b) => Value::Int(b.len() as i64),
            Value::Map(m) => Value::Int(m.len() as i64),
            Value::List(l) => Value::Int(l.len() as i64),
            other => return Err(format!("Len: unsupported type {}", other.type_name())),
        },
        Func::HasAttrKeyOnDatapoint(key) => Value::Bool(any_datapoint(tc, |attrs| {
            attrs.iter().any(|kv| kv.key == *key)
        })),
        Func::HasAttrOnDatapoint(key, want) => Value::Bool(any_datapoint(
            tc,
            |attrs| matches!(lookup(attrs, key), Value::Str(s) if s == want.as_str()),
        )),
        Func::IsRootSpan => Value::Bool(
            tc.span
                .is_some_and(|s| s.parent_span_id.iter().all(|b| *b == 0)),
        ),
    })
}

fn any_datapoint(tc: &TransformContext<'_>, pred: impl Fn(&[KeyValue]) -> bool) -> bool {
    let Some(m) = tc.metric else { return false };
    match &m.data {
        None => false,
        Some(MetricData::Gauge(g)) => g.data_points.iter().any(|d| pred(&d.attributes)),
        Some(MetricData::Sum(g)) => g.data_points.iter().any(|d| pred(&d.attributes)),
        Some(MetricData::Histogram(g)) => g.data_points.iter().any(|d| pred(&d.attributes)),
        Some(MetricData::ExponentialHistogram(g)) => {
            g.data_points.iter().any(|d| pred(&d.attributes))
        }
        Some(MetricData::Summary(g)) => g.data_points.iter().any(|d| pred(&d.attributes)),
    }
}

impl BoolExpr {
    pub(crate) fn eval(&self, tc: &TransformContext<'_>) -> Result<bool, String> {
        Ok(match self {
            BoolExpr::Or(xs) => {
                for x in xs {
                    if x.eval(tc)? {
                        return Ok(true);
                    }
                }
                false
            }
            BoolExpr::And(xs) => {
                for x in xs {
                    if !x.eval(tc)? {
                        return Ok(false);
                    }
                }
                true
            }
            BoolExpr::Not(x) => !x.eval(tc)?,
            BoolExpr::Const(b) => *b,
            BoolExpr::Cmp(a, op, b) => compare(&a.eval(tc)?, &b.eval(tc)?, *op),
            BoolExpr::Call(f, args) => match call(f, args, tc)? {
                Value::Bool(b) => b,
                other => {
                    return Err(format!(
                        "function returned {} instead of a bool",
                        other.type_name()
                    ))
                }
            },
        })
    }
}
