//! The `otlp_grpc` exporter (older name `otlp`): OTLP over gRPC to a collector, Jaeger's
//! OTLP port, or any OTLP backend.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use serde::Deserialize;
use serde_json::Value;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tonic::transport::{Channel, Endpoint};

use super::common::{
    check_retry, compression, split_scheme, Compression, QueueConfig, RetryConfig, TlsClientConfig,
};
use super::grpc_call;
use crate::auth::{AuthRef, ClientAuth};
use crate::component::{ComponentConfigError, ComponentId, ExportError, Exporter, QueueSettings};
use crate::config::decode::{decode, duration, split_host_port};
use crate::registry::{ExporterCreate, Factory};
use crate::rpc_status::RpcStatus;
use crate::signal::{Data, Encoded, Signal};
use crate::telemetry::LogOnce;
use crate::tls::{https_connector, Alpn, Reloading};

/// The gzip level of gRPC exporters: grpc-go's and tonic's default.
pub const GZIP_LEVEL: u32 = 6;
/// The zstd level of gRPC exporters: zstd's default, as tonic uses.
pub const ZSTD_LEVEL: i32 = 3;

/// The `otlp_grpc` exporter's factory.
pub const FACTORY: Factory<ExporterCreate> = Factory {
    type_name: "otlp_grpc",
    deprecated_names: &["otlp"],
    signals: &[Signal::Traces, Signal::Metrics, Signal::Logs],
    stability: "beta",
    create,
};

/// `exporters: otlp_grpc:` config.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtlpGrpcConfig {
    /// `host:port` or `http://host:port` of the OTLP gRPC server (required).
    pub endpoint: String,
    /// Client TLS; `insecure: true` for plaintext (the only mode supported yet).
    pub tls: TlsClientConfig,
    /// `gzip` (default), `zstd` or `none`.
    #[serde(deserialize_with = "compression")]
    pub compression: Compression,
    /// Extra gRPC metadata sent with every request (values are secrets: never logged).
    pub headers: BTreeMap<String, String>,
    /// Per-request timeout (default 5s).
    #[serde(deserialize_with = "duration")]
    pub timeout: Duration,
    /// Accepted for compatibility.
    pub balancer_name: Option<String>,
    /// Accepted for compatibility.
    pub keepalive: Option<Value>,
    /// Accepted for compatibility.
    pub read_buffer_size: Option<u64>,
    /// Accepted for compatibility.
    pub write_buffer_size: Option<u64>,
    /// Accepted for compatibility.
    pub wait_for_ready: bool,
    /// `:authority` override.
    pub authority: Option<String>,
    /// Retry settings.
    pub retry_on_failure: RetryConfig,
    /// Queue settings; `num_consumers` sets concurrent exports.
    pub sending_queue: QueueConfig,
    /// Authenticator: not supported yet.
    pub auth: Option<Value>,
}

impl Default for OtlpGrpcConfig {
    fn default() -> Self {
        OtlpGrpcConfig {
            endpoint: String::new(),
            tls: TlsClientConfig::default(),
            compression: Compression::Gzip,
            headers: BTreeMap::new(),
            timeout: Duration::from_secs(5),
            balancer_name: None,
            keepalive: None,
            read_buffer_size: None,
            write_buffer_size: None,
            wait_for_ready: false,
            authority: None,
            retry_on_failure: RetryConfig::default(),
            sending_queue: QueueConfig::default(),
            auth: None,
        }
    }
}

impl OtlpGrpcConfig {
    /// The URI the channel connects to: `https://host:port` when TLS is on (an `https://`
    /// endpoint, or `host:port` without `tls.insecure`, as the collector decides), else
    /// `http://host:port`.
    pub fn uri(&self) -> Result<String, ComponentConfigError> {
        if self.endpoint.trim().is_empty() {
            return Err(ComponentConfigError::at(
                &["endpoint"],
                "endpoint is required",
            ));
        }
        let (scheme, rest) = split_scheme(self.endpoint.trim());
        let rest = rest.trim_end_matches('/');
        split_host_port(rest).map_err(|m| ComponentConfigError::at(&["endpoint"], m))?;
        let tls = match scheme {
            Some("http") => false,
            Some("https") => true,
            Some(other) => {
                return Err(ComponentConfigError::at(
                    &["endpoint"],
                    format!("unsupported scheme {other:?} (use https://, http:// or host:port)"),
                ))
            }
            None => !self.tls.insecure,
        };
        Ok(format!("{}://{rest}", if tls { "https" } else { "http" }))
    }
}

