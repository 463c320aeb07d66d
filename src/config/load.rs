//! Loading: read and parse each file, expand variables, merge, then build and validate the
//! typed config against the component registry, collecting every problem.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value as Json;

use super::decode::did_you_mean;
use super::error::{ConfigError, Errors};
use super::expand::expand_tree;
use super::merge::merge;
use super::model::{Config, PipelineConfig, PipelineId, ServiceConfig, TelemetryConfig};
use super::yaml::{self, Node, Pos, Value};
use crate::component::{ComponentConfigError, ComponentId, Kind};
use crate::registry::{self, Factory};
use crate::signal::Signal;

/// A loaded config with its warnings and the merged, expanded document.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The validated config.
    pub config: Config,
    /// Warnings: deprecated names, unset variables.
    pub warnings: Vec<String>,
    /// The merged, expanded document (before redaction).
    pub expanded: Json,
}

/// Loads, expands, merges and validates config files, reading variables from the
/// environment.
pub fn load(paths: &[PathBuf]) -> Result<Loaded, Errors> {
    let mut docs = Vec::new();
    let mut errors = Vec::new();
    for p in paths {
        let name = p.display().to_string();
        match std::fs::read_to_string(p) {
            Ok(text) => docs.push((name, text)),
            Err(e) => errors.push(ConfigError {
                pos: None,
                path: String::new(),
                message: format!("cannot read config file {name}: {e}"),
                hint: None,
            }),
        }
    }
    if !errors.is_empty() {
        return Err(Errors(errors));
    }
    load_docs(&docs, &|k| std::env::var(k).ok())
}

/// Loads config documents given as (file name, text), reading variables with `lookup`.
pub fn load_docs(
    docs: &[(String, String)],
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Loaded, Errors> {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let mut merged: Option<Node> = None;
    for (name, text) in docs {
        match yaml::parse(name, text) {
            Ok(mut node) => {
                if !matches!(node.value, Value::Map(_) | Value::Null) {
                    errors.push(ConfigError {
                        pos: Some(node.pos.clone()),
                        path: String::new(),
                        message: "the config must be a map of sections (receivers, exporters, service, …)".into(),
                        hint: None,
                    });
                    continue;
                }
                if node.value == Value::Null {
                    node.value = Value::Map(vec![]);
                }
                expand_tree(
                    &mut node,
                    &mut Vec::new(),
                    lookup,
                    &mut errors,
                    &mut warnings,
                );
                match &mut merged {
                    Some(m) => merge(m, node),
                    None => merged = Some(node),
                }
            }
            Err(e) => errors.push(ConfigError {
                pos: Some(e.pos),
                path: String::new(),
                message: format!("invalid YAML: {}", e.message),
                hint: None,
            }),
        }
    }
    if !errors.is_empty() {
        return Err(Errors(errors));
    }
    let root = merged.unwrap_or_else(|| Node::new(Value::Map(vec![])));
    let mut v = Validator {
        errors: Vec::new(),
        warnings,
        tables: Tables::builtin(),
    };
    let config = v.build(&root);
    if !v.errors.is_empty() {
        return Err(Errors(v.errors));
    }
    Ok(Loaded {
        config,
        warnings: v.warnings,
        expanded: root.to_json(),
    })
}

/// The factory tables validation checks against (the built-in registry, or test tables).
pub struct Tables {
    /// Receivers.
    pub receivers: &'static [Factory<registry::ReceiverCreate>],
    /// Processors.
    pub processors: &'static [Factory<registry::ProcessorCreate>],
    /// Exporters.
    pub exporters: &'static [Factory<registry::ExporterCreate>],
    /// Extensions.
    pub extensions: &'static [Factory<registry::ExtensionCreate>],
}

impl Tables {
    /// The built-in registry.
    pub fn builtin() -> Tables {
        Tables {
            receivers: registry::receivers(),
            processors: registry::processors(),
            exporters: registry::exporters(),
            extensions: registry::extensions(),
        }
    }

    fn lookup(&self, kind: Kind, t: &str) -> Option<(&'static [Signal], bool, &'static str)> {
        fn f<C>(
            table: &'static [Factory<C>],
            t: &str,
        ) -> Option<(&'static [Signal], bool, &'static str)> {
            registry::find(table, t).map(|(f, dep)| (f.signals, dep, f.type_name))
        }
        match kind {
            Kind::Receiver => f(self.receivers, t),
            Kind::Processor => f(self.processors, t),
            Kind::Exporter => f(self.exporters, t),
            Kind::Extension => f(self.extensions, t),
            Kind::Connector => None,
        }
    }

    fn names(&self, kind: Kind) -> Vec<&'static str> {
        match kind {
            Kind::Receiver => registry::names(self.receivers),
            Kind::Processor => registry::names(self.processors),
            Kind::Exporter => registry::names(self.exporters),
            Kind::Extension => registry::names(self.extensions),
            Kind::Connector => vec![],
        }
    }
}

