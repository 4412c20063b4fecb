//! Policy review in the manner of IAM Access Analyzer's policy validation:
//! findings with a severity, an issue code, a message and a location.
//!
//! Codes follow
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/access-analyzer-reference-policy-checks.html>
//! where Access Analyzer has a check; Ward's own checks use codes in the same
//! style (`ALLOW_WITH_NOT_ACTION`, `TRUST_POLICY_ALLOWS_ANY_PRINCIPAL`).
//! A document that does not parse yields exactly one ERROR: the parser's.

use crate::condition::value_is_valid;
use crate::document::*;
use crate::json::LineIndex;
use crate::wildcard::{glob, tokens};
use std::fmt;

/// Access Analyzer's finding types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    SecurityWarning,
    Warning,
    Suggestion,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "ERROR",
            Severity::SecurityWarning => "SECURITY_WARNING",
            Severity::Warning => "WARNING",
            Severity::Suggestion => "SUGGESTION",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    pub code: &'static str,
    pub message: String,
    pub path: String,
    pub line: u32,
    pub column: u32,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {} {}: {} (at {})",
            self.line, self.column, self.severity, self.code, self.message, self.path
        )
    }
}

/// Global condition keys that hold one value
/// (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html>).
const SINGLE_VALUED: &[&str] = &[
    "aws:currenttime",
    "aws:epochtime",
    "aws:federatedprovider",
    "aws:multifactorauthage",
    "aws:multifactorauthpresent",
    "aws:principalaccount",
    "aws:principalarn",
    "aws:principalisawsservice",
    "aws:principalorgid",
    "aws:principalservicename",
    "aws:principaltype",
    "aws:referer",
    "aws:requestedregion",
    "aws:resourceaccount",
    "aws:resourceorgid",
    "aws:securetransport",
    "aws:sourceaccount",
    "aws:sourcearn",
    "aws:sourceidentity",
    "aws:sourceip",
    "aws:sourceorgid",
    "aws:sourcevpc",
    "aws:sourcevpce",
    "aws:tokenissuetime",
    "aws:useragent",
    "aws:userid",
    "aws:username",
    "aws:viaawsservice",
    "aws:vpcsourceip",
    "aws:ec2instancesourceprivateipv4",
    "aws:ec2instancesourcevpc",
    "sts:externalid",
    "sts:rolesessionname",
    "sts:sourceidentity",
    "iam:passedtoservice",
    "iam:permissionsboundary",
    "iam:policyarn",
];

/// Global condition keys that hold several values.
const MULTI_VALUED: &[&str] = &[
    "aws:calledvia",
    "aws:calledviafirst",
    "aws:calledvialast",
    "aws:principalorgpaths",
    "aws:principalservicenameslist",
    "aws:resourceorgpaths",
    "aws:sourceorgpaths",
    "aws:tagkeys",
    "sts:transitivetagkeys",
];

/// Tag keys: `aws:PrincipalTag/<k>` and friends are single-valued.
const TAG_PREFIXES: &[&str] = &["aws:principaltag/", "aws:requesttag/", "aws:resourcetag/"];

fn is_single_valued(key_lower: &str) -> bool {
    SINGLE_VALUED
        .iter()
        .any(|k| k.eq_ignore_ascii_case(key_lower))
        || TAG_PREFIXES.iter().any(|p| key_lower.starts_with(p))
}

fn is_multi_valued(key_lower: &str) -> bool {
    MULTI_VALUED.contains(&key_lower)
}

fn is_known_global(key_lower: &str) -> bool {
    is_single_valued(key_lower) || is_multi_valued(key_lower)
}

const PARTITIONS: &[&str] = &[
    "aws",
    "aws-cn",
    "aws-us-gov",
    "aws-iso",
    "aws-iso-b",
    "aws-iso-e",
    "aws-iso-f",
    "aws-eusc",
];

struct V<'a> {
    text: &'a str,
    lines: LineIndex,
    out: Vec<Finding>,
}

