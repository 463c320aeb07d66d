//! The `probabilistic_sampler` processor: keeps a configured percentage of spans (by trace) or
//! log records, with the collector's three modes:
//!
//! - `hash_seed` (the default): FNV-1a 32 of the seed and the trace ID (or a log attribute),
//!   14-bit buckets; decisions are bit-identical to the collector's for the same trace ID,
//!   seed and percentage. Kept items get `rv` and `th` in their tracestate (log records get
//!   `sampling.randomness`/`sampling.threshold` attributes).
//! - `proportional`: multiplies the probability an item arrives with (`th` of its
//!   tracestate) by the configured one, using the 56 random bits of the trace ID (or `rv`).
//! - `equalizing`: raises every item's threshold to the configured one.
//!
//! Consistent modes write the resulting threshold into the W3C tracestate as `ot=th:…`.

pub mod config;
pub mod sampling;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use opentelemetry_proto::tonic::common::v1::{any_value::Value as V, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::trace::v1::Span;
use serde_json::Value;

use crate::component::{ComponentConfigError, ComponentId, Processor};
use crate::config::decode::{decode, did_you_mean};
use crate::processors::resource::attraction::{self, as_string};
use crate::registry::{Factory, ProcessorCreate};
use crate::signal::{Batch, Data, Signal};
use crate::telemetry::metrics;

pub use config::SamplerConfig;
use sampling::{
    probability_to_threshold_with_precision, ProbabilityError, Randomness, SamplingError,
    Threshold, W3cTraceState, MIN_SAMPLING_PROBABILITY,
};

/// The `probabilistic_sampler` processor's factory.
pub const FACTORY: Factory<ProcessorCreate> = Factory {
    type_name: "probabilistic_sampler",
    deprecated_names: &[],
    signals: &[Signal::Traces, Signal::Logs],
    stability: "beta",
    create,
};

const NUM_HASH_BUCKETS: u32 = 0x4000;
const BIT_MASK_HASH_BUCKETS: u32 = NUM_HASH_BUCKETS - 1;
const NUM_HASH_BUCKETS_LG2: u32 = 14;
/// 16384 / 100 rounded to a 32-bit float, as Go rounds the untyped constant.
const PERCENTAGE_SCALE_FACTOR: f32 = 163.84;

/// The sampling mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// FNV hash of seed and trace ID (the collector's original behaviour).
    HashSeed,
    /// Multiply the arriving probability.
    Proportional,
    /// Raise thresholds to the configured one.
    Equalizing,
}

/// What a sampler decides with.
#[derive(Debug, Clone)]
enum Sampler {
    /// Keeps nothing (percentage 0, or rounded to 0 in hash_seed mode).
    Never,
    Hashing {
        threshold: Threshold,
        seed: u32,
        logs_trace_id: bool,
        logs_attribute: String,
    },
    Equalizing {
        threshold: Threshold,
    },
    Proportional {
        ratio: f64,
        precision: u8,
    },
}

impl Sampler {
    fn decide(&self, carrier_threshold: Option<Threshold>) -> Threshold {
        match self {
            Sampler::Never => Threshold::NEVER,
            Sampler::Hashing { threshold, .. } => *threshold,
            Sampler::Equalizing { threshold } => match carrier_threshold {
                Some(tv) if *threshold < tv => tv,
                _ => *threshold,
            },
            Sampler::Proportional { ratio, precision } => {
                let incoming = carrier_threshold.map_or(1.0, |t| t.probability());
                match probability_to_threshold_with_precision(incoming * ratio, *precision) {
                    Err(ProbabilityError::Range) => Threshold::NEVER,
                    Ok(t) => t,
                }
            }
        }
    }
}

/// Where an item's randomness came from; named as the collector's `policy` metric attribute.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Policy {
    Missing,
    TraceIdHash,
    TraceIdW3c,
    SamplingRandomness,
    SamplingPriority,
    Attribute(String),
}

impl Policy {
    fn name(&self) -> &str {
        match self {
            Policy::Missing => "missing_randomness",
            Policy::TraceIdHash => "trace_id_hash",
            Policy::TraceIdW3c => "trace_id_w3c",
            Policy::SamplingRandomness => "sampling_randomness",
            Policy::SamplingPriority => "sampling_priority",
            Policy::Attribute(a) => a,
        }
    }
}

