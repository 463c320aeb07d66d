//! A streaming parser for the Prometheus text exposition format 0.0.4 and OpenMetrics 1.0 text.
//!
//! The parser walks the body line by line and yields one [`Entry`] at a time without building
//! the whole exposition in memory; names and label values borrow from the body unless they had
//! escapes. Malformed input is an [`ParseError`] carrying its 1-based line number; the parser
//! never panics on any input.

use std::borrow::Cow;
use std::fmt;

/// Which text format a body is in (chosen from the response's Content-Type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `text/plain; version=0.0.4`: lenient whitespace, integer millisecond timestamps.
    Prometheus,
    /// `application/openmetrics-text; version=1.0.0`: single spaces, second timestamps,
    /// exemplars, `# UNIT`, and a mandatory `# EOF`.
    OpenMetrics,
}

impl Format {
    /// The format a response's Content-Type announces; anything not OpenMetrics is read as the
    /// Prometheus text format, as Prometheus does for `text/plain` and missing types.
    pub fn from_content_type(ct: Option<&str>) -> Format {
        match ct {
            Some(ct)
                if ct
                    .trim_start()
                    .to_ascii_lowercase()
                    .starts_with("application/openmetrics-text") =>
            {
                Format::OpenMetrics
            }
            _ => Format::Prometheus,
        }
    }
}

/// A metric family type, as `# TYPE` declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricType {
    /// `counter`.
    Counter,
    /// `gauge`.
    Gauge,
    /// `histogram`.
    Histogram,
    /// `gaugehistogram` (OpenMetrics).
    GaugeHistogram,
    /// `summary`.
    Summary,
    /// `info` (OpenMetrics).
    Info,
    /// `stateset` (OpenMetrics).
    StateSet,
    /// `untyped` (0.0.4) or `unknown` (OpenMetrics), and samples with no `# TYPE`.
    Unknown,
}

impl MetricType {
    fn parse(s: &str, format: Format) -> Option<MetricType> {
        Some(match (s, format) {
            ("counter", _) => MetricType::Counter,
            ("gauge", _) => MetricType::Gauge,
            ("histogram", _) => MetricType::Histogram,
            ("summary", _) => MetricType::Summary,
            ("untyped", Format::Prometheus) | ("unknown", Format::OpenMetrics) => {
                MetricType::Unknown
            }
            ("gaugehistogram", Format::OpenMetrics) => MetricType::GaugeHistogram,
            ("info", Format::OpenMetrics) => MetricType::Info,
            ("stateset", Format::OpenMetrics) => MetricType::StateSet,
            _ => return None,
        })
    }

    /// The type's name as Prometheus metadata spells it (`counter`, `unknown`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::StateSet => "stateset",
            MetricType::Unknown => "unknown",
        }
    }
}

/// Label pairs of a sample or exemplar, unescaped, borrowing from the body when possible.
pub type LabelPairs<'a> = Vec<(Cow<'a, str>, Cow<'a, str>)>;

/// An exemplar attached to a sample (OpenMetrics only).
#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar<'a> {
    /// The exemplar's labels (`trace_id`, `span_id`, …).
    pub labels: LabelPairs<'a>,
    /// The observed value.
    pub value: f64,
    /// When it was observed, in milliseconds since the epoch, if given.
    pub timestamp_ms: Option<i64>,
}

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample<'a> {
    /// The sample's metric name (`http_requests_total`, `rpc_seconds_bucket`, …).
    pub name: Cow<'a, str>,
    /// Its labels, in exposition order, unescaped.
    pub labels: LabelPairs<'a>,
    /// The value (may be NaN or ±Inf).
    pub value: f64,
    /// The exposed timestamp in milliseconds since the epoch, if any.
    pub timestamp_ms: Option<i64>,
    /// An exemplar, if any.
    pub exemplar: Option<Exemplar<'a>>,
}

/// One meaningful line of an exposition.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry<'a> {
    /// `# HELP name text`, text unescaped.
    Help {
        /// The family name.
        name: Cow<'a, str>,
        /// The help text.
        text: Cow<'a, str>,
    },
    /// `# TYPE name type`.
    Type {
        /// The family name.
        name: Cow<'a, str>,
        /// The declared type.
        kind: MetricType,
    },
    /// `# UNIT name unit` (OpenMetrics).
    Unit {
        /// The family name.
        name: Cow<'a, str>,
        /// The unit (`seconds`, `bytes`, …).
        unit: Cow<'a, str>,
    },
    /// A sample.
    Sample(Sample<'a>),
}

