//! Receivers: components that bring telemetry into Sluice.

pub mod otlp;
pub mod prometheus;
