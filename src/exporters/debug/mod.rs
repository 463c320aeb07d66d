//! The `debug` exporter (older name `logging`): writes telemetry to Sluice's log (stderr) at
//! `basic`, `normal` or `detailed` verbosity, as the collector's debug exporter does.

mod format;
mod sampler;

use std::sync::Mutex;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;

use crate::component::{ComponentConfigError, ComponentId, ExportError, Exporter};
use crate::config::decode::{decode, did_you_mean};
use crate::registry::{ExporterCreate, Factory};
use crate::signal::{Data, Encoded, Signal};

pub use format::{basic_fields, detailed, normal};
use sampler::Sampler;

/// The `debug` exporter's factory.
pub const FACTORY: Factory<ExporterCreate> = Factory {
    type_name: "debug",
    deprecated_names: &["logging"],
    signals: &[Signal::Traces, Signal::Metrics, Signal::Logs],
    stability: "development",
    create,
};

/// How much the exporter prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Verbosity {
    /// One line per export with counts (default).
    #[default]
    Basic,
    /// One line per item.
    Normal,
    /// Everything, field by field.
    Detailed,
}

impl Verbosity {
    fn parse(s: &str) -> Result<Verbosity, String> {
        match s.to_ascii_lowercase().as_str() {
            "basic" => Ok(Verbosity::Basic),
            "normal" => Ok(Verbosity::Normal),
            "detailed" => Ok(Verbosity::Detailed),
            other => Err(format!(
                "unknown verbosity {other:?} (basic, normal or detailed){}",
                did_you_mean(other, ["basic", "normal", "detailed"])
                    .map(|h| format!("; {h}"))
                    .unwrap_or_default()
            )),
        }
    }
}

/// `exporters: debug:` config.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DebugConfig {
    /// `basic` (default), `normal` or `detailed`.
    pub verbosity: String,
    /// Messages logged per second before sampling starts (default 2).
    pub sampling_initial: u64,
    /// After that, one message in this many is logged (default 1: all).
    pub sampling_thereafter: u64,
    /// Old `logging` exporter key: `debug` means detailed, `info` basic.
    pub loglevel: Option<String>,
    /// Accepted for compatibility (`use_internal_logger`).
    pub use_internal_logger: Option<bool>,
}

impl Default for DebugConfig {
    fn default() -> Self {
        DebugConfig {
            verbosity: "basic".into(),
            sampling_initial: 2,
            sampling_thereafter: 1,
            loglevel: None,
            use_internal_logger: None,
        }
    }
}

fn create(_id: &ComponentId, raw: &Value) -> Result<Box<dyn Exporter>, ComponentConfigError> {
    let cfg: DebugConfig = decode(raw)?;
    let mut verbosity = Verbosity::parse(&cfg.verbosity)
        .map_err(|m| ComponentConfigError::at(&["verbosity"], m))?;
    if let Some(level) = &cfg.loglevel {
        verbosity = match level.to_ascii_lowercase().as_str() {
            "debug" => Verbosity::Detailed,
            "info" | "warn" | "error" => Verbosity::Basic,
            other => {
                return Err(ComponentConfigError::at(
                    &["loglevel"],
                    format!("unknown loglevel {other:?} (debug, info, warn, error)"),
                ))
            }
        };
    }
    if cfg.sampling_thereafter == 0 {
        return Err(ComponentConfigError::at(
            &["sampling_thereafter"],
            "must be at least 1",
        ));
    }
    Ok(Box::new(DebugExporter {
        verbosity,
        sampler: Mutex::new(Sampler::new(cfg.sampling_initial, cfg.sampling_thereafter)),
    }))
}

/// A running debug exporter.
pub struct DebugExporter {
    verbosity: Verbosity,
    sampler: Mutex<Sampler>,
}

impl DebugExporter {
    /// Whether the sampler lets this export be printed.
    fn keep(&self) -> bool {
        self.sampler
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keep(std::time::Instant::now())
    }

    /// Prints one export at the configured verbosity.
    fn print(&self, data: &Data) {
        let (kind, fields) = basic_fields(data);
        let summary = fields
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join(", ");
        match self.verbosity {
            Verbosity::Basic => tracing::info!("{kind} {{{summary}}}"),
            Verbosity::Normal => {
                tracing::info!("{kind} {{{summary}}}\n{}", normal(data).join("\n"))
            }
            Verbosity::Detailed => {
                tracing::info!("{kind} {{{summary}}}\n{}", detailed(data).join("\n"))
            }
        }
    }
}

#[async_trait]
impl Exporter for DebugExporter {
    async fn export(&self, data: &Data) -> Result<(), ExportError> {
        if self.keep() {
            self.print(data);
        }
        Ok(())
    }

    /// Decodes only exports the sampler lets through.
    async fn export_encoded(&self, data: &Encoded) -> Result<(), ExportError> {
        if self.keep() {
            let decoded = data
                .decode()
                .map_err(|e| ExportError::Permanent(format!("cannot decode request: {e}")))?;
            self.print(&decoded);
        }
        Ok(())
    }
}
