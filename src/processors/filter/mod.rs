//! The `filter` processor: drops spans, span events, metrics, data points, log records,
//! scopes or whole resources for which any configured condition is true, as the
//! collector's filter processor does.
//!
//! Conditions are OTTL ([`crate::ottl`]) per context (`traces.span`, `metrics.datapoint`,
//! `logs.log_record`, …) or context-inferred (`trace_conditions`, …), or the legacy
//! `include` / `exclude` matchers. A resource or scope left without items is removed, a
//! metric left without data points is removed, a span whose events were all dropped stays.
//! Dropped items are counted in `otelcol_processor_filter_{spans,datapoints,logs}.filtered`.

pub mod config;
mod legacy;
#[cfg(test)]
mod tests;

use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::metric::Data as MetricData;
use opentelemetry_proto::tonic::metrics::v1::Metric;
use serde_json::Value;

use crate::component::{ComponentConfigError, ComponentId, Processor};
use crate::config::decode::decode;
use crate::ottl::{self, Condition, Context, DataPointRef, EvalError, TransformContext};
use crate::registry::{Factory, ProcessorCreate};
use crate::signal::{Batch, Data, Signal};

pub use config::{ErrorMode, FilterConfig};
use legacy::{LogMatcher, MetricLegacy, Skip, SpanMatcher};

/// The `filter` processor's factory.
pub const FACTORY: Factory<ProcessorCreate> = Factory {
    type_name: "filter",
    deprecated_names: &[],
    signals: &[Signal::Traces, Signal::Metrics, Signal::Logs],
    stability: "alpha",
    create,
};

fn create(
    id: &ComponentId,
    signal: Signal,
    raw: &Value,
) -> Result<Box<dyn Processor>, ComponentConfigError> {
    let cfg: FilterConfig = decode(raw)?;
    let plan = Plan::build(&cfg)?;
    Ok(Box::new(FilterProcessor::new(id.clone(), signal, plan)))
}

/// Conditions sharing one context and error mode; any true one matches.
#[derive(Debug, Clone)]
pub(crate) struct Group {
    conditions: Vec<Condition>,
    error_mode: ErrorMode,
}

impl Group {
    /// True when any condition is true. In `propagate` mode the first error is returned; in
    /// `ignore` / `silent` a failing condition counts as false (and `ignore` records it).
    fn matches(
        &self,
        tc: &TransformContext<'_>,
        ignored: &mut Vec<EvalError>,
    ) -> Result<bool, EvalError> {
        for c in &self.conditions {
            match c.eval(tc) {
                Ok(true) => return Ok(true),
                Ok(false) => {}
                Err(e) => match self.error_mode {
                    ErrorMode::Propagate => return Err(e),
                    ErrorMode::Ignore => ignored.push(e),
                    ErrorMode::Silent => {}
                },
            }
        }
        Ok(false)
    }
}

/// One filtering pass over a request.
#[derive(Debug, Clone)]
pub(crate) enum Stage {
    /// Drop resources.
    Resource(Group),
    /// Drop scopes.
    Scope(Group),
    /// Drop spans.
    Span(Group),
    /// Drop span events.
    SpanEvent(Group),
    /// Drop metrics.
    Metric(Group),
    /// Drop data points.
    DataPoint(Group),
    /// Drop log records.
    Log(Group),
    /// Legacy `spans.include` / `spans.exclude`.
    LegacySpans(Skip<SpanMatcher>),
    /// Legacy metric matching.
    LegacyMetrics(MetricLegacy),
    /// Legacy `logs.include` / `logs.exclude`.
    LegacyLogs(Skip<LogMatcher>),
}

/// The compiled config: stages per signal, in the order they run.
#[derive(Debug, Clone, Default)]
pub(crate) struct Plan {
    pub traces: Vec<Stage>,
    pub metrics: Vec<Stage>,
    pub logs: Vec<Stage>,
}

const TRACE_CONTEXTS: &[Context] = &[
    Context::Resource,
    Context::Scope,
    Context::Span,
    Context::SpanEvent,
];
const METRIC_CONTEXTS: &[Context] = &[
    Context::Resource,
    Context::Scope,
    Context::Metric,
    Context::DataPoint,
];
const LOG_CONTEXTS: &[Context] = &[Context::Resource, Context::Scope, Context::Log];

