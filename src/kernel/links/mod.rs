//! Network links and their addresses over rtnetlink: read them all, and change them one
//! operation at a time (create a bridge, bring a link up, enslave a port, add an address).
//! [`Links`] is the seam the engine uses; [`RtnlLinks`] is the real kernel.

pub mod decode;
mod encode;
pub mod memory;

use super::error::KernelError;
use super::netlink::NetlinkSocket;
use std::fmt;
use std::net::IpAddr;

/// One network interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// `bridge`, `veth`, ...; `None` for a physical device.
    pub kind: Option<String>,
    /// The index of the bridge (or bond) it is enslaved to.
    pub master: Option<u32>,
    /// Administratively up (IFF_UP).
    pub up: bool,
}

/// One address of a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address {
    pub index: u32,
    pub addr: IpAddr,
    pub prefix_len: u8,
}

/// Every link and address of the network namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkTable {
    pub links: Vec<Link>,
    pub addresses: Vec<Address>,
}

impl LinkTable {
    pub fn by_name(&self, name: &str) -> Option<&Link> {
        self.links.iter().find(|l| l.name == name)
    }

    pub fn by_index(&self, index: u32) -> Option<&Link> {
        self.links.iter().find(|l| l.index == index)
    }

    /// The addresses of the link called `name`.
    pub fn addresses_of(&self, name: &str) -> Vec<Address> {
        match self.by_name(name) {
            Some(l) => self
                .addresses
                .iter()
                .filter(|a| a.index == l.index)
                .copied()
                .collect(),
            None => Vec::new(),
        }
    }

    /// The link that carries `addr`, if any.
    pub fn holder_of(&self, addr: IpAddr) -> Option<&Link> {
        let a = self.addresses.iter().find(|a| a.addr == addr)?;
        self.by_index(a.index)
    }
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

/// Links and addresses, as the engine sees them.
pub trait Links {
    fn read(&mut self) -> Result<LinkTable, KernelError>;
    /// Runs `ops` in order, one result per op; a failed op does not stop later ones.
    fn execute(&mut self, ops: &[LinkOp]) -> Vec<Result<(), KernelError>>;
}

/// Links through an rtnetlink socket.
pub struct RtnlLinks {
    socket: NetlinkSocket,
}

impl RtnlLinks {
    pub fn connect() -> Result<Self, KernelError> {
        Ok(RtnlLinks {
            socket: NetlinkSocket::route()?,
        })
    }

    fn request(
        &mut self,
        action: &str,
        built: Result<Vec<u8>, String>,
    ) -> Result<Vec<super::netlink::Record>, KernelError> {
        let mut bytes = built.map_err(|e| {
            KernelError::protocol(action, format!("cannot encode the request: {e}"))
        })?;
        self.socket.exchange(&mut bytes, &action)
    }

    /// The index of the link called `name`.
    fn index_of(&mut self, name: &str, action: &str) -> Result<u32, KernelError> {
        let records =
            self.request(action, encode::get_link(name))
                .map_err(|e| match e.errno_value() {
                    Some(libc::ENODEV) => e.with_hint(format!("there is no interface {name}")),
                    _ => e,
                })?;
        let record = records
            .first()
            .ok_or_else(|| KernelError::protocol(action, "no reply"))?;
        decode::link(&record.payload)
            .map(|l| l.index)
            .map_err(|e| KernelError::protocol(action, e))
    }

    fn run(&mut self, op: &LinkOp) -> Result<(), KernelError> {
        let action = op.to_string();
        let built = match op {
            LinkOp::CreateBridge { name } => encode::create_bridge(name),
            LinkOp::DeleteLink { name } => encode::delete_link(name),
            LinkOp::SetUp { name, up } => encode::set_up(name, *up),
            LinkOp::SetMaster { name, master } => {
                let index = match master {
                    Some(m) => self.index_of(m, &action)?,
                    None => 0,
                };
                encode::set_master(name, index)
            }
            LinkOp::AddAddress {
                name,
                addr,
                prefix_len,
            }
            | LinkOp::DelAddress {
                name,
                addr,
                prefix_len,
            } => {
                let index = self.index_of(name, &action)?;
                let add = matches!(op, LinkOp::AddAddress { .. });
                encode::address(add, index, *addr, *prefix_len)
            }
        };
        self.request(&action, built).map(|_| ())
    }
}

impl Links for RtnlLinks {
    fn read(&mut self) -> Result<LinkTable, KernelError> {
        let action = "listing network links";
        let mut table = LinkTable::default();
        for record in self.request(action, encode::dump_links())? {
            table
                .links
                .push(decode::link(&record.payload).map_err(|e| KernelError::protocol(action, e))?);
        }
        let action = "listing addresses";
        for record in self.request(action, encode::dump_addresses())? {
            if let Some(a) =
                decode::address(&record.payload).map_err(|e| KernelError::protocol(action, e))?
            {
                table.addresses.push(a);
            }
        }
        table.links.sort_by_key(|l| l.index);
        table.addresses.sort();
        Ok(table)
    }

    fn execute(&mut self, ops: &[LinkOp]) -> Vec<Result<(), KernelError>> {
        ops.iter().map(|op| self.run(op)).collect()
    }
}
