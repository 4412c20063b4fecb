//! ARNs and ARN patterns.
//!
//! An ARN has six colon-separated fields:
//! `arn:partition:service:region:account-id:resource`; the resource field may
//! itself hold colons. A `Resource` element or an `Arn*` condition value
//! matches field by field, each field with its own `*`/`?` wildcards, case
//! sensitively; a wildcard in one field never spans into the next, except in
//! the last field, which runs to the end of the ARN.
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html>,
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_ARN>

use crate::context::Context;
use crate::variables::Template;
use std::ops::Range;

/// An ARN (or any resource string) from a request, split once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arn {
    text: Box<str>,
    fields: Option<[Range<usize>; 6]>,
    /// Hash of the first five fields with their colons (`arn:aws:s3:::`).
    head_hash: u64,
}

/// What ARN patterns need of an ARN: the text, its fields, and (when known)
/// the hash of its first five fields.
pub trait ArnText {
    fn text(&self) -> &str;
    fn field_at(&self, i: usize) -> Option<&str>;
    fn is_arn(&self) -> bool;
    /// `None` when not precomputed.
    fn head_hash(&self) -> Option<u64> {
        None
    }
}

impl ArnText for Arn {
    fn text(&self) -> &str {
        &self.text
    }
    fn field_at(&self, i: usize) -> Option<&str> {
        self.field(i)
    }
    fn is_arn(&self) -> bool {
        self.fields.is_some()
    }
    fn head_hash(&self) -> Option<u64> {
        self.fields.as_ref().map(|_| self.head_hash)
    }
}

impl ArnText for ArnRef<'_> {
    fn text(&self) -> &str {
        self.text
    }
    fn field_at(&self, i: usize) -> Option<&str> {
        self.field(i)
    }
    fn is_arn(&self) -> bool {
        self.fields.is_some()
    }
}

fn head_hash_of(head: &str) -> u64 {
    crate::policy::name_hash(head)
}

impl Arn {
    pub fn new(text: &str) -> Arn {
        let fields = split_ranges(text);
        let head_hash = fields
            .as_ref()
            .and_then(|f| text.get(..f.get(5).map_or(0, |r| r.start)))
            .map_or(0, head_hash_of);
        Arn {
            text: text.into(),
            fields,
            head_hash,
        }
    }

    /// A borrowed view for matching.
    #[inline]
    pub fn view(&self) -> ArnRef<'_> {
        ArnRef {
            text: &self.text,
            fields: self.fields.clone(),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn is_arn(&self) -> bool {
        self.fields.is_some()
    }

    pub fn field(&self, i: usize) -> Option<&str> {
        let r = self.fields.as_ref()?.get(i)?.clone();
        self.text.get(r)
    }

    pub fn service(&self) -> Option<&str> {
        self.field(2)
    }

    pub fn account(&self) -> Option<&str> {
        self.field(4)
    }

    pub fn resource(&self) -> Option<&str> {
        self.field(5)
    }
}

/// A borrowed ARN split into fields, without allocating.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArnRef<'a> {
    text: &'a str,
    fields: Option<[Range<usize>; 6]>,
}

impl<'a> ArnRef<'a> {
    pub fn new(text: &'a str) -> Self {
        ArnRef {
            text,
            fields: split_ranges(text),
        }
    }

    pub fn as_str(&self) -> &'a str {
        self.text
    }

    /// Whether the text has the six ARN fields.
    pub fn is_arn(&self) -> bool {
        self.fields.is_some()
    }

    /// Field `i` (0 = `arn`, 5 = resource); `None` for a non-ARN.
    pub fn field(&self, i: usize) -> Option<&'a str> {
        let r = self.fields.as_ref()?.get(i)?.clone();
        self.text.get(r)
    }
}

fn split_ranges(text: &str) -> Option<[Range<usize>; 6]> {
    if !text.starts_with("arn:") {
        return None;
    }
    let mut out: [Range<usize>; 6] = Default::default();
    let mut start = 0;
    let mut n = 0;
    for (i, b) in text.bytes().enumerate() {
        if b == b':' && n < 5 {
            *out.get_mut(n)? = start..i;
            n += 1;
            start = i + 1;
        }
    }
    if n < 5 {
        return None;
    }
    *out.get_mut(5)? = start..text.len();
    Some(out)
}

/// Split a pattern into fields at colons that are not inside `${...}`.
fn split_pattern(s: &str) -> Vec<&str> {
    let mut out = Vec::with_capacity(6);
    let mut depth = 0usize;
    let mut start = 0usize;
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes.get(i) {
            Some(b'$') if bytes.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 1;
            }
            Some(b'}') if depth > 0 => depth -= 1,
            Some(b':') if depth == 0 && out.len() < 5 => {
                out.push(s.get(start..i).unwrap_or_default());
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    out.push(s.get(start..).unwrap_or_default());
    out
}

/// A compiled `Resource` value or `Arn*` condition value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArnPattern {
    /// `*`: every resource.
    Any,
    /// The first five fields are plain text (`arn:aws:s3:::`): one prefix
    /// comparison (a hash comparison when the ARN's is precomputed), then
    /// the resource field's template.
    Prefixed(Box<str>, u64, Template),
    /// Six fields, matched one by one.
    Fields(Box<[Template; 6]>),
    /// Not ARN-shaped (e.g. `arn:aws:*`): matched as one string.
    Whole(Template),
}

