//! Extensions: components that run beside the pipelines.

pub mod basicauth;
pub mod bearertokenauth;
pub mod file_storage;
pub mod health_check;
pub mod pprof;
pub mod zpages;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::component::ComponentId;
use crate::tls::config::{TlsServerSetting, HTTP_ALPN};

/// Binds an extension's HTTP endpoint; the error names the extension and the address.
pub(crate) async fn listen(id: &ComponentId, endpoint: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(endpoint)
        .await
        .map_err(|e| anyhow::anyhow!("{id}: cannot listen on {endpoint}: {e}"))
}

/// Serves `app` on `listener` (through TLS when `tls` is set) until `shutdown` is cancelled,
/// then finishes open requests, with the HTTP server's default limits.
pub(crate) fn serve_until(
    id: &ComponentId,
    listener: TcpListener,
    tls: &Option<TlsServerSetting>,
    app: axum::Router,
    shutdown: CancellationToken,
) -> anyhow::Result<JoinHandle<()>> {
    let source = crate::tls::config::server_source(&id.to_string(), tls, HTTP_ALPN)?;
    Ok(crate::http_server::serve(
        id.to_string(),
        listener,
        source,
        app,
        crate::http_server::Limits::default(),
        shutdown,
    )?)
}
