//! Realistic OTLP payloads, shared by `sluice-loadgen` and the criterion benchmarks.
//!
//! The shapes follow what instrumented services send: a resource with about ten attributes
//! (including `service.name`), spans with about ten attributes, one event and a parent,
//! metrics mixing sums, gauges and histograms, and logs with a body and attributes.

use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, AggregationTemporality, Gauge, Histogram, HistogramDataPoint,
    Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, ResourceSpans, ScopeSpans, Span, Status};

use crate::signal::{Batch, Data, Signal};

/// Makes trace and span IDs that are unique within one run: a random per-run prefix, the
/// worker number and a per-worker sequence number.
#[derive(Debug, Clone)]
pub struct IdGen {
    run: u32,
    worker: u32,
    seq: u64,
}

impl IdGen {
    /// A generator for one worker; `run` should be random per process so runs differ.
    pub fn new(run: u32, worker: u32) -> Self {
        IdGen {
            run,
            worker,
            seq: 0,
        }
    }

    /// The next trace ID: never zero, never repeated by this generator.
    pub fn next_trace_id(&mut self) -> [u8; 16] {
        self.seq += 1;
        let mut id = [0u8; 16];
        id[..4].copy_from_slice(&self.run.to_be_bytes());
        id[4..8].copy_from_slice(&self.worker.to_be_bytes());
        id[8..].copy_from_slice(&self.seq.to_be_bytes());
        id
    }

