//! The OTLP/JSON mapping (OTLP specification, "JSON Protobuf Encoding"): lowerCamelCase keys,
//! hex trace and span IDs, enums as integers, 64-bit integers as strings or numbers.
//!
//! Decoding and encoding use the serde mapping that `opentelemetry-proto` generates
//! (`with-serde`); this module adds what that mapping leaves out: IDs of the wrong length are
//! errors, and every error names the JSON path where it happened.

mod validate;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use serde::de::DeserializeOwned;

use crate::signal::{Data, Signal};

/// Why a JSON body could not be decoded: the path into the document and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct DecodeError {
    /// Where in the document, e.g. `resourceSpans[0].scopeSpans[0].spans[2].traceId`.
    pub path: String,
    /// What was wrong.
    pub message: String,
}

fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, DecodeError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        DecodeError {
            path: if path == "." { "(root)".into() } else { path },
            message: e.into_inner().to_string(),
        }
    })
}

/// Decodes an OTLP/JSON traces request.
pub fn decode_traces(body: &[u8]) -> Result<ExportTraceServiceRequest, DecodeError> {
    let req: ExportTraceServiceRequest = decode(body)?;
    validate::traces(&req)?;
    Ok(req)
}

/// Decodes an OTLP/JSON metrics request.
pub fn decode_metrics(body: &[u8]) -> Result<ExportMetricsServiceRequest, DecodeError> {
    decode(body)
}

/// Decodes an OTLP/JSON logs request.
pub fn decode_logs(body: &[u8]) -> Result<ExportLogsServiceRequest, DecodeError> {
    let req: ExportLogsServiceRequest = decode(body)?;
    validate::logs(&req)?;
    Ok(req)
}

/// Decodes an OTLP/JSON request of the given signal.
pub fn decode_data(signal: Signal, body: &[u8]) -> Result<Data, DecodeError> {
    Ok(match signal {
        Signal::Traces => Data::Traces(decode_traces(body)?),
        Signal::Metrics => Data::Metrics(decode_metrics(body)?),
        Signal::Logs => Data::Logs(decode_logs(body)?),
    })
}

/// Encodes a request as OTLP/JSON.
pub fn encode_data(data: &Data) -> Vec<u8> {
    let r = match data {
        Data::Traces(r) => serde_json::to_vec(r),
        Data::Metrics(r) => serde_json::to_vec(r),
        Data::Logs(r) => serde_json::to_vec(r),
    };
    // Serializing these generated types to a Vec cannot fail: no maps with non-string keys.
    r.expect("OTLP request serializes to JSON")
}

#[cfg(test)]
mod tests;
