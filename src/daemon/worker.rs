//! The daemon's kernel work, on a thread of its own so that the event loop never waits on
//! the kernel, the apply lock or a drain. The loop publishes what the kernel should hold
//! ([`Desire`], latest value wins: health changes that arrive while a round runs are
//! coalesced into the next one); the worker brings the kernel in line through
//! `engine::reconcile` and reports each round back ([`Round`]).
//!
//! A new config (start, reload) and the resync timer get the whole read-plan-apply; a
//! health change reads, plans, applies and verifies only the services of the backends that
//! changed, so its cost follows them and not the table.

use super::checks::{BackendKey, HeldDown};
use super::log::say;
use super::metrics::{self, Metrics};
use crate::engine::{self, Kernel, Loaded, Overrides, Planned, Policy, Scope, Steward, Trigger};
use crate::health::overlay::FailOpen;
use crate::plan::change::{Action, Change};
use crate::state::ipvs::ServiceKey;
use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// What the kernel should hold, as the loop last said it.
#[derive(Clone)]
pub struct Desire {
    pub loaded: Arc<Loaded>,
    /// Bumped by each reload: the round that sees it plans the whole config, guarded.
    pub generation: u64,
    /// Bumped by the resync timer: the round that sees it plans the whole table.
    pub resync: u64,
    /// Backends their checks hold down.
    pub down: Arc<HeldDown>,
    /// Backends whose check has not reported yet: held as the kernel has them.
    pub unproven: Arc<HeldDown>,
    /// When the earliest health change not yet in the kernel was decided.
    pub changed_at: Option<Instant>,
}

/// One round, as the loop hears of it.
#[derive(Debug)]
pub struct Round {
    pub trigger: Trigger,
    /// The desire's `changed_at`: what this round brought into the kernel, when it succeeded.
    pub changed_at: Option<Instant>,
    pub generation: u64,
    pub result: Result<(), engine::Error>,
    /// Unproven backends as the kernel had them: true where it gave them their weight.
    pub decided: Vec<(BackendKey, bool)>,
    /// Every service failing open now.
    pub fail_open: Vec<FailOpen>,
}

/// How the loop tells the worker is alive: idle, or busy and beating.
pub struct Pulse {
    base: Instant,
    busy: AtomicBool,
    beat: AtomicU64,
}

impl Pulse {
    pub fn new() -> Arc<Pulse> {
        Arc::new(Pulse {
            base: Instant::now(),
            busy: AtomicBool::new(false),
            beat: AtomicU64::new(0),
        })
    }

    fn beat(&self) {
        let now = u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.beat.store(now, Ordering::Relaxed);
    }

    fn set_busy(&self, busy: bool) {
        self.beat();
        self.busy.store(busy, Ordering::Relaxed);
    }

    /// Working on a round.
    pub fn busy(&self) -> bool {
        self.busy.load(Ordering::Relaxed)
    }

    /// Idle, or busy with a beat within `within` (waiting for the lock and draining beat).
    pub fn alive(&self, within: Duration) -> bool {
        if !self.busy() {
            return true;
        }
        let now = self.base.elapsed().as_millis();
        let last = u128::from(self.beat.load(Ordering::Relaxed));
        now.saturating_sub(last) <= within.as_millis()
    }
}

/// What the worker is started with.
pub struct Worker {
    pub kernel: Kernel,
    pub lock_path: PathBuf,
    /// Start and reload even when the plan trips a guard.
    pub force: bool,
    /// Drain removed backends on reload.
    pub drain: Option<Duration>,
    pub metrics: Arc<Metrics>,
    pub pulse: Arc<Pulse>,
}

/// What the last successful round brought the kernel to.
struct Applied {
    generation: u64,
    resync: u64,
    loaded: Arc<Loaded>,
    held: HeldDown,
}

/// How long a failed round waits before it is tried again (unless something new comes).
const RETRY: Duration = Duration::from_secs(5);

