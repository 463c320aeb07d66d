//! The Kubernetes manifests in `deploy/kubernetes/`: schema-checked by kubernetes-validate
//! (PyPI; the Kubernetes OpenAPI schemas ship inside the package, so it runs offline) in strict
//! mode against the oldest and newest API versions they claim, and cross-checked with Sluice:
//! each ConfigMap holds its example config verbatim and passes `sluice validate`, container
//! ports are the config's endpoints on 0.0.0.0, probes hit health_check, memory requests and
//! limits fit the memory_limiter, selectors select their pods.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use common::deploy::{
    manifest_docs, pod_template, repo, run, sluice_container, venv_tool, yaml_value, MANIFESTS,
};
use serde_json::Value;

/// Oldest API version the manifests support (native sidecars: init containers with
/// restartPolicy Always, 1.29) and the newest schema kubernetes-validate ships.
const KUBERNETES_VERSIONS: &[&str] = &["1.29.0", "1.37.0"];

#[test]
fn manifests_pass_strict_schema_validation() {
    let tool = venv_tool("kubernetes-validate");
    let docs = manifest_docs();
    for version in KUBERNETES_VERSIONS {
        let (code, stdout, stderr) = run(Command::new(&tool)
            .args(["--strict", "-k", version])
            .args(MANIFESTS.iter().map(|f| repo(f))));
        assert_eq!(code, 0, "Kubernetes {version}:\n{stdout}{stderr}");
        let passed = stdout
            .lines()
            .chain(stderr.lines())
            .filter(|l| l.contains(" passed for resource "))
            .count();
        assert_eq!(
            passed,
            docs.len(),
            "every document passes against {version}:\n{stdout}{stderr}"
        );
    }
}

#[test]
fn schema_validation_rejects_a_misspelt_field() {
    // The control: the validator must fail a manifest with an unknown field, or the test above
    // proves nothing.
    let tool = venv_tool("kubernetes-validate");
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    let text = std::fs::read_to_string(repo("deploy/kubernetes/gateway.yaml"))
        .unwrap()
        .replacen("readinessProbe:", "readynessProbe:", 1);
    std::fs::write(&bad, text).unwrap();
    let (code, stdout, stderr) = run(Command::new(&tool)
        .args(["--strict", "-k", KUBERNETES_VERSIONS[1]])
        .arg(&bad));
    assert_ne!(code, 0, "{stdout}{stderr}");
    assert!(
        format!("{stdout}{stderr}").contains("readynessProbe"),
        "{stdout}{stderr}"
    );
}

fn by_kind<'a>(docs: &'a [(String, Value)], kind: &str) -> Vec<&'a Value> {
    docs.iter()
        .map(|(_, d)| d)
        .filter(|d| d["kind"] == kind)
        .collect()
}

