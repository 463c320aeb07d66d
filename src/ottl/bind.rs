//! Binds a raw condition to a context: resolves paths to fields, checks functions, their
//! arguments and enums. Everything a condition can get wrong statically is reported here,
//! with the position of the offending path, function or enum.

use regex::Regex;

use super::lexer::CmpOp;
use super::parser::{Key, RawBool, RawField, RawKind, RawValue};
use super::{Context, ParseError};
use crate::config::decode::did_you_mean;

/// A telemetry field a path resolves to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    ResourceAttributes,
    ResourceDroppedAttributesCount,
    ScopeName,
    ScopeVersion,
    ScopeAttributes,
    ScopeDroppedAttributesCount,
    SpanName,
    SpanKind,
    SpanStatusCode,
    SpanStatusMessage,
    SpanAttributes,
    SpanTraceId,
    SpanTraceIdString,
    SpanId,
    SpanIdString,
    SpanParentSpanId,
    SpanParentSpanIdString,
    SpanTraceState,
    SpanStartTime,
    SpanEndTime,
    SpanDroppedAttributesCount,
    SpanDroppedEventsCount,
    SpanDroppedLinksCount,
    SpanFlags,
    EventName,
    EventAttributes,
    EventTime,
    EventDroppedAttributesCount,
    MetricName,
    MetricDescription,
    MetricUnit,
    MetricType,
    MetricAggregationTemporality,
    MetricIsMonotonic,
    DataPointAttributes,
    DataPointValueInt,
    DataPointValueDouble,
    DataPointStartTime,
    DataPointTime,
    DataPointCount,
    DataPointSum,
    DataPointFlags,
    LogBody,
    LogBodyString,
    LogSeverityNumber,
    LogSeverityText,
    LogAttributes,
    LogTraceId,
    LogTraceIdString,
    LogSpanId,
    LogSpanIdString,
    LogTime,
    LogObservedTime,
    LogFlags,
    LogDroppedAttributesCount,
    LogEventName,
}

impl Field {
    fn takes_keys(self) -> bool {
        matches!(
            self,
            Field::ResourceAttributes
                | Field::ScopeAttributes
                | Field::SpanAttributes
                | Field::EventAttributes
                | Field::DataPointAttributes
                | Field::LogAttributes
                | Field::LogBody
        )
    }
}

/// The fields of each context: (path after the context name, field).
fn fields_of(ctx: Context) -> &'static [(&'static str, Field)] {
    use Field::*;
    match ctx {
        Context::Resource => &[
            ("attributes", ResourceAttributes),
            ("dropped_attributes_count", ResourceDroppedAttributesCount),
        ],
        Context::Scope => &[
            ("name", ScopeName),
            ("version", ScopeVersion),
            ("attributes", ScopeAttributes),
            ("dropped_attributes_count", ScopeDroppedAttributesCount),
        ],
        Context::Span => &[
            ("name", SpanName),
            ("kind", SpanKind),
            ("status.code", SpanStatusCode),
            ("status.message", SpanStatusMessage),
            ("attributes", SpanAttributes),
            ("trace_id", SpanTraceId),
            ("trace_id.string", SpanTraceIdString),
            ("span_id", SpanId),
            ("span_id.string", SpanIdString),
            ("parent_span_id", SpanParentSpanId),
            ("parent_span_id.string", SpanParentSpanIdString),
            ("trace_state", SpanTraceState),
            ("start_time_unix_nano", SpanStartTime),
            ("end_time_unix_nano", SpanEndTime),
            ("dropped_attributes_count", SpanDroppedAttributesCount),
            ("dropped_events_count", SpanDroppedEventsCount),
            ("dropped_links_count", SpanDroppedLinksCount),
            ("flags", SpanFlags),
        ],
        Context::SpanEvent => &[
            ("name", EventName),
            ("attributes", EventAttributes),
            ("time_unix_nano", EventTime),
            ("dropped_attributes_count", EventDroppedAttributesCount),
        ],
        Context::Metric => &[
            ("name", MetricName),
            ("description", MetricDescription),
            ("unit", MetricUnit),
            ("type", MetricType),
            ("aggregation_temporality", MetricAggregationTemporality),
            ("is_monotonic", MetricIsMonotonic),
        ],
        Context::DataPoint => &[
            ("attributes", DataPointAttributes),
            ("value_int", DataPointValueInt),
            ("value_double", DataPointValueDouble),
            ("start_time_unix_nano", DataPointStartTime),
            ("time_unix_nano", DataPointTime),
            ("count", DataPointCount),
            ("sum", DataPointSum),
            ("flags", DataPointFlags),
        ],
        Context::Log => &[
            ("body", LogBody),
            ("body.string", LogBodyString),
            ("severity_number", LogSeverityNumber),
            ("severity_text", LogSeverityText),
            ("attributes", LogAttributes),
            ("trace_id", LogTraceId),
            ("trace_id.string", LogTraceIdString),
            ("span_id", LogSpanId),
            ("span_id.string", LogSpanIdString),
            ("time_unix_nano", LogTime),
            ("observed_time_unix_nano", LogObservedTime),
            ("flags", LogFlags),
            ("dropped_attributes_count", LogDroppedAttributesCount),
            ("event_name", LogEventName),
        ],
    }
}

