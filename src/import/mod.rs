//! `portfwd import`: a v1 config describing what a host runs today, so that the first
//! `portfwd plan` of it says "no changes". From an IPVS table (the live kernel, a snapshot,
//! `ipvsadm -S` rules or scripts) here; from keepalived.conf in `keepalived.rs`. What cannot
//! be carried over becomes a note, never a silent drop.

pub mod ipvsadm;
pub mod keepalived;

mod output;

pub use output::{BackendOut, ConfigOut, ForwardOut, PublicOut};

use crate::config::model::{Named, Scheduler};
use crate::state::ipvs::{
    Dest, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, Method, ServiceEntry, ServiceKey, Table,
    TunnelType, default_netmask, flags, tun_flags,
};
use crate::state::links::LinkTable;
use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};

/// What an import produced: the config, and what it could not carry over.
#[derive(Debug, Default)]
pub struct Imported {
    pub config: ConfigOut,
    pub notes: Vec<String>,
    /// Services left out, by address, with why: whether a plan removes them depends on the
    /// final config (`finish` says which).
    pub skipped: Vec<(IpAddr, String)>,
}

/// A config for `table`. With `links` (an import from the live kernel), public addresses
/// get the interface that holds them, and bridges holding backends' subnets are declared.
pub fn from_table(table: &Table, links: Option<&LinkTable>) -> Imported {
    let mut out = Imported::default();
    let mut names = BTreeSet::new();
    for entry in table.services.values() {
        let ServiceKey::Tuple { addr, .. } = entry.service.key else {
            out.notes.push(format!(
                "service {}: firewall-mark services have no place in a portfwd config; skipped (portfwd leaves it alone)",
                entry.service.key
            ));
            continue;
        };
        match forward(entry, &mut names) {
            Ok(f) => {
                if !out.config.public.iter().any(|p| p.address == addr) {
                    let holder = links.map(|l| l.holder_of(addr).map(|h| h.name.clone()));
                    if holder == Some(None) {
                        out.notes.push(format!(
                            "{addr} is not an address of this host: a plan will say so; if VRRP moves it here, mark it \"floating\" with its \"interface\" and add \"vrrp\" (docs/ha.md)"
                        ));
                    }
                    out.config.public.push(PublicOut {
                        address: addr,
                        interface: holder.flatten(),
                        prefix_len: None,
                        floating: None,
                    });
                }
                out.config.forwards.push(f);
            }
            Err(why) => out.skipped.push((
                addr,
                format!("service {}: {why}; skipped", entry.service.key),
            )),
        }
    }
    if let Some(links) = links {
        out.config.bridges = bridges(&out.config.forwards, links);
    }
    out
}

/// One service as a forward, or why it cannot be one.
fn forward(entry: &ServiceEntry, names: &mut BTreeSet<String>) -> Result<ForwardOut, String> {
    let s = &entry.service;
    let ServiceKey::Tuple {
        protocol,
        addr,
        port,
    } = s.key
    else {
        return Err("a firewall-mark service".into());
    };
    let protocol_name = match protocol {
        IPPROTO_TCP => "tcp",
        IPPROTO_UDP => "udp",
        IPPROTO_SCTP => "sctp",
        other => return Err(format!("protocol {other} is not tcp, udp or sctp")),
    };
    let scheduler = Scheduler::from_name(&s.scheduler)
        .ok_or_else(|| format!("scheduler {} is not one portfwd knows", s.scheduler))?;
    if let Some(pe) = &s.pe_name {
        return Err(format!("persistence engine {pe} is not supported"));
    }
    let known = flags::PERSISTENT | flags::SCHED1 | flags::SCHED2;
    if s.flags & !known != 0 {
        return Err(format!(
            "service flags {:#x} (one-packet scheduling, a third scheduler flag) are not supported",
            s.flags & !known
        ));
    }
    let mut scheduler_flags = Vec::new();
    for (bit, what) in [(flags::SCHED1, "fallback"), (flags::SCHED2, "port")] {
        if s.flags & bit != 0 {
            match scheduler {
                Scheduler::Sh | Scheduler::Mh => {
                    scheduler_flags.push(format!("{}-{what}", scheduler.name()))
                }
                _ => return Err(format!("scheduler flag {what} with {}", scheduler.name())),
            }
        }
    }
    let (persistence, persistence_netmask) = if s.is_persistent() {
        let netmask = (s.netmask != default_netmask(s.key.family()))
            .then(|| prefix_len(addr, s.netmask))
            .transpose()?;
        (Some(s.timeout), netmask)
    } else {
        (None, None)
    };
    let dests: Vec<&Dest> = entry.dests.values().map(|d| &d.dest).collect();
    // The forward's method is the one most destinations have (the first's on a tie); a
    // destination with another gets its own.
    let mut counts: Vec<(Method, usize)> = Vec::new();
    for d in &dests {
        match counts.iter_mut().find(|(m, _)| *m == d.method) {
            Some((_, n)) => *n += 1,
            None => counts.push((d.method, 1)),
        }
    }
    let method = counts
        .iter()
        .rev()
        .max_by_key(|(_, n)| *n)
        .map_or(Method::Masq, |(m, _)| *m);
    let name = method_name(method)?;
    let mut backends = Vec::new();
    for d in dests {
        if let Some(t) = d.tunnel
            && (t.kind != TunnelType::Ipip || t.port != 0 || t.flags != tun_flags::NOCSUM)
        {
            return Err(format!(
                "destination {}: tunnel settings other than plain ipip",
                SocketAddr::new(d.key.addr, d.key.port)
            ));
        }
        let mut backend = BackendOut::of(d);
        if d.method != method {
            backend.method = Some(method_name(d.method)?);
        }
        backends.push(backend);
    }
    Ok(ForwardOut {
        name: unique_name(protocol_name, addr, port, names),
        protocol: (protocol_name != "tcp").then(|| protocol_name.to_string()),
        listen: SocketAddr::new(addr, port).to_string(),
        backends,
        scheduler: scheduler.name().to_string(),
        method: (name != "masq").then(|| name.to_string()),
        persistence,
        persistence_netmask,
        scheduler_flags,
        health: None,
        fallback: None,
        origin: None,
    })
}

