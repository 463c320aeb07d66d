//! Release builds of the `sluice` binary link its functions in the order listed in
//! `benches/link-order/sluice.order` (written by `benches/link-order.sh`): the functions a
//! running daemon executes come first, packed together. The kernel maps executable pages in
//! 64 KiB runs around each one touched, so a few hundred functions spread over 12 MB of code
//! otherwise keep most of the binary resident (RSS); packed, they keep about their own size.
//! Functions not in the list follow as usual; a stale list only orders fewer of them.
//!
//! Skipped (plain link) unless: release profile, x86_64 Linux with rustc ≥ 1.90 (whose default
//! linker is rust-lld; GNU ld has no `--symbol-ordering-file`), no linker chosen by hand, and
//! `SLUICE_LINK_ORDER` is not `0`.

use std::env;
use std::path::Path;
use std::process::Command;

const ORDER: &str = "benches/link-order/sluice.order";

fn main() {
    println!("cargo:rerun-if-changed={ORDER}");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=SLUICE_LINK_ORDER");
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER");
    let var = |k: &str| env::var(k).unwrap_or_default();
    let wanted = var("SLUICE_LINK_ORDER") != "0"
        && var("PROFILE") == "release"
        && var("TARGET") == "x86_64-unknown-linux-gnu"
        && var("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER").is_empty()
        && !var("CARGO_ENCODED_RUSTFLAGS").contains("link")
        && rustc_minor().is_some_and(|m| m >= 90);
    let path = Path::new(&var("CARGO_MANIFEST_DIR")).join(ORDER);
    if wanted && path.is_file() {
        println!(
            "cargo:rustc-link-arg-bin=sluice=-Wl,--symbol-ordering-file={}",
            path.display()
        );
        println!("cargo:rustc-link-arg-bin=sluice=-Wl,--no-warn-symbol-ordering");
    }
}

/// The minor version of the rustc building this crate (`rustc 1.95.0 (…)` → 95).
fn rustc_minor() -> Option<u32> {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(rustc).arg("--version").output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    text.split_whitespace()
        .nth(1)?
        .split('.')
        .nth(1)?
        .parse()
        .ok()
}
