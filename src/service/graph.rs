//! Building, starting, reloading and stopping the component graph.
//!
//! Starting is a reload from nothing. A reload ([`Service::apply`]) keeps every component whose
//! config did not change running — receivers keep their listeners and connections and are
//! only rerouted, exporters keep their queues — and replaces the rest: changed receivers and
//! extensions are stopped first (freeing their ports), new and changed components start, and
//! replaced pipelines and exporters drain what they hold in the background.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::running::{
    exporter_storage, pipeline_signature, receiver_signals, start_exporter, start_extension,
    start_pipeline, start_receiver, uses_authenticator, RunningExporter, RunningExtension,
    RunningPipeline, RunningReceiver,
};
use crate::auth::Authenticators;
use crate::component::{ComponentId, StorageSpec};
use crate::config::{Config, PipelineId};
use crate::pipeline::admission::{Gate, Gates};
use crate::pipeline::{Consumer, Consumers, PipelineInput};
use crate::service::host::{Host, ReloadSender, Status, StatusSender};
use crate::signal::Signal;

/// What a reload kept and what it replaced, by component ID.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ReloadReport {
    /// Components left running (receivers rerouted, exporters with their queues).
    pub kept: Vec<String>,
    /// Components started (new or with a changed config).
    pub started: Vec<String>,
    /// Components stopped or draining (removed or with a changed config).
    pub stopped: Vec<String>,
}

/// A started service. Drop without `shutdown` aborts nothing gracefully: call `shutdown`.
pub struct Service {
    receivers_stop: CancellationToken,
    extensions_stop: CancellationToken,
    host: Host,
    extensions: Vec<(ComponentId, RunningExtension)>,
    exporters: BTreeMap<ComponentId, RunningExporter>,
    pipelines: BTreeMap<PipelineId, RunningPipeline>,
    receivers: BTreeMap<ComponentId, RunningReceiver>,
    /// Replaced pipelines and exporters draining in the background.
    retiring: Vec<JoinHandle<()>>,
    status: StatusSender,
}

impl Service {
    /// Builds and starts every component of the config. A component that cannot start (a port
    /// in use, say) stops what was started and returns an error naming the component.
    pub async fn start(config: &Config) -> anyhow::Result<Service> {
        Service::start_with(
            Arc::new(config.clone()),
            Arc::new(serde_json::Value::Null),
            StatusSender::new(),
            None,
        )
        .await
    }

    /// As [`Service::start`], also giving extensions the merged config document (for zpages)
    /// and reporting the service's status through `status`: `Starting` until every component
    /// started, then `Ready`, and `Stopping` from the start of [`Service::shutdown`].
    /// `reload`, when given, lets extensions request a config reload.
    pub async fn start_with(
        config: Arc<Config>,
        document: Arc<serde_json::Value>,
        status: StatusSender,
        reload: Option<ReloadSender>,
    ) -> anyhow::Result<Service> {
        status.set(Status::Starting);
        let host = Host::new(&status, config.clone(), document.clone()).with_reload(reload);
        let mut svc = Service {
            receivers_stop: CancellationToken::new(),
            extensions_stop: CancellationToken::new(),
            host,
            extensions: Vec::new(),
            exporters: BTreeMap::new(),
            pipelines: BTreeMap::new(),
            receivers: BTreeMap::new(),
            retiring: Vec::new(),
            status,
        };
        match svc.apply(config, document).await {
            Ok(_) => {
                svc.status.set(Status::Ready(std::time::SystemTime::now()));
                Ok(svc)
            }
            Err(e) => {
                svc.shutdown(Duration::from_secs(5)).await;
                Err(e)
            }
        }
    }

