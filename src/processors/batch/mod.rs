//! The `batch` processor: groups items into larger requests, flushing on size, on timeout
//! and at shutdown, with one batcher per distinct combination of `metadata_keys` values, as
//! the collector's batch processor does.

mod config;
mod split;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;

use crate::component::{ComponentConfigError, ComponentId, Processor};
use crate::config::decode::decode;
use crate::pipeline::ack::Acks;
use crate::registry::{Factory, ProcessorCreate};
use crate::signal::{Batch, Metadata, Payload, Signal};
use crate::telemetry::logs::LogOnce;
use crate::telemetry::metrics as own;

pub use config::BatchConfig;
pub use split::{append, append_payload, take_items};

/// The `batch` processor's factory.
pub const FACTORY: Factory<ProcessorCreate> = Factory {
    type_name: "batch",
    deprecated_names: &[],
    signals: &[Signal::Traces, Signal::Metrics, Signal::Logs],
    stability: "beta",
    create,
};

fn create(
    id: &ComponentId,
    _signal: Signal,
    raw: &Value,
) -> Result<Box<dyn Processor>, ComponentConfigError> {
    let cfg: BatchConfig = decode(raw)?;
    cfg.validate()?;
    Ok(Box::new(BatchProcessor::new(id.clone(), cfg)))
}

/// Why a batch left the processor, for the collector's trigger counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// `send_batch_size` was reached.
    Size,
    /// `timeout` passed.
    Timeout,
    /// The pipeline is stopping.
    Shutdown,
}

/// Items waiting for one metadata combination.
struct Shard {
    /// Encoded while every request merged into it arrived encoded (joined without decoding);
    /// decoded once a decoded request joins or a split needs the items.
    pending: Option<Payload>,
    items: usize,
    deadline: Option<Instant>,
    metadata: Arc<Metadata>,
    /// Acknowledgements of every request merged into `pending`: each outgoing part carries them
    /// all, so a sender is answered once the last part holding its items is safe.
    acks: Acks,
}

/// One pipeline's batch processor instance.
pub struct BatchProcessor {
    id: ComponentId,
    cfg: BatchConfig,
    shards: HashMap<Vec<Vec<String>>, Shard>,
    over_limit: LogOnce,
}

impl BatchProcessor {
    /// A batch processor with the given (validated) config.
    pub fn new(id: ComponentId, cfg: BatchConfig) -> Self {
        BatchProcessor {
            id,
            cfg,
            shards: HashMap::new(),
            over_limit: LogOnce::default(),
        }
    }

    /// The values of the configured metadata keys, in key order: the shard key.
    fn shard_key(&self, md: &Metadata) -> Vec<Vec<String>> {
        self.cfg
            .metadata_keys
            .iter()
            .map(|k| md.get(k).to_vec())
            .collect()
    }

    /// The metadata an outgoing batch carries: only the configured keys, as upstream does.
    fn shard_metadata(&self, key: &[Vec<String>]) -> Arc<Metadata> {
        if self.cfg.metadata_keys.is_empty() {
            return Arc::default();
        }
        Arc::new(Metadata::from_pairs(
            self.cfg
                .metadata_keys
                .iter()
                .zip(key)
                .flat_map(|(k, vs)| vs.iter().map(move |v| (k.as_str(), v.clone()))),
        ))
    }

    /// Cuts batches of at most `send_batch_max_size` items off a shard while `enough` says so.
    fn emit(&self, shard: &mut Shard, trigger: Trigger, all: bool, out: &mut Vec<Batch>) {
        let size = self.cfg.send_batch_size as usize;
        let max = self.cfg.send_batch_max_size as usize;
        while shard.items > 0 && (all || shard.items >= size) {
            let Some(pending) = shard.pending.as_mut() else {
                break;
            };
            let payload = if max > 0 && shard.items > max {
                shard.items -= max;
                let (data, error) = pending.decode_in_place();
                if let Some(e) = error {
                    tracing::error!(processor = %self.id, error = %e,
                        "a checked OTLP request failed to decode; its data is dropped");
                    shard.acks.fail(&format!("cannot decode request: {e}"));
                    shard.items = data.item_count();
                }
                Payload::Decoded(take_items(data, max))
            } else {
                shard.items = 0;
                shard.pending.take().expect("pending data")
            };
            let n = payload.item_count();
            own::batch_sent(&self.id, n as u64, trigger);
            out.push(Batch {
                payload,
                metadata: shard.metadata.clone(),
                acks: shard.acks.clone(),
            });
        }
        if shard.items == 0 {
            shard.pending = None;
            shard.deadline = None;
            shard.acks.release();
        }
    }
}

impl Processor for BatchProcessor {
    fn process(&mut self, batch: Batch, out: &mut Vec<Batch>) {
        let items = batch.item_count();
        if items == 0 {
            return;
        }
        let key = self.shard_key(&batch.metadata);
        if !self.shards.contains_key(&key) {
            if self.shards.len() >= self.cfg.metadata_cardinality_limit.max(1) as usize {
                own::processor_dropped(
                    &self.id,
                    batch.signal(),
                    items as u64,
                    "metadata_cardinality",
                );
                batch
                    .acks
                    .fail("batch processor: metadata_cardinality_limit reached");
                if self.over_limit.first("metadata_cardinality") {
                    tracing::warn!(
                        processor = %self.id,
                        limit = self.cfg.metadata_cardinality_limit,
                        "more distinct metadata_keys combinations are being batched than \
                         metadata_cardinality_limit allows; data for new ones is dropped and counted"
                    );
                }
                return;
            }
            let metadata = self.shard_metadata(&key);
            self.shards.insert(
                key.clone(),
                Shard {
                    pending: None,
                    items: 0,
                    deadline: None,
                    metadata,
                    acks: Acks::none(),
                },
            );
        }
        let mut shard = self.shards.remove(&key).expect("shard exists");
        shard.acks.merge(batch.acks);
        match shard.pending.as_mut() {
            Some(p) => append_payload(p, batch.payload),
            None => shard.pending = Some(batch.payload),
        }
        shard.items += items;
        // As upstream: with no timeout, or a zero send_batch_size, everything goes at once
        // (split only by send_batch_max_size).
        let all = self.cfg.timeout.is_zero() || self.cfg.send_batch_size == 0;
        self.emit(&mut shard, Trigger::Size, all, out);
        if shard.items > 0 {
            if shard.deadline.is_none() {
                shard.deadline = Some(Instant::now() + self.cfg.timeout);
            }
            self.shards.insert(key, shard);
        }
    }

    /// Joining encoded requests needs no decoding; splitting by `send_batch_max_size` does.
    fn reads_data(&self) -> bool {
        self.cfg.send_batch_max_size > 0
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.shards.values().filter_map(|s| s.deadline).min()
    }

    fn on_deadline(&mut self, now: Instant, out: &mut Vec<Batch>) {
        let due: Vec<_> = self
            .shards
            .iter()
            .filter(|(_, s)| s.deadline.is_some_and(|d| d <= now))
            .map(|(k, _)| k.clone())
            .collect();
        for key in due {
            let mut shard = self.shards.remove(&key).expect("due shard exists");
            self.emit(&mut shard, Trigger::Timeout, true, out);
        }
    }

    fn shutdown(&mut self, out: &mut Vec<Batch>) {
        let keys: Vec<_> = self.shards.keys().cloned().collect();
        for key in keys {
            let mut shard = self.shards.remove(&key).expect("shard exists");
            self.emit(&mut shard, Trigger::Shutdown, true, out);
        }
    }
}
