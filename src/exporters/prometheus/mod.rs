//! The `prometheus` exporter: keeps the latest value of every series it is sent and serves
//! them on `/metrics` for Prometheus to scrape, in the text format 0.0.4 or OpenMetrics, with
//! the collector's naming (see `naming`) and accumulation rules (see `store`).

mod config;
pub use crate::exporters::promtranslate::naming;
mod render;
mod store;
#[cfg(test)]
mod tests;

use std::io::Write;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::component::{ComponentConfigError, ComponentId, ExportError, Exporter};
use crate::config::decode::decode;
use crate::registry::{ExporterCreate, Factory};
use crate::signal::{Data, Signal};
use crate::telemetry::{metrics as own, LogOnce};

pub use config::{PrometheusConfig, ResourceToTelemetry};
pub use render::{render, Format, RenderOptions};
pub use store::{DropReason, Series, Store, StoreConfig, Update, Value as SeriesValue};

/// The `prometheus` exporter's factory.
pub const FACTORY: Factory<ExporterCreate> = Factory {
    type_name: "prometheus",
    deprecated_names: &[],
    signals: &[Signal::Metrics],
    stability: "beta",
    create,
};

fn create(id: &ComponentId, raw: &Value) -> Result<Box<dyn Exporter>, ComponentConfigError> {
    let cfg: PrometheusConfig = decode(raw)?;
    let addr = cfg.validate()?;
    Ok(Box::new(PrometheusExporter::new(id.clone(), cfg, addr)))
}

struct Shared {
    store: RwLock<Store>,
    open_metrics: bool,
    timestamps: bool,
    target_info: String,
}

/// A running prometheus exporter.
pub struct PrometheusExporter {
    id: ComponentId,
    addr: String,
    tls: Option<crate::tls::config::TlsServerSetting>,
    expiration: Duration,
    shared: Arc<Shared>,
    stop: CancellationToken,
    drops: LogOnce,
}

impl PrometheusExporter {
    /// An exporter that will serve on `addr` once started.
    pub fn new(id: ComponentId, cfg: PrometheusConfig, addr: String) -> Self {
        let strategy = cfg.strategy();
        let store = Store::new(StoreConfig {
            namespace: cfg.namespace.clone(),
            strategy,
            const_labels: cfg
                .const_labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            resource_to_telemetry: cfg.resource_to_telemetry_conversion.enabled,
            resource_constant_labels: cfg.resource_constant_labels.clone(),
            without_scope_info: cfg.without_scope_info,
            max_series: cfg.max_series,
        });
        let target_info = match naming::label_name(&cfg.namespace, strategy.escape) {
            Some(ns) if !cfg.namespace.is_empty() => format!("{ns}_target_info"),
            _ => "target_info".to_string(),
        };
        PrometheusExporter {
            id,
            addr,
            tls: cfg.tls.clone(),
            expiration: cfg.metric_expiration,
            shared: Arc::new(Shared {
                store: RwLock::new(store),
                open_metrics: cfg.enable_open_metrics,
                timestamps: cfg.send_timestamps,
                target_info,
            }),
            stop: CancellationToken::new(),
            drops: LogOnce::default(),
        }
    }
}

#[async_trait]
impl Exporter for PrometheusExporter {
    async fn start(&self) -> anyhow::Result<()> {
        let listener = tokio::net::TcpListener::bind(&self.addr)
            .await
            .map_err(|e| {
                anyhow::anyhow!("{} exporter: cannot listen on {}: {e}", self.id, self.addr)
            })?;
        tracing::info!(exporter = %self.id, endpoint = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(), "Serving Prometheus metrics");
        let app = Router::new()
            .route("/metrics", get(scrape))
            .with_state(self.shared.clone());
        let tls = crate::tls::config::server_source(
            &format!("{} exporter", self.id),
            &self.tls,
            crate::tls::config::HTTP_ALPN,
        )?;
        crate::http_server::serve(
            self.id.to_string(),
            listener,
            tls,
            app,
            crate::http_server::Limits::default(),
            self.stop.clone(),
        )?;
        // Expire in the background, not only when scraped, so memory for series nobody
        // scrapes is freed too.
        let shared = self.shared.clone();
        let stop = self.stop.clone();
        let expiration = self.expiration;
        let every = (expiration / 10).clamp(Duration::from_millis(100), Duration::from_secs(5));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tick.tick() => {
                        let mut store = shared.store.write().unwrap_or_else(|e| e.into_inner());
                        store.expire(Instant::now(), expiration);
                    }
                }
            }
        });
        Ok(())
    }

    async fn export(&self, data: &Data) -> Result<(), ExportError> {
        let Data::Metrics(req) = data else {
            return Ok(());
        };
        let outcome = {
            let mut store = self.shared.store.write().unwrap_or_else(|e| e.into_inner());
            store.accumulate(req, Instant::now())
        };
        for (reason, n, name) in outcome.dropped {
            own::exporter_dropped(&self.id, Signal::Metrics, n, reason.as_str());
            if self.drops.first(reason.as_str()) {
                tracing::warn!(exporter = %self.id, reason = reason.as_str(), metric = %name, points = n,
                    "prometheus exporter dropped data points (counted; logged once per reason)");
            }
        }
        Ok(())
    }

    async fn shutdown(&self) {
        self.stop.cancel();
    }
}

/// Serves one scrape: renders under a read lock (exports wait at most that long), gzips when
/// the scraper accepts it.
async fn scrape(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let format = if shared.open_metrics && accept.contains("application/openmetrics-text") {
        Format::OpenMetrics
    } else {
        Format::Text
    };
    let body = {
        let store = shared.store.read().unwrap_or_else(|e| e.into_inner());
        render(
            &store,
            RenderOptions {
                format,
                timestamps: shared.timestamps,
            },
            &shared.target_info,
        )
    };
    let gzip = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
    if gzip {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        if enc.write_all(body.as_bytes()).is_ok() {
            if let Ok(z) = enc.finish() {
                return (
                    StatusCode::OK,
                    [
                        (header::CONTENT_TYPE, format.content_type()),
                        (header::CONTENT_ENCODING, "gzip"),
                    ],
                    z,
                )
                    .into_response();
            }
        }
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, format.content_type())],
        body,
    )
        .into_response()
}
