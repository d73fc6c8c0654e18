//! A one-pass parser for the JSON that configs are written in, tried before serde_json:
//! objects, arrays, strings without escapes, whole numbers that fit a u64, `true`, `false`
//! and `null`. It gives up (`None`) on anything else, valid or not: an escape, a fraction,
//! an exponent, a minus sign, a duplicate key, an object of many keys, deep nesting, a
//! syntax error. serde_json then parses the text as before and reports any error at its
//! position. Whatever this parser accepts, serde_json accepts with the same tree (property
//! tests below); it exists because it builds that tree in about half the instructions.

use super::json::Json;
use bumpalo::Bump;

/// Nesting this parser takes; serde_json refuses beyond 128 levels, so nothing accepted
/// here can be a depth error there.
const MAX_DEPTH: usize = 100;

/// Keys per object this parser takes (duplicates are found by scanning, as serde_json's
/// visitor does up to the same size); larger objects go to serde_json.
const MAX_KEYS: usize = super::json::SCAN_KEYS;

/// The tree of `text`, built in `arena`, or `None` when the text is anything but the plain
/// subset.
pub fn parse<'a>(text: &'a str, arena: &'a Bump) -> Option<Json<'a>> {
    let mut p = Plain {
        text,
        pos: 0,
        arena,
        items: Vec::new(),
        entries: Vec::new(),
    };
    let value = p.value(0)?;
    p.skip_whitespace();
    (p.pos == text.len()).then_some(value)
}

/// The bytes that end a plain string: its closing quote, or what makes it not plain (an
/// escape, or a control character, which JSON refuses). One load a byte, where three
/// comparisons cost twice the instructions; [`plain_string_len`] looks at eight at once.
static ENDS_PLAIN_STRING: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = true;
        b += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

