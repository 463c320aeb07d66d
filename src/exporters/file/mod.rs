//! The `file` exporter: writes every export request to a file, as the collector's file
//! exporter does — OTLP/JSON lines (readable by the `otlpjsonfile` receiver) or
//! length-prefixed protobuf, optionally zstd-compressed per request, with size-based rotation
//! (see `rotate`) and a write buffer flushed every `flush_interval`.

mod config;
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

pub use config::{FileConfig, Format, Rotation};
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
    file: Arc<Mutex<Option<OutputFile>>>,
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
            cfg,
            file: Arc::new(Mutex::new(None)),
            stop: CancellationToken::new(),
        }
    }

    fn flush(file: &Mutex<Option<OutputFile>>) -> std::io::Result<()> {
        let mut guard = file.lock().unwrap_or_else(|e| e.into_inner());
        match guard.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

#[async_trait]
impl Exporter for FileExporter {
    async fn start(&self) -> anyhow::Result<()> {
        let path = PathBuf::from(&self.cfg.path);
        if self.cfg.create_directory {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                rotate::create_dir(dir, self.cfg.directory_mode()).map_err(|e| {
                    anyhow::anyhow!("{} exporter: cannot create {}: {e}", self.id, dir.display())
                })?;
            }
        }
        let f =
            OutputFile::open(&path, self.cfg.append, self.cfg.rotation.clone()).map_err(|e| {
                anyhow::anyhow!("{} exporter: cannot open {}: {e}", self.id, path.display())
            })?;
        *self.file.lock().unwrap_or_else(|e| e.into_inner()) = Some(f);
        let every = self.cfg.flush_every();
        {
            let file = self.file.clone();
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
        let record = encode_record(data, self.cfg.format, self.cfg.compression == "zstd")
            .map_err(|e| ExportError::Permanent(format!("cannot encode: {e}")))?;
        let mut guard = self.file.lock().unwrap_or_else(|e| e.into_inner());
        let Some(f) = guard.as_mut() else {
            return Err(ExportError::Permanent(
                "the file exporter is not started".into(),
            ));
        };
        let io = |e: std::io::Error| ExportError::Retryable {
            message: format!("{}: {e}", self.cfg.path),
            retry_after: None,
        };
        f.write_message(&[record.as_slice()]).map_err(io)?;
        Ok(())
    }

    async fn shutdown(&self) {
        self.stop.cancel();
        if let Err(e) = Self::flush(&self.file) {
            tracing::error!(exporter = %self.id, error = %e, "cannot flush the output file");
        }
        *self.file.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}
