//! Opening a queue directory: lock, progress file, segment scan and repair.

use std::collections::{BTreeSet, VecDeque};
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Write};
use std::path::Path;

use super::segment::{
    decode_header, encode_header, scan_records, segment_name, sync_dir, ActiveSegment, HeaderError,
    HEADER_LEN, RECORD_HEADER_LEN,
};
use super::{Entry, OpenReport, QueueError, QueueOptions};

const LOCK_FILE: &str = "LOCK";
const PROGRESS_FILE: &str = "progress";
const PROGRESS_TMP: &str = "progress.tmp";
const PROGRESS_MAGIC: [u8; 4] = *b"SLQP";
const PROGRESS_LEN: usize = 20;

/// Everything `open` needs to start the queue.
pub(super) struct Recovered {
    pub lock: File,
    pub entries: VecDeque<Entry>,
    pub segments: BTreeSet<u64>,
    pub active: ActiveSegment,
    pub next_seq: u64,
    pub persisted_prefix: u64,
    pub report: OpenReport,
}

/// Writes the completed prefix (first sequence number not completed) atomically.
pub(super) fn write_progress(dir: &Path, prefix: u64, fsync: bool) -> io::Result<()> {
    let mut buf = [0u8; PROGRESS_LEN];
    buf[0..4].copy_from_slice(&PROGRESS_MAGIC);
    buf[4..8].copy_from_slice(&1u32.to_le_bytes());
    buf[8..16].copy_from_slice(&prefix.to_le_bytes());
    let crc = crc32fast::hash(&buf[..16]);
    buf[16..20].copy_from_slice(&crc.to_le_bytes());
    let tmp = dir.join(PROGRESS_TMP);
    let mut f = File::create(&tmp)?;
    f.write_all(&buf)?;
    if fsync {
        f.sync_all()?;
    }
    drop(f);
    fs::rename(&tmp, dir.join(PROGRESS_FILE))?;
    if fsync {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Reads the completed prefix: `Ok(None)` when there is no progress file yet.
fn read_progress(dir: &Path) -> io::Result<Result<Option<u64>, String>> {
    let buf = match fs::read(dir.join(PROGRESS_FILE)) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Ok(None)),
        Err(e) => return Err(e),
    };
    if buf.len() != PROGRESS_LEN || buf[0..4] != PROGRESS_MAGIC {
        return Ok(Err(format!("unrecognised content ({} bytes)", buf.len())));
    }
    let crc = u32::from_le_bytes(buf[16..20].try_into().expect("4 bytes"));
    if crc32fast::hash(&buf[..16]) != crc {
        return Ok(Err("checksum mismatch".into()));
    }
    Ok(Ok(Some(u64::from_le_bytes(
        buf[8..16].try_into().expect("8 bytes"),
    ))))
}

fn lock_dir(dir: &Path) -> Result<File, QueueError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(dir.join(LOCK_FILE))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(QueueError::Locked(dir.to_path_buf())),
        Err(TryLockError::Error(e)) => Err(QueueError::Io(e)),
    }
}

/// Replaces `path` atomically with `contents`.
fn replace_file(dir: &Path, path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp");
    let tmp = dir.join(tmp_name);
    let mut f = File::create(&tmp)?;
    f.write_all(contents)?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, path)?;
    sync_dir(dir)
}

