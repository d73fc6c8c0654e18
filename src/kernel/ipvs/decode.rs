//! Kernel replies to the state model. Unknown attributes are skipped; a missing or
//! malformed one that we need is an error naming it, never a panic.

use super::consts::*;
use crate::kernel::netlink::{attr_string, attributes};
use crate::state::ipvs::{
    Dest, DestCounters, DestEntry, DestKey, Family, Method, Service, ServiceEntry, ServiceKey,
    Stats, Tunnel, TunnelType, flags,
};
use crate::state::sync::{SyncDaemon, SyncRole};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The attributes of one record (or nested attribute), by type; the last one wins. IPVS
/// attribute types are small numbers (15 at most in 6.x); larger ones, from newer kernels,
/// are skipped.
struct Attrs<'a>([Option<&'a [u8]>; 16]);

impl<'a> Attrs<'a> {
    fn parse(buf: &'a [u8]) -> Result<Self, String> {
        let mut table = [None; 16];
        for a in attributes(buf) {
            let (kind, payload) = a?;
            if let Some(slot) = table.get_mut(usize::from(kind)) {
                *slot = Some(payload);
            }
        }
        Ok(Attrs(table))
    }

    fn get(&self, kind: u16) -> Option<&'a [u8]> {
        self.0.get(usize::from(kind)).copied().flatten()
    }

    fn required(&self, kind: u16, name: &str) -> Result<&'a [u8], String> {
        self.get(kind).ok_or_else(|| format!("missing {name}"))
    }

    /// An optional u32 attribute: 0 when absent.
    fn u32_or_0(&self, kind: u16, name: &str) -> Result<u32, String> {
        self.get(kind).map_or(Ok(0), |p| u32_of(p, name))
    }
}

/// The first `N` bytes of an attribute, or an error naming it when it is shorter.
fn bytes<const N: usize>(payload: &[u8], name: &str) -> Result<[u8; N], String> {
    payload
        .first_chunk::<N>()
        .copied()
        .ok_or_else(|| format!("invalid {name}"))
}

fn u16_of(payload: &[u8], name: &str) -> Result<u16, String> {
    bytes(payload, name).map(u16::from_ne_bytes)
}

fn be16_of(payload: &[u8], name: &str) -> Result<u16, String> {
    bytes(payload, name).map(u16::from_be_bytes)
}

fn u32_of(payload: &[u8], name: &str) -> Result<u32, String> {
    bytes(payload, name).map(u32::from_ne_bytes)
}

/// A counter: u64 in STATS64, u32 in the older STATS; anything shorter reads as 0.
fn u64_of(payload: &[u8]) -> u64 {
    bytes(payload, "")
        .map(u64::from_ne_bytes)
        .or_else(|_| u32_of(payload, "").map(u64::from))
        .unwrap_or(0)
}

fn family_of(af: u16) -> Result<Family, String> {
    match af {
        AF_INET => Ok(Family::V4),
        AF_INET6 => Ok(Family::V6),
        other => Err(format!("unknown address family {other}")),
    }
}

fn addr_of(payload: &[u8], family: Family, name: &str) -> Result<IpAddr, String> {
    match family {
        Family::V4 => Ok(IpAddr::V4(Ipv4Addr::from(bytes::<4>(payload, name)?))),
        Family::V6 => Ok(IpAddr::V6(Ipv6Addr::from(bytes::<16>(payload, name)?))),
    }
}

/// The statistics (the 64-bit attribute, else the older 32-bit one), when `wanted` and sent.
fn stats_of(
    map: &Attrs<'_>,
    stats: u16,
    stats64: u16,
    wanted: bool,
) -> Result<Option<Box<Stats>>, String> {
    if !wanted {
        return Ok(None);
    }
    let Some(payload) = map.get(stats64).or_else(|| map.get(stats)) else {
        return Ok(None);
    };
    let s = Attrs::parse(payload)?;
    let get = |k| s.get(k).map_or(0, u64_of);
    Ok(Some(Box::new(Stats {
        conns: get(IPVS_STATS_ATTR_CONNS),
        in_packets: get(IPVS_STATS_ATTR_INPKTS),
        out_packets: get(IPVS_STATS_ATTR_OUTPKTS),
        in_bytes: get(IPVS_STATS_ATTR_INBYTES),
        out_bytes: get(IPVS_STATS_ATTR_OUTBYTES),
        cps: get(IPVS_STATS_ATTR_CPS),
        in_pps: get(IPVS_STATS_ATTR_INPPS),
        out_pps: get(IPVS_STATS_ATTR_OUTPPS),
        in_bps: get(IPVS_STATS_ATTR_INBPS),
        out_bps: get(IPVS_STATS_ATTR_OUTBPS),
    })))
}

