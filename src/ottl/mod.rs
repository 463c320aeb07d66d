//! OTTL conditions: the subset of the OpenTelemetry Transformation Language that filter
//! configs use, with the collector's grammar, precedence and comparison rules.
//!
//! A condition is lexed, parsed into a raw tree, then bound to a [`Context`] (resource,
//! scope, span, spanevent, metric, datapoint or log), which resolves every path to a
//! telemetry field and checks every function and enum. Mistakes are [`ParseError`]s that
//! name the condition and the line/column of the offending token.
//!
//! Supported: paths (`name`, `kind`, `status.code`, `attributes["k"]["nested"]`,
//! `resource.attributes["k"]`, `instrumentation_scope.name`, `severity_number`, `body`,
//! `metric.name`, …, see [`Context`]), literals (strings, ints, floats, bools, `nil`,
//! `0x…` bytes), enums (`SPAN_KIND_*`, `STATUS_CODE_*`, `METRIC_DATA_TYPE_*`,
//! `AGGREGATION_TEMPORALITY_*`, `SEVERITY_NUMBER_*`), comparisons `== != < <= > >=`,
//! `and` / `or` / `not`, parentheses, and the converters `IsMatch`, `IsString`, `IsInt`,
//! `IsDouble`, `IsBool`, `IsMap`, `IsList`, `Len`, `HasAttrKeyOnDatapoint`,
//! `HasAttrOnDatapoint` and `IsRootSpan`.

mod bind;
mod eval;
mod lexer;
mod parser;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::fmt;

use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::{
    ExponentialHistogramDataPoint, HistogramDataPoint, Metric, NumberDataPoint, SummaryDataPoint,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::Event;
use opentelemetry_proto::tonic::trace::v1::Span;

pub use eval::compare;
pub use lexer::CmpOp;
pub use parser::Key;

/// The level of telemetry a condition is evaluated against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Context {
    /// A resource: `resource.attributes`, `resource.dropped_attributes_count`.
    Resource,
    /// An instrumentation scope: `name`, `version`, `attributes`, plus the resource.
    Scope,
    /// A span: `name`, `kind`, `status.code`, `status.message`, `attributes`, `trace_id`,
    /// `span_id`, `parent_span_id` (each also `.string`), `trace_state`, timestamps,
    /// dropped counts, `flags`; plus scope and resource.
    Span,
    /// A span event: `name`, `attributes`, `time_unix_nano`, `dropped_attributes_count`;
    /// plus the span (`span.name`…), scope and resource.
    SpanEvent,
    /// A metric: `name`, `description`, `unit`, `type`, `aggregation_temporality`,
    /// `is_monotonic`; plus scope and resource.
    Metric,
    /// A data point: `attributes`, `value_int`, `value_double`, timestamps, `count`, `sum`,
    /// `flags`; plus the metric (`metric.name`…), scope and resource.
    DataPoint,
    /// A log record: `body` (indexable, and `body.string`), `severity_number`,
    /// `severity_text`, `attributes`, `trace_id`, `span_id`, timestamps, `flags`,
    /// `event_name`, `dropped_attributes_count`; plus scope and resource.
    Log,
}

impl Context {
    /// The context's name as written in configs and path prefixes.
    pub fn name(self) -> &'static str {
        match self {
            Context::Resource => "resource",
            Context::Scope => "scope",
            Context::Span => "span",
            Context::SpanEvent => "spanevent",
            Context::Metric => "metric",
            Context::DataPoint => "datapoint",
            Context::Log => "log",
        }
    }

    /// Parses a context name (`log_record` is accepted for `log`).
    pub fn parse(s: &str) -> Option<Context> {
        match s.to_ascii_lowercase().as_str() {
            "log_record" => Some(Context::Log),
            "instrumentation_scope" => Some(Context::Scope),
            other => bind::context_prefix(other),
        }
    }

    /// True when a condition in this context can read paths of `other` (itself or a parent).
    pub fn can_access(self, other: Context) -> bool {
        use Context::*;
        self == other
            || match self {
                Resource => false,
                Scope => other == Resource,
                Span | Metric | Log => matches!(other, Resource | Scope),
                SpanEvent => matches!(other, Resource | Scope | Span),
                DataPoint => matches!(other, Resource | Scope | Metric),
            }
    }

    /// How specific the context is: inference picks the most specific one used.
    fn depth(self) -> u8 {
        match self {
            Context::Resource => 0,
            Context::Scope => 1,
            Context::Span | Context::Metric | Context::Log => 2,
            Context::SpanEvent | Context::DataPoint => 3,
        }
    }
}

