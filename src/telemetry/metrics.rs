//! Counters for Sluice's own metrics, named as the collector names them
//! (`otelcol_receiver_accepted_spans`, `otelcol_exporter_send_failed_log_records`, …).
//! They go to whatever `metrics` recorder is installed.

use crate::component::ComponentId;
use crate::pipeline::ConsumeError;
use crate::signal::Signal;

fn counter_name(prefix: &str, what: &str, signal: Signal) -> String {
    format!("otelcol_{prefix}_{what}_{}", signal.item_name())
}

/// Items a receiver accepted into its pipelines.
pub fn receiver_accepted(id: &ComponentId, signal: Signal, items: u64) {
    metrics::counter!(counter_name("receiver", "accepted", signal), "receiver" => id.to_string())
        .increment(items);
}

/// Items a receiver refused (queue full, shutting down); the sender was told to retry.
pub fn receiver_refused(id: &ComponentId, signal: Signal, items: u64, why: &ConsumeError) {
    let reason = match why {
        ConsumeError::Full => "queue_full",
        ConsumeError::Closed => "shutting_down",
        ConsumeError::Refused(_) => "memory_limit",
        ConsumeError::NotDelivered(_) => "not_delivered",
    };
    metrics::counter!(counter_name("receiver", "refused", signal),
        "receiver" => id.to_string(), "reason" => reason)
    .increment(items);
}

/// Items an exporter sent successfully.
pub fn exporter_sent(id: &ComponentId, signal: Signal, items: u64) {
    metrics::counter!(counter_name("exporter", "sent", signal), "exporter" => id.to_string())
        .increment(items);
}

/// Items an exporter failed to send and dropped.
pub fn exporter_send_failed(id: &ComponentId, signal: Signal, items: u64) {
    metrics::counter!(counter_name("exporter", "send_failed", signal), "exporter" => id.to_string())
        .increment(items);
}

/// What a receiver's `attribute_limits` dropped and cut in one request.
pub fn attribute_limits_applied(id: &ComponentId, a: crate::receivers::otlp::attr_limits::Applied) {
    if a.dropped > 0 {
        metrics::counter!("sluice_receiver_attributes_dropped", "receiver" => id.to_string())
            .increment(a.dropped);
    }
    if a.truncated > 0 {
        metrics::counter!("sluice_receiver_attribute_values_truncated", "receiver" => id.to_string())
            .increment(a.truncated);
    }
}

/// A request whose body did not arrive within the receiver's `read_timeout`.
pub fn receiver_slow_body(id: &ComponentId) {
    metrics::counter!("sluice_receiver_read_timeouts", "receiver" => id.to_string()).increment(1);
}

/// A request a receiver refused because it failed authentication.
pub fn receiver_unauthenticated(id: &ComponentId, transport: &'static str) {
    metrics::counter!("sluice_receiver_unauthenticated_requests", "receiver" => id.to_string(), "transport" => transport)
        .increment(1);
}

/// A TLS handshake a server (component ID or endpoint) refused or that timed out.
pub fn tls_handshake_failed(server: &str) {
    metrics::counter!("sluice_server_tls_handshake_failures", "server" => server.to_string())
        .increment(1);
}

/// Items that could not be queued for an exporter.
pub fn exporter_enqueue_failed(id: &ComponentId, signal: Signal, items: u64) {
    metrics::counter!(counter_name("exporter", "enqueue_failed", signal), "exporter" => id.to_string())
        .increment(items);
}

/// A batch the batch processor sent: its size (`otelcol_processor_batch_batch_send_size`)
/// and what triggered it (`…_batch_size_trigger_send`, `…_timeout_trigger_send`).
pub fn batch_sent(id: &ComponentId, items: u64, trigger: crate::processors::batch::Trigger) {
    use crate::processors::batch::Trigger;
    metrics::histogram!("otelcol_processor_batch_batch_send_size", "processor" => id.to_string())
        .record(items as f64);
    let name = match trigger {
        Trigger::Size => "otelcol_processor_batch_batch_size_trigger_send",
        Trigger::Timeout => "otelcol_processor_batch_timeout_trigger_send",
        Trigger::Shutdown => "otelcol_processor_batch_shutdown_trigger_send",
    };
    metrics::counter!(name, "processor" => id.to_string()).increment(1);
}

/// Items a processor dropped on purpose or could not keep (`reason` says which).
pub fn processor_dropped(id: &ComponentId, signal: Signal, items: u64, reason: &'static str) {
    metrics::counter!(counter_name("processor", "dropped", signal),
        "processor" => id.to_string(), "reason" => reason)
    .increment(items);
}

/// A request a receiver refused before decoding it (memory admission), with its size.
pub fn receiver_refused_request(
    id: &ComponentId,
    signal: Signal,
    bytes: u64,
    reason: &'static str,
) {
    let labels = [
        ("receiver", id.to_string()),
        ("signal", signal.as_str().to_string()),
        ("reason", reason.to_string()),
    ];
    metrics::counter!("sluice_receiver_refused_requests", &labels).increment(1);
    metrics::counter!("sluice_receiver_refused_bytes", &labels).increment(bytes);
}

/// Items the memory_limiter let through (`otelcol_processor_memory_limiter_accepted_*`).
pub fn memory_limiter_accepted(id: &ComponentId, signal: Signal, items: u64) {
    metrics::counter!(counter_name("processor_memory_limiter", "accepted", signal),
        "processor" => id.to_string())
    .increment(items);
}

