//! The planner and the apply engine against the in-memory IPVS table.

use super::*;
use crate::kernel::ipvs::Ipvs;
use crate::kernel::ipvs::memory::MemoryIpvs;
use crate::plan::change::Action;
use crate::state::desired::from_config;
use crate::state::ipvs::Table;
use crate::state::ipvsadm_rules;
use crate::state::render::ipvsadm_save;

fn desired(text: &str) -> Desired {
    let loaded = crate::config::check("test".into(), text.as_bytes());
    match loaded.config {
        Some(c) => from_config(&c),
        None => panic!("invalid test config: {:?}", loaded.diagnostics),
    }
}

fn table(rules: &str) -> Table {
    ipvsadm_rules::parse(rules).expect("test rules")
}

/// Applies against IPVS alone (no host part), as the property tests do.
fn ipvs_apply(
    ipvs: &mut dyn Ipvs,
    want: &Desired,
    before: &Table,
    plan: &Plan,
    options: Options,
    say: &mut dyn FnMut(String),
) -> Report {
    let mut system = System { ipvs, host: None };
    let before = Before {
        ipvs: before,
        host: None,
    };
    apply(&mut system, want, &before, plan, options, say)
}

/// `count` forwards `f0`, `f1`, ... on 203.0.113.10 from `first_port` on, each to 10.0.0.2,
/// as the JSON items of a `forwards` array.
fn numbered_forwards(count: u16, first_port: u16) -> String {
    let forwards: Vec<String> = (0..count)
        .map(|i| {
            format!(
                r#"{{"name":"f{i}","listen":"203.0.113.10:{}","backends":["10.0.0.2"]}}"#,
                first_port + i
            )
        })
        .collect();
    forwards.join(",")
}

fn never() -> bool {
    false
}

const OPTIONS: Options = Options {
    drain: None,
    poll: Duration::from_millis(1),
    stop: &never,
    committed: &|| {},
    verify_touched: false,
};

fn apply_to(ipvs: &mut MemoryIpvs, want: &Desired) -> (Plan, Report) {
    let before = ipvs.read().expect("memory read");
    let plan = diff(want, &before);
    let report = ipvs_apply(ipvs, want, &before, &plan, OPTIONS, &mut |_| {});
    (plan, report)
}

const WEB: &str = r#"{"public":[{"address":"203.0.113.10"}],
  "forwards":[{"name":"web","listen":"203.0.113.10:80","scheduler":"rr",
               "backends":["10.0.0.2:80",{"address":"10.0.0.3:80","weight":5}]}]}"#;

#[test]
fn an_empty_kernel_gets_services_before_their_destinations() {
    let mut ipvs = MemoryIpvs::new(Table::default());
    let (plan, report) = apply_to(&mut ipvs, &desired(WEB));
    assert!(report.succeeded(), "{report:?}");
    let ops: Vec<String> = plan.steps.iter().map(|s| s.op.to_string()).collect();
    assert_eq!(
        ops,
        [
            "adding service tcp 203.0.113.10:80 (scheduler rr)",
            "adding destination 10.0.0.2:80 to service tcp 203.0.113.10:80",
            "adding destination 10.0.0.3:80 to service tcp 203.0.113.10:80",
        ]
    );
    assert_eq!(
        ipvsadm_save(&ipvs.table),
        "-A -t 203.0.113.10:80 -s rr\n\
         -a -t 203.0.113.10:80 -r 10.0.0.2:80 -m -w 1\n\
         -a -t 203.0.113.10:80 -r 10.0.0.3:80 -m -w 5\n"
    );
}

#[test]
fn a_second_apply_writes_nothing() {
    let mut ipvs = MemoryIpvs::new(Table::default());
    let want = desired(WEB);
    apply_to(&mut ipvs, &want);
    let writes = ipvs.writes;
    let (plan, report) = apply_to(&mut ipvs, &want);
    assert!(plan.is_empty() && report.succeeded());
    assert_eq!(ipvs.writes, writes);
}

