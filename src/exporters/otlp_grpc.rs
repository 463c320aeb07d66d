//! TEMPORARY placeholder; the exporters helper replaces this module.
use crate::component::{ComponentConfigError, ComponentId, Exporter};
use crate::registry::Factory;
use crate::signal::Signal;

/// Factory.
pub const FACTORY: Factory<crate::registry::ExporterCreate> = Factory {
    type_name: "otlp_grpc",
    deprecated_names: &["otlp"],
    signals: &[Signal::Traces, Signal::Metrics, Signal::Logs],
    stability: "development",
    create,
};

fn create(
    _: &ComponentId,
    _: &serde_json::Value,
) -> Result<Box<dyn Exporter>, ComponentConfigError> {
    Err(ComponentConfigError::at(&[], "placeholder"))
}