/// A kernel forwarding method as the config names it.
fn method_name(method: Method) -> Result<&'static str, String> {
    match method {
        Method::Masq => Ok("masq"),
        Method::Route => Ok("route"),
        Method::Tunnel => Ok("tunnel"),
        other => Err(format!("forwarding method {other:?} is not supported")),
    }
}

/// `imported` with whatever does not validate left out, each with a note saying why: what an
/// import writes always validates (a keepalived real server equal to its virtual server, a
/// backend on a bridge's own address, ...).
pub fn finish(mut imported: Imported) -> Imported {
    use crate::config::diagnostic::{Place, Severity};
    for _ in 0..8 {
        let Ok(text) = serde_json::to_string(&imported.config) else {
            break;
        };
        let loaded = crate::config::check("import".into(), text.as_bytes());
        let errors: Vec<(String, String)> = loaded
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .filter_map(|d| match &d.place {
                Place::Path { path } => Some((path.clone(), d.message.clone())),
                _ => None,
            })
            .collect();
        if errors.is_empty() {
            break;
        }
        let mut drop_forwards = BTreeSet::new();
        let mut drop_backends = BTreeSet::new();
        let mut drop_public = BTreeSet::new();
        for (path, message) in &errors {
            let (f, b) = indices(path);
            match (f, b) {
                (Some(f), Some(b)) => {
                    drop_backends.insert((f, b));
                }
                (Some(f), None) => {
                    drop_forwards.insert(f);
                }
                _ if path.starts_with("vrrp") || path.contains("floating") => {
                    imported.config.vrrp = None;
                    for p in &mut imported.config.public {
                        p.floating = None;
                    }
                }
                // A public address the rules refuse (a multicast one, say) takes its
                // forwards with it.
                _ if index(path, "public[").is_some() => {
                    drop_public.extend(index(path, "public["));
                }
                _ => {}
            }
            // Named where the source declared it when the importer knows (keepalived.conf).
            let forward = f.and_then(|f| imported.config.forwards.get(f));
            let origin = forward.and_then(|fw| {
                b.and_then(|b| fw.backends.get(b))
                    .and_then(|b| b.origin.clone())
                    .or_else(|| fw.origin.clone())
            });
            let what = forward.map_or(String::new(), |f| format!(" (forward {})", f.name));
            imported.notes.push(match origin {
                Some(at) => format!("{at}: {message}{what}; left out"),
                None => format!("{path}{what}: {message}; left out"),
            });
        }
        let gone: Vec<IpAddr> = drop_public
            .iter()
            .filter_map(|&p| imported.config.public.get(p).map(|p| p.address))
            .collect();
        for (i, f) in imported.config.forwards.iter().enumerate() {
            let listen = crate::config::endpoint::parse_endpoint(&f.listen, false);
            if listen.is_ok_and(|e| gone.contains(&e.addr)) && drop_forwards.insert(i) {
                imported.notes.push(format!(
                    "forward {} listens on a public address that was left out; left out",
                    f.name
                ));
            }
        }
        let mut p = 0;
        imported.config.public.retain(|_| {
            p += 1;
            !drop_public.contains(&(p - 1))
        });
        for (i, f) in imported.config.forwards.iter_mut().enumerate() {
            let mut j = 0;
            f.backends.retain(|_| {
                j += 1;
                !drop_backends.contains(&(i, j - 1))
            });
        }
        let mut i = 0;
        imported.config.forwards.retain(|_| {
            i += 1;
            !drop_forwards.contains(&(i - 1))
        });
    }
    // A plan removes what the config does not declare on its public addresses only.
    for (addr, note) in std::mem::take(&mut imported.skipped) {
        let managed = imported.config.public.iter().any(|p| p.address == addr);
        imported.notes.push(if managed {
            format!(
                "{note}: a plan of the imported config would remove it ({addr} is one of its public addresses), so adjust the service or add the forward by hand"
            )
        } else {
            format!("{note}: a plan leaves it alone ({addr} is not one of the config's public addresses)")
        });
    }
    imported
}