fn labels_match(selector: &Value, labels: &Value) -> bool {
    let (Some(sel), Some(labels)) = (selector.as_object(), labels.as_object()) else {
        return false;
    };
    !sel.is_empty() && sel.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// Kubernetes quantity (Mi, Gi) in MiB.
fn mib(q: &Value) -> u64 {
    let s = q.as_str().unwrap_or_else(|| panic!("quantity {q}"));
    if let Some(n) = s.strip_suffix("Gi") {
        n.parse::<u64>().unwrap() * 1024
    } else if let Some(n) = s.strip_suffix("Mi") {
        n.parse().unwrap()
    } else {
        panic!("memory quantity {s:?}: use Mi or Gi")
    }
}

#[test]
fn every_document_names_itself_and_lives_in_the_namespace() {
    let docs = manifest_docs();
    let mut seen = BTreeSet::new();
    for (file, d) in &docs {
        let kind = d["kind"].as_str().unwrap_or_else(|| panic!("{file}: kind"));
        assert!(d["apiVersion"].is_string(), "{file}: {kind} apiVersion");
        let name = d["metadata"]["name"]
            .as_str()
            .unwrap_or_else(|| panic!("{file}: {kind} metadata.name"));
        if kind != "Namespace" {
            assert_eq!(
                d["metadata"]["namespace"], "observability",
                "{file}: {name}"
            );
        }
        assert!(
            seen.insert((kind.to_string(), name.to_string())),
            "{kind}/{name} twice"
        );
    }
    let kinds: BTreeSet<&str> = docs
        .iter()
        .filter_map(|(_, d)| d["kind"].as_str())
        .collect();
    for want in [
        "Namespace",
        "ConfigMap",
        "Deployment",
        "DaemonSet",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
    ] {
        assert!(kinds.contains(want), "no {want} among {kinds:?}");
    }
    // kustomization.yaml lists exactly the manifests.
    let kustomization =
        yaml_value(&std::fs::read_to_string(repo("deploy/kubernetes/kustomization.yaml")).unwrap());
    let listed: Vec<String> = kustomization["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| format!("deploy/kubernetes/{}", r.as_str().unwrap()))
        .collect();
    assert_eq!(listed, MANIFESTS);
}

#[test]
fn selectors_select_their_pods() {
    let docs = manifest_docs();
    let workloads: Vec<&Value> = docs
        .iter()
        .map(|(_, d)| d)
        .filter(|d| pod_template(d).is_some())
        .collect();
    for w in &workloads {
        assert!(
            labels_match(
                &w["spec"]["selector"]["matchLabels"],
                &pod_template(w).unwrap()["metadata"]["labels"]
            ),
            "{}: selector does not match the template labels",
            w["metadata"]["name"]
        );
    }
    let gateway = workloads
        .iter()
        .find(|w| w["kind"] == "Deployment" && w["metadata"]["name"] == "sluice-gateway")
        .expect("gateway Deployment");
    let gateway_labels = &gateway["spec"]["template"]["metadata"]["labels"];
    let gateway_ports: BTreeMap<String, u64> =
        sluice_container(&gateway["spec"]["template"]["spec"]).unwrap()["ports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["name"].as_str().unwrap().to_string(),
                    p["containerPort"].as_u64().unwrap(),
                )
            })
            .collect();

    let services = by_kind(&docs, "Service");
    assert_eq!(services.len(), 2);
    for s in &services {
        assert!(labels_match(&s["spec"]["selector"], gateway_labels));
        for p in s["spec"]["ports"].as_array().unwrap() {
            let target = p["targetPort"].as_str().unwrap();
            assert_eq!(
                gateway_ports.get(target).copied(),
                p["port"].as_u64(),
                "Service {} port {target}",
                s["metadata"]["name"]
            );
        }
    }
    let headless: Vec<_> = services
        .iter()
        .filter(|s| s["spec"]["clusterIP"] == "None")
        .collect();
    assert_eq!(headless.len(), 1, "one headless Service");

    let [hpa] = by_kind(&docs, "HorizontalPodAutoscaler")[..] else {
        panic!("one HPA")
    };
    assert_eq!(hpa["spec"]["scaleTargetRef"]["kind"], "Deployment");
    assert_eq!(hpa["spec"]["scaleTargetRef"]["name"], "sluice-gateway");
    assert!(hpa["spec"]["minReplicas"].as_u64().unwrap() >= 2);
    let [pdb] = by_kind(&docs, "PodDisruptionBudget")[..] else {
        panic!("one PDB")
    };
    assert!(labels_match(
        &pdb["spec"]["selector"]["matchLabels"],
        gateway_labels
    ));
    // The PDB never blocks every eviction at the HPA's minimum.
    assert!(pdb["spec"]["maxUnavailable"].as_u64().unwrap() >= 1);
}

/// The config key holding the endpoint that serves a named container port.
fn endpoint_for_port<'a>(config: &'a Value, port_name: &str) -> &'a Value {
    match port_name {
        "otlp-grpc" => &config["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"],
        "otlp-http" => &config["receivers"]["otlp"]["protocols"]["http"]["endpoint"],
        "metrics" => &config["service"]["telemetry"]["metrics"]["address"],
        "prom-exporter" => &config["exporters"]["prometheus"]["endpoint"],
        "health" => &config["extensions"]["health_check"]["endpoint"],
        other => panic!("container port {other:?} has no known config endpoint"),
    }
}

