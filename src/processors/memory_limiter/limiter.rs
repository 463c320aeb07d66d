//! The limiter behind a memory_limiter: measures memory (at most `check_interval` apart, and
//! sooner when much was admitted since), decides whether new data may come in, purges the
//! allocator when over a limit, and logs each transition once.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::config::Limits;
use crate::component::ComponentId;
use crate::pipeline::admission::{self, Gate, Refusal};
use crate::signal::Signal;
use crate::telemetry::memory::{self, Reading};
use crate::telemetry::metrics as own;

const MIB: f64 = 1024.0 * 1024.0;

/// Measures memory; the real one is [`memory::read`], tests pass their own.
pub type Measure = Arc<dyn Fn() -> Reading + Send + Sync>;
/// Returns freed memory to the OS; the real one is [`memory::release`].
pub type Release = Arc<dyn Fn() -> bool + Send + Sync>;

/// Where memory use stands against the limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Below the soft limit: data is accepted.
    Normal,
    /// Above the soft limit: new data is refused.
    Soft,
    /// Above the hard limit: new data is refused and the allocator purged.
    Hard,
}

struct State {
    measured_at: Option<Instant>,
    reading: Reading,
    /// `admission::materialized()` when `reading` was taken.
    baseline: u64,
    level: Level,
    purged_at: Option<Instant>,
}

/// The memory limiter's gate, shared by the processor and the receivers feeding its pipeline.
pub struct Limiter {
    id: ComponentId,
    limits: Limits,
    check_interval: Duration,
    purge_interval_soft: Duration,
    purge_interval_hard: Duration,
    measure: Measure,
    release: Release,
    state: Mutex<State>,
}

/// What the limiter sees at one moment.
#[derive(Debug, Clone, Copy)]
pub struct Snapshot {
    /// Memory in use at the last measurement.
    pub in_use: u64,
    /// Admitted since that measurement (estimated), so not in it.
    pub unmeasured: u64,
    /// The level at the last measurement.
    pub level: Level,
}

impl Limiter {
    /// A limiter with the given limits and timing.
    pub fn new(
        id: ComponentId,
        limits: Limits,
        check_interval: Duration,
        purge_intervals: (Duration, Duration),
        measure: Measure,
        release: Release,
    ) -> Limiter {
        Limiter {
            id,
            limits,
            check_interval,
            purge_interval_soft: purge_intervals.0,
            purge_interval_hard: purge_intervals.1,
            measure,
            release,
            state: Mutex::new(State {
                measured_at: None,
                reading: Reading::default(),
                baseline: 0,
                level: Level::Normal,
                purged_at: None,
            }),
        }
    }

    /// A limiter reading the process's real memory.
    pub fn real(
        id: ComponentId,
        limits: Limits,
        check_interval: Duration,
        purge: (Duration, Duration),
    ) -> Limiter {
        Limiter::new(
            id,
            limits,
            check_interval,
            purge,
            Arc::new(memory::read),
            Arc::new(memory::release),
        )
    }

    /// The configured limits.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Current view, measuring first when the last measurement is older than `check_interval`
    /// or when what was admitted since could use up half the headroom to the soft limit.
    pub fn snapshot(&self) -> Snapshot {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let unmeasured = admission::admitted_total().saturating_sub(st.baseline);
        let headroom = self.limits.soft.saturating_sub(st.reading.in_use);
        let due = match st.measured_at {
            None => true,
            Some(t) => {
                let age = now.duration_since(t);
                age >= self.check_interval
                    || (unmeasured > headroom / 2 && age >= Duration::from_millis(1))
            }
        };
        if due {
            self.measure_now(&mut st, now);
        }
        Snapshot {
            in_use: st.reading.in_use,
            unmeasured: admission::admitted_total().saturating_sub(st.baseline),
            level: st.level,
        }
    }

