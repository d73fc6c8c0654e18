//! Kernel settings through /proc/sys of the current network namespace. Keys are dotted as
//! `sysctl(8)` writes them; a `/` inside a component stands for a dot in the name (e.g.
//! `net.ipv4.conf.vif1/0.rp_filter` for interface `vif1.0`).

use super::error::KernelError;
pub use crate::state::host::normalize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Kernel settings, as the engine sees them.
pub trait Sysctl {
    /// The value with runs of white space made one space; `None` when the key does not exist.
    fn read(&mut self, key: &str) -> Result<Option<String>, KernelError>;
    fn write(&mut self, key: &str, value: &str) -> Result<(), KernelError>;
}

/// The file of a dotted key under /proc/sys.
pub fn path_of(key: &str) -> PathBuf {
    let mut path = PathBuf::from("/proc/sys");
    for part in key.split('.') {
        path.push(part.replace('/', "."));
    }
    path
}

/// The real /proc/sys.
pub struct ProcSysctl;

impl Sysctl for ProcSysctl {
    fn read(&mut self, key: &str) -> Result<Option<String>, KernelError> {
        match std::fs::read_to_string(path_of(key)) {
            Ok(text) => Ok(Some(normalize(&text))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(KernelError::io(format!("reading sysctl {key}"), &e)),
        }
    }

    fn write(&mut self, key: &str, value: &str) -> Result<(), KernelError> {
        std::fs::write(path_of(key), format!("{value}\n"))
            .map_err(|e| KernelError::io(format!("setting sysctl {key} to {value}"), &e))
    }
}

/// Settings already read (e.g. by [`crate::state::host::read`]) answered from memory, the
/// rest from `inner`: so that a plan does not read the same file twice.
pub struct Known<'a, S> {
    pub values: &'a BTreeMap<String, Option<String>>,
    pub inner: S,
}

impl<S: Sysctl> Sysctl for Known<'_, S> {
    fn read(&mut self, key: &str) -> Result<Option<String>, KernelError> {
        match self.values.get(key) {
            Some(value) => Ok(value.clone()),
            None => self.inner.read(key),
        }
    }

    fn write(&mut self, key: &str, value: &str) -> Result<(), KernelError> {
        self.inner.write(key, value)
    }
}

/// Settings in memory, for tests; writes to a missing key fail as /proc does (ENOENT).
#[cfg(test)]
#[derive(Debug, Clone, Default)]
pub struct MemorySysctl {
    pub values: BTreeMap<String, String>,
    pub writes: usize,
}

#[cfg(test)]
impl MemorySysctl {
    /// Settings with these values.
    pub fn with(values: &[(&str, &str)]) -> Self {
        MemorySysctl {
            values: values
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            writes: 0,
        }
    }
}

#[cfg(test)]
impl Sysctl for MemorySysctl {
    fn read(&mut self, key: &str) -> Result<Option<String>, KernelError> {
        Ok(self.values.get(key).cloned())
    }

    fn write(&mut self, key: &str, value: &str) -> Result<(), KernelError> {
        self.writes += 1;
        match self.values.get_mut(key) {
            Some(v) => {
                *v = normalize(value);
                Ok(())
            }
            None => Err(KernelError::errno(
                format!("setting sysctl {key} to {value}"),
                libc::ENOENT,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_to_proc_paths_with_slashes_for_dots_in_names() {
        assert_eq!(
            path_of("net.ipv4.conf.vif1/0.rp_filter"),
            PathBuf::from("/proc/sys/net/ipv4/conf/vif1.0/rp_filter")
        );
        assert_eq!(normalize("4096\t87380  6291456\n"), "4096 87380 6291456");
    }

    #[test]
    fn known_values_are_not_read_again() {
        let inner = MemorySysctl::with(&[
            ("net.ipv4.ip_forward", "0"),
            ("net.ipv4.conf.all.rp_filter", "2"),
        ]);
        let known = BTreeMap::from([
            ("net.ipv4.ip_forward".to_string(), Some("1".to_string())),
            ("net.bridge.bridge-nf-call-iptables".to_string(), None),
        ]);
        let mut s = Known {
            values: &known,
            inner,
        };
        let read = |s: &mut Known<MemorySysctl>, k: &str| s.read(k).expect("memory");
        assert_eq!(read(&mut s, "net.ipv4.ip_forward").as_deref(), Some("1"));
        assert_eq!(read(&mut s, "net.bridge.bridge-nf-call-iptables"), None);
        assert_eq!(
            read(&mut s, "net.ipv4.conf.all.rp_filter").as_deref(),
            Some("2")
        );
    }
}
