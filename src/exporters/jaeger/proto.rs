//! The Jaeger `api_v2` messages sent by `CollectorService/PostSpans`, with the field numbers of
//! jaeger-idl's `proto/api_v2/model.proto` and `collector.proto`, and the two
//! `google.protobuf` well-known types they use.

/// `google.protobuf.Timestamp`.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct Timestamp {
    /// Seconds since the epoch.
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// Nanoseconds within the second.
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

/// `google.protobuf.Duration`.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct Duration {
    /// Whole seconds.
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// Nanoseconds beyond the seconds (same sign).
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

/// `ValueType` of a tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
pub enum ValueType {
    /// `v_str`.
    String = 0,
    /// `v_bool`.
    Bool = 1,
    /// `v_int64`.
    Int64 = 2,
    /// `v_float64`.
    Float64 = 3,
    /// `v_binary`.
    Binary = 4,
}

/// A tag or log field.
#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyValue {
    /// The key.
    #[prost(string, tag = "1")]
    pub key: String,
    /// Which value field is used.
    #[prost(enumeration = "ValueType", tag = "2")]
    pub v_type: i32,
    /// String value.
    #[prost(string, tag = "3")]
    pub v_str: String,
    /// Boolean value.
    #[prost(bool, tag = "4")]
    pub v_bool: bool,
    /// Integer value.
    #[prost(int64, tag = "5")]
    pub v_int64: i64,
    /// Float value.
    #[prost(double, tag = "6")]
    pub v_float64: f64,
    /// Binary value.
    #[prost(bytes = "vec", tag = "7")]
    pub v_binary: Vec<u8>,
}

/// A timestamped event of a span.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Log {
    /// When it happened.
    #[prost(message, optional, tag = "1")]
    pub timestamp: Option<Timestamp>,
    /// Its fields.
    #[prost(message, repeated, tag = "2")]
    pub fields: Vec<KeyValue>,
}

/// `SpanRefType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
pub enum SpanRefType {
    /// The parent.
    ChildOf = 0,
    /// A link.
    FollowsFrom = 1,
}

/// A reference to another span.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SpanRef {
    /// 16 bytes: the high then the low 64 bits, big-endian.
    #[prost(bytes = "vec", tag = "1")]
    pub trace_id: Vec<u8>,
    /// 8 bytes, big-endian.
    #[prost(bytes = "vec", tag = "2")]
    pub span_id: Vec<u8>,
    /// The relationship.
    #[prost(enumeration = "SpanRefType", tag = "3")]
    pub ref_type: i32,
}

/// The service that emitted spans.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Process {
    /// Service name.
    #[prost(string, tag = "1")]
    pub service_name: String,
    /// Process tags.
    #[prost(message, repeated, tag = "2")]
    pub tags: Vec<KeyValue>,
}

/// A span.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Span {
    /// 16 bytes: the high then the low 64 bits, big-endian.
    #[prost(bytes = "vec", tag = "1")]
    pub trace_id: Vec<u8>,
    /// 8 bytes, big-endian.
    #[prost(bytes = "vec", tag = "2")]
    pub span_id: Vec<u8>,
    /// Operation name.
    #[prost(string, tag = "3")]
    pub operation_name: String,
    /// Parent (CHILD_OF, first) and links (FOLLOWS_FROM).
    #[prost(message, repeated, tag = "4")]
    pub references: Vec<SpanRef>,
    /// Flags.
    #[prost(uint32, tag = "5")]
    pub flags: u32,
    /// Start.
    #[prost(message, optional, tag = "6")]
    pub start_time: Option<Timestamp>,
    /// Duration.
    #[prost(message, optional, tag = "7")]
    pub duration: Option<Duration>,
    /// Tags.
    #[prost(message, repeated, tag = "8")]
    pub tags: Vec<KeyValue>,
    /// Logs.
    #[prost(message, repeated, tag = "9")]
    pub logs: Vec<Log>,
    /// Per-span process (unset: the batch's).
    #[prost(message, optional, tag = "10")]
    pub process: Option<Process>,
    /// Process ID.
    #[prost(string, tag = "11")]
    pub process_id: String,
    /// Warnings.
    #[prost(string, repeated, tag = "12")]
    pub warnings: Vec<String>,
}

/// Spans of one process.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Batch {
    /// The spans.
    #[prost(message, repeated, tag = "1")]
    pub spans: Vec<Span>,
    /// Their process.
    #[prost(message, optional, tag = "2")]
    pub process: Option<Process>,
}

/// `PostSpansRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PostSpansRequest {
    /// The batch.
    #[prost(message, optional, tag = "1")]
    pub batch: Option<Batch>,
}

/// `PostSpansResponse` (empty).
#[derive(Clone, PartialEq, prost::Message)]
pub struct PostSpansResponse {}

/// The gRPC method path.
pub const POST_SPANS_PATH: &str = "/jaeger.api_v2.CollectorService/PostSpans";