    /// A span ID derived from the current sequence number and a salt (non-zero).
    pub fn span_id(&self, salt: u64) -> [u8; 8] {
        let x = self
            .seq
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(salt.wrapping_mul(0xBF58_476D_1CE4_E5B9))
            ^ u64::from(self.worker);
        (x | 1).to_be_bytes()
    }
}

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn s(v: &str) -> any_value::Value {
    any_value::Value::StringValue(v.to_string())
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// A resource with ten attributes, `service.name` among them.
pub fn resource(service_name: &str) -> Resource {
    Resource {
        attributes: vec![
            kv("service.name", s(service_name)),
            kv("service.namespace", s("shop")),
            kv("service.version", s("1.24.3")),
            kv(
                "service.instance.id",
                s("7f3c2a9e-0d41-4b8e-9a55-2c1e4f6b8d90"),
            ),
            kv("deployment.environment.name", s("production")),
            kv("host.name", s("ip-10-0-12-34.eu-west-1.compute.internal")),
            kv("host.arch", s("amd64")),
            kv("k8s.namespace.name", s("checkout")),
            kv("k8s.pod.name", s("checkout-6d9f7c8b5-x2p4q")),
            kv("telemetry.sdk.language", s("rust")),
        ],
        dropped_attributes_count: 0,
        entity_refs: Vec::new(),
    }
}

fn scope() -> InstrumentationScope {
    InstrumentationScope {
        name: "sluice-loadgen".to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        attributes: Vec::new(),
        dropped_attributes_count: 0,
    }
}

/// One server span with ten attributes, one event and a parent span ID.
pub fn span(ids: &mut IdGen, i: usize, start_nanos: u64) -> Span {
    let trace_id = ids.next_trace_id();
    let start = start_nanos + (i as u64) * 1_000;
    Span {
        trace_id: trace_id.to_vec(),
        span_id: ids.span_id(1).to_vec(),
        parent_span_id: ids.span_id(2).to_vec(),
        trace_state: String::new(),
        flags: 1,
        name: "POST /api/v1/orders".to_string(),
        kind: span::SpanKind::Server as i32,
        start_time_unix_nano: start,
        end_time_unix_nano: start + 12_345_678,
        attributes: vec![
            kv("http.request.method", s("POST")),
            kv("http.route", s("/api/v1/orders")),
            kv("url.path", s("/api/v1/orders")),
            kv("url.scheme", s("https")),
            kv("http.response.status_code", any_value::Value::IntValue(201)),
            kv("server.address", s("checkout.shop.svc.cluster.local")),
            kv("server.port", any_value::Value::IntValue(8443)),
            kv("client.address", s("10.0.7.21")),
            kv(
                "user_agent.original",
                s("Mozilla/5.0 (X11; Linux x86_64) shop-web/3.1"),
            ),
            kv(
                "order.items",
                any_value::Value::IntValue((i % 7) as i64 + 1),
            ),
        ],
        dropped_attributes_count: 0,
        events: vec![span::Event {
            time_unix_nano: start + 5_000_000,
            name: "order.validated".to_string(),
            attributes: vec![kv("order.total", any_value::Value::DoubleValue(99.5))],
            dropped_attributes_count: 0,
        }],
        dropped_events_count: 0,
        links: Vec::new(),
        dropped_links_count: 0,
        status: Some(Status {
            message: String::new(),
            code: 1,
        }),
    }
}

/// A traces request with `spans` spans of one service, each with a fresh trace ID.
pub fn traces(spans: usize, ids: &mut IdGen) -> ExportTraceServiceRequest {
    let start = now_nanos();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(resource("checkout")),
            scope_spans: vec![ScopeSpans {
                scope: Some(scope()),
                spans: (0..spans).map(|i| span(ids, i, start)).collect(),
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

fn point_attrs(i: usize) -> Vec<KeyValue> {
    vec![
        kv("http.request.method", s("POST")),
        kv("http.route", s("/api/v1/orders")),
        kv(
            "http.response.status_code",
            any_value::Value::IntValue(200 + (i % 3) as i64),
        ),
    ]
}

/// Metric `i` of a request: sums, gauges and histograms in turn, one data point each.
pub fn metric(i: usize, now: u64) -> Metric {
    let start = now.saturating_sub(60_000_000_000);
    let number = |v: number_data_point::Value| NumberDataPoint {
        attributes: point_attrs(i),
        start_time_unix_nano: start,
        time_unix_nano: now,
        exemplars: Vec::new(),
        flags: 0,
        value: Some(v),
    };
    let (name, unit, data) = match i % 3 {
        0 => (
            "http.server.request.count",
            "{request}",
            metric::Data::Sum(Sum {
                data_points: vec![number(number_data_point::Value::AsInt(1000 + i as i64))],
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
                is_monotonic: true,
            }),
        ),
        1 => (
            "process.memory.usage",
            "By",
            metric::Data::Gauge(Gauge {
                data_points: vec![number(number_data_point::Value::AsDouble(
                    52_428_800.0 + i as f64,
                ))],
            }),
        ),
        _ => {
            let bounds = vec![
                0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
            ];
            let counts: Vec<u64> = (0..=bounds.len() as u64)
                .map(|b| (b * 7 + 3) % 50)
                .collect();
            let count = counts.iter().sum();
            (
                "http.server.request.duration",
                "s",
                metric::Data::Histogram(Histogram {
                    data_points: vec![HistogramDataPoint {
                        attributes: point_attrs(i),
                        start_time_unix_nano: start,
                        time_unix_nano: now,
                        count,
                        sum: Some(count as f64 * 0.087),
                        bucket_counts: counts,
                        explicit_bounds: bounds,
                        exemplars: Vec::new(),
                        flags: 0,
                        min: Some(0.001),
                        max: Some(8.2),
                    }],
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                }),
            )
        }
    };
    Metric {
        name: name.to_string(),
        description: String::new(),
        unit: unit.to_string(),
        metadata: Vec::new(),
        data: Some(data),
    }
}

/// A metrics request with `points` data points (one per metric; sums, gauges, histograms).
pub fn metrics(points: usize) -> ExportMetricsServiceRequest {
    let now = now_nanos();
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(resource("checkout")),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(scope()),
                metrics: (0..points).map(|i| metric(i, now)).collect(),
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

/// One log record with a body, a severity, five attributes and trace context.
pub fn log_record(ids: &mut IdGen, i: usize, now: u64) -> LogRecord {
    let trace_id = ids.next_trace_id();
    LogRecord {
        time_unix_nano: now + i as u64,
        observed_time_unix_nano: now + i as u64 + 1_000,
        severity_number: 9,
        severity_text: "INFO".to_string(),
        body: Some(AnyValue {
            value: Some(s(
                "order accepted: 3 items, total 99.50 EUR, payment authorised by provider",
            )),
        }),
        attributes: vec![
            kv("code.function.name", s("checkout::orders::create")),
            kv("code.file.path", s("src/orders.rs")),
            kv("code.line.number", any_value::Value::IntValue(214)),
            kv("thread.name", s("tokio-runtime-worker")),
            kv("order.id", any_value::Value::IntValue(i as i64)),
        ],
        dropped_attributes_count: 0,
        flags: 1,
        trace_id: trace_id.to_vec(),
        span_id: ids.span_id(3).to_vec(),
        event_name: String::new(),
    }
}

/// A logs request with `records` log records.
pub fn logs(records: usize, ids: &mut IdGen) -> ExportLogsServiceRequest {
    let now = now_nanos();
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(resource("checkout")),
            scope_logs: vec![ScopeLogs {
                scope: Some(scope()),
                log_records: (0..records).map(|i| log_record(ids, i, now)).collect(),
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

/// A request of `signal` with `items` items (spans, data points or log records).
pub fn request(signal: Signal, items: usize, ids: &mut IdGen) -> Data {
    match signal {
        Signal::Traces => Data::Traces(traces(items, ids)),
        Signal::Metrics => Data::Metrics(metrics(items)),
        Signal::Logs => Data::Logs(logs(items, ids)),
    }
}

/// A pipeline [`Batch`] of `signal` with `items` items and fixed IDs: the input of the
/// criterion benchmarks (`benches/`), so every benchmark measures the same payload shape.
pub fn batch(signal: Signal, items: usize) -> Batch {
    Batch::new(request(signal, items, &mut IdGen::new(0x5151_0001, 0)))
}

/// The protobuf encoding of [`batch`]`(signal, items)`'s request, as a receiver gets it.
pub fn encoded(signal: Signal, items: usize) -> Vec<u8> {
    crate::signal::encode(&request(signal, items, &mut IdGen::new(0x5151_0001, 0))).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_have_the_asked_item_count_and_unique_trace_ids() {
        let mut ids = IdGen::new(7, 1);
        for signal in Signal::ALL {
            assert_eq!(request(signal, 10, &mut ids).item_count(), 10, "{signal}");
        }
        let t = traces(100, &mut ids);
        let mut seen: Vec<_> = t.resource_spans[0].scope_spans[0]
            .spans
            .iter()
            .map(|s| s.trace_id.clone())
            .collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 100);
        let res = t.resource_spans[0].resource.as_ref().unwrap();
        assert_eq!(res.attributes.len(), 10);
        assert_eq!(res.attributes[0].key, "service.name");
    }
}
