//! ipvsadm rules as people keep them: `ipvsadm -S [-n]` output, and shell scripts of
//! `ipvsadm -A`/`-a` command lines (long options, `/sbin/ipvsadm`, `sudo`, continued lines).
//! Both become the rules format `state::ipvsadm_rules` reads.

use crate::state::ipvs::Table;

/// Long options as ipvsadm(8) names them, and the short ones `-S` writes.
const LONG: &[(&str, &str)] = &[
    ("--add-service", "-A"),
    ("--add-server", "-a"),
    ("--tcp-service", "-t"),
    ("--udp-service", "-u"),
    ("--fwmark-service", "-f"),
    ("--scheduler", "-s"),
    ("--persistent", "-p"),
    ("--netmask", "-M"),
    ("--real-server", "-r"),
    ("--gatewaying", "-g"),
    ("--ipip", "-i"),
    ("--masquerading", "-m"),
    ("--weight", "-w"),
    ("--u-threshold", "-x"),
    ("--l-threshold", "-y"),
    ("--ops", "-o"),
    ("--sched-flags", "-b"),
    ("--ipv6", "-6"),
];

/// The rules in `text`, and a note for each line that is not an ipvsadm add command.
pub fn parse(text: &str) -> Result<(Table, Vec<String>), String> {
    let mut notes = Vec::new();
    let mut rules = String::new();
    let mut pending = String::new();
    let mut first_line = 0;
    for (i, raw) in text.lines().enumerate() {
        if pending.is_empty() {
            first_line = i + 1;
        }
        match raw.strip_suffix('\\') {
            Some(head) => {
                pending.push_str(head);
                pending.push(' ');
                rules.push('\n');
                continue;
            }
            None => pending.push_str(raw),
        }
        let line = std::mem::take(&mut pending);
        match rule(&line) {
            Ok(Some(r)) => rules.push_str(&r),
            Ok(None) => {}
            Err(why) => notes.push(format!(
                "line {first_line}: {why}, skipped: {}",
                line.trim()
            )),
        }
        rules.push('\n');
    }
    let table = crate::state::ipvsadm_rules::parse(&rules)?;
    Ok((table, notes))
}

/// One line as a rules line: `None` for blank, comment and flush lines.
fn rule(line: &str) -> Result<Option<String>, String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let mut words: Vec<&str> = line.split_whitespace().collect();
    if words.first() == Some(&"sudo") {
        words.remove(0);
    }
    if words
        .first()
        .is_some_and(|w| *w == "ipvsadm" || w.ends_with("/ipvsadm"))
    {
        words.remove(0);
    }
    let Some(verb) = words.first() else {
        return Ok(None);
    };
    if matches!(*verb, "-C" | "--clear") {
        return Ok(None);
    }
    if !verb.starts_with('-') {
        return Err("not an ipvsadm command".into());
    }
    let mut out: Vec<String> = Vec::new();
    let mut at = 0;
    while at < words.len() {
        let word = words[at];
        let (name, inline) = match word.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v)),
            _ => (word, None),
        };
        let short = LONG
            .iter()
            .find(|(l, _)| *l == name)
            .map_or(name, |(_, s)| s);
        out.push(short.to_string());
        if let Some(v) = inline {
            out.push(v.to_string());
        }
        // `-p` without a timeout means ipvsadm's default, 300 s.
        if short == "-p" && inline.is_none() {
            let next = words.get(at + 1);
            if next.is_none_or(|n| n.starts_with('-') || n.parse::<u32>().is_err()) {
                out.push("300".into());
            }
        }
        at += 1;
    }
    match out.first().map(String::as_str) {
        Some("-A" | "-a") => Ok(Some(out.join(" "))),
        Some(other) => Err(format!("ipvsadm {other} is not an add command")),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::render::ipvsadm_save;

    #[test]
    fn a_shell_script_reads_as_the_rules_it_makes() {
        let script = "#!/bin/sh\nset -e\nipvsadm -C\n/sbin/ipvsadm --add-service --tcp-service 203.0.113.10:80 --scheduler rr -p\nsudo ipvsadm -a -t 203.0.113.10:80 \\\n    -r 10.0.0.2:80 -m -w 3\nipvsadm --add-server --tcp-service=203.0.113.10:80 --real-server=10.0.0.3:80 --masquerading\necho done\n";
        let (table, notes) = parse(script).expect("parses");
        assert_eq!(
            ipvsadm_save(&table),
            "-A -t 203.0.113.10:80 -s rr -p 300\n-a -t 203.0.113.10:80 -r 10.0.0.2:80 -m -w 3\n-a -t 203.0.113.10:80 -r 10.0.0.3:80 -m -w 1\n"
        );
        assert_eq!(
            notes,
            [
                "line 2: not an ipvsadm command, skipped: set -e",
                "line 8: not an ipvsadm command, skipped: echo done"
            ]
        );
    }

    #[test]
    fn saved_rules_read_as_they_are() {
        let rules =
            "-A -t 203.0.113.10:2222 -s wlc\n-a -t 203.0.113.10:2222 -r 10.0.0.2:22 -m -w 1\n";
        let (table, notes) = parse(rules).expect("parses");
        assert_eq!(ipvsadm_save(&table), rules);
        assert!(notes.is_empty());
        assert!(
            parse("-A -t 203.0.113.10:80 -s rr\n-a -t 203.0.113.11:80 -r 10.0.0.2 -m\n").is_err()
        );
    }
}
