//! Rules that span fields and items: uniqueness, references to `public`, address families,
//! port ranges, thresholds and what the kernel would refuse. Runs on the decoded config.

use super::diagnostic::{Diagnostic, Place, Severity, quote};
use super::endpoint::PortRange;
use super::model::{Backend, CheckKind, Config, Forward, Method, Protocol};
use super::path::{JsonPath, ROOT};
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// The most IPVS services (listen ports after range expansion) one config may declare.
pub const MAX_SERVICES: u64 = 200_000;

mod ha;

pub fn validate(config: &Config, diags: &mut Vec<Diagnostic>) {
    check_public(config, diags);
    check_bridges(config, diags);
    ha::check_ha(config, diags);
    check_forward_names(config, diags);
    let total: u64 = config.forwards.iter().map(Forward::service_count).sum();
    if total > MAX_SERVICES {
        diags.push(Diagnostic::error(
            "too-many-services",
            "forwards",
            format!(
                "the forwards expand to {total} IPVS services; at most {MAX_SERVICES} are supported"
            ),
        ));
        return;
    }
    check_claims(config, diags);
    check_sysctl(config, diags);
    let dropped = forwards_with_dropped_backends(diags);
    // A public entry that failed to decode was dropped: its error says enough, so a listen
    // address is not also reported as missing from `public`.
    let public_complete = !diags.iter().any(|d| {
        matches!(&d.place, Place::Path { path } if path.starts_with("public"))
            && d.severity == Severity::Error
    });
    let index = Index::of(config);
    for forward in &config.forwards {
        let backends_complete = !dropped.contains(&forward.index);
        check_forward(&index, forward, public_complete, backends_complete, diags);
    }
    check_backend_subnets(config, diags);
}

/// A `sysctl` entry that turns off the forwarding that masq forwards need.
fn check_sysctl(config: &Config, diags: &mut Vec<Diagnostic>) {
    let needs = |v4: bool| {
        config
            .forwards
            .iter()
            .any(|f| f.uses(Method::Masq) && f.listen.addr.is_ipv4() == v4)
    };
    for s in &config.sysctl {
        let v4 = match s.key.as_str() {
            "net.ipv4.ip_forward" | "net.ipv4.conf.all.forwarding" => true,
            "net.ipv6.conf.all.forwarding" => false,
            _ => continue,
        };
        if s.value == "0" && needs(v4) {
            diags.push(Diagnostic::warning(
                "forwarding-off",
                ROOT.key("sysctl").key(&s.key).to_string(),
                format!(
                    "{} = 0 turns off forwarding, but the masq forwards need it: replies from the backends will not reach the clients",
                    s.key
                ),
            ));
        }
    }
}

fn check_public(config: &Config, diags: &mut Vec<Diagnostic>) {
    let mut seen: BTreeMap<IpAddr, usize> = BTreeMap::new();
    for public in &config.public {
        let i = public.index;
        let path = format!("public[{i}].address");
        if let Some(problem) = not_unicast(public.address) {
            diags.push(Diagnostic::error(
                "address",
                &path,
                format!("{} {problem}", public.address),
            ));
        }
        if let Some(first) = seen.insert(public.address, i) {
            diags.push(Diagnostic::error(
                "duplicate",
                &path,
                format!("{} is already listed at public[{first}]", public.address),
            ));
        }
    }
}

