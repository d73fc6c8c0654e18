//! The known pitfalls of forwarding to bridged guests, checked against the live host:
//! `portfwd doctor` lists every finding, `plan` shows the warnings. The checks are pure
//! functions of [`Facts`], which [`Facts::read`] gathers.

pub mod ha;

pub use ha::{HaFacts, Heard};

use crate::config::model::{Config, Method};
use crate::kernel::sysctl::Sysctl;
use crate::state::firewall::Fate;
use crate::state::host::{IP_FORWARD, IPV6_FORWARDING};
use crate::state::links::LinkTable;
use std::collections::BTreeMap;
use std::net::IpAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Ok,
    Info,
    Warn,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Info => "info",
            Level::Warn => "warn",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub level: Level,
    /// A stable id: `rp-filter`, `bridge-nf-call-iptables`, `backend-route`,
    /// `bridge-gateway`, `conn-table`, `ip-forward`.
    pub check: &'static str,
    pub message: String,
}

/// What the checks look at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    pub links: LinkTable,
    /// `net.ipv4.conf.all.rp_filter` (read when there is an interface to check).
    pub rp_filter_all: Option<u32>,
    /// `net.ipv4.conf.<interface>.rp_filter` per declared bridge, and per interface an IPv4
    /// masq backend is found on (a bridge the host's own network configuration keeps).
    pub rp_filter: Vec<(String, Option<u32>)>,
    pub br_netfilter_loaded: bool,
    /// Read when br_netfilter is loaded (the sysctl comes with it).
    pub bridge_nf_call_iptables: Option<u32>,
    pub ip_forward: Option<u32>,
    /// `net.ipv6.conf.all.forwarding`, read when an IPv6 masq forward needs it.
    pub ipv6_forwarding: Option<u32>,
    /// IPVS's connection hash table size, when IPVS answered.
    pub conn_table_size: Option<u32>,
    pub boot: BootPaths,
    /// The packet filter's tables hooked at input.
    pub firewall: Vec<crate::state::firewall::Table>,
    /// The active/backup pair's facts.
    pub ha: HaFacts,
}

/// The two ways a Debian host can build its table at boot. Debian's ipvsadm init script
/// (enabled, with `AUTO="true"`) flushes the table and loads `/etc/ipvsadm.rules`;
/// portfwd.service applies the config. Both at once race each other at every boot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BootPaths {
    pub ipvsadm_restores: bool,
    pub portfwd_enabled: bool,
}

impl BootPaths {
    /// Reads the init links, systemd's `.wants` folders and `etc/default/ipvsadm` under
    /// `root` (`/` on a host).
    pub fn read(root: &std::path::Path) -> BootPaths {
        let wants = |unit: &str| {
            [
                "multi-user.target.wants",
                "network-online.target.wants",
                "sysinit.target.wants",
            ]
            .iter()
            .any(|dir| {
                root.join("etc/systemd/system")
                    .join(dir)
                    .join(unit)
                    .exists()
            })
        };
        let rc_started = ["rc2.d", "rc3.d", "rc4.d", "rc5.d", "rcS.d"]
            .iter()
            .any(|rc| {
                std::fs::read_dir(root.join("etc").join(rc)).is_ok_and(|entries| {
                    entries.filter_map(Result::ok).any(|e| {
                        let name = e.file_name();
                        let name = name.to_string_lossy();
                        name.starts_with('S')
                            && name.trim_start_matches(|c: char| c == 'S' || c.is_ascii_digit())
                                == "ipvsadm"
                    })
                })
            });
        let auto = std::fs::read_to_string(root.join("etc/default/ipvsadm")).is_ok_and(|text| {
            text.lines()
                .filter_map(|l| l.trim().strip_prefix("AUTO="))
                .next_back()
                .is_some_and(|v| v.trim_matches(['"', '\'']) == "true")
        });
        BootPaths {
            ipvsadm_restores: auto && (rc_started || wants("ipvsadm.service")),
            portfwd_enabled: wants("portfwd.service"),
        }
    }
}

fn number(sysctl: &mut dyn Sysctl, key: &str) -> Option<u32> {
    sysctl
        .read(key)
        .ok()
        .flatten()
        .and_then(|v| v.trim().parse().ok())
}

