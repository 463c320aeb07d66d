//! The `otlp_http` exporter (older name `otlphttp`): OTLP over HTTP with protobuf or JSON
//! bodies, POSTed to `<endpoint>/v1/<signal>` or the per-signal URL overrides.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;
use serde_json::Value;

use super::common::{
    check_retry, compression, Compression, QueueConfig, RetryConfig, TlsClientConfig,
};
use crate::auth::{AuthRef, ClientAuth};
use crate::component::{ComponentConfigError, ComponentId, ExportError, Exporter, QueueSettings};
use crate::config::decode::{decode, did_you_mean, duration};
use crate::otlp_json;
use crate::registry::{ExporterCreate, Factory};
use crate::rpc_status::RpcStatus;
use crate::signal::{Data, Encoded, Signal};
use crate::tls::{https_connector, Alpn, Reloading};

/// The gzip level when `compression_params.level` is unset: the collector's confighttp uses
/// zlib's default compression.
pub const GZIP_LEVEL: u32 = 6;
/// The zstd level when `compression_params.level` is unset (the collector's klauspost encoder
/// picks its fastest level for the default).
pub const ZSTD_LEVEL: i32 = 1;

/// `compression_params:` (confighttp): the level to compress at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CompressionParams {
    /// gzip: 1–9, or -1 (default); zstd: any level zstd takes; 0: the default.
    pub level: i32,
}

/// The `otlp_http` exporter's factory.
pub const FACTORY: Factory<ExporterCreate> = Factory {
    type_name: "otlp_http",
    deprecated_names: &["otlphttp"],
    signals: &[Signal::Traces, Signal::Metrics, Signal::Logs],
    stability: "beta",
    create,
};

/// Body encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    /// `application/x-protobuf` (default).
    #[default]
    Proto,
    /// `application/json` (OTLP/JSON).
    Json,
}

fn encoding<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Encoding, D::Error> {
    match String::deserialize(d)?.as_str() {
        "proto" => Ok(Encoding::Proto),
        "json" => Ok(Encoding::Json),
        other => Err(serde::de::Error::custom(format!(
            "unsupported encoding {other:?} (supported: proto, json){}",
            did_you_mean(other, ["proto", "json"])
                .map(|h| format!("; {h}"))
                .unwrap_or_default()
        ))),
    }
}

/// `exporters: otlp_http:` config.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtlpHttpConfig {
    /// Base URL; `/v1/traces`, `/v1/metrics`, `/v1/logs` are appended.
    pub endpoint: String,
    /// Full URL for traces (overrides `endpoint`).
    pub traces_endpoint: Option<String>,
    /// Full URL for metrics (overrides `endpoint`).
    pub metrics_endpoint: Option<String>,
    /// Full URL for logs (overrides `endpoint`).
    pub logs_endpoint: Option<String>,
    /// `proto` (default) or `json`.
    #[serde(deserialize_with = "encoding")]
    pub encoding: Encoding,
    /// `gzip` (default), `zstd` or `none`.
    #[serde(deserialize_with = "compression")]
    pub compression: Compression,
    /// The compression level (`level`), as confighttp takes it.
    pub compression_params: CompressionParams,
    /// Extra HTTP headers (values are secrets: never logged).
    pub headers: BTreeMap<String, String>,
    /// Per-request timeout (default 30s).
    #[serde(deserialize_with = "duration")]
    pub timeout: Duration,
    /// Client TLS (only plaintext http:// is supported yet).
    pub tls: TlsClientConfig,
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
    /// Retry settings.
    pub retry_on_failure: RetryConfig,
    /// Queue settings; `num_consumers` sets concurrent exports.
    pub sending_queue: QueueConfig,
    /// Authenticator: not supported yet.
    pub auth: Option<Value>,
}

impl Default for OtlpHttpConfig {
    fn default() -> Self {
        OtlpHttpConfig {
            endpoint: String::new(),
            traces_endpoint: None,
            metrics_endpoint: None,
            logs_endpoint: None,
            encoding: Encoding::Proto,
            compression: Compression::Gzip,
            compression_params: CompressionParams::default(),
            headers: BTreeMap::new(),
            timeout: Duration::from_secs(30),
            tls: TlsClientConfig::default(),
            read_buffer_size: None,
            write_buffer_size: None,
            max_idle_conns: None,
            max_idle_conns_per_host: None,
            max_conns_per_host: None,
            idle_conn_timeout: None,
            disable_keep_alives: false,
            retry_on_failure: RetryConfig::default(),
            sending_queue: QueueConfig::default(),
            auth: None,
        }
    }
}

