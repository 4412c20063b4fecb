#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! `SqliteStore` against the shared conformance suite, plus what only a
//! file-backed store has: persistence, migrations, real concurrency.

use std::path::PathBuf;

use ward_core::store::{conformance, MemStore, Store, StoreError, Tx, TxMut};
use ward_store::{SqliteStore, SCHEMA_VERSION};

fn temp_db() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ward.db");
    (dir, path)
}

#[test]
fn conforms_to_the_store_suite() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    conformance::run(&store);
}

#[test]
fn records_persist_across_reopen() {
    let (_dir, path) = temp_db();
    {
        let store = SqliteStore::open(&path).unwrap();
        let r: Result<(), StoreError> = store.write(|tx| {
            tx.put("user", "111/alice", b"A")?;
            tx.put("user", "111/bob", &[0, 1, 2, 255])?;
            tx.put("policy", "111/p", b"{}")
        });
        r.unwrap();
        let r: Result<bool, StoreError> = store.write(|tx| tx.delete("policy", "111/p"));
        assert!(r.unwrap());
    }
    let store = SqliteStore::open(&path).unwrap();
    let (alice, bob, policy, n) = store
        .read(|tx| -> Result<_, StoreError> {
            Ok((
                tx.get("user", "111/alice")?,
                tx.get("user", "111/bob")?,
                tx.get("policy", "111/p")?,
                tx.count("user", "")?,
            ))
        })
        .unwrap();
    assert_eq!(alice.as_deref(), Some(&b"A"[..]));
    assert_eq!(bob.as_deref(), Some(&[0u8, 1, 2, 255][..]));
    assert_eq!(policy, None);
    assert_eq!(n, 2);
}

#[test]
fn open_sets_the_schema_version_and_is_idempotent() {
    let (_dir, path) = temp_db();
    drop(SqliteStore::open(&path).unwrap());
    drop(SqliteStore::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    let v: u32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, SCHEMA_VERSION);
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn refuses_a_newer_schema_version() {
    let (_dir, path) = temp_db();
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 999).unwrap();
    }
    let err = SqliteStore::open(&path).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("999"), "{msg}");
    assert!(msg.contains(&format!("version {SCHEMA_VERSION}")), "{msg}");
    assert!(msg.contains("newer"), "{msg}");
    // And it was not touched.
    let conn = rusqlite::Connection::open(&path).unwrap();
    let v: u32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, 999);
}

#[test]
fn open_fails_cleanly_without_a_parent_directory() {
    let (dir, _) = temp_db();
    let path = dir.path().join("missing").join("ward.db");
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(err.to_string().contains("ward.db"), "{err}");
}

#[test]
fn open_refuses_a_file_that_is_not_a_database() {
    let (_dir, path) = temp_db();
    std::fs::write(&path, vec![b'x'; 4096]).unwrap();
    assert!(SqliteStore::open(&path).is_err());
}

/// Read-modify-write from 4 threads, 4 × 500 increments, with readers
/// running alongside that must see the counter only ever grow.
#[test]
fn concurrent_increments_lose_no_update() {
    const THREADS: u64 = 4;
    const PER_THREAD: u64 = 500;
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    // Generic rather than `&dyn Tx`, to need no trait upcasting (MSRV 1.85).
    fn counter<T: Tx + ?Sized>(tx: &T) -> Result<u64, StoreError> {
        Ok(tx
            .get("counter", "c")?
            .map(|v| String::from_utf8(v).unwrap().parse().unwrap())
            .unwrap_or(0))
    }
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|sc| {
        let writers: Vec<_> = (0..THREADS)
            .map(|_| {
                sc.spawn(|| {
                    for _ in 0..PER_THREAD {
                        let r: Result<(), StoreError> = store.write(|tx| {
                            let n = counter(tx)?;
                            tx.put("counter", "c", (n + 1).to_string().as_bytes())
                        });
                        r.unwrap();
                    }
                })
            })
            .collect();
        let reader = sc.spawn(|| {
            let mut last = 0;
            let mut reads = 0u64;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let n = store.read(|tx| counter(tx)).unwrap();
                assert!(n >= last, "the counter went back from {last} to {n}");
                last = n;
                reads += 1;
            }
            reads
        });
        for w in writers {
            w.join().unwrap();
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(reader.join().unwrap() > 0);
    });
    assert_eq!(store.read(|tx| counter(tx)).unwrap(), THREADS * PER_THREAD);
}

