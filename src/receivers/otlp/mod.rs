//! The `otlp` receiver: OTLP over gRPC (default localhost:4317) and HTTP (default
//! localhost:4318, protobuf and JSON), as the OpenTelemetry Collector's otlpreceiver.

pub mod attr_limits;
mod body;
pub mod config;
mod grpc;
mod grpc_service;
mod http;

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::auth::ServerAuth;
use crate::component::{ComponentConfigError, ComponentId, Receiver, ReceiverContext};
use crate::config::decode::listen_endpoint;
use crate::registry::{Factory, ReceiverCreate};
use crate::signal::Signal;
use crate::tls::acceptor::ServerTlsSource;
use crate::tls::config::TlsServerSetting;

pub use body::BodyError;
pub use config::OtlpConfig;

use crate::payload::Payload;

/// Decodes an OTLP/HTTP request body exactly as the HTTP receiver does once the body is read:
/// decompresses it per the `Content-Encoding` value (identity, gzip, zstd, deflate), failing
/// with [`BodyError::TooLarge`] once the decompressed size would exceed `limit` bytes (the
/// receiver's `max_request_body_size`), then decodes OTLP/JSON (`json`) or checks and counts
/// protobuf (kept encoded, as the receiver hands it on) for `signal`. A decode error is the
/// message the receiver answers 400 with.
///
/// This is the receiver's own decode path made callable without a listener (fuzzing, tests).
/// The gRPC receiver's equivalent is [`crate::payload::Encoded::parse`] on the message tonic
/// has unframed and decompressed.
pub fn decode_http_body(
    signal: Signal,
    json: bool,
    content_encoding: &str,
    body: &[u8],
    limit: u64,
) -> Result<Payload, BodyError> {
    let body = body::decompress(content_encoding, body, limit)?;
    let enc = if json {
        http::Encoding::Json
    } else {
        http::Encoding::Proto
    };
    http::decode(signal, enc, body).map_err(BodyError::Bad)
}

/// The `otlp` receiver's factory.
pub const FACTORY: Factory<ReceiverCreate> = Factory {
    type_name: "otlp",
    deprecated_names: &[],
    signals: &[Signal::Traces, Signal::Metrics, Signal::Logs],
    stability: "beta",
    create,
};

fn create(_id: &ComponentId, raw: &Value) -> Result<Box<dyn Receiver>, ComponentConfigError> {
    Ok(Box::new(OtlpReceiver {
        cfg: OtlpConfig::from_value(raw)?,
    }))
}

/// A configured OTLP receiver, not yet listening.
pub struct OtlpReceiver {
    cfg: OtlpConfig,
}

/// The TLS source of a server, when its `tls:` is set.
fn tls_source(
    id: &ComponentId,
    tls: &Option<TlsServerSetting>,
    alpn: &[&[u8]],
) -> anyhow::Result<Option<Arc<ServerTlsSource>>> {
    crate::tls::config::server_source(&format!("{id} receiver"), tls, alpn)
}

async fn bind(id: &ComponentId, proto: &str, endpoint: &str) -> anyhow::Result<TcpListener> {
    let addr = listen_endpoint(endpoint).map_err(anyhow::Error::msg)?;
    let listener = TcpListener::bind(&addr)
        .await
        .map_err(|e| anyhow::anyhow!("{id} receiver: cannot listen on {addr} ({proto}): {e}"))?;
    tracing::info!(receiver = %id, protocol = proto, endpoint = %listener.local_addr().map(|a| a.to_string()).unwrap_or(addr), "Starting OTLP server");
    Ok(listener)
}

#[async_trait]
impl Receiver for OtlpReceiver {
    async fn start(self: Box<Self>, ctx: ReceiverContext) -> anyhow::Result<JoinHandle<()>> {
        // Bind everything first so a port in use fails start before anything serves.
        let grpc = match &self.cfg.grpc {
            Some(g) => Some((
                g,
                tls_source(&ctx.id, &g.tls, config::GRPC_ALPN)?,
                bind(&ctx.id, "grpc", &g.endpoint).await?,
            )),
            None => None,
        };
        let http = match &self.cfg.http {
            Some(h) => Some((
                h,
                tls_source(&ctx.id, &h.tls, config::HTTP_ALPN)?,
                bind(&ctx.id, "http", &h.endpoint).await?,
            )),
            None => None,
        };
        let server_auth = |raw: &Option<Value>| -> anyhow::Result<Option<Arc<dyn ServerAuth>>> {
            match crate::auth::AuthRef::parse(raw)
                .map_err(|e| anyhow::anyhow!("{} receiver: {e}", ctx.id))?
            {
                None => Ok(None),
                Some(aid) => {
                    Ok(Some(ctx.auth.server(&aid).map_err(|e| {
                        anyhow::anyhow!("{} receiver: {e}", ctx.id)
                    })?))
                }
            }
        };
        let mut tasks = Vec::new();
        if let Some((g, tls, l)) = grpc {
            tasks.push(grpc::serve(
                ctx.id.clone(),
                g,
                (l, tls),
                (ctx.consumers.clone(), server_auth(&g.auth)?),
                ctx.shutdown.clone(),
            )?);
        }
        if let Some((h, tls, l)) = http {
            tasks.push(http::serve(
                ctx.id.clone(),
                h,
                (l, tls),
                (ctx.consumers.clone(), server_auth(&h.auth)?),
                ctx.shutdown.clone(),
            )?);
        }
        drop(ctx.consumers);
        Ok(tokio::spawn(async move {
            for t in tasks {
                let _ = t.await;
            }
        }))
    }
}
