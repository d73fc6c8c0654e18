//! `portfwd show`: the live IPVS table.

use super::args::{ShowArgs, ShowFormat};
use super::style::Painter;
use crate::config;
use crate::kernel::ipvs::{Ipvs, NetlinkIpvs};
use crate::state::ipvs::ServiceKey;
use crate::state::sync::SyncDaemon;
use crate::state::{render, snapshot};
use std::collections::HashMap;

pub fn run(args: &ShowArgs, err: Painter) -> i32 {
    let names = match &args.config {
        Some(path) => match forward_names(path, err) {
            Some(n) => n,
            None => return 1,
        },
        None => HashMap::new(),
    };
    let format = if args.json {
        ShowFormat::Json
    } else {
        args.format
    };
    // Each format reads only what it prints: statistics only for the snapshot.
    let connect = match format {
        ShowFormat::Json => NetlinkIpvs::connect().map(NetlinkIpvs::with_stats),
        _ => NetlinkIpvs::connect(),
    };
    let result = connect.and_then(|mut ipvs| {
        let table = ipvs.read()?;
        Ok(match format {
            ShowFormat::Human => {
                let header = ipvs.info().ok().map(|i| {
                    format!(
                        "IP Virtual Server version {}.{}.{} (size={})",
                        i.version >> 16,
                        (i.version >> 8) & 0xff,
                        i.version & 0xff,
                        i.conn_table_size
                    )
                });
                let mut text = render::human(&table, header, &names);
                text.push_str(&daemons_text(&ipvs.read_daemons()?));
                text
            }
            ShowFormat::Ipvsadm => render::ipvsadm_save(&table),
            ShowFormat::Json => {
                let mut snap = snapshot::to_snapshot(&table);
                snap.timeouts = Some(ipvs.timeouts()?);
                snap.sync_daemons = ipvs.read_daemons()?;
                let mut text = serde_json::to_string_pretty(&snap).map_err(|e| {
                    crate::kernel::KernelError::protocol("writing the snapshot", e.to_string())
                })?;
                text.push('\n');
                text
            }
        })
    });
    match result {
        Ok(text) => {
            print!("{text}");
            0
        }
        Err(e) => {
            eprintln!("{} {e}", err.red("error:"));
            1
        }
    }
}

/// The running sync daemons as `ipvsadm -L --daemon` lists them; nothing when none runs.
fn daemons_text(daemons: &[SyncDaemon]) -> String {
    let mut out = String::new();
    for d in daemons {
        out.push_str(&format!(
            "{} sync daemon (mcast={}, syncid={}",
            d.role.name(),
            d.interface,
            d.sync_id
        ));
        if let Some(len) = d.max_len {
            out.push_str(&format!(", maxlen={len}"));
        }
        if let Some(group) = d.group {
            out.push_str(&format!(", group={group}"));
        }
        if let Some(port) = d.port {
            out.push_str(&format!(", port={port}"));
        }
        if let Some(ttl) = d.ttl {
            out.push_str(&format!(", ttl={ttl}"));
        }
        out.push_str(")\n");
    }
    out
}

/// Maps each IPVS service a valid config declares to its forward's name.
fn forward_names(path: &std::path::Path, err: Painter) -> Option<HashMap<ServiceKey, String>> {
    let loaded = config::load(path);
    let Some(cfg) = &loaded.config else {
        super::validate::report(&loaded, err, err);
        return None;
    };
    let desired = crate::state::desired::from_config(cfg);
    Some(
        desired
            .services
            .into_iter()
            .map(|(key, s)| (key, s.forward.to_string()))
            .collect(),
    )
}
