//! Client-side TLS: which servers to trust, which certificate to present.

use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, RootCertStore};

use super::verify::SkipServerVerification;
use super::{provider, FileStamps, PemSource, TlsError, TlsVersion};

/// What a TLS client needs, whichever config spelled it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClientTls {
    /// CAs to trust instead of the system's roots.
    pub ca: Option<PemSource>,
    /// Client certificate chain to present (mTLS); needs `key`.
    pub cert: Option<PemSource>,
    /// Private key of `cert`.
    pub key: Option<PemSource>,
    /// Name to verify the server's certificate against (and send as SNI) instead of the host.
    pub server_name: Option<String>,
    /// Accept any server certificate.
    pub insecure_skip_verify: bool,
    /// Lowest version offered (default TLS 1.2).
    pub min_version: Option<TlsVersion>,
    /// Highest version offered (default TLS 1.3).
    pub max_version: Option<TlsVersion>,
}

impl ClientTls {
    /// Builds the rustls config, reading every file now. Errors name the file or key at fault.
    /// ALPN is left to the connector (hyper-rustls or tonic) that negotiates the protocol.
    pub fn build(&self) -> Result<ClientConfig, TlsError> {
        let provider = provider();
        let versions = TlsVersion::range(self.min_version, self.max_version)?;
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)
            .map_err(|e| TlsError(format!("TLS versions: {e}")))?;
        let builder = if self.insecure_skip_verify {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(SkipServerVerification(provider)))
        } else {
            builder.with_root_certificates(self.roots()?)
        };
        let config = match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => builder
                .with_client_auth_cert(
                    cert.certificates("client certificate")?,
                    key.private_key("client key")?,
                )
                .map_err(|e| TlsError(format!("client certificate and key do not match: {e}")))?,
            (None, None) => builder.with_no_client_auth(),
            (Some(_), None) => {
                return Err(TlsError(
                    "a client certificate is set without its key".into(),
                ))
            }
            (None, Some(_)) => {
                return Err(TlsError(
                    "a client key is set without its certificate".into(),
                ))
            }
        };
        Ok(config)
    }

    /// The server name override, checked.
    pub fn server_name(&self) -> Result<Option<ServerName<'static>>, TlsError> {
        self.server_name
            .as_deref()
            .map(|n| {
                let n = n.trim_start_matches('[').trim_end_matches(']');
                ServerName::try_from(n.to_string())
                    .map_err(|_| TlsError(format!("{n:?} is not a valid server name")))
            })
            .transpose()
    }

    /// Stamps of the files this config reads, to notice renewals.
    pub fn file_stamps(&self) -> FileStamps {
        FileStamps::of(
            [&self.ca, &self.cert, &self.key]
                .into_iter()
                .flatten()
                .filter_map(PemSource::path),
        )
    }

    fn roots(&self) -> Result<RootCertStore, TlsError> {
        let mut roots = RootCertStore::empty();
        match &self.ca {
            Some(ca) => {
                for cert in ca.certificates("CA")? {
                    roots
                        .add(cert)
                        .map_err(|e| TlsError(format!("CA certificate rejected: {e}")))?;
                }
            }
            None => {
                let native = rustls_native_certs::load_native_certs();
                let (added, _ignored) = roots.add_parsable_certificates(native.certs);
                if added == 0 {
                    tracing::warn!(
                        errors = ?native.errors,
                        "No system CA certificates found; TLS servers can only be verified with a configured CA"
                    );
                }
            }
        }
        Ok(roots)
    }
}