/// A NEW_SERVICE record of a GET_SERVICE dump (its attributes); its statistics only when
/// `stats` (only `show` prints them).
pub fn service(record: &[u8], stats: bool) -> Result<ServiceEntry, String> {
    let outer = Attrs::parse(record)?;
    let svc = Attrs::parse(outer.required(IPVS_CMD_ATTR_SERVICE, "IPVS_CMD_ATTR_SERVICE")?)?;
    let family = family_of(u16_of(
        svc.required(IPVS_SVC_ATTR_AF, "IPVS_SVC_ATTR_AF")?,
        "IPVS_SVC_ATTR_AF",
    )?)?;
    let fwmark = match svc.get(IPVS_SVC_ATTR_FWMARK) {
        Some(p) => u32_of(p, "IPVS_SVC_ATTR_FWMARK")?,
        None => 0,
    };
    let key = if fwmark != 0 {
        ServiceKey::Fwmark {
            family,
            mark: fwmark,
        }
    } else {
        ServiceKey::Tuple {
            protocol: u16_of(
                svc.required(IPVS_SVC_ATTR_PROTOCOL, "IPVS_SVC_ATTR_PROTOCOL")?,
                "IPVS_SVC_ATTR_PROTOCOL",
            )?,
            addr: addr_of(
                svc.required(IPVS_SVC_ATTR_ADDR, "IPVS_SVC_ATTR_ADDR")?,
                family,
                "IPVS_SVC_ATTR_ADDR",
            )?,
            port: be16_of(
                svc.required(IPVS_SVC_ATTR_PORT, "IPVS_SVC_ATTR_PORT")?,
                "IPVS_SVC_ATTR_PORT",
            )?,
        }
    };
    let flag_bits = match svc.get(IPVS_SVC_ATTR_FLAGS) {
        Some(p) => u32_of(p, "IPVS_SVC_ATTR_FLAGS")? & !flags::HASHED,
        None => 0,
    };
    let netmask = match svc.get(IPVS_SVC_ATTR_NETMASK) {
        Some(p) => {
            let raw = bytes::<4>(p, "IPVS_SVC_ATTR_NETMASK")?;
            match family {
                Family::V4 => u32::from_be_bytes(raw),
                Family::V6 => u32::from_ne_bytes(raw),
            }
        }
        None => crate::state::ipvs::default_netmask(family),
    };
    let service = Service {
        key,
        scheduler: svc
            .get(IPVS_SVC_ATTR_SCHED_NAME)
            .map(|p| attr_string(p).into_owned())
            .unwrap_or_default(),
        flags: flag_bits,
        timeout: svc.u32_or_0(IPVS_SVC_ATTR_TIMEOUT, "IPVS_SVC_ATTR_TIMEOUT")?,
        netmask,
        pe_name: svc
            .get(IPVS_SVC_ATTR_PE_NAME)
            .map(|p| attr_string(p).into_owned())
            .filter(|s| !s.is_empty()),
    };
    Ok(ServiceEntry {
        service,
        stats: stats_of(&svc, IPVS_SVC_ATTR_STATS, IPVS_SVC_ATTR_STATS64, stats)?,
        dests: Default::default(),
    })
}