impl V<'_> {
    fn push(
        &mut self,
        severity: Severity,
        code: &'static str,
        message: String,
        path: String,
        offset: usize,
    ) {
        let (line, column) = self.lines.line_col(self.text, offset);
        self.out.push(Finding {
            severity,
            code,
            message,
            path,
            line,
            column,
        });
    }
}

/// Review a policy document of the given type.
pub fn validate(text: &str, ty: PolicyType) -> Vec<Finding> {
    let doc = match crate::parse::parse(text, ty) {
        Ok(d) => d,
        Err(e) => {
            let message = match &e.detail {
                Some(d) => format!("{} ({d})", e.message),
                None => e.message.clone(),
            };
            return vec![Finding {
                severity: Severity::Error,
                code: e.code,
                message,
                path: e.path,
                line: e.line,
                column: e.column,
            }];
        }
    };
    let mut v = V {
        text,
        lines: LineIndex::new(text),
        out: Vec::new(),
    };
    check_document(&mut v, &doc, ty);
    v.out.sort_by_key(|f| (f.line, f.column, f.severity));
    v.out
}

fn check_document(v: &mut V<'_>, doc: &Document, ty: PolicyType) {
    match &doc.version {
        None => v.push(
            Severity::Warning,
            "MISSING_VERSION",
            "add `\"Version\": \"2012-10-17\"`: without it the policy is read with the 2008-10-17 rules and policy variables are literal text".into(),
            "$".into(),
            0,
        ),
        Some(ver) if ver.value == "2008-10-17" => v.push(
            Severity::Warning,
            "OUTDATED_VERSION",
            "`2008-10-17` is the old policy language: use `2012-10-17`, which supports policy variables".into(),
            "Version".into(),
            ver.offset,
        ),
        Some(_) => {}
    }
    let vars = doc.version() == Version::V2012_10_17;
    for (i, s) in doc.statements.iter().enumerate() {
        let base = if doc.statement_is_object {
            "Statement".to_string()
        } else {
            format!("Statement[{i}]")
        };
        check_statement(v, s, &base, ty, vars);
    }
    // Identical statements.
    for (i, s) in doc.statements.iter().enumerate() {
        if let Some(j) = doc
            .statements
            .iter()
            .take(i)
            .position(|o| same_statement(o, s))
        {
            v.push(
                Severity::Suggestion,
                "REDUNDANT_STATEMENT",
                format!("this statement repeats statement {j}: remove one"),
                format!("Statement[{i}]"),
                s.offset,
            );
        }
    }
}

fn same_statement(a: &Statement, b: &Statement) -> bool {
    let items = |blk: &Block| {
        blk.items
            .iter()
            .map(|x| x.value.clone())
            .collect::<Vec<_>>()
    };
    let conds = |s: &Statement| {
        s.conditions
            .iter()
            .map(|c| {
                (
                    c.operator.value.clone(),
                    c.key.value.to_lowercase(),
                    c.values.iter().map(|x| x.value.clone()).collect::<Vec<_>>(),
                )
            })
            .collect::<Vec<_>>()
    };
    let principal = |s: &Statement| {
        s.principal.as_ref().map(|p| {
            (
                p.negated,
                p.wildcard,
                p.entries
                    .iter()
                    .map(|(k, x)| (k.as_str(), x.value.clone()))
                    .collect::<Vec<_>>(),
            )
        })
    };
    a.effect.value == b.effect.value
        && a.action.negated == b.action.negated
        && items(&a.action) == items(&b.action)
        && a.resource.as_ref().map(|r| (r.negated, items(r)))
            == b.resource.as_ref().map(|r| (r.negated, items(r)))
        && principal(a) == principal(b)
        && conds(a) == conds(b)
}

fn item_path(base: &str, name: &str, blk: &Block, i: usize) -> String {
    if blk.single {
        format!("{base}.{name}")
    } else {
        format!("{base}.{name}[{i}]")
    }
}

