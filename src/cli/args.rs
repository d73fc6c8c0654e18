//! The command line, declared once: help, completions and the man page all come from here.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// The config file read when `-c` is not given.
pub const DEFAULT_CONFIG: &str = "/etc/portfwd/portfwd.json";

/// Declarative port forwarding with Linux IPVS.
///
/// portfwd reads one JSON file describing the host's public addresses, its guest bridges and
/// the port forwards, and keeps the kernel in line with it: the IPVS table, and the bridges,
/// addresses, sysctls and modules around it.
#[derive(Debug, Parser)]
#[command(name = "portfwd", version, propagate_version = true)]
pub struct Cli {
    /// When to color the output: auto colors on a terminal unless NO_COLOR is set.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a config file: syntax, fields and every rule; exits 1 when it is invalid.
    Validate(ValidateArgs),
    /// Show what apply would change: the config against the live kernel (needs root) or a
    /// snapshot (`--from`, no root needed).
    Plan(PlanArgs),
    /// Make the kernel match the config (needs root): shows the plan, asks, applies it as one
    /// unit (undone on failure) and verifies the result.
    Apply(ApplyArgs),
    /// Run as a daemon (root, in the foreground): apply, then keep the kernel in line with
    /// the config and the backends' health checks; SIGHUP reloads, SIGTERM stops (the table
    /// stays).
    Run(RunArgs),
    /// Ask the running daemon (`portfwd run`) for each forward's backends: up or down and
    /// why, since when, the kernel's weight and connections. Exits 0 when all are up, 3 when
    /// some backend is down, 1 when the daemon is not running.
    Status(StatusArgs),
    /// Write a config describing what this host runs today (IPVS services, keepalived's
    /// virtual servers), so that the first `portfwd plan` of it says "no changes".
    Import(ImportArgs),
    /// Check this host for the known pitfalls of forwarding to bridged guests (rp_filter,
    /// bridge-nf-call-iptables, backends' routes back, the bridges' gateway addresses, the
    /// IPVS connection table); exits 1 when it finds a problem.
    Doctor(DoctorArgs),
    /// Show the live IPVS table (needs root): like `ipvsadm -L -n`, as JSON, or as `ipvsadm -S -n`.
    Show(ShowArgs),
    /// Add the services and destinations of an `ipvsadm -S -n` rules file to the live table
    /// through portfwd's netlink client (for tests and migration; adds only, never removes).
    #[command(hide = true)]
    DebugRestore {
        /// The rules file; `-` reads standard input.
        #[arg(default_value = "-")]
        file: PathBuf,
    },
    /// Generate files for other tools from the config (e.g. Debian's ipvsadm init script).
    Gen {
        #[command(subcommand)]
        target: GenTarget,
    },
    /// Print the JSON Schema of the config format.
    Schema,
    /// Print the man page (roff), for packaging; with --dir, write every page there
    /// (portfwd.1 and one per subcommand).
    #[command(hide = true)]
    Manpage {
        /// Write portfwd.1 and portfwd-SUBCOMMAND.1 into this folder.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Print a shell completion script (e.g. `portfwd completions bash > /etc/bash_completion.d/portfwd`).
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
}

/// Where the config comes from.
#[derive(Debug, Args)]
pub struct ConfigArg {
    /// The config file; `-` reads standard input.
    #[arg(short = 'c', long = "config", value_name = "FILE", env = "PORTFWD_CONFIG", hide_env_values = true, default_value = DEFAULT_CONFIG)]
    pub path: PathBuf,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub config: ConfigArg,

    /// The config file, instead of `-c FILE` (`portfwd validate portfwd.json`).
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// Print the result as one JSON document on standard output.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum GenTarget {
    /// Debian without portfwd at boot: etc/ipvsadm.rules, etc/default/ipvsadm,
    /// etc/sysctl.d/60-portfwd.conf, etc/modules-load.d/portfwd.conf and one
    /// etc/network/interfaces.d/portfwd-BRIDGE per bridge, under DIR (and
    /// etc/keepalived/keepalived.conf when the config has `vrrp`).
    Debian(GenArgs),
    /// keepalived for an active/backup pair: etc/keepalived/keepalived.conf with the VRRP
    /// instance that moves the floating addresses (no virtual_server: portfwd keeps the IPVS
    /// table), under DIR. Needs `vrrp` in the config.
    Keepalived(GenArgs),
}

#[derive(Debug, Args)]
pub struct GenArgs {
    #[command(flatten)]
    pub config: ConfigArg,

    /// The root to write under (`/` for the host itself).
    #[arg(short = 'o', long = "out-dir", value_name = "DIR")]
    pub out_dir: PathBuf,

    /// Write nothing: compare with the files under DIR, print a unified diff for each that
    /// differs, and exit 2 when any does (0 when all match).
    #[arg(long)]
    pub check: bool,

