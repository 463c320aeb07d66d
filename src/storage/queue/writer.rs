//! The writer thread: appends pushed records (group commit), rotates segments, persists the
//! completed prefix and deletes consumed segments. All file mutation after `open` happens
//! here, so none of it can race.

use std::collections::BTreeSet;
use std::io;
use std::sync::mpsc;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::oneshot;

use super::recovery::write_progress;
use super::segment::{segment_name, ActiveSegment, RECORD_HEADER_LEN};
use super::{Entry, QueueError, RecordId, Shared, CACHE_BYTES};

/// Most records written in one batch.
const MAX_BATCH: usize = 1024;

/// A request to the writer thread.
pub(super) enum Msg {
    /// Append a record and reply with its id once durable.
    Push {
        payload: Bytes,
        reply: oneshot::Sender<Result<RecordId, QueueError>>,
    },
    /// The completed prefix advanced: persist it.
    Progress,
}

pub(super) struct Writer {
    shared: Arc<Shared>,
    active: ActiveSegment,
    /// Every segment on disk, the active one included.
    segments: BTreeSet<u64>,
    next_seq: u64,
    persisted_prefix: u64,
    /// Set after an error that leaves the active segment in an unknown state.
    broken: Option<String>,
}

type Batch = Vec<(Bytes, oneshot::Sender<Result<RecordId, QueueError>>)>;

impl Writer {
    pub fn new(
        shared: Arc<Shared>,
        active: ActiveSegment,
        segments: BTreeSet<u64>,
        next_seq: u64,
        persisted_prefix: u64,
    ) -> Self {
        Writer {
            shared,
            active,
            segments,
            next_seq,
            persisted_prefix,
            broken: None,
        }
    }

    /// Serves requests until every sender is gone, then persists the final progress.
    pub fn run(mut self, rx: mpsc::Receiver<Msg>) {
        while let Ok(first) = rx.recv() {
            let mut batch: Batch = Vec::new();
            let mut bytes = 0u64;
            let mut progress = false;
            let mut next = Some(first);
            while let Some(msg) = next.take() {
                match msg {
                    Msg::Push { payload, reply } => {
                        bytes += (RECORD_HEADER_LEN + payload.len()) as u64;
                        batch.push((payload, reply));
                    }
                    Msg::Progress => progress = true,
                }
                if batch.len() < MAX_BATCH && bytes < self.shared.opts.segment_bytes {
                    next = rx.try_recv().ok();
                }
            }
            if !batch.is_empty() {
                self.write_batch(batch);
            }
            if progress {
                self.persist_progress();
            }
        }
        self.persist_progress();
    }

    fn fail(&self, batch: Batch, error: &io::Error) {
        let n = batch.len();
        for (_, reply) in batch {
            let _ = reply.send(Err(QueueError::Io(io::Error::new(
                error.kind(),
                error.to_string(),
            ))));
        }
        self.shared.lock().inflight -= n;
        self.shared.space.notify_waiters();
    }

    fn write_batch(&mut self, batch: Batch) {
        if let Some(reason) = &self.broken {
            let e = io::Error::other(format!("queue writer stopped after an error: {reason}"));
            return self.fail(batch, &e);
        }
        let opts = self.shared.opts;
        if self.active.len >= opts.segment_bytes && self.active.records > 0 {
            let no = self.active.no + 1;
            match ActiveSegment::create(&self.shared.dir, no, self.next_seq, opts.fsync) {
                Ok(seg) => {
                    self.active = seg;
                    self.segments.insert(no);
                }
                Err(e) => {
                    tracing::error!(
                        dir = %self.shared.dir.display(),
                        "persistent queue: cannot create segment {}: {e}",
                        segment_name(no)
                    );
                    // Do not leave a half-made segment behind for recovery to trip over.
                    let _ = std::fs::remove_file(self.shared.dir.join(segment_name(no)));
                    return self.fail(batch, &e);
                }
            }
        }
        let first = self.next_seq;
        let records: Vec<(u64, &Bytes)> = batch
            .iter()
            .enumerate()
            .map(|(i, (p, _))| (first + i as u64, p))
            .collect();
        let offsets = match self.active.append(&records, opts.fsync) {
            Ok(offsets) => offsets,
            Err(e) => {
                if e.fatal {
                    tracing::error!(
                        dir = %self.shared.dir.display(),
                        "persistent queue: write failed, refusing further writes: {}",
                        e.error
                    );
                    self.broken = Some(e.error.to_string());
                }
                return self.fail(batch, &e.error);
            }
        };
        drop(records);
        self.next_seq = first + batch.len() as u64;
        {
            let mut st = self.shared.lock();
            st.inflight -= batch.len();
            for (i, ((payload, _), offset)) in batch.iter().zip(&offsets).enumerate() {
                let cached = if st.cached_bytes + payload.len() <= CACHE_BYTES {
                    st.cached_bytes += payload.len();
                    Some(payload.clone())
                } else {
                    None
                };
                st.records.push_back(Entry {
                    seq: first + i as u64,
                    seg: self.active.no,
                    offset: *offset,
                    len: payload.len() as u32,
                    completed: false,
                    cached,
                });
            }
            st.next_seq = self.next_seq;
        }
        self.shared.data.notify_waiters();
        for (i, (_, reply)) in batch.into_iter().enumerate() {
            let _ = reply.send(Ok(RecordId(first + i as u64)));
        }
    }

    /// Writes the completed prefix if it advanced, then deletes segments wholly before it.
    fn persist_progress(&mut self) {
        let (prefix, first_needed) = {
            let mut st = self.shared.lock();
            st.progress_requested = false;
            (st.prefix(), st.records.front().map(|e| e.seg))
        };
        let dir = &self.shared.dir;
        if prefix > self.persisted_prefix {
            if let Err(e) = write_progress(dir, prefix, self.shared.opts.fsync) {
                tracing::error!(dir = %dir.display(), "persistent queue: cannot write progress: {e}");
                return;
            }
            self.persisted_prefix = prefix;
        }
        let keep_from = first_needed.unwrap_or(self.active.no).min(self.active.no);
        let mut removed = false;
        while let Some(&no) = self.segments.first() {
            if no >= keep_from {
                break;
            }
            match std::fs::remove_file(dir.join(segment_name(no))) {
                Ok(()) => removed = true,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(
                        dir = %dir.display(),
                        "persistent queue: cannot delete consumed segment {}: {e}",
                        segment_name(no)
                    );
                    break;
                }
            }
            self.segments.remove(&no);
        }
        if removed && self.shared.opts.fsync {
            let _ = super::segment::sync_dir(dir);
        }
    }
}
