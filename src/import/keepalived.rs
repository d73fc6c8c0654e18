//! keepalived.conf as keepalived reads it: `include` with globs (relative to the including
//! file), comments from `#` or `!`, quoted strings, blocks in any order. Virtual servers
//! (and their groups) become forwards, checkers `health`, the first VRRP instance `vrrp`
//! with its addresses floating. Everything else is a note naming the file and line.

use super::output::{BackendOut, ForwardOut, PublicOut};
use super::{Imported, unique_name};
use crate::config::model::{Named, Scheduler};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

/// Where a statement is, for notes.
#[derive(Debug, Clone)]
struct Place {
    file: String,
    line: usize,
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// One statement: its keyword, the words after it, and its block when it has one.
#[derive(Debug, Clone)]
struct Node {
    key: String,
    args: Vec<String>,
    children: Vec<Node>,
    at: Place,
}

impl Node {
    fn child(&self, key: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.key == key)
    }
    fn value(&self, key: &str) -> Option<&str> {
        self.child(key)
            .and_then(|c| c.args.first())
            .map(String::as_str)
    }
    fn number(&self, key: &str) -> Option<f64> {
        self.value(key).and_then(|v| v.parse().ok())
    }
}

#[derive(Debug)]
enum Token {
    Word(String, Place),
    Open,
    Close,
    EndOfLine,
}

const MAX_INCLUDE_DEPTH: usize = 16;

/// The tokens of the file at `path` (`-`: standard input, its includes relative to the
/// current directory) with its includes spliced in. Bytes that are not UTF-8 (a Latin-1
/// comment) are replaced, with a note per line, as every text reader does.
fn tokenize(
    path: &Path,
    depth: usize,
    out: &mut Vec<Token>,
    notes: &mut Vec<String>,
) -> Result<(), String> {
    let file = crate::config::source_name(path);
    let bytes = crate::config::read_input(path).map_err(|e| format!("cannot read {file}: {e}"))?;
    let (text, undecoded) = crate::config::decode_text(&bytes, &file);
    notes.extend(undecoded);
    tokenize_text(&text, &file, path, depth, out, notes)
}

fn tokenize_text(
    text: &str,
    file: &str,
    path: &Path,
    depth: usize,
    out: &mut Vec<Token>,
    notes: &mut Vec<String>,
) -> Result<(), String> {
    for (n, line) in text.lines().enumerate() {
        let at = Place {
            file: file.to_string(),
            line: n + 1,
        };
        let words = words(line);
        if words.first().map(String::as_str) == Some("include") {
            for pattern in &words[1..] {
                include(path, pattern, depth, &at, out, notes)?;
            }
            continue;
        }
        for w in words {
            out.push(match w.as_str() {
                "{" => Token::Open,
                "}" => Token::Close,
                _ => Token::Word(w, at.clone()),
            });
        }
        out.push(Token::EndOfLine);
    }
    Ok(())
}

fn include(
    from: &Path,
    pattern: &str,
    depth: usize,
    at: &Place,
    out: &mut Vec<Token>,
    notes: &mut Vec<String>,
) -> Result<(), String> {
    if depth >= MAX_INCLUDE_DEPTH {
        return Err(format!(
            "{at}: includes nested deeper than {MAX_INCLUDE_DEPTH} (a cycle?)"
        ));
    }
    let full = match Path::new(pattern).is_absolute() {
        true => PathBuf::from(pattern),
        false if from.as_os_str() == crate::config::STDIN_NAME => PathBuf::from(pattern),
        false => from.parent().unwrap_or(Path::new(".")).join(pattern),
    };
    let paths =
        glob::glob(&full.to_string_lossy()).map_err(|e| format!("{at}: include {pattern}: {e}"))?;
    // Directories a glob matches are passed over, as keepalived does.
    let mut found: Vec<PathBuf> = paths
        .filter_map(Result::ok)
        .filter(|p| !p.is_dir())
        .collect();
    found.sort();
    if found.is_empty() {
        notes.push(format!("{at}: include {pattern} matches no file"));
    }
    for p in found {
        tokenize(&p, depth + 1, out, notes)?;
    }
    Ok(())
}

