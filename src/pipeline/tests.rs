//! Tests of the plumbing: fan-out, processor order, back-pressure and draining.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use tokio::sync::Notify;

use super::*;
use crate::component::{ComponentId, ExportError, Exporter, Processor, QueueSettings};
use crate::pipeline::retry::RetryConfig;
use crate::signal::{Batch, Data, Signal};

fn traces(names: &[&str]) -> Batch {
    let spans = names
        .iter()
        .map(|n| Span {
            name: n.to_string(),
            ..Default::default()
        })
        .collect();
    Batch::new(Data::Traces(ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }))
}

fn span_names(d: &Data) -> Vec<String> {
    match d {
        Data::Traces(r) => r
            .resource_spans
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .flat_map(|ss| &ss.spans)
            .map(|s| s.name.clone())
            .collect(),
        _ => vec![],
    }
}

/// Records what it exports; optionally blocks until released.
#[derive(Clone, Default)]
struct Recorder {
    got: Arc<Mutex<Vec<String>>>,
    gate: Option<Arc<Notify>>,
}

#[async_trait]
impl Exporter for Recorder {
    async fn export(&self, data: &Data) -> Result<(), ExportError> {
        if let Some(g) = &self.gate {
            g.notified().await;
        }
        self.got.lock().unwrap().extend(span_names(data));
        Ok(())
    }
}

/// Fails the first `fail` calls with the given error, then records.
struct Flaky {
    fail: Mutex<usize>,
    error: fn() -> ExportError,
    calls: Arc<Mutex<Vec<Instant>>>,
    got: Arc<Mutex<Vec<String>>>,
    retry: RetryConfig,
    wait_for_result: bool,
}

#[async_trait]
impl Exporter for Flaky {
    async fn export(&self, data: &Data) -> Result<(), ExportError> {
        self.calls.lock().unwrap().push(Instant::now());
        {
            let mut f = self.fail.lock().unwrap();
            if *f > 0 {
                *f -= 1;
                return Err((self.error)());
            }
        }
        self.got.lock().unwrap().extend(span_names(data));
        Ok(())
    }

    fn queue_settings(&self) -> QueueSettings {
        QueueSettings {
            concurrency: 1,
            capacity: 4,
            retry: self.retry.clone(),
            wait_for_result: self.wait_for_result,
            ..QueueSettings::default()
        }
    }
}

/// A list shared between a test and the exporter it watches.
type Shared<T> = Arc<Mutex<Vec<T>>>;

fn flaky(
    fail: usize,
    error: fn() -> ExportError,
    retry: RetryConfig,
) -> (Flaky, Shared<Instant>, Shared<String>) {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let got = Arc::new(Mutex::new(Vec::new()));
    (
        Flaky {
            fail: Mutex::new(fail),
            error,
            calls: calls.clone(),
            got: got.clone(),
            retry,
            wait_for_result: false,
        },
        calls,
        got,
    )
}

fn quick_retry() -> RetryConfig {
    RetryConfig {
        enabled: true,
        initial_interval: Duration::from_millis(20),
        randomization_factor: 0.0,
        multiplier: 1.5,
        max_interval: Duration::from_millis(100),
        max_elapsed_time: Duration::from_secs(5),
    }
}

#[tokio::test]
async fn retryable_failures_are_retried_until_they_succeed() {
    let (exp, calls, got) = flaky(
        3,
        || ExportError::Retryable {
            message: "unavailable".into(),
            retry_after: None,
        },
        quick_retry(),
    );
    let (input, handle) = spawn_exporter(id("e"), Box::new(exp), None).unwrap();
    input.send(traces(&["a", "b"])).await;
    drop(input);
    handle.await.unwrap();
    assert_eq!(calls.lock().unwrap().len(), 4);
    assert_eq!(*got.lock().unwrap(), vec!["a", "b"]);
}

