//! The HTTP(S) client of one scrape config: plain HTTP or TLS per target URL, rebuilt with the
//! new files when its CA, certificate or key files change (certificate rotation without a
//! restart, as Prometheus does).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Empty;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::tls::{https_connector, Alpn, ClientTls, Reloading, TlsError};

/// The hyper client scrapes go through.
pub type HttpClient = Client<HttpsConnector<HttpConnector>, Empty<Bytes>>;

/// Builds a client that speaks HTTP or HTTPS (with `tls`) depending on the URL.
pub fn build(tls: &ClientTls) -> Result<HttpClient, TlsError> {
    let connector = https_connector(Some(tls), Alpn::Http, Duration::from_secs(30))?;
    Ok(Client::builder(TokioExecutor::new()).build(connector))
}

/// A scrape config's client, shared by its targets, that follows certificate file renewals.
pub struct ScrapeClient(Reloading<HttpClient>);

impl ScrapeClient {
    /// Builds the client from checked TLS settings.
    pub fn new(tls: ClientTls) -> Result<ScrapeClient, TlsError> {
        let client = Reloading::new(Some(tls), |t| build(t.expect("set")));
        client.get()?;
        Ok(ScrapeClient(client))
    }

    /// The client to use now: rebuilt first if a TLS file changed since the last build.
    pub fn current(&self) -> HttpClient {
        self.0
            .get()
            .expect("built at creation; rebuild failures keep the previous client")
    }
}
