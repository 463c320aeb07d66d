//! Writes the store as the Prometheus text format 0.0.4 or OpenMetrics 1.0 text.

use std::fmt::Write;

use super::store::{Family, FamilyKind, Labels, Series, Store, Value};

/// Which exposition format to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `text/plain; version=0.0.4`.
    Text,
    /// `application/openmetrics-text; version=1.0.0`.
    OpenMetrics,
}

impl Format {
    /// The Content-Type header for the format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// Options for one rendering.
#[derive(Debug, Clone, Copy)]
pub struct RenderOptions {
    /// The format.
    pub format: Format,
    /// Write each sample's timestamp (`send_timestamps`).
    pub timestamps: bool,
}

/// A float as Prometheus writes it.
fn num(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

fn escape_label_value(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn escape_help(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Writes `name{labels,extra} value [ts]`.
fn sample(
    out: &mut String,
    name: &str,
    labels: &Labels,
    extra: Option<(&str, &str)>,
    value: &str,
    ts: Option<u64>,
    format: Format,
) {
    out.push_str(name);
    if !labels.is_empty() || extra.is_some() {
        out.push('{');
        let mut first = true;
        for (k, v) in labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain(extra)
        {
            if !first {
                out.push(',');
            }
            first = false;
            out.push_str(k);
            out.push_str("=\"");
            escape_label_value(v, out);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
    out.push_str(value);
    if let Some(ns) = ts {
        match format {
            Format::Text => {
                let _ = write!(out, " {}", ns / 1_000_000);
            }
            Format::OpenMetrics => {
                let _ = write!(
                    out,
                    " {}.{:03}",
                    ns / 1_000_000_000,
                    (ns / 1_000_000) % 1000
                );
            }
        }
    }
    out.push('\n');
}

/// Renders the whole store; `target_info` is named `target_info_name` (namespaced).
pub fn render(store: &Store, opts: RenderOptions, target_info_name: &str) -> String {
    let mut out = String::with_capacity(64 * (store.series_count() + 8));
    if !store.targets.is_empty() {
        let name = target_info_name;
        // A gauge of value 1, as the collector's exporter writes it in both formats.
        let _ = writeln!(out, "# HELP {name} Target metadata\n# TYPE {name} gauge");
        let mut targets: Vec<&Labels> = store.targets.keys().collect();
        targets.sort();
        for labels in targets {
            sample(&mut out, name, labels, None, "1", None, Format::Text);
        }
    }
    for (name, family) in &store.families {
        family_block(&mut out, name, family, opts);
    }
    if opts.format == Format::OpenMetrics {
        out.push_str("# EOF\n");
    }
    out
}

/// The `_sum`, `_count` and (OpenMetrics) `_created` samples of a histogram or summary.
fn sum_count_created(
    out: &mut String,
    name: &str,
    labels: &Labels,
    (sum, count): (f64, u64),
    created: Option<&str>,
    ts: Option<u64>,
    format: Format,
) {
    sample(
        out,
        &format!("{name}_sum"),
        labels,
        None,
        &num(sum),
        ts,
        format,
    );
    sample(
        out,
        &format!("{name}_count"),
        labels,
        None,
        &count.to_string(),
        ts,
        format,
    );
    if let Some(c) = created {
        sample(out, &format!("{name}_created"), labels, None, c, ts, format);
    }
}

fn family_block(out: &mut String, name: &str, f: &Family, opts: RenderOptions) {
    let om = opts.format == Format::OpenMetrics;
    // OpenMetrics names a counter family without `_total`; its samples carry it. Text 0.0.4
    // uses the full sample name in HELP and TYPE.
    let family_name = if om && f.kind == FamilyKind::Counter {
        name.strip_suffix("_total").unwrap_or(name)
    } else {
        name
    };
    let type_word = match (om, f.kind) {
        (true, FamilyKind::Untyped) => "unknown",
        (_, k) => k.as_str(),
    };
    // promtool reports a family without help text; fall back to the OTLP name.
    let help = if f.help.is_empty() {
        &f.source_name
    } else {
        &f.help
    };
    out.push_str("# HELP ");
    out.push_str(family_name);
    out.push(' ');
    escape_help(help, out);
    out.push('\n');
    let _ = writeln!(out, "# TYPE {family_name} {type_word}");
    if om && !f.unit.is_empty() && family_name.ends_with(&f.unit) {
        let _ = writeln!(out, "# UNIT {family_name} {}", f.unit);
    }
    let mut series: Vec<(&Labels, &Series)> = f.series.iter().collect();
    series.sort_by(|a, b| a.0.cmp(b.0));
    for (labels, s) in series {
        let ts = opts.timestamps.then_some(s.time_ns).filter(|t| *t > 0);
        let created = (om && s.start_ns > 0).then(|| {
            format!(
                "{}.{:03}",
                s.start_ns / 1_000_000_000,
                (s.start_ns / 1_000_000) % 1000
            )
        });
        match &s.value {
            Value::Number(v) => {
                let sample_name = if om && f.kind == FamilyKind::Counter {
                    format!("{family_name}_total")
                } else {
                    name.to_string()
                };
                sample(out, &sample_name, labels, None, &num(*v), ts, opts.format);
                if let (Some(c), FamilyKind::Counter) = (&created, f.kind) {
                    sample(
                        out,
                        &format!("{family_name}_created"),
                        labels,
                        None,
                        c,
                        ts,
                        opts.format,
                    );
                }
            }
            Value::Histogram {
                buckets,
                sum,
                count,
            } => {
                let bucket = format!("{name}_bucket");
                for (bound, cum) in buckets {
                    if bound.is_infinite() && *bound > 0.0 {
                        continue;
                    }
                    let le = num(*bound);
                    sample(
                        out,
                        &bucket,
                        labels,
                        Some(("le", &le)),
                        &cum.to_string(),
                        ts,
                        opts.format,
                    );
                }
                sample(
                    out,
                    &bucket,
                    labels,
                    Some(("le", "+Inf")),
                    &count.to_string(),
                    ts,
                    opts.format,
                );
                sum_count_created(
                    out,
                    name,
                    labels,
                    (*sum, *count),
                    created.as_deref(),
                    ts,
                    opts.format,
                );
            }
            Value::Summary {
                quantiles,
                sum,
                count,
            } => {
                for (q, v) in quantiles {
                    let qs = num(*q);
                    sample(
                        out,
                        name,
                        labels,
                        Some(("quantile", &qs)),
                        &num(*v),
                        ts,
                        opts.format,
                    );
                }
                sum_count_created(
                    out,
                    name,
                    labels,
                    (*sum, *count),
                    created.as_deref(),
                    ts,
                    opts.format,
                );
            }
        }
    }
}
