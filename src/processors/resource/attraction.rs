//! Attribute actions with the collector's `attraction` semantics: insert, update, upsert,
//! delete, hash, extract and convert on an OTLP attribute list.
//!
//! The attribute list behaves like the collector's `pcommon.Map`: lookups find the first entry
//! with a key, writes replace that entry in place or append a new one, and removal removes the
//! first entry with the key (the last entry moving into its place).

use base64::Engine;
use opentelemetry_proto::tonic::common::v1::{
    any_value::Value as V, AnyValue, ArrayValue, KeyValue, KeyValueList,
};
use regex::Regex;
use sha2::{Digest, Sha256};

use super::config::ActionConfig;
use crate::component::ComponentConfigError;
use crate::config::decode::did_you_mean;
use crate::signal::Metadata;

const ACTIONS: [&str; 7] = [
    "insert", "update", "upsert", "delete", "hash", "extract", "convert",
];
const CONVERTED_TYPES: [&str; 3] = ["int", "double", "string"];

/// Where `insert`, `update` and `upsert` take their value from.
#[derive(Debug, Clone, PartialEq)]
enum Source {
    /// A literal from the config.
    Value(AnyValue),
    /// Client metadata, then the default.
    Context(String, Option<AnyValue>),
    /// Another attribute, then the default.
    Attribute(String, Option<AnyValue>),
    /// Only a `default_value`.
    Default(AnyValue),
}

/// A target type for `convert`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConvertTo {
    /// `int`: 64-bit signed integer.
    Int,
    /// `double`: 64-bit float.
    Double,
    /// `string`.
    String,
}

#[derive(Debug, Clone)]
enum Op {
    Insert(Source),
    Update(Source),
    Upsert(Source),
    Delete(Option<Regex>),
    Hash(Option<Regex>),
    Extract { regex: Regex, names: Vec<String> },
    Convert(ConvertTo),
}

#[derive(Debug, Clone)]
struct CompiledAction {
    key: String,
    op: Op,
}

/// A validated, compiled list of attribute actions.
#[derive(Debug, Clone)]
pub struct AttrActions {
    actions: Vec<CompiledAction>,
}

impl AttrActions {
    /// Validates and compiles `actions`, as the collector's `NewAttrProc` does. Errors name the
    /// key path `<list>::<index>::<field>`.
    pub fn compile(
        list: &str,
        actions: &[ActionConfig],
    ) -> Result<AttrActions, ComponentConfigError> {
        let mut out = Vec::with_capacity(actions.len());
        for (i, a) in actions.iter().enumerate() {
            out.push(compile_one(list, i, a)?);
        }
        Ok(AttrActions { actions: out })
    }

    /// Applies every action, in order, to one attribute list. `metadata` is the request's
    /// client metadata, read by `from_context`.
    pub fn apply(&self, attrs: &mut Vec<KeyValue>, metadata: &Metadata) {
        for a in &self.actions {
            match &a.op {
                Op::Delete(re) => {
                    remove(attrs, &a.key);
                    for k in matching_keys(re.as_ref(), attrs) {
                        remove(attrs, &k);
                    }
                }
                Op::Insert(src) => {
                    let Some(v) = source_value(src, attrs, metadata) else {
                        continue;
                    };
                    if find(attrs, &a.key).is_none() {
                        put(attrs, &a.key, v);
                    }
                }
                Op::Update(src) => {
                    let Some(v) = source_value(src, attrs, metadata) else {
                        continue;
                    };
                    if let Some(i) = find(attrs, &a.key) {
                        attrs[i].value = Some(v);
                    }
                }
                Op::Upsert(src) => {
                    let Some(v) = source_value(src, attrs, metadata) else {
                        continue;
                    };
                    put(attrs, &a.key, v);
                }
                Op::Hash(re) => {
                    hash_attribute(attrs, &a.key);
                    // As upstream: a key matched by both `key` and `pattern` is hashed twice.
                    for k in matching_keys(re.as_ref(), attrs) {
                        hash_attribute(attrs, &k);
                    }
                }
                Op::Extract { regex, names } => extract(attrs, &a.key, regex, names),
                Op::Convert(to) => {
                    if let Some(i) = find(attrs, &a.key) {
                        let v = attrs[i].value.get_or_insert_with(AnyValue::default);
                        convert_value(&a.key, *to, v);
                    }
                }
            }
        }
    }
}

