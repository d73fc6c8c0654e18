//! The host firewall's INPUT path, reduced to what decides whether a new connection to a
//! listen port gets through: IPVS sees packets in LOCAL_IN, after the filter table, so a
//! forward behind a dropping INPUT chain silently does not work. Read from `nft -j list
//! ruleset` or `iptables-save`; a rule with a match this model does not know counts as one
//! that may let the packet through, so a verdict of "dropped" is certain, never a guess.

use super::ipvs::{IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP};
use std::collections::BTreeMap;

/// What a rule does when it matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    Drop,
    Jump(String),
    Goto(String),
    Return,
    /// Counters, logs, marks: the packet goes on to the next rule.
    Continue,
}

/// One rule, as far as a new connection to a port is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// An IP protocol number the rule requires.
    pub protocol: Option<u16>,
    /// Destination port ranges the rule requires.
    pub ports: Option<Vec<(u16, u16)>>,
    /// The rule can never match a new connection from outside (`ct state established`,
    /// `-i lo`).
    pub never: bool,
    /// The rule has matches the model does not know (addresses, interfaces, marks…).
    pub unknown: bool,
    pub verdict: Verdict,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Chain {
    /// The policy of a base chain hooked at input; `None` for a regular chain.
    pub policy: Option<Verdict>,
    pub rules: Vec<Rule>,
}

/// The chains of one table, by name, and which of them are hooked at input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    /// `ip`, `ip6` or `inet` (iptables: `ip`/`ip6`).
    pub family: String,
    pub name: String,
    pub chains: BTreeMap<String, Chain>,
    pub input: Vec<String>,
}

/// What happens to a new connection to one port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    Accepted,
    Dropped,
    /// A rule that may or may not match decides it: no claim is made.
    Unknown,
}

enum Outcome {
    Decided(Fate),
    FellThrough,
}

const MAX_DEPTH: usize = 16;

impl Table {
    /// Whether the table's input chains drop a new connection of `protocol` to `port`, for
    /// an address of IPv4 (`v4`) or IPv6.
    pub fn fate(&self, v4: bool, protocol: u16, port: u16) -> Fate {
        let applies = match self.family.as_str() {
            "ip" => v4,
            "ip6" => !v4,
            "inet" => true,
            _ => false,
        };
        if !applies {
            return Fate::Accepted;
        }
        for name in &self.input {
            match self.run(name, protocol, port, 0) {
                Outcome::Decided(Fate::Accepted) | Outcome::FellThrough => {}
                Outcome::Decided(fate) => return fate,
            }
        }
        Fate::Accepted
    }

    fn run(&self, name: &str, protocol: u16, port: u16, depth: usize) -> Outcome {
        let Some(chain) = self.chains.get(name) else {
            return Outcome::Decided(Fate::Unknown);
        };
        if depth > MAX_DEPTH {
            return Outcome::Decided(Fate::Unknown);
        }
        for rule in &chain.rules {
            if rule.never
                || rule.protocol.is_some_and(|p| p != protocol)
                || rule
                    .ports
                    .as_ref()
                    .is_some_and(|r| !r.iter().any(|(a, b)| (*a..=*b).contains(&port)))
            {
                continue;
            }
            // A rule that may not match: what it would decide is only a possibility.
            let maybe = |fate: Fate| match (rule.unknown, fate) {
                (false, fate) => Some(Outcome::Decided(fate)),
                (true, Fate::Dropped) => None,
                (true, _) => Some(Outcome::Decided(Fate::Unknown)),
            };
            // `return`, and a `goto` whose chain falls through, end this chain: a base
            // chain's policy then decides.
            let decided = match &rule.verdict {
                Verdict::Accept => maybe(Fate::Accepted),
                Verdict::Drop => maybe(Fate::Dropped),
                Verdict::Continue => None,
                Verdict::Return if rule.unknown => Some(Outcome::Decided(Fate::Unknown)),
                Verdict::Return => break,
                Verdict::Jump(target) | Verdict::Goto(target) => {
                    match self.run(target, protocol, port, depth + 1) {
                        Outcome::Decided(fate) => maybe(fate),
                        Outcome::FellThrough if matches!(rule.verdict, Verdict::Goto(_)) => {
                            if rule.unknown {
                                Some(Outcome::Decided(Fate::Unknown))
                            } else {
                                break;
                            }
                        }
                        Outcome::FellThrough => None,
                    }
                }
            };
            if let Some(outcome) = decided {
                return outcome;
            }
        }
        match &chain.policy {
            Some(Verdict::Drop) => Outcome::Decided(Fate::Dropped),
            Some(_) => Outcome::Decided(Fate::Accepted),
            None => Outcome::FellThrough,
        }
    }
}