fn stage_for(ctx: Context, group: Group) -> Stage {
    match ctx {
        Context::Resource => Stage::Resource(group),
        Context::Scope => Stage::Scope(group),
        Context::Span => Stage::Span(group),
        Context::SpanEvent => Stage::SpanEvent(group),
        Context::Metric => Stage::Metric(group),
        Context::DataPoint => Stage::DataPoint(group),
        Context::Log => Stage::Log(group),
    }
}

/// Parses an explicit-context list (`traces.span`, …).
fn explicit(
    list: &Option<Vec<String>>,
    ctx: Context,
    mode: ErrorMode,
    path: &[&str],
) -> Result<Option<Stage>, ComponentConfigError> {
    let Some(list) = list else { return Ok(None) };
    let mut conditions = Vec::new();
    for (i, src) in list.iter().enumerate() {
        let c = Condition::parse(src, ctx).map_err(|e| {
            let idx = i.to_string();
            ComponentConfigError::at(&[path, &[idx.as_str()]].concat(), e.to_string())
        })?;
        conditions.push(c);
    }
    if conditions.is_empty() {
        return Ok(None);
    }
    Ok(Some(stage_for(
        ctx,
        Group {
            conditions,
            error_mode: mode,
        },
    )))
}

/// Parses a context-inferred list (`trace_conditions`, …): all strings (one inferred group)
/// or all `{context, conditions, error_mode}` maps.
fn inferred(
    list: &[Value],
    key: &str,
    allowed: &[Context],
    mode: ErrorMode,
) -> Result<Vec<Stage>, ComponentConfigError> {
    let strings = list.iter().filter(|v| v.is_string()).count();
    if strings != 0 && strings != list.len() {
        return Err(ComponentConfigError::at(
            &[key],
            "configuring multiple configuration styles is not supported, please use only Basic configuration or only Advanced configuration",
        ));
    }
    let groups: Vec<config::ContextConditions> = if strings > 0 {
        vec![config::ContextConditions {
            context: None,
            conditions: list
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            error_mode: None,
        }]
    } else {
        list.iter()
            .enumerate()
            .map(|(i, v)| {
                decode::<config::ContextConditions>(v).map_err(|mut e| {
                    e.path.insert(0, i.to_string());
                    e.path.insert(0, key.to_string());
                    e
                })
            })
            .collect::<Result<_, _>>()?
    };
    let mut stages = Vec::new();
    for (gi, g) in groups.iter().enumerate() {
        if g.conditions.is_empty() {
            continue;
        }
        let gidx = gi.to_string();
        let context = match g.context.as_deref().filter(|c| !c.is_empty()) {
            None => None,
            Some(c) => Some(Context::parse(c).ok_or_else(|| {
                let path: &[&str] = if strings > 0 {
                    &[key]
                } else {
                    &[key, &gidx, "context"]
                };
                ComponentConfigError::at(path, format!("unknown context {c:?}"))
            })?),
        };
        let (ctx, conditions) =
            ottl::parse_group(&g.conditions, context, allowed).map_err(|e| {
                let ci = g
                    .conditions
                    .iter()
                    .position(|c| *c == e.condition)
                    .unwrap_or(0)
                    .to_string();
                let path: Vec<&str> = if strings > 0 {
                    vec![key, &ci]
                } else {
                    vec![key, &gidx, "conditions", &ci]
                };
                ComponentConfigError::at(&path, e.to_string())
            })?;
        stages.push(stage_for(
            ctx,
            Group {
                conditions,
                error_mode: g.error_mode.unwrap_or(mode),
            },
        ));
    }
    Ok(stages)
}

