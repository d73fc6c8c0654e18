//! One planned change to one resource: what it is, what happens to it and why, and its
//! attributes before and after. Every output (human, JSON, saved plans) reads these.

use crate::state::ipvs::{Dest, Service, flags, tun_flags};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;
use std::net::Ipv4Addr;
use std::sync::Arc;

/// The kinds of resource a plan can hold. Bridges, addresses and sysctls join this list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    KernelModule,
    Sysctl,
    Bridge,
    BridgePort,
    Address,
    SyncDaemon,
    IpvsService,
    IpvsDestination,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::KernelModule => "kernel_module",
            Kind::Sysctl => "sysctl",
            Kind::Bridge => "bridge",
            Kind::BridgePort => "bridge_port",
            Kind::Address => "address",
            Kind::SyncDaemon => "ipvs_sync_daemon",
            Kind::IpvsService => "ipvs_service",
            Kind::IpvsDestination => "ipvs_destination",
        }
    }

    /// The word the human output uses.
    pub fn noun(self) -> &'static str {
        match self {
            Kind::KernelModule => "module",
            Kind::Sysctl => "sysctl",
            Kind::Bridge => "bridge",
            Kind::BridgePort => "port",
            Kind::Address => "address",
            Kind::SyncDaemon => "sync daemon",
            Kind::IpvsService => "service",
            Kind::IpvsDestination => "destination",
        }
    }

    /// IPVS resources are grouped per forward; the others per kind, before them.
    pub fn is_ipvs(self) -> bool {
        matches!(self, Kind::IpvsService | Kind::IpvsDestination)
    }
}

/// What happens to a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Create,
    Update,
    Delete,
    /// Delete, then create: for attributes the kernel cannot change in place.
    Replace,
}

impl Action {
    /// The JSON `actions` list: consumers look for "delete" without knowing about replace.
    pub fn names(self) -> &'static [&'static str] {
        match self {
            Action::Create => &["create"],
            Action::Update => &["update"],
            Action::Delete => &["delete"],
            Action::Replace => &["delete", "create"],
        }
    }

    pub fn marker(self) -> &'static str {
        match self {
            Action::Create => "+",
            Action::Update => "~",
            Action::Delete => "-",
            Action::Replace => "-/+",
        }
    }
}

/// Why a resource changes, as data (Terraform's `ActionReason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The config declares it and the kernel lacks it.
    MissingInKernel,
    /// Both have it with different attributes.
    AttributesDiffer,
    /// It sits on a managed address but the config does not declare it.
    NotInConfig,
    /// Its service is removed, and it with it.
    ServiceRemoved,
    /// A derived or configured setting differs (e.g. a sysctl, a link that is down).
    NotAsDeclared,
}

impl Reason {
    pub fn name(self) -> &'static str {
        match self {
            Reason::MissingInKernel => "missing_in_kernel",
            Reason::AttributesDiffer => "attributes_differ",
            Reason::NotInConfig => "not_in_config",
            Reason::ServiceRemoved => "service_removed",
            Reason::NotAsDeclared => "not_as_declared",
        }
    }
}

/// A resource's attributes in a fixed order (the order people read them in).
#[derive(Debug, Clone, PartialEq)]
pub struct Attrs(pub Vec<(&'static str, Value)>);

impl Attrs {
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }
}

impl Serialize for Attrs {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, value) in &self.0 {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

/// One planned change.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub kind: Kind,
    /// What identifies the resource, e.g. `tcp 203.0.113.10:2222` or, for a destination,
    /// its `addr:port` (with `parent` naming the service).
    pub id: String,
    /// For a destination: the id of its service; for a bridge port or bridge address: the
    /// bridge's name.
    pub parent: Option<String>,
    /// The forward that declares the resource; `None` when the config does not.
    pub forward: Option<Arc<str>>,
    pub action: Action,
    pub reason: Reason,
    /// Attributes in the kernel now; `None` for a create.
    pub before: Option<Attrs>,
    /// Attributes after the apply; `None` for a delete.
    pub after: Option<Attrs>,
}

impl Change {
    /// `service tcp 203.0.113.10:80`, `destination 10.0.0.2:80 of tcp 203.0.113.10:80`,
    /// `port vif1.0 of br1`.
    pub fn subject(&self) -> String {
        match &self.parent {
            Some(p) => format!("{} {} of {p}", self.kind.noun(), self.id),
            None => format!("{} {}", self.kind.noun(), self.id),
        }
    }

    /// The attributes that differ between before and after, for an update.
    pub fn changed_attrs(&self) -> Vec<(&'static str, Value, Value)> {
        let (Some(before), Some(after)) = (&self.before, &self.after) else {
            return Vec::new();
        };
        after
            .0
            .iter()
            .filter_map(|(name, new)| {
                let old = before.get(name).cloned().unwrap_or(Value::Null);
                (old != *new).then(|| (*name, old, new.clone()))
            })
            .collect()
    }
}

/// A service's attributes as the plan shows them.
pub fn service_attrs(s: &Service) -> Attrs {
    let netmask = match s.key.addr() {
        Some(std::net::IpAddr::V6(_)) => Value::from(s.netmask),
        _ => Value::from(Ipv4Addr::from(s.netmask).to_string()),
    };
    let persistent = s.is_persistent();
    Attrs(vec![
        ("scheduler", Value::from(s.scheduler.to_string())),
        ("flags", Value::from(flag_names(s))),
        (
            "persistence",
            if persistent {
                Value::from(s.timeout)
            } else {
                Value::Null
            },
        ),
        ("persistence_netmask", netmask),
        (
            "persistence_engine",
            s.pe_name.clone().map_or(Value::Null, Value::from),
        ),
    ])
}

/// Service flags by the names the config uses where the scheduler gives them one.
fn flag_names(s: &Service) -> Vec<String> {
    let (sched1, sched2) = match &*s.scheduler {
        "sh" => ("sh-fallback", "sh-port"),
        "mh" => ("mh-fallback", "mh-port"),
        _ => ("sched1", "sched2"),
    };
    [
        (flags::ONEPACKET, "one-packet"),
        (flags::SCHED1, sched1),
        (flags::SCHED2, sched2),
        (flags::SCHED3, "sched3"),
    ]
    .iter()
    .filter(|(bit, _)| s.flags & bit != 0)
    .map(|(_, name)| name.to_string())
    .collect()
}

/// A destination's attributes as the plan shows them.
pub fn dest_attrs(d: &Dest) -> Attrs {
    let mut attrs = vec![
        ("method", Value::from(d.method.name())),
        ("weight", Value::from(d.weight)),
        ("upper_threshold", Value::from(d.upper_threshold)),
        ("lower_threshold", Value::from(d.lower_threshold)),
    ];
    if let Some(t) = d.tunnel {
        let checksum = match t.flags {
            tun_flags::CSUM => "csum",
            tun_flags::REMCSUM => "remcsum",
            _ => "nocsum",
        };
        attrs.push((
            "tunnel",
            Value::from(format!("{} port {} {checksum}", t.kind.name(), t.port)),
        ));
    }
    Attrs(attrs)
}

/// How a destination is named in a plan.
pub fn dest_id(d: &crate::state::ipvs::DestKey) -> String {
    std::net::SocketAddr::new(d.addr, d.port).to_string()
}