#[derive(Debug, Clone)]
struct Rnd {
    value: Randomness,
    policy: Policy,
}

impl Rnd {
    fn missing() -> Rnd {
        Rnd {
            value: Randomness::ALL_PROBABILITIES,
            policy: Policy::Missing,
        }
    }
}

/// FNV-1a 32 over the seed's 4 little-endian bytes, then `bytes`.
pub fn fnv1a32(bytes: &[u8], seed: u32) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in seed.to_le_bytes().iter().chain(bytes) {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// The collector's hash_seed randomness: the 14-bit bucket of the FNV hash, arranged so that
/// `threshold <= randomness` is the original `bucket < scaled percentage` test.
fn randomness_from_bytes(b: &[u8], seed: u32) -> Randomness {
    let hashed32 = fnv1a32(b, seed);
    let hashed = u64::from(hashed32 & BIT_MASK_HASH_BUCKETS);
    let rprime14 = u64::from(NUM_HASH_BUCKETS) - 1 - hashed;
    let unused18 = u64::from(hashed32 >> (32 - NUM_HASH_BUCKETS_LG2));
    let mixed28 = unused18 ^ (unused18 << 10);
    let rnd56 = (rprime14 << 42) | (mixed28 << 14) | hashed;
    Randomness::from_unsigned(rnd56).unwrap_or(Randomness::ALL_PROBABILITIES)
}

/// The reject threshold of a percentage in hash_seed mode, or `None` when it rounds to zero
/// buckets (nothing is kept). Computed in 32-bit float, truncated, as the collector does.
pub fn hash_seed_threshold(pct: f32) -> Option<Threshold> {
    let pct = if pct > 100.0 { 100.0 } else { pct };
    let scaled = (pct * PERCENTAGE_SCALE_FACTOR) as u32;
    if scaled == 0 {
        return None;
    }
    Threshold::from_unsigned(u64::from(NUM_HASH_BUCKETS - scaled.min(NUM_HASH_BUCKETS)) << 42)
}

/// True when hash_seed mode keeps an item with this trace ID, as the collector decides with
/// `fail_closed: true` (an all-zero trace ID has no randomness and is dropped).
pub fn hash_seed_keeps(trace_id: &[u8; 16], seed: u32, pct: f32) -> bool {
    if pct == 0.0 || pct.is_nan() || pct < 0.0 {
        return false;
    }
    let Some(th) = hash_seed_threshold(pct) else {
        return false;
    };
    if trace_id.iter().all(|b| *b == 0) {
        return false;
    }
    th.should_sample(randomness_from_bytes(trace_id, seed))
}

fn trace_id16(id: &[u8]) -> Option<[u8; 16]> {
    let a: [u8; 16] = id.try_into().ok()?;
    (a != [0u8; 16]).then_some(a)
}

impl SamplerConfig {
    /// Validates the config as the collector does and resolves the mode for `signal`.
    pub fn validate(&self) -> Result<(), ComponentConfigError> {
        let pct = self.sampling_percentage;
        if !pct.is_finite() {
            return Err(ComponentConfigError::at(
                &["sampling_percentage"],
                format!("sampling rate is invalid: {pct}%"),
            ));
        }
        let ratio = f64::from(pct) / 100.0;
        if ratio < 0.0 {
            return Err(ComponentConfigError::at(
                &["sampling_percentage"],
                format!("sampling rate is negative: {pct}%"),
            ));
        }
        if ratio != 0.0 && ratio < MIN_SAMPLING_PROBABILITY {
            return Err(ComponentConfigError::at(
                &["sampling_percentage"],
                format!("sampling rate is too small: {pct}%"),
            ));
        }
        if !matches!(self.attribute_source.as_str(), "" | "traceID" | "record") {
            let mut e = ComponentConfigError::at(
                &["attribute_source"],
                format!(
                    "invalid attribute source: {:?}; expected traceID or record",
                    self.attribute_source
                ),
            );
            e.hint = did_you_mean(&self.attribute_source, ["traceID", "record"]);
            return Err(e);
        }
        if self.sampling_precision == 0 {
            return Err(ComponentConfigError::at(
                &["sampling_precision"],
                "invalid sampling precision: 0 (use 1 to 14)",
            ));
        }
        if self.sampling_precision < 0 || self.sampling_precision > 14 {
            return Err(ComponentConfigError::at(
                &["sampling_precision"],
                format!(
                    "sampling precision must be from 1 to 14 hex digits, got {}",
                    self.sampling_precision
                ),
            ));
        }
        self.mode()?;
        Ok(())
    }

    /// The configured mode; `None` when unset.
    fn mode(&self) -> Result<Option<Mode>, ComponentConfigError> {
        match self.mode.as_str() {
            "" => Ok(None),
            "hash_seed" => Ok(Some(Mode::HashSeed)),
            "proportional" => Ok(Some(Mode::Proportional)),
            "equalizing" => Ok(Some(Mode::Equalizing)),
            other => {
                let mut e = ComponentConfigError::at(
                    &["mode"],
                    format!(
                        "unsupported sampler mode {other:?} (hash_seed, proportional or equalizing)"
                    ),
                );
                e.hint = did_you_mean(other, ["hash_seed", "proportional", "equalizing"]);
                Err(e)
            }
        }
    }

    /// Validates and builds the running processor for one signal (traces or logs).
    pub fn build(
        &self,
        id: &ComponentId,
        signal: Signal,
    ) -> Result<ProbabilisticSampler, ComponentConfigError> {
        self.validate()?;
        let is_logs = signal == Signal::Logs;
        // Unset mode: hash_seed, as upstream's default (also chosen explicitly there when a
        // seed is set or logs do not hash the trace ID).
        let mode = self.mode()?.unwrap_or(Mode::HashSeed);
        let precision = self.sampling_precision as u8;
        let pct = self.sampling_percentage.min(100.0);
        let sampler = if pct == 0.0 {
            Sampler::Never
        } else {
            let ratio = (f64::from(pct) / 100.0).max(MIN_SAMPLING_PROBABILITY);
            match mode {
                Mode::Equalizing => Sampler::Equalizing {
                    threshold: probability_to_threshold_with_precision(ratio, precision)
                        .unwrap_or(Threshold::ALWAYS),
                },
                Mode::Proportional => Sampler::Proportional { ratio, precision },
                Mode::HashSeed => match hash_seed_threshold(pct) {
                    None => {
                        tracing::warn!(processor = %id, percent = pct, "probability rounded to zero");
                        Sampler::Never
                    }
                    Some(threshold) => Sampler::Hashing {
                        threshold,
                        seed: self.hash_seed,
                        logs_trace_id: self.attribute_source == "traceID",
                        logs_attribute: self.from_attribute.clone(),
                    },
                },
            }
        };
        Ok(ProbabilisticSampler {
            id: id.clone(),
            signal,
            sampler,
            fail_closed: self.fail_closed,
            precision,
            logs_priority_attribute: if is_logs {
                self.sampling_priority.clone()
            } else {
                String::new()
            },
        })
    }
}

fn create(
    id: &ComponentId,
    signal: Signal,
    raw: &Value,
) -> Result<Box<dyn Processor>, ComponentConfigError> {
    let cfg: SamplerConfig = decode(raw)?;
    Ok(Box::new(cfg.build(id, signal)?))
}

/// A running probabilistic sampler for one pipeline.
#[derive(Debug, Clone)]
pub struct ProbabilisticSampler {
    id: ComponentId,
    signal: Signal,
    sampler: Sampler,
    fail_closed: bool,
    precision: u8,
    logs_priority_attribute: String,
}

/// Sampling information an item carries (tracestate of a span, attributes of a log record).
trait Carrier {
    fn threshold(&self) -> Option<Threshold>;
    fn clear_threshold(&mut self);
    fn update_threshold(&mut self, th: Threshold) -> Result<(), SamplingError>;
}

struct SpanCarrier {
    ts: W3cTraceState,
}

impl Carrier for SpanCarrier {
    fn threshold(&self) -> Option<Threshold> {
        self.ts.otel().threshold()
    }
    fn clear_threshold(&mut self) {
        self.ts.otel_mut().clear_threshold();
    }
    fn update_threshold(&mut self, th: Threshold) -> Result<(), SamplingError> {
        self.ts.otel_mut().update_threshold(th)
    }
}

struct LogCarrier<'a> {
    attrs: &'a mut Vec<KeyValue>,
    threshold: Option<Threshold>,
    randomness: Option<Randomness>,
}

