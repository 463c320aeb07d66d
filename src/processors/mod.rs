//! Processors: components that transform telemetry inside a pipeline.

pub mod batch;
pub mod filter;
pub mod memory_limiter;
pub mod probabilistic_sampler;
pub mod resource;
