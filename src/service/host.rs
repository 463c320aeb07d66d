//! What extensions see of the running service: its status (starting, running, stopping), the
//! config it runs, and when it started. The service updates the status; the health_check and
//! zpages extensions read it.

use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::watch;

use crate::config::Config;

/// Where the service is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Components are being built and started; not every pipeline runs yet.
    Starting,
    /// Every pipeline has started (since the given time).
    Ready(SystemTime),
    /// Shutting down: receivers closed, accepted data draining.
    Stopping,
}

/// The service side of the status: sets it.
#[derive(Clone)]
pub struct StatusSender(Arc<watch::Sender<Status>>);

impl StatusSender {
    /// A new status, `Starting`.
    pub fn new() -> StatusSender {
        StatusSender(Arc::new(watch::channel(Status::Starting).0))
    }

    /// Sets the status.
    pub fn set(&self, status: Status) {
        self.0.send_replace(status);
    }

    /// A reader for extensions.
    pub fn subscribe(&self) -> watch::Receiver<Status> {
        self.0.subscribe()
    }
}

impl Default for StatusSender {
    fn default() -> Self {
        StatusSender::new()
    }
}

/// A config reload request: answered with `Ok` once the new config is valid and about to be
/// applied, or with the validation errors (the running graph is then kept).
pub type ReloadRequest = tokio::sync::oneshot::Sender<Result<(), String>>;

/// Where reload requests go (the `sluice` binary's main loop), when reloading is possible.
pub type ReloadSender = tokio::sync::mpsc::UnboundedSender<ReloadRequest>;

/// The config the service runs now, as extensions see it.
struct Running {
    config: Arc<Config>,
    document: Arc<serde_json::Value>,
}

/// What an extension is told about the service. Clones share the running config, which the
/// service replaces on reload (extensions that were kept then show the new one).
#[derive(Clone)]
pub struct Host {
    /// The service's status, updated as it starts and stops.
    pub status: watch::Receiver<Status>,
    running: Arc<watch::Sender<Running>>,
    /// Asks for a config reload (health_check's reload endpoint); `None` when the service
    /// was started without a reloadable config.
    pub reload: Option<ReloadSender>,
}

impl Host {
    /// A host whose status is read from `status`, running `config` (`document` is the merged,
    /// expanded config document, not yet redacted, or `Null` when unknown).
    pub fn new(
        status: &StatusSender,
        config: Arc<Config>,
        document: Arc<serde_json::Value>,
    ) -> Host {
        Host {
            status: status.subscribe(),
            running: Arc::new(watch::channel(Running { config, document }).0),
            reload: None,
        }
    }

    /// The config the service runs.
    pub fn config(&self) -> Arc<Config> {
        self.running.borrow().config.clone()
    }

    /// The merged, expanded config document (not yet redacted); `Null` when unknown.
    pub fn document(&self) -> Arc<serde_json::Value> {
        self.running.borrow().document.clone()
    }

    /// Makes `config` the running config for every clone of this host (after a reload).
    pub fn publish(&self, config: Arc<Config>, document: Arc<serde_json::Value>) {
        self.running.send_replace(Running { config, document });
    }

    /// The same host, able to request reloads through `reload`.
    pub fn with_reload(mut self, reload: Option<ReloadSender>) -> Host {
        self.reload = reload;
        self
    }

    /// The status now.
    pub fn status(&self) -> Status {
        *self.status.borrow()
    }
}

/// Formats a time as RFC 3339 in UTC with nanoseconds (`2026-11-26T00:12:31.684717400Z`).
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, day) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_nanos()
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's algorithm).
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

/// Formats a duration as Go does (`49.0132518s`, `1m30.5s`, `2h0m1s`), as upstream's
/// health_check reports uptime.
pub fn go_duration(d: std::time::Duration) -> String {
    let total = d.as_secs();
    let (h, m) = (total / 3600, total % 3600 / 60);
    let s = (total % 60) as f64 + f64::from(d.subsec_nanos()) / 1e9;
    let secs = format!("{s:.9}");
    let secs = secs.trim_end_matches('0').trim_end_matches('.');
    match (h, m) {
        (0, 0) => format!("{secs}s"),
        (0, m) => format!("{m}m{secs}s"),
        (h, m) => format!("{h}h{m}m{secs}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_times_and_durations() {
        let t = SystemTime::UNIX_EPOCH + Duration::new(1_605_068_351, 684_717_400);
        assert_eq!(rfc3339(t), "2020-11-11T04:19:11.684717400Z");
        assert_eq!(
            rfc3339(SystemTime::UNIX_EPOCH),
            "1970-01-01T00:00:00.000000000Z"
        );
        let leap = SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert!(rfc3339(leap).starts_with("2000-02-29T00:00:00"));
        assert_eq!(go_duration(Duration::from_millis(49_013)), "49.013s");
        assert_eq!(go_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(go_duration(Duration::from_secs(7201)), "2h0m1s");
        assert_eq!(go_duration(Duration::ZERO), "0s");
    }

    #[test]
    fn status_is_shared() {
        let s = StatusSender::new();
        let host = Host::new(
            &s,
            Arc::new(Config::default()),
            Arc::new(serde_json::Value::Null),
        );
        assert_eq!(host.status(), Status::Starting);
        s.set(Status::Stopping);
        assert_eq!(host.status(), Status::Stopping);
    }
}
