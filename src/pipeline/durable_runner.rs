//! The exporter runner behind a persistent queue (`sending_queue.storage`).

use tokio::task::JoinHandle;

use super::ExporterInput;
use crate::component::{ComponentId, Exporter, StorageSpec};

/// Spawns the runner for an exporter with a persistent queue.
pub fn spawn(
    id: ComponentId,
    _exporter: Box<dyn Exporter>,
    spec: StorageSpec,
) -> anyhow::Result<(ExporterInput, JoinHandle<()>)> {
    anyhow::bail!(
        "exporter {id}: persistent queue in {} is not available yet",
        spec.directory.display()
    )
}
