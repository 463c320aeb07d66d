//! OTLP over gRPC: the three collector services on one listener.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::codec::CompressionEncoding;
use tonic::{Request, Response, Status};

use super::config::GrpcConfig;
use crate::component::ComponentId;
use crate::pipeline::{ConsumeError, Consumers};
use crate::rpc_status::RpcStatus;
use crate::signal::{Batch, Data, Metadata, Signal};

/// How long a refused client is asked to wait before retrying.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);

#[derive(Clone)]
struct Handler {
    id: ComponentId,
    consumers: Consumers,
    include_metadata: bool,
}

impl Handler {
    async fn handle(
        &self,
        signal: Signal,
        metadata: &tonic::metadata::MetadataMap,
        data: Data,
    ) -> Result<(), Status> {
        let Some(consumer) = self.consumers.get(signal) else {
            return Err(Status::unimplemented(format!(
                "no pipeline takes {signal} from receiver {}",
                self.id
            )));
        };
        if data.is_empty() {
            return Ok(());
        }
        let mut batch = Batch::new(data);
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
        consumer.consume(batch).await.map_err(refusal)
    }
}

/// A refusal as the collector answers it: UNAVAILABLE with RetryInfo, so clients retry.
fn refusal(e: ConsumeError) -> Status {
    RpcStatus::new(tonic::Code::Unavailable, e.to_string())
        .with_retry_after(RETRY_AFTER)
        .to_tonic()
}

#[tonic::async_trait]
impl TraceService for Handler {
    async fn export(
        &self,
        req: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let (md, _, body) = req.into_parts();
        self.handle(Signal::Traces, &md, Data::Traces(body)).await?;
        Ok(Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Handler {
    async fn export(
        &self,
        req: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        let (md, _, body) = req.into_parts();
        self.handle(Signal::Metrics, &md, Data::Metrics(body))
            .await?;
        Ok(Response::new(ExportMetricsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl LogsService for Handler {
    async fn export(
        &self,
        req: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        let (md, _, body) = req.into_parts();
        self.handle(Signal::Logs, &md, Data::Logs(body)).await?;
        Ok(Response::new(ExportLogsServiceResponse::default()))
    }
}

/// Serves OTLP/gRPC on an already bound listener until `shutdown`, then finishes in-flight
/// requests.
pub fn serve(
    id: ComponentId,
    cfg: &GrpcConfig,
    listener: TcpListener,
    consumers: Consumers,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    let handler = Handler {
        id: id.clone(),
        consumers,
        include_metadata: cfg.include_metadata,
    };
    let max = (cfg.max_recv_msg_size_mib as usize).saturating_mul(1024 * 1024);
    let traces = TraceServiceServer::new(handler.clone())
        .accept_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Zstd)
        .max_decoding_message_size(max);
    let metrics = MetricsServiceServer::new(handler.clone())
        .accept_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Zstd)
        .max_decoding_message_size(max);
    let logs = LogsServiceServer::new(handler)
        .accept_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Zstd)
        .max_decoding_message_size(max);
    let mut builder = tonic::transport::Server::builder();
    if cfg.max_concurrent_streams > 0 {
        builder = builder.max_concurrent_streams(cfg.max_concurrent_streams);
    }
    let router = builder
        .add_service(traces)
        .add_service(metrics)
        .add_service(logs);
    tokio::spawn(async move {
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
        if let Err(e) = router
            .serve_with_incoming_shutdown(incoming, shutdown.cancelled_owned())
            .await
        {
            tracing::error!(receiver = %id, error = %e, "OTLP gRPC server failed");
        }
    })
}
