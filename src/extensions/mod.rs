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

/// Binds an extension's HTTP endpoint; the error names the extension and the address.
pub(crate) async fn listen(id: &ComponentId, endpoint: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(endpoint)
        .await
        .map_err(|e| anyhow::anyhow!("{id}: cannot listen on {endpoint}: {e}"))
}

/// Serves `app` on `listener` until `shutdown` is cancelled, then finishes open requests.
pub(crate) fn serve_until(
    listener: TcpListener,
    app: axum::Router,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
    })
}
