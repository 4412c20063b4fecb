//! Groups and roles.

use crate::harness::{arn, assert_error, json, policy_json, trust_account, Ward, ACCOUNT};

#[tokio::test]
async fn groups_hold_users() {
    let w = Ward::start();
    let iam = w.root_iam();
    let g = iam
        .create_group()
        .group_name("developers")
        .send()
        .await
        .unwrap();
    let g = g.group().expect("Group");
    assert_eq!(g.group_name(), "developers");
    assert_eq!(g.path(), "/");
    assert_eq!(g.arn(), arn("group/developers"));
    assert!(g.group_id().starts_with("AGPA"), "{}", g.group_id());
    assert_error(
        iam.create_group().group_name("developers").send().await,
        "EntityAlreadyExists",
        "Group with name developers already exists.",
    );

    iam.create_user().user_name("gina").send().await.unwrap();
    iam.create_user().user_name("hal").send().await.unwrap();
    iam.add_user_to_group()
        .group_name("developers")
        .user_name("gina")
        .send()
        .await
        .unwrap();
    let got = iam
        .get_group()
        .group_name("developers")
        .send()
        .await
        .unwrap();
    assert_eq!(got.group().unwrap().group_name(), "developers");
    let members: Vec<&str> = got.users().iter().map(|u| u.user_name()).collect();
    assert_eq!(members, ["gina"]);
    assert_eq!(got.users()[0].arn(), arn("user/gina"));
    assert!(!got.is_truncated());

    let groups = iam
        .list_groups_for_user()
        .user_name("gina")
        .send()
        .await
        .unwrap();
    let names: Vec<&str> = groups.groups().iter().map(|g| g.group_name()).collect();
    assert_eq!(names, ["developers"]);
    let none = iam
        .list_groups_for_user()
        .user_name("hal")
        .send()
        .await
        .unwrap();
    assert!(none.groups().is_empty());

    assert_error(
        iam.add_user_to_group()
            .group_name("nope")
            .user_name("gina")
            .send()
            .await,
        "NoSuchEntity",
        "The group with name nope cannot be found.",
    );
    assert_error(
        iam.add_user_to_group()
            .group_name("developers")
            .user_name("nobody")
            .send()
            .await,
        "NoSuchEntity",
        "The user with name nobody cannot be found.",
    );
    assert_error(
        iam.delete_user().user_name("gina").send().await,
        "DeleteConflict",
        "Cannot delete entity, must remove user from all groups first.",
    );
    assert_error(
        iam.delete_group().group_name("developers").send().await,
        "DeleteConflict",
        "Cannot delete entity, must remove users from group first.",
    );
    iam.remove_user_from_group()
        .group_name("developers")
        .user_name("gina")
        .send()
        .await
        .unwrap();
    assert!(iam
        .get_group()
        .group_name("developers")
        .send()
        .await
        .unwrap()
        .users()
        .is_empty());
    iam.delete_group()
        .group_name("developers")
        .send()
        .await
        .unwrap();
    assert_error(
        iam.get_group().group_name("developers").send().await,
        "NoSuchEntity",
        "The group with name developers cannot be found.",
    );
    iam.delete_user().user_name("gina").send().await.unwrap();
}

#[tokio::test]
async fn roles_with_trust_policies() {
    let w = Ward::start();
    let iam = w.root_iam();
    let trust = trust_account();
    let created = iam
        .create_role()
        .role_name("deployer")
        .path("/ci/")
        .assume_role_policy_document(&trust)
        .description("deploys things")
        .max_session_duration(7200)
        .send()
        .await
        .unwrap();
    let r = created.role().expect("Role");
    assert_eq!(r.role_name(), "deployer");
    assert_eq!(r.path(), "/ci/");
    assert_eq!(r.arn(), arn("role/ci/deployer"));
    assert!(r.role_id().starts_with("AROA"), "{}", r.role_id());
    assert_error(
        iam.create_role()
            .role_name("deployer")
            .assume_role_policy_document(&trust)
            .send()
            .await,
        "EntityAlreadyExists",
        "Role with name deployer already exists.",
    );

    let got = iam.get_role().role_name("deployer").send().await.unwrap();
    let g = got.role().expect("Role");
    assert_eq!(g.arn(), r.arn());
    assert_eq!(g.role_id(), r.role_id());
    assert_eq!(g.description(), Some("deploys things"));
    assert_eq!(g.max_session_duration(), Some(7200));
    assert_eq!(
        policy_json(
            g.assume_role_policy_document()
                .expect("AssumeRolePolicyDocument")
        ),
        json(&trust)
    );

    // A new trust policy: a specific user instead of the account.
    let trust2 = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:user/ivan")},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": "x-1 & y/2"}}
        }]
    })
    .to_string();
    iam.update_assume_role_policy()
        .role_name("deployer")
        .policy_document(&trust2)
        .send()
        .await
        .unwrap();
    let got = iam.get_role().role_name("deployer").send().await.unwrap();
    assert_eq!(
        policy_json(got.role().unwrap().assume_role_policy_document().unwrap()),
        json(&trust2)
    );

    // Trust policies are resource policies: one without a principal is refused.
    let no_principal =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole"}]}"#;
    let (code, _) = crate::harness::error_of(
        iam.update_assume_role_policy()
            .role_name("deployer")
            .policy_document(no_principal)
            .send()
            .await,
    );
    assert_eq!(code, "MalformedPolicyDocument");

    let listed = iam.list_roles().send().await.unwrap();
    let names: Vec<&str> = listed.roles().iter().map(|r| r.role_name()).collect();
    assert_eq!(names, ["deployer"]);

    iam.delete_role()
        .role_name("deployer")
        .send()
        .await
        .unwrap();
    assert_error(
        iam.get_role().role_name("deployer").send().await,
        "NoSuchEntity",
        "The role with name deployer cannot be found.",
    );
    assert_error(
        iam.delete_role().role_name("deployer").send().await,
        "NoSuchEntity",
        "The role with name deployer cannot be found.",
    );
}
