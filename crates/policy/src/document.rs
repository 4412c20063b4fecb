//! The policy document as written: every element of the IAM JSON policy
//! grammar, each with the byte offset it was found at.
//!
//! This is the output of [`crate::parse`] and the input of both the compiler
//! ([`crate::Policy::compile`]) and the validator ([`crate::validate`]). It
//! keeps what a reviewer needs to point at a problem (offsets, whether an
//! element was written as a string or an array); it does not resolve anything.
//!
//! Grammar: <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html>

use std::fmt;

/// A value and the byte offset where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Located<T> {
    pub value: T,
    pub offset: usize,
}

/// The policy language versions AWS knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// `2012-10-17`: the current language, with policy variables.
    V2012_10_17,
    /// `2008-10-17`: the old language; `${...}` is literal text.
    V2008_10_17,
}

/// Which kind of policy a document is: decides which elements it may hold
/// and which evaluation layer it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PolicyType {
    /// Attached to a user, group or role (inline or managed).
    Identity,
    /// Attached to a resource, including a role's trust policy.
    Resource,
    /// A managed policy used as a user's or role's permissions boundary.
    PermissionBoundary,
    /// Passed to `AssumeRole` and friends (`Policy` / `PolicyArns`).
    Session,
    /// An Organizations service control policy.
    Scp,
    /// An Organizations resource control policy.
    Rcp,
}

impl PolicyType {
    /// The name used in `ward policy eval` input and output.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyType::Identity => "identity",
            PolicyType::Resource => "resource",
            PolicyType::PermissionBoundary => "permission_boundary",
            PolicyType::Session => "session",
            PolicyType::Scp => "scp",
            PolicyType::Rcp => "rcp",
        }
    }

    /// Parse the name used in `ward policy eval` input and `--type` flags.
    pub fn from_name(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().replace('-', "_").as_str() {
            "identity" => PolicyType::Identity,
            "resource" | "trust" => PolicyType::Resource,
            "permission_boundary" | "permissions_boundary" | "boundary" => {
                PolicyType::PermissionBoundary
            }
            "session" => PolicyType::Session,
            "scp" | "service_control_policy" => PolicyType::Scp,
            "rcp" | "resource_control_policy" => PolicyType::Rcp,
            _ => return None,
        })
    }

    /// The phrase AWS uses for this type in AccessDenied messages
    /// ("no identity-based policy allows", "with an explicit deny in a
    /// service control policy").
    pub fn phrase(self) -> &'static str {
        match self {
            PolicyType::Identity => "identity-based policy",
            PolicyType::Resource => "resource-based policy",
            PolicyType::PermissionBoundary => "permissions boundary",
            PolicyType::Session => "session policy",
            PolicyType::Scp => "service control policy",
            PolicyType::Rcp => "resource control policy",
        }
    }
}

