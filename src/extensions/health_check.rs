//! The `health_check` extension: an HTTP endpoint for liveness/readiness probes, answering as
//! the collector's does. `200 {"status":"Server available","upSince":…,"uptime":…}` once every
//! pipeline has started; `503 {"status":"Server not available",…}` while starting or
//! shutting down. With `check_collector_pipeline.enabled`, it also answers 503 while an
//! exporter has failed at least `exporter_failure_threshold` export attempts (retries
//! included) within the last `interval`, and 200 again once those failures age out.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::task::JoinHandle;

use crate::component::{ComponentConfigError, ComponentId, Extension, ExtensionContext};
use crate::config::decode::{decode, duration, listen_endpoint};
use crate::registry::{ExtensionCreate, Factory};
use crate::service::host::{go_duration, rfc3339, Host, Status};
use crate::telemetry::exporter_health;

/// The `health_check` extension's factory.
pub const FACTORY: Factory<ExtensionCreate> = Factory {
    type_name: "health_check",
    deprecated_names: &[],
    signals: &[],
    stability: "beta",
    create,
};

/// `extensions: health_check:` config (the collector's keys).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthCheckConfig {
    /// Where to listen (default `localhost:13133`).
    pub endpoint: String,
    /// TLS for the endpoint (the collector\'s `tls:` server block); absent = plaintext.
    pub tls: Option<crate::tls::config::TlsServerSetting>,
    /// The path answered (default `/`).
    pub path: String,
    /// Fixed bodies instead of the JSON status.
    pub response_body: Option<ResponseBody>,
    /// Readiness that also considers exporters' recent failures.
    pub check_collector_pipeline: PipelineCheck,
    /// An opt-in endpoint on this listener that reloads the config (Sluice's addition).
    pub reload: ReloadEndpoint,
}

/// `reload`: `POST {path}` re-reads and validates the config files; 200 when the new config
/// is valid and being applied, 400 with the validation errors (the running pipelines are
/// kept).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReloadEndpoint {
    /// Off by default.
    pub enabled: bool,
    /// Default `/reload`.
    pub path: String,
}

impl Default for ReloadEndpoint {
    fn default() -> Self {
        ReloadEndpoint {
            enabled: false,
            path: "/reload".into(),
        }
    }
}

impl Default for HealthCheckConfig {
    fn default() -> Self {
        HealthCheckConfig {
            endpoint: "localhost:13133".into(),
            tls: None,
            path: "/".into(),
            response_body: None,
            check_collector_pipeline: PipelineCheck::default(),
            reload: ReloadEndpoint::default(),
        }
    }
}

/// `response_body`: what to answer instead of the JSON status.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[derive(Default)]
pub struct ResponseBody {
    /// Body of a 200 answer.
    pub healthy: String,
    /// Body of a 503 answer.
    pub unhealthy: String,
}

/// `check_collector_pipeline`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineCheck {
    /// Off by default, as upstream.
    pub enabled: bool,
    /// The window failures are counted in (default 5m).
    #[serde(deserialize_with = "duration")]
    pub interval: Duration,
    /// Failed export attempts of one exporter within the window that make the service
    /// unhealthy (default 5).
    pub exporter_failure_threshold: usize,
}

impl Default for PipelineCheck {
    fn default() -> Self {
        PipelineCheck {
            enabled: false,
            interval: Duration::from_secs(300),
            exporter_failure_threshold: 5,
        }
    }
}

fn create(_id: &ComponentId, raw: &Value) -> Result<Box<dyn Extension>, ComponentConfigError> {
    let mut cfg: HealthCheckConfig = decode(raw)?;
    cfg.endpoint =
        listen_endpoint(&cfg.endpoint).map_err(|e| ComponentConfigError::at(&["endpoint"], e))?;
    if let Some(t) = &cfg.tls {
        t.to_server(crate::tls::config::HTTP_ALPN)?;
    }
    if !cfg.path.starts_with('/') {
        return Err(ComponentConfigError::at(
            &["path"],
            format!("path {:?} must start with '/'", cfg.path),
        ));
    }
    if cfg.reload.enabled && (!cfg.reload.path.starts_with('/') || cfg.reload.path == cfg.path) {
        return Err(ComponentConfigError::at(
            &["reload", "path"],
            "reload.path must start with '/' and differ from path",
        ));
    }
    if cfg.check_collector_pipeline.enabled {
        if cfg.check_collector_pipeline.interval.is_zero() {
            return Err(ComponentConfigError::at(
                &["check_collector_pipeline", "interval"],
                "interval must be positive",
            ));
        }
        if cfg.check_collector_pipeline.exporter_failure_threshold == 0 {
            return Err(ComponentConfigError::at(
                &["check_collector_pipeline", "exporter_failure_threshold"],
                "exporter_failure_threshold must be at least 1",
            ));
        }
    }
    Ok(Box::new(HealthCheck { cfg }))
}

/// A configured health_check extension.
pub struct HealthCheck {
    cfg: HealthCheckConfig,
}

