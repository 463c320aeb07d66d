//! TLS for every client and server Sluice runs, on rustls with the ring provider (no OpenSSL).
//!
//! Component configs (the collector's `tls` block, Prometheus's `tls_config`) translate their
//! own keys into [`ClientTls`]; this module turns that into a `rustls::ClientConfig`, reads PEM
//! files with errors that name the file, and tells when those files change so a component can
//! rebuild its connector with renewed certificates.

pub mod acceptor;
mod cached;
mod client;
pub mod config;
mod pem;
mod reload;
mod server;
mod verify;
mod version;

pub use cached::{https_connector, Alpn, Reloading};
pub use client::ClientTls;
pub use pem::PemSource;
pub use reload::FileStamps;
pub use server::ServerTls;
pub use version::TlsVersion;

/// A TLS setting that cannot be used: the message names the file or value at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct TlsError(pub String);

/// The crypto provider every Sluice TLS config is built on.
pub fn provider() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    std::sync::Arc::new(rustls::crypto::ring::default_provider())
}
