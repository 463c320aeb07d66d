//! A client object (HTTP client, gRPC channel) built from TLS settings on first use and rebuilt
//! when the certificate files change, so renewed certificates are used without a restart.

use std::sync::Mutex;
use std::time::Duration;

use hyper_rustls::{FixedServerNameResolver, HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;

use super::{ClientTls, FileStamps, TlsError};

type Make<T> = Box<dyn Fn(Option<&ClientTls>) -> Result<T, TlsError> + Send + Sync>;

/// Builds `T` lazily from optional TLS settings and rebuilds it when their files change.
pub struct Reloading<T> {
    tls: Option<ClientTls>,
    make: Make<T>,
    state: Mutex<Option<(T, FileStamps)>>,
}

impl<T: Clone> Reloading<T> {
    /// Nothing is built until [`Reloading::get`].
    pub fn new(
        tls: Option<ClientTls>,
        make: impl Fn(Option<&ClientTls>) -> Result<T, TlsError> + Send + Sync + 'static,
    ) -> Reloading<T> {
        Reloading {
            tls,
            make: Box::new(make),
            state: Mutex::new(None),
        }
    }

    fn stamps(&self) -> FileStamps {
        self.tls
            .as_ref()
            .map(ClientTls::file_stamps)
            .unwrap_or_default()
    }

    /// The current object: built on first use, rebuilt if a TLS file changed. A renewed file
    /// that cannot be used is logged and the previous object kept.
    pub fn get(&self) -> Result<T, TlsError> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match state.as_mut() {
            None => {
                let stamps = self.stamps();
                let made = (self.make)(self.tls.as_ref())?;
                *state = Some((made.clone(), stamps));
                Ok(made)
            }
            Some((made, stamps)) => {
                if !stamps.is_empty() && stamps.changed() {
                    *stamps = self.stamps();
                    match (self.make)(self.tls.as_ref()) {
                        Ok(new) => {
                            tracing::info!("TLS files changed; new connections use them");
                            *made = new;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "TLS files changed but cannot be used; keeping the previous ones");
                        }
                    }
                }
                Ok(made.clone())
            }
        }
    }
}

/// Which protocols a connector offers over TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alpn {
    /// HTTP/2 only (gRPC).
    H2,
    /// HTTP/1.1 and HTTP/2.
    Http,
}

/// A connector speaking plain HTTP for `http://` URIs and TLS with `tls` (or the defaults:
/// system roots) for `https://` ones.
pub fn https_connector(
    tls: Option<&ClientTls>,
    alpn: Alpn,
    connect_timeout: Duration,
) -> Result<HttpsConnector<HttpConnector>, TlsError> {
    let default = ClientTls::default();
    let tls = tls.unwrap_or(&default);
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    http.set_connect_timeout(Some(connect_timeout));
    http.enforce_http(false);
    let builder = HttpsConnectorBuilder::new()
        .with_tls_config(tls.build()?)
        .https_or_http();
    let builder = match tls.server_name()? {
        Some(name) => builder.with_server_name_resolver(FixedServerNameResolver::new(name)),
        None => builder,
    };
    Ok(match alpn {
        Alpn::H2 => builder.enable_http2().wrap_connector(http),
        Alpn::Http => builder.enable_http1().enable_http2().wrap_connector(http),
    })
}
