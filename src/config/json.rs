//! A JSON tree that keeps object keys in file order and refuses duplicate keys, which
//! `serde_json::Value` would silently collapse to the last one. Strings borrow from the
//! text unless they hold escapes. Syntax errors carry the line and column from serde_json;
//! nesting is bounded by serde_json's recursion limit.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

/// A parsed JSON value, borrowing from the text it was parsed from.
#[derive(Debug, Clone, PartialEq)]
pub enum Json<'a> {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(Cow<'a, str>),
    Array(Vec<Json<'a>>),
    Object(Vec<(Cow<'a, str>, Json<'a>)>),
}

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

/// Parses JSON text. Text that is UTF-8 (checked once, fast) goes first to the plain
/// parser (`plain_json`), which takes what configs are made of in one pass, then, if that
/// gives up, to serde_json as a `str`, which spares it checking every string again; other
/// bytes go through `from_slice`, so the error is the one serde_json finds first, at its
/// position.
pub fn parse(text: &[u8]) -> Result<Json<'_>, SyntaxError> {
    let parsed = match std::str::from_utf8(text) {
        Ok(text) => match super::plain_json::parse(text) {
            Some(tree) => return Ok(tree),
            None => serde_json::from_str::<Json>(text),
        },
        Err(_) => serde_json::from_slice::<Json>(text),
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

impl<'de> Deserialize<'de> for Json<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

/// An object key, borrowed when it has no escapes (serde's own `Cow` always copies).
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(v.to_string())))
    }

    fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(v)))
    }
}

/// Objects up to this many keys find duplicates by scanning; larger ones through a set.
pub(super) const SCAN_KEYS: usize = 16;

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Json<'de>, E> {
        Ok(Json::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Json<'de>, E> {
        Ok(Json::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Json<'de>, E> {
        Ok(Json::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Json<'de>, E> {
        serde_json::Number::from_f64(v)
            .map(Json::Number)
            .ok_or_else(|| E::custom("a number that is not finite"))
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Owned(v.to_string())))
    }

    fn visit_string<E>(self, v: String) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Owned(v)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json<'de>, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json<'de>, A::Error> {
        let mut entries: Vec<(Cow<'de, str>, Json<'de>)> = Vec::new();
        // Filled only once the object outgrows a scan.
        let mut seen: HashSet<Cow<'de, str>> = HashSet::new();
        while let Some(Key(key)) = map.next_key::<Key>()? {
            let duplicate = if entries.len() < SCAN_KEYS {
                entries.iter().any(|(k, _)| *k == key)
            } else {
                if seen.is_empty() {
                    seen.extend(entries.iter().map(|(k, _)| k.clone()));
                }
                !seen.insert(key.clone())
            };
            if duplicate {
                let shown = super::diagnostic::quote(&key);
                return Err(de::Error::custom(format!("duplicate key {shown}")));
            }
            let value = map.next_value()?;
            entries.push((key, value));
        }
        Ok(Json::Object(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_key_order() {
        let j = parse(br#"{"b":1,"a":[true,null,"x"]}"#).expect("valid");
        let Json::Object(entries) = j else {
            panic!("not an object")
        };
        assert_eq!(entries[0].0, "b");
        assert_eq!(entries[1].0, "a");
    }

    #[test]
    fn text_that_is_not_utf8_is_a_syntax_error_at_its_place() {
        let e = parse(b"{\n  \"a\": \"caf\xe9\"\n}").expect_err("Latin-1 byte");
        assert_eq!((e.line, e.column), (2, 12));
        assert!(e.message.contains("unicode"), "{}", e.message);
        // Valid UTF-8, escaped or not, borrows or decodes as before.
        let j = parse("{\"a\": \"café\", \"b\": \"caf\\u00e9\"}".as_bytes()).expect("valid");
        let Json::Object(entries) = j else {
            panic!("not an object")
        };
        assert_eq!(entries[0].1, Json::String(Cow::Borrowed("café")));
        assert_eq!(entries[1].1, Json::String(Cow::Owned("café".into())));
    }

    #[test]
    fn duplicate_keys_are_syntax_errors_with_position() {
        let e = parse(b"{\n  \"a\": 1,\n  \"a\": 2\n}").expect_err("duplicate");
        assert_eq!(e.message, "duplicate key \"a\"");
        assert_eq!(e.line, 3);
    }

    #[test]
    fn duplicate_keys_in_large_objects_and_escaped_keys_are_found() {
        let keys: Vec<String> = (0..40).map(|i| format!("\"k{i}\": {i}")).collect();
        let text = format!("{{{}, \"k33\": 0}}", keys.join(", "));
        let e = parse(text.as_bytes()).expect_err("duplicate");
        assert_eq!(e.message, "duplicate key \"k33\"");
        // The same key spelled with an escape is the same key.
        let e = parse(br#"{"ab": 1, "a\u0062": 2}"#).expect_err("duplicate");
        assert_eq!(e.message, "duplicate key \"ab\"");
    }

    #[test]
    fn strings_borrow_unless_escaped() {
        let j = parse(br#"{"plain": "x", "esc": "a\nb"}"#).expect("valid");
        let Json::Object(entries) = j else {
            panic!("not an object")
        };
        assert!(matches!(entries[0].0, Cow::Borrowed("plain")));
        assert!(matches!(&entries[0].1, Json::String(Cow::Borrowed("x"))));
        assert!(matches!(&entries[1].1, Json::String(Cow::Owned(s)) if s == "a\nb"));
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let text = "[".repeat(100_000);
        let e = parse(text.as_bytes()).expect_err("too deep");
        assert!(e.message.contains("recursion limit"), "{}", e.message);
    }
}
