//! A record's attributes by type, and a memory of the last record's layout that spares
//! walking the next one when it is laid out alike (a dump's records almost always are).

use crate::kernel::netlink::walk_attributes;

/// The attributes of one nested attribute (or a message), by type; the last one wins.
/// IPVS attribute types are small numbers (15 at most in 6.x): a fixed table, no
/// allocation per record; larger types, from newer kernels, are skipped. The table holds
/// each payload's (offset, length) in `buf`, offset 0 for absent (a payload starts after
/// its attribute's header). It is the [`Layout`]'s own, borrowed: a record's decoder once
/// received a copy of it, two copies a destination record.
pub(super) struct Attrs<'a, 's> {
    buf: &'a [u8],
    spans: &'s Spans,
}

type Spans = [(u32, u32); 16];

impl<'a> Attrs<'a, '_> {
    #[inline]
    pub(super) fn get(&self, kind: &u16) -> Option<&'a [u8]> {
        let &(at, len) = self.spans.get(usize::from(*kind))?;
        let at = usize::try_from(at).ok().filter(|&at| at > 0)?;
        self.buf.get(at..at + usize::try_from(len).ok()?)
    }
}

/// Attributes a [`Layout`] remembers at most, unless told otherwise; a record with more is
/// walked every time. IPVS's attribute types go to 15 (a destination record of Linux 6.1
/// has all 15), and the kernel sends each once.
pub(super) const LAYOUT_ATTRS: usize = 16;

/// The layout of the last record collected through it: its length, the header word (length
/// and type) at each attribute's offset, and the table they gave. The walk reads nothing
/// but those words and the record's length, so a record of the same length with the same
/// word at each of those offsets walks the same way to the same table: checking that costs
/// some 6 instructions an attribute where walking one costs about 25. Anything else (another
/// length, a longer scheduler name, a flag bit, a malformed record) is walked as before and
/// becomes the layout remembered. A one-off record (a GET_INFO reply) is collected through
/// a fresh layout. `N` is the most attributes remembered: every one of the `N` slots is
/// checked for every record, in a loop the compiler unrolls, so a record of one nested
/// attribute is best checked through a `Layout<1>`.
pub(super) struct Layout<const N: usize = LAYOUT_ATTRS> {
    /// The record's length, or [`NO_LAYOUT`] when nothing is remembered (the last walk
    /// failed, or found no attribute, or more than `N`).
    len: usize,
    /// (offset, word) of each attribute's header; the slots past the record's attributes
    /// repeat the first.
    headers: [(u32, u32); N],
    spans: Spans,
}

/// A length no record has: [`Layout::fits`] then fails whatever the headers hold.
const NO_LAYOUT: usize = usize::MAX;

impl Layout {
    /// A layout of the usual size, for a one-off record or a record of many attributes.
    pub(super) fn new() -> Self {
        Self::default()
    }
}

impl<const N: usize> Default for Layout<N> {
    fn default() -> Self {
        Layout {
            len: NO_LAYOUT,
            headers: [(0, 0); N],
            spans: [(0, 0); 16],
        }
    }
}

/// The 4 bytes at `at` (an attribute's header: its length and type), one range check.
#[inline]
fn word_at(buf: &[u8], at: u32) -> Option<u32> {
    let at = usize::try_from(at).ok()?;
    match buf.get(at..at.checked_add(4)?)? {
        &[a, b, c, d] => Some(u32::from_ne_bytes([a, b, c, d])),
        _ => None,
    }
}

impl<const N: usize> Layout<N> {
    fn fits(&self, buf: &[u8]) -> bool {
        if buf.len() != self.len {
            return false;
        }
        // No branch per header: some 6 instructions each, where stopping at the first
        // difference cost 15 (a layout is almost never wrong).
        let mut differ = 0;
        for &(at, word) in &self.headers {
            differ |= word_at(buf, at).map_or(1, |w| w ^ word);
        }
        differ == 0
    }

    /// Walks `buf` into the table of attributes, unless it fits the layout remembered;
    /// remembers `buf`'s layout for the next record.
    pub(super) fn collect<'a, 's>(&'s mut self, buf: &'a [u8]) -> Result<Attrs<'a, 's>, String> {
        if !self.fits(buf) {
            self.walk(buf)?;
        }
        Ok(Attrs {
            buf,
            spans: &self.spans,
        })
    }

