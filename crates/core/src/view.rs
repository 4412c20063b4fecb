//! Authorization views: what deciding a request needs of a principal — its
//! record, its compiled identity policies (a user's with its groups'), its
//! permissions boundary and, for a role, its trust policy — read and
//! compiled once, then shared by every request until the store changes.
//!
//! Consistency: every write through [`Iam`] bumps a generation number after
//! it commits, and a view is cached only under the generation that was
//! current before it was read. A view read concurrently with a write is
//! therefore never served after the write was acknowledged. (Several nodes
//! over one database will need the generation in the database; see the
//! PostgreSQL work.)

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::iam::{lc, Entity, Iam};
use crate::model::{Role, Session, User};
use crate::store::{Store, StoreError, TxMut};
use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use ward_policy::{Policy, PolicySet, PolicyType};

/// Most entries a cache keeps before it starts over.
const MAX_ENTRIES: usize = 50_000;

/// A user as authorization sees it.
#[derive(Debug)]
pub struct UserView {
    pub user: User,
    /// The user's inline and attached policies and those of its groups.
    pub identity: PolicySet,
    pub boundary: Option<PolicySet>,
}

/// A role as authorization sees it.
#[derive(Debug)]
pub struct RoleView {
    pub role: Role,
    pub identity: PolicySet,
    pub boundary: Option<PolicySet>,
    /// The trust policy, as the resource policy of `sts:AssumeRole*`.
    pub trust: PolicySet,
}

/// A map whose entries are valid for one store generation.
pub(crate) struct GenCache<K, V> {
    inner: Mutex<(u64, HashMap<K, Arc<V>>)>,
}

impl<K, V> Default for GenCache<K, V> {
    fn default() -> Self {
        GenCache {
            inner: Mutex::new((0, HashMap::new())),
        }
    }
}

impl<K, V> fmt::Debug for GenCache<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.inner.lock().map_or(0, |m| m.1.len());
        write!(f, "GenCache({n} entries)")
    }
}

impl<K: Eq + Hash, V> GenCache<K, V> {
    /// The entry for `key` if it was read at generation `gen`.
    pub(crate) fn get<Q>(&self, gen: u64, key: &Q) -> Option<Arc<V>>
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        let mut m = self.inner.lock().ok()?;
        if m.0 != gen {
            m.0 = gen;
            m.1.clear();
            return None;
        }
        m.1.get(key).cloned()
    }

    /// Keep `v`, read at generation `gen`, unless the store has moved on.
    pub(crate) fn put(&self, gen: u64, current: &AtomicU64, key: K, v: Arc<V>) {
        if let Ok(mut m) = self.inner.lock() {
            if current.load(Ordering::Acquire) != gen {
                return;
            }
            if m.0 != gen {
                m.0 = gen;
                m.1.clear();
            }
            if m.1.len() >= MAX_ENTRIES {
                m.1.clear();
            }
            m.1.insert(key, v);
        }
    }
}

/// The caches of the authorization path.
#[derive(Debug, Default)]
pub(crate) struct Views {
    /// Bumped after every committed write.
    pub(crate) generation: AtomicU64,
    /// Bumped after every write to an organization (`org.rs` writes only
    /// through [`Iam::write_org`]): what an account's [`crate::org::OrgView`]
    /// is read from changes only then.
    pub(crate) org_generation: AtomicU64,
    users: GenCache<(String, String), UserView>,
    roles: GenCache<(String, String), RoleView>,
    /// Accounts' places in their organizations (`None`: in none).
    pub(crate) orgs: GenCache<String, Option<Arc<crate::org::OrgView>>>,
    /// Session policies by session access key id: fixed for the session's
    /// life, so any generation will do (the generation is not consulted).
    sessions: Mutex<HashMap<String, PolicySet>>,
}

