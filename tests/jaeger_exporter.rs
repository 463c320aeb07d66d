//! The `jaeger` exporter. `protocol: grpc`: a Jaeger `CollectorService` served by the test
//! (tonic, messages declared here from jaeger-idl's `model.proto` and `collector.proto`)
//! receives a rich span sent over OTLP to a running `sluice`, and every translated field is
//! checked. `protocol: otlp` (default): the span arrives as OTLP at an OTLP server.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use common::{free_port, sink::Sink, wait_port, wait_until, Sluice};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link, SpanKind};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;

/// jaeger.api_v2 messages, as the Jaeger collector decodes them.
mod jaeger {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Ts {
        #[prost(int64, tag = "1")]
        pub seconds: i64,
        #[prost(int32, tag = "2")]
        pub nanos: i32,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Tag {
        #[prost(string, tag = "1")]
        pub key: String,
        #[prost(int32, tag = "2")]
        pub v_type: i32,
        #[prost(string, tag = "3")]
        pub v_str: String,
        #[prost(bool, tag = "4")]
        pub v_bool: bool,
        #[prost(int64, tag = "5")]
        pub v_int64: i64,
        #[prost(double, tag = "6")]
        pub v_float64: f64,
        #[prost(bytes = "vec", tag = "7")]
        pub v_binary: Vec<u8>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Log {
        #[prost(message, optional, tag = "1")]
        pub timestamp: Option<Ts>,
        #[prost(message, repeated, tag = "2")]
        pub fields: Vec<Tag>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Ref {
        #[prost(bytes = "vec", tag = "1")]
        pub trace_id: Vec<u8>,
        #[prost(bytes = "vec", tag = "2")]
        pub span_id: Vec<u8>,
        #[prost(int32, tag = "3")]
        pub ref_type: i32,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Process {
        #[prost(string, tag = "1")]
        pub service_name: String,
        #[prost(message, repeated, tag = "2")]
        pub tags: Vec<Tag>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Span {
        #[prost(bytes = "vec", tag = "1")]
        pub trace_id: Vec<u8>,
        #[prost(bytes = "vec", tag = "2")]
        pub span_id: Vec<u8>,
        #[prost(string, tag = "3")]
        pub operation_name: String,
        #[prost(message, repeated, tag = "4")]
        pub references: Vec<Ref>,
        #[prost(uint32, tag = "5")]
        pub flags: u32,
        #[prost(message, optional, tag = "6")]
        pub start_time: Option<Ts>,
        #[prost(message, optional, tag = "7")]
        pub duration: Option<Ts>,
        #[prost(message, repeated, tag = "8")]
        pub tags: Vec<Tag>,
        #[prost(message, repeated, tag = "9")]
        pub logs: Vec<Log>,
        #[prost(message, optional, tag = "10")]
        pub process: Option<Process>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Batch {
        #[prost(message, repeated, tag = "1")]
        pub spans: Vec<Span>,
        #[prost(message, optional, tag = "2")]
        pub process: Option<Process>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct PostSpansRequest {
        #[prost(message, optional, tag = "1")]
        pub batch: Option<Batch>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct PostSpansResponse {}

    pub const STRING: i32 = 0;
    pub const BOOL: i32 = 1;
    pub const INT64: i32 = 2;
    pub const FLOAT64: i32 = 3;
    pub const BINARY: i32 = 4;
    pub const CHILD_OF: i32 = 0;
    pub const FOLLOWS_FROM: i32 = 1;
}

type Got = Arc<Mutex<Vec<jaeger::PostSpansRequest>>>;
type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// `jaeger.api_v2.CollectorService` recording every PostSpans request.
#[derive(Clone)]
struct Collector(Got);

impl tonic::server::NamedService for Collector {
    const NAME: &'static str = "jaeger.api_v2.CollectorService";
}

struct PostSpans(Got);

impl tonic::server::UnaryService<jaeger::PostSpansRequest> for PostSpans {
    type Response = jaeger::PostSpansResponse;
    type Future = BoxFut<Result<tonic::Response<Self::Response>, tonic::Status>>;

    fn call(&mut self, req: tonic::Request<jaeger::PostSpansRequest>) -> Self::Future {
        let got = self.0.clone();
        Box::pin(async move {
            got.lock().unwrap().push(req.into_inner());
            Ok(tonic::Response::new(jaeger::PostSpansResponse {}))
        })
    }
}

impl tower::Service<http::Request<tonic::body::Body>> for Collector {
    type Response = http::Response<tonic::body::Body>;
    type Error = std::convert::Infallible;
    type Future = BoxFut<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        let got = self.0.clone();
        Box::pin(async move {
            if req.uri().path() != "/jaeger.api_v2.CollectorService/PostSpans" {
                return Ok(http::Response::builder()
                    .header("grpc-status", "12")
                    .header("content-type", "application/grpc")
                    .body(tonic::body::Body::empty())
                    .unwrap());
            }
            let mut grpc = tonic::server::Grpc::new(tonic_prost::ProstCodec::default());
            Ok(grpc.unary(PostSpans(got), req).await)
        })
    }
}

fn s(k: &str, v: &str) -> KeyValue {
    kv(k, any_value::Value::StringValue(v.into()))
}

fn kv(k: &str, v: any_value::Value) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

const TRACE: [u8; 16] = [
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10,
];
const SPAN: [u8; 8] = [0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8];
const PARENT: [u8; 8] = [0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8];
const LINK_TRACE: [u8; 16] = [0xff; 16];
const LINK_SPAN: [u8; 8] = [0x0c; 8];
const START: u64 = 1_700_000_000_123_456_789;

fn rich_span() -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    s("service.name", "frontend"),
                    s("host.name", "web-7"),
                    kv("process.pid", any_value::Value::IntValue(4242)),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "io.opentelemetry.http".into(),
                    version: "1.2.3".into(),
                    ..Default::default()
                }),
                spans: vec![Span {
                    trace_id: TRACE.to_vec(),
                    span_id: SPAN.to_vec(),
                    parent_span_id: PARENT.to_vec(),
                    trace_state: "vendor=x".into(),
                    name: "GET /cart".into(),
                    kind: SpanKind::Server as i32,
                    start_time_unix_nano: START,
                    end_time_unix_nano: START + 1_500_000_250,
                    attributes: vec![
                        s("http.method", "GET"),
                        kv("http.status_code", any_value::Value::IntValue(500)),
                        kv("retry", any_value::Value::BoolValue(true)),
                        kv("ratio", any_value::Value::DoubleValue(0.25)),
                        kv("payload", any_value::Value::BytesValue(vec![1, 2, 3])),
                        kv(
                            "tags",
                            any_value::Value::ArrayValue(ArrayValue {
                                values: vec![
                                    AnyValue {
                                        value: Some(any_value::Value::StringValue("a".into())),
                                    },
                                    AnyValue {
                                        value: Some(any_value::Value::IntValue(1)),
                                    },
                                ],
                            }),
                        ),
                    ],
                    events: vec![Event {
                        time_unix_nano: START + 1_000,
                        name: "exception".into(),
                        attributes: vec![s("exception.message", "out of stock")],
                        ..Default::default()
                    }],
                    links: vec![Link {
                        trace_id: LINK_TRACE.to_vec(),
                        span_id: LINK_SPAN.to_vec(),
                        ..Default::default()
                    }],
                    status: Some(Status {
                        code: StatusCode::Error as i32,
                        message: "boom".into(),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn post(http: u16, req: &ExportTraceServiceRequest) {
    let resp = reqwest::blocking::Client::new()
        .post(format!("http://127.0.0.1:{http}/v1/traces"))
        .header("content-type", "application/x-protobuf")
        .body(req.encode_to_vec())
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
}

fn string_tag(k: &str, v: &str) -> jaeger::Tag {
    jaeger::Tag {
        key: k.into(),
        v_type: jaeger::STRING,
        v_str: v.into(),
        ..Default::default()
    }
}

#[test]
fn grpc_protocol_posts_the_translated_span_to_a_jaeger_collector() {
    let rt = common::runtime(1);
    let got: Got = Arc::default();
    let collector = free_port();
    let server = Collector(got.clone());
    rt.spawn(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", collector))
            .await
            .unwrap();
        tonic::transport::Server::builder()
            .add_service(server)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await
            .unwrap();
    });
    wait_port(collector);
    let http = free_port();
    let mut sluice = Sluice::start(&format!(
        r#"
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{http}
exporters:
  jaeger:
    protocol: grpc
    endpoint: http://127.0.0.1:{collector}
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [jaeger]
"#
    ));
    wait_port(http);
    post(http, &rich_span());
    assert!(
        wait_until(Duration::from_secs(20), || !got.lock().unwrap().is_empty()),
        "no PostSpans arrived:\n{}",
        sluice.stderr()
    );
    let req = got.lock().unwrap().remove(0);
    let batch = req.batch.unwrap();
    assert_eq!(
        batch.process,
        Some(jaeger::Process {
            service_name: "frontend".into(),
            tags: vec![
                string_tag("host.name", "web-7"),
                jaeger::Tag {
                    key: "process.pid".into(),
                    v_type: jaeger::INT64,
                    v_int64: 4242,
                    ..Default::default()
                },
            ],
        })
    );
    assert_eq!(batch.spans.len(), 1);
    let span = &batch.spans[0];
    // 128-bit trace ID: high 64 bits then low 64 bits, big-endian.
    assert_eq!(span.trace_id, TRACE.to_vec());
    assert_eq!(
        u64::from_be_bytes(span.trace_id[..8].try_into().unwrap()),
        0x0102030405060708
    );
    assert_eq!(
        u64::from_be_bytes(span.trace_id[8..].try_into().unwrap()),
        0x090a0b0c0d0e0f10
    );
    assert_eq!(span.span_id, SPAN.to_vec());
    assert_eq!(span.operation_name, "GET /cart");
    assert_eq!(span.flags, 0);
    assert_eq!(
        span.start_time,
        Some(jaeger::Ts {
            seconds: 1_700_000_000,
            nanos: 123_456_789
        })
    );
    assert_eq!(
        span.duration,
        Some(jaeger::Ts {
            seconds: 1,
            nanos: 500_000_250
        })
    );
    assert_eq!(
        span.references,
        vec![
            jaeger::Ref {
                trace_id: TRACE.to_vec(),
                span_id: PARENT.to_vec(),
                ref_type: jaeger::CHILD_OF,
            },
            jaeger::Ref {
                trace_id: LINK_TRACE.to_vec(),
                span_id: LINK_SPAN.to_vec(),
                ref_type: jaeger::FOLLOWS_FROM,
            },
        ]
    );
    assert_eq!(
        span.tags,
        vec![
            string_tag("otel.scope.name", "io.opentelemetry.http"),
            string_tag("otel.scope.version", "1.2.3"),
            string_tag("http.method", "GET"),
            jaeger::Tag {
                key: "http.status_code".into(),
                v_type: jaeger::INT64,
                v_int64: 500,
                ..Default::default()
            },
            jaeger::Tag {
                key: "retry".into(),
                v_type: jaeger::BOOL,
                v_bool: true,
                ..Default::default()
            },
            jaeger::Tag {
                key: "ratio".into(),
                v_type: jaeger::FLOAT64,
                v_float64: 0.25,
                ..Default::default()
            },
            jaeger::Tag {
                key: "payload".into(),
                v_type: jaeger::BINARY,
                v_binary: vec![1, 2, 3],
                ..Default::default()
            },
            string_tag("tags", r#"["a",1]"#),
            string_tag("span.kind", "server"),
            string_tag("otel.status_code", "ERROR"),
            jaeger::Tag {
                key: "error".into(),
                v_type: jaeger::BOOL,
                v_bool: true,
                ..Default::default()
            },
            string_tag("otel.status_description", "boom"),
            string_tag("w3c.tracestate", "vendor=x"),
        ]
    );
    assert_eq!(
        span.logs,
        vec![jaeger::Log {
            timestamp: Some(jaeger::Ts {
                seconds: 1_700_000_000,
                nanos: 123_457_789
            }),
            fields: vec![
                string_tag("event", "exception"),
                string_tag("exception.message", "out of stock"),
            ],
        }]
    );
    assert_eq!(span.process, None);
    assert_eq!(sluice.terminate(), 0);
}

#[test]
fn otlp_protocol_is_the_default_and_sends_otlp() {
    let rt = common::runtime(1);
    let sink = Sink::start(&rt);
    let http = free_port();
    let mut sluice = Sluice::start(&format!(
        r#"
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{http}
exporters:
  jaeger:
    endpoint: 127.0.0.1:{port}
    tls:
      insecure: true
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [jaeger]
"#,
        port = sink.grpc.port()
    ));
    wait_port(http);
    post(http, &rich_span());
    assert!(
        wait_until(Duration::from_secs(20), || !sink.spans().is_empty()),
        "no OTLP spans arrived:\n{}",
        sluice.stderr()
    );
    let spans = sink.spans();
    assert_eq!(spans.len(), 1);
    assert_eq!(
        spans[0],
        rich_span().resource_spans[0].scope_spans[0].spans[0]
    );
    assert_eq!(sluice.terminate(), 0);
}