#[test]
fn scheduler_and_weight_change_in_place_and_extra_backends_go_last() {
    let mut ipvs = MemoryIpvs::new(table(
        "-A -t 203.0.113.10:80 -s wlc\n\
         -a -t 203.0.113.10:80 -r 10.0.0.2:80 -m -w 1\n\
         -a -t 203.0.113.10:80 -r 10.0.0.3:80 -m -w 1\n\
         -a -t 203.0.113.10:80 -r 10.0.0.9:80 -m -w 1\n",
    ));
    let (plan, report) = apply_to(&mut ipvs, &desired(WEB));
    assert!(report.succeeded(), "{report:?}");
    let steps: Vec<String> = plan.steps.iter().map(|s| s.op.to_string()).collect();
    assert_eq!(
        steps,
        [
            "changing service tcp 203.0.113.10:80 (scheduler rr)",
            "changing destination 10.0.0.3:80 of service tcp 203.0.113.10:80",
            "removing destination 10.0.0.9:80 from service tcp 203.0.113.10:80",
        ]
    );
    let service = &plan.changes[0];
    assert_eq!(service.action, Action::Update);
    assert_eq!(
        service.changed_attrs(),
        [("scheduler", "wlc".into(), "rr".into())]
    );
    assert_eq!(
        plan.summary().line(),
        "Plan: 0 to add, 2 to change, 1 to remove."
    );
}

#[test]
fn services_on_other_addresses_are_counted_and_never_touched() {
    let mut ipvs = MemoryIpvs::new(table(
        "-A -t 198.51.100.7:443 -s wlc\n\
         -a -t 198.51.100.7:443 -r 10.9.0.1:443 -g -w 1\n\
         -A -f 7 -s rr\n\
         -A -t 203.0.113.10:8080 -s wlc\n\
         -a -t 203.0.113.10:8080 -r 10.0.0.4:8080 -m -w 1\n",
    ));
    let (plan, report) = apply_to(&mut ipvs, &desired(WEB));
    assert!(report.succeeded(), "{report:?}");
    assert_eq!((plan.managed_services, plan.unmanaged_services), (1, 2));
    let removed: Vec<String> = plan
        .changes
        .iter()
        .filter(|c| c.action == Action::Delete)
        .map(|c| format!("{} {}", c.kind.noun(), c.id))
        .collect();
    assert_eq!(
        removed,
        ["destination 10.0.0.4:8080", "service tcp 203.0.113.10:8080"]
    );
    let text = ipvsadm_save(&ipvs.table);
    assert!(text.contains(
        "-A -t 198.51.100.7:443 -s wlc\n-a -t 198.51.100.7:443 -r 10.9.0.1:443 -g -w 1\n"
    ));
    assert!(text.contains("-A -f 7 -s rr\n"));
    assert!(!text.contains(":8080"));
}

#[test]
fn a_failure_midway_undoes_what_was_done() {
    let start = table(
        "-A -t 203.0.113.10:80 -s wlc\n\
         -a -t 203.0.113.10:80 -r 10.0.0.2:80 -m -w 1\n\
         -A -t 203.0.113.10:8080 -s wlc\n\
         -a -t 203.0.113.10:8080 -r 10.0.0.4:8080 -m -w 1\n",
    );
    let want = desired(
        r#"{"public":[{"address":"203.0.113.10"}],
            "forwards":[{"name":"web","listen":"203.0.113.10:80","scheduler":"rr",
                         "backends":["10.0.0.2:80","10.0.0.3:80"]},
                        {"name":"new","listen":"203.0.113.10:81","scheduler":"twos",
                         "backends":["10.0.0.5:81"]}]}"#,
    );
    let mut ipvs = MemoryIpvs::new(start.clone());
    let (plan, report) = apply_to(&mut ipvs, &want);
    assert!(plan.steps.len() > 4);
    match &report.outcome {
        Outcome::RolledBack { failures, undone } => {
            assert!(
                failures[0].to_string().contains("scheduler twos"),
                "{failures:?}"
            );
            assert!(*undone >= 2);
        }
        other => panic!("expected a rollback, got {other:?}"),
    }
    assert_eq!(ipvsadm_save(&ipvs.table), ipvsadm_save(&start));
}

