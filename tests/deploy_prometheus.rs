//! `deploy/prometheus/` and `deploy/grafana/`, checked with Debian's promtool and against what
//! a running Sluice actually exports:
//!
//! - `promtool check rules` and `promtool test rules` (alerts fire on exactly the expected
//!   series, with the expected labels and text);
//! - `promtool check config` on the scrape config (Debian builds Prometheus without Kubernetes
//!   service discovery, so its `kubernetes_sd_configs` are swapped for `file_sd_configs` in a
//!   copy; the relabelling rules, which do the selecting, are checked as written and against
//!   the manifests' container and port names);
//! - every PromQL expression of the dashboards, through `promtool check rules`;
//! - every metric name and label matcher used by a dashboard or alert exists in the output of a
//!   Sluice started for this test with data sent through it, failures and refusals included.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::deploy::{manifest_docs, pod_template, repo, run, sluice_container, yaml_docs};
use common::sink::Sink;
use common::{free_port, wait_port, wait_until, Sluice};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use serde_json::Value;

fn promtool(args: &[&str], dir: &Path) -> (i32, String, String) {
    run(Command::new("promtool").args(args).current_dir(dir))
}

fn promtool_version() -> String {
    let (code, out, err) = run(Command::new("promtool").arg("--version"));
    assert_eq!(
        code, 0,
        "promtool (Debian package prometheus) is missing: run scripts/test.sh"
    );
    format!("{out}{err}")
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn alert_rules_pass_promtool_check_and_unit_tests() {
    println!("{}", promtool_version());
    let dir = repo("deploy/prometheus");
    let (code, out, err) = promtool(&["check", "rules", "sluice-alerts.yml"], &dir);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("SUCCESS: 6 rules found"), "{out}{err}");
    let (code, out, err) = promtool(&["test", "rules", "tests/sluice-alerts.test.yml"], &dir);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("SUCCESS"), "{out}{err}");
}

#[test]
fn promtool_rule_tests_catch_a_wrong_expectation() {
    // The control: a unit test expecting an alert that does not fire must fail.
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        repo("deploy/prometheus/sluice-alerts.yml"),
        dir.path().join("sluice-alerts.yml"),
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("tests")).unwrap();
    let tests = std::fs::read_to_string(repo("deploy/prometheus/tests/sluice-alerts.test.yml"))
        .unwrap()
        .replace("is 90% full", "is 85% full");
    std::fs::write(dir.path().join("tests/t.yml"), tests).unwrap();
    let (code, out, err) = promtool(&["test", "rules", "tests/t.yml"], dir.path());
    assert_ne!(code, 0, "{out}{err}");
    assert!(format!("{out}{err}").contains("FAILED"), "{out}{err}");
}