/// A NEW_DEST record of a GET_DEST dump, for a service of `service_family`; its statistics
/// only when `stats`.
pub fn dest(record: &[u8], service_family: Family, stats: bool) -> Result<DestEntry, String> {
    let outer = Attrs::parse(record)?;
    let d = Attrs::parse(outer.required(IPVS_CMD_ATTR_DEST, "IPVS_CMD_ATTR_DEST")?)?;
    let family = match d.get(IPVS_DEST_ATTR_ADDR_FAMILY) {
        Some(p) => family_of(u16_of(p, "IPVS_DEST_ATTR_ADDR_FAMILY")?)?,
        None => service_family,
    };
    let key = DestKey {
        addr: addr_of(
            d.required(IPVS_DEST_ATTR_ADDR, "IPVS_DEST_ATTR_ADDR")?,
            family,
            "IPVS_DEST_ATTR_ADDR",
        )?,
        port: be16_of(
            d.required(IPVS_DEST_ATTR_PORT, "IPVS_DEST_ATTR_PORT")?,
            "IPVS_DEST_ATTR_PORT",
        )?,
    };
    let raw_method = u32_of(
        d.required(IPVS_DEST_ATTR_FWD_METHOD, "IPVS_DEST_ATTR_FWD_METHOD")?,
        "IPVS_DEST_ATTR_FWD_METHOD",
    )?;
    let method = Method::from_kernel(raw_method)
        .ok_or_else(|| format!("unknown forwarding method {raw_method}"))?;
    let tunnel = if method == Method::Tunnel {
        let kind = d
            .get(IPVS_DEST_ATTR_TUN_TYPE)
            .and_then(|p| p.first().copied())
            .unwrap_or(0);
        Some(Tunnel {
            kind: TunnelType::from_kernel(kind)
                .ok_or_else(|| format!("unknown tunnel type {kind}"))?,
            port: d
                .get(IPVS_DEST_ATTR_TUN_PORT)
                .map_or(Ok(0), |p| be16_of(p, "IPVS_DEST_ATTR_TUN_PORT"))?,
            flags: d
                .get(IPVS_DEST_ATTR_TUN_FLAGS)
                .map_or(Ok(0), |p| u16_of(p, "IPVS_DEST_ATTR_TUN_FLAGS"))?,
        })
    } else {
        None
    };
    Ok(DestEntry {
        dest: Dest {
            key,
            method,
            weight: d.u32_or_0(IPVS_DEST_ATTR_WEIGHT, "IPVS_DEST_ATTR_WEIGHT")?,
            upper_threshold: d.u32_or_0(IPVS_DEST_ATTR_U_THRESH, "IPVS_DEST_ATTR_U_THRESH")?,
            lower_threshold: d.u32_or_0(IPVS_DEST_ATTR_L_THRESH, "IPVS_DEST_ATTR_L_THRESH")?,
            tunnel,
        },
        counters: DestCounters {
            active_conns: d.u32_or_0(IPVS_DEST_ATTR_ACTIVE_CONNS, "IPVS_DEST_ATTR_ACTIVE_CONNS")?,
            inactive_conns: d.u32_or_0(IPVS_DEST_ATTR_INACT_CONNS, "IPVS_DEST_ATTR_INACT_CONNS")?,
            persistent_conns: d
                .u32_or_0(IPVS_DEST_ATTR_PERSIST_CONNS, "IPVS_DEST_ATTR_PERSIST_CONNS")?,
        },
        stats: stats_of(&d, IPVS_DEST_ATTR_STATS, IPVS_DEST_ATTR_STATS64, stats)?,
    })
}

/// GET_INFO's reply: (version, connection table size).
pub fn info(record: &[u8]) -> Result<(u32, u32), String> {
    let top = Attrs::parse(record)?;
    Ok((
        u32_of(
            top.required(IPVS_INFO_ATTR_VERSION, "IPVS_INFO_ATTR_VERSION")?,
            "IPVS_INFO_ATTR_VERSION",
        )?,
        u32_of(
            top.required(IPVS_INFO_ATTR_CONN_TAB_SIZE, "IPVS_INFO_ATTR_CONN_TAB_SIZE")?,
            "IPVS_INFO_ATTR_CONN_TAB_SIZE",
        )?,
    ))
}

