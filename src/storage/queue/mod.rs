//! A persistent, crash-safe FIFO queue of opaque records, kept in a directory.
//!
//! Records are appended to segment files (see `segment.rs` for the format) by one writer
//! thread, which group-commits concurrent pushes (one write and one fsync for all the records
//! waiting). [`PersistentQueue::push`] returns only once its record is written, and fsync'd
//! when [`QueueOptions::fsync`] is set, so a caller may acknowledge its sender then.
//! [`PersistentQueue::pop`] hands records out in order, reading them back from disk (recent
//! records come from a small in-memory cache). [`PersistentQueue::complete`] marks a record as
//! done, in any order; the contiguous completed prefix is written to a small `progress` file
//! (write temp + rename) and segments wholly before it are deleted.
//!
//! Delivery is at-least-once: after a crash, [`PersistentQueue::open`] replays every record
//! that is not in the persisted completed prefix, including records that were handed out but
//! not completed. A torn or corrupt segment is repaired (cut at the last good record, or
//! rewritten without a damaged middle region) and reported in [`OpenReport`]; damaged bytes
//! are never replayed.
//!
//! The directory is locked (`LOCK`) against a second instance, in this or another process.

mod recovery;
mod segment;
mod writer;

#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, VecDeque};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use bytes::Bytes;
use tokio::sync::{oneshot, Notify};

/// Payload bytes of recently pushed records kept in memory so that `pop` need not read them
/// back from disk.
const CACHE_BYTES: usize = 4 << 20;

/// Options for a queue directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueOptions {
    /// Maximum records pending (pushed and not yet completed). More precisely the window from
    /// the oldest uncompleted record to the newest one, so that disk use stays bounded even
    /// when one record stays uncompleted while later ones complete. `push` waits while full.
    /// 0 is treated as 1.
    pub capacity: usize,
    /// Fsync each written batch (and the progress file, and directory changes) before
    /// acknowledging. Without it records survive a process crash but not an OS crash.
    pub fsync: bool,
    /// Start a new segment once the current one reaches about this many bytes.
    pub segment_bytes: u64,
}

impl Default for QueueOptions {
    /// Capacity 1000, fsync on, 8 MiB segments.
    fn default() -> Self {
        QueueOptions {
            capacity: 1000,
            fsync: true,
            segment_bytes: 8 << 20,
        }
    }
}

/// Identifies a record: its global sequence number in the queue directory, stable across
/// reopening. Later pushes have greater ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordId(u64);

impl RecordId {
    /// The sequence number.
    pub fn seq(self) -> u64 {
        self.0
    }
}

impl std::fmt::Display for RecordId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// What [`PersistentQueue::open`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// Records pending replay (handed out again by `pop`).
    pub recovered: usize,
    /// Human-readable descriptions of damage found and repaired, e.g. `segment 00000003.wal:
    /// corrupt record at offset 4096 (checksum mismatch); 1 record(s), 812 bytes skipped`.
    pub problems: Vec<String>,
    /// Records lost to damage (exact when intact records follow the damage, else a best
    /// effort estimate of at least 1 per damaged region).
    pub skipped_records: u64,
    /// Damaged bytes dropped.
    pub skipped_bytes: u64,
}

/// Errors of the persistent queue.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// Another queue (in this or another process) holds the directory's lock.
    #[error("queue directory {} is in use by another process", .0.display())]
    Locked(PathBuf),
    /// Reading or writing the directory failed.
    #[error("queue I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The queue was closed.
    #[error("queue is closed")]
    Closed,
    /// The payload is larger than a record can hold (4 GiB - 1).
    #[error("record of {0} bytes is too large for the queue")]
    TooLarge(usize),
    /// A segment was written by an unknown (newer) format version; the queue refuses to
    /// touch it.
    #[error("queue segment {} has unsupported format version {version}", path.display())]
    UnsupportedVersion {
        /// The segment file.
        path: PathBuf,
        /// Its version.
        version: u16,
    },
}

/// A persistent FIFO queue in a directory. Cheap to clone; all clones share one queue. The
/// directory lock is released when the last clone is dropped (dropping waits for the writer
/// thread to finish its current batch).
#[derive(Clone)]
pub struct PersistentQueue {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for PersistentQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersistentQueue")
            .field("dir", &self.inner.shared.dir)
            .field("pending", &self.pending())
            .finish()
    }
}

struct Inner {
    shared: Arc<Shared>,
    tx: Option<mpsc::Sender<writer::Msg>>,
    writer: Option<JoinHandle<()>>,
    /// Holds the directory lock; dropped after the writer thread has stopped.
    _lock: File,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(handle) = self.writer.take() {
            let _ = handle.join();
        }
    }
}

