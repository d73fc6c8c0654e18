//! An in-memory set of links with the kernel's answers (EEXIST, ENODEV, EADDRNOTAVAIL), for
//! tests of the planner and the apply engine.

use super::{Address, Link, LinkOp, LinkTable, Links};
use crate::kernel::error::KernelError;

#[derive(Debug, Clone, Default)]
pub struct MemoryLinks {
    pub table: LinkTable,
    pub writes: usize,
}

impl MemoryLinks {
    pub fn new(table: LinkTable) -> Self {
        MemoryLinks { table, writes: 0 }
    }

    fn index(&self, name: &str) -> Result<u32, i32> {
        self.table
            .by_name(name)
            .map(|l| l.index)
            .ok_or(libc::ENODEV)
    }

    fn link_mut(&mut self, name: &str) -> Result<&mut Link, i32> {
        self.table
            .links
            .iter_mut()
            .find(|l| l.name == name)
            .ok_or(libc::ENODEV)
    }

    fn apply(&mut self, op: &LinkOp) -> Result<(), i32> {
        match op {
            LinkOp::CreateBridge { name } => {
                if self.table.by_name(name).is_some() {
                    return Err(libc::EEXIST);
                }
                let index = self.table.links.iter().map(|l| l.index).max().unwrap_or(0) + 1;
                self.table.links.push(Link {
                    index,
                    name: name.clone(),
                    kind: Some("bridge".into()),
                    master: None,
                    up: false,
                });
            }
            LinkOp::DeleteLink { name } => {
                let index = self.index(name)?;
                self.table.links.retain(|l| l.index != index);
                self.table.addresses.retain(|a| a.index != index);
                for l in &mut self.table.links {
                    if l.master == Some(index) {
                        l.master = None;
                    }
                }
            }
            LinkOp::SetUp { name, up } => self.link_mut(name)?.up = *up,
            LinkOp::SetMaster { name, master } => {
                let m = match master {
                    Some(m) => Some(self.index(m)?),
                    None => None,
                };
                self.link_mut(name)?.master = m;
            }
            LinkOp::AddAddress {
                name,
                addr,
                prefix_len,
            } => {
                let index = self.index(name)?;
                let a = Address {
                    index,
                    addr: *addr,
                    prefix_len: *prefix_len,
                };
                if self
                    .table
                    .addresses
                    .iter()
                    .any(|x| x.index == index && x.addr == *addr)
                {
                    return Err(libc::EEXIST);
                }
                self.table.addresses.push(a);
                self.table.addresses.sort();
            }
            LinkOp::DelAddress { name, addr, .. } => {
                let index = self.index(name)?;
                let before = self.table.addresses.len();
                self.table
                    .addresses
                    .retain(|x| !(x.index == index && x.addr == *addr));
                if self.table.addresses.len() == before {
                    return Err(libc::EADDRNOTAVAIL);
                }
            }
        }
        Ok(())
    }
}

impl Links for MemoryLinks {
    fn read(&mut self) -> Result<LinkTable, KernelError> {
        Ok(self.table.clone())
    }

    fn execute(&mut self, ops: &[LinkOp]) -> Vec<Result<(), KernelError>> {
        ops.iter()
            .map(|op| {
                self.writes += 1;
                self.apply(op)
                    .map_err(|errno| KernelError::errno(op.to_string(), errno))
            })
            .collect()
    }
}
