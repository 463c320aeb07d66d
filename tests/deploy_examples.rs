//! The deployment example configs (`examples/*.yaml`, `deploy/docker/config.yaml`) pass
//! `sluice validate` with exactly the expected warnings, and each example runs for real: its
//! ports moved to free ones by a second `--config` overlay file, its `${env:…}` settings given
//! as a deployment would, health_check answering 200, and OTLP sent in arriving at the
//! exporter side with the example's processors applied.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::deploy::repo;
use common::sink::{string_attr, Sink};
use common::{free_port, wait_port, wait_until, Sluice};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use sluice::processors::probabilistic_sampler::hash_seed_keeps;

/// `sluice validate --config FILE`: exit code, stdout, stderr.
fn validate(file: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("validate")
        .arg("--config")
        .arg(file)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_example_config_validates() {
    for file in [
        "examples/sidecar.yaml",
        "examples/agent.yaml",
        "examples/gateway.yaml",
        "deploy/docker/config.yaml",
    ] {
        let path = repo(file);
        let (code, stdout, stderr) = validate(&path);
        assert_eq!(code, 0, "{file}: {stdout}{stderr}");
        let want = if file == "examples/gateway.yaml" {
            // `otlp/jaeger` keeps the collector's spelling on purpose (configs move between
            // the two); Sluice's own name for the type is otlp_grpc.
            let text = std::fs::read_to_string(&path).unwrap();
            let line = text
                .lines()
                .position(|l| l == "  otlp/jaeger:")
                .expect("otlp/jaeger")
                + 1;
            format!(
                "warning: {}:{line}:3: exporters::otlp/jaeger: type \"otlp\" is deprecated; use \"otlp_grpc\"\nconfig OK\n",
                path.display()
            )
        } else {
            "config OK\n".to_string()
        };
        assert_eq!(stdout, want, "{file}: {stderr}");
    }
}

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

fn resource(service: &str) -> Option<Resource> {
    Some(Resource {
        attributes: vec![kv("service.name", service)],
        ..Default::default()
    })
}

/// `n` spans, each in its own trace; trace IDs are deterministic and spread over the whole
/// 128-bit space (a 64-bit LCG), as random IDs would be.
fn trace_ids(n: usize, seed: u64) -> Vec<[u8; 16]> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            let mut id = [0u8; 16];
            for half in id.chunks_mut(8) {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                half.copy_from_slice(&x.to_be_bytes());
            }
            id
        })
        .collect()
}

