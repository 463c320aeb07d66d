//! `google.rpc.Status` and `google.rpc.RetryInfo`, as OTLP uses them: in HTTP error bodies and
//! in gRPC status details, to tell a client how long to wait before retrying.

use std::time::Duration;

use prost::Message;

/// `google.rpc.Status`.
#[derive(Clone, PartialEq, Message)]
pub struct RpcStatus {
    /// A `google.rpc.Code` value.
    #[prost(int32, tag = "1")]
    pub code: i32,
    /// A developer-facing message.
    #[prost(string, tag = "2")]
    pub message: String,
    /// Details such as RetryInfo.
    #[prost(message, repeated, tag = "3")]
    pub details: Vec<ProtoAny>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, Message)]
pub struct ProtoAny {
    /// Type URL, e.g. `type.googleapis.com/google.rpc.RetryInfo`.
    #[prost(string, tag = "1")]
    pub type_url: String,
    /// The encoded message.
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

/// `google.rpc.RetryInfo`.
#[derive(Clone, PartialEq, Message)]
pub struct RetryInfo {
    /// How long to wait.
    #[prost(message, optional, tag = "1")]
    pub retry_delay: Option<ProtoDuration>,
}

/// `google.protobuf.Duration`.
#[derive(Clone, PartialEq, Message)]
pub struct ProtoDuration {
    /// Whole seconds.
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// Nanoseconds.
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

/// The type URL of RetryInfo in `Any`.
pub const RETRY_INFO_TYPE: &str = "type.googleapis.com/google.rpc.RetryInfo";

impl RpcStatus {
    /// A status with a code and message.
    pub fn new(code: tonic::Code, message: impl Into<String>) -> Self {
        RpcStatus {
            code: code as i32,
            message: message.into(),
            details: vec![],
        }
    }

    /// Adds a RetryInfo detail.
    pub fn with_retry_after(mut self, delay: Duration) -> Self {
        let info = RetryInfo {
            retry_delay: Some(ProtoDuration {
                seconds: delay.as_secs() as i64,
                nanos: delay.subsec_nanos() as i32,
            }),
        };
        self.details.push(ProtoAny {
            type_url: RETRY_INFO_TYPE.to_string(),
            value: info.encode_to_vec(),
        });
        self
    }

    /// The retry delay from a RetryInfo detail, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        self.details
            .iter()
            .filter(|d| d.type_url.ends_with("google.rpc.RetryInfo"))
            .find_map(|d| RetryInfo::decode(&d.value[..]).ok()?.retry_delay)
            .map(|d| Duration::new(d.seconds.max(0) as u64, d.nanos.max(0) as u32))
    }

    /// As a tonic status (details in `grpc-status-details-bin`).
    pub fn to_tonic(&self) -> tonic::Status {
        tonic::Status::with_details(
            tonic::Code::from_i32(self.code),
            self.message.clone(),
            self.encode_to_vec().into(),
        )
    }

    /// Reads the status carried by a tonic status's details, if any.
    pub fn from_tonic(status: &tonic::Status) -> Option<RpcStatus> {
        if status.details().is_empty() {
            return None;
        }
        RpcStatus::decode(status.details()).ok()
    }

    /// The OTLP/JSON form: `{"code":14,"message":"…"}` (details omitted).
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({"code": self.code, "message": self.message}))
            .expect("status serializes")
    }

    /// Reads a status from an HTTP error body, protobuf or JSON.
    pub fn from_body(body: &[u8], json: bool) -> Option<RpcStatus> {
        if json {
            let v: serde_json::Value = serde_json::from_slice(body).ok()?;
            Some(RpcStatus::new(
                tonic::Code::from_i32(v.get("code")?.as_i64()? as i32),
                v.get("message")?.as_str()?.to_string(),
            ))
        } else {
            RpcStatus::decode(body).ok()
        }
    }
}

/// The HTTP status the collector answers for a gRPC code (upstream's mapping).
pub fn http_status_for(code: tonic::Code) -> u16 {
    use tonic::Code::*;
    match code {
        Ok => 200,
        InvalidArgument | FailedPrecondition | OutOfRange => 400,
        Unauthenticated => 401,
        PermissionDenied => 403,
        NotFound => 404,
        AlreadyExists | Aborted => 409,
        ResourceExhausted => 429,
        Cancelled => 499,
        Unimplemented => 501,
        Unavailable => 503,
        DeadlineExceeded => 504,
        _ => 500,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_info_round_trips_through_tonic_status() {
        let s = RpcStatus::new(tonic::Code::Unavailable, "full")
            .with_retry_after(Duration::from_millis(1500));
        let t = s.to_tonic();
        assert_eq!(t.code(), tonic::Code::Unavailable);
        let back = RpcStatus::from_tonic(&t).unwrap();
        assert_eq!(back.retry_after(), Some(Duration::from_millis(1500)));
    }

    #[test]
    fn maps_codes_to_http_as_upstream() {
        assert_eq!(http_status_for(tonic::Code::Unavailable), 503);
        assert_eq!(http_status_for(tonic::Code::ResourceExhausted), 429);
        assert_eq!(http_status_for(tonic::Code::InvalidArgument), 400);
        assert_eq!(http_status_for(tonic::Code::Internal), 500);
    }
}
