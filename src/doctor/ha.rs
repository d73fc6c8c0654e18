//! The pair's pitfalls: which floating addresses this host holds, the sync daemons, the
//! interfaces VRRP and sync use, and keepalived.conf against what `gen keepalived` writes.

use super::{Facts, Findings, Level};
use crate::config::model::{Config, Floating};
use crate::state::links::LinkTable;
use crate::state::sync::SyncDaemon;

/// What the pair's checks look at (read only when the config has `vrrp` or `sync`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HaFacts {
    /// The running sync daemons, when IPVS answered.
    pub sync_daemons: Option<Vec<SyncDaemon>>,
    /// The effective rp_filter (the larger of `all` and the interface's) on the sync
    /// interface.
    pub sync_rp_filter: Option<u32>,
    /// Whether /etc/keepalived/keepalived.conf says what `gen keepalived` writes; `None`
    /// when there is no such file.
    pub keepalived_current: Option<bool>,
    /// The VRRP and sync interfaces that are up but have no carrier (a bridge without a
    /// working port, a cable out).
    pub no_carrier: Vec<String>,
    /// What a standby host heard from the active one (`portfwd doctor` listens; a plan
    /// does not).
    pub advert: Option<Heard>,
}

/// The outcome of listening for the active host's VRRP advertisements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heard {
    Advert(crate::kernel::vrrp::Advert),
    /// Nothing within this many seconds.
    Nothing(u64),
}

/// A host's part in the pair, from the floating addresses it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Holds every floating address.
    Active,
    /// Holds none (a standby, or nobody is active).
    Standby,
    /// Holds some: VRRP moves them together, so something else added or removed one.
    Split,
    /// The config has no floating address.
    Unpaired,
}

impl Role {
    pub fn of(holding: &[(Floating, bool)]) -> Role {
        let held = holding.iter().filter(|(_, h)| *h).count();
        match (held, holding.len()) {
            (_, 0) => Role::Unpaired,
            (0, _) => Role::Standby,
            (h, n) if h == n => Role::Active,
            _ => Role::Split,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Role::Active => "active",
            Role::Standby => "standby",
            Role::Split => "split",
            Role::Unpaired => "none",
        }
    }
}

/// Each floating address of `config`, and whether this host holds it now.
pub fn holding(config: &Config, links: &LinkTable) -> Vec<(Floating, bool)> {
    config
        .floating()
        .into_iter()
        .map(|f| {
            let held = links.holder_of(f.addr).is_some();
            (f, held)
        })
        .collect()
}

/// Whether this host holds none of the floating addresses (a standby, or nobody is active).
pub fn standby(config: &Config, links: &LinkTable) -> bool {
    matches!(
        Role::of(&holding(config, links)),
        Role::Standby | Role::Unpaired
    )
}

/// The interfaces of `config`'s VRRP and sync daemons whose carrier is off, from sysfs.
pub fn no_carrier(config: &Config) -> Vec<String> {
    let names = config
        .vrrp
        .iter()
        .map(|v| &v.interface)
        .chain(config.sync.iter().map(|s| &s.interface));
    let mut out: Vec<String> = names
        .filter(|n| {
            std::fs::read_to_string(format!("/sys/class/net/{n}/carrier"))
                .is_ok_and(|c| c.trim() == "0")
        })
        .cloned()
        .collect();
    out.dedup();
    out
}

