//! Counting items in encoded OTLP requests by walking the protobuf wire format, without
//! decoding into messages: the sink must cost far less CPU than the pipeline it measures.

use crate::signal::Signal;

/// The request is not valid protobuf (or not the OTLP message expected).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed protobuf: {0}")]
pub struct WireError(&'static str);

fn varint(buf: &[u8], pos: &mut usize) -> Result<u64, WireError> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos).ok_or(WireError("truncated varint"))?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(WireError("varint too long"))
}

/// Calls `f` with the payload of every length-delimited field numbered `field` in `buf`,
/// skipping all other fields.
fn each_len(
    buf: &[u8],
    field: u64,
    f: &mut dyn FnMut(&[u8]) -> Result<(), WireError>,
) -> Result<(), WireError> {
    let mut pos = 0;
    while pos < buf.len() {
        let key = varint(buf, &mut pos)?;
        let (num, wire) = (key >> 3, key & 7);
        match wire {
            0 => {
                varint(buf, &mut pos)?;
            }
            1 => pos += 8,
            5 => pos += 4,
            2 => {
                let len = varint(buf, &mut pos)? as usize;
                let end = pos.checked_add(len).ok_or(WireError("length overflow"))?;
                let body = buf.get(pos..end).ok_or(WireError("truncated field"))?;
                if num == field {
                    f(body)?;
                }
                pos = end;
            }
            _ => return Err(WireError("unsupported wire type")),
        }
        if pos > buf.len() {
            return Err(WireError("truncated fixed field"));
        }
    }
    Ok(())
}

/// The value of the last fixed64 field numbered `field` in `buf`, if any.
fn fixed64(buf: &[u8], field: u64) -> Result<Option<u64>, WireError> {
    let mut pos = 0;
    let mut found = None;
    while pos < buf.len() {
        let key = varint(buf, &mut pos)?;
        match key & 7 {
            0 => {
                varint(buf, &mut pos)?;
            }
            1 => {
                let b = buf
                    .get(pos..pos + 8)
                    .ok_or(WireError("truncated fixed64"))?;
                if key >> 3 == field {
                    found = Some(u64::from_le_bytes(b.try_into().expect("8 bytes")));
                }
                pos += 8;
            }
            5 => pos += 4,
            2 => {
                let len = varint(buf, &mut pos)? as usize;
                pos = pos.checked_add(len).ok_or(WireError("length overflow"))?;
            }
            _ => return Err(WireError("unsupported wire type")),
        }
    }
    if pos > buf.len() {
        return Err(WireError("truncated field"));
    }
    Ok(found)
}

/// What to collect besides the item count.
#[derive(Debug, Default)]
pub struct Collect {
    /// When `Some`, the trace ID of every span is appended (traces only).
    pub trace_ids: Option<Vec<[u8; 16]>>,
    /// When `Some`, every item's time field is appended: span end time, log record time,
    /// number and histogram data point time (the load generator puts its send time there).
    pub times: Option<Vec<u64>>,
}

/// Counts the items (spans, metric data points, log records) in an encoded export request,
/// collecting what `collect` asks for.
pub fn count_items(signal: Signal, body: &[u8], collect: &mut Collect) -> Result<u64, WireError> {
    let mut n = 0u64;
    let Collect { trace_ids, times } = collect;
    let mut time = |item: &[u8], field: u64| -> Result<(), WireError> {
        if let Some(times) = times.as_mut() {
            if let Some(t) = fixed64(item, field)? {
                times.push(t);
            }
        }
        Ok(())
    };
    match signal {
        // ExportTraceServiceRequest.resource_spans=1 → ResourceSpans.scope_spans=2 →
        // ScopeSpans.spans=2 → Span.trace_id=1
        Signal::Traces => each_len(body, 1, &mut |rs| {
            each_len(rs, 2, &mut |ss| {
                each_len(ss, 2, &mut |span| {
                    n += 1;
                    time(span, 8)?;
                    if let Some(ids) = trace_ids.as_mut() {
                        each_len(span, 1, &mut |id| {
                            let mut a = [0u8; 16];
                            if id.len() == 16 {
                                a.copy_from_slice(id);
                            }
                            ids.push(a);
                            Ok(())
                        })?;
                    }
                    Ok(())
                })
            })
        })?,
        // resource_metrics=1 → scope_metrics=2 → metrics=2 → gauge=5 | sum=7 | histogram=9 |
        // exponential_histogram=10 | summary=11 → data_points=1
        Signal::Metrics => each_len(body, 1, &mut |rm| {
            each_len(rm, 2, &mut |sm| {
                each_len(sm, 2, &mut |m| {
                    for data_field in [5, 7, 9, 10, 11] {
                        each_len(m, data_field, &mut |d| {
                            each_len(d, 1, &mut |point| {
                                n += 1;
                                time(point, 3)
                            })
                        })?;
                    }
                    Ok(())
                })
            })
        })?,
        // resource_logs=1 → scope_logs=2 → log_records=2
        Signal::Logs => each_len(body, 1, &mut |rl| {
            each_len(rl, 2, &mut |sl| {
                each_len(sl, 2, &mut |record| {
                    n += 1;
                    time(record, 1)
                })
            })
        })?,
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loadgen::payload::{self, IdGen};
    use prost::Message;

    #[test]
    fn counts_match_decoded_counts() {
        let mut ids = IdGen::new(3, 4);
        for signal in Signal::ALL {
            let data = payload::request(signal, 37, &mut ids);
            let bytes = match &data {
                crate::signal::Data::Traces(r) => r.encode_to_vec(),
                crate::signal::Data::Metrics(r) => r.encode_to_vec(),
                crate::signal::Data::Logs(r) => r.encode_to_vec(),
            };
            let mut c = Collect {
                trace_ids: Some(Vec::new()),
                times: Some(Vec::new()),
            };
            let n = count_items(signal, &bytes, &mut c).unwrap();
            assert_eq!(n as usize, data.item_count(), "{signal}");
            assert_eq!(c.times.unwrap().len(), 37, "{signal}");
            if signal == Signal::Traces {
                assert_eq!(c.trace_ids.unwrap().len(), 37);
            }
        }
        let mut none = Collect::default();
        assert_eq!(count_items(Signal::Traces, &[], &mut none), Ok(0));
        assert!(count_items(Signal::Traces, &[0x0a, 0x05, 1], &mut none).is_err());
    }
}