const LOG_THRESHOLD_ATTR: &str = "sampling.threshold";
const LOG_RANDOMNESS_ATTR: &str = "sampling.randomness";

impl<'a> LogCarrier<'a> {
    fn parse(attrs: &'a mut Vec<KeyValue>) -> (LogCarrier<'a>, Option<SamplingError>) {
        let str_attr = |attrs: &Vec<KeyValue>, k: &str| match attraction::get(attrs, k)
            .and_then(|v| v.value.as_ref())
        {
            Some(V::StringValue(s)) if !s.is_empty() => Some(s.clone()),
            _ => None,
        };
        let mut err = None;
        let threshold = match str_attr(attrs, LOG_THRESHOLD_ATTR) {
            Some(s) => Threshold::from_tvalue(&s).map_err(|e| err = Some(e)).ok(),
            None => None,
        };
        let randomness = match str_attr(attrs, LOG_RANDOMNESS_ATTR) {
            Some(s) => Randomness::from_rvalue(&s).map_err(|e| err = Some(e)).ok(),
            None => None,
        };
        (
            LogCarrier {
                attrs,
                threshold,
                randomness,
            },
            err,
        )
    }

    fn set_randomness(&mut self, r: Randomness) {
        self.randomness = Some(r);
        attraction::put(
            self.attrs,
            LOG_RANDOMNESS_ATTR,
            attraction::string_value(r.rvalue()),
        );
    }
}

