//! The `prometheusremotewrite` exporter: OTLP metrics translated to Prometheus series (see
//! `translate`) and pushed with the remote-write 1.0 protocol — a snappy-compressed
//! `prometheus.WriteRequest` POSTed with `X-Prometheus-Remote-Write-Version: 0.1.0` — to
//! Prometheus, Mimir, Thanos, Cortex or any compatible receiver. 5xx and 429 answers are
//! retried by the shared exporter runner; other 4xx drop the data.

mod config;
pub mod proto;
#[cfg(test)]
mod tests;
pub mod translate;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderName, HeaderValue, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use prost::Message;
use serde_json::Value;

use crate::auth::{AuthRef, ClientAuth};
use crate::component::{ComponentConfigError, ComponentId, ExportError, Exporter, QueueSettings};
use crate::config::decode::decode;
use crate::exporters::otlp_http::parse_retry_after;
use crate::registry::{ExporterCreate, Factory};
use crate::signal::{Data, Signal};
use crate::telemetry::{metrics as own, LogOnce};
use crate::tls::{https_connector, Alpn, Reloading};

pub use config::{CreatedMetric, RemoteWriteConfig, RemoteWriteQueue, TargetInfo};
use proto::{MetricMetadata, TimeSeries, WriteRequest};
use translate::{DeltaState, Settings};

/// The HTTP(S) client requests go through.
type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// The `prometheusremotewrite` exporter's factory.
pub const FACTORY: Factory<ExporterCreate> = Factory {
    type_name: "prometheusremotewrite",
    deprecated_names: &[],
    signals: &[Signal::Metrics],
    stability: "beta",
    create,
};

fn create(id: &ComponentId, raw: &Value) -> Result<Box<dyn Exporter>, ComponentConfigError> {
    if raw.get("sending_queue").is_some() {
        return Err(ComponentConfigError::at(
            &["sending_queue"],
            "this exporter has no sending_queue; use remote_write_queue (enabled, queue_size, num_consumers), as upstream",
        ));
    }
    let cfg: RemoteWriteConfig = decode(raw)?;
    Ok(Box::new(RemoteWriteExporter::new(id.clone(), cfg)?))
}

/// A running remote-write exporter.
pub struct RemoteWriteExporter {
    id: ComponentId,
    cfg: RemoteWriteConfig,
    url: Uri,
    settings: Settings,
    headers: Vec<(HeaderName, HeaderValue)>,
    /// `auth.authenticator`, and the client authenticator the service attached for it.
    auth_id: Option<ComponentId>,
    auth: Option<Arc<dyn ClientAuth>>,
    deltas: Mutex<DeltaState>,
    /// Made on first export; remade when TLS certificate files change.
    client: Reloading<HttpClient>,
    drops: LogOnce,
}

impl RemoteWriteExporter {
    /// Builds the exporter from a checked config; connections are made on first export.
    pub fn new(id: ComponentId, cfg: RemoteWriteConfig) -> Result<Self, ComponentConfigError> {
        let url = cfg.validate()?;
        // TLS applies to https:// URLs; http:// ones stay plaintext, as in the collector.
        let tls = cfg.tls.to_client()?;
        let timeout = cfg.timeout;
        let auth_id = AuthRef::parse(&cfg.auth)?;
        let headers = super::common::header_pairs(&cfg.headers)?;
        let settings = Settings {
            namespace: cfg.namespace.clone(),
            strategy: cfg.strategy(),
            external_labels: cfg.external_labels(),
            resource_to_telemetry: cfg.resource_to_telemetry_conversion.enabled,
            target_info: cfg.target_info.enabled,
            created_metric: cfg.export_created_metric.enabled,
            send_metadata: cfg.send_metadata,
        };
        Ok(RemoteWriteExporter {
            id,
            cfg,
            url,
            settings,
            headers,
            auth_id,
            auth: None,
            deltas: Mutex::new(DeltaState::default()),
            client: {
                Reloading::new(Some(tls), move |tls| {
                    let connector = https_connector(tls, Alpn::Http, timeout)?;
                    Ok(Client::builder(TokioExecutor::new()).build(connector))
                })
            },
            drops: LogOnce::default(),
        })
    }

    fn client(&self) -> Result<HttpClient, ExportError> {
        self.client
            .get()
            .map_err(|e| ExportError::Permanent(format!("TLS: {e}")))
    }

