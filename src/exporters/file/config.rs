//! `exporters: file:` configuration, with the collector's keys and defaults.

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::component::ComponentConfigError;
use crate::config::decode::{did_you_mean, duration};

/// `rotation:` — lumberjack's settings, as upstream exposes them.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Rotation {
    /// Size in MiB at which the file is rotated (default 100; 0 means 100).
    pub max_megabytes: u64,
    /// Days to keep rotated files, by the time in their names (default 0: no limit).
    pub max_days: u64,
    /// Rotated files kept (default 100; 0 keeps all).
    pub max_backups: usize,
    /// Local time instead of UTC in rotated files' names (default false).
    pub localtime: bool,
}

impl Default for Rotation {
    fn default() -> Self {
        Rotation {
            max_megabytes: 100,
            max_days: 0,
            max_backups: 100,
            localtime: false,
        }
    }
}

/// `group_by:` — one file per value of a resource attribute.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GroupBy {
    /// Write one file per value (default false); `path` must then hold one `*`.
    pub enabled: bool,
    /// The resource attribute whose string value replaces the `*` (default
    /// `fileexporter.path_segment`).
    pub resource_attribute: String,
    /// Most files open at once (default 100).
    pub max_open_files: usize,
}

impl Default for GroupBy {
    fn default() -> Self {
        GroupBy {
            enabled: false,
            resource_attribute: "fileexporter.path_segment".into(),
            max_open_files: 100,
        }
    }
}

/// How each export request is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// OTLP/JSON, one request per line (length-prefixed when compressed).
    #[default]
    Json,
    /// OTLP protobuf, each request prefixed by its length (4 bytes, big-endian).
    Proto,
}

fn format<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Format, D::Error> {
    match String::deserialize(d)?.as_str() {
        "json" => Ok(Format::Json),
        "proto" => Ok(Format::Proto),
        other => Err(serde::de::Error::custom(format!(
            "format type {other:?} is not supported (json or proto){}",
            did_you_mean(other, ["json", "proto"])
                .map(|h| format!("; {h}"))
                .unwrap_or_default()
        ))),
    }
}

/// The file exporter's config.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileConfig {
    /// The file to write (required).
    pub path: String,
    /// `json` (default) or `proto`.
    #[serde(deserialize_with = "format")]
    pub format: Format,
    /// `zstd`, or empty for none: each request is compressed on its own and length-prefixed.
    pub compression: String,
    /// Rotate the file by size and keep backups; absent, the file grows without limit.
    pub rotation: Option<Rotation>,
    /// Write buffer flush period (default 1s; 0 means 1s, as upstream).
    #[serde(deserialize_with = "duration")]
    pub flush_interval: Duration,
    /// Create the file's directory on start (default false: it must exist).
    pub create_directory: bool,
    /// Permissions of created directories, octal (default "0755"; needs `create_directory`).
    pub directory_permissions: String,
    /// Append to an existing file instead of truncating it (default false).
    pub append: bool,
    /// One file per value of a resource attribute.
    pub group_by: GroupBy,
    /// Encoding extension: not supported yet.
    pub encoding: Option<Value>,
}

impl Default for FileConfig {
    fn default() -> Self {
        FileConfig {
            path: String::new(),
            format: Format::Json,
            compression: String::new(),
            rotation: None,
            flush_interval: Duration::from_secs(1),
            create_directory: false,
            directory_permissions: String::new(),
            append: false,
            group_by: GroupBy::default(),
            encoding: None,
        }
    }
}

impl FileConfig {
    /// The flush period in effect (0 means 1s).
    pub fn flush_every(&self) -> Duration {
        if self.flush_interval.is_zero() {
            Duration::from_secs(1)
        } else {
            self.flush_interval
        }
    }

    /// Permissions for a created directory.
    pub fn directory_mode(&self) -> u32 {
        u32::from_str_radix(&self.directory_permissions, 8).unwrap_or(0o755)
    }

    /// Checks the config as the collector does.
    pub fn validate(&self) -> Result<(), ComponentConfigError> {
        if self.path.trim().is_empty() {
            return Err(ComponentConfigError::at(
                &["path"],
                "path must be non-empty",
            ));
        }
        if !matches!(self.compression.as_str(), "" | "zstd") {
            let mut e = ComponentConfigError::at(
                &["compression"],
                format!(
                    "compression {:?} is not supported (zstd, or empty for none)",
                    self.compression
                ),
            );
            e.hint = did_you_mean(&self.compression, ["zstd"]);
            return Err(e);
        }
        if self.append && !self.compression.is_empty() {
            return Err(ComponentConfigError::at(
                &["append"],
                "append and compression enabled at the same time is not supported",
            ));
        }
        if self.append && self.rotation.is_some() {
            return Err(ComponentConfigError::at(
                &["append"],
                "append and rotation enabled at the same time is not supported",
            ));
        }
        if !self.directory_permissions.is_empty() {
            if !self.create_directory {
                return Err(ComponentConfigError::at(
                    &["directory_permissions"],
                    "directory_permissions requires create_directory to be true",
                ));
            }
            match u32::from_str_radix(&self.directory_permissions, 8) {
                Ok(p) if p & !0o777 == 0 => {}
                Ok(_) => {
                    return Err(ComponentConfigError::at(
                        &["directory_permissions"],
                        "directory_permissions contain invalid bits for file access",
                    ))
                }
                Err(_) => {
                    return Err(ComponentConfigError::at(
                        &["directory_permissions"],
                        "directory_permissions value must be a valid octal representation",
                    ))
                }
            }
        }
        if self.group_by.enabled {
            if self.path.split('*').count() != 2 {
                return Err(ComponentConfigError::at(
                    &["path"],
                    "path must contain exactly one * when group_by is enabled",
                ));
            }
            if self.path.starts_with('*') {
                return Err(ComponentConfigError::at(
                    &["path"],
                    "path must not start with * when group_by is enabled",
                ));
            }
            if self.group_by.resource_attribute.is_empty() {
                return Err(ComponentConfigError::at(
                    &["group_by", "resource_attribute"],
                    "resource_attribute must not be empty when group_by is enabled",
                ));
            }
        }
        if self.encoding.is_some() {
            return Err(ComponentConfigError::at(
                &["encoding"],
                "encoding extensions are not supported yet; use format: json or proto",
            ));
        }
        Ok(())
    }
}