    /// Walks `buf` into `self`: its layout when the walk succeeds with 1 to `N` attributes,
    /// otherwise no layout (the table holds the walk's).
    fn walk(&mut self, buf: &[u8]) -> Result<(), String> {
        // Nothing is remembered unless the whole walk succeeds.
        self.len = NO_LAYOUT;
        self.spans = [(0, 0); 16];
        let mut count = 0;
        let (spans, headers) = (&mut self.spans, &mut self.headers);
        walk_attributes(buf, |kind, at, len| {
            if let Some(slot) = spans.get_mut(usize::from(kind)) {
                // Within `buf`, whose length a netlink message's u32 bounds.
                *slot = (at as u32, len as u32);
            }
            // The header is the 4 bytes before the payload; its offset fits in u32 as well.
            let header = (at - 4) as u32;
            if let (Some(h), Some(word)) = (headers.get_mut(count), word_at(buf, header)) {
                *h = (header, word);
            }
            count += 1;
        })?;
        if (1..=N).contains(&count) {
            let first = headers[0];
            headers[count..].fill(first);
            self.len = buf.len();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn table(attrs: Result<Attrs<'_, '_>, String>) -> Result<Spans, String> {
        attrs.map(|a| *a.spans)
    }

    /// The table by the walk alone, independent of any layout: the property's reference.
    fn walked(buf: &[u8]) -> Result<Spans, String> {
        let mut spans = [(0, 0); 16];
        walk_attributes(buf, |kind, at, len| {
            if let Some(slot) = spans.get_mut(usize::from(kind)) {
                *slot = (at as u32, len as u32);
            }
        })?;
        Ok(spans)
    }

    /// Records of one layout with different payloads, now and then a byte changed.
    fn records() -> impl Strategy<Value = Vec<Vec<u8>>> {
        let layout = prop::collection::vec((0u16..24, 0usize..10, any::<bool>()), 0..22);
        (layout, 1usize..6).prop_flat_map(|(layout, n)| {
            let size: usize = layout
                .iter()
                .map(|(_, len, _)| 4 + len.next_multiple_of(4))
                .sum();
            let record = (
                prop::collection::vec(any::<u8>(), size),
                prop::option::weighted(0.3, (any::<prop::sample::Index>(), any::<u8>())),
                prop::option::weighted(0.1, any::<prop::sample::Index>()),
            );
            prop::collection::vec(record, n).prop_map(move |records| {
                records
                    .into_iter()
                    .map(|(mut bytes, change, cut)| {
                        let mut at = 0;
                        for &(kind, len, nested) in &layout {
                            let kind = kind | if nested { 0x8000 } else { 0 };
                            bytes[at..at + 2].copy_from_slice(&((4 + len) as u16).to_ne_bytes());
                            bytes[at + 2..at + 4].copy_from_slice(&kind.to_ne_bytes());
                            at += 4 + len.next_multiple_of(4);
                        }
                        if let (Some((i, byte)), false) = (change, bytes.is_empty()) {
                            let i = i.index(bytes.len());
                            bytes[i] = byte;
                        }
                        if let Some(cut) = cut {
                            bytes.truncate(cut.index(bytes.len() + 1));
                        }
                        bytes
                    })
                    .collect()
            })
        })
    }

    proptest! {
        /// Through a remembered layout, every record of a sequence (the same layout, changed
        /// headers, cut short) gives the table, or the error, that the walk alone gives; so does
        /// collecting it once.
        #[test]
        fn a_remembered_layout_gives_what_the_walk_gives(
            batches in prop::collection::vec(records(), 1..4),
        ) {
            let mut layout = Layout::new();
            let mut small = Layout::<2>::default();
            for record in batches.iter().flatten() {
                prop_assert_eq!(table(layout.collect(record)), walked(record));
                prop_assert_eq!(table(small.collect(record)), walked(record));
                prop_assert_eq!(table(Layout::new().collect(record)), walked(record));
            }
        }
    }

    #[test]
    fn a_record_laid_out_alike_is_not_walked_again() {
        // Two attributes: type 1 (4 bytes), type 3 (2 bytes, padded).
        let first = [8, 0, 1, 0, 10, 0, 0, 2, 6, 0, 3, 0, 0, 22, 0, 0];
        let second = [8, 0, 1, 0, 10, 0, 0, 3, 6, 0, 3, 0, 0, 80, 0, 0];
        let mut layout = Layout::new();
        let a = layout.collect(&first).expect("walks");
        assert_eq!(a.get(&1), Some(&[10, 0, 0, 2][..]));
        assert!(layout.fits(&second));
        let b = layout.collect(&second).expect("fits");
        assert_eq!(
            (b.get(&1), b.get(&3)),
            (Some(&[10, 0, 0, 3][..]), Some(&[0, 80][..]))
        );
        // Another length of the second attribute: walked, and remembered instead.
        let third = [8, 0, 1, 0, 10, 0, 0, 4, 5, 0, 3, 0, 7, 0, 0, 0];
        assert!(!layout.fits(&third));
        assert_eq!(
            layout.collect(&third).expect("walks").get(&3),
            Some(&[7][..])
        );
        assert!(layout.fits(&third) && !layout.fits(&first));
    }
}