#[tokio::test]
async fn permanent_errors_are_not_retried() {
    let (exp, calls, got) = flaky(
        1,
        || ExportError::Permanent("bad request".into()),
        quick_retry(),
    );
    let (input, handle) = spawn_exporter(id("e"), Box::new(exp), None).unwrap();
    input.send(traces(&["a"])).await;
    drop(input);
    handle.await.unwrap();
    assert_eq!(calls.lock().unwrap().len(), 1);
    assert!(got.lock().unwrap().is_empty());
}

#[tokio::test]
async fn server_retry_delay_is_honoured() {
    let (exp, calls, got) = flaky(
        1,
        || ExportError::Retryable {
            message: "slow down".into(),
            retry_after: Some(Duration::from_millis(300)),
        },
        quick_retry(),
    );
    let (input, handle) = spawn_exporter(id("e"), Box::new(exp), None).unwrap();
    input.send(traces(&["a"])).await;
    drop(input);
    handle.await.unwrap();
    let calls = calls.lock().unwrap();
    assert_eq!(calls.len(), 2);
    let gap = calls[1] - calls[0];
    assert!(gap >= Duration::from_millis(300), "retried after {gap:?}");
    assert_eq!(*got.lock().unwrap(), vec!["a"]);
}

#[tokio::test]
async fn retries_stop_at_the_time_budget() {
    let mut retry = quick_retry();
    retry.max_elapsed_time = Duration::from_millis(100);
    let (exp, calls, got) = flaky(
        usize::MAX,
        || ExportError::Retryable {
            message: "down".into(),
            retry_after: None,
        },
        retry,
    );
    let (input, handle) = spawn_exporter(id("e"), Box::new(exp), None).unwrap();
    input.send(traces(&["a"])).await;
    drop(input);
    handle.await.unwrap();
    let n = calls.lock().unwrap().len();
    assert!((2..=6).contains(&n), "{n} attempts");
    assert!(got.lock().unwrap().is_empty());
}

