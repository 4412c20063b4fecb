//! One test group per operator family, each citing the page it follows:
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html>
//! and, for sets, <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html>.

use super::*;
use crate::document::PolicyType;

/// Evaluate `"Condition": {op: {key: values}}` against a context.
fn cond(op: &str, key: &str, values: &str, ctx: &Context) -> Outcome {
    let text = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{{"{op}":{{"{key}":{values}}}}}}}]}}"#
    );
    let doc = crate::parse::parse(&text, PolicyType::Identity).unwrap();
    let c = &doc.statements[0].conditions[0];
    Condition::compile(c, doc.version()).evaluate(ctx)
}

fn t(op: &str, key: &str, values: &str, ctx: &Context) -> bool {
    cond(op, key, values, ctx).value
}

fn ctx(pairs: &[(&str, &str)]) -> Context {
    let mut c = Context::new();
    for (k, v) in pairs {
        c.set(k, v);
    }
    c
}

#[test]
fn string_operators() {
    let c = ctx(&[("aws:username", "Alice"), ("aws:PrincipalTag/team", "data")]);
    assert!(t("StringEquals", "aws:username", r#""Alice""#, &c));
    assert!(!t("StringEquals", "aws:username", r#""alice""#, &c));
    assert!(t(
        "StringEqualsIgnoreCase",
        "aws:username",
        r#""alice""#,
        &c
    ));
    assert!(!t(
        "StringNotEqualsIgnoreCase",
        "aws:username",
        r#""ALICE""#,
        &c
    ));
    assert!(t("StringLike", "aws:username", r#""Al*""#, &c));
    assert!(t("StringLike", "aws:username", r#""?lice""#, &c));
    assert!(!t("StringNotLike", "aws:username", r#"["Bo*", "A*"]"#, &c));
    // Several values are OR'ed; a negated operator is NOR.
    assert!(t("StringEquals", "aws:username", r#"["Bob", "Alice"]"#, &c));
    assert!(!t(
        "StringNotEquals",
        "aws:username",
        r#"["Bob", "Alice"]"#,
        &c
    ));
    assert!(t(
        "StringNotEquals",
        "aws:username",
        r#"["Bob", "Carol"]"#,
        &c
    ));
    // Condition key names are case-insensitive; values are not.
    assert!(t("StringEquals", "AWS:USERNAME", r#""Alice""#, &c));
    // Variables in values.
    assert!(t(
        "StringEquals",
        "aws:PrincipalTag/team",
        r#""${aws:PrincipalTag/team}""#,
        &c
    ));
    assert!(t("StringLike", "aws:username", r#""${aws:username}*""#, &c));
}

#[test]
fn absent_keys_and_if_exists() {
    let c = ctx(&[]);
    // Positive operators are false on an absent key, negated ones true.
    let o = cond("StringEquals", "aws:username", r#""a""#, &c);
    assert_eq!(
        o,
        Outcome {
            value: false,
            missing: true
        }
    );
    assert!(t("StringNotEquals", "aws:username", r#""a""#, &c));
    assert!(t("StringNotLike", "aws:username", r#""a""#, &c));
    assert!(t("NotIpAddress", "aws:SourceIp", r#""10.0.0.0/8""#, &c));
    assert!(t(
        "ArnNotLike",
        "aws:PrincipalArn",
        r#""arn:aws:iam::*:role/x""#,
        &c
    ));
    // IfExists: an absent key makes the condition true.
    assert!(t("StringEqualsIfExists", "aws:username", r#""a""#, &c));
    assert!(t(
        "NumericLessThanIfExists",
        "aws:MultiFactorAuthAge",
        r#""10""#,
        &c
    ));
    // A present key is evaluated normally.
    let c = ctx(&[("aws:username", "b")]);
    assert!(!t("StringEqualsIfExists", "aws:username", r#""a""#, &c));
}

#[test]
fn unresolved_variable_in_value_is_null() {
    // https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html#policy-vars-no-value
    let c = ctx(&[("aws:username", "a")]);
    assert!(!t("StringEquals", "aws:username", r#""${aws:userid}""#, &c));
    assert!(t(
        "StringNotEquals",
        "aws:username",
        r#""${aws:userid}""#,
        &c
    ));
    assert!(t(
        "StringEquals",
        "aws:username",
        r#""${aws:userid, 'a'}""#,
        &c
    ));
}

#[test]
fn numeric_operators() {
    let c = ctx(&[("aws:MultiFactorAuthAge", "300")]);
    assert!(t(
        "NumericLessThan",
        "aws:MultiFactorAuthAge",
        r#""3600""#,
        &c
    ));
    assert!(!t(
        "NumericLessThan",
        "aws:MultiFactorAuthAge",
        r#""300""#,
        &c
    ));
    assert!(t(
        "NumericLessThanEquals",
        "aws:MultiFactorAuthAge",
        r#""300""#,
        &c
    ));
    assert!(t(
        "NumericGreaterThan",
        "aws:MultiFactorAuthAge",
        "299.5",
        &c
    ));
    assert!(t(
        "NumericGreaterThanEquals",
        "aws:MultiFactorAuthAge",
        r#""300""#,
        &c
    ));
    assert!(t(
        "NumericEquals",
        "aws:MultiFactorAuthAge",
        r#""300.0""#,
        &c
    ));
    assert!(!t(
        "NumericNotEquals",
        "aws:MultiFactorAuthAge",
        r#"["1", "300"]"#,
        &c
    ));
    // A request value that is not a number matches nothing.
    let c = ctx(&[("aws:MultiFactorAuthAge", "soon")]);
    assert!(!t(
        "NumericLessThan",
        "aws:MultiFactorAuthAge",
        r#""3600""#,
        &c
    ));
    assert!(t(
        "NumericNotEquals",
        "aws:MultiFactorAuthAge",
        r#""3600""#,
        &c
    ));
}

#[test]
fn date_operators() {
    let c = ctx(&[("aws:CurrentTime", "2026-06-01T12:00:00Z")]);
    assert!(t(
        "DateGreaterThan",
        "aws:CurrentTime",
        r#""2026-01-01T00:00:00Z""#,
        &c
    ));
    assert!(t("DateLessThan", "aws:CurrentTime", r#""2026-06-02""#, &c));
    assert!(t(
        "DateEquals",
        "aws:CurrentTime",
        r#""2026-06-01T14:00:00+02:00""#,
        &c
    ));
    assert!(t("DateLessThanEquals", "aws:CurrentTime", "1780315200", &c));
    assert!(!t(
        "DateGreaterThanEquals",
        "aws:CurrentTime",
        r#""2027-01-01""#,
        &c
    ));
    assert!(t("DateNotEquals", "aws:CurrentTime", r#""2027-01-01""#, &c));
    // Epoch in the request.
    let c = ctx(&[("aws:EpochTime", "1780315200")]);
    assert!(t(
        "DateEquals",
        "aws:EpochTime",
        r#""2026-06-01T12:00:00Z""#,
        &c
    ));
}

#[test]
fn bool_operator() {
    let c = ctx(&[
        ("aws:SecureTransport", "true"),
        ("aws:MultiFactorAuthPresent", "TRUE"),
    ]);
    assert!(t("Bool", "aws:SecureTransport", "true", &c));
    assert!(t("Bool", "aws:MultiFactorAuthPresent", r#""true""#, &c));
    assert!(!t("Bool", "aws:SecureTransport", r#""false""#, &c));
    // The usual MFA guard: BoolIfExists false denies only when the key says false.
    assert!(!t(
        "BoolIfExists",
        "aws:MultiFactorAuthPresent",
        r#""false""#,
        &c
    ));
    assert!(t(
        "BoolIfExists",
        "aws:MultiFactorAuthPresent",
        r#""false""#,
        &ctx(&[])
    ));
    // A non-boolean request value matches nothing.
    assert!(!t(
        "Bool",
        "aws:SecureTransport",
        "true",
        &ctx(&[("aws:SecureTransport", "yes")])
    ));
}

#[test]
fn binary_operator() {
    let c = ctx(&[("kms:ciphertext", "QmluYXJ5VmFsdWU=")]);
    assert!(t(
        "BinaryEquals",
        "kms:ciphertext",
        r#""QmluYXJ5VmFsdWU=""#,
        &c
    ));
    assert!(!t("BinaryEquals", "kms:ciphertext", r#""QmluYXJ5""#, &c));
}

#[test]
fn ip_operators() {
    let c = ctx(&[("aws:SourceIp", "203.0.113.10")]);
    assert!(t("IpAddress", "aws:SourceIp", r#""203.0.113.0/24""#, &c));
    assert!(t("IpAddress", "aws:SourceIp", r#""203.0.113.10""#, &c));
    assert!(!t("IpAddress", "aws:SourceIp", r#""198.51.100.0/24""#, &c));
    assert!(t(
        "NotIpAddress",
        "aws:SourceIp",
        r#"["198.51.100.0/24", "2001:db8::/32"]"#,
        &c
    ));
    assert!(!t(
        "NotIpAddress",
        "aws:SourceIp",
        r#"["198.51.100.0/24", "203.0.0.0/16"]"#,
        &c
    ));
    let c6 = ctx(&[("aws:SourceIp", "2001:db8:1234:5::1")]);
    assert!(t(
        "IpAddress",
        "aws:SourceIp",
        r#""2001:db8:1234::/48""#,
        &c6
    ));
    assert!(!t(
        "IpAddress",
        "aws:SourceIp",
        r#""2001:db8:1235::/48""#,
        &c6
    ));
    assert!(!t("IpAddress", "aws:SourceIp", r#""0.0.0.0/0""#, &c6));
}

#[test]
fn arn_operators() {
    let c = ctx(&[(
        "aws:PrincipalArn",
        "arn:aws:iam::111111111111:role/ci/deployer",
    )]);
    assert!(t(
        "ArnLike",
        "aws:PrincipalArn",
        r#""arn:aws:iam::*:role/ci/*""#,
        &c
    ));
    assert!(t(
        "ArnEquals",
        "aws:PrincipalArn",
        r#""arn:aws:iam::111111111111:role/ci/*""#,
        &c
    ));
    assert!(!t(
        "ArnLike",
        "aws:PrincipalArn",
        r#""arn:aws:iam::222222222222:role/*""#,
        &c
    ));
    assert!(t(
        "ArnNotLike",
        "aws:PrincipalArn",
        r#""arn:aws:iam::222222222222:role/*""#,
        &c
    ));
    assert!(!t(
        "ArnNotEquals",
        "aws:PrincipalArn",
        r#""arn:aws:iam::111111111111:role/ci/deployer""#,
        &c
    ));
    // Not an ARN: no match.
    let c = ctx(&[("aws:SourceArn", "bucket")]);
    assert!(!t("ArnLike", "aws:SourceArn", r#""*""#, &c));
}

#[test]
fn null_operator() {
    let c = ctx(&[("aws:TokenIssueTime", "2026-06-01T00:00:00Z")]);
    assert!(t("Null", "aws:TokenIssueTime", r#""false""#, &c));
    assert!(!t("Null", "aws:TokenIssueTime", r#""true""#, &c));
    assert!(t("Null", "aws:username", r#""true""#, &c));
    assert!(t("Null", "aws:username", "true", &c));
}

#[test]
fn set_qualifiers() {
    let mut c = Context::new();
    c.set_multi("aws:TagKeys", ["team", "env"]);
    // ForAllValues: every request value is in the set.
    assert!(t(
        "ForAllValues:StringEquals",
        "aws:TagKeys",
        r#"["team", "env", "owner"]"#,
        &c
    ));
    assert!(!t(
        "ForAllValues:StringEquals",
        "aws:TagKeys",
        r#"["team"]"#,
        &c
    ));
    // ForAnyValue: at least one.
    assert!(t(
        "ForAnyValue:StringEquals",
        "aws:TagKeys",
        r#"["team"]"#,
        &c
    ));
    assert!(!t(
        "ForAnyValue:StringEquals",
        "aws:TagKeys",
        r#"["owner"]"#,
        &c
    ));
    // Negated: ForAllValues = none matches; ForAnyValue = at least one does not match.
    assert!(t(
        "ForAllValues:StringNotEquals",
        "aws:TagKeys",
        r#"["owner"]"#,
        &c
    ));
    assert!(!t(
        "ForAllValues:StringNotEquals",
        "aws:TagKeys",
        r#"["team"]"#,
        &c
    ));
    assert!(t(
        "ForAnyValue:StringNotEquals",
        "aws:TagKeys",
        r#"["team"]"#,
        &c
    ));
    assert!(!t(
        "ForAnyValue:StringNotEquals",
        "aws:TagKeys",
        r#"["team", "env"]"#,
        &c
    ));
    // Absent key: ForAllValues true, ForAnyValue false.
    let e = Context::new();
    assert!(t(
        "ForAllValues:StringEquals",
        "aws:TagKeys",
        r#"["team"]"#,
        &e
    ));
    assert!(!t(
        "ForAnyValue:StringEquals",
        "aws:TagKeys",
        r#"["team"]"#,
        &e
    ));
    // Empty set: same as absent for the qualifiers.
    let mut empty = Context::new();
    empty.set_multi("aws:TagKeys", Vec::<String>::new());
    assert!(t(
        "ForAllValues:StringEquals",
        "aws:TagKeys",
        r#"["team"]"#,
        &empty
    ));
    assert!(!t(
        "ForAnyValue:StringEquals",
        "aws:TagKeys",
        r#"["team"]"#,
        &empty
    ));
    // Without a qualifier a multivalued key behaves as ForAnyValue.
    assert!(t("StringEquals", "aws:TagKeys", r#""env""#, &c));
    assert!(t("StringLike", "aws:TagKeys", r#""te*""#, &c));
    // IfExists with a qualifier.
    assert!(t(
        "ForAnyValue:StringEqualsIfExists",
        "aws:TagKeys",
        r#""x""#,
        &e
    ));
}
