//! STS: `AssumeRole` and `GetSessionToken` — temporary credentials that
//! carry everything the engine needs (role, session policies, tags, source
//! identity, issue time, MFA state).
//!
//! Rules from <https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html>
//! and <https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_temp_request.html>.

use crate::auth::{Caller, CallerKind, RequestInfo};
use crate::error::{ApiError, ApiResult};
use crate::iam::Iam;
use crate::model::*;
use crate::store::Store;
use ward_policy::{ContextValue, PolicyType};

/// Most session tags one session may carry.
pub const MAX_SESSION_TAGS: usize = 50;
/// Most managed session policies (`PolicyArns`).
pub const MAX_POLICY_ARNS: usize = 10;
/// Inline and managed session policies' plaintext limit (characters).
pub const SESSION_POLICY_PLAINTEXT: usize = 2048;

/// What session tokens are compressed against before they are sealed: a
/// session's JSON with the usual values. Tokens carry it only by
/// reference, so it can never change while tokens made with it live (12
/// hours at most): a new dictionary needs a new mark in
/// [`crate::crypto::Sealer::seal_compact`].
pub(crate) const TOKEN_DICT: &[u8] = br#"{"session":{"access_key_id":"ASIA","account":"123456789012","kind":{"User":{"user":null}},"kind":{"Role":{"role_name":"","role_arn":"arn:aws:iam::123456789012:role/","role_id":"AROA","session_name":""}},"issued":17,"expires":17,"policies":[["arn:aws:iam::","{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"\",\"Resource\":\"*\"}]}"]],"tags":[{"key":"","value":""}],"transitive_tag_keys":[],"source_identity":null,"mfa_authenticated_at":null,"chained":false},"secret":""}"#;

/// What a session token seals: the session and its secret.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct TokenPayload {
    pub session: Session,
    pub secret: String,
}

/// `AssumeRole`'s input.
#[derive(Debug, Clone, Default)]
pub struct AssumeRoleInput {
    pub role_arn: String,
    pub role_session_name: String,
    pub duration_seconds: Option<u32>,
    pub policy: Option<String>,
    pub policy_arns: Vec<String>,
    pub tags: Vec<Tag>,
    pub transitive_tag_keys: Vec<String>,
    pub external_id: Option<String>,
    pub source_identity: Option<String>,
    /// MFA: the device serial and code, verified by the MFA module when it lands.
    pub serial_number: Option<String>,
    pub token_code: Option<String>,
}

/// Temporary credentials.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    pub expiration: i64,
}

/// `AssumeRole`'s output.
#[derive(Debug, Clone)]
pub struct AssumeRoleOutput {
    pub credentials: Credentials,
    pub assumed_role_id: String,
    pub assumed_role_arn: String,
    pub packed_policy_size: Option<u32>,
    pub source_identity: Option<String>,
}

fn validation(m: impl Into<String>) -> ApiError {
    ApiError::validation(m)
}

impl<S: Store> Iam<S> {
    /// `SerialNumber` + `TokenCode` of `GetSessionToken` / `AssumeRole`:
    /// when MFA was authenticated, if it was given. Only an IAM user (or a
    /// user's session) has MFA devices to use.
    fn check_mfa(
        &self,
        caller: &Caller,
        serial: Option<&str>,
        code: Option<&str>,
        now: i64,
    ) -> ApiResult<Option<i64>> {
        match (serial, code) {
            (None, None) => Ok(None),
            (Some(serial), Some(code)) => self
                .verify_mfa(&caller.account, caller.user_name(), serial, code, now)
                .map(Some),
            _ => Err(ApiError::access_denied(crate::mfa::BOTH_NEEDED)),
        }
    }

    pub(crate) fn issue(&self, session: Session) -> ApiResult<Credentials> {
        let secret = new_secret()?;
        let payload = serde_json::to_string(&TokenPayload {
            session: session.clone(),
            secret: secret.clone(),
        })
        .map_err(|e| {
            let mut a = ApiError::internal();
            a.cause = Some(format!("cannot encode a session: {e}"));
            a
        })?;
        Ok(Credentials {
            access_key_id: session.access_key_id,
            secret_access_key: secret,
            session_token: self.sealer.seal_compact(&payload, TOKEN_DICT),
            expiration: session.expires,
        })
    }

