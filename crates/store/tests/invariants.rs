#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! IAM's invariants hold under concurrency on the SQLite store, not only
//! sequentially: two access keys per user, five versions per policy, unique
//! names — with many writers racing.

use std::sync::Arc;
use ward_core::crypto::Sealer;
use ward_core::iam::Iam;
use ward_store::SqliteStore;

const A: &str = "123456789012";
const DOC: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;

fn iam() -> (tempfile::TempDir, Iam<SqliteStore>) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("ward.db")).unwrap();
    (
        dir,
        Iam::new(Arc::new(store), Sealer::new(&Sealer::generate_key())),
    )
}

#[test]
fn quotas_and_unique_names_hold_under_concurrent_writers() {
    let (_dir, iam) = iam();
    iam.ensure_account(A, 1).unwrap();
    iam.create_user(A, "bob", None, vec![], None, 1).unwrap();
    let p = iam
        .create_policy(A, "p", None, DOC, None, vec![], 1)
        .unwrap();
    let (keys, versions, users) = std::thread::scope(|s| {
        let mut k = Vec::new();
        let mut v = Vec::new();
        let mut u = Vec::new();
        for t in 0..8 {
            let iam = &iam;
            let arn = p.arn.clone();
            k.push(s.spawn(move || iam.create_access_key(A, Some("bob"), 2).is_ok()));
            v.push(s.spawn(move || iam.create_policy_version(&arn, DOC, false, 2).is_ok()));
            // Names differing only in case are the same name.
            let name = if t % 2 == 0 { "Carol" } else { "carol" };
            u.push(s.spawn(move || iam.create_user(A, name, None, vec![], None, 2).is_ok()));
        }
        (
            k.into_iter()
                .map(|h| h.join().unwrap())
                .filter(|ok| *ok)
                .count(),
            v.into_iter()
                .map(|h| h.join().unwrap())
                .filter(|ok| *ok)
                .count(),
            u.into_iter()
                .map(|h| h.join().unwrap())
                .filter(|ok| *ok)
                .count(),
        )
    });
    assert_eq!(keys, 2, "exactly two access keys may exist per user");
    assert_eq!(
        versions, 4,
        "a policy holds at most five versions (v1 plus four)"
    );
    assert_eq!(users, 1, "a name is created once");
    assert_eq!(iam.list_access_keys(A, Some("bob")).unwrap().len(), 2);
    assert_eq!(iam.list_policy_versions(&p.arn).unwrap().0.len(), 5);
}