impl Facts {
    pub fn read(
        config: &Config,
        links: LinkTable,
        sysctl: &mut dyn Sysctl,
        conn_table_size: Option<u32>,
    ) -> Facts {
        // Each read only where a check looks at it: `all` beside a bridge's own rp_filter,
        // bridge-nf-call-iptables (which exists only then) with br_netfilter loaded.
        let br_netfilter_loaded = std::path::Path::new("/sys/module/br_netfilter").exists();
        let interfaces = backend_interfaces(config, &links);
        let v6_masq = config
            .forwards
            .iter()
            .any(|f| f.uses(Method::Masq) && f.listen.addr.is_ipv6());
        Facts {
            rp_filter_all: if interfaces.is_empty() {
                None
            } else {
                number(sysctl, "net.ipv4.conf.all.rp_filter")
            },
            rp_filter: interfaces
                .into_iter()
                .map(|name| {
                    let key = format!("net.ipv4.conf.{}.rp_filter", name.replace('.', "/"));
                    let value = number(sysctl, &key);
                    (name, value)
                })
                .collect(),
            br_netfilter_loaded,
            bridge_nf_call_iptables: if br_netfilter_loaded {
                number(sysctl, "net.bridge.bridge-nf-call-iptables")
            } else {
                None
            },
            ip_forward: number(sysctl, IP_FORWARD),
            ipv6_forwarding: if v6_masq {
                number(sysctl, IPV6_FORWARDING)
            } else {
                None
            },
            links,
            conn_table_size,
            boot: BootPaths::read(std::path::Path::new("/")),
            firewall: if config.forwards.is_empty() {
                Vec::new()
            } else {
                crate::kernel::firewall::read()
            },
            ha: HaFacts {
                sync_daemons: None,
                sync_rp_filter: config.sync.as_ref().map(|s| {
                    let key = format!("net.ipv4.conf.{}.rp_filter", s.interface.replace('.', "/"));
                    number(sysctl, "net.ipv4.conf.all.rp_filter")
                        .unwrap_or(0)
                        .max(number(sysctl, &key).unwrap_or(0))
                }),
                keepalived_current: keepalived_current(config),
                no_carrier: ha::no_carrier(config),
                advert: None,
            },
        }
    }
}

/// Whether the host's keepalived.conf is what `gen keepalived` writes (`None` without the
/// file, or without `vrrp`).
fn keepalived_current(config: &Config) -> Option<bool> {
    let file = crate::generate::keepalived::file(config, "")?;
    let root = std::path::Path::new("/");
    if !root.join(&file.path).exists() {
        return None;
    }
    Some(crate::generate::check(root, &[file], &[]).is_ok_and(|d| d.is_empty()))
}

/// The IPVS default (`conn_tab_bits` 12).
const DEFAULT_CONN_TABLE: u32 = 4096;

/// Every finding, `ok` ones included (`portfwd doctor`).
pub fn check(config: &Config, facts: &Facts) -> Vec<Finding> {
    check_from(config, facts, Level::Ok)
}

/// Just the warnings (what a plan shows): the other findings' messages are not even
/// written.
pub fn warnings(config: &Config, facts: &Facts) -> Vec<Finding> {
    check_from(config, facts, Level::Warn)
}

/// The findings of `min` level or above.
struct Findings {
    min: Level,
    out: Vec<Finding>,
}

impl Findings {
    fn add(&mut self, level: Level, check: &'static str, message: impl FnOnce() -> String) {
        if level >= self.min {
            self.out.push(Finding {
                level,
                check,
                message: message(),
            });
        }
    }
}

/// The doctor's checks, each one function, in the order their findings are shown.
const CHECKS: &[fn(&Config, &Facts, &mut Findings)] = &[
    ip_forward,
    rp_filter,
    bridge_nf_call_iptables,
    backend_routes,
    bridge_gateways,
    firewall,
    ha::check,
    boot_paths,
    conn_table,
];

fn check_from(config: &Config, facts: &Facts, min: Level) -> Vec<Finding> {
    let mut findings = Findings {
        min,
        out: Vec::new(),
    };
    for check in CHECKS {
        check(config, facts, &mut findings);
    }
    findings.out
}

