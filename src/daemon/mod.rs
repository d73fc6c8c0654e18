//! `portfwd run`: keeps the kernel in line with the config and the backends' health.
//!
//! Two threads. The event loop (`event_loop.rs`) runs the checks, keeps their trackers,
//! answers `/metrics` and `portfwd status`, handles signals and timers, and never waits on
//! the kernel, the apply lock or a drain. The worker (`worker.rs`) does the kernel work
//! through `engine::reconcile`, from the latest state the loop published. Views
//! (`view.rs`) are pure functions of a snapshot of the loop's state.

mod checks;
pub mod control;
mod event_loop;
pub mod log;
mod metrics;
mod notify;
#[cfg(test)]
mod tests;
mod view;
mod worker;

use crate::apply::lock;
use crate::engine::{self, Kernel};
use crate::health::Probe;
use log::say;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

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

/// What the signals (or a test) ask of the loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Reload,
    Stop,
}

/// Runs one check (the real probes, or canned results in tests).
pub trait Prober: Send + Sync + 'static {
    fn check(&self, probe: Arc<Probe>) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;
}

struct RealProbes;

impl Prober for RealProbes {
    fn check(&self, probe: Arc<Probe>) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> {
        Box::pin(async move { crate::health::probe::run(&probe).await })
    }
}

/// systemd's notify protocol (a recorder in tests).
pub trait Notifier: Send + Sync + 'static {
    fn ready(&self, status: &str);
    fn status(&self, status: &str);
    fn reloading(&self);
    fn stopping(&self);
    fn alive(&self);
    /// How often the watchdog wants pings; `None` without one.
    fn watchdog(&self) -> Option<Duration>;
}

struct Systemd;

impl Notifier for Systemd {
    fn ready(&self, status: &str) {
        notify::ready(status)
    }
    fn status(&self, status: &str) {
        notify::status(status)
    }
    fn reloading(&self) {
        notify::reloading()
    }
    fn stopping(&self) {
        notify::stopping()
    }
    fn alive(&self) {
        notify::alive()
    }
    fn watchdog(&self) -> Option<Duration> {
        notify::watchdog()
    }
}

/// What a daemon is built from: the live system, or twins in tests.
pub struct Parts {
    /// The worker's kernel.
    pub kernel: Kernel,
    /// The kernel the views read (weights, connections, the pair), beside the worker's.
    pub reader: Kernel,
    pub prober: Arc<dyn Prober>,
    pub notifier: Arc<dyn Notifier>,
    pub lock_path: PathBuf,
    pub status_path: PathBuf,
}

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
    let lock_path = engine::lock_path().with_file_name("daemon.lock");
    let _daemon_lock = match lock::acquire(&lock_path, Duration::ZERO, &mut |_| {}) {
        Ok(l) => l,
        Err(lock::LockError::Busy { holder, .. }) => {
            say(format!(
                "error: another portfwd run is running (pid {holder}, lock {}); this one stops",
                lock_path.display()
            ));
            return 1;
        }
        Err(e) => {
            say(format!("error: {e}"));
            return 1;
        }
    };
    let kernels = Kernel::connect().and_then(|k| Ok((k, Kernel::connect()?)));
    let (kernel, reader) = match kernels {
        Ok(k) => k,
        Err(e) => {
            say(format!("error: {e}"));
            return 1;
        }
    };
    let parts = Parts {
        kernel,
        reader,
        prober: Arc::new(RealProbes),
        notifier: Arc::new(Systemd),
        lock_path: engine::lock_path(),
        status_path: crate::health::status::path(),
    };
    runtime.block_on(async move {
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
        let (tx, rx) = mpsc::channel(8);
        tokio::spawn(async move {
            loop {
                let signal = tokio::select! {
                    _ = hup.recv() => Signal::Reload,
                    _ = term.recv() => Signal::Stop,
                    _ = int.recv() => Signal::Stop,
                };
                if tx.send(signal).await.is_err() {
                    break;
                }
            }
        });
        let (query_tx, queries) = mpsc::channel(16);
        if let Some(addr) = options.metrics {
            match metrics::bind(addr).await {
                Ok(listener) => {
                    tokio::spawn(metrics::serve(listener, query_tx.clone()));
                }
                Err(e) => {
                    say(format!("error: {e}"));
                    return 1;
                }
            }
        }
        match control::bind(&control::path()) {
            Ok(listener) => {
                tokio::spawn(control::serve(listener, query_tx));
            }
            Err(e) => say(format!("warning: {e}: portfwd status will not answer")),
        }
        event_loop::run(options, parts, queries, rx).await
    })
}
