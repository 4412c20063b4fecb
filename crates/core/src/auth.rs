//! Who is calling, and may they: access keys and session credentials are
//! resolved to a [`Caller`]; a caller's policies are gathered into the
//! engine's [`Layers`]; every operation is decided by `ward_policy::evaluate`
//! with the action and resource ARN AWS uses for it.
//!
//! An account's root user has every permission in its account (the engine
//! models this). A principal's policies are read and compiled once and
//! shared until the store changes (see [`crate::view`]).

use crate::error::{ApiError, ApiResult};
use crate::iam::{Entity, Iam};
use crate::model::*;
use crate::store::{Store, Tx};
use std::sync::Arc;
use ward_policy::{
    evaluate, Context, ContextValue, Layers, Policy, PolicySet, PolicyType, Request,
};
use zeroize::Zeroizing;

/// What kind of principal a caller is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallerKind {
    Root,
    User {
        name: String,
    },
    /// A role session (`AssumeRole`).
    Role {
        role_name: String,
        session_name: String,
    },
    /// A user's (or root's) temporary credentials (`GetSessionToken`).
    UserSession {
        user: Option<String>,
    },
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub account: String,
    /// The principal ARN (`...:user/bob`, `...:assumed-role/r/s`, `...:root`).
    pub arn: String,
    /// `UserId` as `GetCallerIdentity` returns it.
    pub user_id: String,
    pub kind: CallerKind,
    pub access_key_id: String,
    pub session: Option<Session>,
}

impl Caller {
    /// The IAM user name behind the caller, if any (users and their sessions).
    pub fn user_name(&self) -> Option<&str> {
        match &self.kind {
            CallerKind::User { name } => Some(name),
            CallerKind::UserSession { user } => user.as_deref(),
            _ => None,
        }
    }

    pub fn is_root(&self) -> bool {
        matches!(
            self.kind,
            CallerKind::Root | CallerKind::UserSession { user: None }
        )
    }
}

/// What a decision is about: the resource ARN, its account when the ARN
/// does not name one (S3), and its own policy.
#[derive(Debug, Clone, Default)]
pub struct Target<'a> {
    pub resource: &'a str,
    pub account: Option<&'a str>,
    pub policy: Option<PolicySet>,
}

/// Why credentials were refused (mapped onto SigV4's errors by the server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialError {
    /// Unknown or inactive key, or a token that does not match.
    InvalidClientTokenId,
    /// Temporary credentials past their expiry.
    ExpiredToken,
    /// A store failure.
    Internal(ApiError),
}

/// Information about the request that becomes condition keys.
#[derive(Debug, Clone, Default)]
pub struct RequestInfo {
    pub now: i64,
    pub source_ip: Option<String>,
    pub secure_transport: bool,
    pub region: String,
    pub user_agent: Option<String>,
}

fn iso(t: i64) -> String {
    crate::model::iso8601(t)
}

impl<S: Store> Iam<S> {
    /// Resolve an access key (and session token) to its caller and secret.
    pub fn credentials(
        &self,
        access_key_id: &str,
        token: Option<&str>,
        now: i64,
    ) -> Result<(Caller, Zeroizing<String>), CredentialError> {
        let internal = CredentialError::Internal;
        if access_key_id.starts_with("ASIA") {
            // The token is the session, sealed with its secret.
            let sealed = token.ok_or(CredentialError::InvalidClientTokenId)?;
            let payload = self
                .sealer
                .open_compact(sealed, crate::sts::TOKEN_DICT)
                .map_err(|_| CredentialError::InvalidClientTokenId)?;
            let crate::sts::TokenPayload { session: s, secret } = serde_json::from_str(&payload)
                .map_err(|_| CredentialError::InvalidClientTokenId)?;
            let secret = Zeroizing::new(secret);
            if s.access_key_id != access_key_id {
                return Err(CredentialError::InvalidClientTokenId);
            }
            if now >= s.expires {
                return Err(CredentialError::ExpiredToken);
            }
            let caller = match &s.kind {
                SessionKind::Role {
                    role_name,
                    role_id,
                    session_name,
                    ..
                } => Caller {
                    account: s.account.clone(),
                    arn: format!(
                        "arn:{}:sts::{}:assumed-role/{role_name}/{session_name}",
                        self.partition, s.account
                    ),
                    user_id: format!("{role_id}:{session_name}"),
                    kind: CallerKind::Role {
                        role_name: role_name.clone(),
                        session_name: session_name.clone(),
                    },
                    access_key_id: access_key_id.into(),
                    session: Some(s.clone()),
                },
                SessionKind::User { user } => {
                    let (arn, uid) = match user {
                        Some(u) => {
                            let v = self
                                .user_view(&s.account, u)
                                .map_err(|_| CredentialError::InvalidClientTokenId)?;
                            (v.user.arn.clone(), v.user.id.clone())
                        }
                        None => (
                            format!("arn:{}:iam::{}:root", self.partition, s.account),
                            s.account.clone(),
                        ),
                    };
                    Caller {
                        account: s.account.clone(),
                        arn,
                        user_id: uid,
                        kind: CallerKind::UserSession { user: user.clone() },
                        access_key_id: access_key_id.into(),
                        session: Some(s.clone()),
                    }
                }
            };
            return Ok((caller, secret));
        }
        let gen = match self.keys.get(access_key_id) {
            Ok(hit) => return Ok(hit),
            Err(gen) => gen,
        };
        let k: AccessKey = self
            .access_key(access_key_id)
            .map_err(internal)?
            .ok_or(CredentialError::InvalidClientTokenId)?;
        if k.status != KeyStatus::Active {
            return Err(CredentialError::InvalidClientTokenId);
        }
        let secret = self
            .sealer
            .open(&k.sealed_secret)
            .map_err(|_| internal(ApiError::internal()))?;
        let caller = match &k.user {
            None => Caller {
                account: k.account.clone(),
                arn: format!("arn:{}:iam::{}:root", self.partition, k.account),
                user_id: k.account.clone(),
                kind: CallerKind::Root,
                access_key_id: access_key_id.into(),
                session: None,
            },
            Some(u) => {
                let usr = self
                    .get_user(&k.account, u)
                    .map_err(|_| CredentialError::InvalidClientTokenId)?;
                Caller {
                    account: k.account.clone(),
                    arn: usr.arn,
                    user_id: usr.id,
                    kind: CallerKind::User { name: usr.name },
                    access_key_id: access_key_id.into(),
                    session: None,
                }
            }
        };
        self.keys
            .put(gen, access_key_id, caller.clone(), secret.clone());
        Ok((caller, secret))
    }

