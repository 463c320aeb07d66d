//! Settings shared by network exporters, with the collector's keys and defaults: compression,
//! client TLS, `retry_on_failure` and `sending_queue`.

use serde::Deserialize;

use crate::component::ComponentConfigError;
use crate::component::ComponentId;
use crate::component::{ExporterBatch, QueueSettings, Sizer};
use crate::config::decode::did_you_mean;
pub use crate::pipeline::retry::RetryConfig;

/// `compression:` of an exporter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// gzip (the collector's default).
    #[default]
    Gzip,
    /// zstd.
    Zstd,
    /// No compression.
    None,
}

impl Compression {
    /// The concatenation of `parts`, compressed: gzip at `gzip_level`, zstd at `zstd_level`
    /// (one piece is not copied without compression).
    pub fn apply(
        self,
        gzip_level: u32,
        zstd_level: i32,
        parts: &[bytes::Bytes],
    ) -> Result<bytes::Bytes, String> {
        use std::io::Write;
        match self {
            Compression::None => Ok(match parts {
                [one] => one.clone(),
                _ => bytes::Bytes::from(parts.concat()),
            }),
            Compression::Gzip => crate::payload::gzip(gzip_level, parts),
            Compression::Zstd => {
                let io = |e: std::io::Error| format!("zstd: {e}");
                let len = parts.iter().map(bytes::Bytes::len).sum::<usize>();
                let mut enc =
                    zstd::stream::write::Encoder::new(Vec::with_capacity(len / 4), zstd_level)
                        .map_err(io)?;
                for p in parts {
                    enc.write_all(p).map_err(io)?;
                }
                Ok(bytes::Bytes::from(enc.finish().map_err(io)?))
            }
        }
    }

    /// The `grpc-encoding` / `Content-Encoding` name, none without compression.
    pub fn header(self) -> Option<&'static str> {
        match self {
            Compression::Gzip => Some("gzip"),
            Compression::Zstd => Some("zstd"),
            Compression::None => None,
        }
    }

    /// Parses a `compression:` value; errors list what is supported and suggest the closest.
    pub fn parse(s: &str) -> Result<Compression, ComponentConfigError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "gzip" => Ok(Compression::Gzip),
            "zstd" => Ok(Compression::Zstd),
            "none" | "" => Ok(Compression::None),
            other => {
                let mut e = ComponentConfigError::at(
                    &["compression"],
                    format!("unsupported compression {other:?} (supported: gzip, zstd, none)"),
                );
                e.hint = did_you_mean(other, ["gzip", "zstd", "none"]);
                Err(e)
            }
        }
    }
}

/// serde helper: a `compression:` string.
pub fn compression<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Compression, D::Error> {
    let s = String::deserialize(d)?;
    Compression::parse(&s).map_err(|e| serde::de::Error::custom(e.message))
}

/// Client `tls:` settings (the collector's configtls `ClientConfig`).
pub type TlsClientConfig = crate::tls::config::TlsClientSetting;

/// `sending_queue:` (the collector's exporterhelper defaults).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// Queue exports (default true).
    pub enabled: bool,
    /// Concurrent exports (default 10).
    pub num_consumers: usize,
    /// Queue capacity in `sizer` units (default 1000).
    pub queue_size: usize,
    /// `requests`, `items` or `bytes`.
    pub sizer: String,
    /// Answer the receiver only after export.
    pub wait_for_result: bool,
    /// Block instead of refusing when full.
    pub block_on_overflow: bool,
    /// Persistent storage extension ID.
    pub storage: Option<String>,
    /// Exporter-side batching settings.
    pub batch: Option<QueueBatchConfig>,
}

/// `sending_queue.batch:` — exporter-side batching, where upstream is moving batching.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueBatchConfig {
    /// Send a batch at most this long after its first item (default 200ms).
    #[serde(deserialize_with = "crate::config::decode::duration")]
    pub flush_timeout: std::time::Duration,
    /// Items that trigger a send (default 8192).
    pub min_size: usize,
    /// Most items in one request; larger batches are split (default 0: no cap).
    pub max_size: usize,
    /// Only `items` is supported for batches.
    pub sizer: String,
}

impl Default for QueueBatchConfig {
    fn default() -> Self {
        QueueBatchConfig {
            flush_timeout: std::time::Duration::from_millis(200),
            min_size: 8192,
            max_size: 0,
            sizer: "items".into(),
        }
    }
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            enabled: true,
            num_consumers: 10,
            queue_size: 1000,
            sizer: "requests".into(),
            wait_for_result: false,
            block_on_overflow: false,
            storage: None,
            batch: None,
        }
    }
}