fn check_statement(v: &mut V<'_>, s: &Statement, base: &str, ty: PolicyType, vars: bool) {
    let allow = s.effect.value == Effect::Allow;
    let aname = if s.action.negated {
        "NotAction"
    } else {
        "Action"
    };
    let rname = if s.resource.as_ref().is_some_and(|r| r.negated) {
        "NotResource"
    } else {
        "Resource"
    };

    // Actions: shape, redundancy.
    for (i, a) in s.action.items.iter().enumerate() {
        if !action_is_well_formed(&a.value) {
            v.push(
                Severity::Error,
                "INVALID_ACTION",
                format!("`{}` is not a valid action: write `service:ActionName` (letters, digits, `*` and `?`)", a.value),
                item_path(base, aname, &s.action, i),
                a.offset,
            );
        }
        if a.value.contains("${") {
            v.push(
                Severity::Error,
                "VARIABLE_IN_ACTION",
                "policy variables are not resolved in actions".into(),
                item_path(base, aname, &s.action, i),
                a.offset,
            );
        }
    }
    redundant(
        v,
        &s.action,
        base,
        aname,
        true,
        "REDUNDANT_ACTION",
        "action",
    );

    // Resources: ARN shape, redundancy, variables under the old version.
    if let Some(r) = &s.resource {
        for (i, item) in r.items.iter().enumerate() {
            if let Some(problem) = arn_problem(&item.value) {
                v.push(
                    Severity::Error,
                    "INVALID_ARN_RESOURCE",
                    format!("`{}` is not a valid ARN: {problem}", item.value),
                    item_path(base, rname, r, i),
                    item.offset,
                );
            }
            if !vars && item.value.contains("${") {
                v.push(
                    Severity::Error,
                    "VARIABLE_UNSUPPORTED_IN_VERSION",
                    "policy variables need `\"Version\": \"2012-10-17\"`; here `${...}` is literal text".into(),
                    item_path(base, rname, r, i),
                    item.offset,
                );
            }
        }
        redundant(v, r, base, rname, false, "REDUNDANT_RESOURCE", "resource");
    }

    // Broad grants.
    let all_resources = s
        .resource
        .as_ref()
        .is_none_or(|r| !r.negated && r.items.iter().any(|x| x.value == "*"));
    if allow && s.action.negated && all_resources {
        v.push(
            Severity::SecurityWarning,
            "ALLOW_WITH_NOT_ACTION",
            "`Allow` with `NotAction` on every resource grants every action of every service except those listed, including actions added later: list the actions to allow instead".into(),
            format!("{base}.NotAction"),
            s.action.offset,
        );
    }
    if let Some(r) = s.resource.as_ref().filter(|r| allow && r.negated) {
        v.push(
            Severity::SecurityWarning,
            "ALLOW_WITH_NOT_RESOURCE",
            "`Allow` with `NotResource` grants the actions on every resource except those listed, including resources created later: list the resources to allow instead".into(),
            format!("{base}.NotResource"),
            r.offset,
        );
    }
    if allow && matches_pass_role(&s.action) {
        let star = s.resource.as_ref().is_some_and(|r| {
            r.negated
                || r.items
                    .iter()
                    .any(|x| x.value == "*" || x.value == "arn:aws:iam::*:role/*")
        });
        if star {
            v.push(
                Severity::SecurityWarning,
                "PASS_ROLE_WITH_STAR_IN_RESOURCE",
                "`iam:PassRole` on `*` lets the principal pass any role, and so gain its permissions: name the roles (and add `iam:PassedToService`)".into(),
                format!("{base}.Resource"),
                s.resource.as_ref().map_or(s.offset, |r| r.offset),
            );
        }
    }

    // Principals.
    if let Some(p) = &s.principal {
        if p.negated && allow {
            v.push(
                Severity::SecurityWarning,
                "ALLOW_WITH_NOT_PRINCIPAL",
                "`Allow` with `NotPrincipal` grants access to every principal except those listed, anonymous callers included".into(),
                format!("{base}.NotPrincipal"),
                p.offset,
            );
        }
        let any = p.wildcard
            || p.entries
                .iter()
                .any(|(k, x)| *k == PrincipalKey::Aws && x.value == "*");
        if ty == PolicyType::Resource && allow && !p.negated && any && s.conditions.is_empty() {
            let assume = s
                .action
                .items
                .iter()
                .any(|a| a.value == "*" || a.value.to_ascii_lowercase().starts_with("sts:"));
            if assume {
                v.push(
                    Severity::SecurityWarning,
                    "TRUST_POLICY_ALLOWS_ANY_PRINCIPAL",
                    "any principal of any account may assume this role: name the trusted principals or add a condition such as `aws:PrincipalOrgID` or `sts:ExternalId`".into(),
                    format!("{base}.Principal"),
                    p.offset,
                );
            } else {
                v.push(
                    Severity::SecurityWarning,
                    "PUBLIC_ACCESS",
                    "`\"Principal\": \"*\"` without a condition grants access to everyone, anonymous callers included".into(),
                    format!("{base}.Principal"),
                    p.offset,
                );
            }
        }
    }

    // Conditions.
    for c in &s.conditions {
        let cpath = format!("{base}.Condition.{}.{}", c.operator.value, c.key.value);
        let kl = c.key.value.to_lowercase();
        match c.op.qualifier {
            Some(SetQualifier::ForAllValues) if is_single_valued(&kl) => v.push(
                Severity::SecurityWarning,
                "FORALLVALUES_WITH_SINGLE_VALUED_KEY",
                format!("`{}` holds one value: `ForAllValues:` is also true when the key is absent, which is rarely meant; drop the qualifier", c.key.value),
                cpath.clone(),
                c.operator.offset,
            ),
            Some(SetQualifier::ForAnyValue) if is_single_valued(&kl) => v.push(
                Severity::Warning,
                "FORANYVALUE_WITH_SINGLE_VALUED_KEY",
                format!("`{}` holds one value: drop the `ForAnyValue:` qualifier", c.key.value),
                cpath.clone(),
                c.operator.offset,
            ),
            None if is_multi_valued(&kl) && c.op.kind != OpKind::Null => v.push(
                Severity::Warning,
                "MISSING_QUALIFIER",
                format!("`{}` holds several values: say `ForAllValues:` or `ForAnyValue:`", c.key.value),
                cpath.clone(),
                c.operator.offset,
            ),
            _ => {}
        }
        if kl.starts_with("aws:") && !is_known_global(&kl) {
            v.push(
                Severity::Warning,
                "INVALID_CONTEXT_KEY",
                format!(
                    "`{}` is not a global condition key: the request will never carry it",
                    c.key.value
                ),
                cpath.clone(),
                c.key.offset,
            );
        }
        if c.values.is_empty() {
            v.push(
                Severity::Warning,
                "EMPTY_ARRAY_CONDITION",
                "an empty list of values matches nothing".into(),
                cpath.clone(),
                c.key.offset,
            );
        }
        for x in &c.values {
            if !value_is_valid(c.op.kind, &x.value) {
                v.push(
                    Severity::Error,
                    "INVALID_CONDITION_VALUE",
                    format!(
                        "`{}` is not a valid value for `{}`: {}",
                        x.value,
                        c.op.kind.name(),
                        match c.op.kind.family() {
                            Family::Numeric => "write a number",
                            Family::Date => "write an ISO 8601 date or epoch seconds",
                            Family::Bool | Family::Null => "write `true` or `false`",
                            Family::Binary => "write base64",
                            Family::Ip => "write an IPv4 or IPv6 address or CIDR block",
                            _ => "",
                        }
                    ),
                    cpath.clone(),
                    x.offset,
                );
            }
            if x.value.contains("${") && !matches!(c.op.kind.family(), Family::String | Family::Arn)
            {
                v.push(
                    Severity::Error,
                    "VARIABLE_UNSUPPORTED_IN_OPERATOR",
                    format!(
                        "policy variables work only with String and ARN operators, not `{}`",
                        c.op.kind.name()
                    ),
                    cpath.clone(),
                    x.offset,
                );
            } else if x.value.contains("${") && !vars {
                v.push(
                    Severity::Error,
                    "VARIABLE_UNSUPPORTED_IN_VERSION",
                    "policy variables need `\"Version\": \"2012-10-17\"`; here `${...}` is literal text".into(),
                    cpath.clone(),
                    x.offset,
                );
            }
        }
    }
}

