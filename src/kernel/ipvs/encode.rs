//! Requests to the IPVS family, built from the state model.

use super::consts::*;
use crate::kernel::netlink::{GenlWriter, NLM_F_ACK, NLM_F_DUMP};
use crate::state::ipvs::{Dest, DestKey, Family, Service, ServiceKey, flags};
use crate::state::sync::{SyncDaemon, SyncRole};
use std::net::IpAddr;

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
fn service_key_attrs(w: &mut GenlWriter, key: &ServiceKey) {
    w.put_u16(IPVS_SVC_ATTR_AF, af(key.family()));
    match key {
        ServiceKey::Tuple {
            protocol,
            addr,
            port,
        } => {
            w.put_u16(IPVS_SVC_ATTR_PROTOCOL, *protocol)
                .put(IPVS_SVC_ATTR_ADDR, &addr_bytes(*addr))
                .put(IPVS_SVC_ATTR_PORT, &port.to_be_bytes());
        }
        ServiceKey::Fwmark { mark, .. } => {
            w.put_u32(IPVS_SVC_ATTR_FWMARK, *mark);
        }
    }
}

fn service_key_attr(w: &mut GenlWriter, key: &ServiceKey) {
    let at = w.begin_nested(IPVS_CMD_ATTR_SERVICE);
    service_key_attrs(w, key);
    w.end_nested(at);
}

/// The full service, as NEW_SERVICE and SET_SERVICE need it.
fn service_attr(w: &mut GenlWriter, service: &Service) {
    let at = w.begin_nested(IPVS_CMD_ATTR_SERVICE);
    service_key_attrs(w, &service.key);
    w.put_str(IPVS_SVC_ATTR_SCHED_NAME, &service.scheduler);
    // struct ip_vs_flags { flags, mask }: every bit but HASHED is ours to set.
    let mut flag_bytes = [0u8; 8];
    flag_bytes[..4].copy_from_slice(&(service.flags & !flags::HASHED).to_ne_bytes());
    flag_bytes[4..].copy_from_slice(&(!flags::HASHED).to_ne_bytes());
    w.put(IPVS_SVC_ATTR_FLAGS, &flag_bytes)
        .put_u32(IPVS_SVC_ATTR_TIMEOUT, service.timeout);
    // IPv4: a netmask in network order; IPv6: a prefix length as a plain u32.
    let netmask = match service.key.family() {
        Family::V4 => service.netmask.to_be_bytes(),
        Family::V6 => service.netmask.to_ne_bytes(),
    };
    w.put(IPVS_SVC_ATTR_NETMASK, &netmask);
    if let Some(pe) = &service.pe_name {
        w.put_str(IPVS_SVC_ATTR_PE_NAME, pe);
    }
    w.end_nested(at);
}

fn dest_key_attrs(w: &mut GenlWriter, key: &DestKey) {
    w.put(IPVS_DEST_ATTR_ADDR, &addr_bytes(key.addr))
        .put(IPVS_DEST_ATTR_PORT, &key.port.to_be_bytes())
        .put_u16(IPVS_DEST_ATTR_ADDR_FAMILY, af(Family::of(key.addr)));
}

fn dest_attr(w: &mut GenlWriter, dest: &Dest) {
    let at = w.begin_nested(IPVS_CMD_ATTR_DEST);
    dest_key_attrs(w, &dest.key);
    w.put_u32(IPVS_DEST_ATTR_FWD_METHOD, dest.method.to_kernel())
        .put_u32(IPVS_DEST_ATTR_WEIGHT, dest.weight)
        .put_u32(IPVS_DEST_ATTR_U_THRESH, dest.upper_threshold)
        .put_u32(IPVS_DEST_ATTR_L_THRESH, dest.lower_threshold);
    if let Some(t) = dest.tunnel {
        w.put(IPVS_DEST_ATTR_TUN_TYPE, &[t.kind.to_kernel()])
            .put(IPVS_DEST_ATTR_TUN_PORT, &t.port.to_be_bytes())
            .put_u16(IPVS_DEST_ATTR_TUN_FLAGS, t.flags);
    }
    w.end_nested(at);
}

/// A request with the attributes `body` writes.
fn request(
    family: u16,
    flags: u16,
    cmd: u8,
    body: impl FnOnce(&mut GenlWriter),
) -> Result<Vec<u8>, String> {
    let mut w = GenlWriter::new(family, flags, cmd, IPVS_GENL_VERSION);
    body(&mut w);
    w.finish()
}

pub fn get_info(family: u16) -> Result<Vec<u8>, String> {
    request(family, NLM_F_ACK, IPVS_CMD_GET_INFO, |_| {})
}

