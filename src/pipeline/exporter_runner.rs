//! The exporter runner: one per exporter ID, fed by every pipeline that lists it. It holds the
//! exporter's bounded queue (`sending_queue.queue_size`), runs up to `num_consumers` exports
//! at once, and retries retryable failures with backoff (`retry_on_failure`). A full queue
//! blocks the pipelines feeding it, so the receivers refuse new data instead of dropping it.

use std::sync::Arc;

use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

use super::retry::{Backoff, RetryConfig};
use crate::component::{ComponentId, ExportError, Exporter, ExporterBatch, Sizer, StorageSpec};
use crate::signal::{Batch, Payload};
use crate::telemetry::{exporter_health, metrics as own, spans, LogOnce};

/// Where an exporter's input goes: an in-memory queue, or a persistent one.
#[derive(Clone)]
enum Target {
    Memory {
        tx: mpsc::Sender<Queued>,
        /// Items/bytes budget, taken before queueing (none with the requests sizer, or when an
        /// exporter-side batch stage takes it after batching).
        budget: Option<Budget>,
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
    /// The exporter's [`Exporter::gzip_level`] (none behind a persistent queue, which
    /// stores requests uncompressed).
    gzip_level: Option<u32>,
}

impl ExporterInput {
    /// The gzip level the exporter compresses encoded requests at, if any.
    pub fn gzip_level(&self) -> Option<u32> {
        self.gzip_level
    }

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
            gzip_level: None,
        }
    }

    /// Queues a batch for export, waiting for space (back-pressure).
    pub async fn send(&self, mut batch: Batch) {
        match &self.target {
            Target::Durable { writer, .. } => writer.write(batch).await,
            Target::Memory {
                tx,
                keep_acks,
                budget,
            } => {
                if !keep_acks {
                    batch.acks.release();
                }
                let signal = batch.signal();
                let items = batch.item_count() as u64;
                let permit = match budget {
                    Some(b) => Some(b.acquire(&batch).await),
                    None => None,
                };
                if tx.send((batch, permit)).await.is_err() {
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
    let capacity = settings.capacity.max(1);
    // With the requests sizer the channel itself is the bound; with items or bytes a budget of
    // `capacity` units is, and the channel only caps the number of batches.
    let budget = match settings.sizer {
        Sizer::Requests => None,
        sizer => Some(Budget {
            sem: Arc::new(Semaphore::new(capacity)),
            sizer,
            capacity,
        }),
    };
    let (tx, mut rx) = mpsc::channel::<Queued>(capacity.min(65_536));
    let input_tx = match settings.batch.clone() {
        None => tx,
        Some(b) => {
            let (stage_tx, stage_rx) = mpsc::channel::<Queued>(capacity.min(65_536));
            tokio::spawn(batch_stage(id.clone(), b, stage_rx, tx, budget.clone()));
            stage_tx
        }
    };
    // otelcol_exporter_queue_size / _capacity, in the sizer's units.
    own::exporter_queue_capacity(&id, capacity);
    own::exporter_queue_size(&id, 0);
    let gauge_budget = budget.clone();
    let input = ExporterInput {
        id: id.clone(),
        gzip_level: exporter.gzip_level(),
        target: Target::Memory {
            tx: input_tx,
            keep_acks: settings.wait_for_result,
            budget: if settings.batch.is_some() {
                None
            } else {
                budget
            },
        },
    };
    let exporter: Arc<dyn Exporter> = Arc::from(exporter);
    let retry = Arc::new(settings.retry);
    let handle = tokio::spawn(async move {
        let limit = Arc::new(Semaphore::new(concurrency));
        let log_once = Arc::new(LogOnce::default());
        while let Some((batch, budget_permit)) = rx.recv().await {
            let queued = match &gauge_budget {
                Some(b) => b.capacity - b.sem.available_permits().min(b.capacity),
                None => rx.len(),
            };
            own::exporter_queue_size(&id, queued);
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
                drop(budget_permit);
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

/// A batch on its way to export, with the queue budget it holds (items or bytes sizers).
type Queued = (Batch, Option<OwnedSemaphorePermit>);

/// The queue budget for the items and bytes sizers.
#[derive(Clone)]
struct Budget {
    sem: Arc<Semaphore>,
    sizer: Sizer,
    capacity: usize,
}

impl Budget {
    /// Waits until the batch fits in the queue (back-pressure), then holds its share.
    async fn acquire(&self, batch: &Batch) -> OwnedSemaphorePermit {
        let cost = match self.sizer {
            Sizer::Items => batch.item_count(),
            Sizer::Bytes => batch.payload.encoded_len(),
            Sizer::Requests => 1,
        };
        // A batch larger than the whole queue still goes, alone.
        let cost = cost.clamp(1, self.capacity) as u32;
        self.sem
            .clone()
            .acquire_many_owned(cost)
            .await
            .expect("budget semaphore open")
    }
}

/// Exporter-side batching (`sending_queue.batch`): the batch processor's logic between the
/// exporter's input and its queue.
async fn batch_stage(
    id: ComponentId,
    cfg: ExporterBatch,
    mut rx: mpsc::Receiver<Queued>,
    tx: mpsc::Sender<Queued>,
    budget: Option<Budget>,
) {
    use crate::component::Processor;
    use crate::processors::batch::{BatchConfig, BatchProcessor};
    let mut batcher = BatchProcessor::new(
        id,
        BatchConfig {
            send_batch_size: cfg.min_size as u32,
            timeout: cfg.flush_timeout,
            send_batch_max_size: cfg.max_size as u32,
            ..BatchConfig::default()
        },
    );
    let forward = |out: Vec<Batch>| {
        let tx = tx.clone();
        let budget = budget.clone();
        async move {
            for b in out {
                let permit = match &budget {
                    Some(bu) => Some(bu.acquire(&b).await),
                    None => None,
                };
                let _ = tx.send((b, permit)).await;
            }
        }
    };
    loop {
        let sleep = super::sleep_until_deadline(batcher.next_deadline());
        let mut out = Vec::new();
        tokio::select! {
            biased;
            msg = rx.recv() => match msg {
                Some((b, _)) => batcher.process(b, &mut out),
                None => break,
            },
            _ = sleep => batcher.on_deadline(std::time::Instant::now() + super::TIMER_SLACK, &mut out),
        }
        forward(out).await;
    }
    let mut out = Vec::new();
    batcher.shutdown(&mut out);
    forward(out).await;
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
        let span_name = format!("exporter/{}/export", self.id);
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let (start, started) = (std::time::SystemTime::now(), std::time::Instant::now());
            let result = match &batch.payload {
                Payload::Decoded(data) => self.exporter.export(data).await,
                Payload::Encoded(encoded) => self.exporter.export_encoded(encoded).await,
            };
            spans::record(
                &span_name,
                spans::SpanRecord {
                    start,
                    duration: started.elapsed(),
                    attributes: vec![
                        ("signal", signal.to_string()),
                        ("items", items.to_string()),
                        ("attempt", attempt.to_string()),
                    ],
                    error: result.as_ref().err().map(|e| e.to_string()),
                },
            );
            let err = match result {
                Ok(()) => {
                    own::exporter_sent(&self.id, signal, items);
                    return;
                }
                Err(e) => e,
            };
            exporter_health::record_failure(&self.id.to_string());
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
