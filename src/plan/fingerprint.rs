//! A fingerprint of the kernel state a plan was computed from: the managed services and
//! their destinations with every attribute a plan reads, but no counters (they move all the
//! time and no plan depends on them). A saved plan is applied only while the live state
//! still has the same fingerprint.
//!
//! FNV-1a (64 bits) over a canonical text: this detects change, it is not a defence
//! against someone forging a state (whoever can change the IPVS table is root already).

use crate::state::desired::Desired;
use crate::state::ipvs::Table;
use std::fmt::Write;

/// `fnv1a64:` and 16 hex digits.
pub fn of(desired: &Desired, actual: &Table) -> String {
    let mut text = String::new();
    for addr in &desired.managed {
        let _ = writeln!(text, "managed {addr}");
    }
    for (key, entry) in &actual.services {
        if !desired.manages(key) {
            continue;
        }
        let s = &entry.service;
        let _ = writeln!(
            text,
            "service {key} {} {:#x} {} {:#x} {:?}",
            s.scheduler, s.flags, s.timeout, s.netmask, s.pe_name
        );
        for d in entry.dests.values() {
            let d = &d.dest;
            let _ = writeln!(
                text,
                " dest {} {} {} {} {} {:?}",
                super::change::dest_id(&d.key),
                d.method.name(),
                d.weight,
                d.upper_threshold,
                d.lower_threshold,
                d.tunnel
            );
        }
    }
    format!("fnv1a64:{:016x}", fnv1a64(text.as_bytes()))
}

/// A fingerprint that also covers `lines` (the host's declared resources).
pub fn extend(fingerprint: &str, lines: &[String]) -> String {
    let text = format!("{fingerprint}\n{}", lines.join("\n"));
    format!("fnv1a64:{:016x}", fnv1a64(text.as_bytes()))
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
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
