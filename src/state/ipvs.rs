//! IPVS services and destinations as the kernel knows them: every field a service or a
//! destination can carry, with the kernel's own encodings kept where they matter (flags,
//! netmask) so nothing is lost between reading and writing.

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};

pub const IPPROTO_TCP: u16 = 6;
pub const IPPROTO_UDP: u16 = 17;
pub const IPPROTO_SCTP: u16 = 132;

/// An address family, as IPVS needs it for firewall-mark services (which have no address).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Family {
    #[serde(rename = "ipv4")]
    V4,
    #[serde(rename = "ipv6")]
    V6,
}

impl Family {
    pub fn of(addr: IpAddr) -> Self {
        if addr.is_ipv4() {
            Family::V4
        } else {
            Family::V6
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Family::V4 => "ipv4",
            Family::V6 => "ipv6",
        }
    }
}

/// What identifies a virtual service; it can only change by delete and create.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServiceKey {
    /// A protocol/address/port service (`-t`, `-u`, `--sctp-service`).
    Tuple {
        protocol: u16,
        addr: IpAddr,
        port: u16,
    },
    /// A firewall-mark service (`-f`).
    Fwmark { family: Family, mark: u32 },
}

impl ServiceKey {
    pub fn family(&self) -> Family {
        match self {
            ServiceKey::Tuple { addr, .. } => Family::of(*addr),
            ServiceKey::Fwmark { family, .. } => *family,
        }
    }

    pub fn addr(&self) -> Option<IpAddr> {
        match self {
            ServiceKey::Tuple { addr, .. } => Some(*addr),
            ServiceKey::Fwmark { .. } => None,
        }
    }

    fn fwmark(&self) -> u32 {
        match self {
            ServiceKey::Tuple { .. } => 0,
            ServiceKey::Fwmark { mark, .. } => *mark,
        }
    }

    fn protocol(&self) -> u16 {
        match self {
            ServiceKey::Tuple { protocol, .. } => *protocol,
            ServiceKey::Fwmark { .. } => 0,
        }
    }

    fn port(&self) -> u16 {
        match self {
            ServiceKey::Tuple { port, .. } => *port,
            ServiceKey::Fwmark { .. } => 0,
        }
    }
}

/// The order `ipvsadm` lists services in (libipvs's `ipvs_cmp_services`): firewall mark,
/// family, protocol, address, port.
impl Ord for ServiceKey {
    fn cmp(&self, other: &Self) -> Ordering {
        let fields = |k: &ServiceKey| (k.fwmark(), k.family(), k.protocol(), k.addr(), k.port());
        fields(self).cmp(&fields(other))
    }
}

impl PartialOrd for ServiceKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A protocol name as ipvsadm spells it.
pub fn protocol_name(protocol: u16) -> String {
    match protocol_str(protocol) {
        Some(name) => name.to_string(),
        None => format!("proto-{protocol}"),
    }
}

fn protocol_str(protocol: u16) -> Option<&'static str> {
    match protocol {
        IPPROTO_TCP => Some("tcp"),
        IPPROTO_UDP => Some("udp"),
        IPPROTO_SCTP => Some("sctp"),
        _ => None,
    }
}

impl fmt::Display for ServiceKey {
    /// `tcp 203.0.113.10:2222`, `udp [2001:db8::1]:53`, `fwmark 7 (ipv4)`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceKey::Tuple {
                protocol,
                addr,
                port,
            } => {
                match protocol_str(*protocol) {
                    Some(name) => f.write_str(name)?,
                    None => write!(f, "proto-{protocol}")?,
                }
                f.write_str(" ")?;
                SocketAddr::new(*addr, *port).fmt(f)
            }
            ServiceKey::Fwmark { family, mark } => write!(f, "fwmark {mark} ({})", family.name()),
        }
    }
}

/// Service flags (`IP_VS_SVC_F_*`).
pub mod flags {
    pub const PERSISTENT: u32 = 0x0001;
    /// Kernel-managed: cleared on add, forced on edit; never compared or written.
    pub const HASHED: u32 = 0x0002;
    pub const ONEPACKET: u32 = 0x0004;
    /// sh-fallback with `sh`, mh-fallback with `mh`.
    pub const SCHED1: u32 = 0x0008;
    /// sh-port with `sh`, mh-port with `mh`.
    pub const SCHED2: u32 = 0x0010;
    pub const SCHED3: u32 = 0x0020;
}

