//! OTLP over HTTP: POST /v1/{traces,metrics,logs} with protobuf or JSON bodies.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, Request, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use bytes::Bytes;
use http_body_util::BodyExt;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;
use tokio::net::TcpListener;

use crate::auth::ServerAuth;
use crate::telemetry::metrics as own;
use crate::telemetry::LogOnce;
use crate::tls::acceptor::ServerTlsSource;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::body::{decompress, BodyError};
use super::config::{CorsConfig, HttpConfig};
use super::grpc::RETRY_AFTER;
use crate::component::ComponentId;
use crate::otlp_json;
use crate::pipeline::{ConsumeError, Consumers};
use crate::rpc_status::{http_status_for, RpcStatus};
use crate::signal::{Batch, Encoded, Metadata, Payload, Signal};

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

struct Shared {
    id: ComponentId,
    cfg: HttpConfig,
    consumers: Consumers,
    auth: Option<Arc<dyn ServerAuth>>,
    log_once: LogOnce,
}

/// Serves OTLP/HTTP on an already bound listener until `shutdown`, then finishes in-flight
/// requests.
pub fn serve(
    id: ComponentId,
    cfg: &HttpConfig,
    (listener, tls): (TcpListener, Option<Arc<ServerTlsSource>>),
    (consumers, auth): (Consumers, Option<Arc<dyn ServerAuth>>),
    shutdown: CancellationToken,
) -> std::io::Result<JoinHandle<()>> {
    let shared = Arc::new(Shared {
        id: id.clone(),
        cfg: cfg.clone(),
        consumers,
        auth,
        log_once: LogOnce::default(),
    });
    let app = Router::new().fallback(handle).with_state(shared);
    let limits = crate::http_server::Limits {
        read_header_timeout: Some(cfg.read_header_timeout).filter(|d| !d.is_zero()),
        max_connections: cfg.max_connections,
    };
    crate::http_server::serve(id.to_string(), listener, tls, app, limits, shutdown)
}

/// Whether the request body is protobuf or JSON.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Encoding {
    Proto,
    Json,
}

impl Encoding {
    fn content_type(self) -> &'static str {
        match self {
            Encoding::Proto => PROTOBUF,
            Encoding::Json => JSON,
        }
    }
}

fn status_response(enc: Encoding, code: tonic::Code, message: String) -> Response {
    let http = StatusCode::from_u16(http_status_for(code)).unwrap_or(StatusCode::BAD_REQUEST);
    let status = RpcStatus::new(code, message);
    let body = match enc {
        Encoding::Proto => status.encode_to_vec(),
        Encoding::Json => status.to_json(),
    };
    (http, [(header::CONTENT_TYPE, enc.content_type())], body).into_response()
}

fn plain(code: StatusCode, msg: &str) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "text/plain")],
        msg.to_string(),
    )
        .into_response()
}

fn signal_for(cfg: &HttpConfig, path: &str) -> Option<Signal> {
    if path == cfg.traces_url_path {
        Some(Signal::Traces)
    } else if path == cfg.metrics_url_path {
        Some(Signal::Metrics)
    } else if path == cfg.logs_url_path {
        Some(Signal::Logs)
    } else {
        None
    }
}

fn origin_allowed(cors: &CorsConfig, origin: &str) -> bool {
    cors.allowed_origins
        .iter()
        .any(|pat| glob_match(pat, origin))
}

/// `*` matches any run of characters.
fn glob_match(pattern: &str, s: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == s;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !s.starts_with(first) || !s[first.len()..].ends_with(last) {
        return false;
    }
    let mut rest = &s[first.len()..s.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

fn add_cors(cfg: &HttpConfig, headers: &HeaderMap, resp: &mut Response) {
    let (Some(cors), Some(origin)) = (&cfg.cors, headers.get(header::ORIGIN)) else {
        return;
    };
    if let Ok(o) = origin.to_str() {
        if origin_allowed(cors, o) {
            let h = resp.headers_mut();
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            h.insert(header::VARY, HeaderValue::from_static("Origin"));
        }
    }
}

fn preflight(cfg: &HttpConfig, headers: &HeaderMap) -> Response {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    let Some(cors) = &cfg.cors else {
        return resp;
    };
    add_cors(cfg, headers, &mut resp);
    let h = resp.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("POST"),
    );
    let mut allowed = vec!["content-type".to_string(), "content-encoding".to_string()];
    allowed.extend(cors.allowed_headers.iter().map(|s| s.to_ascii_lowercase()));
    if let Ok(v) = HeaderValue::from_str(&allowed.join(", ")) {
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v);
    }
    if let Some(age) = cors.max_age {
        h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from(age));
    }
    resp
}