/// State shared by the queue handles, the writer thread and blocking readers.
pub(super) struct Shared {
    dir: PathBuf,
    opts: QueueOptions,
    state: Mutex<State>,
    /// Signalled when records become available to pop (or on close).
    data: Notify,
    /// Signalled when room frees up for push (or on close).
    space: Notify,
    /// Read handle of the segment last read from.
    reader: Mutex<Option<(u64, File)>>,
}

/// A record not yet completed, or completed but behind an uncompleted one.
#[derive(Debug)]
pub(super) struct Entry {
    seq: u64,
    seg: u64,
    offset: u64,
    len: u32,
    completed: bool,
    cached: Option<Bytes>,
}

#[derive(Debug, Default)]
pub(super) struct State {
    /// From the oldest uncompleted record to the newest, in sequence order.
    records: VecDeque<Entry>,
    /// Index in `records` of the next record to hand out.
    read_idx: usize,
    /// Handed-out records whose `pop` was cancelled: handed out again first.
    redeliver: BTreeSet<u64>,
    /// Entries in `records` marked completed.
    completed: usize,
    /// Pushes that reserved room and are not yet in `records`.
    inflight: usize,
    /// Sequence number of the next record to be published.
    next_seq: u64,
    closed: bool,
    /// A progress update was requested from the writer and not yet taken.
    progress_requested: bool,
    cached_bytes: usize,
}

impl State {
    /// First sequence number not completed: everything below is done.
    fn prefix(&self) -> u64 {
        self.records.front().map_or(self.next_seq, |e| e.seq)
    }

    fn full(&self, capacity: usize) -> bool {
        self.records.len() + self.inflight >= capacity
    }

    fn find(&self, seq: u64) -> Option<usize> {
        self.records.binary_search_by_key(&seq, |e| e.seq).ok()
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn read(&self, seg: u64, offset: u64, seq: u64, len: u32) -> std::io::Result<Bytes> {
        let mut reader = self.reader.lock().unwrap_or_else(|e| e.into_inner());
        if reader.as_ref().is_none_or(|(no, _)| *no != seg) {
            *reader = None;
            let file = File::open(self.dir.join(segment::segment_name(seg)))?;
            *reader = Some((seg, file));
        }
        let (_, file) = reader.as_ref().expect("just opened");
        segment::read_record(file, offset, seq, len)
    }
}

/// Gives a handed-out record back to the queue if its `pop` is dropped before returning it.
struct HandOut<'a> {
    shared: &'a Shared,
    seq: Option<u64>,
}

impl Drop for HandOut<'_> {
    fn drop(&mut self) {
        if let Some(seq) = self.seq {
            let mut st = self.shared.lock();
            if st.find(seq).is_some_and(|i| !st.records[i].completed) {
                st.redeliver.insert(seq);
                drop(st);
                self.shared.data.notify_waiters();
            }
        }
    }
}

