//! `/run/portfwd/health.json`: which backends `portfwd run` holds down, written atomically
//! after every change, removed when the daemon stops. `plan` and `apply` read it so that a
//! held-down backend shows as health, not as drift, and apply does not restore it.

use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

pub const FORMAT_VERSION: &str = "1";

/// Where the file lives unless `PORTFWD_HEALTH_FILE` says otherwise.
pub fn path() -> PathBuf {
    std::env::var_os("PORTFWD_HEALTH_FILE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/run/portfwd/health.json"))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub format_version: String,
    /// The daemon's process id: a file whose process is gone is ignored.
    pub pid: u32,
    pub config: String,
    pub backends: Vec<Backend>,
}

/// One destination of one forward and its health.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backend {
    pub forward: String,
    pub address: IpAddr,
    pub port: u16,
    pub up: bool,
    /// Why the last failed check failed (empty when none has).
    pub reason: String,
    /// Seconds since the Unix epoch of the last change.
    pub since: u64,
}

impl Status {
    pub fn down_count(&self) -> usize {
        self.backends.iter().filter(|b| !b.up).count()
    }

    /// Writes beside the target, then renames: a reader never sees half a file.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        crate::config::write_atomic(path, text + "\n")
    }
}

/// The running daemon's status, or `None` when no daemon runs (no file, an unreadable one,
/// or one whose process is gone).
pub fn read(path: &Path) -> Option<Status> {
    let text = std::fs::read(path).ok()?;
    let status: Status = serde_json::from_slice(&text).ok()?;
    let alive = std::path::Path::new(&format!("/proc/{}", status.pid)).exists();
    (status.format_version == FORMAT_VERSION && alive).then_some(status)
}