#[test]
fn every_possible_failure_point_rolls_back_to_the_start() {
    let start = table(
        "-A -t 203.0.113.10:80 -s wlc -p 300\n\
         -a -t 203.0.113.10:80 -r 10.0.0.2:80 -m -w 1\n\
         -a -t 203.0.113.10:80 -r 10.0.0.9:80 -m -w 1\n\
         -A -t 203.0.113.10:8080 -s wlc\n\
         -a -t 203.0.113.10:8080 -r 10.0.0.4:8080 -m -w 1\n",
    );
    let want = desired(WEB);
    let steps = diff(&want, &start).steps.len();
    for fail_at in 0..steps {
        let mut ipvs = MemoryIpvs::new(start.clone());
        ipvs.fail_write = Some(fail_at);
        let (_, report) = apply_to(&mut ipvs, &want);
        assert!(
            matches!(report.outcome, Outcome::RolledBack { .. }),
            "failing write {fail_at}: {report:?}"
        );
        assert_eq!(ipvs.table, start, "failing write {fail_at}");
    }
}

#[test]
fn a_stop_request_before_a_batch_rolls_back_what_was_done() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    // Stop on the second question: the first batch (129 services' worth) is done by then.
    static ASKED: AtomicUsize = AtomicUsize::new(0);
    fn second_time() -> bool {
        ASKED.fetch_add(1, Ordering::SeqCst) >= 1
    }
    let want = desired(&format!(
        r#"{{"public":[{{"address":"203.0.113.10"}}],"forwards":[{}]}}"#,
        numbered_forwards(100, 1000)
    ));
    let mut ipvs = MemoryIpvs::new(Table::default());
    let plan = diff(&want, &Table::default());
    assert_eq!(plan.steps.len(), 200);
    let options = Options {
        stop: &second_time,
        ..OPTIONS
    };
    let report = ipvs_apply(
        &mut ipvs,
        &want,
        &Table::default(),
        &plan,
        options,
        &mut |_| {},
    );
    match &report.outcome {
        Outcome::RolledBack { failures, undone } => {
            assert!(failures[0].to_string().contains("stopped by a signal"));
            assert_eq!(*undone, 128);
        }
        other => panic!("expected a rollback, got {other:?}"),
    }
    assert_eq!(ipvs.table, Table::default());
}

/// Fails the writes whose numbers are listed, counting from 0.
struct FailingWrites {
    inner: MemoryIpvs,
    fail: Vec<usize>,
}

impl Ipvs for FailingWrites {
    fn read(&mut self) -> Result<Table, KernelError> {
        self.inner.read()
    }

    fn execute(&mut self, ops: &[crate::state::ops::Op]) -> Vec<Result<(), KernelError>> {
        ops.iter()
            .map(|op| {
                if self.fail.contains(&self.inner.writes) {
                    self.inner.writes += 1;
                    return Err(KernelError::errno(op.to_string(), libc::EIO));
                }
                self.inner.execute(std::slice::from_ref(op)).remove(0)
            })
            .collect()
    }

    fn read_daemons(&mut self) -> Result<Vec<crate::state::sync::SyncDaemon>, KernelError> {
        self.inner.read_daemons()
    }

    fn started_daemons(&mut self) -> Vec<crate::state::sync::SyncRole> {
        self.inner.started_daemons()
    }
}

/// Another writer that acts right after each of our batches: `meddle` changes the table.
struct Meddler {
    inner: MemoryIpvs,
    meddle: fn(&mut Table),
}

impl Ipvs for Meddler {
    fn read(&mut self) -> Result<Table, KernelError> {
        self.inner.read()
    }

    fn execute(&mut self, ops: &[crate::state::ops::Op]) -> Vec<Result<(), KernelError>> {
        let results = self.inner.execute(ops);
        (self.meddle)(&mut self.inner.table);
        results
    }

    fn read_daemons(&mut self) -> Result<Vec<crate::state::sync::SyncDaemon>, KernelError> {
        self.inner.read_daemons()
    }

    fn started_daemons(&mut self) -> Vec<crate::state::sync::SyncRole> {
        self.inner.started_daemons()
    }
}

fn meddled_apply(want: &Desired, meddle: fn(&mut Table)) -> Report {
    let mut ipvs = Meddler {
        inner: MemoryIpvs::new(Table::default()),
        meddle,
    };
    let before = ipvs.read().expect("memory read");
    let plan = diff(want, &before);
    ipvs_apply(&mut ipvs, want, &before, &plan, OPTIONS, &mut |_| {})
}

