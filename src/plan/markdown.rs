//! The plan as a merge-request comment (Atlantis/tfcmt style): a summary line, a table of
//! the changes per forward, removals in a `<details>` block, notes and warnings. Plain
//! Markdown, no ANSI codes, cells escaped.

use super::Plan;
use super::change::{Action, Change, Kind};
use super::guard::Guard;
use super::human::{Context, capitalized, groups, text, write_brief};
use std::fmt::Write;

pub fn render(plan: &Plan, guards: &[Guard], cx: &Context) -> String {
    let mut out = String::new();
    if plan.is_empty() && plan.errors.is_empty() {
        let _ = writeln!(
            out,
            "### portfwd plan: no changes\n\n{} matches `{}`.",
            capitalized(cx.against),
            cell(cx.config)
        );
    } else {
        let s = plan.summary();
        let _ = writeln!(
            out,
            "### portfwd plan: {} to add, {} to change, {} to remove\n\n`{}` against {}.",
            s.add,
            s.change,
            s.remove,
            cell(cx.config),
            cx.against
        );
    }
    let (removals, others): (Vec<_>, Vec<_>) = groups(plan, cx.forwards)
        .into_iter()
        .flat_map(|(title, changes)| changes.into_iter().map(move |c| (group_name(&title), c)))
        .partition(|(_, c)| c.action == Action::Delete);
    if !others.is_empty() {
        out.push_str("\n| | forward | resource | change |\n| --- | --- | --- | --- |\n");
        for (group, c) in &others {
            row(&mut out, group, c);
        }
    }
    if !removals.is_empty() {
        let _ = writeln!(
            out,
            "\n<details><summary>{} to remove</summary>\n\n| | forward | resource | was |\n| --- | --- | --- | --- |",
            removals.len()
        );
        for (group, c) in &removals {
            row(&mut out, group, c);
        }
        out.push_str("\n</details>\n");
    }
    let lists = [
        ("Errors (the plan cannot be applied)", &plan.errors),
        ("Warnings", &plan.warnings),
        ("Notes", &plan.notes),
    ];
    for (title, items) in lists {
        if !items.is_empty() {
            let _ = writeln!(out, "\n**{title}**\n");
            for i in items {
                let _ = writeln!(out, "- {}", cell(i));
            }
        }
    }
    if plan.unmanaged_services > 0 {
        let _ = writeln!(
            out,
            "\n{} service(s) on other addresses: not managed by portfwd, left as they are.",
            plan.unmanaged_services
        );
    }
    if !guards.is_empty() {
        out.push_str("\n**Guards** (apply refuses without the flag)\n\n");
        for g in guards {
            let _ = writeln!(out, "- {} (`{}`)", cell(&g.message), g.flag);
        }
    }
    out
}

/// `# forward "web"` → `web`; host groups keep their words (`kernel modules`).
fn group_name(title: &str) -> String {
    let t = title.trim_start_matches("# ");
    match t
        .strip_prefix("forward \"")
        .and_then(|r| r.strip_suffix('"'))
    {
        Some(name) => name.to_string(),
        None if t.starts_with("not declared") => "(not in the config)".to_string(),
        None => format!("({t})"),
    }
}

fn row(out: &mut String, group: &str, c: &Change) {
    let what = match c.action {
        Action::Update | Action::Replace => c
            .changed_attrs()
            .iter()
            .map(|(name, old, new)| format!("{name}: {} → {}", text(old), text(new)))
            .collect::<Vec<_>>()
            .join("; "),
        Action::Create => brief(c.kind, &c.after),
        Action::Delete => brief(c.kind, &c.before),
    };
    let _ = writeln!(
        out,
        "| {} | {} | {} | {} |",
        c.action.marker(),
        cell(group),
        cell(&c.subject()),
        cell(&what)
    );
}

fn brief(kind: Kind, attrs: &Option<super::change::Attrs>) -> String {
    let mut s = String::new();
    write_brief(&mut s, kind, attrs);
    s.trim()
        .trim_start_matches('(')
        .trim_end_matches(')')
        .to_string()
}

/// Text safe in a table cell: pipes escaped, line breaks as spaces, backticks kept out of
/// code spans.
/// An invalid config as a merge-request comment: what `validate` says, as a list.
pub fn render_invalid(source: &str, diagnostics: &[crate::config::Diagnostic]) -> String {
    use crate::config::{Place, Severity};
    let errors = diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let mut out = format!(
        "### portfwd plan: the config is invalid\n\n`{}` has {errors} error{}; nothing was planned.\n",
        cell(source),
        if errors == 1 { "" } else { "s" }
    );
    for (severity, title) in [(Severity::Error, "Errors"), (Severity::Warning, "Warnings")] {
        let items: Vec<_> = diagnostics
            .iter()
            .filter(|d| d.severity == severity)
            .collect();
        if items.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n**{title}**\n");
        for d in items {
            let place = match &d.place {
                Place::Path { path } if !path.is_empty() => format!("`{}`: ", cell(path)),
                Place::Position { line, column } => format!("line {line}, column {column}: "),
                _ => String::new(),
            };
            let _ = writeln!(out, "- {place}{}", cell(&d.message));
        }
    }
    out
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|")
        .replace(['\n', '\r'], " ")
        .replace('`', "'")
}
