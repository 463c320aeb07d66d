//! `exporters: prometheusremotewrite:` configuration, with the collector's keys and defaults.

use std::collections::BTreeMap;
use std::time::Duration;

use http::Uri;
use serde::Deserialize;
use serde_json::Value;

use crate::component::{ComponentConfigError, QueueSettings, Sizer};
use crate::config::decode::{did_you_mean, duration};
use crate::exporters::common::{check_retry, RetryConfig, TlsClientConfig};
use crate::exporters::promtranslate::naming::{label_name, Strategy};

/// `target_info:`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TargetInfo {
    /// A `target_info` series per resource (default true).
    pub enabled: bool,
}

impl Default for TargetInfo {
    fn default() -> Self {
        TargetInfo { enabled: true }
    }
}

/// `export_created_metric:`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CreatedMetric {
    /// `_created` series (default false).
    pub enabled: bool,
}

/// `remote_write_queue:` — the exporter's queue. Exports run one at a time (samples of a series
/// must arrive in order); `num_consumers` requests of one export are sent at once.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RemoteWriteQueue {
    /// Queue OTLP batches (default true); off, the sender waits for the export.
    pub enabled: bool,
    /// OTLP batches the queue holds (default 10000).
    pub queue_size: usize,
    /// Remote-write requests of one export sent at once (default 5).
    pub num_consumers: usize,
}

impl Default for RemoteWriteQueue {
    fn default() -> Self {
        RemoteWriteQueue {
            enabled: true,
            queue_size: 10000,
            num_consumers: 5,
        }
    }
}

/// The `prometheusremotewrite` exporter's config.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RemoteWriteConfig {
    /// Remote-write URL, e.g. `http://prometheus:9090/api/v1/write` (required).
    pub endpoint: String,
    /// Extra HTTP headers (values are secrets: never logged). `Content-Encoding`,
    /// `Content-Type`, `X-Prometheus-Remote-Write-Version` and `User-Agent` cannot be changed.
    pub headers: BTreeMap<String, String>,
    /// Per-request timeout (default 5s).
    #[serde(deserialize_with = "duration")]
    pub timeout: Duration,
    /// Prefix for every metric name.
    pub namespace: String,
    /// Labels added to every series unless the data already has them.
    pub external_labels: BTreeMap<String, String>,
    /// Copy every resource attribute into labels.
    pub resource_to_telemetry_conversion: crate::exporters::prometheus::ResourceToTelemetry,
    /// Append unit and type suffixes (default true); `translation_strategy` wins.
    pub add_metric_suffixes: bool,
    /// `UnderscoreEscapingWithSuffixes`, `UnderscoreEscapingWithoutSuffixes`,
    /// `NoUTF8EscapingWithSuffixes` or `NoTranslation` (default: from `add_metric_suffixes`).
    pub translation_strategy: String,
    /// Send metric metadata (type, help, unit) with the series (default false).
    pub send_metadata: bool,
    /// Largest uncompressed request body; bigger exports are split (default 3000000).
    pub max_batch_size_bytes: usize,
    /// Most requests of one export in flight (default: `remote_write_queue.num_consumers`).
    pub max_batch_request_parallelism: Option<usize>,
    /// Queue settings.
    pub remote_write_queue: RemoteWriteQueue,
    /// Retry settings (defaults 50ms initial, 200ms max interval, 1m in total, as upstream).
    pub retry_on_failure: RetryConfig,
    /// A `target_info` series per resource (default enabled).
    pub target_info: TargetInfo,
    /// `_created` series for counters, histograms and summaries with a start time (default off).
    pub export_created_metric: CreatedMetric,
    /// Only `prometheus.WriteRequest` (remote write 1.0).
    pub protobuf_message: String,
    /// Only `snappy` (remote write requires it).
    pub compression: String,
    /// Client TLS for https:// endpoints (CA, client certificate, server name, versions).
    pub tls: TlsClientConfig,
    /// Write-ahead log: not supported yet (use a batch processor and the queue).
    pub wal: Option<Value>,
    /// `auth: {authenticator: ID}`: a client authenticator extension (bearertokenauth,
    /// basicauth) whose headers are added to every request.
    pub auth: Option<Value>,
    /// Accepted for compatibility.
    pub read_buffer_size: Option<u64>,
    /// Accepted for compatibility.
    pub write_buffer_size: Option<u64>,
    /// Accepted for compatibility.
    pub max_idle_conns: Option<u64>,
    /// Accepted for compatibility.
    pub max_idle_conns_per_host: Option<u64>,
    /// Accepted for compatibility.
    pub max_conns_per_host: Option<u64>,
    /// Accepted for compatibility.
    pub idle_conn_timeout: Option<Value>,
    /// Accepted for compatibility.
    pub disable_keep_alives: bool,
}

impl Default for RemoteWriteConfig {
    fn default() -> Self {
        RemoteWriteConfig {
            endpoint: String::new(),
            headers: BTreeMap::new(),
            timeout: Duration::from_secs(5),
            namespace: String::new(),
            external_labels: BTreeMap::new(),
            resource_to_telemetry_conversion: Default::default(),
            add_metric_suffixes: true,
            translation_strategy: String::new(),
            send_metadata: false,
            max_batch_size_bytes: 3_000_000,
            max_batch_request_parallelism: None,
            remote_write_queue: RemoteWriteQueue::default(),
            retry_on_failure: RetryConfig {
                initial_interval: Duration::from_millis(50),
                max_interval: Duration::from_millis(200),
                max_elapsed_time: Duration::from_secs(60),
                ..RetryConfig::default()
            },
            target_info: TargetInfo::default(),
            export_created_metric: CreatedMetric::default(),
            protobuf_message: "prometheus.WriteRequest".into(),
            compression: "snappy".into(),
            tls: TlsClientConfig::default(),
            wal: None,
            auth: None,
            read_buffer_size: None,
            write_buffer_size: None,
            max_idle_conns: None,
            max_idle_conns_per_host: None,
            max_conns_per_host: None,
            idle_conn_timeout: None,
            disable_keep_alives: false,
        }
    }
}

