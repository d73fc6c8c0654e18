//! A fingerprint of the kernel state a plan was computed from: the managed services and
//! their destinations with every attribute a plan reads, but no counters (they move all the
//! time and no plan depends on them). A saved plan is applied only while the live state
//! still has the same fingerprint.
//!
//! FNV-1a (64 bits) over the fields in a fixed order: this detects change, it is not a defence
//! against someone forging a state (whoever can change the IPVS table is root already).

use crate::state::desired::Desired;
use crate::state::ipvs::{ServiceKey, Table};
use std::net::IpAddr;

/// `fnv1a64:` and 16 hex digits. The state is fed to the hash as bytes, field by field,
/// without building text: this runs on every plan, for every managed service.
pub fn of(desired: &Desired, actual: &Table) -> String {
    let mut h = Fnv::new();
    for addr in &desired.managed {
        h.addr(*addr);
    }
    for (key, entry) in &actual.services {
        if !desired.manages(key) {
            continue;
        }
        let s = &entry.service;
        h.byte(b'S');
        if let ServiceKey::Tuple {
            protocol,
            addr,
            port,
        } = key
        {
            h.u32(u32::from(*protocol));
            h.addr(*addr);
            h.u32(u32::from(*port));
        }
        h.bytes(s.scheduler.as_bytes());
        h.byte(0);
        h.u32(s.flags);
        h.u32(s.timeout);
        h.u32(s.netmask);
        if let Some(pe) = &s.pe_name {
            h.bytes(pe.as_bytes());
        }
        h.byte(0);
        for d in entry.dests.values() {
            let d = &d.dest;
            h.byte(b'D');
            h.addr(d.key.addr);
            h.u32(u32::from(d.key.port));
            h.u32(d.method.to_kernel());
            h.u32(d.weight);
            h.u32(d.upper_threshold);
            h.u32(d.lower_threshold);
            if let Some(t) = d.tunnel {
                h.u32(u32::from(t.kind.to_kernel()));
                h.u32(u32::from(t.port));
                h.u32(u32::from(t.flags));
            }
        }
    }
    format!("fnv1a64:{:016x}", h.0)
}

/// FNV-1a, 64 bits, fed piece by piece.
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    fn byte(&mut self, b: u8) {
        self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }

    fn bytes(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.byte(*b);
        }
    }

    fn u32(&mut self, v: u32) {
        self.bytes(&v.to_le_bytes());
    }

    fn addr(&mut self, addr: IpAddr) {
        match addr {
            IpAddr::V4(a) => self.bytes(&a.octets()),
            IpAddr::V6(a) => self.bytes(&a.octets()),
        }
    }
}

/// A fingerprint that also covers `lines` (the host's declared resources).
pub fn extend(fingerprint: &str, lines: &[String]) -> String {
    let text = format!("{fingerprint}\n{}", lines.join("\n"));
    format!("fnv1a64:{:016x}", fnv1a64(text.as_bytes()))
}

/// `fnv1a64:` and 16 hex digits of `bytes`.
pub fn checksum(bytes: &[u8]) -> String {
    format!("fnv1a64:{:016x}", fnv1a64(bytes))
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h = Fnv::new();
    h.bytes(bytes);
    h.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a64_matches_the_reference_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }
}
