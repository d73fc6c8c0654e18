//! `portfwd run`: plans and applies like `apply --auto-approve`, then keeps the kernel in
//! line with the config and the backends' health. Health changes, resyncs (drift repaired
//! every `--resync` seconds) and reloads (SIGHUP) all go through the same plan/apply
//! pipeline against the live kernel, so a change is the minimal in-place edit and nothing
//! is removed and re-added. One thread: probes are tokio tasks; the kernel work runs
//! between their results, and so do the answers to `/metrics` scrapes and `portfwd status`
//! (each reads the kernel's weights and connection counts first).

pub mod control;
pub mod log;
mod metrics;
mod notify;

use crate::apply::{self, lock};
use crate::config::{self, model::Named};
use crate::engine::{self, Kernel, Loaded, Planned};
use crate::health::{self, Checks, Probe, Tracker, overlay, status};
use crate::kernel::ipvs::Ipvs;
use crate::state::sync::SyncRole;
use log::say;
use metrics::{BackendLabels, Metrics};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

pub struct Options {
    pub config: PathBuf,
    /// How often the kernel is read back and drift repaired.
    pub resync: Duration,
    /// Start and reload even when the plan trips a guard.
    pub force: bool,
    /// Drain removed backends on reload (as `apply --drain`).
    pub drain: Option<Duration>,
    /// Serve Prometheus metrics here.
    pub metrics: Option<SocketAddr>,
}

/// What the metrics endpoint and the control socket ask the daemon's loop.
pub enum Query {
    Metrics(oneshot::Sender<String>),
    Status(oneshot::Sender<control::Report>),
}

/// A backend of the running config: forward, address, port.
type BackendKey = (String, IpAddr, u16);

/// A backend as the kernel has it now.
struct KernelBackend {
    key: BackendKey,
    /// `None` when the kernel lacks the destination.
    weight: Option<u32>,
    active: u64,
    inactive: u64,
}

/// One probe's result, with how long it took.
type ProbeResult = (Arc<Probe>, Result<(), String>, Duration);

/// Runs until SIGTERM or SIGINT (exit 0); exit 1 when it cannot start.
pub fn run(options: Options) -> i32 {
    // A check holds a socket until it answers or times out: with many backends that do
    // not answer, systemd's default soft limit of 1,024 would fail checks of live ones.
    if let Err(e) = rlimit::increase_nofile_limit(u64::MAX) {
        say(format!("warning: cannot raise the open-file limit: {e}"));
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            say(format!("error: cannot start the runtime: {e}"));
            return 1;
        }
    };
    runtime.block_on(async move {
        match Daemon::start(options).await {
            Ok(daemon) => daemon.serve().await,
            Err(e) => {
                say(format!("error: {e}"));
                1
            }
        }
    })
}

struct Daemon {
    options: Options,
    kernel: Kernel,
    loaded: Loaded,
    checks: Checks,
    trackers: BTreeMap<Probe, Tracker>,
    tasks: Vec<JoinHandle<()>>,
    results: mpsc::UnboundedReceiver<ProbeResult>,
    sender: mpsc::UnboundedSender<ProbeResult>,
    queries: mpsc::Receiver<Query>,
    fail_open: BTreeSet<overlay::FailOpen>,
    metrics: Metrics,
    started: u64,
    last_sync: Option<control::Event>,
    last_reload: Option<control::Event>,
    /// READY=1 is sent once every probe has reported once.
    ready: bool,
    _daemon_lock: lock::Lock,
}

