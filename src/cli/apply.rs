//! `portfwd apply`: read the kernel, plan, show, check the guards, ask, then lock, check that
//! the kernel did not change meanwhile, apply as one unit, verify (`engine::reconcile`).
//! Exits 0 when the kernel matches the config at the end, 1 otherwise.

use super::args::{ApplyArgs, DEFAULT_CONFIG};
use super::plan::{checked_config, host_listeners, report_errors};
use super::style::Painter;
use crate::apply::{self, Outcome, Report, VerifyScope};
use crate::engine::{
    self, Error, Kernel, Loaded, Locking, Overrides, Planned, Policy, Scope, Steward, Trigger,
};
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
    // A saved plan made against a snapshot covers IPVS only, and so does applying it.
    let host_planned = saved.as_ref().is_none_or(|f| f.host_planned);
    let interactive = saved.is_none() && !args.auto_approve;
    let policy = Policy {
        trigger: Trigger::Apply,
        scope: Scope::Whole { host: host_planned },
        guards: Some(Overrides {
            force: args.force,
            allow_shadowing: args.allow_shadowing,
        }),
        drain: args.drain.map(Duration::from_secs),
        // The lock is not held while a person reads the plan: other applies and
        // `portfwd run` go on meanwhile, and the plan is refused if they changed the kernel.
        locking: if interactive {
            Locking::AfterApproval
        } else {
            Locking::BeforeRead
        },
        lock_timeout: Duration::from_secs(args.lock_timeout),
        doctor: true,
    };
    let lock_path = engine::lock_path();
    let mut cli = Cli {
        args,
        saved: saved.as_ref(),
        interactive,
        lock_path: &lock_path,
        told_waiting: false,
        out,
        err,
    };
    let result = engine::reconcile(
        &mut kernel,
        &loaded,
        // What `portfwd run` holds down is in `loaded` already (`held_by_daemon`).
        None,
        &policy,
        &lock_path,
        &mut cli,
    );
    if let Err(Error::Refused(blocking)) = &result {
        for (message, flag) in blocking {
            eprintln!(
                "{} refusing to apply: {message}; run with {flag} if that is intended",
                err.red("error:"),
            );
        }
    }
    result.map(drop)
}

/// What `portfwd apply` shows and asks at each step.
struct Cli<'a> {
    args: &'a ApplyArgs,
    saved: Option<&'a PlanFile>,
    interactive: bool,
    lock_path: &'a std::path::Path,
    told_waiting: bool,
    out: Painter,
    err: Painter,
}

impl Steward for Cli<'_> {
    fn planned(&mut self, loaded: &Loaded, planned: &Planned) -> Result<(), Error> {
        if let Some(file) = self.saved {
            planned.check_saved(file, loaded)?;
        }
        let forwards = loaded.forward_names();
        let cx = human::Context {
            config: &loaded.source,
            against: "the kernel",
            forwards: &forwards,
            drain: self.args.drain,
        };
        print!(
            "{}",
            human::render(&planned.plan, &planned.guards, &cx, self.out)
        );
        report_errors(&planned.plan, self.err);
        Ok(())
    }

    fn approve(&mut self, _planned: &Planned) -> Result<(), Error> {
        if self.interactive {
            confirm(self.out)?;
        }
        // From here on a signal rolls the apply back instead of cutting it in half.
        apply::interrupt::install();
        Ok(())
    }

    fn waiting(&mut self, holder: &str) {
        if !std::mem::replace(&mut self.told_waiting, true) {
            eprintln!(
                "waiting for another portfwd apply to finish (pid {holder}, lock {})",
                self.lock_path.display()
            );
        }
    }

    fn stop(&self) -> bool {
        apply::interrupt::requested()
    }

    fn applied(&mut self, planned: &Planned, report: &Report) {
        print_outcome(report, &planned.plan, self.out, self.err);
    }

    fn say(&mut self, line: String) {
        eprintln!("{line}");
    }

    fn listeners(&mut self) -> Option<Vec<crate::state::host::Listener>> {
        host_listeners(self.err)
    }
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

/// What an apply did, for the person who ran it; `engine::reconcile` makes it the result.
fn print_outcome(report: &Report, plan: &Plan, out: Painter, err: Painter) {
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
                }
                Some(Ok(rest)) => {
                    for r in rest {
                        eprintln!("  still differs: {r}");
                    }
                }
                _ => {}
            }
        }
        Outcome::RolledBack { failures, .. } => {
            for e in failures {
                eprintln!("{} {e}", err.red("error:"));
            }
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
