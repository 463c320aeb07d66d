//! Config of the `prometheus` receiver: the collector's keys around `config:`, which holds
//! Prometheus's own configuration syntax (the subset Sluice supports).

use std::collections::BTreeMap;
use std::time::Duration;

use regex::Regex;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::relabel::{RelabelConfig, Rule};
use super::tls_config::TlsConfig;
use crate::component::ComponentConfigError;
use crate::config::decode::{decode, did_you_mean};
use crate::tls::ClientTls;

/// Where a cumulative point's start time comes from when the target exposes no `_created`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartTimePolicy {
    /// The first observation of a series is its start (the first point has start = time);
    /// a value decrease (counter reset) starts a new start time at the time of the point that
    /// decreased. Default.
    #[default]
    FirstObservation,
    /// Only `_created` gives a start time; other points have none (start time 0), as upstream
    /// does since it removed start-time adjustment.
    CreatedOnly,
    /// The value of the target's start-time metric (`process_start_time_seconds`, or
    /// `start_time_metric_regex`), as upstream's `use_start_time_metric`.
    StartTimeMetric,
}

/// Supported service discovery keys, listed in errors.
pub const SUPPORTED_SD: &[&str] = &["static_configs", "file_sd_configs"];

/// `receivers: prometheus:`.
#[derive(Debug, Clone)]
pub struct PrometheusConfig {
    /// `config.global` plus defaults.
    pub global: GlobalConfig,
    /// `config.scrape_configs`, checked and with global defaults applied.
    pub scrape_configs: Vec<ScrapeConfig>,
    /// Start-time policy (`start_time_policy`, or `use_start_time_metric: true`).
    pub start_time: StartTimePolicy,
    /// Which metric gives the process start time (`start_time_metric_regex`, anchored).
    pub start_time_metric: Regex,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Top {
    config: Option<Value>,
    #[serde(default)]
    use_start_time_metric: bool,
    start_time_metric_regex: Option<String>,
    /// Sluice's own: `first_observation` (default), `created_only`, `start_time_metric`.
    start_time_policy: Option<String>,
    #[serde(default)]
    trim_metric_suffixes: bool,
    #[serde(default)]
    report_extra_scrape_metrics: bool,
    target_allocator: Option<Value>,
    api_server: Option<Value>,
}

/// `config.global`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GlobalConfig {
    /// Default scrape interval (Prometheus default 1m).
    #[serde(deserialize_with = "prom_duration")]
    pub scrape_interval: Duration,
    /// Default scrape timeout (Prometheus default 10s).
    #[serde(deserialize_with = "prom_duration")]
    pub scrape_timeout: Duration,
    /// Accepted (rules are not evaluated).
    #[serde(deserialize_with = "prom_duration")]
    pub evaluation_interval: Duration,
    /// Labels added to every scraped sample (unless the sample has them).
    pub external_labels: BTreeMap<String, String>,
}

impl Default for GlobalConfig {
    fn default() -> Self {
        GlobalConfig {
            scrape_interval: Duration::from_secs(60),
            scrape_timeout: Duration::from_secs(10),
            evaluation_interval: Duration::from_secs(60),
            external_labels: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PromTop {
    #[serde(default)]
    global: GlobalConfig,
    #[serde(default)]
    scrape_configs: Vec<Value>,
    rule_files: Option<Value>,
    remote_write: Option<Value>,
    remote_read: Option<Value>,
    alerting: Option<Value>,
    scrape_config_files: Option<Value>,
}

/// `static_configs[]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StaticConfig {
    /// `host:port` addresses.
    pub targets: Vec<String>,
    /// Labels given to every target of the group.
    pub labels: BTreeMap<String, String>,
}

/// `file_sd_configs[]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileSdConfig {
    /// Files (`*` allowed in the last path element) holding target groups, `.json`, `.yml` or
    /// `.yaml`.
    pub files: Vec<String>,
    /// How often files are re-read (default 5m).
    #[serde(deserialize_with = "prom_duration")]
    pub refresh_interval: Duration,
}

impl Default for FileSdConfig {
    fn default() -> Self {
        FileSdConfig {
            files: Vec::new(),
            refresh_interval: Duration::from_secs(300),
        }
    }
}

/// `basic_auth`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BasicAuth {
    /// User name.
    pub username: String,
    /// Password (secret).
    pub password: Option<String>,
    /// File holding the password, read at each scrape.
    pub password_file: Option<String>,
}

