//! Desired state: a valid config normalized into the same IPVS model the kernel reports
//! (defaults filled in, port ranges expanded), so that planning compares like with like.

use super::ipvs::{
    Dest, DestKey, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, Method, Service, ServiceKey, Table,
    Tunnel, TunnelType, default_netmask, flags, tun_flags,
};
use crate::config::model::{self, Config, Named, Protocol, SchedulerFlag};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

/// What the config asks the kernel to hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Desired {
    /// The addresses whose services portfwd owns: services on them that the config does not
    /// declare are removed; services on any other address are never touched.
    pub managed: BTreeSet<IpAddr>,
    /// Every declared service, in ipvsadm's order.
    pub services: BTreeMap<ServiceKey, DesiredService>,
}

/// One IPVS service the config declares, with the forward it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredService {
    /// The forward's name (the config's, shared); empty when the desired state was taken
    /// from a table.
    pub forward: Arc<str>,
    /// The forward's position in the config, for grouping output in file order.
    pub forward_index: usize,
    pub service: Service,
    pub dests: BTreeMap<DestKey, Dest>,
}

impl Desired {
    /// Whether portfwd owns `key`: a protocol/address/port service on a managed address.
    /// Firewall-mark services have no address and are never managed.
    pub fn manages(&self, key: &ServiceKey) -> bool {
        key.addr().is_some_and(|a| self.managed.contains(&a))
    }

    /// The declared services as a table (no counters), e.g. to render as ipvsadm rules.
    pub fn to_table(&self) -> Table {
        let mut table = Table::default();
        for (key, want) in &self.services {
            let dests = want
                .dests
                .iter()
                .map(|(k, d)| {
                    let entry = super::ipvs::DestEntry {
                        dest: d.clone(),
                        counters: Default::default(),
                        stats: None,
                    };
                    (*k, entry)
                })
                .collect();
            let entry = super::ipvs::ServiceEntry {
                service: want.service.clone(),
                stats: None,
                dests,
            };
            table.services.insert(*key, entry);
        }
        table
    }

    /// The managed part of `table` as a desired state (used to check that an undo restored
    /// the table, or that an apply reached its goal).
    pub fn from_table(table: &Table, managed: &BTreeSet<IpAddr>) -> Desired {
        let mut desired = Desired {
            managed: managed.clone(),
            services: BTreeMap::new(),
        };
        let no_forward: Arc<str> = Arc::from("");
        for (key, entry) in &table.services {
            if desired.manages(key) {
                let dests = entry
                    .dests
                    .iter()
                    .map(|(k, d)| (*k, d.dest.clone()))
                    .collect();
                desired.services.insert(
                    *key,
                    DesiredService {
                        forward: no_forward.clone(),
                        forward_index: usize::MAX,
                        service: entry.service.clone(),
                        dests,
                    },
                );
            }
        }
        desired
    }
}

/// The IP protocol number of a config protocol.
pub fn protocol_number(protocol: Protocol) -> u16 {
    match protocol {
        Protocol::Tcp => IPPROTO_TCP,
        Protocol::Udp => IPPROTO_UDP,
        Protocol::Sctp => IPPROTO_SCTP,
    }
}

/// The kernel's forwarding method for the config's, with the tunnel of a tunnel
/// destination: IP-in-IP without checksums, what the kernel reports for one added without
/// tunnel options.
pub fn forwarding(m: model::Method) -> (Method, Option<Tunnel>) {
    let tunnel = (m == model::Method::Tunnel).then_some(Tunnel {
        kind: TunnelType::Ipip,
        port: 0,
        flags: tun_flags::NOCSUM,
    });
    (method(m), tunnel)
}

fn method(method: model::Method) -> Method {
    match method {
        model::Method::Masq => Method::Masq,
        model::Method::Route => Method::Route,
        model::Method::Tunnel => Method::Tunnel,
    }
}

/// The kernel's netmask encoding for a persistence prefix length: a host-order IPv4 mask,
/// or the IPv6 prefix length itself.
fn netmask(addr: IpAddr, prefix_len: u8) -> u32 {
    match addr {
        IpAddr::V4(_) => match prefix_len {
            0 => 0,
            n => u32::MAX << (32 - u32::from(n.min(32))),
        },
        IpAddr::V6(_) => u32::from(prefix_len),
    }
}

