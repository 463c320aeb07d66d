use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::*;
use crate::pipeline::admission::Gates;
use crate::telemetry::memory::Reading;

const MIB: u64 = 1024 * 1024;

#[test]
fn bad_configs_get_the_collectors_messages() {
    let cases = [
        (
            json!({"limit_mib": 100}),
            "check_interval",
            "'check_interval' must be greater than zero",
        ),
        (
            json!({"check_interval": "1s"}),
            "limit_mib",
            "'limit_mib' or 'limit_percentage' must be greater than zero",
        ),
        (
            json!({"check_interval": "1s", "limit_mib": 100, "spike_limit_mib": 100}),
            "spike_limit_mib",
            "'spike_limit_mib' must be smaller than 'limit_mib'",
        ),
        (
            json!({"check_interval": "1s", "limit_percentage": 101}),
            "limit_percentage",
            "less than or equal to hundred",
        ),
        (
            json!({"check_interval": "1s", "limit_percentage": 50, "spike_limit_percentage": 60}),
            "spike_limit_percentage",
            "'spike_limit_percentage' must be smaller than 'limit_percentage'",
        ),
        (
            json!({"check_interval": "1s", "limit_mib": 100, "min_gc_interval_when_soft_limited": "1s", "min_gc_interval_when_hard_limited": "5s"}),
            "min_gc_interval_when_soft_limited",
            "should be larger",
        ),
        (
            json!({"check_interval": "1s", "limit_mb": 100}),
            "limit_mb",
            "unknown field",
        ),
    ];
    for (cfg, path, msg) in cases {
        let err = create(
            &ComponentId::new("memory_limiter", None),
            Signal::Traces,
            &cfg,
        )
        .err()
        .unwrap_or_else(|| panic!("{cfg} should be rejected"));
        assert_eq!(err.path.join("::"), path, "{cfg}: {err}");
        assert!(err.message.contains(msg), "{cfg}: {err}");
    }
}

#[test]
fn limits_as_upstream_computes_them() {
    let cfg = |v| -> MemoryLimiterConfig { decode(&v).unwrap() };
    let l = cfg(json!({"check_interval": "1s", "limit_mib": 100}))
        .limits(None)
        .unwrap();
    assert_eq!(
        l,
        Limits {
            hard: 100 * MIB,
            soft: 80 * MIB
        },
        "spike defaults to 20%"
    );
    let l = cfg(json!({"check_interval": "1s", "limit_mib": 100, "spike_limit_mib": 30}))
        .limits(None)
        .unwrap();
    assert_eq!(
        l,
        Limits {
            hard: 100 * MIB,
            soft: 70 * MIB
        }
    );
    let l =
        cfg(json!({"check_interval": "1s", "limit_percentage": 50, "spike_limit_percentage": 10}))
            .limits(Some(1000 * MIB))
            .unwrap();
    assert_eq!(
        l,
        Limits {
            hard: 500 * MIB,
            soft: 400 * MIB
        }
    );
    let l = cfg(json!({"check_interval": "1s", "limit_percentage": 50}))
        .limits(Some(1000 * MIB))
        .unwrap();
    assert_eq!(
        l,
        Limits {
            hard: 500 * MIB,
            soft: 400 * MIB
        }
    );
    // limit_mib wins over a percentage, as upstream.
    let l = cfg(json!({"check_interval": "1s", "limit_mib": 10, "limit_percentage": 50}))
        .limits(Some(1000 * MIB))
        .unwrap();
    assert_eq!(l.hard, 10 * MIB);
}

