//! What a valid config needs from the host that the file cannot say: the program of each
//! exec check. One that does not exist or cannot run fails every check, and a forward with
//! a fallback then sends all its traffic there.

use super::diagnostic::Diagnostic;
use super::model::{CheckKind, Config};
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A warning for each exec check whose program is missing or not executable; each program
/// looked up once, however many forwards run it.
pub fn check(config: &Config, diags: &mut Vec<Diagnostic>) {
    let mut found: BTreeMap<&str, Option<String>> = BTreeMap::new();
    for forward in &config.forwards {
        let Some(health) = forward
            .health
            .as_ref()
            .filter(|h| h.check == CheckKind::Exec)
        else {
            continue;
        };
        let Some(program) = health.command.first() else {
            continue;
        };
        // A placeholder is replaced per backend: nothing to look up before.
        if program.contains('{') {
            continue;
        }
        let problem = found
            .entry(program)
            .or_insert_with(|| problem(program, std::env::var_os("PATH").as_deref()));
        if let Some(problem) = problem {
            diags.push(Diagnostic::warning(
                "exec-program",
                format!("forwards[{}].health.command[0]", forward.index),
                format!(
                    "{problem}: every check of forward \"{}\" would fail{}",
                    forward.name,
                    if forward.fallback.is_some() {
                        " and its fallback take all its traffic"
                    } else {
                        " and its backends be held down"
                    }
                ),
            ));
        }
    }
}

/// Why `program` cannot run: a path that is no executable file, or a name on no folder of
/// `path` (the search path the daemon's checks use).
fn problem(program: &str, path: Option<&std::ffi::OsStr>) -> Option<String> {
    if program.contains('/') {
        return match std::fs::metadata(program) {
            Err(_) => Some(format!("{program} does not exist")),
            Ok(m) if !m.is_file() || m.permissions().mode() & 0o111 == 0 => {
                Some(format!("{program} is not an executable file"))
            }
            Ok(_) => None,
        };
    }
    let folders: Vec<PathBuf> = path
        .map(|p| std::env::split_paths(p).collect())
        .unwrap_or_default();
    let runnable = |dir: &Path| {
        std::fs::metadata(dir.join(program))
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if folders.iter().any(|d| runnable(d)) {
        None
    } else {
        Some(format!("{program} is on no folder of PATH"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn a_missing_or_unrunnable_program_is_named() {
        let dir = tempfile::tempdir().expect("tmp");
        let script = dir.path().join("check");
        std::fs::write(&script, "#!/bin/sh\n").expect("write");
        let path = dir.path().as_os_str();
        let name = script.to_str().expect("utf-8");
        assert_eq!(
            problem(name, None),
            Some(format!("{name} is not an executable file"))
        );
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        assert_eq!(problem(name, None), None);
        assert_eq!(problem("check", Some(path)), None, "found on PATH");
        assert_eq!(
            problem("check", Some(OsStr::new("/nonexistent"))),
            Some("check is on no folder of PATH".to_string())
        );
        assert_eq!(
            problem("/nonexistent/check", Some(path)),
            Some("/nonexistent/check does not exist".to_string())
        );
    }

    #[test]
    fn each_forward_running_a_missing_program_gets_a_warning() {
        let text = br#"{"public":[{"address":"203.0.113.10"}],"forwards":[
            {"name":"a","listen":"203.0.113.10:80","backends":["10.0.0.2"],"health":{"check":"exec","command":["/nonexistent/check","{address}"]}},
            {"name":"b","listen":"203.0.113.10:81","backends":["10.0.0.2"],"fallback":"10.0.0.9","health":{"check":"exec","command":["/nonexistent/check"]}},
            {"name":"c","listen":"203.0.113.10:82","backends":["10.0.0.2"],"health":{"check":"exec","command":["/bin/sh","-c","true"]}}]}"#;
        let checked = crate::config::check("t".into(), text);
        let config = checked.config.expect("valid");
        let mut diags = Vec::new();
        check(&config, &mut diags);
        let found: Vec<String> = diags
            .iter()
            .map(|d| format!("{} {}", d.place_in("t"), d.message))
            .collect();
        assert_eq!(
            found,
            [
                "t: forwards[0].health.command[0]: /nonexistent/check does not exist: every check of forward \"a\" would fail and its backends be held down",
                "t: forwards[1].health.command[0]: /nonexistent/check does not exist: every check of forward \"b\" would fail and its fallback take all its traffic",
            ]
        );
    }
}
