//! Reads what the config's host part needs to know: links and addresses, the declared
//! sysctls, the modules' states.

use super::KernelError;
use super::ipvs::Ipvs;
use super::links::Links;
use super::modules::Modules;
use super::sysctl::Sysctl;
use crate::state::host::{HostActual, HostDesired, ModuleState};

/// Reads what `want` needs to know from the kernel.
pub fn read_with(
    want: &HostDesired,
    links: &mut dyn Links,
    sysctl: &mut dyn Sysctl,
    modules: &mut dyn Modules,
    ipvs: &mut dyn Ipvs,
) -> Result<HostActual, KernelError> {
    let mut actual = HostActual {
        links: links.read()?,
        ..HostActual::default()
    };
    for m in &want.modules {
        actual.modules.insert(m.clone(), modules.state(m));
    }
    // Only the error about a missing module names the kernel.
    if actual.modules.values().any(|s| *s == ModuleState::Missing) {
        actual.release = modules.release();
    }
    for s in &want.sysctls {
        actual.sysctls.insert(s.key.clone(), sysctl.read(&s.key)?);
    }
    let started = ipvs.started_daemons();
    if want.sync.is_some() || !started.is_empty() {
        actual.sync = ipvs.read_daemons()?;
        actual.sync_started = started
            .into_iter()
            .filter(|r| actual.sync.iter().any(|d| d.role == *r))
            .collect();
    }
    Ok(actual)
}
