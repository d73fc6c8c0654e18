//! Listening for a VRRP advertisement (IP protocol 112), for `portfwd doctor` on a standby
//! host: the active host's priority tells whether the two hosts were given the same one.

use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

const IPPROTO_VRRP: i32 = 112;
const VRRP_GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);

/// One advertisement heard: who sent it and with which priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Advert {
    pub from: IpAddr,
    pub priority: u8,
}

/// The first advertisement for `router_id` on `interface` (link `index`) from an address
/// `is_own` does not claim, within `wait`; `None` when none came. Needs root (a raw socket).
pub fn listen(
    interface: &str,
    index: u32,
    router_id: u8,
    wait: Duration,
    is_own: &dyn Fn(IpAddr) -> bool,
) -> io::Result<Option<Advert>> {
    use socket2::{Domain, InterfaceIndexOrAddress, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(IPPROTO_VRRP)))?;
    socket.bind_device(Some(interface.as_bytes()))?;
    // Multicast adverts reach a raw socket only while the group is joined on the link
    // (keepalived joins it too, when it runs here).
    socket.join_multicast_v4_n(&VRRP_GROUP, &InterfaceIndexOrAddress::Index(index))?;
    let deadline = Instant::now() + wait;
    let mut buf = [0u8; 2048];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        socket.set_read_timeout(Some(left))?;
        let n = match (&socket).read(&mut buf) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(None);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if let Some(advert) = parse(&buf[..n], router_id)
            && !is_own(advert.from)
        {
            return Ok(Some(advert));
        }
    }
}

/// An IPv4 packet carrying a VRRP (v2 or v3) advertisement for `router_id`.
fn parse(packet: &[u8], router_id: u8) -> Option<Advert> {
    let header_len = usize::from(packet.first()? & 0x0f) * 4;
    let source: [u8; 4] = packet.get(12..16)?.try_into().ok()?;
    let vrrp = packet.get(header_len..)?;
    let (version_type, vrid, priority) = (*vrrp.first()?, *vrrp.get(1)?, *vrrp.get(2)?);
    // Type 1 is an advertisement; versions 2 and 3 put VRID and priority in the same place.
    let advert = version_type & 0x0f == 1 && matches!(version_type >> 4, 2 | 3);
    (advert && vrid == router_id).then_some(Advert {
        from: IpAddr::V4(Ipv4Addr::from(source)),
        priority,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(version_type: u8, vrid: u8, priority: u8) -> Vec<u8> {
        let mut p = vec![
            0x45, 0, 0, 40, 0, 0, 0, 0, 255, 112, 0, 0, 10, 0, 0, 3, 224, 0, 0, 18,
        ];
        p.extend([version_type, vrid, priority, 1, 0, 1, 0, 0, 10, 0, 0, 1]);
        p
    }

    #[test]
    fn reads_the_router_id_and_priority_of_v2_and_v3_adverts() {
        let want = Some(Advert {
            from: "10.0.0.3".parse().expect("ip"),
            priority: 100,
        });
        assert_eq!(parse(&packet(0x21, 51, 100), 51), want);
        assert_eq!(parse(&packet(0x31, 51, 100), 51), want);
        assert_eq!(parse(&packet(0x21, 52, 100), 51), None, "another router");
        assert_eq!(parse(&packet(0x22, 51, 100), 51), None, "not an advert");
        assert_eq!(parse(&packet(0x21, 51, 100)[..21], 51), None, "cut short");
        assert_eq!(parse(&[], 51), None);
    }
}
