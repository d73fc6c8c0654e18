//! The operations a plan emits and the kernel module executes: one change to the IPVS
//! table ([`Op`]) or to links and addresses ([`LinkOp`]).

use super::ipvs::{Dest, DestKey, Service, ServiceKey};
use super::sync::{SyncDaemon, SyncRole};
use std::fmt;
use std::net::IpAddr;

/// One change to the IPVS table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    NewService(Service),
    SetService(Service),
    DelService(ServiceKey),
    NewDest(ServiceKey, Dest),
    SetDest(ServiceKey, Dest),
    DelDest(ServiceKey, DestKey),
    /// Starts a connection sync daemon.
    NewDaemon(SyncDaemon),
    /// Stops the sync daemon of that role.
    DelDaemon(SyncRole),
}

impl fmt::Display for Op {
    /// What the operation does, in words used in error messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::NewService(s) => write!(f, "adding service {} (scheduler {})", s.key, s.scheduler),
            Op::SetService(s) => {
                write!(f, "changing service {} (scheduler {})", s.key, s.scheduler)
            }
            Op::DelService(k) => write!(f, "removing service {k}"),
            Op::NewDest(k, d) => {
                write!(f, "adding destination {} to service {k}", dest_text(&d.key))
            }
            Op::SetDest(k, d) => write!(
                f,
                "changing destination {} of service {k}",
                dest_text(&d.key)
            ),
            Op::DelDest(k, d) => {
                write!(f, "removing destination {} from service {k}", dest_text(d))
            }
            Op::NewDaemon(d) => write!(f, "starting sync daemon {d}"),
            Op::DelDaemon(role) => write!(f, "stopping sync daemon {}", role.name()),
        }
    }
}

fn dest_text(d: &DestKey) -> String {
    std::net::SocketAddr::new(d.addr, d.port).to_string()
}

/// One change to links or addresses. Links are named, not numbered: a bridge created earlier
/// in the same apply has no index when the plan is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkOp {
    CreateBridge {
        name: String,
    },
    DeleteLink {
        name: String,
    },
    SetUp {
        name: String,
        up: bool,
    },
    /// Enslaves `name` to `master`, or frees it with `None`.
    SetMaster {
        name: String,
        master: Option<String>,
    },
    AddAddress {
        name: String,
        addr: IpAddr,
        prefix_len: u8,
    },
    DelAddress {
        name: String,
        addr: IpAddr,
        prefix_len: u8,
    },
}

impl fmt::Display for LinkOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkOp::CreateBridge { name } => write!(f, "creating bridge {name}"),
            LinkOp::DeleteLink { name } => write!(f, "deleting link {name}"),
            LinkOp::SetUp { name, up: true } => write!(f, "bringing {name} up"),
            LinkOp::SetUp { name, up: false } => write!(f, "bringing {name} down"),
            LinkOp::SetMaster {
                name,
                master: Some(m),
            } => write!(f, "enslaving {name} to {m}"),
            LinkOp::SetMaster { name, master: None } => write!(f, "freeing {name} from its bridge"),
            LinkOp::AddAddress {
                name,
                addr,
                prefix_len,
            } => write!(f, "adding address {addr}/{prefix_len} to {name}"),
            LinkOp::DelAddress {
                name,
                addr,
                prefix_len,
            } => write!(f, "removing address {addr}/{prefix_len} from {name}"),
        }
    }
}
