//! Apply: carries out a plan against the kernel as one transaction (undone on failure),
//! drains removed destinations when asked, and reads the table back to verify the result.
//! Asking the user and taking the lock are the CLI's part.

pub mod drain;
pub mod lock;
pub mod transaction;

use crate::kernel::KernelError;
use crate::kernel::ipvs::Ipvs;
use crate::plan::Plan;
use crate::plan::diff::diff;
use crate::state::desired::Desired;
use crate::state::ipvs::Table;
use std::time::Duration;
pub use transaction::Outcome;

/// How to apply.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Drain destinations to be removed for up to this long (`--drain`).
    pub drain: Option<Duration>,
    /// How often draining looks at the connection counts.
    pub poll: Duration,
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
}

impl Report {
    pub fn succeeded(&self) -> bool {
        matches!(self.outcome, Outcome::Done { .. })
            && self.drain_failures.is_empty()
            && matches!(&self.verify, Some(Ok(rest)) if rest.is_empty())
    }
}

pub fn apply(
    ipvs: &mut dyn Ipvs,
    desired: &Desired,
    before: &Table,
    plan: &Plan,
    options: Options,
    say: &mut dyn FnMut(String),
) -> Report {
    let split = options.drain.map(|_| drain::split(&plan.steps, before));
    let steps = split.as_ref().map_or(&plan.steps, |s| &s.now);
    let outcome = transaction::run(ipvs, steps, before, desired);
    let mut report = Report {
        outcome,
        drain_failures: Vec::new(),
        verify: None,
    };
    if !matches!(report.outcome, Outcome::Done { .. }) {
        return report;
    }
    if let (Some(split), Some(timeout)) = (&split, options.drain)
        && !(split.dests.is_empty() && split.services.is_empty())
    {
        report.drain_failures = drain::finish(ipvs, split, timeout, options.poll, say);
    }
    report.verify = Some(ipvs.read().map(|now| {
        diff(desired, &now)
            .changes
            .iter()
            .map(|c| match &c.service {
                Some(s) => format!("destination {} of {s}", c.id),
                None => format!("service {}", c.id),
            })
            .collect()
    }));
    report
}

#[cfg(test)]
mod tests;