#[test]
fn sluice_pods_match_their_configs() {
    let docs = manifest_docs();
    let configmaps: BTreeMap<&str, &Value> = by_kind(&docs, "ConfigMap")
        .into_iter()
        .map(|c| (c["metadata"]["name"].as_str().unwrap(), c))
        .collect();
    let dockerfile = std::fs::read_to_string(repo("deploy/Dockerfile")).unwrap();
    let mut checked = BTreeSet::new();
    for (_, w) in &docs {
        let Some(template) = pod_template(w) else {
            continue;
        };
        let pod = &template["spec"];
        let c = sluice_container(pod).expect("a container named sluice");
        let component = c
            .get("restartPolicy")
            .map(|_| "sidecar")
            .unwrap_or_else(|| {
                template["metadata"]["labels"]["app.kubernetes.io/component"]
                    .as_str()
                    .unwrap()
            });
        let ctx = format!("{} ({component})", w["metadata"]["name"]);

        // Config: a ConfigMap volume mounted where --config points.
        assert_eq!(
            c["args"],
            serde_json::json!([
                "--config",
                "/etc/sluice/config/config.yaml",
                "--watch-config"
            ]),
            "{ctx}"
        );
        let mount = c["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["mountPath"] == "/etc/sluice/config")
            .unwrap_or_else(|| panic!("{ctx}: config mount"));
        let volume = pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == mount["name"])
            .unwrap();
        assert_eq!(volume["configMap"]["items"][0]["key"], "config.yaml");
        assert_eq!(volume["configMap"]["items"][0]["path"], "config.yaml");
        let cm_name = volume["configMap"]["name"].as_str().unwrap();
        let text = configmaps[cm_name]["data"]["config.yaml"].as_str().unwrap();
        // The ConfigMap carries the example verbatim, so the example's smoke test covers it.
        let example = std::fs::read_to_string(repo(&format!("examples/{component}.yaml"))).unwrap();
        assert!(
            text == example,
            "{ctx}: ConfigMap {cm_name} differs from examples/{component}.yaml"
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.yaml");
        std::fs::write(&file, text).unwrap();
        let (code, stdout, stderr) = run(Command::new(env!("CARGO_BIN_EXE_sluice"))
            .arg("validate")
            .arg("--config")
            .arg(&file));
        assert_eq!(code, 0, "{ctx}: {stdout}{stderr}");
        assert!(stdout.ends_with("config OK\n"), "{ctx}: {stdout}");
        let config = yaml_value(text);

        // Every declared port is served by the config on 0.0.0.0 (Sluice's defaults are
        // localhost, unreachable from the kubelet, Services and Prometheus).
        let ports: BTreeMap<String, u64> = c["ports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["name"].as_str().unwrap().to_string(),
                    p["containerPort"].as_u64().unwrap(),
                )
            })
            .collect();
        for (name, port) in &ports {
            assert_eq!(
                endpoint_for_port(&config, name).as_str(),
                Some(format!("0.0.0.0:{port}").as_str()),
                "{ctx}: port {name}"
            );
        }
        if !ports.contains_key("otlp-grpc") {
            // A sidecar: OTLP stays inside the pod.
            assert_eq!(
                endpoint_for_port(&config, "otlp-grpc"),
                "localhost:4317",
                "{ctx}"
            );
            assert_eq!(
                endpoint_for_port(&config, "otlp-http"),
                "localhost:4318",
                "{ctx}"
            );
        }
        assert_eq!(ports["health"], 13133, "{ctx}");

        // Probes: health_check's path on its port.
        let probes: Vec<&str> = ["startupProbe", "readinessProbe", "livenessProbe"]
            .into_iter()
            .filter(|p| !c[*p].is_null())
            .collect();
        assert!(probes.contains(&"readinessProbe") && probes.contains(&"livenessProbe"));
        for p in probes {
            let get = &c[p]["httpGet"];
            assert_eq!(get["path"], "/", "{ctx}: {p}");
            assert_eq!(get["port"], "health", "{ctx}: {p}");
        }
        assert!(config["extensions"]["health_check"]["path"].is_null());

        // Memory: the request equals the limit (no overcommit under the limiter), the
        // memory_limiter's hard limit is at most 80% of it and leaves ≥ 48 MiB for what the
        // limiter does not see (binary, stacks, buffers in flight).
        let res = &c["resources"];
        let limit = mib(&res["limits"]["memory"]);
        assert_eq!(mib(&res["requests"]["memory"]), limit, "{ctx}");
        let ml = &config["processors"]["memory_limiter"];
        let hard = ml["limit_mib"].as_u64().unwrap();
        let spike = ml["spike_limit_mib"].as_u64().unwrap();
        assert!(
            hard * 100 <= limit * 80,
            "{ctx}: limit_mib {hard} vs {limit}Mi"
        );
        assert!(hard + 48 <= limit, "{ctx}");
        assert!(spike > 0 && spike < hard, "{ctx}");
        for pipeline in config["service"]["pipelines"].as_object().unwrap().values() {
            assert_eq!(pipeline["processors"][0], "memory_limiter", "{ctx}");
        }
        if component == "gateway" {
            // The HPA scales on memory near the soft limit, before replicas refuse data.
            let hpa = by_kind(&docs, "HorizontalPodAutoscaler")[0];
            let target = hpa["spec"]["metrics"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["resource"]["name"] == "memory")
                .unwrap()["resource"]["target"]["averageUtilization"]
                .as_u64()
                .unwrap();
            let soft_pct = (hard - spike) * 100 / limit;
            assert!(
                target.abs_diff(soft_pct) <= 5,
                "HPA memory target {target}% vs soft limit {soft_pct}% of the request"
            );
        }

        // Shutdown drains for up to 30s (--shutdown-timeout) before the kubelet's SIGKILL.
        assert!(pod["terminationGracePeriodSeconds"].as_u64().unwrap() > 30);
        // The image's user, non-root, read-only root filesystem.
        assert!(dockerfile.contains("\nUSER 10001:10001\n"));
        assert_eq!(pod["securityContext"]["runAsUser"], 10001, "{ctx}");
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true, "{ctx}");
        assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
        assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
        checked.insert(component.to_string());
    }
    assert_eq!(
        checked,
        BTreeSet::from(["agent".to_string(), "gateway".into(), "sidecar".into()])
    );
}

