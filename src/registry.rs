//! The one table of built-in component factories. Adding a component means one module and
//! one line here.

use serde_json::Value;

use crate::component::{
    ComponentConfigError, ComponentId, Exporter, Extension, Kind, Processor, Receiver,
};
use crate::signal::Signal;
use crate::{exporters, extensions, processors, receivers};

/// Creates a receiver from its config. Must do no I/O: listeners bind in `start`.
pub type ReceiverCreate =
    fn(&ComponentId, &Value) -> Result<Box<dyn Receiver>, ComponentConfigError>;
/// Creates one processor instance for one pipeline of the given signal.
pub type ProcessorCreate =
    fn(&ComponentId, Signal, &Value) -> Result<Box<dyn Processor>, ComponentConfigError>;
/// Creates an exporter from its config. Must do no I/O: connections are made lazily.
pub type ExporterCreate =
    fn(&ComponentId, &Value) -> Result<Box<dyn Exporter>, ComponentConfigError>;
/// Creates an extension from its config.
pub type ExtensionCreate =
    fn(&ComponentId, &Value) -> Result<Box<dyn Extension>, ComponentConfigError>;

/// A component factory: its type name, older names still accepted, the signals it supports,
/// its stability, and how to create it.
pub struct Factory<C> {
    /// The current type name (`otlp_grpc`).
    pub type_name: &'static str,
    /// Older names still accepted with a warning (`otlp`).
    pub deprecated_names: &'static [&'static str],
    /// Signals the component supports (empty for extensions).
    pub signals: &'static [Signal],
    /// `development`, `alpha`, `beta` or `stable`, as the collector labels components.
    pub stability: &'static str,
    /// Builds the component from its config.
    pub create: C,
}

/// Looks a type name up in a table; the flag is true when the name is a deprecated alias.
pub fn find<'a, C>(table: &'a [Factory<C>], type_name: &str) -> Option<(&'a Factory<C>, bool)> {
    table.iter().find_map(|f| {
        if f.type_name == type_name {
            Some((f, false))
        } else if f.deprecated_names.contains(&type_name) {
            Some((f, true))
        } else {
            None
        }
    })
}

/// Every type name (current and deprecated) in a table, for "did you mean" hints.
pub fn names<C>(table: &[Factory<C>]) -> Vec<&'static str> {
    table
        .iter()
        .flat_map(|f| std::iter::once(f.type_name).chain(f.deprecated_names.iter().copied()))
        .collect()
}

/// Built-in receivers.
pub fn receivers() -> &'static [Factory<ReceiverCreate>] {
    static TABLE: &[Factory<ReceiverCreate>] =
        &[receivers::otlp::FACTORY, receivers::prometheus::FACTORY];
    TABLE
}

/// Built-in processors.
pub fn processors() -> &'static [Factory<ProcessorCreate>] {
    static TABLE: &[Factory<ProcessorCreate>] = &[
        processors::batch::FACTORY,
        processors::filter::FACTORY,
        processors::memory_limiter::FACTORY,
        processors::probabilistic_sampler::FACTORY,
        processors::resource::FACTORY,
    ];
    TABLE
}

/// Built-in exporters.
pub fn exporters() -> &'static [Factory<ExporterCreate>] {
    static TABLE: &[Factory<ExporterCreate>] = &[
        exporters::debug::FACTORY,
        exporters::file::FACTORY,
        exporters::jaeger::FACTORY,
        exporters::loadbalancing::FACTORY,
        exporters::otlp_grpc::FACTORY,
        exporters::otlp_http::FACTORY,
        exporters::prometheus::FACTORY,
        exporters::prometheusremotewrite::FACTORY,
    ];
    TABLE
}

/// Built-in extensions.
pub fn extensions() -> &'static [Factory<ExtensionCreate>] {
    static TABLE: &[Factory<ExtensionCreate>] = &[
        extensions::basicauth::FACTORY,
        extensions::bearertokenauth::FACTORY,
        extensions::file_storage::FACTORY,
        extensions::health_check::FACTORY,
        extensions::pprof::FACTORY,
        extensions::zpages::FACTORY,
    ];
    TABLE
}

/// One built-in component type, for `sluice components`.
pub struct ComponentInfo {
    /// Its kind.
    pub kind: Kind,
    /// Its current type name.
    pub type_name: &'static str,
    /// Older names still accepted.
    pub deprecated_names: &'static [&'static str],
    /// Signals it supports.
    pub signals: &'static [Signal],
    /// Its stability.
    pub stability: &'static str,
}

/// Every built-in component type, per kind.
pub fn describe() -> Vec<ComponentInfo> {
    fn rows<C>(kind: Kind, t: &'static [Factory<C>]) -> impl Iterator<Item = ComponentInfo> {
        t.iter().map(move |f| ComponentInfo {
            kind,
            type_name: f.type_name,
            deprecated_names: f.deprecated_names,
            signals: f.signals,
            stability: f.stability,
        })
    }
    rows(Kind::Receiver, receivers())
        .chain(rows(Kind::Processor, processors()))
        .chain(rows(Kind::Exporter, exporters()))
        .chain(rows(Kind::Extension, extensions()))
        .collect()
}
