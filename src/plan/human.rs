//! The plan for people, in the spirit of `terraform plan`: grouped per forward, `+`/`~`/`-`
//! markers, old -> new values, and one closing line.

use super::Plan;
use super::change::{Action, Attrs, Change, Kind};
use super::guard::Guard;
use super::style::Painter;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write;

/// What the plan is about, for its first and last lines.
pub struct Context<'a> {
    /// The config's name as the user gave it.
    pub config: &'a str,
    /// `the kernel` or `snapshot FILE`.
    pub against: &'a str,
    /// Forward names in config order: the order of the groups.
    pub forwards: &'a [&'a str],
    /// Destinations to be removed are first drained for this many seconds (apply --drain).
    pub drain: Option<u64>,
}

pub(super) fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

pub fn render(plan: &Plan, guards: &[Guard], cx: &Context, p: Painter) -> String {
    let mut out = String::new();
    if plan.is_empty() && !plan.errors.is_empty() {
        // Nothing to show, and "no changes" would not be true: the errors say why.
    } else if plan.is_empty() {
        let _ = writeln!(
            out,
            "{} {} matches {}.",
            p.green("No changes."),
            capitalized(cx.against),
            cx.config
        );
    } else {
        let _ = writeln!(
            out,
            "portfwd will make these changes to bring {} in line with {}:",
            cx.against, cx.config
        );
        let busy = Busy::of(plan);
        for (title, changes) in groups(plan, cx.forwards) {
            let _ = writeln!(out, "\n  {}", p.bold(&title));
            render_group(&mut out, &changes, cx, &busy, p);
        }
        let _ = writeln!(out, "\n{}", p.bold(&plan.summary().line()));
        if !busy.0.is_empty() && cx.drain.is_none() {
            let n = busy.0.len();
            let _ = writeln!(
                out,
                "note: {n} destination{} to remove {} open connections, which removing cuts; `portfwd apply --drain SECONDS` lets them finish first",
                if n == 1 { "" } else { "s" },
                if n == 1 { "has" } else { "have" }
            );
        }
    }
    for note in &plan.notes {
        let _ = writeln!(out, "note: {note}");
    }
    for w in &plan.warnings {
        let _ = writeln!(out, "{} {w}", p.yellow("warning:"));
    }
    if plan.unmanaged_services > 0 {
        let n = plan.unmanaged_services;
        let _ = writeln!(
            out,
            "{n} service{} on other addresses {} not managed by portfwd and left as {}.",
            if n == 1 { "" } else { "s" },
            if n == 1 { "is" } else { "are" },
            if n == 1 { "it is" } else { "they are" },
        );
    }
    for g in guards {
        let _ = writeln!(
            out,
            "{} {} (apply refuses this without {})",
            p.yellow("warning:"),
            g.message,
            g.flag
        );
    }
    out
}

/// Host resources first (modules, sysctls, each bridge, public addresses), then changes
/// per forward in config order, then what no forward declares.
pub(super) fn groups<'a>(plan: &'a Plan, forwards: &[&str]) -> Vec<(String, Vec<&'a Change>)> {
    let mut host: Vec<(String, Vec<&Change>)> = Vec::new();
    // Each forward's changes, and where its list is.
    let mut lists: Vec<(&str, Vec<&Change>)> = Vec::new();
    let mut index: BTreeMap<&str, usize> = BTreeMap::new();
    let mut orphans = Vec::new();
    for c in &plan.changes {
        if !c.kind.is_ipvs() {
            let title = match (c.kind, &c.parent) {
                (Kind::KernelModule, _) => "# kernel modules".to_string(),
                (Kind::Sysctl, _) => "# sysctls".to_string(),
                (Kind::Bridge, _) => format!("# bridge {}", c.id),
                (Kind::BridgePort | Kind::Address, Some(bridge)) => format!("# bridge {bridge}"),
                (Kind::SyncDaemon, _) => "# sync daemons".to_string(),
                _ => "# public addresses".to_string(),
            };
            match host.iter_mut().find(|(t, _)| *t == title) {
                Some((_, list)) => list.push(c),
                None => host.push((title, vec![c])),
            }
            continue;
        }
        match &c.forward {
            Some(f) => {
                // A forward's changes come in runs: the map is asked at the start of each.
                let i = match lists.last() {
                    Some((name, _)) if *name == &**f => lists.len() - 1,
                    _ => *index.entry(&**f).or_insert_with(|| {
                        lists.push((&**f, Vec::new()));
                        lists.len() - 1
                    }),
                };
                lists[i].1.push(c);
            }
            None => orphans.push(c),
        }
    }
    let mut groups = host;
    for name in forwards {
        if let Some(i) = index.remove(name) {
            let changes = std::mem::take(&mut lists[i].1);
            groups.push((format!("# forward \"{name}\""), changes));
        }
    }
    // Forwards the caller did not list (none in practice) still show, by name.
    for (name, i) in index {
        let changes = std::mem::take(&mut lists[i].1);
        groups.push((format!("# forward \"{name}\""), changes));
    }
    if !orphans.is_empty() {
        groups.push((
            "# not declared in the config (on a managed address): removed".to_string(),
            orphans,
        ));
    }
    groups
}

/// The service a change belongs to: its own id for a service, its parent for a destination.
fn service_of(c: &Change) -> &str {
    c.parent.as_deref().unwrap_or(&c.id)
}

/// One forward's changes, each service followed by its destinations. The diff keeps the
/// changes of one service together, so runs of the same service id are its changes.
/// The connections of destinations to be removed, by (service, destination).
struct Busy<'a>(BTreeMap<(&'a str, &'a str), (u32, u32)>);

