//! Apply: carries out a plan against the kernel as one transaction (undone on failure),
//! drains removed destinations when asked, and reads the kernel back to verify the result.
//! Asking the user and taking the lock are the CLI's part.

pub mod drain;
pub mod interrupt;
pub mod lock;
pub mod system;
pub mod transaction;

use crate::kernel::KernelError;
use crate::plan::diff::diff;
use crate::plan::host_diff::diff_host;
use crate::plan::{Operation, Plan};
use crate::state::desired::Desired;
use crate::state::ipvs::ServiceKey;
use std::collections::BTreeSet;
use std::time::Duration;
pub use system::{Before, HostKernel, System};
pub use transaction::Outcome;

/// How to apply.
#[derive(Clone, Copy)]
pub struct Options<'a> {
    /// Drain destinations to be removed for up to this long (`--drain`).
    pub drain: Option<Duration>,
    /// How often draining looks at the connection counts.
    pub poll: Duration,
    /// Asked between batches: true stops and rolls back ([`interrupt::requested`]).
    /// The daemon's worker also notes that it is alive here.
    pub stop: &'a dyn Fn() -> bool,
    /// Called once the transaction has committed, before draining and the read-back: the
    /// moment the kernel holds the plan (the daemon times health changes to it).
    pub committed: &'a dyn Fn(),
    /// Read back only the services touched, however large a share of the table they are
    /// (a health change plans a few services, not the table).
    pub verify_touched: bool,
}

/// What an apply did.
#[derive(Debug)]
pub struct Report {
    pub outcome: Outcome,
    /// Operations that failed while draining (after the transaction committed).
    pub drain_failures: Vec<KernelError>,
    /// After a complete apply: what still differs from the config when read back (empty
    /// when the kernel matches), or why it could not be read.
    pub verify: Option<Result<Vec<String>, KernelError>>,
    /// What was read back for `verify`.
    pub verify_scope: VerifyScope,
}

/// What an apply reads back to check its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyScope {
    /// The services the apply touched, with their destinations (this many).
    Touched(usize),
    /// The list of services with their attributes, when the apply touched most of the
    /// table: one dump. Destinations are then checked by the kernel's acknowledgement of
    /// each request only; reading them back would take one dump per service, about as long
    /// as writing them.
    ServiceList,
}

impl Report {
    pub fn succeeded(&self) -> bool {
        matches!(self.outcome, Outcome::Done { .. })
            && self.drain_failures.is_empty()
            && matches!(&self.verify, Some(Ok(rest)) if rest.is_empty())
    }
}

pub fn apply(
    system: &mut System,
    desired: &Desired,
    before: &Before,
    plan: &Plan,
    options: Options,
    say: &mut dyn FnMut(String),
) -> Report {
    let split = options
        .drain
        .map(|_| drain::split(&plan.steps, before.ipvs));
    let steps = split.as_ref().map_or(&plan.steps, |s| &s.now);
    let outcome = transaction::run(system, steps, before, desired, options.stop);
    let touched = touched_services(plan);
    let verify_scope = if options.verify_touched {
        VerifyScope::Touched(touched.len())
    } else {
        scope(&touched, desired, before)
    };
    let mut report = Report {
        outcome,
        drain_failures: Vec::new(),
        verify: None,
        verify_scope,
    };
    if !matches!(report.outcome, Outcome::Done { .. }) {
        return report;
    }
    (options.committed)();
    if let (Some(split), Some(timeout)) = (&split, options.drain)
        && !(split.dests.is_empty() && split.services.is_empty())
    {
        report.drain_failures =
            drain::finish(system.ipvs, split, timeout, options.poll, options.stop, say);
    }
    let host_touched = plan
        .steps
        .iter()
        .any(|s| !matches!(s.op, Operation::Ipvs(_)));
    report.verify = Some(verify(
        system,
        desired,
        before,
        &touched,
        host_touched,
        report.verify_scope,
    ));
    report
}

/// Touched services are read back whole when they are a quarter of the table or less;
/// otherwise the service list.
fn scope(touched: &BTreeSet<ServiceKey>, desired: &Desired, before: &Before) -> VerifyScope {
    let touched = touched.len();
    let largest = desired.services.len().max(before.ipvs.services.len());
    if touched * 4 > largest {
        VerifyScope::ServiceList
    } else {
        VerifyScope::Touched(touched)
    }
}

/// What still differs from the config, read back from the kernel as `scope` says; the host
/// only when the plan changed it (it matched the config when planned).
fn verify(
    system: &mut System,
    desired: &Desired,
    before: &Before,
    touched: &BTreeSet<ServiceKey>,
    host_touched: bool,
    scope: VerifyScope,
) -> Result<Vec<String>, KernelError> {
    let (now, part) = match scope {
        VerifyScope::ServiceList => {
            // Compared without destinations on either side.
            let services = desired
                .services
                .iter()
                .map(|(k, v)| {
                    let mut v = v.clone();
                    v.dests = Default::default();
                    (*k, v)
                })
                .collect();
            let part = Desired {
                managed: desired.managed.clone(),
                services,
            };
            (system.ipvs.read_service_list()?, part)
        }
        VerifyScope::Touched(_) => {
            let keys: Vec<ServiceKey> = touched.iter().copied().collect();
            let part = Desired {
                managed: desired.managed.clone(),
                services: desired
                    .services
                    .iter()
                    .filter(|(k, _)| touched.contains(k))
                    .map(|(k, v)| (*k, v.clone()))
                    .collect(),
            };
            (system.ipvs.read_services(&keys)?, part)
        }
    };
    let mut rest: Vec<String> = Vec::new();
    if let Some((want, _)) = before.host
        && host_touched
        && let Some(host) = system.read_host(want)
    {
        rest.extend(diff_host(want, &host?).changes.iter().map(|c| c.subject()));
    }
    rest.extend(diff(&part, &now).changes.iter().map(|c| c.subject()));
    Ok(rest)
}

/// The services a plan's IPVS steps touch.
fn touched_services(plan: &Plan) -> BTreeSet<ServiceKey> {
    plan.steps
        .iter()
        .filter_map(|s| s.op.ipvs_service())
        .collect()
}

#[cfg(test)]
mod tests;
