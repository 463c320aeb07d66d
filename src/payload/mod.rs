//! What a batch carries: a decoded OTLP request, or the request's protobuf bytes as a
//! receiver took them in, checked and counted by [`crate::otlp_wire`] but not decoded.
//!
//! Encoded requests of one signal join by concatenation (an export request is one repeated
//! field, and protobuf repeated fields concatenate), so a pipeline whose processors do not
//! look at the data batches and forwards them without decoding or re-encoding anything.
//! Processors that need the data decode it in place ([`crate::signal::Batch::data_mut`]).

mod gzip_feed;
mod gzip_stream;

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

use crate::otlp_wire::{self, WireError};
use crate::signal::{Data, Signal};

pub use gzip_feed::GzipFeed;
pub use gzip_stream::{gzip, GzipStream};

/// One or more encoded export requests of one signal, which together form one request.
///
/// When the pipeline's exporters gzip what they send ([`Encoded::prefer_gzip`]), requests
/// joining this one are compressed as they join, into one gzip stream over the whole request
/// ([`Encoded::gzip`]), so a batch sent on its timeout is not compressed all at once then.
#[derive(Debug)]
pub struct Encoded {
    signal: Signal,
    /// Whole encoded requests; their concatenation is the request.
    parts: Vec<Bytes>,
    items: usize,
    len: usize,
    /// The gzip level to compress at while joining, if wanted.
    gzip_level: Option<u32>,
    /// The stream over `parts` (shared by clones: the first exporter to send finishes it).
    gzip: Option<Arc<GzipFeed>>,
}

impl Clone for Encoded {
    /// Clones share the bytes and the gzip stream; the stream is sealed, so a clone that
    /// joins more requests is compressed in one pass when sent.
    fn clone(&self) -> Self {
        if let Some(f) = &self.gzip {
            f.seal();
        }
        Encoded {
            signal: self.signal,
            parts: self.parts.clone(),
            items: self.items,
            len: self.len,
            gzip_level: self.gzip_level,
            gzip: self.gzip.clone(),
        }
    }
}

impl PartialEq for Encoded {
    /// The same request: the compression state is not part of it.
    fn eq(&self, other: &Self) -> bool {
        self.signal == other.signal
            && self.items == other.items
            && self.len == other.len
            && self.parts == other.parts
    }
}

impl Encoded {
    /// Checks an encoded request (see [`otlp_wire::check`]) and counts its items.
    pub fn parse(signal: Signal, body: Bytes) -> Result<Encoded, WireError> {
        let items = otlp_wire::check(signal, &body)?;
        Ok(Encoded {
            signal,
            len: body.len(),
            parts: vec![body],
            items,
            gzip_level: None,
            gzip: None,
        })
    }

    /// Encodes decoded data.
    pub fn from_data(data: &Data) -> Encoded {
        let body = crate::signal::encode(data);
        Encoded {
            signal: data.signal(),
            len: body.len(),
            parts: vec![body],
            items: data.item_count(),
            gzip_level: None,
            gzip: None,
        }
    }

    /// The signal of the request.
    pub fn signal(&self) -> Signal {
        self.signal
    }

    /// Items in the request (spans, metric data points, log records).
    pub fn item_count(&self) -> usize {
        self.items
    }

    /// The encoded size of the request in bytes.
    pub fn encoded_len(&self) -> usize {
        self.len
    }

    /// The pieces whose concatenation is the encoded request.
    pub fn parts(&self) -> &[Bytes] {
        &self.parts
    }

    /// The request as one contiguous buffer (no copy when it is one piece).
    pub fn to_bytes(&self) -> Bytes {
        match self.parts.as_slice() {
            [one] => one.clone(),
            parts => {
                let mut buf = BytesMut::with_capacity(self.len);
                for p in parts {
                    buf.extend_from_slice(p);
                }
                buf.freeze()
            }
        }
    }

