//! Which sync daemons portfwd started. The kernel does not record who started a daemon, so
//! portfwd keeps a note per network namespace under /run (gone after a reboot, like the
//! daemons): without `sync` in the config it stops only the daemons the note names.

use crate::state::sync::SyncRole;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

/// `/run/portfwd/sync-daemons.<netns inode>` (the directory from `PORTFWD_RUN_DIR`).
fn note_path() -> Option<PathBuf> {
    let netns = std::fs::metadata("/proc/self/ns/net").ok()?.ino();
    let dir = std::env::var_os("PORTFWD_RUN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/run/portfwd"));
    Some(dir.join(format!("sync-daemons.{netns}")))
}

pub fn started() -> Vec<SyncRole> {
    let Some(text) = note_path().and_then(|p| std::fs::read_to_string(p).ok()) else {
        return Vec::new();
    };
    SyncRole::BOTH
        .into_iter()
        .filter(|r| text.lines().any(|l| l == r.name()))
        .collect()
}

/// Notes that portfwd started (`true`) or stopped the daemon of `role`. Best effort: a
/// note that cannot be written only means such a daemon is later left alone.
pub fn record(role: SyncRole, started_now: bool) {
    let Some(path) = note_path() else { return };
    let mut roles = started();
    roles.retain(|r| *r != role);
    if started_now {
        roles.push(role);
    }
    if roles.is_empty() {
        let _ = std::fs::remove_file(&path);
        return;
    }
    let text: String = roles.iter().map(|r| format!("{}\n", r.name())).collect();
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let _ = crate::config::write_atomic(&path, text);
}
