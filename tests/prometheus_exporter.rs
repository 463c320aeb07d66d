//! The prometheus exporter against real Prometheus tools: the official Rust SDK sends metrics
//! over OTLP to a running `sluice`, `promtool check metrics` accepts what the exporter serves,
//! and Debian's Prometheus 2.42 scrapes it and answers queries with the right names, labels and
//! values.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{free_port, wait_port, wait_until, Sluice};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::Resource;

fn tool(name: &str) -> Option<String> {
    let path = format!("/usr/bin/{name}");
    std::path::Path::new(&path).exists().then_some(path)
}

/// Sends a counter, an up-down counter, a gauge and a histogram with the SDK.
fn send_metrics(grpc: u16) {
    let rt = common::runtime(1);
    rt.block_on(async {
        let exporter = opentelemetry_otlp::MetricExporter::builder()
            .with_tonic()
            .with_endpoint(format!("http://127.0.0.1:{grpc}"))
            .build()
            .unwrap();
        let provider = SdkMeterProvider::builder()
            .with_periodic_exporter(exporter)
            .with_resource(
                Resource::builder()
                    .with_service_name("checkout")
                    .with_attribute(KeyValue::new("service.instance.id", "i-1"))
                    .with_attribute(KeyValue::new("deployment.environment", "e2e"))
                    .build(),
            )
            .build();
        let meter = provider.meter("shop");
        let orders = meter
            .u64_counter("shop.orders")
            .with_description("Orders placed.")
            .build();
        orders.add(5, &[KeyValue::new("payment.method", "card")]);
        orders.add(7, &[KeyValue::new("payment.method", "cash")]);
        let inflight = meter.i64_up_down_counter("shop.inflight").build();
        inflight.add(3, &[]);
        inflight.add(-1, &[]);
        let depth = meter.f64_gauge("queue.depth").with_unit("{items}").build();
        depth.record(17.5, &[]);
        // Seconds, as semantic conventions say: promtool's linter flags non-base units (a
        // `_milliseconds` name, which the collector's translation would produce for "ms").
        let latency = meter
            .f64_histogram("http.server.duration")
            .with_unit("s")
            .with_boundaries(vec![10.0, 100.0])
            .build();
        for v in [5.0, 50.0, 500.0, 7.0] {
            latency.record(v, &[KeyValue::new("http.route", "/cart")]);
        }
        provider.shutdown().expect("metric export");
    });
}

fn get(url: &str) -> String {
    reqwest::blocking::get(url).unwrap().text().unwrap()
}

/// Runs a PromQL instant query and returns the result vector as JSON.
fn query(prom: u16, q: &str) -> Vec<serde_json::Value> {
    let encoded: String = q
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'_' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let url = format!("http://127.0.0.1:{prom}/api/v1/query?query={encoded}");
    let resp = reqwest::blocking::get(url);
    let Ok(resp) = resp else { return vec![] };
    let v: serde_json::Value =
        serde_json::from_str(&resp.text().unwrap_or_default()).unwrap_or_default();
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}

fn value_of(sample: &serde_json::Value) -> f64 {
    sample["value"][1].as_str().unwrap().parse().unwrap()
}

#[test]
fn prometheus_scrapes_what_an_otlp_client_sent() {
    let (Some(prometheus), Some(promtool)) = (tool("prometheus"), tool("promtool")) else {
        panic!("Debian's prometheus package is not installed (scripts/test.sh installs it)");
    };
    let grpc = free_port();
    let metrics_port = free_port();
    let mut sluice = Sluice::start(&format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
exporters:
  prometheus:
    endpoint: 127.0.0.1:{metrics_port}
    const_labels:
      region: eu
service:
  pipelines:
    metrics:
      receivers: [otlp]
      exporters: [prometheus]
"#
    ));
    wait_port(grpc);
    wait_port(metrics_port);
    send_metrics(grpc);
    let exposition_url = format!("http://127.0.0.1:{metrics_port}/metrics");
    assert!(wait_until(Duration::from_secs(10), || get(&exposition_url)
        .contains("shop_orders_total")));
    let text = get(&exposition_url);
    for want in [
        "# TYPE shop_orders_total counter",
        "shop_orders_total{instance=\"i-1\",job=\"checkout\",otel_scope_name=\"shop\",payment_method=\"card\",region=\"eu\"} 5",
        "# TYPE shop_inflight gauge",
        "# TYPE queue_depth gauge",
        "# TYPE http_server_duration_seconds histogram",
        "le=\"10\"} 2",
        "le=\"+Inf\"} 4",
        "target_info{deployment_environment=\"e2e\",instance=\"i-1\",job=\"checkout\"",
    ] {
        assert!(text.contains(want), "{want:?} missing from:\n{text}");
    }

    // promtool's linter accepts the exposition.
    let mut check = Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    check
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = check.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // Prometheus 2.42 scrapes Sluice (honor_labels keeps the job/instance the exporter sets,
    // as the collector's docs recommend).
    let dir = tempfile::tempdir().unwrap();
    let prom_port = free_port();
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: sluice\n    honor_labels: true\n    static_configs:\n      - targets: ['127.0.0.1:{metrics_port}']\n"
        ),
    )
    .unwrap();
    let mut prom = Command::new(&prometheus)
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ok = wait_until(Duration::from_secs(60), || {
        query(prom_port, "up{job=\"sluice\"}")
            .first()
            .is_some_and(|s| value_of(s) == 1.0)
            && !query(prom_port, "shop_orders_total").is_empty()
    });
    let orders = query(prom_port, "shop_orders_total");
    let inflight = query(prom_port, "shop_inflight");
    let depth = query(prom_port, "queue_depth");
    let buckets = query(prom_port, "http_server_duration_seconds_bucket{le=\"100\"}");
    let sum = query(prom_port, "http_server_duration_seconds_sum");
    let _ = prom.kill();
    let _ = prom.wait();
    assert!(ok, "Prometheus never scraped Sluice:\n{}", sluice.stderr());
    let mut got: Vec<(String, f64)> = orders
        .iter()
        .map(|s| {
            let m = &s["metric"];
            assert_eq!(m["job"], "checkout");
            assert_eq!(m["instance"], "i-1");
            assert_eq!(m["region"], "eu");
            assert_eq!(m["otel_scope_name"], "shop");
            (
                m["payment_method"].as_str().unwrap().to_string(),
                value_of(s),
            )
        })
        .collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(got, [("card".to_string(), 5.0), ("cash".to_string(), 7.0)]);
    assert_eq!(value_of(&inflight[0]), 2.0);
    assert_eq!(value_of(&depth[0]), 17.5);
    assert_eq!(value_of(&buckets[0]), 3.0);
    assert_eq!(value_of(&sum[0]), 562.0);
    assert_eq!(sluice.terminate(), 0);
}
