//! The normalized IPVS model that desired state (from the config) and actual state (from the
//! kernel) are both expressed in, so that comparing them is plain equality, and the
//! operations a plan is made of. No I/O here.

pub mod desired;
pub mod firewall;
pub mod host;
pub mod ipvs;
pub mod ipvsadm_rules;
pub mod links;
pub mod ops;
pub mod render;
pub mod snapshot;
pub mod sync;
