//! The policy simulator: `SimulatePrincipalPolicy`, `SimulateCustomPolicy`,
//! `GetContextKeysForPrincipalPolicy`, `GetContextKeysForCustomPolicy`
//! (<https://docs.aws.amazon.com/IAM/latest/APIReference/API_SimulatePrincipalPolicy.html>).
//!
//! The same engine as enforcement decides, over the layers AWS's simulator
//! uses: the principal's identity policies (a user's with its groups') plus
//! any given, the permissions boundary (the principal's, or given), the
//! organization's SCPs for a principal's account, and a given resource
//! policy. Only the context entries given are in the request context, so a
//! policy that needs more reports them as missing, as AWS's does.

use crate::error::{ApiError, ApiResult};
use crate::iam::{Entity, Iam};
use crate::store::Store;
use std::sync::Arc;
use ward_policy::condition::value_is_valid;
use ward_policy::document::OpKind;
use ward_policy::{
    evaluate, Context, ContextValue, Layers, Policy, PolicySet, PolicyType, Request,
};

/// A policy as the simulator reports it.
#[derive(Debug, Clone)]
pub struct SimPolicy {
    /// `SourcePolicyId`: a policy name, `PolicyInputList.N`, ...
    pub id: String,
    /// `SourcePolicyType`: user, group, role, aws-managed, user-managed,
    /// resource, none (the values the API reference lists:
    /// <https://docs.aws.amazon.com/IAM/latest/APIReference/API_Statement.html>).
    pub source_type: &'static str,
    pub text: String,
}

/// `aws-managed` for a policy AWS manages (`arn:aws:iam::aws:policy/…`),
/// `user-managed` for an account's own.
fn managed_type(arn: &str) -> &'static str {
    if crate::model::is_aws_managed_policy(arn) {
        "aws-managed"
    } else {
        "user-managed"
    }
}

/// A position in a policy document (1-based line and column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

#[derive(Debug, Clone)]
pub struct SimStatement {
    pub source_policy_id: String,
    pub source_policy_type: &'static str,
    pub start: Position,
    pub end: Position,
}

/// One action on one resource.
#[derive(Debug, Clone)]
pub struct SimResult {
    pub action: String,
    pub resource: String,
    /// `allowed`, `explicitDeny`, `implicitDeny`.
    pub decision: &'static str,
    pub matched: Vec<SimStatement>,
    pub missing: Vec<String>,
    /// `Some` when SCPs were part of the simulation.
    pub allowed_by_organizations: Option<bool>,
    /// `Some` when a permissions boundary was.
    pub allowed_by_boundary: Option<bool>,
    /// Per policy type, when a resource policy was simulated
    /// (`EvalDecisionDetails`).
    pub details: Vec<(&'static str, &'static str)>,
}

/// What to simulate.
#[derive(Debug, Clone, Default)]
pub struct SimInput {
    pub actions: Vec<String>,
    /// Default: `*`.
    pub resources: Vec<String>,
    pub context: Vec<(String, ContextValue)>,
    pub resource_policy: Option<String>,
    pub resource_owner: Option<String>,
    pub caller_arn: Option<String>,
}

fn position(text: &str, offset: usize) -> Position {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(before.chars().count(), |i| {
        before.get(i + 1..).map_or(0, |s| s.chars().count())
    }) + 1;
    Position { line, column }
}

fn malformed(what: &str, e: impl std::fmt::Display) -> ApiError {
    ApiError::malformed_policy(format!("{what}: {e}"))
}

/// Context entries as AWS gives them: name, values, type (`string`,
/// `stringList`, `numeric`, ... `dateList`).
pub fn context_entry(
    name: &str,
    values: Vec<String>,
    ty: &str,
) -> ApiResult<(String, ContextValue)> {
    const TYPES: &[&str] = &[
        "string",
        "stringList",
        "numeric",
        "numericList",
        "boolean",
        "booleanList",
        "ip",
        "ipList",
        "binary",
        "binaryList",
        "date",
        "dateList",
    ];
    if !TYPES.contains(&ty) {
        return Err(ApiError::invalid_input(format!(
            "ContextKeyType {ty} for {name} is not one of {}",
            TYPES.join(", ")
        )));
    }
    // A value that is not of its declared type is refused, not left to
    // match nothing: an `implicitDeny` would hide the typo.
    let kind = match ty.trim_end_matches("List") {
        "numeric" => Some((OpKind::NumericEquals, "a number")),
        "date" => Some((OpKind::DateEquals, "a date (ISO 8601 or epoch seconds)")),
        "boolean" => Some((OpKind::Bool, "true or false")),
        "ip" => Some((OpKind::IpAddress, "an IP address or CIDR range")),
        "binary" => Some((OpKind::BinaryEquals, "base64")),
        _ => None,
    };
    if let Some((op, what)) = kind {
        if let Some(bad) = values.iter().find(|v| !value_is_valid(op, v)) {
            return Err(ApiError::invalid_input(format!(
                "Context key {name} is of type {ty}, and its value {bad} is not {what}"
            )));
        }
    }
    let v = if ty.ends_with("List") {
        ContextValue::Multi(values.iter().map(|s| s.as_str().into()).collect())
    } else {
        match values.as_slice() {
            [one] => ContextValue::Single(one.as_str().into()),
            _ => {
                return Err(ApiError::invalid_input(format!(
                    "Context key {name} of type {ty} takes exactly one value"
                )))
            }
        }
    };
    Ok((name.to_string(), v))
}

