//! Process metrics as the collector reports them: uptime, resident memory, CPU seconds
//! (`/proc/self/stat`), rendered when scraped.

use std::fmt::Write as _;
use std::sync::OnceLock;
use std::time::{Instant, SystemTime};

static START: OnceLock<(Instant, SystemTime)> = OnceLock::new();

/// Records the process start time; later calls keep the first. Called at startup.
pub fn mark_start() {
    START.get_or_init(|| (Instant::now(), SystemTime::now()));
}

/// Seconds since [`mark_start`] (or since the first call of this function).
pub fn uptime_secs() -> f64 {
    START
        .get_or_init(|| (Instant::now(), SystemTime::now()))
        .0
        .elapsed()
        .as_secs_f64()
}

/// Wall-clock time of [`mark_start`].
pub fn started_at() -> SystemTime {
    START.get_or_init(|| (Instant::now(), SystemTime::now())).1
}

/// CPU time (user + system) this process used, in seconds, from `/proc/self/stat`.
pub fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    parse_cpu_ticks(&stat).map(|t| t as f64 / clock_ticks() as f64)
}

/// utime + stime (fields 14 and 15) of a `/proc/PID/stat` line. The command name (field 2)
/// may hold spaces and parentheses, so fields are counted after its last `)`.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut f = rest.split_whitespace().skip(11);
    let utime: u64 = f.next()?.parse().ok()?;
    let stime: u64 = f.next()?.parse().ok()?;
    Some(utime + stime)
}

fn clock_ticks() -> i64 {
    extern "C" {
        fn sysconf(name: i32) -> i64;
    }
    const SC_CLK_TCK: i32 = 2; // _SC_CLK_TCK on Linux
                               // SAFETY: sysconf has no preconditions.
    let v = unsafe { sysconf(SC_CLK_TCK) };
    if v > 0 {
        v
    } else {
        100
    }
}

/// The process families in Prometheus text: `otelcol_process_uptime`,
/// `otelcol_process_memory_rss`, `otelcol_process_cpu_seconds`,
/// `otelcol_process_runtime_heap_alloc_bytes`.
pub fn render() -> String {
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, v: f64| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        super::registry::write_sample(&mut out, name, &[], None, v);
    };
    family(
        "otelcol_process_uptime",
        "counter",
        "Uptime of the process (seconds).",
        uptime_secs(),
    );
    family(
        "otelcol_process_memory_rss",
        "gauge",
        "Total physical memory (resident set size) (bytes).",
        super::memory::rss_bytes() as f64,
    );
    if let Some(cpu) = cpu_seconds() {
        family(
            "otelcol_process_cpu_seconds",
            "counter",
            "Total CPU user and system time in seconds.",
            cpu,
        );
    }
    family(
        "otelcol_process_runtime_heap_alloc_bytes",
        "gauge",
        "Bytes of allocated heap objects (allocator statistics, or RSS without them).",
        super::memory::read().in_use as f64,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_stat_with_odd_command_names() {
        let line =
            "1234 (we ird) name)) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 4 0 5 6 7";
        assert_eq!(parse_cpu_ticks(line), Some(325));
        assert!(cpu_seconds().is_some());
        let text = render();
        assert!(text.contains("# TYPE otelcol_process_uptime counter\n"));
        assert!(text.contains("otelcol_process_memory_rss "));
        assert!(text.contains("otelcol_process_cpu_seconds "));
    }
}
