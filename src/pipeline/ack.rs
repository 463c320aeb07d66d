//! Acknowledgements that follow data through the pipeline, so a receiver can answer its client
//! only once the data is safe: written to a persistent queue, or exported when the exporter
//! waits for the result. An [`Ack`] travels inside each [`crate::signal::Batch`]; clones share
//! one completion, which fires when the last clone is dropped — successfully unless some holder
//! called [`Ack::fail`]. Processors that merge batches keep every ack they merged; splitting
//! copies them into each part, so the sender is answered when the last part is safe.

use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

struct Inner {
    failed: Mutex<Option<String>>,
    tx: Mutex<Option<oneshot::Sender<Result<(), String>>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let failed = self.failed.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(tx) = self.tx.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = tx.send(match failed {
                Some(m) => Err(m),
                None => Ok(()),
            });
        }
    }
}

/// One sender's pending acknowledgement (shared by every clone).
#[derive(Clone)]
pub struct Ack(Arc<Inner>);

impl std::fmt::Debug for Ack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ack")
    }
}

/// Where the receiver waits for the outcome.
pub type AckWait = oneshot::Receiver<Result<(), String>>;

impl Ack {
    /// A new acknowledgement and the receiver to await it on.
    pub fn new() -> (Ack, AckWait) {
        let (tx, rx) = oneshot::channel();
        (
            Ack(Arc::new(Inner {
                failed: Mutex::new(None),
                tx: Mutex::new(Some(tx)),
            })),
            rx,
        )
    }

    /// Marks the data as lost: the sender will be told to retry.
    pub fn fail(&self, why: impl Into<String>) {
        let mut f = self.0.failed.lock().unwrap_or_else(|e| e.into_inner());
        if f.is_none() {
            *f = Some(why.into());
        }
    }
}

/// The acknowledgements a batch carries.
#[derive(Clone, Debug, Default)]
pub struct Acks(Vec<Ack>);

impl Acks {
    /// No acknowledgements.
    pub fn none() -> Acks {
        Acks(Vec::new())
    }

    /// Just this one.
    pub fn one(ack: Ack) -> Acks {
        Acks(vec![ack])
    }

    /// Takes over another batch's acknowledgements (merging batches).
    pub fn merge(&mut self, other: Acks) {
        self.0.extend(other.0);
    }

    /// True when nobody waits on this data.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Marks every acknowledgement failed (the data will not reach its destination).
    pub fn fail(&self, why: &str) {
        for a in &self.0 {
            a.fail(why);
        }
    }

    /// Releases the acknowledgements now (the data is safe).
    pub fn release(&mut self) {
        self.0.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn completes_when_the_last_clone_is_dropped() {
        let (ack, wait) = Ack::new();
        let mut a = Acks::one(ack);
        let b = a.clone();
        a.release();
        drop(b);
        assert_eq!(wait.await.unwrap(), Ok(()));
    }

    #[tokio::test]
    async fn a_failure_anywhere_fails_the_sender() {
        let (ack, wait) = Ack::new();
        let a = Acks::one(ack);
        let b = a.clone();
        b.fail("exporter rejected the data");
        drop(a);
        drop(b);
        assert_eq!(
            wait.await.unwrap(),
            Err("exporter rejected the data".into())
        );
    }
}