impl Worker {
    /// Runs rounds until the loop goes away. Call on a thread of its own.
    pub fn run(
        mut self,
        runtime: tokio::runtime::Handle,
        mut desires: watch::Receiver<Desire>,
        rounds: mpsc::UnboundedSender<Round>,
    ) {
        let mut state = State::default();
        let mut retry = false;
        loop {
            let next = runtime.block_on(async {
                if retry {
                    match tokio::time::timeout(RETRY, desires.changed()).await {
                        Ok(changed) => changed.is_ok(),
                        Err(_) => true,
                    }
                } else {
                    desires.changed().await.is_ok()
                }
            });
            if !next {
                return;
            }
            let desire = desires.borrow_and_update().clone();
            self.pulse.set_busy(true);
            let round = self.round(&mut state, &desire);
            if round.trigger != Trigger::Health {
                release_freed_memory();
            }
            self.pulse.set_busy(false);
            retry = round.result.is_err() && round.trigger != Trigger::Reload;
            if rounds.send(round).is_err() {
                return;
            }
        }
    }

    fn round(&mut self, state: &mut State, desire: &Desire) -> Round {
        let started = Instant::now();
        let trigger = match &state.applied {
            None => Trigger::Start,
            Some(a) if a.generation != desire.generation => Trigger::Reload,
            Some(a) if a.resync != desire.resync => Trigger::Resync,
            Some(_) => Trigger::Health,
        };
        if !state
            .index
            .as_ref()
            .is_some_and(|(l, _)| Arc::ptr_eq(l, &desire.loaded))
        {
            state.index = Some((Arc::clone(&desire.loaded), services_of(&desire.loaded)));
            state.decided.clear();
        }
        state.committed = None;
        let mut decided = Vec::new();
        let result = self.decide_unproven(state, desire, trigger, &mut decided);
        let result = result.and_then(|()| self.reconcile(state, desire, trigger));
        self.metrics
            .reconcile_duration
            .observe(started.elapsed().as_secs_f64());
        match &result {
            Ok(()) => {
                // From the decision to the kernel holding it (the commit, or now when the
                // kernel already did).
                if let Some(at) = desire.changed_at {
                    let held = state.committed.take().unwrap_or_else(Instant::now);
                    self.metrics
                        .health_change
                        .observe(held.saturating_duration_since(at).as_secs_f64());
                }
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64());
                self.metrics.last_reconcile.set(now);
            }
            Err(e) => say(format!("{}: {}", trigger.name(), describe(e))),
        }
        if result.is_err() && trigger == Trigger::Reload {
            // Refused: the kernel stays as the running config has it, and so does the
            // worker's record of it; the loop goes back to that config.
            if let Some(a) = &mut state.applied {
                a.generation = desire.generation;
            }
        }
        Round {
            trigger,
            changed_at: desire.changed_at,
            generation: desire.generation,
            result,
            decided,
            fail_open: state.fail_open.iter().cloned().collect(),
        }
    }

    /// Start and reload: the unproven backends as the kernel has them now.
    fn decide_unproven(
        &mut self,
        state: &mut State,
        desire: &Desire,
        trigger: Trigger,
        decided: &mut Vec<(BackendKey, bool)>,
    ) -> Result<(), engine::Error> {
        let fresh: Vec<BackendKey> = desire
            .unproven
            .iter()
            .filter(|b| !state.decided.contains_key(b))
            .collect();
        if fresh.is_empty() || !matches!(trigger, Trigger::Start | Trigger::Reload) {
            return Ok(());
        }
        let table = self.kernel.ipvs.read()?;
        let Some((_, index)) = &state.index else {
            return Ok(());
        };
        for backend in fresh {
            let (_, addr, port) = backend;
            let dest = crate::state::ipvs::DestKey { addr, port };
            let up = index.get(&backend).into_iter().flatten().all(|key| {
                let wanted = desire.loaded.desired.services.get(key);
                let wanted = wanted
                    .and_then(|w| w.dests.get(&dest))
                    .is_some_and(|d| d.weight > 0);
                // A new service has nothing to protect: it is made as configured, as
                // `apply` would; at start so is a destination the kernel lacks. A
                // destination the kernel holds at weight 0, or one a reload adds to a
                // running service, waits for its check.
                match table.services.get(key).map(|s| s.dests.get(&dest)) {
                    None => true,
                    Some(None) => trigger == Trigger::Start,
                    Some(Some(have)) => have.dest.weight > 0 || !wanted,
                }
            });
            state.decided.insert(backend.clone(), up);
            decided.push((backend, up));
        }
        Ok(())
    }

    fn reconcile(
        &mut self,
        state: &mut State,
        desire: &Desire,
        trigger: Trigger,
    ) -> Result<(), engine::Error> {
        let mut held = (*desire.down).clone();
        for backend in desire.unproven.iter() {
            if !state.decided.get(&backend).copied().unwrap_or(false) {
                held.insert(backend);
            }
        }
        let keys: Vec<ServiceKey>;
        let scope = match (&state.applied, trigger) {
            (Some(applied), Trigger::Health) if Arc::ptr_eq(&applied.loaded, &desire.loaded) => {
                let mut touched = BTreeSet::new();
                if let Some((_, index)) = &state.index {
                    for backend in held.changed_from(&applied.held) {
                        touched.extend(index.get(&backend).into_iter().flatten().copied());
                    }
                }
                if touched.is_empty() {
                    if let Some(a) = &mut state.applied {
                        a.held = held;
                        a.resync = desire.resync;
                    }
                    return Ok(());
                }
                keys = touched.into_iter().collect();
                Scope::Services(&keys)
            }
            _ => Scope::Whole { host: true },
        };
        let guarded = matches!(trigger, Trigger::Start | Trigger::Reload);
        let policy = Policy {
            trigger,
            scope,
            guards: guarded.then_some(Overrides {
                force: self.force,
                allow_shadowing: false,
            }),
            drain: if trigger == Trigger::Reload {
                self.drain
            } else {
                None
            },
            locking: engine::Locking::BeforeRead,
            lock_timeout: LOCK_TIMEOUT,
            doctor: false,
        };
        let mut steward = DaemonSteward {
            trigger,
            metrics: &self.metrics,
            pulse: &self.pulse,
            told_waiting: false,
            committed: &mut state.committed,
        };
        let reconciled = engine::reconcile(
            &mut self.kernel,
            &desire.loaded,
            Some(&|f, a, p| held.contains(f, a, p)),
            &policy,
            &self.lock_path,
            &mut steward,
        )?;
        // A service whose backends are all unchecked yet (a new one) is not failing open.
        let loaded = &desire.loaded;
        let open: BTreeSet<FailOpen> = reconciled
            .fail_open
            .into_iter()
            .filter(|f| {
                loaded.desired.services.get(&f.service).is_some_and(|s| {
                    s.dests
                        .keys()
                        .any(|d| desire.down.contains(&s.forward, d.addr, d.port))
                })
            })
            .collect();
        let before = std::mem::take(&mut state.fail_open);
        let kept: BTreeSet<FailOpen> = match scope {
            Scope::Services(keys) => before
                .into_iter()
                .filter(|f| !keys.contains(&f.service))
                .collect(),
            Scope::Whole { .. } => BTreeSet::new(),
        };
        for service in open.iter().filter(|f| !kept.contains(f)) {
            say(format!(
                "warning: every backend of {service} is down and there is no fallback: left as configured (fail open)"
            ));
        }
        state.fail_open = kept.into_iter().chain(open).collect();
        state.applied = Some(Applied {
            generation: desire.generation,
            resync: desire.resync,
            loaded: Arc::clone(&desire.loaded),
            held,
        });
        Ok(())
    }
}

