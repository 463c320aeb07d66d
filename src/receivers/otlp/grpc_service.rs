//! The three OTLP gRPC services, served with a codec that hands the handler the request's
//! (decompressed) bytes rather than decoded messages, so the receiver can admit a request by
//! its size before it spends memory decoding it.

use std::convert::Infallible;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder};
use tonic::codegen::{http, Body, BoxFuture, StdError};
use tonic::server::{NamedService, UnaryService};
use tonic::Status;

use super::grpc::Handler;
use crate::exporters::grpc_codec::BytesEncoder;
use crate::signal::Signal;

/// One OTLP collector service: its signal and gRPC service name.
pub trait OtlpSignal: Send + Sync + 'static {
    /// The signal the service takes.
    const SIGNAL: Signal;
    /// The fully qualified gRPC service name.
    const NAME: &'static str;
}

/// `opentelemetry.proto.collector.trace.v1.TraceService`.
pub struct TraceSvc;
impl OtlpSignal for TraceSvc {
    const SIGNAL: Signal = Signal::Traces;
    const NAME: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
}

/// `opentelemetry.proto.collector.metrics.v1.MetricsService`.
pub struct MetricsSvc;
impl OtlpSignal for MetricsSvc {
    const SIGNAL: Signal = Signal::Metrics;
    const NAME: &'static str = "opentelemetry.proto.collector.metrics.v1.MetricsService";
}

/// `opentelemetry.proto.collector.logs.v1.LogsService`.
pub struct LogsSvc;
impl OtlpSignal for LogsSvc {
    const SIGNAL: Signal = Signal::Logs;
    const NAME: &'static str = "opentelemetry.proto.collector.logs.v1.LogsService";
}

/// A tower service answering `/<NAME>/Export` for one signal.
pub struct OtlpGrpc<S> {
    handler: Arc<Handler>,
    max_decoding_message_size: usize,
    _signal: PhantomData<S>,
}

impl<S> Clone for OtlpGrpc<S> {
    fn clone(&self) -> Self {
        OtlpGrpc {
            handler: self.handler.clone(),
            max_decoding_message_size: self.max_decoding_message_size,
            _signal: PhantomData,
        }
    }
}

impl<S: OtlpSignal> OtlpGrpc<S> {
    /// The service for signal `S`, refusing messages over `max_decoding_message_size` bytes
    /// (after decompression).
    pub fn new(handler: Arc<Handler>, max_decoding_message_size: usize) -> Self {
        OtlpGrpc {
            handler,
            max_decoding_message_size,
            _signal: PhantomData,
        }
    }
}

impl<S: OtlpSignal> NamedService for OtlpGrpc<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B> tonic::codegen::Service<http::Request<B>> for OtlpGrpc<S>
where
    S: OtlpSignal,
    B: Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let expected = format!("/{}/Export", S::NAME);
        if req.uri().path() != expected {
            return Box::pin(async { Ok(Status::unimplemented("unknown method").into_http()) });
        }
        let export = Export::<S> {
            handler: self.handler.clone(),
            _signal: PhantomData,
        };
        let max = self.max_decoding_message_size;
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(RawCodec)
                .accept_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Zstd)
                .max_decoding_message_size(max);
            Ok(grpc.unary(export, req).await)
        })
    }
}

struct Export<S> {
    handler: Arc<Handler>,
    _signal: PhantomData<S>,
}

impl<S: OtlpSignal> UnaryService<Bytes> for Export<S> {
    type Response = Bytes;
    type Future = BoxFuture<tonic::Response<Bytes>, Status>;

    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        let handler = self.handler.clone();
        Box::pin(async move {
            let (md, _, body) = request.into_parts();
            handler.handle_raw(S::SIGNAL, &md, body).await?;
            // Every Export*ServiceResponse without partial_success encodes to zero bytes.
            Ok(tonic::Response::new(Bytes::new()))
        })
    }
}

/// Decodes a request message as its raw bytes; encodes pre-encoded response bytes.
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = BytesEncoder;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        BytesEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawDecoder
    }
}

/// Takes the whole message as `Bytes`.
struct RawDecoder;

impl Decoder for RawDecoder {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        let n = src.remaining();
        Ok(Some(src.copy_to_bytes(n)))
    }
}
