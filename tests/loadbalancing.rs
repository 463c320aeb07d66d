//! The trace-aware `loadbalancing` exporter across hosts: one agent and three gateways, each on
//! its own loopback address (127.0.0.2–4), the Python SDK sending traces of several spans to
//! the agent. Every trace's spans land on exactly one gateway, the split is even within ±15%,
//! and a gateway stopped while traces flow loses nothing the agent acknowledged: its share is
//! re-routed to the other two.

mod common;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use common::sink::Sink;
use common::{free_port, wait_port, wait_until, Sluice};

fn gateway(ip: &str, port: u16, sink: &Sink) -> Sluice {
    Sluice::start(&format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: {ip}:{port}
exporters:
  otlp_grpc:
    endpoint: {sink}
    tls: {{insecure: true}}
service:
  pipelines:
    traces: {{receivers: [otlp], exporters: [otlp_grpc]}}
"#,
        sink = sink.grpc
    ))
}

/// Runs the SDK script; returns trace ID → span IDs.
fn send(agent: u16, traces: u32, delay_ms: f64, service: &str) -> HashMap<String, Vec<String>> {
    common::send_traces_with_python_sdk(agent, traces, 2, delay_ms, service)
}

/// For each sink: trace ID (hex) → span IDs received.
fn received(sinks: &[Sink]) -> Vec<HashMap<String, HashSet<String>>> {
    sinks
        .iter()
        .map(|s| {
            let mut m: HashMap<String, HashSet<String>> = HashMap::new();
            for sp in s.spans() {
                m.entry(hex::encode(&sp.trace_id))
                    .or_default()
                    .insert(hex::encode(&sp.span_id));
            }
            m
        })
        .collect()
}

#[test]
fn traces_stay_whole_split_evenly_and_survive_a_gateway_stop() {
    let rt = common::runtime(2);
    let sinks: Vec<Sink> = (0..3).map(|_| Sink::start(&rt)).collect();
    let ips = ["127.0.0.2", "127.0.0.3", "127.0.0.4"];
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let mut gateways: Vec<Sluice> = (0..3)
        .map(|i| gateway(ips[i], ports[i], &sinks[i]))
        .collect();
    let wait_on = |ip: &str, port: u16| {
        assert!(wait_until(Duration::from_secs(20), || {
            std::net::TcpStream::connect((ip, port)).is_ok()
        }));
    };
    for i in 0..3 {
        wait_on(ips[i], ports[i]);
    }
    let agent_port = free_port();
    let hostnames: Vec<String> = (0..3)
        .map(|i| format!("\"{}:{}\"", ips[i], ports[i]))
        .collect();
    let agent = Sluice::start(&format!(
        r#"
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{agent_port}
exporters:
  loadbalancing:
    routing_key: traceID
    protocol:
      otlp:
        tls: {{insecure: true}}
        timeout: 2s
    resolver:
      static:
        hostnames: [{hosts}]
service:
  pipelines:
    traces: {{receivers: [otlp], exporters: [loadbalancing]}}
"#,
        hosts = hostnames.join(", ")
    ));
    wait_port(agent_port);

    // Phase 1: all gateways up.
    let sent = send(agent_port, 3000, 0.0, "phase-1");
    let total: usize = sent.values().map(Vec::len).sum();
    assert!(
        wait_until(Duration::from_secs(30), || sinks
            .iter()
            .map(|s| s.spans().len())
            .sum::<usize>()
            >= total),
        "phase 1 arrived: {:?}\n{}",
        sinks.iter().map(|s| s.spans().len()).collect::<Vec<_>>(),
        agent.stderr()
    );
    let got = received(&sinks);
    let mut per_gateway = [0usize; 3];
    for (trace, ids) in &sent {
        let holders: Vec<usize> = (0..3).filter(|i| got[*i].contains_key(trace)).collect();
        assert_eq!(holders.len(), 1, "trace {trace} on gateways {holders:?}");
        let g = holders[0];
        per_gateway[g] += 1;
        let want: HashSet<String> = ids.iter().cloned().collect();
        assert_eq!(
            got[g][trace], want,
            "every span of trace {trace} on gateway {g}"
        );
    }
    eprintln!("phase 1: 3000 traces (6000 spans) per gateway: {per_gateway:?}");
    for n in per_gateway {
        assert!(
            (850..=1150).contains(&n),
            "split within ±15%: {per_gateway:?}"
        );
    }

    // Phase 2: traces keep flowing while gateway 3 stops; nothing acknowledged is lost.
    let before: Vec<usize> = sinks.iter().map(|s| s.spans().len()).collect();
    let sender = std::thread::spawn(move || send(agent_port, 600, 3.0, "phase-2"));
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(gateways[2].terminate(), 0, "gateway 3 drains and exits");
    let sent2 = sender.join().unwrap();
    let total2: usize = sent2.values().map(Vec::len).sum();
    let all_ids: HashSet<String> = sent2.values().flatten().cloned().collect();
    let arrived = || -> HashSet<String> {
        sinks
            .iter()
            .flat_map(|s| s.spans())
            .map(|sp| hex::encode(&sp.span_id))
            .filter(|id| all_ids.contains(id))
            .collect()
    };
    assert!(
        wait_until(Duration::from_secs(30), || arrived().len() == total2),
        "lost {} of {total2} acknowledged spans\n{}",
        total2 - arrived().len(),
        agent.stderr()
    );
    let after: Vec<usize> = sinks.iter().map(|s| s.spans().len()).collect();
    eprintln!(
        "phase 2: {total2} spans; new per gateway: {:?}",
        (0..3).map(|i| after[i] - before[i]).collect::<Vec<_>>()
    );
    assert!(
        after[0] > before[0] && after[1] > before[1],
        "the other gateways took the load"
    );
    assert!(
        agent.stderr().contains("backend failed"),
        "{}",
        agent.stderr()
    );
}

#[test]
fn dns_resolver_finds_backends_by_name() {
    let rt = common::runtime(1);
    let sink = Sink::start(&rt);
    let port = free_port();
    let _gw = gateway("127.0.0.1", port, &sink);
    wait_port(port);
    let agent_port = free_port();
    // `localhost` may also resolve to ::1, where nothing listens: that backend fails, rests,
    // and its share goes to 127.0.0.1.
    let agent = Sluice::start(&format!(
        r#"
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{agent_port}
exporters:
  loadbalancing:
    protocol:
      otlp:
        tls: {{insecure: true}}
    resolver:
      dns:
        hostname: localhost
        port: {port}
        interval: 1s
service:
  pipelines:
    traces: {{receivers: [otlp], exporters: [loadbalancing]}}
"#
    ));
    wait_port(agent_port);
    let sent = send(agent_port, 100, 0.0, "dns");
    let total: usize = sent.values().map(Vec::len).sum();
    assert!(
        wait_until(Duration::from_secs(20), || sink.spans().len() >= total),
        "{} of {total}\n{}",
        sink.spans().len(),
        agent.stderr()
    );
    assert!(
        agent.stderr().contains(&format!("127.0.0.1:{port}")),
        "{}",
        agent.stderr()
    );
}
