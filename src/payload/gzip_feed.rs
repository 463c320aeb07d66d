//! Feeds the requests joining a batch to its [`GzipStream`] off the joining task: each join
//! queues the pieces and spawns a short task that compresses what is queued, in order. The
//! pipeline task that joins requests only queues them, so compression keeps running beside it
//! on other cores (as when every export compressed its own batch), and a batch sent on its
//! timeout finds almost all of its bytes already compressed.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;

use super::gzip_stream::GzipStream;

/// A gzip stream with a queue of pieces waiting to be compressed into it.
#[derive(Debug)]
pub struct GzipFeed {
    level: u32,
    /// Pieces queued, in order; taken only while holding `stream`.
    queue: Mutex<VecDeque<Bytes>>,
    /// `None` once compressing failed: the request is then compressed in one pass when sent.
    stream: Mutex<Option<GzipStream>>,
    /// Pieces queued in all (compressed or waiting).
    submitted: Mutex<usize>,
    /// Set when the request holding the feed was cloned: the clones share the result, and
    /// none of them may add to it.
    sealed: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl GzipFeed {
    /// An empty feed compressing at `level`, expecting about `hint` bytes.
    pub fn new(level: u32, hint: usize) -> Arc<GzipFeed> {
        Arc::new(GzipFeed {
            level,
            queue: Mutex::new(VecDeque::new()),
            stream: Mutex::new(Some(GzipStream::new(level, hint))),
            submitted: Mutex::new(0),
            sealed: AtomicBool::new(false),
        })
    }

    /// Marks the feed shared: nothing more may be submitted.
    pub fn seal(&self) {
        self.sealed.store(true, Ordering::Relaxed);
    }

    /// True once sealed.
    pub fn is_sealed(&self) -> bool {
        self.sealed.load(Ordering::Relaxed)
    }

    /// The compression level.
    pub fn level(&self) -> u32 {
        self.level
    }

    /// Pieces queued so far.
    pub fn submitted(&self) -> usize {
        *lock(&self.submitted)
    }

    /// Queues `pieces` and has them compressed: in a spawned task when called on a tokio
    /// runtime, else right here.
    pub fn submit(self: &Arc<Self>, pieces: &[Bytes]) {
        {
            let mut q = lock(&self.queue);
            q.extend(pieces.iter().cloned());
            *lock(&self.submitted) += pieces.len();
        }
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                let feed = self.clone();
                rt.spawn(async move { feed.drain(false) });
            }
            Err(_) => self.drain(true),
        }
    }

    /// Compresses queued pieces in order. Without `wait`, leaves them when another task is
    /// compressing (it, or the final [`GzipFeed::finish`], takes them).
    fn drain(&self, wait: bool) {
        let mut stream = match self.stream.try_lock() {
            Ok(s) => s,
            Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) if !wait => return,
            Err(std::sync::TryLockError::WouldBlock) => lock(&self.stream),
        };
        Self::drain_locked(&self.queue, &mut stream);
    }

    fn drain_locked(queue: &Mutex<VecDeque<Bytes>>, stream: &mut Option<GzipStream>) {
        loop {
            let Some(piece) = lock(queue).pop_front() else {
                return;
            };
            if let Some(s) = stream.as_mut() {
                if s.feed(&piece).is_err() {
                    *stream = None;
                }
            }
        }
    }

    /// Compresses what is still queued and ends the stream; the same bytes on later calls.
    /// `None` when compressing failed, or the stream was finished before the last pieces
    /// were queued (the caller compresses in one pass then).
    pub fn finish(&self, expected_pieces: usize) -> Option<Bytes> {
        let mut stream = lock(&self.stream);
        Self::drain_locked(&self.queue, &mut stream);
        let s = stream.as_mut()?;
        if s.fed() != expected_pieces {
            return None;
        }
        s.finish().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::super::gzip_stream::gunzip;
    use super::*;

    fn pieces() -> Vec<Bytes> {
        (0..50)
            .map(|i| Bytes::from(format!("request {i}: ").repeat(100 + i)))
            .collect()
    }

    #[test]
    fn pieces_fed_without_a_runtime_are_compressed_in_order() {
        let p = pieces();
        let feed = GzipFeed::new(6, 0);
        for chunk in p.chunks(7) {
            feed.submit(chunk);
        }
        assert_eq!(feed.submitted(), 50);
        let z = feed.finish(50).unwrap();
        assert_eq!(gunzip(&z), p.concat());
        assert_eq!(feed.finish(50).unwrap(), z);
        assert!(
            feed.finish(51).is_none(),
            "a finished stream covers what it was fed"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn pieces_fed_from_many_spawned_tasks_stay_in_order() {
        let p = pieces();
        let feed = GzipFeed::new(1, 0);
        for chunk in p.chunks(3) {
            feed.submit(chunk);
            tokio::task::yield_now().await;
        }
        // Finishing while spawned tasks may still be compressing takes the rest itself.
        let z = feed.finish(50).unwrap();
        assert_eq!(gunzip(&z), p.concat());
    }
}
