//! Config of the `otlp` receiver, with the collector's keys and defaults.

use serde::Deserialize;
use serde_json::Value;

use crate::component::ComponentConfigError;
use std::time::Duration;

use super::attr_limits::AttributeLimits;
use crate::config::decode::{decode, did_you_mean, duration, listen_endpoint};
use crate::tls::config::TlsServerSetting;

/// `receivers: otlp:`. A protocol is enabled when its key is present, even with no value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OtlpConfig {
    /// `protocols.grpc`, if enabled.
    pub grpc: Option<GrpcConfig>,
    /// `protocols.http`, if enabled.
    pub http: Option<HttpConfig>,
}

/// `protocols.grpc`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrpcConfig {
    /// Listen address (default `localhost:4317`).
    pub endpoint: String,
    /// `tcp` (the only transport supported).
    pub transport: String,
    /// Largest accepted message, in MiB, after decompression (default 4).
    pub max_recv_msg_size_mib: u64,
    /// Concurrent streams per HTTP/2 connection (0 = no limit).
    pub max_concurrent_streams: u32,
    /// Read buffer size in bytes (accepted for compatibility).
    pub read_buffer_size: Option<u64>,
    /// Write buffer size in bytes (accepted for compatibility).
    pub write_buffer_size: Option<u64>,
    /// Copy gRPC metadata into the data's client metadata (used by batch `metadata_keys`).
    pub include_metadata: bool,
    /// Keepalive settings (accepted; tonic's defaults apply).
    pub keepalive: Option<Value>,
    /// TLS (cert_file/key_file, client_ca_file for mTLS, versions); absent = plaintext.
    pub tls: Option<TlsServerSetting>,
    /// `auth: {authenticator: ID}`: a bearertokenauth or basicauth extension checks requests.
    pub auth: Option<Value>,
    /// The receiver's `attribute_limits` (set from the top level, not under the protocol).
    #[serde(skip)]
    pub attribute_limits: AttributeLimits,
}

pub use crate::tls::config::{GRPC_ALPN, HTTP_ALPN};

impl Default for GrpcConfig {
    fn default() -> Self {
        GrpcConfig {
            endpoint: "localhost:4317".into(),
            transport: "tcp".into(),
            max_recv_msg_size_mib: 4,
            max_concurrent_streams: 0,
            read_buffer_size: None,
            write_buffer_size: None,
            include_metadata: false,
            keepalive: None,
            tls: None,
            auth: None,
            attribute_limits: AttributeLimits::default(),
        }
    }
}

/// `protocols.http`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Listen address (default `localhost:4318`).
    pub endpoint: String,
    /// Path for traces (default `/v1/traces`).
    pub traces_url_path: String,
    /// Path for metrics (default `/v1/metrics`).
    pub metrics_url_path: String,
    /// Path for logs (default `/v1/logs`).
    pub logs_url_path: String,
    /// Largest accepted body in bytes, enforced on the compressed and the decompressed size
    /// (default 20 MiB).
    pub max_request_body_size: u64,
    /// Copy HTTP headers into the data's client metadata.
    pub include_metadata: bool,
    /// CORS for browser clients.
    pub cors: Option<CorsConfig>,
    /// Accepted request encodings (default: all Sluice supports).
    pub compression_algorithms: Option<Vec<String>>,
    /// Time a client has to send a request's headers (default 1m, as upstream; 0 = none).
    #[serde(deserialize_with = "duration")]
    pub read_header_timeout: Duration,
    /// Time a client has to send a request's body once its headers arrived (default 1m;
    /// upstream has none; 0 = none). A slower client gets 504-style DEADLINE_EXCEEDED.
    #[serde(deserialize_with = "duration")]
    pub read_timeout: Duration,
    /// Accepted for compatibility (responses are small).
    pub write_timeout: Option<Value>,
    /// Accepted for compatibility (idle connections are bounded by `max_connections`).
    pub idle_timeout: Option<Value>,
    /// Most connections open at once (default 8192; 0 = no limit). At the cap the server
    /// stops accepting until one closes.
    pub max_connections: usize,
    /// TLS (cert_file/key_file, client_ca_file for mTLS, versions); absent = plaintext.
    pub tls: Option<TlsServerSetting>,
    /// `auth: {authenticator: ID}`: a bearertokenauth or basicauth extension checks requests.
    pub auth: Option<Value>,
    /// The receiver's `attribute_limits` (set from the top level, not under the protocol).
    #[serde(skip)]
    pub attribute_limits: AttributeLimits,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            endpoint: "localhost:4318".into(),
            traces_url_path: "/v1/traces".into(),
            metrics_url_path: "/v1/metrics".into(),
            logs_url_path: "/v1/logs".into(),
            max_request_body_size: 20 * 1024 * 1024,
            include_metadata: false,
            cors: None,
            compression_algorithms: None,
            read_header_timeout: Duration::from_secs(60),
            read_timeout: Duration::from_secs(60),
            write_timeout: None,
            idle_timeout: None,
            max_connections: 8192,
            tls: None,
            auth: None,
            attribute_limits: AttributeLimits::default(),
        }
    }
}

