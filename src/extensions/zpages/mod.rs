//! The `zpages` extension: HTML pages a person reads in a browser to look inside a running
//! Sluice, served on `endpoint` (default `localhost:55679`):
//!
//! - `/debug/servicez`: version, build, start time, status and the config with secrets
//!   redacted;
//! - `/debug/pipelinez`: each pipeline, receivers → processors → exporters, with live counts;
//! - `/debug/extensionz`: the running extensions;
//! - `/debug/featurez`: feature gates (none) and built-in component types;
//! - `/debug/tracez`: Sluice's own recent spans (one per export attempt) by latency bucket
//!   and error, with samples.
//!
//! Plain server-rendered HTML with inline CSS; no scripts, no external assets.

mod pages;

use std::collections::HashMap;

use async_trait::async_trait;
use axum::http::{header, Uri};
use axum::response::{Html, IntoResponse, Redirect};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use serde_json::Value;
use tokio::task::JoinHandle;

use crate::component::{ComponentConfigError, ComponentId, Extension, ExtensionContext};
use crate::config::decode::{decode, listen_endpoint};
use crate::registry::{ExtensionCreate, Factory};

pub use pages::{extensionz, featurez, pipelinez, servicez, tracez};

/// The `zpages` extension's factory.
pub const FACTORY: Factory<ExtensionCreate> = Factory {
    type_name: "zpages",
    deprecated_names: &[],
    signals: &[],
    stability: "beta",
    create,
};

/// `extensions: zpages:` config.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ZPagesConfig {
    /// Where to listen (default `localhost:55679`).
    pub endpoint: String,
    /// TLS for the endpoint (the collector\'s `tls:` server block); absent = plaintext.
    pub tls: Option<crate::tls::config::TlsServerSetting>,
}

impl Default for ZPagesConfig {
    fn default() -> Self {
        ZPagesConfig {
            endpoint: "localhost:55679".into(),
            tls: None,
        }
    }
}

fn create(_id: &ComponentId, raw: &Value) -> Result<Box<dyn Extension>, ComponentConfigError> {
    let mut cfg: ZPagesConfig = decode(raw)?;
    cfg.endpoint =
        listen_endpoint(&cfg.endpoint).map_err(|e| ComponentConfigError::at(&["endpoint"], e))?;
    if let Some(t) = &cfg.tls {
        t.to_server(crate::tls::config::HTTP_ALPN)?;
    }
    Ok(Box::new(ZPages { cfg }))
}

/// A configured zpages extension.
pub struct ZPages {
    cfg: ZPagesConfig,
}

fn html(body: String) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Html(body),
    )
}

/// Parses `a=1&b=x%2Fy` into a map, percent-decoding keys and values (`+` is a space).
fn parse_query(q: &str) -> HashMap<String, String> {
    fn decode(s: &str) -> String {
        let b = s.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < b.len() => {
                    match std::str::from_utf8(&b[i + 1..i + 3])
                        .ok()
                        .and_then(|h| u8::from_str_radix(h, 16).ok())
                    {
                        Some(v) => {
                            out.push(v);
                            i += 2;
                        }
                        None => out.push(b'%'),
                    }
                }
                c => out.push(c),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

#[async_trait]
impl Extension for ZPages {
    async fn start(self: Box<Self>, ctx: ExtensionContext) -> anyhow::Result<JoinHandle<()>> {
        let listener = crate::extensions::listen(&ctx.id, &self.cfg.endpoint).await?;
        tracing::info!(extension = %ctx.id, endpoint = %listener.local_addr()?, "zpages serving");
        let host = ctx.host.clone();
        let (h1, h2, h3) = (host.clone(), host.clone(), host.clone());
        let app = Router::new()
            .route("/", get(|| async { Redirect::to("/debug/servicez") }))
            .route("/debug", get(|| async { Redirect::to("/debug/servicez") }))
            .route(
                "/debug/servicez",
                get(move || {
                    let h = h1.clone();
                    async move { html(servicez(&h)) }
                }),
            )
            .route(
                "/debug/pipelinez",
                get(move || {
                    let h = h2.clone();
                    async move { html(pipelinez(&h.config())) }
                }),
            )
            .route(
                "/debug/extensionz",
                get(move || {
                    let h = h3.clone();
                    async move { html(extensionz(&h.config())) }
                }),
            )
            .route("/debug/featurez", get(|| async { html(featurez()) }))
            .route(
                "/debug/tracez",
                get(|uri: Uri| async move {
                    let q = parse_query(uri.query().unwrap_or(""));
                    html(tracez(
                        q.get("name").map(String::as_str),
                        q.get("bucket").and_then(|b| b.parse().ok()),
                        q.contains_key("error"),
                    ))
                }),
            );
        crate::extensions::serve_until(&ctx.id, listener, &self.cfg.tls, app, ctx.shutdown.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::parse_query;

    #[test]
    fn query_strings_decode() {
        let q = parse_query("name=exporter%2Fotlp%2Fexport&bucket=3&error&x=%zz+%4");
        assert_eq!(q["name"], "exporter/otlp/export");
        assert_eq!(q["bucket"], "3");
        assert_eq!(q["error"], "");
        assert_eq!(q["x"], "%zz %4");
    }
}
