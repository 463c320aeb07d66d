//! OpenTelemetry consistent probability sampling primitives (OTEP 235 / W3C trace context
//! level 2): 56-bit randomness, rejection thresholds, their hex encodings (`rv`, `th`) and the
//! W3C `tracestate` with its OpenTelemetry `ot=` entry, with the behaviour of the collector's
//! `pkg/sampling`.

use std::fmt;

/// 2^56: one more than the largest randomness value.
pub const MAX_ADJUSTED_COUNT: u64 = 1 << 56;
/// Hex digits in a full 56-bit value.
pub const NUM_HEX_DIGITS: usize = 14;
/// The smallest representable sampling probability, 2^-56.
pub const MIN_SAMPLING_PROBABILITY: f64 = 1.0 / MAX_ADJUSTED_COUNT as f64;

const MAX_W3C_LEN: usize = 1024;
const MAX_OTEL_LEN: usize = 256;
const MAX_W3C_PAIRS: usize = 32;
const MAX_KEY_LEN: usize = 256;
const MAX_TENANT_LEN: usize = 241;
const MAX_SYSTEM_LEN: usize = 14;

/// Why a tracestate, `rv` or `th` could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamplingError(pub String);

impl fmt::Display for SamplingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SamplingError {}

fn e(msg: impl Into<String>) -> SamplingError {
    SamplingError(msg.into())
}

/// 56 bits of randomness: items are kept when `randomness >= threshold`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Randomness(u64);

impl Randomness {
    /// Randomness that every non-zero probability keeps (2^56 - 1).
    pub const ALL_PROBABILITIES: Randomness = Randomness(MAX_ADJUSTED_COUNT - 1);

    /// From a 56-bit number; `None` when it does not fit.
    pub fn from_unsigned(x: u64) -> Option<Randomness> {
        (x < MAX_ADJUSTED_COUNT).then_some(Randomness(x))
    }

    /// The least-significant 56 bits of a trace ID (bytes 9 to 15), as W3C trace context
    /// level 2 specifies.
    pub fn from_trace_id(id: &[u8; 16]) -> Randomness {
        let mut b = [0u8; 8];
        b.copy_from_slice(&id[8..]);
        Randomness(u64::from_be_bytes(b) & (MAX_ADJUSTED_COUNT - 1))
    }

    /// Parses an `rv` value: exactly 14 hex digits.
    pub fn from_rvalue(s: &str) -> Result<Randomness, SamplingError> {
        if s.len() != NUM_HEX_DIGITS {
            return Err(e("r-value must have 14 hex digits"));
        }
        parse_hex(s).map(Randomness)
    }

    /// The `rv` encoding: 14 hex digits with leading zeros.
    pub fn rvalue(&self) -> String {
        format!("{:014x}", self.0)
    }

    /// The raw 56-bit value.
    pub fn unsigned(&self) -> u64 {
        self.0
    }
}

fn parse_hex(s: &str) -> Result<u64, SamplingError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(e(format!("invalid hex value {s:?}")));
    }
    u64::from_str_radix(s, 16).map_err(|_| e(format!("invalid hex value {s:?}")))
}

/// A rejection threshold in [0, 2^56]: 0 keeps everything, 2^56 nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Threshold(u64);

impl Threshold {
    /// Keeps everything (`th:0`).
    pub const ALWAYS: Threshold = Threshold(0);
    /// Keeps nothing.
    pub const NEVER: Threshold = Threshold(MAX_ADJUSTED_COUNT);

    /// From an unsigned value in [0, 2^56]; `None` above that.
    pub fn from_unsigned(x: u64) -> Option<Threshold> {
        (x <= MAX_ADJUSTED_COUNT).then_some(Threshold(x))
    }

