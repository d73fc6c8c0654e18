//! `portfwd plan`: what apply would change, for people (`+`/`~`/`-`) or pipelines (`--json`,
//! `--detailed-exitcode`, `--out`).

use super::args::PlanArgs;
use super::style::Painter;
use crate::config::{self, Config};
use crate::kernel::ipvs::{Ipvs, NetlinkIpvs};
use crate::kernel::links::RtnlLinks;
use crate::kernel::listeners::{self, Listener};
use crate::kernel::modules::SystemModules;
use crate::kernel::sysctl::{Known, ProcSysctl};
use crate::plan::guard::{self, Guard};
use crate::plan::planfile::{self, PlanFile};
use crate::plan::{self as planner, Plan, human, json};
use crate::state::desired::{self, Desired};
use crate::state::host::{self, HostActual, HostDesired};
use crate::state::ipvs::Table;
use crate::state::snapshot::{Snapshot, from_snapshot};
use std::path::Path;

/// A valid config, ready to plan with.
pub struct Loaded {
    pub source: String,
    pub text: Vec<u8>,
    pub config: Config,
    pub desired: Desired,
    pub host: HostDesired,
}

impl Loaded {
    /// Forward names in config order, for grouping the human output (borrowed: a plan of
    /// thousands of forwards with nothing to change needs none of them).
    pub fn forward_names(&self) -> Vec<&str> {
        self.config.forwards.iter().map(|f| &*f.name).collect()
    }
}

/// Reads and checks the config at `path`; prints its problems (warnings too) to standard
/// error. `None` when it is invalid.
pub fn load(path: &Path, err: Painter) -> Option<Loaded> {
    warn_untrusted(path, err);
    let (loaded, text) = config::load_with_text(path);
    from_loaded(loaded, text, err)
}

/// Warns about a file someone else could have changed (apply refuses it instead).
pub fn warn_untrusted(path: &Path, err: Painter) {
    if path.as_os_str() == config::STDIN_NAME {
        return;
    }
    for p in config::trust::problems(path) {
        eprintln!("{} {p}; `portfwd apply` refuses it", err.yellow("warning:"));
    }
}

/// Checks config text (e.g. from a plan file).
pub fn from_text(source: String, text: Vec<u8>, err: Painter) -> Option<Loaded> {
    let loaded = config::check(source, &text);
    from_loaded(loaded, text, err)
}

/// Checks a config already read (apply checks the file's permissions itself, as errors).
pub fn from_loaded(loaded: config::Loaded, text: Vec<u8>, err: Painter) -> Option<Loaded> {
    for d in &loaded.diagnostics {
        eprintln!("{}", super::validate::render(&loaded.source, d, err));
    }
    let Some(config) = loaded.config else {
        let errors = loaded.errors().count();
        eprintln!(
            "{} {}: {errors} error{} in the config; nothing was planned",
            err.red("error:"),
            loaded.source,
            if errors == 1 { "" } else { "s" }
        );
        return None;
    };
    Some(Loaded {
        source: loaded.source,
        text,
        desired: desired::from_config(&config),
        host: host::from_config(&config),
        config,
    })
}

/// The plan and its guards. `host` is `None` for a plan against a snapshot. `listeners`
/// reads the host's sockets (`None` when they are unknown); it is called only when the plan
/// creates a service, the only change that can shadow one: a plan with nothing to create
/// spares the socket dumps.
pub fn compute(
    loaded: &Loaded,
    actual: &Table,
    host: Option<&HostActual>,
    listeners: impl FnOnce() -> Option<Vec<Listener>>,
) -> (Plan, Vec<Guard>) {
    let plan = planner::build(&loaded.desired, actual, host.map(|h| (&loaded.host, h)));
    let listeners = if guard::creates_services(&plan) {
        listeners()
    } else {
        None
    };
    let guards = guard::check(
        &plan,
        &loaded.desired,
        actual,
        &loaded.config.safety,
        listeners.as_deref(),
    );
    (plan, guards)
}

/// The fingerprint of the state a plan against `actual` (and `host`, when covered) is
/// computed from: what a saved plan and the JSON document record, and apply checks.
pub fn fingerprint(loaded: &Loaded, actual: &Table, host: Option<&HostActual>) -> String {
    planner::state_fingerprint(&loaded.desired, actual, host.map(|h| (&loaded.host, h)))
}

/// The host's listening sockets, or `None` (with a warning) when they cannot be read.
pub fn host_listeners(err: Painter) -> Option<Vec<Listener>> {
    match listeners::read() {
        Ok(l) => Some(l),
        Err(e) => {
            eprintln!(
                "{} cannot read the host's sockets ({e}); not checking whether a forward shadows a local service",
                err.yellow("warning:")
            );
            None
        }
    }
}

/// The doctor's warnings that apply does not fix itself, added to the plan.
pub fn add_doctor_warnings(plan: &mut Plan, loaded: &Loaded, host: &HostActual) {
    let mut sysctl = Known {
        values: &host.sysctls,
        inner: ProcSysctl,
    };
    let facts = crate::doctor::Facts::read(&loaded.config, host.links.clone(), &mut sysctl, None);
    for f in crate::doctor::warnings(&loaded.config, &facts) {
        let fixed_by_apply = matches!(f.check, "ip-forward" | "bridge-gateway");
        if !fixed_by_apply {
            plan.warnings.push(f.message);
        }
    }
}

