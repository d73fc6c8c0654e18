//! The man pages: `portfwd(1)` and one page per subcommand (`portfwd-plan(1)`,
//! `portfwd-gen-debian(1)`, ...), each with its exit status and the files it uses. clap
//! renders the synopsis, description and options; the sections clap knows nothing of are
//! written here.

use super::args::Cli;
use clap::CommandFactory;
use clap_mangen::Man;
use std::io::Write;
use std::path::Path;

/// The top page, as `portfwd manpage` prints it.
pub fn top(w: &mut dyn Write) -> std::io::Result<()> {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    page(&cmd, w)
}

/// Every page under `dir` (`portfwd.1`, `portfwd-plan.1`, ...); returns their names.
pub fn write_all(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut written = Vec::new();
    let mut pending = vec![cmd];
    while let Some(cmd) = pending.pop() {
        pending.extend(cmd.get_subcommands().filter(|s| !s.is_hide_set()).cloned());
        let name = format!("{}.1", display_name(&cmd));
        let mut text = Vec::new();
        page(&cmd, &mut text)?;
        std::fs::write(dir.join(&name), text)?;
        written.push(name);
    }
    written.sort();
    Ok(written)
}

fn display_name(cmd: &clap::Command) -> String {
    cmd.get_display_name()
        .unwrap_or_else(|| cmd.get_name())
        .to_string()
}

/// The page; clap_mangen starts each section it renders with the same two-line preamble,
/// kept once.
fn page(cmd: &clap::Command, w: &mut dyn Write) -> std::io::Result<()> {
    let mut text = Vec::new();
    sections(cmd, &mut text)?;
    let text = String::from_utf8_lossy(&text);
    let mut seen = std::collections::HashSet::new();
    for line in text.lines() {
        let preamble = line.starts_with(".ie \\n(.g .ds Aq") || line.starts_with(".el .ds Aq");
        if !preamble || seen.insert(line) {
            writeln!(w, "{line}")?;
        }
    }
    Ok(())
}

fn sections(cmd: &clap::Command, w: &mut dyn Write) -> std::io::Result<()> {
    let man = Man::new(cmd.clone());
    man.render_title(w)?;
    man.render_name_section(w)?;
    man.render_synopsis_section(w)?;
    man.render_description_section(w)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(w)?;
    }
    if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
        man.render_subcommands_section(w)?;
    }
    let name = display_name(cmd);
    let sub = name.strip_prefix("portfwd-").unwrap_or("");
    section(w, "EXIT STATUS", &exit_status(sub))?;
    section(w, "FILES", &files(sub))?;
    section(w, "ENVIRONMENT", ENVIRONMENT)?;
    if sub.is_empty() {
        man.render_version_section(w)?;
    }
    Ok(())
}

/// A section of tagged paragraphs: (tag, text).
fn section(w: &mut dyn Write, title: &str, items: &[(&str, &str)]) -> std::io::Result<()> {
    if items.is_empty() {
        return Ok(());
    }
    writeln!(w, ".SH \"{title}\"")?;
    for (tag, text) in items {
        writeln!(w, ".TP\n\\fB{}\\fR\n{}", roff(tag), roff(text))?;
    }
    Ok(())
}

