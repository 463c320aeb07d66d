//! The `pprof` extension: Go-style profiling endpoints on `endpoint` (default
//! `localhost:1777`):
//!
//! - `/debug/pprof/profile?seconds=N` (default 30, at most 300): samples the CPU at
//!   `sampling_rate` Hz (default 99) for N seconds and answers a gzip-compressed pprof
//!   protobuf profile, what `go tool pprof` and other pprof readers open;
//! - `/debug/pprof/heap`: the allocator's statistics as text (jemalloc: allocated, active,
//!   resident, mapped, retained, metadata), or RSS without jemalloc;
//! - `/debug/pprof/`: an index.
//!
//! One CPU profile runs at a time; a second request meanwhile gets 409.

pub mod proto;

use std::io::Write as _;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use prost::Message;
use serde::Deserialize;
use serde_json::Value;
use tokio::task::JoinHandle;

use crate::component::{ComponentConfigError, ComponentId, Extension, ExtensionContext};
use crate::config::decode::{decode, listen_endpoint};
use crate::registry::{ExtensionCreate, Factory};
use crate::telemetry::memory;

/// The `pprof` extension's factory.
pub const FACTORY: Factory<ExtensionCreate> = Factory {
    type_name: "pprof",
    deprecated_names: &[],
    signals: &[],
    stability: "beta",
    create,
};

/// `extensions: pprof:` config (the collector's keys).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PprofConfig {
    /// Where to listen (default `localhost:1777`).
    pub endpoint: String,
    /// TLS for the endpoint (the collector\'s `tls:` server block); absent = plaintext.
    pub tls: Option<crate::tls::config::TlsServerSetting>,
    /// CPU sampling frequency in Hz (default 99). Upstream's block/mutex fractions do not
    /// apply to Sluice and are accepted for compatibility.
    pub sampling_rate: i32,
    /// Accepted for compatibility (Go block profiling).
    pub block_profile_fraction: i64,
    /// Accepted for compatibility (Go mutex profiling).
    pub mutex_profile_fraction: i64,
    /// Accepted for compatibility (profile from start to file): not supported, must be empty.
    pub save_to_file: String,
}

impl Default for PprofConfig {
    fn default() -> Self {
        PprofConfig {
            endpoint: "localhost:1777".into(),
            tls: None,
            sampling_rate: 99,
            block_profile_fraction: 0,
            mutex_profile_fraction: 0,
            save_to_file: String::new(),
        }
    }
}

fn create(_id: &ComponentId, raw: &Value) -> Result<Box<dyn Extension>, ComponentConfigError> {
    let mut cfg: PprofConfig = decode(raw)?;
    cfg.endpoint =
        listen_endpoint(&cfg.endpoint).map_err(|e| ComponentConfigError::at(&["endpoint"], e))?;
    if let Some(t) = &cfg.tls {
        t.to_server(crate::tls::config::HTTP_ALPN)?;
    }
    if !(1..=1000).contains(&cfg.sampling_rate) {
        return Err(ComponentConfigError::at(
            &["sampling_rate"],
            "sampling_rate must be between 1 and 1000 Hz",
        ));
    }
    if !cfg.save_to_file.is_empty() {
        return Err(ComponentConfigError::at(
            &["save_to_file"],
            "save_to_file is not supported; fetch /debug/pprof/profile instead",
        ));
    }
    Ok(Box::new(Pprof { cfg }))
}

/// A configured pprof extension.
pub struct Pprof {
    cfg: PprofConfig,
}

/// Samples the CPU for `secs` at `frequency` Hz and returns the profile (not compressed).
/// Blocks the calling thread for the duration.
pub fn cpu_profile(secs: Duration, frequency: i32) -> anyhow::Result<proto::Profile> {
    let guard = ::pprof::ProfilerGuardBuilder::default()
        .frequency(frequency)
        .blocklist(&["libc", "libgcc", "pthread", "vdso"])
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the profiler: {e}"))?;
    std::thread::sleep(secs);
    let report = guard
        .report()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot build the report: {e}"))?;
    drop(guard);
    let t = &report.timing;
    let start = t
        .start_time
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as i64;
    let mut b = proto::Builder::cpu(t.frequency, start, t.duration.as_nanos() as i64);
    for (frames, count) in &report.data {
        let stack: Vec<proto::FrameIn> = frames
            .frames
            .iter()
            .map(|syms| proto::FrameIn {
                address: syms
                    .first()
                    .and_then(|s| s.addr)
                    .map(|a| a as u64)
                    .unwrap_or(0),
                symbols: syms
                    .iter()
                    .map(|s| {
                        (
                            s.name(),
                            String::from_utf8_lossy(s.raw_name()).into_owned(),
                            s.filename
                                .as_ref()
                                .map(|p| p.display().to_string())
                                .unwrap_or_default(),
                            i64::from(s.lineno.unwrap_or(0)),
                        )
                    })
                    .collect(),
            })
            .collect();
        b.add(&stack, &frames.thread_name_or_id(), *count as i64);
    }
    Ok(b.finish())
}

