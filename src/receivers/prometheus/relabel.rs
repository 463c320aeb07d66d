//! Prometheus relabeling (`relabel_configs`, `metric_relabel_configs`) with Prometheus's
//! semantics: regexes are fully anchored, source label values are joined with the separator,
//! replacements expand `$1`, `${1}` and named groups, and an empty result deletes the label.

use regex::Regex;
use serde::Deserialize;

/// A label set: (name, value) pairs kept sorted by name, names unique.
pub type Labels = Vec<(String, String)>;

/// Looks a label up in a sorted label set.
pub fn get<'a>(labels: &'a Labels, name: &str) -> Option<&'a str> {
    labels
        .binary_search_by(|(n, _)| n.as_str().cmp(name))
        .ok()
        .map(|i| labels[i].1.as_str())
}

/// Sets (or, with an empty value, deletes) a label in a sorted label set.
pub fn set(labels: &mut Labels, name: &str, value: &str) {
    match labels.binary_search_by(|(n, _)| n.as_str().cmp(name)) {
        Ok(i) if value.is_empty() => {
            labels.remove(i);
        }
        Ok(i) => labels[i].1 = value.to_string(),
        Err(_) if value.is_empty() => {}
        Err(i) => labels.insert(i, (name.to_string(), value.to_string())),
    }
}

/// The actions Sluice supports.
pub const ACTIONS: &[&str] = &[
    "replace",
    "keep",
    "drop",
    "labeldrop",
    "labelkeep",
    "labelmap",
    "lowercase",
    "uppercase",
    "keepequal",
    "dropequal",
];

/// One relabel rule as written in YAML (Prometheus's keys and defaults).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RelabelConfig {
    /// Labels whose values are joined with `separator` and matched against `regex`.
    pub source_labels: Vec<String>,
    /// Joins the source label values (default `;`).
    pub separator: String,
    /// Anchored regular expression (default `(.*)`).
    pub regex: String,
    /// Label written by replace/lowercase/uppercase/keepequal/dropequal.
    pub target_label: Option<String>,
    /// Replacement with `$1`/`${1}`/`${name}` references (default `$1`).
    pub replacement: String,
    /// What to do (default `replace`).
    pub action: String,
    /// Accepted only for the unsupported `hashmod` action, to give a clear error.
    pub modulus: Option<u64>,
}

