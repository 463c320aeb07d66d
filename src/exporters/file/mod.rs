//! The `file` exporter: writes every export request to a file, as the collector's file
//! exporter does — OTLP/JSON lines (readable by the `otlpjsonfile` receiver) or
//! length-prefixed protobuf, optionally zstd-compressed per request, with size-based rotation
//! (see `rotate`), a write buffer flushed every `flush_interval`, and one file per value of a
//! resource attribute with `group_by` (see `group`).

mod config;
pub mod group;
pub mod rotate;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use prost::Message;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::component::{ComponentConfigError, ComponentId, ExportError, Exporter};
use crate::config::decode::decode;
use crate::registry::{ExporterCreate, Factory};
use crate::signal::{Data, Signal};
use crate::telemetry::metrics as own;

pub use config::{FileConfig, Format, GroupBy, Rotation};
use group::{GroupPaths, OpenFiles};
use rotate::OutputFile;

/// The `file` exporter's factory.
pub const FACTORY: Factory<ExporterCreate> = Factory {
    type_name: "file",
    deprecated_names: &[],
    signals: &[Signal::Traces, Signal::Metrics, Signal::Logs],
    stability: "alpha",
    create,
};

fn create(id: &ComponentId, raw: &Value) -> Result<Box<dyn Exporter>, ComponentConfigError> {
    let cfg: FileConfig = decode(raw)?;
    cfg.validate()?;
    Ok(Box::new(FileExporter::new(id.clone(), cfg)))
}

/// A running file exporter. The file is opened in `start`.
pub struct FileExporter {
    id: ComponentId,
    cfg: FileConfig,
    /// The open files (one without `group_by`); `None` before start and after shutdown.
    files: Arc<Mutex<Option<OpenFiles>>>,
    groups: Option<GroupPaths>,
    drops: crate::telemetry::LogOnce,
    stop: CancellationToken,
}

/// One export request as written to the file: a JSON line, or a 4-byte big-endian length
/// followed by the (possibly zstd-compressed) request.
pub fn encode_record(data: &Data, format: Format, zstd: bool) -> std::io::Result<Vec<u8>> {
    let body = match format {
        Format::Json => crate::otlp_json::encode_data(data),
        Format::Proto => match data {
            Data::Traces(r) => r.encode_to_vec(),
            Data::Metrics(r) => r.encode_to_vec(),
            Data::Logs(r) => r.encode_to_vec(),
        },
    };
    if format == Format::Json && !zstd {
        let mut line = body;
        line.push(b'\n');
        return Ok(line);
    }
    let body = if zstd {
        zstd::encode_all(&body[..], 0)?
    } else {
        body
    };
    let len = u32::try_from(body.len()).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "request larger than 4 GiB",
        )
    })?;
    let mut out = Vec::with_capacity(body.len() + 4);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

impl FileExporter {
    /// An exporter writing to `cfg.path` once started.
    pub fn new(id: ComponentId, cfg: FileConfig) -> Self {
        FileExporter {
            id,
            files: Arc::new(Mutex::new(None)),
            groups: cfg.group_by.enabled.then(|| GroupPaths::new(&cfg.path)),
            drops: crate::telemetry::LogOnce::default(),
            stop: CancellationToken::new(),
            cfg,
        }
    }

    fn flush(files: &Mutex<Option<OpenFiles>>) -> std::io::Result<()> {
        let mut guard = files.lock().unwrap_or_else(|e| e.into_inner());
        match guard.as_mut() {
            Some(f) => f.flush_all(),
            None => Ok(()),
        }
    }

    /// Opens a group's file, creating its directory (as upstream does for groups).
    fn open_group_file(
        &self,
        path: &std::path::Path,
        reopened: bool,
    ) -> std::io::Result<OutputFile> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            rotate::create_dir(dir, self.cfg.directory_mode())?;
        }
        OutputFile::open(path, self.cfg.append || reopened, self.cfg.rotation.clone())
    }
}

#[async_trait]
impl Exporter for FileExporter {
    async fn start(&self) -> anyhow::Result<()> {
        let mut files = OpenFiles::new(if self.groups.is_some() {
            self.cfg.group_by.max_open_files
        } else {
            1
        });
        if self.groups.is_none() {
            let path = PathBuf::from(&self.cfg.path);
            if self.cfg.create_directory {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    rotate::create_dir(dir, self.cfg.directory_mode()).map_err(|e| {
                        anyhow::anyhow!(
                            "{} exporter: cannot create {}: {e}",
                            self.id,
                            dir.display()
                        )
                    })?;
                }
            }
            let (append, rotation) = (self.cfg.append, self.cfg.rotation.clone());
            files
                .get(&path, |p, _| OutputFile::open(p, append, rotation))
                .map_err(|e| {
                    anyhow::anyhow!("{} exporter: cannot open {}: {e}", self.id, path.display())
                })?;
        }
        *self.files.lock().unwrap_or_else(|e| e.into_inner()) = Some(files);
        let every = self.cfg.flush_every();
        {
            let file = self.files.clone();
            let stop = self.stop.clone();
            let id = self.id.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = tick.tick() => {
                            if let Err(e) = Self::flush(&file) {
                                tracing::error!(exporter = %id, error = %e, "cannot flush the output file");
                            }
                        }
                    }
                }
            });
        }
        Ok(())
    }

    async fn export(&self, data: &Data) -> Result<(), ExportError> {
        let zstd = self.cfg.compression == "zstd";
        let encode = |d: &Data| {
            encode_record(d, self.cfg.format, zstd)
                .map_err(|e| ExportError::Permanent(format!("cannot encode: {e}")))
        };
        // (path, record) pairs, encoded before the lock is taken.
        let records: Vec<(PathBuf, Vec<u8>)> = match &self.groups {
            None => vec![(PathBuf::from(&self.cfg.path), encode(data)?)],
            Some(paths) => {
                let (groups, dropped) = group::split(data, &self.cfg.group_by.resource_attribute);
                if dropped > 0 {
                    own::exporter_dropped(
                        &self.id,
                        data.signal(),
                        dropped as u64,
                        "no_path_segment",
                    );
                    if self.drops.first("no_path_segment") {
                        tracing::warn!(exporter = %self.id, attribute = %self.cfg.group_by.resource_attribute,
                            items = dropped, "resources without the group_by attribute are dropped (counted; logged once)");
                    }
                }
                groups
                    .iter()
                    .map(|(segment, part)| Ok((paths.full_path(segment), encode(part)?)))
                    .collect::<Result<_, ExportError>>()?
            }
        };
        let io = |e: std::io::Error| ExportError::Retryable {
            message: format!("{}: {e}", self.cfg.path),
            retry_after: None,
        };
        let mut guard = self.files.lock().unwrap_or_else(|e| e.into_inner());
        let Some(files) = guard.as_mut() else {
            return Err(ExportError::Permanent(
                "the file exporter is not started".into(),
            ));
        };
        for (path, record) in &records {
            let f = files
                .get(path, |p, reopened| self.open_group_file(p, reopened))
                .map_err(io)?;
            f.write_message(&[record.as_slice()]).map_err(io)?;
        }
        Ok(())
    }

    async fn shutdown(&self) {
        self.stop.cancel();
        if let Err(e) = Self::flush(&self.files) {
            tracing::error!(exporter = %self.id, error = %e, "cannot flush the output file");
        }
        *self.files.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}
