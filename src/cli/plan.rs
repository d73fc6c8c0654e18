//! `portfwd plan`: what apply would change, for people (`+`/`~`/`-`) or pipelines (`--json`,
//! `--detailed-exitcode`, `--out`).

use super::args::{PlanArgs, PlanFormat};
use super::style::Painter;
use crate::config;
use crate::engine::{self, Error, Kernel, Loaded, Planned};
use crate::plan::planfile::{self, PlanFile};
use crate::plan::{Plan, human, json, markdown};
use crate::state::host::Listener;
use std::path::Path;

pub fn run(args: &PlanArgs, out: Painter, err: Painter) -> i32 {
    match plan(args, out, err) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{} {e}", err.red("error:"));
            1
        }
    }
}

fn plan(args: &PlanArgs, out: Painter, err: Painter) -> Result<i32, Error> {
    let stdin = |p: &std::path::Path| p.as_os_str() == config::STDIN_NAME;
    if stdin(&args.config.path) && args.from.as_deref().is_some_and(stdin) {
        return Err(Error::Usage(
            "-c - and --from - both read standard input; give one of them a file".into(),
        ));
    }
    if args.out.as_deref().is_some_and(stdin) {
        return Err(Error::Usage(
            "--out - is refused: the plan is printed on standard output; give --out a file name"
                .into(),
        ));
    }
    let json_out = args.json || args.format == PlanFormat::Json;
    let markdown_out = !json_out && args.format == PlanFormat::Markdown;
    let mut loaded = if json_out || markdown_out {
        // A pipeline reads standard output: an invalid config is a document there too (a
        // JSON one says everything, so standard error does not repeat it).
        warn_untrusted(&args.config.path, err);
        let (checked, text) = config::load_with_text(&args.config.path);
        if checked.config.is_none() {
            if json_out {
                println!("{}", super::validate::to_json(&checked));
                return Ok(1);
            }
            print!(
                "{}",
                markdown::render_invalid(&checked.source, &checked.diagnostics)
            );
        }
        checked_config(checked, text, err)?
    } else {
        load(&args.config.path, err)?
    };
    let (planned, against, against_id) = match &args.from {
        Some(path) => {
            let (table, notes) = engine::read_snapshot(path)?;
            for note in notes {
                eprintln!("{} {note}", err.yellow("warning:"));
            }
            // A snapshot says nothing of the host or its sockets.
            let planned = Planned::compute(&loaded, table, None, || None);
            let name = config::source_name(path);
            (
                planned,
                format!("snapshot {name}"),
                format!("snapshot:{name}"),
            )
        }
        None => {
            if let Some(note) = engine::held_by_daemon(&mut loaded) {
                eprintln!("note: {note}");
            }
            let planned = Kernel::connect()?.plan(&loaded, true, || host_listeners(err))?;
            (planned, "the kernel".to_string(), "kernel".to_string())
        }
    };
    // Only a pipeline's document and a plan file record the state's fingerprint.
    let state = if json_out || args.out.is_some() {
        planned.fingerprint(&loaded)
    } else {
        String::new()
    };
    let doc = json::document(
        &planned.plan,
        &planned.guards,
        &loaded.source,
        &against_id,
        &state,
    );
    let forwards = loaded.forward_names();
    let cx = human::Context {
        config: &loaded.source,
        against: &against,
        forwards: &forwards,
        drain: None,
    };
    match (json_out, args.format) {
        (true, _) => print!("{}", json::to_text(&doc)),
        (false, PlanFormat::Markdown) => {
            print!("{}", markdown::render(&planned.plan, &planned.guards, &cx))
        }
        (false, _) => print!(
            "{}",
            human::render(&planned.plan, &planned.guards, &cx, out)
        ),
    }
    if let Some(path) = &args.out {
        let mut file = PlanFile {
            format: planfile::FORMAT.to_string(),
            portfwd_version: env!("CARGO_PKG_VERSION").to_string(),
            config_source: loaded.source.clone(),
            config_text: String::from_utf8_lossy(&loaded.text).into_owned(),
            state_fingerprint: state.clone(),
            host_planned: planned.host.is_some(),
            plan: serde_json::to_value(&doc).unwrap_or_default(),
            checksum: String::new(),
        };
        file.save(path).map_err(Error::PlanFile)?;
        if !json_out {
            println!(
                "Saved the plan to {}; `portfwd apply {}` applies exactly it.",
                path.display(),
                path.display()
            );
        }
    }
    if report_errors(&planned.plan, err) {
        return Ok(1);
    }
    Ok(if args.detailed_exitcode && !planned.plan.is_empty() {
        2
    } else {
        0
    })
}

/// Reads and checks the config at `path`, printing its problems (warnings too), and warns
/// about a file someone else could have changed (apply refuses it instead).
pub fn load(path: &Path, err: Painter) -> Result<Loaded, Error> {
    warn_untrusted(path, err);
    let (checked, text) = config::load_with_text(path);
    checked_config(checked, text, err)
}

fn warn_untrusted(path: &Path, err: Painter) {
    if path.as_os_str() != config::STDIN_NAME {
        for p in config::trust::problems(path) {
            eprintln!("{} {p}; `portfwd apply` refuses it", err.yellow("warning:"));
        }
    }
}

/// A checked config, its problems printed.
pub fn checked_config(
    checked: config::Checked,
    text: Vec<u8>,
    err: Painter,
) -> Result<Loaded, Error> {
    for d in &checked.diagnostics {
        eprintln!("{}", super::validate::render(&checked.source, d, err));
    }
    Loaded::new(checked, text)
}

/// The host's listening sockets, or `None` (with a warning) when they cannot be read.
pub fn host_listeners(err: Painter) -> Option<Vec<Listener>> {
    match engine::listeners() {
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

/// Prints a plan's errors; true when there were any.
pub fn report_errors(plan: &Plan, err: Painter) -> bool {
    for e in &plan.errors {
        eprintln!("{} {e}", err.red("error:"));
    }
    !plan.errors.is_empty()
}
