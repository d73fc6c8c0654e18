//! ipvsadm rules as people keep them: `ipvsadm -S [-n]` output, and shell scripts of ipvsadm
//! command lines (long options, `/sbin/ipvsadm`, `sudo`, `$IPVSADM`, variables set to
//! literals, continued lines, `cmd; cmd`). The commands run in order on a table, as ipvsadm
//! would run them (`-A`/`-a` add, `-E`/`-e` edit, `-D`/`-d` delete, `-C` clears); the table
//! they build becomes the rules format `state::ipvsadm_rules` reads. What cannot be read is a
//! note naming FILE:LINE.

use crate::state::ipvs::Table;
use std::collections::HashMap;
use std::net::IpAddr;

/// Long options as ipvsadm(8) names them, and the short ones `-S` writes.
const LONG: &[(&str, &str)] = &[
    ("--add-service", "-A"),
    ("--edit-service", "-E"),
    ("--delete-service", "-D"),
    ("--clear", "-C"),
    ("--add-server", "-a"),
    ("--edit-server", "-e"),
    ("--delete-server", "-d"),
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

/// The options that name a service, and the one that names a destination.
const SERVICE_OPTIONS: &[&str] = &["-t", "-u", "--sctp-service", "-f"];

/// The table the script in `text` builds, and a note (FILE:LINE) for each command it could
/// not carry over.
pub fn parse(text: &str, file: &str) -> Result<(Table, Vec<String>), String> {
    let mut script = Script::new(ServiceNames::system());
    let mut pending = String::new();
    let mut first_line = 0;
    for (i, raw) in text.lines().enumerate() {
        if pending.is_empty() {
            first_line = i + 1;
        }
        if let Some(head) = raw.strip_suffix('\\') {
            pending.push_str(head);
            pending.push(' ');
            continue;
        }
        pending.push_str(raw);
        let line = std::mem::take(&mut pending);
        for command in commands(&line) {
            if let Err(why) = script.run(command) {
                script
                    .notes
                    .push(format!("{file}:{first_line}: {why}, skipped: {command}"));
            }
        }
    }
    let table = crate::state::ipvsadm_rules::parse(&script.rules())?;
    Ok((table, script.notes))
}

/// The commands of one line: split at `;` and `&&` outside quotes, a `#` comment dropped.
fn commands(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quote) = (0, None);
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match (quote, c) {
            (Some(q), _) if c == q => quote = None,
            (Some(_), _) => {}
            (None, b'\'' | b'"') => quote = Some(c),
            (None, b'#') if i == 0 || bytes[i - 1].is_ascii_whitespace() => {
                out.push(&line[start..i]);
                start = bytes.len();
                break;
            }
            (None, b';') => {
                out.push(&line[start..i]);
                start = i + 1;
            }
            (None, b'&') if bytes.get(i + 1) == Some(&b'&') => {
                out.push(&line[start..i]);
                start = i + 2;
                i += 1;
            }
            _ => {}
        }
        i += 1;
    }
    if start < line.len() {
        out.push(&line[start..]);
    }
    out.into_iter()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect()
}

/// Port names as /etc/services has them (`ipvsadm -S` without `-n` writes `http`).
struct ServiceNames(HashMap<String, u16>);

impl ServiceNames {
    /// The host's, read once per process.
    fn system() -> &'static ServiceNames {
        static SYSTEM: std::sync::OnceLock<ServiceNames> = std::sync::OnceLock::new();
        SYSTEM.get_or_init(|| {
            let text = std::fs::read_to_string("/etc/services").unwrap_or_default();
            ServiceNames::from_text(&text)
        })
    }

    fn from_text(text: &str) -> ServiceNames {
        let mut names = HashMap::new();
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("");
            let mut words = line.split_whitespace();
            let (Some(name), Some(port)) = (words.next(), words.next()) else {
                continue;
            };
            let Some(port) = port.split('/').next().and_then(|p| p.parse().ok()) else {
                continue;
            };
            for n in std::iter::once(name).chain(words) {
                names.entry(n.to_string()).or_insert(port);
            }
        }
        ServiceNames(names)
    }

    fn port(&self, text: &str) -> Option<u16> {
        // What ipvsadm -S writes most, for when /etc/services is missing.
        let common = match text {
            "http" | "www" => Some(80),
            "https" => Some(443),
            "ssh" => Some(22),
            "domain" => Some(53),
            _ => None,
        };
        text.parse()
            .ok()
            .or_else(|| self.0.get(text).copied())
            .or(common)
    }
}

