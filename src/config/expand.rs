//! `${env:VAR}`, `${VAR}` and `${env:VAR:-default}` expansion in every string value, with `$$`
//! for a literal `$`, as the collector's confmap does.

use super::error::ConfigError;
use super::yaml::{Node, Value};

/// Expands every string scalar of the tree in place, looking variables up with `lookup`.
/// Warnings (unset variables without a default) are pushed to `warnings`.
pub fn expand_tree(
    node: &mut Node,
    path: &mut Vec<String>,
    lookup: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<ConfigError>,
    warnings: &mut Vec<String>,
) {
    match &mut node.value {
        Value::Str(text) => match expand_str(text, lookup) {
            Ok(exp) => {
                for var in &exp.unset {
                    warnings.push(format!(
                        "{}: {}: environment variable {var} is not set; using an empty value",
                        node.pos,
                        path.join("::")
                    ));
                }
                node.value = if exp.whole_reference {
                    retype(&exp.text)
                } else {
                    Value::Str(exp.text)
                };
            }
            Err(message) => errors.push(ConfigError {
                pos: Some(node.pos.clone()),
                path: path.join("::"),
                message,
                hint: None,
            }),
        },
        Value::Seq(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                path.push(i.to_string());
                expand_tree(item, path, lookup, errors, warnings);
                path.pop();
            }
        }
        Value::Map(entries) => {
            for (k, _, v) in entries.iter_mut() {
                path.push(k.clone());
                expand_tree(v, path, lookup, errors, warnings);
                path.pop();
            }
        }
        _ => {}
    }
}

/// The result of expanding one string.
#[derive(Debug, PartialEq)]
pub struct Expanded {
    /// The expanded text.
    pub text: String,
    /// True when the string was exactly one `${…}` reference (its value is then re-typed).
    pub whole_reference: bool,
    /// Variables referenced without a default that were not set.
    pub unset: Vec<String>,
}

fn valid_var_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
}

/// Expands one string.
pub fn expand_str(s: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Expanded, String> {
    let mut out = String::with_capacity(s.len());
    let mut unset = Vec::new();
    let mut refs = 0;
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(r) = after.strip_prefix('$') {
            out.push('$');
            rest = r;
        } else if let Some(r) = after.strip_prefix('{') {
            let end = r
                .find('}')
                .ok_or_else(|| format!("unclosed \"${{\" in {s:?}"))?;
            let inner = &r[..end];
            let (body, default) = match inner.split_once(":-") {
                Some((b, d)) => (b, Some(d)),
                None => (inner, None),
            };
            let name = match body.split_once(':') {
                Some(("env", n)) => n,
                Some((scheme, _)) => {
                    return Err(format!(
                        "unsupported config provider {scheme:?} in \"${{{inner}}}\" (only env is supported)"
                    ))
                }
                None => body,
            };
            if !valid_var_name(name) {
                return Err(format!(
                    "invalid environment variable name {name:?} in \"${{{inner}}}\""
                ));
            }
            match lookup(name) {
                Some(v) if !(v.is_empty() && default.is_some()) => out.push_str(&v),
                _ => match default {
                    Some(d) => out.push_str(d),
                    None => unset.push(name.to_string()),
                },
            }
            refs += 1;
            rest = &r[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    let trimmed = s.trim();
    let whole_reference = refs == 1
        && trimmed.starts_with("${")
        && trimmed.ends_with('}')
        && trimmed.matches("${").count() == 1;
    Ok(Expanded {
        text: out,
        whole_reference,
        unset,
    })
}

/// Types an expanded value as a YAML plain scalar would be typed.
pub fn retype(s: &str) -> Value {
    let t = s.trim();
    match t {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if let Ok(i) = t.parse::<i64>() {
        return Value::Int(i);
    }
    if t.chars().any(|c| c.is_ascii_digit())
        && t.chars().all(|c| c.is_ascii_digit() || "+-.eE".contains(c))
    {
        if let Ok(f) = t.parse::<f64>() {
            return Value::Float(f);
        }
    }
    Value::Str(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("collector".into()),
            "PORT" => Some("4317".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expansion_table() {
        let cases: &[(&str, &str, bool)] = &[
            ("${env:HOST}:${env:PORT}", "collector:4317", false),
            ("${HOST}", "collector", true),
            ("${env:NOPE:-fallback}", "fallback", true),
            ("${env:EMPTY:-fallback}", "fallback", true),
            ("http://${env:HOST}/x", "http://collector/x", false),
            ("cost: $$5", "cost: $5", false),
            ("$${env:HOST}", "${env:HOST}", false),
            ("no refs", "no refs", false),
            ("lone $ sign", "lone $ sign", false),
        ];
        for (input, want, whole) in cases {
            let e = expand_str(input, &env).unwrap();
            assert_eq!(e.text, *want, "{input}");
            assert_eq!(e.whole_reference, *whole, "{input}");
            assert!(e.unset.is_empty(), "{input}");
        }
    }

    #[test]
    fn unset_variables_are_reported() {
        let e = expand_str("${env:MISSING}", &env).unwrap();
        assert_eq!(e.text, "");
        assert_eq!(e.unset, ["MISSING"]);
    }

    #[test]
    fn bad_references_are_errors() {
        assert!(expand_str("${env:HOST", &env)
            .unwrap_err()
            .contains("unclosed"));
        assert!(expand_str("${file:/x}", &env)
            .unwrap_err()
            .contains("provider"));
        assert!(expand_str("${env:}", &env).unwrap_err().contains("invalid"));
    }

    #[test]
    fn whole_references_are_retyped() {
        assert_eq!(retype("4317"), Value::Int(4317));
        assert_eq!(retype("0.25"), Value::Float(0.25));
        assert_eq!(retype("true"), Value::Bool(true));
        assert_eq!(retype(""), Value::Null);
        assert_eq!(
            retype("localhost:4317"),
            Value::Str("localhost:4317".into())
        );
    }
}
