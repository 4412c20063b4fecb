//! The storage interface: a transactional, ordered key-value store.
//!
//! Everything Ward keeps is a record `(kind, key) → bytes`, where `kind` is a
//! short table name (`user`, `access_key`, ...) and `key` an ordered string
//! (usually `ACCOUNT/name`). Relations are records too (`group_member` keyed
//! `ACCOUNT/group/user`, and its mirror `user_group` keyed
//! `ACCOUNT/user/group`), so every lookup and listing is a point read or an
//! ordered prefix scan. That keeps the interface narrow enough that an
//! embedded SQLite store, an in-memory store for the emulator and tests, and
//! a PostgreSQL store for several nodes all implement it the same way, and
//! one conformance suite ([`conformance`]) checks them all.
//!
//! Write transactions are serializable: the IAM invariants (unique names,
//! two access keys per user, five versions per managed policy) are checked
//! and written inside one `write` call, so they hold under concurrency. A
//! write that returns `Ok` is durable.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// A storage failure (I/O, corruption, a closed database). Never a
/// user-visible IAM error: those are decided in the domain logic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("storage error: {0}")]
pub struct StoreError(pub String);

pub type StoreResult<T> = Result<T, StoreError>;

/// Reads inside a transaction.
pub trait Tx {
    /// The value of one record.
    fn get(&self, kind: &str, key: &str) -> StoreResult<Option<Vec<u8>>>;
    /// Records of `kind` whose key starts with `prefix`, in key order,
    /// starting strictly after `after` when given, at most `limit`.
    fn scan(
        &self,
        kind: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<(String, Vec<u8>)>>;
    /// Records of `kind` whose key starts with `prefix`, in descending key
    /// order, starting strictly before `before` when given, at most `limit`
    /// (newest first, for keys that grow with time).
    fn scan_rev(
        &self,
        kind: &str,
        prefix: &str,
        before: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<(String, Vec<u8>)>>;
    /// How many records of `kind` have a key starting with `prefix`.
    fn count(&self, kind: &str, prefix: &str) -> StoreResult<u64>;
}

/// Reads and writes inside a write transaction.
pub trait TxMut: Tx {
    /// Insert or replace a record.
    fn put(&mut self, kind: &str, key: &str, value: &[u8]) -> StoreResult<()>;
    /// Delete a record; whether it existed.
    fn delete(&mut self, kind: &str, key: &str) -> StoreResult<bool>;
}

/// A store. `read` sees a consistent snapshot; `write` runs serialized with
/// every other write and commits durably when the closure returns `Ok`; an
/// `Err` from the closure rolls everything back.
pub trait Store: Send + Sync + 'static {
    fn read<R, E: From<StoreError>>(&self, f: impl FnOnce(&dyn Tx) -> Result<R, E>)
        -> Result<R, E>;
    fn write<R, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&mut dyn TxMut) -> Result<R, E>,
    ) -> Result<R, E>;

    /// Remove every record (the emulator's `/moto-api/reset`). Durable
    /// stores refuse.
    fn clear_all(&self) -> StoreResult<()> {
        Err(StoreError("this store cannot be wiped".into()))
    }
}

type Map = BTreeMap<(String, String), Vec<u8>>;

/// An in-memory store: the emulator's, and the tests'.
#[derive(Debug, Default)]
pub struct MemStore {
    data: Mutex<Map>,
}

impl MemStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Drop every record (`POST /moto-api/reset`).
    pub fn clear(&self) {
        if let Ok(mut m) = self.data.lock() {
            m.clear();
        }
    }
}

struct MemTx<'a> {
    base: &'a Map,
    /// Pending writes: `None` is a delete.
    pending: BTreeMap<(String, String), Option<Vec<u8>>>,
}

