//! The validated, typed shape of a Sluice config.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use crate::component::ComponentId;
use crate::signal::Signal;

/// A loaded and validated config. Component configs stay raw (`Value`); each component's
/// factory decodes its own, so validation and creation share one decoder.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// `receivers:` by ID, as written (deprecated type names kept as the user spelled them).
    pub receivers: BTreeMap<ComponentId, Value>,
    /// `processors:` by ID.
    pub processors: BTreeMap<ComponentId, Value>,
    /// `exporters:` by ID.
    pub exporters: BTreeMap<ComponentId, Value>,
    /// `extensions:` by ID.
    pub extensions: BTreeMap<ComponentId, Value>,
    /// `service:`.
    pub service: ServiceConfig,
}

/// The `service:` section.
#[derive(Debug, Clone, Default)]
pub struct ServiceConfig {
    /// Extensions to run, in order.
    pub extensions: Vec<ComponentId>,
    /// Pipelines by ID.
    pub pipelines: BTreeMap<PipelineId, PipelineConfig>,
    /// `service.telemetry`.
    pub telemetry: TelemetryConfig,
}

/// A pipeline ID: `traces`, `metrics/internal`, …
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PipelineId {
    /// The pipeline's signal.
    pub signal: Signal,
    /// The optional name after `/`.
    pub name: Option<String>,
}

impl fmt::Display for PipelineId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(n) => write!(f, "{}/{}", self.signal, n),
            None => write!(f, "{}", self.signal),
        }
    }
}

/// One pipeline's components, in order.
#[derive(Debug, Clone, Default)]
pub struct PipelineConfig {
    /// Receivers feeding the pipeline.
    pub receivers: Vec<ComponentId>,
    /// Processors, run in this order.
    pub processors: Vec<ComponentId>,
    /// Exporters the pipeline fans out to.
    pub exporters: Vec<ComponentId>,
}

/// `service.telemetry`.
#[derive(Debug, Clone)]
pub struct TelemetryConfig {
    /// `logs.level`: debug, info (default), warn, error.
    pub log_level: String,
    /// `metrics`: where Sluice serves its own metrics, and how many.
    pub metrics: crate::telemetry::server::MetricsSettings,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            log_level: "info".to_string(),
            metrics: Default::default(),
        }
    }
}
