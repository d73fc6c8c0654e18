//! The control socket (`/run/portfwd/control.sock`, root only): `portfwd status` writes
//! `status` and reads back one JSON [`Report`] of the running daemon (docs/status-json.md).

use super::Query;
use crate::config::model::Config;
use crate::state::links::LinkTable;
use crate::state::sync::SyncDaemon;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, oneshot};

pub const DEFAULT_PATH: &str = "/run/portfwd/control.sock";
pub const FORMAT_VERSION: &str = "1";

/// The socket's path (`PORTFWD_CONTROL_SOCKET` for tests).
pub fn path() -> PathBuf {
    std::env::var_os("PORTFWD_CONTROL_SOCKET")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_PATH))
}

/// The running daemon, as `portfwd status --json` prints it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub format_version: String,
    pub pid: u32,
    pub config: String,
    /// Unix seconds.
    pub started: u64,
    pub last_sync: Option<Event>,
    pub last_reload: Option<Event>,
    /// With `vrrp`, floating addresses or `sync` in the config: this host's part in the pair.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pair: Option<PairStatus>,
    pub forwards: Vec<ForwardStatus>,
}

/// Which floating addresses this host holds (VRRP moves them) and the sync daemons running.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PairStatus {
    /// `active` (holds every floating address), `standby` (none), `split` (some: VRRP moves
    /// them together, so something else added or removed one), `none` (no floating address).
    pub role: String,
    pub floating: Vec<FloatingStatus>,
    pub sync_daemons: Vec<SyncDaemon>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FloatingStatus {
    pub address: IpAddr,
    pub interface: String,
    pub held: bool,
}

impl PairStatus {
    pub fn new(config: &Config, links: &LinkTable, sync_daemons: Vec<SyncDaemon>) -> PairStatus {
        let holding = crate::doctor::ha::holding(config, links);
        PairStatus {
            role: crate::doctor::ha::Role::of(&holding).name().to_string(),
            floating: holding
                .into_iter()
                .map(|(f, held)| FloatingStatus {
                    address: f.addr,
                    interface: f.interface,
                    held,
                })
                .collect(),
            sync_daemons,
        }
    }
}

/// When something last happened and how it went.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    pub at: u64,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ForwardStatus {
    pub name: String,
    /// `tcp`, `http`, `https`, `exec`, or `none`.
    pub check: String,
    /// Every backend is down and there is no fallback: weights left as configured.
    pub fail_open: bool,
    pub backends: Vec<BackendStatus>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackendStatus {
    /// As the config writes it: `10.0.0.2:22`, `[fd00::2]:22`.
    pub backend: String,
    pub up: bool,
    /// Unix seconds since the backend is up or down; `None` without checks.
    pub since: Option<u64>,
    pub last_check: Option<Event>,
    /// The kernel's weight; `None` when the kernel lacks the destination.
    pub weight: Option<u32>,
    pub active_connections: u64,
    pub inactive_connections: u64,
}

impl Report {
    pub fn backends(&self) -> impl Iterator<Item = &BackendStatus> {
        self.forwards.iter().flat_map(|f| &f.backends)
    }
}

/// Serves the socket until the daemon stops. A stale socket file (no daemon holds the
/// daemon lock, which the caller has) is replaced.
pub fn bind(path: &Path) -> Result<tokio::net::UnixListener, String> {
    let _ = std::fs::remove_file(path);
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let listener = tokio::net::UnixListener::bind(path)
        .map_err(|e| format!("control socket {}: {e}", path.display()))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("control socket {}: {e}", path.display()))?;
    Ok(listener)
}

pub async fn serve(listener: tokio::net::UnixListener, queries: mpsc::Sender<Query>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let queries = queries.clone();
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut line = String::new();
            let _ = BufReader::new(read).read_line(&mut line).await;
            let answer = match line.trim() {
                "status" => {
                    let (tx, rx) = oneshot::channel();
                    let sent = queries.send(Query::Status(tx)).await.is_ok();
                    match (sent, rx.await) {
                        (true, Ok(report)) => {
                            serde_json::to_string(&report).unwrap_or_else(|e| format!("error: {e}"))
                        }
                        _ => "error: the daemon is stopping".to_string(),
                    }
                }
                other => format!("error: unknown request {other:?} (known: status)"),
            };
            let _ = write.write_all(answer.as_bytes()).await;
            let _ = write.write_all(b"\n").await;
        });
    }
}

