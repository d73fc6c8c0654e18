//! Listening sockets over sock_diag (`NETLINK_SOCK_DIAG`, as `ss` reads them): one dump per
//! family and protocol, filtered by state in the kernel.

use super::Listener;
use crate::kernel::KernelError;
use crate::kernel::netlink::{NLM_F_DUMP, NetlinkSocket, attributes, fixed_request};
use crate::state::ipvs::{IPPROTO_TCP, IPPROTO_UDP};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// `SOCK_DIAG_BY_FAMILY`: the request and reply type of inet_diag's v2 interface.
const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// TCP's LISTEN state; an unconnected UDP socket is in CLOSE.
const TCP_LISTEN: u8 = 10;
const TCP_CLOSE: u8 = 7;
/// The reply attribute saying whether an IPv6 socket in LISTEN or CLOSE is v6-only.
const INET_DIAG_SKV6ONLY: u16 = 11;
/// `struct inet_diag_req_v2` (family, protocol, ext, pad, states, a 48-byte socket id).
const REQ_LEN: usize = 56;
/// `struct inet_diag_msg`, before the reply's attributes.
const MSG_LEN: usize = 72;

/// Every listening TCP and bound UDP socket, IPv4 and IPv6.
pub fn read() -> Result<Vec<Listener>, KernelError> {
    let mut socket = NetlinkSocket::sock_diag()?;
    let mut all = Vec::new();
    for (family, protocol, state) in [
        (libc::AF_INET, IPPROTO_TCP, TCP_LISTEN),
        (libc::AF_INET6, IPPROTO_TCP, TCP_LISTEN),
        (libc::AF_INET, IPPROTO_UDP, TCP_CLOSE),
        (libc::AF_INET6, IPPROTO_UDP, TCP_CLOSE),
    ] {
        // AF_INET and AF_INET6 are 2 and 10, the protocols 6 and 17: all fit a byte.
        let (family, proto_byte) = (family as u8, protocol as u8);
        let action = Dump(family, protocol);
        let mut request = fixed_request(
            SOCK_DIAG_BY_FAMILY,
            NLM_F_DUMP,
            &body(family, proto_byte, state),
        )
        .map_err(|e| KernelError::protocol(action.to_string(), e))?;
        for record in socket.exchange(&mut request, &action)? {
            let listener = decode(&record.payload, protocol)
                .map_err(|e| KernelError::protocol(action.to_string(), e))?;
            all.push(listener);
        }
    }
    Ok(all)
}

/// What a dump does, for its error (formatted only on failure).
struct Dump(u8, u16);

impl std::fmt::Display for Dump {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let family = if i32::from(self.0) == libc::AF_INET6 {
            "IPv6"
        } else {
            "IPv4"
        };
        let protocol = if self.1 == IPPROTO_TCP { "TCP" } else { "UDP" };
        write!(f, "listing the host's {family} {protocol} sockets")
    }
}

/// The body of a dump request (`inet_diag_req_v2`) for sockets of one family and protocol
/// in `state`, with any socket id.
fn body(family: u8, protocol: u8, state: u8) -> [u8; REQ_LEN] {
    let mut b = [0u8; REQ_LEN];
    b[..4].copy_from_slice(&[family, protocol, 0, 0]);
    b[4..8].copy_from_slice(&(1u32 << state).to_ne_bytes());
    b
}

/// One reply: the local address and port, and for IPv6 whether the socket is v6-only.
fn decode(payload: &[u8], protocol: u16) -> Result<Listener, String> {
    let msg = payload
        .get(..MSG_LEN)
        .ok_or_else(|| format!("a socket record of {} bytes", payload.len()))?;
    let port = u16::from_be_bytes([msg[4], msg[5]]);
    let src = &msg[8..24];
    let addr = match i32::from(msg[0]) {
        libc::AF_INET => IpAddr::V4(Ipv4Addr::new(src[0], src[1], src[2], src[3])),
        libc::AF_INET6 => {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(src);
            IpAddr::V6(Ipv6Addr::from(octets))
        }
        other => return Err(format!("a socket of address family {other}")),
    };
    let mut v6only = false;
    for attr in attributes(&payload[MSG_LEN..]) {
        let (kind, value) = attr?;
        if kind == INET_DIAG_SKV6ONLY {
            v6only = value.first().is_some_and(|&b| b != 0);
        }
    }
    Ok(Listener {
        protocol,
        addr,
        port,
        v6only,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_asks_for_one_family_protocol_and_state() {
        let body = body(libc::AF_INET6 as u8, IPPROTO_UDP as u8, TCP_CLOSE);
        let r = fixed_request(SOCK_DIAG_BY_FAMILY, NLM_F_DUMP, &body).expect("encodes");
        assert_eq!(r.len(), 72);
        assert_eq!(u32::from_ne_bytes([r[0], r[1], r[2], r[3]]), 72);
        assert_eq!(u16::from_ne_bytes([r[4], r[5]]), SOCK_DIAG_BY_FAMILY);
        assert_eq!(u16::from_ne_bytes([r[6], r[7]]), 0x301);
        assert_eq!(&r[16..20], &[10, 17, 0, 0]);
        assert_eq!(u32::from_ne_bytes([r[20], r[21], r[22], r[23]]), 1 << 7);
        assert!(r[24..].iter().all(|&b| b == 0));
    }

    fn record(family: u8, port: u16, src: &[u8], attrs: &[u8]) -> Vec<u8> {
        let mut m = vec![0u8; MSG_LEN];
        m[0] = family;
        m[1] = TCP_LISTEN;
        m[4..6].copy_from_slice(&port.to_be_bytes());
        m[8..8 + src.len()].copy_from_slice(src);
        m.extend_from_slice(attrs);
        m
    }

    #[test]
    fn replies_give_address_port_and_v6_only() {
        let v4 = record(2, 22, &[203, 0, 113, 10], &[]);
        let got = decode(&v4, IPPROTO_TCP).expect("v4");
        assert_eq!(
            (got.addr.to_string(), got.port, got.v6only),
            ("203.0.113.10".into(), 22, false)
        );

        // INET_DIAG_SKV6ONLY = 1, padded to 4 bytes: len 5, type 11.
        let only = [5, 0, 11, 0, 1, 0, 0, 0];
        let v6 = record(10, 443, &[0; 16], &only);
        let got = decode(&v6, IPPROTO_TCP).expect("v6");
        assert_eq!(
            (got.addr.to_string(), got.port, got.v6only),
            ("::".into(), 443, true)
        );
        let dual = record(10, 443, &[0; 16], &[5, 0, 11, 0, 0, 0, 0, 0]);
        assert!(!decode(&dual, IPPROTO_TCP).expect("v6").v6only);
    }

    #[test]
    fn short_or_foreign_records_are_errors() {
        assert!(decode(&[2; 40], IPPROTO_TCP).is_err());
        assert!(decode(&record(1, 22, &[], &[]), IPPROTO_TCP).is_err());
        assert!(decode(&record(2, 22, &[1, 2, 3, 4], &[9, 0, 11, 0]), IPPROTO_TCP).is_err());
    }
}
