//! The host's own listening sockets in the current network namespace: what a new forward
//! could shadow. Read over sock_diag (the kernel filters by state, so a host with thousands
//! of connections costs what its few listeners cost, and it says which IPv6 sockets are
//! v6-only); from /proc/net when sock_diag is unavailable (its modules absent, autoloading
//! off).

mod diag;
mod proc;

use std::net::IpAddr;

/// A local socket that accepts connections (TCP LISTEN) or datagrams (bound UDP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listener {
    pub protocol: u16,
    pub addr: IpAddr,
    pub port: u16,
    /// An IPv6 socket that takes no IPv4 (IPV6_V6ONLY). /proc does not say: false there.
    pub v6only: bool,
}

impl Listener {
    /// Whether traffic to `addr` reaches this socket: the same address, or a wildcard (an
    /// IPv6 wildcard takes IPv4 too unless it is v6-only).
    pub fn covers(&self, addr: IpAddr) -> bool {
        match self.addr {
            IpAddr::V4(a) if a.is_unspecified() => addr.is_ipv4(),
            IpAddr::V6(a) if a.is_unspecified() => addr.is_ipv6() || !self.v6only,
            a => a == addr,
        }
    }
}

/// Every listening TCP and bound UDP socket.
pub fn read() -> std::io::Result<Vec<Listener>> {
    diag::read().or_else(|_| proc::read())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::ipvs::IPPROTO_TCP;

    #[test]
    fn wildcards_cover_their_family_and_v6_wildcards_cover_both_unless_v6_only() {
        let any4 = Listener {
            protocol: IPPROTO_TCP,
            addr: "0.0.0.0".parse().expect("ip"),
            port: 22,
            v6only: false,
        };
        let any6 = Listener {
            addr: "::".parse().expect("ip"),
            ..any4
        };
        let any6_only = Listener {
            v6only: true,
            ..any6
        };
        let one = Listener {
            addr: "127.0.0.1".parse().expect("ip"),
            ..any4
        };
        let public: IpAddr = "203.0.113.10".parse().expect("ip");
        let public6: IpAddr = "2001:db8::1".parse().expect("ip");
        assert!(any4.covers(public) && any6.covers(public) && !one.covers(public));
        assert!(!any4.covers(public6) && any6.covers(public6));
        assert!(!any6_only.covers(public) && any6_only.covers(public6));
    }
}