impl ArnPattern {
    pub fn parse(s: &str, variables: bool) -> ArnPattern {
        if s == "*" {
            return ArnPattern::Any;
        }
        let parts = split_pattern(s);
        let plain = |p: &&str| !(p.contains(['*', '?']) || variables && p.contains("${"));
        if parts.len() == 6 && parts.iter().take(5).all(plain) {
            let head: String = parts.iter().take(5).map(|p| format!("{p}:")).collect();
            let tail = Template::parse(parts.get(5).copied().unwrap_or(""), true, variables);
            let h = head_hash_of(&head);
            return ArnPattern::Prefixed(head.into(), h, tail);
        }
        if parts.len() == 6 {
            let t: Vec<Template> = parts
                .iter()
                .map(|p| Template::parse(p, true, variables))
                .collect();
            if let Ok(arr) = <[Template; 6]>::try_from(t) {
                return ArnPattern::Fields(Box::new(arr));
            }
        }
        ArnPattern::Whole(Template::parse(s, true, variables))
    }

    /// `None`: a variable could not be resolved (the element does not match).
    #[inline]
    pub fn matches(&self, arn: &impl ArnText, ctx: &Context) -> Option<bool> {
        match self {
            ArnPattern::Any => Some(true),
            ArnPattern::Whole(t) => t.matches(arn.text(), ctx),
            ArnPattern::Prefixed(head, hash, tail) => {
                let text = arn.text();
                let same_head = match arn.head_hash() {
                    // Equal hashes and lengths: confirm with the bytes only then.
                    Some(h) => {
                        h == *hash
                            && text.as_bytes().get(head.len().wrapping_sub(1)) == Some(&b':')
                            && crate::wildcard::str_starts_with(text, head)
                    }
                    None => crate::wildcard::str_starts_with(text, head),
                };
                if !same_head {
                    return Some(false);
                }
                tail.matches(text.get(head.len()..).unwrap_or_default(), ctx)
            }
            ArnPattern::Fields(f) => {
                if !arn.is_arn() {
                    return Some(false);
                }
                // Resource field first: it is the one that usually differs.
                let order = [5usize, 2, 4, 3, 1, 0];
                let mut unresolved = false;
                for i in order {
                    let (Some(t), Some(v)) = (f.get(i), arn.field_at(i)) else {
                        return Some(false);
                    };
                    match t.matches(v, ctx) {
                        Some(true) => {}
                        Some(false) => return Some(false),
                        None => unresolved = true,
                    }
                }
                if unresolved {
                    None
                } else {
                    Some(true)
                }
            }
        }
    }

    pub fn templates(&self) -> Vec<&Template> {
        match self {
            ArnPattern::Any => vec![],
            ArnPattern::Whole(t) | ArnPattern::Prefixed(_, _, t) => vec![t],
            ArnPattern::Fields(f) => f.iter().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, r: &str) -> Option<bool> {
        let mut c = Context::new();
        c.set("aws:username", "alice");
        ArnPattern::parse(p, true).matches(&ArnRef::new(r), &c)
    }

    // https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html
    #[test]
    fn fields_match_separately() {
        assert_eq!(
            m("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/a/b"),
            Some(true)
        );
        assert_eq!(
            m("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket2/a"),
            Some(false)
        );
        // A wildcard does not span fields: `*` in the account cannot eat
        // into the resource (as one string glob, it would).
        assert_eq!(
            m(
                "arn:aws:iam::*:user/*",
                "arn:aws:iam::111111111111:role/user/x"
            ),
            Some(false)
        );
        assert_eq!(
            m(
                "arn:aws:ec2:*:*:instance/*",
                "arn:aws:ec2:us-east-1:111111111111:instance/i-1"
            ),
            Some(true)
        );
        // The last field runs to the end, colons included.
        assert_eq!(
            m(
                "arn:aws:logs:*:*:log-group:app:*",
                "arn:aws:logs:eu-west-1:1:log-group:app:log-stream:x"
            ),
            Some(true)
        );
        // Case-sensitive.
        assert_eq!(m("arn:aws:s3:::Bucket", "arn:aws:s3:::bucket"), Some(false));
        assert_eq!(m("*", "anything"), Some(true));
        assert_eq!(m("arn:aws:s3:::b", "not-an-arn"), Some(false));
    }

    #[test]
    fn variables_in_resources() {
        assert_eq!(
            m(
                "arn:aws:s3:::home/${aws:username}/*",
                "arn:aws:s3:::home/alice/f"
            ),
            Some(true)
        );
        assert_eq!(
            m("arn:aws:iam::*:user/${aws:userid}", "arn:aws:iam::1:user/x"),
            None
        );
        // A colon inside a default does not split fields.
        assert_eq!(
            m("arn:aws:s3:::${aws:userid, 'a:b'}", "arn:aws:s3:::a:b"),
            Some(true)
        );
    }

    #[test]
    fn arn_fields() {
        let a = Arn::new("arn:aws:sts::333333333333:assumed-role/r/s");
        assert_eq!(a.service(), Some("sts"));
        assert_eq!(a.account(), Some("333333333333"));
        assert_eq!(a.resource(), Some("assumed-role/r/s"));
        assert!(!Arn::new("arn:aws:s3").is_arn());
        assert_eq!(a.view().field(1), Some("aws"));
    }
}
