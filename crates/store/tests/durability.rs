#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! Every acknowledged write survives `kill -9`.
//!
//! The test re-runs its own test binary as a child in "writer" mode
//! (`WARD_STORE_WRITER=<db path>`, test `child_writer`): the child commits
//! one transaction after another and prints `ack N` once `write` has returned
//! `Ok` for transaction `N`. The parent reads the acks, kills the child with
//! SIGKILL in the middle of its stream of writes, reopens the database and
//! checks that every acknowledged transaction is there, whole.
//!
//! A process kill leaves the OS page cache intact, so this checks that an
//! acknowledged commit has reached the WAL file and that recovery replays
//! it; surviving a power loss additionally relies on `synchronous=FULL`
//! fsyncing the WAL at every commit, which a test cannot observe here.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use ward_core::store::{Store, StoreError};
use ward_store::SqliteStore;

const WRITER_ENV: &str = "WARD_STORE_WRITER";
const ACKS_BEFORE_KILL: u64 = 300;

fn record_key(n: u64) -> String {
    format!("{n:010}")
}

fn record_value(n: u64) -> Vec<u8> {
    format!("record {n} ").repeat(8).into_bytes()
}

/// The child's side: a no-op unless `WARD_STORE_WRITER` names a database.
/// Each transaction writes record `n` and moves the `meta/last` marker to
/// `n`, so that a torn transaction would show as a disagreement between them.
#[test]
fn child_writer() {
    let Ok(path) = std::env::var(WRITER_ENV) else {
        return;
    };
    let store = SqliteStore::open(Path::new(&path)).unwrap();
    let mut out = std::io::stdout().lock();
    for n in 0u64.. {
        let r: Result<(), StoreError> = store.write(|tx| {
            tx.put("rec", &record_key(n), &record_value(n))?;
            tx.put("meta", "last", n.to_string().as_bytes())
        });
        r.unwrap();
        writeln!(out, "ack {n}").unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ward.db");
    // The database exists before the child starts, as a server's would.
    drop(SqliteStore::open(&path).unwrap());

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["child_writer", "--exact", "--nocapture", "--test-threads=1"])
        .env(WRITER_ENV, &path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (send, acks) = mpsc::channel::<u64>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            // The harness prints `test child_writer ... ` without a newline
            // before the test runs, so the first ack shares its line.
            if let Some((_, n)) = line.rsplit_once("ack ") {
                if send.send(n.trim().parse().unwrap()).is_err() {
                    break;
                }
            }
        }
    });
    let mut last_ack = None;
    while last_ack.is_none_or(|n| n + 1 < ACKS_BEFORE_KILL) {
        match acks.recv_timeout(Duration::from_secs(60)) {
            Ok(n) => {
                assert_eq!(n, last_ack.map_or(0, |l| l + 1), "acks come in order");
                last_ack = Some(n);
            }
            Err(e) => {
                let _ = child.kill();
                panic!("the writer stopped acknowledging after {last_ack:?}: {e}");
            }
        }
    }
    // SIGKILL on unix: no destructor, no checkpoint, no clean close.
    child.kill().unwrap();
    child.wait().unwrap();
    reader.join().unwrap();
    // Acks printed between the last one received and the kill count too.
    let last_ack = acks.try_iter().fold(last_ack.unwrap(), |_, n| n);
    assert!(last_ack + 1 >= ACKS_BEFORE_KILL);

    let store = SqliteStore::open(&path).unwrap();
    let (last, count, missing) = store
        .read(|tx| -> Result<_, StoreError> {
            let last: u64 = String::from_utf8(tx.get("meta", "last")?.unwrap())
                .unwrap()
                .parse()
                .unwrap();
            let count = tx.count("rec", "")?;
            let mut missing = Vec::new();
            for n in 0..=last {
                if tx.get("rec", &record_key(n))? != Some(record_value(n)) {
                    missing.push(n);
                }
            }
            Ok((last, count, missing))
        })
        .unwrap();
    assert!(
        last >= last_ack,
        "acknowledged up to {last_ack}, recovered up to {last}"
    );
    assert!(missing.is_empty(), "records lost or damaged: {missing:?}");
    assert_eq!(count, last + 1, "a record without its marker: a torn write");
    eprintln!("acknowledged {last_ack}, recovered {last}");
}