/// Malformed exposition: what is wrong and on which line (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

/// The streaming parser: an iterator of entries over one body.
pub struct Parser<'a> {
    rest: &'a str,
    line: usize,
    format: Format,
    done: bool,
    seen_eof: bool,
}

impl<'a> Parser<'a> {
    /// A parser over a whole response body.
    pub fn new(body: &'a str, format: Format) -> Parser<'a> {
        Parser {
            rest: body,
            line: 0,
            format,
            done: false,
            seen_eof: false,
        }
    }

    /// Parses bytes, failing (at line 1 or at the first bad line) when they are not UTF-8.
    pub fn check_utf8(body: &[u8]) -> Result<&str, ParseError> {
        std::str::from_utf8(body).map_err(|e| {
            let line = 1 + body[..e.valid_up_to()]
                .iter()
                .filter(|b| **b == b'\n')
                .count();
            ParseError {
                line,
                message: "invalid UTF-8".into(),
            }
        })
    }

    fn err(&mut self, message: impl Into<String>) -> Option<Result<Entry<'a>, ParseError>> {
        self.done = true;
        Some(Err(ParseError {
            line: self.line,
            message: message.into(),
        }))
    }

    fn next_line(&mut self) -> Option<(&'a str, bool)> {
        if self.rest.is_empty() {
            return None;
        }
        self.line += 1;
        match self.rest.find('\n') {
            Some(i) => {
                let l = &self.rest[..i];
                self.rest = &self.rest[i + 1..];
                Some((l, true))
            }
            None => {
                let l = self.rest;
                self.rest = "";
                Some((l, false))
            }
        }
    }
}

impl<'a> Iterator for Parser<'a> {
    type Item = Result<Entry<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        loop {
            let Some((line, had_newline)) = self.next_line() else {
                self.done = true;
                if self.format == Format::OpenMetrics && !self.seen_eof {
                    self.line += 1;
                    return self.err("data does not end with # EOF");
                }
                return None;
            };
            if self.seen_eof {
                return self.err("unexpected data after # EOF");
            }
            let r = match self.format {
                Format::Prometheus => prom_line(line),
                Format::OpenMetrics => {
                    if !had_newline && line != "# EOF" {
                        Err("line does not end with a newline".to_string())
                    } else {
                        om_line(line)
                    }
                }
            };
            match r {
                Ok(Line::Skip) => continue,
                Ok(Line::Eof) => {
                    self.seen_eof = true;
                    continue;
                }
                Ok(Line::Entry(e)) => return Some(Ok(e)),
                Err(m) => return self.err(m),
            }
        }
    }
}

enum Line<'a> {
    Skip,
    Eof,
    Entry(Entry<'a>),
}

fn is_name_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c == b':'
}

fn is_name_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b':'
}

fn is_label_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn is_label_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// A cursor over one line.
struct Cur<'a> {
    s: &'a str,
    i: usize,
}

impl<'a> Cur<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.i).copied()
    }

    fn rest(&self) -> &'a str {
        &self.s[self.i..]
    }

    fn at_end(&self) -> bool {
        self.i >= self.s.len()
    }

    /// Skips spaces and tabs (Prometheus format); returns how many.
    fn skip_ws(&mut self) -> usize {
        let start = self.i;
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
        self.i - start
    }

    fn take_while(&mut self, first: fn(u8) -> bool, rest: fn(u8) -> bool) -> Option<&'a str> {
        let start = self.i;
        match self.peek() {
            Some(c) if first(c) => self.i += 1,
            _ => return None,
        }
        while self.peek().is_some_and(rest) {
            self.i += 1;
        }
        Some(&self.s[start..self.i])
    }

    /// A token up to the next space, tab or the end.
    fn token(&mut self) -> &'a str {
        let start = self.i;
        while self.peek().is_some_and(|c| c != b' ' && c != b'\t') {
            self.i += 1;
        }
        &self.s[start..self.i]
    }

    /// A double-quoted string; the cursor is on the opening quote. Escapes are kept raw.
    fn quoted(&mut self) -> Result<&'a str, String> {
        debug_assert_eq!(self.peek(), Some(b'"'));
        self.i += 1;
        let start = self.i;
        let b = self.s.as_bytes();
        while self.i < b.len() {
            match b[self.i] {
                b'\\' => self.i += 2,
                b'"' => {
                    let v = &self.s[start..self.i];
                    self.i += 1;
                    return Ok(v);
                }
                _ => self.i += 1,
            }
        }
        Err("unterminated quoted string".into())
    }
}

