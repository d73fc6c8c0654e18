//! `portfwd apply`: lock, read the kernel, plan, show, check the guards, ask, apply as one
//! unit, verify. Exits 0 when the kernel matches the config at the end, 1 otherwise.

use super::args::{ApplyArgs, DEFAULT_CONFIG};
use super::plan::{self, Loaded};
use super::style::Painter;
use crate::apply::{self, Before, HostKernel, Options, Outcome, System, VerifyScope, lock};
use crate::kernel::ipvs::{Ipvs, NetlinkIpvs};
use crate::kernel::links::RtnlLinks;
use crate::kernel::modules::SystemModules;
use crate::kernel::sysctl::ProcSysctl;
use crate::plan::{Plan, human, json, planfile::PlanFile};
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

pub fn run(args: &ApplyArgs, out: Painter, err: Painter) -> i32 {
    match apply(args, out, err) {
        Ok(()) => 0,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("{} {message}", err.red("error:"));
            }
            1
        }
    }
}

/// Errors are returned as their message; an empty message means it was printed already.
fn apply(args: &ApplyArgs, out: Painter, err: Painter) -> Result<(), String> {
    // As root, act only on files nobody else could have changed (ssh's StrictModes).
    let input = args.planfile.clone().unwrap_or_else(|| config_path(args));
    if input.as_os_str() != crate::config::STDIN_NAME {
        if let Some(target) = crate::config::trust::symlink_target(&input) {
            eprintln!("note: {} is a symlink to {target}", input.display());
        }
        let problems = crate::config::trust::problems(&input);
        if !problems.is_empty() {
            return Err(format!(
                "refusing to apply: {}; fix the permissions (e.g. chown root: and chmod 644), nothing was changed",
                problems.join("; ")
            ));
        }
    }
    let saved = match &args.planfile {
        Some(path) => Some(PlanFile::load(path)?),
        None => None,
    };
    let loaded = match &saved {
        Some(file) => plan::from_text(
            file.config_source.clone(),
            file.config_text.clone().into_bytes(),
            err,
        ),
        None => {
            let (loaded, text) = crate::config::load_with_text(&config_path(args));
            plan::from_loaded(loaded, text, err)
        }
    }
    .ok_or_else(String::new)?;

    // Connect first: without root or IPVS this fails with the advice that fits.
    let mut ipvs = NetlinkIpvs::connect().map_err(|e| e.to_string())?;
    let lock_path = std::env::var_os("PORTFWD_LOCK_FILE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(lock::DEFAULT_PATH));
    let _lock = lock::acquire(
        &lock_path,
        Duration::from_secs(args.lock_timeout),
        &mut |holder| {
            eprintln!(
                "waiting for another portfwd apply to finish (pid {holder}, lock {})",
                lock_path.display()
            )
        },
    )?;

    let actual = ipvs.read().map_err(|e| e.to_string())?;
    let mut links = RtnlLinks::connect().map_err(|e| e.to_string())?;
    let mut sysctl = ProcSysctl;
    let mut modules = SystemModules::new();
    let host_actual =
        crate::kernel::host::read_with(&loaded.host, &mut links, &mut sysctl, &mut modules)
            .map_err(|e| e.to_string())?;
    // A saved plan made against a snapshot covers IPVS only, and so does applying it.
    let host_planned = saved.as_ref().is_none_or(|f| f.host_planned);
    let covered = host_planned.then_some(&host_actual);
    let (plan, guards) = plan::compute(&loaded, &actual, covered, || plan::host_listeners(err));
    let mut plan = plan;
    plan::add_doctor_warnings(&mut plan, &loaded, &host_actual);

    if let Some(file) = &saved {
        let state = plan::fingerprint(&loaded, &actual, covered);
        check_saved_plan(file, &plan, &loaded, &state)?;
    }

    let forwards = loaded.forward_names();
    let cx = human::Context {
        config: &loaded.source,
        against: "the kernel",
        forwards: &forwards,
        drain: args.drain,
    };
    print!("{}", human::render(&plan, &guards, &cx, out));
    if plan::report_errors(&plan, err) {
        return Err("the plan cannot be applied; nothing was changed".into());
    }
    if plan.is_empty() {
        return Ok(());
    }

    let blocking: Vec<_> = guards
        .iter()
        .filter(|g| match g.flag {
            "--force" => !args.force,
            "--allow-shadowing" => !args.allow_shadowing,
            _ => true,
        })
        .collect();
    if !blocking.is_empty() {
        for g in &blocking {
            eprintln!(
                "{} refusing to apply: {}; run with {} if that is intended",
                err.red("error:"),
                g.message,
                g.flag
            );
        }
        return Err("nothing was changed".into());
    }

    if saved.is_none() && !args.auto_approve {
        let then = plan::fingerprint(&loaded, &actual, covered);
        confirm(out)?;
        // Time passed while the user read the plan: make sure it still holds.
        let now = ipvs.read().map_err(|e| e.to_string())?;
        let host_now =
            crate::kernel::host::read_with(&loaded.host, &mut links, &mut sysctl, &mut modules)
                .map_err(|e| e.to_string())?;
        if plan::fingerprint(&loaded, &now, Some(&host_now)) != then {
            return Err(
                "the IPVS table changed while waiting for confirmation; nothing was changed: run apply again"
                    .into(),
            );
        }
    }

    // From here on a signal rolls the apply back instead of cutting it in half.
    apply::interrupt::install();
    let options = Options {
        drain: args.drain.map(Duration::from_secs),
        poll: Duration::from_secs(1),
        stop: apply::interrupt::requested,
    };
    let mut system = System {
        ipvs: &mut ipvs,
        host: Some(HostKernel {
            links: &mut links,
            sysctl: &mut sysctl,
            modules: &mut modules,
        }),
    };
    let before = Before {
        ipvs: &actual,
        host: covered.map(|h| (&loaded.host, h)),
    };
    let report = apply::apply(
        &mut system,
        &loaded.desired,
        &before,
        &plan,
        options,
        &mut |line| eprintln!("{line}"),
    );
    report_outcome(&report, &plan, out, err)
}

fn config_path(args: &ApplyArgs) -> PathBuf {
    args.config
        .clone()
        .or_else(|| std::env::var_os("PORTFWD_CONFIG").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG))
}

