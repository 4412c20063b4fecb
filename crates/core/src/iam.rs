//! IAM operations: users, access keys, groups, roles, managed and inline
//! policies. Each is a plain function over a [`Store`] transaction that
//! checks AWS's semantics (unique names, quotas, conflicts) and returns
//! AWS's errors; the server decodes wire requests into these calls.
//!
//! Messages and quotas follow the IAM API reference
//! (<https://docs.aws.amazon.com/IAM/latest/APIReference/>) and
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html>.

use crate::crypto::Sealer;
use crate::error::{ApiError, ApiResult};
use crate::model::*;
use crate::store::{Store, Tx, TxMut};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::Arc;
use ward_policy::PolicyType;

/// Access keys per user.
pub const ACCESS_KEYS_PER_USER: u64 = 2;
/// Versions per managed policy.
pub const VERSIONS_PER_POLICY: u64 = 5;
/// Managed policies attached to one user, group or role.
pub const ATTACHED_POLICIES_PER_ENTITY: u64 = 10;
/// Managed policy document size (characters, white space excluded).
pub const MANAGED_POLICY_SIZE: usize = 6144;
/// Inline policy sizes (sum over the entity, white space excluded).
pub const USER_INLINE_SIZE: usize = 2048;
pub const GROUP_INLINE_SIZE: usize = 5120;
pub const ROLE_INLINE_SIZE: usize = 10240;
/// Role trust policy size.
pub const TRUST_POLICY_SIZE: usize = 2048;
/// Groups per user.
pub const GROUPS_PER_USER: u64 = 10;

/// Record kinds in the store.
pub(crate) mod kind {
    pub const ACCOUNT: &str = "account";
    pub const USER: &str = "user";
    pub const GROUP: &str = "group";
    pub const GROUP_MEMBER: &str = "group_member";
    pub const USER_GROUP: &str = "user_group";
    pub const ROLE: &str = "role";
    pub const POLICY: &str = "policy";
    pub const POLICY_VERSION: &str = "policy_version";
    /// `ACCT/{entity type}/{entity}/{policy arn}`
    pub const ATTACHED: &str = "attached";
    /// `ACCT/{policy name}/{entity type}/{entity}`
    pub const POLICY_ENTITY: &str = "policy_entity";
    /// `ACCT/{entity type}/{entity}/{policy name}`
    pub const INLINE: &str = "inline";
    pub const ACCESS_KEY: &str = "access_key";
    /// `ACCT/{user or #root}/{key id}`
    pub const USER_KEY: &str = "user_key";
    /// Account alias → account.
    pub const ALIAS: &str = "alias";
    pub const INSTANCE_PROFILE: &str = "instance_profile";
    /// `ACCT/{role}/{instance profile}`
    pub const ROLE_PROFILE: &str = "role_profile";
    /// Virtual MFA devices: `ACCT/{device name}`.
    pub const MFA: &str = "mfa_device";
    /// `ACCT/{user}/{device name}` → serial number.
    pub const USER_MFA: &str = "user_mfa";
}

/// Tags per user, role or policy.
pub const TAGS_PER_RESOURCE: usize = 50;

/// Which taggable record a tag operation is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taggable {
    User,
    Role,
    Policy,
    /// By serial number.
    MfaDevice,
}

/// Which kind of entity a policy is attached to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    User,
    Group,
    Role,
}

impl Entity {
    pub fn as_str(self) -> &'static str {
        match self {
            Entity::User => "user",
            Entity::Group => "group",
            Entity::Role => "role",
        }
    }

    fn inline_limit(self) -> usize {
        match self {
            Entity::User => USER_INLINE_SIZE,
            Entity::Group => GROUP_INLINE_SIZE,
            Entity::Role => ROLE_INLINE_SIZE,
        }
    }

    /// `User`/`Group`/`Role` as AWS capitalizes it in messages.
    fn title(self) -> &'static str {
        match self {
            Entity::User => "user",
            Entity::Group => "group",
            Entity::Role => "role",
        }
    }
}

pub(crate) fn lc(s: &str) -> String {
    s.to_lowercase()
}

pub(crate) fn key2(a: &str, b: &str) -> String {
    format!("{a}/{}", lc(b))
}

/// Decode a stored record; a record that does not decode is an internal failure.
fn decode<T: DeserializeOwned>(kind: &str, key: &str, bytes: &[u8]) -> ApiResult<T> {
    serde_json::from_slice(bytes).map_err(|e| {
        let mut a = ApiError::internal();
        a.cause = Some(format!("corrupt {kind} record `{key}`: {e}"));
        a
    })
}

pub(crate) fn get<T: DeserializeOwned>(tx: &dyn Tx, kind: &str, key: &str) -> ApiResult<Option<T>> {
    tx.get(kind, key)?
        .map(|v| decode(kind, key, &v))
        .transpose()
}

pub(crate) fn put<T: Serialize>(tx: &mut dyn TxMut, kind: &str, key: &str, v: &T) -> ApiResult<()> {
    let bytes = serde_json::to_vec(v).map_err(|e| {
        let mut a = ApiError::internal();
        a.cause = Some(format!("cannot encode {kind} record: {e}"));
        a
    })?;
    tx.put(kind, key, &bytes)?;
    Ok(())
}

/// Every record of `kind` under `prefix`, in key order.
pub(crate) fn scan_all_raw(
    tx: &dyn Tx,
    kind: &str,
    prefix: &str,
) -> ApiResult<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = tx.scan(kind, prefix, after.as_deref(), 1000)?;
        let n = page.len();
        if let Some((k, _)) = page.last() {
            after = Some(k.clone());
        }
        out.extend(page);
        if n < 1000 {
            return Ok(out);
        }
    }
}

pub(crate) fn scan_all<T: DeserializeOwned>(
    tx: &dyn Tx,
    kind: &str,
    prefix: &str,
) -> ApiResult<Vec<T>> {
    scan_all_raw(tx, kind, prefix)?
        .iter()
        .map(|(k, v)| decode(kind, k, v))
        .collect()
}

pub(crate) fn scan_keys(tx: &dyn Tx, kind: &str, prefix: &str) -> ApiResult<Vec<String>> {
    Ok(scan_all_raw(tx, kind, prefix)?
        .into_iter()
        .map(|(k, _)| k)
        .collect())
}

/// A key with its last use as the audit trail knows it (newer than what
/// the key itself records, which is kept when the server does not audit).
fn with_last_used(tx: &dyn Tx, mut k: AccessKey) -> ApiResult<AccessKey> {
    if let Some(u) = get::<LastUsed>(tx, crate::audit::KEY_LAST_USED, &k.id)? {
        if k.last_used.as_ref().is_none_or(|l| u.at >= l.at) {
            k.last_used = Some(u);
        }
    }
    Ok(k)
}

/// Move one record to a new key.
fn rekey(tx: &mut dyn TxMut, kind: &str, from: &str, to: &str) -> ApiResult<()> {
    if let Some(v) = tx.get(kind, from)? {
        tx.delete(kind, from)?;
        tx.put(kind, to, &v)?;
    }
    Ok(())
}

/// Move every record of `kind` under `from` to the same suffix under `to`;
/// the suffixes moved.
fn move_prefix(tx: &mut dyn TxMut, kind: &str, from: &str, to: &str) -> ApiResult<Vec<String>> {
    let mut moved = Vec::new();
    for (key, value) in scan_all_raw(tx, kind, from)? {
        let rest = key.strip_prefix(from).unwrap_or("").to_string();
        tx.delete(kind, &key)?;
        tx.put(kind, &format!("{to}{rest}"), &value)?;
        moved.push(rest);
    }
    Ok(moved)
}

/// The size IAM counts: characters, white space outside strings excluded.
pub fn policy_size(doc: &str) -> usize {
    let mut n = 0;
    let mut in_str = false;
    let mut esc = false;
    for c in doc.chars() {
        if in_str {
            n += 1;
            if esc {
                esc = false;
            } else if c == '\\' {
                esc = true;
            } else if c == '"' {
                in_str = false;
            }
        } else if c == '"' {
            in_str = true;
            n += 1;
        } else if !c.is_whitespace() {
            n += 1;
        }
    }
    n
}

/// Validate a policy document with the engine: `MalformedPolicyDocument`
/// with AWS's message when it does not parse.
pub fn check_document(doc: &str, ty: PolicyType) -> ApiResult<()> {
    ward_policy::parse(doc, ty)
        .map(|_| ())
        .map_err(|e| ApiError::malformed_policy(e.message))
}

/// A page of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Set when there are more: pass back as `Marker`.
    pub marker: Option<String>,
}

/// Paging parameters.
#[derive(Debug, Clone, Default)]
pub struct Paging {
    pub marker: Option<String>,
    pub max_items: Option<u32>,
}

impl Paging {
    pub(crate) fn limit(&self) -> usize {
        self.max_items.map_or(100, |m| m.clamp(1, 1000) as usize)
    }
}

/// Normalize a path: absent is `/`.
pub(crate) fn path_or_root(p: Option<&str>) -> String {
    p.filter(|p| !p.is_empty()).unwrap_or("/").to_string()
}

pub(crate) fn check_path(p: &str) -> ApiResult<()> {
    if !(p.starts_with('/') && p.ends_with('/')) || p.contains("//") {
        return Err(ApiError::validation(format!(
            "The specified value for path is invalid. It must begin and end with / and contain only alphanumeric characters and/or / characters. Got `{p}`."
        )));
    }
    Ok(())
}

