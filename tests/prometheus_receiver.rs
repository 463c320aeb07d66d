//! The prometheus receiver in a running daemon, scraping Debian's real `prometheus-node-exporter`
//! (installed by scripts/test.sh) on a loopback port, next to a dead target (connection refused)
//! and a hanging one (accepts, never answers): the OTLP that reaches the sink has node_exporter's
//! families with the right types and resource, `up` is 1 for the live target and 0 for the
//! others, and the live target keeps its cadence while the hanging one times out.

mod common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::sink::{string_attr, Sink};
use common::{free_port, wait_port, wait_until, Sluice};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::{number_data_point, Metric, ResourceMetrics};

const NODE_EXPORTER: &str = "/usr/bin/prometheus-node-exporter";

struct Exporter(Child);

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn resources(reqs: &[(&'static str, ExportMetricsServiceRequest)]) -> Vec<ResourceMetrics> {
    reqs.iter()
        .flat_map(|(_, r)| r.resource_metrics.clone())
        .collect()
}

fn instance(rm: &ResourceMetrics) -> String {
    string_attr(
        &rm.resource.as_ref().unwrap().attributes,
        "service.instance.id",
    )
    .unwrap_or_default()
}

fn find<'a>(rm: &'a ResourceMetrics, name: &str) -> Option<&'a Metric> {
    rm.scope_metrics
        .iter()
        .flat_map(|s| &s.metrics)
        .find(|m| m.name == name)
}

fn gauge_value(m: &Metric) -> f64 {
    match &m.data {
        Some(Data::Gauge(g)) => match g.data_points[0].value {
            Some(number_data_point::Value::AsDouble(v)) => v,
            other => panic!("{other:?}"),
        },
        other => panic!("{} is not a gauge: {other:?}", m.name),
    }
}

#[test]
fn scrapes_node_exporter_and_isolates_dead_targets() {
    assert!(
        std::path::Path::new(NODE_EXPORTER).exists(),
        "{NODE_EXPORTER} is missing: run scripts/test.sh, which installs prometheus-node-exporter"
    );
    let node_port = free_port();
    let _node = Exporter(
        Command::new(NODE_EXPORTER)
            .arg(format!("--web.listen-address=127.0.0.1:{node_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start node_exporter"),
    );
    wait_port(node_port);

    let dead_port = free_port();
    // Accepts connections and never answers: every scrape of it must time out.
    let hang = TcpListener::bind("127.0.0.1:0").unwrap();
    let hang_port = hang.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in hang.incoming().flatten() {
            held.push(c);
        }
    });

    let rt = common::runtime(1);
    let sink = Sink::start(&rt);
    let mut sluice = Sluice::start(&format!(
        r#"
receivers:
  prometheus:
    config:
      global:
        scrape_interval: 1s
        scrape_timeout: 800ms
      scrape_configs:
        - job_name: node
          static_configs:
            - targets: ["127.0.0.1:{node_port}"]
              labels:
                env: test
        - job_name: broken
          scrape_timeout: 1s
          static_configs:
            - targets: ["127.0.0.1:{dead_port}", "127.0.0.1:{hang_port}"]
exporters:
  otlp:
    endpoint: {sink}
    tls: {{insecure: true}}
service:
  pipelines:
    metrics:
      receivers: [prometheus]
      exporters: [otlp]
"#,
        sink = sink.grpc
    ));

    let node_instance = format!("127.0.0.1:{node_port}");
    let dead_instance = format!("127.0.0.1:{dead_port}");
    let hang_instance = format!("127.0.0.1:{hang_port}");
    let arrived = |inst: &str| {
        let g = sink.got.lock().unwrap();
        resources(&g.metrics)
            .iter()
            .filter(|rm| instance(rm) == inst && find(rm, "up").is_some())
            .count()
    };
    assert!(
        wait_until(Duration::from_secs(20), || arrived(&node_instance) >= 1
            && arrived(&dead_instance) >= 1
            && arrived(&hang_instance) >= 1),
        "scrapes did not arrive: node={} dead={} hang={}\n{}",
        arrived(&node_instance),
        arrived(&dead_instance),
        arrived(&hang_instance),
        sluice.stderr()
    );
    // The live target keeps its 1s cadence while the hanging one burns its whole timeout.
    let before = arrived(&node_instance);
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_millis(4500));
    let during = arrived(&node_instance) - before;
    assert!(
        during >= 3,
        "only {during} node scrapes in {:?}",
        t0.elapsed()
    );

    let all = resources(&sink.got.lock().unwrap().metrics);
    let node = all
        .iter()
        .find(|rm| instance(rm) == node_instance && find(rm, "node_cpu_seconds_total").is_some())
        .expect("a node_exporter scrape with node_cpu_seconds_total");
    let attrs = &node.resource.as_ref().unwrap().attributes;
    assert_eq!(string_attr(attrs, "service.name").as_deref(), Some("node"));
    assert_eq!(
        string_attr(attrs, "server.port"),
        Some(node_port.to_string())
    );
    assert_eq!(string_attr(attrs, "url.scheme").as_deref(), Some("http"));

    let cpu = find(node, "node_cpu_seconds_total").unwrap();
    match &cpu.data {
        Some(Data::Sum(s)) => {
            assert!(s.is_monotonic, "node_cpu_seconds_total must be monotonic");
            assert_eq!(s.aggregation_temporality, 2, "cumulative");
            let p = &s.data_points[0];
            assert!(string_attr(&p.attributes, "mode").is_some());
            assert!(string_attr(&p.attributes, "cpu").is_some());
            assert_eq!(string_attr(&p.attributes, "env").as_deref(), Some("test"));
            assert!(p.start_time_unix_nano > 0 && p.start_time_unix_nano <= p.time_unix_nano);
        }
        other => panic!("node_cpu_seconds_total is not a Sum: {other:?}"),
    }
    assert!(!cpu.description.is_empty());
    let mem = find(node, "node_memory_MemTotal_bytes").expect("node_memory_MemTotal_bytes");
    assert!(gauge_value(mem) > 0.0);
    assert_eq!(gauge_value(find(node, "up").unwrap()), 1.0);
    assert!(gauge_value(find(node, "scrape_samples_scraped").unwrap()) > 100.0);
    assert!(gauge_value(find(node, "scrape_duration_seconds").unwrap()) < 0.8);
    if let Some(h) = find(node, "go_gc_duration_seconds") {
        assert!(matches!(h.data, Some(Data::Summary(_))), "{h:?}");
    }

    for inst in [&dead_instance, &hang_instance] {
        let rm = all
            .iter()
            .find(|rm| instance(rm) == *inst)
            .unwrap_or_else(|| panic!("no scrape report for {inst}"));
        let attrs = &rm.resource.as_ref().unwrap().attributes;
        assert_eq!(
            string_attr(attrs, "service.name").as_deref(),
            Some("broken")
        );
        assert_eq!(gauge_value(find(rm, "up").unwrap()), 0.0, "{inst}");
    }
    let log = sluice.stderr();
    assert!(
        log.contains("Failed to scrape Prometheus endpoint"),
        "{log}"
    );
    assert_eq!(sluice.terminate(), 0, "{}", sluice.stderr());
}
