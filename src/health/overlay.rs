//! The desired table with health applied: a held-down destination gets weight 0
//! (`inhibit`) or leaves (`remove`); when every destination of a service is down, the
//! fallback serves with weight 1, or without one nothing changes (fail open: a wrong check
//! must not take a service down).

use crate::config::model::{Forward, Health, OnFailure};
use crate::state::desired::Desired;
use crate::state::ipvs::{Dest, DestKey, ServiceKey};
use std::fmt;
use std::net::IpAddr;

/// A service left as configured because every destination is down and there is no fallback.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct FailOpen {
    pub forward: String,
    pub service: ServiceKey,
}

impl fmt::Display for FailOpen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (forward \"{}\")", self.service, self.forward)
    }
}

/// The forward called by a name and its health checks (an index lookup, see
/// `engine::Loaded::checked`).
pub type CheckedForward<'c> = dyn Fn(&str) -> Option<(&'c Forward, &'c Health)> + 'c;

/// Whether a backend (forward, destination address, port) is held down.
pub type IsDown<'a> = dyn Fn(&str, IpAddr, u16) -> bool + 'a;

/// Applies `down` (forward, destination address, port → held down) to `desired`. Returns
/// the services that fail open.
pub fn apply<'c>(
    desired: &mut Desired,
    checked: &CheckedForward<'c>,
    down: &IsDown,
) -> Vec<FailOpen> {
    let mut fail_open = Vec::new();
    for (key, service) in &mut desired.services {
        let Some((forward, health)) = checked(&service.forward) else {
            continue;
        };
        let held: Vec<DestKey> = service
            .dests
            .keys()
            .filter(|k| down(&forward.name, k.addr, k.port))
            .copied()
            .collect();
        if held.is_empty() {
            continue;
        }
        let all_down = held.len() == service.dests.len();
        if all_down && forward.fallback.is_none() {
            fail_open.push(FailOpen {
                forward: forward.name.to_string(),
                service: *key,
            });
            continue;
        }
        for k in &held {
            match health.on_failure {
                OnFailure::Inhibit => {
                    if let Some(d) = service.dests.get_mut(k) {
                        d.weight = 0;
                    }
                }
                OnFailure::Remove => {
                    service.dests.remove(k);
                }
            }
        }
        if let (true, Some(fallback)) = (all_down, forward.fallback) {
            let listen_port = match key {
                ServiceKey::Tuple { port, .. } => *port,
                ServiceKey::Fwmark { .. } => 0,
            };
            let port = fallback.ports.map_or(listen_port, |p| p.first);
            let fkey = DestKey {
                addr: fallback.addr,
                port,
            };
            // Reached as the forward says, whatever method its backends have of their own.
            let (method, tunnel) = crate::state::desired::forwarding(forward.method);
            service.dests.insert(
                fkey,
                Dest {
                    key: fkey,
                    method,
                    weight: 1,
                    upper_threshold: 0,
                    lower_threshold: 0,
                    tunnel,
                },
            );
        }
    }
    fail_open
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::Config;

    /// The forward called `name` and its checks (a scan: these configs are small).
    fn checked_forward<'a>(c: &'a Config, name: &str) -> Option<(&'a Forward, &'a Health)> {
        let forward = c.forwards.iter().find(|f| &*f.name == name)?;
        let health = forward
            .health
            .as_ref()
            .filter(|h| h.check != crate::config::model::CheckKind::None)?;
        Some((forward, health))
    }
    use crate::state::desired::from_config;

    fn apply(
        d: &mut Desired,
        c: &Config,
        down: &dyn Fn(&str, IpAddr, u16) -> bool,
    ) -> Vec<FailOpen> {
        super::apply(d, &|name| checked_forward(c, name), down)
    }

    fn config(extra: &str) -> Config {
        let text = format!(
            r#"{{"public":[{{"address":"203.0.113.10"}}],"forwards":[{{"name":"web","listen":"203.0.113.10:80",
                "backends":["10.0.0.2","10.0.0.3"],"health":{{"check":"tcp"{extra}}}{}}}]}}"#,
            if extra.contains("remove") {
                ""
            } else {
                r#","fallback":"10.0.0.9:8080""#
            }
        );
        let loaded = crate::config::check("t".into(), text.as_bytes());
        loaded.config.expect("valid")
    }

    fn dests(d: &Desired) -> Vec<(String, u32)> {
        d.services
            .values()
            .flat_map(|s| s.dests.values())
            .map(|d| (format!("{}:{}", d.key.addr, d.key.port), d.weight))
            .collect()
    }

    #[test]
    fn held_down_backends_are_inhibited_then_the_fallback_serves() {
        let c = config("");
        let mut d = from_config(&c);
        let one = |_: &str, a: IpAddr, _: u16| a.to_string() == "10.0.0.2";
        assert!(apply(&mut d, &c, &one).is_empty());
        assert_eq!(
            dests(&d),
            [("10.0.0.2:80".into(), 0), ("10.0.0.3:80".into(), 1)]
        );

        let mut d = from_config(&c);
        assert!(apply(&mut d, &c, &|_, _, _| true).is_empty());
        assert_eq!(
            dests(&d),
            [
                ("10.0.0.2:80".into(), 0),
                ("10.0.0.3:80".into(), 0),
                ("10.0.0.9:8080".into(), 1)
            ]
        );
    }

    #[test]
    fn remove_takes_backends_out_and_all_down_without_fallback_fails_open() {
        let c = config(r#","on_failure":"remove""#);
        let mut d = from_config(&c);
        apply(&mut d, &c, &|_, a, _| a.to_string() == "10.0.0.3");
        assert_eq!(dests(&d), [("10.0.0.2:80".into(), 1)]);
        let mut d = from_config(&c);
        let open = apply(&mut d, &c, &|_, _, _| true);
        let text: Vec<String> = open.iter().map(|f| f.to_string()).collect();
        assert_eq!(text, ["tcp 203.0.113.10:80 (forward \"web\")"]);
        assert_eq!(
            dests(&d),
            [("10.0.0.2:80".into(), 1), ("10.0.0.3:80".into(), 1)]
        );
    }
}
