//! Component identities and the traits every receiver, processor and exporter implements.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::pipeline::admission::Gate;
use crate::pipeline::retry::RetryConfig;
use crate::pipeline::Consumers;
use crate::signal::{Batch, Data, Encoded};

/// The kind of a component, as in the collector's top-level config sections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Brings data in (`receivers:`).
    Receiver,
    /// Transforms data inside a pipeline (`processors:`).
    Processor,
    /// Sends data out (`exporters:`).
    Exporter,
    /// Runs beside the pipelines (`extensions:`).
    Extension,
    /// Joins pipelines (`connectors:`); not supported yet.
    Connector,
}

impl Kind {
    /// The config section name (`receivers`, …).
    pub fn section(self) -> &'static str {
        match self {
            Kind::Receiver => "receivers",
            Kind::Processor => "processors",
            Kind::Exporter => "exporters",
            Kind::Extension => "extensions",
            Kind::Connector => "connectors",
        }
    }

    /// The singular name (`receiver`, …).
    pub fn singular(self) -> &'static str {
        match self {
            Kind::Receiver => "receiver",
            Kind::Processor => "processor",
            Kind::Exporter => "exporter",
            Kind::Extension => "extension",
            Kind::Connector => "connector",
        }
    }
}

/// A component ID: `type` or `type/name` (e.g. `otlp/jaeger`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ComponentId {
    type_name: String,
    name: Option<String>,
}

impl ComponentId {
    /// Parses `type` or `type/name`; the type must be non-empty and made of letters, digits and `_`.
    pub fn parse(s: &str) -> Result<ComponentId, String> {
        let s = s.trim();
        let (t, n) = match s.split_once('/') {
            Some((t, n)) => (t, Some(n)),
            None => (s, None),
        };
        if t.is_empty() {
            return Err(format!(
                "component id {s:?}: the type part must not be empty"
            ));
        }
        if !t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!(
                "component id {s:?}: the type {t:?} may only contain letters, digits and '_'"
            ));
        }
        if let Some(n) = n {
            if n.is_empty() {
                return Err(format!(
                    "component id {s:?}: the name after '/' must not be empty"
                ));
            }
        }
        Ok(ComponentId {
            type_name: t.to_string(),
            name: n.map(str::to_string),
        })
    }

    /// Builds an ID from a type and optional name.
    pub fn new(type_name: &str, name: Option<&str>) -> ComponentId {
        ComponentId {
            type_name: type_name.to_string(),
            name: name.map(str::to_string),
        }
    }

    /// The component type (`otlp` in `otlp/jaeger`).
    pub fn type_name(&self) -> &str {
        &self.type_name
    }

    /// The instance name (`jaeger` in `otlp/jaeger`), if any.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The same ID with its type replaced (used to map deprecated type names).
    pub fn with_type(&self, type_name: &str) -> ComponentId {
        ComponentId {
            type_name: type_name.to_string(),
            name: self.name.clone(),
        }
    }
}

impl fmt::Display for ComponentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(n) => write!(f, "{}/{}", self.type_name, n),
            None => f.write_str(&self.type_name),
        }
    }
}

/// An error a component reports about its own config: a key path relative to the
/// component's config, a message, and an optional hint ("did you mean …").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentConfigError {
    /// Key path inside the component's config (empty for the component itself).
    pub path: Vec<String>,
    /// What is wrong, in words a user can act on.
    pub message: String,
    /// A suggestion, e.g. `did you mean "endpoint"?`.
    pub hint: Option<String>,
}

impl ComponentConfigError {
    /// An error about the key at `path` (dot-free segments).
    pub fn at(path: &[&str], message: impl Into<String>) -> Self {
        ComponentConfigError {
            path: path.iter().map(|s| s.to_string()).collect(),
            message: message.into(),
            hint: None,
        }
    }

