//! The daemon driven whole against the in-memory kernel, with canned check results and
//! tokio's paused clock: the loop's time is virtual, the worker's is real. While the test
//! waits for the worker it spins with `yield_now`, which keeps the paused clock still.

use super::{Notifier, Options, Parts, Prober, Query, Signal, event_loop};
use crate::apply::lock;
use crate::engine::Kernel;
use crate::health::Probe;
use crate::kernel::KernelError;
use crate::kernel::ipvs::Ipvs;
use crate::kernel::ipvs::memory::MemoryIpvs;
use crate::kernel::links::memory::MemoryLinks;
use crate::kernel::modules::{ModuleState, memory::MemoryModules};
use crate::kernel::sysctl::MemorySysctl;
use crate::state::ipvs::{ServiceKey, Table};
use crate::state::links::{Address, Link, LinkTable};
use crate::state::ops::Op;
use crate::state::sync::{SyncDaemon, SyncRole};
use std::collections::HashSet;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// One IPVS table shared by the worker's kernel, the views' kernel and the test, counting
/// what each round does; `gate` closed holds every write until it opens.
#[derive(Default)]
struct Shared {
    ipvs: Mutex<Option<MemoryIpvs>>,
    full_reads: AtomicUsize,
    batches: Mutex<Vec<usize>>,
    gate: Mutex<bool>,
    gate_moved: Condvar,
    held_at_gate: AtomicUsize,
}

struct SharedIpvs(Arc<Shared>);

impl SharedIpvs {
    fn with<T>(&self, f: impl FnOnce(&mut MemoryIpvs) -> T) -> T {
        let mut guard = self.0.ipvs.lock().expect("ipvs");
        f(guard.get_or_insert_with(|| MemoryIpvs::new(Table::default())))
    }
}

impl Ipvs for SharedIpvs {
    fn read(&mut self) -> Result<Table, KernelError> {
        self.0.full_reads.fetch_add(1, Ordering::SeqCst);
        self.with(|m| m.read())
    }

    fn read_services(&mut self, keys: &[ServiceKey]) -> Result<Table, KernelError> {
        self.with(|m| {
            let mut table = m.table.clone();
            table.services.retain(|k, _| keys.contains(k));
            Ok(table)
        })
    }

    fn execute(&mut self, ops: &[Op]) -> Vec<Result<(), KernelError>> {
        let mut closed = self.0.gate.lock().expect("gate");
        if *closed {
            self.0.held_at_gate.fetch_add(1, Ordering::SeqCst);
            while *closed {
                closed = self.0.gate_moved.wait(closed).expect("gate");
            }
        }
        drop(closed);
        self.0.batches.lock().expect("batches").push(ops.len());
        self.with(|m| m.execute(ops))
    }

    fn read_daemons(&mut self) -> Result<Vec<SyncDaemon>, KernelError> {
        self.with(|m| m.read_daemons())
    }

    fn started_daemons(&mut self) -> Vec<SyncRole> {
        self.with(|m| m.started_daemons())
    }
}

fn kernel(shared: &Arc<Shared>) -> Kernel {
    let mut modules = MemoryModules::default();
    modules.states.insert("ip_vs".into(), ModuleState::Loaded);
    modules
        .states
        .insert("ip_vs_wlc".into(), ModuleState::Loaded);
    let sysctl = MemorySysctl::with(&[
        ("net.ipv4.ip_forward", "1"),
        ("net.ipv4.vs.expire_nodest_conn", "1"),
        ("net.ipv4.vs.conntrack", "0"),
        ("net.ipv4.vs.sync_version", "1"),
    ]);
    Kernel::from_parts(
        Box::new(SharedIpvs(Arc::clone(shared))),
        Box::new(MemoryLinks::new(LinkTable {
            links: vec![Link {
                index: 2,
                name: "eth0".into(),
                kind: None,
                master: None,
                up: true,
            }],
            addresses: vec![Address {
                index: 2,
                addr: "203.0.113.10".parse().expect("addr"),
                prefix_len: 24,
            }],
            default_routes: Vec::new(),
        })),
        Box::new(sysctl),
        Box::new(modules),
    )
}

