//! The IPVS table over generic netlink: read it whole, and change it with pipelined
//! requests. [`Ipvs`] is the seam the engine uses; [`NetlinkIpvs`] is the real kernel.

mod consts;
pub mod decode;
pub mod encode;

use super::error::KernelError;
use super::netlink::{GenlSocket, Request};
use crate::state::ipvs::{Dest, DestKey, Service, ServiceKey, Table};
use std::fmt;

/// One change to the IPVS table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    NewService(Service),
    SetService(Service),
    DelService(ServiceKey),
    NewDest(ServiceKey, Dest),
    SetDest(ServiceKey, Dest),
    DelDest(ServiceKey, DestKey),
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
        }
    }
}

fn dest_text(d: &DestKey) -> String {
    crate::state::ipvs::SocketText(d.addr, d.port).to_string()
}

/// What IPVS reports about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Info {
    /// e.g. 0x010201 for 1.2.1.
    pub version: u32,
    pub conn_table_size: u32,
}

/// Connection timeouts (seconds), as `ipvsadm --set` shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub tcp: u32,
    pub tcp_fin: u32,
    pub udp: u32,
}

/// The kernel's IPVS table, as the engine sees it.
pub trait Ipvs {
    /// The whole table with destinations, counters and statistics.
    fn read(&mut self) -> Result<Table, KernelError>;
    /// Runs `ops` in order; one result per op. A failed op does not stop later ones (the
    /// caller decides what to undo).
    fn execute(&mut self, ops: &[Op]) -> Vec<Result<(), KernelError>>;
}

/// IPVS through a generic netlink socket.
pub struct NetlinkIpvs {
    socket: GenlSocket,
    family: u16,
}

impl NetlinkIpvs {
    /// Opens a socket and resolves the IPVS family (which loads `ip_vs` where modules load
    /// on demand).
    pub fn connect() -> Result<Self, KernelError> {
        let mut socket = GenlSocket::connect()?;
        let family = socket
            .resolve_family(consts::IPVS_GENL_NAME)
            .map_err(|mut e| {
                e.action = "looking up the IPVS family".into();
                e
            })?;
        Ok(NetlinkIpvs { socket, family })
    }

    fn encode(&self, action: &str, built: Result<Vec<u8>, String>) -> Result<Vec<u8>, KernelError> {
        built.map_err(|e| KernelError::protocol(action, format!("cannot encode the request: {e}")))
    }

    pub fn info(&mut self) -> Result<Info, KernelError> {
        let action = "reading IPVS information";
        let request = self.encode(action, encode::get_info(self.family))?;
        let records = self.socket.call(request, action)?;
        let record = records
            .first()
            .ok_or_else(|| KernelError::protocol(action, "no reply"))?;
        let (version, conn_table_size) =
            decode::info(&record.attrs).map_err(|e| KernelError::protocol(action, e))?;
        Ok(Info {
            version,
            conn_table_size,
        })
    }

    pub fn timeouts(&mut self) -> Result<Timeouts, KernelError> {
        let action = "reading IPVS timeouts";
        let request = self.encode(action, encode::get_config(self.family))?;
        let records = self.socket.call(request, action)?;
        let record = records
            .first()
            .ok_or_else(|| KernelError::protocol(action, "no reply"))?;
        let (tcp, tcp_fin, udp) =
            decode::config(&record.attrs).map_err(|e| KernelError::protocol(action, e))?;
        Ok(Timeouts { tcp, tcp_fin, udp })
    }

    /// Sets connection timeouts; 0 leaves one unchanged.
    pub fn set_timeouts(&mut self, t: Timeouts) -> Result<(), KernelError> {
        let action = "setting IPVS timeouts";
        let request = self.encode(
            action,
            encode::set_config(self.family, t.tcp, t.tcp_fin, t.udp),
        )?;
        self.socket.call(request, action).map(|_| ())
    }

    /// Zeroes the counters of one service, or of all.
    pub fn zero(&mut self, service: Option<&ServiceKey>) -> Result<(), KernelError> {
        let action = match service {
            Some(k) => format!("zeroing the counters of service {k}"),
            None => "zeroing all IPVS counters".into(),
        };
        let request = self.encode(&action, encode::zero(self.family, service))?;
        self.socket.call(request, &action).map(|_| ())
    }

    /// Removes every service. Callers must have asked the user first.
    pub fn flush(&mut self) -> Result<(), KernelError> {
        let action = "flushing the IPVS table";
        let request = self.encode(action, encode::flush(self.family))?;
        self.socket.call(request, action).map(|_| ())
    }
}

impl Ipvs for NetlinkIpvs {
    fn read(&mut self) -> Result<Table, KernelError> {
        let action = "listing IPVS services";
        let request = self.encode(action, encode::dump_services(self.family))?;
        let records = self.socket.dump(request, action)?;
        let mut table = Table::default();
        for record in &records {
            let entry =
                decode::service(&record.attrs).map_err(|e| KernelError::protocol(action, e))?;
            table.services.insert(entry.service.key, entry);
        }
        for entry in table.services.values_mut() {
            let key = entry.service.key;
            let action = format!("listing the destinations of service {key}");
            let request = self.encode(&action, encode::dump_dests(self.family, &key))?;
            for record in self.socket.dump(request, &action)? {
                let dest = decode::dest(&record.attrs, key.family())
                    .map_err(|e| KernelError::protocol(&action, e))?;
                entry.dests.insert(dest.dest.key, dest);
            }
        }
        Ok(table)
    }

    fn execute(&mut self, ops: &[Op]) -> Vec<Result<(), KernelError>> {
        let family = self.family;
        let mut requests = Vec::with_capacity(ops.len());
        let mut encode_errors = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            let built = match op {
                Op::NewService(s) => encode::new_service(family, s),
                Op::SetService(s) => encode::set_service(family, s),
                Op::DelService(k) => encode::del_service(family, k),
                Op::NewDest(k, d) => encode::new_dest(family, k, d),
                Op::SetDest(k, d) => encode::set_dest(family, k, d),
                Op::DelDest(k, d) => encode::del_dest(family, k, d),
            };
            match built {
                Ok(bytes) => requests.push(Request {
                    bytes,
                    action: op.to_string(),
                }),
                Err(e) => encode_errors.push((i, KernelError::protocol(op.to_string(), e))),
            }
        }
        if let Some((_, e)) = encode_errors.into_iter().next() {
            // Nothing was sent: refuse the whole batch rather than run part of it.
            return ops.iter().map(|_| Err(e.clone())).collect();
        }
        self.socket.pipeline(&mut requests)
    }
}
