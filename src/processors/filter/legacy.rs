//! The legacy `include` / `exclude` matchers (`match_type: strict|regexp`), with the
//! collector's rules: every property given must match; names, services, kinds, libraries,
//! bodies and severity texts match when any listed item matches; attribute lists match when
//! every listed attribute matches; regexps are unanchored. An item is dropped when it does
//! not match `include` or does match `exclude`.

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::Span;
use regex::Regex;
use serde_json::Value;

use super::config::{
    AttributeMatch, LogMatchProperties, MetricMatchProperties, SpanMatchProperties,
};
use crate::component::ComponentConfigError;

/// A config error at a key path inside the filter's config.
fn err(path: &[&str], msg: impl Into<String>) -> ComponentConfigError {
    ComponentConfigError::at(path, msg)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MatchType {
    Strict,
    Regexp,
}

fn match_type(s: &str, path: &[&str]) -> Result<MatchType, ComponentConfigError> {
    match s {
        "strict" => Ok(MatchType::Strict),
        "regexp" => Ok(MatchType::Regexp),
        "expr" => Err(err(
            path,
            "match_type expr is not supported; write the expressions as OTTL `metrics.metric` / `metrics.datapoint` conditions",
        )),
        other => Err(err(
            path,
            format!("unrecognized match_type: {other:?}, valid types are: [regexp strict]"),
        )),
    }
}

/// A set of strings or unanchored regexps; matches when any one matches.
#[derive(Debug, Clone)]
pub(crate) enum StringSet {
    Strict(Vec<String>),
    Regexp(Vec<Regex>),
}

impl StringSet {
    fn new(
        mt: MatchType,
        items: &[String],
        path: &[&str],
    ) -> Result<StringSet, ComponentConfigError> {
        Ok(match mt {
            MatchType::Strict => StringSet::Strict(items.to_vec()),
            MatchType::Regexp => StringSet::Regexp(
                items
                    .iter()
                    .map(|p| {
                        Regex::new(p).map_err(|e| err(path, format!("invalid regexp {p:?}: {e}")))
                    })
                    .collect::<Result<_, _>>()?,
            ),
        })
    }

    pub(crate) fn matches(&self, s: &str) -> bool {
        match self {
            StringSet::Strict(v) => v.iter().any(|x| x == s),
            StringSet::Regexp(v) => v.iter().any(|r| r.is_match(s)),
        }
    }
}

#[derive(Debug, Clone)]
enum ValueMatch {
    Exists,
    Strict(AnyValue),
    Regexp(Regex),
}

/// Attribute matchers; all must match. No matchers: everything matches.
#[derive(Debug, Clone, Default)]
pub(crate) struct AttrsMatcher(Vec<(String, ValueMatch)>);

fn json_to_any(v: &Value) -> AnyValue {
    use any_value::Value as V;
    let value = match v {
        Value::Null => None,
        Value::Bool(b) => Some(V::BoolValue(*b)),
        Value::Number(n) => Some(match n.as_i64() {
            Some(i) => V::IntValue(i),
            None => V::DoubleValue(n.as_f64().unwrap_or(f64::NAN)),
        }),
        Value::String(s) => Some(V::StringValue(s.clone())),
        Value::Array(a) => Some(V::ArrayValue(
            opentelemetry_proto::tonic::common::v1::ArrayValue {
                values: a.iter().map(json_to_any).collect(),
            },
        )),
        Value::Object(m) => Some(V::KvlistValue(
            opentelemetry_proto::tonic::common::v1::KeyValueList {
                values: m
                    .iter()
                    .map(|(k, v)| KeyValue {
                        key: k.clone(),
                        value: Some(json_to_any(v)),
                        ..Default::default()
                    })
                    .collect(),
            },
        )),
    };
    AnyValue { value }
}

impl AttrsMatcher {
    fn new(
        mt: Option<MatchType>,
        attrs: &[AttributeMatch],
        path: &[&str],
    ) -> Result<AttrsMatcher, ComponentConfigError> {
        let mut out = Vec::new();
        for (i, a) in attrs.iter().enumerate() {
            let idx = i.to_string();
            let mut p = path.to_vec();
            p.push(&idx);
            if a.key.is_empty() {
                return Err(err(&p, "can't have empty key in the list of attributes"));
            }
            let m = match &a.value {
                None | Some(Value::Null) => ValueMatch::Exists,
                Some(v) => {
                    match mt {
                        None => {
                            return Err(err(
                                path,
                                "unrecognized match_type: \"\", valid types are: [regexp strict]",
                            ))
                        }
                        Some(MatchType::Strict) => ValueMatch::Strict(json_to_any(v)),
                        Some(MatchType::Regexp) => {
                            let Value::String(s) = v else {
                                return Err(err(
                                &p,
                                format!("match_type=regexp for {:?} only supports Str, but found {v}", a.key),
                            ));
                            };
                            ValueMatch::Regexp(
                                Regex::new(s)
                                    .map_err(|e| err(&p, format!("invalid regexp {s:?}: {e}")))?,
                            )
                        }
                    }
                }
            };
            out.push((a.key.clone(), m));
        }
        Ok(AttrsMatcher(out))
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn matches(&self, attrs: &[KeyValue]) -> bool {
        if self.0.is_empty() {
            return true;
        }
        self.0.iter().all(|(key, m)| {
            let Some(kv) = attrs.iter().find(|kv| kv.key == *key) else {
                return false;
            };
            let empty = AnyValue::default();
            let v = kv.value.as_ref().unwrap_or(&empty);
            match m {
                ValueMatch::Exists => true,
                ValueMatch::Strict(want) => want == v,
                ValueMatch::Regexp(re) => attr_string(v).is_some_and(|s| re.is_match(&s)),
            }
        })
    }
}

/// Scalar attribute values as strings, as the collector's regexp attribute matcher reads them.
fn attr_string(v: &AnyValue) -> Option<String> {
    match &v.value {
        Some(any_value::Value::StringValue(s)) => Some(s.clone()),
        Some(any_value::Value::BoolValue(b)) => Some(b.to_string()),
        Some(any_value::Value::IntValue(i)) => Some(i.to_string()),
        Some(any_value::Value::DoubleValue(d)) => Some(d.to_string()),
        _ => None,
    }
}

fn attrs_of(r: Option<&Resource>) -> &[KeyValue] {
    r.map(|r| r.attributes.as_slice()).unwrap_or(&[])
}

/// The match type when string properties need one; `None` when only key-existence or
/// severity-number checks are configured.
fn needs(mt: &str, needed: bool, path: &[&str]) -> Result<Option<MatchType>, ComponentConfigError> {
    if mt.is_empty() && !needed {
        return Ok(None);
    }
    let mut p = path.to_vec();
    p.push("match_type");
    match_type(mt, &p).map(Some)
}

fn set(
    mt: Option<MatchType>,
    items: &[String],
    path: &[&str],
    key: &str,
) -> Result<Option<StringSet>, ComponentConfigError> {
    if items.is_empty() {
        return Ok(None);
    }
    let mut p = path.to_vec();
    p.push(key);
    let mt = mt.ok_or_else(|| {
        err(
            &p,
            "a match_type (strict or regexp) is required for this list",
        )
    })?;
    StringSet::new(mt, items, &p).map(Some)
}

fn sub<'a>(path: &[&'a str], key: &'a str) -> Vec<&'a str> {
    let mut p = path.to_vec();
    p.push(key);
    p
}

/// A legacy span matcher.
#[derive(Debug, Clone)]
pub(crate) struct SpanMatcher {
    services: Option<StringSet>,
    names: Option<StringSet>,
    kinds: Option<StringSet>,
    attributes: AttrsMatcher,
    resources: AttrsMatcher,
    libraries: Vec<(StringSet, Option<String>)>,
}

const SPAN_KINDS: [&str; 6] = [
    "SPAN_KIND_UNSPECIFIED",
    "SPAN_KIND_INTERNAL",
    "SPAN_KIND_SERVER",
    "SPAN_KIND_CLIENT",
    "SPAN_KIND_PRODUCER",
    "SPAN_KIND_CONSUMER",
];

impl SpanMatcher {
    pub(crate) fn new(
        mp: &SpanMatchProperties,
        path: &[&str],
    ) -> Result<SpanMatcher, ComponentConfigError> {
        if !mp.log_bodies.is_empty() {
            return Err(err(
                path,
                "log_bodies should not be specified for trace spans",
            ));
        }
        if !mp.log_severity_texts.is_empty() {
            return Err(err(
                path,
                "log_severity_texts should not be specified for trace spans",
            ));
        }
        if mp.log_severity_number.is_some() {
            return Err(err(
                path,
                "log_severity_number should not be specified for trace spans",
            ));
        }
        if mp.services.is_empty()
            && mp.span_names.is_empty()
            && mp.attributes.is_empty()
            && mp.libraries.is_empty()
            && mp.resources.is_empty()
            && mp.span_kinds.is_empty()
        {
            return Err(err(
                path,
                "at least one of \"services\", \"span_names\", \"span_kinds\", \"attributes\", \"libraries\" or \"resources\" must be specified",
            ));
        }
        let valued = |a: &[AttributeMatch]| {
            a.iter()
                .any(|a| a.value.as_ref().is_some_and(|v| !v.is_null()))
        };
        let needed = !mp.services.is_empty()
            || !mp.span_names.is_empty()
            || !mp.span_kinds.is_empty()
            || !mp.libraries.is_empty()
            || valued(&mp.attributes)
            || valued(&mp.resources);
        let mt = needs(&mp.match_type, needed, path)?;
        if mt == Some(MatchType::Strict) {
            if let Some(k) = mp
                .span_kinds
                .iter()
                .find(|k| !SPAN_KINDS[1..].contains(&k.as_str()))
            {
                return Err(err(
                    &sub(path, "span_kinds"),
                    format!(
                        "span kind {k:?} is not one of {}",
                        SPAN_KINDS[1..].join(", ")
                    ),
                ));
            }
        }
        let mut libraries = Vec::new();
        for (i, l) in mp.libraries.iter().enumerate() {
            let idx = i.to_string();
            let p = [path, &["libraries", &idx]].concat();
            let names =
                set(mt, std::slice::from_ref(&l.name), &p, "name")?.expect("one name gives a set");
            libraries.push((names, l.version.clone()));
        }
        Ok(SpanMatcher {
            services: set(mt, &mp.services, path, "services")?,
            names: set(mt, &mp.span_names, path, "span_names")?,
            kinds: set(mt, &mp.span_kinds, path, "span_kinds")?,
            attributes: AttrsMatcher::new(mt, &mp.attributes, &sub(path, "attributes"))?,
            resources: AttrsMatcher::new(mt, &mp.resources, &sub(path, "resources"))?,
            libraries,
        })
    }

    pub(crate) fn matches(
        &self,
        resource: Option<&Resource>,
        scope: Option<&InstrumentationScope>,
        span: &Span,
    ) -> bool {
        if let Some(s) = &self.services {
            let service = attrs_of(resource)
                .iter()
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| kv.value.as_ref())
                .and_then(attr_string)
                .unwrap_or_default();
            if !s.matches(&service) {
                return false;
            }
        }
        if let Some(n) = &self.names {
            if !n.matches(&span.name) {
                return false;
            }
        }
        if let Some(k) = &self.kinds {
            let kind = SPAN_KINDS
                .get(span.kind as usize)
                .copied()
                .unwrap_or("SPAN_KIND_UNSPECIFIED");
            if !k.matches(kind) {
                return false;
            }
        }
        if !self.libraries.is_empty() {
            let (name, version) = scope
                .map(|s| (s.name.as_str(), s.version.as_str()))
                .unwrap_or(("", ""));
            let any = self
                .libraries
                .iter()
                .any(|(n, v)| n.matches(name) && v.as_ref().is_none_or(|v| v == version));
            if !any {
                return false;
            }
        }
        self.resources.matches(attrs_of(resource)) && self.attributes.matches(&span.attributes)
    }
}

