//! Extensions: components that run beside the pipelines.

pub mod file_storage;
pub mod health_check;
pub mod pprof;
pub mod zpages;
