//! The event loop: checks and their trackers, queries, signals and timers. It publishes
//! what the kernel should hold to the worker and hears back how each round went; it never
//! waits on the kernel itself (views read it on the blocking pool, through `Parts::reader`).

use super::checks::{self, BackendKey, CheckKey, Checks};
use super::log::say;
use super::metrics::{self, Metrics};
use super::view::{self, BackendState, Snapshot};
use super::worker::{self, Desire, Pulse, Round, Worker};
use super::{Notifier, Options, Parts, Prober, Query, Signal, control};
use crate::config::model::Named;
use crate::engine::{self, Kernel, Loaded, Trigger};
use crate::health::{self, Probe, status};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// One check's result, with how long it took.
type CheckResult = (Arc<CheckKey>, Result<(), String>, Duration);

/// A config loaded for a reload (off the loop: loading and validating a large one takes
/// CPU time the loop's checks and queries must not wait for), with the SIGHUP it answers.
type Reloaded = (u64, Result<Config, engine::Error>);

/// A config with what the loop derives from it once.
struct Config {
    loaded: Arc<Loaded>,
    /// Every backend in config order.
    backends: Arc<[BackendKey]>,
    /// Its checks, every one unproven (a reload carries the running ones' state over).
    checks: Checks,
}

impl Config {
    fn load(path: &Path) -> Result<Config, engine::Error> {
        let loaded = Arc::new(load(path)?);
        let backends = checks::backends_of(&loaded);
        Ok(Config {
            checks: Checks::of(&loaded, &backends),
            backends: backends.into(),
            loaded,
        })
    }
}

/// Runs the daemon until `Signal::Stop`; exit 1 when it cannot start.
pub async fn run(
    options: Options,
    parts: Parts,
    queries: mpsc::Receiver<Query>,
    signals: mpsc::Receiver<Signal>,
) -> i32 {
    let mut daemon = match Daemon::start(options, parts, queries, signals) {
        Ok(d) => d,
        Err(e) => {
            say(format!("error: {e}"));
            return 1;
        }
    };
    daemon.serve().await
}

/// Loads and checks a config, logging its problems.
fn load(path: &Path) -> Result<Loaded, engine::Error> {
    engine::check_trusted(path)?;
    let (checked, text) = crate::config::load_with_text(path);
    for d in &checked.diagnostics {
        let level = match d.severity {
            crate::config::Severity::Error => "error",
            crate::config::Severity::Warning => "warning",
        };
        say(format!(
            "{level}: {} {}",
            d.place_in(&checked.source),
            d.message
        ));
    }
    Loaded::new(checked, text)
}

struct Daemon {
    options: Options,
    loaded: Arc<Loaded>,
    /// Every backend of `loaded` in config order, listed once per config.
    backends: Arc<[BackendKey]>,
    checks: Checks,
    /// While a reload is with the worker: the config and checks to go back to if refused.
    previous: Option<Config>,
    /// Configs loaded for a reload, and the number of the latest SIGHUP (an older one's
    /// config is dropped).
    reloads: mpsc::UnboundedReceiver<Reloaded>,
    reload_sender: mpsc::UnboundedSender<Reloaded>,
    reloads_asked: u64,
    generation: u64,
    resyncs: u64,
    desires: watch::Sender<Desire>,
    rounds: mpsc::UnboundedReceiver<Round>,
    worker: std::thread::JoinHandle<()>,
    pulse: Arc<Pulse>,
    probes: BTreeMap<CheckKey, (Arc<Probe>, JoinHandle<()>)>,
    results: mpsc::UnboundedReceiver<CheckResult>,
    sender: mpsc::UnboundedSender<CheckResult>,
    queries: mpsc::Receiver<Query>,
    signals: mpsc::Receiver<Signal>,
    reader: Arc<Mutex<Kernel>>,
    prober: Arc<dyn Prober>,
    notifier: Arc<dyn Notifier>,
    status_path: PathBuf,
    metrics: Arc<Metrics>,
    fail_open: Vec<health::overlay::FailOpen>,
    started: u64,
    last_reconcile: Option<control::Event>,
    last_reload: Option<control::Event>,
    /// The first round is done (READY=1 waits for it and for every check's first result).
    first_round_done: bool,
    ready: bool,
    /// Health changed since the status file was written.
    dirty: bool,
    /// Health changed since the worker was last told.
    due: bool,
    /// When the earliest health change not yet in the kernel was decided, and the earliest
    /// one not yet told to the worker.
    unapplied_since: Option<Instant>,
    untold_since: Option<Instant>,
}