    /// Appends another request of the same signal: the result holds both requests'
    /// resources, in order, as appending decoded requests does.
    ///
    /// # Panics
    /// When the signals differ (a pipeline carries one signal).
    pub fn append(&mut self, other: Encoded) {
        assert_eq!(
            self.signal, other.signal,
            "cannot join requests of two signals"
        );
        if let Some(level) = self.gzip_level {
            self.feed_gzip(level, &other.parts);
        }
        self.parts.extend(other.parts);
        self.items += other.items;
        self.len += other.len;
    }

    /// Asks for requests joining this one to be gzipped at `level` as they join (the level
    /// the exporters downstream compress at). Nothing is compressed until a request joins:
    /// a request sent on its own is compressed when sent, as before.
    pub fn prefer_gzip(&mut self, level: u32) {
        self.gzip_level = Some(level);
    }

    /// Queues the parts so far (first time) and `more` for compression. A stream shared
    /// with a clone is left to the clones, and this request compressed in one pass when sent.
    fn feed_gzip(&mut self, level: u32, more: &[Bytes]) {
        match &self.gzip {
            None => {
                let feed = GzipFeed::new(level, self.len * 2);
                feed.submit(&self.parts);
                feed.submit(more);
                self.gzip = Some(feed);
            }
            Some(f) if !f.is_sealed() => f.submit(more),
            Some(_) => {
                self.gzip = None;
                self.gzip_level = None;
            }
        }
    }

    /// The request gzipped at `level`: the stream built while requests joined when it covers
    /// every part at that level, else one pass over the parts now.
    pub fn gzip(&self, level: u32) -> Result<Bytes, String> {
        if let Some(feed) = self.gzip.as_ref().filter(|f| f.level() == level) {
            if let Some(z) = feed.finish(self.parts.len()) {
                return Ok(z);
            }
        }
        gzip(level, &self.parts)
    }

    /// Decodes the request.
    pub fn decode(&self) -> Result<Data, prost::DecodeError> {
        let mut data = Data::empty(self.signal);
        for p in &self.parts {
            match &mut data {
                Data::Traces(r) => r.merge(p.clone())?,
                Data::Metrics(r) => r.merge(p.clone())?,
                Data::Logs(r) => r.merge(p.clone())?,
            }
        }
        Ok(data)
    }
}

/// A batch's telemetry: decoded, or still encoded.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// Decoded OTLP request.
    Decoded(Data),
    /// The request's bytes as received (checked and counted, not decoded).
    Encoded(Encoded),
}

impl Payload {
    /// The signal of the payload.
    pub fn signal(&self) -> Signal {
        match self {
            Payload::Decoded(d) => d.signal(),
            Payload::Encoded(e) => e.signal(),
        }
    }

    /// Items, as the collector counts them.
    pub fn item_count(&self) -> usize {
        match self {
            Payload::Decoded(d) => d.item_count(),
            Payload::Encoded(e) => e.item_count(),
        }
    }

    /// True when the payload carries no items.
    pub fn is_empty(&self) -> bool {
        self.item_count() == 0
    }

    /// The encoded protobuf size in bytes.
    pub fn encoded_len(&self) -> usize {
        match self {
            Payload::Decoded(d) => d.encoded_len(),
            Payload::Encoded(e) => e.encoded_len(),
        }
    }

    /// The request's protobuf bytes (encoding decoded data).
    pub fn to_bytes(&self) -> Bytes {
        match self {
            Payload::Decoded(d) => crate::signal::encode(d),
            Payload::Encoded(e) => e.to_bytes(),
        }
    }

    /// Decodes the payload in place if it is encoded, and returns the data. A payload that
    /// fails to decode (it passed [`otlp_wire::check`], so this is a bug) becomes an empty
    /// request of its signal, and the error is returned with it.
    pub fn decode_in_place(&mut self) -> (&mut Data, Option<prost::DecodeError>) {
        let mut error = None;
        if let Payload::Encoded(e) = self {
            let data = e.decode().unwrap_or_else(|err| {
                error = Some(err);
                Data::empty(e.signal())
            });
            *self = Payload::Decoded(data);
        }
        match self {
            Payload::Decoded(d) => (d, error),
            Payload::Encoded(_) => unreachable!("decoded just above"),
        }
    }

