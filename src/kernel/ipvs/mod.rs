//! The IPVS table over generic netlink: read it whole, and change it with pipelined
//! requests. [`Ipvs`] is the seam the engine uses; [`NetlinkIpvs`] is the real kernel.

mod consts;
mod daemons;
pub mod decode;
pub mod encode;
pub mod memory;

use super::error::KernelError;
use super::netlink::{NetlinkSocket, Record, genl_attrs};
use crate::state::ipvs::{ServiceKey, Table, Timeouts};
use crate::state::ops::Op;
use crate::state::sync::{SyncDaemon, SyncRole};
use std::fmt;

/// What IPVS reports about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Info {
    /// e.g. 0x010201 for 1.2.1.
    pub version: u32,
    pub conn_table_size: u32,
}

/// The kernel's IPVS table, as the engine sees it.
pub trait Ipvs {
    /// The whole table with destinations, counters and statistics.
    fn read(&mut self) -> Result<Table, KernelError>;
    /// Runs `ops` in order; one result per op. A failed op does not stop later ones (the
    /// caller decides what to undo).
    fn execute(&mut self, ops: &[Op]) -> Vec<Result<(), KernelError>>;
    /// The running connection sync daemons.
    fn read_daemons(&mut self) -> Result<Vec<SyncDaemon>, KernelError>;
    /// The roles of the sync daemons portfwd started here (and has not stopped since): the
    /// ones it may stop when the config no longer has `sync`.
    fn started_daemons(&mut self) -> Vec<SyncRole>;

    /// Every service without its destinations: one dump, where the whole table needs one
    /// more per service.
    fn read_service_list(&mut self) -> Result<Table, KernelError> {
        let mut table = self.read()?;
        for entry in table.services.values_mut() {
            entry.dests = Default::default();
        }
        Ok(table)
    }

    /// Just the services `keys` (those that exist) with their destinations: what a check
    /// after a small change reads instead of the whole table.
    fn read_services(&mut self, keys: &[ServiceKey]) -> Result<Table, KernelError> {
        let mut table = self.read()?;
        let wanted: std::collections::HashSet<&ServiceKey> = keys.iter().collect();
        table.services.retain(|k, _| wanted.contains(k));
        Ok(table)
    }
}

/// What to do when the IPVS family is unknown: load the module, or, when this kernel has no
/// such module, say that `modprobe` cannot help.
fn not_loaded_hint(modules: &mut dyn super::modules::Modules) -> String {
    use super::modules::ModuleState;
    match modules.state("ip_vs") {
        ModuleState::Missing => format!(
            "this kernel ({}) has no IPVS: ip_vs is neither built in nor among its modules (/lib/modules/{0}); install its modules package, or boot a kernel with CONFIG_IP_VS",
            modules.release()
        ),
        _ => "IPVS is not loaded: run `modprobe ip_vs`".to_string(),
    }
}

/// IPVS through generic netlink: one socket for requests and the per-service destination
/// dumps (page-sized receives), and one for each dump of all services (larger receives:
/// see `NetlinkSocket::generic_bulk`).
pub struct NetlinkIpvs {
    socket: NetlinkSocket,
    family: u16,
    /// Whether reads decode the traffic statistics (see [`Self::with_stats`]).
    stats: bool,
}

impl NetlinkIpvs {
    /// Opens a socket and resolves the IPVS family (which loads `ip_vs` where modules load
    /// on demand).
    pub fn connect() -> Result<Self, KernelError> {
        let mut socket = NetlinkSocket::generic()?;
        let family = socket
            .resolve_family(consts::IPVS_GENL_NAME)
            .map_err(|mut e| {
                e.action = "looking up the IPVS family".into();
                if e.errno_value() == Some(libc::ENOENT) {
                    e = e.with_hint(not_loaded_hint(&mut super::modules::SystemModules::new()));
                }
                e
            })?;
        Ok(NetlinkIpvs {
            socket,
            family,
            stats: false,
        })
    }

    /// Reads also decode every service's and destination's statistics: `show --json`
    /// prints them; plan and apply do not need them.
    pub fn with_stats(mut self) -> Self {
        self.stats = true;
        self
    }