impl<S: Store> Iam<S> {
    /// The identity policies (with sources) and boundary of a user, group
    /// or role ARN, and the account it is in.
    pub fn principal_policies(
        &self,
        arn: &str,
    ) -> ApiResult<(String, Vec<SimPolicy>, Option<SimPolicy>)> {
        let not_found = || ApiError::no_such_entity(format!("The entity {arn} cannot be found."));
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let (Some(&account), Some(res)) = (parts.get(4), parts.get(5)) else {
            return Err(ApiError::invalid_input(format!("{arn} is not a valid ARN")));
        };
        let (kind, name) = res.split_once('/').ok_or_else(not_found)?;
        let name = name.rsplit('/').next().unwrap_or(name);
        let (e, ty) = match kind {
            "user" => (Entity::User, "user"),
            "group" => (Entity::Group, "group"),
            "role" => (Entity::Role, "role"),
            _ => return Err(not_found()),
        };
        let boundary_arn = match e {
            Entity::User => {
                self.get_user(account, name)
                    .map_err(|_| not_found())?
                    .permissions_boundary
            }
            Entity::Role => {
                self.get_role(account, name)
                    .map_err(|_| not_found())?
                    .permissions_boundary
            }
            Entity::Group => {
                self.get_group(account, name).map_err(|_| not_found())?;
                None
            }
        };
        let mut out = Vec::new();
        let mut entities = vec![(e, ty, name.to_string())];
        if e == Entity::User {
            for g in self.groups_for_user(account, name)? {
                entities.push((Entity::Group, "group", g.name));
            }
        }
        for (e, ty, n) in entities {
            for p in self.list_inline(account, e, &n)? {
                let doc = self.get_inline(account, e, &n, &p)?.document;
                out.push(SimPolicy {
                    id: p,
                    source_type: ty,
                    text: doc,
                });
            }
            for (pname, parn) in self.list_attached(account, e, &n)? {
                out.push(SimPolicy {
                    id: pname,
                    source_type: managed_type(&parn),
                    text: self.managed_document(&parn)?,
                });
            }
        }
        let boundary = match boundary_arn {
            Some(b) => Some(SimPolicy {
                id: b.rsplit('/').next().unwrap_or(&b).to_string(),
                source_type: managed_type(&b),
                text: self.managed_document(&b)?,
            }),
            None => None,
        };
        Ok((account.to_string(), out, boundary))
    }

    fn managed_document(&self, arn: &str) -> ApiResult<String> {
        let (p, _) = self.get_policy(arn)?;
        Ok(self.get_policy_version(arn, &p.default_version)?.0.document)
    }

