//! The host around IPVS: kernel modules, sysctls, bridges and addresses. What the config asks
//! for ([`HostDesired`]) and what the kernel has of it ([`HostActual`]). portfwd creates and
//! changes these but never removes them: other bridges, ports the hypervisor adds and extra
//! addresses are reported and left alone.

use super::links::LinkTable;
use super::sync::{SyncDaemon, SyncRole};
use crate::config::endpoint::Cidr;
use crate::config::model::{CheckKind, Config, Method, Named};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Why portfwd wants a sysctl.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SysctlOrigin {
    /// Derived from the forwards, e.g. IPv4 masq forwards need `net.ipv4.ip_forward=1`.
    Derived(&'static str),
    /// From the config's `sysctl` object.
    Config,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SysctlWant {
    pub key: String,
    pub value: String,
    pub origin: SysctlOrigin,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeWant {
    pub name: String,
    pub address: Cidr,
    pub ports: Vec<String>,
    /// Moved by VRRP: never added or removed by portfwd.
    pub floating_address: Option<Cidr>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicWant {
    pub addr: IpAddr,
    /// Where to add it when missing; without it a missing address is an error.
    pub interface: Option<String>,
    pub prefix_len: u8,
    /// Moved by VRRP: never added or removed by portfwd.
    pub floating: bool,
}

/// What the config asks of the host, in the order apply creates it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostDesired {
    /// `ip_vs` and `ip_vs_<scheduler>` for every scheduler in use.
    pub modules: Vec<String>,
    pub sysctls: Vec<SysctlWant>,
    pub bridges: Vec<BridgeWant>,
    pub public: Vec<PublicWant>,
    /// The sync daemons to run; `None` (no `sync` in the config) leaves alone those that
    /// portfwd did not start.
    pub sync: Option<Vec<SyncDaemon>>,
}

pub const IP_FORWARD: &str = "net.ipv4.ip_forward";
pub const IPV6_FORWARDING: &str = "net.ipv6.conf.all.forwarding";
pub const EXPIRE_QUIESCENT_TEMPLATE: &str = "net.ipv4.vs.expire_quiescent_template";
pub const SYNC_VERSION: &str = "net.ipv4.vs.sync_version";

pub fn from_config(config: &Config) -> HostDesired {
    let mut modules = Vec::new();
    if !config.forwards.is_empty() || config.sync.is_some() {
        modules.push("ip_vs".to_string());
    }
    for f in &config.forwards {
        // Formatted only for a scheduler not seen yet: this runs for every forward.
        let name = f.scheduler.name();
        if !modules
            .iter()
            .any(|m| m.strip_prefix("ip_vs_") == Some(name))
        {
            modules.push(format!("ip_vs_{name}"));
        }
    }
    let mut sysctls: Vec<SysctlWant> = Vec::new();
    let masq = |v4: bool| {
        config
            .forwards
            .iter()
            .any(|f| f.uses(Method::Masq) && f.listen.addr.is_ipv4() == v4)
    };
    if masq(true) {
        sysctls.push(SysctlWant {
            key: IP_FORWARD.into(),
            value: "1".into(),
            origin: SysctlOrigin::Derived("IPv4 masq forwards route replies through this host"),
        });
    }
    if masq(false) {
        sysctls.push(SysctlWant {
            key: IPV6_FORWARDING.into(),
            value: "1".into(),
            origin: SysctlOrigin::Derived("IPv6 masq forwards route replies through this host"),
        });
        // With forwarding on, the kernel ignores router advertisements unless accept_ra is
        // 2: a public interface configured by SLAAC would lose its address and route.
        for iface in config
            .public
            .iter()
            .filter(|p| p.address.is_ipv6())
            .filter_map(|p| p.interface.as_deref())
        {
            let key = format!("net.ipv6.conf.{}.accept_ra", iface.replace('.', "/"));
            if !sysctls.iter().any(|w| w.key == key) {
                sysctls.push(SysctlWant {
                    key,
                    value: "2".into(),
                    origin: SysctlOrigin::Derived(
                        "IPv6 forwarding would make the public interface ignore router advertisements",
                    ),
                });
            }
        }
    }
    // Persistent clients would otherwise stay with a backend that health checks set to 0.
    let checked_persistence = config.forwards.iter().any(|f| {
        f.persistence.is_some()
            && f.health
                .as_ref()
                .is_some_and(|h| h.check != CheckKind::None)
    });
    if checked_persistence {
        sysctls.push(SysctlWant {
            key: EXPIRE_QUIESCENT_TEMPLATE.into(),
            value: "1".into(),
            origin: SysctlOrigin::Derived(
                "persistent clients must leave a backend health checks hold at weight 0",
            ),
        });
    }
    if config.sync.is_some() {
        sysctls.push(SysctlWant {
            key: SYNC_VERSION.into(),
            value: "1".into(),
            origin: SysctlOrigin::Derived(
                "the sync daemons of both hosts must speak the same (current) protocol version",
            ),
        });
    }
    for s in &config.sysctl {
        let want = SysctlWant {
            key: s.key.clone(),
            value: s.value.clone(),
            origin: SysctlOrigin::Config,
        };
        // The config's own value wins over a derived one (validation warns about it).
        match sysctls.iter_mut().find(|w| w.key == s.key) {
            Some(existing) => *existing = want,
            None => sysctls.push(want),
        }
    }
    HostDesired {
        modules,
        sysctls,
        bridges: config
            .bridges
            .iter()
            .map(|b| BridgeWant {
                name: b.name.clone(),
                address: b.address,
                ports: b.ports.clone(),
                floating_address: b.floating_address,
            })
            .collect(),
        public: config
            .public
            .iter()
            .map(|p| PublicWant {
                addr: p.address,
                interface: p.interface.clone(),
                prefix_len: p.prefix_len_or_default(),
                floating: p.floating,
            })
            .collect(),
        sync: config.sync.as_ref().map(SyncDaemon::wanted),
    }
}

/// What the host has of what the config asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostActual {
    pub modules: BTreeMap<String, ModuleState>,
    /// Each wanted key's value; `None` when the key does not exist.
    pub sysctls: BTreeMap<String, Option<String>>,
    pub links: LinkTable,
    /// The running kernel's release, for the error about a missing module (read only then).
    pub release: String,
    /// The running sync daemons (read when the config has `sync` or portfwd started some).
    pub sync: Vec<SyncDaemon>,
    /// The roles of the running daemons that portfwd started.
    pub sync_started: Vec<SyncRole>,
}

/// The facts about the declared resources, one per line, for checking that an undo put the
/// host back as it was (module loads are not undone, so modules are left out).
pub fn observe(want: &HostDesired, actual: &HostActual) -> Vec<String> {
    let mut lines = Vec::new();
    for (key, value) in &actual.sysctls {
        lines.push(format!(
            "sysctl {key} = {}",
            value.as_deref().unwrap_or("(absent)")
        ));
    }
    for d in &actual.sync {
        lines.push(format!("sync daemon {d}"));
    }
    let mut names: Vec<&str> = Vec::new();
    for b in &want.bridges {
        names.push(&b.name);
        names.extend(b.ports.iter().map(String::as_str));
    }
    names.extend(want.public.iter().filter_map(|p| p.interface.as_deref()));
    names.sort_unstable();
    names.dedup();
    for name in names {
        match actual.links.by_name(name) {
            None => lines.push(format!("link {name} absent")),
            Some(l) => {
                let master = l
                    .master
                    .and_then(|m| actual.links.by_index(m))
                    .map_or("none", |m| m.name.as_str());
                lines.push(format!(
                    "link {name} kind {} up {} master {master}",
                    l.kind.as_deref().unwrap_or("device"),
                    l.up
                ));
                for a in actual.links.addresses_of(name) {
                    lines.push(format!("address {}/{} on {name}", a.addr, a.prefix_len));
                }
            }
        }
    }
    lines
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModuleState {
    /// Loaded, or built into the kernel.
    Loaded,
    /// Listed in the kernel's modules.dep: `modprobe` can load it.
    Available,
    /// Neither: `modprobe` would fail.
    Missing,
}

impl ModuleState {
    pub fn name(self) -> &'static str {
        match self {
            ModuleState::Loaded => "loaded",
            ModuleState::Available => "not loaded",
            ModuleState::Missing => "missing",
        }
    }
}

/// A local socket that accepts connections (TCP LISTEN) or datagrams (bound UDP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listener {
    pub protocol: u16,
    pub addr: IpAddr,
    pub port: u16,
    /// An IPv6 socket that takes no IPv4 (IPV6_V6ONLY). /proc does not say: false there.
    pub v6only: bool,
}

impl Listener {
    /// Whether traffic to `addr` reaches this socket: the same address, or a wildcard (an
    /// IPv6 wildcard takes IPv4 too unless it is v6-only).
    pub fn covers(&self, addr: IpAddr) -> bool {
        match self.addr {
            IpAddr::V4(a) if a.is_unspecified() => addr.is_ipv4(),
            IpAddr::V6(a) if a.is_unspecified() => addr.is_ipv6() || !self.v6only,
            a => a == addr,
        }
    }
}

/// `a  b\t c\n` → `a b c`: how /proc prints several numbers, made comparable.
pub fn normalize(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::ipvs::IPPROTO_TCP;
    use std::net::IpAddr;

    #[test]
    fn ipv6_forwarding_keeps_router_advertisements_on_the_public_interface() {
        let config = |sysctl: &str| {
            let text = format!(
                r#"{{"public":[{{"address":"2001:db8::10","interface":"eth0.7"}},{{"address":"203.0.113.10","interface":"eth1"}}],
                   "sysctl":{{{sysctl}}},
                   "forwards":[{{"name":"v6","listen":"[2001:db8::10]:443","backends":["[fd00::5]:443"]}}]}}"#
            );
            let loaded = crate::config::check("t".into(), text.as_bytes());
            from_config(&loaded.config.expect("valid"))
        };
        let keys: Vec<(String, String)> = config("")
            .sysctls
            .into_iter()
            .map(|s| (s.key, s.value))
            .collect();
        assert_eq!(
            keys,
            [
                (IPV6_FORWARDING.to_string(), "1".to_string()),
                (
                    "net.ipv6.conf.eth0/7.accept_ra".to_string(),
                    "2".to_string()
                )
            ]
        );
        // The config's own value wins.
        let own = config(r#""net.ipv6.conf.eth0/7.accept_ra": 0"#);
        assert_eq!(own.sysctls[1].value, "0");
    }

    #[test]
    fn wildcards_cover_their_family_and_v6_wildcards_cover_both_unless_v6_only() {
        let any4 = Listener {
            protocol: IPPROTO_TCP,
            addr: "0.0.0.0".parse().expect("ip"),
            port: 22,
            v6only: false,
        };
        let any6 = Listener {
            addr: "::".parse().expect("ip"),
            ..any4
        };
        let any6_only = Listener {
            v6only: true,
            ..any6
        };
        let one = Listener {
            addr: "127.0.0.1".parse().expect("ip"),
            ..any4
        };
        let public: IpAddr = "203.0.113.10".parse().expect("ip");
        let public6: IpAddr = "2001:db8::1".parse().expect("ip");
        assert!(any4.covers(public) && any6.covers(public) && !one.covers(public));
        assert!(!any4.covers(public6) && any6.covers(public6));
        assert!(!any6_only.covers(public) && any6_only.covers(public6));
    }
}