fn check_bridges(config: &Config, diags: &mut Vec<Diagnostic>) {
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    for bridge in &config.bridges {
        let i = bridge.index;
        if let Some(first) = names.insert(&bridge.name, i) {
            diags.push(Diagnostic::error(
                "duplicate",
                format!("bridges[{i}].name"),
                format!(
                    "bridge {} is already declared at bridges[{first}]",
                    quote(&bridge.name)
                ),
            ));
        }
        if let Some(problem) = not_unicast(bridge.address.addr) {
            diags.push(Diagnostic::error(
                "address",
                format!("bridges[{i}].address"),
                format!("{} {problem}", bridge.address.addr),
            ));
        }
    }
    check_bridge_subnets(config, diags);
    let mut ports: BTreeMap<&str, String> = BTreeMap::new();
    for bridge in &config.bridges {
        let i = bridge.index;
        for (j, port) in bridge.ports.iter().enumerate() {
            let path = format!("bridges[{i}].ports[{j}]");
            if names.contains_key(port.as_str()) {
                diags.push(Diagnostic::error(
                    "bridge-port",
                    &path,
                    format!(
                        "{} is a bridge declared here; a bridge cannot be a port of a bridge",
                        quote(port)
                    ),
                ));
            }
            if let Some(public) = config
                .public
                .iter()
                .find(|p| p.interface.as_deref() == Some(port.as_str()))
            {
                diags.push(Diagnostic::error(
                    "lockout",
                    &path,
                    format!(
                        "{} carries the public address {} (public[{}].interface); as a port of \
                         bridge {} it would lose it and the host would drop off its network. \
                         Give the address to the bridge in your network configuration instead",
                        quote(port),
                        public.address,
                        public.index,
                        quote(&bridge.name)
                    ),
                ));
            }
            match ports.entry(port) {
                Entry::Occupied(first) => diags.push(Diagnostic::error(
                    "duplicate",
                    &path,
                    format!(
                        "interface {} is already a port at {}",
                        quote(port),
                        first.get()
                    ),
                )),
                Entry::Vacant(slot) => {
                    slot.insert(path);
                }
            }
        }
    }
}

fn check_forward_names(config: &Config, diags: &mut Vec<Diagnostic>) {
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    for forward in &config.forwards {
        let i = forward.index;
        if let Some(first) = names.insert(&forward.name, i) {
            diags.push(Diagnostic::error(
                "duplicate",
                format!("forwards[{i}].name"),
                format!(
                    "{} is already the name of forwards[{first}]",
                    quote(&forward.name)
                ),
            ));
        }
    }
}

/// Each bridge needs a subnet of its own for the guests, with a host address in it that is
/// not also public: a /32 (/128), the subnet's own network or broadcast address, a public
/// address, or a subnet that overlaps another bridge's (two routes for one guest) cannot
/// work.
fn check_bridge_subnets(config: &Config, diags: &mut Vec<Diagnostic>) {
    let public: BTreeSet<IpAddr> = config.public.iter().map(|p| p.address).collect();
    let mut spans = Vec::with_capacity(config.bridges.len());
    for bridge in &config.bridges {
        let (address, path) = (bridge.address, format!("bridges[{}].address", bridge.index));
        let full = if address.addr.is_ipv4() { 32 } else { 128 };
        if address.prefix_len >= full {
            diags.push(Diagnostic::error(
                "bridge-subnet",
                &path,
                format!(
                    "a /{full} leaves bridge {} no subnet for its guests: write the host's address with the guests' prefix length, e.g. 10.0.0.1/24",
                    quote(&bridge.name)
                ),
            ));
        } else if let Some(edge) = address.edge_name(address.addr) {
            diags.push(Diagnostic::error(
                "bridge-subnet",
                &path,
                format!(
                    "{} is the {edge} of its own subnet: the host needs a host address there, which the guests use as their gateway",
                    address.addr
                ),
            ));
        }
        if public.contains(&address.addr) {
            diags.push(Diagnostic::error(
                "bridge-subnet",
                &path,
                format!(
                    "{} is also a public address: the bridge needs its own address on the guests' subnet",
                    address.addr
                ),
            ));
        }
        spans.push((address.span(), bridge));
    }
    // In address order, each subnet against the furthest-reaching one before it.
    spans.sort_by_key(|((v4, first, last), _)| (!v4, *first, std::cmp::Reverse(*last)));
    let mut reach: Option<((bool, u128), &crate::config::model::Bridge)> = None;
    for ((v4, first, last), bridge) in spans {
        match reach {
            Some(((family, end), earlier)) if family == v4 && first <= end => {
                diags.push(Diagnostic::error(
                    "bridge-subnet",
                    format!("bridges[{}].address", bridge.index),
                    format!(
                        "{} overlaps the subnet of bridge {} ({}): a guest's address would route to both",
                        bridge.address,
                        quote(&earlier.name),
                        earlier.address
                    ),
                ));
                if last > end {
                    reach = Some(((v4, last), bridge));
                }
            }
            _ => reach = Some(((v4, last), bridge)),
        }
    }
}

