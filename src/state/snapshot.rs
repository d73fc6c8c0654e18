//! The snapshot format: a whole IPVS table as JSON (`portfwd show --json`, and what
//! `plan --from` reads). Stable and documented in docs/snapshot.md; `format_version` changes
//! only when a reader must change.

use super::ipvs::{
    Dest, DestCounters, DestEntry, DestKey, Family, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, Method,
    Service, ServiceEntry, ServiceKey, Stats, Table, Timeouts, Tunnel, TunnelType, flags,
    protocol_name,
};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr};

pub const FORMAT_VERSION: &str = "1";

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    pub format_version: String,
    /// Connection timeouts in seconds (`ipvsadm -L --timeout`), when they were read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeouts: Option<Timeouts>,
    pub services: Vec<SnapshotService>,
    /// The running connection sync daemons, when they were read (a plan against a snapshot
    /// does not use them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sync_daemons: Vec<crate::state::sync::SyncDaemon>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotService {
    /// `tcp`, `udp`, `sctp`, `proto-N`, or `fwmark`.
    pub protocol: String,
    /// Absent for firewall-mark services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fwmark: Option<u32>,
    /// Derived from `address` when absent; a fwmark service needs it.
    #[serde(default)]
    pub family: Option<Family>,
    pub scheduler: String,
    #[serde(default)]
    pub flags: Vec<Flag>,
    /// Persistence timeout in seconds; present when persistent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistence: Option<u32>,
    /// The family's full mask when absent.
    #[serde(default)]
    pub netmask: Option<Netmask>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistence_engine: Option<String>,
    #[serde(default)]
    pub stats: Option<Stats>,
    #[serde(default)]
    pub destinations: Vec<SnapshotDest>,
}

/// A service flag by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Flag {
    Persistent,
    OnePacket,
    /// sh-/mh-fallback.
    Sched1,
    /// sh-/mh-port.
    Sched2,
    Sched3,
}

impl Flag {
    const ALL: [(Flag, u32); 5] = [
        (Flag::Persistent, flags::PERSISTENT),
        (Flag::OnePacket, flags::ONEPACKET),
        (Flag::Sched1, flags::SCHED1),
        (Flag::Sched2, flags::SCHED2),
        (Flag::Sched3, flags::SCHED3),
    ];

    fn bit(self) -> u32 {
        Flag::ALL
            .iter()
            .find(|(f, _)| *f == self)
            .map_or(0, |(_, bit)| *bit)
    }
}

/// IPv4: a dotted netmask; IPv6: a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Netmask {
    V4(Ipv4Addr),
    V6(u8),
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotDest {
    pub address: IpAddr,
    pub port: u16,
    pub method: Method,
    pub weight: u32,
    #[serde(default)]
    pub upper_threshold: u32,
    #[serde(default)]
    pub lower_threshold: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnel: Option<SnapshotTunnel>,
    #[serde(default)]
    pub active_connections: u32,
    #[serde(default)]
    pub inactive_connections: u32,
    #[serde(default)]
    pub persistent_connections: u32,
    #[serde(default)]
    pub stats: Option<Stats>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotTunnel {
    #[serde(rename = "type")]
    pub kind: TunnelType,
    #[serde(default)]
    pub port: u16,
    #[serde(default)]
    pub checksum: Checksum,
}

/// A tunnel's checksum option (`tun_flags`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Checksum {
    #[default]
    Nocsum,
    Csum,
    Remcsum,
}

impl Checksum {
    const ALL: [Checksum; 3] = [Checksum::Nocsum, Checksum::Csum, Checksum::Remcsum];
}

/// The snapshot of a table.
pub fn to_snapshot(table: &Table) -> Snapshot {
    let services = table.services.values().map(service_of).collect();
    Snapshot {
        format_version: FORMAT_VERSION.to_string(),
        timeouts: None,
        services,
        sync_daemons: Vec::new(),
    }
}