#[derive(Default)]
struct CannedChecks {
    failing: Mutex<HashSet<SocketAddr>>,
}

impl Prober for CannedChecks {
    fn check(&self, probe: Arc<Probe>) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> {
        let failing = self
            .failing
            .lock()
            .expect("failing")
            .contains(&probe.target);
        Box::pin(async move {
            if failing {
                Err("connect: connection refused".to_string())
            } else {
                Ok(())
            }
        })
    }
}

#[derive(Default)]
struct Recorder {
    ready: AtomicUsize,
    pings: AtomicUsize,
}

impl Notifier for Recorder {
    fn ready(&self, _: &str) {
        self.ready.fetch_add(1, Ordering::SeqCst);
    }
    fn status(&self, _: &str) {}
    fn reloading(&self) {}
    fn stopping(&self) {}
    fn alive(&self) {
        self.pings.fetch_add(1, Ordering::SeqCst);
    }
    fn watchdog(&self) -> Option<Duration> {
        Some(Duration::from_secs(10))
    }
}

/// `forwards` forwards of 5 backends each (10.0.FORWARD.1-5), checked by TCP.
fn config(forwards: usize, interval: u32) -> String {
    let list: Vec<String> = (0..forwards)
        .map(|i| {
            let backends: Vec<String> = (1..=5).map(|b| format!("\"10.0.{i}.{b}:80\"")).collect();
            format!(
                r#"{{"name":"f{i}","listen":"203.0.113.10:{}","backends":[{}],
                    "health":{{"check":"tcp","interval":{interval},"timeout":0.5,"rise":1,"fall":2}}}}"#,
                1000 + i,
                backends.join(",")
            )
        })
        .collect();
    format!(
        r#"{{"public":[{{"address":"203.0.113.10"}}],"forwards":[{}]}}"#,
        list.join(",")
    )
}

struct Harness {
    _dir: tempfile::TempDir,
    config: PathBuf,
    lock: PathBuf,
    shared: Arc<Shared>,
    checks: Arc<CannedChecks>,
    notes: Arc<Recorder>,
    queries: mpsc::Sender<Query>,
    signals: mpsc::Sender<Signal>,
    daemon: tokio::task::JoinHandle<i32>,
}

impl Harness {
    async fn start(text: &str) -> Harness {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("portfwd.json");
        std::fs::write(&config, text).expect("config");
        let lock = dir.path().join("lock");
        let shared = Arc::new(Shared::default());
        let checks = Arc::new(CannedChecks::default());
        let notes = Arc::new(Recorder::default());
        let parts = Parts {
            kernel: kernel(&shared),
            reader: kernel(&shared),
            prober: Arc::clone(&checks) as Arc<dyn Prober>,
            notifier: Arc::clone(&notes) as Arc<dyn Notifier>,
            lock_path: lock.clone(),
            status_path: dir.path().join("health.json"),
        };
        let options = Options {
            config: config.clone(),
            resync: Duration::from_secs(3600),
            force: false,
            drain: None,
            metrics: None,
        };
        let (queries, query_rx) = mpsc::channel(16);
        let (signals, signal_rx) = mpsc::channel(8);
        let daemon = tokio::spawn(event_loop::run(options, parts, query_rx, signal_rx));
        let h = Harness {
            _dir: dir,
            config,
            lock,
            shared,
            checks,
            notes,
            queries,
            signals,
            daemon,
        };
        // The loop has heard of the start round (and started the checks).
        for _ in 0..1000 {
            if h.status().await.last_sync.is_some() {
                break;
            }
        }
        // One interval: every check has reported once (they start spread over it).
        tokio::time::sleep(Duration::from_millis(1100)).await;
        h.until("READY=1", || h.notes.ready.load(Ordering::SeqCst) > 0)
            .await;
        h
    }

    /// Waits (in real time, the paused clock standing still) until `done`.
    async fn until(&self, what: &str, done: impl Fn() -> bool) {
        for _ in 0..50_000 {
            if done() {
                return;
            }
            assert!(!self.daemon.is_finished(), "the daemon stopped: {what}");
            std::thread::sleep(Duration::from_micros(200));
            tokio::task::yield_now().await;
        }
        panic!("gave up waiting for {what}");
    }

