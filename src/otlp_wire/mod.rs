//! Checking and counting encoded OTLP requests without decoding them.
//!
//! [`check`] walks a request's protobuf wire format against the OTLP schema: every field is
//! well framed, every known field has the wire type the schema gives it, every string is
//! UTF-8 and nesting stays under the decoder's recursion limit — whatever it accepts, prost
//! (and so any OTLP backend) decodes. On the way it counts items as the collector does
//! (spans, metric data points, log records). That lets Sluice forward a request's bytes as
//! they arrived when no processor needs the data, at a fraction of the cost of decoding it.

mod schema;
#[cfg(test)]
mod tests;

use schema::{Field, Msg};

use crate::signal::Signal;

/// Why an encoded request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed protobuf: {0}")]
pub struct WireError(&'static str);

/// Nested messages deeper than this are refused (prost's decoder refuses at 100).
const MAX_DEPTH: u32 = 99;

/// Checks an encoded `Export{Trace,Metrics,Logs}ServiceRequest` and counts its items.
pub fn check(signal: Signal, body: &[u8]) -> Result<usize, WireError> {
    let msg = match signal {
        Signal::Traces => Msg::TraceRequest,
        Signal::Metrics => Msg::MetricsRequest,
        Signal::Logs => Msg::LogsRequest,
    };
    walk(msg, body, 0)
}

/// Reads a varint; keys and most lengths are one byte, so that case is inlined.
#[inline(always)]
fn varint(buf: &[u8], pos: &mut usize) -> Result<u64, WireError> {
    match buf.get(*pos) {
        Some(&b) if b < 0x80 => {
            *pos += 1;
            Ok(u64::from(b))
        }
        _ => varint_slow(buf, pos),
    }
}

#[inline(never)]
fn varint_slow(buf: &[u8], pos: &mut usize) -> Result<u64, WireError> {
    let mut v = 0u64;
    for i in 0..10 {
        let b = *buf.get(*pos).ok_or(WireError("truncated varint"))?;
        *pos += 1;
        if i == 9 && b > 1 {
            return Err(WireError("varint overflows 64 bits"));
        }
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(WireError("varint too long"))
}

/// Walks one message's fields; returns the items inside it (including itself).
fn walk(msg: Msg, buf: &[u8], depth: u32) -> Result<usize, WireError> {
    if depth > MAX_DEPTH {
        return Err(WireError("recursion limit reached"));
    }
    let mut items = 0usize;
    // A Metric's data oneof: the kind seen last and the points under it.
    let mut data_kind = 0u32;
    let mut data_items = 0usize;
    let mut pos = 0;
    while pos < buf.len() {
        let key = varint(buf, &mut pos)?;
        if key > u64::from(u32::MAX) {
            return Err(WireError("invalid key"));
        }
        let (tag, wire) = ((key >> 3) as u32, key & 7);
        if tag == 0 {
            return Err(WireError("invalid tag value: 0"));
        }
        let field = msg.field(tag);
        match wire {
            0 => {
                if !matches!(field, None | Some(Field::Varint | Field::RepeatedVarint)) {
                    return Err(WireError("unexpected varint field"));
                }
                varint(buf, &mut pos)?;
            }
            1 => {
                if !matches!(field, None | Some(Field::Fixed64 | Field::RepeatedFixed64)) {
                    return Err(WireError("unexpected 64-bit field"));
                }
                pos = pos
                    .checked_add(8)
                    .filter(|&p| p <= buf.len())
                    .ok_or(WireError("truncated 64-bit field"))?;
            }
            5 => {
                if !matches!(field, None | Some(Field::Fixed32)) {
                    return Err(WireError("unexpected 32-bit field"));
                }
                pos = pos
                    .checked_add(4)
                    .filter(|&p| p <= buf.len())
                    .ok_or(WireError("truncated 32-bit field"))?;
            }
            2 => {
                let len = varint(buf, &mut pos)?;
                let end = usize::try_from(len)
                    .ok()
                    .and_then(|l| pos.checked_add(l))
                    .filter(|&e| e <= buf.len())
                    .ok_or(WireError("truncated length-delimited field"))?;
                let body = &buf[pos..end];
                pos = end;
                match field {
                    None | Some(Field::Bytes) => {}
                    Some(Field::Str) => {
                        // Nearly all telemetry strings are ASCII: check that first, cheaply.
                        if !body.is_ascii() && std::str::from_utf8(body).is_err() {
                            return Err(WireError("string field is not valid UTF-8"));
                        }
                    }
                    Some(Field::Message(inner)) => {
                        let n = walk(inner, body, depth + 1)?;
                        if msg.is_metric_data(tag) {
                            if tag != data_kind {
                                data_kind = tag;
                                data_items = 0;
                            }
                            data_items += n;
                        } else {
                            items += n;
                        }
                    }
                    Some(Field::RepeatedFixed64) => {
                        if !body.len().is_multiple_of(8) {
                            return Err(WireError("packed 64-bit field has a partial value"));
                        }
                    }
                    Some(Field::RepeatedVarint) => {
                        let mut p = 0;
                        while p < body.len() {
                            varint(body, &mut p)?;
                        }
                    }
                    Some(Field::Varint | Field::Fixed64 | Field::Fixed32) => {
                        return Err(WireError("unexpected length-delimited field"));
                    }
                }
            }
            3 if field.is_none() => skip_group(tag, buf, &mut pos, depth + 1)?,
            3 => return Err(WireError("unexpected group field")),
            4 => return Err(WireError("unexpected end group tag")),
            _ => return Err(WireError("unsupported wire type")),
        }
    }
    Ok(items + data_items + usize::from(msg.is_item()))
}

/// Skips an unknown field encoded as a (deprecated) group, as prost does: every field up to
/// the end-group key of the same tag, groups nested in it included. Found by the `otlp_proto`
/// fuzz target: refusing groups made the receivers reject requests prost decodes.
fn skip_group(tag: u32, buf: &[u8], pos: &mut usize, depth: u32) -> Result<(), WireError> {
    if depth > MAX_DEPTH {
        return Err(WireError("recursion limit reached"));
    }
    loop {
        let key = varint(buf, pos)?;
        if key > u64::from(u32::MAX) {
            return Err(WireError("invalid key"));
        }
        let (inner, wire) = ((key >> 3) as u32, key & 7);
        if inner == 0 {
            return Err(WireError("invalid tag value: 0"));
        }
        match wire {
            0 => {
                varint(buf, pos)?;
            }
            1 | 5 => {
                let n = if wire == 1 { 8 } else { 4 };
                *pos = pos
                    .checked_add(n)
                    .filter(|&p| p <= buf.len())
                    .ok_or(WireError("truncated fixed-size field"))?;
            }
            2 => {
                let len = varint(buf, pos)?;
                *pos = usize::try_from(len)
                    .ok()
                    .and_then(|l| pos.checked_add(l))
                    .filter(|&p| p <= buf.len())
                    .ok_or(WireError("truncated length-delimited field"))?;
            }
            3 => skip_group(inner, buf, pos, depth + 1)?,
            4 if inner == tag => return Ok(()),
            4 => return Err(WireError("unexpected end group tag")),
            _ => return Err(WireError("unsupported wire type")),
        }
    }
}
