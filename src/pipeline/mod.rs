//! The running graph's plumbing: fan-out consumers at receivers, the pipeline task that runs
//! processors in order, and the exporter runner. Stages are joined by bounded queues, so a
//! stalled exporter fills the queues behind it and receivers answer with retryable errors.

pub mod ack;
pub mod admission;
mod consumer;
mod durable_runner;
mod exporter_runner;
mod pipeline_task;
pub mod retry;

pub use consumer::{ConsumeError, Consumer, Consumers};
pub use exporter_runner::{spawn_exporter, DurableWriter, ExporterInput};
pub use pipeline_task::{spawn_pipeline, PipelineInput};

/// Capacity, in batches, of the queue in front of each pipeline.
pub const PIPELINE_QUEUE_BATCHES: usize = 64;
/// Capacity, in batches, of the queue in front of each exporter.
pub const EXPORTER_QUEUE_BATCHES: usize = 64;
/// How long a receiver waits for queue space before refusing with a retryable error.
pub const ADMIT_WAIT: std::time::Duration = std::time::Duration::from_millis(100);

#[cfg(test)]
mod tests;
