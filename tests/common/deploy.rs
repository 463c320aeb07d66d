//! Helpers for the tests of `deploy/` and `examples/`: repository paths, YAML documents as
//! JSON values, validators from the test venv, and the Kubernetes manifests' pod specs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// `path` inside the repository.
pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Every document of a (multi-document) YAML file, as JSON values.
pub fn yaml_docs(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_saphyr::from_multiple::<Value>(&text)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

/// A single-document YAML string as a JSON value.
pub fn yaml_value(text: &str) -> Value {
    serde_saphyr::from_str::<Value>(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// A tool installed in the test venv (`.venv/bin/NAME`, or next to `$SLUICE_TEST_PYTHON`).
pub fn venv_tool(name: &str) -> PathBuf {
    let bin = match std::env::var("SLUICE_TEST_PYTHON") {
        Ok(p) => PathBuf::from(p).parent().unwrap().to_path_buf(),
        Err(_) => repo(".venv/bin"),
    };
    let tool = bin.join(name);
    assert!(
        tool.exists(),
        "{} is missing: run scripts/test.sh (it installs tests/deploy/requirements.txt into .venv), \
         or `.venv/bin/pip install -r tests/deploy/requirements.txt`",
        tool.display()
    );
    tool
}

/// Runs a command; returns (exit code, stdout, stderr).
pub fn run(cmd: &mut Command) -> (i32, String, String) {
    let out: Output = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The Kubernetes manifests in `deploy/kubernetes/` (not the kustomization).
pub const MANIFESTS: &[&str] = &[
    "deploy/kubernetes/namespace.yaml",
    "deploy/kubernetes/gateway.yaml",
    "deploy/kubernetes/agent.yaml",
    "deploy/kubernetes/sidecar-example.yaml",
];

/// Every document of every manifest, with the file it came from.
pub fn manifest_docs() -> Vec<(String, Value)> {
    MANIFESTS
        .iter()
        .flat_map(|f| {
            yaml_docs(&repo(f))
                .into_iter()
                .map(move |d| (f.to_string(), d))
        })
        .collect()
}

/// The pod template of a workload (Deployment, DaemonSet, StatefulSet), if it is one.
pub fn pod_template(doc: &Value) -> Option<&Value> {
    match doc["kind"].as_str()? {
        "Deployment" | "DaemonSet" | "StatefulSet" => Some(&doc["spec"]["template"]),
        _ => None,
    }
}

/// The container named `sluice` of a pod spec (a container or a native-sidecar init container).
pub fn sluice_container(pod_spec: &Value) -> Option<&Value> {
    ["containers", "initContainers"]
        .iter()
        .filter_map(|k| pod_spec[*k].as_array())
        .flatten()
        .find(|c| c["name"] == "sluice")
}