/// A line's words: comments (from a word starting with `#` or `!`) cut, quoted strings
/// kept whole, braces as words of their own.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '#' || c == '!' {
            break;
        } else if c == '{' || c == '}' {
            out.push(c.to_string());
            chars.next();
        } else if c == '"' {
            chars.next();
            let mut word = String::new();
            for c in chars.by_ref() {
                if c == '"' {
                    break;
                }
                word.push(c);
            }
            out.push(word);
        } else {
            let mut word = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() || c == '{' || c == '}' {
                    break;
                }
                word.push(c);
                chars.next();
            }
            out.push(word);
        }
    }
    out
}

/// Statements until the end of the tokens or the `}` that closes the current block.
fn statements(tokens: &[Token], at: &mut usize) -> Vec<Node> {
    let mut nodes = Vec::new();
    let mut current: Option<Node> = None;
    while *at < tokens.len() {
        let token = &tokens[*at];
        *at += 1;
        match token {
            Token::Word(w, place) => match &mut current {
                Some(node) => node.args.push(w.clone()),
                None => {
                    current = Some(Node {
                        key: w.clone(),
                        args: Vec::new(),
                        children: Vec::new(),
                        at: place.clone(),
                    })
                }
            },
            Token::EndOfLine => nodes.extend(current.take()),
            Token::Open => {
                let children = statements(tokens, at);
                match current.take() {
                    Some(mut node) => {
                        node.children = children;
                        nodes.push(node);
                    }
                    // A block without a keyword: its statements count as this level's.
                    None => nodes.extend(children),
                }
            }
            Token::Close => {
                nodes.extend(current.take());
                return nodes;
            }
        }
    }
    nodes.extend(current);
    nodes
}

/// The config for the keepalived.conf at `path` (`-`: standard input).
pub fn import(path: &Path) -> Result<Imported, String> {
    let mut out = Imported::default();
    let mut tokens = Vec::new();
    tokenize(path, 0, &mut tokens, &mut out.notes)?;
    Ok(from_tokens(&tokens, &crate::config::source_name(path), out))
}

/// The config for keepalived.conf text already in memory; `file` names it in notes and its
/// includes are read relative to the current directory.
pub fn import_text(text: &str, file: &str) -> Result<Imported, String> {
    let mut out = Imported::default();
    let mut tokens = Vec::new();
    let here = Path::new(crate::config::STDIN_NAME);
    tokenize_text(text, file, here, 0, &mut tokens, &mut out.notes)?;
    Ok(from_tokens(&tokens, file, out))
}

fn from_tokens(tokens: &[Token], file: &str, mut out: Imported) -> Imported {
    let mut nodes = Vec::new();
    let mut at = 0;
    // A `}` that closes no block ends `statements` early: read on at the top level.
    while at < tokens.len() {
        nodes.extend(statements(tokens, &mut at));
    }
    let mut depth = 0i64;
    for t in tokens {
        depth += match t {
            Token::Open => 1,
            Token::Close => -1,
            _ => 0,
        };
        if depth < 0 {
            out.notes.push(format!("{file}: a \"}}\" closes no block"));
            break;
        }
    }
    if depth > 0 {
        out.notes
            .push(format!("{file}: {depth} block(s) are not closed"));
    }
    let groups: Vec<&Node> = nodes
        .iter()
        .filter(|n| n.key == "virtual_server_group")
        .collect();
    let mut names = BTreeSet::new();
    let vrrp = nodes.iter().find(|n| n.key == "vrrp_instance");
    for defs in nodes.iter().filter(|n| n.key == "global_defs") {
        global_defs(defs, vrrp, &mut out);
    }
    for node in &nodes {
        match node.key.as_str() {
            "virtual_server" => virtual_server(node, &groups, &mut names, &mut out),
            // Groups are read where a virtual server names them; VRRP after the servers.
            "virtual_server_group" | "global_defs" | "vrrp_instance" => {}
            other => out.notes.push(format!(
                "{}: {other} is not carried over (portfwd keeps IPVS services; keepalived keeps the rest)",
                node.at
            )),
        }
    }
    if let Some(v) = vrrp {
        vrrp_instance(v, &mut out);
    }
    for extra in nodes.iter().filter(|n| n.key == "vrrp_instance").skip(1) {
        out.notes.push(format!(
            "{}: vrrp_instance {}: portfwd describes one VRRP instance; only the first is carried over",
            extra.at,
            extra.args.first().map_or("", String::as_str)
        ));
    }
    out
}