/// Appends a suffix to every span name, to prove processor order.
struct Suffix(&'static str);

impl Processor for Suffix {
    fn process(&mut self, mut batch: Batch, out: &mut Vec<Batch>) {
        if let Data::Traces(r) = batch.data_mut() {
            for rs in &mut r.resource_spans {
                for ss in &mut rs.scope_spans {
                    for s in &mut ss.spans {
                        s.name.push_str(self.0);
                    }
                }
            }
        }
        out.push(batch);
    }
}

/// Holds everything until its deadline or shutdown, like a batch processor.
struct Hold {
    held: Vec<Batch>,
    deadline: Option<Instant>,
}

impl Processor for Hold {
    fn process(&mut self, batch: Batch, _out: &mut Vec<Batch>) {
        self.deadline
            .get_or_insert_with(|| Instant::now() + Duration::from_millis(50));
        self.held.push(batch);
    }
    fn next_deadline(&self) -> Option<Instant> {
        self.deadline
    }
    fn on_deadline(&mut self, _now: Instant, out: &mut Vec<Batch>) {
        self.deadline = None;
        out.append(&mut self.held);
    }
    fn shutdown(&mut self, out: &mut Vec<Batch>) {
        out.append(&mut self.held);
    }
}

fn id(s: &str) -> ComponentId {
    ComponentId::parse(s).unwrap()
}

#[tokio::test]
async fn runs_processors_in_order_and_fans_out_to_every_exporter() {
    let (a, b) = (Recorder::default(), Recorder::default());
    let (ia, ha) = spawn_exporter(id("a"), Box::new(a.clone()), None).unwrap();
    let (ib, hb) = spawn_exporter(id("b"), Box::new(b.clone()), None).unwrap();
    let (input, hp) = spawn_pipeline(
        "traces".into(),
        vec![
            (id("s1"), Box::new(Suffix("-1")) as Box<dyn Processor>),
            (id("s2"), Box::new(Suffix("-2")) as Box<dyn Processor>),
        ],
        vec![ia, ib],
    );
    let consumer = Consumer::new(id("otlp"), Signal::Traces, vec![input]);
    consumer.consume(traces(&["x", "y"])).await.unwrap();
    drop(consumer);
    hp.await.unwrap();
    ha.await.unwrap();
    hb.await.unwrap();
    assert_eq!(*a.got.lock().unwrap(), vec!["x-1-2", "y-1-2"]);
    assert_eq!(*b.got.lock().unwrap(), vec!["x-1-2", "y-1-2"]);
}

#[tokio::test]
async fn receiver_shared_by_two_pipelines_delivers_to_both() {
    let (a, b) = (Recorder::default(), Recorder::default());
    let (ia, ha) = spawn_exporter(id("a"), Box::new(a.clone()), None).unwrap();
    let (ib, hb) = spawn_exporter(id("b"), Box::new(b.clone()), None).unwrap();
    let (p1, h1) = spawn_pipeline(
        "traces/1".into(),
        vec![(id("s"), Box::new(Suffix("-p1")) as Box<dyn Processor>)],
        vec![ia],
    );
    let (p2, h2) = spawn_pipeline("traces/2".into(), vec![], vec![ib]);
    let consumer = Consumer::new(id("otlp"), Signal::Traces, vec![p1, p2]);
    consumer.consume(traces(&["s"])).await.unwrap();
    drop(consumer);
    for h in [h1, h2, ha, hb] {
        h.await.unwrap();
    }
    assert_eq!(*a.got.lock().unwrap(), vec!["s-p1"]);
    assert_eq!(*b.got.lock().unwrap(), vec!["s"]);
}

#[tokio::test]
async fn stalled_exporter_pushes_back_to_the_receiver_and_loses_nothing() {
    let gate = Arc::new(Notify::new());
    let rec = Recorder {
        gate: Some(gate.clone()),
        ..Default::default()
    };
    let (ie, he) = spawn_exporter(id("slow"), Box::new(rec.clone()), None).unwrap();
    let (input, hp) = spawn_pipeline("traces".into(), vec![], vec![ie]);
    let consumer = Consumer::new(id("otlp"), Signal::Traces, vec![input]);
    let mut accepted = 0usize;
    let mut refused = 0usize;
    // Queues hold PIPELINE_QUEUE_BATCHES + EXPORTER_QUEUE_BATCHES + a few in flight; past
    // that the consumer must refuse rather than buffer without bound.
    for i in 0..(PIPELINE_QUEUE_BATCHES + EXPORTER_QUEUE_BATCHES + 20) {
        match consumer.consume(traces(&[&format!("s{i}")])).await {
            Ok(()) => accepted += 1,
            Err(ConsumeError::Full) => refused += 1,
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert!(refused > 0, "no back-pressure: accepted {accepted}");
    assert!(
        accepted >= PIPELINE_QUEUE_BATCHES,
        "accepted only {accepted}"
    );
    drop(consumer);
    // Release the exporter: everything accepted must arrive.
    let releaser = tokio::spawn(async move {
        loop {
            gate.notify_one();
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    });
    hp.await.unwrap();
    he.await.unwrap();
    releaser.abort();
    assert_eq!(rec.got.lock().unwrap().len(), accepted);
}

#[tokio::test]
async fn held_data_is_flushed_on_deadline_and_on_shutdown() {
    let rec = Recorder::default();
    let (ie, he) = spawn_exporter(id("e"), Box::new(rec.clone()), None).unwrap();
    let (input, hp) = spawn_pipeline(
        "traces".into(),
        vec![
            (
                id("hold"),
                Box::new(Hold {
                    held: vec![],
                    deadline: None,
                }) as Box<dyn Processor>,
            ),
            (id("bang"), Box::new(Suffix("!")) as Box<dyn Processor>),
        ],
        vec![ie],
    );
    let consumer = Consumer::new(id("otlp"), Signal::Traces, vec![input]);
    consumer.consume(traces(&["early"])).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(*rec.got.lock().unwrap(), vec!["early!"]);
    consumer.consume(traces(&["late"])).await.unwrap();
    drop(consumer);
    hp.await.unwrap();
    he.await.unwrap();
    assert_eq!(*rec.got.lock().unwrap(), vec!["early!", "late!"]);
}

/// With `wait_for_result`, the receiver is answered only after the export: success once it
/// succeeded (through a batch processor holding the data), a retryable error when it failed.
#[tokio::test]
async fn acknowledgements_wait_for_the_export_and_carry_its_failure() {
    let (mut exp, calls, got) = flaky(
        2,
        || ExportError::Permanent("bad request".into()),
        RetryConfig::disabled(),
    );
    exp.wait_for_result = true;
    let (input, he) = spawn_exporter(id("e"), Box::new(exp), None).unwrap();
    let batcher = crate::processors::batch::FACTORY.create;
    let batch_proc = batcher(
        &id("batch"),
        Signal::Traces,
        &serde_json::json!({"timeout": "50ms", "send_batch_size": 100}),
    )
    .unwrap();
    let (pin, hp) = spawn_pipeline(
        "traces".into(),
        vec![(id("batch"), batch_proc)],
        vec![input],
    );
    let consumer = Consumer::new(id("otlp"), Signal::Traces, vec![pin]).with_acks(true);
    // The first export fails for good: the sender hears about it.
    let err = consumer.consume(traces(&["a"])).await.unwrap_err();
    assert!(
        matches!(err, ConsumeError::NotDelivered(ref m) if m.contains("bad request")),
        "{err:?}"
    );
    // Two requests batched together share the second export's failure.
    let (r1, r2) = tokio::join!(
        consumer.consume(traces(&["b"])),
        consumer.consume(traces(&["c"]))
    );
    assert!(r1.is_err() && r2.is_err());
    assert_eq!(
        calls.lock().unwrap().len(),
        2,
        "b and c went out as one batch"
    );
    // Then exports succeed, and only then is the sender answered.
    let start = Instant::now();
    consumer.consume(traces(&["d"])).await.unwrap();
    assert!(
        start.elapsed() >= Duration::from_millis(45),
        "held by the batch timeout first"
    );
    assert_eq!(*got.lock().unwrap(), vec!["d"]);
    drop(consumer);
    hp.await.unwrap();
    he.await.unwrap();
}

/// An exporter with given queue settings that records each export's span names and can be
/// held shut.
struct Configured {
    settings: QueueSettings,
    exports: Arc<Mutex<Vec<Vec<String>>>>,
    open: Arc<tokio::sync::Semaphore>,
}

#[async_trait]
impl Exporter for Configured {
    async fn export(&self, data: &Data) -> Result<(), ExportError> {
        let _p = self.open.acquire().await.unwrap();
        self.exports.lock().unwrap().push(span_names(data));
        Ok(())
    }

    fn queue_settings(&self) -> QueueSettings {
        self.settings.clone()
    }
}

#[tokio::test]
async fn the_items_sizer_bounds_the_queue_by_items() {
    let open = Arc::new(tokio::sync::Semaphore::new(0));
    let exports = Arc::new(Mutex::new(Vec::new()));
    let exp = Configured {
        settings: QueueSettings {
            concurrency: 1,
            capacity: 10,
            sizer: crate::component::Sizer::Items,
            ..QueueSettings::default()
        },
        exports: exports.clone(),
        open: open.clone(),
    };
    let (input, handle) = spawn_exporter(id("e"), Box::new(exp), None).unwrap();
    // 4 + 4 items fit in 10; the third batch of 4 waits until the first export is done.
    input.send(traces(&["a1", "a2", "a3", "a4"])).await;
    input.send(traces(&["b1", "b2", "b3", "b4"])).await;
    let third = tokio::time::timeout(
        Duration::from_millis(200),
        input.send(traces(&["c1", "c2", "c3", "c4"])),
    )
    .await;
    assert!(third.is_err(), "the queue is full at 8 of 10 items");
    open.add_permits(1);
    tokio::time::timeout(
        Duration::from_secs(2),
        input.send(traces(&["c1", "c2", "c3", "c4"])),
    )
    .await
    .expect("room after one export");
    open.add_permits(100);
    drop(input);
    handle.await.unwrap();
    assert_eq!(exports.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn exporter_side_batching_merges_and_flushes() {
    let open = Arc::new(tokio::sync::Semaphore::new(100));
    let exports = Arc::new(Mutex::new(Vec::new()));
    let exp = Configured {
        settings: QueueSettings {
            concurrency: 1,
            capacity: 100,
            batch: Some(crate::component::ExporterBatch {
                flush_timeout: Duration::from_millis(100),
                min_size: 5,
                max_size: 4,
            }),
            ..QueueSettings::default()
        },
        exports: exports.clone(),
        open,
    };
    let (input, handle) = spawn_exporter(id("e"), Box::new(exp), None).unwrap();
    input.send(traces(&["a", "b"])).await;
    input.send(traces(&["c", "d"])).await;
    input.send(traces(&["e", "f"])).await;
    // 6 items reached min_size 5: sent as max_size pieces (4), 2 stay for the timeout.
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert_eq!(*exports.lock().unwrap(), vec![vec!["a", "b", "c", "d"]]);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(
        exports.lock().unwrap().len(),
        2,
        "the rest flushed on timeout"
    );
    input.send(traces(&["g"])).await;
    drop(input);
    handle.await.unwrap();
    assert_eq!(
        *exports.lock().unwrap(),
        vec![vec!["a", "b", "c", "d"], vec!["e", "f"], vec!["g"]],
        "held data is flushed at shutdown"
    );
}

/// Records in which form each export arrived.
#[derive(Clone, Default)]
struct Forms(Shared<&'static str>);

#[async_trait]
impl Exporter for Forms {
    async fn export(&self, _: &Data) -> Result<(), ExportError> {
        self.0.lock().unwrap().push("decoded");
        Ok(())
    }

    async fn export_encoded(&self, _: &crate::signal::Encoded) -> Result<(), ExportError> {
        self.0.lock().unwrap().push("encoded");
        Ok(())
    }
}

#[tokio::test]
async fn received_bytes_reach_exporters_as_they_are_unless_a_processor_reads_them() {
    let (a, b) = (Forms::default(), Forms::default());
    let (ia, ha) = spawn_exporter(id("a"), Box::new(a.clone()), None).unwrap();
    let (ib, hb) = spawn_exporter(id("b"), Box::new(b.clone()), None).unwrap();
    let (p1, h1) = spawn_pipeline("traces/1".into(), vec![], vec![ia]);
    let (p2, h2) = spawn_pipeline(
        "traces/2".into(),
        vec![(id("s"), Box::new(Suffix("-p2")) as Box<dyn Processor>)],
        vec![ib],
    );
    let consumer = Consumer::new(id("otlp"), Signal::Traces, vec![p1, p2]);
    let data = traces(&["s"]).into_data();
    let encoded = crate::signal::Encoded::from_data(&data);
    consumer.consume(Batch::encoded(encoded)).await.unwrap();
    drop(consumer);
    for h in [h1, h2, ha, hb] {
        h.await.unwrap();
    }
    assert_eq!(*a.0.lock().unwrap(), ["encoded"]);
    assert_eq!(*b.0.lock().unwrap(), ["decoded"]);
}

#[tokio::test]
async fn a_consumer_told_to_decode_queues_decoded_data() {
    // Pipelines with a processor that reads data get decoded batches from the receiver, so
    // the memory_limiter admits them at their decoded size.
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let consumer = Consumer::new(id("otlp"), Signal::Traces, vec![tx]).with_decode(true);
    let data = traces(&["a", "b"]).into_data();
    let encoded = crate::signal::Encoded::from_data(&data);
    consumer.consume(Batch::encoded(encoded)).await.unwrap();
    let got = rx.recv().await.unwrap();
    assert!(matches!(got.payload, crate::signal::Payload::Decoded(_)));
    assert_eq!(got.to_data(), data);
}
