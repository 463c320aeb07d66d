//! The collector's `tls:` blocks (configtls `ClientConfig` and `ServerConfig`) with its keys
//! and defaults, checked into [`ClientTls`] / [`ServerTls`] with errors at the key at fault.

use serde::Deserialize;
use serde_json::Value;

use std::sync::Arc;

use super::acceptor::ServerTlsSource;
use super::{ClientTls, PemSource, ServerTls, TlsError, TlsVersion};

/// ALPN a gRPC server offers.
pub const GRPC_ALPN: &[&[u8]] = &[b"h2"];
/// ALPN an HTTP server offers.
pub const HTTP_ALPN: &[&[u8]] = &[b"h2", b"http/1.1"];

/// The running TLS source for a server's optional `tls:` (errors name `what`).
pub fn server_source(
    what: &str,
    tls: &Option<TlsServerSetting>,
    alpn: &[&[u8]],
) -> anyhow::Result<Option<Arc<ServerTlsSource>>> {
    let Some(t) = tls else { return Ok(None) };
    let server = t
        .to_server(alpn)
        .map_err(|e| anyhow::anyhow!("{what}: {e}"))?;
    let source = ServerTlsSource::new(server, alpn).map_err(|e| anyhow::anyhow!("{what}: {e}"))?;
    Ok(Some(Arc::new(source)))
}
use crate::component::ComponentConfigError;

fn at(key: &str, e: impl std::fmt::Display) -> ComponentConfigError {
    ComponentConfigError::at(&["tls", key], e.to_string())
}

fn source(
    file: &Option<String>,
    pem: &Option<String>,
    name: &str,
) -> Result<Option<PemSource>, ComponentConfigError> {
    match (file, pem) {
        (Some(_), Some(_)) => Err(at(
            &format!("{name}_file"),
            format!("set {name}_file or {name}_pem, not both"),
        )),
        (Some(f), None) if !f.is_empty() => Ok(Some(PemSource::File(f.clone()))),
        (None, Some(p)) if !p.is_empty() => Ok(Some(PemSource::Inline(p.clone()))),
        _ => Ok(None),
    }
}

fn version(v: &Option<String>, key: &str) -> Result<Option<TlsVersion>, ComponentConfigError> {
    v.as_deref()
        .filter(|s| !s.is_empty())
        .map(TlsVersion::parse)
        .transpose()
        .map_err(|e| at(key, e))
}

fn unsupported_lists(
    cipher_suites: &[String],
    curve_preferences: &[String],
) -> Result<(), ComponentConfigError> {
    if !cipher_suites.is_empty() {
        return Err(at(
            "cipher_suites",
            "choosing cipher suites is not supported: rustls offers only secure suites (TLS 1.3 suites and ECDHE with AES-GCM or ChaCha20-Poly1305 for 1.2)",
        ));
    }
    if !curve_preferences.is_empty() {
        return Err(at(
            "curve_preferences",
            "choosing curves is not supported: rustls offers X25519, P-256 and P-384",
        ));
    }
    Ok(())
}

fn built(e: TlsError) -> ComponentConfigError {
    ComponentConfigError::at(&["tls"], e.0)
}

/// A client's `tls:` (exporters). Defaults as the collector: TLS on, system roots, TLS 1.2+.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsClientSetting {
    /// gRPC: connect in plaintext (no TLS). HTTP clients follow the URL's scheme instead.
    pub insecure: bool,
    /// Do not verify the server's certificate.
    pub insecure_skip_verify: bool,
    /// CA file to trust instead of the system roots.
    pub ca_file: Option<String>,
    /// CA as inline PEM.
    pub ca_pem: Option<String>,
    /// Client certificate file (mTLS).
    pub cert_file: Option<String>,
    /// Client certificate as inline PEM.
    pub cert_pem: Option<String>,
    /// Client key file.
    pub key_file: Option<String>,
    /// Client key as inline PEM.
    pub key_pem: Option<String>,
    /// Name to verify the server's certificate against (and send as SNI).
    pub server_name_override: Option<String>,
    /// Lowest TLS version (`1.2` default, or `1.3`).
    pub min_version: Option<String>,
    /// Highest TLS version.
    pub max_version: Option<String>,
    /// Accepted for compatibility: files are re-read whenever they change.
    pub reload_interval: Option<Value>,
    /// Also trust the system roots besides `ca_file` (not supported: a CA file replaces them).
    pub include_system_ca_certs_pool: bool,
    /// Not supported (rustls chooses).
    pub cipher_suites: Vec<String>,
    /// Not supported (rustls chooses).
    pub curve_preferences: Vec<String>,
}

