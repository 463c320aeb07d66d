//! Segment files: header and record format, appending, reading and scanning.
//!
//! A segment is `NNNNNNNN.wal` (decimal segment number) and starts with a 16-byte header:
//!
//! ```text
//! magic "SLQS" | version u16 LE | reserved u16 | base_seq u64 LE
//! ```
//!
//! followed by records:
//!
//! ```text
//! len u32 LE | crc32 u32 LE | seq u64 LE | payload (len bytes)
//! ```
//!
//! The CRC covers `len`, `seq` and the payload, so a damaged length or sequence number is
//! caught as well as a damaged payload, and a zero-filled tail never parses as a record.
//! Sequence numbers are global and strictly increasing, which lets recovery resynchronise
//! after a damaged region and count exactly how many records it lost.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use bytes::Bytes;

/// Magic bytes at the start of every segment.
pub(super) const SEGMENT_MAGIC: [u8; 4] = *b"SLQS";
/// Format version written into segment headers.
pub(super) const VERSION: u16 = 1;
/// Length of the segment header.
pub(super) const HEADER_LEN: usize = 16;
/// Length of the per-record header (len, crc, seq).
pub(super) const RECORD_HEADER_LEN: usize = 16;
/// Largest payload a record can hold.
pub(super) const MAX_PAYLOAD: usize = u32::MAX as usize;

/// File name of segment `no`.
pub(super) fn segment_name(no: u64) -> String {
    format!("{no:08}.wal")
}

/// Segment number of a file name, if it names a segment.
pub(super) fn parse_segment_name(name: &str) -> Option<u64> {
    let stem = name.strip_suffix(".wal")?;
    if stem.is_empty() || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

/// Encodes a segment header.
pub(super) fn encode_header(base_seq: u64) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[0..4].copy_from_slice(&SEGMENT_MAGIC);
    h[4..6].copy_from_slice(&VERSION.to_le_bytes());
    h[8..16].copy_from_slice(&base_seq.to_le_bytes());
    h
}

/// Why a segment header could not be used.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum HeaderError {
    /// Fewer than [`HEADER_LEN`] bytes.
    Short(usize),
    /// The magic bytes are wrong.
    BadMagic,
    /// Written by a newer (or unknown) format version.
    Version(u16),
}

/// Decodes a segment header, returning its base sequence number.
pub(super) fn decode_header(buf: &[u8]) -> Result<u64, HeaderError> {
    if buf.len() < HEADER_LEN {
        return Err(HeaderError::Short(buf.len()));
    }
    if buf[0..4] != SEGMENT_MAGIC {
        return Err(HeaderError::BadMagic);
    }
    let version = u16::from_le_bytes([buf[4], buf[5]]);
    if version != VERSION {
        return Err(HeaderError::Version(version));
    }
    Ok(u64::from_le_bytes(buf[8..16].try_into().expect("8 bytes")))
}

fn record_crc(len: u32, seq: u64, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&len.to_le_bytes());
    h.update(&seq.to_le_bytes());
    h.update(payload);
    h.finalize()
}

/// Encodes the header of a record holding `payload` (at most [`MAX_PAYLOAD`] bytes).
pub(super) fn encode_record_header(seq: u64, payload: &[u8]) -> [u8; RECORD_HEADER_LEN] {
    let len = payload.len() as u32;
    let mut h = [0u8; RECORD_HEADER_LEN];
    h[0..4].copy_from_slice(&len.to_le_bytes());
    h[4..8].copy_from_slice(&record_crc(len, seq, payload).to_le_bytes());
    h[8..16].copy_from_slice(&seq.to_le_bytes());
    h
}

/// Why the bytes at some offset are not a valid record.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum RecordError {
    /// The record header itself is cut short.
    TruncatedHeader { present: usize },
    /// The payload is cut short.
    Truncated { needed: u64, present: usize },
    /// The checksum does not match.
    Checksum,
}

impl std::fmt::Display for RecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecordError::TruncatedHeader { present } => write!(
                f,
                "truncated record header: {present} of {RECORD_HEADER_LEN} bytes present"
            ),
            RecordError::Truncated { needed, present } => {
                write!(f, "truncated record: {present} of {needed} bytes present")
            }
            RecordError::Checksum => f.write_str("checksum mismatch"),
        }
    }
}

/// A record that parsed and passed its checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Parsed {
    /// Sequence number stored in the record.
    pub seq: u64,
    /// Payload length.
    pub len: u32,
    /// Offset just past the record.
    pub end: usize,
}