/// Items the memory_limiter refused (`otelcol_processor_memory_limiter_refused_*`); the sender
/// was told to retry.
pub fn memory_limiter_refused(id: &ComponentId, signal: Signal, items: u64) {
    metrics::counter!(counter_name("processor_memory_limiter", "refused", signal),
        "processor" => id.to_string())
    .increment(items);
}

/// Items an exporter could not represent and dropped (`reason` says why).
pub fn exporter_dropped(id: &ComponentId, signal: Signal, items: u64, reason: &'static str) {
    metrics::counter!(counter_name("exporter", "dropped", signal),
        "exporter" => id.to_string(), "reason" => reason)
    .increment(items);
}

/// Records and bytes of a damaged persistent queue skipped when it was opened.
pub fn queue_corrupt_skipped(id: &ComponentId, records: u64, bytes: u64) {
    metrics::counter!("sluice_persistent_queue_corrupt_records_skipped", "exporter" => id.to_string())
        .increment(records);
    metrics::counter!("sluice_persistent_queue_corrupt_bytes_skipped", "exporter" => id.to_string())
        .increment(bytes);
}

/// Items the filter processor dropped, named as the collector names them:
/// `otelcol_processor_filter_spans.filtered`, `…_datapoints.filtered`, `…_logs.filtered`,
/// labelled with the processor ID under `filter`.
pub fn processor_filter_filtered(id: &ComponentId, signal: Signal, items: u64) {
    let name = match signal {
        Signal::Traces => "otelcol_processor_filter_spans.filtered",
        Signal::Metrics => "otelcol_processor_filter_datapoints.filtered",
        Signal::Logs => "otelcol_processor_filter_logs.filtered",
    };
    metrics::counter!(name, "filter" => id.to_string()).increment(items);
}

/// Items the probabilistic sampler decided on, as the collector's
/// `otelcol_processor_probabilistic_sampler_count_traces_sampled` (spans) and
/// `…_count_logs_sampled` (log records), labelled with the randomness `policy` and whether
/// the items were `sampled` (kept).
pub fn probabilistic_sampler_sampled(
    id: &ComponentId,
    signal: Signal,
    policy: &str,
    sampled: bool,
    items: u64,
) {
    let name = match signal {
        Signal::Logs => "otelcol_processor_probabilistic_sampler_count_logs_sampled",
        _ => "otelcol_processor_probabilistic_sampler_count_traces_sampled",
    };
    metrics::counter!(name,
        "processor" => id.to_string(),
        "policy" => policy.to_string(),
        "sampled" => if sampled { "true" } else { "false" })
    .increment(items);
}

/// Items that entered a processor (`otelcol_processor_incoming_items`).
pub fn processor_incoming(id: &ComponentId, signal: Signal, items: u64) {
    metrics::counter!("otelcol_processor_incoming_items",
        "processor" => id.to_string(), "otel_signal" => signal.as_str())
    .increment(items);
}

/// Items that left a processor (`otelcol_processor_outgoing_items`).
pub fn processor_outgoing(id: &ComponentId, signal: Signal, items: u64) {
    metrics::counter!("otelcol_processor_outgoing_items",
        "processor" => id.to_string(), "otel_signal" => signal.as_str())
    .increment(items);
}

/// Batches waiting in an exporter's queue now (`otelcol_exporter_queue_size`).
pub fn exporter_queue_size(id: &ComponentId, batches: usize) {
    metrics::gauge!("otelcol_exporter_queue_size", "exporter" => id.to_string())
        .set(batches as f64);
}

/// How many batches an exporter's queue holds (`otelcol_exporter_queue_capacity`).
pub fn exporter_queue_capacity(id: &ComponentId, batches: usize) {
    metrics::gauge!("otelcol_exporter_queue_capacity", "exporter" => id.to_string())
        .set(batches as f64);
}

/// Registers the collector's descriptions (`# HELP` lines) with the installed recorder.
pub fn describe() {
    for signal in Signal::ALL {
        let item = signal.item_name().replace('_', " ");
        let d = |prefix: &str, what: &str, text: String| {
            metrics::describe_counter!(counter_name(prefix, what, signal), text);
        };
        d(
            "receiver",
            "accepted",
            format!("Number of {item} successfully pushed into the pipeline."),
        );
        d(
            "receiver",
            "refused",
            format!("Number of {item} that could not be pushed into the pipeline."),
        );
        d(
            "exporter",
            "sent",
            format!("Number of {item} successfully sent to destination."),
        );
        d(
            "exporter",
            "send_failed",
            format!("Number of {item} in failed attempts to send to destination."),
        );
        d(
            "exporter",
            "enqueue_failed",
            format!("Number of {item} failed to be added to the sending queue."),
        );
    }
    metrics::describe_counter!(
        "otelcol_processor_incoming_items",
        "Number of items passed to the processor."
    );
    metrics::describe_counter!(
        "otelcol_processor_outgoing_items",
        "Number of items emitted from the processor."
    );
    metrics::describe_gauge!(
        "otelcol_exporter_queue_size",
        "Current size of the retry queue (in batches)."
    );
    metrics::describe_gauge!(
        "otelcol_exporter_queue_capacity",
        "Fixed capacity of the retry queue (in batches)."
    );
    metrics::describe_histogram!(
        "otelcol_processor_batch_batch_send_size",
        "Number of units in the batch"
    );
}
