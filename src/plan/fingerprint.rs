//! A fingerprint of the kernel state a plan was computed from: the managed services and
//! their destinations with every attribute a plan reads, but no counters (they move all the
//! time and no plan depends on them). A saved plan is applied only while the live state
//! still has the same fingerprint.
//!
//! FNV-1a (64 bits) over a line per managed service and destination: this detects change, it
//! is not a defence against someone forging a state (whoever can change the IPVS table is
//! root already). The lines are the model's `Debug` text: a fingerprint is only compared
//! with one the same build computed (a saved plan from another build reads as stale).

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
        if desired.manages(key) {
            let _ = writeln!(text, "{:?}", entry.service);
            for d in entry.dests.values() {
                let _ = writeln!(text, "{:?}", d.dest);
            }
        }
    }
    checksum(text.as_bytes())
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
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
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
