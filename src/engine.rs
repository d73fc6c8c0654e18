//! The pipeline every command and the daemon share: load the config, read the kernel (or a
//! snapshot), plan, check the guards, apply, verify. It decides; the CLI parses arguments,
//! asks and prints.

use crate::apply::{self, Before, HostKernel, Options, System};
use crate::config::model::{CheckKind, Forward, Health};
use crate::config::{self, Config};
use crate::kernel::KernelError;
use crate::kernel::ipvs::{Ipvs, NetlinkIpvs};
use crate::kernel::links::{Links, RtnlLinks};
use crate::kernel::modules::{Modules, SystemModules};
use crate::kernel::sysctl::{Known, ProcSysctl, Sysctl};
use crate::plan::guard::{self, Guard};
use crate::plan::planfile::PlanFile;
use crate::plan::{self as planner, Plan, json};
use crate::state::desired::{self, Desired};
use crate::state::host::{self, HostActual, HostDesired, Listener};
use crate::state::ipvs::Table;
use crate::state::links::LinkTable;
use crate::state::snapshot::{Snapshot, from_snapshot};
use crate::state::sync::SyncDaemon;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod reconcile;
pub use reconcile::{Locking, Overrides, Policy, Reconciled, Scope, Steward, Trigger, reconcile};

/// Why a command could not do what it was asked; nothing was changed unless it says so.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{config}: {count} error{} in the config", plural(*count))]
    InvalidConfig { config: String, count: usize },
    #[error(transparent)]
    Kernel(#[from] KernelError),
    #[error(transparent)]
    Lock(#[from] apply::lock::LockError),
    #[error("{0}")]
    Snapshot(String),
    /// Arguments that cannot work together.
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    PlanFile(String),
    #[error(
        "refusing to apply: {0}; fix the permissions (e.g. chown root: and chmod 644), nothing was changed"
    )]
    Untrusted(String),
    #[error(
        "the saved plan is stale: the IPVS table has changed since it was made (state {then} then, {now} now); nothing was changed: make a new plan"
    )]
    StalePlan { then: String, now: String },
    #[error(
        "the saved plan's changes differ from what it would do now; nothing was changed: make a new plan"
    )]
    PlanChanged,
    /// What makes the plan impossible (each is reported on its own first).
    #[error("the plan cannot be applied; nothing was changed")]
    PlanErrors(Vec<String>),
    /// Guards refused the plan: each guard's message and the flag that overrides it (each is
    /// reported on its own first).
    #[error("nothing was changed")]
    Refused(Vec<(String, &'static str)>),
    #[error(
        "the IPVS table changed while waiting for confirmation; nothing was changed: run apply again"
    )]
    ChangedWhileAsking,
    #[error(
        "apply asks for confirmation, but standard input is not a terminal; nothing was changed: review with `portfwd plan`, then run `portfwd apply --auto-approve`"
    )]
    NoTerminal,
    #[error("cannot read the answer: {0}")]
    Answer(std::io::Error),
    #[error("apply cancelled; nothing was changed")]
    Cancelled,
    #[error(
        "after applying, the table read back differs from the config in {0} place(s) (something else changed it, or the kernel adjusted a value)"
    )]
    StillDiffers(usize),
    #[error("applied, but could not read the table back: {0}")]
    ReadBack(KernelError),
    #[error("applied, but the result was not verified")]
    Unverified,
    #[error("applied, but {0} operation(s) failed while draining")]
    DrainFailed(usize),
    #[error(
        "the apply failed and was rolled back: {0} operation(s) already done were undone, and the kernel was read back exactly as it was before"
    )]
    RolledBack(usize),
    #[error(
        "the apply failed and the undo was incomplete; run `portfwd plan` to see the state and apply again"
    )]
    Incomplete,
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// A valid config, ready to plan with.
#[derive(Clone)]
pub struct Loaded {
    pub source: String,
    pub text: Vec<u8>,
    pub config: Config,
    pub desired: Desired,
    pub host: HostDesired,
    /// Each forward's position in `config.forwards`, by name (looked up once per service).
    by_name: HashMap<Arc<str>, usize>,
}

impl Loaded {
    /// A checked config: usable when it has no error. Its diagnostics are the caller's to show.
    pub fn new(checked: config::Checked, text: Vec<u8>) -> Result<Loaded, Error> {
        let count = checked.errors().count();
        let Some(config) = checked.config else {
            return Err(Error::InvalidConfig {
                config: checked.source,
                count,
            });
        };
        Ok(Loaded {
            source: checked.source,
            text,
            desired: desired::from_config(&config),
            host: host::from_config(&config),
            by_name: config
                .forwards
                .iter()
                .enumerate()
                .map(|(i, f)| (Arc::clone(&f.name), i))
                .collect(),
            config,
        })
    }

