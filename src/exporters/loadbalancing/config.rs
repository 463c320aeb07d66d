//! The `loadbalancing` exporter's config, with the collector's keys.

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::split::RoutingKey;
use crate::component::ComponentConfigError;
use crate::config::decode::{did_you_mean, duration};
use crate::exporters::common::{QueueConfig, RetryConfig};

/// `exporters: loadbalancing:`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoadBalancingConfig {
    /// `traceID` (default), `service`, `resource` or `metric`.
    pub routing_key: String,
    /// How to reach each backend: `otlp:` with the otlp exporter's settings (the endpoint
    /// comes from the resolver).
    pub protocol: ProtocolConfig,
    /// Where the backends are.
    pub resolver: ResolverConfig,
    /// Accepted for compatibility; each backend export uses `protocol.otlp.timeout`.
    #[serde(deserialize_with = "duration")]
    pub timeout: Duration,
    /// The queue in front of the balancer.
    pub sending_queue: QueueConfig,
    /// Retries of what no backend could take.
    pub retry_on_failure: RetryConfig,
}

impl Default for LoadBalancingConfig {
    fn default() -> Self {
        LoadBalancingConfig {
            routing_key: "traceID".into(),
            protocol: ProtocolConfig::default(),
            resolver: ResolverConfig::default(),
            timeout: Duration::from_secs(5),
            sending_queue: QueueConfig::default(),
            retry_on_failure: RetryConfig::default(),
        }
    }
}

/// `protocol:`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProtocolConfig {
    /// The otlp (gRPC) exporter's settings for every backend.
    pub otlp: Value,
}

/// `resolver:`: exactly one of `static` or `dns`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResolverConfig {
    /// A fixed list of backends.
    #[serde(rename = "static")]
    pub static_: Option<StaticResolver>,
    /// Backends from a DNS name's A/AAAA records (a Kubernetes headless Service).
    pub dns: Option<DnsResolver>,
    /// Not supported (listed so the error can say so).
    pub k8s: Option<Value>,
    /// Not supported.
    pub aws_cloud_map: Option<Value>,
}

/// `resolver.static`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StaticResolver {
    /// `host:port` of each backend.
    pub hostnames: Vec<String>,
}

/// `resolver.dns`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DnsResolver {
    /// The name to resolve.
    pub hostname: String,
    /// The backends' port (default 4317).
    pub port: Value,
    /// How often to resolve (default 5s).
    #[serde(deserialize_with = "duration")]
    pub interval: Duration,
    /// Resolution timeout (default 1s).
    #[serde(deserialize_with = "duration")]
    pub timeout: Duration,
}

impl Default for DnsResolver {
    fn default() -> Self {
        DnsResolver {
            hostname: String::new(),
            port: Value::from(4317),
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(1),
        }
    }
}

impl DnsResolver {
    /// The port as a number.
    pub fn port(&self) -> Result<u16, ComponentConfigError> {
        let p = match &self.port {
            Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
            Value::String(s) => s.parse().ok(),
            _ => None,
        };
        p.ok_or_else(|| {
            ComponentConfigError::at(&["resolver", "dns", "port"], "expected a port number")
        })
    }
}

impl LoadBalancingConfig {
    /// Checks the config; returns the routing key.
    pub fn check(&self) -> Result<RoutingKey, ComponentConfigError> {
        let key = RoutingKey::parse(&self.routing_key).ok_or_else(|| {
            let mut e = ComponentConfigError::at(
                &["routing_key"],
                format!(
                    "unsupported routing_key {:?} (supported: traceID, service, resource, metric)",
                    self.routing_key
                ),
            );
            e.hint = did_you_mean(
                &self.routing_key,
                ["traceID", "service", "resource", "metric"],
            );
            e
        })?;
        let r = &self.resolver;
        if r.k8s.is_some() || r.aws_cloud_map.is_some() {
            return Err(ComponentConfigError::at(
                &["resolver"],
                "only the static and dns resolvers are supported (for Kubernetes, use dns with a headless Service)",
            ));
        }
        match (&r.static_, &r.dns) {
            (Some(s), None) if !s.hostnames.is_empty() => {}
            (Some(_), None) => {
                return Err(ComponentConfigError::at(
                    &["resolver", "static", "hostnames"],
                    "at least one backend is required",
                ))
            }
            (None, Some(d)) => {
                if d.hostname.is_empty() {
                    return Err(ComponentConfigError::at(
                        &["resolver", "dns", "hostname"],
                        "hostname is required",
                    ));
                }
                d.port()?;
            }
            _ => {
                return Err(ComponentConfigError::at(
                    &["resolver"],
                    "set exactly one resolver: static or dns",
                ))
            }
        }
        if !self.protocol.otlp.is_object() && !self.protocol.otlp.is_null() {
            return Err(ComponentConfigError::at(
                &["protocol", "otlp"],
                "expected the otlp exporter's settings",
            ));
        }
        self.sending_queue.check()?;
        Ok(key)
    }
}
