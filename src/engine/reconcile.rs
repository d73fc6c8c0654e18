//! One reconcile, the sequence `portfwd apply` and `portfwd run` share: health applied to
//! the config, the kernel read, the plan, its errors, its guards, approval, the apply lock,
//! the apply, the check of what it did. What differs between callers is data ([`Policy`])
//! and what they show or ask at each step ([`Steward`]).

use super::{Error, Kernel, Loaded, Planned};
use crate::apply::{Options, Outcome, Report, lock};
use crate::health::overlay::{self, FailOpen, IsDown};
use crate::state::desired::Desired;
use crate::state::host::Listener;
use crate::state::ipvs::ServiceKey;
use std::borrow::Cow;
use std::cell::RefCell;
use std::path::Path;
use std::time::Duration;

/// Why the kernel is brought in line with the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// `portfwd apply`.
    Apply,
    /// `portfwd run` starting.
    Start,
    /// `portfwd run` given a new config (SIGHUP).
    Reload,
    /// `portfwd run`'s timer: drift repaired.
    Resync,
    /// `portfwd run`: a backend went up or down.
    Health,
}

impl Trigger {
    pub fn name(self) -> &'static str {
        match self {
            Trigger::Apply => "apply",
            Trigger::Start => "start",
            Trigger::Reload => "reload",
            Trigger::Resync => "resync",
            Trigger::Health => "health",
        }
    }
}

/// What a reconcile covers.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    /// The whole IPVS table and, when `host` is set, the host part (modules, sysctls,
    /// links, addresses, sync daemons).
    Whole { host: bool },
    /// Only these services with their destinations: read, planned, applied and verified
    /// alone, so the cost follows them and not the table.
    Services(&'a [ServiceKey]),
}

/// When the apply lock is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locking {
    /// Before the kernel is read: nothing else changes it between the read and the apply.
    BeforeRead,
    /// After approval (a person reads the plan meanwhile, and no other apply waits on
    /// that): then the kernel is read again, and the plan refused if it changed.
    AfterApproval,
}

/// The overrides of the guards; `None` in a [`Policy`] leaves the guards unchecked.
#[derive(Debug, Clone, Copy, Default)]
pub struct Overrides {
    pub force: bool,
    pub allow_shadowing: bool,
}

/// How one reconcile runs.
#[derive(Debug, Clone, Copy)]
pub struct Policy<'a> {
    pub trigger: Trigger,
    pub scope: Scope<'a>,
    pub guards: Option<Overrides>,
    pub drain: Option<Duration>,
    pub locking: Locking,
    pub lock_timeout: Duration,
    /// The doctor's warnings added to the plan (for a person reading it).
    pub doctor: bool,
}

/// What the caller shows, asks and logs at each step.
pub trait Steward {
    /// The plan, before its errors and guards are looked at: a CLI prints it, and a saved
    /// plan is compared with it.
    fn planned(&mut self, _loaded: &Loaded, _planned: &Planned) -> Result<(), Error> {
        Ok(())
    }
    /// The last word before the lock and the apply: a CLI asks, a daemon logs the steps.
    fn approve(&mut self, _planned: &Planned) -> Result<(), Error> {
        Ok(())
    }
    /// The lock is busy: called at each look (about ten a second), with the holder's pid.
    fn waiting(&mut self, _holder: &str) {}
    /// Asked between batches and while draining: true stops and rolls back.
    fn stop(&self) -> bool {
        false
    }
    /// The kernel holds the plan (the transaction committed; draining and the read-back
    /// follow).
    fn committed(&mut self) {}
    /// The apply ran (whatever its outcome): what a CLI prints of it, a daemon counts.
    fn applied(&mut self, _planned: &Planned, _report: &Report) {}
    /// A line of progress.
    fn say(&mut self, line: String);
    /// The host's listening sockets, asked only when the plan creates a service.
    fn listeners(&mut self) -> Option<Vec<Listener>> {
        None
    }
}

/// What a reconcile did.
#[derive(Debug)]
pub struct Reconciled {
    /// The services left as configured because every backend is down and there is no
    /// fallback.
    pub fail_open: Vec<FailOpen>,
}