/// keepalived's words for a forwarding method.
fn method(kind: &str) -> Option<&'static str> {
    match kind.to_ascii_uppercase().as_str() {
        "NAT" => Some("masq"),
        "DR" => Some("route"),
        "TUN" => Some("tunnel"),
        _ => None,
    }
}

/// The (address, port) pairs of a virtual server: its own, or its group's expanded.
fn listens(node: &Node, groups: &[&Node], out: &mut Imported) -> Vec<(IpAddr, u16)> {
    let note = |out: &mut Imported, what: String| out.notes.push(format!("{}: {what}", node.at));
    match node.args.as_slice() {
        [kind, ..] if kind == "fwmark" => {
            note(
                out,
                "a firewall-mark virtual server has no place in a portfwd config; skipped".into(),
            );
            Vec::new()
        }
        [kind, name, ..] if kind == "group" => {
            let Some(group) = groups.iter().find(|g| g.args.first() == Some(name)) else {
                note(
                    out,
                    format!("virtual_server_group {name} is not defined; skipped"),
                );
                return Vec::new();
            };
            let mut all = Vec::new();
            for entry in &group.children {
                match group_entry(entry) {
                    Ok(list) => all.extend(list),
                    Err(why) => out.notes.push(format!("{}: {why}; skipped", entry.at)),
                }
            }
            all
        }
        [addr, port, ..] => match (addr.parse::<IpAddr>(), port.parse::<u16>()) {
            (Ok(a), Ok(p)) => vec![(a, p)],
            _ => {
                note(
                    out,
                    format!("virtual_server {addr} {port}: not an address and port; skipped"),
                );
                Vec::new()
            }
        },
        _ => {
            note(
                out,
                "virtual_server without address and port; skipped".into(),
            );
            Vec::new()
        }
    }
}

/// One line of a virtual_server_group: `ADDR PORT`, `ADDR-LASTOCTET PORT` or `fwmark N`.
fn group_entry(entry: &Node) -> Result<Vec<(IpAddr, u16)>, String> {
    if entry.key == "fwmark" {
        return Err("a firewall-mark entry has no place in a portfwd config".into());
    }
    let port: u16 = entry
        .args
        .first()
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| format!("{}: no port", entry.key))?;
    if let Ok(a) = entry.key.parse::<IpAddr>() {
        return Ok(vec![(a, port)]);
    }
    let (first, last) = entry
        .key
        .rsplit_once('-')
        .ok_or_else(|| format!("{} is not an address or range", entry.key))?;
    let first: std::net::Ipv4Addr = first
        .parse()
        .map_err(|_| format!("{} is not an address range", entry.key))?;
    let last: u8 = last
        .parse()
        .map_err(|_| format!("{} is not an address range", entry.key))?;
    let [a, b, c, start] = first.octets();
    Ok((start..=last.max(start))
        .map(|d| (IpAddr::from([a, b, c, d]), port))
        .collect())
}

