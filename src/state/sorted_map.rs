//! An ordered map kept as one sorted vector: what a service's destinations are stored in.
//! A `BTreeMap` allocates a node of 11 entries even for the usual 2 to 4 destinations, which
//! made a table of 5,000 services several times larger than its contents.

use std::cmp::Ordering;

/// Entries sorted by key, each key once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortedMap<K, V> {
    entries: Vec<(K, V)>,
}

impl<K, V> Default for SortedMap<K, V> {
    fn default() -> Self {
        SortedMap {
            entries: Vec::new(),
        }
    }
}

impl<K: Ord, V> SortedMap<K, V> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_capacity(capacity: usize) -> Self {
        SortedMap {
            entries: Vec::with_capacity(capacity),
        }
    }

    fn find(&self, key: &K) -> Result<usize, usize> {
        self.entries.binary_search_by(|(k, _)| k.cmp(key))
    }

    /// Inserts or replaces; returns the value replaced. Cheap at the end (keys in order);
    /// to build from many unordered entries, collect instead.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        if self
            .entries
            .last()
            .is_none_or(|(last, _)| last.cmp(&key) == Ordering::Less)
        {
            self.entries.push((key, value));
            return None;
        }
        match self.find(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.entries[i].1, value)),
            Err(i) => {
                self.entries.insert(i, (key, value));
                None
            }
        }
    }

    pub fn get(&self, key: &K) -> Option<&V> {
        self.find(key).ok().map(|i| &self.entries[i].1)
    }

    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.find(key).ok().map(|i| &mut self.entries[i].1)
    }

    pub fn contains_key(&self, key: &K) -> bool {
        self.find(key).is_ok()
    }

    pub fn remove(&mut self, key: &K) -> Option<V> {
        self.find(key).ok().map(|i| self.entries.remove(i).1)
    }
}

impl<K, V> SortedMap<K, V> {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries in key order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&K, &V)> + ExactSizeIterator {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &K> + ExactSizeIterator {
        self.entries.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> + ExactSizeIterator {
        self.entries.iter().map(|(_, v)| v)
    }

    pub fn values_mut(&mut self) -> impl DoubleEndedIterator<Item = &mut V> + ExactSizeIterator {
        self.entries.iter_mut().map(|(_, v)| v)
    }
}

/// Sorts once; of entries with the same key the last wins, as with `BTreeMap`.
impl<K: Ord, V> FromIterator<(K, V)> for SortedMap<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self::from(iter.into_iter().collect::<Vec<_>>())
    }
}

impl<K: Ord, V> From<Vec<(K, V)>> for SortedMap<K, V> {
    /// Sorted in place, in the vector given. Entries that come in order, or in reverse order
    /// (the kernel lists a service's destinations newest first), are not sorted at all; the
    /// last of equal keys wins, as with repeated inserts.
    fn from(mut entries: Vec<(K, V)>) -> Self {
        if entries.is_sorted_by(|a, b| a.0 < b.0) {
            return SortedMap { entries };
        }
        if entries.is_sorted_by(|a, b| a.0 > b.0) {
            entries.reverse();
            return SortedMap { entries };
        }
        // Stable: equal keys stay in arrival order, so the last of a run is the latest.
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let mut kept = 0;
        for i in 0..entries.len() {
            if entries
                .get(i + 1)
                .is_some_and(|next| next.0 == entries[i].0)
            {
                continue;
            }
            entries.swap(kept, i);
            kept += 1;
        }
        entries.truncate(kept);
        SortedMap { entries }
    }
}

impl<'a, K, V> IntoIterator for &'a SortedMap<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = std::iter::Map<std::slice::Iter<'a, (K, V)>, fn(&'a (K, V)) -> (&'a K, &'a V)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter().map(|(k, v)| (k, v))
    }
}

impl<K, V> IntoIterator for SortedMap<K, V> {
    type Item = (K, V);
    type IntoIter = std::vec::IntoIter<(K, V)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    proptest! {
        /// Any mix of inserts and removes leaves the same entries, in the same order, as a
        /// BTreeMap would; so does collecting.
        #[test]
        fn behaves_as_a_btreemap(ops in proptest::collection::vec((any::<bool>(), 0u8..32, any::<u16>()), 0..200)) {
            let mut ours = SortedMap::new();
            let mut reference = BTreeMap::new();
            for (insert, key, value) in &ops {
                if *insert {
                    prop_assert_eq!(ours.insert(*key, *value), reference.insert(*key, *value));
                } else {
                    prop_assert_eq!(ours.remove(key), reference.remove(key));
                }
                prop_assert_eq!(ours.get(key), reference.get(key));
                prop_assert_eq!(ours.contains_key(key), reference.contains_key(key));
            }
            let ours_entries: Vec<_> = ours.iter().collect();
            let reference_entries: Vec<_> = reference.iter().collect();
            prop_assert_eq!(ours_entries, reference_entries);
            let pairs: Vec<(u8, u16)> = ops.iter().map(|(_, k, v)| (*k, *v)).collect();
            let collected: SortedMap<u8, u16> = pairs.iter().copied().collect();
            let reference: BTreeMap<u8, u16> = pairs.into_iter().collect();
            prop_assert_eq!(collected.into_iter().collect::<Vec<_>>(), reference.into_iter().collect::<Vec<_>>());
        }

        /// Input already in order or in reverse order (which skip the sort), and the same
        /// with one key repeated (which does not), collects as a BTreeMap would.
        #[test]
        fn collects_ordered_and_reversed_input(keys in proptest::collection::btree_set(any::<u16>(), 0..40), repeat in any::<bool>()) {
            let mut pairs: Vec<(u16, usize)> = keys.iter().copied().enumerate().map(|(i, k)| (k, i)).collect();
            if repeat && let Some(&(k, _)) = pairs.first() {
                pairs.push((k, usize::MAX));
            }
            let reversed: Vec<(u16, usize)> = pairs.iter().rev().copied().collect();
            for input in [pairs, reversed] {
                let ours: SortedMap<u16, usize> = input.iter().copied().collect();
                let reference: BTreeMap<u16, usize> = input.into_iter().collect();
                prop_assert_eq!(ours.into_iter().collect::<Vec<_>>(), reference.into_iter().collect::<Vec<_>>());
            }
        }
    }
}
