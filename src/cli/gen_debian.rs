//! `portfwd gen debian`: write the Debian boot files, or check them for drift.

use super::args::GenDebianArgs;
use super::style::Painter;
use crate::generate::{self, debian};

pub fn run(args: &GenDebianArgs, out: Painter, err: Painter) -> i32 {
    let loaded = match super::plan::load(&args.config.path, err) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("{} {e}", err.red("error:"));
            return 1;
        }
    };
    let root = &args.out_dir;
    let files = debian::files(&loaded.config, &loaded.source);
    let stale = debian::stale(root, &files);
    if args.check {
        return match generate::check(root, &files, &stale) {
            Ok(drift) if drift.is_empty() => {
                println!(
                    "{} the {} files under {} match {}.",
                    out.green("ok:"),
                    files.len(),
                    root.display(),
                    loaded.source
                );
                0
            }
            Ok(drift) => {
                for d in &drift {
                    print!("{}", d.diff);
                }
                eprintln!(
                    "{} {} file{} under {} differ{} from {}",
                    err.yellow("drift:"),
                    drift.len(),
                    if drift.len() == 1 { "" } else { "s" },
                    root.display(),
                    if drift.len() == 1 { "s" } else { "" },
                    loaded.source
                );
                2
            }
            Err(e) => {
                eprintln!("{} {e}", err.red("error:"));
                1
            }
        };
    }
    match generate::write(root, &files, &stale) {
        Ok(()) => {
            for f in &files {
                println!("wrote {}", root.join(&f.path).display());
            }
            for s in &stale {
                println!(
                    "removed {} (its bridge is no longer in the config)",
                    root.join(s).display()
                );
            }
            0
        }
        Err(e) => {
            eprintln!("{} {e}", err.red("error:"));
            1
        }
    }
}