/// The keywords of each block the importer reads; any other is noted (FILE:LINE), with the
/// closest known one when it looks misspelled.
const VIRTUAL_SERVER: &[&str] = &[
    "lb_algo",
    "lvs_sched",
    "lb_kind",
    "lvs_method",
    "protocol",
    "persistence_timeout",
    "persistence_granularity",
    "sh-port",
    "sh-fallback",
    "mh-port",
    "mh-fallback",
    "real_server",
    "sorry_server",
    "delay_loop",
    "virtualhost",
    "inhibit_on_failure",
];
const REAL_SERVER: &[&str] = &[
    "weight",
    "uthreshold",
    "lthreshold",
    "inhibit_on_failure",
    "lvs_method",
];
/// The checkers portfwd carries over.
const CHECKERS: &[&str] = &["TCP_CHECK", "HTTP_GET", "SSL_GET", "MISC_CHECK"];
/// The checkers portfwd has no kind for: noted on their own (the server is not checked).
const OTHER_CHECKERS: &[&str] = &[
    "SMTP_CHECK",
    "DNS_CHECK",
    "UDP_CHECK",
    "PING_CHECK",
    "BFD_CHECK",
    "FILE_CHECK",
];
const TCP_CHECK: &[&str] = &["connect_timeout", "connect_port", "retry", "nb_get_retry"];
const HTTP_GET: &[&str] = &[
    "connect_timeout",
    "connect_port",
    "retry",
    "nb_get_retry",
    "url",
    "virtualhost",
];
const URL: &[&str] = &["path", "status_code", "digest"];
const MISC_CHECK: &[&str] = &["misc_path", "misc_timeout", "misc_dynamic", "retry"];
const VRRP_INSTANCE: &[&str] = &[
    "state",
    "interface",
    "virtual_router_id",
    "priority",
    "advert_int",
    "virtual_ipaddress",
    "unicast_peer",
    "nopreempt",
    "lvs_sync_daemon_interface",
];

/// A note for each keyword of `node` that none of the lists in `read` names.
fn note_unread(node: &Node, read: &[&[&str]], out: &mut Imported) {
    let known: Vec<&str> = read.concat();
    for c in &node.children {
        if known.contains(&c.key.as_str()) {
            continue;
        }
        let hint = crate::config::decode::closest(&c.key, &known)
            .map(|k| format!(" (did you mean {k}?)"))
            .unwrap_or_default();
        out.notes.push(format!(
            "{}: {} in {} is not carried over{hint}",
            c.at, c.key, node.key
        ));
    }
}

/// `lvs_sync_daemon IFACE INSTANCE [id N] [maxlen N] [port N] [ttl N] [group ADDR]` as
/// `sync`; every other global setting stays keepalived's.
fn global_defs(defs: &Node, vrrp: Option<&Node>, out: &mut Imported) {
    for c in &defs.children {
        if c.key != "lvs_sync_daemon" {
            out.notes.push(format!(
                "{}: {} in global_defs is keepalived's own; not carried over",
                c.at, c.key
            ));
            continue;
        }
        let Some(interface) = c.args.first() else {
            out.notes.push(format!(
                "{}: lvs_sync_daemon without an interface; skipped",
                c.at
            ));
            continue;
        };
        let mut sync = json!({ "interface": interface });
        // keepalived's sync id defaults to the named VRRP instance's router id.
        let instance = c.args.get(1);
        let router_id = vrrp
            .filter(|v| v.args.first() == instance)
            .and_then(|v| v.number("virtual_router_id"));
        if let Some(id) = router_id {
            sync["sync_id"] = json!(id as u8);
        }
        let mut words = c.args.iter().skip(2);
        while let Some(word) = words.next() {
            let value = words.next();
            let field = match word.as_str() {
                "id" => "sync_id",
                "maxlen" => "max_len",
                "port" => "port",
                "ttl" => "ttl",
                "group" => "group",
                other => {
                    out.notes.push(format!(
                        "{}: lvs_sync_daemon option {other} is not carried over",
                        c.at
                    ));
                    continue;
                }
            };
            match (field, value) {
                ("group", Some(v)) => sync[field] = json!(v),
                (_, Some(v)) => match v.parse::<u32>() {
                    Ok(n) => sync[field] = json!(n),
                    Err(_) => out.notes.push(format!(
                        "{}: lvs_sync_daemon {word} {v} is not a number",
                        c.at
                    )),
                },
                (_, None) => out
                    .notes
                    .push(format!("{}: lvs_sync_daemon {word} has no value", c.at)),
            }
        }
        out.config.sync = Some(sync);
    }
}