fn create(_id: &ComponentId, raw: &Value) -> Result<Box<dyn Exporter>, ComponentConfigError> {
    let cfg: OtlpGrpcConfig = decode(raw)?;
    Ok(Box::new(OtlpGrpcExporter::new(cfg)?))
}

/// A running OTLP/gRPC exporter over one lazily connected channel.
pub struct OtlpGrpcExporter {
    cfg: OtlpGrpcConfig,
    /// Made on first export (creating a channel needs the runtime, validation does not) and
    /// remade when TLS certificate files change.
    channel: Reloading<Channel>,
    metadata: MetadataMap,
    /// `auth.authenticator`, and the client authenticator the service attached for it.
    auth_id: Option<ComponentId>,
    auth: Option<Arc<dyn ClientAuth>>,
    log_once: Arc<LogOnce>,
}

impl OtlpGrpcExporter {
    /// Builds the exporter; no connection is made until the first export.
    pub fn new(cfg: OtlpGrpcConfig) -> Result<Self, ComponentConfigError> {
        let uri = cfg.uri()?;
        let tls = if uri.starts_with("https://") {
            Some(cfg.tls.to_client()?)
        } else {
            None
        };
        cfg.sending_queue.check()?;
        check_retry(&cfg.retry_on_failure)?;
        let auth_id = AuthRef::parse(&cfg.auth)?;
        let mut endpoint = Endpoint::from_shared(uri.clone())
            .map_err(|e| ComponentConfigError::at(&["endpoint"], format!("invalid endpoint: {e}")))?
            .timeout(cfg.timeout)
            .connect_timeout(cfg.timeout);
        if let Some(a) = &cfg.authority {
            endpoint = endpoint.origin(format!("http://{a}").parse().map_err(|e| {
                ComponentConfigError::at(&["authority"], format!("invalid authority: {e}"))
            })?);
        }
        let mut metadata = MetadataMap::new();
        for (k, v) in &cfg.headers {
            let key = MetadataKey::from_bytes(k.to_ascii_lowercase().as_bytes()).map_err(|_| {
                ComponentConfigError::at(&["headers", k], "not a valid gRPC metadata key")
            })?;
            let val = MetadataValue::try_from(v.as_str()).map_err(|_| {
                ComponentConfigError::at(&["headers", k], "value is not valid ASCII metadata")
            })?;
            metadata.insert(key, val);
        }
        Ok(OtlpGrpcExporter {
            channel: {
                let (endpoint, timeout) = (endpoint.clone(), cfg.timeout);
                Reloading::new(tls, move |tls| match tls {
                    None => Ok(endpoint.connect_lazy()),
                    Some(t) => Ok(endpoint.connect_with_connector_lazy(https_connector(
                        Some(t),
                        Alpn::H2,
                        timeout,
                    )?)),
                })
            },
            cfg,
            metadata,
            auth_id,
            auth: None,
            log_once: Arc::new(LogOnce::default()),
        })
    }

    /// The call's metadata: the configured headers and the authenticator's (re-read per
    /// call, so rotated tokens apply at once). The deadline goes in `grpc_call::unary`.
    fn metadata(&self) -> Result<MetadataMap, tonic::Status> {
        let mut metadata = self.metadata.clone();
        if let Some(auth) = &self.auth {
            let headers = auth
                .headers()
                .map_err(|e| tonic::Status::unauthenticated(format!("authenticator: {e}")))?;
            for (k, v) in headers {
                let key = MetadataKey::from_bytes(k.as_str().as_bytes())
                    .map_err(|_| tonic::Status::internal("authenticator header name"))?;
                let val = MetadataValue::try_from(v.as_bytes())
                    .map_err(|_| tonic::Status::internal("authenticator header value"))?;
                metadata.insert(key, val);
            }
        }
        Ok(metadata)
    }

