//! The host's network links and their addresses, as read from the kernel.

use std::net::IpAddr;

/// One network interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// `bridge`, `veth`, ...; `None` for a physical device.
    pub kind: Option<String>,
    /// The index of the bridge (or bond) it is enslaved to.
    pub master: Option<u32>,
    /// Administratively up (IFF_UP).
    pub up: bool,
}

/// One address of a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address {
    pub index: u32,
    pub addr: IpAddr,
    pub prefix_len: u8,
}

/// Every link and address of the network namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkTable {
    pub links: Vec<Link>,
    pub addresses: Vec<Address>,
    /// The indices of the links that default routes (IPv4 or IPv6, main table) leave by.
    pub default_routes: Vec<u32>,
}

impl LinkTable {
    pub fn by_name(&self, name: &str) -> Option<&Link> {
        self.links.iter().find(|l| l.name == name)
    }

    pub fn by_index(&self, index: u32) -> Option<&Link> {
        self.links.iter().find(|l| l.index == index)
    }

    /// The addresses of the link called `name`.
    pub fn addresses_of(&self, name: &str) -> Vec<Address> {
        match self.by_name(name) {
            Some(l) => self
                .addresses
                .iter()
                .filter(|a| a.index == l.index)
                .copied()
                .collect(),
            None => Vec::new(),
        }
    }

    /// The link that carries `addr`, if any.
    pub fn holder_of(&self, addr: IpAddr) -> Option<&Link> {
        let a = self.addresses.iter().find(|a| a.addr == addr)?;
        self.by_index(a.index)
    }
}