impl Carrier for LogCarrier<'_> {
    fn threshold(&self) -> Option<Threshold> {
        self.threshold
    }
    fn clear_threshold(&mut self) {
        self.threshold = None;
        attraction::remove(self.attrs, LOG_THRESHOLD_ATTR);
    }
    fn update_threshold(&mut self, th: Threshold) -> Result<(), SamplingError> {
        if let Some(old) = self.threshold {
            if th < old {
                return Err(SamplingError(
                    "cannot raise existing sampling probability".into(),
                ));
            }
        }
        attraction::put(
            self.attrs,
            LOG_THRESHOLD_ATTR,
            attraction::string_value(th.tvalue()),
        );
        Ok(())
    }
}

/// A priority found on the item, applied after the probabilistic decision.
enum Priority {
    /// Keep the decision.
    Defer,
    /// Replace the threshold.
    Threshold(Threshold),
}

/// The common decision, as the collector's `commonShouldSampleLogic`: randomness, a
/// consistency check, fail-closed/open on errors, the mode's threshold, then the priority.
fn should_sample<C: Carrier>(
    sampler: &Sampler,
    fail_closed: bool,
    mut rnd: Rnd,
    carrier: &mut Option<C>,
    err: Option<SamplingError>,
    priority: Priority,
) -> (bool, Policy) {
    let mut err = err;
    if err.is_none() {
        if rnd.policy == Policy::Missing {
            err = Some(SamplingError("missing randomness".into()));
        } else if let Some(c) = carrier.as_mut() {
            if let Some(tv) = c.threshold() {
                if !tv.should_sample(rnd.value) {
                    c.clear_threshold();
                    err = Some(SamplingError(
                        "inconsistent arriving threshold: item should not have been sampled".into(),
                    ));
                }
            }
        }
    }
    let mut threshold = match &err {
        Some(e) => {
            tracing::debug!(error = %e, fail_closed, "probabilistic sampler");
            if fail_closed {
                Threshold::NEVER
            } else {
                Threshold::ALWAYS
            }
        }
        None => sampler.decide(carrier.as_ref().and_then(|c| c.threshold())),
    };
    if let Priority::Threshold(t) = priority {
        threshold = t;
        rnd.policy = Policy::SamplingPriority;
    }
    let sampled = threshold.should_sample(rnd.value);
    if sampled {
        if let Some(c) = carrier.as_mut() {
            if let Err(e) = c.update_threshold(threshold) {
                tracing::debug!(error = %e, "probabilistic sampler: threshold not updated");
            }
        }
    }
    (sampled, rnd.policy)
}

/// The collector's `sampling.priority` span attribute: 0 drops, a positive number keeps.
fn span_priority(span: &Span) -> Priority {
    let Some(v) = attraction::get(&span.attributes, "sampling.priority") else {
        return Priority::Defer;
    };
    let n = match &v.value {
        Some(V::IntValue(i)) => *i as f64,
        Some(V::DoubleValue(d)) => *d,
        Some(V::StringValue(s)) => match s.parse::<f64>() {
            Ok(f) if !s.contains('_') => f,
            _ => return Priority::Defer,
        },
        _ => return Priority::Defer,
    };
    if n == 0.0 {
        Priority::Threshold(Threshold::NEVER)
    } else if n > 0.0 {
        Priority::Threshold(Threshold::ALWAYS)
    } else {
        Priority::Defer
    }
}

