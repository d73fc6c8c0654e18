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

    #[test]
    fn bad_records_are_errors() {
        assert!(link(&[0; 8]).is_err());
        let mut p = vec![0u8; 16];
        p.extend_from_slice(&[200, 0, 3, 0]);
        assert!(link(&p).is_err());
        assert!(address(&[2, 24, 0]).is_err());
    }
}