#[test]
fn a_large_apply_reads_the_service_list_back_and_sees_a_service_changed_behind_it() {
    let want = desired(WEB);
    let report = meddled_apply(&want, |_| {});
    assert_eq!(report.verify_scope, VerifyScope::ServiceList);
    assert!(report.succeeded(), "{report:?}");

    let report = meddled_apply(&want, |t| {
        for entry in t.services.values_mut() {
            entry.service.scheduler = "wlc".into();
        }
    });
    assert!(matches!(report.outcome, Outcome::Done { .. }));
    assert!(!report.succeeded());
    let rest = report.verify.expect("verified").expect("read");
    assert_eq!(rest, ["service tcp 203.0.113.10:80"]);
}

#[test]
fn a_small_apply_reads_the_touched_services_back_with_their_destinations() {
    // Ten services in the kernel; the apply changes one weight.
    let forwards = numbered_forwards(10, 8000);
    let text = |weight: u32| {
        format!(
            r#"{{"public":[{{"address":"203.0.113.10"}}],"forwards":[{forwards},
                {{"name":"last","listen":"203.0.113.10:9000","backends":[{{"address":"10.0.0.2","weight":{weight}}}]}}]}}"#
        )
    };
    let mut inner = MemoryIpvs::new(Table::default());
    let (_, report) = apply_to(&mut inner, &desired(&text(1)));
    assert!(report.succeeded(), "{report:?}");
    let mut ipvs = Meddler {
        inner,
        // The weight is set back behind our back.
        meddle: |t| {
            for entry in t.services.values_mut() {
                for d in entry.dests.values_mut() {
                    d.dest.weight = 1;
                }
            }
        },
    };
    let want = desired(&text(7));
    let before = ipvs.read().expect("memory read");
    let plan = diff(&want, &before);
    let report = ipvs_apply(&mut ipvs, &want, &before, &plan, OPTIONS, &mut |_| {});
    assert_eq!(report.verify_scope, VerifyScope::Touched(1));
    let rest = report.verify.expect("verified").expect("read");
    assert_eq!(rest, ["destination 10.0.0.2:9000 of tcp 203.0.113.10:9000"]);
}

#[test]
fn a_failing_undo_says_what_remains() {
    let want = desired(WEB);
    // Writes 0-2 add the service and two destinations; 2 fails. The undo is write 3
    // (remove the first destination) and write 4 (remove the service), which fails too.
    let mut ipvs = FailingWrites {
        inner: MemoryIpvs::new(Table::default()),
        fail: vec![2, 4],
    };
    let before = Table::default();
    let plan = diff(&want, &before);
    let report = ipvs_apply(&mut ipvs, &want, &before, &plan, OPTIONS, &mut |_| {});
    match &report.outcome {
        Outcome::Incomplete {
            failures,
            undo_failures,
            remaining,
        } => {
            assert_eq!(failures.len(), 1);
            assert!(
                undo_failures[0]
                    .to_string()
                    .starts_with("removing service tcp 203.0.113.10:80")
            );
            assert_eq!(
                remaining,
                &["service tcp 203.0.113.10:80 was added and is still there"]
            );
        }
        other => panic!("expected an incomplete undo, got {other:?}"),
    }
}

#[test]
fn draining_quiesces_then_removes() {
    let start = table(
        "-A -t 203.0.113.10:80 -s rr\n\
         -a -t 203.0.113.10:80 -r 10.0.0.2:80 -m -w 1\n\
         -a -t 203.0.113.10:80 -r 10.0.0.3:80 -m -w 5\n\
         -a -t 203.0.113.10:80 -r 10.0.0.9:80 -m -w 3\n",
    );
    let mut ipvs = MemoryIpvs::new(start);
    let want = desired(WEB);
    let before = ipvs.read().expect("read");
    let plan = diff(&want, &before);
    let split = drain::split(&plan.steps, &before);
    let ops: Vec<String> = split.now.iter().map(|s| s.op.to_string()).collect();
    assert_eq!(
        ops,
        ["changing destination 10.0.0.9:80 of service tcp 203.0.113.10:80"]
    );
    assert!(matches!(
        &split.now[0].op,
        crate::plan::Operation::Ipvs(crate::state::ops::Op::SetDest(_, d)) if d.weight == 0
    ));
    let mut said = Vec::new();
    let options = Options {
        drain: Some(Duration::from_millis(50)),
        ..OPTIONS
    };
    let report = ipvs_apply(&mut ipvs, &want, &before, &plan, options, &mut |s| {
        said.push(s)
    });
    assert!(report.succeeded(), "{report:?}");
    assert_eq!(
        said,
        ["removing destination 10.0.0.9:80 of tcp 203.0.113.10:80 (drained)"]
    );
    assert!(!ipvsadm_save(&ipvs.table).contains("10.0.0.9"));
}