impl Plan {
    /// Validates the config as the collector does and compiles every condition.
    pub(crate) fn build(cfg: &FilterConfig) -> Result<Plan, ComponentConfigError> {
        let mode = cfg.error_mode;
        let t = &cfg.traces;
        let m = &cfg.metrics;
        let l = &cfg.logs;
        let traces_ottl = t.resource.is_some() || t.span.is_some() || t.spanevent.is_some();
        let spans_legacy = cfg.spans.include.is_some() || cfg.spans.exclude.is_some();
        let metrics_ottl = m.resource.is_some() || m.metric.is_some() || m.datapoint.is_some();
        let metrics_legacy = m.include.is_some() || m.exclude.is_some();
        let logs_ottl = l.resource.is_some() || l.log_record.is_some();
        let logs_legacy = l.include.is_some() || l.exclude.is_some();
        let conflict = |msg: &str| Err(ComponentConfigError::at(&[], msg));
        if cfg.trace_conditions.is_some() && traces_ottl {
            return conflict(
                r#"cannot use context inferred trace conditions "trace_conditions" and the settings "traces.resource", "traces.span", "traces.spanevent" at the same time"#,
            );
        }
        if cfg.metric_conditions.is_some() && (metrics_ottl || metrics_legacy) {
            return conflict(
                r#"cannot use context inferred metric conditions "metric_conditions" and the settings "metrics.resource", "metrics.metric", "metrics.datapoint", "metrics.include", "metrics.exclude" at the same time"#,
            );
        }
        if cfg.log_conditions.is_some() && (logs_ottl || logs_legacy) {
            return conflict(
                r#"cannot use context inferred log conditions "log_conditions" and the settings "logs.resource", "logs.log_record", "logs.include", "logs.exclude" at the same time"#,
            );
        }
        if traces_ottl && spans_legacy {
            return conflict(
                r#"cannot use "traces.resource", "traces.span", "traces.spanevent" and the span settings "spans.include", "spans.exclude" at the same time"#,
            );
        }
        if metrics_ottl && metrics_legacy {
            return conflict(
                r#"cannot use "metrics.resource", "metrics.metric", "metrics.datapoint" and the settings "metrics.include", "metrics.exclude" at the same time"#,
            );
        }
        if logs_ottl && logs_legacy {
            return conflict(
                r#"cannot use "logs.resource", "logs.log_record" and the settings "logs.include", "logs.exclude" at the same time"#,
            );
        }
        if cfg.profiles.is_some() || cfg.profile_conditions.is_some() {
            tracing::warn!(
                "filter: profiles conditions are ignored; Sluice has no profiles signal"
            );
        }

        let mut plan = Plan::default();
        // Traces.
        if let Some(list) = &cfg.trace_conditions {
            plan.traces = inferred(list, "trace_conditions", TRACE_CONTEXTS, mode)?;
        } else {
            for (list, ctx, key) in [
                (&t.resource, Context::Resource, "resource"),
                (&t.span, Context::Span, "span"),
                (&t.spanevent, Context::SpanEvent, "spanevent"),
            ] {
                plan.traces
                    .extend(explicit(list, ctx, mode, &["traces", key])?);
            }
        }
        if spans_legacy {
            let include = cfg
                .spans
                .include
                .as_ref()
                .map(|p| SpanMatcher::new(p, &["spans", "include"]))
                .transpose()?;
            let exclude = cfg
                .spans
                .exclude
                .as_ref()
                .map(|p| SpanMatcher::new(p, &["spans", "exclude"]))
                .transpose()?;
            plan.traces
                .push(Stage::LegacySpans(Skip { include, exclude }));
        }
        // Metrics.
        if let Some(list) = &cfg.metric_conditions {
            plan.metrics = inferred(list, "metric_conditions", METRIC_CONTEXTS, mode)?;
        } else {
            for (list, ctx, key) in [
                (&m.resource, Context::Resource, "resource"),
                (&m.metric, Context::Metric, "metric"),
                (&m.datapoint, Context::DataPoint, "datapoint"),
            ] {
                plan.metrics
                    .extend(explicit(list, ctx, mode, &["metrics", key])?);
            }
        }
        if metrics_legacy {
            let legacy = MetricLegacy::new(m.include.as_ref(), m.exclude.as_ref())?;
            if !(legacy.resources.is_noop() && legacy.names.is_noop()) {
                plan.metrics.push(Stage::LegacyMetrics(legacy));
            }
        }
        // Logs.
        if let Some(list) = &cfg.log_conditions {
            plan.logs = inferred(list, "log_conditions", LOG_CONTEXTS, mode)?;
        } else {
            for (list, ctx, key) in [
                (&l.resource, Context::Resource, "resource"),
                (&l.log_record, Context::Log, "log_record"),
            ] {
                plan.logs.extend(explicit(list, ctx, mode, &["logs", key])?);
            }
        }
        if logs_legacy {
            let include = l
                .include
                .as_ref()
                .map(|p| LogMatcher::new(p, &["logs", "include"]))
                .transpose()?
                .flatten();
            let exclude = l
                .exclude
                .as_ref()
                .map(|p| LogMatcher::new(p, &["logs", "exclude"]))
                .transpose()?
                .flatten();
            let skip = Skip { include, exclude };
            if !skip.is_noop() {
                plan.logs.push(Stage::LegacyLogs(skip));
            }
        }
        Ok(plan)
    }
}

