//! Sluice's own telemetry: logs (via `tracing`), counters named as the collector names them,
//! the recorder that keeps them, and the Prometheus endpoint that serves them.

pub mod exporter_health;
pub mod logs;
pub mod memory;
pub mod metrics;
pub mod process;
pub mod registry;
pub mod server;
pub mod spans;

pub use logs::{error_chain, LogOnce};
