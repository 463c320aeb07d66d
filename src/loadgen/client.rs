//! The load generator's OTLP client: sends pre-encoded export requests over gRPC or
//! HTTP/protobuf and classifies each answer as accepted, refused (retryable) or an error.

use std::time::Duration;

use bytes::Bytes;
use http::uri::PathAndQuery;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tonic::transport::{Channel, Endpoint};

use crate::exporters::grpc_codec::EncodedCodec;
use crate::signal::Signal;

/// Transport for OTLP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// OTLP/gRPC.
    Grpc,
    /// OTLP/HTTP with protobuf bodies.
    Http,
}

impl Protocol {
    /// The collector's default local endpoint for this protocol.
    pub fn default_endpoint(self) -> &'static str {
        match self {
            Protocol::Grpc => "127.0.0.1:4317",
            Protocol::Http => "127.0.0.1:4318",
        }
    }
}

/// What became of one export call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The server took the data.
    Accepted,
    /// The server refused with a retryable answer: gRPC UNAVAILABLE or RESOURCE_EXHAUSTED,
    /// HTTP 503 or 429 (back-pressure).
    Refused,
    /// Anything else: transport failures, timeouts, permanent errors.
    Error(String),
}

/// The gRPC method path of a signal's export call.
pub fn grpc_path(signal: Signal) -> &'static str {
    match signal {
        Signal::Traces => "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        Signal::Metrics => "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
        Signal::Logs => "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
    }
}

/// The OTLP/HTTP path of a signal.
pub fn http_path(signal: Signal) -> &'static str {
    match signal {
        Signal::Traces => "/v1/traces",
        Signal::Metrics => "/v1/metrics",
        Signal::Logs => "/v1/logs",
    }
}

/// One connection's worth of export client for one signal.
#[derive(Clone)]
pub enum ExportClient {
    /// gRPC over one HTTP/2 channel.
    Grpc {
        /// The tonic client.
        grpc: tonic::client::Grpc<Channel>,
        /// Method path.
        path: &'static str,
        /// Per-call timeout.
        timeout: Duration,
    },
    /// HTTP/1.1 with keep-alive.
    Http {
        /// The hyper client.
        client: Client<HttpConnector, Full<Bytes>>,
        /// Full URL of the signal's path.
        url: http::Uri,
        /// Per-call timeout.
        timeout: Duration,
    },
}

fn with_scheme(endpoint: &str) -> String {
    if endpoint.starts_with("http://") || endpoint.starts_with("https://") {
        endpoint.trim_end_matches('/').to_string()
    } else {
        format!("http://{}", endpoint.trim_end_matches('/'))
    }
}

impl ExportClient {
    /// A client for `signal` to `endpoint` (`host:port` or `http://host:port`); gRPC
    /// connects lazily, on the first call.
    pub fn new(
        endpoint: &str,
        protocol: Protocol,
        signal: Signal,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let base = with_scheme(endpoint);
        Ok(match protocol {
            Protocol::Grpc => {
                let channel = Endpoint::from_shared(base)?
                    .connect_timeout(timeout)
                    .tcp_nodelay(true)
                    .connect_lazy();
                ExportClient::Grpc {
                    grpc: tonic::client::Grpc::new(channel),
                    path: grpc_path(signal),
                    timeout,
                }
            }
            Protocol::Http => {
                let mut connector = HttpConnector::new();
                connector.set_nodelay(true);
                ExportClient::Http {
                    client: Client::builder(TokioExecutor::new()).build(connector),
                    url: format!("{base}{}", http_path(signal)).parse()?,
                    timeout,
                }
            }
        })
    }

    /// Sends one encoded export request and classifies the answer.
    pub async fn export(&mut self, body: Bytes) -> Outcome {
        match self {
            ExportClient::Grpc {
                grpc,
                path,
                timeout,
            } => {
                if let Err(e) = grpc.ready().await {
                    return Outcome::Error(format!("connect: {e}"));
                }
                let mut req = tonic::Request::new(vec![body]);
                req.set_timeout(*timeout);
                // The response is an Export*ServiceResponse; only its presence matters here,
                // and an empty protobuf message decodes as any of them.
                let res = grpc
                    .unary(
                        req,
                        PathAndQuery::from_static(path),
                        EncodedCodec::<
                            opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse,
                        >::default(),
                    )
                    .await;
                match res {
                    Ok(_) => Outcome::Accepted,
                    Err(s) => match s.code() {
                        tonic::Code::Unavailable | tonic::Code::ResourceExhausted => {
                            Outcome::Refused
                        }
                        c => Outcome::Error(format!("{c:?}: {}", s.message())),
                    },
                }
            }
            ExportClient::Http {
                client,
                url,
                timeout,
            } => {
                let req = http::Request::post(url.clone())
                    .header(http::header::CONTENT_TYPE, "application/x-protobuf")
                    .body(Full::new(body))
                    .expect("valid request");
                let call = async {
                    let resp = client.request(req).await.map_err(|e| e.to_string())?;
                    let status = resp.status();
                    // Read the body so the connection can be reused.
                    let _ = resp.into_body().collect().await;
                    Ok::<_, String>(status)
                };
                match tokio::time::timeout(*timeout, call).await {
                    Err(_) => Outcome::Error("timeout".to_string()),
                    Ok(Err(e)) => Outcome::Error(e),
                    Ok(Ok(s)) if s.is_success() => Outcome::Accepted,
                    Ok(Ok(s)) if s.as_u16() == 503 || s.as_u16() == 429 => Outcome::Refused,
                    Ok(Ok(s)) => Outcome::Error(format!("HTTP {s}")),
                }
            }
        }
    }
}
