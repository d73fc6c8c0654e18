//! The normalized IPVS model that desired state (from the config) and actual state (from the
//! kernel) are both expressed in, so that comparing them is plain equality.

pub mod desired;
pub mod host;
pub mod ipvs;
pub mod ipvsadm_rules;
pub mod render;
pub mod snapshot;