/// The attributes of a service that can change in place (SET_SERVICE).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub key: ServiceKey,
    /// The scheduler's name, e.g. `wlc`; `none` means no scheduler.
    pub scheduler: String,
    /// `flags::*` bits, without HASHED.
    pub flags: u32,
    /// Persistence timeout in seconds (meaningful with PERSISTENT).
    pub timeout: u32,
    /// IPv4: the persistence netmask as a host-order u32 (0xffffffff for /32);
    /// IPv6: the prefix length (128 by default).
    pub netmask: u32,
    /// Persistence engine, e.g. `sip`.
    pub pe_name: Option<String>,
}

impl Service {
    /// A service with ipvsadm's defaults for everything but the key and scheduler.
    pub fn new(key: ServiceKey, scheduler: &str) -> Self {
        Service {
            key,
            scheduler: scheduler.to_string(),
            flags: 0,
            timeout: 0,
            netmask: default_netmask(key.family()),
            pe_name: None,
        }
    }

    pub fn is_persistent(&self) -> bool {
        self.flags & flags::PERSISTENT != 0
    }
}

/// The netmask ipvsadm uses when none is given: /32 or /128.
pub fn default_netmask(family: Family) -> u32 {
    match family {
        Family::V4 => u32::MAX,
        Family::V6 => 128,
    }
}

/// How a destination is reached (`IP_VS_CONN_F_*` forwarding methods).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Masq,
    Local,
    Tunnel,
    Route,
    Bypass,
}

impl Method {
    pub fn from_kernel(value: u32) -> Option<Self> {
        match value & 0x7 {
            0 => Some(Method::Masq),
            1 => Some(Method::Local),
            2 => Some(Method::Tunnel),
            3 => Some(Method::Route),
            4 => Some(Method::Bypass),
            _ => None,
        }
    }

    pub fn to_kernel(self) -> u32 {
        match self {
            Method::Masq => 0,
            Method::Local => 1,
            Method::Tunnel => 2,
            Method::Route => 3,
            Method::Bypass => 4,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Method::Masq => "masq",
            Method::Local => "local",
            Method::Tunnel => "tunnel",
            Method::Route => "route",
            Method::Bypass => "bypass",
        }
    }
}

/// Tunnel encapsulation for the tunnel method (`IP_VS_CONN_F_TUNNEL_TYPE_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TunnelType {
    Ipip,
    Gue,
    Gre,
}

impl TunnelType {
    pub fn from_kernel(value: u8) -> Option<Self> {
        match value {
            0 => Some(TunnelType::Ipip),
            1 => Some(TunnelType::Gue),
            2 => Some(TunnelType::Gre),
            _ => None,
        }
    }

    pub fn to_kernel(self) -> u8 {
        match self {
            TunnelType::Ipip => 0,
            TunnelType::Gue => 1,
            TunnelType::Gre => 2,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            TunnelType::Ipip => "ipip",
            TunnelType::Gue => "gue",
            TunnelType::Gre => "gre",
        }
    }
}

/// Tunnel checksum flags (`IP_VS_TUNNEL_ENCAP_FLAG_*`).
pub mod tun_flags {
    pub const NOCSUM: u16 = 0;
    pub const CSUM: u16 = 1;
    pub const REMCSUM: u16 = 2;
}

/// What identifies a destination within its service; ordered as ipvsadm lists them
/// (`ipvs_cmp_dests`): address, then port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DestKey {
    pub addr: IpAddr,
    pub port: u16,
}

/// The attributes of a destination that can change in place (SET_DEST).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dest {
    pub key: DestKey,
    pub method: Method,
    pub weight: u32,
    pub upper_threshold: u32,
    pub lower_threshold: u32,
    pub tunnel: Option<Tunnel>,
}

/// Tunnel parameters of a tunnel-method destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tunnel {
    pub kind: TunnelType,
    /// GUE's UDP port (0 otherwise).
    pub port: u16,
    /// `tun_flags::*`.
    pub flags: u16,
}

