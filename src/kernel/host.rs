//! Reads what the config's host part needs to know: links and addresses, the declared
//! sysctls, the modules' states.

use super::KernelError;
use super::links::{Links, RtnlLinks};
use super::modules::{Modules, SystemModules};
use super::sysctl::{ProcSysctl, Sysctl};
use crate::state::host::{HostActual, HostDesired, ModuleState};

/// Reads what `want` needs to know from the kernel.
pub fn read_with(
    want: &HostDesired,
    links: &mut dyn Links,
    sysctl: &mut dyn Sysctl,
    modules: &mut dyn Modules,
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
    Ok(actual)
}

/// [`read_with`] from the live kernel.
pub fn read(want: &HostDesired) -> Result<HostActual, KernelError> {
    let mut links = RtnlLinks::connect()?;
    read_with(want, &mut links, &mut ProcSysctl, &mut SystemModules::new())
}