impl MemTx<'_> {
    fn merged(&self, kind: &str, prefix: &str) -> BTreeMap<String, Vec<u8>> {
        let mut out: BTreeMap<String, Vec<u8>> = self
            .base
            .range((kind.to_string(), prefix.to_string())..)
            .take_while(|((k, key), _)| k == kind && key.starts_with(prefix))
            .map(|((_, key), v)| (key.clone(), v.clone()))
            .collect();
        for ((k, key), v) in self
            .pending
            .range((kind.to_string(), prefix.to_string())..)
            .take_while(|((k, key), _)| k == kind && key.starts_with(prefix))
        {
            let _ = k;
            match v {
                Some(v) => {
                    out.insert(key.clone(), v.clone());
                }
                None => {
                    out.remove(key);
                }
            }
        }
        out
    }
}

impl Tx for MemTx<'_> {
    fn get(&self, kind: &str, key: &str) -> StoreResult<Option<Vec<u8>>> {
        let k = (kind.to_string(), key.to_string());
        if let Some(p) = self.pending.get(&k) {
            return Ok(p.clone());
        }
        Ok(self.base.get(&k).cloned())
    }

    fn scan(
        &self,
        kind: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<(String, Vec<u8>)>> {
        Ok(self
            .merged(kind, prefix)
            .into_iter()
            .filter(|(k, _)| after.is_none_or(|a| k.as_str() > a))
            .take(limit)
            .collect())
    }

    fn scan_rev(
        &self,
        kind: &str,
        prefix: &str,
        before: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<(String, Vec<u8>)>> {
        Ok(self
            .merged(kind, prefix)
            .into_iter()
            .rev()
            .filter(|(k, _)| before.is_none_or(|b| k.as_str() < b))
            .take(limit)
            .collect())
    }

    fn count(&self, kind: &str, prefix: &str) -> StoreResult<u64> {
        Ok(self.merged(kind, prefix).len() as u64)
    }
}

impl TxMut for MemTx<'_> {
    fn put(&mut self, kind: &str, key: &str, value: &[u8]) -> StoreResult<()> {
        self.pending
            .insert((kind.to_string(), key.to_string()), Some(value.to_vec()));
        Ok(())
    }

    fn delete(&mut self, kind: &str, key: &str) -> StoreResult<bool> {
        let existed = self.get(kind, key)?.is_some();
        self.pending
            .insert((kind.to_string(), key.to_string()), None);
        Ok(existed)
    }
}

impl Store for MemStore {
    fn clear_all(&self) -> StoreResult<()> {
        self.clear();
        Ok(())
    }

    fn read<R, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&dyn Tx) -> Result<R, E>,
    ) -> Result<R, E> {
        let guard = self
            .data
            .lock()
            .map_err(|_| StoreError("the in-memory store is poisoned".into()))?;
        let tx = MemTx {
            base: &guard,
            pending: BTreeMap::new(),
        };
        f(&tx)
    }

    fn write<R, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&mut dyn TxMut) -> Result<R, E>,
    ) -> Result<R, E> {
        let mut guard = self
            .data
            .lock()
            .map_err(|_| StoreError("the in-memory store is poisoned".into()))?;
        let mut tx = MemTx {
            base: &guard,
            pending: BTreeMap::new(),
        };
        let r = f(&mut tx)?;
        let pending = std::mem::take(&mut tx.pending);
        for (k, v) in pending {
            match v {
                Some(v) => {
                    guard.insert(k, v);
                }
                None => {
                    guard.remove(&k);
                }
            }
        }
        Ok(r)
    }
}

/// The conformance suite every [`Store`] must pass (run by each backend's
/// tests: `ward_core::store::conformance::run(&store)`).
pub mod conformance {
    use super::*;

    fn s(v: &[u8]) -> String {
        String::from_utf8_lossy(v).into_owned()
    }