    /// Parses a `th` value: 1 to 14 hex digits, trailing zeros omitted.
    pub fn from_tvalue(s: &str) -> Result<Threshold, SamplingError> {
        if s.len() > NUM_HEX_DIGITS {
            return Err(e("t-value exceeds 14 hex digits"));
        }
        if s.is_empty() {
            return Err(e("t-value is empty"));
        }
        let v = parse_hex(s)?;
        Ok(Threshold(v << (4 * (NUM_HEX_DIGITS - s.len()))))
    }

    /// The `th` encoding: "0" for always, otherwise up to 14 hex digits without trailing
    /// zeros; "" for never (which has no encoding).
    pub fn tvalue(&self) -> String {
        if *self == Threshold::ALWAYS {
            return "0".to_string();
        }
        if self.0 >= MAX_ADJUSTED_COUNT {
            return String::new();
        }
        format!("{:014x}", self.0).trim_end_matches('0').to_string()
    }

    /// True when an item with this randomness is kept.
    pub fn should_sample(&self, rnd: Randomness) -> bool {
        rnd.0 >= self.0
    }

    /// The sampling probability this threshold keeps.
    pub fn probability(&self) -> f64 {
        (MAX_ADJUSTED_COUNT - self.0) as f64 / MAX_ADJUSTED_COUNT as f64
    }

    /// The raw value.
    pub fn unsigned(&self) -> u64 {
        self.0
    }
}

/// Why a probability has no threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbabilityError {
    /// Outside [2^-56, 1].
    Range,
}

fn in_range(p: f64) -> bool {
    (MIN_SAMPLING_PROBABILITY..=1.0).contains(&p)
}

/// The binary exponent of `x` as Go's `math.Frexp` returns it (`x = frac * 2^exp`,
/// `0.5 <= |frac| < 1`); 0 for zero.
fn frexp_exp(x: f64) -> i32 {
    if x == 0.0 || !x.is_finite() {
        return 0;
    }
    let bits = x.abs().to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    if biased == 0 {
        // Subnormal: normalise first.
        return frexp_exp(x * (1u64 << 54) as f64) - 54;
    }
    biased - 1022
}

/// The exact threshold of a probability in [2^-56, 1].
pub fn probability_to_threshold(p: f64) -> Result<Threshold, ProbabilityError> {
    probability_to_threshold_with_precision(p, NUM_HEX_DIGITS as u8)
}

/// The threshold of a probability rounded to `precision` hex digits (0 means all 14). As the
/// collector does, one digit is added for every leading `0` or `f` the threshold will have
/// (probabilities near 0 or 1), up to 14.
pub fn probability_to_threshold_with_precision(
    p: f64,
    precision: u8,
) -> Result<Threshold, ProbabilityError> {
    let mut prec = if precision == 0 {
        NUM_HEX_DIGITS as i32
    } else {
        i32::from(precision)
    };
    if !in_range(p) {
        return Err(ProbabilityError::Range);
    }
    if p == 1.0 {
        return Ok(Threshold::ALWAYS);
    }
    // Go's integer division truncates toward zero; both exponents are <= 0.
    let extra_f = frexp_exp(p) / -4;
    let extra_r = frexp_exp(1.0 - p) / -4;
    prec = (prec + extra_f)
        .max(prec + extra_r)
        .min(NUM_HEX_DIGITS as i32);
    let scaled = (p * MAX_ADJUSTED_COUNT as f64).round() as u64;
    let mut th = MAX_ADJUSTED_COUNT - scaled;
    let shift = 4 * (NUM_HEX_DIGITS as u32 - prec as u32);
    if shift != 0 {
        let half = 1u64 << (shift - 1);
        th = ((th + half) >> shift) << shift;
    }
    Ok(Threshold(th))
}

/// The OpenTelemetry entry (`ot=`) of a tracestate: `rv`, `th` and other sub-keys, kept in
/// order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OtelTraceState {
    /// The randomness and its spelling as it arrived (upper-case hex passes through).
    rv: Option<(Randomness, String)>,
    th: Option<(Threshold, String)>,
    extra: Vec<(String, String)>,
}

