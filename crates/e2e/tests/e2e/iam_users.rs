//! Users, access keys and input validation.

use crate::harness::{arn, assert_error, error_of, Creds, Ward, ACCOUNT};
use aws_sdk_iam::types::{StatusType, Tag};

/// STS's wording; IAM's has no final period.
const INVALID_TOKEN: &str = "The security token included in the request is invalid.";

#[tokio::test]
async fn create_user_with_path_and_tags_then_get_it() {
    let w = Ward::start();
    let iam = w.root_iam();
    let created = iam
        .create_user()
        .user_name("alice")
        .path("/engineering/")
        .tags(Tag::builder().key("team").value("core").build().unwrap())
        .tags(
            Tag::builder()
                .key("cost-center")
                .value("42")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let u = created.user().expect("User");
    assert_eq!(u.user_name(), "alice");
    assert_eq!(u.path(), "/engineering/");
    assert_eq!(u.arn(), arn("user/engineering/alice"));
    assert!(u.user_id().starts_with("AIDA"), "{}", u.user_id());
    assert!(u.permissions_boundary().is_none());

    let got = iam.get_user().user_name("alice").send().await.unwrap();
    let g = got.user().expect("User");
    assert_eq!(g.user_name(), "alice");
    assert_eq!(g.path(), "/engineering/");
    assert_eq!(g.arn(), u.arn());
    assert_eq!(g.user_id(), u.user_id());
    assert_eq!(g.create_date(), u.create_date());
    let tags: Vec<(&str, &str)> = g.tags().iter().map(|t| (t.key(), t.value())).collect();
    assert_eq!(tags, [("team", "core"), ("cost-center", "42")]);

    // Names are unique regardless of case, and the message echoes the request.
    assert_error(
        iam.create_user().user_name("alice").send().await,
        "EntityAlreadyExists",
        "User with name alice already exists.",
    );
    assert_error(
        iam.create_user().user_name("ALICE").send().await,
        "EntityAlreadyExists",
        "User with name ALICE already exists.",
    );
    assert_error(
        iam.get_user().user_name("nobody").send().await,
        "NoSuchEntity",
        "The user with name nobody cannot be found.",
    );
    assert_error(
        iam.delete_user().user_name("nobody").send().await,
        "NoSuchEntity",
        "The user with name nobody cannot be found.",
    );
}

#[tokio::test]
async fn list_users_pages_with_max_items_and_marker() {
    let w = Ward::start();
    let iam = w.root_iam();
    let mut expected = Vec::new();
    for i in 0..5 {
        let name = format!("user-{i}");
        iam.create_user().user_name(&name).send().await.unwrap();
        expected.push(name);
    }
    let mut seen: Vec<String> = Vec::new();
    let mut marker: Option<String> = None;
    let mut pages = 0;
    loop {
        pages += 1;
        assert!(pages <= 5, "the listing does not end: {seen:?}");
        let page = iam
            .list_users()
            .max_items(2)
            .set_marker(marker.clone())
            .send()
            .await
            .unwrap();
        assert!(page.users().len() <= 2, "{page:?}");
        seen.extend(page.users().iter().map(|u| u.user_name().to_string()));
        if !page.is_truncated() {
            assert_eq!(page.marker(), None);
            break;
        }
        marker = Some(
            page.marker()
                .expect("a Marker when IsTruncated")
                .to_string(),
        );
    }
    assert_eq!(pages, 3);
    seen.sort();
    assert_eq!(seen, expected, "every user exactly once");

    // Without MaxItems all five come in one page.
    let all = iam.list_users().send().await.unwrap();
    assert_eq!(all.users().len(), 5);
    assert!(!all.is_truncated());
    // PathPrefix filters.
    iam.create_user()
        .user_name("ops-1")
        .path("/ops/")
        .send()
        .await
        .unwrap();
    let ops = iam.list_users().path_prefix("/ops/").send().await.unwrap();
    let names: Vec<&str> = ops.users().iter().map(|u| u.user_name()).collect();
    assert_eq!(names, ["ops-1"]);
}

#[tokio::test]
async fn delete_user_conflicts_while_it_has_an_access_key() {
    let w = Ward::start();
    let iam = w.root_iam();
    iam.create_user().user_name("bob").send().await.unwrap();
    let key = iam
        .create_access_key()
        .user_name("bob")
        .send()
        .await
        .unwrap()
        .access_key()
        .expect("AccessKey")
        .access_key_id()
        .to_string();
    assert_error(
        iam.delete_user().user_name("bob").send().await,
        "DeleteConflict",
        "Cannot delete entity, must delete access keys first.",
    );
    iam.delete_access_key()
        .user_name("bob")
        .access_key_id(&key)
        .send()
        .await
        .unwrap();
    iam.delete_user().user_name("bob").send().await.unwrap();
    assert_error(
        iam.get_user().user_name("bob").send().await,
        "NoSuchEntity",
        "The user with name bob cannot be found.",
    );
}

#[tokio::test]
async fn access_keys_quota_status_and_deletion() {
    let w = Ward::start();
    let iam = w.root_iam();
    iam.create_user().user_name("carol").send().await.unwrap();
    let mut keys = Vec::new();
    for _ in 0..2 {
        let out = iam
            .create_access_key()
            .user_name("carol")
            .send()
            .await
            .unwrap();
        let k = out.access_key().expect("AccessKey");
        assert_eq!(k.user_name(), "carol");
        assert_eq!(k.status(), &StatusType::Active);
        assert!(
            k.access_key_id().starts_with("AKIA"),
            "{}",
            k.access_key_id()
        );
        assert_eq!(k.secret_access_key().len(), 40);
        keys.push(Creds::new(k.access_key_id(), k.secret_access_key(), None));
    }
    assert_error(
        iam.create_access_key().user_name("carol").send().await,
        "LimitExceeded",
        "Cannot exceed quota for AccessKeysPerUser: 2",
    );

    let listed = iam
        .list_access_keys()
        .user_name("carol")
        .send()
        .await
        .unwrap();
    let mut ids: Vec<&str> = listed
        .access_key_metadata()
        .iter()
        .map(|m| {
            assert_eq!(m.user_name(), Some("carol"));
            assert_eq!(m.status(), Some(&StatusType::Active));
            m.access_key_id().expect("AccessKeyId")
        })
        .collect();
    ids.sort_unstable();
    let mut want: Vec<&str> = keys.iter().map(|k| k.access_key_id.as_str()).collect();
    want.sort_unstable();
    assert_eq!(ids, want);

    // The key works, as carol.
    let first = &keys[0];
    let me = w.sts(first).get_caller_identity().send().await.unwrap();
    assert_eq!(me.arn(), Some(arn("user/carol").as_str()));
    assert_eq!(me.account(), Some(ACCOUNT));

    // Inactive: every call with it is refused.
    iam.update_access_key()
        .user_name("carol")
        .access_key_id(&first.access_key_id)
        .status(StatusType::Inactive)
        .send()
        .await
        .unwrap();
    let listed = iam
        .list_access_keys()
        .user_name("carol")
        .send()
        .await
        .unwrap();
    let status = listed
        .access_key_metadata()
        .iter()
        .find(|m| m.access_key_id() == Some(first.access_key_id.as_str()))
        .and_then(|m| m.status().cloned());
    assert_eq!(status, Some(StatusType::Inactive));
    assert_error(
        w.sts(first).get_caller_identity().send().await,
        "InvalidClientTokenId",
        INVALID_TOKEN,
    );
    assert_error(
        w.iam(first).list_users().send().await,
        "InvalidClientTokenId",
        INVALID_TOKEN.trim_end_matches('.'),
    );
    // The other key still works.
    w.sts(&keys[1]).get_caller_identity().send().await.unwrap();

    // Active again, then deleted.
    iam.update_access_key()
        .user_name("carol")
        .access_key_id(&first.access_key_id)
        .status(StatusType::Active)
        .send()
        .await
        .unwrap();
    w.sts(first).get_caller_identity().send().await.unwrap();
    iam.delete_access_key()
        .user_name("carol")
        .access_key_id(&first.access_key_id)
        .send()
        .await
        .unwrap();
    assert_error(
        w.sts(first).get_caller_identity().send().await,
        "InvalidClientTokenId",
        INVALID_TOKEN,
    );
    let listed = iam
        .list_access_keys()
        .user_name("carol")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.access_key_metadata().len(), 1);
    assert_error(
        iam.delete_access_key()
            .user_name("carol")
            .access_key_id(&first.access_key_id)
            .send()
            .await,
        "NoSuchEntity",
        &format!(
            "The Access Key with id {} cannot be found.",
            first.access_key_id
        ),
    );
    // A third key fits again.
    iam.create_access_key()
        .user_name("carol")
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn invalid_user_name_is_a_validation_error() {
    let w = Ward::start();
    let iam = w.root_iam();
    assert_error(
        iam.create_user().user_name("bad name").send().await,
        "ValidationError",
        "1 validation error detected: Value 'bad name' at 'userName' failed to satisfy constraint: \
         Member must satisfy regular expression pattern: [\\w+=,.@-]+",
    );
    let long = "x".repeat(65);
    assert_error(
        iam.create_user().user_name(&long).send().await,
        "ValidationError",
        &format!(
            "1 validation error detected: Value '{long}' at 'userName' failed to satisfy constraint: \
             Member must have length less than or equal to 64"
        ),
    );
    let (code, message) = error_of(iam.create_user().user_name("a b!").send().await);
    assert_eq!(code, "ValidationError");
    assert!(message.starts_with("1 validation error detected: Value 'a b!' at 'userName'"));
    // Nothing was created.
    assert!(iam.list_users().send().await.unwrap().users().is_empty());
}

#[tokio::test]
async fn sdk_paginator_follows_markers() {
    let w = Ward::start();
    let iam = w.root_iam();
    for i in 0..7 {
        iam.create_user()
            .user_name(format!("p{i}"))
            .send()
            .await
            .unwrap();
    }
    let mut pages = iam.list_users().max_items(3).into_paginator().send();
    let mut sizes = Vec::new();
    let mut names = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.unwrap();
        sizes.push(page.users().len());
        names.extend(page.users().iter().map(|u| u.user_name().to_string()));
    }
    assert_eq!(sizes, [3, 3, 1]);
    names.sort();
    assert_eq!(names, ["p0", "p1", "p2", "p3", "p4", "p5", "p6"]);
}