/// The script's variables, and the table its commands built so far as rules lines.
struct Script<'n> {
    names: &'n ServiceNames,
    vars: HashMap<String, String>,
    /// (service key, `-A` line), in the order they were added.
    services: Vec<(String, String)>,
    /// (service key, destination key, `-a` line).
    servers: Vec<(String, String, String)>,
    notes: Vec<String>,
}

impl<'n> Script<'n> {
    fn new(names: &'n ServiceNames) -> Script<'n> {
        Script {
            names,
            vars: HashMap::new(),
            services: Vec::new(),
            servers: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Runs one command: an assignment, an ipvsadm command, or something else (an error).
    fn run(&mut self, command: &str) -> Result<(), String> {
        if let Some((name, value)) = assignment(command) {
            match self.expand(value) {
                Ok(v) => self.vars.insert(name.to_string(), unquote(&v)),
                // Set from something a script computes: unknown from here on.
                Err(_) => self.vars.remove(name),
            };
            return Ok(());
        }
        let expanded = self.expand(command)?;
        let mut words: Vec<String> = expanded.split_whitespace().map(unquote).collect();
        if words.first().is_some_and(|w| w == "sudo") {
            words.remove(0);
        }
        if !words
            .first()
            .is_some_and(|w| w == "ipvsadm" || w.ends_with("/ipvsadm"))
        {
            // The output of `ipvsadm -S` has no program name.
            if !words.first().is_some_and(|w| w.starts_with('-')) {
                return Err("not an ipvsadm command".into());
            }
        } else {
            words.remove(0);
        }
        let words = self.normalize(words)?;
        let Some(verb) = words.first().cloned() else {
            return Ok(());
        };
        let service = service_key(&words).ok_or("no service (-t, -u or -f)");
        let rest = words[1..].join(" ");
        match verb.as_str() {
            "-C" => {
                self.services.clear();
                self.servers.clear();
            }
            "-A" => {
                let key = service?;
                if self.services.iter().any(|(k, _)| *k == key) {
                    return Err("the service exists already (ipvsadm refuses a second -A)".into());
                }
                self.services.push((key, format!("-A {rest}")));
            }
            "-E" => {
                let key = service?;
                let Some(entry) = self.services.iter_mut().find(|(k, _)| *k == key) else {
                    return Err("no such service to edit".into());
                };
                entry.1 = format!("-A {rest}");
            }
            "-D" => {
                let key = service?;
                let before = self.services.len();
                self.services.retain(|(k, _)| *k != key);
                if self.services.len() == before {
                    return Err("no such service to delete".into());
                }
                self.servers.retain(|(k, _, _)| *k != key);
            }
            "-a" | "-e" | "-d" => {
                let key = service?;
                let server = server_key(&words).ok_or("no real server (-r)")?;
                if !self.services.iter().any(|(k, _)| *k == key) {
                    return Err("no such service (its -A comes first)".into());
                }
                let at = self
                    .servers
                    .iter()
                    .position(|(k, s, _)| *k == key && *s == server);
                match (verb.as_str(), at) {
                    ("-a", Some(_)) => {
                        return Err("the real server exists already (ipvsadm refuses it)".into());
                    }
                    ("-a", None) => self.servers.push((key, server, format!("-a {rest}"))),
                    ("-e", Some(i)) => self.servers[i].2 = format!("-a {rest}"),
                    ("-d", Some(i)) => {
                        self.servers.remove(i);
                    }
                    _ => return Err("no such real server".into()),
                }
            }
            other => return Err(format!("ipvsadm {other} changes no service")),
        }
        Ok(())
    }

    /// `$NAME` and `${NAME}` replaced by what the script set them to; anything else a shell
    /// would compute is an error naming it.
    fn expand(&self, text: &str) -> Result<String, String> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(i) = rest.find(['$', '`']) {
            out.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            if rest[i..].starts_with('`') || after.starts_with('(') {
                return Err(
                    "a command substitution cannot be read without running the script".into(),
                );
            }
            let (name, len) = match after.strip_prefix('{') {
                Some(inner) => {
                    let end = inner.find('}').ok_or("an unclosed ${")?;
                    (&inner[..end], end + 2)
                }
                None => {
                    let end = after
                        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                        .unwrap_or(after.len());
                    (&after[..end], end)
                }
            };
            let value = self
                .vars
                .get(name)
                .ok_or_else(|| format!("${name} is not set to a literal earlier in the script"))?;
            out.push_str(value);
            rest = &after[len..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Long options as short ones, `-p` with its default, service and server names as
    /// numbers, and a real server without a port given the service's.
    fn normalize(&self, words: Vec<String>) -> Result<Vec<String>, String> {
        let mut out: Vec<String> = Vec::with_capacity(words.len() + 1);
        let mut service_port: Option<u16> = None;
        let mut at = 0;
        while at < words.len() {
            let word = &words[at];
            let (name, inline) = match word.split_once('=') {
                Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
                _ => (word.as_str(), None),
            };
            let short = LONG
                .iter()
                .find(|(l, _)| *l == name)
                .map_or(name, |(_, s)| s)
                .to_string();
            let takes_value = matches!(
                short.as_str(),
                "-t" | "-u"
                    | "--sctp-service"
                    | "-f"
                    | "-s"
                    | "-M"
                    | "-r"
                    | "-w"
                    | "-x"
                    | "-y"
                    | "-b"
                    | "--pe"
                    | "--tun-type"
                    | "--tun-port"
            );
            let mut value = if takes_value {
                match inline {
                    Some(v) => Some(v),
                    None => {
                        at += 1;
                        Some(
                            words
                                .get(at)
                                .cloned()
                                .ok_or(format!("{short} needs a value"))?,
                        )
                    }
                }
            } else {
                inline
            };
            if let Some(v) = &mut value {
                match short.as_str() {
                    "-t" | "-u" | "--sctp-service" => {
                        let (addr, port) = self.endpoint(v)?;
                        let port = port.ok_or_else(|| format!("{v} has no port"))?;
                        service_port = Some(port);
                        *v = socket_text(addr, port);
                    }
                    "-f" => service_port = Some(0),
                    "-r" => {
                        let (addr, port) = self.endpoint(v)?;
                        // ipvsadm: a real server without a port takes the service's.
                        let port = port.or(service_port).unwrap_or(0);
                        *v = socket_text(addr, port);
                    }
                    _ => {}
                }
            }
            out.push(short.clone());
            out.extend(value);
            // `-p` without a timeout means ipvsadm's default, 300 s.
            if short == "-p" && words.get(at + 1).is_none_or(|n| n.parse::<u32>().is_err()) {
                out.push("300".into());
            }
            at += 1;
        }
        Ok(out)
    }

    /// `ADDR[:PORT]`, `[V6][:PORT]` with a port number or a name from /etc/services.
    fn endpoint(&self, text: &str) -> Result<(IpAddr, Option<u16>), String> {
        let (addr, port) = if let Some(rest) = text.strip_prefix('[') {
            let (a, p) = rest
                .split_once(']')
                .ok_or(format!("{text}: a [ without ]"))?;
            (a, p.strip_prefix(':'))
        } else if text.matches(':').count() == 1 {
            let (a, p) = text.split_once(':').unwrap_or((text, ""));
            (a, Some(p))
        } else {
            (text, None)
        };
        let addr: IpAddr = addr.parse().map_err(|_| {
            format!("{addr} is not an address (a host name: save the rules with ipvsadm -S -n)")
        })?;
        let port = match port {
            None => None,
            Some(p) => Some(
                self.names
                    .port(p)
                    .ok_or_else(|| format!("port {p} is neither a number nor in /etc/services"))?,
            ),
        };
        Ok((addr, port))
    }

    /// The table as rules lines: every service, then every destination.
    fn rules(&self) -> String {
        let mut text = String::new();
        for (_, line) in &self.services {
            text.push_str(line);
            text.push('\n');
        }
        for (_, _, line) in &self.servers {
            text.push_str(line);
            text.push('\n');
        }
        text
    }
}

/// `NAME=VALUE` (with `export`, `readonly` or `local` before it), one word.
fn assignment(command: &str) -> Option<(&str, &str)> {
    let command = ["export ", "readonly ", "local "]
        .iter()
        .find_map(|p| command.strip_prefix(p))
        .unwrap_or(command)
        .trim();
    let (name, value) = command.split_once('=')?;
    let valid = !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    (valid && (!value.contains(char::is_whitespace) || is_quoted(value))).then_some((name, value))
}

fn is_quoted(value: &str) -> bool {
    value.len() >= 2
        && (value.starts_with('"') && value.ends_with('"')
            || value.starts_with('\'') && value.ends_with('\''))
}

fn unquote(word: &str) -> String {
    word.chars().filter(|c| *c != '"' && *c != '\'').collect()
}

fn socket_text(addr: IpAddr, port: u16) -> String {
    std::net::SocketAddr::new(addr, port).to_string()
}

/// The service a command names: its option and value, and `-6` for a firewall mark.
fn service_key(words: &[String]) -> Option<String> {
    let at = words
        .iter()
        .position(|w| SERVICE_OPTIONS.contains(&w.as_str()))?;
    let v6 = words.iter().any(|w| w == "-6");
    Some(format!(
        "{} {}{}",
        words[at],
        words.get(at + 1)?,
        if v6 { " -6" } else { "" }
    ))
}

fn server_key(words: &[String]) -> Option<String> {
    let at = words.iter().position(|w| w == "-r")?;
    words.get(at + 1).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::render::ipvsadm_save;

    fn parse(text: &str) -> (Table, Vec<String>) {
        super::parse(text, "rules.sh").expect("parses")
    }

    #[test]
    fn a_shell_script_reads_as_the_rules_it_makes() {
        let script = "#!/bin/sh\nset -e\nipvsadm -C\n/sbin/ipvsadm --add-service --tcp-service 203.0.113.10:80 --scheduler rr -p\nsudo ipvsadm -a -t 203.0.113.10:80 \\\n    -r 10.0.0.2:80 -m -w 3\nipvsadm --add-server --tcp-service=203.0.113.10:80 --real-server=10.0.0.3:80 --masquerading\necho done\n";
        let (table, notes) = parse(script);
        assert_eq!(
            ipvsadm_save(&table),
            "-A -t 203.0.113.10:80 -s rr -p 300\n-a -t 203.0.113.10:80 -r 10.0.0.2:80 -m -w 3\n-a -t 203.0.113.10:80 -r 10.0.0.3:80 -m -w 1\n"
        );
        assert_eq!(
            notes,
            [
                "rules.sh:2: not an ipvsadm command, skipped: set -e",
                "rules.sh:8: not an ipvsadm command, skipped: echo done"
            ]
        );
    }

    #[test]
    fn saved_rules_read_as_they_are() {
        let rules =
            "-A -t 203.0.113.10:2222 -s wlc\n-a -t 203.0.113.10:2222 -r 10.0.0.2:22 -m -w 1\n";
        let (table, notes) = parse(rules);
        assert_eq!(ipvsadm_save(&table), rules);
        assert!(notes.is_empty());
    }

    #[test]
    fn an_lvs_script_with_variables_builds_its_table() {
        let script = r#"#!/bin/bash
IPVSADM=/sbin/ipvsadm
VIP="203.0.113.10"; PORT=80
RIP1=10.0.0.2
export RIP2='10.0.0.3'
NOW=$(date)
$IPVSADM -C
$IPVSADM -A -t $VIP:$PORT -s wlc && $IPVSADM -a -t ${VIP}:${PORT} -r $RIP1 -m
$IPVSADM -a -t $VIP:$PORT -r "$RIP2":8080 -m -w 2
$IPVSADM -a -t $VIP:$PORT -r $RIP3 -m  # never set
$IPVSADM -A -t $VIP:443 -s rr
$IPVSADM -a -t $VIP:443 -r $RIP1 -g
$IPVSADM -e -t $VIP:$PORT -r $RIP1:80 -m -w 5
$IPVSADM -E -t $VIP:443 -s sh
$IPVSADM -d -t $VIP:$PORT -r $RIP2:8080
$IPVSADM -D -t $VIP:443
$IPVSADM -L -n
"#;
        let (table, notes) = parse(script);
        assert_eq!(
            ipvsadm_save(&table),
            "-A -t 203.0.113.10:80 -s wlc\n-a -t 203.0.113.10:80 -r 10.0.0.2:80 -m -w 5\n"
        );
        assert_eq!(
            notes,
            [
                "rules.sh:10: $RIP3 is not set to a literal earlier in the script, skipped: $IPVSADM -a -t $VIP:$PORT -r $RIP3 -m",
                "rules.sh:17: ipvsadm -L changes no service, skipped: $IPVSADM -L -n",
            ]
        );
    }

    #[test]
    fn rules_saved_without_n_name_their_ports() {
        let names = ServiceNames::from_text("http\t\t80/tcp\t\twww\nhttps 443/tcp\n");
        let mut script = Script::new(&names);
        script
            .run("-A -t 203.0.113.10:http -s wlc")
            .expect("service");
        script
            .run("-a -t 203.0.113.10:www -r 10.0.0.2:http -m -w 1")
            .expect("server");
        assert_eq!(
            script
                .run("-A -t lb.example.com:https -s wlc")
                .expect_err("a host name"),
            "lb.example.com is not an address (a host name: save the rules with ipvsadm -S -n)"
        );
        assert_eq!(
            script.rules(),
            "-A -t 203.0.113.10:80 -s wlc\n-a -t 203.0.113.10:80 -r 10.0.0.2:80 -m -w 1\n"
        );
    }

    #[test]
    fn commands_split_at_separators_outside_quotes() {
        assert_eq!(commands("a; b && c # d; e"), ["a", "b", "c"]);
        assert_eq!(commands("x='a;b' y"), ["x='a;b' y"]);
    }
}
