//! The config an import writes: serde structs in the order people read a config in,
//! leaving out what equals the default.

use crate::state::ipvs::Dest;
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use std::net::{IpAddr, SocketAddr};

#[derive(Debug, Default, Serialize)]
pub struct ConfigOut {
    pub public: Vec<PublicOut>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub bridges: Vec<BridgeOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vrrp: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync: Option<serde_json::Value>,
    pub forwards: Vec<ForwardOut>,
}

#[derive(Debug, Serialize)]
pub struct PublicOut {
    pub address: IpAddr,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix_len: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub floating: Option<bool>,
}

#[derive(Debug, Serialize)]
pub struct BridgeOut {
    pub name: String,
    pub address: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub floating_address: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct ForwardOut {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    pub listen: String,
    pub backends: Vec<BackendOut>,
    pub scheduler: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub persistence: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub persistence_netmask: Option<u8>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scheduler_flags: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
    /// Where the source declared it (keepalived.conf FILE:LINE), for notes; not written.
    #[serde(skip)]
    pub origin: Option<String>,
}

/// A backend: written `"10.0.0.2:22"`, or as an object when weight or thresholds are not
/// the defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendOut {
    pub address: SocketAddr,
    pub weight: u32,
    pub upper_threshold: u32,
    pub lower_threshold: u32,
    /// Its own forwarding method, when not the forward's.
    pub method: Option<&'static str>,
    /// Where the source declared it (keepalived.conf FILE:LINE), for notes; not written.
    pub origin: Option<String>,
}

impl BackendOut {
    /// A destination as the config writes it.
    pub fn of(d: &Dest) -> BackendOut {
        BackendOut {
            address: SocketAddr::new(d.key.addr, d.key.port),
            weight: d.weight,
            upper_threshold: d.upper_threshold,
            lower_threshold: d.lower_threshold,
            method: None,
            origin: None,
        }
    }
}

impl Serialize for BackendOut {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let address = self.address.to_string();
        if self.weight == 1
            && self.upper_threshold == 0
            && self.lower_threshold == 0
            && self.method.is_none()
        {
            return s.serialize_str(&address);
        }
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("address", &address)?;
        m.serialize_entry("weight", &self.weight)?;
        if self.upper_threshold != 0 {
            m.serialize_entry("upper_threshold", &self.upper_threshold)?;
        }
        if self.lower_threshold != 0 {
            m.serialize_entry("lower_threshold", &self.lower_threshold)?;
        }
        if let Some(method) = self.method {
            m.serialize_entry("method", method)?;
        }
        m.end()
    }
}
