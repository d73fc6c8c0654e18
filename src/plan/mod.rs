//! Plans: what must change to make the kernel match the config. A plan is data, computed
//! by one pure function ([`diff::diff`]) from desired and actual state; the renderers
//! (human, JSON), saved plan files and apply only read it.

pub mod builder;
pub mod change;
pub mod diff;
pub mod fingerprint;
pub mod guard;
pub mod host_diff;
pub mod human;
pub mod json;
pub mod markdown;
pub mod planfile;
pub mod style;
pub mod sync_diff;

use crate::state::desired::Desired;
use crate::state::host::{HostActual, HostDesired};
use crate::state::ipvs::Table;
use crate::state::ops::LinkOp;
use crate::state::ops::Op;
use change::{Action, Change};
use std::fmt;

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
    /// Problems that make the plan impossible to apply (e.g. a public address the host
    /// lacks, a kernel module that cannot load): plan exits 1, apply refuses.
    pub errors: Vec<String>,
    /// What portfwd saw and leaves alone (ports the hypervisor added, extra addresses).
    pub notes: Vec<String>,
    /// Pitfalls of the host that apply does not fix (from the doctor's checks).
    pub warnings: Vec<String>,
    /// Destinations to be removed that have connections now: index of the change, active
    /// and inactive connections. Not part of a saved plan (the counts move on their own).
    pub open_connections: Vec<(usize, u32, u32)>,
}

/// One kernel operation of any resource kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    /// Load a kernel module (`modprobe NAME`).
    LoadModule(String),
    /// Write a value to /proc/sys.
    Sysctl {
        key: String,
        value: String,
    },
    Link(LinkOp),
    Ipvs(Op),
}

impl Operation {
    /// A short stable name for counting (`portfwd_kernel_operations_total{op}`).
    pub fn name(&self) -> &'static str {
        match self {
            Operation::LoadModule(_) => "load_module",
            Operation::Sysctl { .. } => "set_sysctl",
            Operation::Link(LinkOp::CreateBridge { .. }) => "create_bridge",
            Operation::Link(LinkOp::DeleteLink { .. }) => "delete_link",
            Operation::Link(LinkOp::SetUp { .. }) => "set_link_up",
            Operation::Link(LinkOp::SetMaster { .. }) => "set_link_master",
            Operation::Link(LinkOp::AddAddress { .. }) => "add_address",
            Operation::Link(LinkOp::DelAddress { .. }) => "delete_address",
            Operation::Ipvs(Op::NewService(_)) => "new_service",
            Operation::Ipvs(Op::SetService(_)) => "edit_service",
            Operation::Ipvs(Op::DelService(_)) => "delete_service",
            Operation::Ipvs(Op::NewDest(..)) => "new_destination",
            Operation::Ipvs(Op::SetDest(..)) => "edit_destination",
            Operation::Ipvs(Op::DelDest(..)) => "delete_destination",
            Operation::Ipvs(Op::NewDaemon(_)) => "start_sync_daemon",
            Operation::Ipvs(Op::DelDaemon(_)) => "stop_sync_daemon",
        }
    }

    /// The IPVS service an operation acts on; `None` for host operations.
    pub fn ipvs_service(&self) -> Option<crate::state::ipvs::ServiceKey> {
        match self {
            Operation::Ipvs(Op::NewService(s) | Op::SetService(s)) => Some(s.key),
            Operation::Ipvs(
                Op::DelService(k) | Op::NewDest(k, _) | Op::SetDest(k, _) | Op::DelDest(k, _),
            ) => Some(*k),
            _ => None,
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operation::LoadModule(name) => write!(f, "loading kernel module {name}"),
            Operation::Sysctl { key, value } => write!(f, "setting sysctl {key} to {value}"),
            Operation::Link(op) => op.fmt(f),
            Operation::Ipvs(op) => op.fmt(f),
        }
    }
}

/// One kernel operation of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub op: Operation,
    /// Restores what `op` changed (given that the steps before it are in place); `None`
    /// when there is nothing to undo (a loaded module stays loaded).
    pub undo: Option<Operation>,
    /// The index of the change this step carries out.
    pub change: usize,
}

/// The host's declared resources and what it has of them.
pub type HostPair<'a> = (&'a HostDesired, &'a HostActual);

/// The whole plan: the host part (when known) before the IPVS part. Without the host part
/// (a plan against a snapshot) a note says so.
pub fn build(desired: &Desired, actual: &Table, host: Option<HostPair<'_>>) -> Plan {
    let mut plan = builder::Builder::default();
    if let Some((want, have)) = host {
        host_diff::diff_host_into(want, have, &mut plan);
    }
    let (managed, unmanaged) = diff::diff_into(desired, actual, &mut plan);
    if host.is_none() {
        plan.notes.push(
            "a snapshot holds only the IPVS table: kernel modules, sysctls, bridges, addresses and sync daemons were not planned"
                .to_string(),
        );
    }
    plan.finish(managed, unmanaged)
}

/// The fingerprint of the state a plan is computed from: the managed IPVS services and,
/// when known, the host's declared resources (see [`fingerprint`]). Saved plans, the JSON
/// document and apply's checks use it; a plan for people shows none, so it is not part of
/// [`Plan`].
pub fn state_fingerprint(desired: &Desired, actual: &Table, host: Option<HostPair<'_>>) -> String {
    let ipvs = fingerprint::of(desired, actual);
    match host {
        Some((want, have)) => fingerprint::extend(&ipvs, &crate::state::host::observe(want, have)),
        None => ipvs,
    }
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
