//! Configuration in the OpenTelemetry Collector's format: loading, `${env:VAR}` expansion,
//! merging of several files, validation against the component registry, and redaction.

pub mod decode;
mod model;

pub use model::{Config, PipelineConfig, PipelineId, ServiceConfig, TelemetryConfig};
mod load_placeholder;
pub use load_placeholder::{load, redact, to_yaml, Errors, Loaded};
