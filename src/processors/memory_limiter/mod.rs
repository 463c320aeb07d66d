//! The `memory_limiter` processor: refuses new data, with retryable errors the sender backs off
//! on, while Sluice's memory is above the soft limit, as the collector's memory_limiter does,
//! and additionally before a request is decoded, so a burst of large requests is refused at the
//! door rather than after it has been allocated.
//!
//! In the pipeline it only counts what passes; the decisions are made by its [`Limiter`], which
//! the service installs as a gate at the pipeline's entrance (see `pipeline::admission`).
//! Memory is measured with jemalloc's statistics (`stats.allocated`), or RSS without jemalloc.

mod config;
mod limiter;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use serde_json::Value;

use crate::component::{ComponentConfigError, ComponentId, Processor};
use crate::config::decode::decode;
use crate::pipeline::admission::Gate;
use crate::registry::{Factory, ProcessorCreate};
use crate::signal::{Batch, Signal};
use crate::telemetry::{memory, metrics as own};

pub use config::{Limits, MemoryLimiterConfig};
pub use limiter::{Level, Limiter, Snapshot};

/// The `memory_limiter` processor's factory.
pub const FACTORY: Factory<ProcessorCreate> = Factory {
    type_name: "memory_limiter",
    deprecated_names: &[],
    signals: &[Signal::Traces, Signal::Metrics, Signal::Logs],
    stability: "beta",
    create,
};

fn create(
    id: &ComponentId,
    signal: Signal,
    raw: &Value,
) -> Result<Box<dyn Processor>, ComponentConfigError> {
    let cfg: MemoryLimiterConfig = decode(raw)?;
    cfg.validate()?;
    let limits = cfg.limits(memory::available())?;
    let limiter = Limiter::real(
        id.clone(),
        limits,
        cfg.check_interval,
        (
            cfg.min_gc_interval_when_soft_limited,
            cfg.min_gc_interval_when_hard_limited,
        ),
    );
    Ok(Box::new(MemoryLimiter {
        id: id.clone(),
        signal,
        limiter: Arc::new(limiter),
    }))
}

/// One pipeline's memory_limiter instance.
pub struct MemoryLimiter {
    id: ComponentId,
    signal: Signal,
    limiter: Arc<Limiter>,
}

impl Processor for MemoryLimiter {
    fn process(&mut self, batch: Batch, out: &mut Vec<Batch>) {
        own::memory_limiter_accepted(&self.id, self.signal, batch.item_count() as u64);
        out.push(batch);
    }

    fn reads_data(&self) -> bool {
        false
    }

    fn gate(&self) -> Option<Arc<dyn Gate>> {
        Some(self.limiter.clone())
    }
}