/// Where the first byte of `bytes` that ends a plain string is (see [`ENDS_PLAIN_STRING`]),
/// eight bytes a step: the strings of a config (names, addresses) took 7 instructions a
/// byte one byte at a time. A byte's high bit is set in `(x - 0x01…) & !x` when the byte is
/// zero, in `(x - 0x20…) & !x` when it is below 0x20; a borrow can set it in a byte after
/// one that matched, never before, so the lowest byte flagged (the word is read little-endian:
/// the first in the text) is the answer.
fn plain_string_len(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_le_bytes([0x01; 8]);
    const HIGH: u64 = ONES * 0x80;
    let mut at = 0;
    while let Some(&chunk) = bytes.get(at..).and_then(|rest| rest.first_chunk::<8>()) {
        let word = u64::from_le_bytes(chunk);
        let quote = word ^ (ONES * u64::from(b'"'));
        let backslash = word ^ (ONES * u64::from(b'\\'));
        let flagged = (quote.wrapping_sub(ONES) & !quote)
            | (backslash.wrapping_sub(ONES) & !backslash)
            | (word.wrapping_sub(ONES * 0x20) & !word);
        let flagged = flagged & HIGH;
        if flagged != 0 {
            return Some(at + (flagged.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    let tail = bytes.get(at..)?;
    tail.iter()
        .position(|&b| ENDS_PLAIN_STRING[usize::from(b)])
        .map(|i| at + i)
}

struct Plain<'a> {
    text: &'a str,
    pos: usize,
    arena: &'a Bump,
    /// The values of the arrays being parsed, the innermost's last: moved to the arena
    /// when its array closes, so one vector serves every array.
    items: Vec<Json<'a>>,
    /// The same for the objects being parsed.
    entries: Vec<(&'a str, Json<'a>)>,
}

impl<'a> Plain<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.pos += 1;
        }
    }

    /// Skips whitespace, then takes `byte` if it is next.
    fn eat(&mut self, byte: u8) -> bool {
        self.skip_whitespace();
        let found = self.peek() == Some(byte);
        self.pos += usize::from(found);
        found
    }

    fn value(&mut self, depth: usize) -> Option<Json<'a>> {
        self.skip_whitespace();
        match self.peek()? {
            b'{' => self.object(depth + 1),
            b'[' => self.array(depth + 1),
            b'"' => self.string().map(Json::String),
            b'0'..=b'9' => self.number(),
            b't' => self.word("true", Json::Bool(true)),
            b'f' => self.word("false", Json::Bool(false)),
            b'n' => self.word("null", Json::Null),
            _ => None,
        }
    }

    fn word(&mut self, word: &str, value: Json<'a>) -> Option<Json<'a>> {
        let found = self.text.as_bytes()[self.pos..].starts_with(word.as_bytes());
        self.pos += word.len();
        found.then_some(value)
    }

    /// Digits without a leading zero (but `0` itself), within u64: what serde_json hands to
    /// `visit_u64`. A fraction or an exponent is no delimiter, so the caller gives up there.
    fn number(&mut self) -> Option<Json<'a>> {
        let bytes = self.text.as_bytes();
        let start = self.pos;
        let mut n: u64 = 0;
        while let Some(&digit @ b'0'..=b'9') = bytes.get(self.pos) {
            n = n.checked_mul(10)?.checked_add(u64::from(digit - b'0'))?;
            self.pos += 1;
        }
        let leading_zero = bytes[start] == b'0' && self.pos - start > 1;
        (!leading_zero).then(|| Json::Number(n.into()))
    }

    /// A string from its opening quote; borrowed, since it has no escape to decode.
    fn string(&mut self) -> Option<&'a str> {
        let start = self.pos + 1;
        let rest = self.text.as_bytes().get(start..)?;
        let len = plain_string_len(rest)?;
        if rest[len] != b'"' {
            return None;
        }
        self.pos = start + len + 1;
        // Both ends are ASCII quotes, so this slice is on character boundaries.
        self.text.get(start..start + len)
    }

    /// Steps past an opening bracket at `depth`: `None` past the nesting this parser takes,
    /// else whether `close` follows at once (`[]`, `{}`).
    fn open(&mut self, depth: usize, close: u8) -> Option<bool> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.pos += 1;
        Some(self.eat(close))
    }

    fn array(&mut self, depth: usize) -> Option<Json<'a>> {
        if self.open(depth, b']')? {
            return Some(Json::Array(&[]));
        }
        let start = self.items.len();
        loop {
            let item = self.value(depth)?;
            self.items.push(item);
            if self.eat(b']') {
                let arena = self.arena;
                return Some(Json::Array(
                    arena.alloc_slice_fill_iter(self.items.drain(start..)),
                ));
            }
            if !self.eat(b',') {
                return None;
            }
        }
    }

    fn object(&mut self, depth: usize) -> Option<Json<'a>> {
        if self.open(depth, b'}')? {
            return Some(Json::Object(&[]));
        }
        let start = self.entries.len();
        loop {
            self.skip_whitespace();
            if self.peek() != Some(b'"') {
                return None;
            }
            let key = self.string()?;
            let entries = &self.entries[start..];
            if entries.len() == MAX_KEYS || entries.iter().any(|(k, _)| *k == key) {
                return None;
            }
            if !self.eat(b':') {
                return None;
            }
            let value = self.value(depth)?;
            self.entries.push((key, value));
            if self.eat(b'}') {
                let arena = self.arena;
                return Some(Json::Object(
                    arena.alloc_slice_fill_iter(self.entries.drain(start..)),
                ));
            }
            if !self.eat(b',') {
                return None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// serde_json's tree of `text` through the same visitor `json::parse` uses.
    fn reference<'a>(text: &'a str, arena: &'a Bump) -> Result<Json<'a>, String> {
        super::super::json::parse_with_serde(text, arena)
    }

    /// Whether the plain parser gives up on `text`.
    fn refused(text: &str) -> bool {
        parse(text, &Bump::new()).is_none()
    }

    /// What the plain parser makes of `text`, where it takes it, against serde_json's tree.
    fn agrees(text: &str) -> Result<(), TestCaseError> {
        let (plain, serde) = (Bump::new(), Bump::new());
        if let Some(tree) = parse(text, &plain) {
            prop_assert_eq!(Ok(tree), reference(text, &serde));
        }
        Ok(())
    }

    #[test]
    fn a_config_is_parsed_borrowing_its_strings() {
        let text = r#" { "public": [ {"address": "203.0.113.10"} ],
            "forwards": [{"name": "ssh", "listen": "203.0.113.10:2222",
                          "backends": ["10.0.0.2:22", {"address": "10.0.0.3", "weight": 0}],
                          "persistence": 300, "x": [true, false, null, [], {}]}] }"#;
        let (plain, serde) = (Bump::new(), Bump::new());
        let tree = parse(text, &plain).expect("plain JSON");
        assert_eq!(Ok(tree.clone()), reference(text, &serde));
        let Json::Object(root) = tree else {
            panic!("not an object")
        };
        let key = root[0].0;
        assert!(key == "public" && text.as_bytes().as_ptr_range().contains(&key.as_ptr()));
    }

    #[test]
    fn gives_up_on_everything_outside_the_plain_subset() {
        for text in [
            "",
            " ",
            r#""a\nb""#,
            r#"{"a\u0062": 1}"#,
            "1.5",
            "1e3",
            "-1",
            "01",
            "18446744073709551616",
            r#"{"a": 1, "a": 2}"#,
            "[1,]",
            r#"{"a": 1,}"#,
            "[1 2]",
            "{\"a\" 1}",
            "{1: 2}",
            "tru",
            "truex",
            "nul",
            "[1] x",
            "\u{feff}{}",
            "\"tab\there\"",
            "\"open",
            "[",
            "{\"a\":",
        ] {
            assert!(refused(text), "{text:?}");
        }
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert!(refused(&deep));
        let shallow = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(!refused(&shallow));
        let many: Vec<String> = (0..=MAX_KEYS).map(|i| format!("\"k{i}\": {i}")).collect();
        assert!(refused(&format!("{{{}}}", many.join(","))));
        assert!(!refused(&format!("{{{}}}", many[..MAX_KEYS].join(","))));
    }

    proptest! {
        /// Eight bytes a step finds the byte that one byte a step finds: any bytes, and
        /// bytes mostly near the ones that matter (borrows between neighbours).
        #[test]
        fn a_plain_string_ends_where_the_table_says(
            bytes in prop_oneof![
                prop::collection::vec(any::<u8>(), 0..40),
                prop::collection::vec(prop::sample::select(&[0u8, 1, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x5b, 0x5c, 0x5d, 0x7f, 0x80, 0xa2, 0xdc, 0xff][..]), 0..40),
                prop::collection::vec(b'a'..=b'z', 0..40).prop_map(|mut v| { v.push(b'"'); v }),
            ]
        ) {
            let expected = bytes.iter().position(|&b| ENDS_PLAIN_STRING[usize::from(b)]);
            prop_assert_eq!(plain_string_len(&bytes), expected);
        }

        /// Whatever the plain parser accepts, serde_json accepts with the same tree.
        #[test]
        fn agrees_with_serde_json(text in json_text()) {
            agrees(&text)?;
        }

        /// The same for text with one byte removed or replaced: the plain parser must not
        /// accept what serde_json refuses.
        #[test]
        fn refuses_what_serde_json_refuses(
            text in json_text(),
            at in any::<prop::sample::Index>(),
            with in prop_oneof![Just(None), prop::sample::select(&b"{}[],:\" 0-.\\e"[..]).prop_map(Some)],
        ) {
            let mut bytes = text.into_bytes();
            let i = at.index(bytes.len());
            match with {
                None => { bytes.remove(i); }
                Some(b) => bytes[i] = b,
            }
            if let Ok(text) = String::from_utf8(bytes) {
                agrees(&text)?;
            }
        }

        /// Text in the plain subset is taken by the fast path, with serde_json's tree.
        #[test]
        fn takes_the_plain_subset(text in plain_text()) {
            let (plain, serde) = (Bump::new(), Bump::new());
            let tree = parse(&text, &plain);
            prop_assert!(tree.is_some(), "{}", text);
            prop_assert_eq!(tree.ok_or_else(String::new), reference(&text, &serde));
        }
    }

    /// JSON text from a small grammar. `plain`: the plain subset only (unescaped strings,
    /// whole numbers, distinct keys); otherwise also what makes the parser give up, so that
    /// both sides of every rule are reached: escapes, signs, fractions, exponents, leading
    /// zeros, repeated keys.
    fn json_text_of(plain: bool) -> impl Strategy<Value = String> {
        let mut leaves = vec![
            Just("null".to_string()).boxed(),
            Just("true".to_string()).boxed(),
            Just("false".to_string()).boxed(),
            any::<u64>().prop_map(|n| n.to_string()).boxed(),
            "\"[a-z0-9 .:\\[\\]é]*\"".boxed(),
        ];
        if !plain {
            leaves.push("-?[0-9]{1,3}(\\.[0-9])?([eE][+-]?[0-9])?".boxed());
            leaves.push("\"([a-z0-9 ]|\\\\n|\\\\u00e9|\\\\\")*\"".boxed());
        }
        prop::strategy::Union::new(leaves).prop_recursive(4, 48, 6, move |inner| {
            let ws = "[ \n\r\t]{0,2}";
            prop_oneof![
                prop::collection::vec((inner.clone(), ws), 0..6).prop_map(|items| {
                    let body: Vec<String> = items.into_iter().map(|(v, w)| w + &v).collect();
                    format!("[{}]", body.join(","))
                }),
                prop::collection::vec((inner, ws, "[a-c]{1,2}"), 0..MAX_KEYS).prop_map(
                    move |fields| {
                        let body: Vec<String> = fields
                            .into_iter()
                            .enumerate()
                            .map(|(i, (v, w, k))| {
                                let key = if plain { format!("k{i}") } else { k };
                                format!("{w}\"{key}\"{w}:{v}{w}")
                            })
                            .collect();
                        format!("{{{}}}", body.join(","))
                    }
                ),
            ]
        })
    }

    fn json_text() -> impl Strategy<Value = String> {
        json_text_of(false)
    }

    fn plain_text() -> impl Strategy<Value = String> {
        json_text_of(true)
    }
}