/// How long a round waits for `portfwd apply` to release the lock before it fails (and is
/// tried again): the loop goes on meanwhile.
const LOCK_TIMEOUT: Duration = Duration::from_secs(3600);

#[derive(Default)]
struct State {
    applied: Option<Applied>,
    /// The services each backend is a destination of, for the config they were built from.
    index: Option<(Arc<Loaded>, ServicesOf)>,
    /// Unproven backends the kernel was found holding (true) or not (false).
    decided: HashMap<BackendKey, bool>,
    fail_open: BTreeSet<FailOpen>,
    /// When the kernel took the current round's changes.
    committed: Option<Instant>,
}

/// The services each backend (forward, address, port) is a destination of.
type ServicesOf = HashMap<BackendKey, Vec<ServiceKey>>;

/// [`ServicesOf`], indexed once per config.
fn services_of(loaded: &Loaded) -> ServicesOf {
    let mut index: HashMap<BackendKey, Vec<ServiceKey>> = HashMap::new();
    for (key, service) in &loaded.desired.services {
        for dest in service.dests.keys() {
            index
                .entry((Arc::clone(&service.forward), dest.addr, dest.port))
                .or_default()
                .push(*key);
        }
    }
    index
}

/// A full round frees a table's worth of small allocations. glibc's malloc keeps many of
/// them in lists it merges and sorts only when a later allocation misses its caches: that
/// would be the next health change, whose cost then grew with the table. Done here, the
/// work stays in the full round (and the freed pages go back to the system).
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only reorganizes the allocator's free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// An error as one line, with what refused or failed.
pub fn describe(e: &engine::Error) -> String {
    match e {
        engine::Error::PlanErrors(errors) => format!("{e}: {}", errors.join("; ")),
        engine::Error::Refused(guards) => {
            let reasons: Vec<String> = guards
                .iter()
                .map(|(message, flag)| format!("{message} (override with {flag})"))
                .collect();
            format!("refused: {}", reasons.join("; "))
        }
        other => other.to_string(),
    }
}