impl OtelTraceState {
    /// Parses the value of `ot=`. On error the fields parsed so far are returned with it.
    pub fn parse(input: &str) -> (OtelTraceState, Option<SamplingError>) {
        let mut st = OtelTraceState::default();
        if input.len() > MAX_OTEL_LEN {
            return (st, Some(e("invalid tracestate size")));
        }
        if !valid_otel_syntax(input) {
            return (
                st,
                Some(e(format!("invalid syntax in ot tracestate {input:?}"))),
            );
        }
        let mut err = None;
        for member in input.split(';') {
            let Some((k, v)) = member.split_once(':') else {
                continue;
            };
            match k {
                "rv" => match Randomness::from_rvalue(v) {
                    Ok(r) => st.rv = Some((r, v.to_string())),
                    Err(x) => {
                        st.rv = None;
                        err = Some(x);
                    }
                },
                "th" => match Threshold::from_tvalue(v) {
                    Ok(t) => st.th = Some((t, v.to_string())),
                    Err(x) => {
                        st.th = None;
                        err = Some(x);
                    }
                },
                _ => st.extra.push((k.to_string(), v.to_string())),
            }
        }
        (st, err)
    }

    /// The explicit randomness (`rv`), if any.
    pub fn rvalue(&self) -> Option<Randomness> {
        self.rv.as_ref().map(|(r, _)| *r)
    }

    /// Sets `rv`.
    pub fn set_rvalue(&mut self, r: Randomness) {
        self.rv = Some((r, r.rvalue()));
    }

    /// The threshold (`th`), if any.
    pub fn threshold(&self) -> Option<Threshold> {
        self.th.as_ref().map(|(t, _)| *t)
    }

    /// Removes `th`.
    pub fn clear_threshold(&mut self) {
        self.th = None;
    }

    /// Records that the item was sampled at `th`; refuses to lower an existing threshold
    /// (that would raise the sampling probability).
    pub fn update_threshold(&mut self, th: Threshold) -> Result<(), SamplingError> {
        if let Some((old, _)) = self.th {
            if old > th {
                return Err(e("cannot raise existing sampling probability"));
            }
        }
        let tv = th.tvalue();
        self.th = if tv.is_empty() { None } else { Some((th, tv)) };
        Ok(())
    }

    fn has_any(&self) -> bool {
        self.rv.is_some() || self.th.is_some() || !self.extra.is_empty()
    }

    fn serialize(&self, out: &mut String) {
        let mut parts: Vec<String> = Vec::new();
        if let Some((_, rv)) = &self.rv {
            parts.push(format!("rv:{rv}"));
        }
        if let Some((_, tv)) = &self.th {
            parts.push(format!("th:{tv}"));
        }
        for (k, v) in &self.extra {
            parts.push(format!("{k}:{v}"));
        }
        out.push_str(&parts.join(";"));
    }
}

fn valid_otel_syntax(s: &str) -> bool {
    s.split(';').all(|m| {
        let Some((k, v)) = m.split_once(':') else {
            return false;
        };
        let kb = k.as_bytes();
        !kb.is_empty()
            && kb[0].is_ascii_lowercase()
            && kb[1..]
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    })
}

/// A W3C `tracestate` with its OpenTelemetry entry parsed; other vendors' entries pass
/// through unchanged.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct W3cTraceState {
    otel: OtelTraceState,
    extra: Vec<(String, String)>,
}

