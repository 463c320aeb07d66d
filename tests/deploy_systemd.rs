//! `deploy/systemd/sluice.service` and its environment file: `systemd-analyze verify` (Debian's
//! systemd) accepts the unit without a warning, with the binary path pointed at the built
//! `sluice`; the unit has upstream otelcol.service's keys and the sandboxing options; and the
//! options in the environment file are ones `sluice` accepts.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::deploy::{repo, run};

/// `[Section] -> key -> values` (a key may repeat).
fn parse_unit(text: &str) -> BTreeMap<String, BTreeMap<String, Vec<String>>> {
    let mut out: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    let mut section = String::new();
    for line in text.lines() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
            continue;
        }
        if let Some(s) = t.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            section = s.to_string();
            continue;
        }
        let (k, v) = t
            .split_once('=')
            .unwrap_or_else(|| panic!("not key=value: {t}"));
        out.entry(section.clone())
            .or_default()
            .entry(k.to_string())
            .or_default()
            .push(v.to_string());
    }
    out
}

fn unit_text() -> String {
    std::fs::read_to_string(repo("deploy/systemd/sluice.service")).unwrap()
}

#[test]
fn systemd_analyze_verify_accepts_the_unit() {
    if run_ok("systemd-analyze").is_none() {
        println!("skipped: systemd-analyze is not installed (Debian package systemd)");
        return;
    }
    let (_, version, _) = run(Command::new("systemd-analyze").arg("--version"));
    println!("{}", version.lines().next().unwrap_or_default());
    // verify checks that ExecStart's binary exists: point it at the one cargo built.
    let dir = tempfile::tempdir().unwrap();
    let unit = dir.path().join("sluice.service");
    let text = unit_text().replace("/usr/bin/sluice", env!("CARGO_BIN_EXE_sluice"));
    std::fs::write(&unit, text).unwrap();
    let (code, stdout, stderr) = run(Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&unit));
    assert_eq!(
        (code, stdout.as_str(), stderr.as_str()),
        (0, "", ""),
        "systemd-analyze verify"
    );
}

#[test]
fn systemd_analyze_verify_reports_a_misspelt_key() {
    // The control: verify must complain about an unknown key, or the clean run proves nothing.
    if run_ok("systemd-analyze").is_none() {
        println!("skipped: systemd-analyze is not installed (Debian package systemd)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let unit = dir.path().join("sluice.service");
    let text = unit_text()
        .replace("/usr/bin/sluice", env!("CARGO_BIN_EXE_sluice"))
        .replace("KillMode=mixed", "KilMode=mixed");
    std::fs::write(&unit, text).unwrap();
    let (_, _, stderr) = run(Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&unit));
    assert!(stderr.contains("Unknown key 'KilMode'"), "{stderr}");
}

fn run_ok(tool: &str) -> Option<()> {
    Command::new(tool)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|_| ())
}

#[test]
fn unit_has_upstreams_keys_and_sandboxing() {
    let unit = parse_unit(&unit_text());
    let service = &unit["Service"];
    let one = |k: &str| -> &str {
        let v = service
            .get(k)
            .unwrap_or_else(|| panic!("[Service] {k} missing"));
        assert_eq!(v.len(), 1, "{k} set once");
        &v[0]
    };
    for (key, want) in [
        ("Type", "simple"),
        ("User", "sluice"),
        ("Group", "sluice"),
        ("EnvironmentFile", "/etc/sluice/sluice.conf"),
        ("ExecStart", "/usr/bin/sluice $SLUICE_OPTIONS"),
        ("ExecReload", "/bin/kill -HUP $MAINPID"),
        ("KillMode", "mixed"),
        ("Restart", "on-failure"),
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("StateDirectory", "sluice"),
        ("CapabilityBoundingSet", ""),
    ] {
        assert_eq!(one(key), want, "[Service] {key}");
    }
    // A bad config fails the start with Sluice's own message rather than a restart loop.
    assert_eq!(
        one("ExecStartPre"),
        "/usr/bin/sluice validate $SLUICE_OPTIONS"
    );
    // SIGTERM drains for up to --shutdown-timeout (30s); systemd waits longer before SIGKILL.
    let stop: u64 = one("TimeoutStopSec").trim_end_matches('s').parse().unwrap();
    assert!(stop > 30, "TimeoutStopSec {stop}");
    assert_eq!(unit["Install"]["WantedBy"], ["multi-user.target"]);
    assert!(unit["Unit"]["After"][0].contains("network-online.target"));
}

#[test]
fn environment_file_options_are_accepted_by_sluice() {
    let text = std::fs::read_to_string(repo("deploy/systemd/sluice.conf")).unwrap();
    let vars: BTreeMap<&str, &str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            l.split_once('=')
                .unwrap_or_else(|| panic!("not VAR=value: {l}"))
        })
        .collect();
    let options = vars["SLUICE_OPTIONS"].trim_matches('"');
    let args: Vec<&str> = options.split_whitespace().collect();
    assert_eq!(args, ["--config", "/etc/sluice/config.yaml"]);
    // The same options with the config path pointed at the example the unit's comment installs.
    let agent = repo("examples/agent.yaml");
    let (code, stdout, stderr) = run(Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("validate")
        .args(args.iter().map(|a| {
            if *a == "/etc/sluice/config.yaml" {
                agent.to_str().unwrap()
            } else {
                a
            }
        }))
        .envs(
            vars.iter()
                .filter(|(k, _)| **k != "SLUICE_OPTIONS")
                .map(|(k, v)| (*k, *v)),
        ));
    assert_eq!((code, stdout.as_str()), (0, "config OK\n"), "{stderr}");
    assert!(unit_text().contains("install -m 0644 examples/agent.yaml /etc/sluice/config.yaml"));
}
