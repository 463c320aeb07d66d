//! OTLP over gRPC: the three collector services on one listener.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::Status;

use super::attr_limits::AttributeLimits;
use super::config::GrpcConfig;
use super::grpc_service::{LogsSvc, MetricsSvc, OtlpGrpc, TraceSvc};
use crate::auth::ServerAuth;
use crate::component::ComponentId;
use crate::pipeline::{ConsumeError, Consumers};
use crate::rpc_status::RpcStatus;
use crate::signal::{Batch, Encoded, Metadata, Payload, Signal};
use crate::telemetry::metrics as own;
use crate::telemetry::LogOnce;
use crate::tls::acceptor::{self, ServerTlsSource};

/// How long a refused client is asked to wait before retrying.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);

/// What the three gRPC services share: where data goes and how to answer.
pub struct Handler {
    id: ComponentId,
    consumers: Consumers,
    include_metadata: bool,
    auth: Option<Arc<dyn ServerAuth>>,
    attribute_limits: AttributeLimits,
    log_once: LogOnce,
}

impl Handler {
    /// Admits a request by its decompressed size, decodes it, and hands it to the pipelines.
    pub async fn handle_raw(
        &self,
        signal: Signal,
        metadata: &tonic::metadata::MetadataMap,
        body: Bytes,
    ) -> Result<(), Status> {
        if let Some(auth) = &self.auth {
            if let Err(why) = auth.authenticate(&metadata.clone().into_headers()) {
                own::receiver_unauthenticated(&self.id, "grpc");
                if self.log_once.first(&why) {
                    tracing::warn!(receiver = %self.id, reason = %why, "Refused an unauthenticated request (further ones with this cause are counted, not logged)");
                }
                return Err(Status::unauthenticated("authentication failed"));
            }
        }
        let Some(consumer) = self.consumers.get(signal) else {
            return Err(Status::unimplemented(format!(
                "no pipeline takes {signal} from receiver {}",
                self.id
            )));
        };
        let ticket = consumer.admit(body.len()).map_err(refusal)?;
        // Checked and counted, not decoded: pipelines that need the data decode it.
        let encoded = Encoded::parse(signal, body).map_err(|e| {
            Status::invalid_argument(format!("cannot decode OTLP protobuf {signal}: {e}"))
        })?;
        let mut payload = Payload::Encoded(encoded);
        if self.attribute_limits.is_active() {
            // The limits change the data: decode it here.
            let (data, error) = payload.decode_in_place();
            if let Some(e) = error {
                return Err(Status::invalid_argument(format!(
                    "cannot decode OTLP protobuf {signal}: {e}"
                )));
            }
            own::attribute_limits_applied(&self.id, self.attribute_limits.apply(data));
        }
        if payload.is_empty() {
            return Ok(());
        }
        let mut batch = Batch::from_payload(payload);
        if self.include_metadata {
            batch.metadata = Arc::new(Metadata::from_pairs(metadata.iter().filter_map(
                |kv| match kv {
                    tonic::metadata::KeyAndValueRef::Ascii(k, v) => {
                        Some((k.as_str().to_string(), v.to_str().ok()?.to_string()))
                    }
                    tonic::metadata::KeyAndValueRef::Binary(..) => None,
                },
            )));
        }
        consumer
            .consume_admitted(batch, &ticket)
            .await
            .map_err(refusal)
    }
}

/// A refusal as the collector answers it: UNAVAILABLE with RetryInfo, so clients retry.
fn refusal(e: ConsumeError) -> Status {
    RpcStatus::new(tonic::Code::Unavailable, e.to_string())
        .with_retry_after(RETRY_AFTER)
        .to_tonic()
}

/// Serves OTLP/gRPC on an already bound listener until `shutdown`, then finishes in-flight
/// requests.
pub fn serve(
    id: ComponentId,
    cfg: &GrpcConfig,
    (listener, tls): (TcpListener, Option<Arc<ServerTlsSource>>),
    (consumers, auth): (Consumers, Option<Arc<dyn ServerAuth>>),
    shutdown: CancellationToken,
) -> std::io::Result<JoinHandle<()>> {
    let handler = Arc::new(Handler {
        id: id.clone(),
        consumers,
        include_metadata: cfg.include_metadata,
        auth,
        attribute_limits: cfg.attribute_limits,
        log_once: LogOnce::default(),
    });
    let max = (cfg.max_recv_msg_size_mib as usize).saturating_mul(1024 * 1024);
    let traces = OtlpGrpc::<TraceSvc>::new(handler.clone(), max);
    let metrics = OtlpGrpc::<MetricsSvc>::new(handler.clone(), max);
    let logs = OtlpGrpc::<LogsSvc>::new(handler, max);
    let mut builder = tonic::transport::Server::builder();
    if cfg.max_concurrent_streams > 0 {
        builder = builder.max_concurrent_streams(cfg.max_concurrent_streams);
    }
    let router = builder
        .add_service(traces)
        .add_service(metrics)
        .add_service(logs);
    let stop = shutdown.clone().cancelled_owned();
    Ok(match tls {
        None => tokio::spawn(async move {
            let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
            if let Err(e) = router.serve_with_incoming_shutdown(incoming, stop).await {
                tracing::error!(receiver = %id, error = %e, "OTLP gRPC server failed");
            }
        }),
        Some(tls) => {
            let incoming = acceptor::accept(listener, tls, id.to_string(), shutdown)?;
            tokio::spawn(async move {
                if let Err(e) = router.serve_with_incoming_shutdown(incoming, stop).await {
                    tracing::error!(receiver = %id, error = %e, "OTLP gRPC server failed");
                }
            })
        }
    })
}