/// Parses and verifies the record starting at `buf[off..]`.
pub(super) fn parse_record(buf: &[u8], off: usize) -> Result<Parsed, RecordError> {
    let rest = buf.get(off..).unwrap_or(&[]);
    if rest.len() < RECORD_HEADER_LEN {
        return Err(RecordError::TruncatedHeader {
            present: rest.len(),
        });
    }
    let len = u32::from_le_bytes(rest[0..4].try_into().expect("4 bytes"));
    let crc = u32::from_le_bytes(rest[4..8].try_into().expect("4 bytes"));
    let seq = u64::from_le_bytes(rest[8..16].try_into().expect("8 bytes"));
    let total = RECORD_HEADER_LEN as u64 + u64::from(len);
    if (rest.len() as u64) < total {
        return Err(RecordError::Truncated {
            needed: total,
            present: rest.len(),
        });
    }
    let payload = &rest[RECORD_HEADER_LEN..total as usize];
    if record_crc(len, seq, payload) != crc {
        return Err(RecordError::Checksum);
    }
    Ok(Parsed {
        seq,
        len,
        end: off + total as usize,
    })
}

/// A good record found by [`scan_records`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ScannedRecord {
    /// Sequence number.
    pub seq: u64,
    /// Offset of the record header in the scanned buffer.
    pub offset: usize,
    /// Payload length.
    pub len: u32,
}

/// A damaged region found by [`scan_records`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Damage {
    /// Offset where the first bad record starts.
    pub offset: usize,
    /// What was wrong with it.
    pub reason: String,
    /// Records lost in the region (exact when a later record was found, else best effort, ≥ 1).
    pub records: u64,
    /// Bytes in the region.
    pub bytes: u64,
    /// Whether good records follow the region (false: the region runs to the end).
    pub resumed: bool,
}

/// Result of scanning a segment body.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Scan {
    /// Good records in order.
    pub records: Vec<ScannedRecord>,
    /// Damaged regions in order.
    pub damages: Vec<Damage>,
    /// End of the last good record (or `start` when there is none).
    pub valid_end: usize,
}

/// Scans records in `buf[start..]`; every accepted record has a sequence number at least
/// `min_seq` and greater than the one before it. Never panics on any input.
pub(super) fn scan_records(buf: &[u8], start: usize, min_seq: u64) -> Scan {
    let mut scan = Scan {
        valid_end: start.min(buf.len()),
        ..Scan::default()
    };
    let mut off = start;
    let mut expected = min_seq;
    while off < buf.len() {
        let reason = match parse_record(buf, off) {
            Ok(p) if p.seq >= expected => {
                scan.records.push(ScannedRecord {
                    seq: p.seq,
                    offset: off,
                    len: p.len,
                });
                off = p.end;
                scan.valid_end = off;
                match p.seq.checked_add(1) {
                    Some(next) => expected = next,
                    None => break,
                }
                continue;
            }
            Ok(p) => format!(
                "sequence number {} where {expected} or more was expected",
                p.seq
            ),
            Err(e) => e.to_string(),
        };
        match resync(buf, off + 1, expected) {
            Some((pos, seq)) => {
                scan.damages.push(Damage {
                    offset: off,
                    reason,
                    records: (seq - expected).max(1),
                    bytes: (pos - off) as u64,
                    resumed: true,
                });
                off = pos;
            }
            None => {
                scan.damages.push(Damage {
                    offset: off,
                    reason,
                    records: estimate_records(buf, off),
                    bytes: (buf.len() - off) as u64,
                    resumed: false,
                });
                break;
            }
        }
    }
    scan
}

/// Finds the first position at or after `from` holding a valid record whose sequence number
/// is plausible: at least `min_seq` and no further ahead than the bytes left could hold.
fn resync(buf: &[u8], from: usize, min_seq: u64) -> Option<(usize, u64)> {
    if buf.len() < RECORD_HEADER_LEN || from > buf.len() - RECORD_HEADER_LEN {
        return None;
    }
    let window = ((buf.len() - from) / RECORD_HEADER_LEN) as u64 + 1;
    let mut hashed = 0usize;
    for pos in from..=buf.len() - RECORD_HEADER_LEN {
        let seq = u64::from_le_bytes(buf[pos + 8..pos + 16].try_into().expect("8 bytes"));
        if seq < min_seq || seq - min_seq > window {
            continue;
        }
        let len = u32::from_le_bytes(buf[pos..pos + 4].try_into().expect("4 bytes")) as usize;
        if len > buf.len() - pos - RECORD_HEADER_LEN {
            continue;
        }
        // Bound the checksum work so that a pathological damaged region cannot make
        // recovery quadratic; past the budget the rest is treated as damaged.
        hashed += len;
        if hashed > RESYNC_HASH_BUDGET {
            return None;
        }
        if let Ok(p) = parse_record(buf, pos) {
            return Some((pos, p.seq));
        }
    }
    None
}