fn service_of(entry: &ServiceEntry) -> SnapshotService {
    let s = &entry.service;
    let (protocol, address, port, fwmark) = match s.key {
        ServiceKey::Tuple {
            protocol,
            addr,
            port,
        } => (protocol_name(protocol), Some(addr), Some(port), None),
        ServiceKey::Fwmark { mark, .. } => ("fwmark".to_string(), None, None, Some(mark)),
    };
    let netmask = match s.key.family() {
        Family::V4 => Netmask::V4(Ipv4Addr::from(s.netmask)),
        Family::V6 => Netmask::V6(u8::try_from(s.netmask).unwrap_or(128)),
    };
    SnapshotService {
        protocol,
        address,
        port,
        fwmark,
        family: Some(s.key.family()),
        scheduler: s.scheduler.to_string(),
        flags: Flag::ALL
            .iter()
            .filter(|(_, bit)| s.flags & bit != 0)
            .map(|(flag, _)| *flag)
            .collect(),
        persistence: s.is_persistent().then_some(s.timeout),
        netmask: Some(netmask),
        persistence_engine: s.pe_name.clone(),
        stats: entry.stats.as_deref().copied(),
        destinations: entry.dests.values().map(dest_of).collect(),
    }
}

fn dest_of(d: &DestEntry) -> SnapshotDest {
    SnapshotDest {
        address: d.dest.key.addr,
        port: d.dest.key.port,
        method: d.dest.method,
        weight: d.dest.weight,
        upper_threshold: d.dest.upper_threshold,
        lower_threshold: d.dest.lower_threshold,
        tunnel: d.dest.tunnel.map(|t| SnapshotTunnel {
            kind: t.kind,
            port: t.port,
            checksum: Checksum::ALL
                .get(usize::from(t.flags))
                .copied()
                .unwrap_or_default(),
        }),
        active_connections: d.counters.active_conns,
        inactive_connections: d.counters.inactive_conns,
        persistent_connections: d.counters.persistent_conns,
        stats: d.stats.as_deref().copied(),
    }
}

/// Reads a snapshot back into a table; errors name the service and field.
pub fn from_snapshot(snapshot: &Snapshot) -> Result<Table, String> {
    if snapshot.format_version != FORMAT_VERSION {
        return Err(format!(
            "format_version {:?} is not supported (this portfwd reads {FORMAT_VERSION:?})",
            snapshot.format_version
        ));
    }
    let mut table = Table::default();
    for (i, s) in snapshot.services.iter().enumerate() {
        let entry = entry_of(s, &format!("services[{i}]"))?;
        let key = entry.service.key;
        if table.services.insert(key, entry).is_some() {
            return Err(format!("services[{i}]: service {key} listed twice"));
        }
    }
    Ok(table)
}

