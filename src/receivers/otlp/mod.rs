//! TEMPORARY placeholder; the OTLP receiver helper replaces this module.
use crate::component::{ComponentConfigError, ComponentId, Receiver};
use crate::registry::Factory;
use crate::signal::Signal;

/// Factory.
pub const FACTORY: Factory<crate::registry::ReceiverCreate> = Factory {
    type_name: "otlp",
    deprecated_names: &[],
    signals: &[Signal::Traces, Signal::Metrics, Signal::Logs],
    stability: "development",
    create,
};

fn create(
    _: &ComponentId,
    _: &serde_json::Value,
) -> Result<Box<dyn Receiver>, ComponentConfigError> {
    Err(ComponentConfigError::at(&[], "placeholder"))
}
