//! OTLP → Prometheus translation shared by the `prometheus` (pull) and `prometheusremotewrite`
//! exporters: metric and label names (`naming`), label values and `job`/`instance` (`labels`).

pub mod labels;
pub mod naming;