/// Reads the host resources the config declares (links, sysctls, modules).
pub fn read_host(want: &HostDesired) -> Result<HostActual, crate::kernel::KernelError> {
    let mut links = RtnlLinks::connect()?;
    crate::kernel::host::read_with(want, &mut links, &mut ProcSysctl, &mut SystemModules::new())
}

/// Prints a plan's errors; true when there were any.
pub fn report_errors(plan: &Plan, err: Painter) -> bool {
    for e in &plan.errors {
        eprintln!("{} {e}", err.red("error:"));
    }
    !plan.errors.is_empty()
}

fn read_snapshot(path: &Path) -> Result<Table, String> {
    let name = path.display();
    let text = std::fs::read(path).map_err(|e| format!("cannot read {name}: {e}"))?;
    let snap: Snapshot = serde_json::from_slice(&text)
        .map_err(|e| format!("{name} is not a snapshot (portfwd show --json): {e}"))?;
    from_snapshot(&snap).map_err(|e| format!("{name}: {e}"))
}

pub fn run(args: &PlanArgs, out: Painter, err: Painter) -> i32 {
    let Some(mut loaded) = load(&args.config.path, err) else {
        return 1;
    };
    if args.out.is_none() {
        // Only a plan file keeps the text: freed now, its memory holds the kernel's table
        // instead of fresh pages (a config of 1,000 forwards is some 27 pages).
        loaded.text = Vec::new();
    }
    let (actual, host, against) = match &args.from {
        Some(path) => match read_snapshot(path) {
            Ok(t) => (t, None, format!("snapshot {}", path.display())),
            Err(e) => {
                eprintln!("{} {e}", err.red("error:"));
                return 1;
            }
        },
        None => {
            let read = NetlinkIpvs::connect()
                .and_then(|mut ipvs| ipvs.read())
                .and_then(|t| Ok((t, read_host(&loaded.host)?)));
            match read {
                Ok((t, h)) => (t, Some(h), "the kernel".to_string()),
                Err(e) => {
                    eprintln!("{} {e}", err.red("error:"));
                    return 1;
                }
            }
        }
    };
    // A snapshot says nothing of the host's sockets.
    let listeners = || host.as_ref().and_then(|_| host_listeners(err));
    let (plan, guards) = compute(&loaded, &actual, host.as_ref(), listeners);
    let mut plan = plan;
    if let Some(h) = &host {
        add_doctor_warnings(&mut plan, &loaded, h);
    }
    let against_id = match &args.from {
        Some(path) => format!("snapshot:{}", path.display()),
        None => "kernel".to_string(),
    };
    // Only a pipeline's document and a plan file record the state's fingerprint.
    let state = if args.json || args.out.is_some() {
        fingerprint(&loaded, &actual, host.as_ref())
    } else {
        String::new()
    };
    let doc = json::document(&plan, &guards, &loaded.source, &against_id, &state);
    if args.json {
        print!("{}", json::to_text(&doc));
    } else {
        let forwards = loaded.forward_names();
        let cx = human::Context {
            config: &loaded.source,
            against: &against,
            forwards: &forwards,
            drain: None,
        };
        print!("{}", human::render(&plan, &guards, &cx, out));
    }
    if let Some(path) = &args.out {
        let mut file = PlanFile {
            format: planfile::FORMAT.to_string(),
            portfwd_version: env!("CARGO_PKG_VERSION").to_string(),
            config_source: loaded.source.clone(),
            config_text: String::from_utf8_lossy(&loaded.text).into_owned(),
            state_fingerprint: state.clone(),
            host_planned: host.is_some(),
            plan: serde_json::to_value(&doc).unwrap_or_default(),
            checksum: String::new(),
        };
        if let Err(e) = file.save(path) {
            eprintln!("{} {e}", err.red("error:"));
            return 1;
        }
        if !args.json {
            println!(
                "Saved the plan to {}; `portfwd apply {}` applies exactly it.",
                path.display(),
                path.display()
            );
        }
    }
    if report_errors(&plan, err) {
        return 1;
    }
    if args.detailed_exitcode && !plan.is_empty() {
        2
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hosts_sockets_are_read_only_for_a_plan_that_creates_a_service() {
        let text = br#"{"public":[{"address":"203.0.113.10"}],"forwards":[{"name":"ssh","listen":"203.0.113.10:2222","backends":["10.0.0.2:22"]}]}"#;
        let loaded =
            from_text("test".into(), text.to_vec(), Painter { enabled: false }).expect("valid");
        let mut asked = 0;
        let (plan, _) = compute(&loaded, &Table::default(), None, || {
            asked += 1;
            Some(Vec::new())
        });
        assert!(!plan.is_empty());
        assert_eq!(asked, 1);
        let (plan, _) = compute(&loaded, &loaded.desired.to_table(), None, || {
            asked += 1;
            None
        });
        assert!(plan.is_empty());
        assert_eq!(asked, 1, "nothing to create: the sockets are not read");
    }
}
