//! The exporter runner behind a persistent queue (`sending_queue.storage`): pipelines write
//! each batch to the queue's segment files (and fsync when the storage says so) before the
//! batch's senders are acknowledged; consumers read records back, export them with retries,
//! and only then mark them complete. A crash at any point replays what was not completed (at
//! least once). Retryable failures are retried without a time budget: the data is on disk, so
//! giving up would be a needless loss.

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use prost::Message;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;

use super::exporter_runner::{DurableWriter, ExporterInput, Job};
use crate::component::{ComponentId, Exporter, StorageSpec};
use crate::signal::{Batch, Data, Encoded, Payload, Signal};
use crate::storage::queue::{PersistentQueue, QueueError, QueueOptions};
use crate::telemetry::metrics as own;
use crate::telemetry::LogOnce;

/// Segment files rotate at about this size.
const SEGMENT_BYTES: u64 = 8 * 1024 * 1024;

/// Encodes a batch's payload as a queue record: one signal byte, then the OTLP protobuf
/// request (an encoded payload's bytes as they are).
pub fn encode(payload: &Payload) -> Bytes {
    let mut buf = BytesMut::with_capacity(payload.encoded_len() + 1);
    buf.put_u8(match payload.signal() {
        Signal::Traces => b't',
        Signal::Metrics => b'm',
        Signal::Logs => b'l',
    });
    match payload {
        Payload::Decoded(Data::Traces(r)) => r.encode(&mut buf).expect("BytesMut grows"),
        Payload::Decoded(Data::Metrics(r)) => r.encode(&mut buf).expect("BytesMut grows"),
        Payload::Decoded(Data::Logs(r)) => r.encode(&mut buf).expect("BytesMut grows"),
        Payload::Encoded(e) => {
            for part in e.parts() {
                buf.extend_from_slice(part);
            }
        }
    }
    buf.freeze()
}

/// Reads a queue record written by [`encode`] back as an encoded payload (checked and
/// counted, not decoded: exporters that send protobuf forward it as it is).
pub fn decode(record: &Bytes) -> Result<Payload, String> {
    let (tag, _) = record.split_first().ok_or("empty record")?;
    let signal = match tag {
        b't' => Signal::Traces,
        b'm' => Signal::Metrics,
        b'l' => Signal::Logs,
        other => return Err(format!("unknown record tag {other}")),
    };
    Encoded::parse(signal, record.slice(1..))
        .map(Payload::Encoded)
        .map_err(|e| format!("undecodable record: {e}"))
}

/// The queue directory of one exporter inside a storage directory.
fn queue_dir(spec: &StorageSpec, id: &ComponentId) -> std::path::PathBuf {
    let name: String = id
        .to_string()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    spec.directory.join(format!("exporter_{name}"))
}

/// How long exports in flight may finish at shutdown before they are left to the next start.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(3);

