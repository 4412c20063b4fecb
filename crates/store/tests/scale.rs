#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! A page of a scan over a large table costs an index range, not a table
//! scan. (The query plans are checked exactly in the crate's unit tests;
//! this checks the time, with a generous margin for a busy machine.)

use std::time::{Duration, Instant};

use ward_core::store::{Store, StoreError};
use ward_store::SqliteStore;

#[test]
fn a_scan_page_over_200k_records_is_fast() {
    const RECORDS: u32 = 200_000;
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("ward.db")).unwrap();
    let r: Result<(), StoreError> = store.write(|tx| {
        for i in 0..RECORDS {
            let account = 100_000 + i % 100;
            tx.put(
                "user",
                &format!("{account}/user-{i:07}"),
                b"{\"arn\":\"x\"}",
            )?;
        }
        Ok(())
    });
    r.unwrap();

    const PAGES: u32 = 200;
    let start = Instant::now();
    for p in 0..PAGES {
        let account = 100_000 + p % 100;
        let prefix = format!("{account}/");
        let marker = format!("{account}/user-{:07}", p * 500);
        let page: Result<Vec<_>, StoreError> =
            store.read(|tx| tx.scan("user", &prefix, Some(&marker), 100));
        let page = page.unwrap();
        assert_eq!(page.len(), 100);
        assert!(page
            .iter()
            .all(|(k, _)| k.starts_with(&prefix) && *k > marker));
    }
    let per_page = start.elapsed() / PAGES;
    eprintln!("one page of 100 out of {RECORDS}: {per_page:?}");
    // An index range takes tens of microseconds; a table scan of 200k rows
    // takes tens of milliseconds.
    assert!(per_page < Duration::from_millis(5), "{per_page:?} per page");

    let start = Instant::now();
    let n: Result<u64, StoreError> = store.read(|tx| tx.count("user", "100042/"));
    assert_eq!(n.unwrap(), u64::from(RECORDS / 100));
    eprintln!("count of one account's 2000: {:?}", start.elapsed());
}
