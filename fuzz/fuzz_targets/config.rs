//! Config documents through the config loader (`sluice::config::load::load_docs`): YAML
//! parsing with positions, `${env:VAR}` / `${VAR}` / `${env:VAR:-default}` / `$$` expansion,
//! deep merging of several documents, and validation against the built-in component registry
//! (every component's config decoding, including OTTL in filter processors).
//!
//! Input: UTF-8 text; a line `---8<---` splits it into documents merged in order (as
//! repeated `--config` flags). Variables come from a fixed table, not the environment.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice::config::{load_docs, redact, to_yaml};

fn lookup(name: &str) -> Option<String> {
    match name {
        "HOST" => Some("localhost".into()),
        "PORT" => Some("4317".into()),
        "TOKEN" => Some("s3cr3t".into()),
        "EMPTY" => Some(String::new()),
        "NESTED" => Some("${env:HOST}".into()),
        "DOLLAR" => Some("$$".into()),
        "LIST" => Some("[a, b]".into()),
        "NUM" => Some("42".into()),
        _ => None,
    }
}

fuzz_target!(|input: &[u8]| {
    let Ok(text) = std::str::from_utf8(input) else {
        return;
    };
    let docs: Vec<(String, String)> = text
        .split("---8<---\n")
        .enumerate()
        .map(|(i, d)| (format!("fuzz{i}.yaml"), d.to_string()))
        .collect();
    match load_docs(&docs, &lookup) {
        Ok(loaded) => {
            // What `print-config` does with a loaded config.
            let redacted = redact(&loaded.expanded);
            let _ = to_yaml(&redacted);
        }
        Err(errors) => {
            assert!(!errors.0.is_empty());
            for e in &errors.0 {
                let _ = e.to_string();
            }
        }
    }
});
