//! The load run: `workers` tasks, each with its own connection, send pre-encoded requests
//! of `batch` items at their share of `rate` (or as fast as answers come back), while a
//! reporter prints rates and latencies every interval.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use super::client::{ExportClient, Outcome, Protocol};
use super::payload::IdGen;
use super::stats::{interval_line, Stats, Summary};
use super::template::{unix_nanos, Template};
use crate::signal::Signal;

/// What to send, where, and how fast.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Signal to send.
    pub signal: Signal,
    /// `host:port` or `http://host:port`; the protocol's default when empty.
    pub endpoint: String,
    /// gRPC or HTTP/protobuf.
    pub protocol: Protocol,
    /// Items per second over all workers; 0 sends as fast as answers come back.
    pub rate: u64,
    /// How long to send.
    pub duration: Duration,
    /// Concurrent senders, each with its own connection.
    pub workers: usize,
    /// Items per export request.
    pub batch: usize,
    /// Per-call timeout.
    pub timeout: Duration,
    /// Print a report line this often (None: only the summary).
    pub report_every: Option<Duration>,
}

impl LoadConfig {
    /// The endpoint to use: the given one or the protocol's default.
    pub fn endpoint(&self) -> &str {
        if self.endpoint.is_empty() {
            self.protocol.default_endpoint()
        } else {
            &self.endpoint
        }
    }
}

/// Runs the load and returns the summary. Report lines go to stderr.
pub async fn run(cfg: LoadConfig) -> anyhow::Result<Summary> {
    anyhow::ensure!(cfg.workers > 0, "--workers must be at least 1");
    anyhow::ensure!(cfg.batch > 0, "--batch must be at least 1");
    let stats = Arc::new(Stats::default());
    let template = Arc::new(Template::new(cfg.signal, cfg.batch));
    let run_id: u32 = rand::random();
    let start = Instant::now();
    let end = start + cfg.duration;
    let mut workers = JoinSet::new();
    for w in 0..cfg.workers {
        let client = ExportClient::new(cfg.endpoint(), cfg.protocol, cfg.signal, cfg.timeout)?;
        // Each worker's share of the rate, as the interval between its requests.
        let every = (cfg.rate > 0).then(|| {
            let per_worker = cfg.rate as f64 / cfg.workers as f64;
            Duration::from_secs_f64(cfg.batch as f64 / per_worker)
        });
        let ids = IdGen::new(run_id, w as u32);
        // Spread the workers' first sends over one interval.
        let offset = every.map(|e| e.mul_f64(w as f64 / cfg.workers as f64));
        workers.spawn(worker(
            client,
            template.clone(),
            stats.clone(),
            ids,
            start + offset.unwrap_or_default(),
            every,
            end,
        ));
    }
    let reporter = cfg.report_every.map(|every| {
        let stats = stats.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval_at((start + every).into(), every);
            let mut last = stats.counts();
            let mut last_at = start;
            loop {
                tick.tick().await;
                let now = Instant::now();
                let c = stats.counts();
                let lat = stats.take_interval_latency();
                eprintln!(
                    "{}",
                    interval_line(
                        now - start,
                        &c.since(&last),
                        (now - last_at).as_secs_f64(),
                        &lat
                    )
                );
                last = c;
                last_at = now;
            }
        })
    });
    while let Some(r) = workers.join_next().await {
        r?;
    }
    if let Some(r) = reporter {
        r.abort();
    }
    let elapsed = start.elapsed().as_secs_f64();
    let counts = stats.counts();
    Ok(Summary {
        signal: cfg.signal.to_string(),
        protocol: format!("{:?}", cfg.protocol).to_lowercase(),
        item: cfg.signal.item_name().to_string(),
        duration_s: elapsed,
        target_rate: cfg.rate,
        counts,
        accepted_per_s: counts.accepted as f64 / elapsed.max(1e-9),
        latency: stats.total_latency(),
        last_error: stats.last_error(),
    })
}

async fn worker(
    mut client: ExportClient,
    template: Arc<Template>,
    stats: Arc<Stats>,
    mut ids: IdGen,
    first: Instant,
    every: Option<Duration>,
    end: Instant,
) {
    let items = template.items() as u64;
    let mut next = first;
    loop {
        if let Some(every) = every {
            if next >= end {
                return;
            }
            tokio::time::sleep_until(next.into()).await;
            next += every;
            // After a stall, do not burst to catch up by more than one second's worth.
            let now = Instant::now();
            if next + Duration::from_secs(1) < now {
                next = now;
            }
        } else if Instant::now() >= end {
            return;
        }
        let body = template.stamp(&mut ids, unix_nanos());
        let t0 = Instant::now();
        let outcome = client.export(body).await;
        stats.record(items, &outcome, t0.elapsed());
        if matches!(outcome, Outcome::Error(_)) && every.is_none() {
            // Unthrottled against a dead endpoint: do not spin.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