/// The allocator statistics as text.
pub fn heap_text() -> String {
    let mut out = String::new();
    use std::fmt::Write as _;
    match memory::source() {
        memory::Source::Jemalloc => {
            use tikv_jemalloc_ctl::{epoch, stats};
            let _ = epoch::advance();
            let _ = writeln!(out, "# allocator: jemalloc");
            for (name, v) in [
                ("allocated", stats::allocated::read()),
                ("active", stats::active::read()),
                ("resident", stats::resident::read()),
                ("mapped", stats::mapped::read()),
                ("retained", stats::retained::read()),
                ("metadata", stats::metadata::read()),
            ] {
                match v {
                    Ok(v) => {
                        let _ = writeln!(out, "{name}_bytes {v}");
                    }
                    Err(e) => {
                        let _ = writeln!(out, "# {name}: unavailable ({e})");
                    }
                }
            }
        }
        memory::Source::ProcRss => {
            let _ = writeln!(
                out,
                "# allocator: system (no statistics); resident set size"
            );
        }
    }
    let _ = writeln!(out, "rss_bytes {}", memory::rss_bytes());
    out
}

fn query_seconds(uri: &Uri) -> Result<Duration, String> {
    let secs = uri
        .query()
        .unwrap_or("")
        .split('&')
        .find_map(|kv| kv.strip_prefix("seconds="))
        .map(|v| v.parse::<u64>().map_err(|_| format!("bad seconds {v:?}")))
        .transpose()?
        .unwrap_or(30);
    if secs == 0 || secs > 300 {
        return Err("seconds must be between 1 and 300".into());
    }
    Ok(Duration::from_secs(secs))
}

async fn profile(uri: Uri, frequency: i32) -> Response {
    let secs = match query_seconds(&uri) {
        Ok(s) => s,
        Err(e) => return (StatusCode::BAD_REQUEST, e).into_response(),
    };
    static RUNNING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if RUNNING.swap(true, std::sync::atomic::Ordering::AcqRel) {
        return (StatusCode::CONFLICT, "a CPU profile is already running\n").into_response();
    }
    let result = tokio::task::spawn_blocking(move || {
        let p = cpu_profile(secs, frequency)?;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&p.encode_to_vec())?;
        Ok::<_, anyhow::Error>(gz.finish()?)
    })
    .await;
    RUNNING.store(false, std::sync::atomic::Ordering::Release);
    match result {
        Ok(Ok(body)) => (
            [
                (header::CONTENT_TYPE, "application/octet-stream"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"profile\"",
                ),
            ],
            body,
        )
            .into_response(),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}\n")).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

const INDEX: &str = "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>/debug/pprof/</title></head>\
<body><h1>/debug/pprof/</h1><ul>\
<li><a href=\"/debug/pprof/profile?seconds=30\">profile</a>: CPU profile (pprof protobuf, gzip), <code>?seconds=N</code></li>\
<li><a href=\"/debug/pprof/heap\">heap</a>: allocator statistics (text)</li></ul></body></html>";

#[async_trait]
impl Extension for Pprof {
    async fn start(self: Box<Self>, ctx: ExtensionContext) -> anyhow::Result<JoinHandle<()>> {
        let listener = crate::extensions::listen(&ctx.id, &self.cfg.endpoint).await?;
        tracing::info!(extension = %ctx.id, endpoint = %listener.local_addr()?, "pprof serving");
        let freq = self.cfg.sampling_rate;
        let app = Router::new()
            .route(
                "/debug/pprof/",
                get(|| async { ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], INDEX) }),
            )
            .route(
                "/debug/pprof/profile",
                get(move |uri: Uri| profile(uri, freq)),
            )
            .route(
                "/debug/pprof/heap",
                get(|| async {
                    (
                        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                        heap_text(),
                    )
                }),
            );
        crate::extensions::serve_until(&ctx.id, listener, &self.cfg.tls, app, ctx.shutdown.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_checked() {
        let u = |s: &str| s.parse::<Uri>().unwrap();
        assert_eq!(query_seconds(&u("/p")).unwrap(), Duration::from_secs(30));
        assert_eq!(
            query_seconds(&u("/p?debug=1&seconds=2")).unwrap(),
            Duration::from_secs(2)
        );
        assert!(query_seconds(&u("/p?seconds=0")).is_err());
        assert!(query_seconds(&u("/p?seconds=x")).is_err());
        let id = ComponentId::new("pprof", None);
        assert!(create(&id, &serde_json::json!({"sampling_rate": 0})).is_err());
        assert!(create(&id, &serde_json::json!({"save_to_file": "x"})).is_err());
        assert!(create(&id, &serde_json::json!({})).is_ok());
    }
}
