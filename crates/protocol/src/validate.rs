//! Checking a request's parameters against the service model, with AWS's
//! `ValidationError` messages.
//!
//! AWS validates every input member against the constraints of its model
//! before the operation runs, and reports every failure at once:
//!
//! ```text
//! 2 validation errors detected: Value '' at 'roleArn' failed to satisfy
//! constraint: Member must satisfy regular expression pattern: [...]+;
//! Value '' at 'roleArn' failed to satisfy constraint: Member must have
//! length greater than or equal to 20
//! ```
//!
//! The rules reproduced here:
//!
//! * members are checked in model order, depth first; a member's path uses
//!   its name with the first letter lowered (`UserName` → `userName`,
//!   `SAMLAssertion` → `sAMLAssertion`), list items are
//!   `name.<position>.member` (`tags.1.member.value`), map entries are
//!   reported on the map;
//! * a missing required member: `Value null at 'x' failed to satisfy
//!   constraint: Member must not be null` (and nothing else about it);
//! * for a string: pattern (`Member must satisfy regular expression
//!   pattern: <the model's Java pattern>`), then length (`Member must have
//!   length less than or equal to N` / `greater than or equal to N`,
//!   counting characters), then enum (`Member must satisfy enum value set:
//!   [a, b]`), each failure its own entry;
//! * a list's or map's item count uses the same length wording;
//! * for a number: `Member must have value less than or equal to N` /
//!   `greater than or equal to N`;
//! * a sensitive value is left out: `Value at 'password' failed ...`;
//! * a list value prints as `[a, b]`, a structure as `{Key: a, Value: b}`,
//!   a map as `{k=v}` (Java's `toString` forms);
//! * values that do not parse as their type (`DurationSeconds=abc`) are
//!   reported as `Member must be a number` / `Member must be a boolean`
//!   (AWS rejects these too; its exact wording is not documented).
//!
//! Parameters the model does not know are ignored, as AWS ignores them.

use std::cmp::Ordering;

use crate::error::{ValidationError, Violation};
use crate::model::{Member, Operation, Service, Shape, ShapeKind};
use crate::query::{parse_bool, Params};

/// Check `params` against the input of operation `op` of `service`.
///
/// An operation the model lacks is reported as a `ValidationError` carrying
/// AWS's `InvalidAction` message; resolve the operation first with
/// [`resolve`] (which gives the proper `InvalidAction` error) and call
/// [`validate_input`] to avoid that.
pub fn validate(service: Service, op: &str, params: &Params) -> Result<(), ValidationError> {
    match service.operation(op) {
        Some(operation) => validate_input(operation, params),
        None => Err(ValidationError::custom(format!(
            "Could not find operation {op} for version {}",
            service.api_version()
        ))),
    }
}

/// Check `params` against the input members of `op`.
pub fn validate_input(op: &Operation, params: &Params) -> Result<(), ValidationError> {
    let mut out = Vec::new();
    check_members(op.input, "", "", params, &mut out);
    if out.is_empty() {
        Ok(())
    } else {
        Err(ValidationError::new(out))
    }
}

/// Find the operation a request names: `Action` must be present
/// (`MissingAction`) and name an operation of `service`, and `Version`, when
/// sent, must be the service's (`InvalidAction`, "Could not find operation
/// X for version Y").
pub fn resolve(
    service: Service,
    params: &Params,
) -> Result<&'static Operation, crate::ProtocolError> {
    let action = params.action().ok_or(crate::ProtocolError::MissingAction)?;
    let version = params.version().unwrap_or(service.api_version());
    let invalid = || crate::ProtocolError::InvalidAction {
        action: action.to_owned(),
        version: version.to_owned(),
    };
    if version != service.api_version() {
        return Err(invalid());
    }
    service.operation(action).ok_or_else(invalid)
}

