//! Parse + convert throughput of the prometheus receiver on a generated 10k-series exposition
//! (4,000 counter series, 3,000 gauges, 250 histograms of 10 buckets with sum and count), as a
//! target would be scraped in steady state (start-time and staleness state carried over).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sluice::receivers::prometheus::config::StartTimePolicy;
use sluice::receivers::prometheus::convert::{ScrapeOptions, Target, TargetConverter};
use sluice::receivers::prometheus::parser::{Format, Parser};

const SERIES: usize = 10_000;

fn exposition() -> String {
    let mut s = String::with_capacity(1 << 20);
    s.push_str("# HELP http_requests_total Requests served.\n# TYPE http_requests_total counter\n");
    for i in 0..4000 {
        s.push_str(&format!(
            "http_requests_total{{method=\"GET\",code=\"{}\",handler=\"/api/v1/item/{}\"}} {}\n",
            200 + i % 5,
            i,
            i * 17
        ));
    }
    s.push_str("# HELP queue_depth Items waiting.\n# TYPE queue_depth gauge\n");
    for i in 0..3000 {
        s.push_str(&format!(
            "queue_depth{{queue=\"q{}\",shard=\"{}\"}} {}.5\n",
            i,
            i % 16,
            i
        ));
    }
    s.push_str("# HELP rpc_seconds RPC latency.\n# TYPE rpc_seconds histogram\n");
    let bounds = [
        "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf",
    ];
    for i in 0..250 {
        for (j, b) in bounds.iter().enumerate() {
            s.push_str(&format!(
                "rpc_seconds_bucket{{service=\"svc{i}\",le=\"{b}\"}} {}\n",
                (j + 1) * 10
            ));
        }
        s.push_str(&format!("rpc_seconds_sum{{service=\"svc{i}\"}} 42.5\n"));
        s.push_str(&format!("rpc_seconds_count{{service=\"svc{i}\"}} 100\n"));
    }
    s
}

fn converter() -> TargetConverter {
    let labels = vec![
        ("instance".to_string(), "10.0.0.1:9100".to_string()),
        ("job".to_string(), "bench".to_string()),
    ];
    TargetConverter::new(
        Target {
            job: "bench".into(),
            instance: "10.0.0.1:9100".into(),
            scheme: "http".into(),
            labels,
        },
        ScrapeOptions {
            honor_labels: false,
            honor_timestamps: true,
            sample_limit: 0,
            metric_relabel: Vec::new(),
            external_labels: Vec::new(),
            start_time: StartTimePolicy::FirstObservation,
            start_time_metric: regex::Regex::new("^process_start_time_seconds$").unwrap(),
        },
    )
}

fn bench(c: &mut Criterion) {
    let text = exposition();
    let lines = text.lines().filter(|l| !l.starts_with('#')).count();
    assert_eq!(lines, SERIES);
    let mut g = c.benchmark_group("prometheus_10k_series");
    g.throughput(Throughput::Elements(SERIES as u64));
    g.bench_function("parse", |b| {
        b.iter(|| {
            let n = Parser::new(&text, Format::Prometheus)
                .filter(|e| e.is_ok())
                .count();
            assert!(n >= SERIES);
        })
    });
    let mut conv = converter();
    let mut ts = 1_700_000_000_000i64;
    g.bench_function("parse_and_convert", |b| {
        b.iter(|| {
            ts += 15_000;
            let (req, r) = conv.convert(&text, Format::Prometheus, ts, 0.01);
            r.unwrap();
            std::hint::black_box(req);
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