/// Two forwards may not claim the same protocol, address and port.
fn check_claims(config: &Config, diags: &mut Vec<Diagnostic>) {
    // Sized for one port per forward, the common case; ranges grow it.
    let mut claims: BTreeMap<(Protocol, IpAddr, u16), &Forward> = BTreeMap::new();
    for forward in &config.forwards {
        let i = forward.index;
        let Some(range) = forward.listen.ports else {
            continue;
        };
        let mut clash: Option<(u16, &Forward, u32)> = None;
        for port in range.ports() {
            match claims.entry((forward.protocol, forward.listen.addr, port)) {
                Entry::Occupied(owner) => {
                    let c = clash.get_or_insert((port, *owner.get(), 0));
                    c.2 += 1;
                }
                Entry::Vacant(slot) => {
                    slot.insert(forward);
                }
            }
        }
        if let Some((port, other, count)) = clash {
            let owner = other.index;
            let more = if count > 1 {
                format!(" (and {} more ports)", count - 1)
            } else {
                String::new()
            };
            diags.push(Diagnostic::error(
                "listen-conflict",
                format!("forwards[{i}].listen"),
                format!(
                    "{} {} port {port}{more} is already claimed by forwards[{owner}] ({})",
                    forward.protocol,
                    forward.listen.addr,
                    quote(&other.name)
                ),
            ));
        }
    }
}

/// The file indices of forwards that lost a backend to a decoding error, found once from
/// the errors' paths (`forwards[N].backends...`).
fn forwards_with_dropped_backends(diags: &[Diagnostic]) -> BTreeSet<usize> {
    diags
        .iter()
        .filter_map(|d| match &d.place {
            Place::Path { path } => path.strip_prefix("forwards["),
            _ => None,
        })
        .filter_map(|rest| rest.split_once("].backends"))
        .filter_map(|(index, _)| index.parse().ok())
        .collect()
}

/// What the per-forward rules look up, indexed once so that every rule stays linear in
/// the number of forwards and backends.
struct Index<'a> {
    config: &'a Config,
    public: BTreeSet<IpAddr>,
    /// Each forward's listen range by protocol, address and first port: (last port,
    /// forward); the first forward in file order keeps a start two of them claim.
    listens: BTreeMap<(Protocol, IpAddr, u16), (u16, &'a Forward)>,
}

impl<'a> Index<'a> {
    fn of(config: &'a Config) -> Index<'a> {
        let mut listens = BTreeMap::new();
        for f in &config.forwards {
            if let Some(range) = f.listen.ports {
                listens
                    .entry((f.protocol, f.listen.addr, range.first))
                    .or_insert((range.last, f));
            }
        }
        Index {
            config,
            public: config.public.iter().map(|p| p.address).collect(),
            listens,
        }
    }

    /// The forward that listens on `addr` at one of `ports`. Listen ranges on one address
    /// do not overlap (or `listen-conflict` reports it), so the range starting closest at or
    /// below the last port is the only one that can.
    fn listener(&self, protocol: Protocol, addr: IpAddr, ports: PortRange) -> Option<&'a Forward> {
        let (_, &(last, forward)) = self
            .listens
            .range((protocol, addr, 0)..=(protocol, addr, ports.last))
            .next_back()?;
        (last >= ports.first).then_some(forward)
    }
}