/// Why `portfwd status` got no report.
#[derive(Debug, thiserror::Error)]
pub enum AskError {
    #[error(
        "portfwd run is not running (nothing listens on {0}); start it with `portfwd run` or `systemctl start portfwd-run`"
    )]
    NotRunning(String),
    #[error("{path}: {message}")]
    Failed { path: String, message: String },
}

/// How long `portfwd status` waits for the daemon's answer.
const ANSWER_WITHIN: std::time::Duration = std::time::Duration::from_secs(10);

/// Asks the daemon behind `path` for its report (blocking: the CLI has no runtime).
pub fn ask(path: &Path) -> Result<Report, AskError> {
    ask_within(path, ANSWER_WITHIN)
}

fn ask_within(path: &Path, within: std::time::Duration) -> Result<Report, AskError> {
    use std::io::{ErrorKind, Read, Write};
    let shown = path.display().to_string();
    let failed = |message: String| AskError::Failed {
        path: shown.clone(),
        message,
    };
    let mut stream = match std::os::unix::net::UnixStream::connect(path) {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Err(AskError::NotRunning(shown));
        }
        Err(e) if e.kind() == ErrorKind::PermissionDenied => {
            return Err(failed(
                "permission denied: the control socket is root's; ask as root".to_string(),
            ));
        }
        Err(e) => return Err(failed(e.to_string())),
    };
    let _ = stream.set_read_timeout(Some(within));
    let _ = stream.set_write_timeout(Some(within));
    let silent = |e: std::io::Error| match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => failed(format!(
            "portfwd run did not answer within {} s (busy or stuck: see its log, e.g. `journalctl -u portfwd-run`)",
            within.as_secs_f64()
        )),
        _ => failed(e.to_string()),
    };
    stream.write_all(b"status\n").map_err(silent)?;
    let mut text = String::new();
    stream.read_to_string(&mut text).map_err(silent)?;
    if let Some(message) = text.trim().strip_prefix("error: ") {
        return Err(failed(message.to_string()));
    }
    serde_json::from_str(&text).map_err(|e| failed(format!("unreadable answer: {e}")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_daemon_that_does_not_answer_is_named_as_such() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("control.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).expect("bind");
        // Accepted (the backlog holds it) and never answered.
        let e =
            super::ask_within(&path, std::time::Duration::from_millis(100)).expect_err("no answer");
        assert!(
            e.to_string()
                .contains("portfwd run did not answer within 0.1 s"),
            "{e}"
        );
        drop(listener);
    }

    use super::*;
    use crate::state::links::{Address, Link};

    #[test]
    fn the_role_follows_the_floating_addresses_held() {
        let text = br#"{"public":[{"address":"203.0.113.10","interface":"eth0","floating":true}],
            "bridges":[{"name":"br1","address":"10.0.0.2/24","floating_address":"10.0.0.1/24"}],
            "vrrp":{"interface":"br1","router_id":51,"priority":100},
            "forwards":[{"name":"ssh","listen":"203.0.113.10:2222","backends":["10.0.0.10:22"]}]}"#;
        let config = crate::config::check("t".into(), text)
            .config
            .expect("valid");
        let mut links = LinkTable {
            links: vec![Link {
                index: 2,
                name: "eth0".into(),
                kind: None,
                master: None,
                up: true,
            }],
            ..LinkTable::default()
        };
        let role = |links: &LinkTable| PairStatus::new(&config, links, Vec::new()).role;
        assert_eq!(role(&links), "standby");
        links.addresses.push(Address {
            index: 2,
            addr: "203.0.113.10".parse().expect("address"),
            prefix_len: 24,
        });
        assert_eq!(role(&links), "split");
        links.addresses.push(Address {
            index: 2,
            addr: "10.0.0.1".parse().expect("address"),
            prefix_len: 24,
        });
        assert_eq!(role(&links), "active");
    }
}
