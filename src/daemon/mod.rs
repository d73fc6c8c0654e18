//! `portfwd run`: plans and applies like `apply --auto-approve`, then keeps the kernel in
//! line with the config and the backends' health. Health changes, resyncs (drift repaired
//! every `--resync` seconds) and reloads (SIGHUP) all go through the same plan/apply
//! pipeline against the live kernel, so a change is the minimal in-place edit and nothing
//! is removed and re-added. One thread: probes are tokio tasks; the kernel work runs
//! between their results.

mod log;

use crate::apply::{self, lock};
use crate::config::{self, model::Named};
use crate::engine::{self, Kernel, Loaded, Planned};
use crate::health::{self, Checks, Probe, Tracker, overlay, status};
use crate::kernel::ipvs::Ipvs;
use log::say;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub struct Options {
    pub config: PathBuf,
    /// How often the kernel is read back and drift repaired.
    pub resync: Duration,
    /// Start and reload even when the plan trips a guard.
    pub force: bool,
    /// Drain removed backends on reload (as `apply --drain`).
    pub drain: Option<Duration>,
}

/// Runs until SIGTERM or SIGINT (exit 0); exit 1 when it cannot start.
pub fn run(options: Options) -> i32 {
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
    results: mpsc::UnboundedReceiver<(Probe, Result<(), String>)>,
    sender: mpsc::UnboundedSender<(Probe, Result<(), String>)>,
    fail_open: BTreeSet<String>,
    _daemon_lock: lock::Lock,
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
        let mut daemon = Daemon {
            options,
            kernel,
            loaded,
            checks,
            trackers,
            tasks: Vec::new(),
            results,
            sender,
            fail_open: BTreeSet::new(),
            _daemon_lock: daemon_lock,
        };
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
            let sender = self.sender.clone();
            self.tasks.push(tokio::spawn(async move {
                let mut tick = tokio::time::interval(probe.interval);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    let result = health::probe::run(&probe).await;
                    if sender.send((probe.clone(), result)).is_err() {
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
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
        let mut resync = tokio::time::interval(self.options.resync);
        resync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        resync.tick().await;
        loop {
            tokio::select! {
                Some((probe, result)) = self.results.recv() => self.on_result(&probe, result),
                _ = resync.tick() => {
                    if let Err(e) = self.reconcile("resync", false) {
                        say(format!("resync failed: {e}"));
                    }
                }
                _ = hup.recv() => self.reload(),
                _ = term.recv() => break,
                _ = int.recv() => break,
            }
        }
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
        for task in &self.tasks {
            task.abort();
        }
        say("stopping: the IPVS table stays as it is".to_string());
        0
    }

    fn on_result(&mut self, probe: &Probe, result: Result<(), String>) {
        let Some(tracker) = self.trackers.get_mut(probe) else {
            return;
        };
        let Some(up) = tracker.record(&result, probe) else {
            return;
        };
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
        if let Err(e) = self.reconcile("health", false) {
            say(format!("could not apply the health change: {e}"));
        }
        self.write_status();
    }

    /// The forwards a probe decides for.
    fn forwards_of(&self, probe: &Probe) -> Vec<String> {
        let mut names: Vec<String> = self
            .checks
            .probes
            .iter()
            .filter(|(_, p)| *p == probe)
            .map(|((f, _, _), _)| format!("\"{f}\""))
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
        let mut effective = self.loaded.clone();
        let open = overlay::apply(&mut effective.desired, &self.loaded.config, &|f, a, p| {
            self.is_down(f, a, p)
        });
        let open: BTreeSet<String> = open.into_iter().collect();
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
            say(format!("{why}: {}", step.op));
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
            Ok(())
        } else {
            Err(format!("the change was not applied: {:?}", report.outcome))
        }
    }

    /// SIGHUP: a valid config whose plan passes the guards replaces the running one; any
    /// other is refused and the daemon goes on with the old one.
    fn reload(&mut self) {
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Reloading]);
        say(format!("reloading {}", self.options.config.display()));
        let loaded = match engine::check_trusted(&self.options.config)
            .map_err(|e| e.to_string())
            .and_then(|()| load(&self.options.config))
        {
            Ok(l) => l,
            Err(e) => {
                say(format!("reload refused, keeping the running config: {e}"));
                let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
                return;
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
            }
            Err(e) => {
                say(format!("reload refused, keeping the running config: {e}"));
                self.loaded = old_loaded;
                self.checks = old_checks;
                self.trackers = old_trackers;
            }
        }
        self.write_status();
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
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