/// One service of a snapshot, `path` naming it in errors.
fn entry_of(s: &SnapshotService, path: &str) -> Result<ServiceEntry, String> {
    let at = |field: &str| format!("{path}.{field}");
    let family = match (s.family, s.address) {
        (Some(family), _) => family,
        (None, Some(addr)) => Family::of(addr),
        (None, None) => return Err(format!("{}: missing (ipv4 or ipv6)", at("family"))),
    };
    let key = if s.protocol == "fwmark" {
        let mark = s
            .fwmark
            .ok_or_else(|| format!("{}: a fwmark service needs fwmark", at("fwmark")))?;
        ServiceKey::Fwmark { family, mark }
    } else {
        let protocol = match s.protocol.as_str() {
            "tcp" => IPPROTO_TCP,
            "udp" => IPPROTO_UDP,
            "sctp" => IPPROTO_SCTP,
            other => other
                .strip_prefix("proto-")
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| {
                    format!(
                        "{}: unknown protocol {other:?} (tcp, udp, sctp, proto-N or fwmark)",
                        at("protocol")
                    )
                })?,
        };
        let addr = s
            .address
            .ok_or_else(|| format!("{}: missing", at("address")))?;
        let port = s.port.ok_or_else(|| format!("{}: missing", at("port")))?;
        if Family::of(addr) != family {
            return Err(format!(
                "{}: {addr} is not {}",
                at("address"),
                family.name()
            ));
        }
        ServiceKey::Tuple {
            protocol,
            addr,
            port,
        }
    };
    let full = match family {
        Family::V4 => Netmask::V4(Ipv4Addr::BROADCAST),
        Family::V6 => Netmask::V6(128),
    };
    let netmask = match (s.netmask.unwrap_or(full), family) {
        (Netmask::V4(mask), Family::V4) => u32::from(mask),
        (Netmask::V6(len), Family::V6) if len <= 128 => u32::from(len),
        (Netmask::V6(len), Family::V6) => {
            return Err(format!("{}: {len} is not a prefix length", at("netmask")));
        }
        (_, _) => {
            return Err(format!(
                "{}: does not fit family {}",
                at("netmask"),
                family.name()
            ));
        }
    };
    let service = Service {
        key,
        scheduler: s.scheduler.clone(),
        flags: s.flags.iter().fold(0, |bits, f| bits | f.bit()),
        timeout: s.persistence.unwrap_or(0),
        netmask,
        pe_name: s.persistence_engine.clone(),
    };
    let mut entry = ServiceEntry {
        service,
        stats: s.stats.map(Box::new),
        dests: Default::default(),
    };
    for (j, d) in s.destinations.iter().enumerate() {
        let key = DestKey {
            addr: d.address,
            port: d.port,
        };
        let dest = DestEntry {
            dest: Dest {
                key,
                method: d.method,
                weight: d.weight,
                upper_threshold: d.upper_threshold,
                lower_threshold: d.lower_threshold,
                tunnel: d.tunnel.as_ref().map(|t| Tunnel {
                    kind: t.kind,
                    port: t.port,
                    flags: t.checksum as u16,
                }),
            },
            counters: DestCounters {
                active_conns: d.active_connections,
                inactive_conns: d.inactive_connections,
                persistent_conns: d.persistent_connections,
            },
            stats: d.stats.map(Box::new),
        };
        if entry.dests.insert(key, dest).is_some() {
            return Err(format!(
                "{path}.destinations[{j}].address: destination listed twice"
            ));
        }
    }
    Ok(entry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::ipvsadm_rules;

    #[test]
    fn a_table_survives_the_snapshot_round_trip() {
        let rules = "-A -t 203.0.113.10:443 -s sh -b sh-fallback,sh-port\n\
                     -a -t 203.0.113.10:443 -r 10.0.0.5:443 -i -w 1 --tun-type ipip\n\
                     -A -u 203.0.113.10:53 -s rr -p 300 -M 255.255.255.0\n\
                     -a -u 203.0.113.10:53 -r 10.0.0.3:53 -m -w 1 -x 10 -y 5\n\
                     -A -t [2001:db8::10]:443 -s rr -p 600 -M 64\n\
                     -a -t [2001:db8::10]:443 -r [fd00::5]:443 -i -w 2 --tun-type gue --tun-port 6080 --tun-csum\n\
                     -A -f 9 -6 -s dh\n";
        let table = ipvsadm_rules::parse(rules).expect("rules");
        let text = serde_json::to_string(&to_snapshot(&table)).expect("json");
        let back: Snapshot = serde_json::from_str(&text).expect("reads back");
        assert_eq!(from_snapshot(&back).expect("valid"), table);
    }

    #[test]
    fn bad_snapshots_name_the_field() {
        let text = r#"{"format_version":"1","services":[{"protocol":"tcp","address":"203.0.113.10","port":80,"family":"ipv6","scheduler":"rr","netmask":128,"destinations":[]}]}"#;
        let snap: Snapshot = serde_json::from_str(text).expect("shape");
        assert_eq!(
            from_snapshot(&snap).expect_err("family"),
            "services[0].address: 203.0.113.10 is not ipv6"
        );
        let text = r#"{"format_version":"2","services":[]}"#;
        let snap: Snapshot = serde_json::from_str(text).expect("shape");
        assert!(
            from_snapshot(&snap)
                .expect_err("version")
                .contains("not supported")
        );
    }
}