/// What the worker logs and counts at each step of a round.
struct DaemonSteward<'a> {
    trigger: Trigger,
    metrics: &'a Metrics,
    pulse: &'a Pulse,
    told_waiting: bool,
    /// When the kernel took the round's changes.
    committed: &'a mut Option<Instant>,
}

impl Steward for DaemonSteward<'_> {
    fn approve(&mut self, planned: &Planned) -> Result<(), engine::Error> {
        for step in &planned.plan.steps {
            let change = planned.plan.changes.get(step.change);
            say(format!(
                "{}: {}{}",
                self.trigger.name(),
                step.op,
                change.map_or(String::new(), what_changed)
            ));
        }
        if self.trigger == Trigger::Resync {
            for change in &planned.plan.changes {
                self.metrics
                    .drift_repairs
                    .get_or_create(&metrics::KindLabels {
                        kind: change.reason.name(),
                    })
                    .inc();
            }
        }
        Ok(())
    }

    fn waiting(&mut self, holder: &str) {
        self.pulse.beat();
        if !std::mem::replace(&mut self.told_waiting, true) {
            say(format!(
                "{}: waiting for portfwd apply (pid {holder}) to finish",
                self.trigger.name()
            ));
        }
    }

    fn stop(&self) -> bool {
        self.pulse.beat();
        false
    }

    fn committed(&mut self) {
        *self.committed = Some(Instant::now());
    }

    fn applied(&mut self, planned: &Planned, report: &crate::apply::Report) {
        if report.succeeded() {
            for step in &planned.plan.steps {
                self.metrics
                    .kernel_operations
                    .get_or_create(&metrics::OpLabels { op: step.op.name() })
                    .inc();
            }
        }
    }

    fn say(&mut self, line: String) {
        self.pulse.beat();
        say(line);
    }

    fn listeners(&mut self) -> Option<Vec<crate::state::host::Listener>> {
        engine::listeners().ok()
    }
}

/// An update's attributes old -> new, e.g. ` (weight 1 -> 0)`; nothing for other changes.
pub fn what_changed(change: &Change) -> String {
    if change.action != Action::Update {
        return String::new();
    }
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let parts: Vec<String> = change
        .changed_attrs()
        .iter()
        .map(|(name, old, new)| format!("{name} {} -> {}", text(old), text(new)))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join(", "))
    }
}
