//! `sluice validate` on configs using the resource and probabilistic_sampler processors: a
//! valid one passes, broken ones name the key path and give a hint.

use std::process::Command;

fn validate(file: &str) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["validate", "--config", file])
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn resource_and_sampler_config_validates() {
    let (code, out) = validate("tests/configs/valid/resource_sampler.yaml");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("config OK"), "{out}");
}

#[test]
fn broken_processor_configs_name_the_key_and_hint() {
    for (file, fragments) in [
        (
            "tests/configs/invalid/resource_bad_action.yaml",
            &[
                "attributes::0::action",
                "unsupported action \"upsret\"",
                "did you mean \"upsert\"?",
            ],
        ),
        (
            "tests/configs/invalid/sampler_bad_mode.yaml",
            &[
                "mode",
                "unsupported sampler mode \"equalising\"",
                "did you mean \"equalizing\"?",
            ],
        ),
    ] {
        let (code, out) = validate(file);
        assert_eq!(code, 1, "{file}: {out}");
        for f in fragments {
            assert!(out.contains(f), "{file}: missing {f:?} in:\n{out}");
        }
    }
}
