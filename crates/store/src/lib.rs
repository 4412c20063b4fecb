//! Ward's embedded storage backend: [`SqliteStore`], an implementation of
//! [`ward_core::store::Store`] on a single SQLite database file.
//!
//! # What it does
//!
//! - Keeps every record `(kind, key) → bytes` in one table,
//!   `kv(kind, key, value)`, clustered on its primary key `(kind, key)`
//!   (`WITHOUT ROWID`), so a point read is one B-tree lookup and a prefix
//!   scan or count is one index range: `kind = ? AND key >= prefix AND key <
//!   upper(prefix)`, never a table scan.
//! - Runs the database in WAL mode with `synchronous = FULL`: a `write` that
//!   returns `Ok` has been fsynced to the write-ahead log and survives a
//!   process kill or a power loss.
//! - Serializes writes on one writer connection, with group commit: writers
//!   that arrive while a batch transaction (`BEGIN IMMEDIATE`) is open run in
//!   it, each in its own savepoint — rolled back alone when its closure
//!   returns `Err` (or panics) — and one `COMMIT` (one fsync) makes the whole
//!   batch durable; every writer returns only after that commit. Reads go through a small pool of separate read-only
//!   connections, each `read` in a deferred transaction, so a read sees one
//!   consistent snapshot for its whole closure and never waits for a writer.
//! - Versions its schema with `PRAGMA user_version`: the migrations in
//!   [`MIGRATIONS`] are applied in order, in one transaction, when a database
//!   is opened; a database written by a newer Ward (a higher version than
//!   [`SCHEMA_VERSION`]) is refused rather than guessed at.
//!
//! # What it deliberately does not do
//!
//! - No in-memory mode: `ward_core::store::MemStore` is the in-memory store.
//! - No replication, no several-node access: one process owns the file (other
//!   processes may open it, SQLite's locking keeps them correct, but nothing
//!   here is tuned for that). A multi-node deployment is a different backend.
//! - No interpretation of keys or values: it stores what the domain gives it,
//!   and enforces no IAM invariant (those are checked inside `write` by the
//!   domain logic, which the serialized writes make safe).
//! - No backups, vacuuming or encryption at rest.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use ward_core::store::{Store, StoreError, StoreResult, Tx, TxMut};

/// The schema migrations, applied in order: migration `i` (0-based) takes a
/// database from `user_version` `i` to `i + 1`. Only ever append to this list.
///
/// 2: values move out of the key B-tree. A `WITHOUT ROWID` table keeps each
/// whole row in its B-tree, interior pages included, and SQLite advises it
/// only for rows under about a twentieth of a page
/// (<https://www.sqlite.org/withoutrowid.html>, section 4); audit segments
/// of a hundred kilobytes made every lookup near them read overflow pages.
/// Now a rowid table holds the values and a unique index the keys.
pub const MIGRATIONS: &[&str] = &[
    "CREATE TABLE kv (
        kind  TEXT NOT NULL,
        key   TEXT NOT NULL,
        value BLOB NOT NULL,
        PRIMARY KEY (kind, key)
    ) WITHOUT ROWID;",
    "CREATE TABLE kv2 (
        kind  TEXT NOT NULL,
        key   TEXT NOT NULL,
        value BLOB NOT NULL
    );
    INSERT INTO kv2 (kind, key, value) SELECT kind, key, value FROM kv ORDER BY kind, key;
    DROP TABLE kv;
    ALTER TABLE kv2 RENAME TO kv;
    CREATE UNIQUE INDEX kv_key ON kv (kind, key);",
];

/// The schema version this code writes and understands (the number of
/// [`MIGRATIONS`]).
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// How long a connection waits for a lock held by another connection (or
/// another process) before giving up with a storage error.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How many idle read connections are kept for reuse.
const MAX_IDLE_READERS: usize = 4;