fn err(list: &str, i: usize, field: &str, msg: impl Into<String>) -> ComponentConfigError {
    let idx = i.to_string();
    let mut path = vec![list, idx.as_str()];
    if !field.is_empty() {
        path.push(field);
    }
    ComponentConfigError::at(&path, msg)
}

fn compile_regex(list: &str, i: usize, pattern: &str) -> Result<Regex, ComponentConfigError> {
    Regex::new(pattern).map_err(|e| {
        err(
            list,
            i,
            "pattern",
            format!(
                "invalid pattern {pattern:?}: {}",
                e.to_string().replace('\n', " ")
            ),
        )
    })
}

fn compile_one(
    list: &str,
    i: usize,
    a: &ActionConfig,
) -> Result<CompiledAction, ComponentConfigError> {
    let action = a.action.to_ascii_lowercase();
    let value_sources = usize::from(a.value.as_ref().is_some_and(|v| !v.is_null()))
        + usize::from(!a.from_attribute.is_empty())
        + usize::from(!a.from_context.is_empty());

    match action.as_str() {
        "delete" | "hash" => {
            if a.key.is_empty() && a.pattern.is_empty() {
                return Err(err(
                    list,
                    i,
                    "",
                    format!("missing required field: action {action:?} needs \"key\" and/or \"pattern\""),
                ));
            }
        }
        "insert" | "update" | "upsert" | "extract" | "convert" => {
            if a.key.is_empty() {
                return Err(err(list, i, "key", "missing required field \"key\""));
            }
        }
        "" => return Err(err(list, i, "action", "missing required field \"action\"")),
        other => {
            let mut e = err(
                list,
                i,
                "action",
                format!("unsupported action {other:?} (insert, update, upsert, delete, hash, extract or convert)"),
            );
            e.hint = did_you_mean(other, ACTIONS);
            return Err(e);
        }
    }

    let not_used = |field: &str| {
        err(
            list,
            i,
            field,
            format!("action {action:?} does not use the {field:?} field; remove it"),
        )
    };

    let op = match action.as_str() {
        "insert" | "update" | "upsert" => {
            if value_sources > 1 {
                return Err(err(
                    list,
                    i,
                    "",
                    "only one of \"value\", \"from_attribute\" and \"from_context\" may be set",
                ));
            }
            let default = a
                .default_value
                .as_ref()
                .filter(|v| !v.is_null())
                .map(value_from_config);
            if value_sources == 0 && default.is_none() {
                return Err(err(
                    list,
                    i,
                    "",
                    format!(
                        "action {action:?} needs one of \"value\", \"from_attribute\", \"from_context\" (or \"default_value\")"
                    ),
                ));
            }
            if !a.pattern.is_empty() {
                return Err(not_used("pattern"));
            }
            if !a.converted_type.is_empty() {
                return Err(not_used("converted_type"));
            }
            let src = if let Some(v) = a.value.as_ref().filter(|v| !v.is_null()) {
                Source::Value(value_from_config(v))
            } else if !a.from_context.is_empty() {
                Source::Context(a.from_context.clone(), default)
            } else if !a.from_attribute.is_empty() {
                Source::Attribute(a.from_attribute.clone(), default)
            } else {
                Source::Default(default.expect("checked above"))
            };
            match action.as_str() {
                "insert" => Op::Insert(src),
                "update" => Op::Update(src),
                _ => Op::Upsert(src),
            }
        }
        "delete" | "hash" => {
            if a.value.as_ref().is_some_and(|v| !v.is_null()) {
                return Err(not_used("value"));
            }
            if !a.from_attribute.is_empty() {
                return Err(not_used("from_attribute"));
            }
            if !a.converted_type.is_empty() {
                return Err(not_used("converted_type"));
            }
            let re = if a.pattern.is_empty() {
                None
            } else {
                Some(compile_regex(list, i, &a.pattern)?)
            };
            if action == "delete" {
                Op::Delete(re)
            } else {
                Op::Hash(re)
            }
        }
        "extract" => {
            if value_sources > 0 {
                return Err(err(
                    list,
                    i,
                    "",
                    "action \"extract\" does not use \"value\", \"from_attribute\" or \"from_context\"",
                ));
            }
            if a.pattern.is_empty() {
                return Err(err(
                    list,
                    i,
                    "pattern",
                    "missing required field \"pattern\" for action \"extract\"",
                ));
            }
            if !a.converted_type.is_empty() {
                return Err(not_used("converted_type"));
            }
            let regex = compile_regex(list, i, &a.pattern)?;
            let names: Vec<Option<&str>> = regex.capture_names().skip(1).collect();
            if names.is_empty() {
                return Err(err(
                    list,
                    i,
                    "pattern",
                    format!(
                        "pattern {:?} contains no named groups such as (?P<name>...)",
                        a.pattern
                    ),
                ));
            }
            if names.iter().any(Option::is_none) {
                return Err(err(
                    list,
                    i,
                    "pattern",
                    format!(
                        "pattern {:?} contains an unnamed group; name every group or use (?:...)",
                        a.pattern
                    ),
                ));
            }
            let names = names
                .into_iter()
                .map(|n| n.unwrap_or_default().to_string())
                .collect();
            Op::Extract { regex, names }
        }
        _ => {
            // convert
            if value_sources > 0 || !a.pattern.is_empty() {
                return Err(err(
                    list,
                    i,
                    "",
                    "action \"convert\" does not use \"value\", \"from_attribute\", \"from_context\" or \"pattern\"",
                ));
            }
            let to = match a.converted_type.as_str() {
                "int" => ConvertTo::Int,
                "double" => ConvertTo::Double,
                "string" => ConvertTo::String,
                "" => {
                    return Err(err(
                        list,
                        i,
                        "converted_type",
                        "missing required field \"converted_type\" for action \"convert\" (int, double or string)",
                    ))
                }
                other => {
                    let mut e = err(
                        list,
                        i,
                        "converted_type",
                        format!("invalid converted_type {other:?} (int, double or string)"),
                    );
                    e.hint = did_you_mean(other, CONVERTED_TYPES);
                    return Err(e);
                }
            };
            Op::Convert(to)
        }
    };
    if a.default_value.as_ref().is_some_and(|v| !v.is_null())
        && !matches!(op, Op::Insert(_) | Op::Update(_) | Op::Upsert(_))
    {
        tracing::warn!(
            action = %action,
            index = i,
            "default_value is only used by insert, update and upsert; ignored"
        );
    }
    Ok(CompiledAction {
        key: a.key.clone(),
        op,
    })
}