/// IAM over a store.
#[derive(Debug)]
pub struct Iam<S> {
    pub store: Arc<S>,
    pub sealer: Sealer,
    pub partition: String,
    /// Compiled policies by (type, id, document): a content-addressed cache,
    /// so a changed document is simply a different entry.
    pub(crate) compiled: crate::cache::PolicyCache,
    /// Resolved access keys (long-term keys only), dropped whenever a key
    /// changes.
    pub(crate) keys: crate::cache::KeyCache,
    /// Principals as authorization sees them, retired by every write.
    pub(crate) views: crate::view::Views,
}

/// A new access key with its secret (shown once).
#[derive(Debug, Clone)]
pub struct NewAccessKey {
    pub key: AccessKey,
    pub secret: String,
}

impl<S: Store> Iam<S> {
    pub fn new(store: Arc<S>, sealer: Sealer) -> Self {
        Iam {
            store,
            sealer,
            partition: "aws".into(),
            compiled: crate::cache::PolicyCache::default(),
            keys: crate::cache::KeyCache::default(),
            views: crate::view::Views::default(),
        }
    }

    pub(crate) fn arn(&self, account: &str, what: &str, path: &str, name: &str) -> String {
        format!("arn:{}:iam::{account}:{what}{path}{name}", self.partition)
    }

    /// Wipe every record (the emulator's reset) and the caches with them.
    pub fn wipe(&self) -> ApiResult<()> {
        let r = self.store.clear_all();
        self.keys.clear();
        self.retire_views();
        r.map_err(ApiError::from)
    }

    // ---------- accounts ----------

    /// Create an account if it does not exist.
    pub fn ensure_account(&self, id: &str, now: i64) -> ApiResult<Account> {
        if let Some(a) = self.account(id)? {
            return Ok(a);
        }
        self.write(|tx| {
            if let Some(a) = get::<Account>(tx, kind::ACCOUNT, id)? {
                return Ok(a);
            }
            let a = Account {
                id: id.to_string(),
                created: now,
                alias: None,
            };
            put(tx, kind::ACCOUNT, id, &a)?;
            Ok(a)
        })
    }

    pub fn account(&self, id: &str) -> ApiResult<Option<Account>> {
        self.store.read(|tx| get(tx, kind::ACCOUNT, id))
    }

    // ---------- users ----------

    pub fn create_user(
        &self,
        account: &str,
        name: &str,
        path: Option<&str>,
        tags: Vec<Tag>,
        boundary: Option<&str>,
        now: i64,
    ) -> ApiResult<User> {
        let path = path_or_root(path);
        check_path(&path)?;
        self.write(|tx| {
            let k = key2(account, name);
            if tx.get(kind::USER, &k)?.is_some() {
                return Err(ApiError::already_exists(format!(
                    "User with name {name} already exists."
                )));
            }
            if let Some(b) = boundary {
                self.require_policy(tx, b)?;
            }
            let u = User {
                account: account.into(),
                name: name.into(),
                path: path.clone(),
                id: new_id("AIDA"),
                arn: self.arn(account, "user", &path, name),
                created: now,
                tags,
                permissions_boundary: boundary.map(Into::into),
            };
            put(tx, kind::USER, &k, &u)?;
            Ok(u)
        })
    }

    pub fn get_user(&self, account: &str, name: &str) -> ApiResult<User> {
        self.store.read(|tx| self.user_in(tx, account, name))
    }

    pub(crate) fn user_in(&self, tx: &dyn Tx, account: &str, name: &str) -> ApiResult<User> {
        get(tx, kind::USER, &key2(account, name))?.ok_or_else(|| {
            ApiError::no_such_entity(format!("The user with name {name} cannot be found."))
        })
    }

    pub fn list_users(
        &self,
        account: &str,
        path_prefix: Option<&str>,
        paging: &Paging,
    ) -> ApiResult<Page<User>> {
        let prefix = path_prefix.unwrap_or("/");
        self.store.read(|tx| {
            list_filtered(
                tx,
                kind::USER,
                &format!("{account}/"),
                paging,
                |u: &User| u.path.starts_with(prefix),
            )
        })
    }

    /// Move an entity's inline and attached policies from its old
    /// (lowercased) name to its new one, with the attachments' mirrors.
    fn move_policies(
        &self,
        tx: &mut dyn TxMut,
        account: &str,
        e: Entity,
        old: &str,
        new: &str,
    ) -> ApiResult<()> {
        let (from, to) = (
            format!("{account}/{}/{old}/", e.as_str()),
            format!("{account}/{}/{new}/", e.as_str()),
        );
        move_prefix(tx, kind::INLINE, &from, &to)?;
        for arn in move_prefix(tx, kind::ATTACHED, &from, &to)? {
            if let Some(p) = self.policy_by_arn(tx, &arn)? {
                let pk = key2(&p.account, &p.name);
                let ty = e.as_str();
                rekey(
                    tx,
                    kind::POLICY_ENTITY,
                    &format!("{pk}/{ty}/{old}"),
                    &format!("{pk}/{ty}/{new}"),
                )?;
            }
        }
        Ok(())
    }

    /// `UpdateUser`: a new name and/or path. Records keyed by the user's
    /// name (its access keys, inline and attached policies, group
    /// memberships) move with it, in the same transaction.
    pub fn update_user(
        &self,
        account: &str,
        name: &str,
        new_name: Option<&str>,
        new_path: Option<&str>,
    ) -> ApiResult<User> {
        if let Some(p) = new_path {
            check_path(p)?;
        }
        let r = self.write(|tx| {
            let mut u = self.user_in(tx, account, name)?;
            let old = lc(&u.name);
            let target = new_name.unwrap_or(&u.name).to_string();
            let new = lc(&target);
            if new != old && tx.get(kind::USER, &key2(account, &target))?.is_some() {
                return Err(ApiError::already_exists(format!(
                    "User with name {target} already exists."
                )));
            }
            let mut key_ids = Vec::new();
            if new != old {
                // Move every record keyed by the old name.
                key_ids = move_prefix(
                    tx,
                    kind::USER_KEY,
                    &format!("{account}/{old}/"),
                    &format!("{account}/{new}/"),
                )?;
                self.move_policies(tx, account, Entity::User, &old, &new)?;
                for g in move_prefix(
                    tx,
                    kind::USER_GROUP,
                    &format!("{account}/{old}/"),
                    &format!("{account}/{new}/"),
                )? {
                    rekey(
                        tx,
                        kind::GROUP_MEMBER,
                        &format!("{account}/{g}/{old}"),
                        &format!("{account}/{g}/{new}"),
                    )?;
                }
                for d in move_prefix(
                    tx,
                    kind::USER_MFA,
                    &format!("{account}/{old}/"),
                    &format!("{account}/{new}/"),
                )? {
                    if let Some(mut dev) =
                        get::<crate::mfa::MfaDevice>(tx, kind::MFA, &key2(account, &d))?
                    {
                        dev.user = Some(target.clone());
                        put(tx, kind::MFA, &key2(account, &d), &dev)?;
                    }
                }
                for id in &key_ids {
                    if let Some(mut k) = get::<AccessKey>(tx, kind::ACCESS_KEY, id)? {
                        k.user = Some(target.clone());
                        put(tx, kind::ACCESS_KEY, id, &k)?;
                    }
                }
                tx.delete(kind::USER, &key2(account, &u.name))?;
            }
            u.name = target.clone();
            if let Some(p) = new_path {
                u.path = p.to_string();
            }
            u.arn = self.arn(account, "user", &u.path, &u.name);
            put(tx, kind::USER, &key2(account, &u.name), &u)?;
            Ok((u, key_ids))
        });
        let (u, key_ids) = r?;
        // The resolved keys name the old user: drop them.
        for id in &key_ids {
            self.keys.forget(id);
        }
        Ok(u)
    }

    pub fn delete_user(&self, account: &str, name: &str) -> ApiResult<()> {
        self.write(|tx| {
            let u = self.user_in(tx, account, name)?;
            let ln = lc(&u.name);
            if tx.count(kind::USER_KEY, &format!("{account}/{ln}/"))? > 0 {
                return Err(ApiError::delete_conflict(
                    "Cannot delete entity, must delete access keys first.",
                ));
            }
            no_policies_left(tx, account, Entity::User, &ln)?;
            if tx.count(kind::USER_GROUP, &format!("{account}/{ln}/"))? > 0 {
                return Err(ApiError::delete_conflict(
                    "Cannot delete entity, must remove user from all groups first.",
                ));
            }
            if tx.count(kind::USER_MFA, &format!("{account}/{ln}/"))? > 0 {
                return Err(ApiError::delete_conflict(
                    "Cannot delete entity, must delete MFA device first.",
                ));
            }
            tx.delete(kind::USER, &key2(account, name))?;
            Ok(())
        })
    }

    // ---------- access keys ----------

