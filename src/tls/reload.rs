//! Noticing that certificate files changed, so connectors can be rebuilt with renewed ones.

use std::time::SystemTime;

/// The modification time and length of a set of files, as last seen.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FileStamps(Vec<(String, Option<(SystemTime, u64)>)>);

impl FileStamps {
    /// Records the current state of `paths`.
    pub fn of<'a>(paths: impl IntoIterator<Item = &'a str>) -> FileStamps {
        FileStamps(
            paths
                .into_iter()
                .map(|p| (p.to_string(), stamp(p)))
                .collect(),
        )
    }

    /// Whether any file changed (or appeared, or vanished) since these stamps were taken.
    pub fn changed(&self) -> bool {
        self.0.iter().any(|(p, s)| stamp(p) != *s)
    }

    /// Whether there are files to watch at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn stamp(path: &str) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}