fn check_forward(
    index: &Index,
    forward: &Forward,
    public_complete: bool,
    backends_complete: bool,
    diags: &mut Vec<Diagnostic>,
) {
    let forwards = ROOT.key("forwards");
    let path = forwards.index(forward.index);
    let listen = forward.listen;
    let config = index.config;
    if public_complete && !index.public.contains(&listen.addr) {
        let known: Vec<String> = config
            .public
            .iter()
            .map(|p| p.address.to_string())
            .collect();
        let listed = if known.is_empty() {
            "public is empty".to_string()
        } else {
            format!("public has {}", known.join(", "))
        };
        diags.push(Diagnostic::error(
            "listen-not-public",
            format!("{path}.listen"),
            format!("{} is not one of public[].address ({listed})", listen.addr),
        ));
    }
    check_health(forward, &path, diags);
    check_scheduler(forward, &path, diags);
    check_persistence(forward, &path, diags);
    check_backends(index, forward, &path, backends_complete, diags);
}

/// The fallback's place beside the backends, and checks that cannot work.
fn check_health(forward: &Forward, path: &JsonPath, diags: &mut Vec<Diagnostic>) {
    let checked = forward
        .health
        .as_ref()
        .is_some_and(|h| h.check != CheckKind::None);
    if let Some(health) = &forward.health
        && health.check == CheckKind::Tcp
        && health.port.is_none()
        && forward.protocol != Protocol::Tcp
    {
        diags.push(Diagnostic::warning(
            "health",
            format!("{path}.health.port"),
            format!(
                "a tcp check of a {} forward connects to the backend's {} port over TCP; set health.port to a TCP port the backend serves",
                forward.protocol, forward.protocol
            ),
        ));
    }
    let Some(fallback) = forward.fallback else {
        return;
    };
    let at = format!("{path}.fallback");
    if !checked {
        diags.push(Diagnostic::error(
            "fallback",
            &at,
            "a fallback needs health checks: it serves only while every backend is down",
        ));
    }
    if forward.method != Method::Tunnel && fallback.addr.is_ipv4() != forward.listen.addr.is_ipv4()
    {
        diags.push(Diagnostic::error(
            "address-family",
            &at,
            format!(
                "{} is {} but listen {} is {}",
                fallback.addr,
                family(fallback.addr),
                forward.listen.addr,
                family(forward.listen.addr)
            ),
        ));
    }
    let port =
        |e: &crate::config::endpoint::Endpoint| e.ports.or(forward.listen.ports).map(|p| p.first);
    if let Some(b) = forward
        .backends
        .iter()
        .find(|b| b.address.addr == fallback.addr && port(&b.address) == port(&fallback))
    {
        diags.push(Diagnostic::error(
            "fallback",
            &at,
            format!("{fallback} is already backends[{}]", b.index),
        ));
    }
}

fn check_scheduler(forward: &Forward, path: &JsonPath, diags: &mut Vec<Diagnostic>) {
    for (j, flag) in forward.scheduler_flags.iter().enumerate() {
        let flag_path = || format!("{path}.scheduler_flags[{j}]");
        if forward.scheduler_flags[..j].contains(flag) {
            diags.push(Diagnostic::error(
                "duplicate",
                flag_path(),
                format!("\"{flag}\" is listed twice"),
            ));
        } else if flag.scheduler() != forward.scheduler {
            diags.push(Diagnostic::error(
                "scheduler-flag",
                flag_path(),
                format!(
                    "\"{flag}\" needs scheduler \"{}\" but the scheduler is \"{}\"",
                    flag.scheduler(),
                    forward.scheduler
                ),
            ));
        }
    }
}

fn check_persistence(forward: &Forward, path: &JsonPath, diags: &mut Vec<Diagnostic>) {
    let Some(mask) = forward.persistence_netmask else {
        return;
    };
    let mask_path = format!("{path}.persistence_netmask");
    if forward.persistence.is_none() {
        diags.push(Diagnostic::error(
            "netmask-without-persistence",
            &mask_path,
            "persistence_netmask needs persistence (a timeout in seconds)",
        ));
    }
    match forward.listen.addr {
        IpAddr::V4(_) if mask.prefix_len > 32 => diags.push(Diagnostic::error(
            "netmask",
            &mask_path,
            format!(
                "prefix length {} is too long for IPv4 (at most 32)",
                mask.prefix_len
            ),
        )),
        IpAddr::V6(_) if mask.dotted => diags.push(Diagnostic::error(
            "netmask",
            &mask_path,
            "an IPv6 forward takes a prefix length (1-128), not a dotted netmask",
        )),
        IpAddr::V6(_) if mask.prefix_len == 0 => diags.push(Diagnostic::error(
            "netmask",
            &mask_path,
            "an IPv6 prefix length must be 1-128 (the kernel refuses 0)",
        )),
        _ => {}
    }
}