    fn weight(&self, addr: &str) -> Option<u32> {
        let addr: std::net::IpAddr = addr.parse().expect("addr");
        let guard = self.shared.ipvs.lock().expect("ipvs");
        guard.as_ref()?.table.services.values().find_map(|s| {
            s.dests
                .values()
                .find(|d| d.dest.key.addr == addr)
                .map(|d| d.dest.weight)
        })
    }

    fn fail(&self, addrs: impl IntoIterator<Item = String>) {
        let mut failing = self.checks.failing.lock().expect("failing");
        failing.extend(
            addrs
                .into_iter()
                .map(|a| a.parse::<SocketAddr>().expect("addr")),
        );
    }

    fn heal(&self) {
        self.checks.failing.lock().expect("failing").clear();
    }

    async fn status(&self) -> super::control::Report {
        self.ask(Query::Status).await
    }

    async fn metrics(&self) -> String {
        self.ask(Query::Metrics).await
    }

    /// Asks the loop and waits for its answer (in real time, the clock standing still).
    async fn ask<T>(&self, query: impl FnOnce(oneshot::Sender<T>) -> Query) -> T {
        let (tx, mut rx) = oneshot::channel();
        self.queries
            .send(query(tx))
            .await
            .expect("the loop takes queries");
        for _ in 0..50_000 {
            if let Ok(answer) = rx.try_recv() {
                return answer;
            }
            std::thread::sleep(Duration::from_micros(200));
            tokio::task::yield_now().await;
        }
        panic!("the loop did not answer");
    }

    async fn stop(self) {
        self.signals.send(Signal::Stop).await.expect("stop");
        assert_eq!(self.daemon.await.expect("daemon"), 0);
    }
}

