//! resource → probabilistic_sampler in a running `sluice`: 2000 single-span traces POSTed as
//! OTLP/protobuf arrive at the sink exactly as the collector's hash_seed algorithm decides,
//! with resource attributes changed (one from the request's HTTP header) and the sampling
//! decision written into each kept span's tracestate.

mod common;

use std::time::Duration;

use common::sink::{string_attr, Sink};
use common::{free_port, wait_port, wait_until, Sluice};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use rand::{Rng, SeedableRng};
use sluice::processors::probabilistic_sampler::hash_seed_keeps;

fn str_kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    }
}

#[test]
fn resource_then_sampler_keep_what_the_collector_keeps() {
    let rt = common::runtime(1);
    let sink = Sink::start(&rt);
    let http = free_port();
    let sluice = Sluice::start(&format!(
        r#"
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{http}
        include_metadata: true
processors:
  resource:
    attributes:
      - {{key: deployment.environment, value: prod, action: upsert}}
      - {{key: tenant, from_context: metadata.x-tenant, action: insert}}
      - {{key: secret, action: delete}}
  probabilistic_sampler:
    sampling_percentage: 20
    hash_seed: 22
exporters:
  otlp:
    endpoint: {sink}
    tls: {{insecure: true}}
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [resource, probabilistic_sampler]
      exporters: [otlp]
"#,
        sink = sink.grpc
    ));
    wait_port(http);

    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let ids: Vec<[u8; 16]> = (0..2000).map(|_| rng.random()).collect();
    let req = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![str_kv("service.name", "shop"), str_kv("secret", "x")],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: ids
                    .iter()
                    .map(|id| Span {
                        trace_id: id.to_vec(),
                        span_id: id[..8].to_vec(),
                        name: hex::encode(id),
                        trace_state: "vendor=v1".into(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let resp = reqwest::blocking::Client::new()
        .post(format!("http://127.0.0.1:{http}/v1/traces"))
        .header("content-type", "application/x-protobuf")
        .header("x-tenant", "acme")
        .body(req.encode_to_vec())
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);

    let want: Vec<String> = ids
        .iter()
        .filter(|id| hash_seed_keeps(id, 22, 20.0))
        .map(hex::encode)
        .collect();
    assert!(
        wait_until(Duration::from_secs(10), || sink.spans().len() >= want.len()),
        "spans missing: got {} of {}\n{}",
        sink.spans().len(),
        want.len(),
        sluice.stderr()
    );
    std::thread::sleep(Duration::from_millis(300));
    let spans = sink.spans();
    let got: Vec<String> = spans.iter().map(|s| s.name.clone()).collect();
    assert_eq!(got, want, "kept exactly the traces the collector keeps");
    assert!(
        (350..450).contains(&got.len()),
        "about 20% of 2000: {}",
        got.len()
    );
    for s in &spans {
        assert!(
            s.trace_state.starts_with("ot=rv:") && s.trace_state.ends_with(";th:ccd,vendor=v1"),
            "{}",
            s.trace_state
        );
    }

    let g = sink.got.lock().unwrap();
    for (_, r) in &g.traces {
        for rs in &r.resource_spans {
            let attrs = &rs.resource.as_ref().unwrap().attributes;
            assert_eq!(string_attr(attrs, "service.name").as_deref(), Some("shop"));
            assert_eq!(
                string_attr(attrs, "deployment.environment").as_deref(),
                Some("prod")
            );
            assert_eq!(string_attr(attrs, "tenant").as_deref(), Some("acme"));
            assert_eq!(string_attr(attrs, "secret"), None);
        }
    }
}