    /// Identity policies of an entity: inline and attached managed.
    pub(crate) fn entity_policies(
        &self,
        tx: &dyn Tx,
        account: &str,
        e: Entity,
        ln: &str,
        arn: &str,
        out: &mut Vec<Arc<Policy>>,
    ) -> ApiResult<()> {
        for p in self.inline_in(tx, account, e, ln)? {
            out.push(self.compile(
                &format!("{arn}#inline/{}", p.name),
                &p.document,
                PolicyType::Identity,
            )?);
        }
        for (_, parn) in self.attached_in(tx, account, e, ln)? {
            if let Some(mp) = self.policy_by_arn(tx, &parn)? {
                let doc = self.policy_document(tx, &mp)?;
                out.push(self.compile(&parn, &doc, PolicyType::Identity)?);
            }
        }
        Ok(())
    }

    pub(crate) fn boundary(&self, tx: &dyn Tx, arn: Option<&str>) -> ApiResult<Option<PolicySet>> {
        let Some(arn) = arn else { return Ok(None) };
        let Some(mp) = self.policy_by_arn(tx, arn)? else {
            // A boundary whose policy is gone allows nothing.
            return Ok(Some(PolicySet::default()));
        };
        let doc = self.policy_document(tx, &mp)?;
        Ok(Some(PolicySet::new(vec![self.compile(
            arn,
            &doc,
            PolicyType::PermissionBoundary,
        )?])))
    }

    /// The caller's identity-side layers (identity, boundary, session).
    pub fn layers(&self, caller: &Caller) -> ApiResult<Layers> {
        let mut layers = Layers::default();
        match (&caller.kind, caller.user_name()) {
            (CallerKind::Role { role_name, .. }, _) => {
                let v = self.role_view(&caller.account, role_name)?;
                layers.identity = v.identity.clone();
                layers.permission_boundary = v.boundary.clone();
            }
            (_, Some(u)) => {
                let v = self.user_view(&caller.account, u)?;
                layers.identity = v.identity.clone();
                layers.permission_boundary = v.boundary.clone();
            }
            _ => {}
        }
        if let Some(s) = &caller.session {
            if !s.policies.is_empty() {
                layers.session = Some(self.session_set(caller, s)?);
            }
        }
        Ok(layers)
    }

