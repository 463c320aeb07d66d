//! Accepting TLS connections for any server (tonic or axum): TCP accepts stay in one loop,
//! each handshake runs in its own task under a deadline (a client that connects and never
//! speaks holds nothing but its own task), and certificate files are re-read when they change.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use super::{FileStamps, ServerTls, TlsError};
use crate::telemetry::LogOnce;

/// How long a client has to complete the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A server's TLS settings and the config built from them, rebuilt when the files change.
pub struct ServerTlsSource {
    tls: ServerTls,
    alpn: Vec<Vec<u8>>,
    state: Mutex<(Arc<ServerConfig>, FileStamps)>,
}

impl ServerTlsSource {
    /// Builds the config once (so errors surface at start) for the given ALPN protocols.
    pub fn new(tls: ServerTls, alpn: &[&[u8]]) -> Result<ServerTlsSource, TlsError> {
        let config = Arc::new(tls.build(alpn)?);
        let stamps = tls.file_stamps();
        Ok(ServerTlsSource {
            alpn: alpn.iter().map(|p| p.to_vec()).collect(),
            tls,
            state: Mutex::new((config, stamps)),
        })
    }

    /// The config for the next handshake: rebuilt first if a file changed. Renewed files
    /// that cannot be used are logged and the previous config kept.
    pub fn current(&self) -> Arc<ServerConfig> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.1.changed() {
            let stamps = self.tls.file_stamps();
            let alpn: Vec<&[u8]> = self.alpn.iter().map(|p| p.as_slice()).collect();
            match self.tls.build(&alpn) {
                Ok(c) => {
                    tracing::info!("TLS certificate files changed; new handshakes use them");
                    *state = (Arc::new(c), stamps);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "TLS certificate files changed but cannot be used; keeping the previous ones");
                    state.1 = stamps;
                }
            }
        }
        state.0.clone()
    }
}

/// A TLS connection accepted by [`accept`].
pub struct TlsConn(tokio_rustls::server::TlsStream<TcpStream>);

impl TlsConn {
    /// The underlying TCP stream.
    pub fn tcp(&self) -> &TcpStream {
        self.0.get_ref().0
    }
}

impl AsyncRead for TlsConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }
}

impl tonic::transport::server::Connected for TlsConn {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.tcp().connect_info()
    }
}

/// Connections that completed their TLS handshake, for `axum::serve` (as a listener) or
/// tonic's `serve_with_incoming_shutdown` (as a stream).
pub struct TlsIncoming {
    rx: mpsc::Receiver<(TlsConn, SocketAddr)>,
    local: SocketAddr,
}

/// Accepts TCP connections on `listener` until `shutdown`, handshaking each in its own task.
/// `server` names the server in logs; failed handshakes are logged once per cause.
pub fn accept(
    listener: TcpListener,
    source: Arc<ServerTlsSource>,
    server: String,
    shutdown: CancellationToken,
) -> io::Result<TlsIncoming> {
    let local = listener.local_addr()?;
    let (tx, rx) = mpsc::channel(64);
    let log_once = Arc::new(LogOnce::default());
    tokio::spawn(async move {
        loop {
            let (tcp, peer) = tokio::select! {
                _ = shutdown.cancelled() => return,
                r = listener.accept() => match r {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::debug!(server = %server, error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let _ = tcp.set_nodelay(true);
            let acceptor = TlsAcceptor::from(source.current());
            let (tx, log_once, server) = (tx.clone(), log_once.clone(), server.clone());
            tokio::spawn(async move {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(tls)) => {
                        let _ = tx.send((TlsConn(tls), peer)).await;
                    }
                    Ok(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
                        // Closed before a handshake (a TCP probe, a port scan): not a TLS failure.
                        tracing::debug!(server = %server, %peer, "connection closed before the TLS handshake");
                    }
                    Ok(Err(e)) => {
                        let cause = e.to_string();
                        crate::telemetry::metrics::tls_handshake_failed(&server);
                        if log_once.first(&cause) {
                            tracing::warn!(server = %server, %peer, error = %cause, "TLS handshake failed");
                        }
                    }
                    Err(_) => {
                        crate::telemetry::metrics::tls_handshake_failed(&server);
                        if log_once.first("timeout") {
                            tracing::warn!(server = %server, %peer, "TLS handshake timed out");
                        }
                    }
                }
            });
        }
    });
    Ok(TlsIncoming { rx, local })
}

impl axum::serve::Listener for TlsIncoming {
    type Io = TlsConn;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(c) => c,
            // The accept loop ended (shutdown): nothing more will come.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}

impl futures::Stream for TlsIncoming {
    type Item = io::Result<TlsConn>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx).map(|c| c.map(|(conn, _)| Ok(conn)))
    }
}