    /// `sts:AssumeRole`.
    pub fn assume_role(
        &self,
        caller: &Caller,
        input: &AssumeRoleInput,
        info: &RequestInfo,
    ) -> ApiResult<AssumeRoleOutput> {
        let now = info.now;
        // AWS refuses root credentials here (as it answers them).
        if caller.is_root() {
            return Err(ApiError::access_denied(
                "Roles may not be assumed by root accounts.",
            ));
        }
        // The role: `arn:aws:iam::ACCOUNT:role/PATH/NAME`. A role that does not
        // exist is refused like one that does not trust the caller.
        let denied = || {
            ApiError::access_denied(format!(
                "User: {} is not authorized to perform: sts:AssumeRole on resource: {}",
                caller.arn, input.role_arn
            ))
        };
        let parts: Vec<&str> = input.role_arn.splitn(6, ':').collect();
        let (Some(&account), Some(res)) = (parts.get(4), parts.get(5)) else {
            return Err(validation(format!("{} is invalid", input.role_arn)));
        };
        let Some(role_name) = res.strip_prefix("role/").and_then(|r| r.rsplit('/').next()) else {
            return Err(validation(format!("{} is invalid", input.role_arn)));
        };
        let view = self.role_view(account, role_name).map_err(|_| denied())?;
        let role = &view.role;
        if role.arn != input.role_arn {
            return Err(denied());
        }
        // Session duration.
        let chained = matches!(caller.kind, CallerKind::Role { .. });
        let duration = input.duration_seconds.unwrap_or(3600);
        if chained && duration > 3600 {
            return Err(validation(
                "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
            ));
        }
        if duration > role.max_session_duration {
            return Err(validation(
                "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
            ));
        }
        if duration < 900 {
            return Err(validation(format!(
                "1 validation error detected: Value '{duration}' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900"
            )));
        }
        // Session policies.
        let mut policies: Vec<(String, String)> = Vec::new();
        let mut plaintext = 0usize;
        if let Some(p) = &input.policy {
            ward_policy::parse(p, PolicyType::Session)
                .map_err(|e| ApiError::malformed_policy(e.message))?;
            plaintext += crate::iam::policy_size(p);
            policies.push((
                format!("{}#session-policy", input.role_session_name),
                p.clone(),
            ));
        }
        if input.policy_arns.len() > MAX_POLICY_ARNS {
            return Err(validation(format!(
                "1 validation error detected: Value at 'policyArns' failed to satisfy constraint: Member must have length less than or equal to {MAX_POLICY_ARNS}"
            )));
        }
        for arn in &input.policy_arns {
            let doc = self.store.read(|tx| {
                let mp = self.policy_by_arn(tx, arn)?.ok_or_else(|| {
                    ApiError::no_such_entity(format!(
                        "Policy {arn} does not exist or is not attachable."
                    ))
                })?;
                self.policy_document(tx, &mp)
            })?;
            plaintext += crate::iam::policy_size(&doc);
            policies.push((arn.clone(), doc));
        }
        if plaintext > SESSION_POLICY_PLAINTEXT {
            let pct = plaintext * 100 / SESSION_POLICY_PLAINTEXT;
            return Err(ApiError::new(
                "PackedPolicyTooLarge",
                400,
                format!("Packed policy consumes {pct}% of allotted space, please use smaller policy for session."),
            ));
        }
        if input.tags.len() > MAX_SESSION_TAGS {
            return Err(validation(format!(
                "1 validation error detected: Value at 'tags' failed to satisfy constraint: Member must have length less than or equal to {MAX_SESSION_TAGS}"
            )));
        }
        // Tags inherited transitively from a chained session.
        let mut tags = input.tags.clone();
        let mut transitive = input.transitive_tag_keys.clone();
        if let Some(prev) = &caller.session {
            for t in &prev.tags {
                if prev
                    .transitive_tag_keys
                    .iter()
                    .any(|k| k.eq_ignore_ascii_case(&t.key))
                {
                    if tags.iter().any(|x| x.key.eq_ignore_ascii_case(&t.key)) {
                        return Err(ApiError::invalid_input(format!(
                            "One or more of the specified transitive tag keys can't be set because it conflicts with a transitive tag key in the parent session: {}",
                            t.key
                        )));
                    }
                    tags.push(t.clone());
                    transitive.push(t.key.clone());
                }
            }
        }
        let source_identity = match (&caller.session, &input.source_identity) {
            (Some(prev), Some(si)) if prev.source_identity.as_ref().is_some_and(|p| p != si) => {
                return Err(ApiError::access_denied(
                    "SourceIdentity cannot be changed once it is set on a role session.",
                ))
            }
            (Some(prev), None) => prev.source_identity.clone(),
            (_, si) => si.clone(),
        };
        // MFA: verified before the trust policy is evaluated, whose
        // `aws:MultiFactorAuthPresent` / `aws:MultiFactorAuthAge` it sets.
        let mfa_at = self.check_mfa(
            caller,
            input.serial_number.as_deref(),
            input.token_code.as_deref(),
            now,
        )?;
        // Authorization: the caller's identity side and the role's trust policy.
        let trust = view.trust.clone();
        let mut extra: Vec<(String, ContextValue)> = vec![(
            "sts:RoleSessionName".into(),
            ContextValue::Single(input.role_session_name.as_str().into()),
        )];
        if let Some(at) = mfa_at {
            extra.push((
                "aws:MultiFactorAuthPresent".into(),
                ContextValue::Single("true".into()),
            ));
            extra.push((
                "aws:MultiFactorAuthAge".into(),
                ContextValue::Single((now - at).to_string().as_str().into()),
            ));
        }
        if let Some(x) = &input.external_id {
            extra.push((
                "sts:ExternalId".into(),
                ContextValue::Single(x.as_str().into()),
            ));
        }
        if let Some(si) = &input.source_identity {
            extra.push((
                "sts:SourceIdentity".into(),
                ContextValue::Single(si.as_str().into()),
            ));
        }
        for t in &input.tags {
            extra.push((
                format!("aws:RequestTag/{}", t.key),
                ContextValue::Single(t.value.as_str().into()),
            ));
        }
        if !input.tags.is_empty() {
            extra.push((
                "aws:TagKeys".into(),
                ContextValue::Multi(input.tags.iter().map(|t| t.key.as_str().into()).collect()),
            ));
        }
        if !input.transitive_tag_keys.is_empty() {
            extra.push((
                "sts:TransitiveTagKeys".into(),
                ContextValue::Multi(
                    input
                        .transitive_tag_keys
                        .iter()
                        .map(|k| k.as_str().into())
                        .collect(),
                ),
            ));
        }
        self.authorize(
            caller,
            "sts:AssumeRole",
            &role.arn,
            &extra,
            Some(trust.clone()),
            info,
        )?;
        if !input.tags.is_empty() || !input.transitive_tag_keys.is_empty() {
            self.authorize(
                caller,
                "sts:TagSession",
                &role.arn,
                &extra,
                Some(trust.clone()),
                info,
            )?;
        }
        if input.source_identity.is_some() {
            self.authorize(
                caller,
                "sts:SetSourceIdentity",
                &role.arn,
                &extra,
                Some(trust),
                info,
            )?;
        }
        let session = Session {
            access_key_id: new_access_key_id("ASIA"),
            account: account.into(),
            kind: SessionKind::Role {
                role_name: role.name.clone(),
                role_arn: role.arn.clone(),
                role_id: role.id.clone(),
                session_name: input.role_session_name.clone(),
            },
            issued: now,
            expires: now + i64::from(duration),
            policies,
            tags,
            transitive_tag_keys: transitive,
            source_identity: source_identity.clone(),
            // MFA verified now, or carried from the caller's session.
            mfa_authenticated_at: mfa_at
                .or_else(|| caller.session.as_ref().and_then(|s| s.mfa_authenticated_at)),
            chained,
        };
        let credentials = self.issue(session)?;
        let packed =
            (!input.tags.is_empty() || input.policy.is_some() || !input.policy_arns.is_empty())
                .then(|| u32::try_from(plaintext * 100 / SESSION_POLICY_PLAINTEXT).unwrap_or(100));
        Ok(AssumeRoleOutput {
            credentials,
            assumed_role_id: format!("{}:{}", role.id, input.role_session_name),
            assumed_role_arn: format!(
                "arn:{}:sts::{account}:assumed-role/{}/{}",
                self.partition, role.name, input.role_session_name
            ),
            packed_policy_size: packed,
            source_identity,
        })
    }

