//! Exporters: components that send telemetry out of Sluice.

pub mod common;
pub mod debug;
pub mod file;
pub mod grpc_call;
pub mod grpc_codec;
pub mod jaeger;
pub mod loadbalancing;
pub mod otlp_grpc;
pub mod otlp_http;
pub mod prometheus;
pub mod prometheusremotewrite;
pub mod promtranslate;