fn virtual_server(node: &Node, groups: &[&Node], names: &mut BTreeSet<String>, out: &mut Imported) {
    let listens = listens(node, groups, out);
    if listens.is_empty() {
        return;
    }
    let scheduler_word = node
        .value("lb_algo")
        .or_else(|| node.value("lvs_sched"))
        .unwrap_or("wlc");
    let skip =
        |out: &mut Imported, why: String| out.notes.push(format!("{}: {why}; skipped", node.at));
    let Some(scheduler) = Scheduler::from_name(scheduler_word) else {
        return skip(
            out,
            format!("scheduler {scheduler_word} is not one portfwd knows"),
        );
    };
    let kind = node
        .value("lb_kind")
        .or_else(|| node.value("lvs_method"))
        .unwrap_or("NAT");
    let Some(method) = method(kind) else {
        return skip(
            out,
            format!("forwarding method {kind} is not NAT, DR or TUN"),
        );
    };
    let protocol = node.value("protocol").unwrap_or("TCP").to_ascii_lowercase();
    if !matches!(protocol.as_str(), "tcp" | "udp" | "sctp") {
        return skip(out, format!("protocol {protocol} is not tcp, udp or sctp"));
    }
    // keepalived's default persistence, when the keyword has no value, is 6 minutes.
    let persistence = node
        .child("persistence_timeout")
        .map(|c| c.args.first().and_then(|v| v.parse().ok()).unwrap_or(360));
    let persistence_netmask = match node.value("persistence_granularity") {
        None => None,
        Some(m) => match m.parse::<std::net::Ipv4Addr>() {
            Ok(mask) => match super::prefix_len(IpAddr::V4(mask), u32::from(mask)) {
                Ok(len) => Some(len),
                Err(why) => return skip(out, format!("persistence_granularity: {why}")),
            },
            Err(_) => match m.parse() {
                Ok(len) => Some(len),
                Err(_) => {
                    return skip(out, format!("persistence_granularity {m} is not a netmask"));
                }
            },
        },
    };
    let mut scheduler_flags = Vec::new();
    for flag in ["sh-port", "sh-fallback", "mh-port", "mh-fallback"] {
        if node.child(flag).is_some() {
            scheduler_flags.push(flag.to_string());
        }
    }
    note_unread(node, &[VIRTUAL_SERVER], out);
    let reals: Vec<&Node> = node
        .children
        .iter()
        .filter(|c| c.key == "real_server")
        .collect();
    for r in &reals {
        note_unread(r, &[REAL_SERVER, CHECKERS, OTHER_CHECKERS], out);
    }
    let health = health(node, &reals, out);
    let fallback = node
        .child("sorry_server")
        .and_then(|s| match s.args.as_slice() {
            [a, p, ..] => a.parse::<IpAddr>().ok().zip(p.parse::<u16>().ok()),
            _ => None,
        });
    if fallback.is_some() && health.is_none() {
        out.notes.push(format!(
            "{}: sorry_server needs health checks in portfwd; left out",
            node.at
        ));
    }
    // Each real server once (its notes too), then one backend per listen address.
    let servers: Vec<(IpAddr, Option<u16>, &Node)> = reals
        .iter()
        .filter_map(|r| {
            let a = r.args.first().and_then(|a| a.parse::<IpAddr>().ok());
            if a.is_none() {
                out.notes
                    .push(format!("{}: real_server without an address; skipped", r.at));
            }
            Some((a?, r.args.get(1).and_then(|p| p.parse::<u16>().ok()), *r))
        })
        .collect();
    for (addr, port) in listens {
        let backends = servers
            .iter()
            .map(|(a, p, r)| BackendOut {
                address: SocketAddr::new(*a, p.unwrap_or(port)),
                weight: r.number("weight").map_or(1, |w| w.max(0.0) as u32),
                upper_threshold: r.number("uthreshold").map_or(0, |v| v as u32),
                lower_threshold: r.number("lthreshold").map_or(0, |v| v as u32),
                // IPVS sets the method per destination: a real server's own is its backend's.
                method: r
                    .value("lvs_method")
                    .and_then(self::method)
                    .filter(|own| *own != method),
                origin: Some(r.at.to_string()),
            })
            .collect();
        if !out.config.public.iter().any(|p| p.address == addr) {
            out.config.public.push(PublicOut {
                address: addr,
                interface: None,
                prefix_len: None,
                floating: None,
            });
        }
        out.config.forwards.push(ForwardOut {
            name: unique_name(&protocol, addr, port, names),
            protocol: (protocol != "tcp").then(|| protocol.clone()),
            listen: SocketAddr::new(addr, port).to_string(),
            backends,
            scheduler: scheduler.name().to_string(),
            method: (method != "masq").then(|| method.to_string()),
            persistence,
            persistence_netmask,
            scheduler_flags: scheduler_flags.clone(),
            health: health.clone(),
            fallback: health
                .as_ref()
                .and(fallback)
                .map(|(a, p)| SocketAddr::new(a, p).to_string()),
            origin: Some(node.at.to_string()),
        });
    }
}