fn check_backends(
    index: &Index,
    forward: &Forward,
    path: &JsonPath,
    backends_complete: bool,
    diags: &mut Vec<Diagnostic>,
) {
    let Some(listen_ports) = forward.listen.ports else {
        return;
    };
    // The kernel keys destinations by address and port; a repeat would be EEXIST.
    let mut seen: BTreeMap<(IpAddr, u16), usize> = BTreeMap::new();
    for backend in &forward.backends {
        let bpath = || format!("{path}.backends[{}]", backend.index);
        let ports = backend.address.ports.unwrap_or(listen_ports);
        for (rule, message) in backend_problems(forward, backend, listen_ports) {
            diags.push(Diagnostic::error(rule, bpath(), message));
        }
        if let Some(message) = host_itself(index, forward, backend.address.addr, ports) {
            diags.push(Diagnostic::error("backend-is-host", bpath(), message));
        }
        if let Some(first) = seen.insert((backend.address.addr, ports.first), backend.index) {
            diags.push(Diagnostic::error(
                "duplicate",
                bpath(),
                format!(
                    "{} is already a backend at {path}.backends[{first}]",
                    backend.address
                ),
            ));
        }
    }
    // A backend that failed to decode was dropped; its error says enough.
    if !backends_complete {
        return;
    }
    if forward.backends.is_empty() {
        diags.push(Diagnostic::warning(
            "no-backends",
            format!("{path}.backends"),
            format!(
                "forward {} has no backends: connections to it will be refused",
                quote(&forward.name)
            ),
        ));
    } else if forward.backends.iter().all(|b| b.weight == 0) {
        diags.push(Diagnostic::warning(
            "all-weights-zero",
            format!("{path}.backends"),
            format!(
                "every backend of {} has weight 0: no new connection will be scheduled",
                quote(&forward.name)
            ),
        ));
    }
}

/// Why a backend at `addr` and `ports` would reach this host or no host instead of a
/// guest: a forward's own listen address and port (a loop), a bridge's address, loopback,
/// or a bridge subnet's network or broadcast address.
fn host_itself(index: &Index, forward: &Forward, addr: IpAddr, ports: PortRange) -> Option<String> {
    if addr.is_loopback() {
        return Some(format!(
            "{addr} is a loopback address: IPVS cannot forward to it; use a guest's address"
        ));
    }
    if let Some(f) = index.listener(forward.protocol, addr, ports) {
        return Some(format!(
            "{addr} port {ports} is what forward {} listens on: connections would loop back into it",
            quote(&f.name)
        ));
    }
    for bridge in &index.config.bridges {
        if bridge.address.addr == addr {
            return Some(format!(
                "{addr} is the address of bridge {} (this host), not a guest",
                quote(&bridge.name)
            ));
        }
        if bridge.floating_address.is_some_and(|f| f.addr == addr) {
            return Some(format!(
                "{addr} is the floating address of bridge {} (the pair's gateway), not a guest",
                quote(&bridge.name)
            ));
        }
        if let Some(edge) = bridge.address.edge_name(addr) {
            return Some(format!(
                "{addr} is the {edge} of bridge {}'s subnet {}, not a guest",
                quote(&bridge.name),
                bridge.address
            ));
        }
    }
    None
}