/// Backends 1 to 4 of each forward (the fifth stays up: all down would fail open).
fn backends(forwards: usize) -> Vec<String> {
    (0..forwards)
        .flat_map(|i| (1..=4).map(move |b| format!("10.0.{i}.{b}:80")))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_hundred_backends_failing_together_are_held_down_in_a_few_rounds_without_a_full_read() {
    let h = Harness::start(&config(25, 1)).await;
    assert_eq!(h.weight("10.0.7.3"), Some(1));
    let full_reads = h.shared.full_reads.load(Ordering::SeqCst);
    h.shared.batches.lock().expect("batches").clear();

    h.fail(backends(25));
    // fall 2 × interval 1 s: every tracker has decided by then (and no check runs while
    // the test waits below: the paused clock stands still).
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    h.until("all 100 held down", || {
        backends(25)
            .iter()
            .all(|b| h.weight(b.trim_end_matches(":80")) == Some(0))
    })
    .await;
    let batches = h.shared.batches.lock().expect("batches").clone();
    assert_eq!(batches.iter().sum::<usize>(), 100, "one edit per backend");
    assert_eq!(
        h.shared.full_reads.load(Ordering::SeqCst),
        full_reads,
        "health rounds read only their services"
    );
    let scrape = h.metrics().await;
    let rounds = scrape
        .lines()
        .find_map(|l| l.strip_prefix("portfwd_health_change_duration_seconds_count "))
        .and_then(|n| n.trim().parse::<u64>().ok())
        .expect("the decision-to-kernel histogram");
    assert!(
        (1..=100).contains(&rounds),
        "each health round that brought changes in is timed once: {rounds}"
    );
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn changes_that_arrive_while_a_round_runs_go_into_the_next_one() {
    let h = Harness::start(&config(3, 1)).await;
    h.shared.batches.lock().expect("batches").clear();
    *h.shared.gate.lock().expect("gate") = true;

    h.fail(["10.0.0.1:80".to_string()]);
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    h.until("the first round at the gate", || {
        h.shared.held_at_gate.load(Ordering::SeqCst) == 1
    })
    .await;
    h.fail(["10.0.1.1:80".to_string(), "10.0.2.1:80".to_string()]);
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    let report = h.status().await;
    let down = report.backends().filter(|b| !b.up).count();
    assert_eq!(down, 3, "the checks decided while the kernel round waits");

    *h.shared.gate.lock().expect("gate") = false;
    h.shared.gate_moved.notify_all();
    h.until("all three held down", || {
        ["10.0.0.1", "10.0.1.1", "10.0.2.1"]
            .iter()
            .all(|b| h.weight(b) == Some(0))
    })
    .await;
    let batches = h.shared.batches.lock().expect("batches").clone();
    assert_eq!(batches, [1, 2], "the two later changes went into one round");
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_reload_that_changes_a_down_backends_interval_keeps_it_down_until_a_check_passes() {
    let h = Harness::start(&config(2, 1)).await;
    h.fail(["10.0.0.1:80".to_string()]);
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    h.until("held down", || h.weight("10.0.0.1") == Some(0))
        .await;

    std::fs::write(&h.config, config(2, 3)).expect("new interval");
    h.signals.send(Signal::Reload).await.expect("reload");
    h.until("the reload applied", || {
        h.notes.ready.load(Ordering::SeqCst) >= 2
    })
    .await;
    let report = h.status().await;
    assert!(
        report.last_reload.as_ref().is_some_and(|r| r.ok),
        "{:?}",
        report.last_reload
    );
    assert_eq!(h.weight("10.0.0.1"), Some(0), "not restored by the reload");
    let backend = report
        .backends()
        .find(|b| b.backend == "10.0.0.1:80")
        .expect("backend");
    assert!(!backend.up);

    h.heal();
    tokio::time::sleep(Duration::from_millis(3_100)).await;
    h.until("restored once a check passed", || {
        h.weight("10.0.0.1") == Some(1)
    })
    .await;
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_lock_held_for_a_minute_delays_the_kernel_round_not_status_or_the_watchdog() {
    let h = Harness::start(&config(2, 1)).await;
    // A round may hold it for a moment (the checks' first results).
    let held = lock::acquire(&h.lock, Duration::from_secs(10), &mut |_| {})
        .expect("the test holds the lock");
    h.fail(["10.0.1.2:80".to_string()]);
    let pings = h.notes.pings.load(Ordering::SeqCst);
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let report = h.status().await;
        assert_eq!(report.forwards.len(), 2, "status answers meanwhile");
    }
    let pinged = h.notes.pings.load(Ordering::SeqCst) - pings;
    assert!(
        pinged >= 10,
        "the watchdog was fed meanwhile ({pinged} pings in 60 s)"
    );
    assert_eq!(
        h.weight("10.0.1.2"),
        Some(1),
        "the kernel round waits for the lock"
    );

    drop(held);
    h.until("held down once the lock is free", || {
        h.weight("10.0.1.2") == Some(0)
    })
    .await;
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn of_two_reloads_in_a_row_the_last_config_is_the_one_that_runs() {
    let h = Harness::start(&config(2, 1)).await;
    std::fs::write(&h.config, config(3, 1)).expect("first");
    h.signals.send(Signal::Reload).await.expect("reload");
    std::fs::write(&h.config, config(4, 1)).expect("second");
    h.signals.send(Signal::Reload).await.expect("reload");
    let services = || {
        let guard = h.shared.ipvs.lock().expect("ipvs");
        guard.as_ref().map_or(0, |m| m.table.services.len())
    };
    h.until("the last config in the kernel", || services() == 4)
        .await;
    // The loop hears of the round after the kernel holds it.
    for _ in 0..1000 {
        let report = h.status().await;
        if report.forwards.len() == 4 && report.last_reload.is_some_and(|r| r.ok) {
            h.stop().await;
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("the status never showed the last config applied");
}

#[test]
fn checks_start_spread_over_their_interval_in_steps() {
    let interval = Duration::from_secs(2);
    let offsets: std::collections::BTreeSet<Duration> = (0..500)
        .map(|i| super::event_loop::spread(interval, i, 500))
        .collect();
    assert_eq!(offsets.len(), 10, "ten groups, 200 ms apart");
    assert!(
        offsets
            .iter()
            .all(|o| *o < interval && o.as_millis() % 200 == 0)
    );
    assert_eq!(
        super::event_loop::spread(Duration::from_millis(200), 3, 4),
        Duration::from_millis(150)
    );
}
