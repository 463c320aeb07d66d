//! The `prometheus` receiver: scrapes Prometheus/OpenMetrics endpoints as the OpenTelemetry
//! Collector's prometheusreceiver does, with Prometheus's own `scrape_configs` syntax under
//! `config:`, and delivers the samples as OTLP metrics.

pub mod adjust;
pub mod client;
pub mod config;
pub mod convert;
pub mod discovery;
pub mod parser;
pub mod relabel;
pub mod scrape;
pub mod tls_config;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::component::{ComponentConfigError, ComponentId, Receiver, ReceiverContext};
use crate::pipeline::Consumer;
use crate::registry::{Factory, ReceiverCreate};
use crate::signal::Signal;

pub use config::PrometheusConfig;
use config::ScrapeConfig;
use convert::ScrapeOptions;
use discovery::{TargetGroup, TargetSpec};

/// The `prometheus` receiver's factory.
pub const FACTORY: Factory<ReceiverCreate> = Factory {
    type_name: "prometheus",
    deprecated_names: &[],
    signals: &[Signal::Metrics],
    stability: "beta",
    create,
};

fn create(_id: &ComponentId, raw: &Value) -> Result<Box<dyn Receiver>, ComponentConfigError> {
    Ok(Box::new(PrometheusReceiver {
        cfg: PrometheusConfig::from_value(raw)?,
    }))
}

/// A configured prometheus receiver, not yet scraping.
pub struct PrometheusReceiver {
    cfg: PrometheusConfig,
}

impl PrometheusReceiver {
    fn options(&self, sc: &ScrapeConfig) -> ScrapeOptions {
        ScrapeOptions {
            honor_labels: sc.honor_labels,
            honor_timestamps: sc.honor_timestamps,
            sample_limit: sc.sample_limit,
            metric_relabel: sc.metric_relabel.clone(),
            external_labels: sc.external_labels.clone(),
            start_time: self.cfg.start_time,
            start_time_metric: self.cfg.start_time_metric.clone(),
        }
    }
}

#[async_trait]
impl Receiver for PrometheusReceiver {
    async fn start(self: Box<Self>, ctx: ReceiverContext) -> anyhow::Result<JoinHandle<()>> {
        let Some(consumer) = ctx.consumers.metrics.clone() else {
            anyhow::bail!("{} receiver: only metrics pipelines can use it", ctx.id);
        };
        let seed: u64 = rand::random();
        let mut jobs = Vec::new();
        for sc in &self.cfg.scrape_configs {
            let job = Job {
                id: ctx.id.clone(),
                opts: self.options(sc),
                cfg: Arc::new(sc.clone()),
                client: Arc::new(client::ScrapeClient::new(sc.tls.clone())?),
                consumer: consumer.clone(),
                seed,
            };
            tracing::info!(receiver = %ctx.id, job = %sc.job_name, interval = ?sc.scrape_interval, "Starting scrape job");
            jobs.push(tokio::spawn(job.run(ctx.shutdown.clone())));
        }
        drop(ctx.consumers);
        Ok(tokio::spawn(async move {
            for j in jobs {
                let _ = j.await;
            }
        }))
    }
}

/// One scrape config: discovers its targets and runs one task per target.
struct Job {
    id: ComponentId,
    cfg: Arc<ScrapeConfig>,
    opts: ScrapeOptions,
    client: Arc<client::ScrapeClient>,
    consumer: Consumer,
    seed: u64,
}

impl Job {
    /// Reads the file SD files; a file that cannot be read keeps its last good groups, as
    /// Prometheus does.
    fn read_files(
        &self,
        cache: &mut HashMap<PathBuf, Vec<TargetGroup>>,
        errors: &mut HashMap<PathBuf, String>,
    ) -> Vec<(TargetGroup, Option<String>)> {
        let mut seen = Vec::new();
        for f in &self.cfg.file_sd_configs {
            for pattern in &f.files {
                for path in discovery::expand_pattern(pattern) {
                    match discovery::read_sd_file(&path) {
                        Ok(g) => {
                            if errors.remove(&path).is_some() {
                                tracing::info!(receiver = %self.id, job = %self.cfg.job_name, file = %path.display(), "File SD file readable again");
                            }
                            cache.insert(path.clone(), g);
                        }
                        Err(e) => {
                            if errors.get(&path) != Some(&e) {
                                tracing::warn!(receiver = %self.id, job = %self.cfg.job_name, error = %e, "Cannot read file SD file; keeping its previous targets");
                            }
                            errors.insert(path.clone(), e);
                        }
                    }
                    seen.push(path);
                }
            }
        }
        cache.retain(|p, _| seen.contains(p));
        let mut out = Vec::new();
        let mut paths: Vec<&PathBuf> = cache.keys().collect();
        paths.sort();
        for p in paths {
            let name = p.display().to_string();
            out.extend(cache[p].iter().cloned().map(|g| (g, Some(name.clone()))));
        }
        out
    }