impl<'a> Busy<'a> {
    fn of(plan: &'a Plan) -> Self {
        Busy(
            plan.open_connections
                .iter()
                .filter_map(|&(i, active, inactive)| {
                    let c = plan.changes.get(i)?;
                    Some(((c.parent.as_deref()?, c.id.as_str()), (active, inactive)))
                })
                .collect(),
        )
    }

    fn get(&self, c: &Change) -> Option<(u32, u32)> {
        self.0.get(&(c.parent.as_deref()?, c.id.as_str())).copied()
    }
}

fn render_group(out: &mut String, changes: &[&Change], cx: &Context, busy: &Busy, p: Painter) {
    if changes.iter().any(|c| !c.kind.is_ipvs()) {
        for c in changes {
            render_change(out, c, 2, cx, busy, p);
        }
        return;
    }
    let mut start = 0;
    while start < changes.len() {
        let id = service_of(changes[start]);
        let end = changes[start..]
            .iter()
            .position(|c| service_of(c) != id)
            .map_or(changes.len(), |n| start + n);
        let run = &changes[start..end];
        match run.iter().find(|c| c.kind == Kind::IpvsService) {
            Some(c) => render_change(out, c, 2, cx, busy, p),
            None => {
                let _ = writeln!(out, "    service {id}");
            }
        }
        for c in run.iter().filter(|c| c.kind == Kind::IpvsDestination) {
            render_change(out, c, 4, cx, busy, p);
        }
        start = end;
    }
}

fn render_change(
    out: &mut String,
    c: &Change,
    indent: usize,
    cx: &Context,
    busy: &Busy,
    p: Painter,
) {
    let marker = match c.action {
        Action::Create => p.green(c.action.marker()),
        Action::Update => p.yellow(c.action.marker()),
        Action::Delete | Action::Replace => p.red(c.action.marker()),
    };
    // Written straight into `out`: a plan from an empty table has a line per destination.
    let pad = &"        "[..indent.min(8)];
    let _ = match c.kind {
        // A port is named with its bridge: `port vif1.0 of br1`.
        Kind::BridgePort => write!(out, "{pad}{marker} {}", c.subject()),
        _ => write!(out, "{pad}{marker} {} {}", c.kind.noun(), c.id),
    };
    if c.kind == Kind::Sysctl {
        let value = |a: &Option<Attrs>| {
            a.as_ref()
                .and_then(|a| a.get("value").cloned())
                .map_or("(absent)".to_string(), |v| match v {
                    Value::Null => "(absent)".to_string(),
                    v => text(&v),
                })
        };
        let _ = writeln!(out, " = {} -> {}", value(&c.before), value(&c.after));
        return;
    }
    match c.action {
        Action::Create => {
            write_brief(out, c.kind, &c.after);
            out.push('\n');
        }
        Action::Delete => {
            write_brief(out, c.kind, &c.before);
            if let Some((active, inactive)) = busy.get(c) {
                let _ = write!(out, "; {active} active, {inactive} inactive connections");
            }
            if let (Some(secs), Kind::IpvsDestination) = (cx.drain, c.kind) {
                let _ = write!(out, "; drained first: weight 0 for up to {secs} s");
            }
            out.push('\n');
        }
        Action::Update | Action::Replace => {
            out.push('\n');
            for (name, old, new) in c.changed_attrs() {
                let _ = writeln!(out, "{pad}      {name}: {} -> {}", text(&old), text(&new));
            }
        }
    }
}

/// ` (scheduler rr, persistence 300 s)`: the attributes worth a glance, on one line; nothing
/// when none is.
pub(super) fn write_brief(out: &mut String, kind: Kind, attrs: &Option<Attrs>) {
    let Some(attrs) = attrs else {
        return;
    };
    let mut first = true;
    for (name, value) in &attrs.0 {
        let skip = match (kind, *name, value) {
            (_, _, Value::Null) => true,
            (Kind::Bridge, "up", _) | (Kind::KernelModule, _, _) => true,
            (_, _, Value::Array(a)) => a.is_empty(),
            (Kind::IpvsService, "persistence_netmask", _) => {
                attrs.get("persistence") == Some(&Value::Null)
            }
            (Kind::IpvsDestination, "upper_threshold" | "lower_threshold", Value::Number(n)) => {
                n.as_u64() == Some(0)
            }
            _ => false,
        };
        if skip {
            continue;
        }
        out.push_str(if first { " (" } else { ", " });
        first = false;
        match (kind, *name) {
            (Kind::Address | Kind::SyncDaemon, "interface") => out.push_str("on "),
            (Kind::IpvsService, "persistence") => out.push_str("persistence "),
            (Kind::IpvsDestination, "method") => {}
            (_, name) => {
                out.push_str(&name.replace('_', " "));
                out.push(' ');
            }
        }
        write_text(out, value);
        if let (Kind::IpvsService, "persistence") = (kind, *name) {
            out.push_str(" s");
        }
    }
    if !first {
        out.push(')');
    }
}

/// A value as people read it: strings bare, lists comma-separated, null as `none`.
pub(super) fn text(value: &Value) -> String {
    let mut out = String::new();
    write_text(&mut out, value);
    out
}

fn write_text(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("none"),
        Value::String(s) => out.push_str(s),
        Value::Array(items) if items.is_empty() => out.push_str("none"),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_text(out, item);
            }
        }
        other => {
            let _ = write!(out, "{other}");
        }
    }
}
