//! The HTTP(S) client of one scrape config: plain HTTP or TLS per target URL, rebuilt with the
//! new files when its CA, certificate or key files change (certificate rotation without a
//! restart, as Prometheus does).

use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Empty;
use hyper_rustls::{FixedServerNameResolver, HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::tls::{ClientTls, FileStamps, TlsError};

/// The hyper client scrapes go through.
pub type HttpClient = Client<HttpsConnector<HttpConnector>, Empty<Bytes>>;

/// Builds a client that speaks HTTP or HTTPS (with `tls`) depending on the URL.
pub fn build(tls: &ClientTls) -> Result<HttpClient, TlsError> {
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    http.set_connect_timeout(Some(Duration::from_secs(30)));
    http.enforce_http(false);
    let builder = HttpsConnectorBuilder::new()
        .with_tls_config(tls.build()?)
        .https_or_http();
    let builder = match tls.server_name()? {
        Some(name) => builder.with_server_name_resolver(FixedServerNameResolver::new(name)),
        None => builder,
    };
    let connector = builder.enable_http1().enable_http2().wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new()).build(connector))
}

/// A scrape config's client, shared by its targets, that follows certificate file renewals.
pub struct ScrapeClient {
    tls: ClientTls,
    state: Mutex<(HttpClient, FileStamps)>,
}

impl ScrapeClient {
    /// Builds the client from checked TLS settings.
    pub fn new(tls: ClientTls) -> Result<ScrapeClient, TlsError> {
        let client = build(&tls)?;
        let stamps = tls.file_stamps();
        Ok(ScrapeClient {
            tls,
            state: Mutex::new((client, stamps)),
        })
    }

    /// The client to use now: rebuilt first if a TLS file changed since the last build. A
    /// renewed file that cannot be used is logged and the previous client kept.
    pub fn current(&self) -> HttpClient {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if !state.1.is_empty() && state.1.changed() {
            let stamps = self.tls.file_stamps();
            match build(&self.tls) {
                Ok(client) => {
                    tracing::info!("TLS files changed; scrape client rebuilt with them");
                    *state = (client, stamps);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "TLS files changed but cannot be used; keeping the previous ones");
                    state.1 = stamps;
                }
            }
        }
        state.0.clone()
    }
}