impl fmt::Display for PolicyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `Allow` or `Deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// A whole policy document.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub version: Option<Located<String>>,
    pub id: Option<Located<String>>,
    pub statements: Vec<Statement>,
    /// `Statement` was written as a single object rather than an array.
    pub statement_is_object: bool,
}

/// The condition keys a document refers to — in `Condition` blocks and as
/// `${...}` policy variables in resources and condition values — each once
/// (compared case-insensitively), in the order they first appear; what
/// `GetContextKeysForCustomPolicy` answers.
pub fn context_keys(doc: &Document) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |k: &str| {
        if !out.iter().any(|x| x.eq_ignore_ascii_case(k)) {
            out.push(k.to_string());
        }
    };
    let variables = |text: &str, add: &mut dyn FnMut(&str)| {
        let mut rest = text;
        while let Some(i) = rest.find("${") {
            let after = rest.get(i + 2..).unwrap_or("");
            let Some(end) = after.find('}') else { break };
            let inner = after.get(..end).unwrap_or("");
            let key = inner.split(',').next().unwrap_or("").trim();
            if !key.is_empty() && !matches!(key, "*" | "?" | "$") {
                add(key);
            }
            rest = after.get(end + 1..).unwrap_or("");
        }
    };
    for st in &doc.statements {
        if let Some(r) = &st.resource {
            for item in &r.items {
                variables(&item.value, &mut add);
            }
        }
        for c in &st.conditions {
            add(&c.key.value);
            for v in &c.values {
                variables(&v.value, &mut add);
            }
        }
    }
    out
}

/// Where the JSON object that starts at `start` in `text` ends (the offset
/// just past its closing brace), skipping braces inside strings.
pub fn object_end(text: &str, start: usize) -> usize {
    let bytes = text.as_bytes();
    let (mut depth, mut in_str, mut esc) = (0usize, false, false);
    for (i, &b) in bytes.iter().enumerate().skip(start) {
        if in_str {
            if esc {
                esc = false;
            } else if b == b'\\' {
                esc = true;
            } else if b == b'"' {
                in_str = false;
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'{' => depth += 1,
            b'}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
    }
    text.len()
}

impl Document {
    /// The language version in force (a document without `Version` is read
    /// with the 2008-10-17 rules, as AWS does).
    pub fn version(&self) -> Version {
        match self.version.as_ref().map(|v| v.value.as_str()) {
            Some("2012-10-17") => Version::V2012_10_17,
            _ => Version::V2008_10_17,
        }
    }
}

/// An `Action`/`NotAction` or `Resource`/`NotResource` element.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    /// `NotAction` / `NotResource`.
    pub negated: bool,
    /// The element was a single string, not an array.
    pub single: bool,
    pub offset: usize,
    pub items: Vec<Located<String>>,
}

/// One statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub offset: usize,
    pub sid: Option<Located<String>>,
    pub effect: Located<Effect>,
    pub principal: Option<PrincipalBlock>,
    pub action: Block,
    pub resource: Option<Block>,
    pub conditions: Vec<Condition>,
    pub condition_offset: Option<usize>,
}

/// The key of a `Principal` map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalKey {
    Aws,
    Service,
    Federated,
    CanonicalUser,
}

impl PrincipalKey {
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalKey::Aws => "AWS",
            PrincipalKey::Service => "Service",
            PrincipalKey::Federated => "Federated",
            PrincipalKey::CanonicalUser => "CanonicalUser",
        }
    }
}

/// A `Principal` or `NotPrincipal` element.
#[derive(Debug, Clone, PartialEq)]
pub struct PrincipalBlock {
    pub negated: bool,
    pub offset: usize,
    /// Written as the bare string `"*"`.
    pub wildcard: bool,
    pub entries: Vec<(PrincipalKey, Located<String>)>,
}

/// A set qualifier on a condition operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetQualifier {
    ForAllValues,
    ForAnyValue,
}

/// The base condition operators (the `...IfExists` suffix and set
/// qualifiers are kept beside it in [`Operator`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringNotEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    NumericEquals,
    NumericNotEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateNotEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    BinaryEquals,
    IpAddress,
    NotIpAddress,
    ArnEquals,
    ArnLike,
    ArnNotEquals,
    ArnNotLike,
    Null,
}

/// The operator families of the documentation, one module each under
/// [`crate::condition`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    String,
    Numeric,
    Date,
    Bool,
    Binary,
    Ip,
    Arn,
    Null,
}

impl OpKind {
    pub const ALL: [OpKind; 27] = [
        OpKind::StringEquals,
        OpKind::StringNotEquals,
        OpKind::StringEqualsIgnoreCase,
        OpKind::StringNotEqualsIgnoreCase,
        OpKind::StringLike,
        OpKind::StringNotLike,
        OpKind::NumericEquals,
        OpKind::NumericNotEquals,
        OpKind::NumericLessThan,
        OpKind::NumericLessThanEquals,
        OpKind::NumericGreaterThan,
        OpKind::NumericGreaterThanEquals,
        OpKind::DateEquals,
        OpKind::DateNotEquals,
        OpKind::DateLessThan,
        OpKind::DateLessThanEquals,
        OpKind::DateGreaterThan,
        OpKind::DateGreaterThanEquals,
        OpKind::Bool,
        OpKind::BinaryEquals,
        OpKind::IpAddress,
        OpKind::NotIpAddress,
        OpKind::ArnEquals,
        OpKind::ArnLike,
        OpKind::ArnNotEquals,
        OpKind::ArnNotLike,
        OpKind::Null,
    ];

    pub fn name(self) -> &'static str {
        match self {
            OpKind::StringEquals => "StringEquals",
            OpKind::StringNotEquals => "StringNotEquals",
            OpKind::StringEqualsIgnoreCase => "StringEqualsIgnoreCase",
            OpKind::StringNotEqualsIgnoreCase => "StringNotEqualsIgnoreCase",
            OpKind::StringLike => "StringLike",
            OpKind::StringNotLike => "StringNotLike",
            OpKind::NumericEquals => "NumericEquals",
            OpKind::NumericNotEquals => "NumericNotEquals",
            OpKind::NumericLessThan => "NumericLessThan",
            OpKind::NumericLessThanEquals => "NumericLessThanEquals",
            OpKind::NumericGreaterThan => "NumericGreaterThan",
            OpKind::NumericGreaterThanEquals => "NumericGreaterThanEquals",
            OpKind::DateEquals => "DateEquals",
            OpKind::DateNotEquals => "DateNotEquals",
            OpKind::DateLessThan => "DateLessThan",
            OpKind::DateLessThanEquals => "DateLessThanEquals",
            OpKind::DateGreaterThan => "DateGreaterThan",
            OpKind::DateGreaterThanEquals => "DateGreaterThanEquals",
            OpKind::Bool => "Bool",
            OpKind::BinaryEquals => "BinaryEquals",
            OpKind::IpAddress => "IpAddress",
            OpKind::NotIpAddress => "NotIpAddress",
            OpKind::ArnEquals => "ArnEquals",
            OpKind::ArnLike => "ArnLike",
            OpKind::ArnNotEquals => "ArnNotEquals",
            OpKind::ArnNotLike => "ArnNotLike",
            OpKind::Null => "Null",
        }
    }

    pub fn family(self) -> Family {
        use OpKind::*;
        match self {
            StringEquals
            | StringNotEquals
            | StringEqualsIgnoreCase
            | StringNotEqualsIgnoreCase
            | StringLike
            | StringNotLike => Family::String,
            NumericEquals
            | NumericNotEquals
            | NumericLessThan
            | NumericLessThanEquals
            | NumericGreaterThan
            | NumericGreaterThanEquals => Family::Numeric,
            DateEquals
            | DateNotEquals
            | DateLessThan
            | DateLessThanEquals
            | DateGreaterThan
            | DateGreaterThanEquals => Family::Date,
            Bool => Family::Bool,
            BinaryEquals => Family::Binary,
            IpAddress | NotIpAddress => Family::Ip,
            ArnEquals | ArnLike | ArnNotEquals | ArnNotLike => Family::Arn,
            Null => Family::Null,
        }
    }

    /// Negated operators ("NotEquals", "NotLike", "NotIpAddress") are true
    /// when the request value matches none of the policy values, and true
    /// when the key is absent.
    pub fn is_negated(self) -> bool {
        use OpKind::*;
        matches!(
            self,
            StringNotEquals
                | StringNotEqualsIgnoreCase
                | StringNotLike
                | NumericNotEquals
                | DateNotEquals
                | NotIpAddress
                | ArnNotEquals
                | ArnNotLike
        )
    }
}

/// A parsed condition operator such as `ForAnyValue:StringLikeIfExists`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operator {
    pub kind: OpKind,
    pub qualifier: Option<SetQualifier>,
    pub if_exists: bool,
}

impl Operator {
    /// Parse an operator name. Names are matched exactly, as AWS does.
    pub fn parse(name: &str) -> Option<Operator> {
        let (qualifier, rest) = if let Some(r) = name.strip_prefix("ForAllValues:") {
            (Some(SetQualifier::ForAllValues), r)
        } else if let Some(r) = name.strip_prefix("ForAnyValue:") {
            (Some(SetQualifier::ForAnyValue), r)
        } else {
            (None, name)
        };
        let (if_exists, base) = match rest.strip_suffix("IfExists") {
            Some(b) => (true, b),
            None => (false, rest),
        };
        let kind = OpKind::ALL.into_iter().find(|k| k.name() == base)?;
        Some(Operator {
            kind,
            qualifier,
            if_exists,
        })
    }
}

/// One key of one condition operator: `"StringEquals": {"aws:username": ["a", "b"]}`
/// yields one `Condition` with two values.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub operator: Located<String>,
    pub op: Operator,
    pub key: Located<String>,
    /// Values as strings (JSON numbers and booleans are kept as written).
    pub values: Vec<Located<String>>,
    /// The values were a single scalar rather than an array.
    pub single: bool,
}

#[cfg(test)]
mod context_key_tests {
    use super::*;

    #[test]
    fn keys_from_conditions_and_variables_once() {
        let text = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/${aws:username}/*","Condition":{"StringEquals":{"aws:PrincipalTag/team":"${aws:PrincipalTag/team}","AWS:USERNAME":"x"},"Bool":{"aws:MultiFactorAuthPresent":"true"}}}]}"#;
        let d = crate::parse(text, PolicyType::Identity).unwrap();
        assert_eq!(
            context_keys(&d),
            [
                "aws:username",
                "aws:PrincipalTag/team",
                "aws:MultiFactorAuthPresent"
            ]
        );
        let start = d.statements[0].offset;
        let end = object_end(text, start);
        assert_eq!(&text[end - 3..end], "}}}");
        assert_eq!(end, text.len() - 2);
    }
}
