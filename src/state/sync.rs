//! The kernel's IPVS connection sync daemons: at most one master (sends this host's
//! connections) and one backup (receives the peer's) per network namespace.

use crate::config::model::SyncDaemons;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncRole {
    Master,
    Backup,
}

impl SyncRole {
    pub const BOTH: [SyncRole; 2] = [SyncRole::Master, SyncRole::Backup];

    /// `IP_VS_STATE_MASTER` / `IP_VS_STATE_BACKUP`.
    pub fn to_kernel(self) -> u32 {
        match self {
            SyncRole::Master => 1,
            SyncRole::Backup => 2,
        }
    }

    pub fn from_kernel(state: u32) -> Option<SyncRole> {
        match state {
            1 => Some(SyncRole::Master),
            2 => Some(SyncRole::Backup),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SyncRole::Master => "master",
            SyncRole::Backup => "backup",
        }
    }
}

/// One sync daemon. Read from the kernel every field is known; asked for by a config, the
/// optional ones left out take the kernel's defaults (from the MTU, 224.0.0.81, 8848, 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncDaemon {
    pub role: SyncRole,
    pub interface: String,
    pub sync_id: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_len: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u8>,
}

impl SyncDaemon {
    /// The daemons a config's `sync` asks for: a master and a backup with the same settings.
    pub fn wanted(sync: &SyncDaemons) -> Vec<SyncDaemon> {
        SyncRole::BOTH
            .into_iter()
            .map(|role| SyncDaemon {
                role,
                interface: sync.interface.clone(),
                sync_id: u32::from(sync.sync_id),
                max_len: sync.max_len,
                group: sync.group,
                port: sync.port,
                ttl: sync.ttl,
            })
            .collect()
    }

    /// Whether this running daemon is what `want` asks for: the settings `want` leaves
    /// out may have any value.
    pub fn satisfies(&self, want: &SyncDaemon) -> bool {
        fn same<T: PartialEq>(have: Option<T>, want: Option<T>) -> bool {
            want.is_none() || have == want
        }
        self.role == want.role
            && self.interface == want.interface
            && self.sync_id == want.sync_id
            && same(self.max_len, want.max_len)
            && same(self.group, want.group)
            && same(self.port, want.port)
            && same(self.ttl, want.ttl)
    }
}

impl fmt::Display for SyncDaemon {
    /// `master on br1, syncid 51` and the settings that are known.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} on {}, syncid {}",
            self.role.name(),
            self.interface,
            self.sync_id
        )?;
        if let Some(group) = self.group {
            write!(f, ", group {group}")?;
        }
        if let Some(port) = self.port {
            write!(f, ", port {port}")?;
        }
        if let Some(ttl) = self.ttl {
            write!(f, ", ttl {ttl}")?;
        }
        if let Some(len) = self.max_len {
            write!(f, ", maxlen {len}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(port: Option<u16>) -> SyncDaemons {
        SyncDaemons {
            interface: "br1".into(),
            sync_id: 51,
            max_len: None,
            group: None,
            port,
            ttl: None,
        }
    }

    fn running(role: SyncRole) -> SyncDaemon {
        SyncDaemon {
            role,
            interface: "br1".into(),
            sync_id: 51,
            max_len: Some(1472),
            group: Some("224.0.0.81".parse().expect("ip")),
            port: Some(8848),
            ttl: Some(1),
        }
    }

    #[test]
    fn settings_a_config_leaves_out_match_any_value() {
        let want = SyncDaemon::wanted(&config(None));
        assert_eq!(want.len(), 2);
        assert!(running(SyncRole::Master).satisfies(&want[0]));
        assert!(running(SyncRole::Backup).satisfies(&want[1]));
        assert!(!running(SyncRole::Backup).satisfies(&want[0]));
        let other_port = SyncDaemon::wanted(&config(Some(9000)));
        assert!(!running(SyncRole::Master).satisfies(&other_port[0]));
    }

    #[test]
    fn reads_as_a_line() {
        assert_eq!(
            running(SyncRole::Master).to_string(),
            "master on br1, syncid 51, group 224.0.0.81, port 8848, ttl 1, maxlen 1472"
        );
        assert_eq!(
            SyncDaemon::wanted(&config(None))[1].to_string(),
            "backup on br1, syncid 51"
        );
    }
}
