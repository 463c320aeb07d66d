//! The running parts of a service, each with the config it was built from, and how each kind
//! is built and started from the registry. Kept between reloads when their config is equal.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{anyhow, Context};
use serde_json::Value;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::auth::{Authenticator, Authenticators};
use crate::component::{ComponentId, ExtensionContext, ReceiverContext, StorageSpec};
use crate::config::{Config, PipelineConfig, PipelineId};
use crate::pipeline::admission::Gate;
use crate::pipeline::{self, Consumers, ExporterInput, PipelineInput};
use crate::registry;
use crate::service::host::Host;
use crate::signal::Signal;

/// A started extension.
pub struct RunningExtension {
    /// Its config as written.
    pub raw: Value,
    /// Storage it offers to persistent queues.
    pub storage: Option<StorageSpec>,
    /// The authenticator it offers to receivers and exporters.
    pub auth: Option<Authenticator>,
    /// Stops this extension only.
    pub stop: CancellationToken,
    /// Its task.
    pub handle: JoinHandle<()>,
}

/// A started exporter and the queue in front of it.
pub struct RunningExporter {
    /// Its config as written.
    pub raw: Value,
    /// The storage its persistent queue lives in, if any.
    pub storage: Option<StorageSpec>,
    /// Whether senders must wait for its acknowledgement (persistent queue, wait_for_result).
    pub acking: bool,
    /// Its input; pipelines hold clones. The runner ends once every clone is dropped.
    pub input: ExporterInput,
    /// The runner task.
    pub handle: JoinHandle<()>,
}

/// A started pipeline.
pub struct RunningPipeline {
    /// Processor IDs with their configs and the exporter IDs, as built.
    pub signature: Value,
    /// Its input queue; receivers' routes hold clones.
    pub input: PipelineInput,
    /// Admission gates of its processors (memory_limiter).
    pub gates: Vec<Arc<dyn Gate>>,
    /// Whether an exporter behind it acknowledges.
    pub acking: bool,
    /// Whether a processor in it reads the data (receivers then decode requests up front).
    pub decodes: bool,
    /// The pipeline task.
    pub handle: JoinHandle<()>,
}

/// A started receiver.
pub struct RunningReceiver {
    /// Its config as written.
    pub raw: Value,
    /// The consumers it was given: rerouting them redirects it without a restart.
    pub consumers: Consumers,
    /// Stops this receiver only.
    pub stop: CancellationToken,
    /// Its task.
    pub handle: JoinHandle<()>,
}

fn raw<'a>(
    map: &'a BTreeMap<ComponentId, Value>,
    kind: &str,
    id: &ComponentId,
) -> anyhow::Result<&'a Value> {
    map.get(id)
        .ok_or_else(|| anyhow!("{kind} {id} is not defined"))
}

/// Builds and starts an extension.
pub async fn start_extension(
    config: &Config,
    id: &ComponentId,
    stop: CancellationToken,
    host: &Host,
) -> anyhow::Result<RunningExtension> {
    let raw = raw(&config.extensions, "extension", id)?;
    let (factory, _) = registry::find(registry::extensions(), id.type_name())
        .ok_or_else(|| anyhow!("extension {id}: unknown type"))?;
    let ext = (factory.create)(id, raw).map_err(|e| anyhow!("extension {id}: {e}"))?;
    let storage = ext.storage();
    let auth = ext.authenticator();
    let ctx = ExtensionContext {
        id: id.clone(),
        shutdown: stop.clone(),
        host: host.clone(),
    };
    let handle = ext
        .start(ctx)
        .await
        .with_context(|| format!("extension {id} failed to start"))?;
    Ok(RunningExtension {
        raw: raw.clone(),
        storage,
        auth,
        stop,
        handle,
    })
}

/// The storage extension an exporter's persistent queue names, if any (from its config alone).
pub fn exporter_storage(
    config: &Config,
    id: &ComponentId,
    storages: &BTreeMap<ComponentId, StorageSpec>,
) -> anyhow::Result<(Box<dyn crate::component::Exporter>, Option<StorageSpec>)> {
    let raw = raw(&config.exporters, "exporter", id)?;
    let (factory, _) = registry::find(registry::exporters(), id.type_name())
        .ok_or_else(|| anyhow!("exporter {id}: unknown type"))?;
    let exp = (factory.create)(id, raw).map_err(|e| anyhow!("exporter {id}: {e}"))?;
    let storage = match &exp.queue_settings().storage {
        Some(sid) => Some(storages.get(sid).cloned().ok_or_else(|| {
            anyhow!(
                "exporter {id}: sending_queue.storage {sid} is not an enabled storage extension \
                 (define it under extensions and list it in service.extensions)"
            )
        })?),
        None => None,
    };
    Ok((exp, storage))
}