/// A converter function.
#[derive(Debug, Clone)]
pub(crate) enum Func {
    IsMatch(Regex),
    IsString,
    IsInt,
    IsDouble,
    IsBool,
    IsMap,
    IsList,
    Len,
    HasAttrKeyOnDatapoint(String),
    HasAttrOnDatapoint(String, String),
    IsRootSpan,
}

/// Every supported function name, for messages.
pub(crate) const FUNCTIONS: &[&str] = &[
    "IsMatch",
    "IsString",
    "IsInt",
    "IsDouble",
    "IsBool",
    "IsMap",
    "IsList",
    "Len",
    "HasAttrKeyOnDatapoint",
    "HasAttrOnDatapoint",
    "IsRootSpan",
];

/// A bound value expression.
#[derive(Debug, Clone)]
pub(crate) enum ValueExpr {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    Path(Field, Vec<Key>),
    Call(Func, Vec<ValueExpr>),
}

/// A bound boolean expression.
#[derive(Debug, Clone)]
pub(crate) enum BoolExpr {
    Or(Vec<BoolExpr>),
    And(Vec<BoolExpr>),
    Not(Box<BoolExpr>),
    Const(bool),
    Cmp(ValueExpr, CmpOp, ValueExpr),
    Call(Func, Vec<ValueExpr>),
}

/// The context a path prefix names (`span.name` → span), if it is one.
pub(crate) fn context_prefix(name: &str) -> Option<Context> {
    Some(match name {
        "resource" => Context::Resource,
        "scope" | "instrumentation_scope" => Context::Scope,
        "span" => Context::Span,
        "spanevent" => Context::SpanEvent,
        "metric" => Context::Metric,
        "datapoint" => Context::DataPoint,
        "log" => Context::Log,
        _ => return None,
    })
}

/// The context a raw path names explicitly with its first field, if any.
pub(crate) fn path_context(fields: &[RawField]) -> Option<Context> {
    if fields.len() >= 2 && fields[0].keys.is_empty() {
        context_prefix(&fields[0].name)
    } else {
        None
    }
}

/// The context a function implies (for context inference), if any.
pub(crate) fn function_context(name: &str) -> Option<Context> {
    match name {
        "HasAttrKeyOnDatapoint" | "HasAttrOnDatapoint" => Some(Context::Metric),
        "IsRootSpan" => Some(Context::Span),
        _ => None,
    }
}

pub(crate) struct Binder<'s> {
    pub src: &'s str,
    pub ctx: Context,
    /// Paths must name their context (`span.name`), as in context-inferred conditions.
    pub require_prefix: bool,
}

fn enum_value(ctx: Context, name: &str) -> Option<i64> {
    let span = matches!(ctx, Context::Span | Context::SpanEvent);
    let metric = matches!(ctx, Context::Metric | Context::DataPoint);
    let log = ctx == Context::Log;
    let v = match name {
        "SPAN_KIND_UNSPECIFIED" if span => 0,
        "SPAN_KIND_INTERNAL" if span => 1,
        "SPAN_KIND_SERVER" if span => 2,
        "SPAN_KIND_CLIENT" if span => 3,
        "SPAN_KIND_PRODUCER" if span => 4,
        "SPAN_KIND_CONSUMER" if span => 5,
        "STATUS_CODE_UNSET" if span => 0,
        "STATUS_CODE_OK" if span => 1,
        "STATUS_CODE_ERROR" if span => 2,
        "METRIC_DATA_TYPE_NONE" if metric => 0,
        "METRIC_DATA_TYPE_GAUGE" if metric => 1,
        "METRIC_DATA_TYPE_SUM" if metric => 2,
        "METRIC_DATA_TYPE_HISTOGRAM" if metric => 3,
        "METRIC_DATA_TYPE_EXPONENTIAL_HISTOGRAM" if metric => 4,
        "METRIC_DATA_TYPE_SUMMARY" if metric => 5,
        "AGGREGATION_TEMPORALITY_UNSPECIFIED" if metric => 0,
        "AGGREGATION_TEMPORALITY_DELTA" if metric => 1,
        "AGGREGATION_TEMPORALITY_CUMULATIVE" if metric => 2,
        "FLAG_NONE" if ctx == Context::DataPoint => 0,
        "FLAG_NO_RECORDED_VALUE" if ctx == Context::DataPoint => 1,
        "SEVERITY_NUMBER_UNSPECIFIED" if log => 0,
        _ if log && name.starts_with("SEVERITY_NUMBER_") => {
            return severity_enum(&name["SEVERITY_NUMBER_".len()..]);
        }
        _ => return None,
    };
    Some(v)
}

