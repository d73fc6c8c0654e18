//! The diff of the connection sync daemons. The kernel cannot change a running daemon, so a
//! daemon with other settings is replaced (stopped, then started).

use super::Operation;
use super::builder::Builder;
use super::change::{Action, Attrs, Change, Kind, Reason};
use crate::state::host::{HostActual, HostDesired};
use crate::state::ops::Op;
use crate::state::sync::SyncDaemon;
use serde_json::Value;

pub fn sync_daemons(want: &HostDesired, have: &HostActual, plan: &mut Builder) {
    let Some(wanted) = &want.sync else {
        for d in &have.sync {
            if have.sync_started.contains(&d.role) {
                remove(d, plan);
            } else {
                plan.notes.push(format!(
                    "sync daemon {d} runs and the config has no \"sync\": left alone (portfwd did not start it)"
                ));
            }
        }
        return;
    };
    for w in wanted {
        match have.sync.iter().find(|d| d.role == w.role) {
            None => plan.change(
                change(
                    w,
                    Action::Create,
                    Reason::MissingInKernel,
                    None,
                    Some(attrs(w)),
                ),
                vec![(
                    Operation::Ipvs(Op::NewDaemon(w.clone())),
                    Some(Operation::Ipvs(Op::DelDaemon(w.role))),
                )],
            ),
            Some(d) if d.satisfies(w) => {}
            Some(d) => {
                // What the config leaves out keeps the kernel's value in the display.
                let shown = SyncDaemon {
                    max_len: w.max_len.or(d.max_len),
                    group: w.group.or(d.group),
                    port: w.port.or(d.port),
                    ttl: w.ttl.or(d.ttl),
                    ..w.clone()
                };
                plan.change(
                    change(
                        w,
                        Action::Replace,
                        Reason::AttributesDiffer,
                        Some(attrs(d)),
                        Some(attrs(&shown)),
                    ),
                    vec![
                        (
                            Operation::Ipvs(Op::DelDaemon(d.role)),
                            Some(Operation::Ipvs(Op::NewDaemon(d.clone()))),
                        ),
                        (
                            Operation::Ipvs(Op::NewDaemon(w.clone())),
                            Some(Operation::Ipvs(Op::DelDaemon(w.role))),
                        ),
                    ],
                );
            }
        }
    }
}

fn remove(d: &SyncDaemon, plan: &mut Builder) {
    plan.change(
        change(d, Action::Delete, Reason::NotInConfig, Some(attrs(d)), None),
        vec![(
            Operation::Ipvs(Op::DelDaemon(d.role)),
            Some(Operation::Ipvs(Op::NewDaemon(d.clone()))),
        )],
    );
}

fn change(
    d: &SyncDaemon,
    action: Action,
    reason: Reason,
    before: Option<Attrs>,
    after: Option<Attrs>,
) -> Change {
    Change {
        kind: Kind::SyncDaemon,
        id: d.role.name().to_string(),
        parent: None,
        forward: None,
        action,
        reason,
        before,
        after,
    }
}

/// A daemon's settings; those a config leaves to the kernel are null.
fn attrs(d: &SyncDaemon) -> Attrs {
    Attrs(vec![
        ("interface", d.interface.clone().into()),
        ("syncid", d.sync_id.into()),
        (
            "group",
            d.group.map_or(Value::Null, |g| g.to_string().into()),
        ),
        ("port", d.port.map_or(Value::Null, Value::from)),
        ("ttl", d.ttl.map_or(Value::Null, Value::from)),
        ("max_len", d.max_len.map_or(Value::Null, Value::from)),
    ])
}