impl W3cTraceState {
    /// Parses a tracestate. On error the entries parsed so far are returned with it.
    pub fn parse(input: &str) -> (W3cTraceState, Option<SamplingError>) {
        let mut st = W3cTraceState::default();
        if input.is_empty() {
            return (st, None);
        }
        if input.len() > MAX_W3C_LEN {
            return (st, Some(e("invalid tracestate size")));
        }
        if !valid_w3c_syntax(input) {
            return (st, Some(e(format!("invalid tracestate syntax {input:?}"))));
        }
        let mut err = None;
        for (n, member) in input.split(',').enumerate() {
            // Counted as the collector counts, empty members included.
            if n + 1 >= MAX_W3C_PAIRS {
                return (st, Some(e("invalid tracestate size")));
            }
            let member = member.trim_matches([' ', '\t']);
            if member.is_empty() {
                continue;
            }
            let Some((k, v)) = member.split_once('=') else {
                continue;
            };
            if k.len() > MAX_KEY_LEN {
                err = Some(e("invalid tracestate size"));
                continue;
            }
            if let Some((tenant, system)) = k.split_once('@') {
                if tenant.len() > MAX_TENANT_LEN || system.len() > MAX_SYSTEM_LEN {
                    err = Some(e("invalid tracestate size"));
                    continue;
                }
            }
            if k == "ot" {
                let (o, oerr) = OtelTraceState::parse(v);
                st.otel = o;
                if oerr.is_some() {
                    err = oerr;
                }
            } else {
                st.extra.push((k.to_string(), v.to_string()));
            }
        }
        (st, err)
    }

    /// The OpenTelemetry entry.
    pub fn otel(&self) -> &OtelTraceState {
        &self.otel
    }

    /// The OpenTelemetry entry, for changes.
    pub fn otel_mut(&mut self) -> &mut OtelTraceState {
        &mut self.otel
    }

    /// Encodes the tracestate: the `ot=` entry first (when it has any value), then the others.
    pub fn serialize(&self) -> String {
        let mut out = String::new();
        if self.otel.has_any() {
            out.push_str("ot=");
            self.otel.serialize(&mut out);
        }
        for (k, v) in &self.extra {
            if !out.is_empty() {
                out.push(',');
            }
            out.push_str(k);
            out.push('=');
            out.push_str(v);
        }
        out
    }
}

fn valid_w3c_syntax(input: &str) -> bool {
    input.split(',').all(|member| {
        let member = member.trim_matches([' ', '\t']);
        if member.is_empty() {
            return true;
        }
        match member.find('=') {
            Some(eq) if eq >= 1 => {
                valid_w3c_key(&member[..eq]) && valid_w3c_value(&member[eq + 1..])
            }
            _ => false,
        }
    })
}

fn key_char(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'_' | b'-' | b'*' | b'/')
}

fn valid_w3c_key(key: &str) -> bool {
    let b = key.as_bytes();
    if b.is_empty() {
        return false;
    }
    if let Some(at) = key.find('@') {
        let (t, s) = (&b[..at], &b[at + 1..]);
        if t.is_empty() || s.is_empty() {
            return false;
        }
        if !(t[0].is_ascii_lowercase() || t[0].is_ascii_digit()) || !s[0].is_ascii_lowercase() {
            return false;
        }
        return t[1..].iter().all(|&c| key_char(c)) && s[1..].iter().all(|&c| key_char(c));
    }
    b[0].is_ascii_lowercase() && b[1..].iter().all(|&c| key_char(c))
}

fn nonblank_value_char(c: u8) -> bool {
    (0x21..=0x2b).contains(&c) || (0x2d..=0x3c).contains(&c) || (0x3e..=0x7e).contains(&c)
}