/// `protocols.http.cors`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CorsConfig {
    /// Allowed origins; `*` wildcards allowed (`https://*.example.com`).
    pub allowed_origins: Vec<String>,
    /// Extra allowed request headers.
    pub allowed_headers: Vec<String>,
    /// Preflight cache time in seconds.
    pub max_age: Option<u64>,
}

/// Encodings the HTTP receiver can decompress.
pub const SUPPORTED_ENCODINGS: &[&str] = &["gzip", "zstd", "deflate", "zlib"];

fn prefixed(mut e: ComponentConfigError, prefix: &[&str]) -> ComponentConfigError {
    let mut path: Vec<String> = prefix.iter().map(|s| s.to_string()).collect();
    path.append(&mut e.path);
    e.path = path;
    e
}

impl OtlpConfig {
    /// Decodes and checks the receiver's config.
    pub fn from_value(raw: &Value) -> Result<OtlpConfig, ComponentConfigError> {
        let empty = serde_json::Map::new();
        let top = match raw {
            Value::Null => &empty,
            Value::Object(m) => m,
            _ => {
                return Err(ComponentConfigError::at(
                    &[],
                    "expected a map with `protocols`",
                ))
            }
        };
        for k in top.keys() {
            if k != "protocols" && k != "attribute_limits" {
                let mut e = ComponentConfigError::at(&[k], format!("unknown key `{k}`"));
                e.hint = did_you_mean(k, ["protocols", "attribute_limits"]);
                return Err(e);
            }
        }
        let attribute_limits: AttributeLimits = match top.get("attribute_limits") {
            None | Some(Value::Null) => AttributeLimits::default(),
            Some(v) => decode(v).map_err(|e| prefixed(e, &["attribute_limits"]))?,
        };
        let protocols = match top.get("protocols") {
            Some(Value::Object(m)) => m.clone(),
            Some(Value::Null) | None => serde_json::Map::new(),
            Some(_) => {
                return Err(ComponentConfigError::at(
                    &["protocols"],
                    "expected a map with `grpc` and/or `http`",
                ))
            }
        };
        let mut cfg = OtlpConfig::default();
        for (k, v) in &protocols {
            match k.as_str() {
                "grpc" => {
                    let mut g: GrpcConfig =
                        decode(v).map_err(|e| prefixed(e, &["protocols", "grpc"]))?;
                    g.attribute_limits = attribute_limits;
                    g.check()?;
                    cfg.grpc = Some(g);
                }
                "http" => {
                    let mut h: HttpConfig =
                        decode(v).map_err(|e| prefixed(e, &["protocols", "http"]))?;
                    h.attribute_limits = attribute_limits;
                    h.check()?;
                    cfg.http = Some(h);
                }
                other => {
                    let mut e = ComponentConfigError::at(
                        &["protocols", other],
                        format!("unknown protocol `{other}` (expected grpc or http)"),
                    );
                    e.hint = did_you_mean(other, ["grpc", "http"]);
                    return Err(e);
                }
            }
        }
        if cfg.grpc.is_none() && cfg.http.is_none() {
            return Err(ComponentConfigError::at(
                &["protocols"],
                "must specify at least one protocol when using the OTLP receiver",
            ));
        }
        Ok(cfg)
    }
}