/// Most payload bytes checksummed while looking for a good record after damage.
const RESYNC_HASH_BUDGET: usize = 256 << 20;

/// Best-effort count of records in a damaged tail: follows the length fields.
fn estimate_records(buf: &[u8], mut off: usize) -> u64 {
    let mut n = 0u64;
    while off < buf.len() {
        n += 1;
        let Some(h) = buf.get(off..off + 4) else {
            break;
        };
        let len = u32::from_le_bytes(h.try_into().expect("4 bytes")) as usize;
        match off.checked_add(RECORD_HEADER_LEN + len) {
            Some(next) if next <= buf.len() => off = next,
            _ => break,
        }
    }
    n.max(1)
}

/// Fsyncs a directory so that created, renamed and removed entries are durable.
pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// Reads and verifies the record at `offset` of an open segment.
pub(super) fn read_record(mut file: &File, offset: u64, seq: u64, len: u32) -> io::Result<Bytes> {
    let total = RECORD_HEADER_LEN + len as usize;
    let mut buf = vec![0u8; total];
    file.seek(SeekFrom::Start(offset))?;
    file.read_exact(&mut buf)?;
    let bad = |what: &str| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("record {seq} at offset {offset}: {what}"),
        )
    };
    let p = parse_record(&buf, 0).map_err(|e| bad(&e.to_string()))?;
    if p.seq != seq || p.len != len {
        return Err(bad("unexpected sequence number or length"));
    }
    let mut bytes = Bytes::from(buf);
    Ok(bytes.split_off(RECORD_HEADER_LEN))
}

/// The segment the writer appends to.
pub(super) struct ActiveSegment {
    /// Segment number.
    pub no: u64,
    file: File,
    /// Bytes in the file (header included).
    pub len: u64,
    /// Records in the file.
    pub records: u64,
}

impl ActiveSegment {
    /// Creates segment `no` with a header for `base_seq`; durable when `fsync`.
    pub fn create(dir: &Path, no: u64, base_seq: u64, fsync: bool) -> io::Result<Self> {
        let path = dir.join(segment_name(no));
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)?;
        file.write_all(&encode_header(base_seq))?;
        if fsync {
            file.sync_all()?;
            sync_dir(dir)?;
        }
        Ok(ActiveSegment {
            no,
            file,
            len: HEADER_LEN as u64,
            records: 0,
        })
    }

    /// Opens existing segment `no` for appending at `len` (the end of its last good record).
    pub fn open_append(dir: &Path, no: u64, len: u64, records: u64) -> io::Result<Self> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(dir.join(segment_name(no)))?;
        file.seek(SeekFrom::Start(len))?;
        Ok(ActiveSegment {
            no,
            file,
            len,
            records,
        })
    }

    /// Appends records `(seq, payload)` and returns their offsets. On error the segment is
    /// cut back to its previous length; the error is fatal (the segment can no longer be
    /// trusted) when the fsync failed or the cut failed.
    pub fn append(
        &mut self,
        records: &[(u64, &Bytes)],
        fsync: bool,
    ) -> Result<Vec<u64>, AppendError> {
        let start = self.len;
        let mut offsets = Vec::with_capacity(records.len());
        let mut synced = false;
        let result = (|| {
            let mut w = BufWriter::with_capacity(256 << 10, &mut self.file);
            let mut pos = start;
            for (seq, payload) in records {
                offsets.push(pos);
                w.write_all(&encode_record_header(*seq, payload))?;
                w.write_all(payload)?;
                pos += (RECORD_HEADER_LEN + payload.len()) as u64;
            }
            w.flush()?;
            drop(w);
            if fsync {
                synced = true;
                self.file.sync_data()?;
            }
            Ok::<u64, io::Error>(pos)
        })();
        match result {
            Ok(end) => {
                self.len = end;
                self.records += records.len() as u64;
                Ok(offsets)
            }
            Err(e) => {
                let cut = self
                    .file
                    .set_len(start)
                    .and_then(|()| self.file.seek(SeekFrom::Start(start)).map(drop));
                Err(AppendError {
                    error: e,
                    fatal: synced || cut.is_err(),
                })
            }
        }
    }
}

/// A failed append.
#[derive(Debug)]
pub(super) struct AppendError {
    /// The I/O error.
    pub error: io::Error,
    /// The segment is in an unknown state: stop writing.
    pub fatal: bool,
}