struct Validator {
    errors: Vec<ConfigError>,
    warnings: Vec<String>,
    tables: Tables,
}

/// Defined components of one kind: ID → (key position, value node).
type Defined<'a> = BTreeMap<ComponentId, (Pos, &'a Node)>;

const TOP_KEYS: &[&str] = &[
    "receivers",
    "processors",
    "exporters",
    "extensions",
    "connectors",
    "service",
];
const SERVICE_KEYS: &[&str] = &["extensions", "pipelines", "telemetry"];
const PIPELINE_KEYS: &[&str] = &["receivers", "processors", "exporters"];
const TELEMETRY_KEYS: &[&str] = &["logs", "metrics", "traces", "resource"];
const LOG_KEYS: &[&str] = &[
    "level",
    "encoding",
    "development",
    "disable_caller",
    "disable_stacktrace",
    "output_paths",
    "error_output_paths",
    "initial_fields",
    "sampling",
    "processors",
];

impl Validator {
    fn err(&mut self, pos: &Pos, path: &str, message: impl Into<String>, hint: Option<String>) {
        self.errors.push(ConfigError {
            pos: Some(pos.clone()),
            path: path.to_string(),
            message: message.into(),
            hint,
        });
    }

    /// The entries of a map node; anything else (but null) is an error.
    fn entries<'a>(&mut self, node: &'a Node, path: &str) -> &'a [(String, Pos, Node)] {
        match &node.value {
            Value::Map(m) => m,
            Value::Null => &[],
            _ => {
                self.err(&node.pos, path, "expected a map", None);
                &[]
            }
        }
    }

    fn check_keys(&mut self, node: &Node, path: &str, allowed: &[&str]) {
        for (k, kp, _) in self.entries(node, path).to_vec() {
            if !allowed.contains(&k.as_str()) {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}::{k}")
                };
                self.err(
                    &kp,
                    &p,
                    format!(
                        "unknown key {k:?} (expected one of: {})",
                        allowed.join(", ")
                    ),
                    did_you_mean(&k, allowed.iter().copied()),
                );
            }
        }
    }

    fn build(&mut self, root: &Node) -> Config {
        self.check_keys(root, "", TOP_KEYS);
        if let Some(c) = root.get("connectors") {
            if !self.entries(c, "connectors").is_empty() {
                self.err(
                    &c.pos,
                    "connectors",
                    "connectors are not supported yet; remove them and join pipelines with a shared exporter/receiver",
                    None,
                );
            }
        }
        let receivers = self.section(root, Kind::Receiver);
        let processors = self.section(root, Kind::Processor);
        let exporters = self.section(root, Kind::Exporter);
        let extensions = self.section(root, Kind::Extension);

        let empty = Node::new(Value::Null);
        let service = root.get("service").unwrap_or(&empty);
        self.check_keys(service, "service", SERVICE_KEYS);
        let telemetry = self.telemetry(service.get("telemetry").unwrap_or(&empty));
        let ext_ids = self.service_extensions(service.get("extensions"), &extensions);
        let pipelines = self.pipelines(
            service.get("pipelines"),
            root.get("service")
                .map(|s| s.pos.clone())
                .unwrap_or_default(),
            [&receivers, &processors, &exporters],
        );

        // Each defined component's own config, checked by its factory.
        for (id, (kp, node)) in &receivers {
            if let Some((_, _, t)) = self.tables.lookup(Kind::Receiver, id.type_name()) {
                let f = registry::find(self.tables.receivers, t).unwrap().0;
                let r = (f.create)(id, &node.to_json()).map(|_| ());
                self.component_result(Kind::Receiver, id, kp, node, r);
            }
        }
        for (id, (kp, node)) in &exporters {
            if let Some((_, _, t)) = self.tables.lookup(Kind::Exporter, id.type_name()) {
                let f = registry::find(self.tables.exporters, t).unwrap().0;
                let r = (f.create)(id, &node.to_json()).map(|_| ());
                self.component_result(Kind::Exporter, id, kp, node, r);
            }
        }
        for (id, (kp, node)) in &extensions {
            if let Some((_, _, t)) = self.tables.lookup(Kind::Extension, id.type_name()) {
                let f = registry::find(self.tables.extensions, t).unwrap().0;
                let r = (f.create)(id, &node.to_json()).map(|_| ());
                self.component_result(Kind::Extension, id, kp, node, r);
            }
        }
        for (id, (kp, node)) in &processors {
            if let Some((sigs, _, t)) = self.tables.lookup(Kind::Processor, id.type_name()) {
                let f = registry::find(self.tables.processors, t).unwrap().0;
                let mut used: Vec<Signal> = pipelines
                    .iter()
                    .filter(|(_, p)| p.processors.contains(id))
                    .map(|(pid, _)| pid.signal)
                    .filter(|s| sigs.contains(s))
                    .collect();
                used.dedup();
                if used.is_empty() {
                    used.extend(sigs.first());
                }
                for s in used {
                    let r = (f.create)(id, s, &node.to_json()).map(|_| ());
                    if r.is_err() {
                        self.component_result(Kind::Processor, id, kp, node, r);
                        break;
                    }
                }
            }
        }

        let json = |m: &Defined| -> BTreeMap<ComponentId, Json> {
            m.iter()
                .map(|(id, (_, n))| (id.clone(), n.to_json()))
                .collect()
        };
        Config {
            receivers: json(&receivers),
            processors: json(&processors),
            exporters: json(&exporters),
            extensions: json(&extensions),
            service: ServiceConfig {
                extensions: ext_ids,
                pipelines,
                telemetry,
            },
        }
    }

    fn section<'a>(&mut self, root: &'a Node, kind: Kind) -> Defined<'a> {
        let mut out = Defined::new();
        let Some(sec) = root.get(kind.section()) else {
            return out;
        };
        for (k, kp, v) in self.entries(sec, kind.section()).to_vec_ref() {
            let path = format!("{}::{k}", kind.section());
            let id = match ComponentId::parse(k) {
                Ok(id) => id,
                Err(m) => {
                    self.err(kp, &path, m, None);
                    continue;
                }
            };
            match self.tables.lookup(kind, id.type_name()) {
                Some((_, true, current)) => self.warnings.push(format!(
                    "{kp}: {path}: type {:?} is deprecated; use {current:?}",
                    id.type_name()
                )),
                Some(_) => {}
                None => {
                    let names = self.tables.names(kind);
                    let message = if names.is_empty() {
                        format!(
                            "unknown {} type {:?} (no {} are built in yet)",
                            kind.singular(),
                            id.type_name(),
                            kind.section()
                        )
                    } else {
                        format!(
                            "unknown {} type {:?} (built in: {})",
                            kind.singular(),
                            id.type_name(),
                            names.join(", ")
                        )
                    };
                    self.err(
                        kp,
                        &path,
                        message,
                        did_you_mean(id.type_name(), names.iter().copied()),
                    );
                }
            }
            out.insert(id, (kp.clone(), v));
        }
        out
    }

    fn component_result(
        &mut self,
        kind: Kind,
        id: &ComponentId,
        key_pos: &Pos,
        node: &Node,
        r: Result<(), ComponentConfigError>,
    ) {
        let Err(e) = r else { return };
        let mut path = format!("{}::{id}", kind.section());
        for seg in &e.path {
            path.push_str("::");
            path.push_str(seg);
        }
        let pos = locate(node, &e.path).unwrap_or_else(|| key_pos.clone());
        self.err(&pos, &path, e.message, e.hint);
    }

    fn telemetry(&mut self, node: &Node) -> TelemetryConfig {
        let mut t = TelemetryConfig::default();
        self.check_keys(node, "service::telemetry", TELEMETRY_KEYS);
        if let Some(logs) = node.get("logs") {
            self.check_keys(logs, "service::telemetry::logs", LOG_KEYS);
            if let Some(level) = logs.get("level") {
                match &level.value {
                    Value::Str(s)
                        if ["debug", "info", "warn", "error"]
                            .contains(&s.to_ascii_lowercase().as_str()) =>
                    {
                        t.log_level = s.to_ascii_lowercase();
                    }
                    Value::Null => {}
                    other => {
                        let shown = match other {
                            Value::Str(s) => s.clone(),
                            _ => format!("{:?}", level.to_json()),
                        };
                        self.err(
                            &level.pos,
                            "service::telemetry::logs::level",
                            format!("unknown log level {shown:?} (debug, info, warn, error)"),
                            did_you_mean(
                                &shown.to_ascii_lowercase(),
                                ["debug", "info", "warn", "error"],
                            ),
                        );
                    }
                }
            }
        }
        if let Some(m) = node.get("metrics") {
            match crate::telemetry::server::parse(&m.to_json()) {
                Ok(settings) => t.metrics = settings,
                Err(errors) => {
                    for (path, message) in errors {
                        let segs: Vec<&str> = path.iter().map(String::as_str).collect();
                        let pos = segs
                            .iter()
                            .try_fold(m, |n, k| n.get(k))
                            .map(|n| n.pos.clone())
                            .unwrap_or_else(|| m.pos.clone());
                        let mut p = "service::telemetry::metrics".to_string();
                        for s in &segs {
                            p.push_str("::");
                            p.push_str(s);
                        }
                        self.err(&pos, &p, message, None);
                    }
                }
            }
        }
        t
    }

    fn id_list(&mut self, node: Option<&Node>, path: &str) -> Vec<(ComponentId, Pos)> {
        let Some(node) = node else { return vec![] };
        let items = match &node.value {
            Value::Seq(items) => items,
            Value::Null => return vec![],
            _ => {
                self.err(&node.pos, path, "expected a list of component IDs", None);
                return vec![];
            }
        };
        let mut out = Vec::new();
        for item in items {
            match &item.value {
                Value::Str(s) => match ComponentId::parse(s) {
                    Ok(id) => out.push((id, item.pos.clone())),
                    Err(m) => self.err(&item.pos, path, m, None),
                },
                _ => self.err(&item.pos, path, "expected a component ID string", None),
            }
        }
        out
    }

    fn service_extensions(&mut self, node: Option<&Node>, defined: &Defined) -> Vec<ComponentId> {
        let ids = self.id_list(node, "service::extensions");
        for (id, pos) in &ids {
            if !defined.contains_key(id) {
                self.undefined(Kind::Extension, id, pos, "service::extensions", defined);
            }
        }
        ids.into_iter().map(|(id, _)| id).collect()
    }

    fn undefined(
        &mut self,
        kind: Kind,
        id: &ComponentId,
        pos: &Pos,
        path: &str,
        defined: &Defined,
    ) {
        let names: Vec<String> = defined.keys().map(|d| d.to_string()).collect();
        let id_s = id.to_string();
        self.err(
            pos,
            path,
            format!(
                "references {} {id_s:?}, which is not defined in {}",
                kind.singular(),
                kind.section()
            ),
            did_you_mean(&id_s, names.iter().map(String::as_str)),
        );
    }

    fn pipelines(
        &mut self,
        node: Option<&Node>,
        service_pos: Pos,
        defined: [&Defined; 3],
    ) -> BTreeMap<PipelineId, PipelineConfig> {
        let mut out = BTreeMap::new();
        let Some(node) = node else {
            self.err(
                &service_pos,
                "service::pipelines",
                "at least one pipeline is required",
                None,
            );
            return out;
        };
        let entries = self.entries(node, "service::pipelines").to_vec();
        if entries.is_empty() {
            self.err(
                &node.pos,
                "service::pipelines",
                "at least one pipeline is required",
                None,
            );
        }
        for (key, kp, pnode) in &entries {
            let path = format!("service::pipelines::{key}");
            let (sig, name) = match key.split_once('/') {
                Some((s, n)) => (s, Some(n.to_string())),
                None => (key.as_str(), None),
            };
            let Some(signal) = Signal::parse(sig) else {
                self.err(
                    kp,
                    &path,
                    format!("unknown signal {sig:?} in pipeline ID (traces, metrics or logs)"),
                    did_you_mean(sig, ["traces", "metrics", "logs"]),
                );
                continue;
            };
            if name.as_deref() == Some("") {
                self.err(
                    kp,
                    &path,
                    "the pipeline name after '/' must not be empty",
                    None,
                );
                continue;
            }
            self.check_keys(pnode, &path, PIPELINE_KEYS);
            let mut lists: [Vec<ComponentId>; 3] = Default::default();
            for (i, (kind, field)) in [
                (Kind::Receiver, "receivers"),
                (Kind::Processor, "processors"),
                (Kind::Exporter, "exporters"),
            ]
            .into_iter()
            .enumerate()
            {
                let fpath = format!("{path}::{field}");
                let ids = self.id_list(pnode.get(field), &fpath);
                let mut seen: Vec<&ComponentId> = Vec::new();
                for (id, pos) in &ids {
                    if seen.contains(&id) {
                        self.err(
                            pos,
                            &fpath,
                            format!(
                                "{} \"{id}\" is listed twice in this pipeline",
                                kind.singular()
                            ),
                            None,
                        );
                    }
                    seen.push(id);
                    if !defined[i].contains_key(id) {
                        self.undefined(kind, id, pos, &fpath, defined[i]);
                    } else if let Some((signals, _, _)) = self.tables.lookup(kind, id.type_name()) {
                        if !signals.contains(&signal) {
                            self.err(
                                pos,
                                &fpath,
                                format!(
                                    "{} \"{id}\" does not support {signal} (it supports: {})",
                                    kind.singular(),
                                    signals
                                        .iter()
                                        .map(|s| s.as_str())
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                ),
                                None,
                            );
                        }
                    }
                }
                if kind != Kind::Processor && ids.is_empty() {
                    self.err(
                        &pnode.pos.clone().or(kp),
                        &path,
                        format!("pipeline must have at least one {}", kind.singular()),
                        None,
                    );
                }
                lists[i] = ids.into_iter().map(|(id, _)| id).collect();
            }
            let [receivers, processors, exporters] = lists;
            out.insert(
                PipelineId { signal, name },
                PipelineConfig {
                    receivers,
                    processors,
                    exporters,
                },
            );
        }
        out
    }
}

/// The position of the deepest key along `path` under `node`.
fn locate(node: &Node, path: &[String]) -> Option<Pos> {
    let mut cur = node;
    let mut best = None;
    for seg in path {
        match &cur.value {
            Value::Map(m) => match m.iter().find(|(k, _, _)| k == seg) {
                Some((_, kp, v)) => {
                    best = Some(kp.clone());
                    cur = v;
                }
                None => break,
            },
            Value::Seq(items) => match seg.parse::<usize>().ok().and_then(|i| items.get(i)) {
                Some(v) => {
                    best = Some(v.pos.clone());
                    cur = v;
                }
                None => break,
            },
            _ => break,
        }
    }
    best
}

trait ToVecRef<'a> {
    fn to_vec_ref(self) -> Vec<&'a (String, Pos, Node)>;
}

impl<'a> ToVecRef<'a> for &'a [(String, Pos, Node)] {
    fn to_vec_ref(self) -> Vec<&'a (String, Pos, Node)> {
        self.iter().collect()
    }
}

impl Pos {
    /// This position if known, else `other`.
    fn or(self, other: &Pos) -> Pos {
        if self.line > 0 {
            self
        } else {
            other.clone()
        }
    }
}