/// The protocol number of a name as nft and iptables write it.
pub fn protocol_number(name: &str) -> Option<u16> {
    match name {
        "tcp" | "6" => Some(IPPROTO_TCP),
        "udp" | "17" => Some(IPPROTO_UDP),
        "sctp" | "132" => Some(IPPROTO_SCTP),
        _ => None,
    }
}

impl Rule {
    /// A rule without conditions (so far) doing `verdict`.
    fn new(verdict: Verdict) -> Rule {
        Rule {
            protocol: None,
            ports: None,
            never: false,
            unknown: false,
            verdict,
        }
    }
}

/// Tables from `iptables-save` (or `ip6tables-save`, `family` `ip6`) output: the filter
/// table's INPUT chain and what it jumps to.
pub fn from_iptables_save(text: &str, family: &str) -> Vec<Table> {
    let mut tables = Vec::new();
    let mut current: Option<Table> = None;
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix('*') {
            tables.extend(current.take());
            current = Some(Table {
                family: family.to_string(),
                name: name.to_string(),
                ..Table::default()
            });
            continue;
        }
        let Some(table) = current.as_mut().filter(|t| t.name == "filter") else {
            continue;
        };
        if let Some(rest) = line.strip_prefix(':') {
            let mut words = rest.split_whitespace();
            let (Some(name), Some(policy)) = (words.next(), words.next()) else {
                continue;
            };
            let policy = match policy {
                "DROP" => Some(Verdict::Drop),
                "ACCEPT" => Some(Verdict::Accept),
                _ => None,
            };
            if name == "INPUT" {
                table.input.push(name.to_string());
            }
            table.chains.insert(
                name.to_string(),
                Chain {
                    policy,
                    rules: Vec::new(),
                },
            );
        } else if let Some(rest) = line.strip_prefix("-A ") {
            let words: Vec<&str> = rest.split_whitespace().collect();
            let Some((chain, args)) = words.split_first() else {
                continue;
            };
            let rule = iptables_rule(args);
            table
                .chains
                .entry(chain.to_string())
                .or_default()
                .rules
                .push(rule);
        }
    }
    tables.extend(current);
    tables.retain(|t| t.name == "filter");
    tables
}

fn iptables_rule(args: &[&str]) -> Rule {
    let target_at = args
        .iter()
        .position(|w| matches!(*w, "-j" | "--jump" | "-g" | "--goto"));
    let (conditions, target) = match target_at {
        Some(i) => (&args[..i], args.get(i..i + 2)),
        None => (args, None),
    };
    let verdict = match target {
        Some([how, target]) => match *target {
            "ACCEPT" => Verdict::Accept,
            "DROP" | "REJECT" => Verdict::Drop,
            "RETURN" => Verdict::Return,
            "LOG" | "NFLOG" | "MARK" | "CONNMARK" | "NOTRACK" | "CT" => Verdict::Continue,
            chain if *how == "-g" || *how == "--goto" => Verdict::Goto(chain.to_string()),
            chain => Verdict::Jump(chain.to_string()),
        },
        _ => Verdict::Continue,
    };
    let mut rule = Rule::new(verdict);
    let mut words = conditions.iter().copied().peekable();
    // An option's value, when it has one (`--syn` has none).
    fn option_value<'a>(words: &mut std::iter::Peekable<impl Iterator<Item = &'a str>>) -> &'a str {
        words.next_if(|w| !w.starts_with('-')).unwrap_or("")
    }
    while let Some(word) = words.next() {
        match word {
            "!" => {
                // A negated condition: skip it, whatever it is.
                rule.unknown = true;
                let _ = words.next();
                option_value(&mut words);
                continue;
            }
            "-m" | "--match" => {
                option_value(&mut words);
            }
            "-p" | "--protocol" => match option_value(&mut words) {
                "all" => {}
                name => match protocol_number(name) {
                    Some(p) => rule.protocol = Some(p),
                    None => rule.never = true,
                },
            },
            "--dport" | "--destination-port" | "--dports" | "--destination-ports" => {
                rule.ports = Some(port_list(option_value(&mut words)));
            }
            "--ctstate" | "--state" => {
                if !option_value(&mut words)
                    .split(',')
                    .any(|s| s == "NEW" || s == "UNTRACKED")
                {
                    rule.never = true;
                }
            }
            "-i" | "--in-interface" if option_value(&mut words) == "lo" => rule.never = true,
            _ => {
                rule.unknown = true;
                option_value(&mut words);
            }
        }
    }
    rule
}

