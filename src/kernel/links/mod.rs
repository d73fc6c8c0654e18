//! Network links and their addresses over rtnetlink: read them all, and change them one
//! operation at a time (create a bridge, bring a link up, enslave a port, add an address).
//! [`Links`] is the seam the engine uses; [`RtnlLinks`] is the real kernel.

pub mod decode;
mod encode;
#[cfg(test)]
pub mod memory;

use super::error::KernelError;
use super::netlink::NetlinkSocket;
pub use crate::state::links::{Address, Link, LinkTable};
use crate::state::ops::LinkOp;

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
        let action = "listing routes";
        for record in self.request(action, encode::dump_routes())? {
            table.default_routes.extend(
                decode::default_route_links(&record.payload)
                    .map_err(|e| KernelError::protocol(action, e))?,
            );
        }
        table.default_routes.sort_unstable();
        table.default_routes.dedup();
        table.links.sort_by_key(|l| l.index);
        table.addresses.sort();
        Ok(table)
    }

    fn execute(&mut self, ops: &[LinkOp]) -> Vec<Result<(), KernelError>> {
        ops.iter().map(|op| self.run(op)).collect()
    }
}
