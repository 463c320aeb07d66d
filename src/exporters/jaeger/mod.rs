//! The `jaeger` exporter. `protocol: otlp` (default) sends OTLP/gRPC to a Jaeger collector's
//! OTLP port (4317), exactly as an `otlp_grpc` exporter; `protocol: grpc` is for Jaeger before
//! 1.35: spans are translated to Jaeger's model (see `translate`) and sent with
//! `jaeger.api_v2.CollectorService/PostSpans` (port 14250). Every other key is the
//! `otlp_grpc` exporter's (endpoint, tls, headers, timeout, compression, sending_queue,
//! retry_on_failure…).

pub mod proto;
pub mod translate;

use async_trait::async_trait;
use prost::Message;
use serde_json::Value;

use crate::component::{ComponentConfigError, ComponentId, ExportError, Exporter, QueueSettings};
use crate::config::decode::{decode, did_you_mean};
use crate::exporters::otlp_grpc::{OtlpGrpcConfig, OtlpGrpcExporter};
use crate::registry::{ExporterCreate, Factory};
use crate::signal::{Data, Signal};

/// The `jaeger` exporter's factory.
pub const FACTORY: Factory<ExporterCreate> = Factory {
    type_name: "jaeger",
    deprecated_names: &[],
    signals: &[Signal::Traces],
    stability: "beta",
    create,
};

/// How spans reach Jaeger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// OTLP/gRPC (Jaeger 1.35 and later), default port 4317.
    Otlp,
    /// Jaeger's own gRPC `PostSpans` (any Jaeger collector), default port 14250.
    Grpc,
}

impl Protocol {
    /// The port used when the endpoint names none.
    pub fn default_port(self) -> u16 {
        match self {
            Protocol::Otlp => 4317,
            Protocol::Grpc => 14250,
        }
    }
}

/// Splits `protocol` off a `jaeger:` config and returns the rest as an `otlp_grpc` config,
/// with the protocol's default port added to an endpoint that has none.
pub fn parse_config(raw: &Value) -> Result<(Protocol, OtlpGrpcConfig), ComponentConfigError> {
    let mut rest = match raw {
        Value::Object(m) => m.clone(),
        Value::Null => serde_json::Map::new(),
        _ => return Err(ComponentConfigError::at(&[], "expected a mapping")),
    };
    let protocol = match rest.remove("protocol") {
        None => Protocol::Otlp,
        Some(Value::String(s)) if s == "otlp" => Protocol::Otlp,
        Some(Value::String(s)) if s == "grpc" => Protocol::Grpc,
        Some(other) => {
            let word = other.as_str().unwrap_or_default().to_string();
            let mut e = ComponentConfigError::at(
                &["protocol"],
                format!("unsupported protocol {other} (otlp or grpc)"),
            );
            e.hint = did_you_mean(&word, ["otlp", "grpc"]);
            return Err(e);
        }
    };
    // Jaeger collectors before OTLP did not all accept compressed gRPC: none unless asked.
    if protocol == Protocol::Grpc && !rest.contains_key("compression") {
        rest.insert("compression".into(), Value::String("none".into()));
    }
    let mut cfg: OtlpGrpcConfig = decode(&Value::Object(rest))?;
    cfg.endpoint = with_default_port(&cfg.endpoint, protocol.default_port());
    Ok((protocol, cfg))
}

/// `host` → `host:port`; endpoints that name a port are kept.
fn with_default_port(endpoint: &str, port: u16) -> String {
    let e = endpoint.trim().trim_end_matches('/');
    if e.is_empty() {
        return String::new();
    }
    let (scheme, hostport) = match e.split_once("://") {
        Some((s, r)) => (Some(s), r),
        None => (None, e),
    };
    let has_port = match hostport.rsplit_once(':') {
        Some((host, p)) => {
            !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()) && !host.ends_with('[')
        }
        None => false,
    } && !(hostport.starts_with('[') && hostport.ends_with(']'));
    let hostport = if has_port {
        hostport.to_string()
    } else {
        format!("{hostport}:{port}")
    };
    match scheme {
        Some(s) => format!("{s}://{hostport}"),
        None => hostport,
    }
}

