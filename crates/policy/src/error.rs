//! Errors of the policy parser: what is wrong, in AWS's words where AWS has
//! them, and exactly where (JSON path, line, column).

use std::fmt;

/// A policy document that cannot be used. `message` is the text AWS returns
/// with `MalformedPolicyDocument` where AWS has one; `detail` adds what AWS
/// leaves out (which JSON rule was broken).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    /// A stable issue code in Access Analyzer's style (`JSON_SYNTAX_ERROR`,
    /// `INVALID_ARN_RESOURCE`, ...).
    pub code: &'static str,
    pub message: String,
    pub detail: Option<String>,
    /// JSON path of the offending element, e.g. `Statement[1].Condition`.
    pub path: String,
    /// 1-based line and column of the offending element.
    pub line: u32,
    pub column: u32,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(d) = &self.detail {
            write!(f, " ({d})")?;
        }
        write!(
            f,
            " at {}, line {}, column {}",
            self.path, self.line, self.column
        )
    }
}

impl std::error::Error for PolicyError {}
