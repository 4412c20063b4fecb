//! Condition operators: compiled once, evaluated against the request context.
//!
//! One module per operator family, mirroring
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html>.
//! The logic shared by every family lives here:
//!
//! - several values for one key are OR'ed; several keys, and several
//!   operators, are AND'ed (by the caller);
//! - a negated operator (`StringNotEquals`, `NotIpAddress`, ...) is true when
//!   the request value matches *none* of the values, and true when the key
//!   is absent;
//! - a positive operator on an absent key is false; `...IfExists` makes an
//!   absent key true for every operator;
//! - `ForAnyValue:` is true when at least one request value matches (false
//!   for an absent key or an empty set); `ForAllValues:` is true when every
//!   request value matches (true for an absent key or an empty set)
//!   (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html>);
//! - without a qualifier, a multivalued key behaves as with `ForAnyValue:`;
//! - `Null` asks only whether the key is present.

mod arn;
mod binary;
mod bool;
mod date;
mod ip;
mod null;
mod numeric;
mod string;

pub use date::parse_date;

use crate::arn::ArnPattern;
use crate::context::{Context, ContextValue, Key, Typed};
use crate::document::{Condition as ConditionAst, Family, OpKind, Operator, SetQualifier, Version};
use crate::variables::Template;

/// The policy values of one condition, parsed for their family.
#[derive(Debug, Clone, PartialEq)]
enum Values {
    /// String family: exact / like templates (variables allowed).
    Str(Vec<Template>),
    /// Numbers; `None` where the policy value is not a number (never matches).
    Num(Vec<Option<f64>>),
    /// Instants in nanoseconds since the epoch.
    Date(Vec<Option<i128>>),
    Bool(Vec<Option<bool>>),
    Bin(Vec<Option<Vec<u8>>>),
    Ip(Vec<Option<ipnet::IpNet>>),
    Arn(Vec<ArnPattern>),
    /// `Null`: `true` asks for an absent key, `false` for a present one.
    Null(Vec<Option<bool>>),
}

/// One compiled condition: an operator, a key and its values.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    op: Operator,
    key: Box<str>,
    key_lower: Key,
    values: Values,
}

/// The outcome of one condition, and whether its key was absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub value: bool,
    pub missing: bool,
}

impl Condition {
    /// Compile a condition of a document with the given language version.
    pub fn compile(c: &ConditionAst, version: Version) -> Condition {
        let vars = version == Version::V2012_10_17;
        let raw = c.values.iter().map(|v| v.value.as_str());
        let values = match c.op.kind.family() {
            Family::String => {
                let wild = matches!(c.op.kind, OpKind::StringLike | OpKind::StringNotLike);
                Values::Str(raw.map(|v| Template::parse(v, wild, vars)).collect())
            }
            Family::Numeric => Values::Num(raw.map(numeric::parse).collect()),
            Family::Date => Values::Date(raw.map(parse_date).collect()),
            Family::Bool => Values::Bool(raw.map(bool::parse).collect()),
            Family::Binary => Values::Bin(raw.map(binary::parse).collect()),
            Family::Ip => Values::Ip(raw.map(ip::parse).collect()),
            Family::Arn => Values::Arn(raw.map(|v| ArnPattern::parse(v, vars)).collect()),
            Family::Null => Values::Null(raw.map(bool::parse).collect()),
        };
        Condition {
            op: c.op,
            key: c.key.value.as_str().into(),
            key_lower: Key::new(&c.key.value),
            values,
        }
    }

    /// Whether the request lacks this condition's key (`Null` asks about
    /// presence itself, so its key is never "missing").
    #[inline]
    pub fn key_is_absent(&self, ctx: &Context) -> bool {
        !matches!(self.values, Values::Null(_)) && ctx.lookup(&self.key_lower).is_none()
    }

    /// The key as written in the policy.
    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn operator(&self) -> Operator {
        self.op
    }

