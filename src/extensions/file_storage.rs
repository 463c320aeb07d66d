//! The `file_storage` extension: a directory where exporters keep persistent queues
//! (`sending_queue.storage: file_storage/NAME`), as in the collector.

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;
use tokio::task::JoinHandle;

use crate::component::{
    ComponentConfigError, ComponentId, Extension, ExtensionContext, StorageSpec,
};
use crate::config::decode::{decode, duration};
use crate::registry::{ExtensionCreate, Factory};

/// The `file_storage` extension's factory.
pub const FACTORY: Factory<ExtensionCreate> = Factory {
    type_name: "file_storage",
    deprecated_names: &[],
    signals: &[],
    stability: "beta",
    create,
};

/// `extensions: file_storage:` config (the collector's keys).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileStorageConfig {
    /// Where queues live (default `/var/lib/otelcol/file_storage`, as upstream on Linux).
    pub directory: PathBuf,
    /// Create the directory if missing (default false, as upstream).
    pub create_directory: bool,
    /// Permissions for a created directory (accepted for compatibility).
    pub directory_permissions: Option<String>,
    /// fsync every write before it is acknowledged (default false, as upstream). With it off,
    /// a machine crash can lose the last writes; a process crash cannot.
    pub fsync: bool,
    /// Lock timeout (accepted for compatibility; Sluice fails at once if locked).
    #[serde(deserialize_with = "duration")]
    pub timeout: Duration,
    /// bbolt compaction settings (accepted for compatibility; Sluice's segment files delete
    /// themselves once consumed, so there is nothing to compact).
    pub compaction: Option<Value>,
}

impl Default for FileStorageConfig {
    fn default() -> Self {
        FileStorageConfig {
            directory: PathBuf::from("/var/lib/otelcol/file_storage"),
            create_directory: false,
            directory_permissions: None,
            fsync: false,
            timeout: Duration::from_secs(1),
            compaction: None,
        }
    }
}

fn create(_id: &ComponentId, raw: &Value) -> Result<Box<dyn Extension>, ComponentConfigError> {
    let cfg: FileStorageConfig = decode(raw)?;
    if !cfg.create_directory && !cfg.directory.is_dir() {
        return Err(ComponentConfigError::at(
            &["directory"],
            format!(
                "directory {} does not exist or is not a directory",
                cfg.directory.display()
            ),
        )
        .with_hint("create it, or set create_directory: true"));
    }
    Ok(Box::new(FileStorage { cfg }))
}

/// A configured file_storage extension.
pub struct FileStorage {
    cfg: FileStorageConfig,
}

#[async_trait]
impl Extension for FileStorage {
    fn storage(&self) -> Option<StorageSpec> {
        Some(StorageSpec {
            directory: self.cfg.directory.clone(),
            fsync: self.cfg.fsync,
        })
    }

    async fn start(self: Box<Self>, ctx: ExtensionContext) -> anyhow::Result<JoinHandle<()>> {
        if self.cfg.create_directory {
            std::fs::create_dir_all(&self.cfg.directory).map_err(|e| {
                anyhow::anyhow!(
                    "{}: cannot create {}: {e}",
                    ctx.id,
                    self.cfg.directory.display()
                )
            })?;
        }
        Ok(tokio::spawn(async move { ctx.shutdown.cancelled().await }))
    }
}