/// A limiter whose "memory" is a number the test sets.
fn fake(limits: Limits, check: Duration) -> (Arc<Limiter>, Arc<AtomicU64>, Arc<AtomicUsize>) {
    let mem = Arc::new(AtomicU64::new(0));
    let purges = Arc::new(AtomicUsize::new(0));
    let m = mem.clone();
    let p = purges.clone();
    let limiter = Limiter::new(
        ComponentId::new("memory_limiter", None),
        limits,
        check,
        (Duration::ZERO, Duration::ZERO),
        Arc::new(move || {
            let v = m.load(Ordering::SeqCst);
            Reading {
                in_use: v,
                resident: v,
            }
        }),
        Arc::new(move || {
            p.fetch_add(1, Ordering::SeqCst);
            true
        }),
    );
    (Arc::new(limiter), mem, purges)
}

/// One test, because admission totals are process-wide and other tests' tickets would move
/// the numbers this one asserts.
#[test]
fn refuses_above_soft_limit_and_before_decoding_large_requests() {
    let limits = Limits {
        hard: 1000 * MIB,
        soft: 800 * MIB,
    };
    let (limiter, mem, purges) = fake(limits, Duration::from_millis(20));
    let gates = Gates::new(vec![limiter.clone() as Arc<dyn Gate>]);

    // Below the soft limit: admitted; the ticket is held against the budget.
    mem.store(100 * MIB, Ordering::SeqCst);
    let t = gates.admit(10 * MIB as usize).expect("admitted");
    assert_eq!(
        t.estimate(),
        40 * MIB as usize,
        "counted at DECODE_EXPANSION"
    );
    assert!(gates.check(Signal::Traces, 10, t.estimate()).is_ok());
    drop(t);

    // A request whose decoded size would cross the hard limit is refused before decoding,
    // though usage is below the soft limit.
    let err = gates
        .admit(300 * MIB as usize)
        .expect_err("would cross the hard limit");
    assert_eq!(err.reason, "memory_limit");
    assert!(
        err.message.contains("would cross the hard limit"),
        "{}",
        err.message
    );

    // Many requests admitted between measurements add up: the limiter re-measures early and
    // refuses once admitted-but-unmeasured data would take usage past the soft limit.
    let mut held = Vec::new();
    let refused = loop {
        match gates.admit(50 * MIB as usize) {
            Ok(t) => {
                mem.fetch_add(t.estimate() as u64, Ordering::SeqCst);
                held.push(t);
            }
            Err(e) => break e,
        }
        assert!(held.len() < 100, "never refused");
    };
    assert!(
        refused.message.contains("above the soft limit"),
        "{}",
        refused.message
    );
    let used = mem.load(Ordering::SeqCst);
    assert!(
        used <= limits.hard,
        "usage {} MiB stayed under the hard limit",
        used / MIB
    );
    assert!(
        used + 200 * MIB > limits.soft,
        "and it was refused near the soft limit: {}",
        used / MIB
    );
    drop(held);

    // Above the soft limit after a measurement: decoded items are refused too.
    mem.store(900 * MIB, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(25));
    assert_eq!(limiter.snapshot().level, Level::Soft);
    assert!(gates.check(Signal::Logs, 7, 0).is_err());
    assert!(gates.admit(1).is_err());

    // Above the hard limit the allocator is asked to give memory back.
    let before = purges.load(Ordering::SeqCst);
    mem.store(1100 * MIB, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(25));
    assert_eq!(limiter.snapshot().level, Level::Hard);
    assert!(
        purges.load(Ordering::SeqCst) > before,
        "purged above the hard limit"
    );

    // Back below the soft limit: accepting again at the next check.
    mem.store(100 * MIB, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(25));
    assert!(gates.admit(1024).is_ok());
    assert_eq!(limiter.snapshot().level, Level::Normal);
}

#[test]
fn the_processor_passes_data_through_and_offers_its_gate() {
    let mut p = create(
        &ComponentId::new("memory_limiter", None),
        Signal::Traces,
        &json!({"check_interval": "1s", "limit_mib": 4000}),
    )
    .unwrap();
    assert!(p.gate().is_some());
    let mut out = Vec::new();
    let data = crate::signal::Data::Traces(Default::default());
    p.process(Batch::new(data.clone()), &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].to_data(), data);
}
