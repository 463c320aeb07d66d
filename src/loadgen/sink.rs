//! The OTLP sink: accepts OTLP/gRPC and OTLP/HTTP (protobuf), counts items per signal
//! without decoding into messages, optionally checks that trace IDs are never seen twice,
//! and can be made slow, made to refuse with UNAVAILABLE / 503, or stopped — through flags
//! or the control endpoints on its HTTP listener:
//!
//! - `POST /control/fail` and `POST /control/ok`: start or stop refusing
//! - `POST /control/delay?ms=N`: answer every export after N ms
//! - `POST /control/stop`: stop the sink (it prints its final counts)
//! - `POST /control/reset-latency`: forget the end-to-end latencies recorded so far
//! - `GET /control/counts`: the counts (and send-to-arrival latency) as JSON

use std::collections::HashSet;
use std::convert::Infallible;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use bytes::Buf;
use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::{http, BoxFuture, StdError};
use tonic::server::NamedService;
use tonic::Status;

use super::stats::Latency;
use super::template::unix_nanos;
use super::wire;
use crate::rpc_status::RpcStatus;
use crate::signal::Signal;

/// Largest request accepted, in bytes (after decompression).
pub const MAX_REQUEST_BYTES: usize = 256 * 1024 * 1024;

/// How the sink behaves.
#[derive(Debug, Clone, Default)]
pub struct SinkConfig {
    /// gRPC listen address (`host:port`), if any.
    pub grpc_listen: Option<String>,
    /// HTTP listen address, if any; the control endpoints live here too.
    pub http_listen: Option<String>,
    /// Record every span's trace ID and count those seen before.
    pub check_unique_trace_ids: bool,
    /// Wait this long before answering each export.
    pub delay: Duration,
    /// Start out refusing every export with UNAVAILABLE / 503.
    pub fail_unavailable: bool,
}

/// What the sink has counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct SinkCounts {
    /// Spans accepted.
    pub spans: u64,
    /// Metric data points accepted.
    pub metric_points: u64,
    /// Log records accepted.
    pub log_records: u64,
    /// Export requests accepted.
    pub requests: u64,
    /// Export requests refused because the sink was told to fail.
    pub refused_requests: u64,
    /// Requests that could not be parsed.
    pub malformed_requests: u64,
    /// Spans whose trace ID had been seen before (with `check_unique_trace_ids`).
    pub duplicate_trace_ids: u64,
    /// Send-to-arrival latency of items stamped by `sluice-loadgen`, since the last reset.
    pub latency: Latency,
}

impl SinkCounts {
    /// Items of one signal.
    pub fn items(&self, signal: Signal) -> u64 {
        match signal {
            Signal::Traces => self.spans,
            Signal::Metrics => self.metric_points,
            Signal::Logs => self.log_records,
        }
    }
}

/// The sink's shared state: counters and switches.
pub struct SinkState {
    items: [AtomicU64; 3],
    requests: AtomicU64,
    refused: AtomicU64,
    malformed: AtomicU64,
    duplicates: AtomicU64,
    check_ids: bool,
    seen: Mutex<HashSet<[u8; 16]>>,
    failing: AtomicBool,
    delay_ms: AtomicU64,
    stop: CancellationToken,
    latency: Mutex<Histogram<u64>>,
}

impl SinkState {
    fn new(check_ids: bool) -> Self {
        SinkState {
            items: Default::default(),
            requests: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            malformed: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            check_ids,
            seen: Mutex::new(HashSet::new()),
            failing: AtomicBool::new(false),
            delay_ms: AtomicU64::new(0),
            stop: CancellationToken::new(),
            latency: Mutex::new(super::stats::histogram()),
        }
    }
}

fn index(signal: Signal) -> usize {
    match signal {
        Signal::Traces => 0,
        Signal::Metrics => 1,
        Signal::Logs => 2,
    }
}

/// How an export request was answered.
enum Verdict {
    Accepted,
    Refused,
    Malformed(String),
}

impl SinkState {
    /// Current counts.
    pub fn counts(&self) -> SinkCounts {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        SinkCounts {
            spans: l(&self.items[0]),
            metric_points: l(&self.items[1]),
            log_records: l(&self.items[2]),
            requests: l(&self.requests),
            refused_requests: l(&self.refused),
            malformed_requests: l(&self.malformed),
            duplicate_trace_ids: l(&self.duplicates),
            latency: self.latency(),
        }
    }

