//! `portfwd doctor`: the known pitfalls of forwarding to bridged guests, on this host.

use super::args::DoctorArgs;
use super::style::Painter;
use crate::doctor::{self, Facts, Level};
use crate::kernel::ipvs::{Ipvs, NetlinkIpvs};
use crate::kernel::links::{Links, RtnlLinks};
use crate::kernel::sysctl::ProcSysctl;

pub fn run(args: &DoctorArgs, out: Painter, err: Painter) -> i32 {
    let loaded = match super::plan::load(&args.config.path, err) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("{} {e}", err.red("error:"));
            return 1;
        }
    };
    let links = match RtnlLinks::connect().and_then(|mut l| l.read()) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{} {e}", err.red("error:"));
            return 1;
        }
    };
    let mut findings = Vec::new();
    let mut ipvs = NetlinkIpvs::connect();
    let mut sync_daemons = None;
    if loaded.config.sync.is_some()
        && let Ok(i) = &mut ipvs
    {
        sync_daemons = i.read_daemons().ok();
    }
    let conn_table_size = match ipvs.and_then(|mut i| i.info()) {
        Ok(info) => Some(info.conn_table_size),
        Err(e) => {
            findings.push(doctor::Finding {
                level: Level::Warn,
                check: "ipvs",
                message: format!("IPVS does not answer: {e}"),
            });
            None
        }
    };
    let mut facts = Facts::read(&loaded.config, links, &mut ProcSysctl, conn_table_size);
    facts.ha.sync_daemons = sync_daemons;
    facts.ha.advert = listen_for_the_active_host(&loaded.config, &facts, &mut findings);
    findings.extend(doctor::check(&loaded.config, &facts));
    findings.sort_by_key(|f| std::cmp::Reverse(f.level));
    for f in &findings {
        let label = match f.level {
            Level::Ok => out.green("ok  "),
            Level::Info => out.bold("info"),
            Level::Warn => out.yellow("warn"),
        };
        println!("{label}  {}", f.message);
    }
    let warnings = findings.iter().filter(|f| f.level == Level::Warn).count();
    if warnings == 0 {
        println!("No problems found.");
        0
    } else {
        println!(
            "{warnings} problem{} found.",
            if warnings == 1 { "" } else { "s" }
        );
        1
    }
}

/// On a standby host, the active one's advertisement (up to three intervals and a second).
fn listen_for_the_active_host(
    config: &crate::config::model::Config,
    facts: &Facts,
    findings: &mut Vec<doctor::Finding>,
) -> Option<doctor::Heard> {
    let vrrp = config.vrrp.as_ref()?;
    if !doctor::ha::standby(config, &facts.links) {
        return None;
    }
    let index = facts.links.by_name(&vrrp.interface)?.index;
    let secs = 3 * u64::from(vrrp.advert_interval) + 1;
    let own = |a| facts.links.holder_of(a).is_some();
    match crate::kernel::vrrp::listen(
        &vrrp.interface,
        index,
        vrrp.router_id,
        std::time::Duration::from_secs(secs),
        &own,
    ) {
        Ok(Some(advert)) => Some(doctor::Heard::Advert(advert)),
        Ok(None) => Some(doctor::Heard::Nothing(secs)),
        Err(e) => {
            findings.push(doctor::Finding {
                level: Level::Info,
                check: "vrrp-priority",
                message: format!(
                    "cannot listen for VRRP advertisements on {}: {e}",
                    vrrp.interface
                ),
            });
            None
        }
    }
}
