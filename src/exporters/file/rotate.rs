//! The output file, optionally rotated by size as lumberjack (which upstream uses) does it:
//! before a write that would take the file past `max_megabytes`, it is renamed to
//! `<name>-<YYYY-MM-DDTHH-MM-SS.mmm>-size<ext>` (UTC unless `localtime`) and a new file is started;
//! then backups beyond `max_backups` or older than `max_days` are removed. Each export request
//! is written whole into one file.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::config::Rotation;

const MIB: u64 = 1024 * 1024;

/// The file being written, with its buffer and rotation state.
pub struct OutputFile {
    path: PathBuf,
    writer: BufWriter<File>,
    size: u64,
    rotation: Option<Rotation>,
}

/// Creates `dir` and its parents with `mode` (less the umask).
pub fn create_dir(dir: &Path, mode: u32) -> io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    b.create(dir)
}

/// Opens the output file: 0644 as upstream's plain file, 0600 for rotated files as
/// lumberjack creates them.
fn open(path: &Path, append: bool, mode: u32) -> io::Result<File> {
    let mut o = OpenOptions::new();
    o.create(true);
    if append {
        o.append(true);
    } else {
        o.write(true).truncate(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    o.open(path)
}

impl OutputFile {
    /// Opens `path`: appended to with `append` or `rotation` (lumberjack continues an existing
    /// file), else truncated, as upstream does.
    pub fn open(path: &Path, append: bool, rotation: Option<Rotation>) -> io::Result<Self> {
        let mode = if rotation.is_some() { 0o600 } else { 0o644 };
        let file = open(path, append || rotation.is_some(), mode)?;
        let size = file.metadata()?.len();
        Ok(OutputFile {
            path: path.to_path_buf(),
            writer: BufWriter::with_capacity(256 * 1024, file),
            size,
            rotation,
        })
    }

    /// Writes one whole export request, rotating first if it would not fit.
    pub fn write_message(&mut self, parts: &[&[u8]]) -> io::Result<()> {
        let len: u64 = parts.iter().map(|p| p.len() as u64).sum();
        if let Some(r) = &self.rotation {
            let max = if r.max_megabytes == 0 {
                100
            } else {
                r.max_megabytes
            } * MIB;
            if self.size > 0 && self.size + len > max {
                self.rotate()?;
            }
        }
        for p in parts {
            self.writer.write_all(p)?;
        }
        self.size += len;
        Ok(())
    }

    /// Writes buffered bytes to the file.
    pub fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }

    fn rotate(&mut self) -> io::Result<()> {
        let Some(r) = self.rotation.clone() else {
            return Ok(());
        };
        self.writer.flush()?;
        let now = SystemTime::now();
        let mut when = now;
        let backup = loop {
            let b = backup_name(&self.path, when, r.localtime);
            if !b.exists() {
                break b;
            }
            when += Duration::from_millis(1);
        };
        std::fs::rename(&self.path, &backup)?;
        self.writer = BufWriter::with_capacity(256 * 1024, open(&self.path, false, 0o600)?);
        self.size = 0;
        self.remove_old_backups(&r, now)
    }

    /// Removes backups beyond `max_backups` (oldest first) and older than `max_days`.
    fn remove_old_backups(&self, r: &Rotation, now: SystemTime) -> io::Result<()> {
        let mut backups = backups(&self.path)?;
        // Names sort by time: the fixed-width timestamp is the only varying part.
        backups.sort();
        backups.reverse();
        let cutoff = (r.max_days > 0).then(|| {
            let t = now
                .checked_sub(Duration::from_secs(r.max_days * 86_400))
                .unwrap_or(UNIX_EPOCH);
            backup_name(&self.path, t, r.localtime)
        });
        for (i, b) in backups.iter().enumerate() {
            let too_many = r.max_backups > 0 && i >= r.max_backups;
            let too_old = cutoff.as_ref().is_some_and(|c| b < c);
            if too_many || too_old {
                std::fs::remove_file(b)?;
            }
        }
        Ok(())
    }
}

/// `dir/name.ext` → (`name-`, `.ext`).
fn stem_ext(path: &Path) -> (String, String) {
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    match file.rfind('.') {
        Some(i) if i > 0 => (format!("{}-", &file[..i]), file[i..].to_string()),
        _ => (format!("{file}-"), String::new()),
    }
}

/// The rotated files of `path`, oldest first by name.
pub fn backups(path: &Path) -> io::Result<Vec<PathBuf>> {
    let (prefix, ext) = stem_ext(path);
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        let Some(mid) = name
            .strip_prefix(&prefix)
            .and_then(|r| r.strip_suffix(ext.as_str()))
        else {
            continue;
        };
        // YYYY-MM-DDTHH-MM-SS.mmm-size
        let b = mid.as_bytes();
        if b.len() == 28 && b[10] == b'T' && b[19] == b'.' && mid.ends_with("-size") {
            out.push(dir.join(&name));
        }
    }
    out.sort();
    Ok(out)
}

/// The name a backup made at `when` gets: timberjack's (the lumberjack fork upstream uses)
/// `NAME-TIMESTAMP-REASON.EXT`, the reason being `size`.
pub fn backup_name(path: &Path, when: SystemTime, localtime: bool) -> PathBuf {
    let (prefix, ext) = stem_ext(path);
    let name = format!("{prefix}{}-size{ext}", timestamp(when, localtime));
    match path.parent() {
        Some(d) => d.join(name),
        None => PathBuf::from(name),
    }
}

/// `YYYY-MM-DDTHH-MM-SS.mmm`, Go's `2006-01-02T15-04-05.000` as lumberjack writes it.
fn timestamp(when: SystemTime, localtime: bool) -> String {
    let d = when.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64
        + if localtime {
            utc_offset(d.as_secs() as i64)
        } else {
            0
        };
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, day) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}-{:02}-{:02}.{:03}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// The local zone's offset from UTC at `secs`, in seconds.
fn utc_offset(secs: i64) -> i64 {
    let t = secs as libc::time_t;
    // SAFETY: localtime_r writes only into the `tm` we own.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    if ok {
        tm.tm_gmtoff
    } else {
        0
    }
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_names_as_lumberjack_writes_them() {
        let t = UNIX_EPOCH + Duration::from_millis(1_764_124_205_123);
        assert_eq!(
            backup_name(Path::new("/var/log/out.json"), t, false),
            PathBuf::from("/var/log/out-2025-11-26T02-30-05.123-size.json")
        );
        assert_eq!(
            backup_name(Path::new("data"), UNIX_EPOCH, false),
            PathBuf::from("data-1970-01-01T00-00-00.000-size")
        );
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}