/// `TRACE`..`FATAL4` → 1..24.
fn severity_enum(s: &str) -> Option<i64> {
    let bases = [
        ("TRACE", 1),
        ("DEBUG", 5),
        ("INFO", 9),
        ("WARN", 13),
        ("ERROR", 17),
        ("FATAL", 21),
    ];
    for (name, base) in bases {
        if let Some(rest) = s.strip_prefix(name) {
            return match rest {
                "" => Some(base),
                "2" => Some(base + 1),
                "3" => Some(base + 2),
                "4" => Some(base + 3),
                _ => None,
            };
        }
    }
    None
}

enum Returns {
    Bool,
    Int,
}

impl Binder<'_> {
    fn err(&self, pos: usize, msg: String) -> ParseError {
        ParseError::new(self.src, pos, msg)
    }

    pub(crate) fn bind_bool(&self, raw: &RawBool) -> Result<BoolExpr, ParseError> {
        Ok(match raw {
            RawBool::Or(xs) => BoolExpr::Or(
                xs.iter()
                    .map(|x| self.bind_bool(x))
                    .collect::<Result<_, _>>()?,
            ),
            RawBool::And(xs) => BoolExpr::And(
                xs.iter()
                    .map(|x| self.bind_bool(x))
                    .collect::<Result<_, _>>()?,
            ),
            RawBool::Not(x) => BoolExpr::Not(Box::new(self.bind_bool(x)?)),
            RawBool::Const(b) => BoolExpr::Const(*b),
            RawBool::Cmp(a, op, b) => BoolExpr::Cmp(self.bind_value(a)?, *op, self.bind_value(b)?),
            RawBool::Call(v) => {
                let RawKind::Call { name, args } = &v.kind else {
                    unreachable!("RawBool::Call holds a call")
                };
                let (func, args, returns) = self.bind_call(v.pos, name, args)?;
                if let Returns::Int = returns {
                    return Err(self.err(
                        v.pos,
                        format!("{name} returns an integer, not a boolean; compare it, e.g. `{name}(…) > 0`"),
                    ));
                }
                BoolExpr::Call(func, args)
            }
        })
    }

    fn bind_value(&self, raw: &RawValue) -> Result<ValueExpr, ParseError> {
        Ok(match &raw.kind {
            RawKind::Nil => ValueExpr::Nil,
            RawKind::Bool(b) => ValueExpr::Bool(*b),
            RawKind::Int(i) => ValueExpr::Int(*i),
            RawKind::Float(f) => ValueExpr::Float(*f),
            RawKind::Str(s) => ValueExpr::Str(s.clone()),
            RawKind::Bytes(b) => ValueExpr::Bytes(b.clone()),
            RawKind::Enum(name) => match enum_value(self.ctx, name) {
                Some(v) => ValueExpr::Int(v),
                None => {
                    return Err(self.err(
                        raw.pos,
                        format!("unknown enum `{name}` in the {} context", self.ctx.name()),
                    ))
                }
            },
            RawKind::Path(fields) => {
                let (field, keys) = self.bind_path(fields)?;
                ValueExpr::Path(field, keys)
            }
            RawKind::Call { name, args } => {
                let (func, args, _) = self.bind_call(raw.pos, name, args)?;
                ValueExpr::Call(func, args)
            }
        })
    }

    fn bind_path(&self, fields: &[RawField]) -> Result<(Field, Vec<Key>), ParseError> {
        let pos = fields[0].pos;
        let written = fields
            .iter()
            .map(|f| f.name.as_str())
            .collect::<Vec<_>>()
            .join(".");
        let (target, rest) = match path_context(fields) {
            Some(c) => (c, &fields[1..]),
            None if self.require_prefix => {
                const NAMES: [&str; 8] = [
                    "resource",
                    "scope",
                    "instrumentation_scope",
                    "span",
                    "spanevent",
                    "metric",
                    "datapoint",
                    "log",
                ];
                if let Some(hint) = did_you_mean(&fields[0].name, NAMES) {
                    return Err(self.err(
                        pos,
                        format!("`{}` is not a context name ({hint})", fields[0].name),
                    ));
                }
                return Err(self.err(
                    pos,
                    format!(
                        "path `{written}` does not name its context; context-inferred conditions need prefixed paths such as `{}.{written}`",
                        self.ctx.name()
                    ),
                ));
            }
            None => (self.ctx, fields),
        };
        if !self.ctx.can_access(target) {
            return Err(self.err(
                pos,
                format!(
                    "path `{written}` belongs to the {} context, which the {} context cannot read",
                    target.name(),
                    self.ctx.name()
                ),
            ));
        }
        for f in &rest[..rest.len() - 1] {
            if !f.keys.is_empty() {
                return Err(self.err(f.pos, format!("`{}` cannot be indexed", f.name)));
            }
        }
        let last = &rest[rest.len() - 1];
        let name = rest
            .iter()
            .map(|f| f.name.as_str())
            .collect::<Vec<_>>()
            .join(".");
        let table = fields_of(target);
        let Some(&(_, field)) = table.iter().find(|(n, _)| *n == name) else {
            let hint = did_you_mean(&name, table.iter().map(|(n, _)| *n))
                .map(|h| format!(" ({h})"))
                .unwrap_or_default();
            return Err(self.err(
                pos,
                format!(
                    "unknown path `{written}` in the {} context{hint}",
                    target.name()
                ),
            ));
        };
        if !last.keys.is_empty() && !field.takes_keys() {
            return Err(self.err(last.pos, format!("`{written}` cannot be indexed")));
        }
        Ok((field, last.keys.clone()))
    }

    fn bind_call(
        &self,
        pos: usize,
        name: &str,
        args: &[RawValue],
    ) -> Result<(Func, Vec<ValueExpr>, Returns), ParseError> {
        let arity = |n: usize| -> Result<(), ParseError> {
            if args.len() == n {
                Ok(())
            } else {
                Err(self.err(
                    pos,
                    format!(
                        "{name} takes {n} argument{}, got {}",
                        if n == 1 { "" } else { "s" },
                        args.len()
                    ),
                ))
            }
        };
        let literal = |i: usize| -> Result<String, ParseError> {
            match &args[i].kind {
                RawKind::Str(s) => Ok(s.clone()),
                _ => Err(self.err(
                    args[i].pos,
                    format!("argument {} of {name} must be a string literal", i + 1),
                )),
            }
        };
        let only_in = |ctx: Context| -> Result<(), ParseError> {
            if self.ctx == ctx {
                Ok(())
            } else {
                Err(self.err(
                    pos,
                    format!(
                        "{name} is only available in the {} context, not the {} context",
                        ctx.name(),
                        self.ctx.name()
                    ),
                ))
            }
        };
        let (func, bound, returns) = match name {
            "IsMatch" => {
                arity(2)?;
                let pattern = literal(1)?;
                let re = Regex::new(&pattern).map_err(|e| {
                    self.err(
                        args[1].pos,
                        format!("invalid regular expression {pattern:?}: {e}"),
                    )
                })?;
                (
                    Func::IsMatch(re),
                    vec![self.bind_value(&args[0])?],
                    Returns::Bool,
                )
            }
            "IsString" | "IsInt" | "IsDouble" | "IsBool" | "IsMap" | "IsList" | "Len" => {
                arity(1)?;
                let f = match name {
                    "IsString" => Func::IsString,
                    "IsInt" => Func::IsInt,
                    "IsDouble" => Func::IsDouble,
                    "IsBool" => Func::IsBool,
                    "IsMap" => Func::IsMap,
                    "IsList" => Func::IsList,
                    _ => Func::Len,
                };
                let r = if name == "Len" {
                    Returns::Int
                } else {
                    Returns::Bool
                };
                (f, vec![self.bind_value(&args[0])?], r)
            }
            "HasAttrKeyOnDatapoint" => {
                only_in(Context::Metric)?;
                arity(1)?;
                (
                    Func::HasAttrKeyOnDatapoint(literal(0)?),
                    vec![],
                    Returns::Bool,
                )
            }
            "HasAttrOnDatapoint" => {
                only_in(Context::Metric)?;
                arity(2)?;
                (
                    Func::HasAttrOnDatapoint(literal(0)?, literal(1)?),
                    vec![],
                    Returns::Bool,
                )
            }
            "IsRootSpan" => {
                only_in(Context::Span)?;
                arity(0)?;
                (Func::IsRootSpan, vec![], Returns::Bool)
            }
            _ => {
                let hint = did_you_mean(name, FUNCTIONS.iter().copied())
                    .map(|h| format!("; {h}"))
                    .unwrap_or_default();
                return Err(self.err(
                    pos,
                    format!(
                        "unknown function `{name}` (supported: {}){hint}",
                        FUNCTIONS.join(", ")
                    ),
                ));
            }
        };
        Ok((func, bound, returns))
    }
}