/// Forwarding of each address family that has masq forwards: their backends' replies
/// are routed through this host.
fn ip_forward(config: &Config, facts: &Facts, findings: &mut Findings) {
    let masq = |v4: bool| {
        config
            .forwards
            .iter()
            .any(|f| f.uses(Method::Masq) && f.listen.addr.is_ipv4() == v4)
    };
    for (family, wanted, key, value) in [
        ("IPv4", masq(true), IP_FORWARD, facts.ip_forward),
        ("IPv6", masq(false), IPV6_FORWARDING, facts.ipv6_forwarding),
    ] {
        if !wanted {
            continue;
        }
        match value {
            Some(0) => findings.add(Level::Warn, "ip-forward", || {
                format!(
                    "{key} is 0: replies of {family} masq backends are not forwarded (apply sets it to 1)"
                )
            }),
            _ => findings.add(Level::Ok, "ip-forward", || {
                format!("{key} fits the {family} masq forwards")
            }),
        }
    }
}

/// Strict reverse-path filtering on the bridges.
fn rp_filter(_config: &Config, facts: &Facts, findings: &mut Findings) {
    // rp_filter: the kernel uses the larger of `all` and the interface's value.
    for (bridge, value) in &facts.rp_filter {
        let effective = facts.rp_filter_all.unwrap_or(0).max(value.unwrap_or(0));
        if effective == 1 {
            findings.add(Level::Warn, "rp-filter", || {
                format!(
                    "strict reverse-path filtering (rp_filter=1) on {bridge}: packets from guests whose source address does not route back via {bridge} are dropped (guests with extra or moved addresses, asymmetric routes); use 2 (loose) with \"sysctl\": {{\"net.ipv4.conf.{bridge}.rp_filter\": 2, \"net.ipv4.conf.all.rp_filter\": 2}}"
                )
            });
        } else {
            findings.add(Level::Ok, "rp-filter", || {
                format!("rp_filter on {bridge} is {effective}")
            });
        }
    }
}

/// Bridged traffic passing iptables (br_netfilter).
fn bridge_nf_call_iptables(_config: &Config, facts: &Facts, findings: &mut Findings) {
    if facts.br_netfilter_loaded && facts.bridge_nf_call_iptables == Some(1) {
        findings.add(Level::Warn, "bridge-nf-call-iptables", || {
            "br_netfilter is loaded and net.bridge.bridge-nf-call-iptables is 1: traffic between guests on a bridge passes iptables and conntrack, where FORWARD rules and conntrack entries can drop or mangle it; set \"net.bridge.bridge-nf-call-iptables\": 0 unless you filter bridged traffic on purpose".to_string()
        });
    } else {
        findings.add(Level::Ok, "bridge-nf-call-iptables", || {
            "bridged traffic does not pass iptables".to_string()
        });
    }
}

/// Every masq backend must send its replies back through this host.
fn backend_routes(config: &Config, facts: &Facts, findings: &mut Findings) {
    // Every masq backend must send its replies back through this host: it should sit on a
    // subnet the host has an address on (the host being its gateway there). One finding per
    // address, however many forwards share it; past a few, one finding counts them.
    let mut off_bridge = Vec::new();
    let mut off_host = Vec::new();
    for (addr, forward, uses) in masq_backends(config) {
        let named = match uses {
            1 => format!("{addr} of forward \"{forward}\""),
            n => format!("{addr} of forward \"{forward}\" and {} more", n - 1),
        };
        match interface_of(config, &facts.links, addr) {
            Some(iface) if !config.bridges.iter().any(|br| br.name == iface) => {
                off_bridge.push((named, iface));
            }
            Some(_) => {}
            None => off_host.push(named),
        }
    }
    if off_bridge.len() > GROUPED {
        findings.add(Level::Info, "backend-route", || {
            let some: Vec<String> = off_bridge[..GROUPED]
                .iter()
                .map(|(named, iface)| format!("{named} on {iface}"))
                .collect();
            format!(
                "{} masq backends are on interfaces that are not declared bridges, e.g. {}",
                off_bridge.len(),
                some.join("; ")
            )
        });
    } else {
        for (named, iface) in &off_bridge {
            findings.add(Level::Info, "backend-route", || {
                format!("masq backend {named} is on {iface}, which is not a declared bridge")
            });
        }
    }
    const NO_ROUTE: &str = "passes through this host (otherwise clients see resets or timeouts)";
    if off_host.len() > GROUPED {
        findings.add(Level::Warn, "backend-route", || {
            format!(
                "{} masq backends are on no subnet of this host, e.g. {}: their replies return only if their route back {NO_ROUTE}",
                off_host.len(),
                off_host[..GROUPED].join("; ")
            )
        });
    } else {
        for named in &off_host {
            findings.add(Level::Warn, "backend-route", || {
                format!(
                    "masq backend {named} is on no subnet of this host: its replies return only if its route back {NO_ROUTE}"
                )
            });
        }
    }
}

