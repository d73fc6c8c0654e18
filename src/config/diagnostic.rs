//! Problems found in a config: each names its place (a JSON path, or a line and column for
//! syntax errors), a stable rule id for pipelines, and a message for people.

use serde::Serialize;
use std::fmt;

/// How bad a problem is: errors make the config invalid, warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// Where in the file a problem is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Place {
    /// The whole document (e.g. the file could not be read).
    Document,
    /// A JSON path such as `forwards[2].backends[0]`.
    Path { path: String },
    /// A position in the text, for syntax errors (1-based).
    Position { line: usize, column: usize },
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::Document => Ok(()),
            Place::Path { path } => f.write_str(path),
            Place::Position { line, column } => write!(f, "{line}:{column}"),
        }
    }
}

/// One problem in a config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    /// A stable, kebab-case identifier of the rule, e.g. `unknown-field`.
    pub rule: &'static str,
    #[serde(flatten)]
    pub place: Place,
    pub message: String,
}

impl Diagnostic {
    /// Where it is, as messages print it: `FILE:LINE:COLUMN:`, `FILE: PATH:` or `FILE:`.
    pub fn place_in(&self, source: &str) -> String {
        match &self.place {
            Place::Position { line, column } => format!("{source}:{line}:{column}:"),
            Place::Path { path } => format!("{source}: {path}:"),
            Place::Document => format!("{source}:"),
        }
    }

    pub fn error(rule: &'static str, path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::at(Severity::Error, rule, path, message)
    }

    pub fn warning(
        rule: &'static str,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self::at(Severity::Warning, rule, path, message)
    }

    fn at(
        severity: Severity,
        rule: &'static str,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        let path = path.into();
        let place = if path.is_empty() {
            Place::Document
        } else {
            Place::Path { path }
        };
        Diagnostic {
            severity,
            rule,
            place,
            message: message.into(),
        }
    }
}

impl fmt::Display for Diagnostic {
    /// `forwards[0].backends[0]: "10.0.0.300:22" is not an address:port`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.place {
            Place::Document => f.write_str(&self.message),
            place => write!(f, "{place}: {}", self.message),
        }
    }
}

/// Writes `text` as a JSON string literal, so that quoted user input can never carry control
/// characters or line breaks into a message.
pub fn quote(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| String::from("\"?\""))
}