/// Include/exclude around any matcher: drop when not included or excluded.
#[derive(Debug, Clone)]
pub(crate) struct Skip<M> {
    pub include: Option<M>,
    pub exclude: Option<M>,
}

impl<M> Skip<M> {
    /// True when the item is to be dropped, given how `m` matches.
    pub(crate) fn skip(&self, matches: impl Fn(&M) -> bool) -> bool {
        self.include.as_ref().is_some_and(|m| !matches(m))
            || self.exclude.as_ref().is_some_and(&matches)
    }

    /// True when neither side filters anything.
    pub(crate) fn is_noop(&self) -> bool {
        self.include.is_none() && self.exclude.is_none()
    }
}

/// Legacy metric matching, split as the collector does: resource attributes drop
/// resources, names drop metrics.
#[derive(Debug, Clone)]
pub(crate) struct MetricLegacy {
    pub resources: Skip<AttrsMatcher>,
    pub names: Skip<StringSet>,
}

impl MetricLegacy {
    pub(crate) fn new(
        include: Option<&MetricMatchProperties>,
        exclude: Option<&MetricMatchProperties>,
    ) -> Result<MetricLegacy, ComponentConfigError> {
        type Side = (Option<AttrsMatcher>, Option<StringSet>);
        let side = |mp: Option<&MetricMatchProperties>,
                    name: &str|
         -> Result<Side, ComponentConfigError> {
            let Some(mp) = mp else {
                return Ok((None, None));
            };
            let path = ["metrics", name];
            if mp.match_type == "expr" || !mp.expressions.is_empty() {
                return match_type("expr", &sub(&path, "match_type")).map(|_| (None, None));
            }
            let mt = needs(
                &mp.match_type,
                !mp.metric_names.is_empty() || !mp.resource_attributes.is_empty(),
                &path,
            )?;
            let res = AttrsMatcher::new(
                mt,
                &mp.resource_attributes,
                &sub(&path, "resource_attributes"),
            )?;
            let names = set(mt, &mp.metric_names, &path, "metric_names")?;
            Ok(((!res.is_empty()).then_some(res), names))
        };
        let (ir, iname) = side(include, "include")?;
        let (er, ename) = side(exclude, "exclude")?;
        Ok(MetricLegacy {
            resources: Skip {
                include: ir,
                exclude: er,
            },
            names: Skip {
                include: iname,
                exclude: ename,
            },
        })
    }
}

