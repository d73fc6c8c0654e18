//! Listening sockets from `/proc/net/{tcp,tcp6,udp,udp6}`: the fallback when sock_diag is
//! unavailable.

use super::Listener;
use crate::state::ipvs::{IPPROTO_TCP, IPPROTO_UDP};
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// TCP state LISTEN and UDP's unconnected state CLOSE, as /proc prints them.
const TCP_LISTEN: &str = "0A";
const UDP_UNCONNECTED: &str = "07";

/// Every listening TCP and bound UDP socket. Missing files (no IPv6) count as empty.
pub(super) fn read() -> std::io::Result<Vec<Listener>> {
    let mut all = Vec::new();
    for (file, protocol, state) in [
        ("/proc/net/tcp", IPPROTO_TCP, TCP_LISTEN),
        ("/proc/net/tcp6", IPPROTO_TCP, TCP_LISTEN),
        ("/proc/net/udp", IPPROTO_UDP, UDP_UNCONNECTED),
        ("/proc/net/udp6", IPPROTO_UDP, UDP_UNCONNECTED),
    ] {
        match read_whole(file) {
            Ok(text) => all.extend(parse(&text, protocol, state)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(all)
}

/// A /proc file in reads of 64 KiB: it reports no size, and each read of a /proc/net table
/// walks the socket hash from where the last one stopped.
fn read_whole(path: &str) -> std::io::Result<String> {
    let mut text = String::with_capacity(64 << 10);
    std::fs::File::open(path)?.read_to_string(&mut text)?;
    Ok(text)
}

/// Parses one /proc/net table, keeping sockets in `state`; lines it cannot read are skipped.
fn parse(text: &str, protocol: u16, state: &str) -> Vec<Listener> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let mut fields = line.split_whitespace().skip(1);
            let local = fields.next()?;
            let _remote = fields.next()?;
            if fields.next()? != state {
                return None;
            }
            let (addr, port) = local.split_once(':')?;
            Some(Listener {
                protocol,
                addr: parse_addr(addr)?,
                port: u16::from_str_radix(port, 16).ok()?,
                v6only: false,
            })
        })
        .collect()
}

/// /proc prints an address as 32-bit words in hex, each in the host's byte order.
fn parse_addr(hex: &str) -> Option<IpAddr> {
    let word = |i: usize| -> Option<[u8; 4]> {
        let text = hex.get(i * 8..i * 8 + 8)?;
        Some(u32::from_str_radix(text, 16).ok()?.to_ne_bytes())
    };
    match hex.len() {
        8 => Some(IpAddr::V4(Ipv4Addr::from(word(0)?))),
        32 => {
            let mut octets = [0u8; 16];
            for i in 0..4 {
                octets[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            Some(IpAddr::V6(Ipv6Addr::from(octets)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_endian = "little")]
    #[test]
    fn reads_listening_sockets_from_proc_text() {
        let tcp = "  sl  local_address rem_address   st tx_queue rx_queue\n\
   0: 0A7100CB:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1\n\
   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 2 1\n\
   2: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3 1\n";
        let got = parse(tcp, IPPROTO_TCP, TCP_LISTEN);
        assert_eq!(
            got.iter()
                .map(|l| format!("{}:{}", l.addr, l.port))
                .collect::<Vec<_>>(),
            ["203.0.113.10:22", "0.0.0.0:80"]
        );
        let tcp6 = "  sl  local_address                         remote_address                        st\n\
   0: B80D0120000000000000000010000000:01BB 00000000000000000000000000000000:0000 0A 0\n";
        let got = parse(tcp6, IPPROTO_TCP, TCP_LISTEN);
        assert_eq!(got[0].addr, "2001:db8::10".parse::<IpAddr>().expect("ip"));
        assert_eq!(got[0].port, 443);
    }
}
