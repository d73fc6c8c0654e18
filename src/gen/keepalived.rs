//! `portfwd gen keepalived`: keepalived.conf with the one VRRP instance of an active/backup
//! pair. keepalived only moves the floating addresses; portfwd owns the IPVS table and the
//! sync daemons, so the file has no `virtual_server` and no `lvs_sync_daemon`.
//!
//! Every value written comes from a validated type (addresses, interface names without
//! white space or control characters); the config's name is quoted with escapes.

use super::File;
use crate::config::diagnostic::quote;
use crate::config::model::{Config, Floating, Vrrp};
use std::fmt::Write;

pub const CONF: &str = "etc/keepalived/keepalived.conf";

/// The instance's name in keepalived's logs and `keepalived --signum=DATA` dumps.
pub fn instance_name(vrrp: &Vrrp) -> String {
    format!("portfwd_{}", vrrp.router_id)
}

/// keepalived.conf for `config`, named `source` in the header; `None` without `vrrp`.
pub fn file(config: &Config, source: &str) -> Option<File> {
    let vrrp = config.vrrp.as_ref()?;
    let vips = config.floating();
    let mut out = format!(
        "{}{}: the VRRP instance that moves the floating addresses.\n# Do not edit: change the config and run `portfwd gen keepalived` again.\n# portfwd keeps the IPVS table and the sync daemons: no virtual_server here.\n\n",
        super::HEADER_START,
        quote(source)
    );
    let _ = writeln!(out, "vrrp_instance {} {{", instance_name(vrrp));
    // Both hosts start as BACKUP: the election, not the file, decides who is active.
    out.push_str("    state BACKUP\n");
    let _ = writeln!(out, "    interface {}", vrrp.interface);
    let _ = writeln!(out, "    virtual_router_id {}", vrrp.router_id);
    let _ = writeln!(out, "    priority {}", vrrp.priority);
    let _ = writeln!(out, "    advert_int {}", vrrp.advert_interval);
    if !vrrp.preempt {
        // A returning host must not take the addresses before its sync daemon has the
        // connections the other host carries.
        out.push_str("    nopreempt\n");
    }
    // VRRPv2 carries IPv4 only: IPv6 addresses ride along as "excluded" ones, unless
    // there is no IPv4 one, and then the instance speaks VRRPv3 over IPv6.
    let v4 = vips.iter().any(|v| v.addr.is_ipv4());
    if !v4 && !vips.is_empty() {
        out.push_str("    version 3\n");
    }
    if !vrrp.unicast_peers.is_empty() {
        out.push_str("    unicast_peer {\n");
        for peer in &vrrp.unicast_peers {
            let _ = writeln!(out, "        {peer}");
        }
        out.push_str("    }\n");
    }
    // A host whose public link fails gives the addresses up.
    let mut tracked: Vec<&str> = vips
        .iter()
        .map(|v| v.interface.as_str())
        .filter(|i| *i != vrrp.interface)
        .collect();
    tracked.sort_unstable();
    tracked.dedup();
    if !tracked.is_empty() {
        out.push_str("    track_interface {\n");
        for i in tracked {
            let _ = writeln!(out, "        {i}");
        }
        out.push_str("    }\n");
    }
    let block = |out: &mut String, name: &str, list: &[&Floating]| {
        if list.is_empty() {
            return;
        }
        let _ = writeln!(out, "    {name} {{");
        for v in list {
            let _ = writeln!(
                out,
                "        {}/{} dev {}",
                v.addr, v.prefix_len, v.interface
            );
        }
        out.push_str("    }\n");
    };
    let (main, excluded): (Vec<&Floating>, Vec<&Floating>) =
        vips.iter().partition(|v| v.addr.is_ipv4() == v4);
    block(&mut out, "virtual_ipaddress", &main);
    block(&mut out, "virtual_ipaddress_excluded", &excluded);
    // Gratuitous ARP (and unsolicited NA) on becoming master, repeated once a second later.
    out.push_str("    garp_master_delay 1\n    garp_master_repeat 3\n");
    out.push_str("}\n");
    Some(File {
        path: CONF.into(),
        content: out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn config(name: &str) -> Config {
        let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(name))
            .expect("example");
        crate::config::check(name.into(), text.as_bytes())
            .config
            .expect("valid")
    }

    #[test]
    fn the_pair_example_gets_one_instance_with_both_floating_addresses() {
        let f = file(&config("examples/ha-lb1.json"), "examples/ha-lb1.json").expect("vrrp");
        assert_eq!(f.path, Path::new(CONF));
        let body = f.content.split_once("\n\n").expect("header").1;
        assert_eq!(
            body,
            "vrrp_instance portfwd_51 {\n    state BACKUP\n    interface br1\n    virtual_router_id 51\n    priority 150\n    advert_int 1\n    nopreempt\n    track_interface {\n        eth0\n    }\n    virtual_ipaddress {\n        203.0.113.10/24 dev eth0\n        10.0.0.1/24 dev br1\n    }\n    garp_master_delay 1\n    garp_master_repeat 3\n}\n"
        );
        assert!(!body.contains("virtual_server"));
        // The two hosts' files differ only in the priority.
        let lb2 = file(&config("examples/ha-lb2.json"), "examples/ha-lb1.json").expect("vrrp");
        assert_eq!(
            lb2.content,
            f.content.replace("priority 150", "priority 100")
        );
    }

    #[test]
    fn unicast_preempt_and_ipv6_are_written_as_keepalived_reads_them() {
        let text = r#"{
            "public": [{"address": "2001:db8::10", "interface": "eth0", "floating": true}],
            "bridges": [{"name": "br1", "address": "10.0.0.2/24", "floating_address": "10.0.0.1/24"}],
            "vrrp": {"interface": "br1", "router_id": 7, "priority": 200, "advert_interval": 2,
                     "unicast_peers": ["10.0.0.3"], "preempt": true}}"#;
        let cfg = crate::config::check("t".into(), text.as_bytes())
            .config
            .expect("valid");
        let f = file(&cfg, "t").expect("vrrp").content;
        assert!(!f.contains("nopreempt"), "{f}");
        assert!(f.contains("    advert_int 2\n    unicast_peer {\n        10.0.0.3\n    }\n"));
        assert!(f.contains("    virtual_ipaddress {\n        10.0.0.1/24 dev br1\n    }\n"));
        assert!(f.contains(
            "    virtual_ipaddress_excluded {\n        2001:db8::10/128 dev eth0\n    }\n"
        ));
        assert!(!f.contains("version 3"));
        assert!(file(&config("examples/xen-dom0.json"), "x").is_none());
    }
}
