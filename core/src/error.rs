//! Errors shared across modules: [`ConfigError`] (a configuration file, a line, what is
//! wrong: `ha.cf` and `authkeys` alike) and [`error_text`], an error and its sources on one
//! line for every thread and binary.

use std::fmt;
use std::path::PathBuf;

/// A configuration file error: where, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file.
    pub file: PathBuf,
    /// The 1-based line, or 0 for the whole file.
    pub line: usize,
    /// What is wrong.
    pub what: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.what)
        } else {
            write!(f, "{}:{}: {}", self.file.display(), self.line, self.what)
        }
    }
}

impl std::error::Error for ConfigError {}

/// An error and its sources, as one line: `what failed: why: why`.
pub fn error_text(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// The first source of an error, as text (empty when it has none).
pub(crate) trait SourceText {
    fn source_text(&self) -> String;
}

impl<E: std::error::Error> SourceText for E {
    fn source_text(&self) -> String {
        self.source().map(|s| s.to_string()).unwrap_or_default()
    }
}
