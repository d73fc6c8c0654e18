//! One builder for every part of a plan: the host (modules, sysctls, links, addresses), the
//! sync daemons and the IPVS table each append their changes, the steps that carry them out,
//! and their errors and notes, in the order the kernel gets them. A step names its change
//! by index when it is written, so no part is renumbered afterwards.

use super::change::Change;
use super::{Operation, Plan, Step};

#[derive(Debug, Default)]
pub struct Builder {
    pub changes: Vec<Change>,
    pub steps: Vec<Step>,
    pub errors: Vec<String>,
    pub notes: Vec<String>,
    /// Destinations to be removed that have connections now (see [`Plan`]).
    pub open_connections: Vec<(usize, u32, u32)>,
}

impl Builder {
    /// Adds a change; its index, for the steps that carry it out.
    pub fn push(&mut self, change: Change) -> usize {
        self.changes.push(change);
        self.changes.len() - 1
    }

    /// Adds a step of change `change`, with the operation that undoes it.
    pub fn step(&mut self, change: usize, op: Operation, undo: Option<Operation>) {
        self.steps.push(Step { op, undo, change });
    }

    /// A change and every step that carries it out.
    pub fn change(&mut self, change: Change, ops: Vec<(Operation, Option<Operation>)>) {
        let index = self.push(change);
        for (op, undo) in ops {
            self.step(index, op, undo);
        }
    }

    /// The plan, with the IPVS table's counts of managed and unmanaged services.
    pub fn finish(self, managed_services: usize, unmanaged_services: usize) -> Plan {
        Plan {
            changes: self.changes,
            steps: self.steps,
            managed_services,
            unmanaged_services,
            errors: self.errors,
            notes: self.notes,
            warnings: Vec::new(),
            open_connections: self.open_connections,
        }
    }
}
