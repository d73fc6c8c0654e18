//! The plan for pipelines (`plan --json`), documented in docs/plan-json.md.
//! `format_version` changes only when a reader must change.

use super::change::{Attrs, Change};
use super::guard::Guard;
use super::{Plan, Summary};
use serde::Serialize;

pub const FORMAT_VERSION: &str = "1";

#[derive(Serialize)]
pub struct Document<'a> {
    pub format_version: &'static str,
    pub portfwd_version: &'static str,
    /// The config as the user named it.
    pub config: &'a str,
    /// `kernel`, or `snapshot:FILE` for a plan against a snapshot.
    pub against: &'a str,
    /// Fingerprint of the managed kernel state the plan was computed from.
    pub state_fingerprint: &'a str,
    pub changes: Vec<ChangeDoc<'a>>,
    pub warnings: Vec<WarningDoc<'a>>,
    /// Problems that make the plan impossible to apply.
    pub errors: &'a [String],
    /// What portfwd saw and leaves alone.
    pub notes: &'a [String],
    /// Pitfalls of the host that apply does not fix (`portfwd doctor` explains them).
    pub host_warnings: &'a [String],
    pub unmanaged_services: usize,
    pub managed_services: usize,
    pub summary: Summary,
    pub changes_present: bool,
}

#[derive(Serialize)]
pub struct ChangeDoc<'a> {
    pub kind: &'static str,
    pub id: &'a str,
    pub parent: Option<&'a str>,
    pub forward: Option<&'a str>,
    pub actions: &'static [&'static str],
    pub reason: &'static str,
    pub before: Option<&'a Attrs>,
    pub after: Option<&'a Attrs>,
}

#[derive(Serialize)]
pub struct WarningDoc<'a> {
    pub rule: &'static str,
    pub message: &'a str,
    /// The apply flag that overrides it.
    pub override_flag: &'static str,
}

impl<'a> ChangeDoc<'a> {
    fn of(c: &'a Change) -> Self {
        ChangeDoc {
            kind: c.kind.name(),
            id: &c.id,
            parent: c.parent.as_deref(),
            forward: c.forward.as_deref(),
            actions: c.action.names(),
            reason: c.reason.name(),
            before: c.before.as_ref(),
            after: c.after.as_ref(),
        }
    }
}

/// The document of `plan`, computed against a state whose fingerprint is
/// `state_fingerprint` (see [`super::state_fingerprint`]).
pub fn document<'a>(
    plan: &'a Plan,
    guards: &'a [Guard],
    config: &'a str,
    against: &'a str,
    state_fingerprint: &'a str,
) -> Document<'a> {
    Document {
        format_version: FORMAT_VERSION,
        portfwd_version: env!("CARGO_PKG_VERSION"),
        config,
        against,
        state_fingerprint,
        changes: plan.changes.iter().map(ChangeDoc::of).collect(),
        warnings: guards
            .iter()
            .map(|g| WarningDoc {
                rule: g.rule,
                message: &g.message,
                override_flag: g.flag,
            })
            .collect(),
        errors: &plan.errors,
        notes: &plan.notes,
        host_warnings: &plan.warnings,
        unmanaged_services: plan.unmanaged_services,
        managed_services: plan.managed_services,
        summary: plan.summary(),
        changes_present: !plan.is_empty(),
    }
}

/// The document as pretty JSON text with a final newline.
pub fn to_text(doc: &Document) -> String {
    let mut text = serde_json::to_string_pretty(doc).unwrap_or_default();
    text.push('\n');
    text
}
