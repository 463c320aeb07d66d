//! The `loadbalancing` exporter, as in the collector: splits each batch by routing key
//! (trace ID by default, so all spans of a trace reach the same backend) over a consistent
//! hash ring of backends found by a static list or DNS, and sends each part with an OTLP/gRPC
//! exporter per backend. A backend whose export fails is taken off the ring (for a cool-down,
//! or until DNS stops listing it) and its part is re-routed to the others at once; it rejoins
//! when the cool-down ends or DNS lists it again.

mod config;
mod ring;
mod split;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

pub use config::LoadBalancingConfig;
use ring::Ring;
pub use split::RoutingKey;

use crate::component::{ComponentConfigError, ComponentId, ExportError, Exporter, QueueSettings};
use crate::config::decode::decode;
use crate::exporters::common::check_retry;
use crate::exporters::otlp_grpc::{OtlpGrpcConfig, OtlpGrpcExporter};
use crate::registry::{ExporterCreate, Factory};
use crate::signal::{Data, Signal};
use crate::telemetry::LogOnce;

/// The `loadbalancing` exporter's factory.
pub const FACTORY: Factory<ExporterCreate> = Factory {
    type_name: "loadbalancing",
    deprecated_names: &[],
    signals: &[Signal::Traces, Signal::Metrics, Signal::Logs],
    stability: "beta",
    create,
};

/// How long a failed backend stays off the ring (static resolver).
const COOL_DOWN: Duration = Duration::from_secs(5);

fn create(id: &ComponentId, raw: &Value) -> Result<Box<dyn Exporter>, ComponentConfigError> {
    let cfg: LoadBalancingConfig = decode(raw)?;
    let key = cfg.check()?;
    check_retry(&cfg.retry_on_failure)?;
    // Build one backend now so protocol.otlp errors show at load.
    backend_exporter(&cfg.protocol.otlp, "127.0.0.1:4317").map_err(|e| ComponentConfigError {
        path: [vec!["protocol".into(), "otlp".into()], e.path].concat(),
        ..e
    })?;
    Ok(Box::new(LoadBalancer {
        id: id.clone(),
        key,
        cfg,
        state: Arc::new(RwLock::new(Backends::default())),
        stop: CancellationToken::new(),
        log_once: Arc::new(LogOnce::default()),
        ring: std::sync::Mutex::new(None),
    }))
}

fn backend_exporter(
    otlp: &Value,
    endpoint: &str,
) -> Result<OtlpGrpcExporter, ComponentConfigError> {
    let mut v = match otlp {
        Value::Object(m) => m.clone(),
        _ => serde_json::Map::new(),
    };
    v.insert("endpoint".into(), Value::from(endpoint));
    let cfg: OtlpGrpcConfig = decode(&Value::Object(v))?;
    OtlpGrpcExporter::new(cfg)
}

/// One backend and whether it is resting after a failure.
struct Backend {
    exporter: Arc<OtlpGrpcExporter>,
    down_until: Option<Instant>,
}

/// The backends the resolver knows, by endpoint.
#[derive(Default)]
struct Backends(BTreeMap<String, Backend>);

/// A running load-balancing exporter.
pub struct LoadBalancer {
    id: ComponentId,
    key: RoutingKey,
    cfg: LoadBalancingConfig,
    state: Arc<RwLock<Backends>>,
    stop: CancellationToken,
    log_once: Arc<LogOnce>,
    /// The ring for the last set of healthy backends (rebuilt only when that set changes).
    ring: std::sync::Mutex<Option<(Vec<String>, Arc<Ring>)>>,
}

impl LoadBalancer {
    fn ring_for(&self, endpoints: &[String]) -> Arc<Ring> {
        let mut cache = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((eps, ring)) = cache.as_ref() {
            if eps == endpoints {
                return ring.clone();
            }
        }
        let ring = Arc::new(Ring::new(endpoints));
        *cache = Some((endpoints.to_vec(), ring.clone()));
        ring
    }

    /// The backends usable now (resting ones whose cool-down ended come back).
    fn healthy(&self) -> (Vec<String>, Vec<Arc<OtlpGrpcExporter>>) {
        let now = Instant::now();
        let st = self.state.read().unwrap_or_else(|e| e.into_inner());
        st.0.iter()
            .filter(|(_, b)| b.down_until.is_none_or(|t| t <= now))
            .map(|(e, b)| (e.clone(), b.exporter.clone()))
            .unzip()
    }

    fn mark_down(&self, endpoint: &str, why: &ExportError) {
        let mut st = self.state.write().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = st.0.get_mut(endpoint) {
            if b.down_until.is_none() {
                tracing::warn!(exporter = %self.id, backend = endpoint, error = %why,
                    "backend failed; its data goes to the other backends while it rests");
            }
            b.down_until = Some(Instant::now() + COOL_DOWN);
        }
    }

    fn mark_up(&self, endpoint: &str) {
        let mut st = self.state.write().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = st.0.get_mut(endpoint) {
            if b.down_until.take().is_some() {
                tracing::info!(exporter = %self.id, backend = endpoint, "backend is back on the ring");
            }
        }
    }
}