/// Spawns the runner for an exporter with a persistent queue.
pub fn spawn(
    id: ComponentId,
    exporter: Box<dyn Exporter>,
    spec: StorageSpec,
) -> anyhow::Result<(ExporterInput, JoinHandle<()>)> {
    let settings = exporter.queue_settings();
    let dir = queue_dir(&spec, &id);
    let (queue, report) = PersistentQueue::open(
        &dir,
        QueueOptions {
            capacity: settings.capacity.max(1),
            fsync: spec.fsync,
            segment_bytes: SEGMENT_BYTES,
        },
    )
    .map_err(|e| match e {
        QueueError::Locked(d) => anyhow::anyhow!(
            "exporter {id}: persistent queue {} is in use by another process",
            d.display()
        ),
        e => anyhow::anyhow!(
            "exporter {id}: cannot open persistent queue {}: {e}",
            dir.display()
        ),
    })?;
    for problem in &report.problems {
        tracing::warn!(exporter = %id, queue = %dir.display(), "persistent queue damaged: {problem}");
    }
    if report.skipped_records > 0 || report.skipped_bytes > 0 {
        crate::telemetry::metrics::queue_corrupt_skipped(
            &id,
            report.skipped_records,
            report.skipped_bytes,
        );
    }
    if report.recovered > 0 {
        tracing::info!(exporter = %id, records = report.recovered, queue = %dir.display(),
            "replaying requests left in the persistent queue");
    }
    let queue = Arc::new(queue);
    // otelcol_exporter_queue_size / _capacity, in requests (records), recovered ones included.
    own::exporter_queue_capacity(&id, settings.capacity.max(1));
    own::exporter_queue_size(&id, queue.pending());
    let (alive_tx, mut alive_rx) = mpsc::channel::<()>(1);
    let writer = Arc::new(QueueWriter {
        id: id.clone(),
        queue: queue.clone(),
        log_once: LogOnce::default(),
    });
    let input = ExporterInput::durable(id.clone(), writer, alive_tx);
    let concurrency = settings.concurrency.max(1);
    let exporter: Arc<dyn Exporter> = Arc::from(exporter);
    let retry = Arc::new(settings.retry);
    let handle = tokio::spawn(async move {
        let limit = Arc::new(Semaphore::new(concurrency));
        let abandon = tokio_util::sync::CancellationToken::new();
        let log_once = Arc::new(LogOnce::default());
        loop {
            let permit = tokio::select! {
                biased;
                _ = alive_rx.recv() => break,
                p = limit.clone().acquire_owned() => p.expect("semaphore open"),
            };
            let next = tokio::select! {
                biased;
                _ = alive_rx.recv() => break,
                next = queue.pop() => next,
            };
            let Some((rid, record)) = next else { break };
            let data = match decode(&record) {
                Ok(d) => d,
                Err(e) => {
                    // A checksummed record that does not decode: written by another version,
                    // or a bug. Drop it loudly rather than block the queue.
                    if log_once.first("undecodable") {
                        tracing::error!(exporter = %id, error = %e, "persistent queue record dropped");
                    }
                    queue.complete(rid);
                    continue;
                }
            };
            let job = Job {
                exporter: exporter.clone(),
                id: id.clone(),
                retry: retry.clone(),
                log_once: log_once.clone(),
                keep_trying: true,
            };
            let queue = queue.clone();
            let gauge_id = id.clone();
            let abandon = abandon.clone();
            tokio::spawn(async move {
                tokio::select! {
                    _ = job.run(Batch::from_payload(data)) => {
                        queue.complete(rid);
                        own::exporter_queue_size(&gauge_id, queue.pending());
                    }
                    // Shutting down while still retrying: the record stays on disk and is
                    // replayed at the next start.
                    _ = abandon.cancelled() => {}
                }
                drop(permit);
            });
        }
        // Stop taking records; what is not exported stays on disk for the next start. Exports
        // in flight get a grace period; ones still retrying (backend down) are abandoned then,
        // so a stop never waits for an outage to end.
        let all = concurrency as u32;
        if tokio::time::timeout(SHUTDOWN_GRACE, limit.acquire_many(all))
            .await
            .is_err()
        {
            abandon.cancel();
            let _ = limit.acquire_many(all).await;
        }
        queue.close();
        exporter.shutdown().await;
        tracing::debug!(exporter = %id, pending = queue.pending(), "exporter stopped; pending requests stay queued on disk");
    });
    Ok((input, handle))
}

/// Writes batches to the persistent queue for the pipelines.
struct QueueWriter {
    id: ComponentId,
    queue: Arc<PersistentQueue>,
    log_once: LogOnce,
}

#[async_trait::async_trait]
impl DurableWriter for QueueWriter {
    /// Writes the batch; its senders are acknowledged only after the write (and fsync).
    async fn write(&self, batch: Batch) {
        let record = encode(&batch.payload);
        let pushed = self.queue.push(record).await;
        own::exporter_queue_size(&self.id, self.queue.pending());
        if let Err(e) = pushed {
            let items = batch.item_count() as u64;
            batch
                .acks
                .fail(&format!("persistent queue write failed: {e}"));
            own::exporter_enqueue_failed(&self.id, batch.signal(), items);
            if self.log_once.first(&e.to_string()) {
                tracing::error!(exporter = %self.id, error = %e, items,
                    "cannot write to the persistent queue; the senders are told to retry");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let mut ids = crate::loadgen::payload::IdGen::new(1, 1);
        for d in [
            Data::Traces(crate::loadgen::payload::traces(3, &mut ids)),
            Data::Logs(crate::loadgen::payload::logs(2, &mut ids)),
            Data::Metrics(Default::default()),
        ] {
            let decoded = Payload::Decoded(d.clone());
            let back = decode(&encode(&decoded)).unwrap();
            assert_eq!(back.item_count(), d.item_count());
            assert_eq!(back.to_data().unwrap(), d);
            assert_eq!(encode(&back), encode(&decoded));
        }
        assert!(decode(&Bytes::from_static(b"x")).is_err());
        assert!(decode(&Bytes::new()).is_err());
    }
}
