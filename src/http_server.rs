//! The HTTP server every Sluice HTTP endpoint runs on (OTLP/HTTP receiver, prometheus
//! exporter, extensions): plain or TLS, with limits that hold against hostile clients — a
//! deadline for request headers (slowloris), a cap on open connections (accepting pauses at
//! the cap; the kernel's backlog holds the rest), and a graceful shutdown that lets requests in
//! flight finish.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::serve::Listener;
use axum::Router;
use http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::tls::acceptor::{self, ServerTlsSource};

/// Limits of one HTTP server.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Time a client has to send a request's headers (HTTP/1); `None` = no limit.
    pub read_header_timeout: Option<Duration>,
    /// Most connections open at once (0 = no limit).
    pub max_connections: usize,
}

impl Default for Limits {
    /// The collector's `read_header_timeout` default (1 minute) and 8192 connections.
    fn default() -> Self {
        Limits {
            read_header_timeout: Some(Duration::from_secs(60)),
            max_connections: 8192,
        }
    }
}

/// Serves `app` on `listener` (through TLS when `tls` is set) until `shutdown`, then lets
/// requests in flight finish. `name` labels logs and TLS failure counts.
pub fn serve(
    name: String,
    listener: TcpListener,
    tls: Option<Arc<ServerTlsSource>>,
    app: Router,
    limits: Limits,
    shutdown: CancellationToken,
) -> std::io::Result<JoinHandle<()>> {
    Ok(match tls {
        None => tokio::spawn(run(listener, app, limits, shutdown)),
        Some(tls) => {
            let incoming = acceptor::accept(listener, tls, name, shutdown.clone())?;
            tokio::spawn(run(incoming, app, limits, shutdown))
        }
    })
}

async fn run<L: Listener>(
    mut listener: L,
    app: Router,
    limits: Limits,
    shutdown: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(if limits.max_connections == 0 {
        Semaphore::MAX_PERMITS
    } else {
        limits.max_connections
    }));
    let graceful = GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.read_header_timeout);
    builder.http2().timer(TokioTimer::new());
    loop {
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break,
            p = slots.clone().acquire_owned() => p.expect("semaphore open"),
        };
        let (io, _addr) = tokio::select! {
            _ = shutdown.cancelled() => break,
            c = listener.accept() => c,
        };
        let service = TowerToHyperService::new(
            app.clone()
                .map_request(|r: Request<Incoming>| r.map(Body::new)),
        );
        let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
        let conn = graceful.watch(conn.into_owned());
        tokio::spawn(async move {
            let _ = conn.await;
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}