/// A legacy log record matcher.
#[derive(Debug, Clone)]
pub(crate) struct LogMatcher {
    resources: AttrsMatcher,
    attributes: AttrsMatcher,
    severity_texts: Option<StringSet>,
    bodies: Option<StringSet>,
    min_severity: Option<(i32, bool)>,
}

/// `TRACE`…`FATAL4` or `1`…`24`, case-insensitive.
pub(crate) fn parse_severity(s: &str) -> Option<i32> {
    let up = s.to_ascii_uppercase();
    if let Ok(n) = up.parse::<i32>() {
        return (1..=24).contains(&n).then_some(n);
    }
    let bases = [
        ("TRACE", 1),
        ("DEBUG", 5),
        ("INFO", 9),
        ("WARN", 13),
        ("ERROR", 17),
        ("FATAL", 21),
    ];
    bases.iter().find_map(|(name, base)| {
        let rest = up.strip_prefix(name)?;
        match rest {
            "" => Some(*base),
            "2" => Some(base + 1),
            "3" => Some(base + 2),
            "4" => Some(base + 3),
            _ => None,
        }
    })
}

impl LogMatcher {
    /// Builds the matcher; `None` when the properties are empty (the collector then ignores
    /// them).
    pub(crate) fn new(
        mp: &LogMatchProperties,
        path: &[&str],
    ) -> Result<Option<LogMatcher>, ComponentConfigError> {
        if mp.resource_attributes.is_empty()
            && mp.record_attributes.is_empty()
            && mp.severity_texts.is_empty()
            && mp.bodies.is_empty()
            && mp.severity_number.is_none()
        {
            return Ok(None);
        }
        let valued = |a: &[AttributeMatch]| {
            a.iter()
                .any(|a| a.value.as_ref().is_some_and(|v| !v.is_null()))
        };
        let needed = !mp.severity_texts.is_empty()
            || !mp.bodies.is_empty()
            || valued(&mp.resource_attributes)
            || valued(&mp.record_attributes);
        let mt = needs(&mp.match_type, needed, path)?;
        let min_severity = match &mp.severity_number {
            None => None,
            Some(s) => {
                let n = if s.min.is_empty() {
                    0
                } else {
                    parse_severity(&s.min).ok_or_else(|| {
                        err(
                            &[path, &["severity_number", "min"]].concat(),
                            format!("{:?} is not a valid severity (TRACE…FATAL4 or 1…24)", s.min),
                        )
                    })?
                };
                Some((n, s.match_undefined))
            }
        };
        Ok(Some(LogMatcher {
            resources: AttrsMatcher::new(
                mt,
                &mp.resource_attributes,
                &sub(path, "resource_attributes"),
            )?,
            attributes: AttrsMatcher::new(
                mt,
                &mp.record_attributes,
                &sub(path, "record_attributes"),
            )?,
            severity_texts: set(mt, &mp.severity_texts, path, "severity_texts")?,
            bodies: set(mt, &mp.bodies, path, "bodies")?,
            min_severity,
        }))
    }

    pub(crate) fn matches(&self, resource: Option<&Resource>, log: &LogRecord) -> bool {
        if let Some(t) = &self.severity_texts {
            if !t.matches(&log.severity_text) {
                return false;
            }
        }
        if let Some(b) = &self.bodies {
            let body = log
                .body
                .as_ref()
                .map(crate::ottl::Value::from_any)
                .and_then(|v| v.to_string_like().map(|s| s.into_owned()))
                .unwrap_or_default();
            if !b.matches(&body) {
                return false;
            }
        }
        if let Some((min, undefined)) = self.min_severity {
            let n = log.severity_number;
            let ok = if n == 0 { undefined } else { n >= min };
            if !ok {
                return false;
            }
        }
        self.resources.matches(attrs_of(resource)) && self.attributes.matches(&log.attributes)
    }
}
