//! Everything that talks to the kernel. Each resource kind sits behind one trait so the
//! engine can be tested against an in-memory table; neli's types stay inside this module.

pub mod error;
pub mod firewall;
pub mod host;
pub mod ipvs;
pub mod links;
pub mod listeners;
pub mod modules;
pub mod netlink;
pub mod sysctl;
pub mod vrrp;

pub use error::KernelError;
