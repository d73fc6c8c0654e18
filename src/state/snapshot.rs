//! The snapshot format: a whole IPVS table as JSON (`portfwd show --json`, and what
//! `plan --from` reads). Stable and documented in docs/snapshot.md; `format_version` changes
//! only when a reader must change.

use super::ipvs::{
    Dest, DestCounters, DestEntry, DestKey, Family, Method, Service, ServiceEntry, ServiceKey,
    Stats, Table, Timeouts, Tunnel, TunnelType, flags, protocol_name, scheduler_name,
};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

pub const FORMAT_VERSION: &str = "1";

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    pub format_version: String,
    /// Connection timeouts in seconds (`ipvsadm -L --timeout`), when they were read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeouts: Option<Timeouts>,
    pub services: Vec<SnapshotService>,
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
    /// `ipv4` or `ipv6`.
    pub family: String,
    pub scheduler: String,
    /// `persistent`, `one-packet`, `sched1` (sh-/mh-fallback), `sched2` (sh-/mh-port), `sched3`.
    #[serde(default)]
    pub flags: Vec<String>,
    /// Persistence timeout in seconds; present when persistent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistence: Option<u32>,
    /// IPv4: dotted netmask; IPv6: prefix length.
    pub netmask: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistence_engine: Option<String>,
    #[serde(default)]
    pub stats: Option<Stats>,
    pub destinations: Vec<SnapshotDest>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotDest {
    pub address: IpAddr,
    pub port: u16,
    /// `masq`, `local`, `tunnel`, `route`, `bypass`.
    pub method: String,
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
    /// `ipip`, `gue`, `gre`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub port: u16,
    /// `nocsum`, `csum`, `remcsum`.
    #[serde(default = "nocsum")]
    pub checksum: String,
}

fn nocsum() -> String {
    "nocsum".into()
}

const FLAG_NAMES: &[(u32, &str)] = &[
    (flags::PERSISTENT, "persistent"),
    (flags::ONEPACKET, "one-packet"),
    (flags::SCHED1, "sched1"),
    (flags::SCHED2, "sched2"),
    (flags::SCHED3, "sched3"),
];

const CHECKSUMS: &[&str] = &["nocsum", "csum", "remcsum"];

