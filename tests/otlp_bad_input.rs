//! Bad input to the OTLP receiver: each gets its documented status, and the next good request
//! still succeeds. The receiver runs in-process, feeding a queue the test reads (or leaves full).

use std::io::Write;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use serde_json::json;
use sluice::component::{ComponentId, ReceiverContext};
use sluice::pipeline::{Consumer, Consumers};
use sluice::rpc_status::RpcStatus;
use sluice::signal::{Batch, Signal};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Running {
    grpc: u16,
    http: u16,
    rx: mpsc::Receiver<Batch>,
    stop: CancellationToken,
    http_client: reqwest::Client,
}

/// Starts the receiver with traces only (no metrics or logs pipeline) behind a queue of
/// `capacity` batches.
async fn start(capacity: usize, extra_http: serde_json::Value) -> Running {
    let (grpc, http) = (free_port(), free_port());
    let mut http_cfg = json!({"endpoint": format!("127.0.0.1:{http}")});
    if let (Some(dst), Some(src)) = (http_cfg.as_object_mut(), extra_http.as_object()) {
        dst.extend(src.clone());
    }
    let raw = json!({"protocols": {
        "grpc": {"endpoint": format!("127.0.0.1:{grpc}")},
        "http": http_cfg,
    }});
    let id = ComponentId::parse("otlp").unwrap();
    let recv = (sluice::receivers::otlp::FACTORY.create)(&id, &raw).unwrap();
    let (tx, rx) = mpsc::channel(capacity);
    let mut consumers = Consumers::default();
    consumers.set(
        Signal::Traces,
        Consumer::new(id.clone(), Signal::Traces, vec![tx]),
    );
    let stop = CancellationToken::new();
    recv.start(ReceiverContext {
        id,
        consumers,
        shutdown: stop.clone(),
        auth: Default::default(),
    })
    .await
    .unwrap();
    Running {
        grpc,
        http,
        rx,
        stop,
        http_client: reqwest::Client::new(),
    }
}

fn traces(n: usize) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: (0..n)
                    .map(|i| Span {
                        trace_id: vec![1; 16],
                        span_id: vec![i as u8 + 1; 8],
                        name: format!("s{i}"),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

impl Running {
    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.http)
    }

    async fn post(
        &self,
        path: &str,
        ctype: &str,
        encoding: Option<&str>,
        body: Vec<u8>,
    ) -> reqwest::Response {
        let mut req = self
            .http_client
            .post(self.url(path))
            .header("content-type", ctype)
            .body(body);
        if let Some(e) = encoding {
            req = req.header("content-encoding", e);
        }
        req.send().await.unwrap()
    }

    /// A good protobuf request must succeed and arrive.
    async fn good_request_still_works(&mut self) {
        let r = self
            .post(
                "/v1/traces",
                "application/x-protobuf",
                None,
                traces(2).encode_to_vec(),
            )
            .await;
        assert_eq!(r.status(), 200);
        let b = tokio::time::timeout(Duration::from_secs(5), self.rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(b.item_count(), 2);
    }
}

fn status_of(body: &[u8], json: bool) -> RpcStatus {
    RpcStatus::from_body(body, json).expect("google.rpc.Status body")
}

#[tokio::test]
async fn good_protobuf_json_gzip_and_zstd_bodies_are_accepted() {
    let mut r = start(16, json!({})).await;
    let pb = traces(3).encode_to_vec();
    for (enc, body) in [
        (None, pb.clone()),
        (Some("gzip"), gzip(&pb)),
        (Some("zstd"), zstd::encode_all(&pb[..], 3).unwrap()),
    ] {
        let resp = r
            .post("/v1/traces", "application/x-protobuf", enc, body)
            .await;
        assert_eq!(resp.status(), 200, "{enc:?}");
        assert_eq!(resp.headers()["content-type"], "application/x-protobuf");
        assert_eq!(r.rx.recv().await.unwrap().item_count(), 3);
    }
    let json_body = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/otlp_json/trace.json"
    ))
    .unwrap();
    let resp = r
        .post(
            "/v1/traces",
            "application/json; charset=utf-8",
            None,
            json_body,
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert_eq!(resp.text().await.unwrap(), "{}");
    let b = r.rx.recv().await.unwrap();
    match &b.to_data() {
        sluice::signal::Data::Traces(t) => {
            assert_eq!(
                t.resource_spans[0].scope_spans[0].spans[0].name,
                "I'm a server span"
            )
        }
        other => panic!("{other:?}"),
    }
    r.stop.cancel();
}