const SQL_GET: &str = "SELECT value FROM kv WHERE kind = ?1 AND key = ?2";
const SQL_PUT: &str = "INSERT OR REPLACE INTO kv (kind, key, value) VALUES (?1, ?2, ?3)";
const SQL_DELETE: &str = "DELETE FROM kv WHERE kind = ?1 AND key = ?2";

// Scans: `?2` is the lower bound (inclusive for a prefix, exclusive for an
// `after` marker), `?3` the exclusive upper bound of the prefix when it has
// one, the last parameter the limit. Distinct statements rather than
// `(?3 IS NULL OR key < ?3)` so that SQLite always sees a plain range on the
// primary key.
const SQL_SCAN_GE: &str =
    "SELECT key, value FROM kv WHERE kind = ?1 AND key >= ?2 ORDER BY key LIMIT ?3";
const SQL_SCAN_GT: &str =
    "SELECT key, value FROM kv WHERE kind = ?1 AND key > ?2 ORDER BY key LIMIT ?3";
const SQL_SCAN_GE_LT: &str =
    "SELECT key, value FROM kv WHERE kind = ?1 AND key >= ?2 AND key < ?3 ORDER BY key LIMIT ?4";
const SQL_SCAN_GT_LT: &str =
    "SELECT key, value FROM kv WHERE kind = ?1 AND key > ?2 AND key < ?3 ORDER BY key LIMIT ?4";
const SQL_SCAN_REV_GE: &str =
    "SELECT key, value FROM kv WHERE kind = ?1 AND key >= ?2 ORDER BY key DESC LIMIT ?3";
const SQL_SCAN_REV_GE_LT: &str =
    "SELECT key, value FROM kv WHERE kind = ?1 AND key >= ?2 AND key < ?3 ORDER BY key DESC LIMIT ?4";
const SQL_COUNT: &str = "SELECT COUNT(*) FROM kv WHERE kind = ?1 AND key >= ?2";
const SQL_COUNT_LT: &str = "SELECT COUNT(*) FROM kv WHERE kind = ?1 AND key >= ?2 AND key < ?3";

/// Wraps a rusqlite error in a [`StoreError`] that names the operation.
fn sql_err(op: &str) -> impl FnOnce(rusqlite::Error) -> StoreError + '_ {
    move |e| StoreError(format!("sqlite {op}: {e}"))
}

/// The smallest string greater than every string that starts with `prefix`,
/// or `None` when there is none (the empty prefix, or one made only of
/// `char::MAX`).
///
/// SQLite compares `TEXT` with the `BINARY` collation, i.e. by the bytes of
/// the UTF-8 encoding, which is the same order as by code points (and as
/// Rust's `str` order). So the keys starting with `prefix` are exactly those
/// in `[prefix, upper)` where `upper` is `prefix` with its last character
/// replaced by the next one (skipping the surrogate gap, which no string
/// contains); a last character `char::MAX` has no successor, so it is
/// dropped and the one before it is incremented instead.
pub fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match last {
            '\u{D7FF}' => Some('\u{E000}'),
            c => char::from_u32(u32::from(c) + 1),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// A transaction's view of one connection: the writer's (inside
/// `BEGIN IMMEDIATE`) or a reader's (inside a deferred `BEGIN`).
struct SqlTx<'c> {
    conn: &'c Connection,
}

