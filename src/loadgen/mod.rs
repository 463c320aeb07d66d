//! The performance harness behind `sluice-loadgen`: an OTLP load generator in the spirit of
//! the collector's telemetrygen, an OTLP sink for benchmarks and fault tests, and the
//! payload builders shared with the criterion benchmarks in `benches/`.

pub mod cli;
pub mod client;
pub mod generate;
pub mod payload;
pub mod sink;
pub mod stats;
pub mod template;
pub mod wire;