    fn measure_now(&self, st: &mut State, now: Instant) {
        let baseline = admission::materialized();
        let reading = (self.measure)();
        st.reading = reading;
        st.baseline = baseline;
        st.measured_at = Some(now);
        let level = if reading.in_use >= self.limits.hard {
            Level::Hard
        } else if reading.in_use >= self.limits.soft {
            Level::Soft
        } else {
            Level::Normal
        };
        if level != st.level {
            self.log_transition(st.level, level, reading);
            st.level = level;
        }
        // Give freed pages back when the allocator holds more than the soft limit, as the
        // collector forces a GC: at most every min_gc_interval_when_{soft,hard}_limited.
        let interval = if reading.resident >= self.limits.hard || level == Level::Hard {
            Some(self.purge_interval_hard)
        } else if reading.resident >= self.limits.soft || level == Level::Soft {
            Some(self.purge_interval_soft)
        } else {
            None
        };
        if let Some(min) = interval {
            if st.purged_at.is_none_or(|t| now.duration_since(t) >= min) {
                st.purged_at = Some(now);
                if (self.release)() {
                    let after = (self.measure)();
                    tracing::debug!(processor = %self.id,
                        resident_mib = reading.resident as f64 / MIB,
                        after_mib = after.resident as f64 / MIB,
                        "purged allocator");
                    st.reading = after;
                }
            }
        }
    }

    fn log_transition(&self, from: Level, to: Level, r: Reading) {
        let in_use = format!("{:.1}", r.in_use as f64 / MIB);
        let soft = format!("{:.1}", self.limits.soft as f64 / MIB);
        let hard = format!("{:.1}", self.limits.hard as f64 / MIB);
        match to {
            Level::Normal => tracing::info!(processor = %self.id, in_use_mib = %in_use,
                soft_limit_mib = %soft, "memory usage back below the soft limit; accepting data again"),
            Level::Soft if from == Level::Normal => tracing::warn!(processor = %self.id,
                in_use_mib = %in_use, soft_limit_mib = %soft,
                "memory usage above the soft limit; refusing new data with retryable errors"),
            Level::Soft => tracing::info!(processor = %self.id, in_use_mib = %in_use,
                hard_limit_mib = %hard, "memory usage back below the hard limit, still above the soft limit"),
            Level::Hard => tracing::warn!(processor = %self.id, in_use_mib = %in_use,
                hard_limit_mib = %hard,
                "memory usage above the hard limit; refusing new data and returning freed memory to the OS"),
        }
    }

    fn refusal(&self, what: &str, s: &Snapshot, limit: u64) -> Refusal {
        Refusal {
            reason: "memory_limit",
            message: format!(
                "memory_limiter {}: {what} ({:.1} MiB in use, {:.1} MiB just admitted, limit {:.1} MiB)",
                self.id,
                s.in_use as f64 / MIB,
                s.unmeasured as f64 / MIB,
                limit as f64 / MIB
            ),
        }
    }
}

impl Gate for Limiter {
    fn admit(&self, estimate: usize) -> Result<(), Refusal> {
        let s = self.snapshot();
        let now = s.in_use + s.unmeasured;
        if s.level != Level::Normal || now > self.limits.soft {
            return Err(self.refusal("memory usage is above the soft limit", &s, self.limits.soft));
        }
        if now + estimate as u64 > self.limits.hard {
            return Err(self.refusal(
                &format!(
                    "a request needing about {:.1} MiB would cross the hard limit",
                    estimate as f64 / MIB
                ),
                &s,
                self.limits.hard,
            ));
        }
        Ok(())
    }

    fn check(&self, signal: Signal, items: u64, own_estimate: usize) -> Result<(), Refusal> {
        let s = self.snapshot();
        let now = (s.in_use + s.unmeasured).saturating_sub(own_estimate as u64);
        if s.level != Level::Normal || now > self.limits.soft {
            own::memory_limiter_refused(&self.id, signal, items);
            return Err(self.refusal("memory usage is above the soft limit", &s, self.limits.soft));
        }
        Ok(())
    }
}
