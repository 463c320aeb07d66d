//! Admission control at a pipeline's entrance. A processor (memory_limiter) may install a
//! [`Gate`]; receivers ask the gates of every pipeline they feed before they decode a request
//! (by its decompressed size) and again before they queue the decoded items. A refusal is a
//! retryable error for the client, so nothing is dropped after it was accepted.
//!
//! Requests admitted but not yet visible in a memory measurement are tracked here: bytes in
//! flight (being decoded) and a running total of bytes admitted, each counted at
//! [`DECODE_EXPANSION`] times their decompressed size. A gate that measures memory notes
//! [`materialized`] at that moment; [`admitted_total`] minus that note is what its
//! measurement cannot show yet.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use crate::signal::Signal;

/// How many bytes of memory one byte of decompressed OTLP protobuf is assumed to take while it
/// is decoded and held: the buffer itself plus the decoded structures (strings, vectors and
/// enum boxes of prost types run about three times the wire size for typical spans).
pub const DECODE_EXPANSION: usize = 4;

static INFLIGHT: AtomicUsize = AtomicUsize::new(0);
static ADMITTED: AtomicU64 = AtomicU64::new(0);

/// Why a gate refused data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// A short label for metrics (`memory_limit`).
    pub reason: &'static str,
    /// What the client is told.
    pub message: String,
}

/// Admission control a processor installs in front of its pipeline.
pub trait Gate: Send + Sync {
    /// Before decoding: may a request that will take about `estimate` bytes of memory in?
    fn admit(&self, estimate: usize) -> Result<(), Refusal>;

    /// After decoding, before queueing: may these items in? `own_estimate` is the part of the
    /// current estimate that is this request's own (so it is not held against itself).
    fn check(&self, signal: Signal, items: u64, own_estimate: usize) -> Result<(), Refusal>;
}

/// Memory admitted for one request while it is decoded; released when dropped.
#[derive(Debug)]
pub struct Ticket {
    estimate: usize,
}

impl Ticket {
    /// Accounts `estimate` bytes as in flight and as not yet measured.
    pub(crate) fn take(estimate: usize) -> Ticket {
        INFLIGHT.fetch_add(estimate, Ordering::Relaxed);
        ADMITTED.fetch_add(estimate as u64, Ordering::Relaxed);
        Ticket { estimate }
    }

    /// The bytes this ticket holds.
    pub fn estimate(&self) -> usize {
        self.estimate
    }

    /// The decompressed request bytes this ticket stands for.
    pub fn bytes(&self) -> usize {
        self.estimate / DECODE_EXPANSION
    }

    /// Merges another ticket (admitted for the same request) into this one.
    pub(crate) fn absorb(&mut self, mut other: Ticket) {
        self.estimate += other.estimate;
        other.estimate = 0;
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        INFLIGHT.fetch_sub(self.estimate, Ordering::Relaxed);
    }
}

/// Estimated bytes of every request ever admitted.
pub fn admitted_total() -> u64 {
    ADMITTED.load(Ordering::Relaxed)
}

/// Of [`admitted_total`], what a memory measurement taken now includes: everything admitted
/// except requests still being decoded.
pub fn materialized() -> u64 {
    let inflight = INFLIGHT.load(Ordering::Relaxed) as u64;
    admitted_total().saturating_sub(inflight)
}

/// The gates of the pipelines one consumer feeds (each gate once).
#[derive(Clone, Default)]
pub struct Gates(Arc<[Arc<dyn Gate>]>);

impl Gates {
    /// Gates from the given list, dropping repeats of the same gate.
    pub fn new(gates: Vec<Arc<dyn Gate>>) -> Gates {
        let mut uniq: Vec<Arc<dyn Gate>> = Vec::new();
        for g in gates {
            if !uniq.iter().any(|u| Arc::ptr_eq(u, &g)) {
                uniq.push(g);
            }
        }
        Gates(uniq.into())
    }

    /// True when no pipeline behind this consumer limits admission.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Asks every gate about a request of `bytes` decompressed bytes.
    pub fn admit(&self, bytes: usize) -> Result<Ticket, Refusal> {
        let estimate = bytes.saturating_mul(DECODE_EXPANSION);
        for g in self.0.iter() {
            g.admit(estimate)?;
        }
        Ok(Ticket::take(estimate))
    }

    /// Asks every gate about decoded items.
    pub fn check(&self, signal: Signal, items: u64, own: usize) -> Result<(), Refusal> {
        for g in self.0.iter() {
            g.check(signal, items, own)?;
        }
        Ok(())
    }
}