/// Read-only counters the kernel keeps per destination.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DestCounters {
    pub active_conns: u32,
    pub inactive_conns: u32,
    pub persistent_conns: u32,
}

/// Read-only traffic statistics of a service or destination (also their snapshot form).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stats {
    #[serde(rename = "connections")]
    pub conns: u64,
    pub in_packets: u64,
    pub out_packets: u64,
    pub in_bytes: u64,
    pub out_bytes: u64,
    pub cps: u64,
    pub in_pps: u64,
    pub out_pps: u64,
    pub in_bps: u64,
    pub out_bps: u64,
}

/// Connection timeouts in seconds, as `ipvsadm --set` takes and `-L --timeout` shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timeouts {
    pub tcp: u32,
    pub tcp_fin: u32,
    pub udp: u32,
}

/// A destination with what the kernel reports about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestEntry {
    pub dest: Dest,
    pub counters: DestCounters,
    /// `None` when not read: only `show --json` asks the kernel for them. Boxed: an
    /// unread `Option<Stats>` would still take 88 bytes in each of thousands of entries.
    pub stats: Option<Box<Stats>>,
}

/// A service, its destinations and its statistics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceEntry {
    pub service: Service,
    /// `None` when not read (boxed, as a destination's).
    pub stats: Option<Box<Stats>>,
    pub dests: BTreeMap<DestKey, DestEntry>,
}

/// A whole IPVS table (one network namespace), in ipvsadm's order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    pub services: BTreeMap<ServiceKey, ServiceEntry>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// ipvsadm's order written out field by field (`ipvs_cmp_services`): firewall mark,
    /// family, protocol, address (by bytes), port.
    fn ipvsadm_order(a: &ServiceKey, b: &ServiceKey) -> Ordering {
        let fields = |k: &ServiceKey| {
            let addr = k.addr().map(|a| match a {
                IpAddr::V4(v4) => v4.octets().to_vec(),
                IpAddr::V6(v6) => v6.octets().to_vec(),
            });
            (
                k.fwmark(),
                k.family() == Family::V6,
                k.protocol(),
                addr,
                k.port(),
            )
        };
        fields(a).cmp(&fields(b))
    }

    fn any_key() -> impl Strategy<Value = ServiceKey> {
        // Few distinct values per field, so that equal prefixes come up often.
        let protocol = prop::sample::select(vec![IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP]);
        let v4 = (0u8..3, 0u8..3).prop_map(|(a, b)| IpAddr::from([10, a, 255, b]));
        let v6 = (0u16..3).prop_map(|a| IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, a, 1]));
        let port = prop::sample::select(vec![0u16, 1, 255, 256, 65535]);
        prop_oneof![
            4 => (protocol.clone(), v4, port.clone())
                .prop_map(|(protocol, addr, port)| ServiceKey::Tuple { protocol, addr, port }),
            1 => (protocol, v6, port)
                .prop_map(|(protocol, addr, port)| ServiceKey::Tuple { protocol, addr, port }),
            1 => (prop::bool::ANY, 0u32..3).prop_map(|(v6, mark)| ServiceKey::Fwmark {
                family: if v6 { Family::V6 } else { Family::V4 },
                mark,
            }),
        ]
    }

    proptest! {
        /// Every pairing gives ipvsadm's order.
        #[test]
        fn services_compare_in_ipvsadm_order(a in any_key(), b in any_key()) {
            prop_assert_eq!(a.cmp(&b), ipvsadm_order(&a, &b));
        }
    }

    #[test]
    fn service_keys_read_as_ipvsadm_names_them() {
        let key = ServiceKey::Tuple {
            protocol: IPPROTO_UDP,
            addr: "203.0.113.10".parse().expect("ip"),
            port: 53,
        };
        assert_eq!(key.to_string(), "udp 203.0.113.10:53");
        let odd = ServiceKey::Tuple {
            protocol: 99,
            addr: "2001:db8::1".parse().expect("ip"),
            port: 1,
        };
        assert_eq!(odd.to_string(), "proto-99 [2001:db8::1]:1");
        let mark = ServiceKey::Fwmark {
            family: Family::V6,
            mark: 7,
        };
        assert_eq!(mark.to_string(), "fwmark 7 (ipv6)");
    }
}