/// Index of the first entry with `key`.
pub fn find(attrs: &[KeyValue], key: &str) -> Option<usize> {
    attrs.iter().position(|kv| kv.key == key)
}

/// The value of the first entry with `key`.
pub fn get<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    static EMPTY: AnyValue = AnyValue { value: None };
    find(attrs, key).map(|i| attrs[i].value.as_ref().unwrap_or(&EMPTY))
}

/// Sets `key` to `v`: replaces the first entry with the key, or appends one.
pub fn put(attrs: &mut Vec<KeyValue>, key: &str, v: AnyValue) {
    match find(attrs, key) {
        Some(i) => attrs[i].value = Some(v),
        None => attrs.push(KeyValue {
            key: key.to_string(),
            value: Some(v),
            ..Default::default()
        }),
    }
}

/// Removes the first entry with `key`; like `pcommon.Map.Remove`, the last entry takes its place.
pub fn remove(attrs: &mut Vec<KeyValue>, key: &str) {
    if let Some(i) = find(attrs, key) {
        attrs.swap_remove(i);
    }
}

fn matching_keys(re: Option<&Regex>, attrs: &[KeyValue]) -> Vec<String> {
    match re {
        None => Vec::new(),
        Some(re) => attrs
            .iter()
            .filter(|kv| re.is_match(&kv.key))
            .map(|kv| kv.key.clone())
            .collect(),
    }
}

fn source_value(src: &Source, attrs: &[KeyValue], md: &Metadata) -> Option<AnyValue> {
    match src {
        Source::Value(v) | Source::Default(v) => Some(v.clone()),
        Source::Context(key, default) => value_from_context(md, key).or_else(|| default.clone()),
        Source::Attribute(key, default) => get(attrs, key).cloned().or_else(|| default.clone()),
    }
}