    /// Adds a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for ComponentConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path.join("::"))?;
        }
        f.write_str(&self.message)?;
        if let Some(h) = &self.hint {
            write!(f, " ({h})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ComponentConfigError {}

/// What a receiver is given when it starts.
pub struct ReceiverContext {
    /// The receiver's ID, for logs and metrics.
    pub id: ComponentId,
    /// Where to deliver each signal; `None` for a signal no pipeline takes from this receiver.
    pub consumers: Consumers,
    /// Cancelled when the service stops: stop accepting, finish in-flight requests, return.
    pub shutdown: CancellationToken,
    /// The running authenticator extensions, for `auth: {authenticator: ID}`.
    pub auth: crate::auth::Authenticators,
}

/// A receiver: binds its listeners in `start` and delivers what it accepts to its consumers.
#[async_trait]
pub trait Receiver: Send {
    /// Binds listeners (errors name the address) and spawns the serving task, which must end
    /// once `ctx.shutdown` is cancelled and in-flight requests are answered.
    async fn start(self: Box<Self>, ctx: ReceiverContext) -> anyhow::Result<JoinHandle<()>>;
}

/// A processor instance: one per pipeline that lists it. Processors only see data.
///
/// Processors are synchronous: they transform, drop, split or hold back batches. A processor
/// that holds data (batch) reports when it next wants to flush with `next_deadline`.
pub trait Processor: Send {
    /// Processes one batch, pushing zero or more batches onto `out`.
    fn process(&mut self, batch: Batch, out: &mut Vec<Batch>);

    /// When this processor next wants `on_deadline` called, if it holds data.
    fn next_deadline(&self) -> Option<Instant> {
        None
    }

    /// Called at or after the deadline returned by `next_deadline`.
    fn on_deadline(&mut self, _now: Instant, _out: &mut Vec<Batch>) {}

    /// Whether this processor needs batches decoded (reads or changes the data). Receivers
    /// decode requests up front for a pipeline with such a processor, so the memory it takes
    /// is there when the memory_limiter admits it; processors that only count items or join
    /// requests return false, and their pipelines forward received bytes undecoded.
    fn reads_data(&self) -> bool {
        true
    }

    /// Called once at shutdown: push everything still held onto `out`.
    fn shutdown(&mut self, _out: &mut Vec<Batch>) {}

    /// Admission control to install at the pipeline's entrance, asked by receivers before they
    /// decode a request and before they queue it (memory_limiter). Default: none.
    fn gate(&self) -> Option<Arc<dyn Gate>> {
        None
    }
}

/// Why an export failed, and whether retrying could help.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Retrying may succeed (network error, UNAVAILABLE, HTTP 503…).
    #[error("{message}")]
    Retryable {
        /// What went wrong.
        message: String,
        /// A delay the backend asked for (RetryInfo / Retry-After).
        retry_after: Option<std::time::Duration>,
    },
    /// Retrying cannot help (bad request, unauthenticated…); the data is dropped.
    #[error("{0}")]
    Permanent(String),
}

impl ExportError {
    /// A short, stable description of the cause, used to log each cause once.
    pub fn cause_key(&self) -> String {
        let msg = match self {
            ExportError::Retryable { message, .. } => message,
            ExportError::Permanent(m) => m,
        };
        msg.chars().take(80).collect()
    }
}

/// How the runner in front of an exporter queues, parallelises and retries (the collector's
/// `sending_queue` and `retry_on_failure`).
#[derive(Debug, Clone)]
pub struct QueueSettings {
    /// Exports running at once (`num_consumers`).
    pub concurrency: usize,
    /// Batches the queue holds before it pushes back on the pipelines (`queue_size`).
    pub capacity: usize,
    /// Retry policy for retryable failures.
    pub retry: RetryConfig,
    /// Answer senders only after the export finished (`sending_queue.wait_for_result`).
    pub wait_for_result: bool,
    /// A persistent queue in this storage extension (`sending_queue.storage`).
    pub storage: Option<ComponentId>,
    /// What `capacity` counts (`sending_queue.sizer`).
    pub sizer: Sizer,
    /// Exporter-side batching (`sending_queue.batch`).
    pub batch: Option<ExporterBatch>,
}

/// What a sending queue's capacity counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sizer {
    /// Requests (batches), the collector's default.
    #[default]
    Requests,
    /// Items: spans, data points, log records.
    Items,
    /// Bytes of encoded protobuf.
    Bytes,
}

