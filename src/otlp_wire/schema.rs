//! The OTLP message schema as the wire walker needs it: for each message, the wire kind of
//! every known field (from the `opentelemetry-proto` definitions Sluice decodes with).

/// The OTLP messages the walker knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Msg {
    TraceRequest,
    MetricsRequest,
    LogsRequest,
    // common / resource
    AnyValue,
    ArrayValue,
    KeyValueList,
    KeyValue,
    Scope,
    Resource,
    EntityRef,
    // traces
    ResourceSpans,
    ScopeSpans,
    Span,
    Event,
    Link,
    Status,
    // logs
    ResourceLogs,
    ScopeLogs,
    LogRecord,
    // metrics
    ResourceMetrics,
    ScopeMetrics,
    Metric,
    Gauge,
    Sum,
    Histogram,
    ExpHistogram,
    Summary,
    NumberPoint,
    HistogramPoint,
    ExpHistogramPoint,
    Buckets,
    SummaryPoint,
    Quantile,
    Exemplar,
}

/// How a known field is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Field {
    /// int32/int64/uint32/uint64/sint32/bool/enum (wire type 0).
    Varint,
    /// fixed64/sfixed64/double (wire type 1).
    Fixed64,
    /// fixed32 (wire type 5).
    Fixed32,
    /// `bytes`: any content (wire type 2).
    Bytes,
    /// `string`: must be UTF-8 (wire type 2).
    Str,
    /// A nested message (wire type 2).
    Message(Msg),
    /// `repeated` varint: packed (wire type 2) or one by one (wire type 0).
    RepeatedVarint,
    /// `repeated` fixed64/double: packed (wire type 2) or one by one (wire type 1).
    RepeatedFixed64,
}