fn valid_w3c_value(v: &str) -> bool {
    let b = v.as_bytes();
    if b.is_empty() || b.len() > 256 {
        return false;
    }
    nonblank_value_char(b[b.len() - 1])
        && b[..b.len() - 1]
            .iter()
            .all(|&c| c == 0x20 || nonblank_value_char(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tvalues_round_trip_and_trim_zeros() {
        for (tv, unsigned) in [
            ("0", 0u64),
            ("8", 8u64 << 52),
            ("c", 0xcu64 << 52),
            ("fffffffffffff", 0xfffffffffffff0),
            ("00000000000001", 1),
        ] {
            let th = Threshold::from_tvalue(tv).unwrap();
            assert_eq!(th.unsigned(), unsigned, "{tv}");
            let expect = if tv == "0" {
                "0".to_string()
            } else {
                tv.trim_end_matches('0').to_string()
            };
            assert_eq!(th.tvalue(), expect);
        }
        assert!(Threshold::from_tvalue("").is_err());
        assert!(Threshold::from_tvalue("123456789abcdef").is_err());
        assert!(Threshold::from_tvalue("+1").is_err());
        assert_eq!(Threshold::NEVER.tvalue(), "");
    }

    #[test]
    fn probabilities_map_to_thresholds_like_upstream() {
        // Values from the OTel specification's examples and upstream tests.
        for (p, prec, tv) in [
            (0.5, 4u8, "8"),
            (0.25, 4, "c"),
            (1.0 / 3.0, 4, "aaab"),
            (2.0 / 3.0, 4, "5555"),
            (0.1, 4, "e666"),
            // Near 0 and 1 a digit is added per leading `f`/`0`, as upstream.
            (0.01, 4, "fd70a"),
            (0.01, 3, "fd71"),
            (0.001, 4, "ffbe77"),
            (0.999, 4, "004189"),
            (0.4, 3, "99a"),
            (0.2, 6, "cccccd"),
            (1.0 / 16384.0, 0, "fffc"),
            (1.0, 4, "0"),
            (1.0 / 3.0, 2, "ab"),
            (0.75, 1, "4"),
        ] {
            let th = probability_to_threshold_with_precision(p, prec).unwrap();
            assert_eq!(th.tvalue(), tv, "p={p} prec={prec}");
        }
        assert_eq!(
            probability_to_threshold_with_precision(0.0, 4),
            Err(ProbabilityError::Range)
        );
        assert_eq!(
            probability_to_threshold_with_precision(1.5, 4),
            Err(ProbabilityError::Range)
        );
    }

    #[test]
    fn randomness_comes_from_the_last_seven_trace_id_bytes() {
        let id: [u8; 16] = [
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x11, 0x22, 0x33, 0x44, 0x55,
            0x66, 0x77,
        ];
        assert_eq!(Randomness::from_trace_id(&id).rvalue(), "11223344556677");
        assert!(Randomness::from_rvalue("1122334455667").is_err());
        assert_eq!(
            Randomness::from_rvalue("00000000000001")
                .unwrap()
                .unsigned(),
            1
        );
    }

    #[test]
    fn tracestate_parses_and_serializes_ot_first() {
        let (mut ts, err) = W3cTraceState::parse("vendor=abc, ot=th:8;rv:11223344556677;x:y ,b=c");
        assert_eq!(err, None);
        assert_eq!(
            ts.otel().threshold(),
            Some(Threshold::from_tvalue("8").unwrap())
        );
        assert_eq!(
            ts.otel().rvalue(),
            Some(Randomness::from_rvalue("11223344556677").unwrap())
        );
        ts.otel_mut()
            .update_threshold(Threshold::from_tvalue("c").unwrap())
            .unwrap();
        assert_eq!(
            ts.serialize(),
            "ot=rv:11223344556677;th:c;x:y,vendor=abc,b=c"
        );
        // Lowering the threshold (raising probability) is refused.
        assert!(ts
            .otel_mut()
            .update_threshold(Threshold::from_tvalue("8").unwrap())
            .is_err());
    }

    #[test]
    fn bad_tracestates_are_errors() {
        for bad in [
            "Vendor=abc",
            "ot=rv:123",
            "ot=th:xyz",
            "ot=TH:8",
            "ot=th:8;;",
            "a=b=c ",
            "=x",
        ] {
            assert!(W3cTraceState::parse(bad).1.is_some(), "{bad}");
        }
        assert!(W3cTraceState::parse("").1.is_none());
        let many: Vec<String> = (0..32).map(|i| format!("k{i}=v")).collect();
        assert!(W3cTraceState::parse(&many.join(",")).1.is_some());
        let ok: Vec<String> = (0..31).map(|i| format!("k{i}=v")).collect();
        assert!(W3cTraceState::parse(&ok.join(",")).1.is_none());
    }
}
