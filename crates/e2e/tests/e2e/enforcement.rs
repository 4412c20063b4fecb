//! Authorization of IAM calls by the caller's policies, and SigV4.

use crate::harness::{allow, arn, assert_error, deny, Creds, Ward};

fn denied(who: &str, action: &str, resource: &str, why: &str) -> String {
    format!(
        "User: {} is not authorized to perform: {action} on resource: {resource} {why}",
        arn(&format!("user/{who}"))
    )
}

#[tokio::test]
async fn a_user_without_policies_is_denied_until_a_policy_allows() {
    let w = Ward::start();
    let bob = w.user_with_key("bob").await;
    let iam = w.iam(&bob);
    assert_error(
        iam.create_user().user_name("carol").send().await,
        "AccessDenied",
        &format!(
            "User: {} is not authorized to perform: iam:CreateUser on resource: {} because no identity-based policy allows the iam:CreateUser action",
            arn("user/bob"),
            arn("user/carol")
        ),
    );
    // The refused call changed nothing.
    assert!(w
        .root_iam()
        .list_users()
        .send()
        .await
        .unwrap()
        .users()
        .iter()
        .all(|u| u.user_name() != "carol"));

    // A managed policy attached to bob allows it.
    let root = w.root_iam();
    root.create_policy()
        .policy_name("user-admin")
        .policy_document(allow(&["iam:CreateUser", "iam:GetUser"], "*"))
        .send()
        .await
        .unwrap();
    root.attach_user_policy()
        .user_name("bob")
        .policy_arn(arn("policy/user-admin"))
        .send()
        .await
        .unwrap();
    let carol = iam.create_user().user_name("carol").send().await.unwrap();
    assert_eq!(carol.user().unwrap().arn(), arn("user/carol"));
    iam.get_user().user_name("carol").send().await.unwrap();
    // Only what is allowed.
    assert_error(
        iam.delete_user().user_name("carol").send().await,
        "AccessDenied",
        &denied(
            "bob",
            "iam:DeleteUser",
            &arn("user/carol"),
            "because no identity-based policy allows the iam:DeleteUser action",
        ),
    );

    // An explicit Deny wins over the Allow.
    w.put_user_policy("bob", "no-create", &deny(&["iam:CreateUser"], "*"))
        .await;
    assert_error(
        iam.create_user().user_name("dave").send().await,
        "AccessDenied",
        &denied(
            "bob",
            "iam:CreateUser",
            &arn("user/dave"),
            "with an explicit deny in an identity-based policy",
        ),
    );
    // Once the Deny is gone the Allow applies again.
    root.delete_user_policy()
        .user_name("bob")
        .policy_name("no-create")
        .send()
        .await
        .unwrap();
    iam.create_user().user_name("dave").send().await.unwrap();

    // Detached: denied again.
    root.detach_user_policy()
        .user_name("bob")
        .policy_arn(arn("policy/user-admin"))
        .send()
        .await
        .unwrap();
    assert_error(
        iam.create_user().user_name("erin").send().await,
        "AccessDenied",
        &denied(
            "bob",
            "iam:CreateUser",
            &arn("user/erin"),
            "because no identity-based policy allows the iam:CreateUser action",
        ),
    );
}

#[tokio::test]
async fn group_policies_apply_to_members() {
    let w = Ward::start();
    let root = w.root_iam();
    let fay = w.user_with_key("fay").await;
    root.create_group()
        .group_name("readers")
        .send()
        .await
        .unwrap();
    root.put_group_policy()
        .group_name("readers")
        .policy_name("read")
        .policy_document(allow(&["iam:ListUsers"], "*"))
        .send()
        .await
        .unwrap();
    let iam = w.iam(&fay);
    let (code, _) = crate::harness::error_of(iam.list_users().send().await);
    assert_eq!(code, "AccessDenied");
    root.add_user_to_group()
        .group_name("readers")
        .user_name("fay")
        .send()
        .await
        .unwrap();
    let users = iam.list_users().send().await.unwrap();
    assert_eq!(users.users().len(), 1);
    root.remove_user_from_group()
        .group_name("readers")
        .user_name("fay")
        .send()
        .await
        .unwrap();
    let (code, _) = crate::harness::error_of(iam.list_users().send().await);
    assert_eq!(code, "AccessDenied");
}

