//! A request encoded once and stamped with fresh trace IDs and the send time per send, so
//! the load generator spends its CPU on sending rather than on building and encoding
//! payloads. The send time goes into each item's own timestamp field (span end time, log
//! record time, data point time), from which the sink measures end-to-end latency.

use bytes::Bytes;
use prost::Message;

use super::payload::{self, IdGen};
use crate::signal::{Data, Signal};

/// An encoded OTLP request with the byte offsets of every trace ID in it.
#[derive(Debug, Clone)]
pub struct Template {
    bytes: Vec<u8>,
    trace_id_offsets: Vec<usize>,
    time_offsets: Vec<usize>,
    items: usize,
}

/// Marker timestamps put in the template to find where the time fields are encoded.
const TIME_MARKER: u64 = 0x5EA1_7AC0_0000_0000;

/// Sets item `i`'s send-time field to `TIME_MARKER + i`; see [`Template::stamp`].
fn mark_times(data: &mut Data) {
    use opentelemetry_proto::tonic::metrics::v1::metric::Data as M;
    let mut i = 0u64;
    let mut next = || {
        i += 1;
        TIME_MARKER + i
    };
    match data {
        Data::Traces(r) => r
            .resource_spans
            .iter_mut()
            .flat_map(|rs| &mut rs.scope_spans)
            .flat_map(|ss| &mut ss.spans)
            .for_each(|s| s.end_time_unix_nano = next()),
        Data::Logs(r) => r
            .resource_logs
            .iter_mut()
            .flat_map(|rl| &mut rl.scope_logs)
            .flat_map(|sl| &mut sl.log_records)
            .for_each(|l| l.time_unix_nano = next()),
        Data::Metrics(r) => r
            .resource_metrics
            .iter_mut()
            .flat_map(|rm| &mut rm.scope_metrics)
            .flat_map(|sm| &mut sm.metrics)
            .for_each(|m| match &mut m.data {
                Some(M::Sum(d)) => d
                    .data_points
                    .iter_mut()
                    .for_each(|p| p.time_unix_nano = next()),
                Some(M::Gauge(d)) => d
                    .data_points
                    .iter_mut()
                    .for_each(|p| p.time_unix_nano = next()),
                Some(M::Histogram(d)) => d
                    .data_points
                    .iter_mut()
                    .for_each(|p| p.time_unix_nano = next()),
                _ => {}
            }),
    }
}

/// Nanoseconds since the Unix epoch, now.
pub fn unix_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
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
        let mut data = payload::request(signal, items, &mut markers);
        mark_times(&mut data);
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
        let mut time_offsets = Vec::with_capacity(items);
        let mut from = 0;
        for i in 1..=items as u64 {
            if let Some(at) = find(&bytes, &(TIME_MARKER + i).to_le_bytes(), from) {
                time_offsets.push(at);
                from = at + 8;
            }
        }
        Template {
            bytes,
            trace_id_offsets,
            time_offsets,
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

    /// A copy of the request with a fresh trace ID from `ids` in every span or log record
    /// and `now_nanos` in every item's timestamp (span end, log time, data point time).
    pub fn stamp(&self, ids: &mut IdGen, now_nanos: u64) -> Bytes {
        let mut out = self.bytes.clone();
        for &at in &self.trace_id_offsets {
            out[at..at + 16].copy_from_slice(&ids.next_trace_id());
        }
        let now = now_nanos.to_le_bytes();
        for &at in &self.time_offsets {
            out[at..at + 8].copy_from_slice(&now);
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
        let a = ExportTraceServiceRequest::decode(t.stamp(&mut ids, 42)).unwrap();
        let b = ExportTraceServiceRequest::decode(t.stamp(&mut ids, 43)).unwrap();
        assert!(a.resource_spans[0].scope_spans[0]
            .spans
            .iter()
            .all(|s| s.end_time_unix_nano == 42));
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
        for signal in [Signal::Metrics, Signal::Logs] {
            let t = Template::new(signal, 9);
            assert_eq!((t.items(), t.time_offsets.len()), (9, 9), "{signal}");
        }
    }
}