impl QueueConfig {
    /// The runner settings for this queue and retry config. A disabled queue still runs one
    /// export at a time behind a one-batch queue (the receiver waits for it), never drops.
    pub fn settings(&self, retry: &RetryConfig) -> QueueSettings {
        let storage = self
            .storage
            .as_deref()
            .and_then(|s| ComponentId::parse(s).ok());
        if self.enabled {
            QueueSettings {
                concurrency: self.num_consumers.max(1),
                capacity: self.queue_size.max(1),
                retry: retry.clone(),
                wait_for_result: self.wait_for_result,
                storage,
                sizer: match self.sizer.as_str() {
                    "items" => Sizer::Items,
                    "bytes" => Sizer::Bytes,
                    _ => Sizer::Requests,
                },
                batch: self.batch.as_ref().map(|b| ExporterBatch {
                    flush_timeout: b.flush_timeout,
                    min_size: b.min_size,
                    max_size: b.max_size,
                }),
            }
        } else {
            // As upstream without a queue: the export runs while the sender waits, and a
            // failure is the sender's error.
            QueueSettings {
                concurrency: 1,
                capacity: 1,
                retry: retry.clone(),
                wait_for_result: true,
                storage: None,
                sizer: Sizer::Requests,
                batch: None,
            }
        }
    }

    /// Rejects settings Sluice does not implement yet.
    pub fn check(&self) -> Result<(), ComponentConfigError> {
        const SIZERS: [&str; 3] = ["requests", "items", "bytes"];
        if !SIZERS.contains(&self.sizer.as_str()) {
            let mut e = ComponentConfigError::at(
                &["sending_queue", "sizer"],
                format!("unknown sizer {:?} (requests, items or bytes)", self.sizer),
            );
            e.hint = did_you_mean(&self.sizer, SIZERS);
            return Err(e);
        }
        if let Some(b) = &self.batch {
            if b.sizer != "items" {
                return Err(ComponentConfigError::at(
                    &["sending_queue", "batch", "sizer"],
                    format!("batch sizer {:?} is not supported (items)", b.sizer),
                ));
            }
            if b.max_size > 0 && b.max_size < b.min_size {
                return Err(ComponentConfigError::at(
                    &["sending_queue", "batch", "max_size"],
                    "max_size must be greater than or equal to min_size",
                ));
            }
            if self.storage.is_some() {
                return Err(ComponentConfigError::at(
                    &["sending_queue", "batch"],
                    "exporter-side batching together with a persistent queue is not supported \
                     yet; put a batch processor in the pipeline instead",
                ));
            }
        }
        if let Some(st) = &self.storage {
            let id = ComponentId::parse(st)
                .map_err(|m| ComponentConfigError::at(&["sending_queue", "storage"], m))?;
            if id.type_name() != "file_storage" {
                let mut e = ComponentConfigError::at(
                    &["sending_queue", "storage"],
                    format!("storage {st:?} must be a file_storage extension"),
                );
                e.hint = did_you_mean(id.type_name(), ["file_storage"]);
                return Err(e);
            }
        }
        if self.enabled && self.queue_size == 0 {
            return Err(ComponentConfigError::at(
                &["sending_queue", "queue_size"],
                "queue_size must be greater than 0",
            ));
        }
        Ok(())
    }
}

/// Checks `retry_on_failure` as the collector does.
pub fn check_retry(retry: &RetryConfig) -> Result<(), ComponentConfigError> {
    retry
        .validate()
        .map_err(|m| ComponentConfigError::at(&["retry_on_failure"], m))
}

/// Splits an endpoint into (scheme, rest) where a scheme is present.
pub fn split_scheme(endpoint: &str) -> (Option<&str>, &str) {
    match endpoint.split_once("://") {
        Some((s, rest)) => (Some(s), rest),
        None => (None, endpoint),
    }
}

/// The configured `headers` of an HTTP exporter as header pairs, marked sensitive (their
/// values are secrets); an invalid name or value is a config error at `headers.NAME`.
pub fn header_pairs(
    headers: &std::collections::BTreeMap<String, String>,
) -> Result<Vec<(http::HeaderName, http::HeaderValue)>, ComponentConfigError> {
    headers
        .iter()
        .map(|(k, v)| {
            let name = http::HeaderName::from_bytes(k.as_bytes()).map_err(|_| {
                ComponentConfigError::at(&["headers", k], "not a valid header name")
            })?;
            let mut val = http::HeaderValue::from_str(v).map_err(|_| {
                ComponentConfigError::at(&["headers", k], "not a valid header value")
            })?;
            val.set_sensitive(true);
            Ok((name, val))
        })
        .collect()
}

/// Adds what every Sluice HTTP export request carries: the User-Agent, the configured
/// `headers`, and the client authenticator's headers (re-read per request, so rotated tokens
/// apply at once).
pub fn with_request_headers(
    mut req: http::request::Builder,
    headers: &[(http::HeaderName, http::HeaderValue)],
    auth: Option<&std::sync::Arc<dyn crate::auth::ClientAuth>>,
) -> Result<http::request::Builder, crate::component::ExportError> {
    req = req.header(
        http::header::USER_AGENT,
        concat!("sluice/", env!("CARGO_PKG_VERSION")),
    );
    for (k, v) in headers {
        req = req.header(k, v);
    }
    if let Some(auth) = auth {
        let extra = auth
            .headers()
            .map_err(|e| crate::component::ExportError::Permanent(format!("authenticator: {e}")))?;
        for (k, v) in extra {
            req = req.header(k, v);
        }
    }
    Ok(req)
}
