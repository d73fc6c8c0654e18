//! What the daemon shows, built by pure functions from one [`Snapshot`] of the loop's state
//! and what the kernel reported: the `portfwd status` report, the metrics' gauges, and the
//! health file `plan` and `apply` read.

use super::checks::BackendKey;
use super::control;
use super::metrics::{self, BackendLabels, Metrics};
use crate::config::model::Named;
use crate::engine::Loaded;
use crate::health::overlay::FailOpen;
use crate::health::{Tracker, status};
use crate::state::ipvs::Table;
use crate::state::sync::SyncRole;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

/// The loop's state at one moment: what every view is built from.
#[derive(Clone)]
pub struct Snapshot {
    pub loaded: Arc<Loaded>,
    /// Every backend of the running config in config order, with its check's kind and
    /// tracker when its forward has checks.
    pub backends: Vec<BackendState>,
    pub fail_open: Vec<FailOpen>,
    pub started: u64,
    pub last_reconcile: Option<control::Event>,
    pub last_reload: Option<control::Event>,
}

#[derive(Clone)]
pub struct BackendState {
    pub key: BackendKey,
    pub tracker: Option<Tracker>,
}

impl BackendState {
    pub fn up(&self) -> bool {
        self.tracker.as_ref().is_none_or(|t| t.up)
    }
}

/// A backend as the kernel has it now.
pub struct KernelBackend {
    /// `None` when the kernel lacks the destination (or was not read).
    pub weight: Option<u32>,
    pub active: u64,
    pub inactive: u64,
}

/// Each backend's weight and connection counts (summed over its forward's services), in
/// the snapshot's order; all unknown without a table.
pub fn kernel_view(snapshot: &Snapshot, table: Option<&Table>) -> Vec<KernelBackend> {
    let mut view: Vec<KernelBackend> = snapshot
        .backends
        .iter()
        .map(|_| KernelBackend {
            weight: None,
            active: 0,
            inactive: 0,
        })
        .collect();
    let Some(table) = table else {
        return view;
    };
    let index: HashMap<&BackendKey, usize> = snapshot
        .backends
        .iter()
        .enumerate()
        .map(|(i, b)| (&b.key, i))
        .collect();
    for (service_key, want) in &snapshot.loaded.desired.services {
        let Some(have) = table.services.get(service_key) else {
            continue;
        };
        for dest_key in want.dests.keys() {
            let backend = (Arc::clone(&want.forward), dest_key.addr, dest_key.port);
            let (Some(dest), Some(&i)) = (have.dests.get(dest_key), index.get(&backend)) else {
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

/// The `portfwd status` report.
pub fn report(
    snapshot: &Snapshot,
    kernel: &[KernelBackend],
    pair: Option<control::PairStatus>,
) -> control::Report {
    let mut forwards: Vec<control::ForwardStatus> = Vec::new();
    for (b, k) in snapshot.backends.iter().zip(kernel) {
        let (forward, addr, port) = &b.key;
        let tracker = b.tracker.as_ref();
        let backend = control::BackendStatus {
            backend: SocketAddr::new(*addr, *port).to_string(),
            up: b.up(),
            since: tracker.map(|t| t.since),
            last_check: tracker.and_then(|t| {
                t.last.map(|(at, ok)| control::Event {
                    at,
                    ok,
                    error: (!ok).then(|| t.reason.clone()),
                })
            }),
            weight: k.weight,
            active_connections: k.active,
            inactive_connections: k.inactive,
        };
        match forwards.last_mut() {
            Some(f) if f.name == **forward => f.backends.push(backend),
            _ => forwards.push(control::ForwardStatus {
                fail_open: snapshot.fail_open.iter().any(|f| f.forward == **forward),
                check: snapshot
                    .loaded
                    .checked(forward)
                    .map_or("none", |(_, h)| h.check.name())
                    .to_string(),
                name: forward.to_string(),
                backends: vec![backend],
            }),
        }
    }
    control::Report {
        format_version: control::FORMAT_VERSION.to_string(),
        pid: std::process::id(),
        config: snapshot.loaded.source.clone(),
        started: snapshot.started,
        last_sync: snapshot.last_reconcile.clone(),
        last_reload: snapshot.last_reload.clone(),
        pair,
        forwards,
    }
}

/// Sets the gauges read at each scrape.
pub fn fill_metrics(
    m: &Metrics,
    snapshot: &Snapshot,
    kernel: &[KernelBackend],
    pair: Option<&control::PairStatus>,
) {
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
        let wanted = snapshot.loaded.config.sync.is_some();
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
    for (b, k) in snapshot.backends.iter().zip(kernel) {
        let (forward, addr, port) = &b.key;
        let labels = BackendLabels {
            forward: forward.to_string(),
            backend: SocketAddr::new(*addr, *port).to_string(),
        };
        m.backend_up.get_or_create(&labels).set(i64::from(b.up()));
        if let Some(w) = k.weight {
            m.backend_weight.get_or_create(&labels).set(i64::from(w));
        }
        m.connections_active
            .get_or_create(&labels)
            .set(i64::try_from(k.active).unwrap_or(i64::MAX));
        m.connections_inactive
            .get_or_create(&labels)
            .set(i64::try_from(k.inactive).unwrap_or(i64::MAX));
    }
}

/// The health file: every checked backend and its state (built from the checks alone, so a
/// health change costs its checked backends, not the table).
pub fn status_file<'a>(
    loaded: &Loaded,
    tracked: impl Iterator<Item = (&'a BackendKey, &'a Tracker)>,
) -> status::Status {
    status::Status {
        format_version: status::FORMAT_VERSION.to_string(),
        pid: std::process::id(),
        config: loaded.source.clone(),
        backends: tracked
            .map(|((forward, address, port), t)| status::Backend {
                forward: forward.to_string(),
                address: *address,
                port: *port,
                up: t.up,
                reason: t.reason.clone(),
                since: t.since,
            })
            .collect(),
    }
}

/// "12 forwards, 31/32 backends up", from the count of all backends and the checked ones'
/// trackers (a backend without checks is up).
pub fn summary<'a>(
    loaded: &Loaded,
    backends: usize,
    tracked: impl Iterator<Item = (&'a BackendKey, &'a Tracker)>,
) -> String {
    let down = tracked.filter(|(_, t)| !t.up).count();
    format!(
        "{} forwards, {}/{backends} backends up",
        loaded.config.forwards.len(),
        backends.saturating_sub(down)
    )
}
