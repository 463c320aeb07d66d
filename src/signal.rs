//! Telemetry data as it travels through Sluice: OTLP proto requests tagged with their signal.

use std::fmt;
use std::sync::Arc;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::metric::Data as MetricData;
use serde::{Deserialize, Serialize};

pub use crate::payload::{Encoded, Payload};

/// The three OpenTelemetry signals Sluice moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Signal {
    /// Spans.
    Traces,
    /// Metric data points.
    Metrics,
    /// Log records.
    Logs,
}

impl Signal {
    /// All signals, in the collector's order.
    pub const ALL: [Signal; 3] = [Signal::Traces, Signal::Metrics, Signal::Logs];

    /// The lowercase name used in config (`traces`, `metrics`, `logs`).
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Metrics => "metrics",
            Signal::Logs => "logs",
        }
    }

    /// Parses the config name of a signal.
    pub fn parse(s: &str) -> Option<Signal> {
        match s {
            "traces" => Some(Signal::Traces),
            "metrics" => Some(Signal::Metrics),
            "logs" => Some(Signal::Logs),
            _ => None,
        }
    }

    /// The name of the item this signal counts, as in the collector's own metrics
    /// (`spans`, `metric_points`, `log_records`).
    pub fn item_name(self) -> &'static str {
        match self {
            Signal::Traces => "spans",
            Signal::Metrics => "metric_points",
            Signal::Logs => "log_records",
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One OTLP export request of any signal.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    /// An OTLP traces request.
    Traces(ExportTraceServiceRequest),
    /// An OTLP metrics request.
    Metrics(ExportMetricsServiceRequest),
    /// An OTLP logs request.
    Logs(ExportLogsServiceRequest),
}

impl Data {
    /// The signal this data belongs to.
    pub fn signal(&self) -> Signal {
        match self {
            Data::Traces(_) => Signal::Traces,
            Data::Metrics(_) => Signal::Metrics,
            Data::Logs(_) => Signal::Logs,
        }
    }

    /// Counts items as the collector does: spans, metric data points, log records.
    pub fn item_count(&self) -> usize {
        match self {
            Data::Traces(r) => r
                .resource_spans
                .iter()
                .flat_map(|rs| &rs.scope_spans)
                .map(|ss| ss.spans.len())
                .sum(),
            Data::Metrics(r) => r
                .resource_metrics
                .iter()
                .flat_map(|rm| &rm.scope_metrics)
                .flat_map(|sm| &sm.metrics)
                .map(|m| metric_point_count(m.data.as_ref()))
                .sum(),
            Data::Logs(r) => r
                .resource_logs
                .iter()
                .flat_map(|rl| &rl.scope_logs)
                .map(|sl| sl.log_records.len())
                .sum(),
        }
    }

    /// True when the request carries no items.
    pub fn is_empty(&self) -> bool {
        self.item_count() == 0
    }

    /// An empty request of the given signal.
    pub fn empty(signal: Signal) -> Data {
        match signal {
            Signal::Traces => Data::Traces(Default::default()),
            Signal::Metrics => Data::Metrics(Default::default()),
            Signal::Logs => Data::Logs(Default::default()),
        }
    }

    /// The encoded protobuf size of the request in bytes.
    pub fn encoded_len(&self) -> usize {
        use prost::Message;
        match self {
            Data::Traces(r) => r.encoded_len(),
            Data::Metrics(r) => r.encoded_len(),
            Data::Logs(r) => r.encoded_len(),
        }
    }
}

/// Encodes a request as protobuf.
pub fn encode(data: &Data) -> bytes::Bytes {
    use prost::Message;
    let mut buf = bytes::BytesMut::with_capacity(data.encoded_len());
    let r = match data {
        Data::Traces(r) => r.encode(&mut buf),
        Data::Metrics(r) => r.encode(&mut buf),
        Data::Logs(r) => r.encode(&mut buf),
    };
    r.expect("BytesMut has room for encoded_len bytes");
    buf.freeze()
}

