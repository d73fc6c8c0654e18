//! A JSON tree that keeps object keys in file order and refuses duplicate keys, which
//! `serde_json::Value` would silently collapse to the last one. serde_json parses; syntax
//! errors carry its line and column, and its recursion limit bounds the nesting. Strings
//! borrow from the text unless they hold escapes.

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;

/// A parsed JSON value.
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

/// Parses JSON text: one value, then nothing but whitespace. Text that is not UTF-8 goes
/// through `from_slice`, so that the error is the one serde_json finds first, at its place.
/// A UTF-8 byte order mark (some Windows editors write one) is skipped.
pub fn parse(text: &[u8]) -> Result<Json<'_>, SyntaxError> {
    let text = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(text);
    let parsed = match std::str::from_utf8(text) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(text),
    };
    parsed.map_err(|e| {
        // serde_json appends " at line L column C"; we report the position separately.
        let full = e.to_string();
        let mut message = match full.rfind(" at line ") {
            Some(i) => full[..i].to_string(),
            None => full,
        };
        if message == "trailing comma" {
            message.push_str(": JSON allows no comma after the last item; remove it");
        } else if let Some(hint) = hint_at(text, e.line(), e.column()) {
            message = format!("{message}: {hint}");
        }
        SyntaxError {
            line: e.line(),
            // At the very end of a file that ends with a newline serde_json says column 0.
            column: e.column().max(1),
            message,
        }
    })
}

/// What people write in JSON by habit, named where the error points at it.
fn hint_at(text: &[u8], line: usize, column: usize) -> Option<&'static str> {
    let line_text = text.split(|b| *b == b'\n').nth(line.checked_sub(1)?)?;
    let at = line_text.get(column.saturating_sub(1)..)?;
    let rest = at.trim_ascii_start();
    if rest.starts_with(b"//") || rest.starts_with(b"/*") {
        Some("JSON has no comments (`//`, `/* */`); remove them")
    } else if rest.starts_with(b"'") {
        Some("JSON strings take double quotes")
    } else {
        None
    }
}

impl<'de> Deserialize<'de> for Json<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Json<'de>, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

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

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json<'de>, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json<'de>, A::Error> {
        let mut entries: Vec<(Cow<'de, str>, Json<'de>)> = Vec::new();
        let mut seen: BTreeSet<Cow<'de, str>> = BTreeSet::new();
        while let Some(key) = map.next_key_seed(KeyVisitor)? {
            if !seen.insert(key.clone()) {
                let shown = super::diagnostic::quote(&key);
                return Err(de::Error::custom(format!("duplicate key {shown}")));
            }
            entries.push((key, map.next_value()?));
        }
        Ok(Json::Object(entries))
    }
}

/// An object key, borrowed from the text unless it holds escapes.
struct KeyVisitor;

impl<'de> DeserializeSeed<'de> for KeyVisitor {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Cow<'de, str>, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn habits_from_other_formats_are_named() {
        let err = |text: &str| parse(text.as_bytes()).expect_err("refused");
        let e = err("{\n  // the forwards\n  \"forwards\": []\n}\n");
        assert_eq!((e.line, e.column), (2, 3));
        assert!(
            e.message
                .ends_with("JSON has no comments (`//`, `/* */`); remove them"),
            "{}",
            e.message
        );
        let e = err("{\"forwards\": /* none */ []}");
        assert!(e.message.contains("no comments"), "{}", e.message);
        let e = err("{\"forwards\": [1, 2,]}");
        assert_eq!(
            e.message,
            "trailing comma: JSON allows no comma after the last item; remove it"
        );
        let e = err("{'forwards': []}");
        assert!(e.message.ends_with("double quotes"), "{}", e.message);
        let e = err("{\"forwards\": []\n");
        assert_eq!((e.line, e.column), (2, 1), "{}", e.message);
        assert!(
            parse(b"\xEF\xBB\xBF{\"forwards\": []}").is_ok(),
            "a byte order mark is skipped"
        );
    }

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
        let j = parse("{\"a\": \"café\", \"b\": \"caf\\u00e9\"}".as_bytes()).expect("valid");
        let Json::Object(entries) = j else {
            panic!("not an object")
        };
        assert_eq!(entries[0].1, Json::String("café".into()));
        assert_eq!(entries[1].1, Json::String("café".into()));
    }

    #[test]
    fn duplicate_keys_are_syntax_errors_with_position() {
        let e = parse(b"{\n  \"a\": 1,\n  \"a\": 2\n}").expect_err("duplicate");
        assert_eq!(e.message, "duplicate key \"a\"");
        assert_eq!(e.line, 3);
        // The same key spelled with an escape is the same key.
        let e = parse(br#"{"ab": 1, "a\u0062": 2}"#).expect_err("duplicate");
        assert_eq!(e.message, "duplicate key \"ab\"");
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let text = "[".repeat(100_000);
        let e = parse(text.as_bytes()).expect_err("too deep");
        assert!(e.message.contains("recursion limit"), "{}", e.message);
    }
}
