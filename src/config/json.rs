//! A JSON tree that keeps object keys in file order and refuses duplicate keys, which
//! `serde_json::Value` would silently collapse to the last one. Strings borrow from the
//! text; the arrays, the objects and the few strings with escapes live in one arena
//! ([`Bump`]), so the tree is built without an allocation per array or object and freed
//! at once, which a tree of `Vec`s, in the config of 1,000 forwards, spent a sixth of a
//! plan's own instructions on. Syntax errors carry the line and column from serde_json;
//! nesting is bounded by serde_json's recursion limit.

use bumpalo::Bump;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::collections::HashSet;
use std::fmt;

/// A parsed JSON value, borrowing from the text it was parsed from and from the arena it
/// was built in.
#[derive(Debug, Clone, PartialEq)]
pub enum Json<'a> {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(&'a str),
    Array(&'a [Json<'a>]),
    Object(&'a [(&'a str, Json<'a>)]),
}

// The arena never runs destructors: nothing in the tree may need one.
const _: () = assert!(!std::mem::needs_drop::<Json<'static>>());

impl Json<'_> {
    /// The JSON type's name, for "expected X, found Y" messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Number(_) => "a number",
            Json::String(_) => "a string",
            Json::Array(_) => "an array",
            Json::Object(_) => "an object",
        }
    }
}

/// A syntax error with its 1-based position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Parses JSON text into `arena`. Text that is UTF-8 (checked once, fast) goes first to the
/// plain parser (`plain_json`), which takes what configs are made of in one pass, then, if
/// that gives up, to serde_json as a `str`, which spares it checking every string again;
/// other bytes go through `from_slice`, so the error is the one serde_json finds first, at
/// its position.
pub fn parse<'a>(text: &'a [u8], arena: &'a Bump) -> Result<Json<'a>, SyntaxError> {
    let parsed = match std::str::from_utf8(text) {
        Ok(text) => match super::plain_json::parse(text, arena) {
            Some(tree) => return Ok(tree),
            None => with_serde(&mut serde_json::Deserializer::from_str(text), arena),
        },
        Err(_) => with_serde(&mut serde_json::Deserializer::from_slice(text), arena),
    };
    parsed.map_err(|e| {
        // serde_json appends " at line L column C"; we report the position separately.
        let full = e.to_string();
        let message = match full.rfind(" at line ") {
            Some(i) => full[..i].to_string(),
            None => full,
        };
        SyntaxError {
            line: e.line(),
            column: e.column(),
            message,
        }
    })
}

/// The whole text through serde_json, as `serde_json::from_str` would take it: one value,
/// then nothing but whitespace.
fn with_serde<'a, R: serde_json::de::Read<'a>>(
    de: &mut serde_json::Deserializer<R>,
    arena: &'a Bump,
) -> Result<Json<'a>, serde_json::Error> {
    let tree = Seed(arena).deserialize(&mut *de)?;
    de.end()?;
    Ok(tree)
}

/// serde_json's tree of `text`, for the plain parser's property tests.
#[cfg(test)]
pub(super) fn parse_with_serde<'a>(text: &'a str, arena: &'a Bump) -> Result<Json<'a>, String> {
    with_serde(&mut serde_json::Deserializer::from_str(text), arena).map_err(|e| e.to_string())
}

/// A value, built in the arena.
#[derive(Clone, Copy)]
struct Seed<'a>(&'a Bump);

impl<'de: 'a, 'a> DeserializeSeed<'de> for Seed<'a> {
    type Value = Json<'a>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Json<'a>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

/// An object key: borrowed from the text when it has no escapes, else copied to the arena.
struct KeySeed<'a>(&'a Bump);

impl<'de: 'a, 'a> DeserializeSeed<'de> for KeySeed<'a> {
    type Value = &'a str;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<&'a str, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de: 'a, 'a> Visitor<'de> for KeySeed<'a> {
    type Value = &'a str;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<&'a str, E> {
        Ok(v)
    }

    fn visit_str<E>(self, v: &str) -> Result<&'a str, E> {
        Ok(self.0.alloc_str(v))
    }
}

/// Objects up to this many keys find duplicates by scanning; larger ones through a set.
pub(super) const SCAN_KEYS: usize = 16;

