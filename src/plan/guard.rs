//! Guards: plans that are valid but probably a mistake. `plan` shows them as warnings;
//! `apply` refuses unless the named flag overrides them.

use super::change::{Action, Kind};
use super::{Operation, Plan};
use crate::config::model::Safety;
use crate::state::desired::Desired;
use crate::state::host::Listener;
use crate::state::ipvs::{ServiceKey, Table, protocol_name};
use crate::state::ops::Op;
use std::collections::BTreeMap;

/// One tripped guard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guard {
    /// `safety-threshold`, `zero-backends` or `shadowing`.
    pub rule: &'static str,
    pub message: String,
    /// The apply flag that overrides it.
    pub flag: &'static str,
}

/// Every guard the plan trips. `listeners` is `None` when the host's sockets are unknown
/// (a plan against a snapshot).
pub fn check(
    plan: &Plan,
    desired: &Desired,
    actual: &Table,
    safety: &Safety,
    listeners: Option<&[Listener]>,
) -> Vec<Guard> {
    let mut guards = Vec::new();
    guards.extend(removal_threshold(plan, safety));
    guards.extend(left_without_backends(desired, actual));
    if let Some(listeners) = listeners {
        guards.extend(shadowing(plan, desired, listeners));
    }
    guards
}

/// octoDNS's safety threshold: too large a share of the managed services removed at once.
fn removal_threshold(plan: &Plan, safety: &Safety) -> Option<Guard> {
    let managed = plan.managed_services;
    let removed = plan
        .changes
        .iter()
        .filter(|c| {
            c.kind == Kind::IpvsService && matches!(c.action, Action::Delete | Action::Replace)
        })
        .count();
    let limit = u64::from(safety.max_remove_percent);
    if managed == 0
        || (managed as u64) < u64::from(safety.min_services)
        || (removed as u64) * 100 <= limit * managed as u64
    {
        return None;
    }
    Some(Guard {
        rule: "safety-threshold",
        message: format!(
            "the plan removes {removed} of the {managed} managed services ({}%), more than the {limit}% allowed (safety.max_remove_percent)",
            removed * 100 / managed
        ),
        flag: "--force",
    })
}

/// Forwards whose services have backends in the kernel now and would have none.
fn left_without_backends(desired: &Desired, actual: &Table) -> Vec<Guard> {
    let mut emptied: BTreeMap<(usize, &str), Vec<ServiceKey>> = BTreeMap::new();
    for (key, want) in &desired.services {
        // The lookup only for a service that would have no backends: the rare case.
        if !want.dests.is_empty() {
            continue;
        }
        if actual
            .services
            .get(key)
            .is_some_and(|s| !s.dests.is_empty())
        {
            emptied
                .entry((want.forward_index, &*want.forward))
                .or_default()
                .push(*key);
        }
    }
    emptied
        .into_iter()
        .map(|((_, forward), keys)| {
            let first = keys[0];
            let more = match keys.len() {
                1 => String::new(),
                n => format!(" and {} more services", n - 1),
            };
            Guard {
                rule: "zero-backends",
                message: format!(
                    "forward \"{forward}\" would be left with no backends ({first}{more} lose every destination)"
                ),
                flag: "--force",
            }
        })
        .collect()
}

/// Whether the plan creates a service: only then can it shadow a socket of the host.
pub fn creates_services(plan: &Plan) -> bool {
    plan.steps
        .iter()
        .any(|s| matches!(s.op, Operation::Ipvs(Op::NewService(_))))
}

/// New services that would capture a port the host itself listens on: IPVS takes the
/// packets before the local socket sees them (e.g. sshd on 22 of the public address).
fn shadowing(plan: &Plan, desired: &Desired, listeners: &[Listener]) -> Vec<Guard> {
    let mut guards = Vec::new();
    let created = plan.steps.iter().filter_map(|s| match &s.op {
        Operation::Ipvs(Op::NewService(service)) => Some(service.key),
        _ => None,
    });
    for key in created {
        let ServiceKey::Tuple {
            protocol,
            addr,
            port,
        } = key
        else {
            continue;
        };
        let forward = desired.services.get(&key).map_or("", |s| &*s.forward);
        if let Some(l) = listeners
            .iter()
            .find(|l| l.protocol == protocol && l.port == port && l.covers(addr))
        {
            guards.push(Guard {
                rule: "shadowing",
                message: format!(
                    "forward \"{forward}\" would capture {key}, where the host itself listens ({} {}): connections to it would reach the backends instead",
                    protocol_name(l.protocol),
                    std::net::SocketAddr::new(l.addr, l.port)
                ),
                flag: "--allow-shadowing",
            });
        }
    }
    guards
}