impl Daemon {
    fn start(
        options: Options,
        parts: Parts,
        queries: mpsc::Receiver<Query>,
        signals: mpsc::Receiver<Signal>,
    ) -> Result<Daemon, engine::Error> {
        let Config {
            loaded,
            backends,
            mut checks,
        } = Config::load(&options.config)?;
        // What a previous run held down stays down until checked.
        if let Some(previous) = status::read(&parts.status_path) {
            let down: BTreeSet<(&str, std::net::IpAddr, u16)> = previous
                .backends
                .iter()
                .filter(|b| !b.up)
                .map(|b| (b.forward.as_str(), b.address, b.port))
                .collect();
            let held: Vec<CheckKey> = checks
                .backends
                .iter()
                .filter(|((f, a, p), _)| down.contains(&(&**f, *a, *p)))
                .map(|(_, c)| c.clone())
                .collect();
            checks.decide(&held.into_iter().map(|c| (c, false)).collect());
        }
        let metrics = Arc::new(Metrics::new());
        let pulse = Pulse::new();
        let (down, unproven) = checks.held();
        let (desires, receiver) = watch::channel(Desire {
            loaded: Arc::clone(&loaded),
            generation: 0,
            resync: 0,
            down: Arc::new(down),
            unproven: Arc::new(unproven),
            changed_at: None,
        });
        let mut receiver = receiver;
        receiver.mark_changed();
        let (round_tx, rounds) = mpsc::unbounded_channel();
        let worker = Worker {
            kernel: parts.kernel,
            lock_path: parts.lock_path,
            force: options.force,
            drain: options.drain,
            metrics: Arc::clone(&metrics),
            pulse: Arc::clone(&pulse),
        };
        let runtime = tokio::runtime::Handle::current();
        let worker = std::thread::Builder::new()
            .name("portfwd-worker".into())
            .spawn(move || worker.run(runtime, receiver, round_tx))
            .map_err(|e| engine::Error::Usage(format!("cannot start the worker thread: {e}")))?;
        let (sender, results) = mpsc::unbounded_channel();
        let (reload_sender, reloads) = mpsc::unbounded_channel();
        let daemon = Daemon {
            options,
            backends,
            loaded,
            checks,
            previous: None,
            reloads,
            reload_sender,
            reloads_asked: 0,
            generation: 0,
            resyncs: 0,
            desires,
            rounds,
            worker,
            pulse,
            probes: BTreeMap::new(),
            results,
            sender,
            queries,
            signals,
            reader: Arc::new(Mutex::new(parts.reader)),
            prober: parts.prober,
            notifier: parts.notifier,
            status_path: parts.status_path,
            metrics,
            fail_open: Vec::new(),
            started: health::unix_now(),
            last_reconcile: None,
            last_reload: None,
            first_round_done: false,
            ready: false,
            dirty: false,
            due: false,
            unapplied_since: None,
            untold_since: None,
        };
        daemon.count_config();
        say(format!(
            "starting: {} ({} forwards, {} health checks), pid {}",
            daemon.loaded.source,
            daemon.loaded.config.forwards.len(),
            daemon.checks.probes.len(),
            std::process::id()
        ));
        Ok(daemon)
    }

    async fn serve(&mut self) -> i32 {
        let mut resync = tokio::time::interval(self.options.resync);
        resync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        resync.tick().await;
        let watchdog_every = self.notifier.watchdog();
        // Pings at half the watchdog's time, from this loop, while the worker is alive too.
        let mut watchdog = watchdog_every.map(|every| tokio::time::interval(every / 2));
        let mut stuck_told = false;
        // The start round decides whether the daemon runs at all.
        let code = loop {
            tokio::select! {
                Some((check, result, took)) = self.results.recv() => self.on_result(&check, result, took),
                Some(round) = self.rounds.recv() => {
                    if let Some(code) = self.on_round(round) {
                        break code;
                    }
                }
                Some(query) = self.queries.recv() => self.answer(query),
                Some((asked, config)) = self.reloads.recv() => self.reload_loaded(asked, config),
                _ = resync.tick() => {
                    self.resyncs += 1;
                    self.publish();
                }
                _ = async { match watchdog.as_mut() {
                    Some(tick) => tick.tick().await,
                    None => std::future::pending().await,
                } } => {
                    let every = watchdog_every.unwrap_or_default();
                    if !self.worker.is_finished() && self.pulse.alive(every) {
                        self.notifier.alive();
                        stuck_told = false;
                    } else if !std::mem::replace(&mut stuck_told, true) {
                        say("error: the kernel worker is stuck or gone: the watchdog is no longer fed".to_string());
                    }
                }
                signal = self.signals.recv() => match signal {
                    Some(Signal::Reload) => self.reload(),
                    Some(Signal::Stop) | None => break 0,
                },
            }
        };
        self.notifier.stopping();
        for (_, task) in self.probes.values() {
            task.abort();
        }
        if code == 0 {
            say("stopping: the IPVS table stays as it is".to_string());
        }
        code
    }

