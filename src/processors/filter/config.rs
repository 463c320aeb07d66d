//! `processors: filter:` config, with the collector's keys. The doc comments are the
//! reference.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// How the processor reacts when a condition fails at run time (e.g. `Len` of a number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ErrorMode {
    /// The error is logged and the whole batch is dropped (default).
    #[default]
    Propagate,
    /// The error is logged; the failing condition counts as false and the next one runs.
    Ignore,
    /// As `ignore`, without logging.
    Silent,
}

impl ErrorMode {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorMode::Propagate => "propagate",
            ErrorMode::Ignore => "ignore",
            ErrorMode::Silent => "silent",
        }
    }
}

impl<'de> Deserialize<'de> for ErrorMode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.to_ascii_lowercase().as_str() {
            "propagate" => Ok(ErrorMode::Propagate),
            "ignore" => Ok(ErrorMode::Ignore),
            "silent" => Ok(ErrorMode::Silent),
            other => Err(serde::de::Error::custom(format!(
                "unknown error_mode {other:?} (propagate, ignore or silent)"
            ))),
        }
    }
}

/// `processors: filter:` config.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilterConfig {
    /// `propagate` (default), `ignore` or `silent`: what a condition that fails at run time
    /// does. Conditions that do not parse are always config errors.
    pub error_mode: ErrorMode,
    /// Legacy span matching: `include` / `exclude` with `match_type: strict|regexp`.
    pub spans: SpanMatchConfig,
    /// OTTL conditions for traces, per context (`resource`, `span`, `spanevent`).
    pub traces: TraceFilters,
    /// OTTL conditions for metrics (`resource`, `metric`, `datapoint`) or legacy
    /// `include` / `exclude`.
    pub metrics: MetricFilters,
    /// OTTL conditions for logs (`resource`, `log_record`) or legacy `include` / `exclude`.
    pub logs: LogFilters,
    /// Context-inferred trace conditions: a list of condition strings (paths name their
    /// context, e.g. `span.name`), or a list of `{context, conditions, error_mode}` groups.
    pub trace_conditions: Option<Vec<Value>>,
    /// Context-inferred metric conditions (as `trace_conditions`).
    pub metric_conditions: Option<Vec<Value>>,
    /// Context-inferred log conditions (as `trace_conditions`).
    pub log_conditions: Option<Vec<Value>>,
    /// Profiles conditions: accepted for compatibility; Sluice has no profiles signal.
    pub profiles: Option<Value>,
    /// Context-inferred profile conditions: accepted for compatibility, never applied.
    pub profile_conditions: Option<Value>,
}

/// `traces:` OTTL conditions. Any true condition drops the item.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TraceFilters {
    /// Resource conditions: a match drops the resource and all its spans.
    #[serde(deserialize_with = "conditions")]
    pub resource: Option<Vec<String>>,
    /// Span conditions: a match drops the span (and its events).
    #[serde(deserialize_with = "conditions")]
    pub span: Option<Vec<String>>,
    /// Span event conditions: a match drops the event; the span stays.
    #[serde(deserialize_with = "conditions")]
    pub spanevent: Option<Vec<String>>,
}

/// `metrics:` filters.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricFilters {
    /// Legacy: only metrics matching this are kept.
    pub include: Option<MetricMatchProperties>,
    /// Legacy: metrics matching this are dropped (checked after `include`).
    pub exclude: Option<MetricMatchProperties>,
    /// Legacy regexp cache options; accepted, not needed here.
    pub regexp: Option<RegexpConfig>,
    /// Resource conditions: a match drops the resource and all its metrics.
    #[serde(deserialize_with = "conditions")]
    pub resource: Option<Vec<String>>,
    /// Metric conditions: a match drops the metric.
    #[serde(deserialize_with = "conditions")]
    pub metric: Option<Vec<String>>,
    /// Data point conditions: a match drops the point; a metric left without points is
    /// dropped.
    #[serde(deserialize_with = "conditions")]
    pub datapoint: Option<Vec<String>>,
}

/// `logs:` filters.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogFilters {
    /// Legacy: only log records matching this are kept.
    pub include: Option<LogMatchProperties>,
    /// Legacy: log records matching this are dropped (checked after `include`).
    pub exclude: Option<LogMatchProperties>,
    /// Resource conditions: a match drops the resource and all its log records.
    #[serde(deserialize_with = "conditions")]
    pub resource: Option<Vec<String>>,
    /// Log record conditions: a match drops the record.
    #[serde(deserialize_with = "conditions")]
    pub log_record: Option<Vec<String>>,
}

/// One group of context-inferred conditions in its structured form.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ContextConditions {
    /// `resource`, `scope`, `span`, `spanevent`, `metric`, `datapoint` or `log`; when set,
    /// paths may leave out their context prefix. Inferred when empty.
    pub context: Option<String>,
    /// The conditions; any true one drops the item.
    pub conditions: Vec<String>,
    /// Overrides the processor's `error_mode` for this group.
    pub error_mode: Option<ErrorMode>,
}

/// Legacy `spans:` matching.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpanMatchConfig {
    /// Only spans matching this are kept.
    pub include: Option<SpanMatchProperties>,
    /// Spans matching this are dropped (checked after `include`).
    pub exclude: Option<SpanMatchProperties>,
}

