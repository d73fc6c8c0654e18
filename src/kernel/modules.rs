//! Kernel modules: whether one is loaded, available to load, or missing, and loading it with
//! `modprobe` (which resolves dependencies as it does for IPVS's own requests).

use super::error::KernelError;
pub use crate::state::host::ModuleState;
use std::path::PathBuf;

/// Kernel modules, as the engine sees them.
pub trait Modules {
    fn state(&mut self, name: &str) -> ModuleState;
    fn load(&mut self, name: &str) -> Result<(), KernelError>;
    /// The running kernel's release, for messages.
    fn release(&self) -> String;
}

/// The running kernel's modules.
pub struct SystemModules {
    release: String,
    /// Module names from modules.dep and modules.builtin (read once).
    listed: Option<(Vec<String>, Vec<String>)>,
}

impl SystemModules {
    pub fn new() -> Self {
        use super::sysctl::{ProcSysctl, Sysctl};
        let release = ProcSysctl
            .read("kernel.osrelease")
            .ok()
            .flatten()
            .unwrap_or_default();
        SystemModules {
            release,
            listed: None,
        }
    }

    fn dir(&self) -> PathBuf {
        PathBuf::from("/lib/modules").join(&self.release)
    }

    /// Names of the modules in a modules.dep / modules.builtin file: `kernel/x/ip_vs_rr.ko.xz:`
    /// → `ip_vs_rr`.
    fn names(&self, file: &str) -> Vec<String> {
        let text = std::fs::read_to_string(self.dir().join(file)).unwrap_or_default();
        text.lines()
            .filter_map(|line| {
                let path = line.split(':').next()?;
                let base = path.rsplit('/').next()?;
                let name = base.split(".ko").next()?;
                Some(name.replace('-', "_"))
            })
            .collect()
    }
}

impl Default for SystemModules {
    fn default() -> Self {
        Self::new()
    }
}

impl Modules for SystemModules {
    fn state(&mut self, name: &str) -> ModuleState {
        if PathBuf::from("/sys/module").join(name).exists() {
            return ModuleState::Loaded;
        }
        if self.listed.is_none() {
            self.listed = Some((self.names("modules.dep"), self.names("modules.builtin")));
        }
        let Some((dep, builtin)) = &self.listed else {
            return ModuleState::Missing;
        };
        if builtin.iter().any(|n| n == name) {
            ModuleState::Loaded
        } else if dep.iter().any(|n| n == name) {
            ModuleState::Available
        } else {
            ModuleState::Missing
        }
    }

    fn load(&mut self, name: &str) -> Result<(), KernelError> {
        let action = format!("loading kernel module {name} (`modprobe {name}`)");
        let out = std::process::Command::new("modprobe")
            .arg(name)
            .output()
            .map_err(|e| KernelError::io(&action, &e))?;
        if out.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        Err(KernelError::other(
            action,
            if stderr.is_empty() {
                format!("modprobe exited with {}", out.status)
            } else {
                stderr
            },
        ))
    }

    fn release(&self) -> String {
        self.release.clone()
    }
}

/// Modules in memory, for tests.
#[cfg(test)]
pub mod memory {
    use super::{KernelError, ModuleState, Modules};
    use std::collections::BTreeMap;

    #[derive(Debug, Clone, Default)]
    pub struct MemoryModules {
        pub states: BTreeMap<String, ModuleState>,
        pub loads: Vec<String>,
    }

    impl Modules for MemoryModules {
        fn state(&mut self, name: &str) -> ModuleState {
            self.states
                .get(name)
                .copied()
                .unwrap_or(ModuleState::Missing)
        }

        fn load(&mut self, name: &str) -> Result<(), KernelError> {
            self.loads.push(name.to_string());
            match self.state(name) {
                ModuleState::Missing => Err(KernelError::other(
                    format!("loading kernel module {name} (`modprobe {name}`)"),
                    format!("module {name} not found"),
                )),
                _ => {
                    self.states.insert(name.to_string(), ModuleState::Loaded);
                    Ok(())
                }
            }
        }

        fn release(&self) -> String {
            "test".into()
        }
    }
}
