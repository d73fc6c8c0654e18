//! Runs plan steps as one unit: in batches, stopping after the first batch with a failure;
//! then every step that took effect is undone in reverse order, and the table is read back
//! to confirm it is as it was.

use crate::kernel::KernelError;
use crate::kernel::ipvs::{Ipvs, Op};
use crate::plan::Step;
use crate::plan::diff::diff;
use crate::state::desired::Desired;
use crate::state::ipvs::{DestKey, ServiceKey, Table};
use std::collections::HashSet;

/// Steps per kernel round trip: a failure is noticed within one batch.
pub const BATCH: usize = 128;

/// How a transaction ended.
#[derive(Debug)]
pub enum Outcome {
    /// Every step took effect.
    Done { operations: usize },
    /// A step failed; everything done before was undone and the table read back equal to
    /// what it was.
    RolledBack {
        failures: Vec<KernelError>,
        undone: usize,
    },
    /// A step failed and the undo did not restore the table: `remaining` lists what still
    /// differs from the state before the apply, as `+`/`~`/`-` lines.
    Incomplete {
        failures: Vec<KernelError>,
        undo_failures: Vec<KernelError>,
        remaining: Vec<String>,
    },
}

/// Runs `steps` against `ipvs`. `before` is the table the steps were planned from (for
/// the check after an undo); `managed` the addresses whose services count.
pub fn run(ipvs: &mut dyn Ipvs, steps: &[Step], before: &Table, managed: &Desired) -> Outcome {
    // The undo of each step that took effect, in the order they took effect.
    let mut done: Vec<Op> = Vec::new();
    let mut removed_dests: HashSet<(ServiceKey, DestKey)> = HashSet::new();
    let mut failures = Vec::new();
    for batch in steps.chunks(BATCH) {
        let ops: Vec<Op> = batch.iter().map(|s| s.op.clone()).collect();
        for (step, result) in batch.iter().zip(ipvs.execute(&ops)) {
            if let Err(e) = result {
                failures.push(e);
                continue;
            }
            match &step.op {
                Op::DelDest(k, d) => {
                    removed_dests.insert((*k, *d));
                }
                // The kernel takes a service's remaining destinations with it: when a
                // destination's own removal failed earlier in the batch, the service's
                // removal still took it, and the undo must bring it back.
                Op::DelService(k) => {
                    let dests = before.services.get(k).map(|s| s.dests.values());
                    for d in dests.into_iter().flatten() {
                        if !removed_dests.contains(&(*k, d.dest.key)) {
                            done.push(Op::NewDest(*k, d.dest.clone()));
                        }
                    }
                }
                _ => {}
            }
            done.push(step.undo.clone());
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
    let undo: Vec<Op> = done.into_iter().rev().collect();
    let undo_failures: Vec<KernelError> = ipvs
        .execute(&undo)
        .into_iter()
        .filter_map(Result::err)
        .collect();
    let remaining = match ipvs.read() {
        Ok(now) => {
            let was = Desired::from_table(before, &managed.managed);
            diff(&was, &now)
                .changes
                .iter()
                .map(|c| {
                    let what = match &c.service {
                        Some(s) => format!("destination {} of {s}", c.id),
                        None => format!("service {}", c.id),
                    };
                    // The diff says how to get back; what remains is the opposite.
                    let state = match c.action {
                        crate::plan::change::Action::Create => "is missing",
                        crate::plan::change::Action::Delete => "was added and is still there",
                        _ => "has changed attributes",
                    };
                    format!("{what} {state}")
                })
                .collect()
        }
        Err(e) => vec![format!("the table could not be read back: {e}")],
    };
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
