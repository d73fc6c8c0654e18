//! The daemon's health state: one tracker per check of a backend, keyed by what is checked
//! (address, port, kind and what the kind looks at), never by the schedule. A reload keeps
//! every tracker whose check stays; a backend that is new or whose check changed starts
//! unproven: held as the kernel has it until the worker has looked, and raised only by a
//! passing check.

use crate::config::model::CheckKind;
use crate::engine::Loaded;
use crate::health::{Probe, Tracker};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// A backend of the running config: forward, address, port.
pub type BackendKey = (Arc<str>, IpAddr, u16);

/// What a tracker's state is about: the target and the check, not how often it runs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CheckKey {
    pub target: SocketAddr,
    pub kind: CheckKind,
    /// What the kind looks at: an HTTP path, host and status range; a command; TLS checks.
    what: (String, Option<String>, (u16, u16), Vec<String>, bool),
}

impl CheckKey {
    pub fn of(probe: &Probe) -> CheckKey {
        CheckKey {
            target: probe.target,
            kind: probe.check,
            what: (
                probe.path.clone(),
                probe.host.clone(),
                probe.expect_status,
                probe.command.clone(),
                probe.verify_tls,
            ),
        }
    }
}

/// The backends held down, by forward: what the overlay and the worker look up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeldDown(BTreeMap<Arc<str>, BTreeSet<(IpAddr, u16)>>);

impl HeldDown {
    pub fn insert(&mut self, (forward, addr, port): BackendKey) {
        self.0.entry(forward).or_default().insert((addr, port));
    }

    fn set(&mut self, (forward, addr, port): &BackendKey, member: bool) {
        if member {
            self.insert((Arc::clone(forward), *addr, *port));
        } else if let Some(set) = self.0.get_mut(&**forward) {
            set.remove(&(*addr, *port));
            if set.is_empty() {
                self.0.remove(&**forward);
            }
        }
    }

    pub fn contains(&self, forward: &str, addr: IpAddr, port: u16) -> bool {
        self.0
            .get(forward)
            .is_some_and(|s| s.contains(&(addr, port)))
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.0.values().map(BTreeSet::len).sum()
    }

    pub fn iter(&self) -> impl Iterator<Item = BackendKey> + '_ {
        self.0
            .iter()
            .flat_map(|(f, s)| s.iter().map(|&(a, p)| (Arc::clone(f), a, p)))
    }

    /// The backends in one set and not the other: what a health round has to change.
    pub fn changed_from(&self, other: &HeldDown) -> Vec<BackendKey> {
        let only = |a: &HeldDown, b: &HeldDown| {
            a.iter()
                .filter(|(f, ad, p)| !b.contains(f, *ad, *p))
                .collect::<Vec<_>>()
        };
        let mut changed = only(self, other);
        changed.extend(only(other, self));
        changed
    }
}

/// Every backend of the config (forward, address, port), once, in config order.
pub fn backends_of(loaded: &Loaded) -> Vec<BackendKey> {
    let mut services: Vec<_> = loaded.desired.services.values().collect();
    services.sort_by_key(|s| s.forward_index);
    let mut seen = BTreeSet::new();
    let mut keys = Vec::new();
    for service in services {
        for key in service.dests.keys() {
            let entry = (Arc::clone(&service.forward), key.addr, key.port);
            if seen.insert(entry.clone()) {
                keys.push(entry);
            }
        }
    }
    keys
}

/// Every check of the running config and the state of each.
#[derive(Debug, Clone, Default)]
pub struct Checks {
    /// Which check decides each backend of a checked forward, in config order.
    pub backends: Vec<(BackendKey, CheckKey)>,
    /// The probe of each check: the first forward's schedule (in config order) when two
    /// forwards check the same backend the same way.
    pub probes: BTreeMap<CheckKey, Arc<Probe>>,
    pub trackers: BTreeMap<CheckKey, Tracker>,
    /// Checks whose state the kernel decides until they report (see the module's note).
    pub unproven: BTreeSet<CheckKey>,
    /// Positions in `backends`: by backend, and by check.
    by_backend: HashMap<BackendKey, usize>,
    by_check: BTreeMap<CheckKey, Vec<usize>>,
    /// The backends held down and the unproven ones, kept in step with each check's state
    /// so that a transition costs its own backends, not the table.
    down: HeldDown,
    unproven_backends: HeldDown,
}

impl Checks {
    /// The checks of `loaded`, every one unproven; `backends` are its backends as
    /// [`backends_of`] lists them.
    pub fn of(loaded: &Loaded, backends: &[BackendKey]) -> Checks {
        let mut checks = Checks::default();
        for backend in backends {
            let (forward, addr, port) = backend;
            let Some((_, health)) = loaded.checked(forward) else {
                continue;
            };
            let probe = Probe::new(health, *addr, *port);
            let check = CheckKey::of(&probe);
            checks
                .probes
                .entry(check.clone())
                .or_insert_with(|| Arc::new(probe));
            let at = checks.backends.len();
            checks.by_backend.insert(backend.clone(), at);
            checks.by_check.entry(check.clone()).or_default().push(at);
            checks.backends.push((backend.clone(), check));
        }
        for check in checks.probes.keys() {
            checks.trackers.insert(check.clone(), Tracker::unproven());
            checks.unproven.insert(check.clone());
        }
        checks.rebuild();
        checks
    }

