//! Workloads carry roles: a workload (a build runner, an instance) is
//! registered against an instance profile and gets a bearer token; with it,
//! the standard container credentials provider of every AWS SDK and the CLI
//! (`AWS_CONTAINER_CREDENTIALS_FULL_URI` + `AWS_CONTAINER_AUTHORIZATION_TOKEN`,
//! <https://docs.aws.amazon.com/sdkref/latest/guide/feature-container-credentials.html>)
//! fetches short-lived credentials of the profile's role and refreshes them
//! before they expire. No static key exists anywhere.
//!
//! Only the token's SHA-256 is stored; the token is shown once.

use crate::error::{ApiError, ApiResult};
use crate::iam::{get, put, Iam};
use crate::model::{new_id, secret_bytes, Session, SessionKind};
use crate::store::Store;
use crate::sts::Credentials;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub(crate) const KIND: &str = "workload";

/// Seconds a workload's credentials last (the SDKs refresh them earlier).
pub const SESSION_SECONDS: i64 = 3600;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workload {
    pub id: String,
    pub account: String,
    pub instance_profile: String,
    pub created: i64,
}

fn token_key(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Why a workload's request was refused.
fn refused() -> ApiError {
    ApiError::new(
        "AccessDenied",
        403,
        "The workload token is not valid, or was revoked.",
    )
}

impl<S: Store> Iam<S> {
    /// Register a workload for an instance profile; the workload and its
    /// bearer token (shown once).
    pub fn register_workload(
        &self,
        account: &str,
        instance_profile: &str,
        now: i64,
    ) -> ApiResult<(Workload, String)> {
        let (ip, _) = self.get_instance_profile(account, instance_profile)?;
        let token = format!("ward-wl-{}", hex::encode(secret_bytes::<32>()?));
        let w = Workload {
            id: new_id("wl-").to_lowercase(),
            account: account.into(),
            instance_profile: ip.name,
            created: now,
        };
        self.write(|tx| put(tx, KIND, &token_key(&token), &w))?;
        Ok((w, token))
    }

    /// Revoke every token of a workload.
    pub fn revoke_workload(&self, account: &str, id: &str) -> ApiResult<bool> {
        self.write(|tx| {
            let mut found = false;
            for (k, v) in crate::iam::scan_all_raw(tx, KIND, "")? {
                let w: Workload = serde_json::from_slice(&v).map_err(|_| ApiError::internal())?;
                if w.account == account && w.id == id {
                    tx.delete(KIND, &k)?;
                    found = true;
                }
            }
            Ok(found)
        })
    }

    /// Credentials of the workload's role for a bearer token: a role session
    /// named after the workload. Refused when the token is unknown, the
    /// instance profile is gone or holds no role.
    pub fn workload_credentials(
        &self,
        token: &str,
        now: i64,
    ) -> ApiResult<(Workload, String, Credentials)> {
        let w: Workload = self
            .store
            .read(|tx| get(tx, KIND, &token_key(token)))?
            .ok_or_else(refused)?;
        let (_, roles) = self
            .get_instance_profile(&w.account, &w.instance_profile)
            .map_err(|_| refused())?;
        let role = roles.into_iter().next().ok_or_else(|| {
            ApiError::new(
                "AccessDenied",
                403,
                format!("Instance profile {} holds no role.", w.instance_profile),
            )
        })?;
        let duration = SESSION_SECONDS.min(i64::from(role.max_session_duration));
        let session = Session {
            access_key_id: crate::model::new_access_key_id("ASIA"),
            account: w.account.clone(),
            kind: SessionKind::Role {
                role_name: role.name.clone(),
                role_arn: role.arn.clone(),
                role_id: role.id.clone(),
                session_name: w.id.clone(),
            },
            issued: now,
            expires: now + duration,
            policies: vec![],
            tags: vec![],
            transitive_tag_keys: vec![],
            source_identity: None,
            mfa_authenticated_at: None,
            chained: false,
        };
        let creds = self.issue(session)?;
        Ok((w, role.arn, creds))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Sealer;
    use crate::store::MemStore;
    use std::sync::Arc;

    #[test]
    fn a_token_yields_role_credentials_until_revoked() {
        let a = "123456789012";
        let i = Iam::new(
            Arc::new(MemStore::new()),
            Sealer::new(&Sealer::generate_key()),
        );
        i.ensure_account(a, 0).unwrap();
        let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        i.create_role(a, "builder", None, trust, None, None, vec![], None, 0)
            .unwrap();
        i.create_instance_profile(a, "runner", None, vec![], 0)
            .unwrap();
        let (w, token) = i.register_workload(a, "runner", 0).unwrap();
        // No role in the profile yet.
        assert_eq!(
            i.workload_credentials(&token, 10).unwrap_err().code,
            "AccessDenied"
        );
        i.add_role_to_instance_profile(a, "runner", "builder")
            .unwrap();
        let (_, role, c) = i.workload_credentials(&token, 10).unwrap();
        assert_eq!(role, format!("arn:aws:iam::{a}:role/builder"));
        assert_eq!(c.expiration, 10 + SESSION_SECONDS);
        let (caller, _) = i
            .credentials(&c.access_key_id, Some(&c.session_token), 11)
            .unwrap();
        assert_eq!(
            caller.arn,
            format!("arn:aws:sts::{a}:assumed-role/builder/{}", w.id)
        );
        assert!(i.workload_credentials("ward-wl-guess", 10).is_err());
        assert!(i.revoke_workload(a, &w.id).unwrap());
        assert!(i.workload_credentials(&token, 10).is_err());
    }
}
