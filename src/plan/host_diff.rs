//! The diff of the host around IPVS: modules to load, sysctls to set, bridges to create and
//! bring up, ports to enslave, addresses to add. Pure, like the IPVS diff. Nothing is ever
//! removed: what the config does not declare becomes a note.

use super::builder::Builder;
use super::change::{Action, Attrs, Change, Kind, Reason};
use super::{Operation, Plan};
use crate::state::host::ModuleState;
use crate::state::host::normalize;
use crate::state::host::{BridgeWant, HostActual, HostDesired, PublicWant};
use crate::state::links::Link;
use crate::state::ops::LinkOp;
use serde_json::Value;

fn attrs(pairs: &[(&'static str, Value)]) -> Attrs {
    Attrs(pairs.to_vec())
}

fn link_op(op: LinkOp) -> Operation {
    Operation::Link(op)
}

/// The host part of a plan alone (what an apply checks after changing the host).
pub fn diff_host(want: &HostDesired, have: &HostActual) -> Plan {
    let mut plan = Builder::default();
    diff_host_into(want, have, &mut plan);
    plan.finish(0, 0)
}

/// The host part of a plan, which goes before the IPVS part: modules, sysctls, bridges,
/// public addresses, then the sync daemons ([`super::sync_diff`]).
pub fn diff_host_into(want: &HostDesired, have: &HostActual, plan: &mut Builder) {
    modules(want, have, plan);
    sysctls(want, have, plan);
    for b in &want.bridges {
        bridge(b, have, plan);
    }
    for p in want.public.iter().filter(|p| !p.floating) {
        public(p, have, plan);
    }
    super::sync_diff::sync_daemons(want, have, plan);
}

fn modules(want: &HostDesired, have: &HostActual, plan: &mut Builder) {
    for name in &want.modules {
        match have.modules.get(name) {
            Some(ModuleState::Loaded) => {}
            Some(ModuleState::Available) => plan.change(
                Change {
                    kind: Kind::KernelModule,
                    id: name.clone(),
                    parent: None,
                    forward: None,
                    action: Action::Create,
                    reason: Reason::MissingInKernel,
                    before: None,
                    after: Some(attrs(&[("state", "loaded".into())])),
                },
                vec![(Operation::LoadModule(name.clone()), None)],
            ),
            Some(ModuleState::Missing) | None => {
                let what = match name.strip_prefix("ip_vs_") {
                    Some(s) => format!("; the scheduler {s} cannot be used here: choose another"),
                    None => String::new(),
                };
                plan.errors.push(format!(
                    "kernel module {name} is not available for kernel {}: `modprobe {name}` would fail{what}",
                    have.release
                ));
            }
        }
    }
}

fn sysctls(want: &HostDesired, have: &HostActual, plan: &mut Builder) {
    for s in &want.sysctls {
        let current = have.sysctls.get(&s.key).cloned().flatten();
        let value = normalize(&s.value);
        if current.as_deref() == Some(value.as_str()) {
            continue;
        }
        let undo = current.clone().map(|old| Operation::Sysctl {
            key: s.key.clone(),
            value: old,
        });
        plan.change(
            Change {
                kind: Kind::Sysctl,
                id: s.key.clone(),
                parent: None,
                forward: None,
                action: Action::Update,
                reason: Reason::NotAsDeclared,
                before: Some(attrs(&[(
                    "value",
                    current.map_or(Value::Null, Value::from),
                )])),
                after: Some(attrs(&[("value", value.clone().into())])),
            },
            vec![(
                Operation::Sysctl {
                    key: s.key.clone(),
                    value,
                },
                undo,
            )],
        );
    }
}

fn master_name(have: &HostActual, link: &Link) -> Value {
    link.master
        .and_then(|m| have.links.by_index(m))
        .map_or(Value::Null, |m| Value::from(m.name.clone()))
}

fn bridge(b: &BridgeWant, have: &HostActual, plan: &mut Builder) {
    let existing = have.links.by_name(&b.name);
    if !bridge_link(b, existing, plan) {
        return;
    }
    bridge_address(b, have, plan);
    let bridge_index = existing.map(|l| l.index);
    for port in &b.ports {
        bridge_port(b, port, bridge_index, have, plan);
    }
    if let Some(index) = bridge_index {
        other_ports(b, index, have, plan);
    }
}

/// The bridge itself: created, or brought up; false when a link of another kind has its name.
fn bridge_link(b: &BridgeWant, existing: Option<&Link>, plan: &mut Builder) -> bool {
    match existing {
        Some(l) if l.kind.as_deref() != Some("bridge") => {
            plan.errors.push(format!(
                "{} exists but is {} link, not a bridge: rename the bridge in the config or remove the link",
                b.name,
                l.kind.as_deref().map_or("a physical".to_string(), |k| format!("a {k}"))
            ));
            return false;
        }
        None => plan.change(
            Change {
                kind: Kind::Bridge,
                id: b.name.clone(),
                parent: None,
                forward: None,
                action: Action::Create,
                reason: Reason::MissingInKernel,
                before: None,
                after: Some(attrs(&[("up", true.into())])),
            },
            vec![
                (
                    link_op(LinkOp::CreateBridge {
                        name: b.name.clone(),
                    }),
                    Some(link_op(LinkOp::DeleteLink {
                        name: b.name.clone(),
                    })),
                ),
                // Deleting the bridge undoes this too.
                (
                    link_op(LinkOp::SetUp {
                        name: b.name.clone(),
                        up: true,
                    }),
                    None,
                ),
            ],
        ),
        Some(l) if !l.up => plan.change(
            Change {
                kind: Kind::Bridge,
                id: b.name.clone(),
                parent: None,
                forward: None,
                action: Action::Update,
                reason: Reason::NotAsDeclared,
                before: Some(attrs(&[("up", false.into())])),
                after: Some(attrs(&[("up", true.into())])),
            },
            vec![(
                link_op(LinkOp::SetUp {
                    name: b.name.clone(),
                    up: true,
                }),
                Some(link_op(LinkOp::SetUp {
                    name: b.name.clone(),
                    up: false,
                })),
            )],
        ),
        Some(_) => {}
    }
    true
}

/// The guests' gateway address on the bridge.
fn bridge_address(b: &BridgeWant, have: &HostActual, plan: &mut Builder) {
    let addrs = have.links.addresses_of(&b.name);
    let want_addr = b.address.addr;
    match addrs.iter().find(|a| a.addr == want_addr) {
        Some(a) if a.prefix_len != b.address.prefix_len => plan.errors.push(format!(
            "{} has {}/{}, the config says /{}: change it by hand (portfwd does not remove addresses)",
            b.name, a.addr, a.prefix_len, b.address.prefix_len
        )),
        Some(_) => {}
        None => add_address(plan, &b.name, want_addr, b.address.prefix_len, Some(&b.name)),
    }
    let extra: Vec<String> = addrs
        .iter()
        // The floating address comes and goes with VRRP: not worth a note.
        .filter(|a| a.addr != want_addr && !is_link_local(a.addr))
        .filter(|a| b.floating_address.map(|f| f.addr) != Some(a.addr))
        .map(|a| format!("{}/{}", a.addr, a.prefix_len))
        .collect();
    if !extra.is_empty() {
        plan.notes.push(format!(
            "bridge {} also has {} (not in the config; left as {})",
            b.name,
            extra.join(", "),
            if extra.len() == 1 {
                "it is"
            } else {
                "they are"
            }
        ));
    }
}

/// One declared port: enslaved to the bridge and up.
fn bridge_port(
    b: &BridgeWant,
    port: &String,
    bridge_index: Option<u32>,
    have: &HostActual,
    plan: &mut Builder,
) {
    let Some(link) = have.links.by_name(port) else {
        plan.errors.push(format!(
            "port {port} of bridge {} does not exist on this host",
            b.name
        ));
        return;
    };
    if link.kind.as_deref() == Some("bridge") {
        plan.errors.push(format!(
            "port {port} of bridge {} is itself a bridge; a bridge cannot be a bridge port",
            b.name
        ));
        return;
    }
    let enslaved = bridge_index.is_some() && link.master == bridge_index;
    if enslaved && link.up {
        return;
    }
    if !enslaved && let Some(error) = lockout(b, link, have) {
        plan.errors.push(error);
        return;
    }
    let old_master = master_name(have, link);
    let mut ops = Vec::new();
    if !enslaved {
        ops.push((
            link_op(LinkOp::SetMaster {
                name: port.clone(),
                master: Some(b.name.clone()),
            }),
            Some(link_op(LinkOp::SetMaster {
                name: port.clone(),
                master: old_master.as_str().map(str::to_string),
            })),
        ));
    }
    if !link.up {
        ops.push((
            link_op(LinkOp::SetUp {
                name: port.clone(),
                up: true,
            }),
            Some(link_op(LinkOp::SetUp {
                name: port.clone(),
                up: false,
            })),
        ));
    }
    plan.change(
        Change {
            kind: Kind::BridgePort,
            id: port.clone(),
            parent: Some(b.name.clone()),
            forward: None,
            action: Action::Update,
            reason: Reason::NotAsDeclared,
            before: Some(attrs(&[("master", old_master), ("up", link.up.into())])),
            after: Some(attrs(&[
                ("master", b.name.clone().into()),
                ("up", true.into()),
            ])),
        },
        ops,
    );
}

/// Why enslaving `link` would cut the host off: a bridge port loses its addresses and
/// routes to the bridge, so a port that carries the host's addresses or default route must
/// be moved by the network configuration, not by portfwd.
fn lockout(b: &BridgeWant, link: &Link, have: &HostActual) -> Option<String> {
    let held: Vec<String> = have
        .links
        .addresses
        .iter()
        .filter(|a| a.index == link.index && !is_link_local(a.addr))
        .map(|a| format!("{}/{}", a.addr, a.prefix_len))
        .collect();
    let route = have.links.default_routes.contains(&link.index);
    if held.is_empty() && !route {
        return None;
    }
    let mut what = Vec::new();
    if !held.is_empty() {
        what.push(format!(
            "the address{} {}",
            if held.len() == 1 { "" } else { "es" },
            held.join(", ")
        ));
    }
    if route {
        what.push("the default route".to_string());
    }
    Some(format!(
        "port {} of bridge {} carries {}: enslaving it would cut the host off its network. \
         Move them to {1} in the host's network configuration (e.g. ifupdown's \
         bridge_ports, systemd-networkd or NixOS networking.bridges) and reboot or reload it, \
         or leave {0} out of ports",
        link.name,
        b.name,
        what.join(" and ")
    ))
}

/// Ports of the bridge the config does not declare: noted, left alone.
fn other_ports(b: &BridgeWant, index: u32, have: &HostActual, plan: &mut Builder) {
    let others: Vec<&str> = have
        .links
        .links
        .iter()
        .filter(|l| l.master == Some(index) && !b.ports.contains(&l.name))
        .map(|l| l.name.as_str())
        .collect();
    if !others.is_empty() {
        plan.notes.push(format!(
            "bridge {} also has the port{} {} (not in the config, e.g. added by the hypervisor; left as {})",
            b.name,
            if others.len() == 1 { "" } else { "s" },
            others.join(", "),
            if others.len() == 1 { "it is" } else { "they are" }
        ));
    }
}

fn is_link_local(addr: std::net::IpAddr) -> bool {
    match addr {
        std::net::IpAddr::V6(a) => (a.segments()[0] & 0xffc0) == 0xfe80,
        std::net::IpAddr::V4(a) => a.is_link_local(),
    }
}

fn add_address(
    plan: &mut Builder,
    link: &str,
    addr: std::net::IpAddr,
    prefix_len: u8,
    parent: Option<&str>,
) {
    plan.change(
        Change {
            kind: Kind::Address,
            id: format!("{addr}/{prefix_len}"),
            parent: parent.map(str::to_string),
            forward: None,
            action: Action::Create,
            reason: Reason::MissingInKernel,
            before: None,
            after: Some(attrs(&[("interface", link.into())])),
        },
        vec![(
            link_op(LinkOp::AddAddress {
                name: link.to_string(),
                addr,
                prefix_len,
            }),
            Some(link_op(LinkOp::DelAddress {
                name: link.to_string(),
                addr,
                prefix_len,
            })),
        )],
    );
}

fn public(p: &PublicWant, have: &HostActual, plan: &mut Builder) {
    if let Some(holder) = have.links.holder_of(p.addr) {
        if let Some(want) = &p.interface
            && *want != holder.name
        {
            plan.notes.push(format!(
                "public address {} is on {}, not on {want} as the config says (left as it is)",
                p.addr, holder.name
            ));
        }
        return;
    }
    match &p.interface {
        None => plan.errors.push(format!(
            "{} is not an address of this host: add it, or give \"interface\" in the config so that portfwd adds it",
            p.addr
        )),
        Some(name) if have.links.by_name(name).is_none() => plan.errors.push(format!(
            "public address {}: interface {name} does not exist on this host",
            p.addr
        )),
        Some(name) => add_address(plan, name, p.addr, p.prefix_len, None),
    }
}
