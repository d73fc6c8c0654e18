//! rtnetlink requests, built with neli's `Ifinfomsg`/`Ifaddrmsg` and `Rtattr` builders.
//! Links are addressed by name (`IFLA_IFNAME` with index 0), which RTM_NEWLINK, RTM_DELLINK
//! and RTM_GETLINK accept.

use neli::ToBytes;
use neli::consts::nl::NlmF;
use neli::consts::rtnl::{Ifa, Ifla, IflaInfo, RtAddrFamily, RtScope, RtTable, Rtm, Rtn, Rtprot};
use neli::nl::{NlPayload, NlmsghdrBuilder};
use neli::rtnl::{IfaddrmsgBuilder, IfinfomsgBuilder, Rtattr, RtattrBuilder, RtmsgBuilder};
use neli::types::{Buffer, RtBuffer};
use std::io::Cursor;
use std::net::IpAddr;

fn rtattr<T, P>(kind: T, payload: P) -> Result<Rtattr<T, Buffer>, String>
where
    T: neli::Size + neli::consts::rtnl::RtaType,
    P: neli::Size + ToBytes,
{
    RtattrBuilder::default()
        .rta_type(kind)
        .rta_payload(payload)
        .build()
        .map_err(|e| e.to_string())
}

fn message<P>(kind: Rtm, flags: NlmF, payload: P) -> Result<Vec<u8>, String>
where
    P: neli::Size + ToBytes,
{
    let msg = NlmsghdrBuilder::default()
        .nl_type(kind)
        .nl_flags(NlmF::REQUEST | flags)
        .nl_seq(0)
        .nl_pid(0)
        .nl_payload(NlPayload::Payload(payload))
        .build()
        .map_err(|e| e.to_string())?;
    let mut cursor = Cursor::new(Vec::new());
    msg.to_bytes(&mut cursor).map_err(|e| e.to_string())?;
    Ok(cursor.into_inner())
}

/// An `ifinfomsg` for the link called `name` with extra attributes.
fn link_message(
    kind: Rtm,
    flags: NlmF,
    name: &str,
    up: Option<bool>,
    mut attrs: Vec<Rtattr<Ifla, Buffer>>,
) -> Result<Vec<u8>, String> {
    attrs.insert(0, rtattr(Ifla::Ifname, name)?);
    let mut info = IfinfomsgBuilder::default()
        .ifi_family(RtAddrFamily::Unspecified)
        .rtattrs(attrs.into_iter().collect::<RtBuffer<Ifla, Buffer>>());
    info = match up {
        Some(true) => info.up(),
        Some(false) => info.down(),
        None => info,
    };
    message(kind, flags, info.build().map_err(|e| e.to_string())?)
}

/// `RTEXT_FILTER_SKIP_STATS` (uapi rtnetlink.h): kernels that know it leave out each
/// link's counters, which portfwd never reads; older ones ignore the bit.
const RTEXT_FILTER_SKIP_STATS: u32 = 1 << 3;

/// RTM_GETLINK dump of every link, without their statistics (the kernel sums them per CPU
/// for each link and they make most of a link's message).
pub fn dump_links() -> Result<Vec<u8>, String> {
    let mask = rtattr(Ifla::ExtMask, RTEXT_FILTER_SKIP_STATS)?;
    let info = IfinfomsgBuilder::default()
        .ifi_family(RtAddrFamily::Unspecified)
        .rtattrs(std::iter::once(mask).collect::<RtBuffer<Ifla, Buffer>>())
        .build()
        .map_err(|e| e.to_string())?;
    message(Rtm::Getlink, NlmF::DUMP, info)
}

pub fn dump_addresses() -> Result<Vec<u8>, String> {
    let msg = IfaddrmsgBuilder::default()
        .ifa_family(RtAddrFamily::Unspecified)
        .ifa_prefixlen(0)
        .ifa_scope(RtScope::Universe)
        .ifa_index(0)
        .build()
        .map_err(|e| e.to_string())?;
    message(Rtm::Getaddr, NlmF::DUMP, msg)
}

/// RTM_GETROUTE dump of every route of both families (the decoder keeps default routes).
pub fn dump_routes() -> Result<Vec<u8>, String> {
    let msg = RtmsgBuilder::default()
        .rtm_family(RtAddrFamily::Unspecified)
        .rtm_dst_len(0)
        .rtm_src_len(0)
        .rtm_tos(0)
        .rtm_table(RtTable::Unspec)
        .rtm_protocol(Rtprot::Unspec)
        .rtm_scope(RtScope::Universe)
        .rtm_type(Rtn::Unspec)
        .build()
        .map_err(|e| e.to_string())?;
    message(Rtm::Getroute, NlmF::DUMP, msg)
}

/// RTM_GETLINK for one link; ACK so that the exchange ends after the reply.
pub fn get_link(name: &str) -> Result<Vec<u8>, String> {
    link_message(Rtm::Getlink, NlmF::ACK, name, None, Vec::new())
}

pub fn create_bridge(name: &str) -> Result<Vec<u8>, String> {
    let kind = rtattr(IflaInfo::Kind, "bridge")?;
    let linkinfo = rtattr(Ifla::Linkinfo, Buffer::from(Vec::new()))?
        .nest(&kind)
        .map_err(|e| e.to_string())?;
    link_message(
        Rtm::Newlink,
        NlmF::ACK | NlmF::CREATE | NlmF::EXCL,
        name,
        None,
        vec![linkinfo],
    )
}