    /// A new access key for a user (`user`), or for the account's root user (`None`).
    pub fn create_access_key(
        &self,
        account: &str,
        user: Option<&str>,
        now: i64,
    ) -> ApiResult<NewAccessKey> {
        self.write(|tx| {
            let owner = match user {
                Some(u) => lc(&self.user_in(tx, account, u)?.name),
                None => "#root".to_string(),
            };
            if tx.count(kind::USER_KEY, &format!("{account}/{owner}/"))? >= ACCESS_KEYS_PER_USER {
                return Err(ApiError::limit_exceeded(format!(
                    "Cannot exceed quota for AccessKeysPerUser: {ACCESS_KEYS_PER_USER}"
                )));
            }
            let secret = new_secret()?;
            let k = AccessKey {
                id: new_access_key_id("AKIA"),
                account: account.into(),
                user: match user {
                    Some(u) => Some(self.user_in(tx, account, u)?.name),
                    None => None,
                },
                sealed_secret: self.sealer.seal(&secret),
                status: KeyStatus::Active,
                created: now,
                last_used: None,
            };
            put(tx, kind::ACCESS_KEY, &k.id, &k)?;
            tx.put(kind::USER_KEY, &format!("{account}/{owner}/{}", k.id), b"")?;
            Ok(NewAccessKey { key: k, secret })
        })
    }

    pub fn access_key(&self, id: &str) -> ApiResult<Option<AccessKey>> {
        self.store
            .read(|tx| match get::<AccessKey>(tx, kind::ACCESS_KEY, id)? {
                Some(k) => Ok(Some(with_last_used(tx, k)?)),
                None => Ok(None),
            })
    }

    pub fn list_access_keys(&self, account: &str, user: Option<&str>) -> ApiResult<Vec<AccessKey>> {
        self.store.read(|tx| {
            let owner = match user {
                Some(u) => lc(&self.user_in(tx, account, u)?.name),
                None => "#root".into(),
            };
            let mut out = Vec::new();
            for k in scan_keys(tx, kind::USER_KEY, &format!("{account}/{owner}/"))? {
                let id = k.rsplit('/').next().unwrap_or("");
                if let Some(ak) = get::<AccessKey>(tx, kind::ACCESS_KEY, id)? {
                    out.push(with_last_used(tx, ak)?);
                }
            }
            Ok(out)
        })
    }

    fn owned_key(
        &self,
        tx: &dyn Tx,
        account: &str,
        user: Option<&str>,
        id: &str,
    ) -> ApiResult<AccessKey> {
        let not_found =
            || ApiError::no_such_entity(format!("The Access Key with id {id} cannot be found."));
        let k: AccessKey = get(tx, kind::ACCESS_KEY, id)?.ok_or_else(not_found)?;
        if k.account != account || k.user.as_deref().map(lc) != user.map(lc) {
            return Err(not_found());
        }
        Ok(k)
    }

    pub fn update_access_key(
        &self,
        account: &str,
        user: Option<&str>,
        id: &str,
        status: KeyStatus,
    ) -> ApiResult<()> {
        let r = self.write(|tx| {
            if let Some(u) = user {
                self.user_in(tx, account, u)?;
            }
            let mut k = self.owned_key(tx, account, user, id)?;
            k.status = status;
            put(tx, kind::ACCESS_KEY, id, &k)
        });
        // After the commit, so no request can cache the old key meanwhile.
        self.keys.forget(id);
        r
    }

    pub fn delete_access_key(&self, account: &str, user: Option<&str>, id: &str) -> ApiResult<()> {
        let r = self.write(|tx| {
            if let Some(u) = user {
                self.user_in(tx, account, u)?;
            }
            let k = self.owned_key(tx, account, user, id)?;
            let owner = k.user.as_deref().map_or_else(|| "#root".to_string(), lc);
            tx.delete(kind::ACCESS_KEY, id)?;
            tx.delete(crate::audit::KEY_LAST_USED, id)?;
            tx.delete(kind::USER_KEY, &format!("{account}/{owner}/{id}"))?;
            Ok(())
        });
        self.keys.forget(id);
        r
    }

    /// Record a key's use (best effort: not on the request's critical path).
    pub fn touch_access_key(
        &self,
        id: &str,
        at: i64,
        service: &str,
        region: &str,
    ) -> ApiResult<()> {
        self.write(|tx| {
            if let Some(mut k) = get::<AccessKey>(tx, kind::ACCESS_KEY, id)? {
                k.last_used = Some(LastUsed {
                    at,
                    service: service.into(),
                    region: region.into(),
                });
                put(tx, kind::ACCESS_KEY, id, &k)?;
            }
            Ok(())
        })
    }

    // ---------- managed policies ----------