fn create(_id: &ComponentId, raw: &Value) -> Result<Box<dyn Exporter>, ComponentConfigError> {
    let (protocol, cfg) = parse_config(raw)?;
    let inner = OtlpGrpcExporter::new(cfg)?;
    let exporter: Box<dyn Exporter> = match protocol {
        Protocol::Otlp => Box::new(inner),
        Protocol::Grpc => Box::new(JaegerGrpcExporter { inner }),
    };
    Ok(exporter)
}

/// Sends spans with Jaeger's `PostSpans`, one request per resource, over the channel,
/// metadata, timeout and compression of an `otlp_grpc` exporter.
pub struct JaegerGrpcExporter {
    inner: OtlpGrpcExporter,
}

#[async_trait]
impl Exporter for JaegerGrpcExporter {
    fn auth_id(&self) -> Option<ComponentId> {
        self.inner.auth_id()
    }

    fn attach_auth(&mut self, auth: std::sync::Arc<dyn crate::auth::ClientAuth>) {
        self.inner.attach_auth(auth);
    }

    async fn start(&self) -> anyhow::Result<()> {
        self.inner.start().await
    }

    async fn shutdown(&self) {
        self.inner.shutdown().await;
    }

    async fn export(&self, data: &Data) -> Result<(), ExportError> {
        let Data::Traces(req) = data else {
            return Ok(());
        };
        for batch in translate::batches(req) {
            let body = proto::PostSpansRequest { batch: Some(batch) }.encode_to_vec();
            let _: proto::PostSpansResponse =
                self.inner.call(proto::POST_SPANS_PATH, body.into()).await?;
        }
        Ok(())
    }

    fn queue_settings(&self) -> QueueSettings {
        self.inner.queue_settings()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn protocol_picks_the_default_port_and_compression() {
        let (p, c) =
            parse_config(&json!({"endpoint": "jaeger", "tls": {"insecure": true}})).unwrap();
        assert_eq!(p, Protocol::Otlp);
        assert_eq!(c.endpoint, "jaeger:4317");
        assert_eq!(c.compression, crate::exporters::common::Compression::Gzip);
        let (p, c) =
            parse_config(&json!({"protocol": "grpc", "endpoint": "http://jaeger"})).unwrap();
        assert_eq!(p, Protocol::Grpc);
        assert_eq!(c.endpoint, "http://jaeger:14250");
        assert_eq!(c.compression, crate::exporters::common::Compression::None);
        let (_, c) =
            parse_config(&json!({"protocol": "grpc", "endpoint": "10.0.0.1:9999"})).unwrap();
        assert_eq!(c.endpoint, "10.0.0.1:9999");
        assert_eq!(with_default_port("[::1]", 14250), "[::1]:14250");
        assert_eq!(with_default_port("[::1]:1", 14250), "[::1]:1");
    }

    #[test]
    fn grpc_protocol_passes_the_authenticator_on() {
        let e = create(
            &ComponentId::parse("jaeger").unwrap(),
            &json!({"protocol": "grpc", "endpoint": "http://j", "auth": {"authenticator": "basicauth/j"}}),
        )
        .unwrap();
        assert_eq!(
            e.auth_id(),
            Some(ComponentId::parse("basicauth/j").unwrap())
        );
    }

    #[test]
    fn config_errors_name_the_key() {
        let err = |v: Value| {
            create(&ComponentId::parse("jaeger").unwrap(), &v)
                .err()
                .unwrap()
        };
        let e = err(json!({"protocol": "grcp", "endpoint": "http://j"}));
        assert_eq!(e.path, ["protocol"]);
        assert_eq!(e.hint.as_deref(), Some("did you mean \"grpc\"?"));
        assert_eq!(err(json!({"protocol": "grpc"})).path, ["endpoint"]);
        assert_eq!(
            err(json!({"endpoint": "http://j", "timout": "1s"}))
                .hint
                .as_deref(),
            Some("did you mean \"timeout\"?")
        );
    }
}