    /// A health change: published at once while the worker is idle; while it works, the end
    /// of its round publishes, so a burst of changes costs one copy of the held sets per
    /// round, not one per change.
    fn publish_health(&mut self) {
        let now = Some(Instant::now());
        self.unapplied_since = self.unapplied_since.or(now);
        self.untold_since = self.untold_since.or(now);
        self.due = true;
        if !self.pulse.busy() {
            self.publish();
        }
    }

    /// Publishes the kernel's wanted state to the worker (latest value wins).
    fn publish(&mut self) {
        self.due = false;
        self.untold_since = None;
        let (down, unproven) = self.checks.held();
        self.desires.send_replace(Desire {
            loaded: Arc::clone(&self.loaded),
            generation: self.generation,
            resync: self.resyncs,
            down: Arc::new(down),
            unproven: Arc::new(unproven),
            changed_at: self.unapplied_since,
        });
    }

    /// (Re)starts the probe of every check whose settings are new, each at an offset spread
    /// over its interval; stops the ones no longer needed.
    fn spawn_probes(&mut self) {
        let wanted = &self.checks.probes;
        self.probes.retain(|check, (probe, task)| {
            let keep = wanted.get(check).is_some_and(|p| p == probe);
            if !keep {
                task.abort();
            }
            keep
        });
        let count = u32::try_from(wanted.len()).unwrap_or(u32::MAX).max(1);
        for (i, (check, probe)) in wanted.iter().enumerate() {
            if self.probes.contains_key(check) {
                continue;
            }
            let offset = spread(probe.interval, i, count);
            let sender = self.sender.clone();
            let prober = Arc::clone(&self.prober);
            let (key, run) = (Arc::new(check.clone()), Arc::clone(probe));
            let task = tokio::spawn(async move {
                let start = tokio::time::Instant::now() + offset;
                let mut tick = tokio::time::interval_at(start, run.interval);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    let began = Instant::now();
                    let result = prober.check(Arc::clone(&run)).await;
                    if sender
                        .send((Arc::clone(&key), result, began.elapsed()))
                        .is_err()
                    {
                        break;
                    }
                }
            });
            self.probes.insert(check.clone(), (Arc::clone(probe), task));
        }
    }

    fn on_result(&mut self, check: &CheckKey, result: Result<(), String>, took: Duration) {
        let kind = check.kind.name();
        self.metrics
            .check_duration
            .get_or_create(&metrics::CheckLabels { check: kind })
            .observe(took.as_secs_f64());
        self.metrics
            .checks
            .get_or_create(&metrics::CheckResultLabels {
                check: kind,
                result: if result.is_ok() { "ok" } else { "failed" },
            })
            .inc();
        let Some((changed, proven)) = self.checks.record(check, &result) else {
            return;
        };
        if !self.ready {
            self.ready_when_checked();
        }
        if changed.is_none() && !proven {
            return;
        }
        self.publish_health();
        if let Some(up) = changed {
            self.log_transition(check, up);
        }
        // Written when the round that applies it is done (a transition costs its own
        // backends here, not the table).
        self.dirty = true;
    }

    fn log_transition(&self, check: &CheckKey, up: bool) {
        let reason = match self.checks.trackers.get(check) {
            Some(t) if !up => t.reason.clone(),
            _ => "passed".to_string(),
        };
        let backends: Vec<&BackendKey> = self.checks.backends_of(check).collect();
        let mut forwards: Vec<String> = backends
            .iter()
            .map(|(f, _, _)| format!("\"{f}\""))
            .collect();
        forwards.dedup();
        say(format!(
            "backend {} ({} check of {}) is {}: {reason}",
            check.target,
            check.kind.name(),
            forwards.join(", "),
            if up { "up" } else { "down" }
        ));
        for (forward, addr, port) in backends {
            self.metrics
                .transitions
                .get_or_create(&metrics::TransitionLabels {
                    forward: forward.to_string(),
                    backend: SocketAddr::new(*addr, *port).to_string(),
                    to: if up { "up" } else { "down" },
                })
                .inc();
        }
    }

    /// A round's outcome; `Some(exit code)` when the daemon cannot go on (the start failed).
    fn on_round(&mut self, mut round: Round) -> Option<i32> {
        self.fail_open = std::mem::take(&mut round.fail_open);
        // What the round brought in is in the kernel; changes told to nobody yet are not.
        if round.result.is_ok() && round.changed_at == self.unapplied_since {
            self.unapplied_since = self.untold_since;
        }
        // Unproven checks as the worker found them in the kernel: a check is up when the
        // kernel gives every backend it decides its weight.
        let mut decided: BTreeMap<CheckKey, bool> = BTreeMap::new();
        for (backend, up) in &round.decided {
            if let Some(check) = self.checks.check_of(backend) {
                let entry = decided.entry(check.clone()).or_insert(true);
                *entry &= *up;
            }
        }
        if !decided.is_empty() {
            self.checks.decide(&decided);
            self.dirty = true;
        }
        if self.due || !decided.is_empty() {
            self.publish();
        }
        let ok = round.result.is_ok();
        let event = control::Event {
            at: health::unix_now(),
            ok,
            error: round.result.as_ref().err().map(worker::describe),
        };
        match round.trigger {
            Trigger::Start => {
                if let Err(e) = &round.result {
                    say(format!("error: cannot start: {}", worker::describe(e)));
                    return Some(1);
                }
                self.first_round_done = true;
                self.spawn_probes();
                self.ready_when_checked();
            }
            Trigger::Reload if round.generation == self.generation => self.reloaded(&round),
            _ => {}
        }
        // A refused reload leaves the kernel as the running config had it: not a failed sync.
        if ok || round.trigger != Trigger::Reload {
            self.last_reconcile = Some(event);
        }
        // A reload writes it when the worker's word on it comes (`reload_done`).
        if std::mem::take(&mut self.dirty) || round.trigger == Trigger::Start {
            self.write_status();
            if self.ready {
                self.notifier.status(&self.summary());
            }
        }
        None
    }

    /// READY=1 (with a STATUS= line) once the first round is done and every check has a
    /// first result.
    fn ready_when_checked(&mut self) {
        if self.first_round_done
            && !self.ready
            && self.checks.trackers.values().all(|t| t.last.is_some())
        {
            self.ready = true;
            self.notifier.ready(&self.summary());
        }
    }

    /// SIGHUP: a valid config goes to the worker, which applies it if its plan passes the
    /// guards; meanwhile its checks run, with the state of every check that stays.
    /// The file is loaded and validated on the blocking pool; [`Self::reload_loaded`] takes
    /// it from there.
    fn reload(&mut self) {
        self.notifier.reloading();
        say(format!("reloading {}", self.options.config.display()));
        self.reloads_asked += 1;
        let asked = self.reloads_asked;
        let path = self.options.config.clone();
        let sender = self.reload_sender.clone();
        tokio::task::spawn_blocking(move || {
            let _ = sender.send((asked, Config::load(&path)));
        });
    }

    fn reload_loaded(&mut self, asked: u64, config: Result<Config, engine::Error>) {
        if asked != self.reloads_asked {
            // A later SIGHUP reads the file again: its load is the one that counts.
            return;
        }
        let mut config = match config {
            Ok(c) => c,
            Err(e) => {
                let e = worker::describe(&e);
                say(format!("reload refused, keeping the running config: {e}"));
                self.reload_done(Err(e));
                return;
            }
        };
        config.checks = config.checks.carry_over(&self.checks);
        let old = self.switch(config);
        if self.previous.is_none() {
            self.previous = Some(old);
        }
        self.generation += 1;
        self.publish();
        self.spawn_probes();
    }

    /// The worker's word on the latest reload.
    fn reloaded(&mut self, round: &Round) {
        let previous = self.previous.take();
        match &round.result {
            Ok(()) => {
                say("reloaded".to_string());
                self.count_config();
                self.reload_done(Ok(()));
            }
            Err(e) => {
                let e = worker::describe(e);
                say(format!("reload refused, keeping the running config: {e}"));
                if let Some(mut back) = previous {
                    // Checks that ran meanwhile keep what they learned.
                    for (check, tracker) in &mut back.checks.trackers {
                        if let Some(now) = self.checks.trackers.get(check) {
                            tracker.clone_from(now);
                        }
                    }
                    self.switch(back);
                    self.publish();
                    self.spawn_probes();
                }
                self.reload_done(Err(e));
            }
        }
    }

    fn reload_done(&mut self, result: Result<(), String>) {
        self.metrics
            .reloads
            .get_or_create(&metrics::ResultLabels {
                result: if result.is_ok() { "applied" } else { "refused" },
            })
            .inc();
        self.metrics.config_valid.set(i64::from(result.is_ok()));
        self.last_reload = Some(control::Event {
            at: health::unix_now(),
            ok: result.is_ok(),
            error: result.err(),
        });
        self.write_status();
        self.notifier.ready(&self.summary());
    }

    /// Runs `config` from now on; returns the one it replaces.
    fn switch(&mut self, config: Config) -> Config {
        Config {
            loaded: std::mem::replace(&mut self.loaded, config.loaded),
            backends: std::mem::replace(&mut self.backends, config.backends),
            checks: std::mem::replace(&mut self.checks, config.checks),
        }
    }

    fn summary(&self) -> String {
        view::summary(&self.loaded, self.backends.len(), self.checks.tracked())
    }

    fn count_config(&self) {
        self.metrics
            .forwards
            .set(i64::try_from(self.loaded.config.forwards.len()).unwrap_or(i64::MAX));
        self.metrics
            .backends
            .set(i64::try_from(self.backends.len()).unwrap_or(i64::MAX));
    }

    fn snapshot(&self) -> Snapshot {
        let backends = self
            .backends
            .iter()
            .cloned()
            .map(|key| {
                let tracker = self
                    .checks
                    .check_of(&key)
                    .and_then(|c| self.checks.trackers.get(c))
                    .cloned();
                BackendState { key, tracker }
            })
            .collect();
        Snapshot {
            loaded: Arc::clone(&self.loaded),
            backends,
            fail_open: self.fail_open.clone(),
            started: self.started,
            last_reconcile: self.last_reconcile.clone(),
            last_reload: self.last_reload.clone(),
        }
    }

    /// Answers on the blocking pool: the kernel is read there, never on this loop.
    fn answer(&self, query: Query) {
        let snapshot = self.snapshot();
        let reader = Arc::clone(&self.reader);
        let metrics = Arc::clone(&self.metrics);
        tokio::task::spawn_blocking(move || {
            let Ok(mut kernel) = reader.lock() else {
                return;
            };
            let table = match kernel.ipvs.read() {
                Ok(t) => Some(t),
                Err(e) => {
                    say(format!("warning: cannot read the IPVS table: {e}"));
                    None
                }
            };
            let seen = view::kernel_view(&snapshot, table.as_ref());
            let pair = pair(&mut kernel, &snapshot.loaded);
            drop(kernel);
            match query {
                Query::Metrics(reply) => {
                    view::fill_metrics(&metrics, &snapshot, &seen, pair.as_ref());
                    let _ = reply.send(metrics.encode());
                }
                Query::Status(reply) => {
                    let _ = reply.send(view::report(&snapshot, &seen, pair));
                }
            }
        });
    }

    fn write_status(&self) {
        if let Err(e) =
            view::status_file(&self.loaded, self.checks.tracked()).write(&self.status_path)
        {
            say(format!(
                "warning: cannot write {}: {e}",
                self.status_path.display()
            ));
        }
    }
}