/// The desired state of a config that passed validation. Items validation rejected cannot
/// reach here; a listen without ports (which validation refuses) contributes nothing.
pub fn from_config(config: &Config) -> Desired {
    let mut services = BTreeMap::new();
    for forward in &config.forwards {
        let Some(listen_ports) = forward.listen.ports else {
            continue;
        };
        let template = service_template(forward);
        for (i, port) in listen_ports.ports().enumerate() {
            let key = ServiceKey::Tuple {
                protocol: protocol_number(forward.protocol),
                addr: forward.listen.addr,
                port,
            };
            let mut dests = BTreeMap::new();
            for backend in &forward.backends {
                let dest_port = match backend.address.ports {
                    None => port,
                    Some(p) if p.is_single() => p.first,
                    // Validation made the ranges equally long, so this stays in range.
                    Some(p) => p.first.saturating_add(i as u16),
                };
                let dkey = DestKey {
                    addr: backend.address.addr,
                    port: dest_port,
                };
                let (method, tunnel) = forwarding(forward.method_of(backend));
                dests.insert(
                    dkey,
                    Dest {
                        key: dkey,
                        method,
                        weight: backend.weight,
                        upper_threshold: backend.upper_threshold,
                        lower_threshold: backend.lower_threshold,
                        tunnel,
                    },
                );
            }
            services.insert(
                key,
                DesiredService {
                    forward: forward.name.clone(),
                    forward_index: forward.index,
                    service: Service {
                        key,
                        ..template.clone()
                    },
                    dests,
                },
            );
        }
    }
    Desired {
        managed: config.public.iter().map(|p| p.address).collect(),
        services,
    }
}

/// The service attributes a forward gives each of its ports.
fn service_template(forward: &model::Forward) -> Service {
    let addr = forward.listen.addr;
    let key = ServiceKey::Tuple {
        protocol: protocol_number(forward.protocol),
        addr,
        port: 0,
    };
    let mut service = Service::new(key, forward.scheduler.name());
    if let Some(timeout) = forward.persistence {
        service.flags |= flags::PERSISTENT;
        service.timeout = timeout;
        if let Some(mask) = forward.persistence_netmask {
            service.netmask = netmask(addr, mask.prefix_len);
        }
    } else {
        service.netmask = default_netmask(key.family());
    }
    for flag in &forward.scheduler_flags {
        service.flags |= match flag {
            SchedulerFlag::ShFallback | SchedulerFlag::MhFallback => flags::SCHED1,
            SchedulerFlag::ShPort | SchedulerFlag::MhPort => flags::SCHED2,
        };
    }
    service
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desired(text: &str) -> Desired {
        let loaded = crate::config::check("test".into(), text.as_bytes());
        from_config(&loaded.config.expect("valid config"))
    }

    #[test]
    fn a_range_expands_to_one_service_per_port_with_matching_backend_ports() {
        let d = desired(
            r#"{"public":[{"address":"203.0.113.10"}],
                "forwards":[{"name":"games","protocol":"udp","listen":"203.0.113.10:27015-27017",
                             "backends":["10.0.0.5:37015-37017","10.0.0.6"],"scheduler":"rr"}]}"#,
        );
        let ports: Vec<String> = d
            .services
            .values()
            .map(|s| {
                let dests: Vec<String> = s.dests.keys().map(|k| k.port.to_string()).collect();
                format!("{}>{}", s.service.key, dests.join(","))
            })
            .collect();
        assert_eq!(
            ports,
            [
                "udp 203.0.113.10:27015>37015,27015",
                "udp 203.0.113.10:27016>37016,27016",
                "udp 203.0.113.10:27017>37017,27017"
            ]
        );
        assert!(d.services.values().all(|s| s.service.scheduler == "rr"));
    }

    #[test]
    fn persistence_and_flags_take_the_kernel_encoding() {
        let d = desired(
            r#"{"public":[{"address":"203.0.113.10"},{"address":"2001:db8::10"}],
                "forwards":[
                  {"name":"a","listen":"203.0.113.10:443","backends":["10.0.0.5"],"scheduler":"sh",
                   "scheduler_flags":["sh-port"],"persistence":300,"persistence_netmask":"255.255.255.0"},
                  {"name":"b","listen":"[2001:db8::10]:443","backends":["[fd00::5]"],
                   "persistence":60,"persistence_netmask":64},
                  {"name":"c","listen":"203.0.113.10:80","backends":[{"address":"10.0.0.5","weight":3}]}]}"#,
        );
        let by_port = |addr: &str, port: u16| {
            let key = ServiceKey::Tuple {
                protocol: IPPROTO_TCP,
                addr: addr.parse().expect("ip"),
                port,
            };
            d.services.get(&key).expect("declared").clone()
        };
        let a = by_port("203.0.113.10", 443).service;
        assert_eq!(
            (a.flags, a.timeout, a.netmask),
            (flags::PERSISTENT | flags::SCHED2, 300, 0xffff_ff00)
        );
        let b = by_port("2001:db8::10", 443).service;
        assert_eq!((b.flags, b.timeout, b.netmask), (flags::PERSISTENT, 60, 64));
        let c = by_port("203.0.113.10", 80);
        assert_eq!(
            (c.service.flags, c.service.netmask, &*c.service.scheduler),
            (0, u32::MAX, "wlc")
        );
        let dest = c.dests.values().next().expect("one backend");
        assert_eq!(
            (dest.weight, dest.method, dest.key.port),
            (3, Method::Masq, 80)
        );
        assert!(d.manages(&c.service.key));
        assert!(!d.manages(&ServiceKey::Fwmark {
            family: super::super::ipvs::Family::V4,
            mark: 1
        }));
    }
}
