//! The batch processor in a running daemon: requests from two tenants (told apart by an HTTP
//! header the receiver captures with include_metadata) are batched per tenant, never mixed, and
//! flushed on timeout.

mod common;

use std::time::Duration;

use common::sink::{string_attr, Sink};
use common::{free_port, wait_port, wait_until, Sluice};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

fn request(tenant: &str, n: usize) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "tenant".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue(tenant.into())),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: (0..n)
                    .map(|i| Span {
                        name: format!("{tenant}-{i}"),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

#[test]
fn tenants_are_batched_apart_and_flushed_on_timeout() {
    let rt = common::runtime(1);
    let sink = Sink::start(&rt);
    let http = free_port();
    let _sluice = Sluice::start(&format!(
        r#"
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{http}
        include_metadata: true
processors:
  batch:
    send_batch_size: 1000
    timeout: 2s
    metadata_keys: [X-Tenant]
exporters:
  otlp:
    endpoint: {sink}
    tls: {{insecure: true}}
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [otlp]
"#,
        sink = sink.grpc
    ));
    wait_port(http);
    let client = reqwest::blocking::Client::new();
    for (tenant, n) in [("a", 3), ("b", 4), ("a", 5), ("b", 1), ("a", 2)] {
        let resp = client
            .post(format!("http://127.0.0.1:{http}/v1/traces"))
            .header("content-type", "application/x-protobuf")
            .header("x-tenant", tenant)
            .body(request(tenant, n).encode_to_vec())
            .send()
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
    assert!(wait_until(Duration::from_secs(10), || sink.spans().len() == 15));
    let got = sink.got.lock().unwrap();
    let mut per_request: Vec<(String, usize)> = got
        .traces
        .iter()
        .map(|(_, r)| {
            let tenants: Vec<String> = r
                .resource_spans
                .iter()
                .map(|rs| string_attr(&rs.resource.as_ref().unwrap().attributes, "tenant").unwrap())
                .collect();
            assert!(
                tenants.windows(2).all(|w| w[0] == w[1]),
                "mixed tenants: {tenants:?}"
            );
            let spans = r
                .resource_spans
                .iter()
                .flat_map(|rs| &rs.scope_spans)
                .map(|ss| ss.spans.len())
                .sum();
            (tenants[0].clone(), spans)
        })
        .collect();
    per_request.sort();
    assert_eq!(
        per_request,
        [("a".to_string(), 10), ("b".to_string(), 5)],
        "one batch per tenant, flushed by the timeout"
    );
}