/// A record of a GET_DAEMON dump: one running sync daemon.
pub fn daemon(record: &[u8]) -> Result<SyncDaemon, String> {
    let outer = Attrs::parse(record)?;
    let d = Attrs::parse(outer.required(IPVS_CMD_ATTR_DAEMON, "IPVS_CMD_ATTR_DAEMON")?)?;
    let state = u32_of(
        d.required(IPVS_DAEMON_ATTR_STATE, "IPVS_DAEMON_ATTR_STATE")?,
        "IPVS_DAEMON_ATTR_STATE",
    )?;
    let role =
        SyncRole::from_kernel(state).ok_or_else(|| format!("unknown sync daemon state {state}"))?;
    let group = match (
        d.get(IPVS_DAEMON_ATTR_MCAST_GROUP),
        d.get(IPVS_DAEMON_ATTR_MCAST_GROUP6),
    ) {
        (_, Some(p)) => Some(IpAddr::V6(Ipv6Addr::from(bytes::<16>(
            p,
            "IPVS_DAEMON_ATTR_MCAST_GROUP6",
        )?))),
        (Some(p), None) => Some(IpAddr::V4(Ipv4Addr::from(bytes::<4>(
            p,
            "IPVS_DAEMON_ATTR_MCAST_GROUP",
        )?))),
        (None, None) => None,
    };
    Ok(SyncDaemon {
        role,
        interface: attr_string(
            d.required(IPVS_DAEMON_ATTR_MCAST_IFN, "IPVS_DAEMON_ATTR_MCAST_IFN")?,
        )
        .into_owned(),
        sync_id: u32_of(
            d.required(IPVS_DAEMON_ATTR_SYNC_ID, "IPVS_DAEMON_ATTR_SYNC_ID")?,
            "IPVS_DAEMON_ATTR_SYNC_ID",
        )?,
        // Kernels before 4.3 report only the three above.
        max_len: d
            .get(IPVS_DAEMON_ATTR_SYNC_MAXLEN)
            .map(|p| u16_of(p, "IPVS_DAEMON_ATTR_SYNC_MAXLEN"))
            .transpose()?,
        group,
        port: d
            .get(IPVS_DAEMON_ATTR_MCAST_PORT)
            .map(|p| u16_of(p, "IPVS_DAEMON_ATTR_MCAST_PORT"))
            .transpose()?,
        ttl: d
            .get(IPVS_DAEMON_ATTR_MCAST_TTL)
            .map(|p| bytes::<1>(p, "IPVS_DAEMON_ATTR_MCAST_TTL").map(|b| b[0]))
            .transpose()?,
    })
}