/// The snapshot of a table.
pub fn to_snapshot(table: &Table) -> Snapshot {
    let services = table
        .services
        .values()
        .map(|entry| {
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
                Family::V4 => {
                    serde_json::Value::String(std::net::Ipv4Addr::from(s.netmask).to_string())
                }
                Family::V6 => serde_json::Value::from(s.netmask),
            };
            SnapshotService {
                protocol,
                address,
                port,
                fwmark,
                family: s.key.family().name().to_string(),
                scheduler: s.scheduler.to_string(),
                flags: FLAG_NAMES
                    .iter()
                    .filter(|(bit, _)| s.flags & bit != 0)
                    .map(|(_, name)| name.to_string())
                    .collect(),
                persistence: s.is_persistent().then_some(s.timeout),
                netmask,
                persistence_engine: s.pe_name.clone(),
                stats: entry.stats.as_deref().copied(),
                destinations: entry
                    .dests
                    .values()
                    .map(|d| SnapshotDest {
                        address: d.dest.key.addr,
                        port: d.dest.key.port,
                        method: d.dest.method.name().to_string(),
                        weight: d.dest.weight,
                        upper_threshold: d.dest.upper_threshold,
                        lower_threshold: d.dest.lower_threshold,
                        tunnel: d.dest.tunnel.map(|t| SnapshotTunnel {
                            kind: t.kind.name().to_string(),
                            port: t.port,
                            checksum: CHECKSUMS
                                .get(usize::from(t.flags))
                                .unwrap_or(&"nocsum")
                                .to_string(),
                        }),
                        active_connections: d.counters.active_conns,
                        inactive_connections: d.counters.inactive_conns,
                        persistent_connections: d.counters.persistent_conns,
                        stats: d.stats.as_deref().copied(),
                    })
                    .collect(),
            }
        })
        .collect();
    Snapshot {
        format_version: FORMAT_VERSION.to_string(),
        timeouts: None,
        services,
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
        let at = |field: &str| format!("services[{i}].{field}");
        let family = match s.family.as_str() {
            "ipv4" => Family::V4,
            "ipv6" => Family::V6,
            other => return Err(format!("{}: unknown family {other:?}", at("family"))),
        };
        let key = if s.protocol == "fwmark" {
            let mark = s
                .fwmark
                .ok_or_else(|| format!("{}: a fwmark service needs fwmark", at("fwmark")))?;
            ServiceKey::Fwmark { family, mark }
        } else {
            let protocol = match s.protocol.as_str() {
                "tcp" => super::ipvs::IPPROTO_TCP,
                "udp" => super::ipvs::IPPROTO_UDP,
                "sctp" => super::ipvs::IPPROTO_SCTP,
                other => other
                    .strip_prefix("proto-")
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| format!("{}: unknown protocol {other:?}", at("protocol")))?,
            };
            let addr = s
                .address
                .ok_or_else(|| format!("{}: missing", at("address")))?;
            let port = s.port.ok_or_else(|| format!("{}: missing", at("port")))?;
            if Family::of(addr) != family {
                return Err(format!("{}: {addr} is not {}", at("address"), s.family));
            }
            ServiceKey::Tuple {
                protocol,
                addr,
                port,
            }
        };
        let mut bits = 0;
        for name in &s.flags {
            let (bit, _) = FLAG_NAMES
                .iter()
                .find(|(_, n)| n == name)
                .ok_or_else(|| format!("{}: unknown flag {name:?}", at("flags")))?;
            bits |= bit;
        }
        let netmask = match (&s.netmask, family) {
            (serde_json::Value::String(text), Family::V4) => text
                .parse::<std::net::Ipv4Addr>()
                .map(u32::from)
                .map_err(|_| format!("{}: {text:?} is not a netmask", at("netmask")))?,
            (serde_json::Value::Number(n), Family::V6) => n
                .as_u64()
                .filter(|n| *n <= 128)
                .map(|n| n as u32)
                .ok_or_else(|| format!("{}: {n} is not a prefix length", at("netmask")))?,
            (other, _) => {
                return Err(format!(
                    "{}: {other} does not fit family {}",
                    at("netmask"),
                    s.family
                ));
            }
        };
        let service = Service {
            key,
            scheduler: scheduler_name(&s.scheduler),
            flags: bits,
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
            let at = |field: &str| format!("services[{i}].destinations[{j}].{field}");
            let method = Method::from_name(&d.method)
                .ok_or_else(|| format!("{}: unknown method {:?}", at("method"), d.method))?;
            let tunnel = match &d.tunnel {
                None => None,
                Some(t) => Some(Tunnel {
                    kind: [TunnelType::Ipip, TunnelType::Gue, TunnelType::Gre]
                        .into_iter()
                        .find(|k| k.name() == t.kind)
                        .ok_or_else(|| {
                            format!("{}: unknown tunnel type {:?}", at("tunnel.type"), t.kind)
                        })?,
                    port: t.port,
                    flags: CHECKSUMS
                        .iter()
                        .position(|c| *c == t.checksum)
                        .ok_or_else(|| {
                            format!(
                                "{}: unknown checksum {:?}",
                                at("tunnel.checksum"),
                                t.checksum
                            )
                        })? as u16,
                }),
            };
            let dkey = DestKey {
                addr: d.address,
                port: d.port,
            };
            let dest = Dest {
                key: dkey,
                method,
                weight: d.weight,
                upper_threshold: d.upper_threshold,
                lower_threshold: d.lower_threshold,
                tunnel,
            };
            let counters = DestCounters {
                active_conns: d.active_connections,
                inactive_conns: d.inactive_connections,
                persistent_conns: d.persistent_connections,
            };
            let stats = d.stats.map(Box::new);
            if entry
                .dests
                .insert(
                    dkey,
                    DestEntry {
                        dest,
                        counters,
                        stats,
                    },
                )
                .is_some()
            {
                return Err(format!("{}: destination listed twice", at("address")));
            }
        }
        if table.services.insert(key, entry).is_some() {
            return Err(format!("services[{i}]: service {key} listed twice"));
        }
    }
    Ok(table)
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