/// A read running while a write transaction is open neither waits for it
/// nor sees its uncommitted records; a read inside one snapshot stays on it.
#[test]
fn reads_do_not_block_on_an_open_write_and_see_a_snapshot() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    let r: Result<(), StoreError> = store.write(|tx| tx.put("k", "a", b"1"));
    r.unwrap();
    let r: Result<(), StoreError> = store.write(|tx| {
        tx.put("k", "a", b"2")?;
        tx.put("k", "b", b"2")?;
        // Another thread reads while this transaction holds the write lock.
        let seen = std::thread::scope(|sc| {
            sc.spawn(|| {
                store.read(|r| -> Result<_, StoreError> {
                    Ok((r.get("k", "a")?, r.count("k", "")?))
                })
            })
            .join()
            .unwrap()
        })?;
        assert_eq!(seen, (Some(b"1".to_vec()), 1));
        Ok(())
    });
    r.unwrap();
    // A read that starts its snapshot before a write commits keeps it.
    let r: Result<(), StoreError> = store.read(|r| {
        assert_eq!(r.get("k", "a")?, Some(b"2".to_vec()));
        std::thread::scope(|sc| {
            sc.spawn(|| store.write(|w| w.put("k", "a", b"3")))
                .join()
                .unwrap()
        })?;
        assert_eq!(r.get("k", "a")?, Some(b"2".to_vec()));
        Ok(())
    });
    r.unwrap();
    let now: Result<_, StoreError> = store.read(|r| r.get("k", "a"));
    assert_eq!(now.unwrap(), Some(b"3".to_vec()));
}

/// A panic inside a write rolls it back and leaves the store usable.
#[test]
fn a_panicking_write_is_rolled_back() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _: Result<(), StoreError> = store.write(|tx| {
            tx.put("k", "a", b"1")?;
            panic!("boom");
        });
    }));
    assert!(caught.is_err());
    let r: Result<(), StoreError> = store.write(|tx| tx.put("k", "b", b"2"));
    r.unwrap();
    let got: Result<_, StoreError> = store.read(|r| Ok((r.get("k", "a")?, r.get("k", "b")?)));
    assert_eq!(got.unwrap(), (None, Some(b"2".to_vec())));
}

/// Scans and counts agree with `MemStore` for every prefix and marker over
/// keys built from characters at the edges of UTF-8 encoding lengths and of
/// the surrogate gap, including `char::MAX`.
#[test]
fn prefix_scans_match_the_memory_store_on_edge_characters() {
    let alphabet = [
        "a",
        "/",
        "\u{7F}",
        "\u{80}",
        "\u{7FF}",
        "\u{D7FF}",
        "\u{E000}",
        "\u{FFFF}",
        "\u{10000}",
        "\u{10FFFF}",
    ];
    let mut keys = vec![String::new()];
    for _ in 0..3 {
        let longer: Vec<String> = keys
            .iter()
            .flat_map(|k| alphabet.iter().map(move |c| format!("{k}{c}")))
            .collect();
        keys.extend(longer);
    }
    keys.sort();
    keys.dedup();
    let (_dir, path) = temp_db();
    let sql = SqliteStore::open(&path).unwrap();
    let mem = MemStore::new();
    let fill = |tx: &mut dyn TxMut| -> Result<(), StoreError> {
        for k in &keys {
            tx.put("k", k, k.as_bytes())?;
            tx.put("j", k, b"other kind")?;
        }
        Ok(())
    };
    sql.write(fill).unwrap();
    mem.write(fill).unwrap();
    let prefixes: Vec<&String> = keys.iter().filter(|k| k.chars().count() <= 2).collect();
    for prefix in &prefixes {
        let afters = [
            None,
            Some(""),
            Some(prefix.as_str()),
            Some("\u{FFFF}"),
            Some("a/"),
        ];
        for after in afters {
            for limit in [0, 3, usize::MAX] {
                let q = |tx: &dyn Tx| tx.scan("k", prefix, after, limit);
                let a: Vec<_> = sql.read(q).unwrap();
                let b: Vec<_> = mem.read(q).unwrap();
                assert_eq!(a, b, "scan prefix {prefix:?} after {after:?} limit {limit}");
                // Backwards from the same marker.
                let q = |tx: &dyn Tx| tx.scan_rev("k", prefix, after, limit);
                let a: Vec<_> = sql.read(q).unwrap();
                let b: Vec<_> = mem.read(q).unwrap();
                assert_eq!(
                    a, b,
                    "scan_rev prefix {prefix:?} before {after:?} limit {limit}"
                );
            }
        }
        let q = |tx: &dyn Tx| tx.count("k", prefix);
        let a: u64 = sql.read(q).unwrap();
        let b: u64 = mem.read(q).unwrap();
        assert_eq!(a, b, "count prefix {prefix:?}");
    }
}

/// Group commit: writers racing into the same batches; a writer whose
/// closure fails loses only its own changes, every `Ok` is there.
#[test]
fn racing_writers_share_batches_and_fail_alone() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    std::thread::scope(|s| {
        for t in 0..8 {
            let store = &store;
            s.spawn(move || {
                for i in 0..60 {
                    let key = format!("{t}-{i:03}");
                    let r: Result<(), StoreError> = store.write(|tx| {
                        tx.put("race", &key, b"v")?;
                        if i % 7 == 3 {
                            return Err(StoreError("refused".into()));
                        }
                        Ok(())
                    });
                    assert_eq!(r.is_ok(), i % 7 != 3);
                }
            });
        }
    });
    for t in 0..8 {
        for i in 0..60 {
            let key = format!("{t}-{i:03}");
            let got: Result<_, StoreError> = store.read(|r| r.get("race", &key));
            assert_eq!(got.unwrap().is_some(), i % 7 != 3, "{key}");
        }
    }
}
