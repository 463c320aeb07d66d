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
/// Sleeps until a processor's deadline (a batch timeout), within about a millisecond either
/// side. tokio's timer counts whole milliseconds and rounds up twice (the deadline to its
/// tick, and the tick to epoll's millisecond timeout), so a plain `sleep_until` wakes 0–2 ms
/// late, 1 ms on average; asking for one millisecond earlier centres the wake on the
/// deadline. Callers fire deadlines up to [`TIMER_SLACK`] after the time they wake at.
pub async fn sleep_until_deadline(deadline: Option<std::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.checked_sub(TIMER_SLACK).unwrap_or(d).into()).await,
        None => std::future::pending().await,
    }
}

/// How early [`sleep_until_deadline`] may wake, and so how far ahead deadlines are fired.
pub const TIMER_SLACK: std::time::Duration = std::time::Duration::from_millis(1);

/// How long a receiver waits for queue space before refusing with a retryable error.
pub const ADMIT_WAIT: std::time::Duration = std::time::Duration::from_millis(100);

#[cfg(test)]
mod tests;