#[test]
fn scrape_config_passes_promtool_check_config() {
    println!("{}", promtool_version());
    let config = &yaml_docs(&repo("deploy/prometheus/prometheus.yml"))[0];
    let mut copy = config.clone();
    let mut swapped = 0;
    for job in copy["scrape_configs"].as_array_mut().unwrap() {
        let job = job.as_object_mut().unwrap();
        if let Some(sd) = job.remove("kubernetes_sd_configs") {
            for s in sd.as_array().unwrap() {
                assert_eq!(s["role"], "pod", "{}", job["job_name"]);
            }
            job.insert(
                "file_sd_configs".into(),
                serde_json::json!([{"files": ["/nonexistent/kubernetes-stand-in/*.json"]}]),
            );
            swapped += 1;
        }
    }
    println!(
        "note: {swapped} kubernetes_sd_configs replaced by file_sd_configs for promtool: \
         Debian's Prometheus is built without Kubernetes discovery"
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        repo("deploy/prometheus/sluice-alerts.yml"),
        dir.path().join("sluice-alerts.yml"),
    )
    .unwrap();
    // JSON is YAML: promtool reads it as is.
    std::fs::write(
        dir.path().join("prometheus.yml"),
        serde_json::to_string_pretty(&copy).unwrap(),
    )
    .unwrap();
    let (code, out, err) = promtool(&["check", "config", "prometheus.yml"], dir.path());
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("SUCCESS: 1 rule files found"), "{out}{err}");
    assert!(out.contains("SUCCESS: 6 rules found"), "{out}{err}");

    // The jobs the alerts name are the ones scraping Sluice's :8888.
    let jobs: BTreeSet<&str> = config["scrape_configs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["job_name"].as_str().unwrap())
        .collect();
    assert_eq!(
        jobs,
        BTreeSet::from(["sluice", "sluice-pods", "sluice-gateway-exporter"])
    );
    let alerts = std::fs::read_to_string(repo("deploy/prometheus/sluice-alerts.yml")).unwrap();
    assert!(alerts.contains(r#"up{job=~"sluice|sluice-pods"}"#));
}

/// The values a pod's labels and its sluice container's port names give the relabel
/// `source_labels` the scrape config uses.
fn pod_meta(template: &Value, port: &str) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for (k, v) in template["metadata"]["labels"].as_object().unwrap() {
        let key = k
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect::<String>();
        m.insert(
            format!("__meta_kubernetes_pod_label_{key}"),
            v.as_str().unwrap().to_string(),
        );
    }
    m.insert(
        "__meta_kubernetes_pod_container_name".into(),
        "sluice".into(),
    );
    m.insert(
        "__meta_kubernetes_pod_container_port_name".into(),
        port.into(),
    );
    m
}

/// Whether a target passes every `keep` rule of a job (anchored regex over `;`-joined labels).
fn kept(job: &Value, meta: &BTreeMap<String, String>) -> bool {
    job["relabel_configs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "keep")
        .all(|r| {
            let joined = r["source_labels"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| meta.get(l.as_str().unwrap()).cloned().unwrap_or_default())
                .collect::<Vec<_>>()
                .join(";");
            let re = regex::Regex::new(&format!("^(?:{})$", r["regex"].as_str().unwrap())).unwrap();
            re.is_match(&joined)
        })
}

#[test]
fn kubernetes_scrape_jobs_select_the_sluice_pods() {
    let config = &yaml_docs(&repo("deploy/prometheus/prometheus.yml"))[0];
    let job = |name: &str| {
        config["scrape_configs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["job_name"] == name)
            .unwrap()
            .clone()
    };
    let (pods_job, exporter_job) = (job("sluice-pods"), job("sluice-gateway-exporter"));
    assert_eq!(exporter_job["honor_labels"], true);
    let mut own_metrics_targets = BTreeSet::new();
    let mut exporter_targets = BTreeSet::new();
    for (_, w) in manifest_docs() {
        let Some(t) = pod_template(&w) else { continue };
        let c = sluice_container(&t["spec"]).unwrap();
        let name = w["metadata"]["name"].as_str().unwrap().to_string();
        for p in c["ports"].as_array().unwrap() {
            let meta = pod_meta(t, p["name"].as_str().unwrap());
            if kept(&pods_job, &meta) {
                own_metrics_targets.insert((name.clone(), p["containerPort"].as_u64().unwrap()));
            }
            if kept(&exporter_job, &meta) {
                exporter_targets.insert((name.clone(), p["containerPort"].as_u64().unwrap()));
            }
        }
    }
    assert_eq!(
        own_metrics_targets,
        BTreeSet::from([
            ("demo-app".to_string(), 8888),
            ("sluice-agent".into(), 8888),
            ("sluice-gateway".into(), 8888)
        ])
    );
    assert_eq!(
        exporter_targets,
        BTreeSet::from([("sluice-gateway".to_string(), 8889)])
    );
}

/// A metric selector in a PromQL expression: the metric name and its label matchers.
#[derive(Debug)]
struct Selector {
    name: String,
    matchers: Vec<(String, String)>,
}

const AGGREGATIONS: &[&str] = &[
    "sum",
    "min",
    "max",
    "avg",
    "count",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "quantile",
    "count_values",
    "group",
];
const LIST_KEYWORDS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];
const KEYWORDS: &[&str] = &["and", "or", "unless", "bool", "offset", "inf", "nan"];

fn skip_string(b: &[char], i: usize) -> usize {
    let q = b[i];
    let mut j = i + 1;
    while j < b.len() && b[j] != q {
        if b[j] == '\\' {
            j += 1;
        }
        j += 1;
    }
    j + 1
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// Label matchers between `{` at `i` and its `}`; returns them and the index after `}`.
fn matchers(b: &[char], i: usize) -> (Vec<(String, String)>, usize) {
    let mut out = Vec::new();
    let mut j = i + 1;
    while j < b.len() && b[j] != '}' {
        if b[j].is_whitespace() || b[j] == ',' {
            j += 1;
            continue;
        }
        let start = j;
        while j < b.len() && is_ident(b[j]) {
            j += 1;
        }
        let label: String = b[start..j].iter().collect();
        while j < b.len() && !matches!(b[j], '"' | '\'' | '`') {
            j += 1;
        }
        let end = skip_string(b, j);
        let value: String = b[j + 1..end - 1].iter().collect();
        out.push((label, value));
        j = end;
    }
    (out, j + 1)
}

/// Every metric selector of a PromQL expression (with Grafana variables left in place).
fn selectors(expr: &str) -> Vec<Selector> {
    let b: Vec<char> = expr.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if matches!(c, '"' | '\'' | '`') {
            i = skip_string(&b, i);
        } else if c == '[' {
            while i < b.len() && b[i] != ']' {
                i += 1;
            }
            i += 1;
        } else if c == '$' {
            i += 1;
            while i < b.len() && (is_ident(b[i]) || b[i] == '{' || b[i] == '}') {
                i += 1;
            }
        } else if c.is_ascii_digit() {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == '.') {
                i += 1;
            }
        } else if c == '{' {
            let (m, _) = matchers(&b, i);
            panic!("selector without a metric name {m:?} in {expr}");
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < b.len() && is_ident(b[i]) {
                i += 1;
            }
            let word: String = b[start..i].iter().collect();
            let mut j = i;
            while j < b.len() && b[j].is_whitespace() {
                j += 1;
            }
            if LIST_KEYWORDS.contains(&word.as_str()) {
                if b.get(j) == Some(&'(') {
                    while j < b.len() && b[j] != ')' {
                        j += 1;
                    }
                    i = j + 1;
                }
            } else if KEYWORDS.contains(&word.as_str())
                || AGGREGATIONS.contains(&word.as_str())
                || b.get(j) == Some(&'(')
            {
                // an operator, an aggregation or a function
            } else {
                let mut sel = Selector {
                    name: word,
                    matchers: Vec::new(),
                };
                if b.get(j) == Some(&'{') {
                    let (m, end) = matchers(&b, j);
                    sel.matchers = m;
                    i = end;
                }
                out.push(sel);
            }
        } else {
            i += 1;
        }
    }
    out
}

#[test]
fn promql_selector_extraction() {
    let s = selectors(
        r#"histogram_quantile(0.99, sum by (le, processor) (rate(otelcol_processor_batch_batch_send_size_bucket{job=~"$job",instance=~"$instance"}[$__rate_interval]))) / on (job) group_left vector($memory_limit_mib * 1048576) or up{scraped_by=~"sluice-.+"} == 0"#,
    );
    let got: Vec<(&str, Vec<&str>)> = s
        .iter()
        .map(|s| {
            (
                s.name.as_str(),
                s.matchers.iter().map(|(l, _)| l.as_str()).collect(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "otelcol_processor_batch_batch_send_size_bucket",
                vec!["job", "instance"]
            ),
            ("up", vec!["scraped_by"]),
        ]
    );
}

/// Every `expr` of every panel (rows' panels included) of a dashboard, with the panel title.
fn dashboard_exprs(d: &Value) -> Vec<(String, String)> {
    fn walk(panels: &Value, out: &mut Vec<(String, String)>) {
        for p in panels.as_array().into_iter().flatten() {
            for t in p["targets"].as_array().into_iter().flatten() {
                out.push((
                    p["title"].as_str().unwrap_or_default().to_string(),
                    t["expr"].as_str().expect("expr").to_string(),
                ));
            }
            walk(&p["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&d["panels"], &mut out);
    out
}

fn dashboards() -> Vec<(String, Value)> {
    let dir = repo("deploy/grafana/dashboards");
    let mut out: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p.file_name().unwrap().to_string_lossy().into_owned(), v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(!out.is_empty());
    out
}

/// Grafana's variables replaced by values PromQL accepts, for promtool.
fn substitute_variables(expr: &str) -> String {
    expr.replace("$__rate_interval", "5m")
        .replace("$memory_limit_mib", "1600")
        .replace("$memory_spike_mib", "400")
        .replace("$scraped_by", "sluice-.+")
        .replace("$job", ".*")
        .replace("$instance", ".*")
}

#[test]
fn dashboards_are_well_formed_and_their_queries_parse() {
    for (file, d) in dashboards() {
        assert!(d["uid"].as_str().is_some_and(|u| !u.is_empty()), "{file}");
        assert!(d["title"].as_str().is_some_and(|u| !u.is_empty()), "{file}");
        let vars: BTreeSet<&str> = d["templating"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["name"].as_str().unwrap())
            .collect();
        let mut ids = BTreeSet::new();
        let mut panels = Vec::new();
        fn flat<'a>(ps: &'a Value, out: &mut Vec<&'a Value>) {
            for p in ps.as_array().into_iter().flatten() {
                out.push(p);
                flat(&p["panels"], out);
            }
        }
        flat(&d["panels"], &mut panels);
        for p in &panels {
            assert!(
                ids.insert(p["id"].as_u64().unwrap()),
                "{file}: panel id twice"
            );
            let pos = &p["gridPos"];
            assert!(pos["x"].as_u64().unwrap() + pos["w"].as_u64().unwrap() <= 24);
            if p["type"] != "row" {
                assert_eq!(
                    p["datasource"]["uid"], "${datasource}",
                    "{file}: {}",
                    p["title"]
                );
            }
        }
        let exprs = dashboard_exprs(&d);
        // Every variable an expression uses is defined (or is Grafana's own).
        for (title, e) in &exprs {
            for var in e.split('$').skip(1) {
                let name: String = var.chars().take_while(|c| is_ident(*c)).collect();
                assert!(
                    name.starts_with("__") || vars.contains(name.as_str()),
                    "{file}: {title}: ${name} is not a dashboard variable"
                );
            }
        }
        // promtool parses each expression (as a recording rule).
        let rules = serde_json::json!({"groups": [{
            "name": "dashboard",
            "rules": exprs.iter().enumerate().map(|(i, (_, e))| serde_json::json!({
                "record": format!("dashboard:expr_{i}"),
                "expr": substitute_variables(e),
            })).collect::<Vec<_>>(),
        }]});
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("rules.yml"), rules.to_string()).unwrap();
        let (code, out, err) = promtool(&["check", "rules", "rules.yml"], dir.path());
        assert_eq!(code, 0, "{file}: {out}{err}");
        assert!(
            out.contains(&format!("SUCCESS: {} rules found", exprs.len())),
            "{out}{err}"
        );
    }
    // Provisioning: a file provider for the dashboards' folder and a Prometheus data source.
    let provider = &yaml_docs(&repo("deploy/grafana/provisioning/dashboards/sluice.yaml"))[0];
    assert_eq!(provider["apiVersion"], 1);
    assert_eq!(provider["providers"][0]["type"], "file");
    assert_eq!(
        provider["providers"][0]["options"]["path"],
        "/var/lib/grafana/dashboards/sluice"
    );
    let ds = &yaml_docs(&repo(
        "deploy/grafana/provisioning/datasources/prometheus.yaml",
    ))[0];
    assert_eq!(ds["datasources"][0]["type"], "prometheus");
}

/// Metric name → label names seen, from Prometheus text.
fn exposition_names(text: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let end = line.find(['{', ' ']).unwrap();
        let labels = out.entry(line[..end].to_string()).or_default();
        if line[end..].starts_with('{') {
            let b: Vec<char> = line[end..].chars().collect();
            let (m, _) = matchers(&b, 0);
            labels.extend(m.into_iter().map(|(l, _)| l));
        }
    }
    out
}

fn spans(n: usize) -> Vec<u8> {
    common::encoded_spans(n, |i| Span {
        name: format!("s{i}"),
        trace_id: vec![7; 16],
        span_id: (i as u64 + 1).to_be_bytes().to_vec(),
        ..Default::default()
    })
}

fn logs(n: usize) -> Vec<u8> {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: (0..n)
                    .map(|i| LogRecord {
                        time_unix_nano: i as u64,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

/// What Sluice exports: its own metrics (:8888) and its prometheus exporter's output (the
/// series of the targets it scraped), from a daemon that has accepted, refused, sent, failed,
/// queued, batched and scraped.
struct Exported {
    own: BTreeMap<String, BTreeSet<String>>,
    exporter: BTreeMap<String, BTreeSet<String>>,
}

fn run_sluice_and_collect_names() -> Exported {
    let rt = common::runtime(1);
    let sink = Sink::start(&rt);
    let (http, starved_http, own, prom, dead) = (
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        free_port(),
    );
    // otlp_grpc/dead points at a closed port with retries off: its sends fail.
    // memory_limiter/starved (hard limit 2 MiB) refuses everything in the */starved pipelines:
    // OTLP at the door (sluice_receiver_refused_requests), scrapes after decoding
    // (otelcol_receiver_refused_metric_points, otelcol_processor_memory_limiter_refused_*).
    let mut sluice = Sluice::start(&format!(
        r#"
receivers:
  otlp/in:
    protocols: {{http: {{endpoint: "127.0.0.1:{http}"}}}}
  otlp/starved:
    protocols: {{http: {{endpoint: "127.0.0.1:{starved_http}"}}}}
  prometheus:
    config:
      global: {{scrape_interval: 1s, scrape_timeout: 1s}}
      scrape_configs:
        - job_name: self
          static_configs: [{{targets: ["127.0.0.1:{own}"]}}]
          relabel_configs: [{{target_label: scraped_by, replacement: sluice-gateway}}]
  prometheus/starved:
    config:
      global: {{scrape_interval: 1s, scrape_timeout: 1s}}
      scrape_configs:
        - job_name: self-starved
          static_configs: [{{targets: ["127.0.0.1:{own}"]}}]
processors:
  memory_limiter:
    check_interval: 1s
    limit_mib: 4096
    spike_limit_mib: 1024
  memory_limiter/starved:
    check_interval: 100ms
    limit_mib: 2
    spike_limit_mib: 1
  batch:
    send_batch_size: 10
    timeout: 100ms
exporters:
  otlp_grpc/sink:
    endpoint: "{sink}"
    tls: {{insecure: true}}
  otlp_grpc/dead:
    endpoint: "127.0.0.1:{dead}"
    tls: {{insecure: true}}
    timeout: 1s
    retry_on_failure: {{enabled: false}}
  prometheus:
    endpoint: "127.0.0.1:{prom}"
  debug:
service:
  telemetry:
    metrics:
      address: "127.0.0.1:{own}"
  pipelines:
    traces:
      receivers: [otlp/in]
      processors: [memory_limiter, batch]
      exporters: [otlp_grpc/sink, otlp_grpc/dead]
    metrics:
      receivers: [otlp/in, prometheus]
      processors: [memory_limiter, batch]
      exporters: [prometheus, otlp_grpc/dead]
    logs:
      receivers: [otlp/in]
      processors: [memory_limiter, batch]
      exporters: [otlp_grpc/sink, otlp_grpc/dead]
    traces/starved:
      receivers: [otlp/starved]
      processors: [memory_limiter/starved]
      exporters: [debug]
    metrics/starved:
      receivers: [prometheus/starved]
      processors: [memory_limiter/starved]
      exporters: [debug]
"#,
        sink = sink.grpc
    ));
    wait_port(http);
    wait_port(starved_http);
    wait_port(own);
    let client = reqwest::blocking::Client::new();
    let post = |port: u16, path: &str, body: Vec<u8>| {
        client
            .post(format!("http://127.0.0.1:{port}/v1/{path}"))
            .header("content-type", "application/x-protobuf")
            .body(body)
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    // 25 items trigger a send by size (send_batch_size 10); 3 more wait for the timeout.
    assert_eq!(post(http, "traces", spans(25)), 200);
    assert_eq!(post(http, "logs", logs(25)), 200);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(post(http, "traces", spans(3)), 200);
    assert_eq!(post(starved_http, "traces", spans(3)), 503);

    let get = |url: String| -> String {
        client
            .get(url)
            .send()
            .ok()
            .and_then(|r| r.text().ok())
            .unwrap_or_default()
    };
    let must_own = [
        "otelcol_exporter_sent_spans",
        "otelcol_exporter_send_failed_spans",
        "otelcol_exporter_send_failed_log_records",
        "otelcol_exporter_send_failed_metric_points",
        "otelcol_processor_batch_timeout_trigger_send",
        "otelcol_processor_batch_batch_size_trigger_send",
        "otelcol_processor_memory_limiter_refused_metric_points",
        "otelcol_receiver_refused_metric_points",
        "sluice_receiver_refused_requests",
    ];
    let mut own_text = String::new();
    let mut exporter_text = String::new();
    assert!(
        wait_until(Duration::from_secs(30), || {
            own_text = get(format!("http://127.0.0.1:{own}/metrics"));
            exporter_text = get(format!("http://127.0.0.1:{prom}/metrics"));
            let names = exposition_names(&own_text);
            must_own.iter().all(|n| names.contains_key(*n))
                && exporter_text.contains("\nup{")
                && exporter_text.contains("scraped_by=\"sluice-gateway\"")
        }),
        "own metrics:\n{own_text}\nexporter:\n{exporter_text}\n{}",
        sluice.stderr()
    );
    assert!(wait_until(Duration::from_secs(5), || sink.spans().len() == 28));
    assert_eq!(sluice.terminate(), 0);
    Exported {
        own: exposition_names(&own_text),
        exporter: exposition_names(&exporter_text),
    }
}

/// Names of the per-signal families whose spans and log-record variants a short test cannot
/// produce on demand: OTLP requests over the memory limit are refused at the door, before
/// decoding (counted in sluice_receiver_refused_requests), so the after-decode counters fill
/// for spans and log records only when memory crosses the limit between the two checks. The
/// names come from the functions the limiter and receivers call, rendered by Sluice's own
/// registry in this process.
fn rendered_by_sluice_functions() -> BTreeMap<String, BTreeSet<String>> {
    use sluice::component::ComponentId;
    use sluice::pipeline::ConsumeError;
    use sluice::signal::Signal;
    use sluice::telemetry::{metrics as own, registry};
    assert!(registry::install());
    let id = ComponentId::parse("memory_limiter").unwrap();
    let receiver = ComponentId::parse("otlp").unwrap();
    for signal in [Signal::Traces, Signal::Logs] {
        own::memory_limiter_refused(&id, signal, 1);
        own::receiver_refused(&receiver, signal, 1, &ConsumeError::Full);
    }
    exposition_names(&registry::GLOBAL.render(|_| true, ""))
}

/// Series Prometheus itself creates for every target it scrapes (not Sluice's output): the
/// dashboards use `up` of the Sluice targets, selected by job and instance only.
const PROMETHEUS_TARGET_SERIES: &[&str] = &["up"];

#[test]
fn every_metric_in_dashboards_and_alerts_is_exported_by_sluice() {
    let exported = run_sluice_and_collect_names();
    let by_functions = rendered_by_sluice_functions();
    assert_eq!(
        by_functions.keys().collect::<Vec<_>>(),
        [
            "otelcol_processor_memory_limiter_refused_log_records",
            "otelcol_processor_memory_limiter_refused_spans",
            "otelcol_receiver_refused_log_records",
            "otelcol_receiver_refused_spans",
        ]
    );
    // The same functions produced the metric-points variants in the running daemon.
    for n in [
        "otelcol_processor_memory_limiter_refused_metric_points",
        "otelcol_receiver_refused_metric_points",
    ] {
        assert_eq!(
            exported.own[n],
            by_functions[&n.replace("metric_points", "spans")]
        );
    }

    let mut queries: Vec<(String, String)> = Vec::new();
    for (file, d) in dashboards() {
        for (title, e) in dashboard_exprs(&d) {
            queries.push((format!("{file}: {title}"), e));
        }
    }
    let alerts = &yaml_docs(&repo("deploy/prometheus/sluice-alerts.yml"))[0];
    for g in alerts["groups"].as_array().unwrap() {
        for r in g["rules"].as_array().unwrap() {
            queries.push((
                format!("alert {}", r["alert"].as_str().unwrap()),
                r["expr"].as_str().unwrap().to_string(),
            ));
        }
    }
    // Labels Prometheus adds to every scraped series.
    let target_labels = ["job", "instance"];
    let mut used = BTreeSet::new();
    let mut problems = Vec::new();
    for (wher, e) in &queries {
        for s in selectors(e) {
            used.insert(s.name.clone());
            let labels: Vec<&str> = s
                .matchers
                .iter()
                .map(|(l, _)| l.as_str())
                .filter(|l| !target_labels.contains(l))
                .collect();
            let scraped = s.matchers.iter().any(|(l, _)| l == "scraped_by");
            let seen = if scraped {
                // Series of targets Sluice scraped, as its prometheus exporter serves them.
                exported.exporter.get(&s.name)
            } else if PROMETHEUS_TARGET_SERIES.contains(&s.name.as_str()) && labels.is_empty() {
                continue;
            } else {
                exported
                    .own
                    .get(&s.name)
                    .or_else(|| by_functions.get(&s.name))
            };
            match seen {
                None => problems.push(format!("{wher}: {} is not exported", s.name)),
                Some(have) => {
                    for l in labels {
                        if !have.contains(l) {
                            problems.push(format!("{wher}: {} has no label {l}", s.name));
                        }
                    }
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // Sanity: the dashboards and alerts cover the families the issue asks for.
    for want in [
        "otelcol_receiver_accepted_spans",
        "otelcol_receiver_refused_log_records",
        "otelcol_exporter_sent_metric_points",
        "otelcol_exporter_send_failed_spans",
        "otelcol_exporter_queue_size",
        "otelcol_exporter_queue_capacity",
        "otelcol_process_memory_rss",
        "otelcol_processor_memory_limiter_refused_spans",
        "up",
        "scrape_duration_seconds",
    ] {
        assert!(used.contains(want), "{want} is not used");
    }
}