impl Tx for SqlTx<'_> {
    fn get(&self, kind: &str, key: &str) -> StoreResult<Option<Vec<u8>>> {
        let op = "get";
        let mut stmt = self.conn.prepare_cached(SQL_GET).map_err(sql_err(op))?;
        stmt.query_row(params![kind, key], |row| row.get::<_, Vec<u8>>(0))
            .optional()
            .map_err(sql_err(op))
    }

    fn scan(
        &self,
        kind: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<(String, Vec<u8>)>> {
        let op = "scan";
        if limit == 0 {
            return Ok(Vec::new());
        }
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // The lower bound: the prefix itself (inclusive), or the `after`
        // marker (exclusive) when it is at or past the prefix.
        let (lower, exclusive) = match after {
            Some(a) if a >= prefix => (a, true),
            _ => (prefix, false),
        };
        let upper = prefix_upper_bound(prefix);
        let sql = match (exclusive, upper.is_some()) {
            (false, false) => SQL_SCAN_GE,
            (true, false) => SQL_SCAN_GT,
            (false, true) => SQL_SCAN_GE_LT,
            (true, true) => SQL_SCAN_GT_LT,
        };
        let mut stmt = self.conn.prepare_cached(sql).map_err(sql_err(op))?;
        let map = |row: &rusqlite::Row<'_>| Ok((row.get::<_, String>(0)?, row.get(1)?));
        let rows = match &upper {
            Some(upper) => stmt.query_map(params![kind, lower, upper, limit], map),
            None => stmt.query_map(params![kind, lower, limit], map),
        }
        .map_err(sql_err(op))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(sql_err(op))
    }

    fn scan_rev(
        &self,
        kind: &str,
        prefix: &str,
        before: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<(String, Vec<u8>)>> {
        let op = "scan_rev";
        if limit == 0 {
            return Ok(Vec::new());
        }
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // The upper bound (exclusive): the `before` marker when it is inside
        // the prefix's range, else the end of that range.
        let end = prefix_upper_bound(prefix);
        let upper = match (before, end) {
            (Some(b), Some(e)) => Some(if b < e.as_str() { b.to_string() } else { e }),
            (Some(b), None) => Some(b.to_string()),
            (None, e) => e,
        };
        if upper.as_deref().is_some_and(|u| u <= prefix) {
            return Ok(Vec::new());
        }
        let mut stmt = self
            .conn
            .prepare_cached(if upper.is_some() {
                SQL_SCAN_REV_GE_LT
            } else {
                SQL_SCAN_REV_GE
            })
            .map_err(sql_err(op))?;
        let map = |row: &rusqlite::Row<'_>| Ok((row.get::<_, String>(0)?, row.get(1)?));
        let rows = match &upper {
            Some(upper) => stmt.query_map(params![kind, prefix, upper, limit], map),
            None => stmt.query_map(params![kind, prefix, limit], map),
        }
        .map_err(sql_err(op))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(sql_err(op))
    }

    fn count(&self, kind: &str, prefix: &str) -> StoreResult<u64> {
        let op = "count";
        let upper = prefix_upper_bound(prefix);
        let sql = if upper.is_some() {
            SQL_COUNT_LT
        } else {
            SQL_COUNT
        };
        let mut stmt = self.conn.prepare_cached(sql).map_err(sql_err(op))?;
        let get = |row: &rusqlite::Row<'_>| row.get::<_, i64>(0);
        let n = match &upper {
            Some(upper) => stmt.query_row(params![kind, prefix, upper], get),
            None => stmt.query_row(params![kind, prefix], get),
        }
        .map_err(sql_err(op))?;
        u64::try_from(n).map_err(|_| StoreError(format!("sqlite count: negative count {n}")))
    }
}

impl TxMut for SqlTx<'_> {
    fn put(&mut self, kind: &str, key: &str, value: &[u8]) -> StoreResult<()> {
        let op = "put";
        let mut stmt = self.conn.prepare_cached(SQL_PUT).map_err(sql_err(op))?;
        stmt.execute(params![kind, key, value])
            .map_err(sql_err(op))?;
        Ok(())
    }

    fn delete(&mut self, kind: &str, key: &str) -> StoreResult<bool> {
        let op = "delete";
        let mut stmt = self.conn.prepare_cached(SQL_DELETE).map_err(sql_err(op))?;
        let n = stmt.execute(params![kind, key]).map_err(sql_err(op))?;
        Ok(n > 0)
    }
}

/// The writer connection and the batch transaction it may hold open.
struct Writer {
    conn: Connection,
    /// A batch transaction (`BEGIN IMMEDIATE`) is open.
    open: bool,
    /// The id of the open (or last) batch.
    batch: u64,
}

/// How long a batch leader waits for queued writers to join its batch.
const GROUP_WAIT: Duration = Duration::from_millis(2);

