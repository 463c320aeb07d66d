//! OTLP → Prometheus names, as the collector's exporter translates them (Prometheus's
//! otlptranslator): invalid characters to `_`, unit suffixes (`_seconds`, `_bytes`,
//! `_per_second`), `_total` for monotonic counters and `_ratio` for unit-"1" gauges.

/// What kind of Prometheus metric a name is built for (it decides the suffixes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    /// A monotonic cumulative sum: gets `_total`.
    Counter,
    /// A gauge (or non-monotonic sum): unit "1" gets `_ratio`.
    Gauge,
    /// A histogram.
    Histogram,
    /// A summary.
    Summary,
}

/// How names are translated (`translation_strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Strategy {
    /// Append unit and type suffixes.
    pub suffixes: bool,
    /// Replace characters Prometheus (before UTF-8 names) does not allow.
    pub escape: bool,
}

impl Strategy {
    /// Parses `translation_strategy`; `None` for an unknown value.
    pub fn parse(s: &str) -> Option<Strategy> {
        Some(match s {
            "UnderscoreEscapingWithSuffixes" => Strategy {
                suffixes: true,
                escape: true,
            },
            "UnderscoreEscapingWithoutSuffixes" => Strategy {
                suffixes: false,
                escape: true,
            },
            "NoUTF8EscapingWithSuffixes" => Strategy {
                suffixes: true,
                escape: false,
            },
            "NoTranslation" => Strategy {
                suffixes: false,
                escape: false,
            },
            _ => return None,
        })
    }

    /// Every valid `translation_strategy` value.
    pub const NAMES: [&'static str; 4] = [
        "UnderscoreEscapingWithSuffixes",
        "UnderscoreEscapingWithoutSuffixes",
        "NoUTF8EscapingWithSuffixes",
        "NoTranslation",
    ];
}

fn unit_word(unit: &str) -> &str {
    match unit {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tibibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "TBy" => "terabytes",
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "1" => "",
        "%" => "percent",
        other => other,
    }
}

fn per_unit_word(unit: &str) -> &str {
    match unit {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        other => other,
    }
}

/// The main and per-unit suffix words of an OTLP unit (`By/s` → `bytes`, `per_second`).
/// Annotations in braces are dropped.
fn unit_suffixes(unit: &str) -> (String, String) {
    let mut parts = unit.splitn(2, '/');
    let main = parts.next().unwrap_or("").trim();
    let per = parts.next().unwrap_or("").trim();
    let main = if !main.is_empty() && !main.contains(['{', '}']) {
        unit_word(main).to_string()
    } else {
        String::new()
    };
    let per = if !per.is_empty() && !per.contains(['{', '}']) {
        format!("per_{}", per_unit_word(per))
    } else {
        String::new()
    };
    (main, per)
}

fn valid_metric_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == ':'
}

/// Replaces invalid characters with `_`, collapses runs of `_`, trims a leading `_`.
fn clean_unit(unit: &str) -> String {
    let mapped: String = unit
        .chars()
        .map(|c| if valid_metric_char(c) { c } else { '_' })
        .collect();
    let collapsed = collapse_underscores(&mapped);
    collapsed
        .strip_prefix('_')
        .unwrap_or(&collapsed)
        .to_string()
}

fn collapse_underscores(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev = false;
    for c in s.chars() {
        if c == '_' {
            if !prev {
                out.push('_');
            }
            prev = true;
        } else {
            out.push(c);
            prev = false;
        }
    }
    out
}

/// Builds the Prometheus metric family name for an OTLP metric. `None` when nothing valid
/// remains (the metric is dropped).
pub fn metric_name(
    name: &str,
    unit: &str,
    kind: NameKind,
    namespace: &str,
    strategy: Strategy,
) -> Option<String> {
    let out = if !strategy.escape {
        utf8_name(name, unit, kind, namespace, strategy.suffixes)
    } else if strategy.suffixes {
        escaped_with_suffixes(name, unit, kind, namespace)
    } else {
        escaped_without_suffixes(name, namespace)
    };
    if out.is_empty() || (out != name && out.chars().all(|c| c == '_')) {
        return None;
    }
    Some(out)
}

