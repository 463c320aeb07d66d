//! Server-side TLS: the certificate to present and, for mTLS, which client CAs to require.

use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

use super::{provider, FileStamps, PemSource, TlsError, TlsVersion};

/// What a TLS server needs, whichever config spelled it.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerTls {
    /// Certificate chain presented to clients.
    pub cert: PemSource,
    /// Its private key.
    pub key: PemSource,
    /// When set, clients must present a certificate signed by one of these CAs (mTLS).
    pub client_ca: Option<PemSource>,
    /// Lowest version accepted (default TLS 1.2).
    pub min_version: Option<TlsVersion>,
    /// Highest version accepted (default TLS 1.3).
    pub max_version: Option<TlsVersion>,
}

impl ServerTls {
    /// Builds the rustls config offering `alpn` (e.g. `h2` for gRPC), reading every file now.
    pub fn build(&self, alpn: &[&[u8]]) -> Result<ServerConfig, TlsError> {
        let provider = provider();
        let versions = TlsVersion::range(self.min_version, self.max_version)?;
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)
            .map_err(|e| TlsError(format!("TLS versions: {e}")))?;
        let builder = match &self.client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let mut roots = RootCertStore::empty();
                for cert in ca.certificates("client CA")? {
                    roots
                        .add(cert)
                        .map_err(|e| TlsError(format!("client CA certificate rejected: {e}")))?;
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                        .build()
                        .map_err(|e| TlsError(format!("client CA: {e}")))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder
            .with_single_cert(
                self.cert.certificates("certificate")?,
                self.key.private_key("key")?,
            )
            .map_err(|e| TlsError(format!("certificate and key do not match: {e}")))?;
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(config)
    }

    /// Stamps of the files this config reads, to notice renewals.
    pub fn file_stamps(&self) -> FileStamps {
        FileStamps::of(
            [Some(&self.cert), Some(&self.key), self.client_ca.as_ref()]
                .into_iter()
                .flatten()
                .filter_map(PemSource::path),
        )
    }
}