impl TlsClientSetting {
    /// The checked client settings (files read once to catch errors now).
    pub fn to_client(&self) -> Result<ClientTls, ComponentConfigError> {
        unsupported_lists(&self.cipher_suites, &self.curve_preferences)?;
        if self.include_system_ca_certs_pool && (self.ca_file.is_some() || self.ca_pem.is_some()) {
            return Err(at(
                "include_system_ca_certs_pool",
                "trusting the system roots and a CA file together is not supported; put both in one CA file",
            ));
        }
        let tls = ClientTls {
            ca: source(&self.ca_file, &self.ca_pem, "ca")?,
            cert: source(&self.cert_file, &self.cert_pem, "cert")?,
            key: source(&self.key_file, &self.key_pem, "key")?,
            server_name: self.server_name_override.clone().filter(|s| !s.is_empty()),
            insecure_skip_verify: self.insecure_skip_verify,
            min_version: version(&self.min_version, "min_version")?,
            max_version: version(&self.max_version, "max_version")?,
        };
        tls.build().map_err(built)?;
        tls.server_name()
            .map_err(|e| at("server_name_override", e))?;
        Ok(tls)
    }
}

/// A server's `tls:` (receivers, the prometheus exporter, extensions). Present means TLS on;
/// `cert_file` and `key_file` (or their `_pem` forms) are then required.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsServerSetting {
    /// Accepted as the collector does; servers verify clients with `client_ca_file`.
    pub ca_file: Option<String>,
    /// Accepted as the collector does.
    pub ca_pem: Option<String>,
    /// Server certificate file.
    pub cert_file: Option<String>,
    /// Server certificate as inline PEM.
    pub cert_pem: Option<String>,
    /// Server key file.
    pub key_file: Option<String>,
    /// Server key as inline PEM.
    pub key_pem: Option<String>,
    /// Require client certificates signed by this CA (mTLS).
    pub client_ca_file: Option<String>,
    /// Accepted for compatibility: the client CA file is re-read whenever it changes.
    pub client_ca_file_reload: bool,
    /// Lowest TLS version (`1.2` default, or `1.3`).
    pub min_version: Option<String>,
    /// Highest TLS version.
    pub max_version: Option<String>,
    /// Accepted for compatibility: files are re-read whenever they change.
    pub reload_interval: Option<Value>,
    /// Accepted as the collector does.
    pub include_system_ca_certs_pool: bool,
    /// Not supported (rustls chooses).
    pub cipher_suites: Vec<String>,
    /// Not supported (rustls chooses).
    pub curve_preferences: Vec<String>,
}

impl TlsServerSetting {
    /// The checked server settings (files read once to catch errors now).
    pub fn to_server(&self, alpn: &[&[u8]]) -> Result<ServerTls, ComponentConfigError> {
        unsupported_lists(&self.cipher_suites, &self.curve_preferences)?;
        let cert = source(&self.cert_file, &self.cert_pem, "cert")?
            .ok_or_else(|| at("cert_file", "a TLS server needs cert_file (or cert_pem)"))?;
        let key = source(&self.key_file, &self.key_pem, "key")?
            .ok_or_else(|| at("key_file", "a TLS server needs key_file (or key_pem)"))?;
        let tls = ServerTls {
            cert,
            key,
            client_ca: self
                .client_ca_file
                .clone()
                .filter(|s| !s.is_empty())
                .map(PemSource::File),
            min_version: version(&self.min_version, "min_version")?,
            max_version: version(&self.max_version, "max_version")?,
        };
        tls.build(alpn).map_err(built)?;
        Ok(tls)
    }
}