/// Each declared bridge holds the guests' gateway address.
fn bridge_gateways(config: &Config, facts: &Facts, findings: &mut Findings) {
    for b in &config.bridges {
        if facts.links.by_name(&b.name).is_none() {
            findings.add(Level::Info, "bridge-gateway", || {
                format!(
                    "{} does not exist (apply creates it with {})",
                    b.name, b.address
                )
            });
            continue;
        }
        let has = facts
            .links
            .addresses_of(&b.name)
            .iter()
            .any(|a| a.addr == b.address.addr && a.prefix_len == b.address.prefix_len);
        if has {
            findings.add(Level::Ok, "bridge-gateway", || {
                format!("{} has the guests' gateway address {}", b.name, b.address)
            });
        } else {
            findings.add(Level::Warn, "bridge-gateway", || {
                format!(
                    "{} lacks the guests' gateway address {}: guests routing via it cannot reach anything (apply adds it)",
                    b.name, b.address
                )
            });
        }
    }
}

/// Debian's ipvsadm boot script beside portfwd.service.
fn boot_paths(_config: &Config, facts: &Facts, findings: &mut Findings) {
    if facts.boot.ipvsadm_restores && facts.boot.portfwd_enabled {
        findings.add(Level::Warn, "boot-paths", || {
            "Debian's ipvsadm init script (AUTO=\"true\" in /etc/default/ipvsadm) and portfwd.service are both enabled: at boot the script flushes the table (ipvsadm -C) and loads /etc/ipvsadm.rules, racing portfwd; keep one: `systemctl disable ipvsadm` (or AUTO=\"false\"), or `systemctl disable portfwd` with `portfwd gen debian`".to_string()
        });
    }
}

/// The size of the IPVS connection table.
fn conn_table(_config: &Config, facts: &Facts, findings: &mut Findings) {
    match facts.conn_table_size {
        Some(size) if size <= DEFAULT_CONN_TABLE => findings.add(Level::Info, "conn-table", || {
            format!(
                "the IPVS connection table has {size} hash buckets (the default): with many concurrent connections lookups slow down; raise it with `options ip_vs conn_tab_bits=18` in /etc/modprobe.d/ip_vs.conf (takes effect when ip_vs is next loaded)"
            )
        }),
        Some(size) => findings.add(Level::Ok, "conn-table", || {
            format!("the IPVS connection table has {size} hash buckets")
        }),
        None => {}
    }
}

/// Forwards whose listen port the packet filter drops before IPVS sees it (LOCAL_IN comes
/// after the INPUT chain).
fn firewall(config: &Config, facts: &Facts, findings: &mut Findings) {
    if facts.firewall.is_empty() {
        return;
    }
    let mut closed = Vec::new();
    for f in &config.forwards {
        let Some(ports) = f.listen.ports else {
            continue;
        };
        let protocol = crate::state::desired::protocol_number(f.protocol);
        let v4 = f.listen.addr.is_ipv4();
        let dropped = facts.firewall.iter().find(|t| {
            ports
                .ports()
                .any(|port| t.fate(v4, protocol, port) == Fate::Dropped)
        });
        if let Some(table) = dropped {
            closed.push(format!(
                "{} {} of forward \"{}\" (table {} {})",
                f.protocol, ports, f.name, table.family, table.name
            ));
        }
    }
    if closed.is_empty() {
        findings.add(Level::Ok, "firewall", || {
            "the packet filter lets new connections reach every listen port".to_string()
        });
        return;
    }
    findings.add(Level::Warn, "firewall", || {
        let n = closed.len();
        let shown = closed[..n.min(GROUPED)].join("; ");
        let more = if n > GROUPED {
            format!(" and {} more", n - GROUPED)
        } else {
            String::new()
        };
        format!(
            "the packet filter's INPUT path drops new connections to {shown}{more}: IPVS sees packets after it, so these forwards do not work; open the ports (NixOS: services.portfwd.openFirewall)"
        )
    });
}