/// Exporter-side batching settings (`sending_queue.batch`), items counted by `sizer`.
#[derive(Debug, Clone, PartialEq)]
pub struct ExporterBatch {
    /// Send a batch at most this long after its first item arrived.
    pub flush_timeout: std::time::Duration,
    /// Send once this many items are waiting.
    pub min_size: usize,
    /// Never send more than this many items in one request (0: no cap).
    pub max_size: usize,
}

impl Default for QueueSettings {
    fn default() -> Self {
        QueueSettings {
            concurrency: 1,
            capacity: crate::pipeline::EXPORTER_QUEUE_BATCHES,
            retry: RetryConfig::disabled(),
            wait_for_result: false,
            storage: None,
            sizer: Sizer::Requests,
            batch: None,
        }
    }
}

/// An exporter instance: one per exporter ID, fed by every pipeline that lists it.
#[async_trait]
pub trait Exporter: Send + Sync {
    /// Binds whatever the exporter serves (the prometheus exporter's endpoint) before any
    /// receiver starts. Errors name the address. Default: nothing to start.
    async fn start(&self) -> anyhow::Result<()> {
        Ok(())
    }

    /// Sends one batch. May be called concurrently, and again with the same data on retry.
    async fn export(&self, data: &Data) -> Result<(), ExportError>;

    /// Sends one batch that is still encoded as received. Exporters that send OTLP protobuf
    /// override this to send the bytes as they are; the default decodes and calls
    /// [`Exporter::export`].
    async fn export_encoded(&self, data: &Encoded) -> Result<(), ExportError> {
        let decoded = data
            .decode()
            .map_err(|e| ExportError::Permanent(format!("cannot decode request: {e}")))?;
        self.export(&decoded).await
    }

    /// Called once after the last export, before the service exits.
    async fn shutdown(&self) {}

    /// The gzip level this exporter compresses encoded protobuf requests at before sending,
    /// if it does. Pipelines feeding it then let batches be compressed while they grow
    /// ([`crate::signal::Encoded::prefer_gzip`]), and the exporter sends
    /// [`crate::signal::Encoded::gzip`]. Default: none.
    fn gzip_level(&self) -> Option<u32> {
        None
    }

    /// The authenticator extension named by the exporter's `auth:`, if any.
    fn auth_id(&self) -> Option<ComponentId> {
        None
    }

    /// Gives the exporter the client authenticator named by [`Exporter::auth_id`], before
    /// `start`. Exporters that support `auth:` add its headers to every request.
    fn attach_auth(&mut self, _auth: std::sync::Arc<dyn crate::auth::ClientAuth>) {}

    /// Queue, concurrency and retry settings (default: one at a time, no retries).
    fn queue_settings(&self) -> QueueSettings {
        QueueSettings::default()
    }
}

/// What an extension is given when it starts.
pub struct ExtensionContext {
    /// The extension's ID.
    pub id: ComponentId,
    /// Cancelled when the service stops.
    pub shutdown: CancellationToken,
    /// The service's status and config.
    pub host: crate::service::Host,
}

/// Where a storage extension keeps persistent queues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageSpec {
    /// The directory.
    pub directory: std::path::PathBuf,
    /// fsync each write before acknowledging it.
    pub fsync: bool,
}

/// An extension: runs beside the pipelines (health_check, zpages, pprof…).
#[async_trait]
pub trait Extension: Send {
    /// Storage this extension offers to exporters' persistent queues (file_storage).
    fn storage(&self) -> Option<StorageSpec> {
        None
    }

    /// The authenticator this extension offers to receivers and exporters (`auth:`).
    fn authenticator(&self) -> Option<crate::auth::Authenticator> {
        None
    }

    /// Binds listeners and spawns the extension's task, which ends once `ctx.shutdown` is
    /// cancelled.
    async fn start(self: Box<Self>, ctx: ExtensionContext) -> anyhow::Result<JoinHandle<()>>;
}