    /// `sts:GetSessionToken`: temporary credentials for a user or root.
    pub fn get_session_token(
        &self,
        caller: &Caller,
        duration: Option<u32>,
        mfa: (Option<&str>, Option<&str>),
        info: &RequestInfo,
    ) -> ApiResult<Credentials> {
        if caller.session.is_some() {
            return Err(ApiError::access_denied(
                "Cannot call GetSessionToken with session credentials",
            ));
        }
        let max = if caller.is_root() { 3600 } else { 129_600 };
        let d = duration.unwrap_or(if caller.is_root() { 3600 } else { 43_200 });
        if !(900..=max).contains(&d) {
            return Err(validation(format!(
                "1 validation error detected: Value '{d}' at 'durationSeconds' failed to satisfy constraint: Member must have value {} {}",
                if d < 900 { "greater than or equal to" } else { "less than or equal to" },
                if d < 900 { 900 } else { max }
            )));
        }
        let mfa_at = self.check_mfa(caller, mfa.0, mfa.1, info.now)?;
        let session = Session {
            access_key_id: new_access_key_id("ASIA"),
            account: caller.account.clone(),
            kind: SessionKind::User {
                user: caller.user_name().map(str::to_string),
            },
            issued: info.now,
            expires: info.now + i64::from(d),
            policies: vec![],
            tags: vec![],
            transitive_tag_keys: vec![],
            source_identity: None,
            mfa_authenticated_at: mfa_at,
            chained: false,
        };
        self.issue(session)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Sealer;
    use crate::iam::Entity;
    use crate::store::MemStore;
    use std::sync::Arc;

    const A: &str = "123456789012";

    fn setup() -> (Iam<MemStore>, Caller) {
        let i = Iam::new(
            Arc::new(MemStore::new()),
            Sealer::new(&Sealer::generate_key()),
        );
        i.create_user(A, "alice", None, vec![], None, 1).unwrap();
        let k = i.create_access_key(A, Some("alice"), 1).unwrap();
        let (c, _) = i.credentials(&k.key.id, None, 10).unwrap();
        (i, c)
    }

    fn info(now: i64) -> RequestInfo {
        RequestInfo {
            now,
            region: "us-east-1".into(),
            ..Default::default()
        }
    }

    #[test]
    fn assume_role_needs_trust_and_identity_and_session_policies_narrow() {
        let (i, alice) = setup();
        let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}]}"#;
        let role = i
            .create_role(A, "deploy", None, trust, None, Some(7200), vec![], None, 1)
            .unwrap();
        let input = AssumeRoleInput {
            role_arn: role.arn.clone(),
            role_session_name: "s1".into(),
            ..Default::default()
        };
        // The trust policy delegates to the account: alice needs an identity allow.
        let e = i.assume_role(&alice, &input, &info(100)).unwrap_err();
        assert_eq!(e.code, "AccessDenied");
        assert_eq!(e.message, "User: arn:aws:iam::123456789012:user/alice is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::123456789012:role/deploy because no identity-based policy allows the sts:AssumeRole action");
        i.put_inline(A, Entity::User, "alice", "assume", r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}"#).unwrap();
        i.put_inline(A, Entity::Role, "deploy", "s3", r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#).unwrap();
        let mut narrowed = input.clone();
        narrowed.policy = Some(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#.into());
        let out = i.assume_role(&alice, &narrowed, &info(100)).unwrap();
        assert_eq!(
            out.assumed_role_arn,
            "arn:aws:sts::123456789012:assumed-role/deploy/s1"
        );
        assert!(out.credentials.access_key_id.starts_with("ASIA"));
        let (session, secret) = i
            .credentials(
                &out.credentials.access_key_id,
                Some(&out.credentials.session_token),
                200,
            )
            .unwrap();
        assert_eq!(secret.as_str(), out.credentials.secret_access_key);
        assert!(i
            .authorize(
                &session,
                "s3:GetObject",
                "arn:aws:s3:::b/k",
                &[],
                None,
                &info(200)
            )
            .is_ok());
        let e = i
            .authorize(
                &session,
                "s3:PutObject",
                "arn:aws:s3:::b/k",
                &[],
                None,
                &info(200),
            )
            .unwrap_err();
        assert!(
            e.message
                .ends_with("because no session policy allows the s3:PutObject action"),
            "{}",
            e.message
        );
        // Wrong token, expiry.
        assert!(matches!(
            i.credentials(&out.credentials.access_key_id, Some("nope"), 200),
            Err(crate::auth::CredentialError::InvalidClientTokenId)
        ));
        assert!(matches!(
            i.credentials(
                &out.credentials.access_key_id,
                Some(&out.credentials.session_token),
                100 + 3600
            ),
            Err(crate::auth::CredentialError::ExpiredToken)
        ));
        // Chaining caps at one hour; duration beyond the role's maximum is refused.
        let mut long = input.clone();
        long.duration_seconds = Some(7200);
        assert!(i
            .assume_role(&session, &long, &info(200))
            .unwrap_err()
            .message
            .contains("role chaining"));
        long.duration_seconds = Some(10_000);
        assert!(i
            .assume_role(&alice, &long, &info(200))
            .unwrap_err()
            .message
            .contains("MaxSessionDuration"));
    }
}
