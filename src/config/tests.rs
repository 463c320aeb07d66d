//! Loading and validation, end to end over config text.

use super::*;

fn env(name: &str) -> Option<String> {
    match name {
        "GRPC_PORT" => Some("5317".into()),
        "TOKEN" => Some("s3cr3t".into()),
        _ => None,
    }
}

fn load1(text: &str) -> Result<Loaded, Errors> {
    load_docs(&[("c.yaml".into(), text.into())], &env)
}

fn errors(text: &str) -> String {
    load1(text).unwrap_err().to_string()
}

const VALID: &str = "\
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:${env:GRPC_PORT}
exporters:
  logging:
  otlp/jaeger:
    endpoint: jaeger:4317
    tls:
      insecure: true
    headers:
      authorization: Bearer ${env:TOKEN}
service:
  telemetry:
    logs:
      level: DEBUG
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlp/jaeger, logging]
    logs/2:
      receivers: [otlp]
      exporters: [logging]
";

#[test]
fn loads_a_valid_config_with_warnings_for_old_names() {
    let l = load1(VALID).unwrap();
    assert_eq!(l.config.service.pipelines.len(), 2);
    assert_eq!(l.config.service.telemetry.log_level, "debug");
    let rx = &l.config.receivers[&crate::component::ComponentId::parse("otlp").unwrap()];
    assert_eq!(rx["protocols"]["grpc"]["endpoint"], "127.0.0.1:5317");
    assert!(
        l.warnings
            .iter()
            .any(|w| w.contains("exporters::logging") && w.contains("\"debug\"")),
        "{:?}",
        l.warnings
    );
    assert!(
        l.warnings
            .iter()
            .any(|w| w.contains("exporters::otlp/jaeger") && w.contains("\"otlp_grpc\"")),
        "{:?}",
        l.warnings
    );
    let red = redact(&l.expanded);
    assert_eq!(
        red["exporters"]["otlp/jaeger"]["headers"]["authorization"],
        REDACTED
    );
    assert!(!to_yaml(&red).contains("s3cr3t"));
}

#[test]
fn misspelt_types_keys_and_references_get_hints_with_lines() {
    let e = errors(
        "receivers:\n  otlp:\n    protocols:\n      grpc:\nexporters:\n  otlpp:\n    endpoint: x:1\nservice:\n  pipelines:\n    trace:\n      receivers: [otlp]\n      exporters: [debug]\n",
    );
    assert!(
        e.contains("c.yaml:6:3: exporters::otlpp: unknown exporter type \"otlpp\""),
        "{e}"
    );
    assert!(e.contains("(did you mean \"otlp\"?)"), "{e}");
    assert!(
        e.contains("c.yaml:10:5: service::pipelines::trace: unknown signal \"trace\""),
        "{e}"
    );
    assert!(e.contains("did you mean \"traces\"?"), "{e}");
}

#[test]
fn pipeline_problems_are_all_reported() {
    let e = errors(
        "receivers:\n  otlp:\n    protocols:\n      http:\nexporters:\n  debug:\nservice:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporter: [debug]\n    metrics:\n      receivers: [otlp]\n      exporters: [debugg]\n",
    );
    assert!(
        e.contains("service::pipelines::traces::exporter: unknown key \"exporter\""),
        "{e}"
    );
    assert!(e.contains("did you mean \"exporters\"?"), "{e}");
    assert!(
        e.contains("service::pipelines::traces: pipeline must have at least one exporter"),
        "{e}"
    );
    assert!(e.contains("c.yaml:14:19: service::pipelines::metrics::exporters: references exporter \"debugg\", which is not defined"), "{e}");
    assert!(e.contains("did you mean \"debug\"?"), "{e}");
}

#[test]
fn component_config_errors_point_at_the_key() {
    let e = errors(
        "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpont: 0.0.0.0:4317\nexporters:\n  debug:\nservice:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [debug]\n",
    );
    assert!(
        e.contains(
            "c.yaml:5:9: receivers::otlp::protocols::grpc::endpont: unknown field `endpont`"
        ),
        "{e}"
    );
    assert!(e.contains("did you mean \"endpoint\"?"), "{e}");
}

#[test]
fn connectors_top_level_keys_and_yaml_syntax() {
    let e = errors("connectors:\n  forward:\nrecievers:\n  otlp:\n");
    assert!(e.contains("connectors are not supported yet"), "{e}");
    assert!(e.contains("c.yaml:3:1: recievers: unknown key"), "{e}");
    assert!(e.contains("did you mean \"receivers\"?"), "{e}");
    let e = errors("receivers:\n  otlp: [unclosed\nexporters:\n");
    assert!(e.contains("c.yaml:"), "{e}");
    assert!(e.contains("invalid YAML"), "{e}");
}

#[test]
fn duplicate_processor_and_unsupported_signal() {
    let e = errors(
        "receivers:\n  otlp:\n    protocols:\n      grpc:\nprocessors:\n  batch:\nexporters:\n  debug:\nservice:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      processors: [batch, batch]\n      exporters: [debug]\n",
    );
    assert!(
        e.contains("processor \"batch\" is listed twice in this pipeline"),
        "{e}"
    );
}

#[test]
fn later_files_override_earlier_ones() {
    let a = "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:1\nexporters:\n  debug:\nservice:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [debug]\n";
    let b = "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:2\nexporters:\n  debug:\n    verbosity: detailed\n";
    let l = load_docs(
        &[("a.yaml".into(), a.into()), ("b.yaml".into(), b.into())],
        &env,
    )
    .unwrap();
    assert_eq!(
        l.expanded["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"],
        "127.0.0.1:2"
    );
    assert_eq!(l.expanded["exporters"]["debug"]["verbosity"], "detailed");
    assert_eq!(l.config.service.pipelines.len(), 1);
}
