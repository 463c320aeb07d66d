//! `processors: batch:` configuration, with the collector's defaults and checks.

use std::time::Duration;

use serde::Deserialize;

use crate::component::ComponentConfigError;
use crate::config::decode::duration;

/// The batch processor's config. Defaults are the collector's.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BatchConfig {
    /// Items (spans, data points, log records) after which a batch is sent regardless of the
    /// timeout (default 8192). It triggers a send; it does not cap the batch. 0: data is sent
    /// at once, split only by `send_batch_max_size`.
    pub send_batch_size: u32,
    /// Time after which a batch is sent regardless of size (default 200ms). 0: data is sent at
    /// once, split only by `send_batch_max_size`.
    #[serde(deserialize_with = "duration")]
    pub timeout: Duration,
    /// Upper bound on the items in one batch; larger batches are split (default 0: no bound).
    pub send_batch_max_size: u32,
    /// Client metadata keys (gRPC metadata / HTTP headers, case-insensitive) whose distinct
    /// value combinations each get their own batcher, so tenants are never mixed.
    pub metadata_keys: Vec<String>,
    /// Most distinct `metadata_keys` combinations batched at once (default 1000); data for more
    /// is dropped, counted and logged.
    pub metadata_cardinality_limit: u32,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            send_batch_size: 8192,
            timeout: Duration::from_millis(200),
            send_batch_max_size: 0,
            metadata_keys: Vec::new(),
            metadata_cardinality_limit: 1000,
        }
    }
}

impl BatchConfig {
    /// Checks the config as the collector does.
    pub fn validate(&self) -> Result<(), ComponentConfigError> {
        if self.send_batch_max_size > 0 && self.send_batch_max_size < self.send_batch_size {
            return Err(ComponentConfigError::at(
                &["send_batch_max_size"],
                format!(
                    "send_batch_max_size ({}) must be greater or equal to send_batch_size ({})",
                    self.send_batch_max_size, self.send_batch_size
                ),
            )
            .with_hint(format!(
                "raise send_batch_max_size to {} or more, or set it to 0 for no cap",
                self.send_batch_size
            )));
        }
        let mut seen: Vec<String> = Vec::new();
        for (i, k) in self.metadata_keys.iter().enumerate() {
            let l = k.to_ascii_lowercase();
            if seen.contains(&l) {
                return Err(ComponentConfigError::at(
                    &["metadata_keys", &i.to_string()],
                    format!("duplicate entry in metadata_keys: {l:?} (case-insensitive)"),
                ));
            }
            seen.push(l);
        }
        if !self.metadata_keys.is_empty() && self.metadata_cardinality_limit == 0 {
            return Err(ComponentConfigError::at(
                &["metadata_cardinality_limit"],
                "metadata_cardinality_limit must be greater than 0 when metadata_keys are set",
            ));
        }
        Ok(())
    }
}