impl<S: Store> Iam<S> {
    /// Run a write transaction and retire every cached view after it.
    pub(crate) fn write<R, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&mut dyn TxMut) -> Result<R, E>,
    ) -> Result<R, E> {
        // The request's audit record, if one waits, commits with its first
        // write (and only if that write commits).
        let mut pending = crate::audit::take_pending();
        // Made before the transaction, so the write holds the store only to
        // insert it (the request's decisions are all made by now).
        let finished = pending
            .as_mut()
            .map(|p| crate::audit::with_decisions(|d| crate::audit::finish_in_place(p, d)));
        let record = match finished {
            Some(event) => match crate::audit::waiting_row(&event) {
                Ok(row) => Some((row, event)),
                Err(e) => {
                    // Nothing written: the record still waits for the edge.
                    if let Some(p) = pending {
                        crate::audit::set_pending(p);
                    }
                    return Err(e.into());
                }
            },
            None => None,
        };
        let r = self.store.write(|tx| {
            let out = f(tx)?;
            if let Some((row, _)) = &record {
                crate::audit::append_in_write(tx, row)?;
            }
            Ok(out)
        });
        match (&r, record) {
            (Ok(_), Some((row, (event, keys)))) => {
                // Committed: the edge hands it to the appender with the answer.
                crate::audit::set_committed(Some(crate::audit::Written {
                    key: row.key,
                    event,
                    keys,
                    answer: None,
                    draft: pending,
                }));
            }
            (Ok(_), None) => {}
            (Err(_), _) => {
                crate::audit::set_committed(None);
                if let Some(p) = pending {
                    crate::audit::set_pending(p);
                }
            }
        }
        self.views.generation.fetch_add(1, Ordering::AcqRel);
        r
    }

    /// [`Iam::write`] for organization data: retires the organization views too.
    pub(crate) fn write_org<R, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&mut dyn TxMut) -> Result<R, E>,
    ) -> Result<R, E> {
        let r = self.write(f);
        self.views.org_generation.fetch_add(1, Ordering::AcqRel);
        r
    }

    /// Retire every cached view (the store changed behind our back).
    pub(crate) fn retire_views(&self) {
        self.views.generation.fetch_add(1, Ordering::AcqRel);
        self.views.org_generation.fetch_add(1, Ordering::AcqRel);
        if let Ok(mut s) = self.views.sessions.lock() {
            s.clear();
        }
    }

    pub(crate) fn compile(&self, id: &str, doc: &str, ty: PolicyType) -> ApiResult<Arc<Policy>> {
        self.compiled.get_or_compile(ty, id, doc, || {
            Policy::parse(id, doc, ty).map(Arc::new).map_err(|e| {
                let mut a = ApiError::internal();
                a.cause = Some(format!("stored policy `{id}` no longer parses: {e}"));
                a
            })
        })
    }

    /// A user, its policies and its boundary.
    pub fn user_view(&self, account: &str, name: &str) -> ApiResult<Arc<UserView>> {
        let gen = self.views.generation.load(Ordering::Acquire);
        let key = (account.to_string(), lc(name));
        if let Some(v) = self.views.users.get(gen, &key) {
            return Ok(v);
        }
        let v = Arc::new(self.store.read(|tx| {
            let user = self.user_in(tx, account, name)?;
            let lu = lc(&user.name);
            let mut identity = Vec::new();
            self.entity_policies(tx, account, Entity::User, &lu, &user.arn, &mut identity)?;
            for g in self.groups_of(tx, account, &lu)? {
                self.entity_policies(
                    tx,
                    account,
                    Entity::Group,
                    &lc(&g.name),
                    &g.arn,
                    &mut identity,
                )?;
            }
            let boundary = self.boundary(tx, user.permissions_boundary.as_deref())?;
            Ok::<_, ApiError>(UserView {
                user,
                identity: PolicySet::new(identity),
                boundary,
            })
        })?);
        self.views
            .users
            .put(gen, &self.views.generation, key, v.clone());
        Ok(v)
    }

    /// A role, its policies, its boundary and its trust policy.
    pub fn role_view(&self, account: &str, name: &str) -> ApiResult<Arc<RoleView>> {
        let gen = self.views.generation.load(Ordering::Acquire);
        let key = (account.to_string(), lc(name));
        if let Some(v) = self.views.roles.get(gen, &key) {
            return Ok(v);
        }
        let v = Arc::new(self.store.read(|tx| {
            let role = self.role_in(tx, account, name)?;
            let mut identity = Vec::new();
            self.entity_policies(
                tx,
                account,
                Entity::Role,
                &lc(&role.name),
                &role.arn,
                &mut identity,
            )?;
            let boundary = self.boundary(tx, role.permissions_boundary.as_deref())?;
            let trust_id = format!("{}#trust", role.arn);
            let trust = self.compile(&trust_id, &role.assume_role_policy, PolicyType::Resource)?;
            Ok::<_, ApiError>(RoleView {
                identity: PolicySet::new(identity),
                boundary,
                trust: PolicySet::new(vec![trust]),
                role,
            })
        })?);
        self.views
            .roles
            .put(gen, &self.views.generation, key, v.clone());
        Ok(v)
    }

    /// A session's policies as one set (compiled once per session).
    pub(crate) fn session_set(&self, caller: &Caller, s: &Session) -> ApiResult<PolicySet> {
        if let Ok(m) = self.views.sessions.lock() {
            if let Some(set) = m.get(&caller.access_key_id) {
                return Ok(set.clone());
            }
        }
        let mut ps = Vec::with_capacity(s.policies.len());
        for (id, doc) in &s.policies {
            ps.push(self.compile(id, doc, PolicyType::Session)?);
        }
        let set = PolicySet::new(ps);
        if let Ok(mut m) = self.views.sessions.lock() {
            if m.len() >= MAX_ENTRIES {
                m.clear();
            }
            m.insert(caller.access_key_id.clone(), set.clone());
        }
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Sealer;
    use crate::store::MemStore;

    fn iam() -> Iam<MemStore> {
        let iam = Iam::new(
            Arc::new(MemStore::new()),
            Sealer::new(&Sealer::generate_key()),
        );
        iam.ensure_account("111111111111", 0).unwrap();
        iam
    }

    const ALLOW_S3: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;

    #[test]
    fn a_write_retires_the_cached_view() {
        let iam = iam();
        iam.create_user("111111111111", "bob", None, vec![], None, 0)
            .unwrap();
        let v1 = iam.user_view("111111111111", "bob").unwrap();
        assert!(v1.identity.is_empty());
        // Served from the cache while nothing changes.
        let again = iam.user_view("111111111111", "BOB").unwrap();
        assert!(Arc::ptr_eq(&v1, &again));
        iam.put_inline("111111111111", Entity::User, "bob", "s3", ALLOW_S3)
            .unwrap();
        let v2 = iam.user_view("111111111111", "bob").unwrap();
        assert_eq!(v2.identity.policies().len(), 1);
        // A group policy reaches the user's view too.
        iam.create_group("111111111111", "devs", None, 0).unwrap();
        iam.add_user_to_group("111111111111", "devs", "bob")
            .unwrap();
        iam.put_inline("111111111111", Entity::Group, "devs", "s3", ALLOW_S3)
            .unwrap();
        let v3 = iam.user_view("111111111111", "bob").unwrap();
        assert_eq!(v3.identity.policies().len(), 2);
    }

    #[test]
    fn a_view_read_before_a_write_is_not_kept() {
        let iam = iam();
        iam.create_user("111111111111", "bob", None, vec![], None, 0)
            .unwrap();
        let gen = iam.views.generation.load(Ordering::Acquire);
        let stale = iam.user_view("111111111111", "bob").unwrap();
        iam.put_inline("111111111111", Entity::User, "bob", "s3", ALLOW_S3)
            .unwrap();
        // A reader that started before the write tries to keep what it read.
        iam.views.users.put(
            gen,
            &iam.views.generation,
            ("111111111111".into(), "bob".into()),
            stale,
        );
        let v = iam.user_view("111111111111", "bob").unwrap();
        assert_eq!(v.identity.policies().len(), 1);
    }
}