fn matches_pass_role(a: &Block) -> bool {
    let hit = a.items.iter().any(|x| {
        let p = x.value.to_ascii_lowercase();
        glob(&tokens(&p), "iam:passrole")
    });
    hit != a.negated
}

/// `service:Action` with a lowercase service and an action of letters,
/// digits and wildcards; `*` alone.
fn action_is_well_formed(a: &str) -> bool {
    if a == "*" {
        return true;
    }
    let Some((svc, act)) = a.split_once(':') else {
        return false;
    };
    !svc.is_empty()
        && !act.is_empty()
        && svc
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'*' || b == b'?')
        && act
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'*' || b == b'?' || b == b'-' || b == b'_')
}

/// What is wrong with an ARN-shaped resource, if anything.
fn arn_problem(r: &str) -> Option<String> {
    if r == "*" {
        return None;
    }
    let f: Vec<&str> = r.splitn(6, ':').collect();
    if f.len() < 6 {
        return if r.ends_with('*') {
            None
        } else {
            Some("an ARN has six colon-separated fields: `arn:partition:service:region:account:resource`".into())
        };
    }
    let wild = |s: &str| s.contains(['*', '?']) || s.contains("${");
    let partition = f.get(1).copied().unwrap_or("");
    if !wild(partition) && !PARTITIONS.contains(&partition) {
        return Some(format!("`{partition}` is not a partition"));
    }
    let service = f.get(2).copied().unwrap_or("");
    if !wild(service)
        && !service
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Some(format!("`{service}` is not a service prefix"));
    }
    let account = f.get(4).copied().unwrap_or("");
    let twelve_digits = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
    if !(wild(account) || account.is_empty() || account == "aws" || twelve_digits) {
        return Some(format!("`{account}` is not a 12-digit account id"));
    }
    if f.get(5).is_some_and(|res| res.is_empty()) {
        return Some("the resource field is empty".into());
    }
    None
}