/// The answer for a status: HTTP status code and body. `failing` lists exporters over the
/// failure threshold (only with `check_collector_pipeline`).
pub fn answer(
    cfg: &HealthCheckConfig,
    status: Status,
    failing: &[(String, usize)],
    now: SystemTime,
) -> (StatusCode, String) {
    let healthy = matches!(status, Status::Ready(_)) && failing.is_empty();
    if let Some(body) = &cfg.response_body {
        return if healthy {
            (StatusCode::OK, body.healthy.clone())
        } else {
            (StatusCode::SERVICE_UNAVAILABLE, body.unhealthy.clone())
        };
    }
    let (up_since, uptime) = match status {
        Status::Ready(since) => (
            rfc3339(since),
            go_duration(now.duration_since(since).unwrap_or_default()),
        ),
        _ => ("0001-01-01T00:00:00Z".to_string(), String::new()),
    };
    let mut body = json!({
        "status": if healthy { "Server available" } else { "Server not available" },
        "upSince": up_since,
        "uptime": uptime,
    });
    if !failing.is_empty() {
        body["failing_exporters"] = failing
            .iter()
            .map(|(id, n)| (id.clone(), json!(n)))
            .collect::<serde_json::Map<_, _>>()
            .into();
    }
    let code = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, body.to_string())
}

/// Exporters over the threshold now.
fn failing(check: &PipelineCheck) -> Vec<(String, usize)> {
    if !check.enabled {
        return Vec::new();
    }
    exporter_health::failures_within(check.interval)
        .into_iter()
        .filter(|(_, n)| *n >= check.exporter_failure_threshold)
        .collect()
}

fn respond(cfg: &HealthCheckConfig, host: &Host) -> Response {
    let (code, body) = answer(
        cfg,
        host.status(),
        &failing(&cfg.check_collector_pipeline),
        SystemTime::now(),
    );
    let ct = if cfg.response_body.is_some() {
        "text/plain; charset=utf-8"
    } else {
        "application/json"
    };
    (code, [(header::CONTENT_TYPE, ct)], body).into_response()
}

async fn reload(host: &Host) -> Response {
    let Some(tx) = &host.reload else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "reload is not available in this process\n",
        )
            .into_response();
    };
    let (reply, answer) = tokio::sync::oneshot::channel();
    if tx.send(reply).is_err() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response();
    }
    match answer.await {
        Ok(Ok(())) => (StatusCode::OK, "config valid; reloading\n").into_response(),
        Ok(Err(errors)) => (
            StatusCode::BAD_REQUEST,
            format!("config rejected; the running pipelines are kept:\n{errors}\n"),
        )
            .into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response(),
    }
}

#[async_trait]
impl Extension for HealthCheck {
    async fn start(self: Box<Self>, ctx: ExtensionContext) -> anyhow::Result<JoinHandle<()>> {
        let listener = super::listen(&ctx.id, &self.cfg.endpoint).await?;
        tracing::info!(extension = %ctx.id, endpoint = %listener.local_addr()?, path = %self.cfg.path,
            "health_check serving");
        let tls = self.cfg.tls.clone();
        let cfg = std::sync::Arc::new(self.cfg);
        let host = ctx.host.clone();
        let path = cfg.path.clone();
        let (reload_cfg, reload_host) = (cfg.reload.clone(), host.clone());
        let mut app = Router::new().route(
            &path,
            get(move || {
                let (cfg, host) = (cfg.clone(), host.clone());
                async move { respond(&cfg, &host) }
            }),
        );
        if reload_cfg.enabled {
            app = app.route(
                &reload_cfg.path,
                post(move || {
                    let host = reload_host.clone();
                    async move { reload(&host).await }
                }),
            );
        }
        crate::extensions::serve_until(&ctx.id, listener, &tls, app, ctx.shutdown.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(code_body: &(StatusCode, String)) -> Value {
        serde_json::from_str(&code_body.1).unwrap()
    }

    #[test]
    fn answers_per_status() {
        let cfg = HealthCheckConfig::default();
        let since = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let now = since + Duration::from_millis(1500);
        let starting = answer(&cfg, Status::Starting, &[], now);
        assert_eq!(starting.0, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            body(&starting),
            json!({"status": "Server not available", "upSince": "0001-01-01T00:00:00Z", "uptime": ""})
        );
        let ready = answer(&cfg, Status::Ready(since), &[], now);
        assert_eq!(ready.0, StatusCode::OK);
        assert_eq!(
            body(&ready),
            json!({"status": "Server available", "upSince": "2023-11-14T22:13:20.000000000Z", "uptime": "1.5s"})
        );
        assert_eq!(
            answer(&cfg, Status::Stopping, &[], now).0,
            StatusCode::SERVICE_UNAVAILABLE
        );
        let failing = answer(&cfg, Status::Ready(since), &[("otlp_grpc".into(), 7)], now);
        assert_eq!(failing.0, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body(&failing)["failing_exporters"], json!({"otlp_grpc": 7}));
    }

    #[test]
    fn custom_bodies_and_config_checks() {
        let raw =
            json!({"response_body": {"healthy": "ok", "unhealthy": "nope"}, "path": "/health"});
        let cfg: HealthCheckConfig = decode(&raw).unwrap();
        let now = SystemTime::now();
        assert_eq!(
            answer(&cfg, Status::Ready(now), &[], now),
            (StatusCode::OK, "ok".to_string())
        );
        assert_eq!(
            answer(&cfg, Status::Starting, &[], now),
            (StatusCode::SERVICE_UNAVAILABLE, "nope".to_string())
        );
        let id = ComponentId::new("health_check", None);
        assert!(create(&id, &json!({"path": "health"})).is_err());
        assert!(create(&id, &json!({"endpoint": "nope"})).is_err());
        assert!(create(
            &id,
            &json!({"check_collector_pipeline": {"enabled": true, "exporter_failure_threshold": 0}})
        )
        .is_err());
        assert!(create(
            &id,
            &json!({"check_collector_pipeline": {"enabled": true, "interval": "1s"}})
        )
        .is_ok());
    }
}