/// Headers the exporter sets itself.
const FIXED_HEADERS: [&str; 4] = [
    "content-encoding",
    "content-type",
    "x-prometheus-remote-write-version",
    "user-agent",
];

impl RemoteWriteConfig {
    /// The name translation in effect.
    pub fn strategy(&self) -> Strategy {
        Strategy::parse(&self.translation_strategy).unwrap_or(Strategy {
            suffixes: self.add_metric_suffixes,
            escape: true,
        })
    }

    /// Checks the config as the collector does; returns the URL to post to. TLS settings are
    /// checked by [`crate::tls::TlsClientSetting::to_client`] when the exporter is built.
    pub fn validate(&self) -> Result<Uri, ComponentConfigError> {
        let url = self.endpoint.trim();
        if url.is_empty() {
            return Err(ComponentConfigError::at(
                &["endpoint"],
                "endpoint is required (e.g. http://prometheus:9090/api/v1/write)",
            ));
        }
        let uri: Uri = url.parse().map_err(|e| {
            ComponentConfigError::at(&["endpoint"], format!("invalid URL {url:?}: {e}"))
        })?;
        if !matches!(uri.scheme_str(), Some("http") | Some("https")) {
            return Err(ComponentConfigError::at(
                &["endpoint"],
                format!("URL {url:?} must start with http:// or https://"),
            ));
        }
        check_retry(&self.retry_on_failure)?;
        if !self.translation_strategy.is_empty()
            && Strategy::parse(&self.translation_strategy).is_none()
        {
            let mut e = ComponentConfigError::at(
                &["translation_strategy"],
                format!(
                    "invalid translation_strategy: {} (one of {})",
                    self.translation_strategy,
                    Strategy::NAMES.join(", ")
                ),
            );
            e.hint = did_you_mean(&self.translation_strategy, Strategy::NAMES);
            return Err(e);
        }
        if self.remote_write_queue.enabled && self.remote_write_queue.queue_size == 0 {
            return Err(ComponentConfigError::at(
                &["remote_write_queue", "queue_size"],
                "a 0 size queue will drop all the data",
            ));
        }
        if self.max_batch_size_bytes == 0 {
            return Err(ComponentConfigError::at(
                &["max_batch_size_bytes"],
                "max_batch_size_bytes must be greater than 0",
            ));
        }
        if self.max_batch_request_parallelism == Some(0) {
            return Err(ComponentConfigError::at(
                &["max_batch_request_parallelism"],
                "max_batch_request_parallelism must be greater than 0",
            ));
        }
        for (k, v) in &self.external_labels {
            if k.is_empty() {
                return Err(ComponentConfigError::at(
                    &["external_labels"],
                    "external label name can't be empty",
                ));
            }
            if v.is_empty() {
                return Err(ComponentConfigError::at(
                    &["external_labels", k],
                    "external label value can't be empty",
                ));
            }
        }
        for k in self.headers.keys() {
            if FIXED_HEADERS.contains(&k.to_ascii_lowercase().as_str()) {
                return Err(ComponentConfigError::at(
                    &["headers", k],
                    "this header is set by the exporter and cannot be changed",
                ));
            }
        }
        if self.protobuf_message != "prometheus.WriteRequest" {
            return Err(ComponentConfigError::at(
                &["protobuf_message"],
                format!(
                    "unsupported protobuf_message {:?}: only \"prometheus.WriteRequest\" (remote write 1.0) is supported",
                    self.protobuf_message
                ),
            ));
        }
        if !matches!(self.compression.as_str(), "snappy" | "") {
            return Err(ComponentConfigError::at(
                &["compression"],
                format!(
                    "unsupported compression {:?}: remote write uses snappy",
                    self.compression
                ),
            ));
        }
        if self.wal.is_some() {
            return Err(ComponentConfigError::at(
                &["wal"],
                "the write-ahead log is not supported yet; the in-memory remote_write_queue and retries keep data across backend outages",
            ));
        }
        Ok(uri)
    }

    /// External labels with sanitized names, sorted.
    pub fn external_labels(&self) -> Vec<(String, String)> {
        let escape = self.strategy().escape;
        let mut out: Vec<(String, String)> = self
            .external_labels
            .iter()
            .filter_map(|(k, v)| label_name(k, escape).map(|n| (n, v.clone())))
            .collect();
        out.sort();
        out
    }

    /// Requests of one export sent at once.
    pub fn parallelism(&self) -> usize {
        self.max_batch_request_parallelism
            .unwrap_or(self.remote_write_queue.num_consumers)
            .max(1)
    }

    /// The runner's settings: one export at a time (samples of a series must arrive in order).
    pub fn queue_settings(&self) -> QueueSettings {
        let q = &self.remote_write_queue;
        QueueSettings {
            concurrency: 1,
            capacity: if q.enabled { q.queue_size.max(1) } else { 1 },
            retry: self.retry_on_failure.clone(),
            wait_for_result: !q.enabled,
            storage: None,
            sizer: Sizer::Requests,
            batch: None,
        }
    }
}
