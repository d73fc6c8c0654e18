//! Plans: what must change to make the kernel match the config. A plan is data, computed
//! by one pure function ([`diff::diff`]) from desired and actual state; the renderers
//! (human, JSON), saved plan files and apply only read it.

pub mod change;
pub mod diff;
pub mod fingerprint;
pub mod guard;
pub mod human;
pub mod json;
pub mod planfile;

use crate::kernel::ipvs::Op;
use change::{Action, Change};

/// Everything a plan says.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The changes, in the order the kernel receives them.
    pub changes: Vec<Change>,
    /// The kernel operations, in order, each with the operation that undoes it.
    pub steps: Vec<Step>,
    /// Services on managed addresses in the kernel now.
    pub managed_services: usize,
    /// Services on other addresses (or firewall marks), never touched.
    pub unmanaged_services: usize,
    /// The fingerprint of the managed state the plan was computed from.
    pub fingerprint: String,
}

/// One kernel operation of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub op: Op,
    /// Restores what `op` changed (given that the steps before it are in place).
    pub undo: Op,
    /// The index of the change this step carries out.
    pub change: usize,
}

/// How many resources a plan adds, changes and removes (a replace counts as both an add
/// and a remove, as in Terraform).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    pub add: usize,
    pub change: usize,
    pub remove: usize,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for c in &self.changes {
            match c.action {
                Action::Create => s.add += 1,
                Action::Update => s.change += 1,
                Action::Delete => s.remove += 1,
                Action::Replace => {
                    s.add += 1;
                    s.remove += 1;
                }
            }
        }
        s
    }
}

impl Summary {
    /// `Plan: 2 to add, 1 to change, 0 to remove.`
    pub fn line(&self) -> String {
        format!(
            "Plan: {} to add, {} to change, {} to remove.",
            self.add, self.change, self.remove
        )
    }
}