async fn handle(State(shared): State<Arc<Shared>>, req: Request<Body>) -> Response {
    let headers = req.headers().clone();
    let mut resp = handle_inner(&shared, req).await;
    add_cors(&shared.cfg, &headers, &mut resp);
    resp
}

async fn handle_inner(shared: &Shared, req: Request<Body>) -> Response {
    let cfg = &shared.cfg;
    let uri: &Uri = req.uri();
    let Some(signal) = signal_for(cfg, uri.path()) else {
        return plain(StatusCode::NOT_FOUND, "404 page not found");
    };
    if req.method() == Method::OPTIONS && cfg.cors.is_some() {
        return preflight(cfg, req.headers());
    }
    if let Some(auth) = &shared.auth {
        if let Err(why) = auth.authenticate(req.headers()) {
            own::receiver_unauthenticated(&shared.id, "http");
            if shared.log_once.first(&why) {
                tracing::warn!(receiver = %shared.id, reason = %why, "Refused an unauthenticated request (further ones with this cause are counted, not logged)");
            }
            let mut r = plain(StatusCode::UNAUTHORIZED, "401 Unauthorized");
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer, Basic"),
            );
            return r;
        }
    }
    if req.method() != Method::POST {
        let mut r = plain(
            StatusCode::METHOD_NOT_ALLOWED,
            &format!("{} method not allowed, supported: [POST]", req.method()),
        );
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return r;
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let enc = match content_type.as_str() {
        PROTOBUF | "application/protobuf" => Encoding::Proto,
        JSON => Encoding::Json,
        other => {
            return plain(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                &format!("{other:?} is not a supported content type (use {PROTOBUF} or {JSON})"),
            )
        }
    };
    let Some(consumer) = shared.consumers.get(signal).cloned() else {
        return status_response(
            enc,
            tonic::Code::NotFound,
            format!("no pipeline takes {signal} from receiver {}", shared.id),
        );
    };
    let content_encoding = req
        .headers()
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if let Some(algs) = &cfg.compression_algorithms {
        let e = content_encoding.trim().to_ascii_lowercase();
        if !e.is_empty() && e != "identity" && !algs.contains(&e) {
            return status_response(
                enc,
                tonic::Code::InvalidArgument,
                format!("Content-Encoding {e:?} is not enabled on this receiver"),
            );
        }
    }
    let metadata = cfg.include_metadata.then(|| {
        Metadata::from_pairs(
            req.headers()
                .iter()
                .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string()))),
        )
    });

    // Admission before the body is even read: by Content-Length first, then by the
    // decompressed size once known. A refusal is a 503 with Retry-After.
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    let limit = cfg.max_request_body_size;
    let mut ticket = match consumer.admit(declared) {
        Ok(t) => t,
        Err(e) => {
            // Read and discard the body chunk by chunk (no memory is kept), so an HTTP/1.1
            // client that is still writing it gets the 503 rather than a reset connection.
            discard(req.into_body(), limit).await;
            return unavailable(enc, e);
        }
    };
    let limited = http_body_util::Limited::new(req.into_body(), limit as usize);
    let read = async {
        if cfg.read_timeout.is_zero() {
            Ok(limited.collect().await)
        } else {
            tokio::time::timeout(cfg.read_timeout, limited.collect()).await
        }
    };
    let raw = match read.await {
        Err(_) => {
            own::receiver_slow_body(&shared.id);
            return status_response(
                enc,
                tonic::Code::DeadlineExceeded,
                format!(
                    "request body not received within read_timeout ({:?})",
                    cfg.read_timeout
                ),
            );
        }
        Ok(Ok(c)) => c.to_bytes(),
        Ok(Err(e)) => {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                return too_large(enc, limit);
            }
            return status_response(
                enc,
                tonic::Code::InvalidArgument,
                format!("failed to read request body: {e}"),
            );
        }
    };
    let body = match decompress(&content_encoding, &raw, limit) {
        Ok(b) => b,
        Err(BodyError::TooLarge) => return too_large(enc, limit),
        Err(BodyError::Bad(m)) => return status_response(enc, tonic::Code::InvalidArgument, m),
    };
    drop(raw);
    if let Err(e) = consumer.readmit(&mut ticket, body.len()) {
        return unavailable(enc, e);
    }
    let mut payload = match decode(signal, enc, body) {
        Ok(d) => d,
        Err(m) => return status_response(enc, tonic::Code::InvalidArgument, m),
    };
    if cfg.attribute_limits.is_active() {
        // The limits change the data: decode it here.
        let (data, error) = payload.decode_in_place();
        if let Some(e) = error {
            return status_response(
                enc,
                tonic::Code::InvalidArgument,
                format!("cannot decode OTLP protobuf {signal}: {e}"),
            );
        }
        own::attribute_limits_applied(&shared.id, cfg.attribute_limits.apply(data));
    }
    if !payload.is_empty() {
        let mut batch = Batch::from_payload(payload);
        if let Some(md) = metadata {
            batch.metadata = Arc::new(md);
        }
        if let Err(e) = consumer.consume_admitted(batch, &ticket).await {
            return unavailable(enc, e);
        }
    }
    success(signal, enc)
}

