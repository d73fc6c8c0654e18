//! Rules of an active/backup pair: floating addresses need `vrrp`, and the addresses VRRP
//! moves must not be the ones the host keeps.

use super::not_unicast;
use crate::config::diagnostic::{Diagnostic, Place, Severity};
use crate::config::model::Config;

pub(super) fn check_ha(config: &Config, diags: &mut Vec<Diagnostic>) {
    // A `vrrp` object that failed to decode has its own error; floating addresses are then
    // not also reported as lacking it.
    let vrrp_present = config.vrrp.is_some()
        || diags.iter().any(|d| {
            matches!(&d.place, Place::Path { path } if path.starts_with("vrrp"))
                && d.severity == Severity::Error
        });
    for p in config.public.iter().filter(|p| p.floating) {
        if !vrrp_present {
            diags.push(Diagnostic::error(
                "floating-needs-vrrp",
                format!("public[{}].floating", p.index),
                format!(
                    "{} is floating, but the config has no \"vrrp\": nothing would move it to this host",
                    p.address
                ),
            ));
        }
    }
    for b in &config.bridges {
        let Some(floating) = b.floating_address else {
            continue;
        };
        let path = format!("bridges[{}].floating_address", b.index);
        if !vrrp_present {
            diags.push(Diagnostic::error(
                "floating-needs-vrrp",
                &path,
                format!(
                    "{}/{} is floating, but the config has no \"vrrp\": nothing would move it to this host",
                    floating.addr, floating.prefix_len
                ),
            ));
        }
        if floating.addr == b.address.addr {
            diags.push(Diagnostic::error(
                "floating-is-own-address",
                &path,
                format!(
                    "{} is also the bridge's own \"address\": each host keeps its own address on the bridge and VRRP moves the floating one, so they must differ",
                    floating.addr
                ),
            ));
        } else if floating.addr.is_ipv4() != b.address.addr.is_ipv4() {
            diags.push(Diagnostic::error(
                "family",
                &path,
                format!(
                    "{} and the bridge's address {} are of different families",
                    floating.addr, b.address.addr
                ),
            ));
        } else if !b.address.contains(floating.addr) {
            diags.push(Diagnostic::warning(
                "floating-outside-subnet",
                &path,
                format!(
                    "{} is outside the bridge's subnet {}/{}: the guests reach their gateway only if their routes say so",
                    floating.addr, b.address.addr, b.address.prefix_len
                ),
            ));
        }
    }
    if let Some(vrrp) = &config.vrrp {
        // The advertisements are IPv4 when any floating address is (gen keepalived), and
        // keepalived skips a peer of the other family.
        let floating = config.floating();
        let v4 = floating.is_empty() || floating.iter().any(|f| f.addr.is_ipv4());
        for (i, peer) in vrrp.unicast_peers.iter().enumerate() {
            if let Some(problem) = not_unicast(*peer) {
                diags.push(Diagnostic::error(
                    "address",
                    format!("vrrp.unicast_peers[{i}]"),
                    format!("{peer} {problem}"),
                ));
            } else if peer.is_ipv4() != v4 {
                diags.push(Diagnostic::error(
                    "family",
                    format!("vrrp.unicast_peers[{i}]"),
                    format!(
                        "{peer} is {} but the advertisements are {}: keepalived would skip this peer",
                        super::family(*peer),
                        if v4 { "IPv4 (an IPv4 address floats)" } else { "IPv6 (only IPv6 addresses float)" }
                    ),
                ));
            }
        }
        if config.floating().is_empty() {
            diags.push(Diagnostic::warning(
                "vrrp-moves-nothing",
                "vrrp",
                "no public address is \"floating\" and no bridge has a \"floating_address\": VRRP would move nothing",
            ));
        }
    }
}