/// The checkers of a virtual server's real servers as one `health` (portfwd checks per
/// forward): the first real server's, with a note when others differ.
fn health(vs: &Node, reals: &[&Node], out: &mut Imported) -> Option<Value> {
    let mut found: Vec<(Value, String)> = Vec::new();
    for r in reals {
        for c in &r.children {
            if OTHER_CHECKERS.contains(&c.key.as_str()) {
                out.notes.push(format!(
                    "{}: {} is not supported; the server is not checked",
                    c.at, c.key
                ));
            }
        }
        let Some(checker) = r
            .children
            .iter()
            .find(|c| CHECKERS.contains(&c.key.as_str()))
        else {
            continue;
        };
        let on_failure = if r.child("inhibit_on_failure").is_some()
            || vs.child("inhibit_on_failure").is_some()
        {
            "inhibit"
        } else {
            "remove"
        };
        if let Some(mut h) = checker_health(vs, checker, on_failure, out) {
            // A command that names its server: the same for all with placeholders.
            let port = r.args.get(1).or_else(|| vs.args.get(1));
            if let (Some(command), Some(addr)) = (h.get_mut("command"), r.args.first()) {
                *command = placeholders(command, addr, port.map(String::as_str));
            }
            found.push((h, checker.at.to_string()));
        }
    }
    let (first, _) = found.first()?.clone();
    if let Some((_, at)) = found.iter().find(|(h, _)| *h != first) {
        if first.get("command").is_some() {
            out.notes.push(format!(
                "{at}: the real servers' MISC_CHECK commands differ beyond their address and port ({{address}}, {{port}}): portfwd runs one command for every backend of a forward, so the virtual server at {} is imported without health checks",
                vs.at
            ));
            return None;
        }
        out.notes.push(format!(
            "{at}: this real server is checked differently from the first; portfwd checks every backend of a forward alike, with the first one's check"
        ));
    }
    if found.len() < reals.len() {
        out.notes.push(format!(
            "{}: some real servers have no checker; in portfwd all are checked",
            vs.at
        ));
    }
    Some(first)
}

/// A command's words with the server's address as `{address}` and its port (a whole word,
/// or after `:` or `=`) as `{port}`.
fn placeholders(command: &Value, addr: &str, port: Option<&str>) -> Value {
    let Some(words) = command.as_array() else {
        return command.clone();
    };
    let words: Vec<Value> = words
        .iter()
        .map(|w| {
            let Some(w) = w.as_str() else {
                return w.clone();
            };
            let mut w = w.replace(addr, "{address}");
            if let Some(port) = port {
                if w == port {
                    w = "{port}".to_string();
                }
                w = port_after_separators(&w, port);
            }
            Value::String(w)
        })
        .collect();
    Value::Array(words)
}