pub fn delete_link(name: &str) -> Result<Vec<u8>, String> {
    link_message(Rtm::Dellink, NlmF::ACK, name, None, Vec::new())
}

pub fn set_up(name: &str, up: bool) -> Result<Vec<u8>, String> {
    link_message(Rtm::Newlink, NlmF::ACK, name, Some(up), Vec::new())
}

/// Enslaves `name` to the link with index `master`; 0 frees it.
pub fn set_master(name: &str, master: u32) -> Result<Vec<u8>, String> {
    link_message(
        Rtm::Newlink,
        NlmF::ACK,
        name,
        None,
        vec![rtattr(Ifla::Master, master)?],
    )
}

/// RTM_NEWADDR (`add`) or RTM_DELADDR for `addr/prefix_len` on the link with `index`.
pub fn address(add: bool, index: u32, addr: IpAddr, prefix_len: u8) -> Result<Vec<u8>, String> {
    let (family, octets) = match addr {
        IpAddr::V4(a) => (RtAddrFamily::Inet, a.octets().to_vec()),
        IpAddr::V6(a) => (RtAddrFamily::Inet6, a.octets().to_vec()),
    };
    let attrs: RtBuffer<Ifa, Buffer> = [
        rtattr(Ifa::Local, Buffer::from(octets.clone()))?,
        rtattr(Ifa::Address, Buffer::from(octets))?,
    ]
    .into_iter()
    .collect();
    let msg = IfaddrmsgBuilder::default()
        .ifa_family(family)
        .ifa_prefixlen(prefix_len)
        .ifa_scope(RtScope::Universe)
        .ifa_index(index)
        .rtattrs(attrs)
        .build()
        .map_err(|e| e.to_string())?;
    let (kind, flags) = if add {
        (Rtm::Newaddr, NlmF::ACK | NlmF::CREATE | NlmF::EXCL)
    } else {
        (Rtm::Deladdr, NlmF::ACK)
    };
    message(kind, flags, msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_bridge_has_the_uapi_layout() {
        let bytes = create_bridge("br1").expect("encodes");
        // nlmsghdr: RTM_NEWLINK (16), REQUEST|ACK|EXCL|CREATE.
        assert_eq!(&bytes[4..6], &16u16.to_ne_bytes());
        assert_eq!(&bytes[6..8], &(0x1u16 | 0x4 | 0x200 | 0x400).to_ne_bytes());
        // ifinfomsg: 16 bytes, all zero (family, type, index 0, flags, change).
        assert_eq!(&bytes[16..32], &[0; 16]);
        // IFLA_IFNAME (3) "br1" then IFLA_LINKINFO (18) { IFLA_INFO_KIND (1) "bridge" }.
        let attrs = &bytes[32..];
        assert_eq!(u16::from_ne_bytes([attrs[2], attrs[3]]), 3);
        assert_eq!(&attrs[4..7], b"br1");
        let next = (usize::from(u16::from_ne_bytes([attrs[0], attrs[1]])) + 3) & !3;
        let linkinfo = &attrs[next..];
        assert_eq!(u16::from_ne_bytes([linkinfo[2], linkinfo[3]]) & 0x3fff, 18);
        assert_eq!(u16::from_ne_bytes([linkinfo[6], linkinfo[7]]), 1);
        assert_eq!(&linkinfo[8..14], b"bridge");
        assert_eq!(
            u32::from_ne_bytes(bytes[0..4].try_into().expect("len")) as usize,
            bytes.len()
        );
    }

    #[test]
    fn the_link_dump_asks_the_kernel_to_skip_statistics() {
        let bytes = dump_links().expect("encodes");
        // nlmsghdr: length 40, RTM_GETLINK (18), REQUEST|DUMP; ifinfomsg all zero; then
        // IFLA_EXT_MASK (29) = RTEXT_FILTER_SKIP_STATS (8).
        assert_eq!(&bytes[0..4], &40u32.to_ne_bytes());
        assert_eq!(&bytes[4..6], &18u16.to_ne_bytes());
        assert_eq!(&bytes[6..8], &0x301u16.to_ne_bytes());
        assert_eq!(&bytes[16..32], &[0; 16]);
        assert_eq!(&bytes[32..36], &[8, 0, 29, 0]);
        assert_eq!(&bytes[36..40], &8u32.to_ne_bytes());
    }

    #[test]
    fn addresses_carry_family_prefix_index_and_both_address_attributes() {
        let bytes = address(true, 7, "10.0.0.1".parse().expect("ip"), 24).expect("encodes");
        assert_eq!(&bytes[4..6], &20u16.to_ne_bytes()); // RTM_NEWADDR
        assert_eq!(&bytes[16..24], &[2, 24, 0, 0, 7, 0, 0, 0]); // AF_INET, /24, index 7
        assert_eq!(&bytes[24..32], &[8, 0, 2, 0, 10, 0, 0, 1]); // IFA_LOCAL
        assert_eq!(&bytes[32..40], &[8, 0, 1, 0, 10, 0, 0, 1]); // IFA_ADDRESS
    }
}
