//! The `prometheusremotewrite` exporter against Debian's Prometheus 2.42 started with
//! `--web.enable-remote-write-receiver`: OTLP metrics posted to a running `sluice` are queried
//! back from Prometheus's HTTP API with the right names, labels, values, timestamps and
//! exemplars, and a
//! Prometheus that is down when the data arrives and started later loses nothing, and https
//! with a client certificate (mTLS) to a Prometheus serving TLS works while the same exporter
//! without a client certificate is refused.

mod common;

use common::certs;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{free_port, wait_port, wait_until, Sluice};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::exemplar::Value as ExemplarValue;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as NV;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Exemplar, Gauge, Histogram, HistogramDataPoint, Metric,
    NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use serde_json::Value;

const MS: u64 = 1_000_000;

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    }
}

/// A recent time in whole milliseconds (Prometheus refuses samples far in the past).
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn number(v: f64, start_ms: u64, t_ms: u64, attrs: Vec<KeyValue>) -> NumberDataPoint {
    NumberDataPoint {
        attributes: attrs,
        start_time_unix_nano: start_ms * MS,
        time_unix_nano: t_ms * MS,
        value: Some(NV::AsDouble(v)),
        ..Default::default()
    }
}

fn sum(name: &str, delta: bool, points: Vec<NumberDataPoint>) -> Metric {
    Metric {
        name: name.into(),
        data: Some(Data::Sum(Sum {
            data_points: points,
            aggregation_temporality: if delta {
                AggregationTemporality::Delta
            } else {
                AggregationTemporality::Cumulative
            } as i32,
            is_monotonic: true,
        })),
        ..Default::default()
    }
}

fn request(metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", "checkout"),
                    kv("service.instance.id", "i-1"),
                    kv("host.name", "web-7"),
                ],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn post(http: u16, req: &ExportMetricsServiceRequest) {
    let resp = reqwest::blocking::Client::new()
        .post(format!("http://127.0.0.1:{http}/v1/metrics"))
        .header("content-type", "application/x-protobuf")
        .body(req.encode_to_vec())
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
}

fn start_prometheus(port: u16, dir: &Path) -> Child {
    start_prometheus_with(port, dir, None)
}

