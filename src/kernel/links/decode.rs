//! rtnetlink replies: `ifinfomsg` and `ifaddrmsg` records, every length checked.

use super::{Address, Link};
use crate::kernel::netlink::{attr_string, attributes, u32_at};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const IFINFOMSG_LEN: usize = 16;
const IFADDRMSG_LEN: usize = 8;
const IFLA_IFNAME: u16 = 3;
const IFLA_MASTER: u16 = 10;
const IFLA_LINKINFO: u16 = 18;
const IFLA_INFO_KIND: u16 = 1;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFF_UP: u32 = 1;

pub fn link(payload: &[u8]) -> Result<Link, String> {
    if payload.len() < IFINFOMSG_LEN {
        return Err(format!("short ifinfomsg ({} bytes)", payload.len()));
    }
    let index = u32_at(payload, 4).ok_or("short ifinfomsg")?;
    let flags = u32_at(payload, 8).ok_or("short ifinfomsg")?;
    let mut link = Link {
        index,
        name: String::new(),
        kind: None,
        master: None,
        up: flags & IFF_UP != 0,
    };
    for a in attributes(&payload[IFINFOMSG_LEN..]) {
        let (kind, value) = a?;
        match kind {
            IFLA_IFNAME => link.name = attr_string(value).into_owned(),
            IFLA_MASTER => {
                let m = u32_at(value, 0).ok_or("invalid IFLA_MASTER")?;
                link.master = (m != 0).then_some(m);
            }
            IFLA_LINKINFO => {
                for inner in attributes(value) {
                    let (k, v) = inner?;
                    if k == IFLA_INFO_KIND {
                        link.kind = Some(attr_string(v).into_owned());
                    }
                }
            }
            _ => {}
        }
    }
    if link.name.is_empty() {
        return Err(format!("link {index} has no IFLA_IFNAME"));
    }
    Ok(link)
}

/// An address record; `None` for families other than IPv4 and IPv6.
pub fn address(payload: &[u8]) -> Result<Option<Address>, String> {
    if payload.len() < IFADDRMSG_LEN {
        return Err(format!("short ifaddrmsg ({} bytes)", payload.len()));
    }
    let family = i32::from(payload[0]);
    let prefix_len = payload[1];
    let index = u32_at(payload, 4).ok_or("short ifaddrmsg")?;
    let (mut local, mut address) = (None, None);
    for a in attributes(&payload[IFADDRMSG_LEN..]) {
        let (kind, value) = a?;
        let addr = match (family, value.len()) {
            (libc::AF_INET, 4) => {
                let o: [u8; 4] = value.try_into().map_err(|_| "bad IPv4 address")?;
                Some(IpAddr::V4(Ipv4Addr::from(o)))
            }
            (libc::AF_INET6, 16) => {
                let o: [u8; 16] = value.try_into().map_err(|_| "bad IPv6 address")?;
                Some(IpAddr::V6(Ipv6Addr::from(o)))
            }
            _ => None,
        };
        match kind {
            IFA_LOCAL => local = addr,
            IFA_ADDRESS => address = addr,
            _ => {}
        }
    }
    // IPv4 puts the host's own address in IFA_LOCAL (IFA_ADDRESS is the peer on
    // point-to-point links); IPv6 has only IFA_ADDRESS.
    Ok(local.or(address).map(|addr| Address {
        index,
        addr,
        prefix_len,
    }))
}

const RTMSG_LEN: usize = 12;
const RT_TABLE_MAIN: u8 = 254;
const RTN_UNICAST: u8 = 1;
const RTA_OIF: u16 = 4;
const RTA_MULTIPATH: u16 = 9;
const RTA_TABLE: u16 = 15;
const RTNH_LEN: usize = 8;

