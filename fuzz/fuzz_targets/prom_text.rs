//! Prometheus exposition bodies through the Prometheus receiver: the streaming parser
//! (`parser.rs`) in text format 0.0.4 and OpenMetrics 1.0, and the scrape conversion to OTLP
//! (`convert.rs`, `TargetConverter::convert`) — two scrapes of the same body so start-time
//! adjustment and staleness tracking run too.
//!
//! Input: byte 0 picks the format (bit 0), the start-time policy (`/ 2 % 3`) and honor
//! flags (bits 3, 4); the rest is the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice::receivers::prometheus::config::StartTimePolicy;
use sluice::receivers::prometheus::convert::{ScrapeError, ScrapeOptions, Target, TargetConverter};
use sluice::receivers::prometheus::parser::{Entry, Format, Parser};

/// Compiled once: compiling it per input (under ASan) took most of each run.
fn start_time_metric() -> &'static regex::Regex {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| regex::Regex::new("^process_start_time_seconds$").unwrap())
}

fuzz_target!(|input: &[u8]| {
    let Some((&sel, body)) = input.split_first() else {
        return;
    };
    let format = if sel & 1 == 0 {
        Format::Prometheus
    } else {
        Format::OpenMetrics
    };
    let Ok(text) = Parser::check_utf8(body) else {
        return;
    };
    let mut entries = 0usize;
    let mut error_line = None;
    for e in Parser::new(text, format) {
        match e {
            Ok(Entry::Sample(s)) => {
                assert!(!s.name.is_empty());
                entries += 1;
            }
            Ok(_) => entries += 1,
            Err(e) => {
                assert!(
                    e.line >= 1 && e.line <= text.lines().count() + 1,
                    "{e} in {} lines",
                    text.lines().count()
                );
                error_line = Some(e.line);
            }
        }
    }
    let _ = entries;

    let start_time = match (sel >> 1) % 3 {
        0 => StartTimePolicy::FirstObservation,
        1 => StartTimePolicy::CreatedOnly,
        _ => StartTimePolicy::StartTimeMetric,
    };
    let opts = ScrapeOptions {
        honor_labels: sel & 8 != 0,
        honor_timestamps: sel & 16 != 0,
        sample_limit: 0,
        metric_relabel: Vec::new(),
        external_labels: vec![("cluster".into(), "fuzz".into())],
        start_time,
        start_time_metric: start_time_metric().clone(),
    };
    let target = Target {
        job: "node".into(),
        instance: "10.0.0.5:9100".into(),
        scheme: "http".into(),
        labels: vec![
            ("instance".into(), "10.0.0.5:9100".into()),
            ("job".into(), "node".into()),
        ],
    };
    let mut conv = TargetConverter::new(target, opts);
    let (_, first) = conv.convert(text, format, 1_700_000_000_000, 0.01);
    match (&first, error_line) {
        (Err(ScrapeError::Parse(e)), Some(line)) => assert_eq!(e.line, line),
        (Ok(_), None) => {}
        (r, l) => panic!("parser and converter disagree: {r:?} vs error at line {l:?}"),
    }
    let _ = conv.convert(text, format, 1_700_000_015_000, 0.01);
    let _ = conv.stale_all(1_700_000_030_000);
});
