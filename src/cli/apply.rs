//! `portfwd apply`: lock, read the kernel, plan, show, check the guards, ask, apply as one
//! unit, verify. Exits 0 when the kernel matches the config at the end, 1 otherwise.

use super::args::{ApplyArgs, DEFAULT_CONFIG};
use super::plan::{checked_config, host_listeners, report_errors};
use super::style::Painter;
use crate::apply::{self, Options, Outcome, Report, VerifyScope, lock};
use crate::engine::{self, Error, Kernel};
use crate::plan::{Plan, human, planfile::PlanFile};
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

pub fn run(args: &ApplyArgs, out: Painter, err: Painter) -> i32 {
    match apply(args, out, err) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{} {e}", err.red("error:"));
            1
        }
    }
}

fn apply(args: &ApplyArgs, out: Painter, err: Painter) -> Result<(), Error> {
    let input = args.planfile.clone().unwrap_or_else(|| config_path(args));
    if let Some(target) = crate::config::trust::symlink_target(&input) {
        eprintln!("note: {} is a symlink to {target}", input.display());
    }
    engine::check_trusted(&input)?;
    let saved = match &args.planfile {
        Some(path) => Some(PlanFile::load(path).map_err(Error::PlanFile)?),
        None => None,
    };
    let mut loaded = match &saved {
        Some(file) => {
            let text = file.config_text.clone().into_bytes();
            let checked = crate::config::check(file.config_source.clone(), &text);
            checked_config(checked, text, err)?
        }
        None => {
            let (checked, text) = crate::config::load_with_text(&input);
            checked_config(checked, text, err)?
        }
    };
    if let Some(note) = engine::held_by_daemon(&mut loaded) {
        eprintln!("note: {note}");
    }

    let mut kernel = Kernel::connect()?;
    let lock_path = engine::lock_path();
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

    // A saved plan made against a snapshot covers IPVS only, and so does applying it.
    let host_planned = saved.as_ref().is_none_or(|f| f.host_planned);
    let planned = kernel.plan(&loaded, host_planned, || host_listeners(err))?;
    if let Some(file) = &saved {
        planned.check_saved(file, &loaded)?;
    }

    let forwards = loaded.forward_names();
    let cx = human::Context {
        config: &loaded.source,
        against: "the kernel",
        forwards: &forwards,
        drain: args.drain,
    };
    print!(
        "{}",
        human::render(&planned.plan, &planned.guards, &cx, out)
    );
    if report_errors(&planned.plan, err) {
        return Err(Error::PlanErrors);
    }
    if planned.plan.is_empty() {
        return Ok(());
    }
    let blocking = planned.blocking(args.force, args.allow_shadowing);
    if !blocking.is_empty() {
        for g in &blocking {
            eprintln!(
                "{} refusing to apply: {}; run with {} if that is intended",
                err.red("error:"),
                g.message,
                g.flag
            );
        }
        return Err(Error::Refused);
    }
    if saved.is_none() && !args.auto_approve {
        confirm(out)?;
        // Time passed while the user read the plan: make sure it still holds.
        if !kernel.unchanged_since(&loaded, &planned)? {
            return Err(Error::ChangedWhileAsking);
        }
    }

    // From here on a signal rolls the apply back instead of cutting it in half.
    apply::interrupt::install();
    let options = Options {
        drain: args.drain.map(Duration::from_secs),
        poll: Duration::from_secs(1),
        stop: apply::interrupt::requested,
    };
    let report = kernel.apply(&loaded, &planned, options, &mut |line| eprintln!("{line}"));
    report_outcome(&report, &planned.plan, out, err)
}

fn config_path(args: &ApplyArgs) -> PathBuf {
    args.config
        .clone()
        .or_else(|| std::env::var_os("PORTFWD_CONFIG").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG))
}

/// Asks on the terminal; anything but `yes` cancels.
fn confirm(out: Painter) -> Result<(), Error> {
    if !std::io::stdin().is_terminal() {
        return Err(Error::NoTerminal);
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
        .map_err(Error::Answer)?;
    if answer.trim() == "yes" {
        println!();
        Ok(())
    } else {
        Err(Error::Cancelled)
    }
}

fn report_outcome(report: &Report, plan: &Plan, out: Painter, err: Painter) -> Result<(), Error> {
    match &report.outcome {
        Outcome::Done { operations } => {
            for e in &report.drain_failures {
                eprintln!("{} while draining: {e}", err.red("error:"));
            }
            match &report.verify {
                Some(Ok(rest)) if rest.is_empty() && report.drain_failures.is_empty() => {
                    let summary = plan.summary();
                    println!(
                        "{} {} added, {} changed, {} removed ({operations} kernel operations; {}).",
                        out.green("Apply complete:"),
                        summary.add,
                        summary.change,
                        summary.remove,
                        verified(report.verify_scope)
                    );
                    Ok(())
                }
                Some(Ok(rest)) => {
                    for r in rest {
                        eprintln!("  still differs: {r}");
                    }
                    Err(Error::StillDiffers(rest.len()))
                }
                Some(Err(e)) => Err(Error::ReadBack(e.clone())),
                None => Err(Error::Unverified),
            }
        }
        Outcome::RolledBack { failures, undone } => {
            for e in failures {
                eprintln!("{} {e}", err.red("error:"));
            }
            Err(Error::RolledBack(*undone))
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
            Err(Error::Incomplete)
        }
    }
}

/// What the read-back after an apply covered, in words.
fn verified(scope: VerifyScope) -> String {
    match scope {
        VerifyScope::Touched(n) => format!(
            "the {n} service{} it touched {} read back and {} the config",
            if n == 1 { "" } else { "s" },
            if n == 1 { "was" } else { "were" },
            if n == 1 { "matches" } else { "match" },
        ),
        VerifyScope::ServiceList => "each was acknowledged by the kernel; the service list was read back and matches the config".to_string(),
    }
}