fn escaped_with_suffixes(name: &str, unit: &str, kind: NameKind, namespace: &str) -> String {
    let mut tokens: Vec<String> = name
        .split(|c: char| !valid_metric_char(c))
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect();
    let (main, per) = unit_suffixes(unit);
    let mut main = clean_unit(&main);
    let mut per = clean_unit(&per);
    if tokens.contains(&main) {
        main.clear();
    }
    if per == "per_" {
        per.clear();
    } else {
        per = per.trim_end_matches('_').to_string();
        if tokens.contains(&per) {
            per.clear();
        }
    }
    if !per.is_empty() {
        main = main.trim_end_matches('_').to_string();
    }
    if !main.is_empty() {
        tokens.push(main);
    }
    if !per.is_empty() {
        tokens.push(per);
    }
    if kind == NameKind::Counter {
        tokens.retain(|t| t != "total");
        tokens.push("total".into());
    }
    if unit == "1" && kind == NameKind::Gauge {
        tokens.retain(|t| t != "ratio");
        tokens.push("ratio".into());
    }
    if !namespace.is_empty() {
        tokens.insert(0, namespace.to_string());
    }
    let mut out = tokens.join("_");
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

fn escaped_without_suffixes(name: &str, namespace: &str) -> String {
    let join = |s: &str| -> String {
        s.split(|c: char| !valid_metric_char(c) && c != '_')
            .filter(|t| !t.is_empty())
            .collect::<Vec<_>>()
            .join("_")
    };
    let base = join(name);
    if !namespace.is_empty() {
        return format!("{}_{base}", join(namespace));
    }
    if base.starts_with(|c: char| c.is_ascii_digit()) {
        format!("_{base}")
    } else {
        base
    }
}

fn trim_suffix<'a>(name: &'a str, suffix: &str) -> &'a str {
    if name.ends_with(suffix) && name.len() > suffix.len() + 1 {
        &name[..name.len() - suffix.len() - 1]
    } else {
        name
    }
}

fn utf8_name(name: &str, unit: &str, kind: NameKind, namespace: &str, suffixes: bool) -> String {
    let mut out = if namespace.is_empty() {
        name.to_string()
    } else {
        format!("{namespace}_{name}")
    };
    if !suffixes {
        return out;
    }
    let ratio = unit == "1" && kind == NameKind::Gauge;
    if ratio {
        out = trim_suffix(&out, "ratio").to_string();
    }
    let total = kind == NameKind::Counter;
    if total {
        out = trim_suffix(&out, "total").to_string();
    }
    let (main, per) = unit_suffixes(unit);
    if !per.is_empty() {
        out = trim_suffix(&out, &per).to_string();
    }
    if !main.is_empty() && !out.ends_with(&main) {
        out = format!("{out}_{main}");
    }
    if !per.is_empty() {
        out = format!("{out}_{per}");
    }
    if total {
        out.push_str("_total");
    }
    if ratio {
        out.push_str("_ratio");
    }
    out
}

/// The unit as OpenMetrics `# UNIT` states it (`By/s` → `bytes_per_second`); empty for none.
pub fn unit_name(unit: &str, escape: bool) -> String {
    let (main, per) = unit_suffixes(unit);
    let (main, per) = if escape {
        (clean_unit(&main), clean_unit(&per))
    } else {
        (main, per)
    };
    let u = match (main.is_empty(), per.is_empty()) {
        (false, false) => format!("{main}_{per}"),
        (false, true) => main,
        _ => per,
    };
    u.trim_matches('_').to_string()
}