    fn rebuild(&mut self) {
        let checks: Vec<CheckKey> = self.by_check.keys().cloned().collect();
        for check in &checks {
            self.refresh(check);
        }
    }

    /// Brings the held sets in line with `check`'s state.
    pub fn refresh(&mut self, check: &CheckKey) {
        let unproven = self.unproven.contains(check);
        let down = !unproven && self.is_down(check);
        for &i in self.by_check.get(check).into_iter().flatten() {
            let backend = &self.backends[i].0;
            self.down.set(backend, down);
            self.unproven_backends.set(backend, unproven);
        }
    }

    /// Records a check's result: `Some(up)` when the state changed; `proven` when it was
    /// the check's first word on a backend the kernel decided until now.
    pub fn record(
        &mut self,
        check: &CheckKey,
        result: &Result<(), String>,
    ) -> Option<(Option<bool>, bool)> {
        let probe = self.probes.get(check)?;
        let changed = self.trackers.get_mut(check)?.record(result, probe);
        let proven = self.unproven.remove(check);
        if changed.is_some() || proven {
            self.refresh(check);
        }
        Some((changed, proven))
    }

    /// The checks of a new config, keeping the state of every check that stays.
    pub fn carry_over(mut self, old: &Checks) -> Checks {
        for (check, tracker) in &mut self.trackers {
            if let Some(kept) = old.trackers.get(check) {
                tracker.clone_from(kept);
                if !old.unproven.contains(check) {
                    self.unproven.remove(check);
                }
            }
        }
        self.rebuild();
        self
    }

    /// Checks that the worker found as the kernel has them: up where every backend they
    /// decide has its weight there. A check that reported meanwhile keeps its own word.
    pub fn decide(&mut self, decided: &BTreeMap<CheckKey, bool>) {
        for (check, up) in decided {
            if self.unproven.remove(check)
                && let Some(tracker) = self.trackers.get_mut(check)
                && tracker.last.is_none()
            {
                tracker.up = *up;
            }
            self.refresh(check);
        }
    }

    pub fn is_down(&self, check: &CheckKey) -> bool {
        self.trackers.get(check).is_some_and(|t| !t.up)
    }

    /// The backends held down, and the ones the kernel decides (unproven), for the worker.
    pub fn held(&self) -> (HeldDown, HeldDown) {
        (self.down.clone(), self.unproven_backends.clone())
    }

    /// The backends a check decides.
    pub fn backends_of<'a>(&'a self, check: &CheckKey) -> impl Iterator<Item = &'a BackendKey> {
        self.by_check
            .get(check)
            .into_iter()
            .flatten()
            .map(|&i| &self.backends[i].0)
    }

    /// Every checked backend with its check's tracker, in config order.
    pub fn tracked(&self) -> impl Iterator<Item = (&BackendKey, &Tracker)> {
        self.backends
            .iter()
            .filter_map(|(b, c)| Some((b, self.trackers.get(c)?)))
    }

    /// The check of a backend.
    pub fn check_of(&self, backend: &BackendKey) -> Option<&CheckKey> {
        self.by_backend.get(backend).map(|&i| &self.backends[i].1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loaded(health: &str) -> Loaded {
        let text = format!(
            r#"{{"public":[{{"address":"203.0.113.10"}}],"forwards":[
                {{"name":"web","listen":"203.0.113.10:80","backends":["10.0.0.2","10.0.0.3"],"health":{health}}},
                {{"name":"alt","listen":"203.0.113.10:81","backends":["10.0.0.2:80"],"health":{health}}}]}}"#
        );
        Loaded::new(
            crate::config::check("t".into(), text.as_bytes()),
            Vec::new(),
        )
        .expect("valid")
    }

    fn of(loaded: &Loaded) -> Checks {
        Checks::of(loaded, &backends_of(loaded))
    }

    #[test]
    fn one_check_per_target_and_kind_and_a_reload_keeps_state_across_schedules() {
        let old = loaded(r#"{"check":"tcp","interval":2}"#);
        let mut checks = of(&old);
        assert_eq!(checks.probes.len(), 2, "10.0.0.2:80 is checked once");
        assert_eq!(checks.backends.len(), 3);
        let target: SocketAddr = "10.0.0.2:80".parse().expect("addr");
        let key = checks
            .probes
            .keys()
            .find(|k| k.target == target)
            .cloned()
            .expect("key");
        checks.decide(&[(key.clone(), false)].into_iter().collect());
        assert!(checks.is_down(&key));
        let (down, unproven) = checks.held();
        assert_eq!(down.len(), 2, "both forwards' backends on it");
        assert_eq!(unproven.len(), 1, "10.0.0.3 is not decided yet");

        let interval = of(&loaded(r#"{"check":"tcp","interval":5}"#)).carry_over(&checks);
        assert!(interval.is_down(&key), "a new interval keeps the state");
        assert!(!interval.unproven.contains(&key));

        let http = of(&loaded(r#"{"check":"http","interval":2}"#)).carry_over(&checks);
        assert!(
            http.probes.keys().all(|k| http.unproven.contains(k)),
            "another kind of check starts unproven"
        );
    }
}
