//! Health checks of backends: what to probe ([`Probe`]), how results become up/down
//! ([`Tracker`]; the daemon keeps one per check, `daemon/checks.rs`), how
//! the held-down backends change the desired table ([`overlay`]), and the state file that
//! `plan` and `apply` read while `portfwd run` holds backends down ([`status`]).

pub mod overlay;
pub mod probe;
pub mod status;

use crate::config::model::{CheckKind, Health};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// One probe: an address and port checked one way, on one schedule.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Probe {
    pub target: SocketAddr,
    pub check: CheckKind,
    pub interval: Duration,
    pub timeout: Duration,
    pub rise: u32,
    pub fall: u32,
    pub path: String,
    pub host: Option<String>,
    pub expect_status: (u16, u16),
    pub command: Vec<String>,
    pub verify_tls: bool,
}

impl Probe {
    pub fn new(health: &Health, addr: IpAddr, port: u16) -> Probe {
        Probe {
            target: SocketAddr::new(addr, health.port.unwrap_or(port)),
            check: health.check,
            interval: health.interval,
            timeout: health.timeout,
            rise: health.rise,
            fall: health.fall,
            path: health.path.clone(),
            host: health.host.clone(),
            expect_status: health.expect_status,
            command: health.command.clone(),
            verify_tls: health.verify_tls,
        }
    }
}

/// Up or down by `rise` consecutive successes and `fall` consecutive failures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracker {
    pub up: bool,
    streak: u32,
    /// Why the last check failed, for the log and the state file.
    pub reason: String,
    /// When the state last changed (or the tracker was made), in Unix seconds.
    pub since: u64,
    /// When the last check ran (Unix seconds) and whether it passed; `None` before the first.
    pub last: Option<(u64, bool)>,
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Tracker {
    pub fn new(up: bool) -> Tracker {
        Tracker {
            up,
            streak: 0,
            reason: String::new(),
            since: unix_now(),
            last: None,
        }
    }

    /// A backend nothing is known of yet (new, or its check changed): down until its first
    /// check passes, unless the kernel is found holding it (the daemon decides).
    pub fn unproven() -> Tracker {
        Tracker {
            reason: "not checked yet".to_string(),
            ..Tracker::new(false)
        }
    }

    /// Counts a result; `Some(up)` when it changes the state. A tracker that has never
    /// reported rises on its first pass: `rise` is about a backend seen failing.
    pub fn record(&mut self, result: &Result<(), String>, probe: &Probe) -> Option<bool> {
        let agrees = result.is_ok() == self.up;
        let first = self.last.is_none();
        self.last = Some((unix_now(), result.is_ok()));
        if let Err(reason) = result {
            self.reason.clone_from(reason);
        }
        if agrees {
            self.streak = 0;
            return None;
        }
        self.streak += 1;
        let needed = match (self.up, first) {
            (true, _) => probe.fall,
            (false, false) => probe.rise,
            (false, true) => 1,
        };
        if self.streak < needed {
            return None;
        }
        self.streak = 0;
        self.up = !self.up;
        self.since = unix_now();
        Some(self.up)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(rise: u32, fall: u32) -> Probe {
        Probe {
            target: "10.0.0.2:22".parse().expect("addr"),
            check: CheckKind::Tcp,
            interval: Duration::from_secs(2),
            timeout: Duration::from_secs(1),
            rise,
            fall,
            path: "/".into(),
            host: None,
            expect_status: (200, 399),
            command: Vec::new(),
            verify_tls: false,
        }
    }

    #[test]
    fn rise_and_fall_count_consecutive_results() {
        let p = probe(2, 3);
        let mut t = Tracker::new(true);
        let fail: Result<(), String> = Err("connect: connection refused".into());
        assert_eq!(t.record(&fail, &p), None);
        assert_eq!(t.record(&fail, &p), None);
        assert_eq!(t.record(&Ok(()), &p), None, "a success resets the failures");
        assert_eq!(t.record(&fail, &p), None);
        assert_eq!(t.record(&fail, &p), None);
        assert_eq!(t.record(&fail, &p), Some(false));
        assert_eq!(t.reason, "connect: connection refused");
        assert_eq!(t.record(&Ok(()), &p), None);
        assert_eq!(t.record(&fail, &p), None, "a failure resets the successes");
        assert_eq!(t.record(&Ok(()), &p), None);
        assert_eq!(t.record(&Ok(()), &p), Some(true));
    }
}
