//! A fast hasher for maps keyed by the config's own data (forward names, listen ports,
//! backend addresses). std's SipHash is built to resist keys chosen by an attacker, which
//! these are not: they come from the admin's file. Hashing 1,000 forwards' names and claims
//! with SipHash took about 2 % of a plan's instructions.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// Folds words with a rotate, xor and multiply; `finish` mixes the high bits into the low
/// ones, which pick the bucket (an IPv4 address's last octet lands in the high bits).
#[derive(Default, Clone, Copy)]
pub struct FastHasher(u64);

const MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;

impl FastHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(MULTIPLIER);
    }
}

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            let mut w = [0u8; 8];
            w.copy_from_slice(word);
            self.add(u64::from_le_bytes(w));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    fn write_u16(&mut self, n: u16) {
        self.add(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        // MurmurHash3's 64-bit finalizer.
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;
pub type FastSet<K> = HashSet<K, BuildHasherDefault<FastHasher>>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::{BuildHasher, Hash};
    use std::net::IpAddr;

    fn hash_of(value: impl Hash) -> u64 {
        BuildHasherDefault::<FastHasher>::default().hash_one(value)
    }

    /// Keys that differ in one place only (the last octet, one letter of a name, the
    /// length) hash apart, in the low bits that pick a bucket too.
    #[test]
    fn near_keys_hash_apart() {
        let addrs: Vec<u64> = (1..=200u8)
            .map(|i| hash_of(IpAddr::from([10, 2, 0, i])))
            .collect();
        let names: Vec<u64> = (0..200).map(|i| hash_of(format!("f{i}"))).collect();
        let lengths: Vec<u64> = (0..200).map(|n| hash_of("a".repeat(n))).collect();
        for hashes in [addrs, names, lengths] {
            let low: FastSet<u64> = hashes.iter().map(|h| h & 0xff).collect();
            let all: FastSet<u64> = hashes.iter().copied().collect();
            assert_eq!(all.len(), 200);
            // 200 keys in 256 low-byte buckets: a fair hash fills about 140 of them.
            assert!(low.len() > 100, "only {} distinct low bytes", low.len());
        }
    }

    #[test]
    fn maps_work_as_std_maps() {
        let mut map: FastMap<&str, usize> = FastMap::default();
        for (i, name) in ["web", "ssh", "dns", "web"].iter().enumerate() {
            map.entry(name).or_insert(i);
        }
        assert_eq!((map.len(), map["web"], map["dns"]), (3, 0, 2));
    }
}
