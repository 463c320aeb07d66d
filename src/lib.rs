//! Sluice: a telemetry pipeline daemon that runs OpenTelemetry Collector configs.

#![warn(missing_docs)]

pub mod auth;
pub mod component;
pub mod config;
pub mod exporters;
pub mod extensions;
pub mod http_server;
pub mod loadgen;
pub mod otlp_json;
pub mod otlp_wire;
pub mod ottl;
pub mod payload;
pub mod pipeline;
pub mod processors;
pub mod receivers;
pub mod registry;
pub mod rpc_status;
pub mod service;
pub mod signal;
pub mod storage;
pub mod telemetry;
pub mod tls;