    /// The forward called `name` and its health checks, when it has any.
    pub fn checked(&self, name: &str) -> Option<(&Forward, &Health)> {
        let forward = self.config.forwards.get(*self.by_name.get(name)?)?;
        let health = forward
            .health
            .as_ref()
            .filter(|h| h.check != CheckKind::None)?;
        Some((forward, health))
    }

    /// Forward names in config order, for grouping the human output.
    pub fn forward_names(&self) -> Vec<&str> {
        self.config.forwards.iter().map(|f| &*f.name).collect()
    }

    /// The fingerprint of the state a plan against `actual` (and `host`, when covered) is
    /// computed from: what a saved plan and the JSON document record, and apply checks.
    pub fn fingerprint(&self, actual: &Table, host: Option<&HostActual>) -> String {
        planner::state_fingerprint(&self.desired, actual, host.map(|h| (&self.host, h)))
    }
}

/// A table from a snapshot file (`portfwd show --json`) or `ipvsadm -S -n` rules, with a
/// note for each line of rules that was not UTF-8.
pub fn read_snapshot(path: &Path) -> Result<(Table, Vec<String>), Error> {
    let name = config::source_name(path);
    let text = config::read_input(path)
        .map_err(|e| Error::Snapshot(format!("cannot read {name}: {e}")))?;
    // An empty file is more likely a failed redirect than an empty table, which
    // `portfwd show --json` writes as such.
    if text.trim_ascii().is_empty() {
        return Err(Error::Snapshot(format!(
            "{name} is empty: a snapshot is what `portfwd show --json` prints (an empty table too)"
        )));
    }
    // `ipvsadm -S -n` output is read as well: it is what hosts have at hand.
    if !text.trim_ascii_start().starts_with(b"{") {
        let (rules, notes) = config::decode_text(&text, &name);
        let table = crate::state::ipvsadm_rules::parse(&rules).map_err(|e| {
            Error::Snapshot(format!(
                "{name} is neither a snapshot (`portfwd show --json`) nor `ipvsadm -S -n` rules: {e}"
            ))
        })?;
        return Ok((table, notes));
    }
    let mut json = serde_json::Deserializer::from_slice(&text);
    let snap: Snapshot = serde_path_to_error::deserialize(&mut json).map_err(|e| {
        let at = e.path().to_string();
        let place = match at.as_str() {
            "." | "?" => String::new(),
            _ => format!("{at}: "),
        };
        Error::Snapshot(format!(
            "{name}: {place}{} (a snapshot is what `portfwd show --json` prints; docs/snapshot.md lists its fields)",
            e.inner()
        ))
    })?;
    let table = from_snapshot(&snap).map_err(|e| Error::Snapshot(format!("{name}: {e}")))?;
    Ok((table, Vec::new()))
}

/// A computed plan, with what it was computed against.
pub struct Planned {
    pub plan: Plan,
    pub guards: Vec<Guard>,
    pub actual: Table,
    /// `None` for a plan against a snapshot, or of a saved plan that covers IPVS only.
    pub host: Option<HostActual>,
}

impl Planned {
    /// The plan and its guards. `listeners` reads the host's sockets (`None` when they are
    /// unknown); it is called only when the plan creates a service, the only change that can
    /// shadow one.
    pub fn compute(
        loaded: &Loaded,
        actual: Table,
        host: Option<HostActual>,
        listeners: impl FnOnce() -> Option<Vec<Listener>>,
    ) -> Planned {
        Planned::compute_for(&loaded.desired, loaded, actual, host, listeners)
    }

    /// As [`Planned::compute`], for `desired` (the loaded config's, with health applied, or
    /// a part of it).
    pub fn compute_for(
        desired: &Desired,
        loaded: &Loaded,
        actual: Table,
        host: Option<HostActual>,
        listeners: impl FnOnce() -> Option<Vec<Listener>>,
    ) -> Planned {
        let plan = planner::build(desired, &actual, host.as_ref().map(|h| (&loaded.host, h)));
        let listeners = if guard::creates_services(&plan) {
            listeners()
        } else {
            None
        };
        let guards = guard::check(
            &plan,
            desired,
            &actual,
            &loaded.config.safety,
            listeners.as_deref(),
        );
        Planned {
            plan,
            guards,
            actual,
            host,
        }
    }