/// Translates an attribute key into a label name; `None` if nothing valid remains.
pub fn label_name(key: &str, escape: bool) -> Option<String> {
    if key.is_empty() {
        return None;
    }
    if !escape {
        return (!key.chars().all(|c| c == '_')).then(|| key.to_string());
    }
    let reserved = key.len() >= 4 && key.starts_with("__") && key.ends_with("__");
    let inner = if reserved {
        &key[2..key.len() - 2]
    } else {
        key
    };
    let mut out = String::with_capacity(key.len() + 4);
    if reserved {
        out.push_str("__");
    }
    let mut prev_underscore = false;
    for c in inner.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
            prev_underscore = false;
        } else if !prev_underscore {
            out.push('_');
            prev_underscore = true;
        }
    }
    if reserved {
        out.push_str("__");
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "key_");
    }
    if out.chars().all(|c| c == '_') {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const WITH: Strategy = Strategy {
        suffixes: true,
        escape: true,
    };
    const WITHOUT: Strategy = Strategy {
        suffixes: false,
        escape: true,
    };
    const UTF8: Strategy = Strategy {
        suffixes: true,
        escape: false,
    };

    #[test]
    fn metric_names_as_otlptranslator_builds_them() {
        // (OTLP name, unit, kind, namespace, strategy, expected)
        type Case<'a> = (
            &'a str,
            &'a str,
            NameKind,
            &'a str,
            Strategy,
            Option<&'a str>,
        );
        let cases: &[Case] = &[
            (
                "http.server.duration",
                "s",
                NameKind::Histogram,
                "",
                WITH,
                Some("http_server_duration_seconds"),
            ),
            (
                "system.cpu.time",
                "s",
                NameKind::Counter,
                "",
                WITH,
                Some("system_cpu_time_seconds_total"),
            ),
            (
                "requests",
                "1",
                NameKind::Counter,
                "",
                WITH,
                Some("requests_total"),
            ),
            (
                "cpu.utilization",
                "1",
                NameKind::Gauge,
                "",
                WITH,
                Some("cpu_utilization_ratio"),
            ),
            (
                "throughput",
                "By/s",
                NameKind::Gauge,
                "",
                WITH,
                Some("throughput_bytes_per_second"),
            ),
            (
                "custom_metric",
                "custom_unit",
                NameKind::Gauge,
                "",
                WITH,
                Some("custom_metric_custom_unit"),
            ),
            (
                "custom_metric",
                "By/{custom}",
                NameKind::Gauge,
                "",
                WITH,
                Some("custom_metric_bytes"),
            ),
            (
                "custom_metric",
                "{packets}",
                NameKind::Gauge,
                "",
                WITH,
                Some("custom_metric"),
            ),
            (
                "response_time_seconds",
                "s",
                NameKind::Gauge,
                "",
                WITH,
                Some("response_time_seconds"),
            ),
            (
                "requests_total",
                "",
                NameKind::Counter,
                "",
                WITH,
                Some("requests_total"),
            ),
            (
                "total_requests",
                "",
                NameKind::Counter,
                "",
                WITH,
                Some("requests_total"),
            ),
            (
                "queue.size",
                "",
                NameKind::Gauge,
                "sluice",
                WITH,
                Some("sluice_queue_size"),
            ),
            (
                "2xx.responses",
                "",
                NameKind::Gauge,
                "",
                WITH,
                Some("_2xx_responses"),
            ),
            (
                "metric@@##$$name",
                "",
                NameKind::Gauge,
                "",
                WITHOUT,
                Some("metric_name"),
            ),
            ("a__b", "", NameKind::Gauge, "", WITHOUT, Some("a__b")),
            (
                "system.cpu.time",
                "s",
                NameKind::Counter,
                "",
                WITHOUT,
                Some("system_cpu_time"),
            ),
            ("@@@", "", NameKind::Gauge, "", WITH, None),
            (
                "otelcol_process_cpu_seconds",
                "s",
                NameKind::Counter,
                "",
                UTF8,
                Some("otelcol_process_cpu_seconds_total"),
            ),
            (
                "http.server.duration",
                "ms",
                NameKind::Histogram,
                "",
                UTF8,
                Some("http.server.duration_milliseconds"),
            ),
        ];
        for (name, unit, kind, ns, strategy, want) in cases {
            assert_eq!(
                metric_name(name, unit, *kind, ns, *strategy).as_deref(),
                *want,
                "{name} [{unit}] {kind:?} ns={ns:?} {strategy:?}"
            );
        }
    }

    #[test]
    fn label_names_are_escaped() {
        assert_eq!(
            label_name("http.method", true).as_deref(),
            Some("http_method")
        );
        assert_eq!(label_name("a..b", true).as_deref(), Some("a_b"));
        assert_eq!(label_name("2xx", true).as_deref(), Some("key_2xx"));
        assert_eq!(label_name("__name__", true).as_deref(), Some("__name__"));
        assert_eq!(label_name("___", true), None);
        assert_eq!(label_name("", true), None);
        assert_eq!(
            label_name("http.method", false).as_deref(),
            Some("http.method")
        );
    }

    #[test]
    fn units_for_openmetrics() {
        assert_eq!(unit_name("By/s", true), "bytes_per_second");
        assert_eq!(unit_name("ms", true), "milliseconds");
        assert_eq!(unit_name("1", true), "");
        assert_eq!(unit_name("{requests}", true), "");
    }
}