    fn partial(&self, signal: Signal, rejected: i64, message: &str) {
        if rejected > 0 && self.log_once.first(&format!("partial:{message}")) {
            tracing::warn!(endpoint = %self.cfg.endpoint, %signal, rejected, message,
                "backend rejected part of an export (partial success)");
        }
    }
}

const TRACES_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
const METRICS_PATH: &str = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";
const LOGS_PATH: &str = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";

impl OtlpGrpcExporter {
    /// Calls `path` with `message`, already compressed as configured.
    async fn unary<R: prost::Message + Default + Send + Sync + 'static>(
        &self,
        path: &'static str,
        message: &[u8],
    ) -> Result<R, tonic::Status> {
        let channel = self
            .channel
            .get()
            .map_err(|e| tonic::Status::unavailable(format!("TLS: {e}")))?;
        grpc_call::unary(
            channel,
            path,
            self.metadata()?,
            message,
            self.cfg.compression,
            self.cfg.timeout,
        )
        .await
    }

    /// The request compressed as configured: gzip from the stream built while the batch
    /// grew when there is one.
    fn wire_message(&self, data: &Encoded) -> Result<Bytes, ExportError> {
        match self.cfg.compression {
            Compression::Gzip => data
                .gzip(GZIP_LEVEL)
                .map_err(|e| ExportError::Permanent(format!("cannot compress request: {e}"))),
            _ => self.compress(data.parts()),
        }
    }

    /// The concatenation of `parts`, compressed as configured.
    fn compress(&self, parts: &[Bytes]) -> Result<Bytes, ExportError> {
        self.cfg
            .compression
            .apply(GZIP_LEVEL, ZSTD_LEVEL, parts)
            .map_err(|e| ExportError::Permanent(format!("cannot compress request: {e}")))
    }
}

impl OtlpGrpcExporter {
    /// Sends one request (`message`: encoded and compressed) and logs partial successes.
    async fn send(&self, signal: Signal, message: &[u8]) -> Result<(), ExportError> {
        let map = |s: tonic::Status| map_status(&s, &self.cfg.endpoint);
        match signal {
            Signal::Traces => {
                let resp: ExportTraceServiceResponse =
                    self.unary(TRACES_PATH, message).await.map_err(map)?;
                if let Some(p) = resp.partial_success {
                    self.partial(signal, p.rejected_spans, &p.error_message);
                }
            }
            Signal::Metrics => {
                let resp: ExportMetricsServiceResponse =
                    self.unary(METRICS_PATH, message).await.map_err(map)?;
                if let Some(p) = resp.partial_success {
                    self.partial(signal, p.rejected_data_points, &p.error_message);
                }
            }
            Signal::Logs => {
                let resp: ExportLogsServiceResponse =
                    self.unary(LOGS_PATH, message).await.map_err(map)?;
                if let Some(p) = resp.partial_success {
                    self.partial(signal, p.rejected_log_records, &p.error_message);
                }
            }
        }
        Ok(())
    }

    /// Sends one pre-encoded request to another unary method over this exporter's channel,
    /// with its metadata, compression and timeout (the `jaeger` exporter's PostSpans).
    pub async fn call<R: prost::Message + Default + Send + Sync + 'static>(
        &self,
        path: &'static str,
        body: Bytes,
    ) -> Result<R, ExportError> {
        let message = self.compress(&[body])?;
        self.unary(path, &message)
            .await
            .map_err(|s| map_status(&s, &self.cfg.endpoint))
    }
}

#[async_trait]
impl Exporter for OtlpGrpcExporter {
    fn auth_id(&self) -> Option<ComponentId> {
        self.auth_id.clone()
    }

    fn attach_auth(&mut self, auth: Arc<dyn ClientAuth>) {
        self.auth = Some(auth);
    }

    async fn export(&self, data: &Data) -> Result<(), ExportError> {
        let message = self.wire_message(&Encoded::from_data(data))?;
        self.send(data.signal(), &message).await
    }

    /// Sends the received bytes as they are: no decode, no encode.
    async fn export_encoded(&self, data: &Encoded) -> Result<(), ExportError> {
        let message = self.wire_message(data)?;
        self.send(data.signal(), &message).await
    }

