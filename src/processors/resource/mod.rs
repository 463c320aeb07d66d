//! The `resource` processor: applies attribute actions (insert, update, upsert, delete, hash,
//! extract, convert) to the resource attributes of every traces, metrics and logs batch, with
//! the semantics of the collector's resource processor.

pub mod attraction;
pub mod config;
#[cfg(test)]
mod tests;

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::resource::v1::Resource;
use serde_json::Value;

use crate::component::{ComponentConfigError, ComponentId, Processor};
use crate::config::decode::decode;
use crate::registry::{Factory, ProcessorCreate};
use crate::signal::{Batch, Data, Metadata, Signal};

pub use attraction::AttrActions;
pub use config::{ActionConfig, ResourceConfig};

/// The `resource` processor's factory.
pub const FACTORY: Factory<ProcessorCreate> = Factory {
    type_name: "resource",
    deprecated_names: &[],
    signals: &[Signal::Traces, Signal::Metrics, Signal::Logs],
    stability: "beta",
    create,
};

impl ResourceConfig {
    /// Validates the config and builds the running processor.
    pub fn build(&self) -> Result<ResourceProcessor, ComponentConfigError> {
        if self.attributes.is_empty() {
            return Err(ComponentConfigError::at(
                &["attributes"],
                "missing required field \"attributes\"",
            )
            .with_hint("list at least one action, e.g. {key: deployment.environment, value: prod, action: upsert}"));
        }
        Ok(ResourceProcessor {
            actions: AttrActions::compile("attributes", &self.attributes)?,
        })
    }
}

fn create(
    _id: &ComponentId,
    _signal: Signal,
    raw: &Value,
) -> Result<Box<dyn Processor>, ComponentConfigError> {
    let cfg: ResourceConfig = decode(raw)?;
    Ok(Box::new(cfg.build()?))
}

/// A running resource processor.
#[derive(Debug, Clone)]
pub struct ResourceProcessor {
    actions: AttrActions,
}

impl ResourceProcessor {
    fn apply(&self, resource: &mut Option<Resource>, md: &Metadata) {
        match resource {
            Some(r) => self.actions.apply(&mut r.attributes, md),
            None => {
                // The collector sees an absent resource as an empty one.
                let mut attrs: Vec<KeyValue> = Vec::new();
                self.actions.apply(&mut attrs, md);
                if !attrs.is_empty() {
                    *resource = Some(Resource {
                        attributes: attrs,
                        ..Default::default()
                    });
                }
            }
        }
    }

    /// Applies the actions to every resource of a request.
    pub fn apply_data(&self, data: &mut Data, md: &Metadata) {
        match data {
            Data::Traces(r) => {
                for rs in &mut r.resource_spans {
                    self.apply(&mut rs.resource, md);
                }
            }
            Data::Metrics(r) => {
                for rm in &mut r.resource_metrics {
                    self.apply(&mut rm.resource, md);
                }
            }
            Data::Logs(r) => {
                for rl in &mut r.resource_logs {
                    self.apply(&mut rl.resource, md);
                }
            }
        }
    }
}

impl Processor for ResourceProcessor {
    fn process(&mut self, mut batch: Batch, out: &mut Vec<Batch>) {
        let md = batch.metadata.clone();
        self.apply_data(batch.data_mut(), &md);
        out.push(batch);
    }
}