fn spans(service: &str, ids: &[[u8; 16]]) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource(service),
            scope_spans: vec![ScopeSpans {
                spans: ids
                    .iter()
                    .enumerate()
                    .map(|(i, id)| Span {
                        name: format!("op-{i}"),
                        trace_id: id.to_vec(),
                        span_id: (i as u64 + 1).to_be_bytes().to_vec(),
                        start_time_unix_nano: 1_700_000_000_000_000_000,
                        end_time_unix_nano: 1_700_000_000_001_000_000,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// One gauge per `(name, value)`, each with a single point.
fn gauges(service: &str, metrics: &[(&str, i64)]) -> ExportMetricsServiceRequest {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource(service),
            scope_metrics: vec![ScopeMetrics {
                metrics: metrics
                    .iter()
                    .map(|(name, v)| Metric {
                        name: name.to_string(),
                        data: Some(metric::Data::Gauge(Gauge {
                            data_points: vec![NumberDataPoint {
                                time_unix_nano: now,
                                value: Some(number_data_point::Value::AsInt(*v)),
                                ..Default::default()
                            }],
                        })),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn logs(service: &str, n: usize) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource(service),
            scope_logs: vec![ScopeLogs {
                log_records: (0..n)
                    .map(|i| LogRecord {
                        time_unix_nano: 1_700_000_000_000_000_000 + i as u64,
                        body: Some(AnyValue {
                            value: Some(any_value::Value::StringValue(format!("line {i}"))),
                        }),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// POSTs OTLP/HTTP protobuf to `http://127.0.0.1:port/v1/{signal}`; asserts 200.
fn post(port: u16, signal: &str, body: Vec<u8>) {
    let r = reqwest::blocking::Client::new()
        .post(format!("http://127.0.0.1:{port}/v1/{signal}"))
        .header("content-type", "application/x-protobuf")
        .body(body)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "POST /v1/{signal}");
}

/// Sends one traces request over OTLP/gRPC; asserts success.
fn send_grpc_traces(rt: &tokio::runtime::Runtime, port: u16, req: ExportTraceServiceRequest) {
    rt.block_on(async {
        let mut c = TraceServiceClient::connect(format!("http://127.0.0.1:{port}"))
            .await
            .unwrap();
        c.export(req).await.unwrap();
    });
}

fn get(url: &str) -> Option<(u16, String)> {
    let r = reqwest::blocking::Client::new()
        .get(url)
        .timeout(Duration::from_secs(5))
        .send()
        .ok()?;
    Some((r.status().as_u16(), r.text().ok()?))
}

/// Waits until health_check on `port` answers 200 with the collector's body.
fn wait_healthy(port: u16, sluice: &Sluice) {
    let mut last = None;
    assert!(
        wait_until(Duration::from_secs(20), || {
            last = get(&format!("http://127.0.0.1:{port}/"));
            matches!(&last, Some((200, _)))
        }),
        "health_check never answered 200 (last: {last:?})\n{}",
        sluice.stderr()
    );
    let (_, body) = last.unwrap();
    assert!(
        body.contains(r#""status":"Server available""#),
        "health_check body: {body}"
    );
}

fn write_overlay(dir: &Path, yaml: &str) -> PathBuf {
    let path = dir.join("ports-overlay.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

/// Resource attributes of every resource the sink got, per signal, flattened.
fn trace_resources(sink: &Sink) -> Vec<Vec<KeyValue>> {
    let g = sink.got.lock().unwrap();
    g.traces
        .iter()
        .flat_map(|(_, r)| &r.resource_spans)
        .map(|rs| rs.resource.clone().unwrap_or_default().attributes)
        .collect()
}

fn log_records(sink: &Sink) -> usize {
    sink.logs().len()
}

fn gauge_points(sink: &Sink, name: &str) -> Vec<i64> {
    sink.metrics()
        .iter()
        .filter(|m| m.name == name)
        .flat_map(|m| match &m.data {
            Some(metric::Data::Gauge(g)) => g.data_points.clone(),
            _ => vec![],
        })
        .filter_map(|p| match p.value {
            Some(number_data_point::Value::AsInt(i)) => Some(i),
            Some(number_data_point::Value::AsDouble(d)) => Some(d as i64),
            None => None,
        })
        .collect()
}

#[test]
fn sidecar_example_forwards_all_signals_to_the_gateway() {
    let rt = common::runtime(1);
    let gateway = Sink::start(&rt);
    let (grpc, http, health, own) = (free_port(), free_port(), free_port(), free_port());
    let dir = tempfile::tempdir().unwrap();
    let overlay = write_overlay(
        dir.path(),
        &format!(
            "receivers:\n  otlp:\n    protocols:\n      grpc: {{endpoint: 127.0.0.1:{grpc}}}\n      http: {{endpoint: 127.0.0.1:{http}}}\n\
             extensions:\n  health_check: {{endpoint: 127.0.0.1:{health}}}\n\
             service:\n  telemetry:\n    metrics: {{address: 127.0.0.1:{own}}}\n"
        ),
    );
    let gw = gateway.grpc.to_string();
    let mut sluice = Sluice::start_files(
        &[&repo("examples/sidecar.yaml"), &overlay],
        &[],
        &[("SLUICE_GATEWAY_ENDPOINT", gw.as_str())],
    );
    wait_healthy(health, &sluice);
    wait_port(grpc);
    wait_port(http);

    send_grpc_traces(&rt, grpc, spans("checkout", &trace_ids(10, 1)));
    post(
        http,
        "metrics",
        gauges("checkout", &[("queue_depth", 7), ("in_flight", 3)]).encode_to_vec(),
    );
    post(http, "logs", logs("checkout", 3).encode_to_vec());

    assert!(
        wait_until(Duration::from_secs(15), || gateway.spans().len() == 10
            && log_records(&gateway) == 3
            && gauge_points(&gateway, "queue_depth") == [7]
            && gauge_points(&gateway, "in_flight") == [3]),
        "spans {} logs {} metrics {:?}\n{}",
        gateway.spans().len(),
        log_records(&gateway),
        gateway
            .metrics()
            .iter()
            .map(|m| &m.name)
            .collect::<Vec<_>>(),
        sluice.stderr()
    );
    assert_eq!(gateway.trace_service_names(), ["checkout"]);
    assert_eq!(sluice.terminate(), 0, "{}", sluice.stderr());
    // Nothing more arrived after the counts matched: no duplicates on shutdown either.
    assert_eq!(gateway.spans().len(), 10);
    assert_eq!(log_records(&gateway), 3);
}

/// Kills the child process on drop.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const NODE_EXPORTER: &str = "/usr/bin/prometheus-node-exporter";

#[test]
fn agent_example_scrapes_node_exporter_and_forwards_otlp() {
    assert!(
        Path::new(NODE_EXPORTER).exists(),
        "{NODE_EXPORTER} is missing: run scripts/test.sh, which installs prometheus-node-exporter"
    );
    let node_port = free_port();
    let _node = Reaped(
        Command::new(NODE_EXPORTER)
            .arg(format!("--web.listen-address=127.0.0.1:{node_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start node_exporter"),
    );
    wait_port(node_port);

    let rt = common::runtime(1);
    let gateway = Sink::start(&rt);
    let (grpc, http, health, own) = (free_port(), free_port(), free_port(), free_port());
    let dir = tempfile::tempdir().unwrap();
    // The example scrapes every 30s; the overlay shortens that (global keys merge) so the test
    // sees a scrape within seconds. The target itself comes from NODE_EXPORTER_TARGET, as in
    // the DaemonSet.
    let overlay = write_overlay(
        dir.path(),
        &format!(
            "receivers:\n  otlp:\n    protocols:\n      grpc: {{endpoint: 127.0.0.1:{grpc}}}\n      http: {{endpoint: 127.0.0.1:{http}}}\n\
             \x20 prometheus:\n    config:\n      global: {{scrape_interval: 1s, scrape_timeout: 1s}}\n\
             extensions:\n  health_check: {{endpoint: 127.0.0.1:{health}}}\n\
             service:\n  telemetry:\n    metrics: {{address: 127.0.0.1:{own}}}\n"
        ),
    );
    let gw = gateway.grpc.to_string();
    let target = format!("127.0.0.1:{node_port}");
    let mut sluice = Sluice::start_files(
        &[&repo("examples/agent.yaml"), &overlay],
        &[],
        &[
            ("SLUICE_GATEWAY_ENDPOINT", gw.as_str()),
            ("NODE_EXPORTER_TARGET", target.as_str()),
            ("NODE_NAME", "node-7"),
        ],
    );
    wait_healthy(health, &sluice);
    wait_port(grpc);
    send_grpc_traces(&rt, grpc, spans("checkout", &trace_ids(5, 2)));

    let has = |name: &str| gateway.metrics().iter().any(|m| m.name == name);
    assert!(
        wait_until(Duration::from_secs(20), || gateway.spans().len() == 5
            && has("node_cpu_seconds_total")
            && has("up")),
        "spans {} metrics {:?}\n{}",
        gateway.spans().len(),
        gateway
            .metrics()
            .iter()
            .map(|m| &m.name)
            .collect::<BTreeSet<_>>(),
        sluice.stderr()
    );
    // Every resource carries the node's identity (resource processor).
    for attrs in trace_resources(&gateway) {
        assert_eq!(string_attr(&attrs, "host.name").as_deref(), Some("node-7"));
        assert_eq!(string_attr(&attrs, "sluice.tier").as_deref(), Some("agent"));
    }
    let received = gateway.got.lock().unwrap().metrics.clone();
    let mut scraped_resources = 0;
    for rm in received.iter().flat_map(|(_, r)| &r.resource_metrics) {
        let attrs = &rm.resource.as_ref().unwrap().attributes;
        assert_eq!(string_attr(attrs, "host.name").as_deref(), Some("node-7"));
        if string_attr(attrs, "service.name").as_deref() != Some("node-exporter") {
            continue;
        }
        scraped_resources += 1;
        assert_eq!(
            string_attr(attrs, "service.instance.id"),
            Some(target.clone())
        );
        for m in rm.scope_metrics.iter().flat_map(|sm| &sm.metrics) {
            // metric_relabel_configs drop Go runtime and promhttp series.
            assert!(
                !m.name.starts_with("go_") && !m.name.starts_with("promhttp_"),
                "{} should have been dropped",
                m.name
            );
            if m.name == "up" {
                let Some(metric::Data::Gauge(g)) = &m.data else {
                    panic!("up is a gauge")
                };
                for p in &g.data_points {
                    assert_eq!(p.value, Some(number_data_point::Value::AsDouble(1.0)));
                    assert_eq!(
                        string_attr(&p.attributes, "scraped_by").as_deref(),
                        Some("sluice-agent")
                    );
                }
            }
        }
    }
    assert!(scraped_resources > 0);
    assert_eq!(sluice.terminate(), 0, "{}", sluice.stderr());
    assert_eq!(gateway.spans().len(), 5);
}

#[test]
fn gateway_example_samples_filters_and_exports_every_signal() {
    let rt = common::runtime(1);
    let jaeger = Sink::start(&rt);
    let (grpc, http, health, own) = (free_port(), free_port(), free_port(), free_port());
    let (prom, pprof, zpages) = (free_port(), free_port(), free_port());
    let dir = tempfile::tempdir().unwrap();
    // A file_sd target file, as the gateway Deployment mounts them: the gateway scrapes its own
    // metrics endpoint (a real exposition), labelled like an application target.
    let targets = dir.path().join("targets");
    std::fs::create_dir(&targets).unwrap();
    std::fs::write(
        targets.join("apps.json"),
        format!(r#"[{{"targets": ["127.0.0.1:{own}"], "labels": {{"team": "smoke"}}}}]"#),
    )
    .unwrap();
    let overlay = write_overlay(
        dir.path(),
        &format!(
            "receivers:\n  otlp:\n    protocols:\n      grpc: {{endpoint: 127.0.0.1:{grpc}}}\n      http: {{endpoint: 127.0.0.1:{http}}}\n\
             \x20 prometheus:\n    config:\n      global: {{scrape_interval: 1s, scrape_timeout: 1s}}\n\
             exporters:\n  prometheus: {{endpoint: 127.0.0.1:{prom}}}\n\
             extensions:\n  health_check: {{endpoint: 127.0.0.1:{health}}}\n  pprof: {{endpoint: 127.0.0.1:{pprof}}}\n  zpages: {{endpoint: 127.0.0.1:{zpages}}}\n\
             service:\n  telemetry:\n    metrics: {{address: 127.0.0.1:{own}}}\n"
        ),
    );
    let jaeger_addr = jaeger.grpc.to_string();
    let targets_dir = targets.to_str().unwrap().to_string();
    let mut sluice = Sluice::start_files(
        &[&repo("examples/gateway.yaml"), &overlay],
        &[],
        &[
            ("JAEGER_ENDPOINT", jaeger_addr.as_str()),
            ("SLUICE_ENVIRONMENT", "smoke"),
            ("SLUICE_TARGETS_DIR", targets_dir.as_str()),
            ("HOSTNAME", "sluice-gateway-0"),
        ],
    );
    wait_healthy(health, &sluice);
    wait_port(grpc);

    // Traces: 400 traces in, exactly the ones the collector's hash_seed sampler keeps at 25%
    // with seed 22 come out at "Jaeger".
    let ids = trace_ids(400, 7);
    let kept: BTreeSet<Vec<u8>> = ids
        .iter()
        .filter(|id| hash_seed_keeps(id, 22, 25.0))
        .map(|id| id.to_vec())
        .collect();
    assert!(
        (60..=140).contains(&kept.len()),
        "{} of 400 kept: not a 25% sample",
        kept.len()
    );
    send_grpc_traces(&rt, grpc, spans("checkout", &ids));
    assert!(
        wait_until(Duration::from_secs(15), || jaeger.spans().len()
            == kept.len()),
        "{} spans at jaeger, want {}\n{}",
        jaeger.spans().len(),
        kept.len(),
        sluice.stderr()
    );
    let got: BTreeSet<Vec<u8>> = jaeger.spans().into_iter().map(|s| s.trace_id).collect();
    assert_eq!(got, kept);
    for attrs in trace_resources(&jaeger) {
        assert_eq!(
            string_attr(&attrs, "deployment.environment.name").as_deref(),
            Some("smoke")
        );
        assert_eq!(
            string_attr(&attrs, "sluice.gateway").as_deref(),
            Some("sluice-gateway-0")
        );
    }

    // Metrics: OTLP in, the prometheus exporter serves what the filter kept.
    post(
        http,
        "metrics",
        gauges("checkout", &[("queue_depth", 7), ("go_goroutines", 12)]).encode_to_vec(),
    );
    let mut text = String::new();
    let own_instance = format!("instance=\"127.0.0.1:{own}\"");
    assert!(
        wait_until(Duration::from_secs(20), || {
            text = get(&format!("http://127.0.0.1:{prom}/metrics"))
                .map(|(_, t)| t)
                .unwrap_or_default();
            text.lines().any(|l| {
                l.starts_with("queue_depth{")
                    && l.contains(r#"job="checkout""#)
                    && l.ends_with(" 7")
            }) && text.lines().any(|l| {
                // `up` of the file_sd target, with the target's labels and the gateway's mark.
                l.starts_with("up{")
                    && l.contains(r#"job="file-targets""#)
                    && l.contains(&own_instance)
                    && l.contains(r#"scraped_by="sluice-gateway""#)
                    && l.contains(r#"team="smoke""#)
                    && l.ends_with(" 1")
            }) && text.lines().any(|l| {
                // The scraped target's own samples went through the metrics pipeline too (a
                // scrape after the spans above were counted).
                l.starts_with("otelcol_receiver_accepted_spans")
                    && l.contains(r#"job="file-targets""#)
                    && l.contains(r#"receiver="otlp""#)
            })
        }),
        "prometheus exporter output:\n{text}\n{}",
        sluice.stderr()
    );
    assert!(
        !text.contains("go_goroutines"),
        "the filter processor drops go_*:\n{text}"
    );

    // Logs: the debug exporter prints a summary line.
    post(http, "logs", logs("checkout", 3).encode_to_vec());
    assert!(
        wait_until(Duration::from_secs(10), || sluice
            .stderr()
            .contains("Logs {resource logs: 1, log records: 3}")),
        "{}",
        sluice.stderr()
    );

    // The extensions answer on their (moved) ports.
    let (code, page) = get(&format!("http://127.0.0.1:{zpages}/debug/servicez")).unwrap();
    assert_eq!(code, 200);
    assert!(page.contains("otlp/jaeger"), "{page}");
    let (code, heap) = get(&format!("http://127.0.0.1:{pprof}/debug/pprof/heap")).unwrap();
    assert_eq!(code, 200);
    assert!(!heap.is_empty());

    assert_eq!(sluice.terminate(), 0, "{}", sluice.stderr());
    assert_eq!(jaeger.spans().len(), kept.len());
}