impl GrpcConfig {
    fn check(&self) -> Result<(), ComponentConfigError> {
        let p = ["protocols", "grpc"];
        listen_endpoint(&self.endpoint)
            .map_err(|m| ComponentConfigError::at(&[p[0], p[1], "endpoint"], m))?;
        if self.transport != "tcp" {
            return Err(ComponentConfigError::at(
                &[p[0], p[1], "transport"],
                format!("transport {:?} is not supported (only tcp)", self.transport),
            ));
        }
        if let Some(t) = &self.tls {
            t.to_server(GRPC_ALPN).map_err(|e| prefixed(e, &p))?;
        }
        crate::auth::AuthRef::parse(&self.auth).map_err(|e| prefixed(e, &p))?;
        if self.max_recv_msg_size_mib == 0 {
            return Err(ComponentConfigError::at(
                &[p[0], p[1], "max_recv_msg_size_mib"],
                "must be greater than 0",
            ));
        }
        Ok(())
    }
}

impl HttpConfig {
    fn check(&self) -> Result<(), ComponentConfigError> {
        let p = ["protocols", "http"];
        listen_endpoint(&self.endpoint)
            .map_err(|m| ComponentConfigError::at(&[p[0], p[1], "endpoint"], m))?;
        for (key, path) in [
            ("traces_url_path", &self.traces_url_path),
            ("metrics_url_path", &self.metrics_url_path),
            ("logs_url_path", &self.logs_url_path),
        ] {
            if !path.starts_with('/') {
                return Err(ComponentConfigError::at(
                    &[p[0], p[1], key],
                    format!("path {path:?} must start with '/'"),
                ));
            }
        }
        if let Some(t) = &self.tls {
            t.to_server(HTTP_ALPN).map_err(|e| prefixed(e, &p))?;
        }
        crate::auth::AuthRef::parse(&self.auth).map_err(|e| prefixed(e, &p))?;
        if let Some(algs) = &self.compression_algorithms {
            for a in algs {
                if !a.is_empty() && !SUPPORTED_ENCODINGS.contains(&a.as_str()) {
                    let mut e = ComponentConfigError::at(
                        &[p[0], p[1], "compression_algorithms"],
                        format!(
                            "unsupported compression {a:?} (supported: {})",
                            SUPPORTED_ENCODINGS.join(", ")
                        ),
                    );
                    e.hint = did_you_mean(a, SUPPORTED_ENCODINGS.iter().copied());
                    return Err(e);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_match_the_collector() {
        let c =
            OtlpConfig::from_value(&json!({"protocols": {"grpc": null, "http": null}})).unwrap();
        let g = c.grpc.unwrap();
        let h = c.http.unwrap();
        assert_eq!(g.endpoint, "localhost:4317");
        assert_eq!(g.max_recv_msg_size_mib, 4);
        assert_eq!(h.endpoint, "localhost:4318");
        assert_eq!(h.traces_url_path, "/v1/traces");
        assert_eq!(h.max_request_body_size, 20 * 1024 * 1024);
    }

    #[test]
    fn rejects_bad_configs_with_paths_and_hints() {
        let e = OtlpConfig::from_value(&json!({})).unwrap_err();
        assert!(e.message.contains("at least one protocol"));
        let e = OtlpConfig::from_value(&json!({"protocols": {"grcp": null}})).unwrap_err();
        assert_eq!(e.hint.as_deref(), Some("did you mean \"grpc\"?"));
        let e =
            OtlpConfig::from_value(&json!({"protocols": {"grpc": {"endpont": "x"}}})).unwrap_err();
        assert_eq!(e.path, ["protocols", "grpc", "endpont"]);
        assert_eq!(e.hint.as_deref(), Some("did you mean \"endpoint\"?"));
        let e = OtlpConfig::from_value(&json!({"protocols": {"http": {"endpoint": "nohost"}}}))
            .unwrap_err();
        assert_eq!(e.path, ["protocols", "http", "endpoint"]);
    }
}