/// How often a repeating condition error is logged.
const ERROR_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// A running filter processor for one pipeline.
pub struct FilterProcessor {
    id: ComponentId,
    signal: Signal,
    stages: Vec<Stage>,
    last_error_log: Option<Instant>,
    suppressed_errors: u64,
}

impl FilterProcessor {
    pub(crate) fn new(id: ComponentId, signal: Signal, plan: Plan) -> FilterProcessor {
        let stages = match signal {
            Signal::Traces => plan.traces,
            Signal::Metrics => plan.metrics,
            Signal::Logs => plan.logs,
        };
        FilterProcessor {
            id,
            signal,
            stages,
            last_error_log: None,
            suppressed_errors: 0,
        }
    }

    /// Logs condition errors at most once per interval, with how many were suppressed.
    fn log_errors(&mut self, errors: &[EvalError], dropped_batch: bool) {
        if errors.is_empty() {
            return;
        }
        let now = Instant::now();
        if self
            .last_error_log
            .is_some_and(|t| now.duration_since(t) < ERROR_LOG_INTERVAL)
        {
            self.suppressed_errors += errors.len() as u64;
            return;
        }
        self.last_error_log = Some(now);
        let suppressed = std::mem::take(&mut self.suppressed_errors);
        if dropped_batch {
            tracing::error!(processor = %self.id, error = %errors[0], suppressed, "filter condition failed; batch dropped (error_mode: propagate)");
        } else {
            tracing::warn!(processor = %self.id, error = %errors[0], count = errors.len(), suppressed, "filter condition failed; treated as false");
        }
    }
}

impl Processor for FilterProcessor {
    fn process(&mut self, mut batch: Batch, out: &mut Vec<Batch>) {
        if self.stages.is_empty() {
            out.push(batch);
            return;
        }
        let before = batch.item_count();
        let mut ignored = Vec::new();
        let data = batch.data_mut();
        let result = self.stages.iter().try_for_each(|stage| match &mut *data {
            Data::Traces(req) => filter_traces(req, stage, &mut ignored),
            Data::Metrics(req) => filter_metrics(req, stage, &mut ignored),
            Data::Logs(req) => filter_logs(req, stage, &mut ignored),
        });
        if let Err(e) = result {
            // As upstream, the error goes back to the sender; data filtered to nothing below
            // is a success (its acknowledgements complete when the batch is dropped).
            batch
                .acks
                .fail(&format!("filter processor {}: {e}", self.id));
            self.log_errors(&[e], true);
            return;
        }
        self.log_errors(&ignored, false);
        let after = batch.item_count();
        if after < before {
            crate::telemetry::metrics::processor_filter_filtered(
                &self.id,
                self.signal,
                (before - after) as u64,
            );
        }
        let empty = match batch.data_mut() {
            Data::Traces(r) => r.resource_spans.is_empty(),
            Data::Metrics(r) => r.resource_metrics.is_empty(),
            Data::Logs(r) => r.resource_logs.is_empty(),
        };
        if !empty {
            out.push(batch);
        }
    }
}

