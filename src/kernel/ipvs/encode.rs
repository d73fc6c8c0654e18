//! Requests to the IPVS family, built from the state model with neli.

use super::consts::*;
use crate::kernel::netlink::{attr, encode_request, nested};
use crate::state::ipvs::{Dest, DestKey, Family, Service, ServiceKey, flags};
use neli::consts::nl::NlmF;
use neli::genl::Nlattr;
use neli::types::Buffer;
use std::net::IpAddr;

type Attr = Nlattr<u16, Buffer>;

fn af(family: Family) -> u16 {
    match family {
        Family::V4 => AF_INET,
        Family::V6 => AF_INET6,
    }
}

/// Addresses go out as 16 bytes (IPv4 in the first 4), as libipvs sends them.
fn addr_bytes(addr: IpAddr) -> [u8; 16] {
    let mut out = [0u8; 16];
    match addr {
        IpAddr::V4(a) => out[..4].copy_from_slice(&a.octets()),
        IpAddr::V6(a) => out.copy_from_slice(&a.octets()),
    }
    out
}

/// The attributes that identify a service.
fn service_key_attrs(key: &ServiceKey) -> Result<Vec<Attr>, String> {
    let mut attrs = vec![attr(IPVS_SVC_ATTR_AF, af(key.family()))?];
    match key {
        ServiceKey::Tuple {
            protocol,
            addr,
            port,
        } => {
            attrs.push(attr(IPVS_SVC_ATTR_PROTOCOL, *protocol)?);
            attrs.push(attr(IPVS_SVC_ATTR_ADDR, addr_bytes(*addr))?);
            attrs.push(attr(IPVS_SVC_ATTR_PORT, port.to_be_bytes())?);
        }
        ServiceKey::Fwmark { mark, .. } => attrs.push(attr(IPVS_SVC_ATTR_FWMARK, *mark)?),
    }
    Ok(attrs)
}

fn service_key_attr(key: &ServiceKey) -> Result<Attr, String> {
    nested(IPVS_CMD_ATTR_SERVICE, &service_key_attrs(key)?)
}

/// The full service, as NEW_SERVICE and SET_SERVICE need it.
fn service_attr(service: &Service) -> Result<Attr, String> {
    let mut attrs = service_key_attrs(&service.key)?;
    attrs.push(attr(IPVS_SVC_ATTR_SCHED_NAME, service.scheduler.as_str())?);
    // struct ip_vs_flags { flags, mask }: every bit but HASHED is ours to set.
    let mut flag_bytes = [0u8; 8];
    flag_bytes[..4].copy_from_slice(&(service.flags & !flags::HASHED).to_ne_bytes());
    flag_bytes[4..].copy_from_slice(&(!flags::HASHED).to_ne_bytes());
    attrs.push(attr(IPVS_SVC_ATTR_FLAGS, flag_bytes)?);
    attrs.push(attr(IPVS_SVC_ATTR_TIMEOUT, service.timeout)?);
    // IPv4: a netmask in network order; IPv6: a prefix length as a plain u32.
    let netmask = match service.key.family() {
        Family::V4 => service.netmask.to_be_bytes(),
        Family::V6 => service.netmask.to_ne_bytes(),
    };
    attrs.push(attr(IPVS_SVC_ATTR_NETMASK, netmask)?);
    if let Some(pe) = &service.pe_name {
        attrs.push(attr(IPVS_SVC_ATTR_PE_NAME, pe.as_str())?);
    }
    nested(IPVS_CMD_ATTR_SERVICE, &attrs)
}

fn dest_key_attrs(key: &DestKey) -> Result<Vec<Attr>, String> {
    Ok(vec![
        attr(IPVS_DEST_ATTR_ADDR, addr_bytes(key.addr))?,
        attr(IPVS_DEST_ATTR_PORT, key.port.to_be_bytes())?,
        attr(IPVS_DEST_ATTR_ADDR_FAMILY, af(Family::of(key.addr)))?,
    ])
}

fn dest_attr(dest: &Dest) -> Result<Attr, String> {
    let mut attrs = dest_key_attrs(&dest.key)?;
    attrs.push(attr(IPVS_DEST_ATTR_FWD_METHOD, dest.method.to_kernel())?);
    attrs.push(attr(IPVS_DEST_ATTR_WEIGHT, dest.weight)?);
    attrs.push(attr(IPVS_DEST_ATTR_U_THRESH, dest.upper_threshold)?);
    attrs.push(attr(IPVS_DEST_ATTR_L_THRESH, dest.lower_threshold)?);
    if let Some(t) = dest.tunnel {
        attrs.push(attr(IPVS_DEST_ATTR_TUN_TYPE, t.kind.to_kernel())?);
        attrs.push(attr(IPVS_DEST_ATTR_TUN_PORT, t.port.to_be_bytes())?);
        attrs.push(attr(IPVS_DEST_ATTR_TUN_FLAGS, t.flags)?);
    }
    nested(IPVS_CMD_ATTR_DEST, &attrs)
}

