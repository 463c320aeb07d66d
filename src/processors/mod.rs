//! Processors: components that transform telemetry inside a pipeline.

pub mod batch;
pub mod memory_limiter;