fn parse_url(key: &str, url: &str) -> Result<Uri, ComponentConfigError> {
    let uri: Uri = url
        .parse()
        .map_err(|e| ComponentConfigError::at(&[key], format!("invalid URL {url:?}: {e}")))?;
    match uri.scheme_str() {
        Some("http") | Some("https") => Ok(uri),
        _ => Err(ComponentConfigError::at(
            &[key],
            format!("URL {url:?} must start with http:// or https://"),
        )),
    }
}

impl OtlpHttpConfig {
    /// The URL each signal is sent to.
    pub fn urls(&self) -> Result<[Uri; 3], ComponentConfigError> {
        let base = self.endpoint.trim().trim_end_matches('/');
        let one = |key: &str, over: &Option<String>, path: &str| match over {
            Some(u) => parse_url(key, u),
            None if base.is_empty() => Err(ComponentConfigError::at(
                &["endpoint"],
                format!("endpoint is required (or set {key})"),
            )),
            None => parse_url("endpoint", &format!("{base}{path}")),
        };
        Ok([
            one("traces_endpoint", &self.traces_endpoint, "/v1/traces")?,
            one("metrics_endpoint", &self.metrics_endpoint, "/v1/metrics")?,
            one("logs_endpoint", &self.logs_endpoint, "/v1/logs")?,
        ])
    }
}

impl OtlpHttpConfig {
    /// The gzip level: `compression_params.level`, zlib's default (6) when unset or -1.
    pub fn gzip_level(&self) -> u32 {
        match self.compression_params.level {
            1..=9 => self.compression_params.level as u32,
            _ => GZIP_LEVEL,
        }
    }

    /// The levels confighttp accepts: gzip -1 (default) or 1–9 (-2, Huffman only, is not
    /// offered here), zstd any, none only 0.
    fn check_compression_params(&self) -> Result<(), ComponentConfigError> {
        let level = self.compression_params.level;
        let ok = match self.compression {
            Compression::Gzip => matches!(level, -1..=9),
            Compression::Zstd => true,
            Compression::None => level == 0,
        };
        if ok {
            return Ok(());
        }
        Err(ComponentConfigError::at(
            &["compression_params", "level"],
            match self.compression {
                Compression::Gzip if level == -2 => {
                    "gzip level -2 (Huffman only) is not supported; use 1–9 or -1".to_string()
                }
                Compression::Gzip => {
                    format!("unsupported gzip level {level}; use 1–9 or -1 (default)")
                }
                _ => format!("level {level} needs a compression (gzip or zstd)"),
            },
        ))
    }
}

fn create(_id: &ComponentId, raw: &Value) -> Result<Box<dyn Exporter>, ComponentConfigError> {
    let cfg: OtlpHttpConfig = decode(raw)?;
    Ok(Box::new(OtlpHttpExporter::new(cfg)?))
}

/// The HTTP(S) client exports go through.
type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A running OTLP/HTTP exporter.
pub struct OtlpHttpExporter {
    cfg: OtlpHttpConfig,
    urls: [Uri; 3],
    headers: Vec<(HeaderName, HeaderValue)>,
    /// `auth.authenticator`, and the client authenticator the service attached for it.
    auth_id: Option<ComponentId>,
    auth: Option<Arc<dyn ClientAuth>>,
    /// Made on first export, inside the runtime; remade when TLS certificate files change.
    client: Reloading<HttpClient>,
}