    fn encode(
        action: &dyn fmt::Display,
        built: Result<Vec<u8>, String>,
    ) -> Result<Vec<u8>, KernelError> {
        built.map_err(|e| {
            KernelError::protocol(
                action.to_string(),
                format!("cannot encode the request: {e}"),
            )
        })
    }

    /// Sends a GET request and returns the attributes of its one reply.
    fn get(
        &mut self,
        action: &str,
        built: Result<Vec<u8>, String>,
    ) -> Result<Vec<u8>, KernelError> {
        let mut request = Self::encode(&action, built)?;
        self.socket
            .exchange(&mut request, &action)?
            .into_iter()
            .next()
            .map(|record| genl_attrs(&record.payload).to_vec())
            .ok_or_else(|| KernelError::protocol(action, "no reply"))
    }

    pub fn info(&mut self) -> Result<Info, KernelError> {
        let action = "reading IPVS information";
        let attrs = self.get(action, encode::get_info(self.family))?;
        let (version, conn_table_size) =
            decode::info(&attrs).map_err(|e| KernelError::protocol(action, e))?;
        Ok(Info {
            version,
            conn_table_size,
        })
    }

    pub fn timeouts(&mut self) -> Result<Timeouts, KernelError> {
        let action = "reading IPVS timeouts";
        let attrs = self.get(action, encode::get_config(self.family))?;
        let (tcp, tcp_fin, udp) =
            decode::config(&attrs).map_err(|e| KernelError::protocol(action, e))?;
        Ok(Timeouts { tcp, tcp_fin, udp })
    }

    /// Adds the destinations of every service of `table`, one GET_DEST dump each.
    fn read_dests(&mut self, table: &mut Table) -> Result<(), KernelError> {
        for entry in table.services.values_mut() {
            let key = entry.service.key;
            let action = DestsOf(&key);
            let mut request = Self::encode(&action, encode::dump_dests(self.family, &key))?;
            for record in self.socket.exchange(&mut request, &action)? {
                let d = decode::dest(genl_attrs(&record.payload), key.family(), self.stats)
                    .map_err(|e| KernelError::protocol(action.to_string(), e))?;
                entry.dests.insert(d.dest.key, d);
            }
        }
        Ok(())
    }

    /// Adds the services of GET_SERVICE replies to `table` (without destinations).
    fn add_services(
        &self,
        table: &mut Table,
        records: Vec<Record>,
        action: &str,
    ) -> Result<(), KernelError> {
        for record in records {
            let entry = decode::service(genl_attrs(&record.payload), self.stats)
                .map_err(|e| KernelError::protocol(action, e))?;
            table.services.insert(entry.service.key, entry);
        }
        Ok(())
    }
}

/// "listing the destinations of service KEY", formatted only for an error.
struct DestsOf<'a>(&'a ServiceKey);

impl fmt::Display for DestsOf<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "listing the destinations of service {}", self.0)
    }
}

impl Ipvs for NetlinkIpvs {
    fn read_services(&mut self, keys: &[ServiceKey]) -> Result<Table, KernelError> {
        let mut table = Table::default();
        for key in keys {
            let action = format!("reading service {key}");
            let mut request = Self::encode(&action, encode::get_service(self.family, key))?;
            let records = match self.socket.exchange(&mut request, &action) {
                Ok(r) => r,
                // No such service.
                Err(e) if e.errno_value() == Some(libc::ESRCH) => continue,
                Err(e) => return Err(e),
            };
            self.add_services(&mut table, records, &action)?;
        }
        self.read_dests(&mut table)?;
        Ok(table)
    }

    fn read(&mut self) -> Result<Table, KernelError> {
        let mut table = self.read_service_list()?;
        self.read_dests(&mut table)?;
        Ok(table)
    }

    fn read_daemons(&mut self) -> Result<Vec<SyncDaemon>, KernelError> {
        let action = "listing IPVS sync daemons";
        let mut request = Self::encode(&action, encode::dump_daemons(self.family))?;
        self.socket
            .exchange(&mut request, &action)?
            .iter()
            .map(|r| {
                decode::daemon(genl_attrs(&r.payload)).map_err(|e| KernelError::protocol(action, e))
            })
            .collect()
    }

    fn started_daemons(&mut self) -> Vec<SyncRole> {
        daemons::started()
    }

