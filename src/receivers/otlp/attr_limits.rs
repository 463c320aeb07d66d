//! `attribute_limits` (Sluice's addition to the otlp receiver): caps on the number of
//! attributes per item and on the length of attribute values, applied to what a receiver
//! accepts, so one hostile or buggy client cannot push megabyte-long values or thousands of
//! attributes per span downstream. Attributes beyond the count are dropped and recorded in
//! the item's OTLP `dropped_attributes_count` (as SDKs do with their own limits); longer
//! string and bytes values are cut (strings at a character boundary). Both are counted.

use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use serde::Deserialize;

use crate::signal::Data;

/// The limits; 0 means no limit (the default for both, as upstream has none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AttributeLimits {
    /// Most attributes per resource, scope, span, event, link, log record or data point.
    pub max_count: usize,
    /// Most bytes in a string or bytes attribute value (also inside arrays and maps).
    pub max_value_length: usize,
}

/// What applying the limits changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    /// Attributes dropped for the count limit.
    pub dropped: u64,
    /// Values cut to the length limit.
    pub truncated: u64,
}

impl AttributeLimits {
    /// Whether any limit is set.
    pub fn is_active(&self) -> bool {
        self.max_count > 0 || self.max_value_length > 0
    }

    /// Applies the limits to every attribute list in `data`.
    pub fn apply(&self, data: &mut Data) -> Applied {
        let mut a = Applied::default();
        if !self.is_active() {
            return a;
        }
        match data {
            Data::Traces(r) => {
                for rs in &mut r.resource_spans {
                    if let Some(res) = &mut rs.resource {
                        self.kvs(
                            &mut res.attributes,
                            &mut res.dropped_attributes_count,
                            &mut a,
                        );
                    }
                    for ss in &mut rs.scope_spans {
                        if let Some(s) = &mut ss.scope {
                            self.kvs(&mut s.attributes, &mut s.dropped_attributes_count, &mut a);
                        }
                        for sp in &mut ss.spans {
                            self.kvs(&mut sp.attributes, &mut sp.dropped_attributes_count, &mut a);
                            for e in &mut sp.events {
                                self.kvs(
                                    &mut e.attributes,
                                    &mut e.dropped_attributes_count,
                                    &mut a,
                                );
                            }
                            for l in &mut sp.links {
                                self.kvs(
                                    &mut l.attributes,
                                    &mut l.dropped_attributes_count,
                                    &mut a,
                                );
                            }
                        }
                    }
                }
            }
            Data::Logs(r) => {
                for rl in &mut r.resource_logs {
                    if let Some(res) = &mut rl.resource {
                        self.kvs(
                            &mut res.attributes,
                            &mut res.dropped_attributes_count,
                            &mut a,
                        );
                    }
                    for sl in &mut rl.scope_logs {
                        if let Some(s) = &mut sl.scope {
                            self.kvs(&mut s.attributes, &mut s.dropped_attributes_count, &mut a);
                        }
                        for lr in &mut sl.log_records {
                            self.kvs(&mut lr.attributes, &mut lr.dropped_attributes_count, &mut a);
                            if let Some(body) = &mut lr.body {
                                self.value(body, &mut a);
                            }
                        }
                    }
                }
            }
            Data::Metrics(r) => {
                use opentelemetry_proto::tonic::metrics::v1::metric::Data as M;
                for rm in &mut r.resource_metrics {
                    if let Some(res) = &mut rm.resource {
                        self.kvs(
                            &mut res.attributes,
                            &mut res.dropped_attributes_count,
                            &mut a,
                        );
                    }
                    for sm in &mut rm.scope_metrics {
                        if let Some(s) = &mut sm.scope {
                            self.kvs(&mut s.attributes, &mut s.dropped_attributes_count, &mut a);
                        }
                        for m in &mut sm.metrics {
                            // Data points have no dropped count; the drop is still counted.
                            let mut ignored = 0u32;
                            let mut pts =
                                |attrs: &mut Vec<KeyValue>| self.kvs(attrs, &mut ignored, &mut a);
                            match &mut m.data {
                                Some(M::Gauge(g)) => g
                                    .data_points
                                    .iter_mut()
                                    .for_each(|p| pts(&mut p.attributes)),
                                Some(M::Sum(s)) => s
                                    .data_points
                                    .iter_mut()
                                    .for_each(|p| pts(&mut p.attributes)),
                                Some(M::Histogram(h)) => h
                                    .data_points
                                    .iter_mut()
                                    .for_each(|p| pts(&mut p.attributes)),
                                Some(M::ExponentialHistogram(h)) => h
                                    .data_points
                                    .iter_mut()
                                    .for_each(|p| pts(&mut p.attributes)),
                                Some(M::Summary(s)) => s
                                    .data_points
                                    .iter_mut()
                                    .for_each(|p| pts(&mut p.attributes)),
                                None => {}
                            }
                        }
                    }
                }
            }
        }
        a
    }