    /// Evaluate against the request context.
    pub fn evaluate(&self, ctx: &Context) -> Outcome {
        let entry = ctx.entry(&self.key_lower);
        let found = entry.map(|e| e.value());
        if let Values::Null(vals) = &self.values {
            return Outcome {
                value: null::evaluate(vals, found),
                missing: false,
            };
        }
        let typed = entry.and_then(|e| e.typed());
        let negated = self.op.kind.is_negated();
        let Some(found) = found else {
            // Absent key.
            let value = self.op.if_exists
                || match self.op.qualifier {
                    Some(SetQualifier::ForAllValues) => true,
                    Some(SetQualifier::ForAnyValue) => false,
                    None => negated,
                };
            return Outcome {
                value,
                missing: true,
            };
        };
        let rvs = found.values();
        // Per request value: does it match any policy value (base operator)?
        let mut any_hit = false;
        let mut all_hit = true;
        for rv in rvs {
            let hit = self.any_value_matches(rv, typed, ctx);
            any_hit |= hit;
            all_hit &= hit;
        }
        let value = match (self.op.qualifier, found) {
            (Some(SetQualifier::ForAllValues), _) => {
                if rvs.is_empty() {
                    true
                } else if negated {
                    // Every request value matches none of the policy values.
                    !any_hit
                } else {
                    all_hit
                }
            }
            (Some(SetQualifier::ForAnyValue), _) => {
                if rvs.is_empty() {
                    false
                } else if negated {
                    // Some request value matches none of the policy values.
                    !all_hit
                } else {
                    any_hit
                }
            }
            (None, ContextValue::Multi(v)) if v.is_empty() => negated,
            (None, _) => {
                if negated {
                    !any_hit
                } else {
                    any_hit
                }
            }
        };
        Outcome {
            value,
            missing: false,
        }
    }

    /// Whether one request value matches at least one policy value under the
    /// positive form of the operator.
    /// `typed`: cached readings of the value when the key is single-valued.
    fn any_value_matches(&self, rv: &str, typed: Option<&Typed>, ctx: &Context) -> bool {
        let kind = self.op.kind;
        match &self.values {
            Values::Str(ts) => string::any(kind, ts, rv, ctx),
            Values::Num(ns) => numeric::any(
                kind,
                ns,
                typed.map_or_else(|| numeric::parse(rv), |t| t.num(rv, numeric::parse)),
            ),
            Values::Date(ds) => date::any(
                kind,
                ds,
                typed.map_or_else(|| parse_date(rv), |t| t.date(rv, parse_date)),
            ),
            Values::Bool(bs) => bool::any(bs, rv),
            Values::Bin(bs) => binary::any(bs, rv),
            Values::Ip(ns) => ip::any(
                ns,
                typed.map_or_else(|| ip::parse_addr(rv), |t| t.ip(rv, ip::parse_addr)),
            ),
            Values::Arn(ps) => arn::any(ps, rv, ctx),
            Values::Null(_) => false,
        }
    }

    /// The variable keys referenced by the values (lowercased).
    pub fn variable_keys(&self) -> Vec<&str> {
        match &self.values {
            Values::Str(ts) => ts.iter().flat_map(|t| t.variable_keys()).collect(),
            Values::Arn(ps) => ps
                .iter()
                .flat_map(|p| p.templates())
                .flat_map(|t| t.variable_keys())
                .collect(),
            _ => vec![],
        }
    }
}

/// Whether a policy value parses for the operator's family (the validator
/// reports values that never match).
pub fn value_is_valid(kind: OpKind, v: &str) -> bool {
    match kind.family() {
        Family::String | Family::Arn => true,
        Family::Numeric => numeric::parse(v).is_some(),
        Family::Date => parse_date(v).is_some(),
        Family::Bool | Family::Null => bool::parse(v).is_some(),
        Family::Binary => binary::parse(v).is_some(),
        Family::Ip => ip::parse(v).is_some(),
    }
}

#[cfg(test)]
mod tests;