/// Starts an exporter built by [`exporter_storage`] and its queue runner.
pub async fn start_exporter(
    config: &Config,
    id: &ComponentId,
    mut exp: Box<dyn crate::component::Exporter>,
    storage: Option<StorageSpec>,
    auth: &Authenticators,
) -> anyhow::Result<RunningExporter> {
    if let Some(aid) = exp.auth_id() {
        let a = auth
            .client(&aid)
            .with_context(|| format!("exporter {id}"))?;
        exp.attach_auth(a);
    }
    exp.start()
        .await
        .with_context(|| format!("exporter {id} failed to start"))?;
    let settings = exp.queue_settings();
    let acking = settings.wait_for_result || storage.is_some();
    let (input, handle) = pipeline::spawn_exporter(id.clone(), exp, storage.clone())?;
    Ok(RunningExporter {
        raw: raw(&config.exporters, "exporter", id)?.clone(),
        storage,
        acking,
        input,
        handle,
    })
}

/// What a pipeline is built from: its processors (with configs, in order) and exporters.
pub fn pipeline_signature(config: &Config, pipeline: &PipelineConfig) -> Value {
    let processors: Vec<Value> = pipeline
        .processors
        .iter()
        .map(|id| {
            serde_json::json!([
                id.to_string(),
                config.processors.get(id).cloned().unwrap_or(Value::Null)
            ])
        })
        .collect();
    let exporters: Vec<String> = pipeline.exporters.iter().map(|e| e.to_string()).collect();
    serde_json::json!({"processors": processors, "exporters": exporters})
}

/// Builds a pipeline's processors and spawns it, feeding the given exporters.
pub fn start_pipeline(
    config: &Config,
    pid: &PipelineId,
    pipeline: &PipelineConfig,
    exporters: &BTreeMap<ComponentId, RunningExporter>,
) -> anyhow::Result<RunningPipeline> {
    let mut processors = Vec::with_capacity(pipeline.processors.len());
    for id in &pipeline.processors {
        let raw = raw(&config.processors, "processor", id)?;
        let (factory, _) = registry::find(registry::processors(), id.type_name())
            .ok_or_else(|| anyhow!("processor {id}: unknown type"))?;
        let p = (factory.create)(id, pid.signal, raw)
            .map_err(|e| anyhow!("processor {id} in pipeline {pid}: {e}"))?;
        processors.push((id.clone(), p));
    }
    let gates = processors.iter().filter_map(|(_, p)| p.gate()).collect();
    let decodes = processors.iter().any(|(_, p)| p.reads_data());
    let mut inputs = Vec::with_capacity(pipeline.exporters.len());
    let mut acking = false;
    for id in &pipeline.exporters {
        let e = exporters
            .get(id)
            .ok_or_else(|| anyhow!("exporter {id} of pipeline {pid} is not running"))?;
        acking |= e.acking;
        inputs.push(e.input.clone());
    }
    let (input, handle) = pipeline::spawn_pipeline(pid.to_string(), processors, inputs);
    Ok(RunningPipeline {
        signature: pipeline_signature(config, pipeline),
        input,
        gates,
        acking,
        decodes,
        handle,
    })
}

/// Whether a component's raw config names one of `ids` as its authenticator (anywhere in it:
/// receivers have one per protocol).
pub fn uses_authenticator(raw: &Value, ids: &[ComponentId]) -> bool {
    match raw {
        Value::Object(m) => m.iter().any(|(k, v)| {
            (k == "authenticator"
                && v.as_str()
                    .is_some_and(|s| ids.iter().any(|i| i.to_string() == s)))
                || uses_authenticator(v, ids)
        }),
        Value::Array(a) => a.iter().any(|v| uses_authenticator(v, ids)),
        _ => false,
    }
}

/// The signals a receiver feeds in `config`.
pub fn receiver_signals(config: &Config, id: &ComponentId) -> Vec<Signal> {
    let mut s: Vec<Signal> = config
        .service
        .pipelines
        .iter()
        .filter(|(_, p)| p.receivers.contains(id))
        .map(|(pid, _)| pid.signal)
        .collect();
    s.sort();
    s.dedup();
    s
}

/// Builds and starts a receiver delivering to `consumers`.
pub async fn start_receiver(
    config: &Config,
    id: &ComponentId,
    consumers: Consumers,
    stop: CancellationToken,
    auth: &Authenticators,
) -> anyhow::Result<RunningReceiver> {
    let raw = raw(&config.receivers, "receiver", id)?;
    let (factory, _) = registry::find(registry::receivers(), id.type_name())
        .ok_or_else(|| anyhow!("receiver {id}: unknown type"))?;
    let recv = (factory.create)(id, raw).map_err(|e| anyhow!("receiver {id}: {e}"))?;
    let ctx = ReceiverContext {
        id: id.clone(),
        consumers: consumers.clone(),
        shutdown: stop.clone(),
        auth: auth.clone(),
    };
    let handle = recv
        .start(ctx)
        .await
        .with_context(|| format!("receiver {id} failed to start"))?;
    Ok(RunningReceiver {
        raw: raw.clone(),
        consumers,
        stop,
        handle,
    })
}
