//! `sluice validate` and `sluice print-config` on real files: every broken config gets an error
//! naming the file, line, key path and a hint, with exit code 1.

use std::process::{Command, Output};

fn sluice(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sluice"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR")).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn validate(file: &str) -> (i32, String) {
    let out = sluice(&["validate", "--config", file], &[]);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn broken_configs_name_file_line_key_and_hint() {
    // (file, expected fragments of stderr)
    let cases: &[(&str, &[&str])] = &[
        (
            "tests/configs/invalid/misspelt_type.yaml",
            &[
                "tests/configs/invalid/misspelt_type.yaml:6:3: exporters::otlpp/jaeger: unknown exporter type \"otlpp\"",
                "(did you mean \"otlp\"?)",
            ],
        ),
        (
            "tests/configs/invalid/undefined_exporter.yaml",
            &[
                "undefined_exporter.yaml:11:19: service::pipelines::logs::exporters: references exporter \"debugg\", which is not defined in exporters",
                "(did you mean \"debug\"?)",
            ],
        ),
        (
            "tests/configs/invalid/no_exporters.yaml",
            &["no_exporters.yaml:10:7: service::pipelines::metrics: pipeline must have at least one exporter"],
        ),
        (
            "tests/configs/invalid/bad_signal.yaml",
            &[
                "bad_signal.yaml:9:5: service::pipelines::trace: unknown signal \"trace\"",
                "(did you mean \"traces\"?)",
            ],
        ),
        (
            "tests/configs/invalid/unknown_component_key.yaml",
            &[
                "unknown_component_key.yaml:10:5: exporters::otlp/jaeger::compresion: unknown field `compresion`",
                "(did you mean \"compression\"?)",
            ],
        ),
        (
            "tests/configs/invalid/bad_endpoint.yaml",
            &["bad_endpoint.yaml:5:9: receivers::otlp::protocols::http::endpoint: endpoint \"localhost:99999\": port \"99999\" is not a number from 0 to 65535"],
        ),
        (
            "tests/configs/invalid/pipeline_key.yaml",
            &[
                "pipeline_key.yaml:11:7: service::pipelines::traces::exporter: unknown key \"exporter\"",
                "(did you mean \"exporters\"?)",
                "service::pipelines::traces: pipeline must have at least one exporter",
            ],
        ),
        (
            "tests/configs/invalid/top_level.yaml",
            &[
                "top_level.yaml:1:1: recievers: unknown key \"recievers\"",
                "(did you mean \"receivers\"?)",
                "connectors: connectors are not supported yet",
                "references receiver \"otlp\", which is not defined in receivers",
            ],
        ),
        ("tests/configs/invalid/syntax.yaml", &["syntax.yaml:4:", "invalid YAML"]),
        (
            "tests/configs/invalid/filter_condition.yaml",
            &[
                "filter_condition.yaml:10:11: processors::filter/drop_health::traces::span::1: condition \"attributes[http.route] == \\\"/health\\\"\": expected a string or integer key inside `[ ]`, found `http` (column 12)",
            ],
        ),
        (
            "tests/configs/invalid/unsupported_signal_dup.yaml",
            &["unsupported_signal_dup.yaml:10:25: service::pipelines::traces::receivers: receiver \"otlp\" is listed twice in this pipeline"],
        ),
    ];
    for (file, fragments) in cases {
        let (code, err) = validate(file);
        assert_eq!(code, 1, "{file}: exit code; stderr:\n{err}");
        for f in *fragments {
            assert!(err.contains(f), "{file}: missing {f:?} in:\n{err}");
        }
    }
}

#[test]
fn a_valid_config_is_ok_and_warns_on_old_names() {
    let out = sluice(
        &["validate", "--config", "tests/configs/valid/base.yaml"],
        &[("SLUICE_TEST_TOKEN", "abc")],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("config OK"), "{stdout}");
    assert!(
        stdout.contains("exporters::logging: type \"logging\" is deprecated; use \"debug\""),
        "{stdout}"
    );
    assert!(
        stdout.contains("type \"otlphttp\" is deprecated; use \"otlp_http\""),
        "{stdout}"
    );
    let out = sluice(&["validate", "--config", "config/default.yaml"], &[]);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn print_config_merges_expands_and_redacts() {
    let out = sluice(
        &[
            "print-config",
            "--config",
            "tests/configs/valid/base.yaml",
            "--config",
            "tests/configs/valid/override.yaml",
        ],
        &[
            ("SLUICE_TEST_TOKEN", "very-secret-token"),
            ("SLUICE_TEST_GRPC_PORT", "5317"),
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let yaml = String::from_utf8_lossy(&out.stdout);
    assert!(yaml.contains("127.0.0.1:5317"), "env expanded:\n{yaml}");
    assert!(
        yaml.contains("verbosity: detailed"),
        "later file wins:\n{yaml}"
    );
    assert!(yaml.contains("level: warn"), "merged:\n{yaml}");
    assert!(yaml.contains("http://backend:4318"), "base kept:\n{yaml}");
    assert!(yaml.contains("[REDACTED]"), "header redacted:\n{yaml}");
    assert!(
        !yaml.contains("very-secret-token"),
        "secret leaked:\n{yaml}"
    );
}

#[test]
fn missing_config_file_is_a_clear_error() {
    let (code, err) = validate("tests/configs/does-not-exist.yaml");
    assert_eq!(code, 1);
    assert!(
        err.contains("cannot read config file tests/configs/does-not-exist.yaml"),
        "{err}"
    );
}