/// The forward and backend indices of a path like `forwards[3].backends[0].address`.
fn indices(path: &str) -> (Option<usize>, Option<usize>) {
    (index(path, "forwards["), index(path, "backends["))
}

/// The index after `list[` in `path`.
fn index(path: &str, list: &str) -> Option<usize> {
    path.split_once(list)
        .and_then(|(_, rest)| rest.split(']').next())
        .and_then(|n| n.parse().ok())
}

/// A persistence netmask as a prefix length: IPv4 masks must be contiguous.
pub fn prefix_len(addr: IpAddr, netmask: u32) -> Result<u8, String> {
    match addr {
        IpAddr::V4(_) if netmask.leading_ones() + netmask.trailing_zeros() == 32 => {
            Ok(netmask.leading_ones() as u8)
        }
        IpAddr::V4(_) => Err(format!("netmask {netmask:#x} is not contiguous")),
        IpAddr::V6(_) => u8::try_from(netmask).map_err(|_| format!("prefix length {netmask}")),
    }
}

/// `ssh-22`, `web-443`, `tcp-2222`; a second service on the same port of another address
/// gets the address too (`web-443-203-0-113-11`).
pub fn unique_name(
    protocol: &str,
    addr: IpAddr,
    port: u16,
    taken: &mut BTreeSet<String>,
) -> String {
    let label = match (protocol, port) {
        ("tcp", 22) => "ssh",
        (_, 53) => "dns",
        ("tcp", 25 | 465 | 587) => "smtp",
        ("tcp", 80 | 443 | 8080 | 8443) => "web",
        ("tcp", 3306) => "mysql",
        ("tcp", 5432) => "postgres",
        (p, _) => p,
    };
    let plain = format!("{label}-{port}");
    let name = if taken.contains(&plain) {
        let a = addr.to_string().replace(['.', ':'], "-");
        format!("{plain}-{}", a.trim_matches('-'))
    } else {
        plain
    };
    let mut unique = name.clone();
    let mut n = 2;
    while taken.contains(&unique) {
        unique = format!("{name}-{n}");
        n += 1;
    }
    taken.insert(unique.clone());
    unique
}

/// Hypervisors add and remove these ports as guests come and go; a config must not pin them.
const GUEST_PORT_PREFIXES: &[&str] = &["vif", "tap", "vnet", "fwpr", "veth"];

/// The bridges that hold a masq backend's subnet, with their address and fixed ports.
fn bridges(forwards: &[ForwardOut], links: &LinkTable) -> Vec<output::BridgeOut> {
    let mut out: Vec<output::BridgeOut> = Vec::new();
    for link in links
        .links
        .iter()
        .filter(|l| l.kind.as_deref() == Some("bridge"))
    {
        let address = links.addresses_of(&link.name).into_iter().find(|a| {
            let cidr = crate::config::endpoint::Cidr {
                addr: a.addr,
                prefix_len: a.prefix_len,
            };
            forwards
                .iter()
                .filter(|f| f.method.is_none())
                .flat_map(|f| &f.backends)
                .any(|b| cidr.contains(b.address.ip()))
        });
        let Some(a) = address else { continue };
        let ports = links
            .links
            .iter()
            .filter(|p| p.master == Some(link.index))
            .filter(|p| !GUEST_PORT_PREFIXES.iter().any(|g| p.name.starts_with(g)))
            .map(|p| p.name.clone())
            .collect();
        out.push(output::BridgeOut {
            name: link.name.clone(),
            address: format!("{}/{}", a.addr, a.prefix_len),
            floating_address: None,
            ports,
        });
    }
    out
}

#[cfg(test)]
mod tests;