/// Brings the kernel in line with `loaded`, with the backends `held_down` says (forward,
/// address, port; `None`: none) applied as the config's health settings say.
pub fn reconcile(
    kernel: &mut Kernel,
    loaded: &Loaded,
    held_down: Option<&IsDown>,
    policy: &Policy,
    lock_path: &Path,
    steward: &mut dyn Steward,
) -> Result<Reconciled, Error> {
    let mut desired = match policy.scope {
        // Copied only when health changes it.
        Scope::Whole { .. } if held_down.is_none() => Cow::Borrowed(&loaded.desired),
        Scope::Whole { .. } => Cow::Owned(loaded.desired.clone()),
        Scope::Services(keys) => Cow::Owned(Desired {
            managed: loaded.desired.managed.clone(),
            services: keys
                .iter()
                .filter_map(|k| Some((*k, loaded.desired.services.get(k)?.clone())))
                .collect(),
        }),
    };
    let fail_open = match held_down {
        Some(down) => overlay::apply(desired.to_mut(), &|name| loaded.checked(name), down),
        None => Vec::new(),
    };

    let mut held = None;
    if policy.locking == Locking::BeforeRead {
        held = Some(take_lock(lock_path, policy.lock_timeout, steward)?);
    }
    let planned = plan(kernel, loaded, &desired, policy, steward)?;
    steward.planned(loaded, &planned)?;
    if !planned.plan.errors.is_empty() {
        return Err(Error::PlanErrors(planned.plan.errors.clone()));
    }
    if planned.plan.is_empty() {
        return Ok(Reconciled { fail_open });
    }
    if let Some(overrides) = policy.guards {
        let blocking: Vec<(String, &'static str)> = planned
            .blocking(overrides.force, overrides.allow_shadowing)
            .into_iter()
            .map(|g| (g.message.clone(), g.flag))
            .collect();
        if !blocking.is_empty() {
            return Err(Error::Refused(blocking));
        }
    }
    steward.approve(&planned)?;
    if held.is_none() {
        held = Some(take_lock(lock_path, policy.lock_timeout, steward)?);
        // Time passed while the plan was read: it holds only for the state it was made from.
        let (table, now) = kernel.read(&loaded.host)?;
        let now = planned.host.is_some().then_some(now);
        if loaded.fingerprint(&table, now.as_ref()) != planned.fingerprint(loaded) {
            return Err(Error::ChangedWhileAsking);
        }
    }
    // Draining asks whether to stop and says how it goes, in turns.
    let shared = RefCell::new(&mut *steward);
    let stop = || shared.borrow().stop();
    let committed = || shared.borrow_mut().committed();
    let options = Options {
        drain: policy.drain,
        poll: Duration::from_secs(1),
        stop: &stop,
        committed: &committed,
        verify_touched: matches!(policy.scope, Scope::Services(_)),
    };
    let report = kernel.apply(&desired, &loaded.host, &planned, options, &mut |line| {
        shared.borrow_mut().say(line)
    });
    drop(held);
    steward.applied(&planned, &report);
    verdict(&report)?;
    Ok(Reconciled { fail_open })
}

fn take_lock(
    path: &Path,
    timeout: Duration,
    steward: &mut dyn Steward,
) -> Result<lock::Lock, Error> {
    Ok(lock::acquire(path, timeout, &mut |holder| {
        steward.waiting(holder)
    })?)
}

/// Reads what the scope covers and plans it.
fn plan(
    kernel: &mut Kernel,
    loaded: &Loaded,
    desired: &Desired,
    policy: &Policy,
    steward: &mut dyn Steward,
) -> Result<Planned, Error> {
    let listeners = || steward.listeners();
    Ok(match policy.scope {
        Scope::Services(keys) => {
            let table = kernel.ipvs.read_services(keys)?;
            Planned::compute_for(desired, loaded, table, None, listeners)
        }
        Scope::Whole { host } => {
            kernel.plan_for(desired, loaded, host, policy.doctor, listeners)?
        }
    })
}

/// An apply's report as a result: every way it can fall short is an error.
fn verdict(report: &Report) -> Result<(), Error> {
    match &report.outcome {
        Outcome::Done { .. } => {
            if !report.drain_failures.is_empty() {
                return Err(Error::DrainFailed(report.drain_failures.len()));
            }
            match &report.verify {
                Some(Ok(rest)) if rest.is_empty() => Ok(()),
                Some(Ok(rest)) => Err(Error::StillDiffers(rest.len())),
                Some(Err(e)) => Err(Error::ReadBack(e.clone())),
                None => Err(Error::Unverified),
            }
        }
        Outcome::RolledBack { undone, .. } => Err(Error::RolledBack(*undone)),
        Outcome::Incomplete { .. } => Err(Error::Incomplete),
    }
}
