//! The `vrrp` and `sync` objects of an active/backup pair.

use super::Decoder;
use crate::config::json::Json;
use crate::config::model::{SyncDaemons, Vrrp};
use crate::config::path::JsonPath;

pub const VRRP_FIELDS: &[&str] = &[
    "interface",
    "router_id",
    "priority",
    "advert_interval",
    "unicast_peers",
    "preempt",
];
pub const SYNC_FIELDS: &[&str] = &["interface", "sync_id", "max_len", "group", "port", "ttl"];

impl Decoder<'_> {
    pub(super) fn vrrp(&mut self, value: &Json, path: &JsonPath) -> Option<Vrrp> {
        let mark = self.diags.len();
        let fields = self.object(value, path, VRRP_FIELDS)?;
        let interface = self
            .required(&fields, path, "interface")
            .and_then(|v| self.interface_name(v, &path.key("interface")));
        let router_id = self
            .required(&fields, path, "router_id")
            .and_then(|v| self.integer(v, &path.key("router_id"), 1, 255));
        let priority = self
            .required(&fields, path, "priority")
            .and_then(|v| self.integer(v, &path.key("priority"), 1, 254));
        let advert_interval = match fields.get("advert_interval") {
            None => Some(1),
            Some(v) => self.integer(v, &path.key("advert_interval"), 1, 255),
        };
        let unicast_peers = match fields.get("unicast_peers") {
            None => Vec::new(),
            Some(v) => self.list(v, &path.key("unicast_peers"), Decoder::ip_address),
        };
        let preempt = match fields.get("preempt") {
            None => Some(false),
            Some(v) => self.boolean(v, &path.key("preempt")),
        };
        if self.errors_since(mark) {
            return None;
        }
        Some(Vrrp {
            interface: interface?,
            router_id: router_id? as u8,
            priority: priority? as u8,
            advert_interval: advert_interval? as u8,
            unicast_peers,
            preempt: preempt?,
        })
    }

    pub(super) fn sync(&mut self, value: &Json, path: &JsonPath) -> Option<SyncDaemons> {
        let mark = self.diags.len();
        let fields = self.object(value, path, SYNC_FIELDS)?;
        let interface = self
            .required(&fields, path, "interface")
            .and_then(|v| self.interface_name(v, &path.key("interface")));
        let sync_id = self
            .required(&fields, path, "sync_id")
            .and_then(|v| self.integer(v, &path.key("sync_id"), 0, 255));
        let mut optional = |key: &str, min: u64, max: u64| {
            fields
                .get(key)
                .and_then(|v| self.integer(v, &path.key(key), min, max))
        };
        // The kernel's own bounds: a UDP payload, a port, an IP TTL.
        let max_len = optional("max_len", 1, 65507).map(|n| n as u16);
        let port = optional("port", 1, 65535).map(|n| n as u16);
        let ttl = optional("ttl", 1, 255).map(|n| n as u8);
        let group = fields.get("group").and_then(|v| {
            let p = path.key("group");
            let addr = self.ip_address(v, &p)?;
            if !addr.is_multicast() {
                self.error(
                    "sync-group",
                    &p,
                    format!("{addr} is not a multicast address (e.g. 224.0.0.81)"),
                );
                return None;
            }
            Some(addr)
        });
        if self.errors_since(mark) {
            return None;
        }
        Some(SyncDaemons {
            interface: interface?,
            sync_id: sync_id? as u8,
            max_len,
            group,
            port,
            ttl,
        })
    }
}
