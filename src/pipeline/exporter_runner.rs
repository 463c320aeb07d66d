//! The exporter runner: one per exporter ID, fed by every pipeline that lists it. It holds the
//! exporter's bounded queue (`sending_queue.queue_size`), runs up to `num_consumers` exports
//! at once, and retries retryable failures with backoff (`retry_on_failure`). A full queue
//! blocks the pipelines feeding it, so the receivers refuse new data instead of dropping it.

use std::sync::Arc;

use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;

use super::retry::{Backoff, RetryConfig};
use crate::component::{ComponentId, ExportError, Exporter, StorageSpec};
use crate::signal::Batch;
use crate::telemetry::{metrics as own, LogOnce};

/// Where an exporter's input goes: an in-memory queue, or a persistent one.
#[derive(Clone)]
enum Target {
    Memory {
        tx: mpsc::Sender<Batch>,
        /// Keep senders' acknowledgements until the export finished (`wait_for_result`);
        /// else they are released once the batch is queued.
        keep_acks: bool,
    },
    Durable {
        writer: Arc<dyn DurableWriter>,
        /// Dropped with the last input: tells the runner to stop.
        _alive: mpsc::Sender<()>,
    },
}

/// Writes batches to a persistent queue (see `durable_runner`).
#[async_trait::async_trait]
pub trait DurableWriter: Send + Sync {
    /// Writes the batch durably, then releases its acknowledgements; on failure marks them
    /// failed, counts and logs.
    async fn write(&self, batch: Batch);
}

/// The sending end of an exporter's queue, shared by the pipelines that list it.
#[derive(Clone)]
pub struct ExporterInput {
    id: ComponentId,
    target: Target,
}

impl ExporterInput {
    /// An input writing to a persistent queue; the runner stops once every clone (and so
    /// `alive`) is dropped.
    pub fn durable(
        id: ComponentId,
        writer: Arc<dyn DurableWriter>,
        alive: mpsc::Sender<()>,
    ) -> Self {
        ExporterInput {
            id,
            target: Target::Durable {
                writer,
                _alive: alive,
            },
        }
    }

    /// Queues a batch for export, waiting for space (back-pressure).
    pub async fn send(&self, mut batch: Batch) {
        match &self.target {
            Target::Durable { writer, .. } => writer.write(batch).await,
            Target::Memory { tx, keep_acks } => {
                if !keep_acks {
                    batch.acks.release();
                }
                let signal = batch.signal();
                let items = batch.item_count() as u64;
                if tx.send(batch).await.is_err() {
                    // The runner only stops after all pipelines are gone, so this is a bug,
                    // not load.
                    own::exporter_enqueue_failed(&self.id, signal, items);
                    tracing::error!(exporter = %self.id, items, "exporter queue closed; batch dropped");
                }
            }
        }
    }
}

/// Spawns the runner for one exporter. It ends once all [`ExporterInput`]s are dropped and
/// every queued batch has been exported (or has failed for good), then calls `shutdown`.
pub fn spawn_exporter(
    id: ComponentId,
    exporter: Box<dyn Exporter>,
    durable: Option<StorageSpec>,
) -> anyhow::Result<(ExporterInput, JoinHandle<()>)> {
    if let Some(spec) = durable {
        return super::durable_runner::spawn(id, exporter, spec);
    }
    Ok(spawn_in_memory(id, exporter))
}

fn spawn_in_memory(
    id: ComponentId,
    exporter: Box<dyn Exporter>,
) -> (ExporterInput, JoinHandle<()>) {
    let settings = exporter.queue_settings();
    let concurrency = settings.concurrency.max(1);
    let (tx, mut rx) = mpsc::channel::<Batch>(settings.capacity.max(1));
    let exporter: Arc<dyn Exporter> = Arc::from(exporter);
    let retry = Arc::new(settings.retry);
    let input = ExporterInput {
        id: id.clone(),
        target: Target::Memory {
            tx,
            keep_acks: settings.wait_for_result,
        },
    };
    let handle = tokio::spawn(async move {
        let limit = Arc::new(Semaphore::new(concurrency));
        let log_once = Arc::new(LogOnce::default());
        while let Some(batch) = rx.recv().await {
            let permit = limit.clone().acquire_owned().await.expect("semaphore open");
            let job = Job {
                exporter: exporter.clone(),
                id: id.clone(),
                retry: retry.clone(),
                log_once: log_once.clone(),
                keep_trying: false,
            };
            tokio::spawn(async move {
                job.run(batch).await;
                drop(permit);
            });
        }
        // Wait for in-flight exports (and their retries) to finish.
        let _ = limit.acquire_many(concurrency as u32).await;
        exporter.shutdown().await;
        tracing::debug!(exporter = %id, "exporter drained");
    });
    (input, handle)
}

/// One batch's export with retries.
pub(super) struct Job {
    pub(super) exporter: Arc<dyn Exporter>,
    pub(super) id: ComponentId,
    pub(super) retry: Arc<RetryConfig>,
    pub(super) log_once: Arc<LogOnce>,
    /// Keep retrying retryable failures past the retry budget (the data is on disk).
    pub(super) keep_trying: bool,
}

impl Job {
    /// Exports one batch, retrying retryable failures until success, a permanent error, or
    /// the retry budget runs out. Every outcome is counted; drops are logged once per cause.
    pub(super) async fn run(self, batch: Batch) {
        let signal = batch.signal();
        let items = batch.item_count() as u64;
        let mut backoff = Backoff::new(&self.retry);
        loop {
            let err = match self.exporter.export(&batch.data).await {
                Ok(()) => {
                    own::exporter_sent(&self.id, signal, items);
                    return;
                }
                Err(e) => e,
            };
            let (reason, wait) = match &err {
                ExportError::Permanent(_) => ("permanent error, not retryable", None),
                ExportError::Retryable { retry_after, .. } => {
                    match backoff.next(*retry_after, rand::random::<f64>()) {
                        Some(w) => ("", Some(w)),
                        None if self.keep_trying && self.retry.enabled => {
                            if self.log_once.first(&format!("budget:{}", err.cause_key())) {
                                tracing::warn!(exporter = %self.id, error = %err,
                                    "retry budget spent; the persistent queue keeps the data and keeps retrying");
                            }
                            (
                                "",
                                Some(
                                    self.retry
                                        .max_interval
                                        .max(std::time::Duration::from_millis(100)),
                                ),
                            )
                        }
                        None if self.retry.enabled => ("retries exhausted", None),
                        None => ("retries disabled", None),
                    }
                }
            };
            match wait {
                Some(w) => {
                    if self.log_once.first(&format!("retry:{}", err.cause_key())) {
                        tracing::warn!(exporter = %self.id, %signal, items, error = %err,
                            retry_in = ?w, "export failed; will retry (later retries for this cause are not logged)");
                    }
                    tokio::time::sleep(w).await;
                }
                None => {
                    batch.acks.fail(&format!("export failed: {err}"));
                    own::exporter_send_failed(&self.id, signal, items);
                    if self
                        .log_once
                        .first(&format!("drop:{reason}:{}", err.cause_key()))
                    {
                        tracing::error!(exporter = %self.id, %signal, items, error = %err, reason,
                            "export failed; data dropped (further drops with this cause are counted, not logged)");
                    }
                    return;
                }
            }
        }
    }
}