/// The masq backends' distinct addresses in config order, each with the first forward that
/// names it and how many name it.
fn masq_backends(config: &Config) -> Vec<(IpAddr, &str, usize)> {
    let mut backends: Vec<(IpAddr, &str, usize)> = Vec::new();
    let mut position: BTreeMap<IpAddr, usize> = BTreeMap::new();
    for f in &config.forwards {
        for b in f.backends.iter().filter(|b| f.method_of(b) == Method::Masq) {
            let addr = b.address.addr;
            match position.get(&addr) {
                Some(&i) => backends[i].2 += 1,
                None => {
                    position.insert(addr, backends.len());
                    backends.push((addr, &f.name, 1));
                }
            }
        }
    }
    backends
}

/// Past this many backends of one kind, one finding counts them and names this many: a
/// table of thousands of backends stays readable.
const GROUPED: usize = 3;

/// The interfaces to check rp_filter on: the declared bridges, then each link whose subnet
/// holds an IPv4 masq backend outside them (rp_filter is IPv4's).
fn backend_interfaces(config: &Config, links: &LinkTable) -> Vec<String> {
    let mut names: Vec<String> = config.bridges.iter().map(|b| b.name.clone()).collect();
    for (addr, _, _) in masq_backends(config) {
        if let Some(name) = interface_of(config, links, addr).filter(|_| addr.is_ipv4())
            && !names.contains(&name)
        {
            names.push(name);
        }
    }
    names
}

/// The interface a backend at `addr` is reached on: the declared bridge whose subnet holds it
/// (even before apply adds the bridge's address), else the link whose subnet does.
fn interface_of(config: &Config, links: &LinkTable, addr: IpAddr) -> Option<String> {
    config
        .bridges
        .iter()
        .find(|br| br.address.contains(addr))
        .map(|br| br.name.clone())
        .or_else(|| on_link(links, addr))
}

/// The interface whose subnet holds `addr`, if any.
fn on_link(links: &LinkTable, addr: IpAddr) -> Option<String> {
    links
        .addresses
        .iter()
        .find(|a| same_subnet(a.addr, addr, a.prefix_len))
        .and_then(|a| links.by_index(a.index))
        .map(|l| l.name.clone())
}