impl OtlpHttpExporter {
    /// Builds the exporter; connections are made on first use.
    pub fn new(cfg: OtlpHttpConfig) -> Result<Self, ComponentConfigError> {
        let urls = cfg.urls()?;
        cfg.check_compression_params()?;
        // TLS applies to https:// URLs; http:// ones stay plaintext, as in the collector.
        let tls = cfg.tls.to_client()?;
        cfg.sending_queue.check()?;
        check_retry(&cfg.retry_on_failure)?;
        let auth_id = AuthRef::parse(&cfg.auth)?;
        let headers = super::common::header_pairs(&cfg.headers)?;
        Ok(OtlpHttpExporter {
            auth_id,
            auth: None,
            urls,
            headers,
            client: {
                let timeout = cfg.timeout;
                Reloading::new(Some(tls), move |tls| {
                    let connector = https_connector(tls, Alpn::Http, timeout)?;
                    Ok(Client::builder(TokioExecutor::new()).build(connector))
                })
            },
            cfg,
        })
    }

    fn client(&self) -> Result<HttpClient, ExportError> {
        self.client
            .get()
            .map_err(|e| ExportError::Permanent(format!("TLS: {e}")))
    }

    /// The request body for decoded data: encoded as configured, then compressed.
    fn body(&self, data: &Data) -> Result<Bytes, ExportError> {
        let raw = match self.cfg.encoding {
            Encoding::Json => Bytes::from(otlp_json::encode_data(data)),
            Encoding::Proto => crate::signal::encode(data),
        };
        self.compress(&[raw])
    }

    /// Compresses the concatenation of `parts` as configured.
    fn compress(&self, parts: &[Bytes]) -> Result<Bytes, ExportError> {
        let zstd_level = match self.cfg.compression_params.level {
            0 => ZSTD_LEVEL,
            l => l,
        };
        self.cfg
            .compression
            .apply(self.cfg.gzip_level(), zstd_level, parts)
            .map_err(|e| ExportError::Permanent(format!("cannot compress body: {e}")))
    }
}

#[async_trait]
impl Exporter for OtlpHttpExporter {
    fn auth_id(&self) -> Option<ComponentId> {
        self.auth_id.clone()
    }

    fn attach_auth(&mut self, auth: Arc<dyn ClientAuth>) {
        self.auth = Some(auth);
    }

    async fn export(&self, data: &Data) -> Result<(), ExportError> {
        let body = self.body(data)?;
        self.send(data.signal(), body).await
    }

    /// Protobuf bodies are the received bytes as they are (compressed); JSON needs decoding.
    async fn export_encoded(&self, data: &Encoded) -> Result<(), ExportError> {
        match self.cfg.encoding {
            Encoding::Proto => {
                let body = match self.cfg.compression {
                    // The stream built while the batch grew, when there is one.
                    Compression::Gzip => data.gzip(self.cfg.gzip_level()).map_err(|e| {
                        ExportError::Permanent(format!("cannot compress body: {e}"))
                    })?,
                    _ => self.compress(data.parts())?,
                };
                self.send(data.signal(), body).await
            }
            Encoding::Json => {
                let decoded = data
                    .decode()
                    .map_err(|e| ExportError::Permanent(format!("cannot decode request: {e}")))?;
                self.export(&decoded).await
            }
        }
    }

    fn gzip_level(&self) -> Option<u32> {
        (self.cfg.compression == Compression::Gzip && self.cfg.encoding == Encoding::Proto)
            .then(|| self.cfg.gzip_level())
    }

    fn queue_settings(&self) -> QueueSettings {
        self.cfg.sending_queue.settings(&self.cfg.retry_on_failure)
    }
}