    /// Moves the running graph to `next`, keeping what did not change (see the module doc).
    /// Nothing accepted is lost: rerouted receivers finish in-flight hand-overs on the old
    /// route, and replaced pipelines and exporters drain in the background (joined by
    /// [`Service::shutdown`]). On an error the service is left consistent but partly
    /// updated: the caller should [`Service::drain`] it and start a fresh one.
    pub async fn apply(
        &mut self,
        next: Arc<Config>,
        document: Arc<serde_json::Value>,
    ) -> anyhow::Result<ReloadReport> {
        let mut report = ReloadReport::default();

        // Authenticator extensions that are replaced or removed: components using them restart.
        let changed_auth: Vec<ComponentId> = self
            .extensions
            .iter()
            .filter(|(id, e)| {
                e.auth.is_some()
                    && (next.extensions.get(id) != Some(&e.raw)
                        || !next.service.extensions.contains(id))
            })
            .map(|(id, _)| id.clone())
            .collect();

        // Receivers and extensions that change stop first: their ports are needed again.
        let keep_receiver = |id: &ComponentId, r: &RunningReceiver| {
            next.receivers.get(id) == Some(&r.raw)
                && consumer_signals(&r.consumers) == receiver_signals(&next, id)
                && !uses_authenticator(&r.raw, &changed_auth)
        };
        let stopping: Vec<ComponentId> = self
            .receivers
            .iter()
            .filter(|(id, r)| !keep_receiver(id, r))
            .map(|(id, _)| id.clone())
            .collect();
        for id in stopping {
            let r = self.receivers.remove(&id).expect("listed");
            r.stop.cancel();
            if let Err(e) = r.handle.await {
                tracing::error!(receiver = %id, error = %e, "receiver task failed");
            }
            report.stopped.push(format!("receiver {id}"));
        }
        let wanted_ext: BTreeSet<&ComponentId> = next.service.extensions.iter().collect();
        let mut kept_ext = Vec::new();
        for (id, e) in std::mem::take(&mut self.extensions).into_iter().rev() {
            if wanted_ext.contains(&id) && next.extensions.get(&id) == Some(&e.raw) {
                kept_ext.push((id, e));
            } else {
                e.stop.cancel();
                if let Err(err) = e.handle.await {
                    tracing::error!(extension = %id, error = %err, "extension task failed");
                }
                report.stopped.push(format!("extension {id}"));
            }
        }
        kept_ext.reverse();
        self.host.publish(next.clone(), document);

        // Extensions in the listed order, as the collector starts them before pipelines.
        let mut by_id: BTreeMap<ComponentId, RunningExtension> = kept_ext.into_iter().collect();
        for id in &next.service.extensions {
            let ext = match by_id.remove(id) {
                Some(e) => {
                    report.kept.push(format!("extension {id}"));
                    e
                }
                None => {
                    let stop = self.extensions_stop.child_token();
                    let e = start_extension(&next, id, stop, &self.host).await?;
                    report.started.push(format!("extension {id}"));
                    e
                }
            };
            self.extensions.push((id.clone(), ext));
        }
        let storages: BTreeMap<ComponentId, StorageSpec> = self
            .extensions
            .iter()
            .filter_map(|(id, e)| e.storage.clone().map(|s| (id.clone(), s)))
            .collect();
        let auth = Authenticators(
            self.extensions
                .iter()
                .filter_map(|(id, e)| e.auth.clone().map(|a| (id.clone(), a)))
                .collect(),
        );

        // Exporters: one instance per ID, shared by every pipeline that lists it; kept when
        // its config and storage are unchanged.
        let mut retire_pipelines = Vec::new();
        let mut retire_exporters = Vec::new();
        let wanted_exp: BTreeSet<&ComponentId> = next
            .service
            .pipelines
            .values()
            .flat_map(|p| &p.exporters)
            .collect();
        for id in wanted_exp {
            let (exp, storage) = exporter_storage(&next, id, &storages)?;
            if let Some(old) = self.exporters.get(id) {
                if next.exporters.get(id) == Some(&old.raw)
                    && storage == old.storage
                    && !uses_authenticator(&old.raw, &changed_auth)
                {
                    report.kept.push(format!("exporter {id}"));
                    continue;
                }
            }
            if let Some(old) = self.exporters.remove(id) {
                // Its pipelines are replaced too (their signature names it, but the instance
                // changes), and they drain into the old instance first.
                retire_exporters.push((id.clone(), old));
                report.stopped.push(format!("exporter {id}"));
            }
            let started = start_exporter(&next, id, exp, storage, &auth).await?;
            report.started.push(format!("exporter {id}"));
            self.exporters.insert(id.clone(), started);
        }
        let replaced: BTreeSet<ComponentId> =
            retire_exporters.iter().map(|(id, _)| id.clone()).collect();
        let unused: Vec<ComponentId> = self
            .exporters
            .keys()
            .filter(|id| {
                !next
                    .service
                    .pipelines
                    .values()
                    .any(|p| p.exporters.contains(id))
            })
            .cloned()
            .collect();
        for id in unused {
            let old = self.exporters.remove(&id).expect("listed");
            report.stopped.push(format!("exporter {id}"));
            retire_exporters.push((id, old));
        }

        // Pipelines: kept when their processors, configs and exporters are all unchanged.
        let old_pipelines = std::mem::take(&mut self.pipelines);
        let mut old_pipelines = old_pipelines;
        for (pid, p) in &next.service.pipelines {
            let same = old_pipelines.get(pid).is_some_and(|old| {
                old.signature == pipeline_signature(&next, p)
                    && !p.exporters.iter().any(|e| replaced.contains(e))
            });
            if same {
                let old = old_pipelines.remove(pid).expect("checked");
                report.kept.push(format!("pipeline {pid}"));
                self.pipelines.insert(pid.clone(), old);
                continue;
            }
            if let Some(old) = old_pipelines.remove(pid) {
                retire_pipelines.push((pid.clone(), old));
                report.stopped.push(format!("pipeline {pid}"));
            }
            let started = start_pipeline(&next, pid, p, &self.exporters)?;
            report.started.push(format!("pipeline {pid}"));
            self.pipelines.insert(pid.clone(), started);
        }
        for (pid, old) in old_pipelines {
            report.stopped.push(format!("pipeline {pid}"));
            retire_pipelines.push((pid, old));
        }

        // Receivers: kept ones are rerouted, the others started.
        let routes = self.routes(&next);
        for (id, consumers) in routes {
            if let Some(r) = self.receivers.get(&id) {
                for signal in [Signal::Traces, Signal::Metrics, Signal::Logs] {
                    if let (Some(old), Some(new)) = (r.consumers.get(signal), consumers.get(signal))
                    {
                        old.reroute(new);
                    }
                }
                report.kept.push(format!("receiver {id}"));
                continue;
            }
            let stop = self.receivers_stop.child_token();
            let r = start_receiver(&next, &id, consumers, stop, &auth).await?;
            report.started.push(format!("receiver {id}"));
            self.receivers.insert(id, r);
        }

        // Replaced pipelines drain into their exporters, then replaced exporters drain.
        if !retire_pipelines.is_empty() || !retire_exporters.is_empty() {
            self.retiring
                .push(tokio::spawn(retire(retire_pipelines, retire_exporters)));
        }
        Ok(report)
    }

