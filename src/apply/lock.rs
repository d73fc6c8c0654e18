//! The apply lock: an exclusive lock on one file (std's `File::try_lock`, an `flock`), so
//! two applies never interleave. The kernel drops it when the process ends, however it ends.

use std::fs::{File, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where the lock lives unless `PORTFWD_LOCK_FILE` says otherwise: in the unit's
/// `RuntimeDirectory`, the one place `ProtectSystem=strict` leaves writable.
pub const DEFAULT_PATH: &str = "/run/portfwd/lock";

/// A held lock; dropping it releases it.
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("cannot open the lock file {}: {source}", path.display())]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot lock {}: {source}", path.display())]
    Lock {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("another portfwd apply holds {} (pid {holder}); gave up after {seconds} s", path.display())]
    Busy {
        path: PathBuf,
        holder: String,
        seconds: u64,
    },
}

/// Takes the lock, waiting up to `timeout` for another holder; `waiting` is called at each
/// look while the lock is busy (about ten a second), with the pid the holder wrote.
pub fn acquire(
    path: &Path,
    timeout: Duration,
    waiting: &mut dyn FnMut(&str),
) -> Result<Lock, LockError> {
    let open = || {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
    };
    // The folder is made only when missing: the daemon takes the lock for every change.
    let opened = match open() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            match path.parent().filter(|d| !d.as_os_str().is_empty()) {
                Some(dir) => std::fs::create_dir_all(dir).and_then(|()| open()),
                None => Err(e),
            }
        }
        other => other,
    };
    let mut file = opened.map_err(|source| LockError::Open {
        path: path.into(),
        source,
    })?;
    let holder = || {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    let deadline = Instant::now() + timeout;
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(TryLockError::WouldBlock) => {}
            Err(TryLockError::Error(source)) => {
                return Err(LockError::Lock {
                    path: path.into(),
                    source,
                });
            }
        }
        waiting(&holder());
        if Instant::now() >= deadline {
            return Err(LockError::Busy {
                path: path.into(),
                holder: holder(),
                seconds: timeout.as_secs(),
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // Record the holder for whoever waits next; the lock, not this text, is what counts.
    let _ = file.set_len(0);
    let _ = write!(file, "{}", std::process::id());
    Ok(Lock { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_folder_is_made_and_the_holder_named() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("run/portfwd/lock");
        let held = acquire(&path, Duration::ZERO, &mut |_| {}).expect("made and taken");
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(text, std::process::id().to_string());
        let mut told = Vec::new();
        let busy =
            acquire(&path, Duration::ZERO, &mut |h| told.push(h.to_string())).expect_err("held");
        assert!(matches!(busy, LockError::Busy { .. }), "{busy}");
        assert_eq!(told, [std::process::id().to_string()]);
        drop(held);
        acquire(&path, Duration::ZERO, &mut |_| {}).expect("free again");
    }
}
