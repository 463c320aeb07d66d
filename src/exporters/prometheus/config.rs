//! `exporters: prometheus:` configuration, with the collector's keys and defaults.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::component::ComponentConfigError;
use crate::config::decode::{did_you_mean, duration, listen_endpoint};
use crate::exporters::common::QueueConfig;
use crate::exporters::promtranslate::naming::{label_name, Strategy};

/// `resource_to_telemetry_conversion:`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResourceToTelemetry {
    /// Copy every resource attribute into labels of every series (default false).
    pub enabled: bool,
}

/// The prometheus exporter's config.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrometheusConfig {
    /// Where /metrics is served (`host:port`, required).
    pub endpoint: String,
    /// TLS for the endpoint (the collector's `tls:` server block); absent = plaintext.
    pub tls: Option<crate::tls::config::TlsServerSetting>,
    /// Prefix for every metric name.
    pub namespace: String,
    /// Labels added to every series.
    pub const_labels: BTreeMap<String, String>,
    /// Write each sample's own timestamp (default false: Prometheus uses scrape time).
    pub send_timestamps: bool,
    /// Series not updated for this long are removed (default 5m), in the background.
    #[serde(deserialize_with = "duration")]
    pub metric_expiration: Duration,
    /// Copy resource attributes into labels.
    pub resource_to_telemetry_conversion: ResourceToTelemetry,
    /// Serve OpenMetrics to scrapers that ask for it (default false).
    pub enable_open_metrics: bool,
    /// Older spelling of the suffix choice in `translation_strategy` (default true).
    pub add_metric_suffixes: bool,
    /// `UnderscoreEscapingWithSuffixes` (default), `UnderscoreEscapingWithoutSuffixes`,
    /// `NoUTF8EscapingWithSuffixes` or `NoTranslation`; wins over `add_metric_suffixes`.
    pub translation_strategy: String,
    /// Leave out the `otel_scope_*` labels (default false).
    pub without_scope_info: bool,
    /// Resource attributes copied into labels of every series (the rest go to target_info).
    pub resource_constant_labels: Vec<String>,
    /// Most series kept at once; new series beyond it are dropped, counted and logged once
    /// (default 0: no cap).
    pub max_series: usize,
    /// Accepted for compatibility with collector configs.
    pub sending_queue: QueueConfig,
}

impl Default for PrometheusConfig {
    fn default() -> Self {
        PrometheusConfig {
            endpoint: String::new(),
            tls: None,
            namespace: String::new(),
            const_labels: BTreeMap::new(),
            send_timestamps: false,
            metric_expiration: Duration::from_secs(300),
            resource_to_telemetry_conversion: ResourceToTelemetry::default(),
            enable_open_metrics: false,
            add_metric_suffixes: true,
            translation_strategy: String::new(),
            without_scope_info: false,
            resource_constant_labels: Vec::new(),
            max_series: 0,
            sending_queue: QueueConfig::default(),
        }
    }
}

impl PrometheusConfig {
    /// The name translation in effect.
    pub fn strategy(&self) -> Strategy {
        Strategy::parse(&self.translation_strategy).unwrap_or(Strategy {
            suffixes: self.add_metric_suffixes,
            escape: true,
        })
    }

    /// Checks the config; returns the listen address.
    pub fn validate(&self) -> Result<String, ComponentConfigError> {
        if self.endpoint.trim().is_empty() {
            return Err(ComponentConfigError::at(
                &["endpoint"],
                "endpoint is required (e.g. 0.0.0.0:8889)",
            ));
        }
        let addr = listen_endpoint(&self.endpoint)
            .map_err(|m| ComponentConfigError::at(&["endpoint"], m))?;
        if let Some(t) = &self.tls {
            t.to_server(crate::tls::config::HTTP_ALPN)?;
        }
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
        if self.metric_expiration.is_zero() {
            return Err(ComponentConfigError::at(
                &["metric_expiration"],
                "metric_expiration must be greater than zero",
            ));
        }
        for name in self.const_labels.keys() {
            if label_name(name, true).as_deref() != Some(name.as_str()) {
                return Err(ComponentConfigError::at(
                    &["const_labels", name],
                    format!("{name:?} is not a valid Prometheus label name"),
                ));
            }
        }
        self.sending_queue.check()?;
        Ok(addr)
    }
}
