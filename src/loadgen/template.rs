//! A request encoded once and stamped with fresh trace IDs per send, so the load generator
//! spends its CPU on sending rather than on building and encoding payloads.

use bytes::Bytes;
use prost::Message;

use super::payload::{self, IdGen};
use crate::signal::{Data, Signal};

/// An encoded OTLP request with the byte offsets of every trace ID in it.
#[derive(Debug, Clone)]
pub struct Template {
    bytes: Vec<u8>,
    trace_id_offsets: Vec<usize>,
    items: usize,
}

/// Returns the offset of `needle` in `hay` at or after `from`.
fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

impl Template {
    /// Builds a request of `signal` with `items` items. The trace IDs in it (spans and log
    /// records; metrics carry none) are located in the encoding so [`Template::stamp`] can
    /// replace them without re-encoding.
    pub fn new(signal: Signal, items: usize) -> Template {
        // Marker IDs from a generator whose run prefix cannot come from a real run.
        let mut markers = IdGen::new(0xA5C3_5A3C, 0xFFFF_FFFF);
        let data = payload::request(signal, items, &mut markers);
        let ids: Vec<Vec<u8>> = match &data {
            Data::Traces(r) => r
                .resource_spans
                .iter()
                .flat_map(|rs| &rs.scope_spans)
                .flat_map(|ss| &ss.spans)
                .map(|s| s.trace_id.clone())
                .collect(),
            Data::Logs(r) => r
                .resource_logs
                .iter()
                .flat_map(|rl| &rl.scope_logs)
                .flat_map(|sl| &sl.log_records)
                .map(|l| l.trace_id.clone())
                .collect(),
            Data::Metrics(_) => Vec::new(),
        };
        let bytes = match &data {
            Data::Traces(r) => r.encode_to_vec(),
            Data::Metrics(r) => r.encode_to_vec(),
            Data::Logs(r) => r.encode_to_vec(),
        };
        let mut trace_id_offsets = Vec::with_capacity(ids.len());
        let mut from = 0;
        for id in &ids {
            let at = find(&bytes, id, from).expect("trace ID is in the encoding");
            trace_id_offsets.push(at);
            from = at + id.len();
        }
        Template {
            bytes,
            trace_id_offsets,
            items,
        }
    }

    /// Items (spans, data points or log records) per request.
    pub fn items(&self) -> usize {
        self.items
    }

    /// Encoded size of one request in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// True for a template of zero bytes (never, in practice: requests have a resource).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// A copy of the request with a fresh trace ID from `ids` in every span or log record.
    pub fn stamp(&self, ids: &mut IdGen) -> Bytes {
        let mut out = self.bytes.clone();
        for &at in &self.trace_id_offsets {
            out[at..at + 16].copy_from_slice(&ids.next_trace_id());
        }
        Bytes::from(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

    #[test]
    fn stamped_requests_decode_with_fresh_unique_ids() {
        let t = Template::new(Signal::Traces, 50);
        let mut ids = IdGen::new(1, 2);
        let a = ExportTraceServiceRequest::decode(t.stamp(&mut ids)).unwrap();
        let b = ExportTraceServiceRequest::decode(t.stamp(&mut ids)).unwrap();
        let mut all: Vec<Vec<u8>> = [a, b]
            .iter()
            .flat_map(|r| r.resource_spans[0].scope_spans[0].spans.clone())
            .map(|s| s.trace_id)
            .collect();
        assert_eq!(all.len(), 100);
        assert_eq!(&all[0][..8], &[0, 0, 0, 1, 0, 0, 0, 2]);
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 100);
        assert_eq!(Template::new(Signal::Metrics, 9).items(), 9);
    }
}