/// GET_CONFIG's reply: (tcp, tcp_fin, udp) timeouts in seconds.
pub fn config(record: &[u8]) -> Result<(u32, u32, u32), String> {
    let top = Attrs::parse(record)?;
    let get = |k, name| top.u32_or_0(k, name);
    Ok((
        get(IPVS_CMD_ATTR_TIMEOUT_TCP, "IPVS_CMD_ATTR_TIMEOUT_TCP")?,
        get(
            IPVS_CMD_ATTR_TIMEOUT_TCP_FIN,
            "IPVS_CMD_ATTR_TIMEOUT_TCP_FIN",
        )?,
        get(IPVS_CMD_ATTR_TIMEOUT_UDP, "IPVS_CMD_ATTR_TIMEOUT_UDP")?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::ipvs::IPPROTO_TCP;

    /// NEW_DAEMON's nested attributes are laid out as GET_DAEMON's replies are.
    #[test]
    fn a_sync_daemon_round_trips_through_the_wire_format() {
        for group in ["224.0.0.81", "ff02::8:81"] {
            let d = SyncDaemon {
                role: SyncRole::Backup,
                interface: "br1".into(),
                sync_id: 51,
                max_len: Some(1400),
                group: Some(group.parse().expect("ip")),
                port: Some(8849),
                ttl: Some(3),
            };
            let request = super::super::encode::new_daemon(7, &d).expect("encode");
            // netlink header (16) + genl header (4)
            assert_eq!(daemon(&request[20..]), Ok(d));
        }
        let bare = SyncDaemon {
            role: SyncRole::Master,
            interface: "eth0".into(),
            sync_id: 0,
            max_len: None,
            group: None,
            port: None,
            ttl: None,
        };
        let request = super::super::encode::new_daemon(7, &bare).expect("encode");
        assert_eq!(daemon(&request[20..]), Ok(bare));
        assert!(
            daemon(&[]).is_err(),
            "a record without the nest is an error"
        );
    }

    /// A service request as we encode it is also what the kernel's replies look like (the
    /// uapi layout is the same both ways), so encode → decode must round-trip.
    #[test]
    fn service_round_trips_through_the_wire_format() {
        let mut svc = Service::new(
            ServiceKey::Tuple {
                protocol: IPPROTO_TCP,
                addr: "203.0.113.10".parse().expect("ip"),
                port: 2222,
            },
            "rr",
        );
        svc.flags = flags::PERSISTENT | flags::SCHED1;
        svc.timeout = 300;
        svc.netmask = 0xffff_ff00;
        let bytes = super::super::encode::new_service(0x20, &svc).expect("encodes");
        let entry = service(&bytes[20..], true).expect("decodes");
        assert_eq!(entry.service, svc);
    }

    #[test]
    fn ipv6_fwmark_and_dest_round_trip() {
        let key = ServiceKey::Fwmark {
            family: Family::V6,
            mark: 7,
        };
        let mut svc = Service::new(key, "wrr");
        svc.netmask = 64;
        let bytes = super::super::encode::new_service(0x20, &svc).expect("encodes");
        assert_eq!(service(&bytes[20..], true).expect("decodes").service, svc);

        let d = Dest {
            key: DestKey {
                addr: "fd00::4".parse().expect("ip"),
                port: 443,
            },
            method: Method::Tunnel,
            weight: 3,
            upper_threshold: 10,
            lower_threshold: 5,
            tunnel: Some(Tunnel {
                kind: TunnelType::Gue,
                port: 6080,
                flags: 1,
            }),
        };
        let bytes = super::super::encode::new_dest(0x20, &key, &d).expect("encodes");
        assert_eq!(
            dest(&bytes[20..], Family::V6, true).expect("decodes").dest,
            d
        );
    }

    /// A destination as a GET_DEST dump sends it, with 64-bit statistics.
    fn dest_record_with_stats() -> Vec<u8> {
        let mut w = crate::kernel::netlink::GenlWriter::new(0x20, 0, IPVS_CMD_NEW_DEST, 1);
        let d = w.begin_nested(IPVS_CMD_ATTR_DEST);
        w.put(IPVS_DEST_ATTR_ADDR, &[10, 0, 0, 2]);
        w.put(IPVS_DEST_ATTR_PORT, &22u16.to_be_bytes());
        w.put_u32(IPVS_DEST_ATTR_FWD_METHOD, 0);
        w.put_u32(IPVS_DEST_ATTR_WEIGHT, 1);
        w.put_u32(IPVS_DEST_ATTR_ACTIVE_CONNS, 2);
        let s = w.begin_nested(IPVS_DEST_ATTR_STATS64);
        w.put(IPVS_STATS_ATTR_CONNS, &7u64.to_ne_bytes());
        w.put(IPVS_STATS_ATTR_INBYTES, &(5u64 << 32).to_ne_bytes());
        w.end_nested(s);
        w.end_nested(d);
        w.finish().expect("encodes")[20..].to_vec()
    }

    #[test]
    fn statistics_are_decoded_only_when_asked_for() {
        let record = dest_record_with_stats();
        let with = dest(&record, Family::V4, true).expect("decodes");
        let stats = with.stats.expect("statistics asked for");
        assert_eq!(
            (stats.conns, stats.in_bytes, stats.out_bytes),
            (7, 5 << 32, 0)
        );
        assert_eq!(with.counters.active_conns, 2);
        let without = dest(&record, Family::V4, false).expect("decodes");
        assert_eq!(without.stats, None);
        assert_eq!((without.dest, without.counters), (with.dest, with.counters));
    }

    #[test]
    fn malformed_attributes_are_errors_naming_their_place() {
        assert_eq!(
            service(&[9, 0, 1, 0, 1], false).expect_err("overrun"),
            "attribute length 9 at offset 0 overruns 5 bytes"
        );
        // A good attribute (8 bytes), then one claiming 2 bytes, shorter than its header.
        let record = [8, 0, 9, 0, 1, 2, 3, 4, 2, 0, 1, 0];
        assert_eq!(
            dest(&record, Family::V4, false).expect_err("too short"),
            "attribute length 2 at offset 8 overruns 12 bytes"
        );
        // Trailing bytes shorter than a header are ignored, as the kernel's nla_for_each does.
        assert_eq!(
            dest(&[1, 2, 3], Family::V4, false).expect_err("nothing"),
            "missing IPVS_CMD_ATTR_DEST"
        );
    }

    #[test]
    fn missing_attributes_are_named() {
        assert_eq!(
            service(&[], false).expect_err("empty"),
            "missing IPVS_CMD_ATTR_SERVICE"
        );
        // SERVICE containing only AF=2 (a tuple service without protocol).
        let record = [12, 0, 1, 0x80, 6, 0, 1, 0, 2, 0, 0, 0];
        assert_eq!(
            service(&record, false).expect_err("partial"),
            "missing IPVS_SVC_ATTR_PROTOCOL"
        );
    }
}