    /// Each receiver's consumers for `config`, over the running pipelines.
    fn routes(&self, config: &Config) -> BTreeMap<ComponentId, Consumers> {
        let mut feeds: BTreeMap<(ComponentId, Signal), Feed> = BTreeMap::new();
        for (pid, p) in &config.service.pipelines {
            let Some(running) = self.pipelines.get(pid) else {
                continue;
            };
            for rid in &p.receivers {
                let f = feeds.entry((rid.clone(), pid.signal)).or_default();
                f.0.push(running.input.clone());
                f.1.extend(running.gates.iter().cloned());
                f.2 |= running.acking;
                f.3 |= running.decodes;
            }
        }
        let mut out: BTreeMap<ComponentId, Consumers> = BTreeMap::new();
        for ((rid, signal), (inputs, gates, acking, decodes)) in feeds {
            let consumer = Consumer::new(rid.clone(), signal, inputs)
                .with_gates(Gates::new(gates))
                .with_acks(acking)
                .with_decode(decodes);
            out.entry(rid).or_default().set(signal, consumer);
        }
        out
    }

    /// Stops receivers from accepting, drains everything already accepted through processors
    /// and exporters, then stops extensions. Returns false if `deadline` passed first (what was
    /// still in flight is then abandoned and logged).
    pub async fn shutdown(self, deadline: Duration) -> bool {
        self.status.set(Status::Stopping);
        self.drain(deadline).await
    }

    /// As [`Service::shutdown`], without touching the status (a newer graph may own it).
    pub async fn drain(self, deadline: Duration) -> bool {
        let Service {
            receivers_stop,
            extensions_stop,
            host: _,
            extensions,
            exporters,
            pipelines,
            receivers,
            retiring,
            status: _,
        } = self;
        receivers_stop.cancel();
        let drain = async {
            for (id, r) in receivers {
                if let Err(e) = r.handle.await {
                    tracing::error!(receiver = %id, error = %e, "receiver task failed");
                }
            }
            retire(
                pipelines.into_iter().collect(),
                exporters.into_iter().collect(),
            )
            .await;
            for h in retiring {
                let _ = h.await;
            }
        };
        let drained = tokio::time::timeout(deadline, drain).await.is_ok();
        if !drained {
            tracing::error!(
                deadline_secs = deadline.as_secs_f64(),
                "shutdown deadline passed before all accepted data was exported; the rest is dropped"
            );
        }
        extensions_stop.cancel();
        for (id, e) in extensions.into_iter().rev() {
            if let Err(err) = e.handle.await {
                tracing::error!(extension = %id, error = %err, "extension task failed");
            }
        }
        drained
    }
}

/// What one receiver's signal feeds: pipeline inputs, their gates, whether any acknowledges.
type Feed = (Vec<PipelineInput>, Vec<Arc<dyn Gate>>, bool, bool);

/// The signals a running receiver was started with.
fn consumer_signals(c: &Consumers) -> Vec<Signal> {
    [Signal::Traces, Signal::Metrics, Signal::Logs]
        .into_iter()
        .filter(|s| c.get(*s).is_some())
        .collect()
}

/// Lets pipelines drain into their exporters, then exporters drain their queues. Each ends once
/// the last sender of its input is gone, so their inputs are dropped here first.
async fn retire(
    pipelines: Vec<(PipelineId, RunningPipeline)>,
    exporters: Vec<(ComponentId, RunningExporter)>,
) {
    let pipelines: Vec<_> = pipelines
        .into_iter()
        .map(|(pid, p)| (pid, p.handle))
        .collect();
    for (pid, h) in pipelines {
        if let Err(e) = h.await {
            tracing::error!(pipeline = %pid, error = %e, "pipeline task failed");
        }
    }
    let exporters: Vec<_> = exporters
        .into_iter()
        .map(|(id, e)| (id, e.handle))
        .collect();
    for (id, h) in exporters {
        if let Err(e) = h.await {
            tracing::error!(exporter = %id, error = %e, "exporter task failed");
        }
    }
}