/// Reads `from_context` as the collector does: `metadata.<name>` or a bare name reads client
/// metadata (values joined with `;`), `auth.<attr>` reads authenticator data (Sluice has no
/// authenticators, so it is never found), and `client.address` is the peer address, which
/// Sluice does not record (the collector then yields an empty string).
fn value_from_context(md: &Metadata, key: &str) -> Option<AnyValue> {
    let vals: Vec<String> = if key == "client.address" {
        vec![String::new()]
    } else if let Some(k) = key.strip_prefix("metadata.") {
        md.get(k).to_vec()
    } else if key.starts_with("auth.") {
        return None;
    } else {
        md.get(key).to_vec()
    };
    if vals.is_empty() {
        return None;
    }
    Some(string_value(vals.join(";")))
}

/// A string `AnyValue`.
pub fn string_value(s: impl Into<String>) -> AnyValue {
    AnyValue {
        value: Some(V::StringValue(s.into())),
    }
}

/// Converts a config (YAML/JSON) value to an `AnyValue`, keeping its type, as the collector's
/// `pcommon.Value.FromRaw` does.
pub fn value_from_config(v: &serde_json::Value) -> AnyValue {
    use serde_json::Value as J;
    let value = match v {
        J::Null => None,
        J::Bool(b) => Some(V::BoolValue(*b)),
        J::Number(n) => Some(if let Some(i) = n.as_i64() {
            V::IntValue(i)
        } else if let Some(u) = n.as_u64() {
            // Go converts uint64 to int64 with wrap-around.
            V::IntValue(u as i64)
        } else {
            V::DoubleValue(n.as_f64().unwrap_or(0.0))
        }),
        J::String(s) => Some(V::StringValue(s.clone())),
        J::Array(a) => Some(V::ArrayValue(ArrayValue {
            values: a.iter().map(value_from_config).collect(),
        })),
        J::Object(m) => Some(V::KvlistValue(KeyValueList {
            values: m
                .iter()
                .map(|(k, v)| KeyValue {
                    key: k.clone(),
                    value: Some(value_from_config(v)),
                    ..Default::default()
                })
                .collect(),
        })),
    };
    AnyValue { value }
}

/// SHA-256 of a value, as lowercase hex, with the collector's byte encoding: strings as UTF-8,
/// bools as one byte, ints and doubles as 8 little-endian bytes. Other types hash to "".
pub fn hash_value(v: &AnyValue) -> String {
    let bytes: Vec<u8> = match &v.value {
        Some(V::StringValue(s)) => s.as_bytes().to_vec(),
        Some(V::BoolValue(b)) => vec![u8::from(*b)],
        Some(V::IntValue(i)) => i.to_le_bytes().to_vec(),
        Some(V::DoubleValue(d)) => d.to_bits().to_le_bytes().to_vec(),
        _ => return String::new(),
    };
    hex::encode(Sha256::digest(&bytes))
}

fn hash_attribute(attrs: &mut [KeyValue], key: &str) {
    if let Some(i) = find(attrs, key) {
        let h = attrs[i].value.as_ref().map(hash_value).unwrap_or_default();
        attrs[i].value = Some(string_value(h));
    }
}

fn extract(attrs: &mut Vec<KeyValue>, key: &str, regex: &Regex, names: &[String]) {
    let Some(Some(V::StringValue(s))) = get(attrs, key).map(|v| v.value.as_ref()) else {
        return;
    };
    let Some(caps) = regex.captures(s) else {
        return;
    };
    let found: Vec<(String, String)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let m = caps.get(i + 1).map(|m| m.as_str()).unwrap_or("");
            (n.clone(), m.to_string())
        })
        .collect();
    // Extracted keys are upserted: existing attributes with those names are overwritten.
    for (n, m) in found {
        put(attrs, &n, string_value(m));
    }
}