    fn policy_name_from_arn<'a>(&self, account: &str, arn: &'a str) -> Option<&'a str> {
        let rest = arn.strip_prefix(&format!("arn:{}:iam::{account}:policy", self.partition))?;
        rest.rsplit('/').next()
    }

    pub(crate) fn policy_by_arn(&self, tx: &dyn Tx, arn: &str) -> ApiResult<Option<ManagedPolicy>> {
        let account = arn.split(':').nth(4).unwrap_or("");
        let Some(name) = self.policy_name_from_arn(account, arn) else {
            return Ok(None);
        };
        let p: Option<ManagedPolicy> = get(tx, kind::POLICY, &key2(account, name))?;
        Ok(p.filter(|p| p.arn == arn))
    }

    /// A policy by ARN, for the operations on the policy itself
    /// (`GetPolicy`, `DeletePolicy`, versions, tags): "Policy ARN was not found."
    fn find_policy(&self, tx: &dyn Tx, arn: &str) -> ApiResult<ManagedPolicy> {
        self.policy_by_arn(tx, arn)?
            .ok_or_else(|| ApiError::no_such_entity(format!("Policy {arn} was not found.")))
    }

    /// A policy by ARN, for attaching it (and using it as a boundary or
    /// session policy): "Policy ARN does not exist or is not attachable."
    fn require_policy(&self, tx: &dyn Tx, arn: &str) -> ApiResult<ManagedPolicy> {
        self.policy_by_arn(tx, arn)?.ok_or_else(|| {
            ApiError::no_such_entity(format!("Policy {arn} does not exist or is not attachable."))
        })
    }

    /// The default version's document of a managed policy.
    pub(crate) fn policy_document(&self, tx: &dyn Tx, p: &ManagedPolicy) -> ApiResult<String> {
        let v: PolicyVersion = get(
            tx,
            kind::POLICY_VERSION,
            &format!("{}/{}", key2(&p.account, &p.name), p.default_version),
        )?
        .ok_or_else(ApiError::internal)?;
        Ok(v.document)
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "mirrors CreatePolicy's parameters"
    )]
    pub fn create_policy(
        &self,
        account: &str,
        name: &str,
        path: Option<&str>,
        document: &str,
        description: Option<&str>,
        tags: Vec<Tag>,
        now: i64,
    ) -> ApiResult<ManagedPolicy> {
        let path = path_or_root(path);
        check_path(&path)?;
        check_document(document, PolicyType::Identity)?;
        if policy_size(document) > MANAGED_POLICY_SIZE {
            return Err(ApiError::limit_exceeded(format!(
                "Cannot exceed quota for PolicySize: {MANAGED_POLICY_SIZE}"
            )));
        }
        self.write(|tx| {
            let k = key2(account, name);
            if tx.get(kind::POLICY, &k)?.is_some() {
                return Err(ApiError::already_exists(format!(
                    "A policy called {name} already exists. Duplicate names are not allowed."
                )));
            }
            let p = ManagedPolicy {
                account: account.into(),
                name: name.into(),
                path: path.clone(),
                id: new_id("ANPA"),
                arn: self.arn(account, "policy", &path, name),
                created: now,
                updated: now,
                default_version: "v1".into(),
                next_version: 2,
                description: description.map(Into::into),
                tags,
            };
            put(tx, kind::POLICY, &k, &p)?;
            put(
                tx,
                kind::POLICY_VERSION,
                &format!("{k}/v1"),
                &PolicyVersion {
                    version_id: "v1".into(),
                    document: document.into(),
                    created: now,
                },
            )?;
            Ok(p)
        })
    }

    pub fn get_policy(&self, arn: &str) -> ApiResult<(ManagedPolicy, u64)> {
        self.store.read(|tx| {
            let p = self.find_policy(tx, arn)?;
            let n = tx.count(
                kind::POLICY_ENTITY,
                &format!("{}/", key2(&p.account, &p.name)),
            )?;
            Ok((p, n))
        })
    }

    pub fn get_policy_version(&self, arn: &str, version: &str) -> ApiResult<(PolicyVersion, bool)> {
        self.store.read(|tx| {
            let p = self.find_policy(tx, arn)?;
            let v: PolicyVersion = get(
                tx,
                kind::POLICY_VERSION,
                &format!("{}/{version}", key2(&p.account, &p.name)),
            )?
            .ok_or_else(|| {
                ApiError::no_such_entity(format!(
                    "Policy {arn} version {version} does not exist or is not attachable."
                ))
            })?;
            Ok((v, p.default_version == version))
        })
    }

    pub fn create_policy_version(
        &self,
        arn: &str,
        document: &str,
        set_default: bool,
        now: i64,
    ) -> ApiResult<PolicyVersion> {
        check_document(document, PolicyType::Identity)?;
        if policy_size(document) > MANAGED_POLICY_SIZE {
            return Err(ApiError::limit_exceeded(format!(
                "Cannot exceed quota for PolicySize: {MANAGED_POLICY_SIZE}"
            )));
        }
        self.write(|tx| {
            let mut p = self.find_policy(tx, arn)?;
            let pk = key2(&p.account, &p.name);
            if tx.count(kind::POLICY_VERSION, &format!("{pk}/"))? >= VERSIONS_PER_POLICY {
                return Err(ApiError::limit_exceeded(format!(
                    "A managed policy can have up to {VERSIONS_PER_POLICY} versions. Before you create a new version, you must delete an existing version."
                )));
            }
            let vid = format!("v{}", p.next_version);
            p.next_version += 1;
            if set_default {
                p.default_version = vid.clone();
            }
            p.updated = now;
            let v = PolicyVersion {
                version_id: vid.clone(),
                document: document.into(),
                created: now,
            };
            put(tx, kind::POLICY_VERSION, &format!("{pk}/{vid}"), &v)?;
            put(tx, kind::POLICY, &pk, &p)?;
            Ok(v)
        })
    }

    pub fn list_policy_versions(&self, arn: &str) -> ApiResult<(Vec<PolicyVersion>, String)> {
        self.store.read(|tx| {
            let p = self.find_policy(tx, arn)?;
            let mut vs: Vec<PolicyVersion> = scan_all(
                tx,
                kind::POLICY_VERSION,
                &format!("{}/", key2(&p.account, &p.name)),
            )?;
            vs.sort_by_key(|v| std::cmp::Reverse(v.created));
            Ok((vs, p.default_version))
        })
    }

    pub fn set_default_policy_version(&self, arn: &str, version: &str) -> ApiResult<()> {
        self.write(|tx| {
            let mut p = self.find_policy(tx, arn)?;
            let pk = key2(&p.account, &p.name);
            if tx
                .get(kind::POLICY_VERSION, &format!("{pk}/{version}"))?
                .is_none()
            {
                return Err(ApiError::no_such_entity(format!(
                    "Policy {arn} version {version} does not exist or is not attachable."
                )));
            }
            p.default_version = version.into();
            put(tx, kind::POLICY, &pk, &p)
        })
    }

    pub fn delete_policy_version(&self, arn: &str, version: &str) -> ApiResult<()> {
        self.write(|tx| {
            let p = self.find_policy(tx, arn)?;
            if p.default_version == version {
                return Err(ApiError::delete_conflict(
                    "Cannot delete the default version of a policy.",
                ));
            }
            let pk = key2(&p.account, &p.name);
            if !tx.delete(kind::POLICY_VERSION, &format!("{pk}/{version}"))? {
                return Err(ApiError::no_such_entity(format!(
                    "Policy {arn} version {version} does not exist or is not attachable."
                )));
            }
            Ok(())
        })
    }

    pub fn delete_policy(&self, arn: &str) -> ApiResult<()> {
        self.write(|tx| {
            let p = self.find_policy(tx, arn)?;
            let pk = key2(&p.account, &p.name);
            if tx.count(kind::POLICY_ENTITY, &format!("{pk}/"))? > 0 {
                return Err(ApiError::delete_conflict(
                    "Cannot delete a policy attached to entities.",
                ));
            }
            if tx.count(kind::POLICY_VERSION, &format!("{pk}/"))? > 1 {
                return Err(ApiError::delete_conflict(
                    "This policy has more than one version. Before you delete a policy, you must delete the policy's versions. The default version is deleted with the policy.",
                ));
            }
            tx.delete(kind::POLICY_VERSION, &format!("{pk}/{}", p.default_version))?;
            tx.delete(kind::POLICY, &pk)?;
            Ok(())
        })
    }

    pub fn list_policies(
        &self,
        account: &str,
        path_prefix: Option<&str>,
        only_attached: bool,
        paging: &Paging,
    ) -> ApiResult<Page<(ManagedPolicy, u64)>> {
        let prefix = path_prefix.unwrap_or("/");
        self.store.read(|tx| {
            let page: Page<ManagedPolicy> = list_filtered(
                tx,
                kind::POLICY,
                &format!("{account}/"),
                paging,
                |p: &ManagedPolicy| p.path.starts_with(prefix),
            )?;
            let mut items = Vec::new();
            for p in page.items {
                let n = tx.count(
                    kind::POLICY_ENTITY,
                    &format!("{}/", key2(&p.account, &p.name)),
                )?;
                if !only_attached || n > 0 {
                    items.push((p, n));
                }
            }
            Ok(Page {
                items,
                marker: page.marker,
            })
        })
    }

    fn entity_exists(
        &self,
        tx: &dyn Tx,
        account: &str,
        e: Entity,
        name: &str,
    ) -> ApiResult<String> {
        let (k, what) = match e {
            Entity::User => (kind::USER, "user"),
            Entity::Group => (kind::GROUP, "group"),
            Entity::Role => (kind::ROLE, "role"),
        };
        match tx.get(k, &key2(account, name))? {
            Some(_) => Ok(lc(name)),
            None => Err(ApiError::no_such_entity(format!(
                "The {what} with name {name} cannot be found."
            ))),
        }
    }

    pub fn attach_policy(&self, account: &str, e: Entity, name: &str, arn: &str) -> ApiResult<()> {
        self.write(|tx| {
            let ln = self.entity_exists(tx, account, e, name)?;
            let p = self.require_policy(tx, arn)?;
            let ak = format!("{account}/{}/{ln}/{arn}", e.as_str());
            if tx.get(kind::ATTACHED, &ak)?.is_some() {
                return Ok(());
            }
            if tx.count(kind::ATTACHED, &format!("{account}/{}/{ln}/", e.as_str()))?
                >= ATTACHED_POLICIES_PER_ENTITY
            {
                return Err(ApiError::limit_exceeded(format!(
                    "Cannot exceed quota for PoliciesPer{}: {ATTACHED_POLICIES_PER_ENTITY}",
                    match e {
                        Entity::User => "User",
                        Entity::Group => "Group",
                        Entity::Role => "Role",
                    }
                )));
            }
            tx.put(kind::ATTACHED, &ak, b"")?;
            tx.put(
                kind::POLICY_ENTITY,
                &format!("{}/{}/{ln}", key2(&p.account, &p.name), e.as_str()),
                b"",
            )?;
            Ok(())
        })
    }

    pub fn detach_policy(&self, account: &str, e: Entity, name: &str, arn: &str) -> ApiResult<()> {
        self.write(|tx| {
            let ln = self.entity_exists(tx, account, e, name)?;
            let p = self.require_policy(tx, arn)?;
            let ak = format!("{account}/{}/{ln}/{arn}", e.as_str());
            if !tx.delete(kind::ATTACHED, &ak)? {
                return Err(ApiError::no_such_entity(format!(
                    "Policy {arn} was not found."
                )));
            }
            tx.delete(
                kind::POLICY_ENTITY,
                &format!("{}/{}/{ln}", key2(&p.account, &p.name), e.as_str()),
            )?;
            Ok(())
        })
    }

    /// Managed policies attached to an entity: (name, arn).
    pub fn list_attached(
        &self,
        account: &str,
        e: Entity,
        name: &str,
    ) -> ApiResult<Vec<(String, String)>> {
        self.store.read(|tx| {
            let ln = self.entity_exists(tx, account, e, name)?;
            self.attached_in(tx, account, e, &ln)
        })
    }

    pub(crate) fn attached_in(
        &self,
        tx: &dyn Tx,
        account: &str,
        e: Entity,
        ln: &str,
    ) -> ApiResult<Vec<(String, String)>> {
        let prefix = format!("{account}/{}/{ln}/", e.as_str());
        Ok(scan_keys(tx, kind::ATTACHED, &prefix)?
            .into_iter()
            .filter_map(|k| {
                let arn = k.strip_prefix(&prefix)?.to_string();
                let name = arn.rsplit('/').next()?.to_string();
                Some((name, arn))
            })
            .collect())
    }

    // ---------- inline policies ----------

    pub fn put_inline(
        &self,
        account: &str,
        e: Entity,
        name: &str,
        policy_name: &str,
        document: &str,
    ) -> ApiResult<()> {
        check_document(document, PolicyType::Identity)?;
        self.write(|tx| {
            let ln = self.entity_exists(tx, account, e, name)?;
            let prefix = format!("{account}/{}/{ln}/", e.as_str());
            let mut total = policy_size(document);
            for p in scan_all::<InlinePolicy>(tx, kind::INLINE, &prefix)? {
                if !p.name.eq_ignore_ascii_case(policy_name) {
                    total += policy_size(&p.document);
                }
            }
            if total > e.inline_limit() {
                return Err(ApiError::limit_exceeded(format!(
                    "Maximum policy size of {} bytes exceeded for {} {name}",
                    e.inline_limit(),
                    e.title()
                )));
            }
            put(
                tx,
                kind::INLINE,
                &format!("{prefix}{}", lc(policy_name)),
                &InlinePolicy {
                    name: policy_name.into(),
                    document: document.into(),
                },
            )
        })
    }

    pub fn get_inline(
        &self,
        account: &str,
        e: Entity,
        name: &str,
        policy_name: &str,
    ) -> ApiResult<InlinePolicy> {
        self.store.read(|tx| {
            let ln = self.entity_exists(tx, account, e, name)?;
            get(
                tx,
                kind::INLINE,
                &format!("{account}/{}/{ln}/{}", e.as_str(), lc(policy_name)),
            )?
            .ok_or_else(|| {
                ApiError::no_such_entity(format!(
                    "The {} policy with name {policy_name} cannot be found.",
                    e.title()
                ))
            })
        })
    }

    pub fn list_inline(&self, account: &str, e: Entity, name: &str) -> ApiResult<Vec<String>> {
        self.store.read(|tx| {
            let ln = self.entity_exists(tx, account, e, name)?;
            Ok(self
                .inline_in(tx, account, e, &ln)?
                .into_iter()
                .map(|p| p.name)
                .collect())
        })
    }

    pub(crate) fn inline_in(
        &self,
        tx: &dyn Tx,
        account: &str,
        e: Entity,
        ln: &str,
    ) -> ApiResult<Vec<InlinePolicy>> {
        scan_all(tx, kind::INLINE, &format!("{account}/{}/{ln}/", e.as_str()))
    }

    pub fn delete_inline(
        &self,
        account: &str,
        e: Entity,
        name: &str,
        policy_name: &str,
    ) -> ApiResult<()> {
        self.write(|tx| {
            let ln = self.entity_exists(tx, account, e, name)?;
            if !tx.delete(
                kind::INLINE,
                &format!("{account}/{}/{ln}/{}", e.as_str(), lc(policy_name)),
            )? {
                return Err(ApiError::no_such_entity(format!(
                    "The {} policy with name {policy_name} cannot be found.",
                    e.title()
                )));
            }
            Ok(())
        })
    }

    // ---------- groups ----------

    pub fn create_group(
        &self,
        account: &str,
        name: &str,
        path: Option<&str>,
        now: i64,
    ) -> ApiResult<Group> {
        let path = path_or_root(path);
        check_path(&path)?;
        self.write(|tx| {
            let k = key2(account, name);
            if tx.get(kind::GROUP, &k)?.is_some() {
                return Err(ApiError::already_exists(format!(
                    "Group with name {name} already exists."
                )));
            }
            let g = Group {
                account: account.into(),
                name: name.into(),
                path: path.clone(),
                id: new_id("AGPA"),
                arn: self.arn(account, "group", &path, name),
                created: now,
            };
            put(tx, kind::GROUP, &k, &g)?;
            Ok(g)
        })
    }

    pub fn group_in(&self, tx: &dyn Tx, account: &str, name: &str) -> ApiResult<Group> {
        get(tx, kind::GROUP, &key2(account, name))?.ok_or_else(|| {
            ApiError::no_such_entity(format!("The group with name {name} cannot be found."))
        })
    }

    /// The ARN a user, group, role or instance profile is authorized on:
    /// the stored one, with its path (`arn:aws:iam::ACCOUNT:role/app/name`,
    /// the Service Authorization Reference's `${RoleNameWithPath}`); for an
    /// entity that does not exist, the ARN its name alone gives (the call
    /// is authorized before it fails, as AWS does). `what`: `user`,
    /// `group`, `role`, `instance-profile`.
    pub fn entity_arn(&self, account: &str, what: &str, name: &str) -> ApiResult<String> {
        let stored = self.store.read(|tx| -> ApiResult<Option<String>> {
            Ok(match what {
                "user" => get::<User>(tx, kind::USER, &key2(account, name))?.map(|u| u.arn),
                "group" => get::<Group>(tx, kind::GROUP, &key2(account, name))?.map(|g| g.arn),
                "role" => get::<Role>(tx, kind::ROLE, &key2(account, name))?.map(|r| r.arn),
                "instance-profile" => {
                    get::<InstanceProfile>(tx, kind::INSTANCE_PROFILE, &key2(account, name))?
                        .map(|ip| ip.arn)
                }
                _ => None,
            })
        })?;
        Ok(
            stored
                .unwrap_or_else(|| format!("arn:{}:iam::{account}:{what}/{name}", self.partition)),
        )
    }

    pub fn add_user_to_group(&self, account: &str, group: &str, user: &str) -> ApiResult<()> {
        self.write(|tx| {
            let g = self.group_in(tx, account, group)?;
            let u = self.user_in(tx, account, user)?;
            let (lg, lu) = (lc(&g.name), lc(&u.name));
            if tx
                .get(kind::USER_GROUP, &format!("{account}/{lu}/{lg}"))?
                .is_some()
            {
                return Ok(());
            }
            if tx.count(kind::USER_GROUP, &format!("{account}/{lu}/"))? >= GROUPS_PER_USER {
                return Err(ApiError::limit_exceeded(format!(
                    "Cannot exceed quota for GroupsPerUser: {GROUPS_PER_USER}"
                )));
            }
            tx.put(kind::USER_GROUP, &format!("{account}/{lu}/{lg}"), b"")?;
            tx.put(kind::GROUP_MEMBER, &format!("{account}/{lg}/{lu}"), b"")?;
            Ok(())
        })
    }

    pub fn remove_user_from_group(&self, account: &str, group: &str, user: &str) -> ApiResult<()> {
        self.write(|tx| {
            let g = self.group_in(tx, account, group)?;
            let u = self.user_in(tx, account, user)?;
            let (lg, lu) = (lc(&g.name), lc(&u.name));
            if !tx.delete(kind::USER_GROUP, &format!("{account}/{lu}/{lg}"))? {
                return Err(ApiError::no_such_entity(format!(
                    "The user with name {user} cannot be found."
                )));
            }
            tx.delete(kind::GROUP_MEMBER, &format!("{account}/{lg}/{lu}"))?;
            Ok(())
        })
    }

    /// The groups of a user.
    pub fn groups_for_user(&self, account: &str, user: &str) -> ApiResult<Vec<Group>> {
        self.store.read(|tx| {
            let u = self.user_in(tx, account, user)?;
            self.groups_of(tx, account, &lc(&u.name))
        })
    }

    pub(crate) fn groups_of(&self, tx: &dyn Tx, account: &str, lu: &str) -> ApiResult<Vec<Group>> {
        let prefix = format!("{account}/{lu}/");
        let mut out = Vec::new();
        for k in scan_keys(tx, kind::USER_GROUP, &prefix)? {
            if let Some(g) = k.strip_prefix(&prefix) {
                if let Some(g) = get::<Group>(tx, kind::GROUP, &format!("{account}/{g}"))? {
                    out.push(g);
                }
            }
        }
        Ok(out)
    }

    /// A group and its users.
    pub fn get_group(&self, account: &str, name: &str) -> ApiResult<(Group, Vec<User>)> {
        self.store.read(|tx| {
            let g = self.group_in(tx, account, name)?;
            let prefix = format!("{account}/{}/", lc(&g.name));
            let mut users = Vec::new();
            for k in scan_keys(tx, kind::GROUP_MEMBER, &prefix)? {
                if let Some(u) = k.strip_prefix(&prefix) {
                    if let Some(u) = get::<User>(tx, kind::USER, &format!("{account}/{u}"))? {
                        users.push(u);
                    }
                }
            }
            Ok((g, users))
        })
    }

    /// `UpdateGroup`: a new name and/or path; memberships and policies follow.
    pub fn update_group(
        &self,
        account: &str,
        name: &str,
        new_name: Option<&str>,
        new_path: Option<&str>,
    ) -> ApiResult<Group> {
        if let Some(p) = new_path {
            check_path(p)?;
        }
        self.write(|tx| {
            let mut g = self.group_in(tx, account, name)?;
            let old = lc(&g.name);
            let target = new_name.unwrap_or(&g.name).to_string();
            let new = lc(&target);
            if new != old {
                if tx.get(kind::GROUP, &key2(account, &target))?.is_some() {
                    return Err(ApiError::already_exists(format!(
                        "Group with name {target} already exists."
                    )));
                }
                for u in move_prefix(
                    tx,
                    kind::GROUP_MEMBER,
                    &format!("{account}/{old}/"),
                    &format!("{account}/{new}/"),
                )? {
                    rekey(
                        tx,
                        kind::USER_GROUP,
                        &format!("{account}/{u}/{old}"),
                        &format!("{account}/{u}/{new}"),
                    )?;
                }
                self.move_policies(tx, account, Entity::Group, &old, &new)?;
                tx.delete(kind::GROUP, &key2(account, &g.name))?;
            }
            g.name = target;
            if let Some(p) = new_path {
                g.path = p.to_string();
            }
            g.arn = self.arn(account, "group", &g.path, &g.name);
            put(tx, kind::GROUP, &key2(account, &g.name), &g)?;
            Ok(g)
        })
    }

    pub fn delete_group(&self, account: &str, name: &str) -> ApiResult<()> {
        self.write(|tx| {
            let g = self.group_in(tx, account, name)?;
            let lg = lc(&g.name);
            if tx.count(kind::GROUP_MEMBER, &format!("{account}/{lg}/"))? > 0 {
                return Err(ApiError::delete_conflict(
                    "Cannot delete entity, must remove users from group first.",
                ));
            }
            no_policies_left(tx, account, Entity::Group, &lg)?;
            tx.delete(kind::GROUP, &key2(account, name))?;
            Ok(())
        })
    }

    // ---------- roles ----------

    #[expect(clippy::too_many_arguments, reason = "mirrors CreateRole's parameters")]
    pub fn create_role(
        &self,
        account: &str,
        name: &str,
        path: Option<&str>,
        trust: &str,
        description: Option<&str>,
        max_session_duration: Option<u32>,
        tags: Vec<Tag>,
        boundary: Option<&str>,
        now: i64,
    ) -> ApiResult<Role> {
        let path = path_or_root(path);
        check_path(&path)?;
        check_document(trust, PolicyType::Resource)?;
        if policy_size(trust) > TRUST_POLICY_SIZE {
            return Err(ApiError::limit_exceeded(format!(
                "Cannot exceed quota for ACLSizePerRole: {TRUST_POLICY_SIZE}"
            )));
        }
        self.write(|tx| {
            let k = key2(account, name);
            if tx.get(kind::ROLE, &k)?.is_some() {
                return Err(ApiError::already_exists(format!(
                    "Role with name {name} already exists."
                )));
            }
            if let Some(b) = boundary {
                self.require_policy(tx, b)?;
            }
            let r = Role {
                account: account.into(),
                name: name.into(),
                path: path.clone(),
                id: new_id("AROA"),
                arn: self.arn(account, "role", &path, name),
                created: now,
                assume_role_policy: trust.into(),
                description: description.map(Into::into),
                max_session_duration: max_session_duration.unwrap_or(3600),
                tags,
                permissions_boundary: boundary.map(Into::into),
            };
            put(tx, kind::ROLE, &k, &r)?;
            Ok(r)
        })
    }

    pub fn role_in(&self, tx: &dyn Tx, account: &str, name: &str) -> ApiResult<Role> {
        get(tx, kind::ROLE, &key2(account, name))?.ok_or_else(|| {
            ApiError::no_such_entity(format!("The role with name {name} cannot be found."))
        })
    }

    pub fn get_role(&self, account: &str, name: &str) -> ApiResult<Role> {
        self.store.read(|tx| self.role_in(tx, account, name))
    }

    pub fn list_roles(
        &self,
        account: &str,
        path_prefix: Option<&str>,
        paging: &Paging,
    ) -> ApiResult<Page<Role>> {
        let prefix = path_prefix.unwrap_or("/");
        self.store.read(|tx| {
            list_filtered(
                tx,
                kind::ROLE,
                &format!("{account}/"),
                paging,
                |r: &Role| r.path.starts_with(prefix),
            )
        })
    }

    pub fn update_assume_role_policy(
        &self,
        account: &str,
        name: &str,
        trust: &str,
    ) -> ApiResult<()> {
        check_document(trust, PolicyType::Resource)?;
        self.write(|tx| {
            let mut r = self.role_in(tx, account, name)?;
            r.assume_role_policy = trust.into();
            put(tx, kind::ROLE, &key2(account, name), &r)
        })
    }

    pub fn delete_role(&self, account: &str, name: &str) -> ApiResult<()> {
        self.write(|tx| {
            let r = self.role_in(tx, account, name)?;
            let lr = lc(&r.name);
            no_policies_left(tx, account, Entity::Role, &lr)?;
            if tx.count(kind::ROLE_PROFILE, &format!("{account}/{lr}/"))? > 0 {
                return Err(ApiError::delete_conflict(
                    "Cannot delete entity, must remove roles from instance profile first.",
                ));
            }
            tx.delete(kind::ROLE, &key2(account, name))?;
            Ok(())
        })
    }

    /// `UpdateRole` / `UpdateRoleDescription`.
    pub fn update_role(
        &self,
        account: &str,
        name: &str,
        description: Option<&str>,
        max_session_duration: Option<u32>,
    ) -> ApiResult<Role> {
        self.write(|tx| {
            let mut r = self.role_in(tx, account, name)?;
            if let Some(d) = description {
                r.description = Some(d.into());
            }
            if let Some(m) = max_session_duration {
                r.max_session_duration = m;
            }
            put(tx, kind::ROLE, &key2(account, name), &r)?;
            Ok(r)
        })
    }

    /// Set or remove the permissions boundary of a user or role.
    pub fn set_boundary(
        &self,
        account: &str,
        e: Entity,
        name: &str,
        arn: Option<&str>,
    ) -> ApiResult<()> {
        self.write(|tx| {
            if let Some(a) = arn {
                self.require_policy(tx, a)?;
            }
            match e {
                Entity::User => {
                    let mut u = self.user_in(tx, account, name)?;
                    u.permissions_boundary = arn.map(Into::into);
                    put(tx, kind::USER, &key2(account, name), &u)
                }
                Entity::Role => {
                    let mut r = self.role_in(tx, account, name)?;
                    r.permissions_boundary = arn.map(Into::into);
                    put(tx, kind::ROLE, &key2(account, name), &r)
                }
                Entity::Group => Err(ApiError::invalid_input(
                    "groups have no permissions boundary",
                )),
            }
        })
    }

    fn tags_of(&self, tx: &dyn Tx, account: &str, t: Taggable, name: &str) -> ApiResult<Vec<Tag>> {
        Ok(match t {
            Taggable::User => self.user_in(tx, account, name)?.tags,
            Taggable::Role => self.role_in(tx, account, name)?.tags,
            Taggable::Policy => self.find_policy(tx, name)?.tags,
            Taggable::MfaDevice => self.mfa_tags(tx, account, name)?,
        })
    }

    fn store_tags(
        &self,
        tx: &mut dyn TxMut,
        account: &str,
        t: Taggable,
        name: &str,
        tags: Vec<Tag>,
    ) -> ApiResult<()> {
        match t {
            Taggable::User => {
                let mut u = self.user_in(tx, account, name)?;
                u.tags = tags;
                put(tx, kind::USER, &key2(account, name), &u)
            }
            Taggable::Role => {
                let mut r = self.role_in(tx, account, name)?;
                r.tags = tags;
                put(tx, kind::ROLE, &key2(account, name), &r)
            }
            Taggable::Policy => {
                let mut p = self.find_policy(tx, name)?;
                p.tags = tags;
                put(tx, kind::POLICY, &key2(&p.account, &p.name), &p)
            }
            Taggable::MfaDevice => {
                let mut d = self.mfa_in(tx, name)?;
                if d.account != account {
                    return Err(ApiError::no_such_entity(format!(
                        "VirtualMFADevice with serial number {name} doesn't exist."
                    )));
                }
                d.tags = tags;
                put(tx, kind::MFA, &key2(account, &d.name), &d)
            }
        }
    }

    /// Tags of a user or role (by name) or policy (by ARN).
    pub fn list_tags(&self, account: &str, t: Taggable, name: &str) -> ApiResult<Vec<Tag>> {
        self.store.read(|tx| self.tags_of(tx, account, t, name))
    }

    /// Add or overwrite tags (keys compare case-insensitively, as IAM's).
    pub fn tag(&self, account: &str, t: Taggable, name: &str, new: &[Tag]) -> ApiResult<()> {
        self.write(|tx| {
            let mut tags = self.tags_of(tx, account, t, name)?;
            for n in new {
                tags.retain(|x| !x.key.eq_ignore_ascii_case(&n.key));
                tags.push(n.clone());
            }
            if tags.len() > TAGS_PER_RESOURCE {
                return Err(ApiError::limit_exceeded(format!(
                    "The number of tags has reached the maximum limit of {TAGS_PER_RESOURCE}."
                )));
            }
            self.store_tags(tx, account, t, name, tags)
        })
    }

    pub fn untag(&self, account: &str, t: Taggable, name: &str, keys: &[&str]) -> ApiResult<()> {
        self.write(|tx| {
            let mut tags = self.tags_of(tx, account, t, name)?;
            tags.retain(|x| !keys.iter().any(|k| k.eq_ignore_ascii_case(&x.key)));
            self.store_tags(tx, account, t, name, tags)
        })
    }

    // ---------- account ----------

    /// `CreateAccountAlias`: aliases are unique across accounts; a new one
    /// replaces the account's previous alias.
    pub fn create_account_alias(&self, account: &str, alias: &str) -> ApiResult<()> {
        let ok = (3..=63).contains(&alias.len())
            && alias
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !alias.starts_with('-')
            && !alias.ends_with('-')
            && !alias.contains("--");
        if !ok {
            return Err(ApiError::validation(format!(
                "1 validation error detected: Value '{alias}' at 'accountAlias' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-z0-9]([a-z0-9]|-(?!-)){{1,61}}[a-z0-9]$"
            )));
        }
        self.write(|tx| {
            if let Some(owner) = tx.get(kind::ALIAS, alias)? {
                if owner != account.as_bytes() {
                    return Err(ApiError::already_exists(format!(
                        "The account alias {alias} already exists."
                    )));
                }
                return Ok(());
            }
            let mut a: Account = get(tx, kind::ACCOUNT, account)?.ok_or_else(ApiError::internal)?;
            if let Some(old) = a.alias.take() {
                tx.delete(kind::ALIAS, &old)?;
            }
            a.alias = Some(alias.into());
            tx.put(kind::ALIAS, alias, account.as_bytes())?;
            put(tx, kind::ACCOUNT, account, &a)
        })
    }

    pub fn delete_account_alias(&self, account: &str, alias: &str) -> ApiResult<()> {
        self.write(|tx| {
            let mut a: Account = get(tx, kind::ACCOUNT, account)?.ok_or_else(ApiError::internal)?;
            if a.alias.as_deref() != Some(alias) {
                return Err(ApiError::no_such_entity(format!(
                    "The account alias {alias} cannot be found."
                )));
            }
            a.alias = None;
            tx.delete(kind::ALIAS, alias)?;
            put(tx, kind::ACCOUNT, account, &a)
        })
    }

    /// `GetAccountSummary`'s map.
    pub fn account_summary(&self, account: &str) -> ApiResult<Vec<(&'static str, u64)>> {
        self.store.read(|tx| {
            let pre = format!("{account}/");
            let users = tx.count(kind::USER, &pre)?;
            let groups = tx.count(kind::GROUP, &pre)?;
            let roles = tx.count(kind::ROLE, &pre)?;
            let policies = tx.count(kind::POLICY, &pre)?;
            let profiles = tx.count(kind::INSTANCE_PROFILE, &pre)?;
            let versions = tx.count(kind::POLICY_VERSION, &pre)?;
            let root_keys = tx.count(kind::USER_KEY, &format!("{account}/#root/"))?;
            Ok(vec![
                ("AccessKeysPerUserQuota", ACCESS_KEYS_PER_USER),
                ("AccountAccessKeysPresent", u64::from(root_keys > 0)),
                ("AccountMFAEnabled", 0),
                ("AccountSigningCertificatesPresent", 0),
                (
                    "AttachedPoliciesPerGroupQuota",
                    ATTACHED_POLICIES_PER_ENTITY,
                ),
                ("AttachedPoliciesPerRoleQuota", ATTACHED_POLICIES_PER_ENTITY),
                ("AttachedPoliciesPerUserQuota", ATTACHED_POLICIES_PER_ENTITY),
                ("GlobalEndpointTokenVersion", 1),
                ("GroupPolicySizeQuota", GROUP_INLINE_SIZE as u64),
                ("Groups", groups),
                ("GroupsPerUserQuota", GROUPS_PER_USER),
                ("GroupsQuota", 300),
                ("InstanceProfiles", profiles),
                ("InstanceProfilesQuota", 1000),
                ("MFADevices", 0),
                ("MFADevicesInUse", 0),
                ("Policies", policies),
                ("PoliciesQuota", 1500),
                ("PolicySizeQuota", MANAGED_POLICY_SIZE as u64),
                ("PolicyVersionsInUse", versions),
                ("PolicyVersionsInUseQuota", 10000),
                ("Providers", 0),
                ("RolePolicySizeQuota", ROLE_INLINE_SIZE as u64),
                ("Roles", roles),
                ("RolesQuota", 1000),
                ("ServerCertificates", 0),
                ("ServerCertificatesQuota", 20),
                ("SigningCertificatesPerUserQuota", 2),
                ("UserPolicySizeQuota", USER_INLINE_SIZE as u64),
                ("Users", users),
                ("UsersQuota", 5000),
                ("VersionsPerPolicyQuota", VERSIONS_PER_POLICY),
            ])
        })
    }

    /// `ListEntitiesForPolicy`: (groups, users, roles) with their ids.
    pub fn entities_for_policy(&self, arn: &str) -> ApiResult<(Vec<Group>, Vec<User>, Vec<Role>)> {
        self.store.read(|tx| {
            let p = self.require_policy(tx, arn)?;
            let prefix = format!("{}/", key2(&p.account, &p.name));
            let (mut g, mut u, mut r) = (Vec::new(), Vec::new(), Vec::new());
            for k in scan_keys(tx, kind::POLICY_ENTITY, &prefix)? {
                let rest = k.strip_prefix(&prefix).unwrap_or("");
                let Some((ty, name)) = rest.split_once('/') else {
                    continue;
                };
                let key = format!("{}/{name}", p.account);
                match ty {
                    "group" => g.extend(get::<Group>(tx, kind::GROUP, &key)?),
                    "user" => u.extend(get::<User>(tx, kind::USER, &key)?),
                    "role" => r.extend(get::<Role>(tx, kind::ROLE, &key)?),
                    _ => {}
                }
            }
            Ok((g, u, r))
        })
    }

    pub fn list_groups(
        &self,
        account: &str,
        path_prefix: Option<&str>,
        paging: &Paging,
    ) -> ApiResult<Page<Group>> {
        let prefix = path_prefix.unwrap_or("/");
        self.store.read(|tx| {
            list_filtered(
                tx,
                kind::GROUP,
                &format!("{account}/"),
                paging,
                |g: &Group| g.path.starts_with(prefix),
            )
        })
    }

    // ---------- instance profiles ----------

    pub fn create_instance_profile(
        &self,
        account: &str,
        name: &str,
        path: Option<&str>,
        tags: Vec<Tag>,
        now: i64,
    ) -> ApiResult<InstanceProfile> {
        let path = path_or_root(path);
        check_path(&path)?;
        self.write(|tx| {
            let k = key2(account, name);
            if tx.get(kind::INSTANCE_PROFILE, &k)?.is_some() {
                return Err(ApiError::already_exists(format!(
                    "Instance Profile {name} already exists."
                )));
            }
            let ip = InstanceProfile {
                account: account.into(),
                name: name.into(),
                path: path.clone(),
                id: new_id("AIPA"),
                arn: self.arn(account, "instance-profile", &path, name),
                created: now,
                roles: vec![],
                tags,
            };
            put(tx, kind::INSTANCE_PROFILE, &k, &ip)?;
            Ok(ip)
        })
    }

    pub fn instance_profile_in(
        &self,
        tx: &dyn Tx,
        account: &str,
        name: &str,
    ) -> ApiResult<InstanceProfile> {
        get(tx, kind::INSTANCE_PROFILE, &key2(account, name))?.ok_or_else(|| {
            ApiError::no_such_entity(format!("Instance Profile {name} cannot be found."))
        })
    }

    /// An instance profile with its roles.
    pub fn get_instance_profile(
        &self,
        account: &str,
        name: &str,
    ) -> ApiResult<(InstanceProfile, Vec<Role>)> {
        self.store.read(|tx| {
            let ip = self.instance_profile_in(tx, account, name)?;
            let mut roles = Vec::new();
            for r in &ip.roles {
                roles.extend(get::<Role>(tx, kind::ROLE, &key2(account, r))?);
            }
            Ok((ip, roles))
        })
    }

    pub fn list_instance_profiles(
        &self,
        account: &str,
        path_prefix: Option<&str>,
        paging: &Paging,
    ) -> ApiResult<Page<InstanceProfile>> {
        let prefix = path_prefix.unwrap_or("/");
        self.store.read(|tx| {
            list_filtered(
                tx,
                kind::INSTANCE_PROFILE,
                &format!("{account}/"),
                paging,
                |p: &InstanceProfile| p.path.starts_with(prefix),
            )
        })
    }

    /// One role per instance profile, as AWS allows.
    pub fn add_role_to_instance_profile(
        &self,
        account: &str,
        profile: &str,
        role: &str,
    ) -> ApiResult<()> {
        self.write(|tx| {
            let mut ip = self.instance_profile_in(tx, account, profile)?;
            let r = self.role_in(tx, account, role)?;
            if !ip.roles.is_empty() {
                return Err(ApiError::limit_exceeded(
                    "Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1",
                ));
            }
            ip.roles.push(r.name.clone());
            put(tx, kind::INSTANCE_PROFILE, &key2(account, profile), &ip)?;
            tx.put(
                kind::ROLE_PROFILE,
                &format!("{account}/{}/{}", lc(&r.name), lc(&ip.name)),
                b"",
            )?;
            Ok(())
        })
    }

    pub fn remove_role_from_instance_profile(
        &self,
        account: &str,
        profile: &str,
        role: &str,
    ) -> ApiResult<()> {
        self.write(|tx| {
            let mut ip = self.instance_profile_in(tx, account, profile)?;
            let before = ip.roles.len();
            ip.roles.retain(|r| !r.eq_ignore_ascii_case(role));
            if ip.roles.len() == before {
                return Err(ApiError::no_such_entity(format!(
                    "The role with name {role} cannot be found."
                )));
            }
            put(tx, kind::INSTANCE_PROFILE, &key2(account, profile), &ip)?;
            tx.delete(
                kind::ROLE_PROFILE,
                &format!("{account}/{}/{}", lc(role), lc(&ip.name)),
            )?;
            Ok(())
        })
    }

    pub fn instance_profiles_for_role(
        &self,
        account: &str,
        role: &str,
    ) -> ApiResult<Vec<(InstanceProfile, Vec<Role>)>> {
        let names: Vec<String> = self.store.read(|tx| -> ApiResult<Vec<String>> {
            let r = self.role_in(tx, account, role)?;
            let prefix = format!("{account}/{}/", lc(&r.name));
            Ok(scan_keys(tx, kind::ROLE_PROFILE, &prefix)?
                .into_iter()
                .filter_map(|k| k.strip_prefix(&prefix).map(str::to_string))
                .collect::<Vec<_>>())
        })?;
        names
            .iter()
            .map(|n| self.get_instance_profile(account, n))
            .collect()
    }

    pub fn delete_instance_profile(&self, account: &str, name: &str) -> ApiResult<()> {
        self.write(|tx| {
            let ip = self.instance_profile_in(tx, account, name)?;
            if !ip.roles.is_empty() {
                return Err(ApiError::delete_conflict(
                    "Cannot delete entity, must remove roles from instance profile first.",
                ));
            }
            tx.delete(kind::INSTANCE_PROFILE, &key2(account, name))?;
            Ok(())
        })
    }
}