/// Unescapes a label value or quoted name: `\\`, `\"` and `\n`; any other escape is kept as is,
/// as Prometheus does.
fn unescape_value(raw: &str) -> Cow<'_, str> {
    if !raw.contains('\\') {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut it = raw.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('\\') => out.push('\\'),
            Some('"') => out.push('"'),
            Some('n') => out.push('\n'),
            Some(o) => {
                out.push('\\');
                out.push(o);
            }
            None => out.push('\\'),
        }
    }
    Cow::Owned(out)
}

/// Unescapes HELP text: `\\` and `\n` (and `\"` in OpenMetrics).
fn unescape_help(raw: &str, format: Format) -> Cow<'_, str> {
    if !raw.contains('\\') {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut it = raw.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('"') if format == Format::OpenMetrics => out.push('"'),
            Some(o) => {
                out.push('\\');
                out.push(o);
            }
            None => out.push('\\'),
        }
    }
    Cow::Owned(out)
}

/// Parses a float as Go's strconv.ParseFloat does for expositions: decimal, exponent, `NaN`,
/// `Inf`/`+Inf`/`-Inf` (any case). Rust's parser accepts the same spellings plus `infinity`.
fn parse_float(s: &str) -> Result<f64, String> {
    if s.is_empty() {
        return Err("expected a value".into());
    }
    // Rust accepts "inf"/"infinity"/"nan" case-insensitively with an optional sign, as Go does;
    // reject the few things Rust takes that Go does not (a leading '+' before NaN is fine in both).
    s.parse::<f64>()
        .map_err(|_| format!("invalid value {s:?} (expected a number, NaN, +Inf or -Inf)"))
}

fn parse_labels<'a>(
    cur: &mut Cur<'a>,
    format: Format,
    name: &mut Option<Cow<'a, str>>,
) -> Result<LabelPairs<'a>, String> {
    // The cursor is on '{'.
    cur.i += 1;
    let mut labels: LabelPairs<'a> = Vec::new();
    loop {
        if format == Format::Prometheus {
            cur.skip_ws();
        }
        match cur.peek() {
            Some(b'}') => {
                cur.i += 1;
                return Ok(labels);
            }
            None => return Err("unterminated label set: expected '}'".into()),
            _ => {}
        }
        let lname: Cow<'a, str> = if cur.peek() == Some(b'"') {
            let q = unescape_value(cur.quoted()?);
            if q.is_empty() {
                return Err("empty quoted metric or label name".into());
            }
            if format == Format::Prometheus {
                cur.skip_ws();
            }
            // A quoted string not followed by '=' is the metric name (UTF-8 names).
            if cur.peek() != Some(b'=') {
                if name.is_some() {
                    return Err("metric name given twice".into());
                }
                *name = Some(q);
                if !expect_sep(cur, format)? {
                    return Ok(labels);
                }
                continue;
            }
            q
        } else {
            match cur.take_while(is_label_start, is_label_char) {
                Some(n) => Cow::Borrowed(n),
                None => {
                    return Err(format!(
                        "expected a label name, got {:?}",
                        cur.rest().chars().next().unwrap_or(' ')
                    ))
                }
            }
        };
        if format == Format::Prometheus {
            cur.skip_ws();
        }
        if cur.peek() != Some(b'=') {
            return Err(format!("expected '=' after label name {lname:?}"));
        }
        cur.i += 1;
        if format == Format::Prometheus {
            cur.skip_ws();
        }
        if cur.peek() != Some(b'"') {
            return Err(format!("expected a quoted value for label {lname:?}"));
        }
        let v = unescape_value(cur.quoted()?);
        if labels.iter().any(|(n, _)| *n == lname) {
            return Err(format!("duplicate label name {lname:?}"));
        }
        labels.push((lname, v));
        if !expect_sep(cur, format)? {
            return Ok(labels);
        }
    }
}

/// After a label: `,` (more may follow) or `}` (end). Returns false at the end.
fn expect_sep(cur: &mut Cur<'_>, format: Format) -> Result<bool, String> {
    if format == Format::Prometheus {
        cur.skip_ws();
    }
    match cur.peek() {
        Some(b',') => {
            cur.i += 1;
            if format == Format::OpenMetrics && cur.peek() == Some(b'}') {
                return Err("trailing comma in label set".into());
            }
            Ok(true)
        }
        Some(b'}') => {
            cur.i += 1;
            Ok(false)
        }
        _ => Err("expected ',' or '}' in label set".into()),
    }
}