/// The embedded SQLite store: one database file, one serialized writer
/// connection, a small pool of read connections. See the [crate docs](crate).
pub struct SqliteStore {
    path: PathBuf,
    writer: Mutex<Writer>,
    /// Writers waiting for the writer connection (the batch leader waits
    /// for them to join before it commits).
    waiting: AtomicUsize,
    /// The batch leader sleeps here until no writer is queued (or
    /// [`GROUP_WAIT`] has passed); the writer that empties the queue wakes it.
    joined: Mutex<()>,
    joined_cv: Condvar,
    /// A leader is (about to be) asleep on `joined_cv`: only then does the
    /// last queued writer wake it (a wake-up is a system call).
    leader_waits: AtomicBool,
    /// Commit results of finished batches, for the followers.
    done: Mutex<BTreeMap<u64, Result<(), StoreError>>>,
    done_cv: Condvar,
    /// Idle read-only connections; a `read` takes one (or opens a new one)
    /// and gives it back afterwards.
    readers: Mutex<Vec<Connection>>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Open (creating it if needed) the database at `path`, whose parent
    /// directory must exist, and bring its schema up to [`SCHEMA_VERSION`].
    ///
    /// Fails if the file cannot be opened or is not a SQLite database, if WAL
    /// mode cannot be enabled, or if the database's schema version is newer
    /// than this code knows.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let shown = path.display();
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_with_flags(path, flags)
            .map_err(|e| StoreError(format!("sqlite open {shown}: {e}")))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(sql_err("open: set busy_timeout"))?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(|e| StoreError(format!("sqlite open {shown}: enable WAL mode: {e}")))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError(format!(
                "sqlite open {shown}: could not enable WAL mode (journal_mode is {mode})"
            )));
        }
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(sql_err("open: set synchronous=FULL"))?;
        // The writer's page cache: 64 MiB (SQLite's default is 2 MiB), so
        // the index pages that appends land on (one tail per indexed value
        // of the audit trail) stay in memory instead of being spilled and
        // read back within a transaction.
        conn.pragma_update(None, "cache_size", -65_536)
            .map_err(sql_err("open: set cache_size"))?;
        // Each writer of a group commit runs in its own savepoint, whose
        // sub-journal (the pages as they were, for a rollback to it) is a
        // temporary file by default: keep it in memory. Durability is the
        // WAL's; the sub-journal only ever serves a rollback.
        conn.pragma_update(None, "temp_store", "MEMORY")
            .map_err(sql_err("open: set temp_store"))?;
        migrate(&mut conn, path)?;
        let store = SqliteStore {
            path: path.to_path_buf(),
            writer: Mutex::new(Writer {
                conn,
                open: false,
                batch: 0,
            }),
            waiting: AtomicUsize::new(0),
            joined: Mutex::new(()),
            joined_cv: Condvar::new(),
            leader_waits: AtomicBool::new(false),
            done: Mutex::new(BTreeMap::new()),
            done_cv: Condvar::new(),
            readers: Mutex::new(Vec::new()),
        };
        // Open one reader now, so that a problem shows at open time.
        let reader = store.open_reader()?;
        store.idle_readers().push(reader);
        Ok(store)
    }

    /// The database file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn open_reader(&self) -> StoreResult<Connection> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.path, flags).map_err(|e| {
            StoreError(format!(
                "sqlite open read connection {}: {e}",
                self.path.display()
            ))
        })?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(sql_err("open read connection: set busy_timeout"))?;
        Ok(conn)
    }

    /// The idle-reader pool. A panic while it was held cannot leave it
    /// inconsistent (it is only pushed to and popped from), so poisoning is
    /// ignored.
    fn idle_readers(&self) -> MutexGuard<'_, Vec<Connection>> {
        self.readers.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The schema version of the database at `path` when it is older than this