impl Msg {
    /// The kind of field `tag` of this message; `None` for fields the schema does not know
    /// (skipped, as protobuf decoders do).
    #[inline]
    pub(super) fn field(self, tag: u32) -> Option<Field> {
        use Field::*;
        let f = match (self, tag) {
            (Msg::TraceRequest, 1) => Field::Message(Msg::ResourceSpans),
            (Msg::MetricsRequest, 1) => Field::Message(Msg::ResourceMetrics),
            (Msg::LogsRequest, 1) => Field::Message(Msg::ResourceLogs),

            (Msg::AnyValue, 1) => Str,
            (Msg::AnyValue, 2 | 3 | 8) => Varint,
            (Msg::AnyValue, 4) => Fixed64,
            (Msg::AnyValue, 5) => Field::Message(Msg::ArrayValue),
            (Msg::AnyValue, 6) => Field::Message(Msg::KeyValueList),
            (Msg::AnyValue, 7) => Bytes,
            (Msg::ArrayValue, 1) => Field::Message(Msg::AnyValue),
            (Msg::KeyValueList, 1) => Field::Message(Msg::KeyValue),
            (Msg::KeyValue, 1) => Str,
            (Msg::KeyValue, 2) => Field::Message(Msg::AnyValue),
            (Msg::KeyValue, 3) => Varint,
            (Msg::Scope, 1 | 2) => Str,
            (Msg::Scope, 3) => Field::Message(Msg::KeyValue),
            (Msg::Scope, 4) => Varint,
            (Msg::Resource, 1) => Field::Message(Msg::KeyValue),
            (Msg::Resource, 2) => Varint,
            (Msg::Resource, 3) => Field::Message(Msg::EntityRef),
            (Msg::EntityRef, 1..=4) => Str,

            (Msg::ResourceSpans, 1) => Field::Message(Msg::Resource),
            (Msg::ResourceSpans, 2) => Field::Message(Msg::ScopeSpans),
            (Msg::ResourceSpans, 3) => Str,
            (Msg::ScopeSpans, 1) => Field::Message(Msg::Scope),
            (Msg::ScopeSpans, 2) => Field::Message(Msg::Span),
            (Msg::ScopeSpans, 3) => Str,
            (Msg::Span, 1 | 2 | 4) => Bytes,
            (Msg::Span, 3 | 5) => Str,
            (Msg::Span, 6 | 10 | 12 | 14) => Varint,
            (Msg::Span, 7 | 8) => Fixed64,
            (Msg::Span, 9) => Field::Message(Msg::KeyValue),
            (Msg::Span, 11) => Field::Message(Msg::Event),
            (Msg::Span, 13) => Field::Message(Msg::Link),
            (Msg::Span, 15) => Field::Message(Msg::Status),
            (Msg::Span, 16) => Fixed32,
            (Msg::Event, 1) => Fixed64,
            (Msg::Event, 2) => Str,
            (Msg::Event, 3) => Field::Message(Msg::KeyValue),
            (Msg::Event, 4) => Varint,
            (Msg::Link, 1 | 2) => Bytes,
            (Msg::Link, 3) => Str,
            (Msg::Link, 4) => Field::Message(Msg::KeyValue),
            (Msg::Link, 5) => Varint,
            (Msg::Link, 6) => Fixed32,
            (Msg::Status, 2) => Str,
            (Msg::Status, 3) => Varint,

            (Msg::ResourceLogs, 1) => Field::Message(Msg::Resource),
            (Msg::ResourceLogs, 2) => Field::Message(Msg::ScopeLogs),
            (Msg::ResourceLogs, 3) => Str,
            (Msg::ScopeLogs, 1) => Field::Message(Msg::Scope),
            (Msg::ScopeLogs, 2) => Field::Message(Msg::LogRecord),
            (Msg::ScopeLogs, 3) => Str,
            (Msg::LogRecord, 1 | 11) => Fixed64,
            (Msg::LogRecord, 2 | 7) => Varint,
            (Msg::LogRecord, 3 | 12) => Str,
            (Msg::LogRecord, 5) => Field::Message(Msg::AnyValue),
            (Msg::LogRecord, 6) => Field::Message(Msg::KeyValue),
            (Msg::LogRecord, 8) => Fixed32,
            (Msg::LogRecord, 9 | 10) => Bytes,

            (Msg::ResourceMetrics, 1) => Field::Message(Msg::Resource),
            (Msg::ResourceMetrics, 2) => Field::Message(Msg::ScopeMetrics),
            (Msg::ResourceMetrics, 3) => Str,
            (Msg::ScopeMetrics, 1) => Field::Message(Msg::Scope),
            (Msg::ScopeMetrics, 2) => Field::Message(Msg::Metric),
            (Msg::ScopeMetrics, 3) => Str,
            (Msg::Metric, 1..=3) => Str,
            (Msg::Metric, 5) => Field::Message(Msg::Gauge),
            (Msg::Metric, 7) => Field::Message(Msg::Sum),
            (Msg::Metric, 9) => Field::Message(Msg::Histogram),
            (Msg::Metric, 10) => Field::Message(Msg::ExpHistogram),
            (Msg::Metric, 11) => Field::Message(Msg::Summary),
            (Msg::Metric, 12) => Field::Message(Msg::KeyValue),
            (Msg::Gauge, 1) => Field::Message(Msg::NumberPoint),
            (Msg::Sum, 1) => Field::Message(Msg::NumberPoint),
            (Msg::Sum, 2 | 3) => Varint,
            (Msg::Histogram, 1) => Field::Message(Msg::HistogramPoint),
            (Msg::Histogram, 2) => Varint,
            (Msg::ExpHistogram, 1) => Field::Message(Msg::ExpHistogramPoint),
            (Msg::ExpHistogram, 2) => Varint,
            (Msg::Summary, 1) => Field::Message(Msg::SummaryPoint),
            (Msg::NumberPoint, 7) => Field::Message(Msg::KeyValue),
            (Msg::NumberPoint, 2..=4 | 6) => Fixed64,
            (Msg::NumberPoint, 5) => Field::Message(Msg::Exemplar),
            (Msg::NumberPoint, 8) => Varint,
            (Msg::HistogramPoint, 9) => Field::Message(Msg::KeyValue),
            (Msg::HistogramPoint, 2..=5 | 11 | 12) => Fixed64,
            (Msg::HistogramPoint, 6 | 7) => RepeatedFixed64,
            (Msg::HistogramPoint, 8) => Field::Message(Msg::Exemplar),
            (Msg::HistogramPoint, 10) => Varint,
            (Msg::ExpHistogramPoint, 1) => Field::Message(Msg::KeyValue),
            (Msg::ExpHistogramPoint, 2..=5 | 7 | 12..=14) => Fixed64,
            (Msg::ExpHistogramPoint, 6 | 10) => Varint,
            (Msg::ExpHistogramPoint, 8 | 9) => Field::Message(Msg::Buckets),
            (Msg::ExpHistogramPoint, 11) => Field::Message(Msg::Exemplar),
            (Msg::Buckets, 1) => Varint,
            (Msg::Buckets, 2) => RepeatedVarint,
            (Msg::SummaryPoint, 7) => Field::Message(Msg::KeyValue),
            (Msg::SummaryPoint, 2..=5) => Fixed64,
            (Msg::SummaryPoint, 6) => Field::Message(Msg::Quantile),
            (Msg::SummaryPoint, 8) => Varint,
            (Msg::Quantile, 1 | 2) => Fixed64,
            (Msg::Exemplar, 7) => Field::Message(Msg::KeyValue),
            (Msg::Exemplar, 2 | 3 | 6) => Fixed64,
            (Msg::Exemplar, 4 | 5) => Bytes,
            _ => return None,
        };
        Some(f)
    }

    /// True for the messages counted as items: spans, log records and metric data points.
    pub(super) fn is_item(self) -> bool {
        matches!(
            self,
            Msg::Span
                | Msg::LogRecord
                | Msg::NumberPoint
                | Msg::HistogramPoint
                | Msg::ExpHistogramPoint
                | Msg::SummaryPoint
        )
    }

    /// True for a `Metric`'s `data` oneof fields: a later one replaces an earlier one of
    /// another kind, so only the last kind's points count.
    pub(super) fn is_metric_data(self, tag: u32) -> bool {
        self == Msg::Metric && matches!(tag, 5 | 7 | 9 | 10 | 11)
    }
}
