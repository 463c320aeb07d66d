//! Tests of the plumbing: fan-out, processor order, back-pressure and draining.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use tokio::sync::Notify;

use super::*;
use crate::component::{ComponentId, ExportError, Exporter, Processor};
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
    async fn export(&self, data: Data) -> Result<(), ExportError> {
        if let Some(g) = &self.gate {
            g.notified().await;
        }
        self.got.lock().unwrap().extend(span_names(&data));
        Ok(())
    }
}

/// Appends a suffix to every span name, to prove processor order.
struct Suffix(&'static str);

impl Processor for Suffix {
    fn process(&mut self, mut batch: Batch, out: &mut Vec<Batch>) {
        if let Data::Traces(r) = &mut batch.data {
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
    let (ia, ha) = spawn_exporter(id("a"), Box::new(a.clone()), 2);
    let (ib, hb) = spawn_exporter(id("b"), Box::new(b.clone()), 2);
    let (input, hp) = spawn_pipeline(
        "traces".into(),
        vec![Box::new(Suffix("-1")), Box::new(Suffix("-2"))],
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
    let (ia, ha) = spawn_exporter(id("a"), Box::new(a.clone()), 1);
    let (ib, hb) = spawn_exporter(id("b"), Box::new(b.clone()), 1);
    let (p1, h1) = spawn_pipeline("traces/1".into(), vec![Box::new(Suffix("-p1"))], vec![ia]);
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
    let (ie, he) = spawn_exporter(id("slow"), Box::new(rec.clone()), 1);
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
    let (ie, he) = spawn_exporter(id("e"), Box::new(rec.clone()), 1);
    let (input, hp) = spawn_pipeline(
        "traces".into(),
        vec![
            Box::new(Hold {
                held: vec![],
                deadline: None,
            }),
            Box::new(Suffix("!")),
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