#[tokio::test]
async fn get_user_without_a_name_is_the_caller() {
    let w = Ward::start();
    // Root: AWS answers with the account's root identity.
    let root = w.root_iam().get_user().send().await.unwrap();
    let u = root.user().expect("User");
    assert_eq!(u.arn(), format!("arn:aws:iam::{ACCOUNT}:root"));
    assert_eq!(u.user_id(), ACCOUNT);
    // A user gets itself, but only with iam:GetUser on its own ARN.
    let kim = w.user_with_key("kim").await;
    let (code, message) = error_of(w.iam(&kim).get_user().send().await);
    assert_eq!(code, "AccessDenied");
    assert_eq!(
        message,
        format!(
            "User: {0} is not authorized to perform: iam:GetUser on resource: {0} \
             because no identity-based policy allows the iam:GetUser action",
            arn("user/kim")
        )
    );
    w.put_user_policy(
        "kim",
        "self",
        &crate::harness::allow(
            &["iam:GetUser", "iam:ListAccessKeys"],
            &arn("user/${aws:username}"),
        ),
    )
    .await;
    let me = w.iam(&kim).get_user().send().await.unwrap();
    assert_eq!(me.user().unwrap().user_name(), "kim");
    // ListAccessKeys without UserName lists the caller's own keys.
    let keys = w.iam(&kim).list_access_keys().send().await.unwrap();
    let ids: Vec<_> = keys
        .access_key_metadata()
        .iter()
        .filter_map(|k| k.access_key_id())
        .collect();
    assert_eq!(ids, [kim.access_key_id.as_str()]);
}
