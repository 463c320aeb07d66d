//! The exporter runner: one per exporter ID, fed by every pipeline that lists it, running up
//! to `concurrency` exports at once.

use std::sync::Arc;

use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;

use crate::component::{ComponentId, Exporter};
use crate::signal::Batch;
use crate::telemetry::{metrics as own, LogOnce};

/// The sending end of an exporter's queue, shared by the pipelines that list it.
#[derive(Clone)]
pub struct ExporterInput {
    id: ComponentId,
    tx: mpsc::Sender<Batch>,
}

impl ExporterInput {
    /// Queues a batch for export, waiting for space (back-pressure).
    pub async fn send(&self, batch: Batch) {
        let signal = batch.signal();
        let items = batch.item_count() as u64;
        if self.tx.send(batch).await.is_err() {
            // The runner only stops after all pipelines are gone, so this is a bug, not load.
            own::exporter_enqueue_failed(&self.id, signal, items);
            tracing::error!(exporter = %self.id, items, "exporter queue closed; batch dropped");
        }
    }
}

/// Spawns the runner for one exporter. It ends once all [`ExporterInput`]s are dropped and
/// every queued batch has been exported (or has failed), then calls `shutdown`.
pub fn spawn_exporter(
    id: ComponentId,
    exporter: Box<dyn Exporter>,
    concurrency: usize,
) -> (ExporterInput, JoinHandle<()>) {
    let (tx, mut rx) = mpsc::channel::<Batch>(super::EXPORTER_QUEUE_BATCHES);
    let exporter: Arc<dyn Exporter> = Arc::from(exporter);
    let input = ExporterInput { id: id.clone(), tx };
    let handle = tokio::spawn(async move {
        let limit = Arc::new(Semaphore::new(concurrency.max(1)));
        let log_once = Arc::new(LogOnce::default());
        while let Some(batch) = rx.recv().await {
            let permit = limit.clone().acquire_owned().await.expect("semaphore open");
            let exporter = exporter.clone();
            let id = id.clone();
            let log_once = log_once.clone();
            tokio::spawn(async move {
                let signal = batch.signal();
                let items = batch.item_count() as u64;
                match exporter.export(batch.data).await {
                    Ok(()) => own::exporter_sent(&id, signal, items),
                    Err(e) => {
                        own::exporter_send_failed(&id, signal, items);
                        if log_once.first(&e.cause_key()) {
                            tracing::error!(exporter = %id, %signal, items, error = %e,
                                "export failed; data dropped (further failures with this cause are counted, not logged)");
                        }
                    }
                }
                drop(permit);
            });
        }
        // Wait for in-flight exports to finish.
        let _ = limit.acquire_many(concurrency.max(1) as u32).await;
        exporter.shutdown().await;
        tracing::debug!(exporter = %id, "exporter drained");
    });
    (input, handle)
}