    pub fn fingerprint(&self, loaded: &Loaded) -> String {
        loaded.fingerprint(&self.actual, self.host.as_ref())
    }

    /// The doctor's warnings that apply does not fix itself, added to the plan.
    pub fn add_doctor_warnings(&mut self, loaded: &Loaded, host: &HostActual) {
        let mut sysctl = Known {
            values: &host.sysctls,
            inner: ProcSysctl,
        };
        let facts =
            crate::doctor::Facts::read(&loaded.config, host.links.clone(), &mut sysctl, None);
        for f in crate::doctor::warnings(&loaded.config, &facts) {
            let fixed_by_apply = matches!(f.check, "ip-forward" | "bridge-gateway");
            if !fixed_by_apply {
                self.plan.warnings.push(f.message);
            }
        }
    }

    /// The guards that refuse this plan unless overridden by their flag.
    pub fn blocking(&self, force: bool, allow_shadowing: bool) -> Vec<&Guard> {
        self.guards
            .iter()
            .filter(|g| match g.flag {
                "--force" => !force,
                "--allow-shadowing" => !allow_shadowing,
                _ => true,
            })
            .collect()
    }

    /// A saved plan runs only against the state it was made from, and only if it still
    /// comes out the same (it would not with a different config decoder, for one).
    pub fn check_saved(&self, file: &PlanFile, loaded: &Loaded) -> Result<(), Error> {
        let state = self.fingerprint(loaded);
        if file.state_fingerprint != state {
            return Err(Error::StalePlan {
                then: file.state_fingerprint.clone(),
                now: state,
            });
        }
        let doc = json::document(&self.plan, &[], &loaded.source, "kernel", &state);
        let now = serde_json::to_value(&doc.changes).unwrap_or_default();
        if file.plan.get("changes") != Some(&now) {
            return Err(Error::PlanChanged);
        }
        Ok(())
    }
}

/// The kernel, each part behind its trait: the live one ([`Kernel::connect`]) or the
/// in-memory twins in tests ([`Kernel::from_parts`]).
pub struct Kernel {
    pub ipvs: Box<dyn Ipvs + Send>,
    links: Box<dyn Links + Send>,
    sysctl: Box<dyn Sysctl + Send>,
    modules: Box<dyn Modules + Send>,
}

impl Kernel {
    /// Connects to IPVS first: without root or IPVS this fails with the advice that fits.
    pub fn connect() -> Result<Kernel, KernelError> {
        Ok(Kernel::from_parts(
            Box::new(NetlinkIpvs::connect()?),
            Box::new(RtnlLinks::connect()?),
            Box::new(ProcSysctl),
            Box::new(SystemModules::new()),
        ))
    }

    pub fn from_parts(
        ipvs: Box<dyn Ipvs + Send>,
        links: Box<dyn Links + Send>,
        sysctl: Box<dyn Sysctl + Send>,
        modules: Box<dyn Modules + Send>,
    ) -> Kernel {
        Kernel {
            ipvs,
            links,
            sysctl,
            modules,
        }
    }

    /// What a pair's status needs: the host's links and addresses, the running sync daemons.
    pub fn read_pair(&mut self) -> Result<(LinkTable, Vec<SyncDaemon>), KernelError> {
        Ok((self.links.read()?, self.ipvs.read_daemons()?))
    }

    /// The IPVS table and the host resources `want` declares.
    pub fn read(&mut self, want: &HostDesired) -> Result<(Table, HostActual), KernelError> {
        let table = self.ipvs.read()?;
        let host = crate::kernel::host::read_with(
            want,
            &mut *self.links,
            &mut *self.sysctl,
            &mut *self.modules,
            &mut *self.ipvs,
        )?;
        Ok((table, host))
    }

    /// Plans against the live kernel, the doctor's warnings included. `host_planned` false
    /// leaves the host out (a saved plan made against a snapshot covers IPVS only).
    pub fn plan(
        &mut self,
        loaded: &Loaded,
        host_planned: bool,
        listeners: impl FnOnce() -> Option<Vec<Listener>>,
    ) -> Result<Planned, KernelError> {
        self.plan_for(&loaded.desired, loaded, host_planned, true, listeners)
    }

