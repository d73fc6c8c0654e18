//! SIGINT, SIGTERM and SIGHUP during an apply: instead of dying between two kernel
//! operations, the apply notices the signal before its next batch and undoes what it did,
//! so the table is never left half-changed by a Ctrl-C or a `systemctl stop`. The lock is
//! the kernel's (flock) and goes with the process however it ends.

use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

extern "C" fn note(_signal: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    REQUESTED.store(true, Ordering::SeqCst);
}

/// From now on, these signals ask the apply to stop and roll back instead of killing it.
pub fn install() {
    let handler = note as extern "C" fn(libc::c_int) as libc::sighandler_t;
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: installing a handler that only stores to an atomic.
        unsafe {
            libc::signal(signal, handler);
        }
    }
}

/// Whether a stop was asked for.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}