/// `port` after `:` or `=`, ending there or before a non-digit, as `{port}`.
fn port_after_separators(word: &str, port: &str) -> String {
    let mut out = String::with_capacity(word.len());
    let mut rest = word;
    while let Some(i) = rest.find([':', '=']) {
        out.push_str(&rest[..=i]);
        let after = &rest[i + 1..];
        let whole = after
            .strip_prefix(port)
            .filter(|tail| !tail.starts_with(|c: char| c.is_ascii_digit()));
        match whole {
            Some(tail) => {
                out.push_str("{port}");
                rest = tail;
            }
            None => rest = after,
        }
    }
    out.push_str(rest);
    out
}

fn checker_health(
    vs: &Node,
    c: &Node,
    on_failure: &'static str,
    out: &mut Imported,
) -> Option<Value> {
    // keepalived's defaults: delay_loop 60 s, connect_timeout 5 s, retry 1 (MISC_CHECK 0).
    let interval = vs.number("delay_loop").unwrap_or(60.0).max(0.1);
    let timeout_key = if c.key == "MISC_CHECK" {
        "misc_timeout"
    } else {
        "connect_timeout"
    };
    let mut timeout = c.number(timeout_key).unwrap_or(5.0);
    if timeout >= interval {
        out.notes.push(format!(
            "{}: timeout {timeout}s is not below delay_loop {interval}s; portfwd needs it below, so it is {}s",
            c.at,
            interval / 2.0
        ));
        timeout = interval / 2.0;
    }
    let retry = c
        .number("retry")
        .or_else(|| c.number("nb_get_retry"))
        .unwrap_or(if c.key == "MISC_CHECK" { 0.0 } else { 1.0 });
    match c.key.as_str() {
        "HTTP_GET" | "SSL_GET" => note_unread(c, &[HTTP_GET], out),
        "MISC_CHECK" => note_unread(c, &[MISC_CHECK], out),
        _ => note_unread(c, &[TCP_CHECK], out),
    }
    let mut h = HealthOut {
        check: "tcp",
        interval: seconds(interval),
        timeout: seconds(timeout),
        rise: 1,
        fall: (retry as u32 + 1).clamp(1, 100),
        port: c.number("connect_port").map(|p| p as u16),
        path: None,
        host: None,
        expect_status: None,
        command: None,
        on_failure,
    };
    match c.key.as_str() {
        "HTTP_GET" | "SSL_GET" => {
            h.check = if c.key == "HTTP_GET" { "http" } else { "https" };
            // keepalived accepts any 2xx when a url names no status_code.
            h.expect_status = Some([200, 299]);
            for extra in c.children.iter().filter(|u| u.key == "url").skip(1) {
                out.notes.push(format!(
                    "{}: a second url is not checked: portfwd checks one path, the first url's",
                    extra.at
                ));
            }
            if let Some(url) = c.child("url") {
                note_unread(url, &[URL], out);
                h.path = url.value("path").map(str::to_string);
                if url.child("digest").is_some() {
                    out.notes.push(format!(
                        "{}: digest is not supported; only the status is checked",
                        url.at
                    ));
                }
                if let Some((a, b)) = url.value("status_code").and_then(status_range) {
                    h.expect_status = Some([a, b]);
                }
            }
            h.host = c
                .value("virtualhost")
                .or_else(|| vs.value("virtualhost"))
                .map(str::to_string);
        }
        "MISC_CHECK" => {
            let command: Vec<String> = c.value("misc_path").map(words).unwrap_or_default();
            if !command.first().is_some_and(|p| p.starts_with('/')) {
                out.notes.push(format!(
                    "{}: misc_path must be an absolute command for portfwd; not checked",
                    c.at
                ));
                return None;
            }
            if c.child("misc_dynamic").is_some() {
                out.notes.push(format!("{}: misc_dynamic (weights from exit codes) is not supported: exit 0 is up, anything else down", c.at));
            }
            h.check = "exec";
            h.command = Some(command);
        }
        _ => {}
    }
    serde_json::to_value(h).ok()
}