/// Opens `dir`: lock, progress, scan and repair every segment, choose the active segment.
pub(super) fn recover(dir: &Path, opts: &QueueOptions) -> Result<Recovered, QueueError> {
    fs::create_dir_all(dir)?;
    let lock = lock_dir(dir)?;
    let mut report = OpenReport::default();

    let mut seg_nos = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.ends_with(".tmp") {
            // An interrupted progress update or repair: the original is intact.
            fs::remove_file(entry.path())?;
        } else if let Some(no) = super::segment::parse_segment_name(name) {
            seg_nos.push(no);
        }
    }
    seg_nos.sort_unstable();

    let prefix = match read_progress(dir)? {
        Ok(p) => p.unwrap_or(0),
        Err(why) => {
            report.problems.push(format!(
                "progress file: {why}; replaying every record on disk"
            ));
            0
        }
    };

    let mut entries = VecDeque::new();
    let mut segments = BTreeSet::new();
    // Sequence number the next record must reach (records strictly increase across segments).
    let mut next_seq = 0u64;
    // Segments with no pending record (candidates for deletion) and the last kept segment.
    let mut consumed = Vec::new();
    let mut last: Option<(u64, u64, u64)> = None; // (no, len, records)

    for &no in &seg_nos {
        let name = segment_name(no);
        let path = dir.join(&name);
        let buf = fs::read(&path)?;
        let (min_seq, header_ok) = match decode_header(&buf) {
            Ok(base) => (base.max(next_seq), true),
            Err(HeaderError::Version(version)) => {
                return Err(QueueError::UnsupportedVersion { path, version });
            }
            Err(HeaderError::Short(n)) => {
                // Created but its header never made it to disk: holds no record.
                report.problems.push(format!(
                    "segment {name}: incomplete header ({n} of {HEADER_LEN} bytes); removed"
                ));
                report.skipped_bytes += n as u64;
                fs::remove_file(&path)?;
                continue;
            }
            Err(HeaderError::BadMagic) => {
                report
                    .problems
                    .push(format!("segment {name}: bad header magic; rewriting it"));
                (next_seq, false)
            }
        };
        let scan = scan_records(&buf, HEADER_LEN, min_seq);
        for d in &scan.damages {
            report.problems.push(format!(
                "segment {name}: corrupt record at offset {} ({}); {} record(s), {} bytes skipped",
                d.offset, d.reason, d.records, d.bytes
            ));
            report.skipped_records += d.records;
            report.skipped_bytes += d.bytes;
        }
        let tail_only = scan.damages.len() == 1 && !scan.damages[0].resumed;
        // Offsets of the kept records in the (possibly rewritten) file.
        let offsets: Vec<u64>;
        let file_len: u64;
        if header_ok && scan.damages.is_empty() {
            offsets = scan.records.iter().map(|r| r.offset as u64).collect();
            file_len = buf.len() as u64;
        } else if header_ok && tail_only {
            let f = OpenOptions::new().write(true).open(&path)?;
            f.set_len(scan.valid_end as u64)?;
            f.sync_all()?;
            offsets = scan.records.iter().map(|r| r.offset as u64).collect();
            file_len = scan.valid_end as u64;
        } else {
            let base = scan.records.first().map_or(min_seq, |r| r.seq);
            let mut out = encode_header(base).to_vec();
            let mut offs = Vec::with_capacity(scan.records.len());
            for r in &scan.records {
                offs.push(out.len() as u64);
                let end = r.offset + RECORD_HEADER_LEN + r.len as usize;
                out.extend_from_slice(&buf[r.offset..end]);
            }
            replace_file(dir, &path, &out)?;
            offsets = offs;
            file_len = out.len() as u64;
        }
        drop(buf);

        let mut pending = false;
        for (r, offset) in scan.records.iter().zip(offsets) {
            if r.seq >= prefix {
                pending = true;
                entries.push_back(Entry {
                    seq: r.seq,
                    seg: no,
                    offset,
                    len: r.len,
                    completed: false,
                    cached: None,
                });
            }
        }
        next_seq = match scan.records.last() {
            Some(r) => r.seq.saturating_add(1),
            None => min_seq,
        };
        if !pending {
            consumed.push(no);
        }
        segments.insert(no);
        last = Some((no, file_len, scan.records.len() as u64));
    }

    let next_seq = next_seq.max(prefix);
    let last_no = last.map(|(no, _, _)| no);
    let mut removed = false;
    for no in consumed {
        if Some(no) != last_no {
            fs::remove_file(dir.join(segment_name(no)))?;
            segments.remove(&no);
            removed = true;
        }
    }
    if removed && opts.fsync {
        sync_dir(dir)?;
    }

    let active = match last {
        Some((no, len, records)) if len < opts.segment_bytes || records == 0 => {
            ActiveSegment::open_append(dir, no, len, records)?
        }
        _ => {
            let no = last_no.map_or(1, |n| n + 1);
            segments.insert(no);
            ActiveSegment::create(dir, no, next_seq, opts.fsync)?
        }
    };
    report.recovered = entries.len();
    Ok(Recovered {
        lock,
        entries,
        segments,
        active,
        next_seq,
        persisted_prefix: prefix,
        report,
    })
}
