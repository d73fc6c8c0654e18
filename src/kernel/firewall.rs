//! The host's packet filter as its own tools print it: `nft -j list ruleset` (nftables,
//! and iptables-nft's tables), `iptables-save` and `ip6tables-save` (either backend). A
//! tool that is missing or fails adds nothing: the check is advice, never a guard.

use crate::state::firewall::{self, Table};
use std::process::{Command, Stdio};

/// Every table hooked at input that the tools show.
pub fn read() -> Vec<Table> {
    let mut tables = Vec::new();
    if let Some(text) = output("nft", &["-j", "list", "ruleset"]) {
        tables.extend(firewall::from_nft_json(&text).unwrap_or_default());
    }
    for (tool, family) in [("iptables-save", "ip"), ("ip6tables-save", "ip6")] {
        if let Some(text) = output(tool, &[]) {
            tables.extend(firewall::from_iptables_save(&text, family));
        }
    }
    tables
}

fn output(tool: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(tool)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}
