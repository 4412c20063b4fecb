//! An authorization request: who asks, for which action, on which resource,
//! with which context.
//!
//! Everything the evaluator compares is prepared here once (lowercased
//! action, split resource ARN, sorted lowercased context keys), so the
//! decision path only compares bytes.

use crate::arn::Arn;
use crate::context::{Context, ContextValue};

/// What kind of principal is asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalKind {
    /// An account's root user (`arn:aws:iam::ACCOUNT:root`).
    Root,
    /// An IAM user.
    User,
    /// A role session (`arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`).
    AssumedRole,
    /// A role named by its ARN (rare as a caller; treated like a session).
    Role,
    /// A federated user session (`GetFederationToken`).
    FederatedUser,
    /// An AWS service principal (`lambda.amazonaws.com`).
    Service,
    /// A web identity or SAML provider (`AssumeRoleWith*`).
    Federated,
    /// An unauthenticated caller.
    Anonymous,
}

/// The principal of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    arn: Box<str>,
    kind: PrincipalKind,
    account: Option<Box<str>>,
    /// For role sessions: the role's ARN (with its path when known).
    role_arn: Option<Box<str>>,
}

impl Principal {
    /// Read a principal: an IAM/STS ARN, a service principal
    /// (`*.amazonaws.com`), an identity provider (ARN or name), or `*` /
    /// `anonymous`.
    pub fn parse(s: &str) -> Principal {
        let arn = Arn::new(s);
        if arn.is_arn() {
            let account = arn.account().filter(|a| !a.is_empty()).map(Into::into);
            let res = arn.resource().unwrap_or("");
            let service = arn.service().unwrap_or("");
            let partition = arn.field(1).unwrap_or("aws");
            let (kind, role_arn) = match service {
                "iam" if res == "root" => (PrincipalKind::Root, None),
                "iam" if res.starts_with("user/") => (PrincipalKind::User, None),
                "iam" if res.starts_with("role/") => (PrincipalKind::Role, Some(s.into())),
                "iam" if res.starts_with("oidc-provider/") || res.starts_with("saml-provider/") => {
                    (PrincipalKind::Federated, None)
                }
                "sts" if res.starts_with("assumed-role/") => {
                    let role = res
                        .strip_prefix("assumed-role/")
                        .and_then(|r| r.split('/').next())
                        .unwrap_or("");
                    let acct = account.as_deref().unwrap_or("");
                    (
                        PrincipalKind::AssumedRole,
                        Some(format!("arn:{partition}:iam::{acct}:role/{role}").into()),
                    )
                }
                "sts" | "iam" if res.starts_with("federated-user/") => {
                    (PrincipalKind::FederatedUser, None)
                }
                _ => (PrincipalKind::User, None),
            };
            return Principal {
                arn: s.into(),
                kind,
                account,
                role_arn,
            };
        }
        let kind = if s == "*" || s.eq_ignore_ascii_case("anonymous") {
            PrincipalKind::Anonymous
        } else if s.ends_with(".amazonaws.com") || s.ends_with(".amazonaws.com.cn") {
            PrincipalKind::Service
        } else {
            PrincipalKind::Federated
        };
        Principal {
            arn: s.into(),
            kind,
            account: None,
            role_arn: None,
        }
    }

    pub fn arn(&self) -> &str {
        &self.arn
    }

    pub fn kind(&self) -> PrincipalKind {
        self.kind
    }

    pub fn account(&self) -> Option<&str> {
        self.account.as_deref()
    }

    /// For a role session, the role's ARN.
    pub fn role_arn(&self) -> Option<&str> {
        self.role_arn.as_deref()
    }

    /// Set the role ARN of a session (the session ARN lacks the role's path;
    /// `aws:PrincipalArn` carries it).
    pub fn set_role_arn(&mut self, role_arn: &str) {
        if matches!(self.kind, PrincipalKind::AssumedRole | PrincipalKind::Role) {
            self.role_arn = Some(role_arn.into());
        }
    }

    /// Whether this principal has identity-based policies at all.
    pub fn has_identity(&self) -> bool {
        !matches!(
            self.kind,
            PrincipalKind::Service | PrincipalKind::Federated | PrincipalKind::Anonymous
        )
    }
}

/// One authorization request, ready for evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub(crate) principal: Principal,
    pub(crate) action: Box<str>,
    pub(crate) action_lower: Box<str>,
    /// Length of the service prefix in `action_lower`.
    service_len: usize,
    pub(crate) action_hash: u64,
    pub(crate) service_hash: u64,
    pub(crate) resource: Arn,
    pub(crate) resource_account: Option<Box<str>>,
    pub(crate) context: Context,
}

impl Request {
    /// Build a request. `resource_account` defaults to the resource ARN's
    /// account field. When the context carries `aws:PrincipalArn` for a role
    /// session, it gives the role's full ARN.
    pub fn new(
        principal: &str,
        action: &str,
        resource: &str,
        resource_account: Option<&str>,
        context: Context,
    ) -> Request {
        let mut principal = Principal::parse(principal);
        if let Some(ContextValue::Single(pa)) = context.get("aws:PrincipalArn") {
            if pa.contains(":role/") {
                principal.set_role_arn(pa);
            }
        }
        let resource = Arn::new(resource);
        let resource_account = resource_account
            .map(Into::into)
            .or_else(|| resource.account().filter(|a| !a.is_empty()).map(Into::into));
        let action_lower: Box<str> = action.to_ascii_lowercase().into();
        let service_len = action_lower.find(':').unwrap_or(action_lower.len());
        Request {
            principal,
            action: action.into(),
            service_len,
            action_hash: crate::policy::name_hash(&action_lower),
            service_hash: crate::policy::name_hash(action_lower.get(..service_len).unwrap_or("")),
            action_lower,
            resource,
            resource_account,
            context,
        }
    }

    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    pub fn action(&self) -> &str {
        &self.action
    }

    pub fn resource(&self) -> &str {
        self.resource.as_str()
    }

    pub fn resource_account(&self) -> Option<&str> {
        self.resource_account.as_deref()
    }

    pub fn context(&self) -> &Context {
        &self.context
    }

    /// The lowercased service prefix of the action (`s3` for `s3:GetObject`).
    #[inline]
    pub(crate) fn service_lower(&self) -> &str {
        self.action_lower.get(..self.service_len).unwrap_or("")
    }

    /// Whether principal and resource are in different accounts.
    pub fn is_cross_account(&self) -> bool {
        match (self.principal.account(), self.resource_account()) {
            (Some(p), Some(r)) => p != r,
            _ => false,
        }
    }
}