fn same_subnet(a: IpAddr, b: IpAddr, prefix_len: u8) -> bool {
    let cidr = crate::config::endpoint::Cidr {
        addr: a,
        prefix_len,
    };
    cidr.contains(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::links::{Address, Link};

    /// A valid config of these forwards (JSON objects) on public address 203.0.113.10.
    fn config_of(forwards: &[String]) -> Config {
        let text = format!(
            r#"{{"public":[{{"address":"203.0.113.10"}}],"forwards":[{}]}}"#,
            forwards.join(",")
        );
        crate::config::check("t".into(), text.as_bytes())
            .config
            .expect("valid")
    }

    #[test]
    fn counts_each_masq_backend_once_however_many_there_are() {
        // 20 addresses named by forwards in turn, each by three forwards,
        // and one tunnel forward that is not counted.
        let mut forwards = Vec::new();
        for i in 0..60 {
            let backends = [i % 20, (i + 1) % 20].map(|b| format!("\"10.0.0.{}\"", b + 2));
            forwards.push(format!(
                r#"{{"name":"f{i}","listen":"203.0.113.10:{}","backends":[{}]}}"#,
                1000 + i,
                backends.join(",")
            ));
        }
        forwards.push(
            r#"{"name":"t","listen":"203.0.113.10:9","method":"tunnel","backends":["10.9.9.9"]}"#
                .to_string(),
        );
        let config = config_of(&forwards);
        // Forward i names i and i + 1 (mod 20): address 0 first comes in forward 0, address
        // b > 0 in forward b - 1 (as its second backend), so they come in address order;
        // each is named by six forwards (three as first backend, three as second).
        let expected: Vec<(IpAddr, String, usize)> = (0..20)
            .map(|b| {
                let addr: IpAddr = format!("10.0.0.{}", b + 2).parse().expect("address");
                (addr, format!("f{}", b.max(1) - 1), 6)
            })
            .collect();
        let found: Vec<(IpAddr, String, usize)> = masq_backends(&config)
            .into_iter()
            .map(|(a, f, n)| (a, f.to_string(), n))
            .collect();
        assert_eq!(found, expected);
    }

    #[test]
    fn finds_the_pitfalls_of_a_badly_set_up_host() {
        let loaded = crate::config::check(
            "t".into(),
            br#"{"public":[{"address":"203.0.113.10"}],
                 "bridges":[{"name":"br1","address":"10.0.0.1/24"}],
                 "forwards":[{"name":"ssh","listen":"203.0.113.10:2222","backends":["10.0.0.2:22","192.168.7.7:22"]}]}"#,
        );
        let config = loaded.config.expect("valid");
        let facts = Facts {
            links: LinkTable {
                links: vec![Link {
                    index: 3,
                    name: "br1".into(),
                    kind: Some("bridge".into()),
                    master: None,
                    up: true,
                }],
                addresses: vec![Address {
                    index: 3,
                    addr: "10.0.0.9".parse().expect("ip"),
                    prefix_len: 24,
                }],
                default_routes: Vec::new(),
            },
            rp_filter_all: Some(0),
            rp_filter: vec![("br1".into(), Some(1))],
            br_netfilter_loaded: true,
            bridge_nf_call_iptables: Some(1),
            ip_forward: Some(0),
            ipv6_forwarding: None,
            conn_table_size: Some(4096),
            boot: BootPaths::default(),
            firewall: Vec::new(),
            ha: HaFacts::default(),
        };
        let found: Vec<String> = check(&config, &facts)
            .iter()
            .filter(|f| f.level != Level::Ok)
            .map(|f| format!("{} {}", f.level.name(), f.check))
            .collect();
        assert_eq!(
            found,
            [
                "warn ip-forward",
                "warn rp-filter",
                "warn bridge-nf-call-iptables",
                "warn backend-route",
                "warn bridge-gateway",
                "info conn-table"
            ]
        );
        // A plan asks for the warnings alone: the same findings, messages and order.
        let all_warnings: Vec<Finding> = check(&config, &facts)
            .into_iter()
            .filter(|f| f.level == Level::Warn)
            .collect();
        assert_eq!(warnings(&config, &facts), all_warnings);
        assert_eq!(all_warnings.len(), 5);
        let healthy = Facts {
            rp_filter: vec![("br1".into(), Some(2))],
            bridge_nf_call_iptables: Some(0),
            ip_forward: Some(1),
            ipv6_forwarding: None,
            ..facts.clone()
        };
        assert!(check(&config, &healthy).len() > 3);
        assert_eq!(
            warnings(&config, &healthy)
                .iter()
                .map(|f| f.check)
                .collect::<Vec<_>>(),
            ["backend-route", "bridge-gateway"]
        );
    }

    /// Records the keys asked for; every key reads as 1.
    #[derive(Default)]
    struct Asked(Vec<String>);

    impl Sysctl for Asked {
        fn read(&mut self, key: &str) -> Result<Option<String>, crate::kernel::KernelError> {
            self.0.push(key.to_string());
            Ok(Some("1".into()))
        }

        fn write(&mut self, _: &str, _: &str) -> Result<(), crate::kernel::KernelError> {
            Ok(())
        }
    }

    #[test]
    fn reads_only_what_a_check_looks_at() {
        let config = |bridges: &str| {
            let text = format!(
                r#"{{"public":[{{"address":"203.0.113.10"}}],"bridges":[{bridges}],
                    "forwards":[{{"name":"ssh","listen":"203.0.113.10:2222","backends":["10.0.0.2:22"]}}]}}"#
            );
            crate::config::check("t".into(), text.as_bytes())
                .config
                .expect("valid")
        };
        let br_netfilter = std::path::Path::new("/sys/module/br_netfilter").exists();
        let mut asked = Asked::default();
        let facts = Facts::read(&config(""), LinkTable::default(), &mut asked, None);
        assert!(
            !asked.0.iter().any(|k| k.ends_with("all.rp_filter")),
            "{:?}",
            asked.0
        );
        assert_eq!(facts.rp_filter_all, None);
        assert_eq!(
            asked
                .0
                .iter()
                .any(|k| k.contains("bridge-nf-call-iptables")),
            br_netfilter
        );
        let mut asked = Asked::default();
        let facts = Facts::read(
            &config(r#"{"name":"br1","address":"10.0.0.1/24"}"#),
            LinkTable::default(),
            &mut asked,
            None,
        );
        assert_eq!(facts.rp_filter_all, Some(1));
        assert_eq!(facts.rp_filter, [("br1".to_string(), Some(1))]);
    }

    /// The backend-route messages `find` gives for `config` on a host with no links.
    fn backend_routes(find: fn(&Config, &Facts) -> Vec<Finding>, config: &Config) -> Vec<String> {
        let facts = Facts {
            links: LinkTable::default(),
            rp_filter_all: None,
            rp_filter: Vec::new(),
            br_netfilter_loaded: false,
            bridge_nf_call_iptables: None,
            ip_forward: Some(1),
            ipv6_forwarding: None,
            conn_table_size: None,
            boot: BootPaths::default(),
            firewall: Vec::new(),
            ha: HaFacts::default(),
        };
        find(config, &facts)
            .into_iter()
            .filter(|f| f.check == "backend-route")
            .map(|f| f.message)
            .collect()
    }

    #[test]
    fn many_backends_off_the_hosts_subnets_are_one_finding() {
        let forwards: Vec<String> = (0..50)
            .map(|i| {
                format!(
                    r#"{{"name":"f{i}","listen":"203.0.113.10:{}","backends":["192.168.{i}.7:22","192.168.{i}.8:22"]}}"#,
                    1000 + i
                )
            })
            .collect();
        let config = config_of(&forwards);
        let routes = backend_routes(warnings, &config);
        assert_eq!(routes.len(), 1, "{routes:?}");
        assert!(
            routes[0].starts_with(
                "100 masq backends are on no subnet of this host, e.g. 192.168.0.7 of forward \"f0\"; 192.168.0.8 of forward \"f0\"; 192.168.1.7 of forward \"f1\": their replies"
            ),
            "{}",
            routes[0]
        );
    }

    #[test]
    fn a_backend_shared_by_many_forwards_is_one_finding() {
        let forwards: Vec<String> = (0..300)
            .map(|i| {
                format!(
                    r#"{{"name":"f{i}","listen":"203.0.113.10:{}","backends":["192.168.7.7:22","192.168.7.8:22"]}}"#,
                    1000 + i
                )
            })
            .collect();
        let config = config_of(&forwards);
        let routes = backend_routes(check, &config);
        assert_eq!(routes.len(), 2, "{routes:?}");
        assert!(
            routes[0].starts_with(
                "masq backend 192.168.7.7 of forward \"f0\" and 299 more is on no subnet"
            ),
            "{}",
            routes[0]
        );
    }

    #[test]
    fn both_boot_paths_enabled_is_a_warning() {
        let root = tempfile::tempdir().expect("tempdir");
        let at = |p: &str| root.path().join(p);
        let read = || BootPaths::read(root.path());
        assert_eq!(read(), BootPaths::default());
        std::fs::create_dir_all(at("etc/default")).expect("mkdir");
        std::fs::create_dir_all(at("etc/rc2.d")).expect("mkdir");
        std::fs::create_dir_all(at("etc/systemd/system/multi-user.target.wants")).expect("mkdir");
        std::fs::write(at("etc/rc2.d/S01ipvsadm"), "").expect("write");
        std::fs::write(at("etc/default/ipvsadm"), "AUTO=\"false\"\n").expect("write");
        assert!(
            !read().ipvsadm_restores,
            "AUTO false: the script loads nothing"
        );
        std::fs::write(
            at("etc/default/ipvsadm"),
            "# x\nAUTO=\"true\"\nDAEMON=\"none\"\n",
        )
        .expect("write");
        assert!(read().ipvsadm_restores);
        std::fs::write(
            at("etc/systemd/system/multi-user.target.wants/portfwd.service"),
            "",
        )
        .expect("write");
        let facts = Facts {
            boot: read(),
            ..Facts::default()
        };
        assert_eq!(
            facts.boot,
            BootPaths {
                ipvsadm_restores: true,
                portfwd_enabled: true
            }
        );
        let found: Vec<Finding> = warnings(&config_of(&[]), &facts)
            .into_iter()
            .filter(|f| f.check == "boot-paths")
            .collect();
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].message.contains("systemctl disable ipvsadm"),
            "{}",
            found[0].message
        );
        std::fs::remove_file(at("etc/rc2.d/S01ipvsadm")).expect("rm");
        std::fs::write(at("etc/rc2.d/K01ipvsadm"), "").expect("write");
        assert!(!read().ipvsadm_restores, "a K link does not start it");
    }

    #[test]
    fn a_bridge_apply_will_create_is_not_judged() {
        let loaded = crate::config::check(
            "t".into(),
            br#"{"bridges":[{"name":"br1","address":"10.0.0.1/24"}],"forwards":[]}"#,
        );
        let config = loaded.config.expect("valid");
        let found = check(&config, &Facts::default());
        let bridge: Vec<&Finding> = found
            .iter()
            .filter(|f| f.check == "bridge-gateway")
            .collect();
        assert_eq!(bridge.len(), 1, "{found:?}");
        assert_eq!(bridge[0].level, Level::Info);
        assert_eq!(
            bridge[0].message,
            "br1 does not exist (apply creates it with 10.0.0.1/24)"
        );
    }

    #[test]
    fn a_firewall_that_drops_a_listen_port_is_a_warning() {
        let text = "*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp --dport 2222 -j ACCEPT\nCOMMIT\n";
        let loaded = crate::config::check(
            "t".into(),
            br#"{"public":[{"address":"203.0.113.10"}],"forwards":[
                {"name":"ssh","listen":"203.0.113.10:2222","backends":["10.0.0.2:22"]},
                {"name":"web","listen":"203.0.113.10:80","backends":["10.0.0.3"]},
                {"name":"dns","protocol":"udp","listen":"203.0.113.10:53","backends":["10.0.0.3"]}]}"#,
        );
        let config = loaded.config.expect("valid");
        let facts = Facts {
            firewall: crate::state::firewall::from_iptables_save(text, "ip"),
            ..Facts::default()
        };
        let found: Vec<Finding> = warnings(&config, &facts)
            .into_iter()
            .filter(|f| f.check == "firewall")
            .collect();
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].message.starts_with("the packet filter's INPUT path drops new connections to tcp 80 of forward \"web\" (table ip filter); udp 53 of forward \"dns\" (table ip filter): "),
            "{}",
            found[0].message
        );
    }

    #[test]
    fn forwarding_is_checked_for_each_family_that_has_masq_forwards() {
        let loaded = crate::config::check(
            "t".into(),
            br#"{"public":[{"address":"2001:db8::10"}],
                 "forwards":[{"name":"web","listen":"[2001:db8::10]:80","backends":["[fd00::2]:80"]}]}"#,
        );
        let config = loaded.config.expect("valid");
        let found = |ipv6_forwarding| {
            let facts = Facts {
                ip_forward: Some(0),
                ipv6_forwarding,
                ..Facts::default()
            };
            check(&config, &facts)
                .into_iter()
                .filter(|f| f.check == "ip-forward")
                .map(|f| format!("{} {}", f.level.name(), f.message))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            found(Some(0)),
            [
                "warn net.ipv6.conf.all.forwarding is 0: replies of IPv6 masq backends are not forwarded (apply sets it to 1)"
            ],
            "IPv4 forwarding off does not matter to an IPv6-only config"
        );
        assert_eq!(
            found(Some(1)),
            ["ok net.ipv6.conf.all.forwarding fits the IPv6 masq forwards"]
        );
    }

    #[test]
    fn rp_filter_is_read_on_the_interfaces_backends_are_on_declared_or_not() {
        let loaded = crate::config::check(
            "t".into(),
            br#"{"public":[{"address":"203.0.113.10"}],
                 "bridges":[{"name":"br1","address":"10.0.0.1/24"}],
                 "forwards":[{"name":"a","listen":"203.0.113.10:80","backends":["10.0.0.2","10.1.0.2","10.1.0.3","192.0.2.9"]}]}"#,
        );
        let config = loaded.config.expect("valid");
        let link = |index, name: &str| Link {
            index,
            name: name.into(),
            kind: Some("bridge".into()),
            master: None,
            up: true,
        };
        let links = LinkTable {
            links: vec![link(3, "br1"), link(4, "virbr0")],
            addresses: vec![Address {
                index: 4,
                addr: "10.1.0.1".parse().expect("ip"),
                prefix_len: 24,
            }],
            default_routes: Vec::new(),
        };
        assert_eq!(backend_interfaces(&config, &links), ["br1", "virbr0"]);
    }
}