impl Default for RelabelConfig {
    fn default() -> Self {
        RelabelConfig {
            source_labels: Vec::new(),
            separator: ";".into(),
            regex: "(.*)".into(),
            target_label: None,
            replacement: "$1".into(),
            action: "replace".into(),
            modulus: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Replace,
    Keep,
    Drop,
    LabelDrop,
    LabelKeep,
    LabelMap,
    Lowercase,
    Uppercase,
    KeepEqual,
    DropEqual,
}

/// A checked, compiled relabel rule.
#[derive(Debug, Clone)]
pub struct Rule {
    source_labels: Vec<String>,
    separator: String,
    regex: Regex,
    target_label: String,
    replacement: String,
    action: Action,
}

impl RelabelConfig {
    /// Checks the rule as Prometheus does and compiles its regex (anchored).
    pub fn compile(&self) -> Result<Rule, String> {
        let action = match self.action.to_ascii_lowercase().as_str() {
            "replace" => Action::Replace,
            "keep" => Action::Keep,
            "drop" => Action::Drop,
            "labeldrop" => Action::LabelDrop,
            "labelkeep" => Action::LabelKeep,
            "labelmap" => Action::LabelMap,
            "lowercase" => Action::Lowercase,
            "uppercase" => Action::Uppercase,
            "keepequal" => Action::KeepEqual,
            "dropequal" => Action::DropEqual,
            other => {
                let hint = crate::config::decode::did_you_mean(other, ACTIONS.iter().copied())
                    .map(|h| format!("; {h}"))
                    .unwrap_or_default();
                return Err(format!(
                    "unsupported relabel action {other:?} (supported: {}){hint}",
                    ACTIONS.join(", ")
                ));
            }
        };
        let regex = Regex::new(&format!("^(?s:{})$", self.regex))
            .map_err(|e| format!("invalid regex {:?}: {e}", self.regex))?;
        let target = self.target_label.clone().unwrap_or_default();
        let name = self.action.to_ascii_lowercase();
        match action {
            Action::Replace
            | Action::Lowercase
            | Action::Uppercase
            | Action::KeepEqual
            | Action::DropEqual
                if target.is_empty() =>
            {
                return Err(format!(
                    "relabel configuration for {name} action requires 'target_label' value"
                ));
            }
            Action::Replace if !target.contains('$') && !is_label_name(&target) => {
                return Err(format!(
                    "{target:?} is invalid 'target_label' for {name} action"
                ));
            }
            Action::Lowercase | Action::Uppercase if !is_label_name(&target) => {
                return Err(format!(
                    "{target:?} is invalid 'target_label' for {name} action"
                ));
            }
            Action::LabelMap
                if !self.replacement.contains('$') && !is_label_name(&self.replacement) =>
            {
                return Err(format!(
                    "{:?} is invalid 'replacement' for labelmap action",
                    self.replacement
                ));
            }
            Action::LabelDrop | Action::LabelKeep => {
                let d = RelabelConfig::default();
                if !self.source_labels.is_empty()
                    || !target.is_empty()
                    || self.separator != d.separator
                    || self.replacement != d.replacement
                {
                    return Err(format!(
                        "{name} action requires only 'regex', and no other fields"
                    ));
                }
            }
            _ => {}
        }
        Ok(Rule {
            source_labels: self.source_labels.clone(),
            separator: self.separator.clone(),
            regex,
            target_label: target,
            replacement: self.replacement.clone(),
            action,
        })
    }
}

/// A valid Prometheus label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_label_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// Applies rules in order. Returns false when the label set is dropped (keep/drop). A label set
/// left without labels is dropped too, as Prometheus does.
pub fn process(labels: &mut Labels, rules: &[Rule]) -> bool {
    for r in rules {
        if !apply(labels, r) {
            return false;
        }
    }
    !labels.is_empty()
}

fn source_value(labels: &Labels, r: &Rule) -> String {
    let mut out = String::new();
    for (i, n) in r.source_labels.iter().enumerate() {
        if i > 0 {
            out.push_str(&r.separator);
        }
        out.push_str(get(labels, n).unwrap_or(""));
    }
    out
}

fn apply(labels: &mut Labels, r: &Rule) -> bool {
    match r.action {
        Action::Keep => r.regex.is_match(&source_value(labels, r)),
        Action::Drop => !r.regex.is_match(&source_value(labels, r)),
        Action::KeepEqual => source_value(labels, r) == get(labels, &r.target_label).unwrap_or(""),
        Action::DropEqual => source_value(labels, r) != get(labels, &r.target_label).unwrap_or(""),
        Action::Replace => {
            let val = source_value(labels, r);
            let Some(caps) = r.regex.captures(&val) else {
                return true;
            };
            let mut target = String::new();
            caps.expand(&r.target_label, &mut target);
            if !is_label_name(&target) {
                return true;
            }
            let mut res = String::new();
            caps.expand(&r.replacement, &mut res);
            set(labels, &target, &res);
            true
        }
        Action::Lowercase => {
            let v = source_value(labels, r).to_lowercase();
            set(labels, &r.target_label.clone(), &v);
            true
        }
        Action::Uppercase => {
            let v = source_value(labels, r).to_uppercase();
            set(labels, &r.target_label.clone(), &v);
            true
        }
        Action::LabelDrop => {
            labels.retain(|(n, _)| !r.regex.is_match(n));
            true
        }
        Action::LabelKeep => {
            labels.retain(|(n, _)| r.regex.is_match(n));
            true
        }
        Action::LabelMap => {
            let mut add = Vec::new();
            for (n, v) in labels.iter() {
                if let Some(caps) = r.regex.captures(n) {
                    let mut nn = String::new();
                    caps.expand(&r.replacement, &mut nn);
                    add.push((nn, v.clone()));
                }
            }
            for (n, v) in add {
                set(labels, &n, &v);
            }
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ls(pairs: &[(&str, &str)]) -> Labels {
        let mut v: Labels = pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        v.sort();
        v
    }

    fn rule(yaml: serde_json::Value) -> Rule {
        crate::config::decode::decode::<RelabelConfig>(&yaml)
            .unwrap()
            .compile()
            .unwrap()
    }

    #[test]
    fn relabel_table() {
        use serde_json::json;
        struct Case {
            name: &'static str,
            input: &'static [(&'static str, &'static str)],
            rules: Vec<serde_json::Value>,
            output: Option<&'static [(&'static str, &'static str)]>,
        }
        let cases = vec![
            Case {
                name: "replace with $1 from joined sources",
                input: &[("a", "foo"), ("b", "bar")],
                rules: vec![
                    json!({"source_labels": ["a", "b"], "regex": "f(.*);(.*)r", "target_label": "c", "replacement": "x${1}y$2"}),
                ],
                output: Some(&[("a", "foo"), ("b", "bar"), ("c", "xooyba")]),
            },
            Case {
                name: "regex is anchored: partial match does nothing",
                input: &[("a", "foo")],
                rules: vec![
                    json!({"source_labels": ["a"], "regex": "o", "target_label": "b", "replacement": "hit"}),
                ],
                output: Some(&[("a", "foo")]),
            },
            Case {
                name: "no match leaves labels alone",
                input: &[("a", "foo")],
                rules: vec![
                    json!({"source_labels": ["a"], "regex": "bar", "target_label": "a", "replacement": "x"}),
                ],
                output: Some(&[("a", "foo")]),
            },
            Case {
                name: "empty replacement deletes the target",
                input: &[("a", "foo"), ("b", "x")],
                rules: vec![
                    json!({"source_labels": ["a"], "target_label": "b", "replacement": ""}),
                ],
                output: Some(&[("a", "foo")]),
            },
            Case {
                name: "default rule copies a source",
                input: &[("__address__", "h:9100")],
                rules: vec![json!({"source_labels": ["__address__"], "target_label": "instance"})],
                output: Some(&[("__address__", "h:9100"), ("instance", "h:9100")]),
            },
            Case {
                name: "target label from a capture",
                input: &[("a", "some-name-value")],
                rules: vec![
                    json!({"source_labels": ["a"], "regex": "some-([^-]+)-(.*)", "target_label": "${1}", "replacement": "${2}"}),
                ],
                output: Some(&[("a", "some-name-value"), ("name", "value")]),
            },
            Case {
                name: "invalid expanded target is skipped",
                input: &[("a", "some-1-value")],
                rules: vec![
                    json!({"source_labels": ["a"], "regex": "some-([^-]+)-(.*)", "target_label": "${1}", "replacement": "x"}),
                ],
                output: Some(&[("a", "some-1-value")]),
            },
            Case {
                name: "keep matching",
                input: &[("a", "foo")],
                rules: vec![json!({"source_labels": ["a"], "regex": "f.*", "action": "keep"})],
                output: Some(&[("a", "foo")]),
            },
            Case {
                name: "keep drops non-matching",
                input: &[("a", "foo")],
                rules: vec![json!({"source_labels": ["a"], "regex": "f", "action": "keep"})],
                output: None,
            },
            Case {
                name: "drop matching",
                input: &[("a", "foo")],
                rules: vec![json!({"source_labels": ["a"], "regex": "foo|bar", "action": "drop"})],
                output: None,
            },
            Case {
                name: "drop matches the empty value of a missing label",
                input: &[("a", "foo")],
                rules: vec![json!({"source_labels": ["missing"], "regex": "", "action": "drop"})],
                output: None,
            },
            Case {
                name: "labeldrop",
                input: &[("a", "1"), ("b1", "2"), ("b2", "3")],
                rules: vec![json!({"regex": "b.", "action": "labeldrop"})],
                output: Some(&[("a", "1")]),
            },
            Case {
                name: "labelkeep",
                input: &[("a", "1"), ("b1", "2"), ("b2", "3")],
                rules: vec![json!({"regex": "b.", "action": "labelkeep"})],
                output: Some(&[("b1", "2"), ("b2", "3")]),
            },
            Case {
                name: "labelmap",
                input: &[("__meta_x_foo", "1"), ("__meta_x_bar", "2"), ("c", "3")],
                rules: vec![json!({"regex": "__meta_x_(.+)", "action": "labelmap"})],
                output: Some(&[
                    ("__meta_x_bar", "2"),
                    ("__meta_x_foo", "1"),
                    ("bar", "2"),
                    ("c", "3"),
                    ("foo", "1"),
                ]),
            },
            Case {
                name: "labelmap with a replacement",
                input: &[("__meta_x_foo", "1")],
                rules: vec![
                    json!({"regex": "__meta_x_(.+)", "action": "labelmap", "replacement": "k8s_${1}"}),
                ],
                output: Some(&[("__meta_x_foo", "1"), ("k8s_foo", "1")]),
            },
            Case {
                name: "regex spans newlines ((?s))",
                input: &[("a", "x\ny")],
                rules: vec![json!({"source_labels": ["a"], "regex": "x.y", "action": "keep"})],
                output: Some(&[("a", "x\ny")]),
            },
            Case {
                name: "lowercase and uppercase",
                input: &[("a", "MiXed")],
                rules: vec![
                    json!({"source_labels": ["a"], "target_label": "l", "action": "lowercase"}),
                    json!({"source_labels": ["a"], "target_label": "u", "action": "uppercase"}),
                ],
                output: Some(&[("a", "MiXed"), ("l", "mixed"), ("u", "MIXED")]),
            },
            Case {
                name: "keepequal / dropequal",
                input: &[("a", "1"), ("b", "1")],
                rules: vec![
                    json!({"source_labels": ["a"], "target_label": "b", "action": "keepequal"}),
                ],
                output: Some(&[("a", "1"), ("b", "1")]),
            },
            Case {
                name: "dropping every label drops the set",
                input: &[("a", "1")],
                rules: vec![json!({"regex": ".*", "action": "labeldrop"})],
                output: None,
            },
        ];
        for c in cases {
            let mut l = ls(c.input);
            let rules: Vec<Rule> = c.rules.into_iter().map(rule).collect();
            let kept = process(&mut l, &rules);
            match c.output {
                Some(want) => {
                    assert!(kept, "{}: dropped", c.name);
                    assert_eq!(l, ls(want), "{}", c.name);
                }
                None => assert!(!kept, "{}: kept {:?}", c.name, l),
            }
        }
    }

    #[test]
    fn rejects_invalid_rules() {
        use serde_json::json;
        let err = |v| {
            crate::config::decode::decode::<RelabelConfig>(&v)
                .unwrap()
                .compile()
                .unwrap_err()
        };
        assert!(err(json!({"action": "replace"})).contains("requires 'target_label'"));
        assert!(err(json!({"action": "labeldrop", "source_labels": ["a"]}))
            .contains("requires only 'regex'"));
        assert!(err(json!({"regex": "(", "target_label": "a"})).contains("invalid regex"));
        let e = err(json!({"action": "keeep"}));
        assert!(e.contains("did you mean \"keep\""), "{e}");
        assert!(
            err(json!({"action": "hashmod", "target_label": "a", "modulus": 2}))
                .contains("unsupported relabel action")
        );
        assert!(err(json!({"target_label": "1bad"})).contains("invalid 'target_label'"));
    }
}