    /// The request context for a caller.
    pub fn context(&self, caller: &Caller, info: &RequestInfo) -> ApiResult<Context> {
        let mut c = Context::new();
        c.set("aws:PrincipalAccount", &caller.account);
        if let Some(ov) = self.org_view(&caller.account)? {
            c.set("aws:PrincipalOrgID", &ov.org_id);
            c.insert(
                "aws:PrincipalOrgPaths",
                ContextValue::Multi(vec![ov.path.as_str().into()]),
            );
        }
        c.set("aws:userid", &caller.user_id);
        c.set("aws:CurrentTime", &iso(info.now));
        c.set("aws:EpochTime", &info.now.to_string());
        c.set(
            "aws:SecureTransport",
            if info.secure_transport {
                "true"
            } else {
                "false"
            },
        );
        c.set("aws:ViaAWSService", "false");
        c.set("aws:PrincipalIsAWSService", "false");
        c.set("aws:RequestedRegion", &info.region);
        if let Some(ip) = &info.source_ip {
            c.set("aws:SourceIp", ip);
        }
        if let Some(ua) = &info.user_agent {
            c.set("aws:UserAgent", ua);
        }
        let mut tags: Vec<Tag> = Vec::new();
        match &caller.kind {
            CallerKind::Root => {
                c.set("aws:PrincipalArn", &caller.arn);
                c.set("aws:PrincipalType", "Account");
            }
            CallerKind::User { name } => {
                c.set("aws:username", name);
                c.set("aws:PrincipalArn", &caller.arn);
                c.set("aws:PrincipalType", "User");
                tags = self.user_view(&caller.account, name)?.user.tags.clone();
            }
            CallerKind::UserSession { user } => {
                c.set("aws:PrincipalArn", &caller.arn);
                match user {
                    Some(u) => {
                        c.set("aws:username", u);
                        c.set("aws:PrincipalType", "User");
                        tags = self.user_view(&caller.account, u)?.user.tags.clone();
                    }
                    None => c.set("aws:PrincipalType", "Account"),
                }
            }
            CallerKind::Role { role_name, .. } => {
                let r = self.role_view(&caller.account, role_name)?;
                c.set("aws:PrincipalArn", &r.role.arn);
                c.set("aws:PrincipalType", "AssumedRole");
                tags = r.role.tags.clone();
            }
        }
        if let Some(s) = &caller.session {
            c.set("aws:TokenIssueTime", &iso(s.issued));
            // Session tags override the principal's tags of the same key.
            for t in &s.tags {
                tags.retain(|x| !x.key.eq_ignore_ascii_case(&t.key));
                tags.push(t.clone());
            }
            if let Some(si) = &s.source_identity {
                c.set("aws:SourceIdentity", si);
            }
            match s.mfa_authenticated_at {
                Some(at) => {
                    c.set("aws:MultiFactorAuthPresent", "true");
                    c.set(
                        "aws:MultiFactorAuthAge",
                        &(info.now - at).max(0).to_string(),
                    );
                }
                None => c.set("aws:MultiFactorAuthPresent", "false"),
            }
        }
        for t in &tags {
            c.set(&format!("aws:PrincipalTag/{}", t.key), &t.value);
        }
        Ok(c)
    }

    /// Decide one action on one resource for a caller; `AccessDenied` with
    /// AWS's sentence when refused. `resource_layer` is the resource's own
    /// policy (a role's trust policy for `sts:AssumeRole`).
    pub fn authorize(
        &self,
        caller: &Caller,
        action: &str,
        resource: &str,
        extra: &[(String, ContextValue)],
        resource_layer: Option<PolicySet>,
        info: &RequestInfo,
    ) -> ApiResult<()> {
        let target = Target {
            resource,
            account: None,
            policy: resource_layer,
        };
        self.decide(caller, action, &target, extra, info, |req, d| {
            crate::audit::note_decision(caller, req, d);
            if d.is_allowed() {
                Ok(())
            } else {
                Err(ApiError::access_denied(d.message(req).unwrap_or_default()))
            }
        })?
    }

    /// Evaluate one action on one resource for a caller with every layer
    /// that applies (identity, boundary, session, the resource's policy, the
    /// organization's SCPs and RCPs) and hand the request and the engine's
    /// decision to `f`.
    pub fn decide<T>(
        &self,
        caller: &Caller,
        action: &str,
        target: &Target<'_>,
        extra: &[(String, ContextValue)],
        info: &RequestInfo,
        f: impl FnOnce(&Request, &ward_policy::Decision<'_>) -> T,
    ) -> ApiResult<T> {
        let mut ctx = self.context(caller, info)?;
        for (k, v) in extra {
            ctx.insert(k, v.clone());
        }
        let mut layers = self.layers(caller)?;
        let resource = target.resource;
        layers.resource = target.policy.clone();
        // Organizations: the caller's account's SCPs; the resource account's
        // RCPs for the services RCPs govern.
        if let Some(ov) = self.org_view(&caller.account)? {
            layers.scp = ov.scp.clone();
        }
        let res_account = target
            .account
            .or_else(|| resource.split(':').nth(4).filter(|a| !a.is_empty()))
            .unwrap_or(&caller.account);
        ctx.set("aws:ResourceAccount", res_account);
        if let Some(rv) = self.org_view(res_account)? {
            ctx.set("aws:ResourceOrgID", &rv.org_id);
            ctx.insert(
                "aws:ResourceOrgPaths",
                ContextValue::Multi(vec![rv.path.as_str().into()]),
            );
            if Self::rcp_applies(action) {
                layers.rcp = rv.rcp.clone();
            }
        }
        // An AWS managed policy (`arn:aws:iam::aws:policy/…`) is in no
        // customer's account: any account's principals read it with their own
        // identity policies, as AWS lets them, rather than across accounts
        // with a resource policy it cannot have.
        let owner = target
            .account
            .or_else(|| is_aws_managed_policy(resource).then_some(caller.account.as_str()));
        let req = Request::new(&caller.arn, action, resource, owner, ctx);
        let d = evaluate(&req, &layers);
        Ok(f(&req, &d))
    }
}