/// What a legacy span matcher checks; every property given must match.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpanMatchProperties {
    /// `strict` (exact) or `regexp` (unanchored regular expressions).
    pub match_type: String,
    /// Regexp cache options; accepted, not needed here.
    pub regexp: Option<RegexpConfig>,
    /// The resource's `service.name` matches one of these.
    #[serde(deserialize_with = "string_list")]
    pub services: Vec<String>,
    /// The span name matches one of these.
    #[serde(deserialize_with = "string_list")]
    pub span_names: Vec<String>,
    /// The span kind (`SPAN_KIND_SERVER`…) matches one of these.
    #[serde(deserialize_with = "string_list")]
    pub span_kinds: Vec<String>,
    /// Every one of these span attributes matches (no `value`: the key exists).
    pub attributes: Vec<AttributeMatch>,
    /// Every one of these resource attributes matches.
    pub resources: Vec<AttributeMatch>,
    /// The instrumentation scope matches one of these.
    pub libraries: Vec<LibraryMatch>,
    /// Not valid for spans (rejected).
    #[serde(deserialize_with = "string_list")]
    pub log_bodies: Vec<String>,
    /// Not valid for spans (rejected).
    #[serde(deserialize_with = "string_list")]
    pub log_severity_texts: Vec<String>,
    /// Not valid for spans (rejected).
    pub log_severity_number: Option<Value>,
    /// Not used for spans.
    #[serde(deserialize_with = "string_list")]
    pub metric_names: Vec<String>,
}

/// What a legacy metric matcher checks.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricMatchProperties {
    /// `strict` or `regexp` (`expr` is not supported: use OTTL `metrics.metric`).
    pub match_type: String,
    /// Regexp cache options; accepted, not needed here.
    pub regexp: Option<RegexpConfig>,
    /// The metric name matches one of these.
    #[serde(deserialize_with = "string_list")]
    pub metric_names: Vec<String>,
    /// `expr` expressions: not supported.
    #[serde(deserialize_with = "string_list")]
    pub expressions: Vec<String>,
    /// Every one of these resource attributes matches.
    pub resource_attributes: Vec<AttributeMatch>,
}

/// What a legacy log matcher checks; every property given must match.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogMatchProperties {
    /// `strict` or `regexp`; needed when string properties are given.
    pub match_type: String,
    /// Every one of these resource attributes matches.
    pub resource_attributes: Vec<AttributeMatch>,
    /// Every one of these log record attributes matches.
    pub record_attributes: Vec<AttributeMatch>,
    /// The severity text matches one of these.
    #[serde(deserialize_with = "string_list")]
    pub severity_texts: Vec<String>,
    /// The severity number is at least `min`.
    pub severity_number: Option<SeverityNumberMatch>,
    /// The body (as a string) matches one of these.
    #[serde(deserialize_with = "string_list")]
    pub bodies: Vec<String>,
}

/// Legacy severity-number matching.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SeverityNumberMatch {
    /// The lowest severity that matches: `TRACE`…`FATAL4` or `1`…`24` (case-insensitive).
    pub min: String,
    /// Records with no severity (0) match too.
    pub match_undefined: bool,
}

/// An attribute to match: `key`, and `value` (any type for strict, a string pattern for
/// regexp; absent: the key only has to exist).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AttributeMatch {
    /// The attribute key.
    pub key: String,
    /// The value or pattern.
    pub value: Option<Value>,
}

/// An instrumentation scope to match.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LibraryMatch {
    /// The scope name (strict or regexp per `match_type`).
    pub name: String,
    /// The exact version; absent matches any version.
    pub version: Option<String>,
}

/// Regexp cache options (`cacheenabled`, `cachemaxnumentries`); accepted for compatibility.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegexpConfig {
    /// Accepted, ignored.
    pub cacheenabled: bool,
    /// Accepted, ignored.
    pub cachemaxnumentries: i64,
}

/// A list of strings, or one string split on commas (as the collector's config decoder
/// turns a scalar into a list).
fn string_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(
        match strings(Value::deserialize(d)?, "a list of strings")? {
            Strings::One(s) => s.split(',').map(|p| p.trim().to_string()).collect(),
            Strings::Many(v) => v,
            Strings::Null => Vec::new(),
        },
    )
}

/// A list of OTTL conditions; a single string is one condition.
fn conditions<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    Ok(
        match strings(Value::deserialize(d)?, "a list of OTTL condition strings")? {
            Strings::One(s) => Some(vec![s]),
            Strings::Many(v) => Some(v),
            Strings::Null => None,
        },
    )
}

enum Strings {
    One(String),
    Many(Vec<String>),
    Null,
}

fn strings<E: serde::de::Error>(v: Value, what: &str) -> Result<Strings, E> {
    let wrong = |v: &Value| E::custom(format!("expected {what}, found {v}"));
    match v {
        Value::Null => Ok(Strings::Null),
        Value::String(s) => Ok(Strings::One(s)),
        Value::Array(items) => items
            .into_iter()
            .map(|i| match i {
                Value::String(s) => Ok(s),
                other => Err(wrong(&other)),
            })
            .collect::<Result<_, _>>()
            .map(Strings::Many),
        other => Err(wrong(&other)),
    }
}