/// `UserName` → `userName`: the member name as AWS's messages spell it.
pub fn message_name(wire: &str) -> String {
    let mut chars = wire.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn check_members(
    members: &[Member],
    wire_prefix: &str,
    path_prefix: &str,
    params: &Params,
    out: &mut Vec<Violation>,
) {
    for m in members {
        let wire = if wire_prefix.is_empty() {
            std::borrow::Cow::Borrowed(m.name)
        } else {
            std::borrow::Cow::Owned(format!("{wire_prefix}{}", m.name))
        };
        // An optional member that was not sent has nothing to check (most
        // of an operation's members, most of the time).
        if !m.required && !params.has(&wire) {
            continue;
        }
        let path = format!("{path_prefix}{}", message_name(m.name));
        check_value(m.shape, m.required, &wire, &path, params, out);
    }
}

fn violation(path: &str, value: Option<String>, shape: &Shape, constraint: String) -> Violation {
    Violation {
        path: path.to_owned(),
        value,
        redacted: shape.sensitive,
        constraint,
    }
}

fn null(path: &str, shape: &Shape) -> Violation {
    violation(path, None, shape, "Member must not be null".to_owned())
}

fn check_value(
    shape: &Shape,
    required: bool,
    wire: &str,
    path: &str,
    params: &Params,
    out: &mut Vec<Violation>,
) {
    match &shape.kind {
        ShapeKind::String | ShapeKind::Blob | ShapeKind::Timestamp => match params.get(wire) {
            None if required => out.push(null(path, shape)),
            None => {}
            Some(v) => {
                if matches!(shape.kind, ShapeKind::String) {
                    check_string(shape, v, path, out);
                }
            }
        },
        ShapeKind::Integer | ShapeKind::Long => match params.get(wire) {
            None if required => out.push(null(path, shape)),
            None => {}
            Some(raw) => {
                let parsed = match shape.kind {
                    ShapeKind::Integer => raw.parse::<i32>().ok().map(i64::from),
                    _ => raw.parse::<i64>().ok(),
                };
                match parsed {
                    Some(n) => check_range(shape, |bound| n.cmp(&bound), &n.to_string(), path, out),
                    None => out.push(violation(
                        path,
                        Some(raw.to_owned()),
                        shape,
                        "Member must be a number".to_owned(),
                    )),
                }
            }
        },
        ShapeKind::Double => match params.get(wire) {
            None if required => out.push(null(path, shape)),
            None => {}
            Some(raw) => match raw.parse::<f64>() {
                Ok(n) if n.is_finite() => check_range(
                    shape,
                    |bound| n.partial_cmp(&(bound as f64)).unwrap_or(Ordering::Equal),
                    raw,
                    path,
                    out,
                ),
                _ => out.push(violation(
                    path,
                    Some(raw.to_owned()),
                    shape,
                    "Member must be a number".to_owned(),
                )),
            },
        },
        ShapeKind::Boolean => match params.get(wire) {
            None if required => out.push(null(path, shape)),
            Some(raw) if parse_bool(raw).is_none() => out.push(violation(
                path,
                Some(raw.to_owned()),
                shape,
                "Member must be a boolean".to_owned(),
            )),
            _ => {}
        },
        ShapeKind::List { member } => {
            let items_prefix = format!("{wire}.member");
            if !params.has(wire) {
                if required {
                    out.push(null(path, shape));
                }
                return;
            }
            let indices = params.indices(&items_prefix);
            check_length(
                shape,
                indices.len(),
                || render(shape, wire, params),
                path,
                out,
            );
            for (pos, idx) in indices.iter().enumerate() {
                let item_wire = format!("{items_prefix}.{idx}");
                let item_path = format!("{path}.{}.member", pos + 1);
                check_value(member, true, &item_wire, &item_path, params, out);
            }
        }
        ShapeKind::Map { key, value } => {
            if !params.has(wire) {
                if required {
                    out.push(null(path, shape));
                }
                return;
            }
            let entries_prefix = format!("{wire}.entry");
            let indices = params.indices(&entries_prefix);
            check_length(
                shape,
                indices.len(),
                || render(shape, wire, params),
                path,
                out,
            );
            let mut key_failures: Vec<String> = Vec::new();
            let mut value_failures: Vec<String> = Vec::new();
            for idx in &indices {
                let mut scratch = Vec::new();
                let k = params.get(&format!("{entries_prefix}.{idx}.key"));
                match k {
                    Some(k) if matches!(key.kind, ShapeKind::String) => {
                        check_string(key, k, path, &mut scratch)
                    }
                    Some(_) => {}
                    None => scratch.push(null(path, key)),
                }
                merge(&mut key_failures, scratch);
                let mut scratch = Vec::new();
                check_value(
                    value,
                    true,
                    &format!("{entries_prefix}.{idx}.value"),
                    path,
                    params,
                    &mut scratch,
                );
                merge(&mut value_failures, scratch);
            }
            for (failures, what) in [(key_failures, "Map keys"), (value_failures, "Map value")] {
                if !failures.is_empty() {
                    out.push(violation(
                        path,
                        Some(render(shape, wire, params)),
                        shape,
                        format!("{what} must satisfy constraint: [{}]", failures.join(", ")),
                    ));
                }
            }
        }
        ShapeKind::Structure { members } => {
            if !params.has(wire) {
                if required {
                    out.push(null(path, shape));
                }
                return;
            }
            check_members(
                members,
                &format!("{wire}."),
                &format!("{path}."),
                params,
                out,
            );
        }
    }
}

/// Add the constraint texts of `found` to `into`, each once.
fn merge(into: &mut Vec<String>, found: Vec<Violation>) {
    for v in found {
        if !into.contains(&v.constraint) {
            into.push(v.constraint);
        }
    }
}

fn check_string(shape: &Shape, v: &str, path: &str, out: &mut Vec<Violation>) {
    if let Some(p) = shape.pattern {
        if p.matches(v) == Some(false) {
            out.push(violation(
                path,
                Some(v.to_owned()),
                shape,
                format!(
                    "Member must satisfy regular expression pattern: {}",
                    p.source
                ),
            ));
        }
    }
    let len = v.chars().count();
    check_length(shape, len, || v.to_owned(), path, out);
    if !shape.enum_values.is_empty() && !shape.enum_values.contains(&v) {
        out.push(violation(
            path,
            Some(v.to_owned()),
            shape,
            format!(
                "Member must satisfy enum value set: [{}]",
                shape.enum_values.join(", ")
            ),
        ));
    }
}

fn check_length(
    shape: &Shape,
    len: usize,
    value: impl Fn() -> String,
    path: &str,
    out: &mut Vec<Violation>,
) {
    let len = u64::try_from(len).unwrap_or(u64::MAX);
    if let Some(max) = shape.max_length {
        if len > max {
            out.push(violation(
                path,
                Some(value()),
                shape,
                format!("Member must have length less than or equal to {max}"),
            ));
        }
    }
    if let Some(min) = shape.min_length {
        if len < min {
            out.push(violation(
                path,
                Some(value()),
                shape,
                format!("Member must have length greater than or equal to {min}"),
            ));
        }
    }
}

/// `cmp(bound)` orders the value against a bound.
fn check_range(
    shape: &Shape,
    cmp: impl Fn(i64) -> Ordering,
    shown: &str,
    path: &str,
    out: &mut Vec<Violation>,
) {
    if let Some(max) = shape.max_value {
        if cmp(max) == Ordering::Greater {
            out.push(violation(
                path,
                Some(shown.to_owned()),
                shape,
                format!("Member must have value less than or equal to {max}"),
            ));
        }
    }
    if let Some(min) = shape.min_value {
        if cmp(min) == Ordering::Less {
            out.push(violation(
                path,
                Some(shown.to_owned()),
                shape,
                format!("Member must have value greater than or equal to {min}"),
            ));
        }
    }
}

/// The value at `wire` as AWS prints it in a message.
fn render(shape: &Shape, wire: &str, params: &Params) -> String {
    match &shape.kind {
        ShapeKind::List { member } => {
            let prefix = format!("{wire}.member");
            let items: Vec<String> = params
                .indices(&prefix)
                .into_iter()
                .map(|i| render(member, &format!("{prefix}.{i}"), params))
                .collect();
            format!("[{}]", items.join(", "))
        }
        ShapeKind::Map { .. } => {
            let items: Vec<String> = params
                .map(wire)
                .into_iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
        ShapeKind::Structure { members } => {
            let items: Vec<String> = members
                .iter()
                .filter_map(|m| {
                    let w = format!("{wire}.{}", m.name);
                    params
                        .has(&w)
                        .then(|| format!("{}: {}", m.name, render(m.shape, &w, params)))
                })
                .collect();
            format!("{{{}}}", items.join(", "))
        }
        _ if shape.sensitive => "*** Sensitive Data Redacted ***".to_owned(),
        _ => params.get(wire).unwrap_or("null").to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )]

    use super::*;

    fn params(body: &str) -> Params {
        Params::parse("", body.as_bytes()).unwrap()
    }

    fn msg(service: Service, op: &str, body: &str) -> String {
        validate(service, op, &params(body))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn names() {
        assert_eq!(message_name("UserName"), "userName");
        assert_eq!(message_name("SAMLAssertion"), "sAMLAssertion");
        assert_eq!(message_name(""), "");
    }

    #[test]
    fn valid_requests_pass() {
        validate(
            Service::Iam,
            "CreateUser",
            &params("UserName=bob&Path=/a/b/&Tags.member.1.Key=k&Tags.member.1.Value=v"),
        )
        .unwrap();
        validate(
            Service::Sts,
            "AssumeRole",
            &params(
                "RoleArn=arn:aws:iam::123456789012:role/r&RoleSessionName=ss&DurationSeconds=43200\
                 &PolicyArns.member.1.arn=arn:aws:iam::aws:policy/ReadOnlyAccess",
            ),
        )
        .unwrap();
        validate(Service::Iam, "ListUsers", &params("")).unwrap();
        validate(Service::Iam, "GetAccountSummary", &params("")).unwrap();
    }

    #[test]
    fn pattern_then_length_in_member_order() {
        assert_eq!(
            msg(Service::Sts, "AssumeRole", "RoleArn=&RoleSessionName="),
            "3 validation errors detected: Value '' at 'roleArn' failed to satisfy constraint: Member must \
             satisfy regular expression pattern: [\\u0009\\u000A\\u000D\\u0020-\\u007E\\u0085\\u00A0-\\uD7FF\
             \\uE000-\\uFFFD\\u10000-\\u10FFFF]+; Value '' at 'roleArn' failed to satisfy constraint: Member \
             must have length greater than or equal to 20; Value '' at 'roleSessionName' failed to satisfy \
             constraint: Member must have length greater than or equal to 2"
        );
    }

    #[test]
    fn nested_paths() {
        assert_eq!(
            msg(Service::Iam, "TagUser", "UserName=bob&Tags.member.1.Key=k&Tags.member.2.Value=v"),
            "2 validation errors detected: Value null at 'tags.1.member.value' failed to satisfy constraint: \
             Member must not be null; Value null at 'tags.2.member.key' failed to satisfy constraint: Member \
             must not be null"
        );
        let long = "x".repeat(2049);
        assert_eq!(
            msg(Service::Sts, "AssumeRole", &format!("RoleArn=arn:aws:iam::1:role/abcdefgh&RoleSessionName=ss&PolicyArns.member.3.arn={long}")),
            format!(
                "1 validation error detected: Value '{long}' at 'policyArns.1.member.arn' failed to satisfy \
                 constraint: Member must have length less than or equal to 2048"
            )
        );
    }

    #[test]
    fn list_counts_and_values() {
        let tags: String = (1..=51)
            .map(|i| format!("&Tags.member.{i}.Key=k{i}&Tags.member.{i}.Value=v"))
            .collect();
        let m = msg(Service::Iam, "CreateUser", &format!("UserName=bob{tags}"));
        assert!(
            m.starts_with(
                "1 validation error detected: Value '[{Key: k1, Value: v}, {Key: k2, Value: v}, "
            ),
            "{m}"
        );
        assert!(
            m.ends_with("{Key: k51, Value: v}]' at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50"),
            "{m}"
        );
        // A list of strings prints as Java prints one.
        let m = msg(
            Service::Iam,
            "CreateOpenIDConnectProvider",
            "Url=https://x&ThumbprintList.member.1=short&ThumbprintList.member.2=b",
        );
        assert!(m.contains("Value 'short' at 'thumbprintList.1.member' failed to satisfy constraint: Member must have length greater than or equal to 40"), "{m}");
        let op = Service::Sts.operation("GetWebIdentityToken").unwrap();
        let audience = op.input_member("Audience").unwrap();
        if let (ShapeKind::List { .. }, Some(max)) =
            (&audience.shape.kind, audience.shape.max_length)
        {
            let items: String = (1..=max + 1)
                .map(|i| format!("&Audience.member.{i}=a{i}"))
                .collect();
            let err = validate_input(op, &params(&items)).unwrap_err().to_string();
            assert!(err.contains("Value '[a1, a2, "), "{err}");
        }
    }

    #[test]
    fn numbers_and_enums() {
        assert_eq!(
            msg(Service::Iam, "CreateRole", "RoleName=r&AssumeRolePolicyDocument=%7B%7D&MaxSessionDuration=43201"),
            "1 validation error detected: Value '43201' at 'maxSessionDuration' failed to satisfy constraint: \
             Member must have value less than or equal to 43200"
        );
        assert_eq!(
            msg(Service::Iam, "CreateRole", "RoleName=r&AssumeRolePolicyDocument=%7B%7D&MaxSessionDuration=3599"),
            "1 validation error detected: Value '3599' at 'maxSessionDuration' failed to satisfy constraint: \
             Member must have value greater than or equal to 3600"
        );
        assert_eq!(
            msg(Service::Iam, "CreateRole", "RoleName=r&AssumeRolePolicyDocument=%7B%7D&MaxSessionDuration=abc"),
            "1 validation error detected: Value 'abc' at 'maxSessionDuration' failed to satisfy constraint: \
             Member must be a number"
        );
        assert_eq!(
            msg(Service::Iam, "UpdateAccessKey", "AccessKeyId=AKIAIOSFODNN7EXAMPLE&Status=On"),
            "1 validation error detected: Value 'On' at 'status' failed to satisfy constraint: Member must \
             satisfy enum value set: [Active, Inactive, Expired]"
        );
        assert!(msg(Service::Iam, "ListPolicies", "OnlyAttached=yes")
            .contains("Member must be a boolean"));
        validate(Service::Iam, "ListPolicies", &params("OnlyAttached=True")).unwrap();
    }

    #[test]
    fn sensitive_values_are_left_out() {
        assert_eq!(
            msg(Service::Iam, "CreateLoginProfile", "UserName=bob&Password="),
            "2 validation errors detected: Value at 'password' failed to satisfy constraint: Member must satisfy \
             regular expression pattern: [\\u0009\\u000A\\u000D\\u0020-\\u00FF]+; Value at 'password' failed \
             to satisfy constraint: Member must have length greater than or equal to 1"
        );
    }

    #[test]
    fn empty_list_marker_is_present() {
        // botocore sends `Tags=` for an empty list: present, zero items.
        validate(Service::Iam, "CreateUser", &params("UserName=bob&Tags=")).unwrap();
        // A required list that is absent is null.
        assert_eq!(
            msg(Service::Iam, "TagUser", "UserName=bob"),
            "1 validation error detected: Value null at 'tags' failed to satisfy constraint: Member must not be null"
        );
    }

    #[test]
    fn structures_and_maps() {
        // CreateOpenIDConnectProvider.ContextProvider is a nested structure.
        let op = Service::Iam
            .operation("CreateOpenIDConnectProvider")
            .unwrap();
        assert!(op
            .input
            .iter()
            .any(|m| matches!(m.shape.kind, ShapeKind::Structure { .. })));
        let maps: Vec<_> = Service::Iam
            .operations()
            .iter()
            .flat_map(|o| o.input.iter().map(move |m| (o, m)))
            .filter(|(_, m)| matches!(m.shape.kind, ShapeKind::Map { .. }))
            .collect();
        assert!(!maps.is_empty());
        for (o, m) in maps {
            // An oversized key is reported once, on the map.
            let ShapeKind::Map { key, .. } = m.shape.kind else {
                unreachable!()
            };
            let Some(max) = key.max_length else { continue };
            let body = format!(
                "{}.entry.1.key={}&{}.entry.1.value=v",
                m.name,
                "k".repeat(max as usize + 1),
                m.name
            );
            let err = validate_input(o, &params(&body)).unwrap_err().to_string();
            assert!(err.contains("Map keys must satisfy constraint: [Member must have length less than or equal to"), "{err}");
        }
    }

    #[test]
    fn unknown_operation_and_resolve() {
        assert_eq!(
            msg(Service::Iam, "Frobnicate", ""),
            "Could not find operation Frobnicate for version 2010-05-08"
        );
        let op = resolve(
            Service::Iam,
            &params("Action=CreateUser&Version=2010-05-08"),
        )
        .unwrap();
        assert_eq!(op.name, "CreateUser");
        let err = resolve(
            Service::Sts,
            &params("Action=CreateUser&Version=2011-06-15"),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Could not find operation CreateUser for version 2011-06-15"
        );
        let err = resolve(
            Service::Iam,
            &params("Action=CreateUser&Version=2011-06-15"),
        )
        .unwrap_err();
        assert_eq!(err.code(), "InvalidAction");
        assert_eq!(
            resolve(Service::Iam, &params("Version=2010-05-08"))
                .unwrap_err()
                .code(),
            "MissingAction"
        );
        // Without Version the service's own is assumed.
        assert!(resolve(Service::Sts, &params("Action=GetCallerIdentity")).is_ok());
    }
}
