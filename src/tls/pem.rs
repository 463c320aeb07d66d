//! Certificates and keys from PEM files or inline PEM text.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::TlsError;

/// Where PEM data comes from: a file (re-read on every build, so renewed files are picked up)
/// or text given inline in the config.
#[derive(Debug, Clone, PartialEq)]
pub enum PemSource {
    /// A path to a PEM file.
    File(String),
    /// PEM text from the config itself.
    Inline(String),
}

impl PemSource {
    /// The PEM bytes.
    fn read(&self, what: &str) -> Result<Vec<u8>, TlsError> {
        match self {
            PemSource::File(path) => std::fs::read(path)
                .map_err(|e| TlsError(format!("cannot read {what} file {path:?}: {e}"))),
            PemSource::Inline(text) => Ok(text.as_bytes().to_vec()),
        }
    }

    /// How to name this source in an error.
    fn describe(&self, what: &str) -> String {
        match self {
            PemSource::File(path) => format!("{what} file {path:?}"),
            PemSource::Inline(_) => format!("inline {what}"),
        }
    }

    /// The file path, when the data comes from a file.
    pub fn path(&self) -> Option<&str> {
        match self {
            PemSource::File(p) => Some(p),
            PemSource::Inline(_) => None,
        }
    }

    /// Every certificate in the PEM data; at least one is required.
    pub fn certificates(&self, what: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
        let bytes = self.read(what)?;
        let certs: Vec<_> = CertificateDer::pem_slice_iter(&bytes)
            .collect::<Result<_, _>>()
            .map_err(|e| TlsError(format!("{} is not valid PEM: {e}", self.describe(what))))?;
        if certs.is_empty() {
            return Err(TlsError(format!(
                "{} holds no CERTIFICATE block",
                self.describe(what)
            )));
        }
        Ok(certs)
    }

    /// The first private key (PKCS#8, PKCS#1 or SEC1) in the PEM data.
    pub fn private_key(&self, what: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
        let bytes = self.read(what)?;
        PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| {
            TlsError(format!(
                "{} holds no usable private key: {e}",
                self.describe(what)
            ))
        })
    }
}