/// Ward's (its next open migrates it, copying rows: worth saying first on a
/// large store); `None` for a current, new or missing one.
pub fn schema_upgrade_pending(path: &Path) -> StoreResult<Option<u32>> {
    if !path.exists() {
        return Ok(None);
    }
    let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(sql_err("open"))?;
    let v: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(sql_err("read schema version"))?;
    Ok(u32::try_from(v)
        .ok()
        .filter(|&v| v > 0 && v < SCHEMA_VERSION))
}

/// Apply the missing migrations in one `BEGIN IMMEDIATE` transaction (so two
/// processes opening the same new file do not both migrate it).
fn migrate(conn: &mut Connection, path: &Path) -> StoreResult<()> {
    let shown = path.display();
    let version = |conn: &Connection| -> StoreResult<u32> {
        let v: i64 = conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(|e| StoreError(format!("sqlite open {shown}: read schema version: {e}")))?;
        u32::try_from(v).map_err(|_| {
            StoreError(format!(
                "sqlite open {shown}: invalid schema version {v} (this Ward knows up to {SCHEMA_VERSION})"
            ))
        })
    };
    let too_new = |found: u32| {
        StoreError(format!(
            "sqlite open {shown}: the database has schema version {found}, newer than the \
             version {SCHEMA_VERSION} this Ward knows; use a newer Ward"
        ))
    };
    // Checked before taking the write lock too, so that a too-new database
    // is refused without writing to it.
    let found = version(conn)?;
    if found > SCHEMA_VERSION {
        return Err(too_new(found));
    }
    if found == SCHEMA_VERSION {
        return Ok(());
    }
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sql_err("migrate: begin"))?;
    let found = version(&tx)?;
    if found > SCHEMA_VERSION {
        return Err(too_new(found));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        tx.execute_batch(sql)
            .map_err(|e| StoreError(format!("sqlite open {shown}: migration {}: {e}", i + 1)))?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)
        .map_err(sql_err("migrate: set user_version"))?;
    tx.commit().map_err(sql_err("migrate: commit"))
}

