//! Target discovery: `static_configs` and `file_sd_configs` target groups, turned into scrape
//! targets with Prometheus's label rules (`__address__`, `__scheme__`, `__metrics_path__`,
//! `__param_*`, `job`, then `relabel_configs`, then `instance` defaulting to the address and
//! every `__`-prefixed label removed).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::config::{FileSdConfig, ScrapeConfig};
use super::convert::Target;
use super::relabel::{self, Labels};

/// A group of targets sharing labels (one static config, or one entry of an SD file).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetGroup {
    /// `host:port` addresses.
    pub targets: Vec<String>,
    /// Labels for every target of the group.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// A target ready to scrape.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TargetSpec {
    /// Its identity and labels.
    pub target: Target,
    /// The URL to scrape.
    pub url: String,
}

/// The groups of a scrape config's `static_configs`.
pub fn static_groups(sc: &ScrapeConfig) -> Vec<(TargetGroup, Option<String>)> {
    sc.static_configs
        .iter()
        .map(|s| {
            (
                TargetGroup {
                    targets: s.targets.clone(),
                    labels: s.labels.clone(),
                },
                None,
            )
        })
        .collect()
}

/// Files matching one `files` pattern (`*` and `?` allowed in the last path element).
pub fn expand_pattern(pattern: &str) -> Vec<PathBuf> {
    let path = Path::new(pattern);
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return Vec::new();
    };
    if !name.contains(['*', '?']) {
        return vec![path.to_path_buf()];
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut re = String::from("^");
    for c in name.chars() {
        match c {
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push('$');
    let Ok(re) = regex::Regex::new(&re) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_str().is_some_and(|n| re.is_match(n)))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Reads one SD file (`.json`, `.yml`, `.yaml`).
pub fn read_sd_file(path: &Path) -> Result<Vec<TargetGroup>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let groups: Vec<TargetGroup> = match ext.as_str() {
        "json" => serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?,
        "yml" | "yaml" => {
            if text.trim().is_empty() {
                Vec::new()
            } else {
                serde_saphyr::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
            }
        }
        other => {
            return Err(format!(
                "{}: invalid file extension {other:?}",
                path.display()
            ))
        }
    };
    Ok(groups)
}

/// Reads every file of a `file_sd_configs` entry; files that fail are reported and skipped.
pub fn read_file_sd(cfg: &FileSdConfig) -> (Vec<(TargetGroup, Option<String>)>, Vec<String>) {
    let mut groups = Vec::new();
    let mut errors = Vec::new();
    for pattern in &cfg.files {
        for path in expand_pattern(pattern) {
            match read_sd_file(&path) {
                Ok(gs) => {
                    let p = path.display().to_string();
                    groups.extend(gs.into_iter().map(|g| (g, Some(p.clone()))));
                }
                Err(e) => errors.push(e),
            }
        }
    }
    (groups, errors)
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Turns target groups into targets, as Prometheus's PopulateLabels. Targets dropped by
/// relabeling, or left without an address, are skipped; duplicates are removed.
pub fn targets(sc: &ScrapeConfig, groups: &[(TargetGroup, Option<String>)]) -> Vec<TargetSpec> {
    let mut out: Vec<TargetSpec> = Vec::new();
    for (g, file) in groups {
        for addr in &g.targets {
            let mut l: Labels = Vec::new();
            for (k, v) in &g.labels {
                relabel::set(&mut l, k, v);
            }
            if let Some(f) = file {
                relabel::set(&mut l, "__meta_filepath", f);
            }
            relabel::set(&mut l, "__address__", addr);
            let defaults = [
                ("job", sc.job_name.clone()),
                (
                    "__scrape_interval__",
                    format!("{}s", sc.scrape_interval.as_secs_f64()),
                ),
                (
                    "__scrape_timeout__",
                    format!("{}s", sc.scrape_timeout.as_secs_f64()),
                ),
                ("__metrics_path__", sc.metrics_path.clone()),
                ("__scheme__", sc.scheme.clone()),
            ];
            for (k, v) in defaults {
                if relabel::get(&l, k).is_none() {
                    relabel::set(&mut l, k, &v);
                }
            }
            for (k, vs) in &sc.params {
                let name = format!("__param_{k}");
                if relabel::get(&l, &name).is_none() {
                    if let Some(v) = vs.first() {
                        relabel::set(&mut l, &name, v);
                    }
                }
            }
            if !relabel::process(&mut l, &sc.relabel) {
                continue;
            }
            let Some(address) = relabel::get(&l, "__address__").map(str::to_string) else {
                continue;
            };
            if address.is_empty() || address.contains('/') {
                continue;
            }
            let scheme = relabel::get(&l, "__scheme__").unwrap_or("http").to_string();
            let path = relabel::get(&l, "__metrics_path__")
                .unwrap_or("/metrics")
                .to_string();
            let mut query: Vec<String> = Vec::new();
            for (k, vs) in &sc.params {
                let over = relabel::get(&l, &format!("__param_{k}"));
                match over {
                    Some(v) if vs.first().map(String::as_str) != Some(v) => {
                        query.push(format!("{}={}", percent_encode(k), percent_encode(v)))
                    }
                    _ => {
                        for v in vs {
                            query.push(format!("{}={}", percent_encode(k), percent_encode(v)));
                        }
                    }
                }
            }
            for (k, v) in &l {
                if let Some(p) = k.strip_prefix("__param_") {
                    if !sc.params.contains_key(p) {
                        query.push(format!("{}={}", percent_encode(p), percent_encode(v)));
                    }
                }
            }
            if relabel::get(&l, "instance").is_none() {
                relabel::set(&mut l, "instance", &address);
            }
            l.retain(|(k, _)| !k.starts_with("__"));
            let job = relabel::get(&l, "job").unwrap_or("").to_string();
            let instance = relabel::get(&l, "instance").unwrap_or("").to_string();
            let mut url = format!("{scheme}://{address}{path}");
            if !query.is_empty() {
                url.push(if path.contains('?') { '&' } else { '?' });
                url.push_str(&query.join("&"));
            }
            let spec = TargetSpec {
                target: Target {
                    job,
                    instance,
                    scheme,
                    labels: l,
                },
                url,
            };
            if !out.contains(&spec) {
                out.push(spec);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::receivers::prometheus::config::PrometheusConfig;
    use serde_json::json;

    fn sc(v: serde_json::Value) -> ScrapeConfig {
        PrometheusConfig::from_value(&json!({"config": {"scrape_configs": [v]}}))
            .unwrap()
            .scrape_configs
            .remove(0)
    }

    #[test]
    fn static_targets_get_prometheus_labels_and_urls() {
        let c = sc(json!({
            "job_name": "node",
            "metrics_path": "/probe",
            "params": {"module": ["http_2xx"]},
            "static_configs": [{"targets": ["a:9100", "b:9100"], "labels": {"env": "prod"}}],
            "relabel_configs": [
                {"source_labels": ["__address__"], "regex": "b:.*", "action": "drop"},
                {"source_labels": ["__address__"], "target_label": "__param_target"},
            ],
        }));
        let t = targets(&c, &static_groups(&c));
        assert_eq!(t.len(), 1);
        assert_eq!(
            t[0].url,
            "http://a:9100/probe?module=http_2xx&target=a%3A9100"
        );
        assert_eq!(t[0].target.job, "node");
        assert_eq!(t[0].target.instance, "a:9100");
        assert_eq!(
            t[0].target.labels,
            vec![
                ("env".to_string(), "prod".to_string()),
                ("instance".into(), "a:9100".into()),
                ("job".into(), "node".into())
            ]
        );
    }

    #[test]
    fn reads_json_and_yaml_sd_files_with_globs() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a.json"),
            r#"[{"targets": ["h1:1"], "labels": {"team": "x"}}]"#,
        )
        .unwrap();
        std::fs::write(
            dir.path().join("b.yml"),
            "- targets: [\"h2:2\", \"h3:3\"]\n  labels:\n    team: y\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("c.txt"), "ignored").unwrap();
        let cfg = FileSdConfig {
            files: vec![
                format!("{}/*.json", dir.path().display()),
                format!("{}/*.yml", dir.path().display()),
            ],
            ..Default::default()
        };
        let (groups, errors) = read_file_sd(&cfg);
        assert!(errors.is_empty(), "{errors:?}");
        let c = sc(json!({"job_name": "f", "relabel_configs": [
            {"source_labels": ["__meta_filepath"], "regex": ".*/(.*)", "target_label": "file"}
        ]}));
        let t = targets(&c, &groups);
        let got: Vec<(&str, &str, &str)> = t
            .iter()
            .map(|t| {
                (
                    t.target.instance.as_str(),
                    relabel::get(&t.target.labels, "team").unwrap(),
                    relabel::get(&t.target.labels, "file").unwrap(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("h1:1", "x", "a.json"),
                ("h2:2", "y", "b.yml"),
                ("h3:3", "y", "b.yml")
            ]
        );
        std::fs::write(dir.path().join("bad.json"), "{not json").unwrap();
        let (_, errors) = read_file_sd(&cfg);
        assert_eq!(errors.len(), 1);
    }
}