    fn kvs(&self, kvs: &mut Vec<KeyValue>, dropped_count: &mut u32, a: &mut Applied) {
        if self.max_count > 0 && kvs.len() > self.max_count {
            let n = kvs.len() - self.max_count;
            kvs.truncate(self.max_count);
            *dropped_count = dropped_count.saturating_add(n as u32);
            a.dropped += n as u64;
        }
        if self.max_value_length > 0 {
            for kv in kvs.iter_mut() {
                if let Some(v) = &mut kv.value {
                    self.value(v, a);
                }
            }
        }
    }

    fn value(&self, v: &mut AnyValue, a: &mut Applied) {
        let max = self.max_value_length;
        if max == 0 {
            return;
        }
        match &mut v.value {
            Some(Any::StringValue(s)) if s.len() > max => {
                let mut cut = max;
                while !s.is_char_boundary(cut) {
                    cut -= 1;
                }
                s.truncate(cut);
                a.truncated += 1;
            }
            Some(Any::BytesValue(b)) if b.len() > max => {
                b.truncate(max);
                a.truncated += 1;
            }
            Some(Any::ArrayValue(arr)) => {
                for x in &mut arr.values {
                    self.value(x, a);
                }
            }
            Some(Any::KvlistValue(list)) => {
                for kv in &mut list.values {
                    if let Some(x) = &mut kv.value {
                        self.value(x, a);
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::trace::v1::{span::Event, ResourceSpans, ScopeSpans, Span};

    fn kv(k: &str, v: &str) -> KeyValue {
        KeyValue {
            key: k.into(),
            value: Some(AnyValue {
                value: Some(Any::StringValue(v.into())),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn drops_extra_attributes_and_cuts_long_values() {
        let span = Span {
            attributes: (0..5)
                .map(|i| kv(&format!("k{i}"), "short"))
                .chain([kv("long", "ééééé")])
                .collect(),
            dropped_attributes_count: 1,
            events: vec![Event {
                attributes: vec![kv("e", "0123456789")],
                ..Default::default()
            }],
            ..Default::default()
        };
        let mut data = Data::Traces(ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![span],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        });
        let limits = AttributeLimits {
            max_count: 3,
            max_value_length: 5,
        };
        let applied = limits.apply(&mut data);
        assert_eq!(
            applied,
            Applied {
                dropped: 3,
                truncated: 1
            }
        );
        let Data::Traces(r) = &data else {
            unreachable!()
        };
        let sp = &r.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(sp.attributes.len(), 3);
        assert_eq!(
            sp.dropped_attributes_count, 4,
            "adds to what the SDK dropped"
        );
        match &sp.events[0].attributes[0].value.as_ref().unwrap().value {
            Some(Any::StringValue(s)) => assert_eq!(s, "01234"),
            other => panic!("{other:?}"),
        }
        // A cut inside a multi-byte character keeps the string valid.
        let mut d2 = Data::Traces(ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![Span {
                        attributes: vec![kv("long", "ééééé")],
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        });
        limits.apply(&mut d2);
        let Data::Traces(r) = &d2 else { unreachable!() };
        match &r.resource_spans[0].scope_spans[0].spans[0].attributes[0]
            .value
            .as_ref()
            .unwrap()
            .value
        {
            Some(Any::StringValue(s)) => assert_eq!(s, "éé"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            AttributeLimits::default().apply(&mut d2),
            Applied::default()
        );
    }
}