/// Checks start spread over their interval, so that they do not all run in one tick, but
/// in [`SPREAD_GROUPS`] groups (fewer when they would be closer than [`SPREAD_STEP`]): the
/// checks of one group run and report together, one wakeup of the loop for many (spread one
/// by one, every check was a wakeup of its own, and the loop's CPU grew with it).
const SPREAD_GROUPS: u32 = 10;
const SPREAD_STEP: Duration = Duration::from_millis(50);

/// Check `i` of `count`'s start, within `interval`, on its group's step.
pub(super) fn spread(interval: Duration, i: usize, count: u32) -> Duration {
    let step = (interval / SPREAD_GROUPS).max(SPREAD_STEP);
    let even = interval * u32::try_from(i).unwrap_or(0) / count.max(1);
    let steps = even.as_nanos() / step.as_nanos();
    step * u32::try_from(steps).unwrap_or(0)
}

/// This host's part in a pair, read now; `None` when the config describes no pair.
fn pair(kernel: &mut Kernel, loaded: &Loaded) -> Option<control::PairStatus> {
    let config = &loaded.config;
    // Floating addresses need `vrrp` (a validation rule).
    if config.vrrp.is_none() && config.sync.is_none() {
        return None;
    }
    match kernel.read_pair() {
        Ok((links, daemons)) => Some(control::PairStatus::new(config, &links, daemons)),
        Err(e) => {
            say(format!("warning: cannot read the pair's state: {e}"));
            None
        }
    }
}