/// The links a route record leaves through when it is a default route of the main table
/// (several for a multipath route); empty for any other route.
pub fn default_route_links(payload: &[u8]) -> Result<Vec<u32>, String> {
    let header = payload
        .get(..RTMSG_LEN)
        .ok_or_else(|| format!("short rtmsg ({} bytes)", payload.len()))?;
    let (dst_len, mut table, kind) = (header[1], u32::from(header[4]), header[7]);
    let mut links = Vec::new();
    for a in attributes(&payload[RTMSG_LEN..]) {
        let (attr, value) = a?;
        match attr {
            RTA_OIF => links.push(u32_at(value, 0).ok_or("invalid RTA_OIF")?),
            RTA_TABLE => table = u32_at(value, 0).ok_or("invalid RTA_TABLE")?,
            RTA_MULTIPATH => {
                // struct rtnexthop: length (u16), flags, hops, ifindex (i32), then attributes.
                let mut rest = value;
                while rest.len() >= RTNH_LEN {
                    let len = usize::from(u16::from_ne_bytes([rest[0], rest[1]]));
                    links.push(u32_at(rest, 4).ok_or("invalid rtnexthop")?);
                    rest = rest
                        .get(len.max(RTNH_LEN).next_multiple_of(4)..)
                        .unwrap_or(&[]);
                }
            }
            _ => {}
        }
    }
    let default = dst_len == 0 && kind == RTN_UNICAST && table == u32::from(RT_TABLE_MAIN);
    Ok(if default { links } else { Vec::new() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_bridge_port_record() {
        let mut p = vec![0u8; 16];
        p[4..8].copy_from_slice(&5u32.to_ne_bytes());
        p[8..12].copy_from_slice(&(IFF_UP | 0x40).to_ne_bytes());
        p.extend_from_slice(&[11, 0, 3, 0]);
        p.extend_from_slice(b"vif1.0\0\0"); // 4 + 7 = 11, padded to 12
        p.extend_from_slice(&[8, 0, 10, 0]);
        p.extend_from_slice(&3u32.to_ne_bytes());
        p.extend_from_slice(&[16, 0, 18, 0x80, 9, 0, 1, 0]);
        p.extend_from_slice(b"veth\0\0\0\0");
        let l = link(&p).expect("decodes");
        assert_eq!(
            l,
            Link {
                index: 5,
                name: "vif1.0".into(),
                kind: Some("veth".into()),
                master: Some(3),
                up: true
            }
        );
    }

    /// An rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags.
    fn route(dst_len: u8, table: u8, kind: u8) -> Vec<u8> {
        vec![2, dst_len, 0, 0, table, 3, 0, kind, 0, 0, 0, 0]
    }

    #[test]
    fn reads_default_routes_of_the_main_table() {
        let mut p = route(0, 254, 1);
        p.extend_from_slice(&[8, 0, 4, 0]);
        p.extend_from_slice(&2u32.to_ne_bytes());
        assert_eq!(default_route_links(&p), Ok(vec![2]));

        // Multipath: two rtnexthops (length 8 each, no attributes) on links 2 and 7.
        let mut p = route(0, 254, 1);
        p.extend_from_slice(&[20, 0, 9, 0]);
        for index in [2u32, 7] {
            p.extend_from_slice(&[8, 0, 0, 0]);
            p.extend_from_slice(&index.to_ne_bytes());
        }
        assert_eq!(default_route_links(&p), Ok(vec![2, 7]));

        let mut subnet = route(24, 254, 1);
        subnet.extend_from_slice(&[8, 0, 4, 0, 2, 0, 0, 0]);
        let mut local = route(0, 255, 2);
        local.extend_from_slice(&[8, 0, 4, 0, 2, 0, 0, 0]);
        // RT_TABLE_COMPAT in the header, the real table (a policy table) in RTA_TABLE.
        let mut other = route(0, 252, 1);
        other.extend_from_slice(&[8, 0, 15, 0]);
        other.extend_from_slice(&1000u32.to_ne_bytes());
        other.extend_from_slice(&[8, 0, 4, 0, 2, 0, 0, 0]);
        for p in [subnet, local, other] {
            assert_eq!(default_route_links(&p), Ok(vec![]));
        }
        assert!(default_route_links(&[0; 8]).is_err());
        let mut bad = route(0, 254, 1);
        bad.extend_from_slice(&[6, 0, 4, 0, 2, 0]);
        assert!(default_route_links(&bad).is_err());
    }

    #[test]
    fn bad_records_are_errors() {
        assert!(link(&[0; 8]).is_err());
        let mut p = vec![0u8; 16];
        p.extend_from_slice(&[200, 0, 3, 0]);
        assert!(link(&p).is_err());
        assert!(address(&[2, 24, 0]).is_err());
    }
}