/// An update's attributes old -> new, e.g. ` (weight 1 -> 0)`; nothing for other changes.
fn what_changed(change: &crate::plan::change::Change) -> String {
    if change.action != crate::plan::change::Action::Update {
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

fn event(result: &Result<(), String>) -> control::Event {
    control::Event {
        at: health::unix_now(),
        ok: result.is_ok(),
        error: result.as_ref().err().cloned(),
    }
}

/// Loads and checks a config, its problems as one message.
fn load(path: &std::path::Path) -> Result<Loaded, String> {
    let (checked, text) = config::load_with_text(path);
    for d in &checked.diagnostics {
        let level = match d.severity {
            config::Severity::Error => "error",
            config::Severity::Warning => "warning",
        };
        say(format!(
            "{level}: {} {}",
            d.place_in(&checked.source),
            d.message
        ));
    }
    Loaded::new(checked, text).map_err(|e| e.to_string())
}

impl Daemon {
    async fn start(options: Options) -> Result<Daemon, String> {
        let lock_path = engine::lock_path().with_file_name("daemon.lock");
        let daemon_lock =
            lock::acquire(&lock_path, Duration::ZERO, &mut |_| {}).map_err(|e| match e {
                lock::LockError::Busy { holder, .. } => format!(
                    "another portfwd run is running (pid {holder}, lock {}); this one stops",
                    lock_path.display()
                ),
                other => other.to_string(),
            })?;
        engine::check_trusted(&options.config).map_err(|e| e.to_string())?;
        let loaded = load(&options.config)?;
        let mut kernel = Kernel::connect().map_err(|e| e.to_string())?;
        let checks = Checks::of(&loaded.config, &loaded.desired);
        let trackers = Self::initial_health(&mut kernel, &loaded, &checks)?;
        let (sender, results) = mpsc::unbounded_channel();
        let (query_sender, queries) = mpsc::channel(16);
        if let Some(addr) = options.metrics {
            let listener = metrics::bind(addr).await?;
            tokio::spawn(metrics::serve(listener, query_sender.clone()));
        }
        match control::bind(&control::path()) {
            Ok(listener) => {
                tokio::spawn(control::serve(listener, query_sender));
            }
            Err(e) => say(format!("warning: {e}: portfwd status will not answer")),
        }
        let mut daemon = Daemon {
            options,
            kernel,
            loaded,
            checks,
            trackers,
            tasks: Vec::new(),
            results,
            sender,
            queries,
            fail_open: BTreeSet::new(),
            metrics: Metrics::new(),
            started: health::unix_now(),
            last_sync: None,
            last_reload: None,
            ready: false,
            _daemon_lock: daemon_lock,
        };
        daemon.count_config();
        say(format!(
            "starting: {} ({} forwards, {} health checks), pid {}",
            daemon.loaded.source,
            daemon.loaded.config.forwards.len(),
            daemon.trackers.len(),
            std::process::id()
        ));
        daemon.reconcile("start", true)?;
        daemon.spawn_probes();
        daemon.write_status();
        Ok(daemon)
    }

    /// Health at start: up, except what a previous run held down (its status file) and
    /// destinations the kernel has at weight 0 that the config gives weight: those are
    /// checked before they are restored.
    fn initial_health(
        kernel: &mut Kernel,
        loaded: &Loaded,
        checks: &Checks,
    ) -> Result<BTreeMap<Probe, Tracker>, String> {
        let previous = std::fs::read(status::path())
            .ok()
            .and_then(|t| serde_json::from_slice::<status::Status>(&t).ok());
        let table = kernel.ipvs.read().map_err(|e| e.to_string())?;
        let mut trackers = BTreeMap::new();
        for ((forward, addr, port), probe) in &checks.probes {
            let was_down = previous
                .as_ref()
                .is_some_and(|s| s.is_down(forward, *addr, *port));
            let inhibited = loaded.desired.services.iter().any(|(key, want)| {
                &*want.forward == forward
                    && want.dests.values().any(|d| {
                        d.key.addr == *addr
                            && d.key.port == *port
                            && d.weight > 0
                            && table.services.get(key).is_some_and(|have| {
                                have.dests.get(&d.key).is_some_and(|h| h.dest.weight == 0)
                            })
                    })
            });
            let up = !(was_down || inhibited);
            let tracker = trackers
                .entry(probe.clone())
                .or_insert_with(|| Tracker::new(up));
            tracker.up &= up;
        }
        Ok(trackers)
    }

    fn spawn_probes(&mut self) {
        for task in self.tasks.drain(..) {
            task.abort();
        }
        for probe in self.checks.distinct() {
            let probe = Arc::new(probe);
            let sender = self.sender.clone();
            self.tasks.push(tokio::spawn(async move {
                let mut tick = tokio::time::interval(probe.interval);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    let started = Instant::now();
                    let result = health::probe::run(&probe).await;
                    let took = started.elapsed();
                    if sender.send((Arc::clone(&probe), result, took)).is_err() {
                        break;
                    }
                }
            }));
        }
    }

    async fn serve(mut self) -> i32 {
        use tokio::signal::unix::{SignalKind, signal};
        let signals = (
            signal(SignalKind::hangup()),
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        );
        let (Ok(mut hup), Ok(mut term), Ok(mut int)) = signals else {
            say("error: cannot handle signals".to_string());
            return 1;
        };
        self.ready_when_checked();
        let mut resync = tokio::time::interval(self.options.resync);
        resync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        resync.tick().await;
        // Pings at half the watchdog's time, from this loop: a stuck loop stops them.
        let mut watchdog = notify::watchdog().map(|every| tokio::time::interval(every / 2));
        loop {
            tokio::select! {
                Some((probe, result, took)) = self.results.recv() => self.on_result(&probe, result, took),
                Some(query) = self.queries.recv() => self.answer(query),
                _ = resync.tick() => {
                    if let Err(e) = self.reconcile("resync", false) {
                        say(format!("resync failed: {e}"));
                    }
                }
                _ = async { match watchdog.as_mut() {
                    Some(tick) => tick.tick().await,
                    None => std::future::pending().await,
                } } => notify::alive(),
                _ = hup.recv() => self.reload(),
                _ = term.recv() => break,
                _ = int.recv() => break,
            }
        }
        notify::stopping();
        for task in &self.tasks {
            task.abort();
        }
        say("stopping: the IPVS table stays as it is".to_string());
        0
    }

    fn on_result(&mut self, probe: &Probe, result: Result<(), String>, took: Duration) {
        let check = probe.check.name();
        self.metrics
            .check_duration
            .get_or_create(&metrics::CheckLabels { check })
            .observe(took.as_secs_f64());
        self.metrics
            .checks
            .get_or_create(&metrics::CheckResultLabels {
                check,
                result: if result.is_ok() { "ok" } else { "failed" },
            })
            .inc();
        let Some(tracker) = self.trackers.get_mut(probe) else {
            return;
        };
        let changed = tracker.record(&result, probe);
        if !self.ready {
            self.ready_when_checked();
        }
        let Some(up) = changed else {
            return;
        };
        let tracker = &self.trackers[probe];
        let reason = if up {
            "passed".to_string()
        } else {
            tracker.reason.clone()
        };
        say(format!(
            "backend {} ({} check of {}) is {}: {reason}",
            probe.target,
            probe.check.name(),
            self.forwards_of(probe).join(", "),
            if up { "up" } else { "down" }
        ));
        for (forward, addr, port) in self.backends_of(probe) {
            self.metrics
                .transitions
                .get_or_create(&metrics::TransitionLabels {
                    forward,
                    backend: SocketAddr::new(addr, port).to_string(),
                    to: if up { "up" } else { "down" },
                })
                .inc();
        }
        if let Err(e) = self.reconcile("health", false) {
            say(format!("could not apply the health change: {e}"));
        }
        self.write_status();
        if self.ready {
            notify::status(&self.summary());
        }
    }

    /// READY=1 (with a STATUS= line) once every probe has a first result.
    fn ready_when_checked(&mut self) {
        if self.trackers.values().all(|t| t.last.is_some()) {
            self.ready = true;
            notify::ready(&self.summary());
        }
    }

    /// "12 forwards, 31/32 backends up"
    fn summary(&self) -> String {
        let backends = self.backend_keys();
        let up = backends
            .iter()
            .filter(|(f, a, p)| !self.is_down(f, *a, *p))
            .count();
        format!(
            "{} forwards, {up}/{} backends up",
            self.loaded.config.forwards.len(),
            backends.len()
        )
    }

    /// Every (forward, address, port) of the running config, in config order.
    fn backend_keys(&self) -> Vec<BackendKey> {
        let mut services: Vec<_> = self.loaded.desired.services.values().collect();
        services.sort_by_key(|s| s.forward_index);
        let mut seen = BTreeSet::new();
        let mut keys = Vec::new();
        for service in services {
            for key in service.dests.keys() {
                let entry = (service.forward.to_string(), key.addr, key.port);
                if seen.insert(entry.clone()) {
                    keys.push(entry);
                }
            }
        }
        keys
    }

    fn backends_of(&self, probe: &Probe) -> Vec<BackendKey> {
        self.checks
            .probes
            .iter()
            .filter(|(_, p)| *p == probe)
            .map(|(key, _)| key.clone())
            .collect()
    }

    fn count_config(&self) {
        self.metrics
            .forwards
            .set(i64::try_from(self.loaded.config.forwards.len()).unwrap_or(i64::MAX));
        self.metrics
            .backends
            .set(i64::try_from(self.backend_keys().len()).unwrap_or(i64::MAX));
    }

    /// The forwards a probe decides for.
    fn forwards_of(&self, probe: &Probe) -> Vec<String> {
        let mut names: Vec<String> = self
            .backends_of(probe)
            .into_iter()
            .map(|(f, _, _)| format!("\"{f}\""))
            .collect();
        names.dedup();
        names
    }

    fn is_down(&self, forward: &str, addr: std::net::IpAddr, port: u16) -> bool {
        self.checks
            .probes
            .get(&(forward.to_string(), addr, port))
            .and_then(|p| self.trackers.get(p))
            .is_some_and(|t| !t.up)
    }

    /// Plans the config with health applied against the kernel and applies what differs,
    /// under the apply lock. `guarded`: a plan that trips a guard is refused (start, reload).
    fn reconcile(&mut self, why: &str, guarded: bool) -> Result<(), String> {
        let started = Instant::now();
        let result = self.sync(why, guarded);
        self.metrics
            .sync_duration
            .observe(started.elapsed().as_secs_f64());
        if result.is_ok() {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            self.metrics.last_sync.set(now);
        }
        // A refused reload leaves the kernel as the running config had it: not a failed sync.
        if result.is_ok() || why != "reload" {
            self.last_sync = Some(event(&result));
        }
        result
    }

    fn sync(&mut self, why: &str, guarded: bool) -> Result<(), String> {
        let mut effective = self.loaded.clone();
        let open = overlay::apply(&mut effective.desired, &self.loaded.config, &|f, a, p| {
            self.is_down(f, a, p)
        });
        let open: BTreeSet<overlay::FailOpen> = open.into_iter().collect();
        for service in open.difference(&self.fail_open) {
            say(format!(
                "warning: every backend of {service} is down and there is no fallback: left as configured (fail open)"
            ));
        }
        self.fail_open = open;
        let lock_path = engine::lock_path();
        let _lock = lock::acquire(&lock_path, Duration::from_secs(30), &mut |holder| {
            say(format!(
                "waiting for portfwd apply (pid {holder}) to finish"
            ))
        })
        .map_err(|e| e.to_string())?;
        // Not `Kernel::plan`: its doctor warnings (firewall tools, boot files) are for a
        // person reading a plan, and would run on every health change here.
        let (table, host) = self.kernel.read(&effective).map_err(|e| e.to_string())?;
        let planned = Planned::compute(&effective, table, Some(host), || engine::listeners().ok());
        if !planned.plan.errors.is_empty() {
            return Err(planned.plan.errors.join("; "));
        }
        if planned.plan.is_empty() {
            return Ok(());
        }
        if guarded {
            let blocking = planned.blocking(self.options.force, false);
            if !blocking.is_empty() {
                let reasons: Vec<String> = blocking
                    .iter()
                    .map(|g| format!("{} (override with {})", g.message, g.flag))
                    .collect();
                return Err(format!("refused: {}", reasons.join("; ")));
            }
        }
        for step in &planned.plan.steps {
            let change = planned.plan.changes.get(step.change);
            say(format!(
                "{why}: {}{}",
                step.op,
                change.map_or(String::new(), what_changed)
            ));
        }
        if why == "resync" {
            for change in &planned.plan.changes {
                self.metrics
                    .drift_repairs
                    .get_or_create(&metrics::KindLabels {
                        kind: change.reason.name(),
                    })
                    .inc();
            }
        }
        let options = apply::Options {
            drain: if why == "reload" {
                self.options.drain
            } else {
                None
            },
            poll: Duration::from_secs(1),
            stop: || false,
        };
        let report = self
            .kernel
            .apply(&effective, &planned, options, &mut |line| say(line));
        if report.succeeded() {
            for step in &planned.plan.steps {
                self.metrics
                    .kernel_operations
                    .get_or_create(&metrics::OpLabels { op: step.op.name() })
                    .inc();
            }
            Ok(())
        } else {
            Err(format!("the change was not applied: {:?}", report.outcome))
        }
    }

    /// SIGHUP: a valid config whose plan passes the guards replaces the running one; any
    /// other is refused and the daemon goes on with the old one.
    fn reload(&mut self) {
        notify::reloading();
        let result = self.reload_config();
        self.metrics
            .reloads
            .get_or_create(&metrics::ResultLabels {
                result: if result.is_ok() { "applied" } else { "refused" },
            })
            .inc();
        self.metrics.config_valid.set(i64::from(result.is_ok()));
        self.last_reload = Some(event(&result));
        self.count_config();
        self.write_status();
        notify::ready(&self.summary());
    }

    /// Replaces the running config by the file's, or keeps the running one and says why.
    fn reload_config(&mut self) -> Result<(), String> {
        say(format!("reloading {}", self.options.config.display()));
        let loaded = match engine::check_trusted(&self.options.config)
            .map_err(|e| e.to_string())
            .and_then(|()| load(&self.options.config))
        {
            Ok(l) => l,
            Err(e) => {
                say(format!("reload refused, keeping the running config: {e}"));
                return Err(e);
            }
        };
        let checks = Checks::of(&loaded.config, &loaded.desired);
        let old_loaded = std::mem::replace(&mut self.loaded, loaded);
        let old_checks = std::mem::replace(&mut self.checks, checks);
        let old_trackers = self.trackers.clone();
        // Health state is kept for backends that stay; new ones start up, checked at once.
        let kept: BTreeMap<Probe, Tracker> = self
            .checks
            .distinct()
            .into_iter()
            .map(|p| {
                let t = old_trackers
                    .get(&p)
                    .cloned()
                    .unwrap_or_else(|| Tracker::new(true));
                (p, t)
            })
            .collect();
        self.trackers = kept;
        match self.reconcile("reload", true) {
            Ok(()) => {
                say("reloaded".to_string());
                self.spawn_probes();
                Ok(())
            }
            Err(e) => {
                say(format!("reload refused, keeping the running config: {e}"));
                self.loaded = old_loaded;
                self.checks = old_checks;
                self.trackers = old_trackers;
                Err(e)
            }
        }
    }

    fn answer(&mut self, query: Query) {
        match query {
            Query::Metrics(reply) => {
                self.refresh_metrics();
                let _ = reply.send(self.metrics.encode());
            }
            Query::Status(reply) => {
                let _ = reply.send(self.report());
            }
        }
    }

    /// Each backend of the running config with the kernel's weight and connection counts
    /// (summed over the forward's services), in config order.
    fn kernel_view(&mut self) -> Vec<KernelBackend> {
        let table = match self.kernel.ipvs.read() {
            Ok(t) => Some(t),
            Err(e) => {
                say(format!("warning: cannot read the IPVS table: {e}"));
                None
            }
        };
        let mut view: Vec<_> = self
            .backend_keys()
            .into_iter()
            .map(|key| KernelBackend {
                key,
                weight: None,
                active: 0,
                inactive: 0,
            })
            .collect();
        let index: BTreeMap<BackendKey, usize> = view
            .iter()
            .enumerate()
            .map(|(i, b)| (b.key.clone(), i))
            .collect();
        let Some(table) = table else {
            return view;
        };
        for (service_key, want) in &self.loaded.desired.services {
            let Some(have) = table.services.get(service_key) else {
                continue;
            };
            for dest_key in want.dests.keys() {
                let (Some(dest), Some(&i)) = (
                    have.dests.get(dest_key),
                    index.get(&(want.forward.to_string(), dest_key.addr, dest_key.port)),
                ) else {
                    continue;
                };
                let entry = &mut view[i];
                let weight = dest.dest.weight;
                entry.weight = Some(entry.weight.map_or(weight, |w| w.min(weight)));
                entry.active += u64::from(dest.counters.active_conns);
                entry.inactive += u64::from(dest.counters.inactive_conns);
            }
        }
        view
    }

    fn refresh_metrics(&mut self) {
        let view = self.kernel_view();
        let pair = self.pair();
        let m = &self.metrics;
        m.floating_held.clear();
        m.sync_daemon_running.clear();
        if let Some(pair) = pair {
            for f in &pair.floating {
                m.floating_held
                    .get_or_create(&metrics::AddressLabels {
                        address: f.address.to_string(),
                    })
                    .set(i64::from(f.held));
            }
            let wanted = self.loaded.config.sync.is_some();
            for role in SyncRole::BOTH {
                let running = pair.sync_daemons.iter().any(|d| d.role == role);
                if wanted || running {
                    m.sync_daemon_running
                        .get_or_create(&metrics::RoleLabels { role: role.name() })
                        .set(i64::from(running));
                }
            }
        }
        for family in [
            &m.backend_up,
            &m.backend_weight,
            &m.connections_active,
            &m.connections_inactive,
        ] {
            family.clear();
        }
        for b in view {
            let (forward, addr, port) = b.key;
            let up = !self.is_down(&forward, addr, port);
            let labels = BackendLabels {
                forward,
                backend: SocketAddr::new(addr, port).to_string(),
            };
            let m = &self.metrics;
            m.backend_up.get_or_create(&labels).set(i64::from(up));
            if let Some(w) = b.weight {
                m.backend_weight.get_or_create(&labels).set(i64::from(w));
            }
            m.connections_active
                .get_or_create(&labels)
                .set(i64::try_from(b.active).unwrap_or(i64::MAX));
            m.connections_inactive
                .get_or_create(&labels)
                .set(i64::try_from(b.inactive).unwrap_or(i64::MAX));
        }
    }

    fn report(&mut self) -> control::Report {
        let view = self.kernel_view();
        let mut forwards: Vec<control::ForwardStatus> = Vec::new();
        for b in view {
            let (forward, addr, port) = b.key;
            let checked = health::checked_forward(&self.loaded.config, &forward);
            let tracker = self
                .checks
                .probes
                .get(&(forward.clone(), addr, port))
                .and_then(|p| self.trackers.get(p));
            let backend = control::BackendStatus {
                backend: SocketAddr::new(addr, port).to_string(),
                up: tracker.is_none_or(|t| t.up),
                since: tracker.map(|t| t.since),
                last_check: tracker.and_then(|t| {
                    t.last.map(|(at, ok)| control::Event {
                        at,
                        ok,
                        error: (!ok).then(|| t.reason.clone()),
                    })
                }),
                weight: b.weight,
                active_connections: b.active,
                inactive_connections: b.inactive,
            };
            match forwards.last_mut() {
                Some(f) if f.name == forward => f.backends.push(backend),
                _ => forwards.push(control::ForwardStatus {
                    fail_open: self.fail_open.iter().any(|f| f.forward == forward),
                    check: checked.map_or("none", |(_, h)| h.check.name()).to_string(),
                    name: forward,
                    backends: vec![backend],
                }),
            }
        }
        control::Report {
            format_version: control::FORMAT_VERSION.to_string(),
            pid: std::process::id(),
            config: self.loaded.source.clone(),
            started: self.started,
            last_sync: self.last_sync.clone(),
            last_reload: self.last_reload.clone(),
            pair: self.pair(),
            forwards,
        }
    }

    /// This host's part in a pair, read now; `None` when the config describes no pair.
    fn pair(&mut self) -> Option<control::PairStatus> {
        let config = &self.loaded.config;
        // Floating addresses need `vrrp` (a validation rule).
        if config.vrrp.is_none() && config.sync.is_none() {
            return None;
        }
        match self.kernel.read_pair() {
            Ok((links, daemons)) => Some(control::PairStatus::new(config, &links, daemons)),
            Err(e) => {
                say(format!("warning: cannot read the pair's state: {e}"));
                None
            }
        }
    }

    fn write_status(&self) {
        let backends = self
            .checks
            .probes
            .iter()
            .filter_map(|((forward, addr, port), probe)| {
                let t = self.trackers.get(probe)?;
                Some(status::Backend {
                    forward: forward.clone(),
                    address: *addr,
                    port: *port,
                    up: t.up,
                    reason: t.reason.clone(),
                    since: t.since,
                })
            })
            .collect();
        let s = status::Status {
            format_version: status::FORMAT_VERSION.to_string(),
            pid: std::process::id(),
            config: self.loaded.source.clone(),
            backends,
        };
        if let Err(e) = s.write(&status::path()) {
            say(format!(
                "warning: cannot write {}: {e}",
                status::path().display()
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::what_changed;
    use crate::plan::change::{Action, Attrs, Change, Kind, Reason};
    use serde_json::Value;

    #[test]
    fn a_logged_update_says_what_changed() {
        let attrs = |weight: u32| {
            Attrs(vec![
                ("method", Value::from("masq")),
                ("weight", Value::from(weight)),
            ])
        };
        let mut change = Change {
            kind: Kind::IpvsDestination,
            id: "10.0.0.3:80".into(),
            parent: Some("tcp 203.0.113.10:80".into()),
            forward: None,
            action: Action::Update,
            reason: Reason::AttributesDiffer,
            before: Some(attrs(1)),
            after: Some(attrs(0)),
        };
        assert_eq!(what_changed(&change), " (weight 1 -> 0)");
        change.action = Action::Replace;
        assert_eq!(
            what_changed(&change),
            "",
            "a replace's two steps say nothing of it"
        );
        change.action = Action::Update;
        change.before = None;
        assert_eq!(what_changed(&change), "");
    }
}