/// iptables' `22`, `1000:2000`, `80,443,8000:8080` as ranges.
fn port_list(text: &str) -> Vec<(u16, u16)> {
    text.split(',')
        .filter_map(|p| match p.split_once(':') {
            Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
            None => p.parse().ok().map(|n| (n, n)),
        })
        .collect()
}

/// Tables from `nft -j list ruleset`: every ip/ip6/inet table with a filter chain hooked
/// at input. `None` when the text is not nft's JSON.
pub fn from_nft_json(text: &str) -> Option<Vec<Table>> {
    let doc: serde_json::Value = serde_json::from_str(text).ok()?;
    let items = doc.get("nftables")?.as_array()?;
    let mut tables: BTreeMap<(String, String), Table> = BTreeMap::new();
    for item in items {
        let (chain, rule) = (item.get("chain"), item.get("rule"));
        let Some(o) = chain.or(rule) else {
            continue;
        };
        let text = |key: &str| o.get(key).and_then(|v| v.as_str()).map(str::to_string);
        let (Some(family), Some(table_name)) = (text("family"), text("table")) else {
            continue;
        };
        let table = tables
            .entry((family.clone(), table_name.clone()))
            .or_insert_with(|| Table {
                family,
                name: table_name,
                ..Table::default()
            });
        if chain.is_some() {
            let Some(name) = text("name") else {
                continue;
            };
            let hooked = text("hook").as_deref() == Some("input")
                && text("type").as_deref() == Some("filter");
            if hooked {
                table.input.push(name.clone());
            }
            table.chains.entry(name).or_default().policy =
                hooked.then(|| match text("policy").as_deref() {
                    Some("drop") => Verdict::Drop,
                    _ => Verdict::Accept,
                });
        } else if let Some(chain) = text("chain") {
            let exprs = o.get("expr").and_then(|e| e.as_array());
            let rule = nft_rule(exprs.map_or(&[][..], Vec::as_slice));
            table.chains.entry(chain).or_default().rules.push(rule);
        }
    }
    Some(
        tables
            .into_values()
            .filter(|t| !t.input.is_empty())
            .collect(),
    )
}

fn nft_rule(exprs: &[serde_json::Value]) -> Rule {
    let mut rule = Rule::new(Verdict::Continue);
    for e in exprs {
        let Some((key, value)) = e.as_object().and_then(|o| o.iter().next()) else {
            continue;
        };
        match key.as_str() {
            "match" => nft_match(value, &mut rule),
            "accept" => rule.verdict = Verdict::Accept,
            "drop" | "reject" => rule.verdict = Verdict::Drop,
            "return" => rule.verdict = Verdict::Return,
            "jump" | "goto" => {
                let target = value
                    .get("target")
                    .and_then(|t| t.as_str())
                    .unwrap_or_default()
                    .to_string();
                rule.verdict = if key == "jump" {
                    Verdict::Jump(target)
                } else {
                    Verdict::Goto(target)
                };
            }
            "counter" | "log" | "limit" | "comment" => {}
            _ => rule.unknown = true,
        }
    }
    rule
}