    /// Run every check; panics with a description on the first failure.
    #[expect(clippy::panic, reason = "a test suite reports failures by panicking")]
    pub fn run<S: Store>(store: &S) {
        let check = |ok: bool, what: &str| {
            if !ok {
                panic!("store conformance: {what}");
            }
        };
        // Writes commit; reads see them.
        let r: Result<(), StoreError> = store.write(|tx| {
            tx.put("user", "111/alice", b"A")?;
            tx.put("user", "111/bob", b"B")?;
            tx.put("user", "111/carol", b"C")?;
            tx.put("user", "222/dave", b"D")?;
            tx.put("group", "111/alice", b"G")?;
            Ok(())
        });
        check(r.is_ok(), "write commits");
        let got: Result<Option<Vec<u8>>, StoreError> = store.read(|tx| tx.get("user", "111/bob"));
        check(
            got == Ok(Some(b"B".to_vec())),
            "get reads a committed record",
        );
        // Scans are ordered, prefix-bounded, paginated, kind-separated.
        let page: Result<Vec<(String, Vec<u8>)>, StoreError> =
            store.read(|tx| tx.scan("user", "111/", None, 2));
        let keys: Vec<String> = page
            .unwrap_or_default()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        check(
            keys == ["111/alice", "111/bob"],
            "scan returns the first page in key order",
        );
        let page: Result<Vec<(String, Vec<u8>)>, StoreError> =
            store.read(|tx| tx.scan("user", "111/", Some("111/bob"), 10));
        let keys: Vec<String> = page
            .unwrap_or_default()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        check(
            keys == ["111/carol"],
            "scan resumes strictly after the marker",
        );
        let n: Result<u64, StoreError> = store.read(|tx| tx.count("user", "111/"));
        check(n == Ok(3), "count counts the prefix only");
        // A failed write changes nothing.
        let r: Result<(), StoreError> = store.write(|tx| {
            tx.put("user", "111/erin", b"E")?;
            tx.delete("user", "111/alice")?;
            Err(StoreError("rolled back".into()))
        });
        check(r.is_err(), "the closure's error is returned");
        let erin: Result<Option<Vec<u8>>, StoreError> = store.read(|tx| tx.get("user", "111/erin"));
        let alice: Result<Option<Vec<u8>>, StoreError> =
            store.read(|tx| tx.get("user", "111/alice"));
        check(
            erin == Ok(None) && alice == Ok(Some(b"A".to_vec())),
            "a failed write is rolled back entirely",
        );
        // A transaction sees its own writes, in gets, scans and counts.
        let r: Result<(String, u64, bool), StoreError> = store.write(|tx| {
            tx.put("user", "111/zed", b"Z")?;
            let existed = tx.delete("user", "111/bob")?;
            let v = tx
                .get("user", "111/zed")?
                .map(|v| s(&v))
                .unwrap_or_default();
            let n = tx.count("user", "111/")?;
            Ok((v, n, existed))
        });
        check(
            r == Ok(("Z".into(), 3, true)),
            "a transaction sees its own writes",
        );
        let deleted_again: Result<bool, StoreError> =
            store.write(|tx| tx.delete("user", "111/bob"));
        check(
            deleted_again == Ok(false),
            "deleting a missing record reports false",
        );
        // Binary values round-trip.
        let blob: Vec<u8> = (0u8..=255).collect();
        let r: Result<Option<Vec<u8>>, StoreError> = store.write(|tx| {
            tx.put("blob", "k", &blob)?;
            tx.get("blob", "k")
        });
        check(r == Ok(Some(blob.clone())), "binary values round-trip");
        // Concurrent writers are serialized: read-modify-write never loses an update.
        std::thread::scope(|sc| {
            for _ in 0..4 {
                sc.spawn(|| {
                    for _ in 0..25 {
                        let _: Result<(), StoreError> = store.write(|tx| {
                            let n: u64 = tx
                                .get("counter", "c")?
                                .and_then(|v| s(&v).parse().ok())
                                .unwrap_or(0);
                            tx.put("counter", "c", (n + 1).to_string().as_bytes())
                        });
                    }
                });
            }
        });
        let n: Result<Option<Vec<u8>>, StoreError> = store.read(|tx| tx.get("counter", "c"));
        check(
            n == Ok(Some(b"100".to_vec())),
            "concurrent read-modify-write transactions are serialized",
        );
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn mem_store_conforms() {
        super::conformance::run(&super::MemStore::new());
    }
}
