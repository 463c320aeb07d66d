//! The receiver side of a pipeline: hands each accepted batch to every pipeline that lists
//! the receiver, all or nothing.

use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::sync::mpsc;

use super::ack::{Ack, Acks};
use super::admission::{Gates, Refusal, Ticket};
use crate::component::ComponentId;
use crate::signal::{Batch, Signal};
use crate::telemetry::metrics as own;

/// Why a consumer did not take a batch. Receivers map both to retryable errors
/// (gRPC UNAVAILABLE, HTTP 503 with Retry-After).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsumeError {
    /// A pipeline queue stayed full: back-pressure. The sender should retry later.
    #[error("pipeline queue is full; retry later")]
    Full,
    /// The service is shutting down.
    #[error("sluice is shutting down")]
    Closed,
    /// A gate (memory_limiter) refused the data. The sender should retry later.
    #[error("{0}; retry later")]
    Refused(String),
    /// The data was taken in but could not be made safe (persistent queue write failed, or an
    /// exporter that answers only after export failed). The sender should retry.
    #[error("data not delivered: {0}")]
    NotDelivered(String),
}

impl From<Refusal> for ConsumeError {
    fn from(r: Refusal) -> Self {
        ConsumeError::Refused(r.message)
    }
}

/// Where a consumer's batches go: the pipeline queues, the gates in front of them, and
/// whether senders wait for acknowledgements. Swapped as a whole on reload.
#[derive(Clone)]
struct Route {
    pipelines: Arc<[mpsc::Sender<Batch>]>,
    gates: Gates,
    wait_for_ack: bool,
    /// Decode encoded requests before admitting them (a processor behind reads the data).
    decode: bool,
}

/// Delivers one receiver's batches of one signal to every pipeline that lists it. Clones share
/// the route, so [`Consumer::reroute`] redirects a running receiver (hot reload) without
/// restarting it.
#[derive(Clone)]
pub struct Consumer {
    receiver: ComponentId,
    signal: Signal,
    route: Arc<ArcSwap<Route>>,
}

impl Consumer {
    /// A consumer feeding the given pipeline queues.
    pub fn new(receiver: ComponentId, signal: Signal, pipelines: Vec<mpsc::Sender<Batch>>) -> Self {
        Consumer {
            receiver,
            signal,
            route: Arc::new(ArcSwap::from_pointee(Route {
                pipelines: pipelines.into(),
                gates: Gates::default(),
                wait_for_ack: false,
                decode: false,
            })),
        }
    }

    fn update(self, f: impl FnOnce(&mut Route)) -> Self {
        let mut r = Route::clone(&self.route.load());
        f(&mut r);
        self.route.store(Arc::new(r));
        self
    }

    /// The same consumer, answering only once every pipeline has made the data safe (a
    /// persistent queue or an exporter with `wait_for_result` is behind it).
    pub fn with_acks(self, wait: bool) -> Self {
        self.update(|r| r.wait_for_ack = wait)
    }

    /// The same consumer, decoding encoded requests before it checks the gates and queues
    /// them: a processor behind it reads the data, so decoding is needed anyway, and done
    /// here the decoded size is what the memory_limiter measures and admits.
    pub fn with_decode(self, decode: bool) -> Self {
        self.update(|r| r.decode = decode)
    }

    /// The same consumer, asking these gates before admitting data.
    pub fn with_gates(self, gates: Gates) -> Self {
        self.update(|r| r.gates = gates)
    }

    /// Points this consumer and every clone of it (the running receiver's) at `other`'s
    /// pipelines, gates and acknowledgement mode. Batches already being handed over finish on
    /// the old route.
    pub fn reroute(&self, other: &Consumer) {
        self.route.store(other.route.load_full());
    }

    /// Asks the pipelines' gates whether a request of `bytes` decompressed bytes may be
    /// decoded. Call before decoding; keep the ticket until [`Consumer::consume_admitted`]
    /// returns. Refusals are counted as refused requests.
    pub fn admit(&self, bytes: usize) -> Result<Ticket, ConsumeError> {
        self.route.load().gates.admit(bytes).map_err(|r| {
            own::receiver_refused_request(&self.receiver, self.signal, bytes as u64, r.reason);
            ConsumeError::from(r)
        })
    }

    /// Grows an admitted request's ticket once its decompressed size is known, asking the gates
    /// again for the difference.
    pub fn readmit(&self, ticket: &mut Ticket, bytes: usize) -> Result<(), ConsumeError> {
        let more = bytes.saturating_sub(ticket.bytes());
        if more == 0 {
            return Ok(());
        }
        let extra = self.admit(more)?;
        ticket.absorb(extra);
        Ok(())
    }