/// Runs `keep` over a vec, stopping (and keeping everything) after the first error.
fn retain_checked<T>(
    items: &mut Vec<T>,
    fail: &mut Option<EvalError>,
    mut keep: impl FnMut(&mut T) -> Result<bool, EvalError>,
) {
    items.retain_mut(|item| {
        if fail.is_some() {
            return true;
        }
        match keep(item) {
            Ok(k) => k,
            Err(e) => {
                *fail = Some(e);
                true
            }
        }
    });
}

fn done(fail: Option<EvalError>) -> Result<(), EvalError> {
    fail.map_or(Ok(()), Err)
}

fn filter_traces(
    req: &mut ExportTraceServiceRequest,
    stage: &Stage,
    ignored: &mut Vec<EvalError>,
) -> Result<(), EvalError> {
    let mut fail = None;
    retain_checked(&mut req.resource_spans, &mut fail, |rs| {
        let resource = rs.resource.as_ref();
        if let Stage::Resource(g) = stage {
            let tc = TransformContext {
                resource,
                ..Default::default()
            };
            return Ok(!g.matches(&tc, ignored)?);
        }
        let mut inner = None;
        retain_checked(&mut rs.scope_spans, &mut inner, |ss| {
            let scope = ss.scope.as_ref();
            if let Stage::Scope(g) = stage {
                let tc = TransformContext {
                    resource,
                    scope,
                    ..Default::default()
                };
                return Ok(!g.matches(&tc, ignored)?);
            }
            let mut inner = None;
            retain_checked(&mut ss.spans, &mut inner, |span| {
                match stage {
                    Stage::Span(g) => {
                        let tc = TransformContext {
                            resource,
                            scope,
                            span: Some(&*span),
                            ..Default::default()
                        };
                        return Ok(!g.matches(&tc, ignored)?);
                    }
                    Stage::LegacySpans(skip) => {
                        return Ok(!skip.skip(|m| m.matches(resource, scope, span)))
                    }
                    Stage::SpanEvent(g) => {
                        let mut keep = Vec::with_capacity(span.events.len());
                        for ev in &span.events {
                            let tc = TransformContext {
                                resource,
                                scope,
                                span: Some(&*span),
                                event: Some(ev),
                                ..Default::default()
                            };
                            keep.push(!g.matches(&tc, ignored)?);
                        }
                        let mut it = keep.into_iter();
                        span.events.retain(|_| it.next().unwrap_or(true));
                    }
                    _ => {}
                }
                Ok(true)
            });
            done(inner)?;
            Ok(!ss.spans.is_empty())
        });
        done(inner)?;
        Ok(!rs.scope_spans.is_empty())
    });
    done(fail)
}

fn filter_logs(
    req: &mut ExportLogsServiceRequest,
    stage: &Stage,
    ignored: &mut Vec<EvalError>,
) -> Result<(), EvalError> {
    let mut fail = None;
    retain_checked(&mut req.resource_logs, &mut fail, |rl| {
        let resource = rl.resource.as_ref();
        if let Stage::Resource(g) = stage {
            let tc = TransformContext {
                resource,
                ..Default::default()
            };
            return Ok(!g.matches(&tc, ignored)?);
        }
        let mut inner = None;
        retain_checked(&mut rl.scope_logs, &mut inner, |sl| {
            let scope = sl.scope.as_ref();
            if let Stage::Scope(g) = stage {
                let tc = TransformContext {
                    resource,
                    scope,
                    ..Default::default()
                };
                return Ok(!g.matches(&tc, ignored)?);
            }
            let mut inner = None;
            retain_checked(&mut sl.log_records, &mut inner, |log| match stage {
                Stage::Log(g) => {
                    let tc = TransformContext {
                        resource,
                        scope,
                        log: Some(&*log),
                        ..Default::default()
                    };
                    Ok(!g.matches(&tc, ignored)?)
                }
                Stage::LegacyLogs(skip) => Ok(!skip.skip(|m| m.matches(resource, log))),
                _ => Ok(true),
            });
            done(inner)?;
            Ok(!sl.log_records.is_empty())
        });
        done(inner)?;
        Ok(!rl.scope_logs.is_empty())
    });
    done(fail)
}