/// `DeleteConflict` while an entity still has inline or attached policies.
fn no_policies_left(tx: &dyn Tx, account: &str, e: Entity, ln: &str) -> ApiResult<()> {
    let prefix = format!("{account}/{}/{ln}/", e.as_str());
    if tx.count(kind::INLINE, &prefix)? > 0 {
        return Err(ApiError::delete_conflict(
            "Cannot delete entity, must delete policies first.",
        ));
    }
    if tx.count(kind::ATTACHED, &prefix)? > 0 {
        return Err(ApiError::delete_conflict(
            "Cannot delete entity, must detach all policies first.",
        ));
    }
    Ok(())
}

/// One page of `kind` records under `prefix` that pass `keep`, resuming
/// after `paging.marker`.
pub(crate) fn list_filtered<T: DeserializeOwned>(
    tx: &dyn Tx,
    kind: &str,
    prefix: &str,
    paging: &Paging,
    keep: impl Fn(&T) -> bool,
) -> ApiResult<Page<T>> {
    let limit = paging.limit();
    let mut items = Vec::with_capacity(limit.min(128));
    let mut after = paging.marker.clone();
    let mut last_key: Option<String> = None;
    loop {
        let batch = tx.scan(kind, prefix, after.as_deref(), limit + 1)?;
        let n = batch.len();
        for (k, v) in batch {
            let t: T = decode(kind, &k, &v)?;
            if keep(&t) {
                if items.len() == limit {
                    // There is at least one more: the marker is the last key returned.
                    return Ok(Page {
                        items,
                        marker: last_key,
                    });
                }
                items.push(t);
                last_key = Some(k.clone());
            }
            after = Some(k);
        }
        if n <= limit {
            return Ok(Page {
                items,
                marker: None,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemStore;

    fn iam() -> Iam<MemStore> {
        Iam::new(
            Arc::new(MemStore::new()),
            Sealer::new(&Sealer::generate_key()),
        )
    }

    const A: &str = "123456789012";
    const DOC: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;

    #[test]
    fn users_are_unique_case_insensitively_and_paged() {
        let i = iam();
        i.create_user(A, "Bob", None, vec![], None, 1).unwrap();
        let e = i.create_user(A, "bob", None, vec![], None, 1).unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            ("EntityAlreadyExists", "User with name bob already exists.")
        );
        for n in 0..5 {
            i.create_user(A, &format!("u{n}"), Some("/team/"), vec![], None, 1)
                .unwrap();
        }
        let p = i
            .list_users(
                A,
                None,
                &Paging {
                    marker: None,
                    max_items: Some(4),
                },
            )
            .unwrap();
        assert_eq!(p.items.len(), 4);
        let p2 = i
            .list_users(
                A,
                None,
                &Paging {
                    marker: p.marker.clone(),
                    max_items: Some(4),
                },
            )
            .unwrap();
        assert_eq!(p2.items.len(), 2);
        assert!(p2.marker.is_none());
        let team = i.list_users(A, Some("/team/"), &Paging::default()).unwrap();
        assert_eq!(team.items.len(), 5);
        assert_eq!(i.get_user(A, "BOB").unwrap().name, "Bob");
        assert_eq!(
            i.get_user(A, "nobody").unwrap_err().message,
            "The user with name nobody cannot be found."
        );
    }

    #[test]
    fn access_key_quota_and_delete_conflicts() {
        let i = iam();
        i.create_user(A, "bob", None, vec![], None, 1).unwrap();
        let k1 = i.create_access_key(A, Some("bob"), 1).unwrap();
        i.create_access_key(A, Some("bob"), 1).unwrap();
        let e = i.create_access_key(A, Some("bob"), 1).unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            (
                "LimitExceeded",
                "Cannot exceed quota for AccessKeysPerUser: 2"
            )
        );
        let e = i.delete_user(A, "bob").unwrap_err();
        assert_eq!(e.code, "DeleteConflict");
        assert_eq!(
            i.sealer.open(&k1.key.sealed_secret).unwrap().as_str(),
            k1.secret
        );
        for k in i.list_access_keys(A, Some("bob")).unwrap() {
            i.delete_access_key(A, Some("bob"), &k.id).unwrap();
        }
        i.delete_user(A, "bob").unwrap();
    }

    #[test]
    fn policy_versions_attachments_and_conflicts() {
        let i = iam();
        let p = i
            .create_policy(A, "read", None, DOC, None, vec![], 1)
            .unwrap();
        assert_eq!(p.arn, "arn:aws:iam::123456789012:policy/read");
        let e = i
            .create_policy(A, "read", None, DOC, None, vec![], 1)
            .unwrap_err();
        assert_eq!(
            e.message,
            "A policy called read already exists. Duplicate names are not allowed."
        );
        for _ in 0..4 {
            i.create_policy_version(&p.arn, DOC, false, 2).unwrap();
        }
        let e = i.create_policy_version(&p.arn, DOC, true, 3).unwrap_err();
        assert_eq!(e.code, "LimitExceeded");
        i.create_user(A, "bob", None, vec![], None, 1).unwrap();
        i.attach_policy(A, Entity::User, "bob", &p.arn).unwrap();
        assert_eq!(i.get_policy(&p.arn).unwrap().1, 1);
        assert_eq!(i.delete_policy(&p.arn).unwrap_err().code, "DeleteConflict");
        i.detach_policy(A, Entity::User, "bob", &p.arn).unwrap();
        let e = i.delete_policy(&p.arn).unwrap_err();
        assert!(e
            .message
            .starts_with("This policy has more than one version."));
        for v in 2..=5 {
            i.delete_policy_version(&p.arn, &format!("v{v}")).unwrap();
        }
        i.delete_policy(&p.arn).unwrap();
        let e = i.create_policy(A, "bad", None, r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"bucket"}]}"#, None, vec![], 1).unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            (
                "MalformedPolicyDocument",
                "Resource bucket must be in ARN format or \"*\"."
            )
        );
    }

    #[test]
    fn renaming_a_user_moves_everything_keyed_by_its_name() {
        let i = iam();
        let p = i
            .create_policy(A, "read", None, DOC, None, vec![], 1)
            .unwrap();
        i.create_user(A, "bob", None, vec![], None, 1).unwrap();
        i.create_group(A, "devs", None, 1).unwrap();
        i.add_user_to_group(A, "devs", "bob").unwrap();
        i.attach_policy(A, Entity::User, "bob", &p.arn).unwrap();
        i.put_inline(A, Entity::User, "bob", "own", DOC).unwrap();
        let k = i.create_access_key(A, Some("bob"), 1).unwrap();
        i.create_user(A, "carol", None, vec![], None, 1).unwrap();
        assert_eq!(
            i.update_user(A, "bob", Some("Carol"), None)
                .unwrap_err()
                .code,
            "EntityAlreadyExists"
        );
        let u = i
            .update_user(A, "bob", Some("robert"), Some("/eng/"))
            .unwrap();
        assert_eq!(u.arn, "arn:aws:iam::123456789012:user/eng/robert");
        assert_eq!(i.get_user(A, "bob").unwrap_err().code, "NoSuchEntity");
        assert_eq!(
            i.list_access_keys(A, Some("robert")).unwrap()[0]
                .user
                .as_deref(),
            Some("robert")
        );
        assert_eq!(
            i.access_key(&k.key.id).unwrap().unwrap().user.as_deref(),
            Some("robert")
        );
        assert_eq!(
            i.list_attached(A, Entity::User, "robert").unwrap()[0].1,
            p.arn
        );
        assert_eq!(i.list_inline(A, Entity::User, "robert").unwrap(), ["own"]);
        assert_eq!(i.groups_for_user(A, "robert").unwrap()[0].name, "devs");
        assert_eq!(i.get_group(A, "devs").unwrap().1[0].name, "robert");
        assert_eq!(i.entities_for_policy(&p.arn).unwrap().1[0].name, "robert");
    }

    #[test]
    fn renaming_a_group_keeps_its_members_and_policies() {
        let i = iam();
        let p = i
            .create_policy(A, "read", None, DOC, None, vec![], 1)
            .unwrap();
        i.create_user(A, "bob", None, vec![], None, 1).unwrap();
        i.create_group(A, "devs", None, 1).unwrap();
        i.add_user_to_group(A, "devs", "bob").unwrap();
        i.attach_policy(A, Entity::Group, "devs", &p.arn).unwrap();
        i.put_inline(A, Entity::Group, "devs", "own", DOC).unwrap();
        let g = i
            .update_group(A, "devs", Some("engineers"), Some("/eng/"))
            .unwrap();
        assert_eq!(g.arn, "arn:aws:iam::123456789012:group/eng/engineers");
        assert_eq!(i.get_group(A, "engineers").unwrap().1[0].name, "bob");
        assert_eq!(i.groups_for_user(A, "bob").unwrap()[0].name, "engineers");
        assert_eq!(
            i.list_attached(A, Entity::Group, "engineers").unwrap()[0].1,
            p.arn
        );
        assert_eq!(
            i.list_inline(A, Entity::Group, "engineers").unwrap(),
            ["own"]
        );
        assert_eq!(
            i.entities_for_policy(&p.arn).unwrap().0[0].name,
            "engineers"
        );
        assert_eq!(i.get_group(A, "devs").unwrap_err().code, "NoSuchEntity");
    }

    #[test]
    fn policy_size_ignores_white_space_outside_strings() {
        assert_eq!(policy_size("{ \"a b\" : 1 }"), 9);
    }
}
