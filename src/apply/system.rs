//! The kernel as apply drives it: IPVS always, the host (links, sysctls, modules) when the
//! plan covers it. Operations of any kind go through one `execute`.

use crate::kernel::KernelError;
use crate::kernel::ipvs::Ipvs;
use crate::kernel::links::Links;
use crate::kernel::modules::Modules;
use crate::kernel::sysctl::Sysctl;
use crate::plan::Operation;
use crate::state::host::{HostActual, HostDesired};
use crate::state::ipvs::Table;
use crate::state::ops::Op;

/// Access to the host's links, sysctls and modules.
pub struct HostKernel<'a> {
    pub links: &'a mut dyn Links,
    pub sysctl: &'a mut dyn Sysctl,
    pub modules: &'a mut dyn Modules,
}

pub struct System<'a> {
    pub ipvs: &'a mut dyn Ipvs,
    pub host: Option<HostKernel<'a>>,
}

/// The state a plan was computed from.
pub struct Before<'a> {
    pub ipvs: &'a Table,
    /// The host part: what was wanted of it and what it had.
    pub host: Option<(&'a HostDesired, &'a HostActual)>,
}

impl System<'_> {
    /// Runs `ops` in order, one result per op; consecutive IPVS operations share one
    /// pipelined round trip.
    pub fn execute(&mut self, ops: &[Operation]) -> Vec<Result<(), KernelError>> {
        let mut results = Vec::with_capacity(ops.len());
        let mut at = 0;
        while at < ops.len() {
            let ipvs: Vec<Op> = ops[at..]
                .iter()
                .map_while(|o| match o {
                    Operation::Ipvs(op) => Some(op.clone()),
                    _ => None,
                })
                .collect();
            if ipvs.is_empty() {
                results.push(self.run_host(&ops[at]));
                at += 1;
            } else {
                at += ipvs.len();
                results.extend(self.ipvs.execute(&ipvs));
            }
        }
        results
    }

    fn run_host(&mut self, op: &Operation) -> Result<(), KernelError> {
        let Some(h) = &mut self.host else {
            return Err(KernelError::other(
                op.to_string(),
                "this apply has no access to the host's links, sysctls and modules",
            ));
        };
        match op {
            Operation::LoadModule(name) => h.modules.load(name),
            Operation::Sysctl { key, value } => h.sysctl.write(key, value),
            Operation::Link(l) => h
                .links
                .execute(std::slice::from_ref(l))
                .pop()
                .unwrap_or_else(|| Err(KernelError::protocol(l.to_string(), "no result"))),
            Operation::Ipvs(op) => self
                .ipvs
                .execute(std::slice::from_ref(op))
                .pop()
                .unwrap_or_else(|| Err(KernelError::protocol(op.to_string(), "no result"))),
        }
    }

    /// The host as `want` sees it; `None` without host access.
    pub fn read_host(&mut self, want: &HostDesired) -> Option<Result<HostActual, KernelError>> {
        let h = self.host.as_mut()?;
        Some(crate::kernel::host::read_with(
            want, h.links, h.sysctl, h.modules, self.ipvs,
        ))
    }
}
