//! The command-line front end: parses arguments, runs one command, maps the outcome to the
//! documented exit codes (0 success, 1 error or invalid input, 2 changes present with
//! `plan --detailed-exitcode`).

pub mod apply;
pub mod args;
pub mod debug_restore;
pub mod doctor;
pub mod generate;
pub mod import;
mod manpages;
pub mod plan;
mod privilege;
pub mod show;
pub mod status;
pub mod style;
pub mod validate;

use args::{Cli, Command};
use clap::{CommandFactory, FromArgMatches};

/// Runs portfwd with the process's arguments and returns the exit code.
pub fn main() -> i32 {
    let parsed = Cli::command()
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m).map(|cli| (cli, m)));
    let (cli, matches) = match parsed {
        Ok(parsed) => parsed,
        Err(e) => {
            let _ = e.print();
            // Usage errors exit 1, not clap's 2: for `--detailed-exitcode`, 2 means "changes".
            return if e.use_stderr() { 1 } else { 0 };
        }
    };
    let out = style::painter(cli.color, false);
    let err = style::painter(cli.color, true);
    // `validate FILE -c OTHER` names two configs; PORTFWD_CONFIG beside FILE does not.
    if let Command::Validate(args) = &cli.command
        && args.file.is_some()
        && matches
            .subcommand_matches("validate")
            .and_then(|m| m.value_source("path"))
            == Some(clap::parser::ValueSource::CommandLine)
    {
        eprintln!(
            "{} give the config once: `portfwd validate FILE` or `portfwd validate -c FILE`",
            err.red("error:")
        );
        return 1;
    }
    let live = match &cli.command {
        Command::Run(_) => Some("run"),
        Command::Apply(_) => Some("apply"),
        Command::Show(_) => Some("show"),
        Command::Plan(args) if args.from.is_none() => Some("plan"),
        Command::Import(args) if args.from_kernel => Some("import --from-kernel"),
        _ => None,
    };
    if let Some(Err(e)) = live.map(privilege::require_net_admin) {
        eprintln!("{} {e}", err.red("error:"));
        return 1;
    }
    match &cli.command {
        Command::Validate(args) => validate::run(args, out, err),
        Command::Plan(args) => plan::run(args, out, err),
        Command::Apply(args) => apply::run(args, out, err),
        Command::Doctor(args) => doctor::run(args, out, err),
        Command::Run(args) => crate::daemon::run(crate::daemon::Options {
            config: args.config.path.clone(),
            resync: std::time::Duration::from_secs(args.resync),
            force: args.force,
            drain: args.drain.map(std::time::Duration::from_secs),
            metrics: args.metrics,
        }),
        Command::Status(args) => status::run(args, out, err),
        Command::Import(args) => import::run(args, err),
        Command::Show(args) => show::run(args, err),
        Command::DebugRestore { file } => debug_restore::run(file, err),
        Command::Gen { target } => generate::run(target, out, err),
        Command::Manpage { dir } => {
            let written = match dir {
                Some(dir) => manpages::write_all(dir).map(|_| ()),
                None => manpages::top(&mut std::io::stdout()),
            };
            match written {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("{} cannot write the man pages: {e}", err.red("error:"));
                    1
                }
            }
        }
        Command::Schema => {
            print!("{}", crate::config::schema::schema_json());
            0
        }
        Command::Completions { shell } => {
            clap_complete::generate(
                *shell,
                &mut visible_command(),
                "portfwd",
                &mut std::io::stdout(),
            );
            0
        }
    }
}

/// The command line without its hidden commands, which clap_complete would otherwise offer.
fn visible_command() -> clap::Command {
    let full = Cli::command();
    let visible = full
        .get_subcommands()
        .filter(|c| !c.is_hide_set())
        .cloned()
        .collect::<Vec<_>>();
    let mut cmd = clap::Command::new("portfwd").subcommands(visible);
    for arg in full.get_arguments() {
        cmd = cmd.arg(arg.clone());
    }
    cmd
}
