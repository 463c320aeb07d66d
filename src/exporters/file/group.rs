//! `group_by`: one file per value of a resource attribute, as upstream's grouping file exporter
//! does. The `*` in `path` is replaced by the attribute's (string) value; resources without it
//! are dropped; a value cannot lead out of the directory before the `*`. At most
//! `max_open_files` files stay open: the least recently used one is flushed and closed, and
//! appended to if it is written again (upstream reopens it truncated).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;

use super::rotate::OutputFile;
use crate::signal::Data;

/// Go's `path.Clean`: lexical clean-up of a slash-separated path.
pub fn clean(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// Where each group's file goes.
#[derive(Debug, Clone)]
pub struct GroupPaths {
    prefix: String,
    suffix: String,
}

impl GroupPaths {
    /// Splits `path` at its one `*` (checked by the config).
    pub fn new(path: &str) -> GroupPaths {
        let (prefix, suffix) = path.split_once('*').unwrap_or((path, ""));
        let mut cleaned = clean(prefix);
        if prefix.ends_with('/') && !cleaned.ends_with('/') {
            cleaned.push('/');
        }
        GroupPaths {
            prefix: cleaned,
            suffix: suffix.to_string(),
        }
    }

    /// The file for one attribute value, never outside the prefix.
    pub fn full_path(&self, segment: &str) -> PathBuf {
        // As upstream: "./x" → "/x", "../x" → "/x" before cleaning.
        let segment = if segment.starts_with("./") {
            &segment[1..]
        } else if segment.starts_with("../") {
            &segment[2..]
        } else {
            segment
        };
        let full = clean(&format!("{}{segment}{}", self.prefix, self.suffix));
        if full.starts_with(&self.prefix) {
            return PathBuf::from(full);
        }
        let inner = clean(&format!("/{segment}{}", self.suffix));
        PathBuf::from(clean(&format!("{}/{inner}", self.prefix)))
    }
}

fn segment(resource: &Option<Resource>, attribute: &str) -> Option<String> {
    let attrs: &[KeyValue] = resource
        .as_ref()
        .map(|r| r.attributes.as_slice())
        .unwrap_or(&[]);
    attrs.iter().find(|kv| kv.key == attribute).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s.clone()),
            _ => None,
        }
    })
}

/// Splits a request by the attribute's string value; returns the groups and the items of
/// resources without it.
pub fn split(data: &Data, attribute: &str) -> (Vec<(String, Data)>, usize) {
    fn by<T: Clone>(
        entries: &[T],
        resource: impl Fn(&T) -> &Option<Resource>,
        attribute: &str,
    ) -> (BTreeMap<String, Vec<T>>, Vec<T>) {
        let mut groups: BTreeMap<String, Vec<T>> = BTreeMap::new();
        let mut dropped = Vec::new();
        for e in entries {
            match segment(resource(e), attribute) {
                Some(s) => groups.entry(s).or_default().push(e.clone()),
                None => dropped.push(e.clone()),
            }
        }
        (groups, dropped)
    }
    match data {
        Data::Traces(r) => {
            let (g, d) = by(&r.resource_spans, |e| &e.resource, attribute);
            let wrap = |v| Data::Traces(ExportTraceServiceRequest { resource_spans: v });
            (
                g.into_iter().map(|(k, v)| (k, wrap(v))).collect(),
                wrap(d).item_count(),
            )
        }
        Data::Metrics(r) => {
            let (g, d) = by(&r.resource_metrics, |e| &e.resource, attribute);
            let wrap = |v| {
                Data::Metrics(ExportMetricsServiceRequest {
                    resource_metrics: v,
                })
            };
            (
                g.into_iter().map(|(k, v)| (k, wrap(v))).collect(),
                wrap(d).item_count(),
            )
        }
        Data::Logs(r) => {
            let (g, d) = by(&r.resource_logs, |e| &e.resource, attribute);
            let wrap = |v| Data::Logs(ExportLogsServiceRequest { resource_logs: v });
            (
                g.into_iter().map(|(k, v)| (k, wrap(v))).collect(),
                wrap(d).item_count(),
            )
        }
    }
}

/// The open output files, least recently used closed first beyond `max`.
pub struct OpenFiles {
    files: HashMap<PathBuf, (OutputFile, u64)>,
    opened_before: HashSet<PathBuf>,
    clock: u64,
    max: usize,
}

impl OpenFiles {
    /// At most `max` files open at once (at least one).
    pub fn new(max: usize) -> OpenFiles {
        OpenFiles {
            files: HashMap::new(),
            opened_before: HashSet::new(),
            clock: 0,
            max: max.max(1),
        }
    }

    /// The file at `path`, opened with `open(path, reopened)` if it is not open; `reopened` is
    /// true when it was open before and closed to stay within `max`.
    pub fn get(
        &mut self,
        path: &Path,
        open: impl FnOnce(&Path, bool) -> io::Result<OutputFile>,
    ) -> io::Result<&mut OutputFile> {
        self.clock += 1;
        let now = self.clock;
        if !self.files.contains_key(path) {
            if self.files.len() >= self.max {
                let oldest = self
                    .files
                    .iter()
                    .min_by_key(|(_, (_, used))| *used)
                    .map(|(p, _)| p.clone());
                if let Some(p) = oldest {
                    if let Some((mut f, _)) = self.files.remove(&p) {
                        f.flush()?;
                    }
                }
            }
            let reopened = self.opened_before.contains(path);
            let f = open(path, reopened)?;
            self.opened_before.insert(path.to_path_buf());
            self.files.insert(path.to_path_buf(), (f, now));
        }
        let entry = self.files.get_mut(path).expect("inserted above");
        entry.1 = now;
        Ok(&mut entry.0)
    }

    /// Flushes every open file.
    pub fn flush_all(&mut self) -> io::Result<()> {
        for (f, _) in self.files.values_mut() {
            f.flush()?;
        }
        Ok(())
    }

    /// Files currently open.
    pub fn open_count(&self) -> usize {
        self.files.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_is_go_path_clean() {
        for (input, want) in [
            ("", "."),
            ("a/b/../c", "a/c"),
            ("/../x", "/x"),
            ("../../x", "../../x"),
            ("a//b/./c/", "a/b/c"),
            ("/", "/"),
        ] {
            assert_eq!(clean(input), want, "{input}");
        }
    }

    #[test]
    fn values_cannot_leave_the_prefix() {
        let g = GroupPaths::new("/data/out/*.json");
        assert_eq!(g.full_path("api"), PathBuf::from("/data/out/api.json"));
        assert_eq!(
            g.full_path("team/api"),
            PathBuf::from("/data/out/team/api.json")
        );
        assert_eq!(
            g.full_path("../../etc/passwd"),
            PathBuf::from("/data/out/etc/passwd.json")
        );
        assert_eq!(g.full_path("./x"), PathBuf::from("/data/out/x.json"));
        let g = GroupPaths::new("/data/out-*.json");
        assert_eq!(g.full_path("../x"), PathBuf::from("/data/out-/x.json"));
    }
}