impl<'de: 'a, 'a> Visitor<'de> for Seed<'a> {
    type Value = Json<'a>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Json<'a>, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Json<'a>, E> {
        Ok(Json::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Json<'a>, E> {
        Ok(Json::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Json<'a>, E> {
        Ok(Json::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Json<'a>, E> {
        serde_json::Number::from_f64(v)
            .map(Json::Number)
            .ok_or_else(|| E::custom("a number that is not finite"))
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Json<'a>, E> {
        Ok(Json::String(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Json<'a>, E> {
        Ok(Json::String(self.0.alloc_str(v)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json<'a>, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Json::Array(self.0.alloc_slice_fill_iter(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json<'a>, A::Error> {
        let mut entries: Vec<(&'a str, Json<'a>)> = Vec::new();
        // Filled only once the object outgrows a scan.
        let mut seen: HashSet<&'a str> = HashSet::new();
        while let Some(key) = map.next_key_seed(KeySeed(self.0))? {
            let duplicate = if entries.len() < SCAN_KEYS {
                entries.iter().any(|(k, _)| *k == key)
            } else {
                if seen.is_empty() {
                    seen.extend(entries.iter().map(|(k, _)| *k));
                }
                !seen.insert(key)
            };
            if duplicate {
                let shown = super::diagnostic::quote(key);
                return Err(de::Error::custom(format!("duplicate key {shown}")));
            }
            let value = map.next_value_seed(self)?;
            entries.push((key, value));
        }
        Ok(Json::Object(self.0.alloc_slice_fill_iter(entries)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_key_order() {
        let arena = Bump::new();
        let j = parse(br#"{"b":1,"a":[true,null,"x"]}"#, &arena).expect("valid");
        let Json::Object(entries) = j else {
            panic!("not an object")
        };
        assert_eq!(entries[0].0, "b");
        assert_eq!(entries[1].0, "a");
    }

    #[test]
    fn text_that_is_not_utf8_is_a_syntax_error_at_its_place() {
        let arena = Bump::new();
        let e = parse(b"{\n  \"a\": \"caf\xe9\"\n}", &arena).expect_err("Latin-1 byte");
        assert_eq!((e.line, e.column), (2, 12));
        assert!(e.message.contains("unicode"), "{}", e.message);
        // Valid UTF-8, escaped or not, borrows or decodes as before.
        let j = parse(
            "{\"a\": \"café\", \"b\": \"caf\\u00e9\"}".as_bytes(),
            &arena,
        )
        .expect("valid");
        let Json::Object(entries) = j else {
            panic!("not an object")
        };
        assert_eq!(entries[0].1, Json::String("café"));
        assert_eq!(entries[1].1, Json::String("café"));
    }

    #[test]
    fn duplicate_keys_are_syntax_errors_with_position() {
        let e = parse(b"{\n  \"a\": 1,\n  \"a\": 2\n}", &Bump::new()).expect_err("duplicate");
        assert_eq!(e.message, "duplicate key \"a\"");
        assert_eq!(e.line, 3);
    }

    #[test]
    fn duplicate_keys_in_large_objects_and_escaped_keys_are_found() {
        let keys: Vec<String> = (0..40).map(|i| format!("\"k{i}\": {i}")).collect();
        let text = format!("{{{}, \"k33\": 0}}", keys.join(", "));
        let e = parse(text.as_bytes(), &Bump::new()).expect_err("duplicate");
        assert_eq!(e.message, "duplicate key \"k33\"");
        // The same key spelled with an escape is the same key.
        let e = parse(br#"{"ab": 1, "a\u0062": 2}"#, &Bump::new()).expect_err("duplicate");
        assert_eq!(e.message, "duplicate key \"ab\"");
    }

    #[test]
    fn strings_borrow_from_the_text_unless_escaped() {
        let text = br#"{"plain": "x", "esc": "a\nb", "a\u0062": 1}"#;
        let arena = Bump::new();
        let j = parse(text, &arena).expect("valid");
        let Json::Object(entries) = j else {
            panic!("not an object")
        };
        let in_text = |s: &str| text.as_ptr_range().contains(&s.as_ptr());
        assert!(in_text(entries[0].0));
        assert!(matches!(entries[0].1, Json::String(s) if s == "x" && in_text(s)));
        assert!(matches!(entries[1].1, Json::String(s) if s == "a\nb" && !in_text(s)));
        assert!(entries[2].0 == "ab" && !in_text(entries[2].0));
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let text = "[".repeat(100_000);
        let e = parse(text.as_bytes(), &Bump::new()).expect_err("too deep");
        assert!(e.message.contains("recursion limit"), "{}", e.message);
    }
}
