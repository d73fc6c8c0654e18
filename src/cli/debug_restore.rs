//! `portfwd debug-restore` (hidden): writes an ipvsadm rules file through our netlink
//! client, so tests can check what the client writes against what ipvsadm reads.

use super::style::Painter;
use crate::kernel::ipvs::{Ipvs, NetlinkIpvs};
use crate::state::ipvsadm_rules;
use crate::state::ops::Op;
use std::io::Read;
use std::path::Path;

pub fn run(file: &Path, err: Painter) -> i32 {
    let text = if file.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).map(|_| s)
    } else {
        std::fs::read_to_string(file)
    };
    let table = match text
        .map_err(|e| e.to_string())
        .and_then(|t| ipvsadm_rules::parse(&t))
    {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{} {}: {e}", err.red("error:"), file.display());
            return 1;
        }
    };
    let mut ops = Vec::new();
    for entry in table.services.values() {
        ops.push(Op::NewService(entry.service.clone()));
    }
    for entry in table.services.values() {
        for d in entry.dests.values() {
            ops.push(Op::NewDest(entry.service.key, d.dest.clone()));
        }
    }
    let mut ipvs = match NetlinkIpvs::connect() {
        Ok(i) => i,
        Err(e) => {
            eprintln!("{} {e}", err.red("error:"));
            return 1;
        }
    };
    let results = ipvs.execute(&ops);
    let mut failed = 0;
    for r in &results {
        if let Err(e) = r {
            failed += 1;
            eprintln!("{} {e}", err.red("error:"));
        }
    }
    println!(
        "{} of {} operations done",
        results.len() - failed,
        results.len()
    );
    if failed == 0 { 0 } else { 1 }
}
