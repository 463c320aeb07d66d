//! The pipeline task: takes batches from the pipeline's queue, runs the processors in the
//! listed order, and fans the result out to every exporter of the pipeline.

use std::time::Instant;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::component::{ComponentId, Processor};
use crate::signal::{Batch, Encoded, Payload};
use crate::telemetry::metrics as own;

use super::ExporterInput;

/// The sending end of a pipeline's queue, handed to the receivers' consumers.
pub type PipelineInput = mpsc::Sender<Batch>;

/// Spawns a pipeline: returns the sender for its input queue and the task handle. The task
/// ends, after flushing its processors, once every sender of its queue is dropped. Each
/// processor comes with its ID, which labels `otelcol_processor_incoming_items` and
/// `otelcol_processor_outgoing_items`.
pub fn spawn_pipeline(
    name: String,
    processors: Vec<(ComponentId, Box<dyn Processor>)>,
    exporters: Vec<ExporterInput>,
) -> (PipelineInput, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(super::PIPELINE_QUEUE_BATCHES);
    // Batches stay encoded through processors that do not read data; then the first gzip
    // level among the exporters is the one worth compressing at while batches grow.
    let gzip_level = match processors.iter().any(|(_, p)| p.reads_data()) {
        true => None,
        false => exporters.iter().find_map(ExporterInput::gzip_level),
    };
    let task = Chain {
        processors,
        exporters,
        gzip_level,
    };
    let handle = tokio::spawn(task.run(name, rx));
    (tx, handle)
}

struct Chain {
    processors: Vec<(ComponentId, Box<dyn Processor>)>,
    exporters: Vec<ExporterInput>,
    gzip_level: Option<u32>,
}

impl Chain {
    async fn run(mut self, name: String, mut rx: mpsc::Receiver<Batch>) {
        loop {
            let sleep = super::sleep_until_deadline(self.next_deadline());
            tokio::select! {
                biased;
                msg = rx.recv() => match msg {
                    Some(mut batch) => {
                        if let (Some(level), Payload::Encoded(e)) =
                            (self.gzip_level, &mut batch.payload)
                        {
                            e.prefer_gzip(level);
                        }
                        self.run_from(0, vec![batch]).await
                    }
                    None => break,
                },
                _ = sleep => self.fire_deadlines().await,
            }
        }
        // Input closed: flush every processor in order, each flush passing through the rest.
        for i in 0..self.processors.len() {
            let mut out = Vec::new();
            self.processors[i].1.shutdown(&mut out);
            count_out(&self.processors[i].0, &out);
            self.run_from(i + 1, out).await;
        }
        tracing::debug!(pipeline = %name, "pipeline drained");
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.processors
            .iter()
            .filter_map(|(_, p)| p.next_deadline())
            .min()
    }

    async fn fire_deadlines(&mut self) {
        let now = Instant::now() + super::TIMER_SLACK;
        for i in 0..self.processors.len() {
            if self.processors[i]
                .1
                .next_deadline()
                .is_some_and(|d| d <= now)
            {
                let mut out = Vec::new();
                self.processors[i].1.on_deadline(now, &mut out);
                count_out(&self.processors[i].0, &out);
                self.run_from(i + 1, out).await;
            }
        }
    }

    /// Runs batches through processors `start..` and exports what comes out.
    async fn run_from(&mut self, start: usize, mut batches: Vec<Batch>) {
        for (id, p) in self.processors[start..].iter_mut() {
            if batches.is_empty() {
                return;
            }
            let mut out = Vec::with_capacity(batches.len());
            for b in batches {
                own::processor_incoming(id, b.signal(), b.item_count() as u64);
                p.process(b, &mut out);
            }
            count_out(id, &out);
            batches = out;
        }
        for b in batches {
            if b.payload.is_empty() {
                continue;
            }
            fan_out(&self.exporters, b).await;
        }
    }
}

/// Counts what a processor emitted.
fn count_out(id: &ComponentId, out: &[Batch]) {
    for b in out {
        own::processor_outgoing(id, b.signal(), b.item_count() as u64);
    }
}

/// Sends to every exporter, cloning for all but the last. Waits for queue space, which
/// is how a slow exporter pushes back on this pipeline and, through it, the receivers.
///
/// Decoded data going to several exporters is encoded once first: clones of an encoded
/// payload share its bytes, where clones of decoded data copy every string, and OTLP
/// exporters would each encode it anyway.
async fn fan_out(exporters: &[ExporterInput], mut batch: Batch) {
    let n = exporters.len();
    if n > 1 {
        if let Payload::Decoded(data) = &batch.payload {
            batch.payload = Payload::Encoded(Encoded::from_data(data));
        }
    }
    let mut batch = Some(batch);
    for (i, exp) in exporters.iter().enumerate() {
        let b = if i + 1 == n {
            batch.take().expect("batch moved once")
        } else {
            batch.as_ref().expect("batch present").clone()
        };
        exp.send(b).await;
    }
}