fn meta_name<'a>(cur: &mut Cur<'a>) -> Result<Cow<'a, str>, String> {
    if cur.peek() == Some(b'"') {
        let q = unescape_value(cur.quoted()?);
        if q.is_empty() {
            return Err("empty quoted metric name".into());
        }
        return Ok(q);
    }
    cur.take_while(is_name_start, is_name_char)
        .map(Cow::Borrowed)
        .ok_or_else(|| "expected a metric name".to_string())
}

fn prom_line(line: &str) -> Result<Line<'_>, String> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    let mut cur = Cur { s: line, i: 0 };
    cur.skip_ws();
    if cur.at_end() {
        return Ok(Line::Skip);
    }
    if cur.peek() == Some(b'#') {
        cur.i += 1;
        if cur.skip_ws() == 0 {
            return Ok(Line::Skip);
        }
        let kw = cur.token();
        if kw != "HELP" && kw != "TYPE" {
            return Ok(Line::Skip);
        }
        if cur.skip_ws() == 0 {
            return Ok(Line::Skip);
        }
        let name = meta_name(&mut cur)?;
        let ws = cur.skip_ws();
        if !cur.at_end() && ws == 0 {
            return Err(format!("expected whitespace after the name in # {kw}"));
        }
        let text = cur.rest();
        return Ok(Line::Entry(if kw == "HELP" {
            Entry::Help {
                name,
                text: unescape_help(text, Format::Prometheus),
            }
        } else {
            let kind = MetricType::parse(text.trim_end(), Format::Prometheus)
                .ok_or_else(|| format!("invalid metric type {:?}", text.trim_end()))?;
            Entry::Type { name, kind }
        }));
    }
    sample_line(cur, Format::Prometheus).map(|s| Line::Entry(Entry::Sample(s)))
}

fn om_line(line: &str) -> Result<Line<'_>, String> {
    let mut cur = Cur { s: line, i: 0 };
    if line.is_empty() {
        return Err("empty line".into());
    }
    if cur.peek() == Some(b'#') {
        if line == "# EOF" {
            return Ok(Line::Eof);
        }
        let Some(rest) = line.strip_prefix("# ") else {
            return Err("expected a space after '#'".into());
        };
        let (kw, rest) = rest.split_once(' ').unwrap_or((rest, ""));
        if !matches!(kw, "HELP" | "TYPE" | "UNIT") {
            return Err(format!(
                "unexpected comment {kw:?} (only HELP, TYPE, UNIT and EOF are allowed)"
            ));
        }
        let mut cur = Cur { s: rest, i: 0 };
        let name = meta_name(&mut cur)?;
        let text = match cur.peek() {
            None => "",
            Some(b' ') => &cur.rest()[1..],
            Some(_) => return Err(format!("expected a space after the name in # {kw}")),
        };
        return Ok(Line::Entry(match kw {
            "HELP" => Entry::Help {
                name,
                text: unescape_help(text, Format::OpenMetrics),
            },
            "TYPE" => {
                let kind = MetricType::parse(text, Format::OpenMetrics)
                    .ok_or_else(|| format!("invalid metric type {text:?}"))?;
                Entry::Type { name, kind }
            }
            _ => {
                if !text.is_empty() && !name.ends_with(&format!("_{text}")) {
                    return Err(format!("unit {text:?} is not a suffix of metric {name:?}"));
                }
                Entry::Unit {
                    name,
                    unit: Cow::Borrowed(text),
                }
            }
        }));
    }
    cur.i = 0;
    sample_line(cur, Format::OpenMetrics).map(|s| Line::Entry(Entry::Sample(s)))
}

fn timestamp_ms(tok: &str, format: Format) -> Result<i64, String> {
    match format {
        Format::Prometheus => tok
            .parse::<i64>()
            .map_err(|_| format!("invalid timestamp {tok:?} (expected integer milliseconds)")),
        Format::OpenMetrics => {
            let f: f64 = tok
                .parse()
                .map_err(|_| format!("invalid timestamp {tok:?} (expected seconds)"))?;
            if !f.is_finite() {
                return Err(format!("invalid timestamp {tok:?}"));
            }
            let ms = (f * 1000.0).round();
            if ms.abs() > 9.2e18 {
                return Err(format!("timestamp {tok:?} is out of range"));
            }
            Ok(ms as i64)
        }
    }
}