    /// The decoded data (decoding a copy when encoded).
    pub fn to_data(&self) -> Result<Data, prost::DecodeError> {
        match self {
            Payload::Decoded(d) => Ok(d.clone()),
            Payload::Encoded(e) => e.decode(),
        }
    }
}

impl From<Data> for Payload {
    fn from(d: Data) -> Self {
        Payload::Decoded(d)
    }
}

/// Decodes a whole encoded request of `signal` (a receiver's body or a queue record).
pub fn decode_request(signal: Signal, body: &[u8]) -> Result<Data, prost::DecodeError> {
    Ok(match signal {
        Signal::Traces => Data::Traces(ExportTraceServiceRequest::decode(body)?),
        Signal::Metrics => Data::Metrics(ExportMetricsServiceRequest::decode(body)?),
        Signal::Logs => Data::Logs(ExportLogsServiceRequest::decode(body)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loadgen::payload;

    #[test]
    fn joined_encoded_requests_decode_to_the_appended_requests() {
        let mut ids = payload::IdGen::new(3, 1);
        let a = Data::Traces(payload::traces(5, &mut ids));
        let b = Data::Traces(payload::traces(7, &mut ids));
        let mut joined = Encoded::parse(Signal::Traces, crate::signal::encode(&a)).unwrap();
        joined.append(Encoded::parse(Signal::Traces, crate::signal::encode(&b)).unwrap());
        assert_eq!(joined.item_count(), 12);
        let mut expected = a.clone();
        crate::processors::batch::append(&mut expected, b.clone());
        assert_eq!(joined.decode().unwrap(), expected);
        assert_eq!(
            decode_request(Signal::Traces, &joined.to_bytes()).unwrap(),
            expected
        );
        assert_eq!(joined.encoded_len(), joined.to_bytes().len());
        let mut p = Payload::Encoded(joined);
        let (data, err) = p.decode_in_place();
        assert!(err.is_none());
        assert_eq!(*data, expected);
        assert_eq!(p.item_count(), 12);
    }

    #[test]
    fn requests_joining_a_gzip_preferring_request_are_compressed_as_they_join() {
        let mut ids = payload::IdGen::new(3, 1);
        let part = |n, ids: &mut payload::IdGen| {
            Encoded::parse(
                Signal::Traces,
                crate::signal::encode(&Data::Traces(payload::traces(n, ids))),
            )
            .unwrap()
        };
        let mut joined = part(50, &mut ids);
        joined.prefer_gzip(6);
        assert!(
            joined.gzip.is_none(),
            "nothing compressed before a request joins"
        );
        for n in [20, 1, 70] {
            joined.append(part(n, &mut ids));
        }
        assert_eq!(joined.gzip.as_ref().unwrap().submitted(), 4);
        let shared = joined.clone();
        let z = joined.gzip(6).unwrap();
        assert_eq!(
            shared.gzip(6).unwrap(),
            z,
            "clones share the finished stream"
        );
        let plain = gzip_stream::gunzip(&z);
        assert_eq!(plain, joined.to_bytes());
        // Another level, or a request that did not ask, compresses in one pass.
        assert_eq!(gzip_stream::gunzip(&joined.gzip(1).unwrap()), plain);
        // A stream shared with a clone is not fed again: the next join drops it, and sending
        // compresses the whole request in one pass.
        let mut more = joined;
        more.append(part(3, &mut ids));
        assert!(more.gzip.is_none());
        assert_eq!(gzip_stream::gunzip(&more.gzip(6).unwrap()), more.to_bytes());
    }
}