    /// Records the end-to-end latency of items stamped with their send time. Times that
    /// are not plausible send times (from other senders) are ignored.
    fn record_latency(&self, times: Vec<u64>) {
        if times.is_empty() {
            return;
        }
        let now = unix_nanos();
        let mut h = self.latency.lock().unwrap();
        for t in times {
            if t <= now && now - t < 600_000_000_000 {
                h.saturating_record(((now - t) / 1000).max(1));
            }
        }
    }

    /// Latency from the load generator's send to arrival here, since the last reset.
    pub fn latency(&self) -> Latency {
        Latency::of(&self.latency.lock().unwrap())
    }

    /// Forgets the latencies recorded so far (counts keep running).
    pub fn reset_latency(&self) {
        self.latency.lock().unwrap().reset();
    }

    /// Starts (`true`) or stops refusing exports.
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::Relaxed);
    }

    /// Sets the delay before each answer.
    pub fn set_delay(&self, delay: Duration) {
        self.delay_ms
            .store(delay.as_millis() as u64, Ordering::Relaxed);
    }

    /// Asks the sink to stop.
    pub fn stop(&self) {
        self.stop.cancel();
    }

    /// Cancelled once the sink is told to stop.
    pub fn stopped(&self) -> CancellationToken {
        self.stop.clone()
    }

    async fn export(&self, signal: Signal, body: &[u8]) -> Verdict {
        let delay = self.delay_ms.load(Ordering::Relaxed);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        if self.failing.load(Ordering::Relaxed) {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return Verdict::Refused;
        }
        let mut collect = wire::Collect {
            trace_ids: (self.check_ids && signal == Signal::Traces).then(Vec::new),
            times: Some(Vec::new()),
        };
        match wire::count_items(signal, body, &mut collect) {
            Ok(n) => {
                if let Some(ids) = collect.trace_ids {
                    let mut seen = self.seen.lock().unwrap();
                    let dups = ids.into_iter().filter(|id| !seen.insert(*id)).count();
                    self.duplicates.fetch_add(dups as u64, Ordering::Relaxed);
                }
                self.record_latency(collect.times.unwrap_or_default());
                self.items[index(signal)].fetch_add(n, Ordering::Relaxed);
                self.requests.fetch_add(1, Ordering::Relaxed);
                Verdict::Accepted
            }
            Err(e) => {
                self.malformed.fetch_add(1, Ordering::Relaxed);
                Verdict::Malformed(e.to_string())
            }
        }
    }
}

// ---- gRPC: a tonic service per OTLP service that takes the request as raw bytes ----

/// Decodes requests as raw bytes and encodes the (empty) response.
#[derive(Clone, Copy, Default)]
struct RawCodec;

struct EmptyEncoder;
struct RawDecoder;

