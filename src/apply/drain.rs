//! `apply --drain`: a destination to be removed first gets weight 0, so it takes no new
//! connections while its open ones finish; it is deleted once it has no active connection
//! or the time is up. Services being removed go after their destinations.

use crate::kernel::KernelError;
use crate::kernel::ipvs::Ipvs;
use crate::plan::{Operation, Step};
use crate::state::ipvs::{DestKey, ServiceKey, Table};
use crate::state::ops::Op;
use std::time::{Duration, Instant};

/// A plan's steps split for draining.
#[derive(Debug, Default)]
pub struct Split {
    /// What runs at once, as one transaction: the plan's other steps, and weight 0 for
    /// each destination to be removed.
    pub now: Vec<Step>,
    /// Destinations to delete once drained, in plan order.
    pub dests: Vec<(ServiceKey, DestKey)>,
    /// Services to delete once their destinations are gone.
    pub services: Vec<ServiceKey>,
}

pub fn split(steps: &[Step], before: &Table) -> Split {
    let mut out = Split::default();
    for step in steps {
        match &step.op {
            Operation::Ipvs(Op::DelDest(k, dk)) => {
                let old = before
                    .services
                    .get(k)
                    .and_then(|s| s.dests.get(dk))
                    .map(|d| d.dest.clone());
                if let Some(old) = old.filter(|d| d.weight != 0) {
                    let quiet = crate::state::ipvs::Dest {
                        weight: 0,
                        ..old.clone()
                    };
                    out.now.push(Step {
                        op: Operation::Ipvs(Op::SetDest(*k, quiet)),
                        undo: Some(Operation::Ipvs(Op::SetDest(*k, old))),
                        change: step.change,
                    });
                }
                out.dests.push((*k, *dk));
            }
            Operation::Ipvs(Op::DelService(k)) => out.services.push(*k),
            _ => out.now.push(step.clone()),
        }
    }
    out
}

/// Waits for the draining destinations, deleting each when it has no active connection
/// or when `timeout` is over, then deletes the services. Reports progress through `say`;
/// returns the operations that failed.
pub fn finish(
    ipvs: &mut dyn Ipvs,
    split: &Split,
    timeout: Duration,
    poll: Duration,
    stop: &dyn Fn() -> bool,
    say: &mut dyn FnMut(String),
) -> Vec<KernelError> {
    let deadline = Instant::now() + timeout;
    let mut pending = split.dests.clone();
    let mut failures = Vec::new();
    let mut last_report = String::new();
    while !pending.is_empty() {
        if stop() {
            say(format!(
                "interrupted: {} destination(s) stay at weight 0 (no new connections); apply again to remove them",
                pending.len()
            ));
            return failures;
        }
        let table = match ipvs.read() {
            Ok(t) => t,
            Err(e) => {
                failures.push(e);
                break;
            }
        };
        let active = |k: &ServiceKey, d: &DestKey| {
            table
                .services
                .get(k)
                .and_then(|s| s.dests.get(d))
                .map_or(0, |d| d.counters.active_conns)
        };
        let out_of_time = Instant::now() >= deadline;
        let (ready, waiting): (Vec<_>, Vec<_>) = pending
            .into_iter()
            .partition(|(k, d)| out_of_time || active(k, d) == 0);
        for (k, d) in &ready {
            let left = active(k, d);
            let why = if left == 0 {
                "drained".to_string()
            } else {
                format!("time is up with {left} active connection(s)")
            };
            say(format!(
                "removing destination {} of {k} ({why})",
                crate::plan::change::dest_id(d)
            ));
        }
        let ops: Vec<Op> = ready.iter().map(|(k, d)| Op::DelDest(*k, *d)).collect();
        failures.extend(ipvs.execute(&ops).into_iter().filter_map(Result::err));
        pending = waiting;
        if pending.is_empty() {
            break;
        }
        let conns: u32 = pending.iter().map(|(k, d)| active(k, d)).sum();
        let left = deadline.saturating_duration_since(Instant::now()).as_secs();
        let report = format!(
            "draining {} destination(s): {conns} active connection(s), at most {left} s left",
            pending.len()
        );
        if report != last_report {
            say(report.clone());
            last_report = report;
        }
        std::thread::sleep(poll.min(deadline.saturating_duration_since(Instant::now())));
    }
    let ops: Vec<Op> = split.services.iter().map(|k| Op::DelService(*k)).collect();
    failures.extend(ipvs.execute(&ops).into_iter().filter_map(Result::err));
    failures
}