    /// As [`Kernel::plan`], for `desired` (the loaded config's with health applied); the
    /// doctor's warnings (for a person reading the plan) only when `doctor`.
    pub fn plan_for(
        &mut self,
        desired: &Desired,
        loaded: &Loaded,
        host_planned: bool,
        doctor: bool,
        listeners: impl FnOnce() -> Option<Vec<Listener>>,
    ) -> Result<Planned, KernelError> {
        let (table, host) = self.read(&loaded.host)?;
        let doctor_host = doctor.then(|| host.clone());
        let covered = host_planned.then_some(host);
        let mut planned = Planned::compute_for(desired, loaded, table, covered, listeners);
        if let Some(host) = doctor_host {
            planned.add_doctor_warnings(loaded, &host);
        }
        Ok(planned)
    }

    /// Carries out `planned` (computed for `desired`, and `host` when it covers the host)
    /// as one transaction, then verifies it.
    pub fn apply(
        &mut self,
        desired: &Desired,
        host: &HostDesired,
        planned: &Planned,
        options: Options,
        say: &mut dyn FnMut(String),
    ) -> apply::Report {
        let mut system = System {
            ipvs: &mut *self.ipvs,
            host: Some(HostKernel {
                links: &mut *self.links,
                sysctl: &mut *self.sysctl,
                modules: &mut *self.modules,
            }),
        };
        let before = Before {
            ipvs: &planned.actual,
            host: planned.host.as_ref().map(|h| (host, h)),
        };
        apply::apply(&mut system, desired, &before, &planned.plan, options, say)
    }
}

/// The config as `portfwd run` keeps it: the backends its health checks hold down (its
/// status file, while it runs) are planned as the daemon has them, so they show as health,
/// not drift, and an apply does not restore them. A note saying so, when any is held.
pub fn held_by_daemon(loaded: &mut Loaded) -> Option<String> {
    let status = crate::health::status::read(&crate::health::status::path())?;
    let held = status.down_count();
    if held == 0 {
        return None;
    }
    // Indexed once: the overlay asks for every destination.
    let down: std::collections::HashSet<(&str, std::net::IpAddr, u16)> = status
        .backends
        .iter()
        .filter(|b| !b.up)
        .map(|b| (b.forward.as_str(), b.address, b.port))
        .collect();
    let mut desired = std::mem::take(&mut loaded.desired);
    crate::health::overlay::apply(&mut desired, &|name| loaded.checked(name), &|f, a, p| {
        down.contains(&(f, a, p))
    });
    loaded.desired = desired;
    Some(format!(
        "{held} backend{} held down by the health checks of portfwd run (pid {}): planned as it keeps {}",
        if held == 1 { " is" } else { "s are" },
        status.pid,
        if held == 1 { "it" } else { "them" }
    ))
}

/// The host's listening sockets, or the error that kept them unknown.
pub fn listeners() -> std::io::Result<Vec<Listener>> {
    crate::kernel::listeners::read()
}

/// Where the apply lock lives: `PORTFWD_LOCK_FILE`, else [`apply::lock::DEFAULT_PATH`].
pub fn lock_path() -> PathBuf {
    std::env::var_os("PORTFWD_LOCK_FILE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(apply::lock::DEFAULT_PATH))
}

/// As root, act only on files nobody else could have changed (ssh's StrictModes).
pub fn check_trusted(path: &Path) -> Result<(), Error> {
    if path.as_os_str() == config::STDIN_NAME {
        return Ok(());
    }
    let problems = config::trust::problems(path);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Untrusted(problems.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hosts_sockets_are_read_only_for_a_plan_that_creates_a_service() {
        let text = br#"{"public":[{"address":"203.0.113.10"}],"forwards":[{"name":"ssh","listen":"203.0.113.10:2222","backends":["10.0.0.2:22"]}]}"#;
        let loaded = Loaded::new(config::check("test".into(), text), text.to_vec()).expect("valid");
        let mut asked = 0;
        let planned = Planned::compute(&loaded, Table::default(), None, || {
            asked += 1;
            Some(Vec::new())
        });
        assert!(!planned.plan.is_empty());
        assert_eq!(asked, 1);
        let planned = Planned::compute(&loaded, loaded.desired.to_table(), None, || {
            asked += 1;
            None
        });
        assert!(planned.plan.is_empty());
        assert_eq!(asked, 1, "nothing to create: the sockets are not read");
    }

    #[test]
    fn an_invalid_config_names_its_error_count() {
        let text = br#"{"forwards": 1}"#;
        let e = Loaded::new(config::check("t.json".into(), text), text.to_vec())
            .err()
            .expect("invalid");
        assert_eq!(e.to_string(), "t.json: 1 error in the config");
    }
}