impl Codec for RawCodec {
    type Encode = ();
    type Decode = Bytes;
    type Encoder = EmptyEncoder;
    type Decoder = RawDecoder;
    fn encoder(&mut self) -> EmptyEncoder {
        EmptyEncoder
    }
    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

impl Encoder for EmptyEncoder {
    type Item = ();
    type Error = Status;
    /// An empty message: every Export*ServiceResponse with no partial success.
    fn encode(&mut self, _: (), _: &mut EncodeBuf<'_>) -> Result<(), Status> {
        Ok(())
    }
}

impl Decoder for RawDecoder {
    type Item = Bytes;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

trait OtlpService: Send + Sync + 'static {
    const NAME: &'static str;
    const SIGNAL: Signal;
}
struct TraceSvc;
struct MetricsSvc;
struct LogsSvc;
impl OtlpService for TraceSvc {
    const NAME: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
    const SIGNAL: Signal = Signal::Traces;
}
impl OtlpService for MetricsSvc {
    const NAME: &'static str = "opentelemetry.proto.collector.metrics.v1.MetricsService";
    const SIGNAL: Signal = Signal::Metrics;
}
impl OtlpService for LogsSvc {
    const NAME: &'static str = "opentelemetry.proto.collector.logs.v1.LogsService";
    const SIGNAL: Signal = Signal::Logs;
}

struct RawServer<S> {
    state: Arc<SinkState>,
    _s: PhantomData<fn() -> S>,
}

impl<S> Clone for RawServer<S> {
    fn clone(&self) -> Self {
        RawServer {
            state: self.state.clone(),
            _s: PhantomData,
        }
    }
}

impl<S: OtlpService> NamedService for RawServer<S> {
    const NAME: &'static str = S::NAME;
}

struct ExportCall {
    state: Arc<SinkState>,
    signal: Signal,
}

impl tonic::server::UnaryService<Bytes> for ExportCall {
    type Response = ();
    type Future = BoxFuture<tonic::Response<()>, Status>;
    fn call(&mut self, req: tonic::Request<Bytes>) -> Self::Future {
        let state = self.state.clone();
        let signal = self.signal;
        Box::pin(async move {
            match state.export(signal, req.get_ref()).await {
                Verdict::Accepted => Ok(tonic::Response::new(())),
                Verdict::Refused => Err(RpcStatus::new(
                    tonic::Code::Unavailable,
                    "sink told to fail",
                )
                .with_retry_after(Duration::from_secs(1))
                .to_tonic()),
                Verdict::Malformed(e) => Err(Status::invalid_argument(e)),
            }
        })
    }
}

impl<S, B> tower::Service<http::Request<B>> for RawServer<S>
where
    S: OtlpService,
    B: tonic::codegen::Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let call = ExportCall {
            state: self.state.clone(),
            signal: S::SIGNAL,
        };
        Box::pin(async move {
            if !req.uri().path().ends_with("/Export") {
                return Ok(Status::unimplemented("only Export").into_http());
            }
            let mut grpc = tonic::server::Grpc::new(RawCodec)
                .accept_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Zstd)
                .max_decoding_message_size(MAX_REQUEST_BYTES);
            Ok(grpc.unary(call, req).await)
        })
    }
}

fn raw<S>(state: &Arc<SinkState>) -> RawServer<S> {
    RawServer {
        state: state.clone(),
        _s: PhantomData,
    }
}

// ---- HTTP: OTLP/HTTP protobuf and the control endpoints ----

fn decompress(headers: &HeaderMap, body: Bytes) -> Result<Bytes, String> {
    use std::io::Read;
    match headers
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
    {
        Some("gzip") => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&body[..])
                .take(MAX_REQUEST_BYTES as u64)
                .read_to_end(&mut out)
                .map_err(|e| e.to_string())?;
            Ok(out.into())
        }
        Some("zstd") => zstd::decode_all(&body[..])
            .map(Bytes::from)
            .map_err(|e| e.to_string()),
        None | Some("identity") => Ok(body),
        Some(other) => Err(format!("unsupported content-encoding {other}")),
    }
}

async fn http_export(
    state: &SinkState,
    signal: Signal,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let is_proto = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-protobuf"));
    if !is_proto {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the sink takes application/x-protobuf only",
        )
            .into_response();
    }
    let body = match decompress(&headers, body) {
        Ok(b) => b,
        Err(e) => return (StatusCode::BAD_REQUEST, e).into_response(),
    };
    match state.export(signal, &body).await {
        // An empty protobuf message is every Export*ServiceResponse without partial success.
        Verdict::Accepted => (
            StatusCode::OK,
            [("content-type", "application/x-protobuf")],
            Vec::new(),
        )
            .into_response(),
        Verdict::Refused => (
            StatusCode::SERVICE_UNAVAILABLE,
            [("retry-after", "1")],
            "sink told to fail",
        )
            .into_response(),
        Verdict::Malformed(e) => (StatusCode::BAD_REQUEST, e).into_response(),
    }
}

type St = State<Arc<SinkState>>;

/// The `ms` parameter of a query string such as `ms=250`.
fn ms_param(query: Option<&str>) -> Option<u64> {
    query?
        .split('&')
        .find_map(|kv| kv.strip_prefix("ms="))
        .and_then(|v| v.parse().ok())
}

