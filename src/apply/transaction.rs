//! Runs plan steps as one unit: host steps one by one, IPVS steps in pipelined batches,
//! stopping after the first group with a failure; then every step that took effect is undone
//! in reverse order, and the kernel is read back to confirm it is as it was.

use super::system::{Before, System};
use crate::kernel::KernelError;
use crate::plan::diff::diff;
use crate::plan::{Operation, Step};
use crate::state::desired::Desired;
use crate::state::host;
use crate::state::ipvs::{DestKey, ServiceKey};
use crate::state::ops::Op;
use std::collections::HashSet;

/// IPVS steps per kernel round trip: a failure is noticed within one batch.
pub const BATCH: usize = 128;

/// How a transaction ended.
#[derive(Debug)]
pub enum Outcome {
    /// Every step took effect.
    Done { operations: usize },
    /// A step failed; everything done before was undone and the kernel read back equal to
    /// what it was.
    RolledBack {
        failures: Vec<KernelError>,
        undone: usize,
    },
    /// A step failed and the undo did not restore the kernel: `remaining` lists what still
    /// differs from the state before the apply.
    Incomplete {
        failures: Vec<KernelError>,
        undo_failures: Vec<KernelError>,
        remaining: Vec<String>,
    },
}

/// Consecutive IPVS steps in batches, every other step alone.
fn groups(steps: &[Step]) -> Vec<&[Step]> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < steps.len() {
        let len = if matches!(steps[at].op, Operation::Ipvs(_)) {
            steps[at..]
                .iter()
                .take(BATCH)
                .take_while(|s| matches!(s.op, Operation::Ipvs(_)))
                .count()
        } else {
            1
        };
        out.push(&steps[at..at + len]);
        at += len;
    }
    out
}

/// Runs `steps`. `before` is what the steps were planned from (for the check after an
/// undo); `managed` says which services count.
/// `stop` is asked before each batch: true stops and rolls back (a signal arrived).
pub fn run(
    system: &mut System,
    steps: &[Step],
    before: &Before,
    managed: &Desired,
    stop: &dyn Fn() -> bool,
) -> Outcome {
    // The undo of each step that took effect, in the order they took effect.
    let mut done: Vec<Operation> = Vec::new();
    let mut removed_dests: HashSet<(ServiceKey, DestKey)> = HashSet::new();
    let mut failures = Vec::new();
    for group in groups(steps) {
        if stop() {
            failures.push(KernelError::other(
                "applying the plan",
                "stopped by a signal (SIGINT, SIGTERM or SIGHUP) before the next step",
            ));
            break;
        }
        let ops: Vec<Operation> = group.iter().map(|s| s.op.clone()).collect();
        for (step, result) in group.iter().zip(system.execute(&ops)) {
            if let Err(e) = result {
                failures.push(e);
                continue;
            }
            match &step.op {
                Operation::Ipvs(Op::DelDest(k, d)) => {
                    removed_dests.insert((*k, *d));
                }
                // The kernel takes a service's remaining destinations with it: when a
                // destination's own removal failed earlier in the batch, the service's
                // removal still took it, and the undo must bring it back.
                Operation::Ipvs(Op::DelService(k)) => {
                    let dests = before.ipvs.services.get(k).map(|s| s.dests.values());
                    for d in dests.into_iter().flatten() {
                        if !removed_dests.contains(&(*k, d.dest.key)) {
                            done.push(Operation::Ipvs(Op::NewDest(*k, d.dest.clone())));
                        }
                    }
                }
                _ => {}
            }
            done.extend(step.undo.clone());
        }
        if !failures.is_empty() {
            break;
        }
    }
    if failures.is_empty() {
        return Outcome::Done {
            operations: steps.len(),
        };
    }
    let undo: Vec<Operation> = done.into_iter().rev().collect();
    let undo_failures: Vec<KernelError> = system
        .execute(&undo)
        .into_iter()
        .filter_map(Result::err)
        .collect();
    let remaining = differences_from(system, before, managed);
    if undo_failures.is_empty() && remaining.is_empty() {
        Outcome::RolledBack {
            failures,
            undone: undo.len(),
        }
    } else {
        Outcome::Incomplete {
            failures,
            undo_failures,
            remaining,
        }
    }
}

/// What differs now from `before`, read back from the kernel.
fn differences_from(system: &mut System, before: &Before, managed: &Desired) -> Vec<String> {
    let mut remaining = match system.ipvs.read() {
        Ok(now) => {
            let was = Desired::from_table(before.ipvs, &managed.managed);
            diff(&was, &now)
                .changes
                .iter()
                .map(|c| {
                    // The diff says how to get back; what remains is the opposite.
                    let state = match c.action {
                        crate::plan::change::Action::Create => "is missing",
                        crate::plan::change::Action::Delete => "was added and is still there",
                        _ => "has changed attributes",
                    };
                    format!("{} {state}", c.subject())
                })
                .collect()
        }
        Err(e) => vec![format!("the IPVS table could not be read back: {e}")],
    };
    if let Some((want, was)) = before.host {
        match system.read_host(want) {
            Some(Ok(now)) => {
                let then = host::observe(want, was);
                let now = host::observe(want, &now);
                for line in &then {
                    if !now.contains(line) {
                        remaining.push(format!("was: {line}"));
                    }
                }
                for line in &now {
                    if !then.contains(line) {
                        remaining.push(format!("now: {line}"));
                    }
                }
            }
            Some(Err(e)) => remaining.push(format!("the host could not be read back: {e}")),
            None => {}
        }
    }
    remaining
}
