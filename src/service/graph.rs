//! Building, starting and stopping the component graph.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::component::{ComponentId, ExtensionContext, ReceiverContext, StorageSpec};
use crate::config::Config;
use crate::pipeline::admission::{Gate, Gates};
use crate::pipeline::{self, Consumer, Consumers, ExporterInput, PipelineInput};
use crate::registry;
use crate::service::host::{Host, ReloadSender, Status, StatusSender};
use crate::signal::Signal;

/// A started service. Drop without `shutdown` aborts nothing gracefully: call `shutdown`.
pub struct Service {
    receivers_stop: CancellationToken,
    extensions_stop: CancellationToken,
    receivers: Vec<(ComponentId, JoinHandle<()>)>,
    pipelines: Vec<(String, JoinHandle<()>)>,
    exporters: Vec<(ComponentId, JoinHandle<()>)>,
    extensions: Vec<(ComponentId, JoinHandle<()>)>,
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
        let host = Host::new(&status, config.clone(), document).with_reload(reload);
        let mut svc = Service {
            receivers_stop: CancellationToken::new(),
            extensions_stop: CancellationToken::new(),
            receivers: Vec::new(),
            pipelines: Vec::new(),
            exporters: Vec::new(),
            extensions: Vec::new(),
            status,
        };
        match svc.build(&config, &host).await {
            Ok(()) => {
                svc.status.set(Status::Ready(std::time::SystemTime::now()));
                Ok(svc)
            }
            Err(e) => {
                svc.shutdown(Duration::from_secs(5)).await;
                Err(e)
            }
        }
    }

    async fn build(&mut self, config: &Config, host: &Host) -> anyhow::Result<()> {
        // Extensions first, as the collector starts them before pipelines.
        let mut storages: BTreeMap<ComponentId, StorageSpec> = BTreeMap::new();
        for id in &config.service.extensions {
            let raw = config
                .extensions
                .get(id)
                .ok_or_else(|| anyhow!("extension {id} is not defined"))?;
            let (factory, _) = registry::find(registry::extensions(), id.type_name())
                .ok_or_else(|| anyhow!("extension {id}: unknown type"))?;
            let ext = (factory.create)(id, raw).map_err(|e| anyhow!("extension {id}: {e}"))?;
            if let Some(spec) = ext.storage() {
                storages.insert(id.clone(), spec);
            }
            let ctx = ExtensionContext {
                id: id.clone(),
                shutdown: self.extensions_stop.clone(),
                host: host.clone(),
            };
            let handle = ext
                .start(ctx)
                .await
                .with_context(|| format!("extension {id} failed to start"))?;
            self.extensions.push((id.clone(), handle));
        }

        // Exporters: one instance per ID, shared by every pipeline that lists it.
        let mut exporter_inputs: BTreeMap<ComponentId, ExporterInput> = BTreeMap::new();
        // Exporters whose senders must wait for an acknowledgement (persistent queue or
        // wait_for_result): the receivers feeding them answer only once data is safe.
        let mut acking: Vec<ComponentId> = Vec::new();
        for pipeline in config.service.pipelines.values() {
            for id in &pipeline.exporters {
                if exporter_inputs.contains_key(id) {
                    continue;
                }
                let raw = config
                    .exporters
                    .get(id)
                    .ok_or_else(|| anyhow!("exporter {id} is not defined"))?;
                let (factory, _) = registry::find(registry::exporters(), id.type_name())
                    .ok_or_else(|| anyhow!("exporter {id}: unknown type"))?;
                let exp = (factory.create)(id, raw).map_err(|e| anyhow!("exporter {id}: {e}"))?;
                exp.start()
                    .await
                    .with_context(|| format!("exporter {id} failed to start"))?;
                let settings = exp.queue_settings();
                let durable = match &settings.storage {
                    Some(sid) => Some(storages.get(sid).cloned().ok_or_else(|| {
                        anyhow!(
                            "exporter {id}: sending_queue.storage {sid} is not an enabled \
                             storage extension (define it under extensions and list it in \
                             service.extensions)"
                        )
                    })?),
                    None => None,
                };
                if settings.wait_for_result || durable.is_some() {
                    acking.push(id.clone());
                }
                let (input, handle) = pipeline::spawn_exporter(id.clone(), exp, durable)?;
                exporter_inputs.insert(id.clone(), input);
                self.exporters.push((id.clone(), handle));
            }
        }

        // Pipelines: one processor instance per pipeline, in the listed order.
        let mut feeds: BTreeMap<(ComponentId, Signal), Vec<PipelineInput>> = BTreeMap::new();
        let mut gates: BTreeMap<(ComponentId, Signal), Vec<Arc<dyn Gate>>> = BTreeMap::new();
        let mut acked: std::collections::BTreeSet<(ComponentId, Signal)> = Default::default();
        for (pid, pipeline) in &config.service.pipelines {
            let mut processors = Vec::with_capacity(pipeline.processors.len());
            for id in &pipeline.processors {
                let raw = config
                    .processors
                    .get(id)
                    .ok_or_else(|| anyhow!("processor {id} is not defined"))?;
                let (factory, _) = registry::find(registry::processors(), id.type_name())
                    .ok_or_else(|| anyhow!("processor {id}: unknown type"))?;
                let p = (factory.create)(id, pid.signal, raw)
                    .map_err(|e| anyhow!("processor {id} in pipeline {pid}: {e}"))?;
                processors.push((id.clone(), p));
            }
            let pipeline_gates: Vec<Arc<dyn Gate>> =
                processors.iter().filter_map(|(_, p)| p.gate()).collect();
            let exporters = pipeline
                .exporters
                .iter()
                .map(|id| exporter_inputs[id].clone())
                .collect();
            let (input, handle) = pipeline::spawn_pipeline(pid.to_string(), processors, exporters);
            for rid in &pipeline.receivers {
                feeds
                    .entry((rid.clone(), pid.signal))
                    .or_default()
                    .push(input.clone());
                gates
                    .entry((rid.clone(), pid.signal))
                    .or_default()
                    .extend(pipeline_gates.iter().cloned());
                if pipeline.exporters.iter().any(|e| acking.contains(e)) {
                    acked.insert((rid.clone(), pid.signal));
                }
            }
            self.pipelines.push((pid.to_string(), handle));
        }
        drop(exporter_inputs);

        // Receivers: one instance per ID, fanning out to every pipeline that lists it.
        let mut consumers: BTreeMap<ComponentId, Consumers> = BTreeMap::new();
        for ((rid, signal), inputs) in feeds {
            let g = Gates::new(gates.remove(&(rid.clone(), signal)).unwrap_or_default());
            let ack = acked.contains(&(rid.clone(), signal));
            consumers.entry(rid.clone()).or_default().set(
                signal,
                Consumer::new(rid, signal, inputs)
                    .with_gates(g)
                    .with_acks(ack),
            );
        }
        for (id, consumers) in consumers {
            let raw = config
                .receivers
                .get(&id)
                .ok_or_else(|| anyhow!("receiver {id} is not defined"))?;
            let (factory, _) = registry::find(registry::receivers(), id.type_name())
                .ok_or_else(|| anyhow!("receiver {id}: unknown type"))?;
            let recv = (factory.create)(&id, raw).map_err(|e| anyhow!("receiver {id}: {e}"))?;
            let ctx = ReceiverContext {
                id: id.clone(),
                consumers,
                shutdown: self.receivers_stop.clone(),
            };
            let handle = recv
                .start(ctx)
                .await
                .with_context(|| format!("receiver {id} failed to start"))?;
            self.receivers.push((id, handle));
        }
        Ok(())
    }

    /// Stops receivers from accepting, drains everything already accepted through processors
    /// and exporters, then stops extensions. Returns false if `deadline` passed first (what was
    /// still in flight is then abandoned and logged).
    pub async fn shutdown(self, deadline: Duration) -> bool {
        self.status.set(Status::Stopping);
        self.drain(deadline).await
    }

    /// The first half of a hand-over to a new graph (hot reload): stops the receivers (each
    /// answers its in-flight requests, so what it accepted is in the pipelines) and the
    /// extensions, which frees their ports for the new graph. Pipelines and exporters keep
    /// running; finish with [`Service::drain`]. The status is left alone.
    pub async fn stop_intake(&mut self) {
        self.receivers_stop.cancel();
        for (id, h) in self.receivers.drain(..) {
            if let Err(e) = h.await {
                tracing::error!(receiver = %id, error = %e, "receiver task failed");
            }
        }
        self.extensions_stop.cancel();
        for (id, h) in self.extensions.drain(..) {
            if let Err(e) = h.await {
                tracing::error!(extension = %id, error = %e, "extension task failed");
            }
        }
    }

    /// As [`Service::shutdown`], without touching the status (a newer graph may own it).
    pub async fn drain(self, deadline: Duration) -> bool {
        let Service {
            receivers_stop,
            extensions_stop,
            receivers,
            pipelines,
            exporters,
            extensions,
            status: _,
        } = self;
        receivers_stop.cancel();
        let drain = async {
            for (id, h) in receivers {
                if let Err(e) = h.await {
                    tracing::error!(receiver = %id, error = %e, "receiver task failed");
                }
            }
            for (name, h) in pipelines {
                if let Err(e) = h.await {
                    tracing::error!(pipeline = %name, error = %e, "pipeline task failed");
                }
            }
            for (id, h) in exporters {
                if let Err(e) = h.await {
                    tracing::error!(exporter = %id, error = %e, "exporter task failed");
                }
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
        for (id, h) in extensions {
            if let Err(e) = h.await {
                tracing::error!(extension = %id, error = %e, "extension task failed");
            }
        }
        drained
    }
}
