//! Prometheus's `tls_config` block for https scrapes, in Prometheus's own spelling, turned into
//! Sluice's TLS client settings.

use serde::Deserialize;

use crate::tls::{ClientTls, PemSource, TlsError, TlsVersion};

/// `tls_config` of a scrape config (Prometheus's `TLSConfig`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// CA certificate(s) as inline PEM.
    pub ca: Option<String>,
    /// CA certificate file; replaces the system roots.
    pub ca_file: Option<String>,
    /// Client certificate as inline PEM (mTLS).
    pub cert: Option<String>,
    /// Client certificate file (mTLS).
    pub cert_file: Option<String>,
    /// Client key as inline PEM.
    pub key: Option<String>,
    /// Client key file.
    pub key_file: Option<String>,
    /// Name to verify the target's certificate against and send as SNI.
    pub server_name: Option<String>,
    /// Skip verification of the target's certificate.
    pub insecure_skip_verify: bool,
    /// Lowest TLS version (`TLS12`, `TLS13`).
    pub min_version: Option<String>,
    /// Highest TLS version.
    pub max_version: Option<String>,
}

fn one_of(
    inline: &Option<String>,
    file: &Option<String>,
    name: &str,
) -> Result<Option<PemSource>, TlsError> {
    match (inline, file) {
        (Some(_), Some(_)) => Err(TlsError(format!(
            "at most one of {name} and {name}_file must be configured"
        ))),
        (Some(pem), None) => Ok(Some(PemSource::Inline(pem.clone()))),
        (None, Some(path)) => Ok(Some(PemSource::File(path.clone()))),
        (None, None) => Ok(None),
    }
}

impl TlsConfig {
    /// The client settings, checked by building them once (files must be readable and valid).
    pub fn client_tls(&self) -> Result<ClientTls, TlsError> {
        let parse = |v: &Option<String>| v.as_deref().map(TlsVersion::parse).transpose();
        let tls = ClientTls {
            ca: one_of(&self.ca, &self.ca_file, "ca")?,
            cert: one_of(&self.cert, &self.cert_file, "cert")?,
            key: one_of(&self.key, &self.key_file, "key")?,
            server_name: self.server_name.clone().filter(|s| !s.is_empty()),
            insecure_skip_verify: self.insecure_skip_verify,
            min_version: parse(&self.min_version)?,
            max_version: parse(&self.max_version)?,
        };
        tls.build()?;
        tls.server_name()?;
        Ok(tls)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_unreadable_files_half_pairs_and_old_versions() {
        let missing = TlsConfig {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..Default::default()
        };
        let e = missing.client_tls().unwrap_err();
        assert!(
            e.0.contains("cannot read CA file \"/nonexistent/ca.pem\""),
            "{e}"
        );

        let both = TlsConfig {
            ca: Some("x".into()),
            ca_file: Some("y".into()),
            ..Default::default()
        };
        assert_eq!(
            both.client_tls().unwrap_err().0,
            "at most one of ca and ca_file must be configured"
        );

        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("ca.pem");
        std::fs::write(&bad, "not a certificate").unwrap();
        let e = TlsConfig {
            ca_file: Some(bad.display().to_string()),
            ..Default::default()
        }
        .client_tls()
        .unwrap_err();
        assert!(e.0.contains("holds no CERTIFICATE block"), "{e}");

        let e = TlsConfig {
            cert: Some("x".into()),
            insecure_skip_verify: true,
            ..Default::default()
        }
        .client_tls()
        .unwrap_err();
        assert!(e.0.contains("without its key"), "{e}");

        let e = TlsConfig {
            min_version: Some("TLS11".into()),
            ..Default::default()
        }
        .client_tls()
        .unwrap_err();
        assert!(e.0.contains("TLS 1.2 and 1.3 only"), "{e}");
        let e = TlsConfig {
            min_version: Some("TLS13".into()),
            max_version: Some("TLS12".into()),
            ..Default::default()
        }
        .client_tls()
        .unwrap_err();
        assert!(e.0.contains("above max_version"), "{e}");
    }

    #[test]
    fn defaults_trust_the_system_roots() {
        let tls = TlsConfig::default().client_tls().unwrap();
        assert_eq!(tls, ClientTls::default());
        let cfg = tls.build().unwrap();
        assert!(cfg.alpn_protocols.is_empty());
    }
}