fn nft_match(m: &serde_json::Value, rule: &mut Rule) {
    let op = m.get("op").and_then(|o| o.as_str()).unwrap_or("==");
    let left = m.get("left").unwrap_or(&serde_json::Value::Null);
    let right = m.get("right").unwrap_or(&serde_json::Value::Null);
    let equal = op == "==" || op == "in";
    let payload = left.get("payload");
    let field = payload
        .and_then(|p| p.get("field"))
        .and_then(|f| f.as_str());
    let meta = left
        .get("meta")
        .and_then(|p| p.get("key"))
        .and_then(|k| k.as_str());
    let ct = left
        .get("ct")
        .and_then(|p| p.get("key"))
        .and_then(|k| k.as_str());
    if equal && field == Some("dport") {
        let protocol = payload
            .and_then(|p| p.get("protocol"))
            .and_then(|p| p.as_str())
            .and_then(protocol_number);
        rule.protocol = protocol.or(rule.protocol);
        rule.ports = Some(nft_ports(right));
    } else if equal
        && (meta == Some("l4proto") || field == Some("protocol") || field == Some("nexthdr"))
    {
        match right
            .as_str()
            .and_then(protocol_number)
            .or_else(|| right.as_u64().and_then(|n| u16::try_from(n).ok()))
        {
            Some(p) => rule.protocol = Some(p),
            None => rule.unknown = true,
        }
    } else if ct == Some("state") {
        let states: Vec<&str> = match right {
            serde_json::Value::String(s) => vec![s.as_str()],
            serde_json::Value::Array(a) => a.iter().filter_map(|s| s.as_str()).collect(),
            serde_json::Value::Object(o) => o
                .get("set")
                .and_then(|s| s.as_array())
                .map(|a| a.iter().filter_map(|s| s.as_str()).collect())
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        let new = states.iter().any(|s| *s == "new" || *s == "untracked");
        if (equal && !new) || (op == "!=" && new) {
            rule.never = true;
        } else if op != "==" && op != "in" && op != "!=" {
            rule.unknown = true;
        }
    } else if equal && matches!(meta, Some("iifname" | "iif")) && right.as_str() == Some("lo") {
        rule.never = true;
    } else {
        rule.unknown = true;
    }
}

fn nft_ports(right: &serde_json::Value) -> Vec<(u16, u16)> {
    let one = |v: &serde_json::Value| -> Option<(u16, u16)> {
        if let Some(n) = v.as_u64() {
            let n = u16::try_from(n).ok()?;
            return Some((n, n));
        }
        let r = v.get("range")?.as_array()?;
        Some((
            u16::try_from(r.first()?.as_u64()?).ok()?,
            u16::try_from(r.get(1)?.as_u64()?).ok()?,
        ))
    };
    match right.get("set").and_then(|s| s.as_array()) {
        Some(items) => items.iter().filter_map(one).collect(),
        None => one(right).into_iter().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `iptables-save` prints for NixOS's default firewall with port 22 open.
    const NIXOS_IPTABLES: &str = "\
# Generated by iptables-save v1.8.10
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:nixos-fw - [0:0]
:nixos-fw-accept - [0:0]
:nixos-fw-log-refuse - [0:0]
:nixos-fw-refuse - [0:0]
-A INPUT -j nixos-fw
-A nixos-fw -i lo -j nixos-fw-accept
-A nixos-fw -m conntrack --ctstate RELATED,ESTABLISHED -j nixos-fw-accept
-A nixos-fw -p tcp -m tcp --dport 22 -j nixos-fw-accept
-A nixos-fw -p tcp -m multiport --dports 8000:8010,9000 -j nixos-fw-accept
-A nixos-fw -p icmp -m icmp --icmp-type 8 -j nixos-fw-accept
-A nixos-fw -j nixos-fw-log-refuse
-A nixos-fw-accept -j ACCEPT
-A nixos-fw-log-refuse -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -j LOG --log-prefix \"refused connection: \" --log-level 6
-A nixos-fw-log-refuse -m pkttype ! --pkt-type unicast -j nixos-fw-refuse
-A nixos-fw-log-refuse -j nixos-fw-refuse
-A nixos-fw-refuse -j DROP
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
-A PREROUTING -p tcp --dport 2222 -j DROP
COMMIT
";

    #[test]
    fn nixos_iptables_firewall_drops_closed_ports() {
        let tables = from_iptables_save(NIXOS_IPTABLES, "ip");
        assert_eq!(tables.len(), 1, "only the filter table");
        let t = &tables[0];
        assert_eq!(t.fate(true, 6, 22), Fate::Accepted);
        assert_eq!(t.fate(true, 6, 8005), Fate::Accepted);
        assert_eq!(t.fate(true, 6, 9000), Fate::Accepted);
        assert_eq!(t.fate(true, 6, 2222), Fate::Dropped);
        assert_eq!(t.fate(true, 17, 53), Fate::Dropped);
        assert_eq!(
            t.fate(false, 6, 2222),
            Fate::Accepted,
            "an ip table says nothing of IPv6"
        );
    }

    #[test]
    fn rules_it_cannot_read_never_make_a_drop_certain() {
        let text = "*filter\n:INPUT DROP [0:0]\n-A INPUT -s 192.0.2.0/24 -j ACCEPT\nCOMMIT\n";
        let t = &from_iptables_save(text, "ip")[0];
        assert_eq!(t.fate(true, 6, 2222), Fate::Unknown);
        let text = "*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp --dport 2222 -j ACCEPT\nCOMMIT\n";
        assert_eq!(
            from_iptables_save(text, "ip")[0].fate(true, 6, 2222),
            Fate::Accepted
        );
        let text = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p udp -j REJECT --reject-with icmp-port-unreachable\nCOMMIT\n";
        let t = &from_iptables_save(text, "ip")[0];
        assert_eq!(t.fate(true, 17, 53), Fate::Dropped);
        assert_eq!(t.fate(true, 6, 53), Fate::Accepted);
    }

    #[test]
    fn a_return_in_a_base_chain_leaves_the_packet_to_the_policy() {
        let text = "*filter\n:INPUT DROP [0:0]\n:skip - [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\n-A INPUT -p tcp -j RETURN\n-A INPUT -j ACCEPT\nCOMMIT\n";
        let t = &from_iptables_save(text, "ip")[0];
        assert_eq!(t.fate(true, 6, 22), Fate::Accepted);
        assert_eq!(
            t.fate(true, 6, 2222),
            Fate::Dropped,
            "RETURN from INPUT: the policy"
        );
        assert_eq!(t.fate(true, 17, 53), Fate::Accepted);
        let text = "*filter\n:INPUT DROP [0:0]\n:empty - [0:0]\n-A INPUT -p tcp -g empty\n-A INPUT -j ACCEPT\nCOMMIT\n";
        let t = &from_iptables_save(text, "ip")[0];
        assert_eq!(
            t.fate(true, 6, 2222),
            Fate::Dropped,
            "a goto that falls through: the policy"
        );
    }

    /// `nft -j list ruleset` for NixOS's nftables firewall (abridged to what matters).
    const NIXOS_NFT: &str = r#"{"nftables": [
      {"metainfo": {"version": "1.0.9", "json_schema_version": 1}},
      {"table": {"family": "inet", "name": "nixos-fw", "handle": 1}},
      {"chain": {"family": "inet", "table": "nixos-fw", "name": "input", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}},
      {"chain": {"family": "inet", "table": "nixos-fw", "name": "input-allow", "handle": 2}},
      {"rule": {"family": "inet", "table": "nixos-fw", "chain": "input", "expr": [
        {"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "lo"}}, {"accept": null}]}},
      {"rule": {"family": "inet", "table": "nixos-fw", "chain": "input", "expr": [
        {"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": ["established", "related"]}}, {"accept": null}]}},
      {"rule": {"family": "inet", "table": "nixos-fw", "chain": "input", "expr": [{"jump": {"target": "input-allow"}}]}},
      {"rule": {"family": "inet", "table": "nixos-fw", "chain": "input", "expr": [{"counter": {"packets": 0, "bytes": 0}}, {"drop": null}]}},
      {"rule": {"family": "inet", "table": "nixos-fw", "chain": "input-allow", "expr": [
        {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": {"set": [22, {"range": [8000, 8010]}]}}}, {"accept": null}]}},
      {"rule": {"family": "inet", "table": "nixos-fw", "chain": "input-allow", "expr": [
        {"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": "udp"}},
        {"match": {"op": "==", "left": {"payload": {"protocol": "udp", "field": "dport"}}, "right": 53}}, {"accept": null}]}}
    ]}"#;

    #[test]
    fn nixos_nftables_firewall_drops_closed_ports() {
        let tables = from_nft_json(NIXOS_NFT).expect("nft JSON");
        assert_eq!(tables.len(), 1);
        let t = &tables[0];
        for v4 in [true, false] {
            assert_eq!(t.fate(v4, 6, 22), Fate::Accepted);
            assert_eq!(t.fate(v4, 6, 8010), Fate::Accepted);
            assert_eq!(t.fate(v4, 17, 53), Fate::Accepted);
            assert_eq!(t.fate(v4, 6, 2222), Fate::Dropped);
            assert_eq!(t.fate(v4, 132, 3868), Fate::Dropped);
        }
        assert!(from_nft_json("not json").is_none());
    }
}
