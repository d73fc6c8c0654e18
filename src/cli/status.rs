//! `portfwd status`: the running daemon's view of each forward's backends, asked over its
//! control socket. Exit 0 all up, 3 some backend down, 1 no daemon (or no answer).

use super::args::StatusArgs;
use super::style::Painter;
use crate::daemon::control::{self, Event, PairStatus, Report};
use crate::daemon::log::utc;

pub const SOME_DOWN: i32 = 3;

pub fn run(args: &StatusArgs, out: Painter, err: Painter) -> i32 {
    let report = match control::ask(&control::path()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{} {e}", err.red("error:"));
            return 1;
        }
    };
    if args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("{} {e}", err.red("error:"));
                return 1;
            }
        }
    } else {
        print!("{}", render(&report, out));
    }
    if report.backends().all(|b| b.up) {
        0
    } else {
        SOME_DOWN
    }
}

fn event(e: Option<&Event>) -> String {
    match e {
        None => "none".to_string(),
        Some(Event { at, ok: true, .. }) => format!("{} ok", utc(*at)),
        Some(Event { at, error, .. }) => format!(
            "{} failed: {}",
            utc(*at),
            error.as_deref().unwrap_or("(no reason given)")
        ),
    }
}

/// `pair: active, holds 203.0.113.10 (eth0); sync daemons: master on br1, syncid 51; ...`
fn pair_line(pair: &PairStatus, p: Painter) -> String {
    let list = |held: bool| {
        pair.floating
            .iter()
            .filter(|f| f.held == held)
            .map(|f| format!("{} ({})", f.address, f.interface))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let role = match pair.role.as_str() {
        "active" => format!("{}, holds {}", p.green("active"), list(true)),
        "standby" => format!("standby, holds none of {}", list(false)),
        "split" => format!(
            "{}, holds {} but not {} (VRRP moves them together: something else added or removed one)",
            p.yellow("split"),
            list(true),
            list(false)
        ),
        _ => "no floating addresses".to_string(),
    };
    let daemons = if pair.sync_daemons.is_empty() {
        "none running".to_string()
    } else {
        pair.sync_daemons
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    };
    format!("pair: {role}\nsync daemons: {daemons}\n")
}

pub fn render(report: &Report, p: Painter) -> String {
    let mut s = format!(
        "portfwd run: pid {}, config {}, started {}\nlast sync: {}\nlast reload: {}\n",
        report.pid,
        report.config,
        utc(report.started),
        event(report.last_sync.as_ref()),
        event(report.last_reload.as_ref())
    );
    if let Some(pair) = &report.pair {
        s += &pair_line(pair, p);
    }
    let width = report
        .backends()
        .map(|b| b.backend.len())
        .max()
        .unwrap_or(0);
    for f in &report.forwards {
        let check = match f.check.as_str() {
            "none" => "no health check".to_string(),
            c => format!("{c} check"),
        };
        s += &format!("\nforward {} ({check})\n", p.bold(&f.name));
        if f.fail_open {
            s += &format!(
                "  {} every backend is down and there is no fallback: left as configured\n",
                p.yellow("fail open:")
            );
        }
        for b in &f.backends {
            let state = if b.up { p.green("up  ") } else { p.red("down") };
            let since = b
                .since
                .map(|t| format!("  since {}", utc(t)))
                .unwrap_or_default();
            let weight = b
                .weight
                .map_or("not in kernel".to_string(), |w| format!("weight {w}"));
            let check = match &b.last_check {
                Some(Event {
                    ok: false, error, ..
                }) => {
                    format!("  last check: {}", error.as_deref().unwrap_or("failed"))
                }
                _ => String::new(),
            };
            s += &format!(
                "  {:<width$}  {state}{since}  {weight}  active {}  inactive {}{check}\n",
                b.backend, b.active_connections, b.inactive_connections
            );
        }
    }
    let total = report.backends().count();
    let up = report.backends().filter(|b| b.up).count();
    s += &format!("\n{up}/{total} backends up\n");
    s
}
