//! The apply lock: an exclusive `flock` on one file, so two applies never interleave. The
//! kernel drops the lock when the process ends, however it ends.

use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

/// Where the lock lives unless `PORTFWD_LOCK_FILE` says otherwise.
pub const DEFAULT_PATH: &str = "/run/portfwd.lock";

/// A held lock; dropping it releases it.
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

/// Takes the lock, waiting up to `timeout` for another holder; `waiting` is called once if
/// the lock is busy, with the pid the holder wrote.
pub fn acquire(
    path: &Path,
    timeout: Duration,
    waiting: &mut dyn FnMut(&str),
) -> Result<Lock, String> {
    let name = path.display();
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| format!("cannot open the lock file {name}: {e}"))?;
    let deadline = Instant::now() + timeout;
    let mut told = false;
    loop {
        // SAFETY: flock on a file descriptor we own; no memory is passed.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc == 0 {
            break;
        }
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EWOULDBLOCK) {
            return Err(format!("cannot lock {name}: {e}"));
        }
        if !told {
            let holder = std::fs::read_to_string(path).unwrap_or_default();
            waiting(holder.trim());
            told = true;
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "another portfwd apply holds {name} (pid {}); gave up after {} s",
                std::fs::read_to_string(path).unwrap_or_default().trim(),
                timeout.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // Record the holder for whoever waits next; the lock, not this text, is what counts.
    let _ = file.set_len(0);
    let _ = write!(file, "{}", std::process::id());
    Ok(Lock { _file: file })
}