pub fn get_config(family: u16) -> Result<Vec<u8>, String> {
    request(family, NLM_F_ACK, IPVS_CMD_GET_CONFIG, |_| {})
}

pub fn dump_services(family: u16) -> Result<Vec<u8>, String> {
    request(family, NLM_F_DUMP, IPVS_CMD_GET_SERVICE, |_| {})
}

/// GET_SERVICE for one service (ESRCH when there is none).
pub fn get_service(family: u16, key: &ServiceKey) -> Result<Vec<u8>, String> {
    request(family, NLM_F_ACK, IPVS_CMD_GET_SERVICE, |w| {
        service_key_attr(w, key)
    })
}

pub fn dump_dests(family: u16, key: &ServiceKey) -> Result<Vec<u8>, String> {
    request(family, NLM_F_DUMP, IPVS_CMD_GET_DEST, |w| {
        service_key_attr(w, key)
    })
}

pub fn new_service(family: u16, service: &Service) -> Result<Vec<u8>, String> {
    request(family, NLM_F_ACK, IPVS_CMD_NEW_SERVICE, |w| {
        service_attr(w, service)
    })
}

pub fn set_service(family: u16, service: &Service) -> Result<Vec<u8>, String> {
    request(family, NLM_F_ACK, IPVS_CMD_SET_SERVICE, |w| {
        service_attr(w, service)
    })
}

pub fn del_service(family: u16, key: &ServiceKey) -> Result<Vec<u8>, String> {
    request(family, NLM_F_ACK, IPVS_CMD_DEL_SERVICE, |w| {
        service_key_attr(w, key)
    })
}

pub fn new_dest(family: u16, service: &ServiceKey, dest: &Dest) -> Result<Vec<u8>, String> {
    request(family, NLM_F_ACK, IPVS_CMD_NEW_DEST, |w| {
        service_key_attr(w, service);
        dest_attr(w, dest);
    })
}

pub fn set_dest(family: u16, service: &ServiceKey, dest: &Dest) -> Result<Vec<u8>, String> {
    request(family, NLM_F_ACK, IPVS_CMD_SET_DEST, |w| {
        service_key_attr(w, service);
        dest_attr(w, dest);
    })
}

pub fn del_dest(family: u16, service: &ServiceKey, dest: &DestKey) -> Result<Vec<u8>, String> {
    request(family, NLM_F_ACK, IPVS_CMD_DEL_DEST, |w| {
        service_key_attr(w, service);
        let at = w.begin_nested(IPVS_CMD_ATTR_DEST);
        dest_key_attrs(w, dest);
        w.end_nested(at);
    })
}

pub fn dump_daemons(family: u16) -> Result<Vec<u8>, String> {
    request(family, NLM_F_DUMP, IPVS_CMD_GET_DAEMON, |_| {})
}

/// NEW_DAEMON: state, interface and sync id always; the rest only when given, so that the
/// kernel fills in its defaults.
pub fn new_daemon(family: u16, d: &SyncDaemon) -> Result<Vec<u8>, String> {
    request(family, NLM_F_ACK, IPVS_CMD_NEW_DAEMON, |w| {
        let at = w.begin_nested(IPVS_CMD_ATTR_DAEMON);
        w.put_u32(IPVS_DAEMON_ATTR_STATE, d.role.to_kernel())
            .put_str(IPVS_DAEMON_ATTR_MCAST_IFN, &d.interface)
            .put_u32(IPVS_DAEMON_ATTR_SYNC_ID, d.sync_id);
        if let Some(len) = d.max_len {
            w.put_u16(IPVS_DAEMON_ATTR_SYNC_MAXLEN, len);
        }
        match d.group {
            Some(IpAddr::V4(g)) => {
                w.put(IPVS_DAEMON_ATTR_MCAST_GROUP, &g.octets());
            }
            Some(IpAddr::V6(g)) => {
                w.put(IPVS_DAEMON_ATTR_MCAST_GROUP6, &g.octets());
            }
            None => {}
        }
        // The kernel reads the port as a plain u16 (host order), unlike service ports.
        if let Some(port) = d.port {
            w.put_u16(IPVS_DAEMON_ATTR_MCAST_PORT, port);
        }
        if let Some(ttl) = d.ttl {
            w.put(IPVS_DAEMON_ATTR_MCAST_TTL, &[ttl]);
        }
        w.end_nested(at);
    })
}

pub fn del_daemon(family: u16, role: SyncRole) -> Result<Vec<u8>, String> {
    request(family, NLM_F_ACK, IPVS_CMD_DEL_DAEMON, |w| {
        let at = w.begin_nested(IPVS_CMD_ATTR_DAEMON);
        w.put_u32(IPVS_DAEMON_ATTR_STATE, role.to_kernel());
        w.end_nested(at);
    })
}
