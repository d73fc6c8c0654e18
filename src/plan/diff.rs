//! The diff: one pure function from desired and actual state to a [`Plan`]. No I/O.
//!
//! Everything but a service's identity changes in place (SET_SERVICE, SET_DEST), so an IPVS
//! plan needs no replace. Order, deterministic: services in ipvsadm's order; for each kept
//! or new service its own change first, then destinations added, changed, removed (so a
//! service never drops below the backends it keeps); services the config no longer declares
//! come last, destinations before their service.

use super::change::{Action, Change, Kind, Reason, dest_attrs, dest_id, service_attrs};
use super::{Operation, Plan, Step};
use crate::state::desired::{Desired, DesiredService};
use crate::state::ipvs::{Dest, ServiceEntry, ServiceKey, Table};
use crate::state::ops::Op;
use std::rc::Rc;

/// Plans the changes that turn `actual` into `desired`. Services on unmanaged addresses
/// are counted and left alone.
pub fn diff(desired: &Desired, actual: &Table) -> Plan {
    // Room for creating everything (the common large plan, from an empty table), taken at
    // the first change: a plan with nothing to change allocates none.
    let room = desired
        .services
        .values()
        .map(|s| 1 + s.dests.len())
        .sum::<usize>();
    let mut b = Builder {
        changes: Vec::new(),
        steps: Vec::new(),
        room,
    };
    for (_, want, have) in paired(&desired.services, &actual.services) {
        match have {
            None => b.create_service(want),
            Some(have) => b.update_service(want, have),
        }
    }
    let mut managed = 0;
    let mut unmanaged = 0;
    for (key, have, want) in paired(&actual.services, &desired.services) {
        if !desired.manages(key) {
            unmanaged += 1;
            continue;
        }
        managed += 1;
        if want.is_none() {
            b.delete_service(have);
        }
    }
    Plan {
        changes: b.changes,
        steps: b.steps,
        managed_services: managed,
        unmanaged_services: unmanaged,
        errors: Vec::new(),
        notes: Vec::new(),
        warnings: Vec::new(),
    }
}

/// Whether a service's destinations in the kernel are the desired ones, attribute for
/// attribute (both maps are sorted by key).
fn same_dests(want: &DesiredService, have: &ServiceEntry) -> bool {
    want.dests.len() == have.dests.len()
        && want
            .dests
            .iter()
            .zip(have.dests.iter())
            .all(|((wk, w), (hk, h))| wk == hk && *w == h.dest)
}

/// Each entry of `left` with the entry of `right` under the same key, if any: one walk
/// over both ordered maps instead of a lookup per key.
fn paired<'a, K: Ord + 'a, A: 'a, B: 'a>(
    left: impl IntoIterator<Item = (&'a K, &'a A)>,
    right: impl IntoIterator<Item = (&'a K, &'a B)>,
) -> impl Iterator<Item = (&'a K, &'a A, Option<&'a B>)> {
    let mut right = right.into_iter().peekable();
    left.into_iter().map(move |(key, a)| {
        while right.next_if(|(k, _)| *k < key).is_some() {}
        let b = right.next_if(|(k, _)| *k == key).map(|(_, b)| b);
        (key, a, b)
    })
}

#[derive(Default)]
struct Builder {
    changes: Vec<Change>,
    steps: Vec<Step>,
    /// Changes to make room for at the first one.
    room: usize,
}

impl Builder {
    fn push(&mut self, change: Change, op: Op, undo: Op) {
        if self.changes.capacity() == 0 {
            self.changes.reserve(self.room);
            self.steps.reserve(self.room);
        }
        self.changes.push(change);
        self.steps.push(Step {
            op: Operation::Ipvs(op),
            undo: Some(Operation::Ipvs(undo)),
            change: self.changes.len() - 1,
        });
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
        // The common case, nothing to change, in one walk instead of the three below.
        if want.service == have.service && same_dests(want, have) {
            return;
        }
        let key = want.service.key;
        let forward = || Some(want.forward.clone());
        // Formatted only when the service has a change: a plan with nothing to do formats none.
        let mut id: Option<String> = None;
        if want.service != have.service {
            self.push(
                Change {
                    kind: Kind::IpvsService,
                    id: id.get_or_insert_with(|| key.to_string()).clone(),
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
        for (_, dest, _) in paired(&want.dests, &have.dests).filter(|(_, _, old)| old.is_none()) {
            let id = id.get_or_insert_with(|| key.to_string());
            self.create_dest(want, id, dest);
        }
        for (_, dest, old) in paired(&want.dests, &have.dests) {
            let Some(old) = old else {
                continue;
            };
            if old.dest != *dest {
                self.push(
                    Change {
                        kind: Kind::IpvsDestination,
                        id: dest_id(&dest.key),
                        parent: Some(id.get_or_insert_with(|| key.to_string()).clone()),
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
        for (_, old, _) in paired(&have.dests, &want.dests).filter(|(_, _, new)| new.is_none()) {
            let id = id.get_or_insert_with(|| key.to_string());
            self.delete_dest(key, id, &old.dest, forward(), Reason::NotInConfig);
        }
    }

    fn delete_dest(
        &mut self,
        key: ServiceKey,
        service_id: &str,
        old: &Dest,
        forward: Option<Rc<str>>,
        why: Reason,
    ) {
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
            self.delete_dest(key, &id, &old.dest, None, Reason::ServiceRemoved);
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