/// Converts a value in place as the collector's `convert` action does; values that cannot be
/// converted are left unchanged (and logged at debug level).
pub fn convert_value(key: &str, to: ConvertTo, v: &mut AnyValue) {
    let new = match (to, &v.value) {
        (ConvertTo::String, Some(V::StringValue(_))) => return,
        (ConvertTo::String, _) => V::StringValue(as_string(v)),
        (ConvertTo::Int, Some(V::IntValue(_))) => return,
        (ConvertTo::Int, Some(V::DoubleValue(d))) => V::IntValue(*d as i64),
        (ConvertTo::Int, Some(V::BoolValue(b))) => V::IntValue(i64::from(*b)),
        (ConvertTo::Int, Some(V::StringValue(s))) => match s.parse::<i64>() {
            Ok(n) => V::IntValue(n),
            Err(e) => {
                tracing::debug!(key, value = %s, error = %e, "string could not be converted to int");
                return;
            }
        },
        (ConvertTo::Double, Some(V::DoubleValue(_))) => return,
        (ConvertTo::Double, Some(V::IntValue(i))) => V::DoubleValue(*i as f64),
        (ConvertTo::Double, Some(V::BoolValue(b))) => V::DoubleValue(if *b { 1.0 } else { 0.0 }),
        (ConvertTo::Double, Some(V::StringValue(s))) => match parse_go_float(s) {
            Some(n) => V::DoubleValue(n),
            None => {
                tracing::debug!(key, value = %s, "string could not be converted to double");
                return;
            }
        },
        (to, _) => {
            tracing::debug!(key, to = ?to, "unable to convert type");
            return;
        }
    };
    v.value = Some(new);
}

/// Parses a float as Go's `strconv.ParseFloat` accepts the common forms (decimal, exponent,
/// `inf`, `infinity`, `nan`, any case, optional sign).
fn parse_go_float(s: &str) -> Option<f64> {
    if s.is_empty() || s.contains('_') {
        return None;
    }
    s.parse::<f64>().ok()
}

/// The value as a string, as the collector's `pcommon.Value.AsString` renders it: strings as
/// they are, bools and ints in decimal, doubles like JSON numbers, bytes in base64, lists and
/// maps as JSON, an empty value as "".
pub fn as_string(v: &AnyValue) -> String {
    match &v.value {
        None => String::new(),
        Some(V::StringValue(s)) => s.clone(),
        Some(V::BoolValue(b)) => b.to_string(),
        Some(V::IntValue(i)) => i.to_string(),
        Some(V::DoubleValue(d)) => go_float_string(*d),
        Some(V::BytesValue(b)) => base64::engine::general_purpose::STANDARD.encode(b),
        Some(V::ArrayValue(_)) | Some(V::KvlistValue(_)) => {
            let mut out = String::new();
            write_json(&mut out, v);
            out
        }
        Some(V::StringValueStrindex(_)) => String::new(),
    }
}

/// A double formatted as Go's `encoding/json` (ES6 number-to-string) does.
pub fn go_float_string(f: f64) -> String {
    if f.is_nan() || f.is_infinite() {
        let g = if f.is_nan() {
            "NaN"
        } else if f > 0.0 {
            "+Inf"
        } else {
            "-Inf"
        };
        return format!("json: unsupported value: {g}");
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        // Go: 1e-07 -> 1e-7, 1e+21 stays; Rust gives 1e-7 and 1e21.
        let s = format!("{f:e}");
        match s.split_once('e') {
            Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e}"),
            _ => s,
        }
    } else {
        format!("{f}")
    }
}

fn write_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // Go's encoder escapes HTML-significant characters and the JS line separators.
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// JSON of a value as Go's `json.Marshal` of `Value.AsRaw()` writes it (map keys sorted).
fn write_json(out: &mut String, v: &AnyValue) {
    match &v.value {
        None | Some(V::StringValueStrindex(_)) => out.push_str("null"),
        Some(V::StringValue(s)) => write_json_string(out, s),
        Some(V::BoolValue(b)) => out.push_str(if *b { "true" } else { "false" }),
        Some(V::IntValue(i)) => out.push_str(&i.to_string()),
        Some(V::DoubleValue(d)) => out.push_str(&go_float_string(*d)),
        Some(V::BytesValue(b)) => {
            write_json_string(out, &base64::engine::general_purpose::STANDARD.encode(b))
        }
        Some(V::ArrayValue(a)) => {
            out.push('[');
            for (i, x) in a.values.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(out, x);
            }
            out.push(']');
        }
        Some(V::KvlistValue(kvs)) => {
            // A Go map: one value per key (the last one wins), keys sorted.
            let mut m: std::collections::BTreeMap<&str, Option<&AnyValue>> = Default::default();
            for kv in &kvs.values {
                m.insert(&kv.key, kv.value.as_ref());
            }
            out.push('{');
            for (i, (k, x)) in m.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_string(out, k);
                out.push(':');
                match x {
                    Some(x) => write_json(out, x),
                    None => out.push_str("null"),
                }
            }
            out.push('}');
        }
    }
}