fn http_router(state: Arc<SinkState>) -> Router {
    Router::new()
        .route(
            "/v1/traces",
            post(|State(s): St, h: HeaderMap, b: Bytes| async move {
                http_export(&s, Signal::Traces, h, b).await
            }),
        )
        .route(
            "/v1/metrics",
            post(|State(s): St, h: HeaderMap, b: Bytes| async move {
                http_export(&s, Signal::Metrics, h, b).await
            }),
        )
        .route(
            "/v1/logs",
            post(|State(s): St, h: HeaderMap, b: Bytes| async move {
                http_export(&s, Signal::Logs, h, b).await
            }),
        )
        .route(
            "/control/fail",
            post(|State(s): St| async move {
                s.set_failing(true);
                "failing\n"
            }),
        )
        .route(
            "/control/ok",
            post(|State(s): St| async move {
                s.set_failing(false);
                "ok\n"
            }),
        )
        .route(
            "/control/delay",
            post(|State(s): St, uri: axum::http::Uri| async move {
                match ms_param(uri.query()) {
                    Some(ms) => {
                        s.set_delay(Duration::from_millis(ms));
                        (StatusCode::OK, format!("delay {ms} ms\n"))
                    }
                    None => (StatusCode::BAD_REQUEST, "want ?ms=N\n".to_string()),
                }
            }),
        )
        .route(
            "/control/reset-latency",
            post(|State(s): St| async move {
                s.reset_latency();
                "latency reset\n"
            }),
        )
        .route(
            "/control/stop",
            post(|State(s): St| async move {
                s.stop();
                "stopping\n"
            }),
        )
        .route(
            "/control/counts",
            get(|State(s): St| async move {
                (
                    [("content-type", "application/json")],
                    serde_json::to_string(&s.counts()).unwrap_or_default(),
                )
            }),
        )
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .with_state(state)
}

/// A started sink.
pub struct RunningSink {
    /// Where gRPC is served, if configured.
    pub grpc: Option<SocketAddr>,
    /// Where HTTP (and control) is served, if configured.
    pub http: Option<SocketAddr>,
    /// Counters and switches.
    pub state: Arc<SinkState>,
    tasks: Vec<JoinHandle<()>>,
}