/// `authorization`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Authorization {
    /// Scheme (default `Bearer`).
    #[serde(rename = "type")]
    pub kind: String,
    /// The credentials (secret).
    pub credentials: Option<String>,
    /// File holding the credentials, read at each scrape.
    pub credentials_file: Option<String>,
}

impl Default for Authorization {
    fn default() -> Self {
        Authorization {
            kind: "Bearer".into(),
            credentials: None,
            credentials_file: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScrapeRaw {
    job_name: String,
    #[serde(default, deserialize_with = "opt_prom_duration")]
    scrape_interval: Option<Duration>,
    #[serde(default, deserialize_with = "opt_prom_duration")]
    scrape_timeout: Option<Duration>,
    #[serde(default = "default_metrics_path")]
    metrics_path: String,
    #[serde(default = "default_scheme")]
    scheme: String,
    #[serde(default)]
    params: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    honor_labels: bool,
    #[serde(default = "yes")]
    honor_timestamps: bool,
    #[serde(default = "yes")]
    enable_compression: bool,
    #[serde(default)]
    static_configs: Vec<StaticConfig>,
    #[serde(default)]
    file_sd_configs: Vec<FileSdConfig>,
    #[serde(default)]
    relabel_configs: Vec<RelabelConfig>,
    #[serde(default)]
    metric_relabel_configs: Vec<RelabelConfig>,
    basic_auth: Option<BasicAuth>,
    authorization: Option<Authorization>,
    bearer_token: Option<String>,
    bearer_token_file: Option<String>,
    #[serde(default)]
    tls_config: TlsConfig,
    #[serde(default)]
    sample_limit: u64,
    #[serde(default)]
    body_size_limit: Option<Value>,
}

fn default_metrics_path() -> String {
    "/metrics".into()
}
fn default_scheme() -> String {
    "http".into()
}
fn yes() -> bool {
    true
}

/// How a scrape authenticates.
#[derive(Debug, Clone, PartialEq)]
pub enum Auth {
    /// No Authorization header.
    None,
    /// `basic_auth`.
    Basic(BasicAuth),
    /// `authorization` (or the older `bearer_token`).
    Header(Authorization),
}

/// One checked `scrape_configs` entry.
#[derive(Debug, Clone)]
pub struct ScrapeConfig {
    /// `job_name`.
    pub job_name: String,
    /// Interval (own or global).
    pub scrape_interval: Duration,
    /// Timeout (own or global, at most the interval).
    pub scrape_timeout: Duration,
    /// Path (default `/metrics`).
    pub metrics_path: String,
    /// `http` or `https` (relabeling may still change it per target).
    pub scheme: String,
    /// URL parameters.
    pub params: BTreeMap<String, Vec<String>>,
    /// Keep scraped labels that clash with target labels.
    pub honor_labels: bool,
    /// Use exposed timestamps.
    pub honor_timestamps: bool,
    /// Ask for gzip.
    pub enable_compression: bool,
    /// Static target groups.
    pub static_configs: Vec<StaticConfig>,
    /// File discovery.
    pub file_sd_configs: Vec<FileSdConfig>,
    /// Target relabeling.
    pub relabel: Vec<Rule>,
    /// Sample relabeling.
    pub metric_relabel: Vec<Rule>,
    /// Authentication.
    pub auth: Auth,
    /// TLS client settings for https targets, checked (files readable, key matches).
    pub tls: ClientTls,
    /// Most samples a scrape may keep after metric relabeling (0 = no limit).
    pub sample_limit: u64,
    /// Largest uncompressed body in bytes (0 = no limit).
    pub body_size_limit: u64,
    /// External labels from `global`.
    pub external_labels: Vec<(String, String)>,
}

fn at(path: &[String], message: impl Into<String>) -> ComponentConfigError {
    ComponentConfigError {
        path: path.to_vec(),
        message: message.into(),
        hint: None,
    }
}

fn prefixed(mut e: ComponentConfigError, prefix: &[String]) -> ComponentConfigError {
    let mut p = prefix.to_vec();
    p.append(&mut e.path);
    e.path = p;
    e
}

fn strs(p: &[&str]) -> Vec<String> {
    p.iter().map(|s| s.to_string()).collect()
}

impl PrometheusConfig {
    /// Decodes and checks the receiver's config.
    pub fn from_value(raw: &Value) -> Result<PrometheusConfig, ComponentConfigError> {
        let top: Top = decode(raw)?;
        if top.target_allocator.is_some() {
            return Err(at(
                &strs(&["target_allocator"]),
                "the target allocator is not supported",
            ));
        }
        if top.api_server.is_some() {
            return Err(at(
                &strs(&["api_server"]),
                "the Prometheus API server is not supported",
            ));
        }
        if top.trim_metric_suffixes {
            return Err(at(
                &strs(&["trim_metric_suffixes"]),
                "trimming metric suffixes is not supported; metric names are kept as exposed",
            ));
        }
        if top.report_extra_scrape_metrics {
            return Err(at(
                &strs(&["report_extra_scrape_metrics"]),
                "extra scrape metrics are not supported",
            ));
        }
        let mut start_time = match top.start_time_policy.as_deref() {
            None | Some("first_observation") => StartTimePolicy::FirstObservation,
            Some("created_only") => StartTimePolicy::CreatedOnly,
            Some("start_time_metric") => StartTimePolicy::StartTimeMetric,
            Some(other) => {
                let names = ["first_observation", "created_only", "start_time_metric"];
                let mut e = at(
                    &strs(&["start_time_policy"]),
                    format!(
                        "unknown start time policy {other:?} (supported: {})",
                        names.join(", ")
                    ),
                );
                e.hint = did_you_mean(other, names);
                return Err(e);
            }
        };
        if top.use_start_time_metric {
            start_time = StartTimePolicy::StartTimeMetric;
        }
        let re = top
            .start_time_metric_regex
            .as_deref()
            .unwrap_or("process_start_time_seconds");
        let start_time_metric = Regex::new(&format!("^(?:{re})$")).map_err(|e| {
            at(
                &strs(&["start_time_metric_regex"]),
                format!("invalid regex: {e}"),
            )
        })?;
        let Some(prom) = top.config else {
            return Err(at(
                &strs(&["config"]),
                "`config` with `scrape_configs` is required",
            ));
        };
        let cp = strs(&["config"]);
        let prom: PromTop = decode(&prom).map_err(|e| prefixed(e, &cp))?;
        let mut unsupported = Vec::new();
        for (k, v) in [
            ("alerting", &prom.alerting),
            ("remote_read", &prom.remote_read),
            ("remote_write", &prom.remote_write),
            ("rule_files", &prom.rule_files),
            ("scrape_config_files", &prom.scrape_config_files),
        ] {
            if v.as_ref().is_some_and(|v| !v.is_null()) {
                unsupported.push(k);
            }
        }
        if !unsupported.is_empty() {
            return Err(at(
                &cp,
                format!("unsupported features: {}", unsupported.join(", ")),
            ));
        }
        if prom.scrape_configs.is_empty() {
            return Err(at(
                &strs(&["config", "scrape_configs"]),
                "no Prometheus scrape_configs set",
            ));
        }
        let external_labels: Vec<(String, String)> =
            prom.global.external_labels.clone().into_iter().collect();
        let mut scrape_configs: Vec<ScrapeConfig> = Vec::new();
        for (i, raw) in prom.scrape_configs.iter().enumerate() {
            let p = strs(&["config", "scrape_configs", &i.to_string()]);
            let sc = check_scrape(raw, &p, &prom.global, &external_labels)?;
            if scrape_configs.iter().any(|o| o.job_name == sc.job_name) {
                return Err(at(
                    &[p, vec!["job_name".into()]].concat(),
                    format!(
                        "found multiple scrape configs with job name {:?}",
                        sc.job_name
                    ),
                ));
            }
            scrape_configs.push(sc);
        }
        Ok(PrometheusConfig {
            global: prom.global,
            scrape_configs,
            start_time,
            start_time_metric,
        })
    }
}

fn check_scrape(
    raw: &Value,
    p: &[String],
    global: &GlobalConfig,
    external_labels: &[(String, String)],
) -> Result<ScrapeConfig, ComponentConfigError> {
    if let Value::Object(m) = raw {
        for k in m.keys() {
            if k.ends_with("_sd_configs") && !SUPPORTED_SD.contains(&k.as_str()) {
                return Err(at(
                    &[p.to_vec(), vec![k.clone()]].concat(),
                    format!(
                        "service discovery `{k}` is not supported (supported: {})",
                        SUPPORTED_SD.join(", ")
                    ),
                ));
            }
        }
    }
    let r: ScrapeRaw = decode(raw).map_err(|e| prefixed(e, p))?;
    let key = |k: &str| [p.to_vec(), vec![k.to_string()]].concat();
    if r.job_name.is_empty() {
        return Err(at(&key("job_name"), "job_name is empty"));
    }
    let interval = r.scrape_interval.unwrap_or(global.scrape_interval);
    if interval.is_zero() {
        return Err(at(&key("scrape_interval"), "must be greater than 0"));
    }
    let timeout = match r.scrape_timeout {
        Some(t) => {
            if t > interval {
                return Err(at(
                    &key("scrape_timeout"),
                    format!(
                        "scrape timeout greater than scrape interval for scrape config with job name {:?}",
                        r.job_name
                    ),
                ));
            }
            t
        }
        None => global.scrape_timeout.min(interval),
    };
    if !matches!(r.scheme.as_str(), "http" | "https") {
        return Err(at(
            &key("scheme"),
            format!("unsupported scheme {:?} (expected http or https)", r.scheme),
        ));
    }
    let tls = r
        .tls_config
        .client_tls()
        .map_err(|e| at(&key("tls_config"), e.0))?;
    if !r.metrics_path.starts_with('/') {
        return Err(at(&key("metrics_path"), "must start with '/'"));
    }
    let compile = |rules: &[RelabelConfig], k: &str| -> Result<Vec<Rule>, ComponentConfigError> {
        rules
            .iter()
            .enumerate()
            .map(|(i, rc)| {
                rc.compile().map_err(|m| {
                    at(
                        &[p.to_vec(), vec![k.to_string(), i.to_string()]].concat(),
                        m,
                    )
                })
            })
            .collect()
    };
    let relabel = compile(&r.relabel_configs, "relabel_configs")?;
    let metric_relabel = compile(&r.metric_relabel_configs, "metric_relabel_configs")?;
    for (i, rc) in r.metric_relabel_configs.iter().enumerate() {
        if rc.target_label.as_deref() == Some("__name__") {
            return Err(at(
                &[
                    p.to_vec(),
                    vec!["metric_relabel_configs".into(), i.to_string()],
                ]
                .concat(),
                "renaming metrics (target_label __name__) is not allowed, as upstream",
            ));
        }
    }
    let auth_count = r.basic_auth.is_some() as u8
        + r.authorization.is_some() as u8
        + (r.bearer_token.is_some() || r.bearer_token_file.is_some()) as u8;
    if auth_count > 1 {
        return Err(at(
            p,
            "at most one of basic_auth, authorization and bearer_token may be configured",
        ));
    }
    let auth = if let Some(b) = r.basic_auth {
        if b.password.is_some() && b.password_file.is_some() {
            return Err(at(
                &key("basic_auth"),
                "at most one of basic_auth password and password_file must be configured",
            ));
        }
        Auth::Basic(b)
    } else if let Some(a) = r.authorization {
        if a.credentials.is_some() && a.credentials_file.is_some() {
            return Err(at(
                &key("authorization"),
                "at most one of authorization credentials and credentials_file must be configured",
            ));
        }
        if a.kind.eq_ignore_ascii_case("basic") {
            return Err(at(
                &key("authorization"),
                "authorization type cannot be set to \"basic\", use \"basic_auth\" instead",
            ));
        }
        if let Some(f) = &a.credentials_file {
            std::fs::metadata(f).map_err(|e| {
                at(
                    &[key("authorization"), vec!["credentials_file".into()]].concat(),
                    format!("cannot read {f:?}: {e}"),
                )
            })?;
        }
        Auth::Header(a)
    } else if r.bearer_token.is_some() || r.bearer_token_file.is_some() {
        Auth::Header(Authorization {
            kind: "Bearer".into(),
            credentials: r.bearer_token,
            credentials_file: r.bearer_token_file,
        })
    } else {
        Auth::None
    };
    for (i, sc) in r.static_configs.iter().enumerate() {
        for (j, t) in sc.targets.iter().enumerate() {
            if t.contains('/') {
                return Err(at(
                    &[p.to_vec(), vec!["static_configs".into(), i.to_string(), "targets".into(), j.to_string()]].concat(),
                    format!("{t:?} is not a valid hostname (targets are host:port, without scheme or path)"),
                ));
            }
        }
    }
    for (i, f) in r.file_sd_configs.iter().enumerate() {
        if f.files.is_empty() {
            return Err(at(
                &[
                    p.to_vec(),
                    vec!["file_sd_configs".into(), i.to_string(), "files".into()],
                ]
                .concat(),
                "file service discovery config must contain at least one path name",
            ));
        }
        for (j, name) in f.files.iter().enumerate() {
            let ext = std::path::Path::new(name)
                .extension()
                .and_then(|e| e.to_str())
                .unwrap_or("")
                .to_ascii_lowercase();
            if !matches!(ext.as_str(), "json" | "yml" | "yaml") {
                return Err(at(
                    &[p.to_vec(), vec!["file_sd_configs".into(), i.to_string(), "files".into(), j.to_string()]].concat(),
                    format!("path {name:?} is not valid for file discovery (expected .json, .yml or .yaml)"),
                ));
            }
        }
    }
    let body_size_limit = match &r.body_size_limit {
        None | Some(Value::Null) => 0,
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
        Some(Value::String(s)) => parse_bytes(s).map_err(|m| at(&key("body_size_limit"), m))?,
        Some(_) => return Err(at(&key("body_size_limit"), "expected a size like 10MB")),
    };
    Ok(ScrapeConfig {
        job_name: r.job_name,
        scrape_interval: interval,
        scrape_timeout: timeout,
        metrics_path: r.metrics_path,
        scheme: r.scheme,
        params: r.params,
        honor_labels: r.honor_labels,
        honor_timestamps: r.honor_timestamps,
        enable_compression: r.enable_compression,
        static_configs: r.static_configs,
        file_sd_configs: r.file_sd_configs,
        relabel,
        metric_relabel,
        auth,
        tls,
        sample_limit: r.sample_limit,
        body_size_limit,
        external_labels: external_labels.to_vec(),
    })
}

/// Parses a size as Prometheus's `body_size_limit` (base-2 units: `512KB`, `10MB`, `1GiB`,
/// plain bytes `1024`, `0` for no limit).
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("invalid size {s:?} (expected e.g. 10MB)"))?;
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "KB" | "KiB" | "K" => 1 << 10,
        "MB" | "MiB" | "M" => 1 << 20,
        "GB" | "GiB" | "G" => 1 << 30,
        "TB" | "TiB" | "T" => 1 << 40,
        other => {
            return Err(format!(
                "invalid unit {other:?} in size {s:?} (use B, KB, MB, GB, TB)"
            ))
        }
    };
    Ok((n * mult as f64) as u64)
}