pub(super) fn check(config: &Config, facts: &Facts, findings: &mut Findings) {
    if let Some(vrrp) = &config.vrrp {
        held(config, facts, findings);
        match facts.ha.advert {
            Some(Heard::Advert(a)) if a.priority == vrrp.priority => {
                findings.add(Level::Warn, "vrrp-priority", || {
                    format!(
                        "the active host {} advertises priority {}, the same as this host's: the election falls to the higher address and a returning host may take over unexpectedly; give the hosts different priorities",
                        a.from, a.priority
                    )
                })
            }
            Some(Heard::Advert(a)) => findings.add(Level::Ok, "vrrp-priority", || {
                format!(
                    "the active host {} advertises priority {} (this host: {})",
                    a.from, a.priority, vrrp.priority
                )
            }),
            Some(Heard::Nothing(secs)) => findings.add(Level::Warn, "vrrp-priority", || {
                format!(
                    "no VRRP advertisement for router id {} on {} within {secs} s while this host holds no floating address: no host is active, or advertisements do not arrive (a firewall dropping protocol 112, a switch without multicast: see unicast_peers)",
                    vrrp.router_id, vrrp.interface
                )
            }),
            None => {}
        }
        interface(
            facts,
            findings,
            "vrrp-interface",
            "VRRP",
            &vrrp.interface,
            config,
        );
        match facts.ha.keepalived_current {
            Some(true) => findings.add(Level::Ok, "keepalived-conf", || {
                "/etc/keepalived/keepalived.conf is what `portfwd gen keepalived` writes".to_string()
            }),
            Some(false) => findings.add(Level::Warn, "keepalived-conf", || {
                "/etc/keepalived/keepalived.conf differs from the config's VRRP instance: see `portfwd gen keepalived -o / --check`, write it with `portfwd gen keepalived -o /` and reload keepalived".to_string()
            }),
            // NixOS's keepalived reads its config from the store: no file is no finding there.
            None => findings.add(Level::Info, "keepalived-conf", || {
                "there is no /etc/keepalived/keepalived.conf: unless keepalived reads its config elsewhere (NixOS), write it with `portfwd gen keepalived -o /` and start keepalived".to_string()
            }),
        }
    }
    if let Some(sync) = &config.sync {
        interface(
            facts,
            findings,
            "sync-interface",
            "the sync daemons",
            &sync.interface,
            config,
        );
        if let Some(running) = &facts.ha.sync_daemons {
            for want in SyncDaemon::wanted(sync) {
                match running.iter().find(|d| d.role == want.role) {
                    Some(d) if d.satisfies(&want) => {
                        findings.add(Level::Ok, "sync-daemons", || {
                            format!("the sync daemon {d} runs")
                        })
                    }
                    Some(d) => findings.add(Level::Warn, "sync-daemons", || {
                        format!(
                            "the sync daemon {d} runs with other settings than the config's ({want}): apply replaces it"
                        )
                    }),
                    None => findings.add(Level::Warn, "sync-daemons", || {
                        format!(
                            "no {} sync daemon runs: connections are not {} (apply starts it)",
                            want.role.name(),
                            match want.role {
                                crate::state::sync::SyncRole::Master => "sent to the peer",
                                crate::state::sync::SyncRole::Backup => "received from the peer",
                            }
                        )
                    }),
                }
            }
        }
        if facts.ha.sync_rp_filter == Some(1) {
            findings.add(Level::Warn, "sync-rp-filter", || {
                format!(
                    "strict reverse-path filtering (rp_filter=1) on {}: sync messages from a peer whose address does not route back via {} are dropped; use 2 (loose)",
                    sync.interface, sync.interface
                )
            });
        }
    }
}