    /// Replace files that portfwd did not generate (an `/etc/ipvsadm.rules` written by
    /// hand or by `ipvsadm -S`, a keepalived.conf of your own). `etc/default/ipvsadm` is
    /// never replaced: only its `AUTO` line (and with `sync` its `DAEMON`, `IFACE` and
    /// `SYNCID` lines) is set.
    #[arg(long, conflicts_with = "check")]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub config: ConfigArg,

    /// Read the kernel back and repair drift this often.
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub resync: u64,

    /// Start (and reload) even when the plan removes more than `safety` allows or leaves a
    /// forward with no backends.
    #[arg(long)]
    pub force: bool,

    /// On reload, drain removed backends for up to SECONDS (as `apply --drain`).
    #[arg(long, value_name = "SECONDS")]
    pub drain: Option<u64>,

    /// Serve Prometheus metrics on http://ADDR:PORT/metrics (e.g. 127.0.0.1:9432).
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics: Option<std::net::SocketAddr>,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("source").required(true).multiple(false)))]
pub struct ImportArgs {
    /// From the live IPVS table (root); the bridges holding backends' subnets come along.
    #[arg(long, group = "source")]
    pub from_kernel: bool,
    /// From a snapshot (`portfwd show --json`); `-` reads standard input.
    #[arg(long, value_name = "SNAPSHOT", group = "source")]
    pub from: Option<PathBuf>,
    /// From `ipvsadm -S [-n]` output or a shell script of `ipvsadm -A`/`-a` lines; `-` reads
    /// standard input.
    #[arg(long, value_name = "RULES", group = "source")]
    pub ipvsadm: Option<PathBuf>,
    /// From keepalived.conf (its includes followed) with its virtual servers and checkers; `-`
    /// reads standard input (relative includes from the current directory).
    #[arg(long, value_name = "CONF", group = "source")]
    pub keepalived: Option<PathBuf>,
    /// Write the config here instead of standard output.
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Replace FILE when it exists.
    #[arg(long, requires = "out")]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print the daemon's report as JSON (docs/status-json.md).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub config: ConfigArg,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub config: ConfigArg,

    /// Plan against a snapshot (`portfwd show --json` output) instead of the live kernel:
    /// no root and no IPVS needed, e.g. in a config repository's CI.
    #[arg(long, value_name = "SNAPSHOT")]
    pub from: Option<PathBuf>,

    /// Output format: `human`, `json` (one document, docs/plan-json.md) or `markdown` (a
    /// merge-request comment: summary, a table of changes per forward, removals folded).
    #[arg(long, value_enum, default_value_t = PlanFormat::Human, value_name = "FORMAT")]
    pub format: PlanFormat,

    /// Same as `--format json`.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,

    /// Exit 0 when there is nothing to change, 2 when there are changes, 1 on errors.
    #[arg(long)]
    pub detailed_exitcode: bool,

    /// Save the plan to this file; `portfwd apply PLANFILE` applies exactly it, and refuses
    /// when the kernel has changed since.
    #[arg(long, value_name = "PLANFILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    Human,
    Json,
    Markdown,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The config file; `-` reads standard input [env: PORTFWD_CONFIG] [default:
    /// /etc/portfwd/portfwd.json].
    #[arg(
        short = 'c',
        long = "config",
        value_name = "FILE",
        conflicts_with = "planfile"
    )]
    pub config: Option<PathBuf>,

    /// A plan saved by `portfwd plan --out`: apply exactly it (without asking), or refuse
    /// when the kernel no longer matches the state it was made from.
    #[arg(value_name = "PLANFILE")]
    pub planfile: Option<PathBuf>,

    /// Apply without asking for confirmation (needed when standard input is not a terminal).
    #[arg(long)]
    pub auto_approve: bool,

    /// Drain removed backends: weight 0 first, then delete each once it has no active
    /// connection or after SECONDS.
    #[arg(long, value_name = "SECONDS")]
    pub drain: Option<u64>,

    /// Apply even when the plan removes more services than `safety` allows, or leaves a
    /// forward with no backends.
    #[arg(long)]
    pub force: bool,

    /// Apply even when a new forward captures a port the host itself listens on.
    #[arg(long)]
    pub allow_shadowing: bool,

    /// Wait at most this long for another apply to finish.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub lock_timeout: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShowFormat {
    /// A listing in the spirit of `ipvsadm -L -n`.
    Human,
    /// The snapshot format (docs/snapshot.md): services, destinations, counters, timeouts.
    Json,
    /// Exactly what `ipvsadm -S -n` prints.
    Ipvsadm,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// A config whose forward names label the services it declares.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = ShowFormat::Human)]
    pub format: ShowFormat,

    /// Same as `--format json`.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