/// Starts Prometheus; `web_config` is a `--web.config.file` (TLS) when given.
fn start_prometheus_with(port: u16, dir: &Path, web_config: Option<&Path>) -> Child {
    let bin = "/usr/bin/prometheus";
    assert!(
        Path::new(bin).exists(),
        "Debian's prometheus package is not installed (scripts/test.sh installs it)"
    );
    let cfg = dir.join("prometheus.yml");
    std::fs::write(&cfg, "global:\n  scrape_interval: 1m\n").unwrap();
    let mut cmd = Command::new(bin);
    if let Some(w) = web_config {
        cmd.arg(format!("--web.config.file={}", w.display()));
    }
    cmd.arg(format!("--config.file={}", cfg.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--web.enable-remote-write-receiver")
        .arg("--enable-feature=exemplar-storage")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// An instant query at `at_ms`; the result vector (or matrix) as JSON.
fn query(prom: u16, q: &str, at_ms: u64) -> Vec<Value> {
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
    let url = format!(
        "http://127.0.0.1:{prom}/api/v1/query?query={encoded}&time={}.{:03}",
        at_ms / 1000,
        at_ms % 1000
    );
    let Ok(resp) = reqwest::blocking::get(url) else {
        return vec![];
    };
    let v: Value = serde_json::from_str(&resp.text().unwrap_or_default()).unwrap_or_default();
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}

/// The (timestamp ms, value) samples of a range-vector result.
fn samples(series: &Value) -> Vec<(u64, f64)> {
    series["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                (p[0].as_f64().unwrap() * 1000.0).round() as u64,
                p[1].as_str().unwrap().parse().unwrap(),
            )
        })
        .collect()
}

/// Label pairs of a result, without `__name__`, sorted.
fn labels(series: &Value) -> Vec<(String, String)> {
    let mut l: Vec<(String, String)> = series["metric"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| *k != "__name__")
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    l.sort();
    l
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn sluice_config(http: u16, prom: u16, extra: &str) -> String {
    format!(
        r#"
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{http}
exporters:
  prometheusremotewrite:
    endpoint: http://127.0.0.1:{prom}/api/v1/write
    external_labels:
      cluster: e2e
{extra}
service:
  pipelines:
    metrics:
      receivers: [otlp]
      exporters: [prometheusremotewrite]
"#
    )
}

#[test]
fn prometheus_stores_what_an_otlp_client_sent() {
    let dir = tempfile::tempdir().unwrap();
    let prom_port = free_port();
    let mut prom = start_prometheus(prom_port, dir.path());
    wait_port(prom_port);
    let http = free_port();
    let mut sluice = Sluice::start(&sluice_config(http, prom_port, ""));
    wait_port(http);

    let t0 = now_ms() - 60_000;
    let (t1, t2) = (t0 + 10_000, t0 + 20_000);
    let card = || vec![kv("payment.method", "card")];
    post(
        http,
        &request(vec![
            sum(
                "shop.orders",
                false,
                vec![number(5.0, t0, t1, card()), {
                    let mut p = number(8.0, t0, t2, card());
                    p.exemplars = vec![Exemplar {
                        time_unix_nano: (t2 - 500) * MS,
                        value: Some(ExemplarValue::AsInt(3)),
                        trace_id: vec![0xab; 16],
                        span_id: vec![0xcd; 8],
                        ..Default::default()
                    }];
                    p
                }],
            ),
            Metric {
                name: "queue.depth".into(),
                unit: "{items}".into(),
                data: Some(Data::Gauge(Gauge {
                    data_points: vec![number(17.5, 0, t2, vec![])],
                })),
                ..Default::default()
            },
            Metric {
                name: "http.server.duration".into(),
                unit: "s".into(),
                data: Some(Data::Histogram(Histogram {
                    data_points: vec![HistogramDataPoint {
                        start_time_unix_nano: t0 * MS,
                        time_unix_nano: t2 * MS,
                        count: 4,
                        sum: Some(2.5),
                        bucket_counts: vec![1, 2, 1],
                        explicit_bounds: vec![0.1, 1.0],
                        attributes: vec![kv("http.route", "/cart")],
                        ..Default::default()
                    }],
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                })),
                ..Default::default()
            },
            // Deltas are made cumulative, as the prometheus exporter does.
            sum(
                "jobs.done",
                true,
                vec![number(2.0, t0, t1, vec![]), number(3.0, t1, t2, vec![])],
            ),
        ]),
    );

    let at = t2 + 1000;
    let ok = wait_until(Duration::from_secs(30), || {
        !query(prom_port, "jobs_done_total", at).is_empty()
    });
    let orders = query(prom_port, "shop_orders_total[5m]", at);
    let depth = query(prom_port, "queue_depth[5m]", at);
    let jobs = query(prom_port, "jobs_done_total[5m]", at);
    let le1 = query(
        prom_port,
        "http_server_duration_seconds_bucket{le=\"1\"}",
        at,
    );
    let inf = query(
        prom_port,
        "http_server_duration_seconds_bucket{le=\"+Inf\"}",
        at,
    );
    let hsum = query(prom_port, "http_server_duration_seconds_sum", at);
    let hcount = query(prom_port, "http_server_duration_seconds_count", at);
    let target = query(prom_port, "target_info", at);
    let exemplars = reqwest::blocking::get(format!(
        "http://127.0.0.1:{prom_port}/api/v1/query_exemplars?query=shop_orders_total&start={}&end={}",
        t0 / 1000,
        at / 1000 + 1
    ))
    .and_then(|r| r.text())
    .map(|t| serde_json::from_str::<Value>(&t).unwrap_or_default())
    .unwrap_or_default();
    let _ = prom.kill();
    let _ = prom.wait();
    assert!(ok, "nothing arrived in Prometheus:\n{}", sluice.stderr());

    let base = [("cluster", "e2e"), ("instance", "i-1"), ("job", "checkout")];
    assert_eq!(orders.len(), 1, "{orders:?}");
    assert_eq!(
        labels(&orders[0]),
        pairs(&[base[0], base[1], base[2], ("payment_method", "card")])
    );
    assert_eq!(samples(&orders[0]), [(t1, 5.0), (t2, 8.0)]);
    assert_eq!(labels(&depth[0]), pairs(&base));
    assert_eq!(samples(&depth[0]), [(t2, 17.5)]);
    let ex = &exemplars["data"][0]["exemplars"][0];
    assert_eq!(ex["labels"]["trace_id"], "ab".repeat(16), "{exemplars}");
    assert_eq!(ex["labels"]["span_id"], "cd".repeat(8));
    assert_eq!(ex["value"], "3");
    assert_eq!(
        (ex["timestamp"].as_f64().unwrap() * 1000.0).round() as u64,
        t2 - 500
    );
    assert_eq!(samples(&jobs[0]), [(t1, 2.0), (t2, 5.0)]);
    let value = |r: &[Value]| -> f64 { r[0]["value"][1].as_str().unwrap().parse().unwrap() };
    assert_eq!(
        labels(&le1[0]),
        pairs(&[
            base[0],
            ("http_route", "/cart"),
            base[1],
            base[2],
            ("le", "1")
        ])
    );
    assert_eq!(value(&le1), 3.0);
    assert_eq!(value(&inf), 4.0);
    assert_eq!(value(&hsum), 2.5);
    assert_eq!(value(&hcount), 4.0);
    assert_eq!(
        labels(&target[0]),
        pairs(&[base[0], ("host_name", "web-7"), base[1], base[2]])
    );
    assert_eq!(sluice.terminate(), 0);
}

#[test]
fn a_prometheus_that_is_down_then_started_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let prom_port = free_port();
    let http = free_port();
    // Prometheus is not running yet: the exporter retries (backoff capped at 200ms) for up to
    // 10 minutes.
    let mut sluice = Sluice::start(&sluice_config(
        http,
        prom_port,
        "    retry_on_failure:\n      max_elapsed_time: 10m\n",
    ));
    wait_port(http);
    let t0 = now_ms() - 60_000;
    for i in 0..5u64 {
        post(
            http,
            &request(vec![sum(
                "uploads",
                false,
                vec![number(
                    (i + 1) as f64 * 10.0,
                    t0,
                    t0 + i * 1000 + 1000,
                    vec![],
                )],
            )]),
        );
    }
    assert!(
        wait_until(Duration::from_secs(30), || sluice
            .stderr()
            .contains("export failed; will retry")),
        "no failed export was logged:\n{}",
        sluice.stderr()
    );
    let mut prom = start_prometheus(prom_port, dir.path());
    let at = t0 + 10_000;
    let ok = wait_until(Duration::from_secs(60), || {
        query(prom_port, "uploads_total[5m]", at)
            .first()
            .is_some_and(|s| samples(s).len() == 5)
    });
    let got = query(prom_port, "uploads_total[5m]", at);
    let _ = prom.kill();
    let _ = prom.wait();
    assert!(ok, "not every sample arrived: {got:?}\n{}", sluice.stderr());
    assert_eq!(
        samples(&got[0]),
        (0..5u64)
            .map(|i| (t0 + i * 1000 + 1000, (i + 1) as f64 * 10.0))
            .collect::<Vec<_>>()
    );
    assert_eq!(sluice.terminate(), 0);
}

/// Stops Prometheus with SIGTERM (it writes what it holds) and waits for it.
fn stop(prom: &mut Child) {
    Command::new("kill")
        .args(["-TERM", &prom.id().to_string()])
        .status()
        .unwrap();
    let _ = prom.wait();
}

#[test]
fn https_with_a_client_certificate_reaches_a_prometheus_serving_mtls() {
    let pki = certs::generate(&["localhost", "127.0.0.1"]);
    let web = pki.dir.path().join("web.yml");
    std::fs::write(
        &web,
        format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {}\n",
            pki.server_cert.display(),
            pki.server_key.display(),
            pki.ca.display()
        ),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let prom_port = free_port();
    let mut prom = start_prometheus_with(prom_port, dir.path(), Some(&web));
    wait_port(prom_port);
    let http = free_port();
    let mut sluice = Sluice::start(&format!(
        r#"
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{http}
exporters:
  prometheusremotewrite/mtls:
    endpoint: https://localhost:{prom_port}/api/v1/write
    tls:
      ca_file: {ca}
      cert_file: {cert}
      key_file: {key}
  prometheusremotewrite/no_client_cert:
    endpoint: https://127.0.0.1:{prom_port}/api/v1/write
    tls:
      ca_file: {ca}
    retry_on_failure:
      enabled: false
service:
  pipelines:
    metrics:
      receivers: [otlp]
      exporters: [prometheusremotewrite/mtls, prometheusremotewrite/no_client_cert]
"#,
        ca = pki.ca.display(),
        cert = pki.client_cert.display(),
        key = pki.client_key.display(),
    ));
    wait_port(http);
    let t = now_ms() - 30_000;
    post(
        http,
        &request(vec![sum(
            "tls.sent",
            false,
            vec![number(7.0, t - 1000, t, vec![])],
        )]),
    );
    assert!(
        wait_until(Duration::from_secs(30), || sluice
            .stderr()
            .lines()
            .any(|l| l.contains("prometheusremotewrite/no_client_cert")
                && l.contains("export failed"))),
        "the exporter without a client certificate was not refused:\n{}",
        sluice.stderr()
    );
    // Stopping drains the exports; the mTLS one must have succeeded.
    assert_eq!(sluice.terminate(), 0);
    let log = sluice.stderr();
    assert!(
        !log.lines()
            .any(|l| l.contains("prometheusremotewrite/mtls") && l.contains("failed")),
        "{log}"
    );
    stop(&mut prom);
    // The same storage served without TLS: the sample sent over mTLS is there.
    let mut plain = start_prometheus(prom_port, dir.path());
    let ok = wait_until(Duration::from_secs(60), || {
        !query(prom_port, "tls_sent_total[5m]", t + 1000).is_empty()
    });
    let got = query(prom_port, "tls_sent_total[5m]", t + 1000);
    let _ = plain.kill();
    let _ = plain.wait();
    assert!(ok, "the mTLS sample is not in Prometheus:\n{log}");
    assert_eq!(samples(&got[0]), [(t, 7.0)]);
}