fn sample_line(mut cur: Cur<'_>, format: Format) -> Result<Sample<'_>, String> {
    let mut name: Option<Cow<'_, str>> = None;
    if cur.peek() != Some(b'{') {
        name = Some(Cow::Borrowed(
            cur.take_while(is_name_start, is_name_char).ok_or_else(|| {
                format!(
                    "expected a metric name, got {:?}",
                    cur.rest().chars().next().unwrap_or(' ')
                )
            })?,
        ));
    }
    let mut labels = Vec::new();
    let mut ws_before = 0;
    if format == Format::Prometheus {
        ws_before = cur.skip_ws();
    }
    if cur.peek() == Some(b'{') {
        labels = parse_labels(&mut cur, format, &mut name)?;
        ws_before = 0;
    }
    let name = name.ok_or("sample has no metric name")?;
    let sep = |cur: &mut Cur<'_>| -> Result<bool, String> {
        match format {
            Format::Prometheus => Ok(cur.skip_ws() > 0),
            Format::OpenMetrics => {
                if cur.peek() == Some(b' ') {
                    cur.i += 1;
                    if cur.peek() == Some(b' ') {
                        return Err("more than one space between fields".into());
                    }
                    Ok(true)
                } else {
                    Ok(false)
                }
            }
        }
    };
    if !sep(&mut cur)?
        && ws_before == 0
        && !(format == Format::Prometheus && labels_end_adjacent(&cur))
    {
        return Err(format!("expected a space and a value after {name:?}"));
    }
    let vtok = cur.token();
    let value = parse_float(vtok)?;
    if format == Format::OpenMetrics && vtok.starts_with(['n', 'N', 'i', 'I']) && vtok != "NaN" {
        return Err(format!("invalid value {vtok:?}"));
    }
    let mut sample = Sample {
        name,
        labels,
        value,
        timestamp_ms: None,
        exemplar: None,
    };
    if !sep(&mut cur)? {
        if cur.at_end() {
            return Ok(sample);
        }
        return Err(format!("unexpected {:?} after the value", cur.rest()));
    }
    if cur.at_end() {
        if format == Format::OpenMetrics {
            return Err("trailing space after the value".into());
        }
        return Ok(sample);
    }
    if cur.peek() != Some(b'#') {
        let tok = cur.token();
        sample.timestamp_ms = Some(timestamp_ms(tok, format)?);
        if !sep(&mut cur)? {
            if cur.at_end() {
                return Ok(sample);
            }
            return Err(format!("unexpected {:?} after the timestamp", cur.rest()));
        }
        if cur.at_end() {
            if format == Format::OpenMetrics {
                return Err("trailing space after the timestamp".into());
            }
            return Ok(sample);
        }
    }
    if format == Format::Prometheus {
        let what = if sample.timestamp_ms.is_some() {
            "the timestamp"
        } else {
            "the value"
        };
        return Err(format!(
            "unexpected {:?} after {what} (exemplars need OpenMetrics)",
            cur.rest()
        ));
    }
    // `# {labels} value [timestamp]`
    if !cur.rest().starts_with("# {") {
        return Err(format!("unexpected {:?} after the value", cur.rest()));
    }
    cur.i += 2;
    let mut no_name = None;
    let elabels = parse_labels(&mut cur, format, &mut no_name)?;
    if no_name.is_some() {
        return Err("exemplar labels cannot carry a metric name".into());
    }
    let chars: usize = elabels
        .iter()
        .map(|(k, v)| k.chars().count() + v.chars().count())
        .sum();
    if chars > 128 {
        return Err(format!(
            "exemplar labels have {chars} characters, more than the 128 allowed"
        ));
    }
    if !sep(&mut cur)? {
        return Err("expected a space and a value after the exemplar labels".into());
    }
    let evalue = parse_float(cur.token())?;
    let mut ets = None;
    if sep(&mut cur)? {
        ets = Some(timestamp_ms(cur.token(), format)?);
    }
    if !cur.at_end() {
        return Err(format!("unexpected {:?} after the exemplar", cur.rest()));
    }
    sample.exemplar = Some(Exemplar {
        labels: elabels,
        value: evalue,
        timestamp_ms: ets,
    });
    Ok(sample)
}

/// `name{a="b"}1` without a space is accepted by Prometheus's lexer in the 0.0.4 format.
fn labels_end_adjacent(cur: &Cur<'_>) -> bool {
    cur.i > 0 && cur.s.as_bytes()[cur.i - 1] == b'}' && !cur.at_end()
}

#[cfg(test)]
#[path = "parser_tests.rs"]
mod tests;
