//! How much memory Sluice uses, measured cheaply: jemalloc's own statistics when jemalloc is
//! the global allocator (the `sluice` binary installs it), else the resident set size from
//! `/proc/self/statm`. Also what memory is available (cgroup limit or total RAM) and how to
//! ask the allocator to give freed memory back to the operating system.

use std::sync::OnceLock;

/// One measurement, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Reading {
    /// Memory in live allocations (jemalloc `stats.allocated`), or RSS without jemalloc.
    pub in_use: u64,
    /// Physical memory the allocator holds (jemalloc `stats.resident`), or RSS.
    pub resident: u64,
}

/// Where readings come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// jemalloc statistics (`epoch` advanced, then `stats.allocated` / `stats.resident`).
    Jemalloc,
    /// `/proc/self/statm` resident pages.
    ProcRss,
}

static SOURCE: OnceLock<Source> = OnceLock::new();

/// Declares that jemalloc is the global allocator, so its statistics are meaningful. Called by
/// the `sluice` binary at startup.
pub fn use_jemalloc() {
    let _ = SOURCE.set(Source::Jemalloc);
}

/// The source readings come from.
pub fn source() -> Source {
    *SOURCE.get().unwrap_or(&Source::ProcRss)
}

/// Measures memory now. With jemalloc this costs a few microseconds (a stats epoch refresh).
pub fn read() -> Reading {
    match source() {
        Source::Jemalloc => read_jemalloc().unwrap_or_else(|| {
            let rss = rss_bytes();
            Reading {
                in_use: rss,
                resident: rss,
            }
        }),
        Source::ProcRss => {
            let rss = rss_bytes();
            Reading {
                in_use: rss,
                resident: rss,
            }
        }
    }
}

fn read_jemalloc() -> Option<Reading> {
    use tikv_jemalloc_ctl::{epoch, stats};
    epoch::advance().ok()?;
    Some(Reading {
        in_use: stats::allocated::read().ok()? as u64,
        resident: stats::resident::read().ok()? as u64,
    })
}

/// Resident set size of this process from `/proc/self/statm` (0 if unreadable).
pub fn rss_bytes() -> u64 {
    let Ok(s) = std::fs::read_to_string("/proc/self/statm") else {
        return 0;
    };
    let pages: u64 = s
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    pages * page_size()
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let v = unsafe { libc_sysconf_pagesize() };
    if v > 0 {
        v as u64
    } else {
        4096
    }
}

unsafe fn libc_sysconf_pagesize() -> i64 {
    extern "C" {
        fn sysconf(name: i32) -> i64;
    }
    const SC_PAGESIZE: i32 = 30; // _SC_PAGESIZE on Linux
    sysconf(SC_PAGESIZE)
}

/// Asks the allocator to return freed memory to the operating system now: with jemalloc,
/// `arena.<all>.purge` (dirty and muzzy pages of every arena are released with madvise).
/// Returns false when there is no allocator to ask.
pub fn release() -> bool {
    if source() != Source::Jemalloc {
        return false;
    }
    // 4096 is MALLCTL_ARENAS_ALL: the purge applies to every arena.
    let name = b"arena.4096.purge\0";
    // SAFETY: a void mallctl takes no old or new value; the name is NUL-terminated.
    let rc = unsafe {
        tikv_jemalloc_sys::mallctl(
            name.as_ptr() as *const _,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        )
    };
    rc == 0
}

/// Memory available to this process: the cgroup (v2, then v1) limit if one is set and lower
/// than physical memory, else total RAM from `/proc/meminfo`.
pub fn available() -> Option<u64> {
    let total = meminfo_total();
    let cgroup = cgroup_limit();
    match (cgroup, total) {
        (Some(c), Some(t)) => Some(c.min(t)),
        (c, t) => c.or(t),
    }
}

fn meminfo_total() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = s.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn cgroup_limit() -> Option<u64> {
    if let Ok(s) = std::fs::read_to_string("/sys/fs/cgroup/memory.max") {
        return parse_cgroup_limit(&s);
    }
    let s = std::fs::read_to_string("/sys/fs/cgroup/memory/memory.limit_in_bytes").ok()?;
    parse_cgroup_limit(&s)
}

/// `max` (v2) or a huge number (v1's "unlimited") mean no limit.
fn parse_cgroup_limit(s: &str) -> Option<u64> {
    let s = s.trim();
    if s == "max" {
        return None;
    }
    let v: u64 = s.parse().ok()?;
    (v < (1u64 << 60)).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_something_plausible() {
        let r = read();
        assert!(r.in_use > 1024 * 1024, "{r:?}");
        assert!(available().unwrap() > r.resident);
    }

    #[test]
    fn cgroup_limits_parse() {
        assert_eq!(parse_cgroup_limit("max\n"), None);
        assert_eq!(parse_cgroup_limit("536870912\n"), Some(536870912));
        assert_eq!(parse_cgroup_limit("9223372036854771712"), None);
    }
}