/// Which floating addresses this host holds: all (active), none (standby), or some (an
/// address VRRP did not move, or a split).
fn held(config: &Config, facts: &Facts, findings: &mut Findings) {
    let holding = holding(config, &facts.links);
    let list = |held: bool| {
        holding
            .iter()
            .filter(|(_, h)| *h == held)
            .map(|(f, _)| f.addr.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match Role::of(&holding) {
        Role::Active => findings.add(Level::Info, "vrrp-holds", || {
            format!(
                "this host holds the floating addresses now (active): {}",
                list(true)
            )
        }),
        Role::Standby | Role::Unpaired => findings.add(Level::Info, "vrrp-holds", || {
            format!(
                "this host holds none of the floating addresses now (standby): {}",
                list(false)
            )
        }),
        Role::Split => findings.add(Level::Warn, "vrrp-holds", || {
            format!(
                "this host holds {} but not {}: VRRP moves them together, so something else added or removed one (clients and guests then reach different hosts)",
                list(true),
                list(false)
            )
        }),
    }
}

/// An interface VRRP or the sync daemons use must exist and be up (a declared bridge that
/// does not exist yet is apply's to create).
fn interface(
    facts: &Facts,
    findings: &mut Findings,
    check: &'static str,
    who: &'static str,
    name: &str,
    config: &Config,
) {
    match facts.links.by_name(name) {
        Some(l) if l.up && facts.ha.no_carrier.iter().any(|n| n == name) => {
            findings.add(Level::Warn, check, || {
                format!("{name}, used by {who}, is up but has no carrier (no working link)")
            })
        }
        Some(l) if l.up => {
            findings.add(Level::Ok, check, || format!("{name}, used by {who}, is up"))
        }
        Some(_) => findings.add(Level::Warn, check, || {
            format!("{name}, used by {who}, is down")
        }),
        None if config.bridges.iter().any(|b| b.name == name) => {
            findings.add(Level::Info, check, || {
                format!("{name}, used by {who}, does not exist yet (apply creates it)")
            })
        }
        None => findings.add(Level::Warn, check, || {
            format!("{name}, used by {who}, does not exist on this host")
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::links::{Address, Link, LinkTable};

    fn pair() -> Config {
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/ha-lb1.json"),
        )
        .expect("example");
        crate::config::check("t".into(), text.as_bytes())
            .config
            .expect("valid")
    }

    fn host(addresses: &[&str], br1_up: bool) -> LinkTable {
        let link = |index, name: &str, up| Link {
            index,
            name: name.into(),
            kind: None,
            master: None,
            up,
        };
        LinkTable {
            links: vec![link(2, "eth0", true), link(3, "br1", br1_up)],
            addresses: addresses
                .iter()
                .map(|a| Address {
                    index: if a.starts_with("10.") { 3 } else { 2 },
                    addr: a.parse().expect("ip"),
                    prefix_len: 24,
                })
                .collect(),
            default_routes: Vec::new(),
        }
    }

    fn found(facts: &Facts) -> Vec<String> {
        super::super::check(&pair(), facts)
            .iter()
            .filter(|f| {
                f.check.starts_with("vrrp")
                    || f.check.starts_with("sync")
                    || f.check.starts_with("keepalived")
            })
            .map(|f| format!("{} {}: {}", f.level.name(), f.check, f.message))
            .collect()
    }

    #[test]
    fn an_active_host_with_everything_in_place_is_fine() {
        let running = SyncDaemon::wanted(pair().sync.as_ref().expect("sync"));
        let facts = Facts {
            links: host(&["10.0.0.2", "203.0.113.10", "10.0.0.1"], true),
            ha: HaFacts {
                sync_daemons: Some(running),
                sync_rp_filter: Some(0),
                keepalived_current: Some(true),
                no_carrier: Vec::new(),
                advert: None,
            },
            ..Facts::default()
        };
        let found = found(&facts);
        assert!(found.iter().all(|f| !f.starts_with("warn")), "{found:?}");
        assert!(found.contains(
            &"info vrrp-holds: this host holds the floating addresses now (active): 203.0.113.10, 10.0.0.1".to_string()
        ));
    }

    #[test]
    fn a_standby_compares_the_active_hosts_priority_with_its_own() {
        let said = |heard| {
            let facts = Facts {
                links: host(&["10.0.0.2"], true),
                ha: HaFacts {
                    advert: Some(heard),
                    ..HaFacts::default()
                },
                ..Facts::default()
            };
            found(&facts)
                .into_iter()
                .find(|f| f.contains("vrrp-priority"))
                .unwrap_or_default()
        };
        let advert = |priority| {
            Heard::Advert(crate::kernel::vrrp::Advert {
                from: "10.0.0.3".parse().expect("ip"),
                priority,
            })
        };
        assert!(said(advert(150)).starts_with(
            "warn vrrp-priority: the active host 10.0.0.3 advertises priority 150, the same"
        ));
        assert_eq!(
            said(advert(100)),
            "ok vrrp-priority: the active host 10.0.0.3 advertises priority 100 (this host: 150)"
        );
        assert!(said(Heard::Nothing(4)).starts_with(
            "warn vrrp-priority: no VRRP advertisement for router id 51 on br1 within 4 s"
        ));
    }

    #[test]
    fn a_split_a_down_interface_strict_rp_filter_and_missing_pieces_are_warnings() {
        let facts = Facts {
            links: host(&["10.0.0.2", "203.0.113.10"], false),
            ha: HaFacts {
                sync_daemons: Some(Vec::new()),
                sync_rp_filter: Some(1),
                keepalived_current: None,
                no_carrier: vec!["eth0".into()],
                advert: None,
            },
            ..Facts::default()
        };
        let warned: Vec<String> = found(&facts)
            .into_iter()
            .filter(|f| f.starts_with("warn"))
            .map(|f| f.split(':').next().unwrap_or_default().to_string())
            .collect();
        assert_eq!(
            warned,
            [
                "warn vrrp-holds",
                "warn vrrp-interface",
                "warn sync-interface",
                "warn sync-daemons",
                "warn sync-daemons",
                "warn sync-rp-filter"
            ]
        );
    }
}
