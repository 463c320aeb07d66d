//! `service.telemetry.metrics`: where and how much of Sluice's own metrics are served, in
//! Prometheus text, at `http://ADDRESS/metrics`.
//!
//! Both config shapes the collector accepts are read:
//! `address: host:port` (older) and
//! `readers: [{pull: {exporter: {prometheus: {host, port}}}}]` (newer; wins when both are set).
//! The default is `localhost:8888`; `level: none` serves nothing.

use std::net::SocketAddr;

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use serde_json::Value;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{process, registry};

/// The default `service.telemetry.metrics` address, as upstream.
pub const DEFAULT_ADDRESS: &str = "localhost:8888";

/// How much Sluice reports about itself (`service.telemetry.metrics.level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Nothing: no endpoint.
    None,
    /// Receiver, processor item, exporter and process metrics.
    Basic,
    /// Plus batch processor, memory_limiter and Sluice-specific metrics (the default).
    Normal,
    /// Everything (currently what `normal` serves).
    Detailed,
}

impl Level {
    /// Parses `none`, `basic`, `normal` or `detailed` (any case).
    pub fn parse(s: &str) -> Option<Level> {
        match s.to_ascii_lowercase().as_str() {
            "none" => Some(Level::None),
            "basic" => Some(Level::Basic),
            "normal" => Some(Level::Normal),
            "detailed" => Some(Level::Detailed),
            _ => None,
        }
    }

    /// Whether a metric family is served at this level.
    pub fn keeps(self, name: &str) -> bool {
        match self {
            Level::None => false,
            Level::Basic => {
                !(name.starts_with("otelcol_processor_batch_")
                    || name.starts_with("otelcol_processor_memory_limiter_")
                    || name.starts_with("sluice_"))
            }
            Level::Normal | Level::Detailed => true,
        }
    }
}

/// The typed `service.telemetry.metrics` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsSettings {
    /// How much to report.
    pub level: Level,
    /// `host:port` to serve on.
    pub address: String,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        MetricsSettings {
            level: Level::Normal,
            address: DEFAULT_ADDRESS.to_string(),
        }
    }
}

/// A problem in the section: key path below `service::telemetry::metrics` and a message.
pub type SettingsError = (Vec<String>, String);

/// Reads the section (null means defaults). Every problem is returned.
pub fn parse(v: &Value) -> Result<MetricsSettings, Vec<SettingsError>> {
    let mut s = MetricsSettings::default();
    let mut errors: Vec<SettingsError> = Vec::new();
    let err = |path: &[&str], msg: String| (path.iter().map(|p| p.to_string()).collect(), msg);
    let map = match v {
        Value::Null => return Ok(s),
        Value::Object(m) => m,
        _ => return Err(vec![err(&[], "expected a map".into())]),
    };
    for k in map.keys() {
        if !["level", "address", "readers", "views"].contains(&k.as_str()) {
            errors.push(err(
                &[k],
                format!("unknown key {k:?} (expected one of: level, address, readers, views)"),
            ));
        }
    }
    match map.get("level") {
        None | Some(Value::Null) => {}
        Some(Value::String(l)) => match Level::parse(l) {
            Some(l) => s.level = l,
            None => errors.push(err(
                &["level"],
                format!("unknown level {l:?} (none, basic, normal, detailed)"),
            )),
        },
        Some(other) => errors.push(err(&["level"], format!("expected a string, got {other}"))),
    }
    match map.get("address") {
        None | Some(Value::Null) => {}
        Some(Value::String(a)) if a.rsplit_once(':').is_some() => s.address = a.clone(),
        Some(other) => errors.push(err(
            &["address"],
            format!("expected host:port, got {other}"),
        )),
    }
    match map.get("readers") {
        None | Some(Value::Null) => {}
        Some(Value::Array(readers)) => {
            let mut found = None;
            for (i, r) in readers.iter().enumerate() {
                let idx = i.to_string();
                if r.get("periodic").is_some() {
                    errors.push(err(
                        &["readers", &idx, "periodic"],
                        "periodic (push) readers are not supported; use pull with a prometheus exporter"
                            .into(),
                    ));
                    continue;
                }
                let Some(p) = r.pointer("/pull/exporter/prometheus") else {
                    errors.push(err(
                        &["readers", &idx],
                        "expected pull: {exporter: {prometheus: {host, port}}}".into(),
                    ));
                    continue;
                };
                let host = match p.get("host") {
                    None | Some(Value::Null) => "localhost".to_string(),
                    Some(Value::String(h)) => h.clone(),
                    Some(other) => {
                        errors.push(err(
                            &["readers", &idx, "pull", "exporter", "prometheus", "host"],
                            format!("expected a string, got {other}"),
                        ));
                        continue;
                    }
                };
                let port = match p.get("port") {
                    None | Some(Value::Null) => 8888,
                    Some(v) => match v.as_u64().filter(|p| *p <= 65535) {
                        Some(p) => p,
                        None => {
                            errors.push(err(
                                &["readers", &idx, "pull", "exporter", "prometheus", "port"],
                                format!("expected a port number, got {v}"),
                            ));
                            continue;
                        }
                    },
                };
                if found.is_some() {
                    errors.push(err(
                        &["readers", &idx],
                        "only one pull reader is supported".into(),
                    ));
                    continue;
                }
                let host = if host.contains(':') && !host.starts_with('[') {
                    format!("[{host}]")
                } else {
                    host
                };
                found = Some(format!("{host}:{port}"));
            }
            if let Some(a) = found {
                s.address = a;
            }
        }
        Some(other) => errors.push(err(&["readers"], format!("expected a list, got {other}"))),
    }
    if errors.is_empty() {
        Ok(s)
    } else {
        Err(errors)
    }
}