impl Store for SqliteStore {
    fn read<R, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&dyn Tx) -> Result<R, E>,
    ) -> Result<R, E> {
        let pooled = self.idle_readers().pop();
        let mut conn = match pooled {
            Some(c) => c,
            None => self.open_reader()?,
        };
        // A deferred transaction: the snapshot is taken at the first read
        // and held until the end, so the whole closure sees one state.
        let tx = conn.transaction().map_err(sql_err("read: begin"))?;
        let result = f(&SqlTx { conn: &tx });
        // Nothing was written, so ending the transaction cannot lose
        // anything; a connection that fails to end it is discarded.
        let ended = tx.rollback().is_ok();
        if ended {
            let mut idle = self.idle_readers();
            if idle.len() < MAX_IDLE_READERS {
                idle.push(conn);
            }
        }
        result
    }

    /// Group commit: writers that arrive while a batch is open run inside
    /// it, each in its own savepoint (so one's error rolls back only its
    /// changes), and the batch's first writer commits them all with one
    /// fsync. Every writer returns only after the commit that holds its
    /// changes — an `Ok` is durable — and writes stay serialized.
    fn write<R, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&mut dyn TxMut) -> Result<R, E>,
    ) -> Result<R, E> {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let mut w = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        if self.waiting.fetch_sub(1, Ordering::SeqCst) == 1
            && self.leader_waits.load(Ordering::SeqCst)
        {
            // The last one queued: the leader may commit once we are done.
            let _g = self.joined.lock().unwrap_or_else(PoisonError::into_inner);
            self.joined_cv.notify_one();
        }
        if !w.open && !w.conn.is_autocommit() {
            // A transaction abandoned by a failure: start clean.
            w.conn
                .execute_batch("ROLLBACK")
                .map_err(sql_err("write: roll back an abandoned transaction"))?;
        }
        let leader = !w.open;
        if leader {
            w.conn
                .execute_batch("BEGIN IMMEDIATE")
                .map_err(sql_err("write: begin"))?;
            w.open = true;
            w.batch = w.batch.wrapping_add(1);
        }
        let batch = w.batch;
        let own = run_in_savepoint(&w.conn, f);
        if !leader {
            drop(w);
            return match own {
                // Our changes are in the batch: wait for its commit.
                Ok(Ok(r)) => self.wait_for(batch).map(|()| r).map_err(E::from),
                Ok(Err(e)) => Err(e),
                Err(panic) => std::panic::resume_unwind(panic),
            };
        }
        // Leader: let queued writers join, then commit the batch for all.
        drop(w);
        // Sleeping, not spinning: the writers that join need the CPU (and a
        // record-storing appender may be one of them, for milliseconds).
        // The flag is up before `waiting` is read, so the writer that empties
        // the queue either sees it or was already counted out.
        self.leader_waits.store(true, Ordering::SeqCst);
        let g = self.joined.lock().unwrap_or_else(PoisonError::into_inner);
        drop(
            self.joined_cv
                .wait_timeout_while(g, GROUP_WAIT, |()| self.waiting.load(Ordering::SeqCst) > 0)
                .unwrap_or_else(PoisonError::into_inner),
        );
        self.leader_waits.store(false, Ordering::SeqCst);
        let mut w = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let committed = w
            .conn
            .execute_batch("COMMIT")
            .map_err(sql_err("write: commit"));
        if committed.is_err() {
            let _ = w.conn.execute_batch("ROLLBACK");
        }
        w.open = false;
        self.publish(batch, committed.clone());
        drop(w);
        match own {
            Ok(Ok(r)) => committed.map(|()| r).map_err(E::from),
            Ok(Err(e)) => Err(e),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

type Panic = Box<dyn std::any::Any + Send + 'static>;

/// Run one writer's closure in a savepoint of the open batch: released on
/// `Ok`, rolled back on `Err` or panic (the panic is returned to re-raise
/// once the batch is settled).
fn run_in_savepoint<R, E: From<StoreError>>(
    conn: &Connection,
    f: impl FnOnce(&mut dyn TxMut) -> Result<R, E>,
) -> Result<Result<R, E>, Panic> {
    if let Err(e) = conn.execute_batch("SAVEPOINT ward_write") {
        return Ok(Err(E::from(sql_err("write: savepoint")(e))));
    }
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut SqlTx { conn })));
    let keep = matches!(out, Ok(Ok(_)));
    if keep {
        if let Err(e) = conn.execute_batch("RELEASE ward_write") {
            let _ = conn.execute_batch("ROLLBACK TO ward_write; RELEASE ward_write");
            return Ok(Err(E::from(sql_err("write: release savepoint")(e))));
        }
    } else {
        let _ = conn.execute_batch("ROLLBACK TO ward_write; RELEASE ward_write");
    }
    out
}

impl SqliteStore {
    /// Record a batch's commit result and wake its followers.
    fn publish(&self, batch: u64, result: Result<(), StoreError>) {
        let mut d = self.done.lock().unwrap_or_else(PoisonError::into_inner);
        d.insert(batch, result);
        // Keep the last few thousand results; followers read theirs at once.
        while d.len() > 4096 {
            d.pop_first();
        }
        self.done_cv.notify_all();
    }

