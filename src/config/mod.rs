//! Configuration in the OpenTelemetry Collector's format: loading, `${env:VAR}` expansion,
//! merging of several files, validation against the component registry, and redaction.

pub mod decode;
mod error;
mod expand;
mod load;
mod merge;
mod model;
mod redact;
pub mod yaml;

pub use error::{ConfigError, Errors};
pub use load::{load, load_docs, Loaded, Tables};
pub use model::{Config, PipelineConfig, PipelineId, ServiceConfig, TelemetryConfig};
pub use redact::{redact, redact_url_password, REDACTED};

/// Renders a config document as YAML.
pub fn to_yaml(v: &serde_json::Value) -> String {
    serde_saphyr::to_string(v).unwrap_or_else(|e| format!("# cannot render YAML: {e}\n"))
}

#[cfg(test)]
mod tests;
