//! Properties of the planner and apply engine, for random pairs of actual and desired
//! IPVS tables (in memory): applying the plan yields the desired state, leaves unmanaged
//! services alone, makes a second plan empty, and a failure at any step restores the start.

use portfwd::apply::{Before, Options, Outcome, Report, System, apply};
use portfwd::kernel::ipvs::Ipvs;
use portfwd::kernel::ipvs::memory::MemoryIpvs;
use portfwd::plan::Plan;
use portfwd::plan::diff::diff;
use portfwd::state::desired::{Desired, DesiredService};
use portfwd::state::ipvs::{
    Dest, DestCounters, DestEntry, DestKey, IPPROTO_TCP, IPPROTO_UDP, Method, Service,
    ServiceEntry, ServiceKey, Table, flags,
};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

const MANAGED: [u8; 2] = [10, 11];
/// 203.0.113.12 is never managed: it plays keepalived's address.
const ADDRS: [u8; 3] = [10, 11, 12];

fn public(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(203, 0, 113, last))
}

fn key() -> impl Strategy<Value = ServiceKey> {
    (
        prop_oneof![Just(IPPROTO_TCP), Just(IPPROTO_UDP)],
        prop::sample::select(&ADDRS[..]),
        1u16..6,
    )
        .prop_map(|(protocol, last, port)| ServiceKey::Tuple {
            protocol,
            addr: public(last),
            port,
        })
}

fn service(key: ServiceKey) -> impl Strategy<Value = Service> {
    (
        prop::sample::select(&["rr", "wlc", "sh", "lc"][..]),
        any::<bool>(),
        1u32..5,
    )
        .prop_map(move |(scheduler, persistent, minutes)| {
            let mut s = Service::new(key, scheduler);
            if persistent {
                s.flags |= flags::PERSISTENT;
                s.timeout = minutes * 60;
            }
            s
        })
}

fn dests() -> impl Strategy<Value = BTreeMap<DestKey, Dest>> {
    prop::collection::btree_map(
        (1u8..6, prop_oneof![Just(22u16), Just(80)]),
        (
            0u32..4,
            prop_oneof![Just(Method::Masq), Just(Method::Route)],
        ),
        0..4,
    )
    .prop_map(|m| {
        m.into_iter()
            .map(|((host, port), (weight, method))| {
                let key = DestKey {
                    addr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, host)),
                    port,
                };
                let dest = Dest {
                    key,
                    method,
                    weight,
                    upper_threshold: 0,
                    lower_threshold: 0,
                    tunnel: None,
                };
                (key, dest)
            })
            .collect()
    })
}

fn services() -> impl Strategy<Value = Vec<(Service, BTreeMap<DestKey, Dest>)>> {
    prop::collection::vec(key().prop_flat_map(|k| (service(k), dests())), 0..8)
}

fn table(services: &[(Service, BTreeMap<DestKey, Dest>)]) -> Table {
    let mut t = Table::default();
    for (s, dests) in services {
        let dests = dests
            .iter()
            .map(|(k, d)| {
                let entry = DestEntry {
                    dest: d.clone(),
                    counters: DestCounters::default(),
                    stats: None,
                };
                (*k, entry)
            })
            .collect();
        let entry = ServiceEntry {
            service: s.clone(),
            stats: None,
            dests,
        };
        t.services.insert(s.key, entry);
    }
    t
}

fn desired(services: &[(Service, BTreeMap<DestKey, Dest>)]) -> Desired {
    let mut d = Desired {
        managed: MANAGED.iter().map(|l| public(*l)).collect(),
        services: BTreeMap::new(),
    };
    for (s, dests) in services {
        if d.manages(&s.key) {
            let entry = DesiredService {
                forward: format!("f{}", d.services.len()).into(),
                forward_index: d.services.len(),
                service: s.clone(),
                dests: dests.iter().map(|(k, d)| (*k, d.clone())).collect(),
            };
            d.services.insert(s.key, entry);
        }
    }
    d
}

fn unmanaged(t: &Table, d: &Desired) -> Vec<ServiceEntry> {
    t.services
        .iter()
        .filter(|(k, _)| !d.manages(k))
        .map(|(_, e)| e.clone())
        .collect()
}

fn ipvs_apply(ipvs: &mut MemoryIpvs, want: &Desired, before: &Table, plan: &Plan) -> Report {
    let mut system = System { ipvs, host: None };
    let before = Before {
        ipvs: before,
        host: None,
    };
    apply(&mut system, want, &before, plan, OPTIONS, &mut |_| {})
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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn applying_a_plan_reaches_the_desired_state(actual in services(), wanted in services()) {
        let start = table(&actual);
        let want = desired(&wanted);
        let mut ipvs = MemoryIpvs::new(start.clone());
        let plan = diff(&want, &start);
        let report = ipvs_apply(&mut ipvs, &want, &start, &plan);
        prop_assert!(report.succeeded(), "{:?}", report);
        let now = ipvs.read().expect("memory");
        prop_assert_eq!(Desired::from_table(&now, &want.managed).services.len(), want.services.len());
        prop_assert!(diff(&want, &now).is_empty());
        prop_assert_eq!(unmanaged(&now, &want), unmanaged(&start, &want));
        for step in &plan.steps {
            let Some(key) = step.op.ipvs_service() else {
                panic!("an IPVS-only plan has a host step: {}", step.op);
            };
            prop_assert!(want.manages(&key), "a step touches unmanaged {}", key);
        }
        // Nothing left to do: a second apply writes nothing.
        let writes = ipvs.writes;
        let again = diff(&want, &now);
        let report = ipvs_apply(&mut ipvs, &want, &now, &again);
        prop_assert!(report.succeeded());
        prop_assert_eq!(ipvs.writes, writes);
    }

    #[test]
    fn a_failure_at_any_step_restores_the_start(
        actual in services(),
        wanted in services(),
        at in any::<prop::sample::Index>(),
    ) {
        let start = table(&actual);
        let want = desired(&wanted);
        let plan = diff(&want, &start);
        prop_assume!(!plan.steps.is_empty());
        let mut ipvs = MemoryIpvs::new(start.clone());
        ipvs.fail_write = Some(at.index(plan.steps.len()));
        let report = ipvs_apply(&mut ipvs, &want, &start, &plan);
        prop_assert!(matches!(report.outcome, Outcome::RolledBack { .. }), "{:?}", report);
        prop_assert_eq!(ipvs.table, start);
    }
}