fn filter_metrics(
    req: &mut ExportMetricsServiceRequest,
    stage: &Stage,
    ignored: &mut Vec<EvalError>,
) -> Result<(), EvalError> {
    let mut fail = None;
    retain_checked(&mut req.resource_metrics, &mut fail, |rm| {
        let resource = rm.resource.as_ref();
        match stage {
            Stage::Resource(g) => {
                let tc = TransformContext {
                    resource,
                    ..Default::default()
                };
                return Ok(!g.matches(&tc, ignored)?);
            }
            Stage::LegacyMetrics(l) => {
                let attrs = resource.map(|r| r.attributes.as_slice()).unwrap_or(&[]);
                if l.resources.skip(|m| m.matches(attrs)) {
                    return Ok(false);
                }
            }
            _ => {}
        }
        let mut inner = None;
        retain_checked(&mut rm.scope_metrics, &mut inner, |sm| {
            let scope = sm.scope.as_ref();
            if let Stage::Scope(g) = stage {
                let tc = TransformContext {
                    resource,
                    scope,
                    ..Default::default()
                };
                return Ok(!g.matches(&tc, ignored)?);
            }
            let mut inner = None;
            retain_checked(&mut sm.metrics, &mut inner, |metric| match stage {
                Stage::Metric(g) => {
                    let tc = TransformContext {
                        resource,
                        scope,
                        metric: Some(&*metric),
                        ..Default::default()
                    };
                    Ok(!g.matches(&tc, ignored)?)
                }
                Stage::LegacyMetrics(l) => Ok(!l.names.skip(|m| m.matches(&metric.name))),
                Stage::DataPoint(g) => {
                    let base = TransformContext {
                        resource,
                        scope,
                        metric: Some(&*metric),
                        ..Default::default()
                    };
                    let keep = datapoint_decisions(metric, &base, g, ignored)?;
                    retain_points(metric, keep);
                    Ok(metric.data.is_none()
                        || crate::signal::metric_point_count(metric.data.as_ref()) > 0)
                }
                _ => Ok(true),
            });
            done(inner)?;
            Ok(!sm.metrics.is_empty())
        });
        done(inner)?;
        Ok(!rm.scope_metrics.is_empty())
    });
    done(fail)
}

/// Whether to keep each data point of a metric, in order.
fn datapoint_decisions(
    metric: &Metric,
    base: &TransformContext<'_>,
    g: &Group,
    ignored: &mut Vec<EvalError>,
) -> Result<Vec<bool>, EvalError> {
    let points: Vec<DataPointRef<'_>> = match &metric.data {
        None => Vec::new(),
        Some(MetricData::Gauge(x)) => x.data_points.iter().map(DataPointRef::Number).collect(),
        Some(MetricData::Sum(x)) => x.data_points.iter().map(DataPointRef::Number).collect(),
        Some(MetricData::Histogram(x)) => {
            x.data_points.iter().map(DataPointRef::Histogram).collect()
        }
        Some(MetricData::ExponentialHistogram(x)) => x
            .data_points
            .iter()
            .map(DataPointRef::ExponentialHistogram)
            .collect(),
        Some(MetricData::Summary(x)) => x.data_points.iter().map(DataPointRef::Summary).collect(),
    };
    points
        .into_iter()
        .map(|dp| {
            let tc = TransformContext {
                datapoint: Some(dp),
                ..*base
            };
            g.matches(&tc, ignored).map(|drop| !drop)
        })
        .collect()
}

fn retain_points(metric: &mut Metric, keep: Vec<bool>) {
    fn apply<T>(v: &mut Vec<T>, keep: Vec<bool>) {
        let mut it = keep.into_iter();
        v.retain(|_| it.next().unwrap_or(true));
    }
    match &mut metric.data {
        None => {}
        Some(MetricData::Gauge(x)) => apply(&mut x.data_points, keep),
        Some(MetricData::Sum(x)) => apply(&mut x.data_points, keep),
        Some(MetricData::Histogram(x)) => apply(&mut x.data_points, keep),
        Some(MetricData::ExponentialHistogram(x)) => apply(&mut x.data_points, keep),
        Some(MetricData::Summary(x)) => apply(&mut x.data_points, keep),
    }
}
