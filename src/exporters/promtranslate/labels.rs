//! Resource and attribute helpers shared by the Prometheus exporters: attribute values as
//! label values, `job`/`instance` from the service attributes, first-wins label insertion.

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};

/// Label pairs (name, value).
pub type Labels = Vec<(String, String)>;

/// An attribute value as a label value: strings as they are, other scalars formatted, bytes
/// base64, lists and maps as JSON.
pub fn attr_string(v: &Option<AnyValue>) -> String {
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(any_value::Value::BytesValue(b)) => base64_std(b),
        Some(other) => serde_json::to_string(&any_to_json(other)).unwrap_or_default(),
        None => String::new(),
    }
}

fn base64_std(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn any_to_json(v: &any_value::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        any_value::Value::StringValue(s) => J::String(s.clone()),
        any_value::Value::BoolValue(b) => J::Bool(*b),
        any_value::Value::IntValue(i) => J::from(*i),
        any_value::Value::DoubleValue(d) => J::from(*d),
        any_value::Value::BytesValue(b) => J::String(base64_std(b)),
        any_value::Value::ArrayValue(a) => J::Array(
            a.values
                .iter()
                .filter_map(|v| v.value.as_ref().map(any_to_json))
                .collect(),
        ),
        any_value::Value::KvlistValue(kv) => J::Object(
            kv.values
                .iter()
                .map(|kv| {
                    (
                        kv.key.clone(),
                        kv.value
                            .as_ref()
                            .and_then(|v| v.value.as_ref())
                            .map(any_to_json)
                            .unwrap_or(J::Null),
                    )
                })
                .collect(),
        ),
        any_value::Value::StringValueStrindex(_) => J::Null,
    }
}

/// The attribute with this key, if any.
pub fn find<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a KeyValue> {
    attrs.iter().find(|kv| kv.key == key)
}

/// `job` from service.namespace/service.name, `instance` from service.instance.id.
pub fn job_instance(resource: &[KeyValue]) -> (Option<String>, Option<String>) {
    let name = find(resource, "service.name").map(|kv| attr_string(&kv.value));
    let ns = find(resource, "service.namespace").map(|kv| attr_string(&kv.value));
    let job = match (ns, name) {
        (Some(ns), Some(n)) if !ns.is_empty() => Some(format!("{ns}/{n}")),
        (_, n) => n,
    };
    let instance = find(resource, "service.instance.id").map(|kv| attr_string(&kv.value));
    (job, instance)
}

/// Adds a label unless one of that name is already there (earlier sources win).
pub fn push_label(labels: &mut Labels, name: String, value: String) {
    if value.is_empty() || labels.iter().any(|(n, _)| *n == name) {
        return;
    }
    labels.push((name, value));
}