impl fmt::Display for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A condition that cannot be parsed or bound: the condition, where, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The condition as written.
    pub condition: String,
    /// Byte offset of the offending token.
    pub offset: usize,
    /// 1-based line of the offending token.
    pub line: usize,
    /// 1-based column (in characters) of the offending token.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl ParseError {
    pub(crate) fn new(src: &str, offset: usize, message: String) -> ParseError {
        let offset = offset.min(src.len());
        let before = &src[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let column = src[line_start..offset].chars().count() + 1;
        ParseError {
            condition: src.to_string(),
            offset,
            line,
            column,
            message,
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "condition {:?}: {} (", self.condition, self.message)?;
        if self.condition.contains('\n') {
            write!(f, "line {}, ", self.line)?;
        }
        write!(f, "column {})", self.column)
    }
}

impl std::error::Error for ParseError {}

/// A condition failed at run time (e.g. `Len` of a number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalError {
    /// The condition as written.
    pub condition: String,
    /// What went wrong.
    pub message: String,
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "condition {:?}: {}", self.condition, self.message)
    }
}

impl std::error::Error for EvalError {}

/// A value read from telemetry or written as a literal.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// Absent (a missing attribute, an empty value).
    Nil,
    /// A boolean.
    Bool(bool),
    /// A 64-bit integer (also enums and timestamps).
    Int(i64),
    /// A double.
    Double(f64),
    /// A string.
    Str(Cow<'a, str>),
    /// Bytes (trace and span IDs).
    Bytes(Cow<'a, [u8]>),
    /// A map (attributes, kvlist values).
    Map(&'a [KeyValue]),
    /// A slice (array values).
    List(&'a [AnyValue]),
}

/// One data point of any metric type.
#[derive(Debug, Clone, Copy)]
pub enum DataPointRef<'a> {
    /// A gauge or sum point.
    Number(&'a NumberDataPoint),
    /// A histogram point.
    Histogram(&'a HistogramDataPoint),
    /// An exponential histogram point.
    ExponentialHistogram(&'a ExponentialHistogramDataPoint),
    /// A summary point.
    Summary(&'a SummaryDataPoint),
}

impl<'a> DataPointRef<'a> {
    /// The point's attributes.
    pub fn attributes(self) -> &'a [KeyValue] {
        match self {
            DataPointRef::Number(d) => &d.attributes,
            DataPointRef::Histogram(d) => &d.attributes,
            DataPointRef::ExponentialHistogram(d) => &d.attributes,
            DataPointRef::Summary(d) => &d.attributes,
        }
    }

    fn start_time_unix_nano(self) -> u64 {
        match self {
            DataPointRef::Number(d) => d.start_time_unix_nano,
            DataPointRef::Histogram(d) => d.start_time_unix_nano,
            DataPointRef::ExponentialHistogram(d) => d.start_time_unix_nano,
            DataPointRef::Summary(d) => d.start_time_unix_nano,
        }
    }

    fn time_unix_nano(self) -> u64 {
        match self {
            DataPointRef::Number(d) => d.time_unix_nano,
            DataPointRef::Histogram(d) => d.time_unix_nano,
            DataPointRef::ExponentialHistogram(d) => d.time_unix_nano,
            DataPointRef::Summary(d) => d.time_unix_nano,
        }
    }

    fn flags(self) -> u32 {
        match self {
            DataPointRef::Number(d) => d.flags,
            DataPointRef::Histogram(d) => d.flags,
            DataPointRef::ExponentialHistogram(d) => d.flags,
            DataPointRef::Summary(d) => d.flags,
        }
    }
}

/// The item a condition is evaluated against, with its parents. Fields below the
/// condition's context are `None`.
#[derive(Debug, Clone, Copy, Default)]
pub struct TransformContext<'a> {
    /// The resource.
    pub resource: Option<&'a Resource>,
    /// The instrumentation scope.
    pub scope: Option<&'a InstrumentationScope>,
    /// The span (span and spanevent contexts).
    pub span: Option<&'a Span>,
    /// The span event (spanevent context).
    pub event: Option<&'a Event>,
    /// The metric (metric and datapoint contexts).
    pub metric: Option<&'a Metric>,
    /// The data point (datapoint context).
    pub datapoint: Option<DataPointRef<'a>>,
    /// The log record (log context).
    pub log: Option<&'a LogRecord>,
}

/// A parsed, bound condition.
#[derive(Debug, Clone)]
pub struct Condition {
    source: String,
    context: Context,
    expr: bind::BoolExpr,
}

impl Condition {
    /// Parses a condition for a known context. Paths may name their context
    /// (`span.name`, `resource.attributes["k"]`) or not (`name` is the context's own).
    pub fn parse(source: &str, context: Context) -> Result<Condition, ParseError> {
        Self::parse_with(source, context, false)
    }

    fn parse_with(
        source: &str,
        context: Context,
        require_prefix: bool,
    ) -> Result<Condition, ParseError> {
        let raw = parser::parse(source)?;
        let binder = bind::Binder {
            src: source,
            ctx: context,
            require_prefix,
        };
        Ok(Condition {
            source: source.to_string(),
            context,
            expr: binder.bind_bool(&raw)?,
        })
    }

    /// Evaluates the condition; errors carry the condition's text.
    pub fn eval(&self, tc: &TransformContext<'_>) -> Result<bool, EvalError> {
        self.expr.eval(tc).map_err(|message| EvalError {
            condition: self.source.clone(),
            message,
        })
    }

    /// The condition as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The context it is bound to.
    pub fn context(&self) -> Context {
        self.context
    }
}

/// Parses a group of conditions that share one context, as the collector's
/// `trace_conditions` / `metric_conditions` / `log_conditions` do.
///
/// With `context` given, paths may omit their context prefix. Without, the context is
/// inferred: every path must name its context, and the most specific one used by any
/// condition of the group is chosen; it must be one of `allowed` (the contexts of the
/// signal) and able to read every other context named.
pub fn parse_group(
    sources: &[String],
    context: Option<Context>,
    allowed: &[Context],
) -> Result<(Context, Vec<Condition>), ParseError> {
    let ctx = match context {
        Some(c) => {
            if !allowed.contains(&c) {
                let first = sources.first().map(String::as_str).unwrap_or("");
                return Err(ParseError::new(
                    first,
                    0,
                    format!(
                        "context {c} is not available here (use one of {})",
                        allowed
                            .iter()
                            .map(|c| c.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
            c
        }
        None => infer_context(sources, allowed)?,
    };
    let conds = sources
        .iter()
        .map(|s| Condition::parse_with(s, ctx, context.is_none()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((ctx, conds))
}

/// Infers the context of a group of conditions from their path prefixes and functions.
pub fn infer_context(sources: &[String], allowed: &[Context]) -> Result<Context, ParseError> {
    let mut best: Option<(Context, usize, usize)> = None; // context, condition index, offset
    let mut named: Vec<(Context, usize, usize)> = Vec::new();
    for (i, src) in sources.iter().enumerate() {
        let raw = parser::parse(src)?;
        raw.for_each_value(&mut |v| {
            let found = match &v.kind {
                parser::RawKind::Path(fields) => bind::path_context(fields),
                parser::RawKind::Call { name, .. } => bind::function_context(name),
                _ => None,
            };
            if let Some(c) = found {
                named.push((c, i, v.pos));
            }
        });
    }
    for &(c, i, pos) in &named {
        if !allowed.contains(&c) {
            return Err(ParseError::new(
                &sources[i],
                pos,
                format!(
                    "the {c} context is not available here (use one of {})",
                    allowed
                        .iter()
                        .map(|c| c.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        if best.is_none_or(|(b, _, _)| c.depth() > b.depth()) {
            best = Some((c, i, pos));
        }
    }
    let Some((ctx, _, _)) = best else {
        let first = sources.first().map(String::as_str).unwrap_or("");
        return Err(ParseError::new(
            first,
            0,
            "unable to infer the context: prefix paths with their context (e.g. `span.name`, `resource.attributes[\"k\"]`) or use `context:`".into(),
        ));
    };
    for &(c, i, pos) in &named {
        if !ctx.can_access(c) {
            return Err(ParseError::new(
                &sources[i],
                pos,
                format!("the {c} context cannot be combined with the {ctx} context in one group"),
            ));
        }
    }
    Ok(ctx)
}
