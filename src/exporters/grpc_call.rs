//! A unary gRPC call whose request message is already encoded, and compressed when the
//! exporter compresses: the exporter hands over the wire bytes (for gzip, a stream built
//! while the batch grew, see [`crate::signal::Encoded::gzip`]) and this frames them, sends
//! them over the tonic channel and decodes the answer as tonic's generated clients do
//! (`grpc-status` in headers or trailers, HTTP status mapped when there is none, compressed
//! responses).

use std::future::poll_fn;
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use http::header::{HeaderValue, CONTENT_TYPE, TE};
use tonic::client::GrpcService;
use tonic::codec::{CompressionEncoding, Streaming};
use tonic::metadata::MetadataMap;
use tonic::transport::Channel;
use tonic::{Code, Status};

use super::common::Compression;
use super::grpc_codec::ProstDecoder;

/// Calls `path` with `message` (compressed as `compression` says), `metadata` and a
/// deadline, and decodes the response message as `R`.
pub async fn unary<R: prost::Message + Default + Send + 'static>(
    mut channel: Channel,
    path: &'static str,
    metadata: MetadataMap,
    message: &[u8],
    compression: Compression,
    timeout: Duration,
) -> Result<R, Status> {
    let len = u32::try_from(message.len())
        .map_err(|_| Status::resource_exhausted("request larger than 4 GiB"))?;
    let mut frame = BytesMut::with_capacity(5 + message.len());
    frame.put_u8(u8::from(compression != Compression::None));
    frame.put_u32(len);
    frame.put_slice(message);
    let mut req = http::Request::builder()
        .method(http::Method::POST)
        .uri(path)
        .version(http::Version::HTTP_2)
        .body(tonic::body::Body::new(http_body_util::Full::new(
            frame.freeze(),
        )))
        .map_err(|e| Status::internal(format!("request: {e}")))?;
    let headers = req.headers_mut();
    *headers = metadata.into_headers();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    headers.insert(TE, HeaderValue::from_static("trailers"));
    headers.insert(
        "grpc-accept-encoding",
        HeaderValue::from_static("gzip,zstd"),
    );
    if let Some(e) = compression.header() {
        headers.insert("grpc-encoding", HeaderValue::from_static(e));
    }
    headers.insert("grpc-timeout", grpc_timeout(timeout));

    poll_fn(|cx| GrpcService::poll_ready(&mut channel, cx))
        .await
        .map_err(|e| Status::unavailable(format!("cannot connect: {e}")))?;
    let resp = GrpcService::call(&mut channel, req)
        .await
        .map_err(|e| Status::from_error(e.into()))?;

    let encoding = match resp
        .headers()
        .get("grpc-encoding")
        .map(HeaderValue::as_bytes)
    {
        None | Some(b"identity") => None,
        Some(b"gzip") => Some(CompressionEncoding::Gzip),
        Some(b"zstd") => Some(CompressionEncoding::Zstd),
        Some(other) => {
            return Err(Status::internal(format!(
                "response compressed with unsupported {:?}",
                String::from_utf8_lossy(other)
            )))
        }
    };
    // A trailers-only answer carries its status in the headers.
    if let Some(status) = Status::from_header_map(resp.headers()) {
        if status.code() != Code::Ok {
            return Err(status);
        }
    }
    let status_code = resp.status();
    let mut body = Streaming::new_response(
        ProstDecoder::<R>::default(),
        resp.into_body(),
        status_code,
        encoding,
        None,
    );
    let message = body
        .message()
        .await?
        .ok_or_else(|| Status::internal("missing response message"))?;
    // Reading to the end surfaces a failing status sent in the trailers.
    body.trailers().await?;
    Ok(message)
}

/// The `grpc-timeout` header: whole milliseconds (at most 8 digits, as the spec allows),
/// seconds beyond that.
fn grpc_timeout(t: Duration) -> HeaderValue {
    let ms = t.as_millis().max(1);
    let v = if ms < 100_000_000 {
        format!("{ms}m")
    } else {
        format!("{}S", t.as_secs().min(99_999_999))
    };
    HeaderValue::from_str(&v).expect("digits and a unit")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_are_whole_milliseconds_or_seconds() {
        assert_eq!(grpc_timeout(Duration::from_secs(5)), "5000m");
        assert_eq!(grpc_timeout(Duration::from_micros(10)), "1m");
        assert_eq!(grpc_timeout(Duration::from_secs(200_000)), "200000S");
    }
}
