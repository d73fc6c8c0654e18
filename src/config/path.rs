//! JSON paths such as `forwards[2].backends[0]`, built on the stack while decoding descends
//! and turned into text only when a problem is reported: a valid config of thousands of
//! forwards formats none.

use super::diagnostic::quote;
use std::fmt;

/// A place in the config document.
#[derive(Debug, Clone, Copy)]
pub enum JsonPath<'a> {
    Root,
    Key(&'a JsonPath<'a>, &'a str),
    Index(&'a JsonPath<'a>, usize),
}

pub const ROOT: JsonPath<'static> = JsonPath::Root;

impl<'a> JsonPath<'a> {
    /// The member `key` of the object here.
    pub fn key<'b>(&'b self, key: &'b str) -> JsonPath<'b>
    where
        'a: 'b,
    {
        JsonPath::Key(self, key)
    }

    /// Element `index` of the array here.
    pub fn index<'b>(&'b self, index: usize) -> JsonPath<'b>
    where
        'a: 'b,
    {
        JsonPath::Index(self, index)
    }
}

/// `parent.key`, or `parent["odd key"]` when the key is not a plain word; the root is "".
impl fmt::Display for JsonPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonPath::Root => Ok(()),
            JsonPath::Key(parent, key) => {
                let plain = !key.is_empty()
                    && key
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
                match (matches!(parent, JsonPath::Root), plain) {
                    (true, true) => f.write_str(key),
                    (false, true) => write!(f, "{parent}.{key}"),
                    (_, false) => write!(f, "{parent}[{}]", quote(key)),
                }
            }
            JsonPath::Index(parent, index) => write!(f, "{parent}[{index}]"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_read_as_in_the_messages() {
        let forwards = ROOT.key("forwards");
        let second = forwards.index(2);
        assert_eq!(
            second.key("backends").index(0).to_string(),
            "forwards[2].backends[0]"
        );
        assert_eq!(ROOT.key("$schema").to_string(), "$schema");
        let sysctl = ROOT.key("sysctl");
        assert_eq!(
            sysctl.key("net.ipv4.ip_forward").to_string(),
            "sysctl[\"net.ipv4.ip_forward\"]"
        );
        assert_eq!(ROOT.key("").to_string(), "[\"\"]");
        assert_eq!(ROOT.to_string(), "");
    }
}