    fn gzip_level(&self) -> Option<u32> {
        (self.cfg.compression == Compression::Gzip).then_some(GZIP_LEVEL)
    }

    fn queue_settings(&self) -> QueueSettings {
        self.cfg.sending_queue.settings(&self.cfg.retry_on_failure)
    }
}

/// Maps a gRPC status to retryable or permanent, as the collector's OTLP exporter does.
pub fn map_status(status: &tonic::Status, endpoint: &str) -> ExportError {
    use tonic::Code::*;
    let details = RpcStatus::from_tonic(status);
    let retry_after = details.as_ref().and_then(|d| d.retry_after());
    let message = format!(
        "{endpoint}: {:?}: {}",
        status.code(),
        if status.message().is_empty() {
            "(no message)"
        } else {
            status.message()
        }
    );
    let retryable = match status.code() {
        Unavailable | DeadlineExceeded | Aborted | Cancelled | OutOfRange | DataLoss => true,
        ResourceExhausted => retry_after.is_some(),
        _ => false,
    };
    if retryable {
        ExportError::Retryable {
            message,
            retry_after,
        }
    } else {
        ExportError::Permanent(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cfg(v: Value) -> Result<Box<dyn Exporter>, ComponentConfigError> {
        create(&ComponentId::parse("otlp").unwrap(), &v)
    }

    #[tokio::test]
    async fn config_rules_match_the_collector() {
        assert!(cfg(json!({"endpoint": "localhost:4317", "tls": {"insecure": true}})).is_ok());
        assert!(cfg(json!({"endpoint": "http://localhost:4317"})).is_ok());
        let e = cfg(json!({})).err().unwrap();
        assert_eq!(e.path, ["endpoint"]);
        // host:port without tls.insecure means TLS (system roots), as in the collector.
        let c: OtlpGrpcConfig = decode(&json!({"endpoint": "localhost:4317"})).unwrap();
        assert_eq!(c.uri().unwrap(), "https://localhost:4317");
        assert!(cfg(json!({"endpoint": "https://x:1"})).is_ok());
        let e = cfg(json!({"endpoint": "x:1", "tls": {"ca_file": "/nonexistent.pem"}}))
            .err()
            .unwrap();
        assert_eq!(e.path, ["tls"]);
        assert!(e.message.contains("/nonexistent.pem"), "{e}");
        let e = cfg(json!({"endpoint": "x:1", "tls": {"min_version": "1.1"}}))
            .err()
            .unwrap();
        assert_eq!(e.path, ["tls", "min_version"]);
        let e = cfg(json!({"endpoint": "http://x:1", "compression": "gzp"}))
            .err()
            .unwrap();
        assert_eq!(e.path, ["compression"]);
        assert!(
            e.message.contains("did you mean \"gzip\"") || e.message.contains("gzip"),
            "{e}"
        );
        let e = cfg(json!({"endpoint": "http://x:1", "timout": "1s"}))
            .err()
            .unwrap();
        assert_eq!(e.hint.as_deref(), Some("did you mean \"timeout\"?"));
        let q =
            cfg(json!({"endpoint": "http://x:1", "sending_queue": {"num_consumers": 3}})).unwrap();
        assert_eq!(q.queue_settings().concurrency, 3);
    }

    #[test]
    fn maps_statuses_as_upstream() {
        let s = tonic::Status::unavailable("down");
        assert!(matches!(map_status(&s, "e"), ExportError::Retryable { .. }));
        let s = tonic::Status::invalid_argument("bad");
        assert!(matches!(map_status(&s, "e"), ExportError::Permanent(_)));
        let s = tonic::Status::resource_exhausted("slow down");
        assert!(matches!(map_status(&s, "e"), ExportError::Permanent(_)));
        let s = RpcStatus::new(tonic::Code::ResourceExhausted, "slow down")
            .with_retry_after(Duration::from_secs(2))
            .to_tonic();
        match map_status(&s, "e") {
            ExportError::Retryable { retry_after, .. } => {
                assert_eq!(retry_after, Some(Duration::from_secs(2)))
            }
            other => panic!("{other:?}"),
        }
    }
}