impl OtlpHttpExporter {
    /// POSTs one body to the signal's URL and maps the answer.
    async fn send(&self, signal: Signal, body: Bytes) -> Result<(), ExportError> {
        let url = match signal {
            Signal::Traces => &self.urls[0],
            Signal::Metrics => &self.urls[1],
            Signal::Logs => &self.urls[2],
        };
        let json = self.cfg.encoding == Encoding::Json;
        let mut req = Request::post(url.clone()).header(
            http::header::CONTENT_TYPE,
            if json {
                "application/json"
            } else {
                "application/x-protobuf"
            },
        );
        if let Some(e) = self.cfg.compression.header() {
            req = req.header(http::header::CONTENT_ENCODING, e);
        }
        let req = super::common::with_request_headers(req, &self.headers, self.auth.as_ref())?;
        let req = req
            .body(Full::new(body))
            .map_err(|e| ExportError::Permanent(format!("cannot build request to {url}: {e}")))?;
        let client = self.client()?;
        let call = async {
            let resp = client
                .request(req)
                .await
                .map_err(|e| ExportError::Retryable {
                    message: format!("{url}: {}", crate::telemetry::error_chain(&e)),
                    retry_after: None,
                })?;
            let status = resp.status();
            let retry_after = resp
                .headers()
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after);
            let resp_json = resp
                .headers()
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("application/json"));
            let body = resp
                .into_body()
                .collect()
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            Ok::<_, ExportError>((status, retry_after, resp_json, body))
        };
        let (status, retry_after, resp_json, body) =
            match tokio::time::timeout(self.cfg.timeout, call).await {
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
        let detail = RpcStatus::from_body(&body, resp_json)
            .map(|s| s.message)
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned());
        let message = format!("{url}: HTTP {}: {}", status.as_u16(), detail.trim());
        match status.as_u16() {
            429 | 502 | 503 | 504 => Err(ExportError::Retryable {
                message,
                retry_after,
            }),
            _ => Err(ExportError::Permanent(message)),
        }
    }
}

/// `Retry-After`: delay-seconds or an HTTP date.
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cfg(v: Value) -> Result<Box<dyn Exporter>, ComponentConfigError> {
        create(&ComponentId::parse("otlphttp").unwrap(), &v)
    }

    #[test]
    fn builds_signal_urls_like_the_collector() {
        let c: OtlpHttpConfig = decode(&json!({
            "endpoint": "http://collector:4318/",
            "logs_endpoint": "http://logs:9000/custom"
        }))
        .unwrap();
        let [t, m, l] = c.urls().unwrap();
        assert_eq!(t.to_string(), "http://collector:4318/v1/traces");
        assert_eq!(m.to_string(), "http://collector:4318/v1/metrics");
        assert_eq!(l.to_string(), "http://logs:9000/custom");
    }

    #[test]
    fn rejects_bad_configs() {
        assert_eq!(cfg(json!({})).err().unwrap().path, ["endpoint"]);
        assert!(cfg(json!({"endpoint": "https://x"})).is_ok());
        assert!(cfg(json!({"endpoint": "ftp://x"}))
            .err()
            .unwrap()
            .message
            .contains("https://"));
        let e = cfg(json!({"endpoint": "https://x", "tls": {"cert_file": "/c.pem"}}))
            .err()
            .unwrap();
        assert_eq!(e.path, ["tls"]);
        let e = cfg(json!({"endpoint": "http://x", "encoding": "jsn"}))
            .err()
            .unwrap();
        assert!(e.message.contains("did you mean \"json\""), "{e}");
        assert!(cfg(json!({"endpoint": "http://x:4318"})).is_ok());
    }

    #[test]
    fn parses_retry_after() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn compression_params_take_confighttp_levels() {
        let level = |v: Value| -> Result<u32, ComponentConfigError> {
            let c: OtlpHttpConfig = decode(&v).unwrap();
            c.check_compression_params()?;
            Ok(c.gzip_level())
        };
        let ep = "http://x:4318";
        assert_eq!(
            level(json!({"endpoint": ep})).unwrap(),
            6,
            "zlib's default, as upstream"
        );
        assert_eq!(
            level(json!({"endpoint": ep, "compression_params": {"level": 1}})).unwrap(),
            1
        );
        assert_eq!(
            level(json!({"endpoint": ep, "compression_params": {"level": -1}})).unwrap(),
            6
        );
        for bad in [10, -2, -3] {
            let e =
                level(json!({"endpoint": ep, "compression_params": {"level": bad}})).unwrap_err();
            assert_eq!(e.path, ["compression_params", "level"], "{bad}");
        }
        let zstd =
            json!({"endpoint": ep, "compression": "zstd", "compression_params": {"level": 19}});
        assert!(level(zstd).is_ok());
        let none =
            json!({"endpoint": ep, "compression": "none", "compression_params": {"level": 3}});
        assert!(level(none)
            .unwrap_err()
            .message
            .contains("needs a compression"));
        assert!(cfg(json!({"endpoint": ep, "compression_params": {"levle": 3}})).is_err());
    }
}