impl ProbabilisticSampler {
    fn span_randomness(&self, span: &Span) -> (Rnd, Option<SpanCarrier>, Option<SamplingError>) {
        let (ts, err) = W3cTraceState::parse(&span.trace_state);
        let tid = trace_id16(&span.trace_id);
        match &self.sampler {
            Sampler::Never => (
                Rnd {
                    value: Randomness::ALL_PROBABILITIES,
                    policy: Policy::SamplingPriority,
                },
                Some(SpanCarrier { ts }),
                err,
            ),
            Sampler::Hashing { seed, .. } => {
                let rnd = match tid {
                    Some(t) => Rnd {
                        value: randomness_from_bytes(&t, *seed),
                        policy: Policy::TraceIdHash,
                    },
                    None => Rnd::missing(),
                };
                if err.is_some() {
                    return (rnd, None, err);
                }
                let mut ts = ts;
                if ts.otel().rvalue().is_some() {
                    return (rnd, None, Some(SamplingError(
                        "item has sampling randomness, equalizing or proportional mode recommended".into(),
                    )));
                }
                if ts.otel().threshold().is_some() {
                    return (rnd, None, Some(SamplingError(
                        "item has sampling threshold, equalizing or proportional mode recommended".into(),
                    )));
                }
                ts.otel_mut().set_rvalue(rnd.value);
                (rnd, Some(SpanCarrier { ts }), None)
            }
            Sampler::Equalizing { .. } | Sampler::Proportional { .. } => {
                if err.is_some() {
                    return (Rnd::missing(), None, err);
                }
                let rnd = if let Some(rv) = ts.otel().rvalue() {
                    Rnd {
                        value: rv,
                        policy: Policy::SamplingRandomness,
                    }
                } else if let Some(t) = tid {
                    Rnd {
                        value: Randomness::from_trace_id(&t),
                        policy: Policy::TraceIdW3c,
                    }
                } else {
                    Rnd::missing()
                };
                (rnd, Some(SpanCarrier { ts }), None)
            }
        }
    }

    /// Decides one span; a kept span's tracestate is rewritten with its sampling information.
    fn keep_span(&self, span: &mut Span, counts: &mut HashMap<(Policy, bool), u64>) -> bool {
        let priority = span_priority(span);
        let (rnd, mut carrier, err) = self.span_randomness(span);
        let (sampled, policy) = should_sample(
            &self.sampler,
            self.fail_closed,
            rnd,
            &mut carrier,
            err,
            priority,
        );
        if sampled {
            if let Some(c) = carrier {
                span.trace_state = c.ts.serialize();
            }
        }
        *counts.entry((policy, sampled)).or_default() += 1;
        sampled
    }

    fn log_priority(&self, rec: &LogRecord) -> Priority {
        if self.logs_priority_attribute.is_empty() {
            return Priority::Defer;
        }
        let Some(v) = attraction::get(&rec.attributes, &self.logs_priority_attribute) else {
            return Priority::Defer;
        };
        let min_prob = match &v.value {
            Some(V::DoubleValue(d)) => d / 100.0,
            Some(V::IntValue(i)) => *i as f64 / 100.0,
            _ => 0.0,
        };
        if min_prob != 0.0 {
            if let Ok(th) = probability_to_threshold_with_precision(min_prob, self.precision) {
                return Priority::Threshold(th);
            }
        }
        Priority::Defer
    }

