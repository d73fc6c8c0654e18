//! `portfwd import`: a config from what the host runs today.

use super::args::ImportArgs;
use super::style::Painter;
use crate::import::{self, Imported};
use crate::kernel::ipvs::{Ipvs, NetlinkIpvs};
use crate::kernel::links::{Links, RtnlLinks};

pub fn run(args: &ImportArgs, err: Painter) -> i32 {
    let fail = |e: String| {
        eprintln!("{} {e}", err.red("error:"));
        1
    };
    if let Some(path) = &args.out
        && path.exists()
        && !args.force
    {
        return fail(format!(
            "{} exists; pass --force to replace it (nothing was written)",
            path.display()
        ));
    }
    let imported = match gather(args) {
        Ok(i) => import::finish(i),
        Err(e) => return fail(e),
    };
    let mut text = match serde_json::to_string_pretty(&imported.config) {
        Ok(t) => t,
        Err(e) => return fail(format!("cannot write the config: {e}")),
    };
    text.push('\n');
    // What an import writes must validate; anything else is a bug, and nothing is written.
    let checked = crate::config::check("the imported config".into(), text.as_bytes());
    if checked.config.is_none() {
        for d in checked.errors() {
            eprintln!("{} {d}", err.red("error:"));
        }
        return fail(
            "the imported config does not validate (a bug in portfwd import); nothing was written"
                .into(),
        );
    }
    for note in &imported.notes {
        eprintln!("{} {note}", err.yellow("note:"));
    }
    match &args.out {
        None => {
            print!("{text}");
            0
        }
        Some(path) => match crate::config::write_atomic(path, &text) {
            Ok(()) => {
                eprintln!(
                    "wrote {} ({} forwards); check it with `portfwd plan -c {}`",
                    path.display(),
                    imported.config.forwards.len(),
                    path.display()
                );
                0
            }
            Err(e) => fail(format!("cannot write {}: {e}", path.display())),
        },
    }
}

fn gather(args: &ImportArgs) -> Result<Imported, String> {
    if args.from_kernel {
        let table = NetlinkIpvs::connect()
            .and_then(|mut i| i.read())
            .map_err(|e| e.to_string())?;
        let links = RtnlLinks::connect()
            .and_then(|mut l| l.read())
            .map_err(|e| e.to_string())?;
        return Ok(import::from_table(&table, Some(&links)));
    }
    if let Some(path) = &args.from {
        let (table, notes) = crate::engine::read_snapshot(path).map_err(|e| e.to_string())?;
        let mut imported = import::from_table(&table, None);
        imported.notes.splice(0..0, notes);
        return Ok(imported);
    }
    if let Some(path) = &args.ipvsadm {
        let name = crate::config::source_name(path);
        let bytes =
            crate::config::read_input(path).map_err(|e| format!("cannot read {name}: {e}"))?;
        let (text, mut notes) = crate::config::decode_text(&bytes, &name);
        let (table, script_notes) =
            import::ipvsadm::parse(&text, &name).map_err(|e| format!("{name}: {e}"))?;
        notes.extend(script_notes);
        if table.services.is_empty() {
            for note in &notes {
                eprintln!("note: {note}");
            }
            return Err(format!(
                "{name}: no IPVS service found (no ipvsadm -A that the notes above do not skip): nothing to import"
            ));
        }
        let mut imported = import::from_table(&table, None);
        imported.notes.splice(0..0, notes);
        return Ok(imported);
    }
    if let Some(path) = &args.keepalived {
        return import::keepalived::import(path);
    }
    Err("say where to import from: --from-kernel, --from, --ipvsadm or --keepalived".into())
}
