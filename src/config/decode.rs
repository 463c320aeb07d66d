//! Helpers every component uses to decode its own config: serde decoding with key paths and
//! "did you mean" hints, Go-style durations, and endpoint checks.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::component::ComponentConfigError;

/// Decodes a component's raw config into its typed struct (which should use
/// `#[serde(deny_unknown_fields, default)]`). A null config (`otlp:` with nothing under it)
/// decodes as an empty map, so every field takes its default. Errors carry the key path inside
/// the component and, for unknown keys, the closest known key as a hint.
pub fn decode<T: DeserializeOwned>(raw: &Value) -> Result<T, ComponentConfigError> {
    let empty = Value::Object(Default::default());
    let raw = if raw.is_null() { &empty } else { raw };
    serde_path_to_error::deserialize::<_, T>(raw).map_err(|e| {
        let path: Vec<String> = e
            .path()
            .iter()
            .map(|seg| match seg {
                serde_path_to_error::Segment::Seq { index } => index.to_string(),
                serde_path_to_error::Segment::Map { key } => key.clone(),
                serde_path_to_error::Segment::Enum { variant } => variant.clone(),
                serde_path_to_error::Segment::Unknown => "?".to_string(),
            })
            .collect();
        let message = e.inner().to_string();
        let hint = unknown_field_hint(&message);
        ComponentConfigError {
            path,
            message: clean_serde_message(&message),
            hint,
        }
    })
}

/// serde says "unknown field `endpont`, expected one of `endpoint`, `tls`"; suggest the
/// closest expected key.
fn unknown_field_hint(message: &str) -> Option<String> {
    let rest = message
        .strip_prefix("unknown field `")
        .or_else(|| message.strip_prefix("unknown variant `"))?;
    let (unknown, rest) = rest.split_once('`')?;
    let expected: Vec<&str> = rest.split('`').skip(1).step_by(2).collect();
    did_you_mean(unknown, expected.iter().copied())
}

fn clean_serde_message(message: &str) -> String {
    // serde_json appends " at line 1 column 2" only when decoding text, never from a Value,
    // so the message can be used as is.
    message.to_string()
}

/// Returns `did you mean "x"?` for the candidate closest to `word`, if any is close enough.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let mut best: Option<(f64, &str)> = None;
    for c in candidates {
        let score = strsim::jaro_winkler(word, c);
        if best.is_none_or(|(s, _)| score > s) {
            best = Some((score, c));
        }
    }
    match best {
        Some((score, c)) if score >= 0.8 => Some(format!("did you mean \"{c}\"?")),
        _ => None,
    }
}

/// Parses a Go-style duration as the collector accepts it: `200ms`, `5s`, `1m30s`, `1h`,
/// `500us`, `10ns`, `0`. A bare integer is nanoseconds, as Go's time.Duration.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if let Ok(ns) = s.parse::<u64>() {
        return Ok(Duration::from_nanos(ns));
    }
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        return Err("empty duration".into());
    }
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("duration {s:?} is missing a unit (ns, us, ms, s, m, h)"))?;
        if num_end == 0 {
            return Err(format!("invalid duration {s:?}"));
        }
        let n: f64 = rest[..num_end]
            .parse()
            .map_err(|_| format!("invalid duration {s:?}"))?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_end];
        rest = &rest[unit_end..];
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => {
                return Err(format!(
                    "invalid unit {unit:?} in duration {s:?} (use ns, us, ms, s, m, h)"
                ))
            }
        };
        total += n * scale;
    }
    Ok(Duration::from_secs_f64(total))
}

/// serde `deserialize_with` for a Go-style duration (string, or integer nanoseconds).
pub fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Int(u64),
        Str(String),
    }
    match Raw::deserialize(d)? {
        Raw::Int(ns) => Ok(Duration::from_nanos(ns)),
        Raw::Str(s) => parse_duration(&s).map_err(serde::de::Error::custom),
    }
}

/// Checks a listen endpoint `host:port` (`localhost:4317`, `0.0.0.0:4318`, `:4317`,
/// `[::1]:4317`) and returns it with an empty host replaced by `0.0.0.0`, as Go listens.
pub fn listen_endpoint(endpoint: &str) -> Result<String, String> {
    let (host, port) = split_host_port(endpoint)?;
    let host = if host.is_empty() { "0.0.0.0" } else { host };
    if host.contains(':') {
        Ok(format!("[{host}]:{port}"))
    } else {
        Ok(format!("{host}:{port}"))
    }
}

/// Splits `host:port` (IPv6 hosts in brackets); the port must be a number 0–65535.
pub fn split_host_port(endpoint: &str) -> Result<(&str, u16), String> {
    let e = endpoint.trim();
    let (host, port) = if let Some(rest) = e.strip_prefix('[') {
        let (h, p) = rest
            .split_once("]:")
            .ok_or_else(|| format!("endpoint {e:?} is not host:port"))?;
        (h, p)
    } else {
        e.rsplit_once(':')
            .ok_or_else(|| format!("endpoint {e:?} is not host:port (missing port)"))?
    };
    if host.contains('/') || host.contains(' ') {
        return Err(format!("endpoint {e:?} is not host:port"));
    }
    let port: u16 = port
        .parse()
        .map_err(|_| format!("endpoint {e:?}: port {port:?} is not a number from 0 to 65535"))?;
    Ok((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse_duration("200ms").unwrap(), Duration::from_millis(200));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert_eq!(parse_duration("1500").unwrap(), Duration::from_nanos(1500));
        assert!(parse_duration("5").is_ok());
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("s").is_err());
    }

    #[test]
    fn checks_listen_endpoints() {
        assert_eq!(listen_endpoint("localhost:4317").unwrap(), "localhost:4317");
        assert_eq!(listen_endpoint(":4317").unwrap(), "0.0.0.0:4317");
        assert_eq!(listen_endpoint("[::1]:4317").unwrap(), "[::1]:4317");
        assert!(listen_endpoint("localhost").is_err());
        assert!(listen_endpoint("localhost:99999").is_err());
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Sample {
        #[serde(default)]
        endpoint: String,
        #[serde(default)]
        timeout: Option<u32>,
    }

    #[test]
    fn unknown_key_gets_path_and_hint() {
        let err = decode::<Sample>(&serde_json::json!({"endpont": "x"})).unwrap_err();
        assert!(
            err.message.contains("unknown field `endpont`"),
            "{}",
            err.message
        );
        assert_eq!(err.hint.as_deref(), Some("did you mean \"endpoint\"?"));
    }

    #[test]
    fn null_config_takes_defaults() {
        let s: Sample = decode(&Value::Null).unwrap();
        assert_eq!(s.endpoint, "");
    }
}