/// Parses a Prometheus duration: `30s`, `1m30s`, `500ms`, `2h`, `1d`, `1w`, `1y`.
pub fn parse_prom_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err("empty duration".into());
    }
    let mut rest = s;
    let mut total_ms: u128 = 0;
    while !rest.is_empty() {
        let n_end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if n_end == 0 {
            return Err(format!("not a valid duration string: {s:?}"));
        }
        let n: u128 = rest[..n_end]
            .parse()
            .map_err(|_| format!("not a valid duration string: {s:?}"))?;
        rest = &rest[n_end..];
        let u_end = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..u_end];
        rest = &rest[u_end..];
        let ms: u128 = match unit {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 7 * 86_400_000,
            "y" => 365 * 86_400_000,
            _ => {
                return Err(format!(
                    "not a valid duration string: {s:?} (units: ms, s, m, h, d, w, y)"
                ))
            }
        };
        total_ms += n * ms;
    }
    Ok(Duration::from_millis(total_ms.min(u64::MAX as u128) as u64))
}

fn prom_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    parse_prom_duration(&s).map_err(serde::de::Error::custom)
}

fn opt_prom_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    prom_duration(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cfg(v: Value) -> Result<PrometheusConfig, ComponentConfigError> {
        PrometheusConfig::from_value(&v)
    }

    #[test]
    fn applies_global_defaults_like_prometheus() {
        let c = cfg(json!({"config": {
        "global": {"scrape_interval": "30s"},
        "scrape_configs": [
            {"job_name": "a", "static_configs": [{"targets": ["h:1"]}]},
            {"job_name": "b", "scrape_interval": "5s", "static_configs": [{"targets": ["h:2"]}]},
        ]}}))
        .unwrap();
        let a = &c.scrape_configs[0];
        assert_eq!(a.scrape_interval, Duration::from_secs(30));
        assert_eq!(a.scrape_timeout, Duration::from_secs(10));
        assert_eq!(a.metrics_path, "/metrics");
        assert!(a.honor_timestamps);
        assert!(!a.honor_labels);
        let b = &c.scrape_configs[1];
        assert_eq!(
            b.scrape_timeout,
            Duration::from_secs(5),
            "timeout capped by interval"
        );
        assert_eq!(c.start_time, StartTimePolicy::FirstObservation);
    }

    #[test]
    fn rejects_bad_configs_with_paths_and_hints() {
        let e = cfg(json!({})).unwrap_err();
        assert_eq!(e.path, ["config"]);
        let e =
            cfg(json!({"config": {"scrape_configs": [{"job_name": "a", "scrape_intervl": "1s"}]}}))
                .unwrap_err();
        assert_eq!(e.path, ["config", "scrape_configs", "0", "scrape_intervl"]);
        assert_eq!(e.hint.as_deref(), Some("did you mean \"scrape_interval\"?"));
        let e = cfg(json!({"config": {"scrape_configs": [{"job_name": "a", "kubernetes_sd_configs": [{}]}]}}))
            .unwrap_err();
        assert!(e.message.contains("static_configs, file_sd_configs"), "{e}");
        assert_eq!(
            e.path,
            ["config", "scrape_configs", "0", "kubernetes_sd_configs"]
        );
        let e = cfg(json!({"config": {"globl": {}}})).unwrap_err();
        assert_eq!(e.hint.as_deref(), Some("did you mean \"global\"?"));
        let e = cfg(json!({"config": {"scrape_configs": [{"job_name": "a", "scrape_interval": "5s", "scrape_timeout": "10s"}]}}))
            .unwrap_err();
        assert!(e.message.contains("greater than scrape interval"), "{e}");
        let e = cfg(json!({"config": {"scrape_configs": [{"job_name": "a"}, {"job_name": "a"}]}}))
            .unwrap_err();
        assert!(e.message.contains("multiple scrape configs"), "{e}");
        let e = cfg(json!({"config": {"scrape_configs": [{"job_name": "a", "relabel_configs": [{"action": "drp"}]}]}}))
            .unwrap_err();
        assert_eq!(
            e.path,
            ["config", "scrape_configs", "0", "relabel_configs", "0"]
        );
        assert!(e.message.contains("did you mean \"drop\""), "{e}");
        let e =
            cfg(json!({"config": {"scrape_configs": [{"job_name": "a"}], "remote_write": [{}]}}))
                .unwrap_err();
        assert!(
            e.message.contains("unsupported features: remote_write"),
            "{e}"
        );
        let e = cfg(json!({"config": {"scrape_configs": [{"job_name": "a", "file_sd_configs": [{"files": ["x.txt"]}]}]}}))
            .unwrap_err();
        assert!(e.message.contains(".json"), "{e}");
        let e = cfg(json!({"start_time_policy": "first", "config": {"scrape_configs": [{"job_name": "a"}]}}))
            .unwrap_err();
        assert_eq!(
            e.hint.as_deref(),
            Some("did you mean \"first_observation\"?")
        );
        let e = cfg(json!({"config": {"scrape_configs": [{"job_name": "a", "basic_auth": {"username": "u"}, "authorization": {"credentials": "x"}}]}}))
            .unwrap_err();
        assert!(e.message.contains("at most one"), "{e}");
    }

    #[test]
    fn decodes_every_supported_key() {
        let c = cfg(json!({
            "use_start_time_metric": true,
            "config": {"scrape_configs": [{
                "job_name": "full",
                "scrape_interval": "15s",
                "scrape_timeout": "5s",
                "metrics_path": "/m",
                "scheme": "http",
                "params": {"module": ["x"]},
                "honor_labels": true,
                "honor_timestamps": false,
                "static_configs": [{"targets": ["h:1"], "labels": {"env": "p"}}],
                "file_sd_configs": [{"files": ["/tmp/*.json"], "refresh_interval": "1m"}],
                "relabel_configs": [{"source_labels": ["__address__"], "target_label": "x"}],
                "metric_relabel_configs": [{"regex": "go_.*", "source_labels": ["__name__"], "action": "drop"}],
                "basic_auth": {"username": "u", "password": "p"},
                "tls_config": {"insecure_skip_verify": true, "min_version": "TLS13"},
                "sample_limit": 100,
                "body_size_limit": "10MB",
            }]}}))
        .unwrap();
        let s = &c.scrape_configs[0];
        assert_eq!(s.body_size_limit, 10 << 20);
        assert_eq!(s.sample_limit, 100);
        assert!(s.tls.insecure_skip_verify);
        assert_eq!(s.tls.min_version, Some(crate::tls::TlsVersion::Tls13));
        assert_eq!(
            s.file_sd_configs[0].refresh_interval,
            Duration::from_secs(60)
        );
        assert!(matches!(s.auth, Auth::Basic(_)));
        assert_eq!(c.start_time, StartTimePolicy::StartTimeMetric);
    }

    #[test]
    fn parses_prometheus_durations_and_sizes() {
        assert_eq!(
            parse_prom_duration("1m30s").unwrap(),
            Duration::from_secs(90)
        );
        assert_eq!(
            parse_prom_duration("1d").unwrap(),
            Duration::from_secs(86400)
        );
        assert_eq!(
            parse_prom_duration("250ms").unwrap(),
            Duration::from_millis(250)
        );
        assert!(parse_prom_duration("1.5s").is_err());
        assert!(parse_prom_duration("5x").is_err());
        assert_eq!(parse_bytes("1KB").unwrap(), 1024);
        assert_eq!(parse_bytes("0").unwrap(), 0);
        assert!(parse_bytes("1XB").is_err());
    }
}