/// Text as roff reads it: backslashes escaped, no line starting with a control character.
fn roff(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with(['.', '\'']) {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

const ERROR: (&str, &str) = (
    "1",
    "an error: an invalid config, a usage error, a kernel or file error, or (apply) a refused or failed apply",
);

fn exit_status(sub: &str) -> Vec<(&'static str, &'static str)> {
    match sub {
        "" => vec![
            ("0", "success"),
            ERROR,
            ("2", "plan --detailed-exitcode only: the plan has changes"),
            ("3", "status only: some backend is down"),
        ],
        "validate" => vec![("0", "the config is valid (it may have warnings)"), ERROR],
        "plan" => vec![
            (
                "0",
                "the plan was made (with --detailed-exitcode: and it is empty)",
            ),
            ERROR,
            ("2", "with --detailed-exitcode: the plan has changes"),
        ],
        "apply" => vec![
            (
                "0",
                "the kernel matches the config (applied and verified, or nothing to do)",
            ),
            (
                "1",
                "an error, a refusal (a guard, a stale saved plan, an answer other than yes, the lock busy) or a failed apply (undone)",
            ),
        ],
        "run" => vec![
            (
                "0",
                "stopped by SIGTERM or SIGINT (the IPVS table stays as it is)",
            ),
            (
                "1",
                "it could not start: an invalid config, no IPVS, a refused first apply",
            ),
        ],
        "status" => vec![
            ("0", "every backend is up"),
            ("1", "no daemon runs, or it did not answer"),
            ("3", "some backend is down"),
        ],
        "doctor" => vec![
            ("0", "no problem found"),
            (
                "1",
                "a problem (a warning) was found, or the config or host could not be read",
            ),
        ],
        "gen-debian" | "gen-keepalived" => vec![
            (
                "0",
                "the files were written, or (--check) they are what would be written",
            ),
            (
                "1",
                "an error, a file portfwd did not write (without --force), or (--check) a file that differs",
            ),
        ],
        _ => vec![("0", "success"), ("1", "an error")],
    }
}

const CONFIG: (&str, &str) = (
    "/etc/portfwd/portfwd.json",
    "the config read by default (-c FILE or PORTFWD_CONFIG names another)",
);
const LOCK: (&str, &str) = (
    "/run/portfwd/lock",
    "held while the kernel is changed: one apply (or daemon round) at a time",
);
const HEALTH: (&str, &str) = (
    "/run/portfwd/health.json",
    "the daemon's health file: plan and apply leave the backends it holds down as they are",
);

fn files(sub: &str) -> Vec<(&'static str, &'static str)> {
    match sub {
        "" | "run" => vec![
            CONFIG,
            LOCK,
            HEALTH,
            (
                "/run/portfwd/control.sock",
                "the daemon's control socket, asked by portfwd status",
            ),
            (
                "/run/portfwd/daemon.lock",
                "held by the running daemon: one per host",
            ),
        ],
        "validate" | "doctor" | "import" => vec![CONFIG],
        "plan" => vec![CONFIG, HEALTH],
        "apply" => vec![CONFIG, LOCK, HEALTH],
        "status" => vec![("/run/portfwd/control.sock", "the daemon's control socket")],
        "gen-debian" => vec![
            CONFIG,
            (
                "DIR/etc/ipvsadm.rules",
                "the rules Debian's ipvsadm init script loads at boot",
            ),
            (
                "DIR/etc/default/ipvsadm",
                "merged: AUTO, and the sync daemon settings",
            ),
            ("DIR/etc/sysctl.d/60-portfwd.conf", "the sysctls"),
            ("DIR/etc/modules-load.d/portfwd.conf", "the IPVS modules"),
            (
                "DIR/etc/network/interfaces.d/portfwd-BRIDGE",
                "one per bridge",
            ),
        ],
        "gen-keepalived" => vec![
            CONFIG,
            (
                "DIR/etc/keepalived/keepalived.conf",
                "the VRRP instance of the pair",
            ),
        ],
        _ => Vec::new(),
    }
}

const ENVIRONMENT: &[(&str, &str)] = &[
    ("PORTFWD_CONFIG", "the config file when -c is not given"),
    ("NO_COLOR", "no colors with --color auto"),
];

#[cfg(test)]
mod tests {
    #[test]
    fn every_page_the_top_page_names_is_written_with_its_exit_status() {
        let dir = tempfile::tempdir().expect("tmp");
        let written = super::write_all(dir.path()).expect("write");
        assert!(written.contains(&"portfwd.1".to_string()));
        let top = std::fs::read_to_string(dir.path().join("portfwd.1")).expect("top");
        // The top page refers to each subcommand's page as portfwd-NAME(1).
        for name in [
            "plan", "apply", "run", "status", "gen", "import", "doctor", "validate",
        ] {
            assert!(top.contains(&format!("portfwd\\-{name}(1)")), "{name}");
            assert!(
                written.contains(&format!("portfwd-{name}.1")),
                "{written:?}"
            );
        }
        assert!(written.contains(&"portfwd-gen-debian.1".to_string()));
        for page in &written {
            let text = std::fs::read_to_string(dir.path().join(page)).expect("page");
            assert_eq!(text.matches(".TH ").count(), 1, "{page}");
            assert_eq!(text.matches(".ie ").count(), 1, "{page}");
            assert!(text.contains(".SH \"EXIT STATUS\""), "{page}");
        }
        let status = std::fs::read_to_string(dir.path().join("portfwd-status.1")).expect("status");
        assert!(
            status.contains(".TP\n\\fB3\\fR\nsome backend is down"),
            "{status}"
        );
    }
}