#[tokio::test]
async fn garbage_and_malformed_bodies_get_400_with_a_status() {
    let mut r = start(16, json!({})).await;
    let resp = r
        .post(
            "/v1/traces",
            "application/x-protobuf",
            None,
            b"\xff\xff\xff\xffgarbage".to_vec(),
        )
        .await;
    assert_eq!(resp.status(), 400);
    let st = status_of(&resp.bytes().await.unwrap(), false);
    assert_eq!(st.code, tonic::Code::InvalidArgument as i32);
    assert!(st.message.contains("protobuf"), "{}", st.message);
    r.good_request_still_works().await;

    let resp = r
        .post(
            "/v1/traces",
            "application/json",
            None,
            b"{\"resourceSpans\": [".to_vec(),
        )
        .await;
    assert_eq!(resp.status(), 400);
    let st = status_of(&resp.bytes().await.unwrap(), true);
    assert_eq!(st.code, 3);
    r.good_request_still_works().await;

    let bad_id =
        br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"abc1","name":"x"}]}]}]}"#;
    let resp = r
        .post("/v1/traces", "application/json", None, bad_id.to_vec())
        .await;
    assert_eq!(resp.status(), 400);
    let st = status_of(&resp.bytes().await.unwrap(), true);
    assert!(st.message.contains("traceId"), "{}", st.message);

    let resp = r
        .post(
            "/v1/traces",
            "application/x-protobuf",
            Some("gzip"),
            b"not gzip".to_vec(),
        )
        .await;
    assert_eq!(resp.status(), 400);
    let resp = r
        .post(
            "/v1/traces",
            "application/x-protobuf",
            Some("br"),
            b"x".to_vec(),
        )
        .await;
    assert_eq!(resp.status(), 400);
    r.good_request_still_works().await;
    r.stop.cancel();
}

#[tokio::test]
async fn wrong_content_type_method_and_path() {
    let mut r = start(16, json!({})).await;
    let resp = r
        .post("/v1/traces", "text/plain", None, b"hi".to_vec())
        .await;
    assert_eq!(resp.status(), 415);
    let resp = r.http_client.get(r.url("/v1/traces")).send().await.unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["allow"], "POST");
    let resp = r
        .post("/v1/nothing", "application/x-protobuf", None, vec![])
        .await;
    assert_eq!(resp.status(), 404);
    // A signal with no pipeline behind it.
    let resp = r
        .post(
            "/v1/logs",
            "application/x-protobuf",
            None,
            ExportLogsServiceRequest::default().encode_to_vec(),
        )
        .await;
    assert_eq!(resp.status(), 404);
    r.good_request_still_works().await;
    r.stop.cancel();
}

#[tokio::test]
async fn oversized_and_gzip_bomb_bodies_get_413() {
    let mut r = start(16, json!({"max_request_body_size": 1_048_576})).await;
    let resp = r
        .post(
            "/v1/traces",
            "application/x-protobuf",
            None,
            vec![0u8; 2 * 1_048_576],
        )
        .await;
    assert_eq!(resp.status(), 413);
    // 256 MiB of zeros compress to ~250 KiB: under the limit on the wire, far over it inflated.
    let bomb = gzip(&vec![0u8; 256 << 20]);
    assert!(bomb.len() < 1_048_576);
    let resp = r
        .post("/v1/traces", "application/x-protobuf", Some("gzip"), bomb)
        .await;
    assert_eq!(resp.status(), 413);
    r.good_request_still_works().await;
    r.stop.cancel();
}

#[tokio::test]
async fn a_full_pipeline_answers_retryable_errors() {
    let r = start(1, json!({})).await;
    // Fill the one-batch queue; the test never drains it.
    let resp = r
        .post(
            "/v1/traces",
            "application/x-protobuf",
            None,
            traces(1).encode_to_vec(),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let resp = r
        .post(
            "/v1/traces",
            "application/x-protobuf",
            None,
            traces(1).encode_to_vec(),
        )
        .await;
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "1");
    let st = status_of(&resp.bytes().await.unwrap(), false);
    assert_eq!(st.code, tonic::Code::Unavailable as i32);

    let mut client = TraceServiceClient::connect(format!("http://127.0.0.1:{}", r.grpc))
        .await
        .unwrap();
    let err = client.export(traces(1)).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unavailable);
    let details = RpcStatus::from_tonic(&err).expect("status details");
    assert_eq!(details.retry_after(), Some(Duration::from_secs(1)));
    r.stop.cancel();
}

#[tokio::test]
async fn grpc_good_requests_compressed_and_unimplemented_signals() {
    let mut r = start(16, json!({})).await;
    let mut client = TraceServiceClient::connect(format!("http://127.0.0.1:{}", r.grpc))
        .await
        .unwrap()
        .send_compressed(tonic::codec::CompressionEncoding::Gzip);
    client.export(traces(4)).await.unwrap();
    assert_eq!(r.rx.recv().await.unwrap().item_count(), 4);
    let mut zclient = TraceServiceClient::connect(format!("http://127.0.0.1:{}", r.grpc))
        .await
        .unwrap()
        .send_compressed(tonic::codec::CompressionEncoding::Zstd);
    zclient.export(traces(2)).await.unwrap();
    assert_eq!(r.rx.recv().await.unwrap().item_count(), 2);

    let mut logs = LogsServiceClient::connect(format!("http://127.0.0.1:{}", r.grpc))
        .await
        .unwrap();
    let err = logs
        .export(ExportLogsServiceRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unimplemented);

    // Garbage on the gRPC port is answered with an error, and the server keeps serving.
    let raw = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let _ = raw
        .post(format!(
            "http://127.0.0.1:{}/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            r.grpc
        ))
        .header("content-type", "application/grpc")
        .body(vec![0u8, 0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff, 0xff])
        .send()
        .await;
    client.export(traces(1)).await.unwrap();
    assert_eq!(r.rx.recv().await.unwrap().item_count(), 1);
    r.stop.cancel();
}
