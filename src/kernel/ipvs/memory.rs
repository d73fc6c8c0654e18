//! An in-memory IPVS table with the kernel's answers to each operation (EEXIST, ESRCH,
//! ENOENT, and ENOENT for a scheduler whose module is missing), for tests of the planner
//! and the apply engine. It counts writes so tests can prove a no-op apply writes nothing.

use super::Ipvs;
use crate::kernel::error::KernelError;
use crate::state::ipvs::{DestCounters, DestEntry, ServiceEntry, Table};
use crate::state::ops::Op;
use crate::state::sync::{SyncDaemon, SyncRole};

/// The schedulers a stock kernel can load (Debian's 6.1 cloud kernel lacks `twos`).
pub const KERNEL_SCHEDULERS: &[&str] = &[
    "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh",
];

#[derive(Debug, Clone)]
pub struct MemoryIpvs {
    pub table: Table,
    /// Write operations received, failed ones included.
    pub writes: usize,
    /// Reads of the whole table.
    pub reads: usize,
    /// When set, the write with this index (counting from 0 over the object's life) fails
    /// with EIO, to test undo.
    pub fail_write: Option<usize>,
    pub schedulers: Vec<String>,
    /// Running sync daemons, with every setting filled in as the kernel reports it.
    pub daemons: Vec<SyncDaemon>,
    /// The roles started through this object and not stopped since.
    pub started: Vec<SyncRole>,
}

impl MemoryIpvs {
    pub fn new(table: Table) -> Self {
        MemoryIpvs {
            table,
            writes: 0,
            reads: 0,
            fail_write: None,
            schedulers: KERNEL_SCHEDULERS.iter().map(|s| s.to_string()).collect(),
            daemons: Vec::new(),
            started: Vec::new(),
        }
    }

    fn apply(&mut self, op: &Op) -> Result<(), i32> {
        let t = &mut self.table.services;
        match op {
            Op::NewService(s) | Op::SetService(s) => {
                if s.scheduler != "none" && !self.schedulers.contains(&s.scheduler) {
                    return Err(libc::ENOENT);
                }
                match (op, t.get_mut(&s.key)) {
                    (Op::NewService(_), Some(_)) => return Err(libc::EEXIST),
                    (Op::NewService(_), None) => {
                        t.insert(
                            s.key,
                            ServiceEntry {
                                service: s.clone(),
                                stats: None,
                                dests: Default::default(),
                            },
                        );
                    }
                    (_, Some(entry)) => entry.service = s.clone(),
                    (_, None) => return Err(libc::ESRCH),
                }
            }
            Op::DelService(k) => {
                t.remove(k).ok_or(libc::ESRCH)?;
            }
            Op::NewDest(k, d) | Op::SetDest(k, d) => {
                let entry = t.get_mut(k).ok_or(libc::ESRCH)?;
                match (op, entry.dests.get_mut(&d.key)) {
                    (Op::NewDest(..), Some(_)) => return Err(libc::EEXIST),
                    (Op::NewDest(..), None) => {
                        entry.dests.insert(
                            d.key,
                            DestEntry {
                                dest: d.clone(),
                                counters: DestCounters::default(),
                                stats: None,
                            },
                        );
                    }
                    (_, Some(existing)) => existing.dest = d.clone(),
                    (_, None) => return Err(libc::ENOENT),
                }
            }
            Op::DelDest(k, d) => {
                let entry = t.get_mut(k).ok_or(libc::ESRCH)?;
                entry.dests.remove(d).ok_or(libc::ENOENT)?;
            }
            Op::NewDaemon(d) => {
                if self.daemons.iter().any(|r| r.role == d.role) {
                    return Err(libc::EEXIST);
                }
                // The kernel's defaults, for an interface with a 1500-byte MTU.
                self.daemons.push(SyncDaemon {
                    max_len: d.max_len.or(Some(1472)),
                    group: d.group.or(Some(std::net::IpAddr::from([224, 0, 0, 81]))),
                    port: d.port.or(Some(8848)),
                    ttl: d.ttl.or(Some(1)),
                    ..d.clone()
                });
                self.started.retain(|r| *r != d.role);
                self.started.push(d.role);
            }
            Op::DelDaemon(role) => {
                let at = self
                    .daemons
                    .iter()
                    .position(|r| r.role == *role)
                    .ok_or(libc::ESRCH)?;
                self.daemons.remove(at);
                self.started.retain(|r| r != role);
            }
        }
        Ok(())
    }
}

impl Ipvs for MemoryIpvs {
    fn read(&mut self) -> Result<Table, KernelError> {
        self.reads += 1;
        Ok(self.table.clone())
    }

    fn execute(&mut self, ops: &[Op]) -> Vec<Result<(), KernelError>> {
        ops.iter()
            .map(|op| {
                let n = self.writes;
                self.writes += 1;
                let result = if self.fail_write == Some(n) {
                    Err(libc::EIO)
                } else {
                    self.apply(op)
                };
                result.map_err(|errno| KernelError::errno(op.to_string(), errno))
            })
            .collect()
    }

    fn read_daemons(&mut self) -> Result<Vec<SyncDaemon>, KernelError> {
        Ok(self.daemons.clone())
    }

    fn started_daemons(&mut self) -> Vec<SyncRole> {
        self.started.clone()
    }
}
