//! The host's own listening sockets in the current network namespace: what a new forward
//! could shadow. Read over sock_diag (the kernel filters by state, so a host with thousands
//! of connections costs what its few listeners cost, and it says which IPv6 sockets are
//! v6-only); from /proc/net when sock_diag is unavailable (its modules absent, autoloading
//! off).

mod diag;
mod proc;

pub use crate::state::host::Listener;

/// Every listening TCP and bound UDP socket.
pub fn read() -> std::io::Result<Vec<Listener>> {
    diag::read().or_else(|_| proc::read())
}