#[tokio::test]
async fn a_permissions_boundary_limits_what_policies_allow() {
    let w = Ward::start();
    let root = w.root_iam();
    root.create_policy()
        .policy_name("boundary")
        .policy_document(allow(&["iam:GetUser", "iam:ListUsers"], "*"))
        .send()
        .await
        .unwrap();
    root.create_user()
        .user_name("gus")
        .permissions_boundary(arn("policy/boundary"))
        .send()
        .await
        .unwrap();
    let got = root.get_user().user_name("gus").send().await.unwrap();
    let b = got
        .user()
        .unwrap()
        .permissions_boundary()
        .expect("PermissionsBoundary");
    assert_eq!(
        b.permissions_boundary_arn(),
        Some(arn("policy/boundary").as_str())
    );
    let k = root
        .create_access_key()
        .user_name("gus")
        .send()
        .await
        .unwrap();
    let k = k.access_key().unwrap();
    let gus = Creds::new(k.access_key_id(), k.secret_access_key(), None);
    // Identity allows everything in IAM; the boundary allows two reads.
    w.put_user_policy("gus", "all-iam", &allow(&["iam:*"], "*"))
        .await;
    let iam = w.iam(&gus);
    iam.get_user().user_name("gus").send().await.unwrap();
    iam.list_users().send().await.unwrap();
    assert_error(
        iam.create_user().user_name("hank").send().await,
        "AccessDenied",
        &denied(
            "gus",
            "iam:CreateUser",
            &arn("user/hank"),
            "because no permissions boundary allows the iam:CreateUser action",
        ),
    );
    // The boundary grants nothing by itself: without the identity policy
    // the reads are denied too.
    root.delete_user_policy()
        .user_name("gus")
        .policy_name("all-iam")
        .send()
        .await
        .unwrap();
    assert_error(
        iam.get_user().user_name("gus").send().await,
        "AccessDenied",
        &denied(
            "gus",
            "iam:GetUser",
            &arn("user/gus"),
            "because no identity-based policy allows the iam:GetUser action",
        ),
    );
    // A boundary that does not exist is refused at creation.
    let missing = arn("policy/missing");
    assert_error(
        root.create_user()
            .user_name("ida")
            .permissions_boundary(&missing)
            .send()
            .await,
        "NoSuchEntity",
        &format!("Policy {missing} does not exist or is not attachable."),
    );
}

#[tokio::test]
async fn sigv4_wrong_secret_and_unknown_key() {
    let w = Ward::start();
    let wrong_secret = Creds::new(
        &w.root.access_key_id,
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        None,
    );
    let expected =
        "The request signature we calculated does not match the signature you provided. \
                    Check your AWS Secret Access Key and signing method. Consult the service \
                    documentation for details.";
    assert_error(
        w.iam(&wrong_secret).list_users().send().await,
        "SignatureDoesNotMatch",
        expected,
    );
    assert_error(
        w.sts(&wrong_secret).get_caller_identity().send().await,
        "SignatureDoesNotMatch",
        expected,
    );
    let unknown = Creds::new(
        "AKIAIOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        None,
    );
    assert_error(
        w.sts(&unknown).get_caller_identity().send().await,
        "InvalidClientTokenId",
        "The security token included in the request is invalid.",
    );
    // The right secret works.
    w.root_iam().list_users().send().await.unwrap();
}

/// Calls on a user, group, role or instance profile are authorized on its
/// ARN with its path, as the Service Authorization Reference gives the
/// resource types (`role/${RoleNameWithPath}`, ...):
/// <https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsidentityandaccessmanagementiam.html>.
/// So a policy scoped to a path reaches what is on it, and only that.
#[tokio::test]
async fn calls_on_an_entity_are_authorized_on_its_arn_with_its_path() {
    let w = Ward::start();
    let root = w.root_iam();
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    for (role, path) in [("web", "/app/"), ("db", "/data/")] {
        root.create_role()
            .role_name(role)
            .path(path)
            .assume_role_policy_document(trust)
            .send()
            .await
            .unwrap();
    }
    root.create_group()
        .group_name("ops")
        .path("/app/")
        .send()
        .await
        .unwrap();
    root.create_user()
        .user_name("svc")
        .path("/app/")
        .send()
        .await
        .unwrap();
    root.create_instance_profile()
        .instance_profile_name("web-profile")
        .path("/app/")
        .send()
        .await
        .unwrap();
    let gus = w.user_with_key("gus").await;
    w.put_user_policy(
        "gus",
        "app-only",
        &allow(
            &[
                "iam:PutRolePolicy",
                "iam:UpdateAssumeRolePolicy",
                "iam:PutGroupPolicy",
                "iam:GetGroup",
                "iam:ListUserPolicies",
                "iam:GetInstanceProfile",
            ],
            &arn("*/app/*"),
        ),
    )
    .await;
    let iam = w.iam(&gus);
    let inline = allow(&["iam:GetUser"], "*");
    iam.put_role_policy()
        .role_name("web")
        .policy_name("p")
        .policy_document(&inline)
        .send()
        .await
        .unwrap();
    iam.update_assume_role_policy()
        .role_name("web")
        .policy_document(trust)
        .send()
        .await
        .unwrap();
    iam.put_group_policy()
        .group_name("ops")
        .policy_name("p")
        .policy_document(&inline)
        .send()
        .await
        .unwrap();
    iam.get_group().group_name("ops").send().await.unwrap();
    iam.list_user_policies()
        .user_name("svc")
        .send()
        .await
        .unwrap();
    iam.get_instance_profile()
        .instance_profile_name("web-profile")
        .send()
        .await
        .unwrap();
    // Off the path: denied, on the ARN with the role's own path.
    assert_error(
        iam.put_role_policy()
            .role_name("db")
            .policy_name("p")
            .policy_document(&inline)
            .send()
            .await,
        "AccessDenied",
        &denied(
            "gus",
            "iam:PutRolePolicy",
            &arn("role/data/db"),
            "because no identity-based policy allows the iam:PutRolePolicy action",
        ),
    );
    // A Deny on the path reaches the role too.
    w.put_user_policy(
        "gus",
        "not-web",
        &deny(&["iam:UpdateAssumeRolePolicy"], &arn("role/app/web")),
    )
    .await;
    assert_error(
        iam.update_assume_role_policy()
            .role_name("web")
            .policy_document(trust)
            .send()
            .await,
        "AccessDenied",
        &denied(
            "gus",
            "iam:UpdateAssumeRolePolicy",
            &arn("role/app/web"),
            "with an explicit deny in an identity-based policy",
        ),
    );
}