    async fn run(self, shutdown: CancellationToken) {
        let mut running: HashMap<TargetSpec, (CancellationToken, JoinHandle<()>)> = HashMap::new();
        let mut cache = HashMap::new();
        let mut errors = HashMap::new();
        let refresh = self
            .cfg
            .file_sd_configs
            .iter()
            .map(|f| f.refresh_interval)
            .min();
        loop {
            let mut groups = discovery::static_groups(&self.cfg);
            groups.extend(self.read_files(&mut cache, &mut errors));
            let specs = discovery::targets(&self.cfg, &groups);
            running.retain(|spec, (removed, _)| {
                let keep = specs.contains(spec);
                if !keep {
                    tracing::info!(receiver = %self.id, job = %self.cfg.job_name, target = %spec.url, "Target removed");
                    removed.cancel();
                }
                keep
            });
            for spec in specs {
                if running.contains_key(&spec) {
                    continue;
                }
                let removed = CancellationToken::new();
                let task = scrape::TargetTask {
                    id: self.id.clone(),
                    spec: spec.clone(),
                    cfg: self.cfg.clone(),
                    opts: self.opts.clone(),
                    client: self.client.clone(),
                    consumer: self.consumer.clone(),
                    seed: self.seed,
                };
                tracing::debug!(receiver = %self.id, job = %self.cfg.job_name, target = %spec.url, "Target added");
                let h = tokio::spawn(task.run(shutdown.clone(), removed.clone()));
                running.insert(spec, (removed, h));
            }
            let Some(refresh) = refresh.filter(|r| !r.is_zero()) else {
                break;
            };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(refresh) => {}
            }
        }
        shutdown.cancelled().await;
        for (_, (_, h)) in running {
            let _ = h.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::Consumers;
    use crate::signal::{Batch, Data};
    use opentelemetry_proto::tonic::metrics::v1::metric::Data as MData;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn target_server() -> u16 {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut c, _)) = l.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = c.read(&mut buf).await;
                    let body = "# TYPE g gauge\ng 1\n";
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = c.write_all(resp.as_bytes()).await;
                });
            }
        });
        port
    }

    async fn next(b: &mut tokio::sync::mpsc::Receiver<Batch>) -> Batch {
        tokio::time::timeout(Duration::from_secs(5), b.recv())
            .await
            .expect("a batch in time")
            .expect("channel open")
    }

    /// (metric name, flags) of every point in a batch.
    fn points(b: &Batch) -> Vec<(String, u32)> {
        let Data::Metrics(req) = &b.to_data() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for m in req
            .resource_metrics
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics)
        {
            if let Some(MData::Gauge(g)) = &m.data {
                for p in &g.data_points {
                    out.push((m.name.clone(), p.flags));
                }
            }
        }
        out
    }

    #[tokio::test]
    async fn file_sd_targets_come_and_go_with_staleness_markers() {
        let port = target_server().await;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("targets.json");
        std::fs::write(
            &file,
            format!(r#"[{{"targets": ["127.0.0.1:{port}"], "labels": {{"team": "a"}}}}]"#),
        )
        .unwrap();
        let raw = serde_json::json!({"config": {"scrape_configs": [{
            "job_name": "sd",
            "scrape_interval": "200ms",
            "file_sd_configs": [{"files": [format!("{}/*.json", dir.path().display())], "refresh_interval": "300ms"}],
        }]}});
        let id = ComponentId::parse("prometheus").unwrap();
        let rx = create(&id, &raw).unwrap();
        let (tx, mut batches) = tokio::sync::mpsc::channel(64);
        let mut consumers = Consumers::default();
        consumers.set(
            Signal::Metrics,
            Consumer::new(id.clone(), Signal::Metrics, vec![tx]),
        );
        let shutdown = CancellationToken::new();
        let handle = rx
            .start(ReceiverContext {
                id,
                consumers,
                shutdown: shutdown.clone(),
                auth: Default::default(),
            })
            .await
            .unwrap();
        let first = next(&mut batches).await;
        assert!(
            points(&first).contains(&("up".into(), 0)),
            "{:?}",
            points(&first)
        );
        assert!(points(&first).contains(&("g".into(), 0)));
        // The target leaves the file: its series get staleness markers.
        std::fs::write(&file, "[]").unwrap();
        let mut stale = None;
        for _ in 0..20 {
            let b = next(&mut batches).await;
            if points(&b)
                .iter()
                .any(|(_, f)| *f == adjust::NO_RECORDED_VALUE)
            {
                stale = Some(b);
                break;
            }
        }
        let stale = stale.expect("staleness markers after the target was removed");
        let mut names: Vec<String> = points(&stale).into_iter().map(|(n, _)| n).collect();
        names.sort();
        assert!(names.contains(&"g".to_string()) && names.contains(&"up".to_string()));
        assert!(points(&stale)
            .iter()
            .all(|(_, f)| *f == adjust::NO_RECORDED_VALUE));
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(5), handle)
            .await
            .expect("the receiver stops on shutdown")
            .unwrap();
    }
}
