//! Sluice's own telemetry: logs (via `tracing`) and counters named as the collector names them.

pub mod logs;
pub mod memory;
pub mod metrics;

pub use logs::LogOnce;
