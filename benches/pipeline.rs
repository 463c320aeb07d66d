//! The pipeline plumbing per batch: receiver consumer → pipeline queue → pipeline task
//! (processors) → exporter queue → exporter runner → a no-op exporter, on one thread.
//!
//! To benchmark a processor, add a function that builds it and calls [`bench_chain`] with
//! it (see `no_processors`), and list the function in `criterion_group!`. Payloads come
//! from `sluice::loadgen::payload`, the same shapes `sluice-loadgen` sends.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sluice::component::{ComponentId, ExportError, Exporter, Processor};
use sluice::loadgen::payload;
use sluice::pipeline::{spawn_exporter, spawn_pipeline, Consumer};
use sluice::signal::{Data, Signal};
use tokio::sync::Notify;

/// Counts what it is given and does nothing else.
struct NoopExporter {
    items: Arc<AtomicU64>,
    done: Arc<Notify>,
}

#[async_trait]
impl Exporter for NoopExporter {
    async fn export(&self, data: &Data) -> Result<(), ExportError> {
        self.items
            .fetch_add(data.item_count() as u64, Ordering::Relaxed);
        self.done.notify_one();
        Ok(())
    }
}

/// Benchmarks `batches` of `items` items each through a pipeline with the processors that
/// `make` builds (a fresh chain per measurement), waiting until the exporter has seen every
/// item. Processors that hold items (batching) must release them all by count.
fn bench_chain(
    c: &mut Criterion,
    name: &str,
    signal: Signal,
    items: usize,
    make: impl Fn() -> Vec<Box<dyn Processor>>,
) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let template = payload::batch(signal, items);
    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Elements(items as u64));
    g.bench_function(BenchmarkId::new(name, format!("{signal}_{items}")), |b| {
        b.iter_custom(|iters| {
            let batches: Vec<_> = (0..iters).map(|_| template.clone()).collect();
            let want = iters * items as u64;
            rt.block_on(async {
                let seen = Arc::new(AtomicU64::new(0));
                let done = Arc::new(Notify::new());
                let exporter = NoopExporter {
                    items: seen.clone(),
                    done: done.clone(),
                };
                let (exp_in, exp_task) =
                    spawn_exporter(ComponentId::new("noop", None), Box::new(exporter), None)
                        .expect("in-memory exporter runner");
                let processors = make()
                    .into_iter()
                    .enumerate()
                    .map(|(i, p)| (ComponentId::new("bench", Some(&i.to_string())), p))
                    .collect();
                let (pipe_in, pipe_task) =
                    spawn_pipeline(name.to_string(), processors, vec![exp_in]);
                let consumer =
                    Consumer::new(ComponentId::new("bench", None), signal, vec![pipe_in]);
                let start = Instant::now();
                for batch in batches {
                    // On one thread the pipeline drains while the consumer waits for
                    // queue space, so a refusal would be a bug.
                    consumer.consume(batch).await.expect("pipeline accepts");
                }
                while seen.load(Ordering::Relaxed) < want {
                    done.notified().await;
                }
                let elapsed = start.elapsed();
                drop(consumer);
                let _ = pipe_task.await;
                let _ = exp_task.await;
                elapsed
            })
        })
    });
    g.finish();
}

fn no_processors(c: &mut Criterion) {
    for signal in Signal::ALL {
        bench_chain(c, "no_processors", signal, 1000, Vec::new);
    }
}

criterion_group!(benches, no_processors);
criterion_main!(benches);
