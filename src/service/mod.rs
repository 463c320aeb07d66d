//! The running service: builds the graph from a validated config and the registry, starts it,
//! and stops it in order (receivers, then pipelines, then exporters, then extensions) so that
//! everything accepted is drained. Extensions see its status through a [`Host`].

mod graph;
pub mod host;
mod running;

pub use graph::{ReloadReport, Service};
pub use host::{Host, Status, StatusSender};