/// Items covered by another item of the same element.
fn redundant(
    v: &mut V<'_>,
    blk: &Block,
    base: &str,
    name: &str,
    fold_case: bool,
    code: &'static str,
    what: &str,
) {
    let norm = |s: &str| {
        if fold_case {
            s.to_ascii_lowercase()
        } else {
            s.to_string()
        }
    };
    for (i, a) in blk.items.iter().enumerate() {
        let an = norm(&a.value);
        let covered = blk.items.iter().enumerate().find(|(j, b)| {
            if *j == i {
                return false;
            }
            let bn = norm(&b.value);
            if bn == an {
                // Exact duplicates: report the later one only.
                return *j < i;
            }
            if b.value.contains("${") || a.value.contains("${") {
                return false;
            }
            bn.contains(['*', '?']) && glob(&tokens(&bn), &an)
        });
        if let Some((_, b)) = covered {
            v.push(
                Severity::Suggestion,
                code,
                format!(
                    "the {what} `{}` is already covered by `{}`",
                    a.value, b.value
                ),
                item_path(base, name, blk, i),
                a.offset,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(text: &str, ty: PolicyType) -> Vec<&'static str> {
        validate(text, ty).into_iter().map(|f| f.code).collect()
    }

    #[test]
    fn clean_policy_has_no_findings() {
        assert!(codes(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#,
            PolicyType::Identity
        )
        .is_empty());
    }

    #[test]
    fn syntax_error_is_one_error() {
        let f = validate("{\"Version\": \"2012-10-17\",", PolicyType::Identity);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Error);
        assert_eq!(f[0].code, "JSON_SYNTAX_ERROR");
    }

    #[test]
    fn each_check() {
        let c = codes(
            r#"{"Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#,
            PolicyType::Identity,
        );
        assert_eq!(c, ["MISSING_VERSION"]);
        let c = codes(
            r#"{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::${aws:username}"}]}"#,
            PolicyType::Identity,
        );
        assert_eq!(c, ["OUTDATED_VERSION", "VARIABLE_UNSUPPORTED_IN_VERSION"]);
        let c = codes(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:Get Object"],"Resource":"arn:aws:s3:::b"}]}"#,
            PolicyType::Identity,
        );
        assert_eq!(c, ["INVALID_ACTION"]);
        let c = codes(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:us-east-1:12:x"}]}"#,
            PolicyType::Identity,
        );
        assert_eq!(c, ["INVALID_ARN_RESOURCE"]);
        let c = codes(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"ForAllValues:StringEquals":{"aws:username":"a"}}}]}"#,
            PolicyType::Identity,
        );
        assert_eq!(c, ["FORALLVALUES_WITH_SINGLE_VALUED_KEY"]);
        let c = codes(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"NullIfExists":{"aws:username":"true"}}}]}"#,
            PolicyType::Identity,
        );
        assert_eq!(c, ["NULL_WITH_IF_EXISTS"]);
        let c = codes(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotPrincipal":{"AWS":"111111111111"},"Action":"s3:GetObject","Resource":"*"}]}"#,
            PolicyType::Resource,
        );
        assert_eq!(c, ["ALLOW_WITH_NOT_PRINCIPAL"]);
        let c = codes(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}]}"#,
            PolicyType::Identity,
        );
        assert_eq!(c, ["ALLOW_WITH_NOT_ACTION"]);
        let c = codes(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","NotResource":"arn:aws:s3:::secret/*"}]}"#,
            PolicyType::Identity,
        );
        assert_eq!(c, ["ALLOW_WITH_NOT_RESOURCE"]);
        let c = codes(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:PassRole","Resource":"*"}]}"#,
            PolicyType::Identity,
        );
        assert_eq!(c, ["PASS_ROLE_WITH_STAR_IN_RESOURCE"]);
        let c = codes(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}"#,
            PolicyType::Resource,
        );
        assert_eq!(c, ["TRUST_POLICY_ALLOWS_ANY_PRINCIPAL"]);
        let c = codes(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:Get*","s3:GetObject"],"Resource":["arn:aws:s3:::b/*","arn:aws:s3:::b/x"]}]}"#,
            PolicyType::Identity,
        );
        assert_eq!(c, ["REDUNDANT_ACTION", "REDUNDANT_RESOURCE"]);
        let c = codes(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"NumericLessThan":{"aws:MultiFactorAuthAge":"soon"}}}]}"#,
            PolicyType::Identity,
        );
        assert_eq!(c, ["INVALID_CONDITION_VALUE"]);
        let c = codes(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"StringEquals":{"aws:TagKeys":"a"}}}]}"#,
            PolicyType::Identity,
        );
        assert_eq!(c, ["MISSING_QUALIFIER"]);
        let c = codes(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:*","Resource":"*"},{"Effect":"Deny","Action":"s3:*","Resource":"*"}]}"#,
            PolicyType::Identity,
        );
        assert_eq!(c, ["REDUNDANT_STATEMENT"]);
        let c = codes(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"StringEqualz":{"aws:username":"a"}}}]}"#,
            PolicyType::Identity,
        );
        assert_eq!(c, ["INVALID_CONDITION_OPERATOR"]);
    }

    #[test]
    fn locations_point_at_the_element() {
        let text = "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [{\n    \"Effect\": \"Allow\",\n    \"Action\": \"iam:PassRole\",\n    \"Resource\": \"*\"\n  }]\n}";
        let f = validate(text, PolicyType::Identity);
        assert_eq!(f.len(), 1);
        assert_eq!((f[0].line, f[0].column), (6, 17));
        assert_eq!(f[0].path, "Statement[0].Resource");
    }
}