    /// Wait for a batch's commit.
    fn wait_for(&self, batch: u64) -> Result<(), StoreError> {
        let mut d = self.done.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(r) = d.get(&batch) {
                return r.clone();
            }
            d = self.done_cv.wait(d).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upper_bounds() {
        assert_eq!(prefix_upper_bound(""), None);
        assert_eq!(prefix_upper_bound("111/").as_deref(), Some("1110"));
        assert_eq!(prefix_upper_bound("a").as_deref(), Some("b"));
        assert_eq!(prefix_upper_bound("\u{7F}").as_deref(), Some("\u{80}"));
        assert_eq!(
            prefix_upper_bound("x\u{D7FF}").as_deref(),
            Some("x\u{E000}")
        );
        assert_eq!(
            prefix_upper_bound("x\u{FFFF}").as_deref(),
            Some("x\u{10000}")
        );
        assert_eq!(prefix_upper_bound("x\u{10FFFF}").as_deref(), Some("y"));
        assert_eq!(prefix_upper_bound("\u{10FFFF}\u{10FFFF}"), None);
    }

    /// A database of the first layout (values in a `WITHOUT ROWID` key
    /// B-tree) opens with every row where it was.
    #[test]
    fn the_first_layout_migrates_with_its_rows() {
        let dir = std::env::temp_dir().join(format!("ward-store-migrate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ward.db");
        let _ = std::fs::remove_file(&path);
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            for i in 0..50 {
                conn.execute(
                    "INSERT INTO kv (kind, key, value) VALUES ('user', ?1, ?2)",
                    rusqlite::params![format!("u{i:02}"), vec![7u8; i * 100]],
                )
                .unwrap();
            }
            conn.pragma_update(None, "user_version", 1).unwrap();
        }
        assert_eq!(schema_upgrade_pending(&path).unwrap(), Some(1));
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(schema_upgrade_pending(&path).unwrap(), None);
        let rows = store.read(|tx| tx.scan("user", "", None, 100)).unwrap();
        assert_eq!(rows.len(), 50);
        assert_eq!(rows[3], ("u03".to_string(), vec![7u8; 300]));
        store.write(|tx| tx.put("user", "u03", b"new")).unwrap();
        assert_eq!(
            store.read(|tx| tx.get("user", "u03")).unwrap(),
            Some(b"new".to_vec())
        );
        assert_eq!(store.read(|tx| tx.count("user", "")).unwrap(), 50);
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The writer runs in WAL mode, fsyncs every commit, and waits for locks.
    #[test]
    fn writer_pragmas() {
        let dir = std::env::temp_dir().join(format!("ward-store-pragmas-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = SqliteStore::open(&dir.join("ward.db")).unwrap();
        {
            let w = store.writer.lock().unwrap();
            let conn = &w.conn;
            let pragma = |name: &str| -> String {
                conn.query_row(&format!("PRAGMA {name}"), [], |r| {
                    r.get::<_, rusqlite::types::Value>(0)
                })
                .map(|v| format!("{v:?}"))
                .unwrap()
            };
            assert_eq!(pragma("journal_mode"), r#"Text("wal")"#);
            assert_eq!(pragma("synchronous"), "Integer(2)"); // FULL
            assert_eq!(pragma("busy_timeout"), "Integer(5000)");
            assert_eq!(pragma("user_version"), format!("Integer({SCHEMA_VERSION})"));
        }
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Every scan and count statement is a range search on the primary key:
    /// no table scan, no sort.
    #[test]
    fn scans_use_the_primary_key() {
        let conn = Connection::open_in_memory().unwrap();
        for m in MIGRATIONS {
            conn.execute_batch(m).unwrap();
        }
        let cases: &[(&str, usize)] = &[
            (SQL_GET, 2),
            (SQL_DELETE, 2),
            (SQL_SCAN_GE, 3),
            (SQL_SCAN_GT, 3),
            (SQL_SCAN_GE_LT, 4),
            (SQL_SCAN_GT_LT, 4),
            (SQL_COUNT, 2),
            (SQL_COUNT_LT, 3),
        ];
        for &(sql, n) in cases {
            let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let args: Vec<String> = (0..n).map(|i| format!("a{i}")).collect();
            let plan: Vec<String> = stmt
                .query_map(rusqlite::params_from_iter(args.iter()), |row| {
                    row.get::<_, String>(3)
                })
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            let plan = plan.join("; ");
            assert!(
                plan.contains("SEARCH kv USING INDEX kv_key (kind=? AND key")
                    || plan.contains("SEARCH kv USING COVERING INDEX kv_key (kind=? AND key"),
                "{sql}: {plan}"
            );
            assert!(!plan.contains("SCAN"), "{sql}: {plan}");
            assert!(!plan.contains("TEMP B-TREE"), "{sql}: {plan}");
        }
    }
}