/// Number of data points in one metric, as the collector counts them.
pub fn metric_point_count(data: Option<&MetricData>) -> usize {
    match data {
        Some(MetricData::Gauge(g)) => g.data_points.len(),
        Some(MetricData::Sum(s)) => s.data_points.len(),
        Some(MetricData::Histogram(h)) => h.data_points.len(),
        Some(MetricData::ExponentialHistogram(h)) => h.data_points.len(),
        Some(MetricData::Summary(s)) => s.data_points.len(),
        None => 0,
    }
}

/// Client metadata captured by a receiver (gRPC metadata or HTTP headers), lowercase keys.
///
/// Processors such as batch use it to keep tenants apart; it is empty unless the receiver
/// was asked to include metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Metadata {
    entries: Vec<(String, Vec<String>)>,
}

impl Metadata {
    /// Builds metadata from key/value pairs; keys are lowercased, values for one key kept in order.
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: Into<String>,
    {
        let mut entries: Vec<(String, Vec<String>)> = Vec::new();
        for (k, v) in pairs {
            let k = k.as_ref().to_ascii_lowercase();
            match entries.iter_mut().find(|(ek, _)| *ek == k) {
                Some((_, vs)) => vs.push(v.into()),
                None => entries.push((k, vec![v.into()])),
            }
        }
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        Metadata { entries }
    }

    /// Values for a key (case-insensitive); empty when absent.
    pub fn get(&self, key: &str) -> &[String] {
        let key = key.to_ascii_lowercase();
        self.entries
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_slice())
            .unwrap_or(&[])
    }

    /// True when no metadata was captured.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The unit that moves through pipeline queues: one request's data plus its client metadata.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The telemetry itself, decoded or still encoded as received.
    pub payload: Payload,
    /// Client metadata captured by the receiver.
    pub metadata: Arc<Metadata>,
    /// Senders waiting until this data is safe (persistent queue or export); empty unless a
    /// pipeline behind the receiver asks for acknowledgements. Processors that build new
    /// batches must carry these over.
    pub acks: crate::pipeline::ack::Acks,
}

impl Batch {
    /// A batch of decoded data with no client metadata.
    pub fn new(data: Data) -> Self {
        Batch::from_payload(Payload::Decoded(data))
    }

    /// A batch of an encoded request with no client metadata.
    pub fn encoded(encoded: Encoded) -> Self {
        Batch::from_payload(Payload::Encoded(encoded))
    }

    /// A batch of the given payload with no client metadata.
    pub fn from_payload(payload: Payload) -> Self {
        Batch {
            payload,
            metadata: Arc::default(),
            acks: Default::default(),
        }
    }

    /// The signal of the batch's data.
    pub fn signal(&self) -> Signal {
        self.payload.signal()
    }

    /// Items in the batch (spans, data points or log records).
    pub fn item_count(&self) -> usize {
        self.payload.item_count()
    }

    /// The decoded data, for processors that read or change it: an encoded payload is
    /// decoded in place first. Should decoding fail (the receiver checked the bytes, so it
    /// cannot), the batch is left empty, its senders are told it was not delivered, and the
    /// error is logged.
    pub fn data_mut(&mut self) -> &mut Data {
        let (data, error) = self.payload.decode_in_place();
        if let Some(e) = error {
            tracing::error!(error = %e, "a checked OTLP request failed to decode; its data is dropped");
            self.acks.fail(&format!("cannot decode request: {e}"));
        }
        data
    }

    /// The decoded data, taken out of the batch (see [`Batch::data_mut`]).
    pub fn into_data(mut self) -> Data {
        let signal = self.signal();
        std::mem::replace(self.data_mut(), Data::empty(signal))
    }

    /// A decoded copy of the data (for tests and debugging output).
    pub fn to_data(&self) -> Data {
        self.payload
            .to_data()
            .unwrap_or_else(|_| Data::empty(self.signal()))
    }
}