mod host {
    use super::*;
    use crate::apply::HostKernel;
    use crate::kernel::links::memory::MemoryLinks;
    use crate::kernel::links::{Link, LinkTable, Links};
    use crate::kernel::modules::{ModuleState, memory::MemoryModules};
    use crate::kernel::sysctl::MemorySysctl;
    use crate::state::host::{self as hoststate, HostDesired};
    use crate::state::ops::LinkOp;

    const BARE_CONFIG: &str = r#"{
        "public": [{"address": "203.0.113.10", "interface": "eth0", "prefix_len": 24}],
        "sysctl": {"net.ipv4.vs.expire_nodest_conn": 1},
        "bridges": [{"name": "br1", "address": "10.0.0.1/24", "ports": ["vif1.0"]}],
        "forwards": [{"name": "ssh", "listen": "203.0.113.10:2222", "backends": ["10.0.0.2:22"], "scheduler": "rr"}]}"#;

    fn link(index: u32, name: &str, kind: Option<&str>) -> Link {
        Link {
            index,
            name: name.into(),
            kind: kind.map(str::to_string),
            master: None,
            up: false,
        }
    }

    struct Host {
        ipvs: MemoryIpvs,
        links: MemoryLinks,
        sysctl: MemorySysctl,
        modules: MemoryModules,
    }

    fn bare() -> Host {
        let mut modules = MemoryModules::default();
        modules.states.insert("ip_vs".into(), ModuleState::Loaded);
        modules
            .states
            .insert("ip_vs_rr".into(), ModuleState::Available);
        let sysctl = MemorySysctl::with(&[
            ("net.ipv4.ip_forward", "0"),
            ("net.ipv4.vs.expire_nodest_conn", "0"),
            ("net.ipv4.vs.sync_version", "1"),
        ]);
        Host {
            ipvs: MemoryIpvs::new(Table::default()),
            links: MemoryLinks::new(LinkTable {
                links: vec![
                    link(1, "lo", None),
                    link(2, "eth0", None),
                    link(3, "vif1.0", Some("veth")),
                ],
                addresses: Vec::new(),
                default_routes: Vec::new(),
            }),
            sysctl,
            modules,
        }
    }

    fn config() -> (Desired, HostDesired) {
        config_of(BARE_CONFIG)
    }

    fn config_of(text: &str) -> (Desired, HostDesired) {
        let loaded = crate::config::check("t".into(), text.as_bytes());
        let cfg = loaded.config.expect("valid");
        (from_config(&cfg), hoststate::from_config(&cfg))
    }

    /// What `h` has of what `want` asks for.
    fn read_host(h: &mut Host, want: &HostDesired) -> crate::state::host::HostActual {
        crate::kernel::host::read_with(
            want,
            &mut h.links,
            &mut h.sysctl,
            &mut h.modules,
            &mut h.ipvs,
        )
        .expect("read")
    }

    /// Plans and applies against `h` (IPVS starts empty); returns the plan and report.
    fn run(h: &mut Host, links: Option<&mut dyn Links>) -> (Plan, Report) {
        run_config(h, BARE_CONFIG, links)
    }

    fn run_config(h: &mut Host, text: &str, links: Option<&mut dyn Links>) -> (Plan, Report) {
        let (want, host_want) = config_of(text);
        let table = h.ipvs.table.clone();
        let have = read_host(h, &host_want);
        let plan = crate::plan::build(&want, &table, Some((&host_want, &have)));
        let links: &mut dyn Links = match links {
            Some(l) => l,
            None => &mut h.links,
        };
        let mut system = System {
            ipvs: &mut h.ipvs,
            host: Some(HostKernel {
                links,
                sysctl: &mut h.sysctl,
                modules: &mut h.modules,
            }),
        };
        let before = Before {
            ipvs: &table,
            host: Some((&host_want, &have)),
        };
        let report = apply(&mut system, &want, &before, &plan, OPTIONS, &mut |_| {});
        (plan, report)
    }

    /// BARE_CONFIG as one host of a pair: the public address floats, sync daemons on br1.
    fn pair_config(sync: bool) -> String {
        let sync = if sync {
            r#","sync": {"interface": "br1", "sync_id": 51, "port": 8849}"#
        } else {
            ""
        };
        BARE_CONFIG
            .replace(r#""prefix_len": 24}"#, r#""prefix_len": 24, "floating": true}"#)
            .replace(
                r#""ports": ["vif1.0"]}"#,
                r#""ports": ["vif1.0"], "floating_address": "10.0.0.254/24"}"#,
            )
            .replace(
                r#""forwards""#,
                &format!(
                    r#""vrrp": {{"interface": "br1", "router_id": 51, "priority": 150}}{sync}, "forwards""#
                ),
            )
    }

    #[test]
    fn a_pair_host_leaves_floating_addresses_to_vrrp_and_starts_both_sync_daemons() {
        let mut h = bare();
        let (plan, report) = run_config(&mut h, &pair_config(true), None);
        assert!(report.succeeded(), "{report:?}");
        let ops: Vec<String> = plan.steps.iter().map(|s| s.op.to_string()).collect();
        assert!(
            !ops.iter()
                .any(|o| o.contains("203.0.113.10/24") || o.contains("10.0.0.254")),
            "floating addresses are VRRP's: {ops:?}"
        );
        assert!(
            ops.contains(&"starting sync daemon master on br1, syncid 51, port 8849".to_string())
        );
        assert!(
            ops.contains(&"starting sync daemon backup on br1, syncid 51, port 8849".to_string())
        );
        assert_eq!(h.ipvs.daemons.len(), 2);
        assert!(
            h.ipvs.table.services.len() == 1,
            "the service is made on every host"
        );

        // Applied: nothing left to do, whatever the kernel filled in.
        let (plan, _) = run_config(&mut h, &pair_config(true), None);
        assert!(plan.is_empty(), "{:?}", plan.changes);

        // Another port: the daemons are replaced (the kernel cannot edit one).
        let (plan, report) = run_config(&mut h, &pair_config(true).replace("8849", "8850"), None);
        assert!(report.succeeded(), "{report:?}");
        assert_eq!(plan.changes.len(), 2);
        assert!(
            plan.changes
                .iter()
                .all(|c| c.action == crate::plan::change::Action::Replace)
        );
        assert!(h.ipvs.daemons.iter().all(|d| d.port == Some(8850)));

        // `sync` removed: the daemons portfwd started go.
        let (plan, report) = run_config(&mut h, &pair_config(false), None);
        assert!(report.succeeded(), "{report:?}");
        let ops: Vec<String> = plan.steps.iter().map(|s| s.op.to_string()).collect();
        assert_eq!(
            ops,
            ["stopping sync daemon master", "stopping sync daemon backup"]
        );
        assert!(h.ipvs.daemons.is_empty());
    }

    #[test]
    fn sync_daemons_someone_else_started_are_left_alone_without_sync() {
        let mut h = bare();
        h.ipvs.daemons.push(crate::state::sync::SyncDaemon {
            role: crate::state::sync::SyncRole::Master,
            interface: "eth0".into(),
            sync_id: 1,
            max_len: Some(1472),
            group: Some("224.0.0.81".parse().expect("ip")),
            port: Some(8848),
            ttl: Some(1),
        });
        let (plan, report) = run_config(&mut h, &pair_config(false), None);
        assert!(report.succeeded(), "{report:?}");
        assert!(
            plan.steps
                .iter()
                .all(|s| !s.op.to_string().contains("sync daemon"))
        );
        assert_eq!(h.ipvs.daemons.len(), 1);
        // They are not even read: nothing of the config asks about them.
        assert!(plan.notes.iter().all(|n| !n.contains("sync daemon")));
        // With `sync`, the one running with other settings is replaced.
        let (plan, report) = run_config(&mut h, &pair_config(true), None);
        assert!(report.succeeded(), "{report:?}");
        let ops: Vec<String> = plan.steps.iter().map(|s| s.op.to_string()).collect();
        assert_eq!(
            ops.iter().filter(|o| o.contains("sync daemon")).count(),
            3,
            "master replaced (2), backup started (1): {ops:?}"
        );
    }

    #[test]
    fn a_failed_sync_daemon_start_is_rolled_back() {
        let mut h = bare();
        let (want, host_want) = config_of(&pair_config(true));
        let have = read_host(&mut h, &host_want);
        let plan = crate::plan::build(&want, &h.ipvs.table, Some((&host_want, &have)));
        // The backup start fails: the master started before it is stopped again.
        let backup = plan
            .steps
            .iter()
            .position(|s| s.op.to_string().starts_with("starting sync daemon backup"))
            .expect("backup step");
        let ipvs_before: usize = plan.steps[..backup]
            .iter()
            .filter(|s| matches!(s.op, crate::plan::Operation::Ipvs(_)))
            .count();
        h.ipvs.fail_write = Some(ipvs_before);
        let (_, report) = run_config(&mut h, &pair_config(true), None);
        assert!(!report.succeeded());
        assert!(h.ipvs.daemons.is_empty(), "{:?}", h.ipvs.daemons);
    }

    #[test]
    fn a_bare_host_gets_modules_sysctls_links_then_ipvs() {
        let mut h = bare();
        let (plan, report) = run(&mut h, None);
        assert!(report.succeeded(), "{report:?}");
        let ops: Vec<String> = plan.steps.iter().map(|s| s.op.to_string()).collect();
        assert_eq!(
            ops,
            [
                "loading kernel module ip_vs_rr",
                "setting sysctl net.ipv4.ip_forward to 1",
                "setting sysctl net.ipv4.vs.expire_nodest_conn to 1",
                "creating bridge br1",
                "bringing br1 up",
                "adding address 10.0.0.1/24 to br1",
                "enslaving vif1.0 to br1",
                "bringing vif1.0 up",
                "adding address 203.0.113.10/24 to eth0",
                "adding service tcp 203.0.113.10:2222 (scheduler rr)",
                "adding destination 10.0.0.2:22 to service tcp 203.0.113.10:2222",
            ]
        );
        assert_eq!(h.modules.loads, ["ip_vs_rr"]);
        let br1 = h.links.table.by_name("br1").expect("created").clone();
        assert!(br1.up);
        let port = h.links.table.by_name("vif1.0").expect("port");
        assert_eq!((port.master, port.up), (Some(br1.index), true));

        // Nothing left to do.
        let (plan, _) = run(&mut h, None);
        assert!(plan.is_empty(), "{:?}", plan.changes);
    }

    #[test]
    fn a_port_that_carries_the_hosts_address_or_default_route_is_not_enslaved() {
        use crate::kernel::links::Address;
        for (address, route) in [(true, false), (false, true), (true, true)] {
            let mut h = bare();
            if address {
                h.links.table.addresses.push(Address {
                    index: 3,
                    addr: "192.0.2.5".parse().expect("address"),
                    prefix_len: 24,
                });
            }
            if route {
                h.links.table.default_routes.push(3);
            }
            let (plan, _) = run(&mut h, None);
            let error = plan.errors.join("\n");
            assert!(
                error.contains("port vif1.0 of bridge br1 carries"),
                "{error}"
            );
            assert_eq!(error.contains("192.0.2.5/24"), address, "{error}");
            assert_eq!(error.contains("the default route"), route, "{error}");
            assert!(
                !plan
                    .steps
                    .iter()
                    .any(|s| s.op.to_string().starts_with("enslaving")),
                "{:?}",
                plan.steps
            );
        }
        // A link-local address alone (IPv6 gives every link one) is no reason to refuse.
        let mut h = bare();
        h.links.table.addresses.push(Address {
            index: 3,
            addr: "fe80::1".parse().expect("address"),
            prefix_len: 64,
        });
        let (plan, _) = run(&mut h, None);
        assert!(plan.errors.is_empty(), "{:?}", plan.errors);
    }

    /// Counts the reads of the links it passes through.
    struct CountingReads<'a>(&'a mut MemoryLinks, usize);

    impl Links for CountingReads<'_> {
        fn read(&mut self) -> Result<LinkTable, KernelError> {
            self.1 += 1;
            self.0.read()
        }
        fn execute(&mut self, ops: &[LinkOp]) -> Vec<Result<(), KernelError>> {
            self.0.execute(ops)
        }
    }

    #[test]
    fn the_host_is_read_back_only_when_the_plan_changed_it() {
        let mut h = bare();
        let mut links = h.links.clone();
        let mut counting = CountingReads(&mut links, 0);
        let (_, report) = run(&mut h, Some(&mut counting));
        assert!(report.succeeded(), "{report:?}");
        assert_eq!(counting.1, 1, "the host changed: read back once");
        h.links = links;

        // Only the IPVS table differs now: it matched the config when planned, and nothing
        // of the host changes, so only IPVS is read back.
        h.ipvs.table = Table::default();
        let mut links = h.links.clone();
        let mut counting = CountingReads(&mut links, 0);
        let (plan, report) = run(&mut h, Some(&mut counting));
        assert!(
            plan.steps
                .iter()
                .all(|s| matches!(s.op, crate::plan::Operation::Ipvs(_)))
        );
        assert!(report.succeeded(), "{report:?}");
        assert_eq!(counting.1, 0, "nothing of the host changed");
    }

    /// Refuses to enslave anything, as the kernel does for `lo`.
    struct NoEnslaving<'a>(&'a mut MemoryLinks);

    impl Links for NoEnslaving<'_> {
        fn read(&mut self) -> Result<LinkTable, KernelError> {
            self.0.read()
        }
        fn execute(&mut self, ops: &[LinkOp]) -> Vec<Result<(), KernelError>> {
            ops.iter()
                .map(|op| match op {
                    LinkOp::SetMaster {
                        master: Some(_), ..
                    } => Err(KernelError::errno(op.to_string(), libc::EINVAL)),
                    _ => self.0.execute(std::slice::from_ref(op)).remove(0),
                })
                .collect()
        }
    }

    #[test]
    fn a_host_failure_midway_undoes_sysctls_and_links() {
        let mut h = bare();
        let start_links = h.links.table.clone();
        let start_sysctl = h.sysctl.values.clone();
        let mut refusing = h.links.clone();
        let (_, report) = run(&mut h, Some(&mut NoEnslaving(&mut refusing)));
        match &report.outcome {
            Outcome::RolledBack { failures, .. } => {
                assert!(
                    failures[0]
                        .to_string()
                        .starts_with("enslaving vif1.0 to br1")
                );
            }
            other => panic!("expected a rollback, got {other:?}"),
        }
        assert_eq!(refusing.table, start_links);
        assert_eq!(h.sysctl.values, start_sysctl);
    }

    #[test]
    fn what_cannot_be_done_is_a_plan_error_and_what_is_not_declared_a_note() {
        let mut h = bare();
        h.links.table.links.push(link(4, "br1", Some("veth")));
        h.links.table.links.retain(|l| l.name != "eth0");
        h.modules
            .states
            .insert("ip_vs_rr".into(), ModuleState::Missing);
        let (want, host_want) = config();
        let have = read_host(&mut h, &host_want);
        let plan = crate::plan::build(&want, &Table::default(), Some((&host_want, &have)));
        assert_eq!(
            plan.errors,
            [
                "kernel module ip_vs_rr is not available for kernel test: `modprobe ip_vs_rr` would fail; the scheduler rr cannot be used here: choose another",
                "br1 exists but is a veth link, not a bridge: rename the bridge in the config or remove the link",
                "public address 203.0.113.10: interface eth0 does not exist on this host",
            ]
        );

        let mut h = bare();
        run(&mut h, None);
        h.links
            .execute(&[
                LinkOp::AddAddress {
                    name: "br1".into(),
                    addr: "10.0.0.254".parse().expect("ip"),
                    prefix_len: 24,
                },
                LinkOp::CreateBridge {
                    name: "vif2.0".into(),
                },
                LinkOp::SetMaster {
                    name: "vif2.0".into(),
                    master: Some("br1".into()),
                },
            ])
            .into_iter()
            .collect::<Result<Vec<()>, _>>()
            .expect("hand-made changes");
        let (plan, report) = run(&mut h, None);
        assert!(plan.is_empty() && report.succeeded());
        assert_eq!(
            plan.notes,
            [
                "bridge br1 also has 10.0.0.254/24 (not in the config; left as it is)",
                "bridge br1 also has the port vif2.0 (not in the config, e.g. added by the hypervisor; left as it is)",
            ]
        );
    }
}