impl RunningSink {
    /// Waits for the servers to finish after [`SinkState::stop`].
    pub async fn join(self) {
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

async fn bind(addr: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("sink: cannot listen on {addr}: {e}"))
}

/// Binds the listeners and starts serving in the current runtime.
pub async fn start(cfg: &SinkConfig) -> anyhow::Result<RunningSink> {
    anyhow::ensure!(
        cfg.grpc_listen.is_some() || cfg.http_listen.is_some(),
        "the sink needs --grpc-listen and/or --http-listen"
    );
    let state = Arc::new(SinkState::new(cfg.check_unique_trace_ids));
    state.set_failing(cfg.fail_unavailable);
    state.set_delay(cfg.delay);
    let mut tasks = Vec::new();
    let mut grpc_addr = None;
    let mut http_addr = None;
    if let Some(addr) = &cfg.grpc_listen {
        let l = bind(addr).await?;
        grpc_addr = Some(l.local_addr()?);
        let router = tonic::transport::Server::builder()
            .add_service(raw::<TraceSvc>(&state))
            .add_service(raw::<MetricsSvc>(&state))
            .add_service(raw::<LogsSvc>(&state));
        let stop = state.stopped();
        tasks.push(tokio::spawn(async move {
            let incoming = tokio_stream::wrappers::TcpListenerStream::new(l);
            if let Err(e) = router
                .serve_with_incoming_shutdown(incoming, stop.cancelled_owned())
                .await
            {
                eprintln!("sink: gRPC server failed: {e}");
            }
        }));
    }
    if let Some(addr) = &cfg.http_listen {
        let l = bind(addr).await?;
        http_addr = Some(l.local_addr()?);
        let app = http_router(state.clone());
        let stop = state.stopped();
        tasks.push(tokio::spawn(async move {
            if let Err(e) = axum::serve(l, app)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await
            {
                eprintln!("sink: HTTP server failed: {e}");
            }
        }));
    }
    Ok(RunningSink {
        grpc: grpc_addr,
        http: http_addr,
        state,
        tasks,
    })
}

/// One line of counts, with rates over the last `secs` seconds.
pub fn counts_line(elapsed: Duration, c: &SinkCounts, prev: &SinkCounts, secs: f64) -> String {
    let r = |a: u64, b: u64| ((a - b) as f64 / secs.max(1e-9)).round() as u64;
    format!(
        "[{:>5.1}s] sink: spans {} ({}/s) metric_points {} ({}/s) log_records {} ({}/s) requests {} refused {} malformed {} duplicate_trace_ids {} | e2e latency p50 {:.1} ms p99 {:.1} ms",
        elapsed.as_secs_f64(),
        c.spans,
        r(c.spans, prev.spans),
        c.metric_points,
        r(c.metric_points, prev.metric_points),
        c.log_records,
        r(c.log_records, prev.log_records),
        c.requests,
        c.refused_requests,
        c.malformed_requests,
        c.duplicate_trace_ids,
        c.latency.p50_us as f64 / 1000.0,
        c.latency.p99_us as f64 / 1000.0,
    )
}

/// Runs a sink until SIGINT/SIGTERM or `POST /control/stop`, printing counts to stderr
/// every `report_every`; returns the final counts.
pub async fn run(cfg: &SinkConfig, report_every: Option<Duration>) -> anyhow::Result<SinkCounts> {
    let sink = start(cfg).await?;
    if let Some(a) = sink.grpc {
        eprintln!("sink: OTLP/gRPC on {a}");
    }
    if let Some(a) = sink.http {
        eprintln!("sink: OTLP/HTTP and control on http://{a}");
    }
    let state = sink.state.clone();
    let stop = state.stopped();
    let signals = {
        let state = state.clone();
        tokio::spawn(async move {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("SIGTERM handler");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            state.stop();
        })
    };
    let start = Instant::now();
    if let Some(every) = report_every {
        let mut tick = tokio::time::interval_at((start + every).into(), every);
        let mut prev = state.counts();
        let mut prev_at = start;
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    let c = state.counts();
                    let now = Instant::now();
                    eprintln!("{}", counts_line(now - start, &c, &prev, (now - prev_at).as_secs_f64()));
                    prev = c;
                    prev_at = now;
                }
                _ = stop.cancelled() => break,
            }
        }
    } else {
        stop.cancelled().await;
    }
    signals.abort();
    sink.join().await;
    Ok(state.counts())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loadgen::client::{ExportClient, Outcome, Protocol};
    use crate::loadgen::payload::IdGen;
    use crate::loadgen::template::Template;

    #[tokio::test]
    async fn counts_refuses_when_told_and_finds_duplicates() {
        let sink = start(&SinkConfig {
            grpc_listen: Some("127.0.0.1:0".into()),
            http_listen: Some("127.0.0.1:0".into()),
            check_unique_trace_ids: true,
            ..Default::default()
        })
        .await
        .unwrap();
        let t = Duration::from_secs(5);
        let mut grpc = ExportClient::new(
            &sink.grpc.unwrap().to_string(),
            Protocol::Grpc,
            Signal::Traces,
            t,
        )
        .unwrap();
        let mut http = ExportClient::new(
            &sink.http.unwrap().to_string(),
            Protocol::Http,
            Signal::Metrics,
            t,
        )
        .unwrap();
        let traces = Template::new(Signal::Traces, 10);
        let metrics = Template::new(Signal::Metrics, 6);
        let mut ids = IdGen::new(9, 0);
        let same = traces.stamp(&mut ids, unix_nanos());
        assert_eq!(grpc.export(same.clone()).await, Outcome::Accepted);
        assert_eq!(grpc.export(same).await, Outcome::Accepted);
        assert_eq!(
            http.export(metrics.stamp(&mut ids, unix_nanos())).await,
            Outcome::Accepted
        );
        sink.state.set_failing(true);
        assert_eq!(
            grpc.export(traces.stamp(&mut ids, unix_nanos())).await,
            Outcome::Refused
        );
        assert_eq!(
            http.export(metrics.stamp(&mut ids, unix_nanos())).await,
            Outcome::Refused
        );
        let c = sink.state.counts();
        assert_eq!((c.spans, c.metric_points, c.log_records), (20, 6, 0));
        assert_eq!((c.requests, c.refused_requests), (3, 2));
        assert_eq!(c.duplicate_trace_ids, 10);
        assert!(c.latency.max_us > 0);
        sink.state.stop();
        sink.join().await;
    }
}
