//! `processors: probabilistic_sampler:` config, with the collector's keys and defaults.

use serde::Deserialize;

/// `processors: probabilistic_sampler:` config.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SamplerConfig {
    /// Percentage of traces or logs kept (default 0: none). Values above 100 mean 100. Kept as
    /// a 32-bit float, as the collector keeps it, so that decisions match bit for bit.
    pub sampling_percentage: f32,
    /// Seed of the FNV hash in `hash_seed` mode (default 0). Give sampler layers different
    /// seeds so they do not keep the same items.
    pub hash_seed: u32,
    /// `hash_seed`, `proportional` or `equalizing`. Unset (the default) means `hash_seed`, as in
    /// the collector's `config.go`.
    pub mode: String,
    /// Drop items whose sampling information is missing or invalid (default true).
    pub fail_closed: bool,
    /// Hex digits of the threshold written to `th:` in `proportional`/`equalizing` mode and by
    /// log sampling priorities, 1 to 14 (default 4).
    pub sampling_precision: i64,
    /// Logs only: `traceID` (default) hashes the record's trace ID; `record` hashes the
    /// attribute named by `from_attribute`.
    pub attribute_source: String,
    /// Logs only: the log record attribute hashed when there is no trace ID or when
    /// `attribute_source` is `record`.
    pub from_attribute: String,
    /// Logs only: a log record attribute whose numeric value is a sampling percentage that
    /// replaces the configured one for that record.
    pub sampling_priority: String,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        SamplerConfig {
            sampling_percentage: 0.0,
            hash_seed: 0,
            mode: String::new(),
            fail_closed: true,
            sampling_precision: 4,
            attribute_source: "traceID".to_string(),
            from_attribute: String::new(),
            sampling_priority: String::new(),
        }
    }
}