    /// Hands the batch to every pipeline, or to none: queue space is reserved in all of them
    /// first (waiting at most [`super::ADMIT_WAIT`]), so a refusal never half-delivers.
    /// Accepted and refused items are counted in Sluice's own metrics.
    pub async fn consume(&self, batch: Batch) -> Result<(), ConsumeError> {
        self.consume_inner(batch, 0).await
    }

    /// [`Consumer::consume`] for a request admitted with [`Consumer::admit`].
    pub async fn consume_admitted(
        &self,
        batch: Batch,
        ticket: &Ticket,
    ) -> Result<(), ConsumeError> {
        self.consume_inner(batch, ticket.estimate()).await
    }

    async fn consume_inner(&self, mut batch: Batch, own: usize) -> Result<(), ConsumeError> {
        let route = self.route.load_full();
        let wait = if route.wait_for_ack {
            let (ack, wait) = Ack::new();
            batch.acks = Acks::one(ack);
            Some(wait)
        } else {
            None
        };
        debug_assert_eq!(batch.signal(), self.signal);
        if route.decode {
            batch.data_mut();
        }
        let items = batch.item_count() as u64;
        if let Err(r) = route.gates.check(self.signal, items, own) {
            let e = ConsumeError::from(r);
            own::receiver_refused(&self.receiver, self.signal, items, &e);
            return Err(e);
        }
        let outcome = match reserve_all(&route.pipelines).await {
            Ok(permits) => {
                let n = permits.len();
                let mut batch = Some(batch);
                for (i, permit) in permits.into_iter().enumerate() {
                    let b = if i + 1 == n {
                        batch.take().expect("batch moved once")
                    } else {
                        batch.as_ref().expect("batch present").clone()
                    };
                    permit.send(b);
                }
                if let Some(wait) = wait {
                    match wait.await {
                        Ok(Ok(())) => {}
                        Ok(Err(why)) => {
                            let e = ConsumeError::NotDelivered(why);
                            own::receiver_refused(&self.receiver, self.signal, items, &e);
                            return Err(e);
                        }
                        Err(_) => {
                            return Err(ConsumeError::NotDelivered("acknowledgement lost".into()))
                        }
                    }
                }
                own::receiver_accepted(&self.receiver, self.signal, items);
                Ok(())
            }
            Err(e) => {
                own::receiver_refused(&self.receiver, self.signal, items, &e);
                Err(e)
            }
        };
        outcome
    }
}

/// Reserves a slot in every queue, or none: waits at most [`super::ADMIT_WAIT`] for a full one.
async fn reserve_all(
    pipelines: &[mpsc::Sender<Batch>],
) -> Result<Vec<mpsc::Permit<'_, Batch>>, ConsumeError> {
    let mut permits = Vec::with_capacity(pipelines.len());
    for tx in pipelines {
        let permit = match tx.try_reserve() {
            Ok(p) => p,
            Err(mpsc::error::TrySendError::Closed(())) => return Err(ConsumeError::Closed),
            Err(mpsc::error::TrySendError::Full(())) => {
                match tokio::time::timeout(super::ADMIT_WAIT, tx.reserve()).await {
                    Ok(Ok(p)) => p,
                    Ok(Err(_)) => return Err(ConsumeError::Closed),
                    Err(_) => return Err(ConsumeError::Full),
                }
            }
        };
        permits.push(permit);
    }
    Ok(permits)
}

/// One receiver's consumers, per signal. A signal without a pipeline behind it is `None`
/// (receivers answer 404 / UNIMPLEMENTED for it).
#[derive(Clone, Default)]
pub struct Consumers {
    /// Where traces go.
    pub traces: Option<Consumer>,
    /// Where metrics go.
    pub metrics: Option<Consumer>,
    /// Where logs go.
    pub logs: Option<Consumer>,
}

impl Consumers {
    /// The consumer for a signal, if any pipeline takes it.
    pub fn get(&self, signal: Signal) -> Option<&Consumer> {
        match signal {
            Signal::Traces => self.traces.as_ref(),
            Signal::Metrics => self.metrics.as_ref(),
            Signal::Logs => self.logs.as_ref(),
        }
    }

    /// Sets the consumer for a signal.
    pub fn set(&mut self, signal: Signal, consumer: Consumer) {
        match signal {
            Signal::Traces => self.traces = Some(consumer),
            Signal::Metrics => self.metrics = Some(consumer),
            Signal::Logs => self.logs = Some(consumer),
        }
    }
}
