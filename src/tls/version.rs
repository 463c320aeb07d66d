//! TLS protocol versions as configs spell them.

use super::TlsError;

/// A TLS version rustls speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    /// TLS 1.2.
    Tls12,
    /// TLS 1.3.
    Tls13,
}

impl TlsVersion {
    /// Parses `1.2`/`1.3` (the collector's spelling) or `TLS12`/`TLS13` (Prometheus's).
    /// TLS 1.0 and 1.1 are refused: they are broken and rustls does not implement them.
    pub fn parse(s: &str) -> Result<TlsVersion, TlsError> {
        match s.trim() {
            "1.2" | "TLS12" => Ok(TlsVersion::Tls12),
            "1.3" | "TLS13" => Ok(TlsVersion::Tls13),
            "1.0" | "1.1" | "TLS10" | "TLS11" => Err(TlsError(format!(
                "TLS version {s:?} is not supported: Sluice speaks TLS 1.2 and 1.3 only"
            ))),
            other => Err(TlsError(format!(
                "unknown TLS version {other:?} (expected 1.2 or 1.3, or TLS12 or TLS13)"
            ))),
        }
    }

    /// The rustls versions from `min` to `max` inclusive.
    pub fn range(
        min: Option<TlsVersion>,
        max: Option<TlsVersion>,
    ) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, TlsError> {
        let min = min.unwrap_or(TlsVersion::Tls12);
        let max = max.unwrap_or(TlsVersion::Tls13);
        if min > max {
            return Err(TlsError(format!(
                "min_version {min:?} is above max_version {max:?}"
            )));
        }
        let mut out = Vec::new();
        if min <= TlsVersion::Tls12 && max >= TlsVersion::Tls12 {
            out.push(&rustls::version::TLS12);
        }
        if max >= TlsVersion::Tls13 {
            out.push(&rustls::version::TLS13);
        }
        Ok(out)
    }
}
