//! `processors: memory_limiter:` configuration, with the collector's keys, defaults and checks.

use std::time::Duration;

use serde::Deserialize;

use crate::component::ComponentConfigError;
use crate::config::decode::duration;

const MIB: u64 = 1024 * 1024;

/// The memory_limiter's config.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MemoryLimiterConfig {
    /// Longest time between memory measurements (required, > 0). Sluice also measures sooner
    /// when much data was admitted since the last measurement.
    #[serde(deserialize_with = "duration")]
    pub check_interval: Duration,
    /// Hard limit in MiB of memory in use. Takes precedence over `limit_percentage`.
    pub limit_mib: u32,
    /// Headroom in MiB below the hard limit: the soft limit is `limit_mib - spike_limit_mib`
    /// (default 20% of the limit).
    pub spike_limit_mib: u32,
    /// Hard limit as a percentage of available memory (cgroup limit, else total RAM).
    pub limit_percentage: u32,
    /// Headroom as a percentage of available memory (default 20% of the limit).
    pub spike_limit_percentage: u32,
    /// Least time between allocator purges while above the soft limit (default 10s).
    #[serde(deserialize_with = "duration")]
    pub min_gc_interval_when_soft_limited: Duration,
    /// Least time between allocator purges while above the hard limit (default 0: every check).
    #[serde(deserialize_with = "duration")]
    pub min_gc_interval_when_hard_limited: Duration,
}

impl Default for MemoryLimiterConfig {
    fn default() -> Self {
        MemoryLimiterConfig {
            check_interval: Duration::ZERO,
            limit_mib: 0,
            spike_limit_mib: 0,
            limit_percentage: 0,
            spike_limit_percentage: 0,
            min_gc_interval_when_soft_limited: Duration::from_secs(10),
            min_gc_interval_when_hard_limited: Duration::ZERO,
        }
    }
}

/// Limits in bytes, resolved from the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Above this, data is refused and the allocator is purged.
    pub hard: u64,
    /// Above this (hard − spike), new data is refused.
    pub soft: u64,
}

impl MemoryLimiterConfig {
    /// Checks the config as the collector does, with the collector's messages.
    pub fn validate(&self) -> Result<(), ComponentConfigError> {
        if self.check_interval.is_zero() {
            return Err(ComponentConfigError::at(
                &["check_interval"],
                "'check_interval' must be greater than zero",
            )
            .with_hint("the collector's examples use check_interval: 1s"));
        }
        if self.min_gc_interval_when_soft_limited < self.min_gc_interval_when_hard_limited {
            return Err(ComponentConfigError::at(
                &["min_gc_interval_when_soft_limited"],
                "'min_gc_interval_when_soft_limited' should be larger than \
                 'min_gc_interval_when_hard_limited'",
            ));
        }
        if self.limit_mib == 0 && self.limit_percentage == 0 {
            return Err(ComponentConfigError::at(
                &["limit_mib"],
                "'limit_mib' or 'limit_percentage' must be greater than zero",
            ));
        }
        if self.limit_percentage > 100 || self.spike_limit_percentage > 100 {
            return Err(ComponentConfigError::at(
                &["limit_percentage"],
                "'limit_percentage' and 'spike_limit_percentage' must be greater than zero and \
                 less than or equal to hundred",
            ));
        }
        if self.limit_mib > 0 && self.limit_mib <= self.spike_limit_mib {
            return Err(ComponentConfigError::at(
                &["spike_limit_mib"],
                "'spike_limit_mib' must be smaller than 'limit_mib'",
            ));
        }
        if self.limit_percentage > 0 && self.limit_percentage <= self.spike_limit_percentage {
            return Err(ComponentConfigError::at(
                &["spike_limit_percentage"],
                "'spike_limit_percentage' must be smaller than 'limit_percentage'",
            ));
        }
        Ok(())
    }

    /// The limits in bytes; `available` is the memory available to the process (needed only
    /// for percentages). As upstream, a zero spike limit means 20% of the limit.
    pub fn limits(&self, available: Option<u64>) -> Result<Limits, ComponentConfigError> {
        let (hard, spike) = if self.limit_mib > 0 {
            (
                self.limit_mib as u64 * MIB,
                self.spike_limit_mib as u64 * MIB,
            )
        } else {
            let total = available.ok_or_else(|| {
                ComponentConfigError::at(
                    &["limit_percentage"],
                    "cannot tell how much memory is available (no cgroup limit, no \
                     /proc/meminfo); use limit_mib",
                )
            })?;
            (
                total / 100 * self.limit_percentage as u64,
                total / 100 * self.spike_limit_percentage as u64,
            )
        };
        let spike = if spike == 0 { hard / 5 } else { spike };
        Ok(Limits {
            hard,
            soft: hard.saturating_sub(spike),
        })
    }
}