fn request(family: u16, flags: NlmF, cmd: u8, attrs: Vec<Attr>) -> Result<Vec<u8>, String> {
    encode_request(family, flags, 0, cmd, IPVS_GENL_VERSION, attrs)
}

pub fn get_info(family: u16) -> Result<Vec<u8>, String> {
    request(family, NlmF::ACK, IPVS_CMD_GET_INFO, vec![])
}

pub fn get_config(family: u16) -> Result<Vec<u8>, String> {
    request(family, NlmF::ACK, IPVS_CMD_GET_CONFIG, vec![])
}

pub fn dump_services(family: u16) -> Result<Vec<u8>, String> {
    request(family, NlmF::DUMP, IPVS_CMD_GET_SERVICE, vec![])
}

/// GET_SERVICE for one service (ESRCH when there is none).
pub fn get_service(family: u16, key: &ServiceKey) -> Result<Vec<u8>, String> {
    request(
        family,
        NlmF::ACK,
        IPVS_CMD_GET_SERVICE,
        vec![service_key_attr(key)?],
    )
}

pub fn dump_dests(family: u16, key: &ServiceKey) -> Result<Vec<u8>, String> {
    request(
        family,
        NlmF::DUMP,
        IPVS_CMD_GET_DEST,
        vec![service_key_attr(key)?],
    )
}

pub fn new_service(family: u16, service: &Service) -> Result<Vec<u8>, String> {
    request(
        family,
        NlmF::ACK,
        IPVS_CMD_NEW_SERVICE,
        vec![service_attr(service)?],
    )
}

pub fn set_service(family: u16, service: &Service) -> Result<Vec<u8>, String> {
    request(
        family,
        NlmF::ACK,
        IPVS_CMD_SET_SERVICE,
        vec![service_attr(service)?],
    )
}

pub fn del_service(family: u16, key: &ServiceKey) -> Result<Vec<u8>, String> {
    request(
        family,
        NlmF::ACK,
        IPVS_CMD_DEL_SERVICE,
        vec![service_key_attr(key)?],
    )
}

pub fn new_dest(family: u16, service: &ServiceKey, dest: &Dest) -> Result<Vec<u8>, String> {
    request(
        family,
        NlmF::ACK,
        IPVS_CMD_NEW_DEST,
        vec![service_key_attr(service)?, dest_attr(dest)?],
    )
}

pub fn set_dest(family: u16, service: &ServiceKey, dest: &Dest) -> Result<Vec<u8>, String> {
    request(
        family,
        NlmF::ACK,
        IPVS_CMD_SET_DEST,
        vec![service_key_attr(service)?, dest_attr(dest)?],
    )
}

pub fn del_dest(family: u16, service: &ServiceKey, dest: &DestKey) -> Result<Vec<u8>, String> {
    let inner = nested(IPVS_CMD_ATTR_DEST, &dest_key_attrs(dest)?)?;
    request(
        family,
        NlmF::ACK,
        IPVS_CMD_DEL_DEST,
        vec![service_key_attr(service)?, inner],
    )
}

pub fn flush(family: u16) -> Result<Vec<u8>, String> {
    request(family, NlmF::ACK, IPVS_CMD_FLUSH, vec![])
}

pub fn zero(family: u16, service: Option<&ServiceKey>) -> Result<Vec<u8>, String> {
    let attrs = match service {
        Some(key) => vec![service_key_attr(key)?],
        None => vec![],
    };
    request(family, NlmF::ACK, IPVS_CMD_ZERO, attrs)
}

pub fn set_config(family: u16, tcp: u32, tcp_fin: u32, udp: u32) -> Result<Vec<u8>, String> {
    request(
        family,
        NlmF::ACK,
        IPVS_CMD_SET_CONFIG,
        vec![
            attr(IPVS_CMD_ATTR_TIMEOUT_TCP, tcp)?,
            attr(IPVS_CMD_ATTR_TIMEOUT_TCP_FIN, tcp_fin)?,
            attr(IPVS_CMD_ATTR_TIMEOUT_UDP, udp)?,
        ],
    )
}