/// Writes `text` as a ConfigMap volume's next revision and swaps it in the way the kubelet's
/// atomic writer does: a new timestamped directory, a `..data_tmp` symlink to it renamed over
/// `..data`; `config.yaml` is a symlink to `..data/config.yaml` that never changes itself.
fn configmap_revision(volume: &std::path::Path, revision: &str, text: &str) {
    use std::os::unix::fs::symlink;
    let dir = volume.join(format!("..{revision}"));
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("config.yaml"), text).unwrap();
    let tmp = volume.join("..data_tmp");
    symlink(format!("..{revision}"), &tmp).unwrap();
    std::fs::rename(&tmp, volume.join("..data")).unwrap();
    let link = volume.join("config.yaml");
    if std::fs::symlink_metadata(&link).is_err() {
        symlink("..data/config.yaml", &link).unwrap();
    }
}

#[test]
fn configmap_update_is_hot_reloaded_with_watch_config() {
    // The manifests run `--watch-config` on a ConfigMap-mounted file: an edit must reach the
    // running process although the mounted path is a symlink that never changes.
    use common::{free_port, wait_until, Sluice};
    use std::time::Duration;
    let (first, second, health, own) = (free_port(), free_port(), free_port(), free_port());
    let config = |port: u16| {
        format!(
            "extensions:\n  health_check: {{endpoint: \"127.0.0.1:{health}\"}}\n\
             receivers:\n  otlp:\n    protocols:\n      http: {{endpoint: \"127.0.0.1:{port}\"}}\n\
             exporters:\n  debug:\n\
             service:\n  extensions: [health_check]\n  telemetry:\n    metrics: {{address: \"127.0.0.1:{own}\"}}\n\
             \x20 pipelines:\n    logs: {{receivers: [otlp], exporters: [debug]}}\n"
        )
    };
    let volume = tempfile::tempdir().unwrap();
    configmap_revision(volume.path(), "2026_11_26_01_00_00.1", &config(first));
    let path = volume.path().join("config.yaml");
    let mut sluice = Sluice::start_files(&[&path], &["--watch-config"], &[]);
    let listens = |port: u16| std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
    // Ready on the first revision (the log, not a port: another process may hold a port).
    let first_line = format!("endpoint=127.0.0.1:{first}");
    assert!(
        wait_until(Duration::from_secs(20), || {
            let log = sluice.stderr();
            log.contains("Everything is ready") && log.contains(&first_line)
        }),
        "{}",
        sluice.stderr()
    );
    configmap_revision(volume.path(), "2026_11_26_01_05_00.2", &config(second));
    assert!(
        wait_until(Duration::from_secs(20), || {
            let log = sluice.stderr();
            log.contains("trigger=\"config file changed\"")
                && log.contains("reload complete")
                && log.contains(&format!("endpoint=127.0.0.1:{second}"))
                && listens(second)
        }),
        "the swapped ConfigMap revision was not reloaded\n{}",
        sluice.stderr()
    );
    assert_eq!(sluice.terminate(), 0);
}
