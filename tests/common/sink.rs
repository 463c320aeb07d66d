//! An OTLP sink served by the test: gRPC and HTTP/protobuf endpoints that record every request.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
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
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::Metric;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use tokio::runtime::Runtime;
use tonic::codec::CompressionEncoding;

/// What the sink has received, per protocol, in arrival order.
#[derive(Default)]
pub struct Received {
    /// Traces requests.
    pub traces: Vec<(&'static str, ExportTraceServiceRequest)>,
    /// Metrics requests.
    pub metrics: Vec<(&'static str, ExportMetricsServiceRequest)>,
    /// Logs requests.
    pub logs: Vec<(&'static str, ExportLogsServiceRequest)>,
}

/// A running sink.
pub struct Sink {
    /// gRPC address.
    pub grpc: SocketAddr,
    /// HTTP address.
    pub http: SocketAddr,
    /// Everything received.
    pub got: Arc<Mutex<Received>>,
}

#[derive(Clone)]
struct Rec(Arc<Mutex<Received>>, Duration);

#[tonic::async_trait]
impl TraceService for Rec {
    async fn export(
        &self,
        r: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        tokio::time::sleep(self.1).await;
        self.0.lock().unwrap().traces.push(("grpc", r.into_inner()));
        Ok(tonic::Response::new(Default::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Rec {
    async fn export(
        &self,
        r: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        tokio::time::sleep(self.1).await;
        self.0
            .lock()
            .unwrap()
            .metrics
            .push(("grpc", r.into_inner()));
        Ok(tonic::Response::new(Default::default()))
    }
}

#[tonic::async_trait]
impl LogsService for Rec {
    async fn export(
        &self,
        r: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        tokio::time::sleep(self.1).await;
        self.0.lock().unwrap().logs.push(("grpc", r.into_inner()));
        Ok(tonic::Response::new(Default::default()))
    }
}

fn is_json(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

fn gunzip_if(headers: &axum::http::HeaderMap, body: Bytes) -> Vec<u8> {
    use std::io::Read;
    match headers
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
    {
        Some("gzip") => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&body[..])
                .read_to_end(&mut out)
                .unwrap();
            out
        }
        Some("zstd") => zstd::decode_all(&body[..]).unwrap(),
        _ => body.to_vec(),
    }
}

async fn http_traces(
    State(rec): State<Rec>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> (StatusCode, Vec<u8>) {
    let json = is_json(&headers);
    let raw = gunzip_if(&headers, body);
    let req = if json {
        sluice::otlp_json::decode_traces(&raw).unwrap()
    } else {
        ExportTraceServiceRequest::decode(&raw[..]).unwrap()
    };
    rec.0
        .lock()
        .unwrap()
        .traces
        .push((if json { "http-json" } else { "http" }, req));
    (
        StatusCode::OK,
        ExportTraceServiceResponse::default().encode_to_vec(),
    )
}

async fn http_metrics(
    State(rec): State<Rec>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> (StatusCode, Vec<u8>) {
    let json = is_json(&headers);
    let raw = gunzip_if(&headers, body);
    let req = if json {
        sluice::otlp_json::decode_metrics(&raw).unwrap()
    } else {
        ExportMetricsServiceRequest::decode(&raw[..]).unwrap()
    };
    rec.0
        .lock()
        .unwrap()
        .metrics
        .push((if json { "http-json" } else { "http" }, req));
    (
        StatusCode::OK,
        ExportMetricsServiceResponse::default().encode_to_vec(),
    )
}

async fn http_logs(
    State(rec): State<Rec>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> (StatusCode, Vec<u8>) {
    let json = is_json(&headers);
    let raw = gunzip_if(&headers, body);
    let req = if json {
        sluice::otlp_json::decode_logs(&raw).unwrap()
    } else {
        ExportLogsServiceRequest::decode(&raw[..]).unwrap()
    };
    rec.0
        .lock()
        .unwrap()
        .logs
        .push((if json { "http-json" } else { "http" }, req));
    (
        StatusCode::OK,
        ExportLogsServiceResponse::default().encode_to_vec(),
    )
}

impl Sink {
    /// Starts both servers on 127.0.0.1 ephemeral ports in `rt`.
    pub fn start(rt: &Runtime) -> Sink {
        Sink::start_slow(rt, Duration::ZERO)
    }

    /// Like `start`, but every gRPC export waits `delay` before it is recorded and answered.
    pub fn start_slow(rt: &Runtime, delay: Duration) -> Sink {
        Sink::start_with(rt, delay, "127.0.0.1:0")
    }

    /// Like `start`, with the gRPC server on a given address (to bring a backend up late).
    pub fn start_at(rt: &Runtime, grpc: &str) -> Sink {
        Sink::start_with(rt, Duration::ZERO, grpc)
    }

    fn start_with(rt: &Runtime, delay: Duration, grpc_bind: &str) -> Sink {
        const MAX_MSG: usize = 256 * 1024 * 1024;
        let got = Arc::new(Mutex::new(Received::default()));
        let rec = Rec(got.clone(), delay);
        let (grpc, http) = rt.block_on(async {
            let gl = tokio::net::TcpListener::bind(grpc_bind).await.unwrap();
            let hl = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let (ga, ha) = (gl.local_addr().unwrap(), hl.local_addr().unwrap());
            let r = rec.clone();
            tokio::spawn(async move {
                tonic::transport::Server::builder()
                    .add_service(
                        TraceServiceServer::new(r.clone())
                            .accept_compressed(CompressionEncoding::Gzip)
                            .accept_compressed(CompressionEncoding::Zstd)
                            .max_decoding_message_size(MAX_MSG),
                    )
                    .add_service(
                        MetricsServiceServer::new(r.clone())
                            .accept_compressed(CompressionEncoding::Gzip)
                            .accept_compressed(CompressionEncoding::Zstd)
                            .max_decoding_message_size(MAX_MSG),
                    )
                    .add_service(
                        LogsServiceServer::new(r)
                            .accept_compressed(CompressionEncoding::Gzip)
                            .accept_compressed(CompressionEncoding::Zstd)
                            .max_decoding_message_size(MAX_MSG),
                    )
                    .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(gl))
                    .await
                    .unwrap();
            });
            let app = Router::new()
                .route("/v1/traces", post(http_traces))
                .route("/v1/metrics", post(http_metrics))
                .route("/v1/logs", post(http_logs))
                .with_state(rec);
            tokio::spawn(async move { axum::serve(hl, app).await.unwrap() });
            (ga, ha)
        });
        Sink { grpc, http, got }
    }

    /// All spans received (over any protocol), flattened.
    pub fn spans(&self) -> Vec<Span> {
        let g = self.got.lock().unwrap();
        g.traces
            .iter()
            .flat_map(|(_, r)| &r.resource_spans)
            .flat_map(|rs| &rs.scope_spans)
            .flat_map(|ss| ss.spans.clone())
            .collect()
    }

    /// Spans received over one protocol ("grpc" or "http").
    pub fn spans_via(&self, proto: &str) -> Vec<Span> {
        let g = self.got.lock().unwrap();
        g.traces
            .iter()
            .filter(|(p, _)| *p == proto)
            .flat_map(|(_, r)| &r.resource_spans)
            .flat_map(|rs| &rs.scope_spans)
            .flat_map(|ss| ss.spans.clone())
            .collect()
    }

    /// All metrics received, flattened.
    pub fn metrics(&self) -> Vec<Metric> {
        let g = self.got.lock().unwrap();
        g.metrics
            .iter()
            .flat_map(|(_, r)| &r.resource_metrics)
            .flat_map(|rm| &rm.scope_metrics)
            .flat_map(|sm| sm.metrics.clone())
            .collect()
    }

    /// All log records received, flattened.
    pub fn logs(&self) -> Vec<LogRecord> {
        let g = self.got.lock().unwrap();
        g.logs
            .iter()
            .flat_map(|(_, r)| &r.resource_logs)
            .flat_map(|rl| &rl.scope_logs)
            .flat_map(|sl| sl.log_records.clone())
            .collect()
    }

    /// How many spans arrived from resources with `service.name` = `service`.
    pub fn spans_with_service(&self, service: &str) -> usize {
        let g = self.got.lock().unwrap();
        g.traces
            .iter()
            .flat_map(|(_, r)| &r.resource_spans)
            .filter(|rs| {
                rs.resource
                    .as_ref()
                    .and_then(|r| string_attr(&r.attributes, "service.name"))
                    .as_deref()
                    == Some(service)
            })
            .flat_map(|rs| &rs.scope_spans)
            .map(|ss| ss.spans.len())
            .sum()
    }

    /// Resource attribute `service.name` values of all traces received.
    pub fn trace_service_names(&self) -> Vec<String> {
        let g = self.got.lock().unwrap();
        g.traces
            .iter()
            .flat_map(|(_, r)| &r.resource_spans)
            .filter_map(|rs| rs.resource.as_ref())
            .filter_map(|r| string_attr(&r.attributes, "service.name"))
            .collect()
    }
}

/// The string value of attribute `key`, if present.
pub fn string_attr(attrs: &[KeyValue], key: &str) -> Option<String> {
    attrs.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s.clone()),
            _ => None,
        }
    })
}

/// The int value of attribute `key`, if present.
pub fn int_attr(attrs: &[KeyValue], key: &str) -> Option<i64> {
    attrs.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::IntValue(i) => Some(*i),
            _ => None,
        }
    })
}