/// What the kernel would refuse in one backend, or what cannot work: (rule, message).
fn backend_problems(
    forward: &Forward,
    backend: &Backend,
    listen_ports: PortRange,
) -> Vec<(&'static str, String)> {
    let mut problems = Vec::new();
    let addr = backend.address.addr;
    let listen = forward.listen.addr;
    if let Some(problem) = not_unicast(addr) {
        problems.push(("address", format!("{addr} {problem}")));
    }
    let method = forward.method_of(backend);
    if addr.is_ipv4() != listen.is_ipv4() && method != Method::Tunnel {
        problems.push((
            "address-family",
            format!(
                "{addr} is {} but listen {listen} is {}; only method \"tunnel\" can mix address families",
                family(addr),
                family(listen)
            ),
        ));
    }
    let ports = backend.address.ports.unwrap_or(listen_ports);
    if !ports.is_single() && ports.len() != listen_ports.len() {
        problems.push((
            "port-range-length",
            format!(
                "the range {ports} has {} ports but listen {listen_ports} has {}",
                ports.len(),
                listen_ports.len()
            ),
        ));
    }
    if method != Method::Masq && ports != listen_ports {
        problems.push((
            "port-change",
            format!(
                "method \"{method}\" cannot change ports ({listen_ports} -> {ports}); only \"masq\" can"
            ),
        ));
    }
    if backend.lower_threshold > backend.upper_threshold {
        let message = if backend.upper_threshold == 0 {
            format!(
                "lower_threshold {} needs an upper_threshold of at least {0}",
                backend.lower_threshold
            )
        } else {
            format!(
                "lower_threshold {} is greater than upper_threshold {}",
                backend.lower_threshold, backend.upper_threshold
            )
        };
        problems.push(("thresholds", message));
    }
    problems
}

/// Past this many masq backends outside the declared bridges, one warning counts them: a
/// config of thousands of backends stays readable.
const GROUPED: usize = 3;

/// Masq backends must route their replies back through this host: outside every declared
/// bridge subnet that is the user's to arrange.
fn check_backend_subnets(config: &Config, diags: &mut Vec<Diagnostic>) {
    if config.bridges.is_empty() {
        return;
    }
    let outside: Vec<(String, IpAddr)> = config
        .forwards
        .iter()
        .flat_map(|f| {
            f.backends
                .iter()
                .filter(move |b| f.method_of(b) == Method::Masq)
                .map(move |b| {
                    (
                        format!("forwards[{}].backends[{}]", f.index, b.index),
                        b.address.addr,
                    )
                })
        })
        .filter(|(_, addr)| !config.bridges.iter().any(|b| b.address.contains(*addr)))
        .collect();
    let subnets: Vec<String> = config
        .bridges
        .iter()
        .map(|b| format!("{} {}", b.name, b.address))
        .collect();
    let subnets = subnets.join(", ");
    if outside.len() > GROUPED {
        let some: Vec<String> = outside[..GROUPED]
            .iter()
            .map(|(path, addr)| format!("{addr} at {path}"))
            .collect();
        diags.push(Diagnostic::warning(
            "backend-outside-bridges",
            "forwards",
            format!(
                "{} masq backends are outside every declared bridge subnet ({subnets}), e.g. {}; their replies must route back through this host",
                outside.len(),
                some.join(", ")
            ),
        ));
        return;
    }
    for (path, addr) in outside {
        diags.push(Diagnostic::warning(
            "backend-outside-bridges",
            path,
            format!(
                "masq backend {addr} is outside every declared bridge subnet ({subnets}); its replies must route back through this host"
            ),
        ));
    }
}

fn family(addr: IpAddr) -> &'static str {
    if addr.is_ipv4() { "IPv4" } else { "IPv6" }
}

/// Why an address cannot be a service or destination address, if it cannot.
fn not_unicast(addr: IpAddr) -> Option<&'static str> {
    if addr.is_unspecified() {
        Some("is the unspecified address")
    } else if addr.is_multicast() {
        Some("is a multicast address")
    } else if addr == IpAddr::V4(std::net::Ipv4Addr::BROADCAST) {
        Some("is the broadcast address")
    } else {
        None
    }
}