/// Replaces the backend set with `endpoints`, keeping the exporters (and their connections) of
/// endpoints that stay.
fn set_backends(id: &ComponentId, state: &RwLock<Backends>, otlp: &Value, endpoints: &[String]) {
    let mut st = state.write().unwrap_or_else(|e| e.into_inner());
    let before: Vec<String> = st.0.keys().cloned().collect();
    st.0.retain(|e, _| endpoints.contains(e));
    for e in endpoints {
        if st.0.contains_key(e) {
            continue;
        }
        match backend_exporter(otlp, e) {
            Ok(x) => {
                st.0.insert(
                    e.clone(),
                    Backend {
                        exporter: Arc::new(x),
                        down_until: None,
                    },
                );
            }
            Err(err) => {
                tracing::error!(exporter = %id, backend = %e, error = %err, "cannot build a backend exporter")
            }
        }
    }
    let after: Vec<String> = st.0.keys().cloned().collect();
    if before != after {
        tracing::info!(exporter = %id, backends = ?after, "load-balancing backends changed");
    }
}

async fn resolve_dns(host: &str, port: u16, timeout: Duration) -> Result<Vec<String>, String> {
    let addrs = tokio::time::timeout(timeout, tokio::net::lookup_host((host, port)))
        .await
        .map_err(|_| format!("resolving {host} timed out"))?
        .map_err(|e| format!("cannot resolve {host}: {e}"))?;
    let mut v: Vec<String> = addrs.map(|a| a.to_string()).collect();
    v.sort();
    v.dedup();
    Ok(v)
}

#[async_trait]
impl Exporter for LoadBalancer {
    async fn start(&self) -> anyhow::Result<()> {
        let otlp = self.cfg.protocol.otlp.clone();
        if let Some(s) = &self.cfg.resolver.static_ {
            let mut eps = s.hostnames.clone();
            eps.sort();
            eps.dedup();
            set_backends(&self.id, &self.state, &otlp, &eps);
            return Ok(());
        }
        let Some(d) = self.cfg.resolver.dns.clone() else {
            return Ok(());
        };
        let port = d.port().map_err(|e| anyhow::anyhow!("{}: {e}", self.id))?;
        let (id, state, stop, log_once) = (
            self.id.clone(),
            self.state.clone(),
            self.stop.clone(),
            self.log_once.clone(),
        );
        match resolve_dns(&d.hostname, port, d.timeout).await {
            Ok(eps) => set_backends(&id, &state, &otlp, &eps),
            Err(e) => {
                tracing::warn!(exporter = %id, error = %e, "DNS resolution failed; retrying every interval")
            }
        }
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(d.interval);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tick.tick() => {}
                }
                match resolve_dns(&d.hostname, port, d.timeout).await {
                    Ok(eps) => set_backends(&id, &state, &otlp, &eps),
                    Err(e) => {
                        if log_once.first(&e) {
                            tracing::warn!(exporter = %id, error = %e, "DNS resolution failed; keeping the last backends");
                        }
                    }
                }
            }
        });
        Ok(())
    }

    async fn export(&self, data: &Data) -> Result<(), ExportError> {
        let mut pending = data.clone();
        let mut permanent: Option<ExportError> = None;
        loop {
            let (endpoints, exporters) = self.healthy();
            if endpoints.is_empty() {
                return Err(ExportError::Retryable {
                    message: "no load-balancing backend is available".into(),
                    retry_after: None,
                });
            }
            let ring = self.ring_for(&endpoints);
            let parts = split::split(&pending, self.key, &ring);
            let results =
                futures::future::join_all(parts.iter().map(|(i, part)| exporters[*i].export(part)))
                    .await;
            let mut failed: Option<Data> = None;
            for ((i, part), result) in parts.into_iter().zip(results) {
                match result {
                    Ok(()) => self.mark_up(&endpoints[i]),
                    Err(e @ ExportError::Permanent(_)) => permanent = Some(e),
                    Err(e) => {
                        self.mark_down(&endpoints[i], &e);
                        match &mut failed {
                            None => failed = Some(part),
                            Some(f) => split::merge(f, part),
                        }
                    }
                }
            }
            match failed {
                // Re-route what failed over the backends still up.
                Some(f) => pending = f,
                None => return permanent.map_or(Ok(()), Err),
            }
        }
    }

    async fn shutdown(&self) {
        self.stop.cancel();
    }

    fn queue_settings(&self) -> QueueSettings {
        self.cfg.sending_queue.settings(&self.cfg.retry_on_failure)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cfg(v: Value) -> Result<Box<dyn Exporter>, ComponentConfigError> {
        create(&ComponentId::parse("loadbalancing").unwrap(), &v)
    }

    #[test]
    fn config_rules() {
        assert!(
            cfg(json!({"protocol": {"otlp": {"tls": {"insecure": true}}},
            "resolver": {"static": {"hostnames": ["a:4317", "b:4317"]}}}))
            .is_ok()
        );
        assert!(
            cfg(json!({"routing_key": "service", "protocol": {"otlp": {}},
            "resolver": {"dns": {"hostname": "gw.local", "port": "4317"}}}))
            .is_ok()
        );
        let e =
            cfg(json!({"routing_key": "traceid", "resolver": {"static": {"hostnames": ["a:1"]}}}))
                .err()
                .unwrap();
        assert_eq!(e.hint.as_deref(), Some("did you mean \"traceID\"?"));
        let e = cfg(json!({"resolver": {}})).err().unwrap();
        assert!(e.message.contains("exactly one resolver"), "{e}");
        let e = cfg(json!({"resolver": {"k8s": {"service": "x"}}}))
            .err()
            .unwrap();
        assert!(e.message.contains("headless"), "{e}");
        let e = cfg(json!({"resolver": {"static": {"hostnames": ["a:1"]}},
            "protocol": {"otlp": {"compression": "gzp"}}}))
        .err()
        .unwrap();
        assert_eq!(e.path[..3], ["protocol", "otlp", "compression"]);
    }
}