/// Reads a body to its end (at most `limit` bytes, for at most [`DISCARD_TIMEOUT`]) without
/// keeping it.
async fn discard(body: Body, limit: u64) {
    let mut body = body;
    let mut seen = 0u64;
    let read = async {
        while let Some(Ok(frame)) = body.frame().await {
            if let Some(chunk) = frame.data_ref() {
                seen += chunk.len() as u64;
                if seen > limit {
                    break;
                }
            }
        }
    };
    let _ = tokio::time::timeout(DISCARD_TIMEOUT, read).await;
}

/// How long a refused request's body is read and discarded before the answer is sent anyway.
const DISCARD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// A retryable refusal: 503 with Retry-After and an UNAVAILABLE status body.
fn unavailable(enc: Encoding, e: ConsumeError) -> Response {
    let mut r = status_response(enc, tonic::Code::Unavailable, e.to_string());
    r.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(RETRY_AFTER.as_secs().max(1)),
    );
    r
}

fn too_large(enc: Encoding, limit: u64) -> Response {
    let mut r = status_response(
        enc,
        tonic::Code::InvalidArgument,
        format!("request body exceeds max_request_body_size ({limit} bytes)"),
    );
    *r.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
    r
}

/// JSON is decoded; protobuf is checked and counted but kept encoded (pipelines that need the
/// data decode it).
pub(super) fn decode(signal: Signal, enc: Encoding, body: Vec<u8>) -> Result<Payload, String> {
    match enc {
        Encoding::Json => otlp_json::decode_data(signal, &body)
            .map(Payload::Decoded)
            .map_err(|e| format!("cannot decode OTLP/JSON {signal}: {e}")),
        Encoding::Proto => Encoded::parse(signal, Bytes::from(body))
            .map(Payload::Encoded)
            .map_err(|e| format!("cannot decode OTLP protobuf {signal}: {e}")),
    }
}

fn success(signal: Signal, enc: Encoding) -> Response {
    let body = match (enc, signal) {
        (Encoding::Json, _) => b"{}".to_vec(),
        (Encoding::Proto, Signal::Traces) => ExportTraceServiceResponse::default().encode_to_vec(),
        (Encoding::Proto, Signal::Metrics) => {
            ExportMetricsServiceResponse::default().encode_to_vec()
        }
        (Encoding::Proto, Signal::Logs) => ExportLogsServiceResponse::default().encode_to_vec(),
    };
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, enc.content_type())],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn cors_origin_globs() {
        assert!(glob_match("*", "https://a.b"));
        assert!(glob_match(
            "https://*.example.com",
            "https://app.example.com"
        ));
        assert!(!glob_match("https://*.example.com", "https://example.org"));
        assert!(glob_match("http://localhost:3000", "http://localhost:3000"));
    }
}
