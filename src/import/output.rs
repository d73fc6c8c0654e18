//! The config an import writes: serde structs in the order people read a config in,
//! leaving out what equals the default.

use crate::state::ipvs::Dest;
use serde::Serialize;
use std::net::{IpAddr, SocketAddr};

#[derive(Debug, Default, Serialize)]
pub struct ConfigOut {
    pub public: Vec<PublicOut>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub bridges: Vec<BridgeOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vrrp: Option<serde_json::Value>,
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
}

/// `"10.0.0.2:22"`, or an object when weight or thresholds are not the defaults.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum BackendOut {
    Plain(String),
    Full {
        address: String,
        weight: u32,
        #[serde(skip_serializing_if = "is_zero")]
        upper_threshold: u32,
        #[serde(skip_serializing_if = "is_zero")]
        lower_threshold: u32,
    },
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl BackendOut {
    /// A destination as the config writes it.
    pub fn of(d: &Dest) -> BackendOut {
        let address = SocketAddr::new(d.key.addr, d.key.port).to_string();
        if d.weight == 1 && d.upper_threshold == 0 && d.lower_threshold == 0 {
            BackendOut::Plain(address)
        } else {
            BackendOut::Full {
                address,
                weight: d.weight,
                upper_threshold: d.upper_threshold,
                lower_threshold: d.lower_threshold,
            }
        }
    }

    pub fn addr(&self) -> IpAddr {
        let text = match self {
            BackendOut::Plain(a) | BackendOut::Full { address: a, .. } => a,
        };
        text.parse::<SocketAddr>()
            .map(|s| s.ip())
            .unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }
}
