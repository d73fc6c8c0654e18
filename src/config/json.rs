//! A JSON tree that keeps object keys in file order and refuses duplicate keys, which
//! `serde_json::Value` would silently collapse to the last one. serde_json parses; syntax
//! errors carry its line and column, and its recursion limit bounds the nesting.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// A parsed JSON value.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
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

/// Parses JSON text: one value, then nothing but whitespace.
pub fn parse(text: &[u8]) -> Result<Json, SyntaxError> {
    serde_json::from_slice(text).map_err(|e| {
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

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Json, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Json, E> {
        serde_json::Number::from_f64(v)
            .map(Json::Number)
            .ok_or_else(|| E::custom("a number that is not finite"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json::String(v.to_string()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut entries: Vec<(String, Json)> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                let shown = super::diagnostic::quote(&key);
                return Err(de::Error::custom(format!("duplicate key {shown}")));
            }
            entries.push((key, map.next_value()?));
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