impl PersistentQueue {
    /// Opens (creating if needed) the queue in `dir`: takes the directory lock, recovers the
    /// segments and the progress file, repairs damage and reports it. Blocking: call it from
    /// `spawn_blocking` (or before starting to serve) in async code.
    pub fn open(
        dir: &Path,
        opts: QueueOptions,
    ) -> Result<(PersistentQueue, OpenReport), QueueError> {
        let opts = QueueOptions {
            capacity: opts.capacity.max(1),
            segment_bytes: opts.segment_bytes.max(1),
            ..opts
        };
        let rec = recovery::recover(dir, &opts)?;
        let state = State {
            records: rec.entries,
            next_seq: rec.next_seq,
            ..State::default()
        };
        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            opts,
            state: Mutex::new(state),
            data: Notify::new(),
            space: Notify::new(),
            reader: Mutex::new(None),
        });
        let (tx, rx) = mpsc::channel();
        let w = writer::Writer::new(
            shared.clone(),
            rec.active,
            rec.segments,
            rec.next_seq,
            rec.persisted_prefix,
        );
        let handle = std::thread::Builder::new()
            .name("sluice-queue-writer".into())
            .spawn(move || w.run(rx))?;
        let queue = PersistentQueue {
            inner: Arc::new(Inner {
                shared,
                tx: Some(tx),
                writer: Some(handle),
                _lock: rec.lock,
            }),
        };
        Ok((queue, rec.report))
    }

    /// Appends a record. Waits while the queue is full; returns once the record is written
    /// (and fsync'd when [`QueueOptions::fsync`] is set), so the caller may then acknowledge
    /// its sender. Concurrent pushes are group-committed. Cancel-safe: a push dropped while
    /// waiting for room has no effect; one dropped after that may still be written.
    pub async fn push(&self, payload: Bytes) -> Result<RecordId, QueueError> {
        if payload.len() > segment::MAX_PAYLOAD {
            return Err(QueueError::TooLarge(payload.len()));
        }
        let shared = &self.inner.shared;
        loop {
            let notified = shared.space.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut st = shared.lock();
                if st.closed {
                    return Err(QueueError::Closed);
                }
                if !st.full(shared.opts.capacity) {
                    st.inflight += 1;
                    break;
                }
            }
            notified.await;
        }
        let (reply, rx) = oneshot::channel();
        let sent = match &self.inner.tx {
            Some(tx) => tx.send(writer::Msg::Push { payload, reply }).is_ok(),
            None => false,
        };
        if !sent {
            shared.lock().inflight -= 1;
            shared.space.notify_waiters();
            return Err(QueueError::Closed);
        }
        match rx.await {
            Ok(result) => result,
            Err(_) => Err(QueueError::Closed),
        }
    }

    /// Whether a `push` would wait now because the queue is full.
    pub fn try_push_would_block(&self) -> bool {
        let shared = &self.inner.shared;
        shared.lock().full(shared.opts.capacity)
    }

    /// Hands out the next record not yet handed out, in order (records whose `pop` was
    /// cancelled come first). Waits for one; returns `None` once the queue is closed and
    /// nothing is left to hand out. A record that cannot be read back (damaged on disk since
    /// it was written) is logged and completed (dropped).
    pub async fn pop(&self) -> Option<(RecordId, Bytes)> {
        let shared = &self.inner.shared;
        loop {
            let (entry, cached) = self.take_next().await?;
            let (seq, seg, offset, len) = entry;
            if let Some(payload) = cached {
                return Some((RecordId(seq), payload));
            }
            let mut guard = HandOut {
                shared,
                seq: Some(seq),
            };
            let reader = shared.clone();
            let read =
                tokio::task::spawn_blocking(move || reader.read(seg, offset, seq, len)).await;
            let error = match read {
                Ok(Ok(payload)) => {
                    guard.seq = None;
                    return Some((RecordId(seq), payload));
                }
                Ok(Err(e)) => e.to_string(),
                Err(e) => e.to_string(),
            };
            guard.seq = None;
            tracing::error!(
                dir = %shared.dir.display(),
                record = seq,
                "persistent queue: cannot read record back, dropping it: {error}"
            );
            self.complete(RecordId(seq));
        }
    }

    /// Takes the next record to hand out: `((seq, segment, offset, len), cached payload)`.
    #[allow(clippy::type_complexity)]
    async fn take_next(&self) -> Option<((u64, u64, u64, u32), Option<Bytes>)> {
        let shared = &self.inner.shared;
        loop {
            let notified = shared.data.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut st = shared.lock();
                while let Some(seq) = st.redeliver.pop_first() {
                    if let Some(i) = st.find(seq) {
                        let e = &st.records[i];
                        if !e.completed {
                            return Some(((e.seq, e.seg, e.offset, e.len), None));
                        }
                    }
                }
                while st.read_idx < st.records.len() {
                    let i = st.read_idx;
                    st.read_idx += 1;
                    let e = &mut st.records[i];
                    if e.completed {
                        continue;
                    }
                    let cached = e.cached.take();
                    let info = (e.seq, e.seg, e.offset, e.len);
                    if let Some(b) = &cached {
                        st.cached_bytes -= b.len();
                    }
                    return Some((info, cached));
                }
                if st.closed {
                    return None;
                }
            }
            notified.await;
        }
    }

    /// Marks a record as exported (or dropped for good). May be called in any order; unknown
    /// or already completed ids are ignored. The contiguous completed prefix is persisted in
    /// the background and segments wholly before it are deleted. Never blocks on I/O.
    pub fn complete(&self, id: RecordId) {
        let shared = &self.inner.shared;
        let mut st = shared.lock();
        let Some(i) = st.find(id.0) else { return };
        if st.records[i].completed {
            return;
        }
        st.records[i].completed = true;
        st.completed += 1;
        if let Some(b) = st.records[i].cached.take() {
            st.cached_bytes -= b.len();
        }
        let mut advanced = false;
        while st.records.front().is_some_and(|e| e.completed) {
            st.records.pop_front();
            st.completed -= 1;
            st.read_idx = st.read_idx.saturating_sub(1);
            advanced = true;
        }
        if !advanced {
            return;
        }
        let request = !st.progress_requested;
        st.progress_requested = true;
        drop(st);
        shared.space.notify_waiters();
        if request {
            if let Some(tx) = &self.inner.tx {
                let _ = tx.send(writer::Msg::Progress);
            }
        }
    }

    /// Records pushed and not yet completed (including recovered ones).
    pub fn pending(&self) -> usize {
        let st = self.inner.shared.lock();
        st.records.len() - st.completed
    }

    /// Closes the queue: pushes fail with [`QueueError::Closed`], and `pop` returns `None`
    /// once the records already in the queue have been handed out. Records not completed
    /// stay on disk for the next open.
    pub fn close(&self) {
        let shared = &self.inner.shared;
        shared.lock().closed = true;
        shared.data.notify_waiters();
        shared.space.notify_waiters();
    }

    /// The queue directory.
    pub fn dir(&self) -> &Path {
        &self.inner.shared.dir
    }
}
