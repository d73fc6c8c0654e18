//! `portfwd validate`: check a config and report every problem.

use super::args::ValidateArgs;
use super::style::Painter;
use crate::config::{self, Checked, Diagnostic, Severity, Summary};
use serde::Serialize;

/// Version of the `validate --json` document; bumped only when a parser must change.
pub const FORMAT_VERSION: &str = "1";

pub fn run(args: &ValidateArgs, out: Painter, err: Painter) -> i32 {
    let path = args.file.as_ref().unwrap_or(&args.config.path);
    let mut loaded = config::load(path);
    // As `plan` warns: `apply` and `run` refuse a config others could have changed.
    if path.as_os_str() != config::STDIN_NAME {
        for problem in config::trust::problems(path) {
            loaded.diagnostics.push(Diagnostic::warning(
                "untrusted",
                "",
                format!("{problem}; `portfwd apply` refuses it"),
            ));
        }
    }
    if args.json {
        println!("{}", to_json(&loaded));
    } else {
        report(&loaded, out, err);
    }
    if loaded.config.is_some() { 0 } else { 1 }
}

/// Prints the problems to standard error and the verdict to standard output.
pub fn report(loaded: &Checked, out: Painter, err: Painter) {
    for d in &loaded.diagnostics {
        eprintln!("{}", render(&loaded.source, d, err));
    }
    match &loaded.config {
        Some(config) => println!("{} {}", out.green("ok:"), Summary::of(config)),
        None => {
            let errors = loaded.errors().count();
            let warnings = loaded.warnings().count();
            eprintln!(
                "{}: {} {}, {warnings} warning{}",
                loaded.source,
                errors,
                if errors == 1 { "error" } else { "errors" },
                if warnings == 1 { "" } else { "s" }
            );
        }
    }
}

/// `error: FILE: PATH: MESSAGE`, or `error: FILE:LINE:COLUMN: MESSAGE` for syntax errors.
pub fn render(source: &str, d: &Diagnostic, painter: Painter) -> String {
    let label = match d.severity {
        Severity::Error => painter.red("error:"),
        Severity::Warning => painter.yellow("warning:"),
    };
    format!(
        "{label} {} {}",
        painter.bold(&d.place_in(source)),
        d.message
    )
}

#[derive(Serialize)]
struct Report<'a> {
    format_version: &'static str,
    source: &'a str,
    valid: bool,
    summary: Option<Summary>,
    error_count: usize,
    warning_count: usize,
    diagnostics: &'a [Diagnostic],
}

pub fn to_json(loaded: &Checked) -> String {
    let report = Report {
        format_version: FORMAT_VERSION,
        source: &loaded.source,
        valid: loaded.config.is_some(),
        summary: loaded.config.as_ref().map(Summary::of),
        error_count: loaded.errors().count(),
        warning_count: loaded.warnings().count(),
        diagnostics: &loaded.diagnostics,
    };
    serde_json::to_string_pretty(&report).unwrap_or_default()
}