    /// Decides one log record; a kept record gets `sampling.threshold` (and, in hash_seed
    /// mode, `sampling.randomness`) attributes.
    fn keep_log(&self, rec: &mut LogRecord, counts: &mut HashMap<(Policy, bool), u64>) -> bool {
        let priority = self.log_priority(rec);
        let tid = trace_id16(&rec.trace_id);
        let (mut carrier, parse_err) = LogCarrier::parse(&mut rec.attributes);
        let (rnd, mut carrier, err) = match &self.sampler {
            Sampler::Never => (
                Rnd {
                    value: Randomness::ALL_PROBABILITIES,
                    policy: Policy::SamplingPriority,
                },
                Some(carrier),
                parse_err,
            ),
            Sampler::Hashing {
                seed,
                logs_trace_id,
                logs_attribute,
                ..
            } => {
                let mut rnd = Rnd::missing();
                if *logs_trace_id {
                    if let Some(t) = tid {
                        rnd = Rnd {
                            value: randomness_from_bytes(&t, *seed),
                            policy: Policy::TraceIdHash,
                        };
                    }
                }
                if rnd.policy == Policy::Missing && !logs_attribute.is_empty() {
                    if let Some(v) = attraction::get(carrier.attrs, logs_attribute) {
                        let bytes = match &v.value {
                            Some(V::BytesValue(b)) => b.clone(),
                            _ => as_string(v).into_bytes(),
                        };
                        if !bytes.is_empty() {
                            rnd = Rnd {
                                value: randomness_from_bytes(&bytes, *seed),
                                policy: Policy::Attribute(logs_attribute.clone()),
                            };
                        }
                    }
                }
                if parse_err.is_some() {
                    (rnd, None, parse_err)
                } else if carrier.randomness.is_some() {
                    let e = SamplingError(
                        "item has sampling randomness, equalizing or proportional mode recommended"
                            .into(),
                    );
                    (rnd, None, Some(e))
                } else if carrier.threshold.is_some() {
                    let e = SamplingError(
                        "item has sampling threshold, equalizing or proportional mode recommended"
                            .into(),
                    );
                    (rnd, None, Some(e))
                } else {
                    if rnd.policy != Policy::Missing {
                        carrier.set_randomness(rnd.value);
                    }
                    (rnd, Some(carrier), None)
                }
            }
            Sampler::Equalizing { .. } | Sampler::Proportional { .. } => {
                if parse_err.is_some() {
                    (Rnd::missing(), None, parse_err)
                } else {
                    let rnd = if let Some(r) = carrier.randomness {
                        Rnd {
                            value: r,
                            policy: Policy::SamplingRandomness,
                        }
                    } else if let Some(t) = tid {
                        Rnd {
                            value: Randomness::from_trace_id(&t),
                            policy: Policy::TraceIdW3c,
                        }
                    } else {
                        Rnd::missing()
                    };
                    (rnd, Some(carrier), None)
                }
            }
        };
        let (sampled, policy) = should_sample(
            &self.sampler,
            self.fail_closed,
            rnd,
            &mut carrier,
            err,
            priority,
        );
        *counts.entry((policy, sampled)).or_default() += 1;
        sampled
    }

    /// Samples one request in place; returns false when nothing is left.
    pub fn sample_data(&self, data: &mut Data) -> bool {
        let mut counts: HashMap<(Policy, bool), u64> = HashMap::new();
        let before = data.item_count();
        let left = match data {
            Data::Traces(r) => {
                r.resource_spans.retain_mut(|rs| {
                    rs.scope_spans.retain_mut(|ss| {
                        ss.spans.retain_mut(|s| self.keep_span(s, &mut counts));
                        !ss.spans.is_empty()
                    });
                    !rs.scope_spans.is_empty()
                });
                !r.resource_spans.is_empty()
            }
            Data::Logs(r) => {
                r.resource_logs.retain_mut(|rl| {
                    rl.scope_logs.retain_mut(|sl| {
                        sl.log_records.retain_mut(|l| self.keep_log(l, &mut counts));
                        !sl.log_records.is_empty()
                    });
                    !rl.scope_logs.is_empty()
                });
                !r.resource_logs.is_empty()
            }
            // Not a supported signal (the factory refuses metrics pipelines): pass through.
            Data::Metrics(_) => return true,
        };
        for ((policy, sampled), n) in &counts {
            metrics::probabilistic_sampler_sampled(
                &self.id,
                self.signal,
                policy.name(),
                *sampled,
                *n,
            );
        }
        let dropped = before - data.item_count();
        if dropped > 0 {
            metrics::processor_dropped(&self.id, self.signal, dropped as u64, "sampled_out");
            tracing::debug!(processor = %self.id, signal = %self.signal, dropped, kept = before - dropped, "probabilistic sampler dropped items");
        }
        left
    }
}

impl Processor for ProbabilisticSampler {
    fn process(&mut self, mut batch: Batch, out: &mut Vec<Batch>) {
        if self.sample_data(batch.data_mut()) {
            out.push(batch);
        }
    }
}