    /// Simulate `input` for `principal` over the given policies; `account`
    /// (the principal's) brings in its organization's SCPs.
    pub fn simulate(
        &self,
        principal: &str,
        account: Option<&str>,
        identity: &[SimPolicy],
        boundary: &[SimPolicy],
        input: &SimInput,
    ) -> ApiResult<Vec<SimResult>> {
        // Compile with the index as id, to find the source again.
        let mut all: Vec<(SimPolicy, PolicyType)> = Vec::new();
        let compile = |all: &mut Vec<(SimPolicy, PolicyType)>,
                       p: &SimPolicy,
                       ty: PolicyType|
         -> ApiResult<Arc<Policy>> {
            let id = all.len().to_string();
            let c = Policy::parse(&id, &p.text, ty).map_err(|e| malformed(&p.id, e))?;
            all.push((p.clone(), ty));
            Ok(Arc::new(c))
        };
        let mut ids = Vec::new();
        for p in identity {
            ids.push(compile(&mut all, p, PolicyType::Identity)?);
        }
        let mut bs = Vec::new();
        for p in boundary {
            bs.push(compile(&mut all, p, PolicyType::PermissionBoundary)?);
        }
        let resource_policy = match &input.resource_policy {
            Some(text) => Some(compile(
                &mut all,
                &SimPolicy {
                    id: "ResourcePolicy".into(),
                    source_type: "resource",
                    text: text.clone(),
                },
                PolicyType::Resource,
            )?),
            None => None,
        };
        let scp = match account {
            Some(a) => self.org_view(a)?.map(|v| v.scp.clone()).unwrap_or_default(),
            None => Vec::new(),
        };
        let layers = Layers {
            identity: PolicySet::new(ids),
            permission_boundary: (!bs.is_empty()).then(|| PolicySet::new(bs)),
            resource: resource_policy.map(|p| PolicySet::new(vec![p])),
            scp: scp.clone(),
            ..Layers::default()
        };
        let resources = if input.resources.is_empty() {
            vec!["*".to_string()]
        } else {
            input.resources.clone()
        };
        let caller = input.caller_arn.as_deref().unwrap_or(principal);
        let mut out = Vec::new();
        for action in &input.actions {
            for resource in &resources {
                let mut ctx = Context::new();
                for (k, v) in &input.context {
                    ctx.insert(k, v.clone());
                }
                let req = Request::new(
                    caller,
                    action,
                    resource,
                    input.resource_owner.as_deref(),
                    ctx,
                );
                let d = evaluate(&req, &layers);
                let mut matched = Vec::new();
                for m in &d.matched_statements {
                    let Some((src, ty)) =
                        m.policy_id().parse::<usize>().ok().and_then(|i| all.get(i))
                    else {
                        continue;
                    };
                    let doc =
                        ward_policy::parse(&src.text, *ty).map_err(|e| malformed(&src.id, e))?;
                    let Some(st) = doc.statements.get(m.statement_index()) else {
                        continue;
                    };
                    // The closing brace itself.
                    let end = ward_policy::object_end(&src.text, st.offset).saturating_sub(1);
                    matched.push(SimStatement {
                        source_policy_id: src.id.clone(),
                        source_policy_type: src.source_type,
                        start: position(&src.text, st.offset),
                        end: position(&src.text, end),
                    });
                }
                let decided = d.decided_by;
                let mut details = Vec::new();
                if layers.resource.is_some() {
                    let only_resource = Layers {
                        resource: layers.resource.clone(),
                        ..Layers::default()
                    };
                    let res = evaluate(&req, &only_resource).decision.as_str();
                    let only_identity = Layers {
                        identity: layers.identity.clone(),
                        permission_boundary: layers.permission_boundary.clone(),
                        ..Layers::default()
                    };
                    details.push((
                        "IAM Policy",
                        evaluate(&req, &only_identity).decision.as_str(),
                    ));
                    details.push(("Resource Policy", res));
                }
                out.push(SimResult {
                    action: action.clone(),
                    resource: resource.clone(),
                    decision: d.decision.as_str(),
                    matched,
                    missing: d
                        .missing_context_keys
                        .iter()
                        .map(|k| (*k).to_string())
                        .collect(),
                    allowed_by_organizations: (!scp.is_empty())
                        .then_some(decided != Some(PolicyType::Scp)),
                    allowed_by_boundary: layers
                        .permission_boundary
                        .is_some()
                        .then_some(decided != Some(PolicyType::PermissionBoundary)),
                    details,
                });
            }
        }
        Ok(out)
    }

    /// The context keys a set of policies refers to.
    pub fn context_keys_of(&self, policies: &[SimPolicy]) -> ApiResult<Vec<String>> {
        let mut keys: Vec<String> = Vec::new();
        for p in policies {
            let doc = ward_policy::parse(&p.text, PolicyType::Identity)
                .map_err(|e| malformed(&p.id, e))?;
            for k in ward_policy::context_keys(&doc) {
                if !keys.iter().any(|x| x.eq_ignore_ascii_case(&k)) {
                    keys.push(k);
                }
            }
        }
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::{context_entry, managed_type};

    #[test]
    fn a_context_value_not_of_its_type_is_refused_by_name() {
        let ok = |name: &str, v: &[&str], ty: &str| {
            context_entry(name, v.iter().map(|s| s.to_string()).collect(), ty)
        };
        assert!(ok("aws:CurrentTime", &["2026-12-07T10:00:00Z"], "date").is_ok());
        assert!(ok("aws:EpochTime", &["1796303363"], "date").is_ok());
        assert!(ok("s3:max-keys", &["10"], "numeric").is_ok());
        assert!(ok("aws:SourceIp", &["10.0.0.0/8", "::1"], "ipList").is_ok());
        assert!(ok("aws:MultiFactorAuthPresent", &["true"], "boolean").is_ok());
        assert!(ok("aws:username", &["anything at all"], "string").is_ok());
        for (name, values, ty, bad) in [
            ("aws:CurrentTime", vec!["notadate"], "date", "notadate"),
            ("s3:max-keys", vec!["abc"], "numeric", "abc"),
            (
                "aws:SourceIp",
                vec!["10.0.0.1", "10.0.0.300"],
                "ipList",
                "10.0.0.300",
            ),
            ("aws:SecureTransport", vec!["maybe"], "boolean", "maybe"),
        ] {
            let e = ok(name, &values, ty).unwrap_err();
            assert_eq!(e.code, "InvalidInput");
            assert!(
                e.message.contains(name) && e.message.contains(bad),
                "{}",
                e.message
            );
        }
    }

    #[test]
    fn a_managed_policy_is_typed_by_who_manages_it() {
        assert_eq!(
            managed_type("arn:aws:iam::aws:policy/ReadOnlyAccess"),
            "aws-managed"
        );
        assert_eq!(
            managed_type("arn:aws:iam::aws:policy/job-function/ViewOnlyAccess"),
            "aws-managed"
        );
        assert_eq!(
            managed_type("arn:aws:iam::123456789012:policy/aws/ReadOnly"),
            "user-managed"
        );
    }
}