/// Renders the global registry and process metrics at `level`.
pub fn render(level: Level) -> String {
    if level == Level::None {
        return String::new();
    }
    registry::GLOBAL.render(|n| level.keeps(n), &process::render())
}

/// Binds the metrics endpoint (unless `level: none`) and serves `/metrics` until `stop`.
/// Returns the bound address and the serving task.
pub async fn serve(
    settings: &MetricsSettings,
    stop: CancellationToken,
) -> anyhow::Result<Option<(SocketAddr, JoinHandle<()>)>> {
    if settings.level == Level::None {
        return Ok(None);
    }
    let listener = tokio::net::TcpListener::bind(&settings.address)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "service::telemetry::metrics: cannot listen on {}: {e}",
                settings.address
            )
        })?;
    let addr = listener.local_addr()?;
    let level = settings.level;
    let app = Router::new().route(
        "/metrics",
        get(move || async move {
            (
                [(
                    header::CONTENT_TYPE,
                    "text/plain; version=0.0.4; charset=utf-8",
                )],
                render(level),
            )
                .into_response()
        }),
    );
    let handle = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await;
    });
    Ok(Some((addr, handle)))
}

/// The own-metrics endpoint while it runs; restarted with new settings on reload.
pub struct OwnMetrics {
    settings: MetricsSettings,
    stop: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl OwnMetrics {
    /// Installs the recorder (unless `level: none`) and serves the endpoint.
    pub async fn start(settings: &MetricsSettings) -> anyhow::Result<OwnMetrics> {
        if settings.level != Level::None {
            registry::install();
            super::metrics::describe();
        }
        let stop = CancellationToken::new();
        let task = match serve(settings, stop.clone()).await? {
            Some((addr, task)) => {
                tracing::info!(%addr, "serving own metrics at http://{addr}/metrics");
                Some(task)
            }
            None => None,
        };
        Ok(OwnMetrics {
            settings: settings.clone(),
            stop,
            task,
        })
    }

    /// Stops serving.
    pub async fn stop(self) {
        self.stop.cancel();
        if let Some(t) = self.task {
            let _ = t.await;
        }
    }

    /// Applies reloaded settings: unchanged ones keep the endpoint running; changed ones move
    /// it. If the new address cannot be bound, the error is logged and the old one served again.
    pub async fn update(self, next: &MetricsSettings) -> OwnMetrics {
        if *next == self.settings {
            return self;
        }
        let old = self.settings.clone();
        self.stop().await;
        match OwnMetrics::start(next).await {
            Ok(m) => m,
            Err(e) => {
                tracing::error!("{e:#}; own metrics stay on the previous settings");
                match OwnMetrics::start(&old).await {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::error!("{e:#}; own metrics are not served until the next reload");
                        OwnMetrics {
                            settings: old,
                            stop: CancellationToken::new(),
                            task: None,
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn both_shapes_and_defaults() {
        assert_eq!(parse(&Value::Null).unwrap(), MetricsSettings::default());
        let a = parse(&json!({"address": "127.0.0.1:9999", "level": "basic"})).unwrap();
        assert_eq!(a.address, "127.0.0.1:9999");
        assert_eq!(a.level, Level::Basic);
        let r = parse(&json!({"readers": [{"pull": {"exporter": {"prometheus":
            {"host": "0.0.0.0", "port": 9090}}}}]}))
        .unwrap();
        assert_eq!(r.address, "0.0.0.0:9090");
        // readers win over address (a later config file may add either).
        let both = parse(
            &json!({"address": "127.0.0.1:0", "readers": [{"pull": {"exporter":
            {"prometheus": {"host": "::1", "port": 1}}}}]}),
        )
        .unwrap();
        assert_eq!(both.address, "[::1]:1");
        assert_eq!(parse(&json!({"level": "None"})).unwrap().level, Level::None);
    }

    #[test]
    fn problems_are_reported() {
        let e = parse(&json!({"level": "loud", "adress": "x", "readers": [{"periodic": {}}]}))
            .unwrap_err();
        assert_eq!(e.len(), 3, "{e:?}");
        assert!(e.iter().any(|(p, m)| p == &["level"] && m.contains("loud")));
    }

    #[test]
    fn levels_filter_families() {
        assert!(Level::Basic.keeps("otelcol_receiver_accepted_spans"));
        assert!(!Level::Basic.keeps("otelcol_processor_batch_batch_send_size"));
        assert!(Level::Normal.keeps("otelcol_processor_batch_batch_send_size"));
    }
}