/// A saved plan runs only against the state it was made from, and only if it still comes
/// out the same (it would not with a different config decoder, for one).
fn check_saved_plan(
    file: &PlanFile,
    plan: &Plan,
    loaded: &Loaded,
    state: &str,
) -> Result<(), String> {
    if file.state_fingerprint != state {
        return Err(format!(
            "the saved plan is stale: the IPVS table has changed since it was made (state {} then, {} now); nothing was changed: make a new plan",
            file.state_fingerprint, state
        ));
    }
    let doc = json::document(plan, &[], &loaded.source, "kernel", state);
    let now = serde_json::to_value(&doc.changes).unwrap_or_default();
    if file.plan.get("changes") != Some(&now) {
        return Err(
            "the saved plan's changes differ from what it would do now; nothing was changed: make a new plan"
                .into(),
        );
    }
    Ok(())
}

/// Asks on the terminal; anything but `yes` cancels.
fn confirm(out: Painter) -> Result<(), String> {
    if !std::io::stdin().is_terminal() {
        return Err(
            "apply asks for confirmation, but standard input is not a terminal; nothing was changed: review with `portfwd plan`, then run `portfwd apply --auto-approve`"
                .into(),
        );
    }
    print!(
        "\n{}\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: ",
        out.bold("Do you want to apply these changes?")
    );
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| format!("cannot read the answer: {e}"))?;
    if answer.trim() == "yes" {
        println!();
        Ok(())
    } else {
        Err("apply cancelled; nothing was changed".into())
    }
}

fn report_outcome(
    report: &apply::Report,
    plan: &Plan,
    out: Painter,
    err: Painter,
) -> Result<(), String> {
    let summary = plan.summary();
    match &report.outcome {
        Outcome::Done { operations } => {
            for e in &report.drain_failures {
                eprintln!("{} while draining: {e}", err.red("error:"));
            }
            match &report.verify {
                Some(Ok(rest)) if rest.is_empty() && report.drain_failures.is_empty() => {
                    let checked = match report.verify_scope {
                        VerifyScope::Touched(n) => format!(
                            "the {n} service{} it touched {} read back and {} the config",
                            if n == 1 { "" } else { "s" },
                            if n == 1 { "was" } else { "were" },
                            if n == 1 { "matches" } else { "match" },
                        ),
                        VerifyScope::ServiceList => "each was acknowledged by the kernel; the service list was read back and matches the config".to_string(),
                    };
                    println!(
                        "{} {} added, {} changed, {} removed ({operations} kernel operations; {checked}).",
                        out.green("Apply complete:"),
                        summary.add,
                        summary.change,
                        summary.remove
                    );
                    Ok(())
                }
                Some(Ok(rest)) => {
                    for r in rest {
                        eprintln!("  still differs: {r}");
                    }
                    Err(format!(
                        "after applying, the table read back differs from the config in {} place(s) (something else changed it, or the kernel adjusted a value)",
                        rest.len()
                    ))
                }
                Some(Err(e)) => Err(format!("applied, but could not read the table back: {e}")),
                None => Err("applied, but the result was not verified".into()),
            }
        }
        Outcome::RolledBack { failures, undone } => {
            for e in failures {
                eprintln!("{} {e}", err.red("error:"));
            }
            Err(format!(
                "the apply failed and was rolled back: {undone} operation(s) already done were undone, and the kernel was read back exactly as it was before"
            ))
        }
        Outcome::Incomplete {
            failures,
            undo_failures,
            remaining,
        } => {
            for e in failures {
                eprintln!("{} {e}", err.red("error:"));
            }
            for e in undo_failures {
                eprintln!("{} while undoing: {e}", err.red("error:"));
            }
            eprintln!("The table is NOT as it was before the apply. What differs:");
            for r in remaining {
                eprintln!("  {r}");
            }
            Err("the apply failed and the undo was incomplete; run `portfwd plan` to see the state and apply again".into())
        }
    }
}
