//! In-process caches on the request path, both safe by construction:
//! compiled policies are keyed by their document text (a changed policy is
//! a different key), and resolved access keys are dropped after every
//! operation that changes a key commits. (Several nodes over one database
//! will also need a time bound on the key cache; see the PostgreSQL work.)

use crate::auth::Caller;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use ward_policy::{Policy, PolicyType};
use zeroize::Zeroizing;

/// Most entries kept before a cache starts over.
const MAX_ENTRIES: usize = 20_000;

type PolicyKey = (PolicyType, String, String);

/// Compiled policies by (type, id, document).
#[derive(Default)]
pub struct PolicyCache(Mutex<HashMap<PolicyKey, Arc<Policy>>>);

impl fmt::Debug for PolicyCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.lock().map_or(0, |m| m.len());
        write!(f, "PolicyCache({n} policies)")
    }
}

impl PolicyCache {
    /// The compiled policy, compiling it on first use.
    pub fn get_or_compile<E>(
        &self,
        ty: PolicyType,
        id: &str,
        doc: &str,
        compile: impl FnOnce() -> Result<Arc<Policy>, E>,
    ) -> Result<Arc<Policy>, E> {
        let key = (ty, id.to_string(), doc.to_string());
        if let Ok(m) = self.0.lock() {
            if let Some(p) = m.get(&key) {
                return Ok(p.clone());
            }
        }
        let p = compile()?;
        if let Ok(mut m) = self.0.lock() {
            if m.len() >= MAX_ENTRIES {
                m.clear();
            }
            m.insert(key, p.clone());
        }
        Ok(p)
    }
}

/// Resolved long-term access keys: the caller and the secret. A generation
/// number, bumped by every `forget`, keeps a lookup that raced with a change
/// from caching what it read before the change.
#[derive(Default)]
pub struct KeyCache(Mutex<(u64, HashMap<String, Resolved>)>);

/// A resolved key: who it is and its secret.
type Resolved = (Caller, Zeroizing<String>);

impl fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.lock().map_or(0, |m| m.1.len());
        write!(f, "KeyCache({n} keys)")
    }
}

impl KeyCache {
    /// A cached key, or the generation to pass to [`KeyCache::put`].
    pub fn get(&self, id: &str) -> Result<(Caller, Zeroizing<String>), u64> {
        let m = self.0.lock().map_err(|_| u64::MAX)?;
        m.1.get(id).cloned().ok_or(m.0)
    }

    /// Cache a key read at generation `gen`, unless a key changed since.
    pub fn put(&self, gen: u64, id: &str, caller: Caller, secret: Zeroizing<String>) {
        if let Ok(mut m) = self.0.lock() {
            if m.0 != gen {
                return;
            }
            if m.1.len() >= MAX_ENTRIES {
                m.1.clear();
            }
            m.1.insert(id.to_string(), (caller, secret));
        }
    }

    /// Drop every key (the store was wiped).
    pub fn clear(&self) {
        if let Ok(mut m) = self.0.lock() {
            m.0 = m.0.wrapping_add(1);
            m.1.clear();
        }
    }

    /// Drop a key (it changed or is gone).
    pub fn forget(&self, id: &str) {
        if let Ok(mut m) = self.0.lock() {
            m.0 = m.0.wrapping_add(1);
            m.1.remove(id);
        }
    }
}
