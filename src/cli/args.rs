//! The command line, declared once: help, completions and the man page all come from here.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// The config file read when `-c` is not given.
pub const DEFAULT_CONFIG: &str = "/etc/portfwd/portfwd.json";

/// Declarative port forwarding with Linux IPVS.
///
/// portfwd reads one JSON file describing the host's public addresses, its guest bridges and
/// the port forwards, and keeps the kernel's IPVS table in line with it.
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
    /// Print the JSON Schema of the config format.
    Schema,
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
    #[arg(short = 'c', long = "config", value_name = "FILE", env = "PORTFWD_CONFIG", default_value = DEFAULT_CONFIG)]
    pub path: PathBuf,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub config: ConfigArg,

    /// Print the result as one JSON document on standard output.
    #[arg(long)]
    pub json: bool,
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