    /// POSTs one snappy-compressed request.
    async fn send(&self, body: Vec<u8>) -> Result<(), ExportError> {
        let url = &self.url;
        let compressed = snap::raw::Encoder::new()
            .compress_vec(&body)
            .map_err(|e| ExportError::Permanent(format!("cannot snappy-compress: {e}")))?;
        let req = Request::post(url.clone())
            .header(http::header::CONTENT_ENCODING, "snappy")
            .header(http::header::CONTENT_TYPE, "application/x-protobuf")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0");
        let req =
            crate::exporters::common::with_request_headers(req, &self.headers, self.auth.as_ref())?;
        let req = req
            .body(Full::new(Bytes::from(compressed)))
            .map_err(|e| ExportError::Permanent(format!("cannot build request to {url}: {e}")))?;
        let call = async {
            let resp = self
                .client()?
                .request(req)
                .await
                .map_err(|e| ExportError::Retryable {
                    message: format!("{url}: {e}"),
                    retry_after: None,
                })?;
            let status = resp.status();
            let retry_after = resp
                .headers()
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after);
            let body = resp
                .into_body()
                .collect()
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            Ok::<_, ExportError>((status, retry_after, body))
        };
        let (status, retry_after, body) = match tokio::time::timeout(self.cfg.timeout, call).await {
            Ok(r) => r?,
            Err(_) => {
                return Err(ExportError::Retryable {
                    message: format!("{url}: timed out after {:?}", self.cfg.timeout),
                    retry_after: None,
                })
            }
        };
        if status.is_success() {
            return Ok(());
        }
        let detail = String::from_utf8_lossy(&body[..body.len().min(256)]);
        let message = format!("{url}: HTTP {}: {}", status.as_u16(), detail.trim());
        if status.is_server_error() || status.as_u16() == 429 {
            Err(ExportError::Retryable {
                message,
                retry_after,
            })
        } else {
            Err(ExportError::Permanent(message))
        }
    }
}

/// Splits series and metadata into request bodies of at most `max_bytes` (uncompressed) each,
/// as upstream batches them; a single series bigger than the limit goes alone.
pub fn batch_requests(
    series: Vec<TimeSeries>,
    metadata: Vec<MetricMetadata>,
    max_bytes: usize,
) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut cur = WriteRequest::default();
    let mut size = 0usize;
    let flush = |cur: &mut WriteRequest, size: &mut usize, out: &mut Vec<Vec<u8>>| {
        if !cur.timeseries.is_empty() || !cur.metadata.is_empty() {
            out.push(std::mem::take(cur).encode_to_vec());
        }
        *size = 0;
    };
    for ts in series {
        let n = ts.encoded_len() + 1 + prost::length_delimiter_len(ts.encoded_len());
        if size + n > max_bytes {
            flush(&mut cur, &mut size, &mut out);
        }
        size += n;
        cur.timeseries.push(ts);
    }
    for md in metadata {
        let n = md.encoded_len() + 1 + prost::length_delimiter_len(md.encoded_len());
        if size + n > max_bytes {
            flush(&mut cur, &mut size, &mut out);
        }
        size += n;
        cur.metadata.push(md);
    }
    flush(&mut cur, &mut size, &mut out);
    out
}

#[async_trait]
impl Exporter for RemoteWriteExporter {
    fn auth_id(&self) -> Option<ComponentId> {
        self.auth_id.clone()
    }

    fn attach_auth(&mut self, auth: Arc<dyn ClientAuth>) {
        self.auth = Some(auth);
    }

    async fn export(&self, data: &Data) -> Result<(), ExportError> {
        let Data::Metrics(req) = data else {
            return Ok(());
        };
        let out = {
            let mut deltas = self.deltas.lock().unwrap_or_else(|e| e.into_inner());
            translate::translate(req, &self.settings, &mut deltas, Instant::now())
        };
        for (reason, n, name) in &out.dropped {
            own::exporter_dropped(&self.id, Signal::Metrics, *n, reason.as_str());
            if self.drops.first(reason.as_str()) {
                tracing::warn!(exporter = %self.id, reason = reason.as_str(), metric = %name, points = n,
                    "prometheusremotewrite exporter dropped data points (counted; logged once per reason)");
            }
        }
        let bodies = batch_requests(out.series, out.metadata, self.cfg.max_batch_size_bytes);
        let mut results = futures::stream::iter(bodies.into_iter().map(|b| self.send(b)))
            .buffer_unordered(self.cfg.parallelism());
        let mut first_err: Option<ExportError> = None;
        while let Some(r) = results.next().await {
            if let Err(e) = r {
                // A retryable failure wins: the whole export is sent again (the receiver
                // accepts samples it already has).
                let replace = matches!(
                    (&first_err, &e),
                    (None, _)
                        | (
                            Some(ExportError::Permanent(_)),
                            ExportError::Retryable { .. }
                        )
                );
                if replace {
                    first_err = Some(e);
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn queue_settings(&self) -> QueueSettings {
        self.cfg.queue_settings()
    }
}