    fn read_service_list(&mut self) -> Result<Table, KernelError> {
        let action = "listing IPVS services";
        let mut request = Self::encode(&action, encode::dump_services(self.family))?;
        let records = NetlinkSocket::generic_bulk()?.exchange(&mut request, &action)?;
        let mut table = Table::default();
        self.add_services(&mut table, records, action)?;
        Ok(table)
    }

    fn execute(&mut self, ops: &[Op]) -> Vec<Result<(), KernelError>> {
        let family = self.family;
        let built: Result<Vec<Vec<u8>>, KernelError> = ops
            .iter()
            .map(|op| {
                let bytes = match op {
                    Op::NewService(s) => encode::new_service(family, s),
                    Op::SetService(s) => encode::set_service(family, s),
                    Op::DelService(k) => encode::del_service(family, k),
                    Op::NewDest(k, d) => encode::new_dest(family, k, d),
                    Op::SetDest(k, d) => encode::set_dest(family, k, d),
                    Op::DelDest(k, d) => encode::del_dest(family, k, d),
                    Op::NewDaemon(d) => encode::new_daemon(family, d),
                    Op::DelDaemon(role) => encode::del_daemon(family, *role),
                };
                bytes.map_err(|e| KernelError::protocol(op.to_string(), e))
            })
            .collect();
        match built {
            Ok(mut requests) => {
                let results: Vec<Result<(), KernelError>> = self
                    .socket
                    .pipeline(&mut requests, &|i| ops[i].to_string())
                    .into_iter()
                    .zip(ops)
                    .map(|(result, op)| result.map_err(|e| missing_module_hint(e, op)))
                    .collect();
                for (op, result) in ops.iter().zip(&results) {
                    match (op, result) {
                        (Op::NewDaemon(d), Ok(())) => daemons::record(d.role, true),
                        (Op::DelDaemon(role), Ok(())) => daemons::record(*role, false),
                        _ => {}
                    }
                }
                results
            }
            // Nothing was sent: refuse the whole batch rather than run part of it.
            Err(e) => ops.iter().map(|_| Err(e.clone())).collect(),
        }
    }
}

/// ENOENT on adding or changing a service means its scheduler (or persistence engine)
/// module could not be loaded: name the module.
fn missing_module_hint(e: KernelError, op: &Op) -> KernelError {
    let (Op::NewService(s) | Op::SetService(s)) = op else {
        return e;
    };
    if e.errno_value() != Some(libc::ENOENT) {
        return e;
    }
    let hint = match &s.pe_name {
        None => format!(
            "the scheduler module is missing: run `modprobe ip_vs_{}`",
            s.scheduler
        ),
        Some(pe) => format!(
            "the scheduler or persistence engine module is missing: run `modprobe ip_vs_{}` or `modprobe ip_vs_pe_{pe}`",
            s.scheduler
        ),
    };
    e.with_hint(hint)
}

#[cfg(test)]
mod tests {
    use super::super::modules::{ModuleState, memory::MemoryModules};

    #[test]
    fn an_unknown_family_says_modprobe_only_when_the_module_exists() {
        let mut modules = MemoryModules::default();
        assert!(not_loaded_hint(&mut modules).starts_with("this kernel (test) has no IPVS"));
        modules
            .states
            .insert("ip_vs".into(), ModuleState::Available);
        assert_eq!(
            not_loaded_hint(&mut modules),
            "IPVS is not loaded: run `modprobe ip_vs`"
        );
    }

    use super::*;
    use crate::state::ipvs::{IPPROTO_TCP, Service};

    #[test]
    fn enoent_on_a_service_names_the_scheduler_module() {
        let key = ServiceKey::Tuple {
            protocol: IPPROTO_TCP,
            addr: "203.0.113.10".parse().expect("ip"),
            port: 80,
        };
        let op = Op::NewService(Service::new(key, "twos"));
        let e = missing_module_hint(KernelError::errno(op.to_string(), libc::ENOENT), &op);
        assert_eq!(
            e.to_string(),
            "adding service tcp 203.0.113.10:80 (scheduler twos): No such file or directory (ENOENT); the scheduler module is missing: run `modprobe ip_vs_twos`"
        );
        let other = Op::DelService(key);
        let e = missing_module_hint(KernelError::errno(other.to_string(), libc::ENOENT), &other);
        assert_eq!(e.hint, None);
    }
}