/// A whole number of seconds as an integer, a fraction as it is.
fn seconds(s: f64) -> Value {
    if s.fract() == 0.0 && s < 1e9 {
        json!(s as u64)
    } else {
        json!(s)
    }
}

/// `health` in the order docs/config.md lists its fields.
#[derive(serde::Serialize)]
struct HealthOut {
    check: &'static str,
    interval: Value,
    timeout: Value,
    rise: u32,
    fall: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expect_status: Option<[u16; 2]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    command: Option<Vec<String>>,
    on_failure: &'static str,
}

/// `200`, `200-299`, or the first of a list, as an inclusive range.
fn status_range(text: &str) -> Option<(u16, u16)> {
    let first = text.split([',', ' ']).next()?;
    match first.split_once('-') {
        Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
        None => first.parse().ok().map(|c| (c, c)),
    }
}

/// The first VRRP instance as `vrrp`, its addresses that are virtual servers' as floating.
fn vrrp_instance(v: &Node, out: &mut Imported) {
    let name = v.args.first().map_or("", String::as_str);
    let (Some(interface), Some(router_id)) = (v.value("interface"), v.number("virtual_router_id"))
    else {
        out.notes.push(format!(
            "{}: vrrp_instance {name} has no interface or virtual_router_id; not carried over",
            v.at
        ));
        return;
    };
    let mut floating = 0;
    for vip in v
        .child("virtual_ipaddress")
        .map(|c| c.children.as_slice())
        .unwrap_or_default()
    {
        let (addr, len) = match vip.key.split_once('/') {
            Some((a, l)) => (a, l.parse::<u8>().ok()),
            None => (vip.key.as_str(), None),
        };
        let dev = vip
            .args
            .iter()
            .position(|w| w == "dev")
            .and_then(|i| vip.args.get(i + 1))
            .map_or(interface, String::as_str);
        let public = addr
            .parse::<IpAddr>()
            .ok()
            .and_then(|a| out.config.public.iter_mut().find(|p| p.address == a));
        match public {
            Some(p) => {
                p.interface = Some(dev.to_string());
                p.prefix_len = len;
                p.floating = Some(true);
                floating += 1;
            }
            None => out.notes.push(format!(
                "{}: {} is not a virtual server's address; if it is the guests' gateway, declare it as a bridge's floating_address",
                vip.at, vip.key
            )),
        }
    }
    if floating == 0 {
        out.notes.push(format!(
            "{}: vrrp_instance {name} moves no virtual server address; not carried over",
            v.at
        ));
        return;
    }
    let mut vrrp = json!({
        "interface": interface,
        "router_id": router_id as u8,
        "priority": v.number("priority").unwrap_or(100.0) as u8,
        "advert_interval": v.number("advert_int").unwrap_or(1.0).max(1.0) as u8,
    });
    let peers: Vec<String> = v
        .child("unicast_peer")
        .map(|c| c.children.iter().map(|p| p.key.clone()).collect())
        .unwrap_or_default();
    if !peers.is_empty() {
        vrrp["unicast_peers"] = json!(peers);
    }
    if v.child("nopreempt").is_none() {
        vrrp["preempt"] = json!(true);
    }
    note_unread(v, &[VRRP_INSTANCE], out);
    // The old form of lvs_sync_daemon: this instance's interface, its router id as sync id.
    if let Some(interface) = v.value("lvs_sync_daemon_interface")
        && out.config.sync.is_none()
    {
        out.config.sync = Some(json!({ "interface": interface, "sync_id": router_id as u8 }));
    }
    out.config.vrrp = Some(vrrp);
}

#[cfg(test)]
mod tests;
