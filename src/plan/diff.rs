//! The diff: one pure function from desired and actual state to a [`Plan`]. No I/O.
//!
//! Everything but a service's identity changes in place (SET_SERVICE, SET_DEST), so an IPVS
//! plan needs no replace. Order, deterministic: services in ipvsadm's order; for each kept
//! or new service its own change first, then destinations added, changed, removed (so a
//! service never drops below the backends it keeps); services the config no longer declares
//! come last, destinations before their service.

use super::builder::Builder;
use super::change::{Action, Change, Kind, Reason, dest_attrs, dest_id, service_attrs};
use super::{Operation, Plan};
use crate::state::desired::{Desired, DesiredService};
use crate::state::ipvs::{Dest, DestEntry, ServiceEntry, ServiceKey, Table};
use crate::state::ops::Op;
use std::sync::Arc;

/// Plans the changes that turn `actual` into `desired`. Services on unmanaged addresses
/// are counted and left alone.
pub fn diff(desired: &Desired, actual: &Table) -> Plan {
    let mut b = Builder::default();
    let (managed, unmanaged) = diff_into(desired, actual, &mut b);
    b.finish(managed, unmanaged)
}

/// [`diff`] into a plan being built (after its host part); the counts of managed and
/// unmanaged services in `actual`.
pub fn diff_into(desired: &Desired, actual: &Table, b: &mut Builder) -> (usize, usize) {
    // Room for creating everything: the large plan, from an empty table.
    let creates: usize = desired.services.values().map(|s| 1 + s.dests.len()).sum();
    if actual.services.is_empty() {
        b.changes.reserve(creates);
        b.steps.reserve(creates);
    }
    let mut d = IpvsDiff { b };
    for want in desired.services.values() {
        match actual.services.get(&want.service.key) {
            None => d.create_service(want),
            Some(have) => d.update_service(want, have),
        }
    }
    let (mut managed, mut unmanaged) = (0, 0);
    for (key, have) in &actual.services {
        if !desired.manages(key) {
            unmanaged += 1;
            continue;
        }
        managed += 1;
        if !desired.services.contains_key(key) {
            d.delete_service(have);
        }
    }
    (managed, unmanaged)
}

/// The IPVS part's own steps: one operation and its undo per change.
struct IpvsDiff<'b> {
    b: &'b mut Builder,
}

impl IpvsDiff<'_> {
    fn push(&mut self, change: Change, op: Op, undo: Op) {
        let index = self.b.push(change);
        self.b
            .step(index, Operation::Ipvs(op), Some(Operation::Ipvs(undo)));
    }

    fn create_service(&mut self, want: &DesiredService) {
        let key = want.service.key;
        let id = key.to_string();
        self.push(
            Change {
                kind: Kind::IpvsService,
                id: id.clone(),
                parent: None,
                forward: Some(want.forward.clone()),
                action: Action::Create,
                reason: Reason::MissingInKernel,
                before: None,
                after: Some(service_attrs(&want.service)),
            },
            Op::NewService(want.service.clone()),
            Op::DelService(key),
        );
        for dest in want.dests.values() {
            self.create_dest(want, &id, dest);
        }
    }

    /// `service_id` is the service's key as text, formatted once for all its changes.
    fn create_dest(&mut self, want: &DesiredService, service_id: &str, dest: &Dest) {
        let key = want.service.key;
        self.push(
            Change {
                kind: Kind::IpvsDestination,
                id: dest_id(&dest.key),
                parent: Some(service_id.to_string()),
                forward: Some(want.forward.clone()),
                action: Action::Create,
                reason: Reason::MissingInKernel,
                before: None,
                after: Some(dest_attrs(dest)),
            },
            Op::NewDest(key, dest.clone()),
            Op::DelDest(key, dest.key),
        );
    }

    fn update_service(&mut self, want: &DesiredService, have: &ServiceEntry) {
        let key = want.service.key;
        let forward = || Some(want.forward.clone());
        if want.service != have.service {
            self.push(
                Change {
                    kind: Kind::IpvsService,
                    id: key.to_string(),
                    parent: None,
                    forward: forward(),
                    action: Action::Update,
                    reason: Reason::AttributesDiffer,
                    before: Some(service_attrs(&have.service)),
                    after: Some(service_attrs(&want.service)),
                },
                Op::SetService(want.service.clone()),
                Op::SetService(have.service.clone()),
            );
        }
        for dest in want.dests.values() {
            if !have.dests.contains_key(&dest.key) {
                self.create_dest(want, &key.to_string(), dest);
            }
        }
        for dest in want.dests.values() {
            let Some(old) = have.dests.get(&dest.key) else {
                continue;
            };
            if old.dest != *dest {
                self.push(
                    Change {
                        kind: Kind::IpvsDestination,
                        id: dest_id(&dest.key),
                        parent: Some(key.to_string()),
                        forward: forward(),
                        action: Action::Update,
                        reason: Reason::AttributesDiffer,
                        before: Some(dest_attrs(&old.dest)),
                        after: Some(dest_attrs(dest)),
                    },
                    Op::SetDest(key, dest.clone()),
                    Op::SetDest(key, old.dest.clone()),
                );
            }
        }
        for old in have.dests.values() {
            if !want.dests.contains_key(&old.dest.key) {
                self.delete_dest(key, &key.to_string(), old, forward(), Reason::NotInConfig);
            }
        }
    }

    fn delete_dest(
        &mut self,
        key: ServiceKey,
        service_id: &str,
        entry: &DestEntry,
        forward: Option<Arc<str>>,
        why: Reason,
    ) {
        let old = &entry.dest;
        let (active, inactive) = (entry.counters.active_conns, entry.counters.inactive_conns);
        if active > 0 || inactive > 0 {
            self.b
                .open_connections
                .push((self.b.changes.len(), active, inactive));
        }
        self.push(
            Change {
                kind: Kind::IpvsDestination,
                id: dest_id(&old.key),
                parent: Some(service_id.to_string()),
                forward,
                action: Action::Delete,
                reason: why,
                before: Some(dest_attrs(old)),
                after: None,
            },
            Op::DelDest(key, old.key),
            Op::NewDest(key, old.clone()),
        );
    }

    fn delete_service(&mut self, have: &ServiceEntry) {
        let key = have.service.key;
        let id = key.to_string();
        for old in have.dests.values() {
            self.delete_dest(key, &id, old, None, Reason::ServiceRemoved);
        }
        self.push(
            Change {
                kind: Kind::IpvsService,
                id,
                parent: None,
                forward: None,
                action: Action::Delete,
                reason: Reason::NotInConfig,
                before: Some(service_attrs(&have.service)),
                after: None,
            },
            Op::DelService(key),
            Op::NewService(have.service.clone()),
        );
    }
}
