//! Managed policies (versions, attachments, conflicts) and inline policies.

use crate::harness::{allow, arn, assert_error, json, policy_json, trust_account, Ward};

#[tokio::test]
async fn managed_policy_versions_and_default() {
    let w = Ward::start();
    let iam = w.root_iam();
    let v1 = allow(&["iam:GetUser"], "*");
    let created = iam
        .create_policy()
        .policy_name("read-users")
        .policy_document(&v1)
        .description("lets a user read users")
        .send()
        .await
        .unwrap();
    let p = created.policy().expect("Policy");
    let policy_arn = arn("policy/read-users");
    assert_eq!(p.arn(), Some(policy_arn.as_str()));
    assert_eq!(p.policy_name(), Some("read-users"));
    assert_eq!(p.default_version_id(), Some("v1"));
    assert_eq!(p.attachment_count(), Some(0));
    assert!(p.policy_id().is_some_and(|id| id.starts_with("ANPA")));

    assert_error(
        iam.create_policy()
            .policy_name("read-users")
            .policy_document(&v1)
            .send()
            .await,
        "EntityAlreadyExists",
        "A policy called read-users already exists. Duplicate names are not allowed.",
    );

    let got = iam
        .get_policy()
        .policy_arn(&policy_arn)
        .send()
        .await
        .unwrap();
    let gp = got.policy().expect("Policy");
    assert_eq!(gp.attachment_count(), Some(0));
    assert_eq!(gp.default_version_id(), Some("v1"));
    assert_eq!(gp.description(), Some("lets a user read users"));
    assert!(gp.is_attachable());

    // v2..v5, each a different document; the sixth version is over the quota.
    let docs: Vec<String> = (2..=5)
        .map(|n| allow(&["iam:GetUser"], &arn(&format!("user/team-{n}/*"))))
        .collect();
    for (i, doc) in docs.iter().enumerate() {
        let out = iam
            .create_policy_version()
            .policy_arn(&policy_arn)
            .policy_document(doc)
            .send()
            .await
            .unwrap();
        let v = out.policy_version().expect("PolicyVersion");
        assert_eq!(v.version_id(), Some(format!("v{}", i + 2).as_str()));
        assert!(!v.is_default_version());
    }
    assert_error(
        iam.create_policy_version()
            .policy_arn(&policy_arn)
            .policy_document(&v1)
            .set_as_default(true)
            .send()
            .await,
        "LimitExceeded",
        "A managed policy can have up to 5 versions. Before you create a new version, you must delete an existing version.",
    );
    let versions = iam
        .list_policy_versions()
        .policy_arn(&policy_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(versions.versions().len(), 5);
    let defaults: Vec<_> = versions
        .versions()
        .iter()
        .filter(|v| v.is_default_version())
        .filter_map(|v| v.version_id())
        .collect();
    assert_eq!(defaults, ["v1"]);

    iam.set_default_policy_version()
        .policy_arn(&policy_arn)
        .version_id("v3")
        .send()
        .await
        .unwrap();
    let got = iam
        .get_policy()
        .policy_arn(&policy_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(got.policy().unwrap().default_version_id(), Some("v3"));

    // Documents come back URL-encoded, as AWS sends them.
    let v3 = iam
        .get_policy_version()
        .policy_arn(&policy_arn)
        .version_id("v3")
        .send()
        .await
        .unwrap();
    let v3 = v3.policy_version().expect("PolicyVersion");
    assert!(v3.is_default_version());
    assert_eq!(v3.version_id(), Some("v3"));
    assert_eq!(
        policy_json(v3.document().expect("Document")),
        json(&docs[1])
    );
    let first = iam
        .get_policy_version()
        .policy_arn(&policy_arn)
        .version_id("v1")
        .send()
        .await
        .unwrap();
    let first = first.policy_version().unwrap();
    assert!(!first.is_default_version());
    assert_eq!(policy_json(first.document().unwrap()), json(&v1));

    assert_error(
        iam.get_policy_version()
            .policy_arn(&policy_arn)
            .version_id("v9")
            .send()
            .await,
        "NoSuchEntity",
        &format!("Policy {policy_arn} version v9 does not exist or is not attachable."),
    );
    assert_error(
        iam.delete_policy_version()
            .policy_arn(&policy_arn)
            .version_id("v3")
            .send()
            .await,
        "DeleteConflict",
        "Cannot delete the default version of a policy.",
    );
    // With room again, a new version can be made the default at once.
    iam.delete_policy_version()
        .policy_arn(&policy_arn)
        .version_id("v2")
        .send()
        .await
        .unwrap();
    let v6 = iam
        .create_policy_version()
        .policy_arn(&policy_arn)
        .policy_document(&v1)
        .set_as_default(true)
        .send()
        .await
        .unwrap();
    let v6 = v6.policy_version().unwrap();
    assert_eq!(v6.version_id(), Some("v6"));
    assert!(v6.is_default_version());
}

#[tokio::test]
async fn managed_policy_attachments_and_delete_conflict() {
    let w = Ward::start();
    let iam = w.root_iam();
    let doc = allow(&["iam:GetUser", "iam:ListUsers"], "*");
    iam.create_policy()
        .policy_name("readers")
        .path("/team/")
        .policy_document(&doc)
        .send()
        .await
        .unwrap();
    let policy_arn = arn("policy/team/readers");
    iam.create_user().user_name("dan").send().await.unwrap();
    iam.create_group().group_name("devs").send().await.unwrap();
    iam.create_role()
        .role_name("builder")
        .assume_role_policy_document(trust_account())
        .send()
        .await
        .unwrap();

    iam.attach_user_policy()
        .user_name("dan")
        .policy_arn(&policy_arn)
        .send()
        .await
        .unwrap();
    iam.attach_group_policy()
        .group_name("devs")
        .policy_arn(&policy_arn)
        .send()
        .await
        .unwrap();
    iam.attach_role_policy()
        .role_name("builder")
        .policy_arn(&policy_arn)
        .send()
        .await
        .unwrap();
    let got = iam
        .get_policy()
        .policy_arn(&policy_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(got.policy().unwrap().attachment_count(), Some(3));
    assert_eq!(got.policy().unwrap().path(), Some("/team/"));

    let attached = |names: Vec<(Option<&str>, Option<&str>)>| {
        assert_eq!(names, [(Some("readers"), Some(policy_arn.as_str()))]);
    };
    let u = iam
        .list_attached_user_policies()
        .user_name("dan")
        .send()
        .await
        .unwrap();
    attached(
        u.attached_policies()
            .iter()
            .map(|p| (p.policy_name(), p.policy_arn()))
            .collect(),
    );
    let g = iam
        .list_attached_group_policies()
        .group_name("devs")
        .send()
        .await
        .unwrap();
    attached(
        g.attached_policies()
            .iter()
            .map(|p| (p.policy_name(), p.policy_arn()))
            .collect(),
    );
    let r = iam
        .list_attached_role_policies()
        .role_name("builder")
        .send()
        .await
        .unwrap();
    attached(
        r.attached_policies()
            .iter()
            .map(|p| (p.policy_name(), p.policy_arn()))
            .collect(),
    );

    assert_error(
        iam.delete_policy().policy_arn(&policy_arn).send().await,
        "DeleteConflict",
        "Cannot delete a policy attached to entities.",
    );
    assert_error(
        iam.delete_user().user_name("dan").send().await,
        "DeleteConflict",
        "Cannot delete entity, must detach all policies first.",
    );
    let missing = arn("policy/nope");
    assert_error(
        iam.attach_user_policy()
            .user_name("dan")
            .policy_arn(&missing)
            .send()
            .await,
        "NoSuchEntity",
        &format!("Policy {missing} does not exist or is not attachable."),
    );

    iam.detach_user_policy()
        .user_name("dan")
        .policy_arn(&policy_arn)
        .send()
        .await
        .unwrap();
    iam.detach_group_policy()
        .group_name("devs")
        .policy_arn(&policy_arn)
        .send()
        .await
        .unwrap();
    iam.detach_role_policy()
        .role_name("builder")
        .policy_arn(&policy_arn)
        .send()
        .await
        .unwrap();
    assert_error(
        iam.detach_user_policy()
            .user_name("dan")
            .policy_arn(&policy_arn)
            .send()
            .await,
        "NoSuchEntity",
        &format!("Policy {policy_arn} was not found."),
    );
    let got = iam
        .get_policy()
        .policy_arn(&policy_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(got.policy().unwrap().attachment_count(), Some(0));
    iam.delete_policy()
        .policy_arn(&policy_arn)
        .send()
        .await
        .unwrap();
    let gone = iam.get_policy().policy_arn(&policy_arn).send().await;
    let (code, message) = crate::harness::error_of(gone);
    assert_eq!(code, "NoSuchEntity");
    assert_eq!(message, format!("Policy {policy_arn} was not found."));
}

/// An AWS managed policy is read with the caller's own identity policies,
/// not across accounts: Ward has none, so it is not found, where a resource
/// policy it cannot have was asked for before.
#[tokio::test]
async fn an_aws_managed_policy_is_not_found_rather_than_denied_across_accounts() {
    let w = Ward::start();
    let arn = "arn:aws:iam::aws:policy/ReadOnlyAccess";
    assert_error(
        w.root_iam().get_policy().policy_arn(arn).send().await,
        "NoSuchEntity",
        &format!("Policy {arn} was not found."),
    );
    // Without iam:GetPolicy the caller's identity policies are what refuse.
    let bob = w.user_with_key("bob").await;
    let e = w.iam(&bob).get_policy().policy_arn(arn).send().await;
    let (code, message) = crate::harness::error_of(e);
    assert_eq!(code, "AccessDenied");
    assert!(
        message.ends_with("because no identity-based policy allows the iam:GetPolicy action"),
        "{message}"
    );
}

#[tokio::test]
async fn malformed_policy_documents_are_refused_with_the_engine_message() {
    let w = Ward::start();
    let iam = w.root_iam();
    let bad_resource = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"bucket"}]}"#;
    assert_error(
        iam.create_policy()
            .policy_name("bad")
            .policy_document(bad_resource)
            .send()
            .await,
        "MalformedPolicyDocument",
        "Resource bucket must be in ARN format or \"*\".",
    );
    // Nothing was created.
    let (code, _) =
        crate::harness::error_of(iam.get_policy().policy_arn(arn("policy/bad")).send().await);
    assert_eq!(code, "NoSuchEntity");
    // The same engine checks inline policies and new versions.
    iam.create_user().user_name("eve").send().await.unwrap();
    assert_error(
        iam.put_user_policy()
            .user_name("eve")
            .policy_name("bad")
            .policy_document(bad_resource)
            .send()
            .await,
        "MalformedPolicyDocument",
        "Resource bucket must be in ARN format or \"*\".",
    );
    iam.create_policy()
        .policy_name("good")
        .policy_document(allow(&["s3:GetObject"], "*"))
        .send()
        .await
        .unwrap();
    assert_error(
        iam.create_policy_version()
            .policy_arn(arn("policy/good"))
            .policy_document(bad_resource)
            .send()
            .await,
        "MalformedPolicyDocument",
        "Resource bucket must be in ARN format or \"*\".",
    );
}

#[tokio::test]
async fn inline_policies_of_a_user() {
    let w = Ward::start();
    let iam = w.root_iam();
    iam.create_user().user_name("frank").send().await.unwrap();
    let doc = allow(&["iam:GetUser"], &arn("user/frank"));
    iam.put_user_policy()
        .user_name("frank")
        .policy_name("self-read")
        .policy_document(&doc)
        .send()
        .await
        .unwrap();
    let got = iam
        .get_user_policy()
        .user_name("frank")
        .policy_name("self-read")
        .send()
        .await
        .unwrap();
    assert_eq!(got.user_name(), "frank");
    assert_eq!(got.policy_name(), "self-read");
    assert_eq!(policy_json(got.policy_document()), json(&doc));
    let listed = iam
        .list_user_policies()
        .user_name("frank")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.policy_names(), ["self-read"]);
    // Put again replaces the document.
    let doc2 = allow(&["iam:GetUser", "iam:ListUsers"], "*");
    iam.put_user_policy()
        .user_name("frank")
        .policy_name("self-read")
        .policy_document(&doc2)
        .send()
        .await
        .unwrap();
    let got = iam
        .get_user_policy()
        .user_name("frank")
        .policy_name("self-read")
        .send()
        .await
        .unwrap();
    assert_eq!(policy_json(got.policy_document()), json(&doc2));
    assert_eq!(
        iam.list_user_policies()
            .user_name("frank")
            .send()
            .await
            .unwrap()
            .policy_names()
            .len(),
        1
    );
    assert_error(
        iam.delete_user().user_name("frank").send().await,
        "DeleteConflict",
        "Cannot delete entity, must delete policies first.",
    );
    iam.delete_user_policy()
        .user_name("frank")
        .policy_name("self-read")
        .send()
        .await
        .unwrap();
    assert_error(
        iam.get_user_policy()
            .user_name("frank")
            .policy_name("self-read")
            .send()
            .await,
        "NoSuchEntity",
        "The user policy with name self-read cannot be found.",
    );
    assert_error(
        iam.delete_user_policy()
            .user_name("frank")
            .policy_name("self-read")
            .send()
            .await,
        "NoSuchEntity",
        "The user policy with name self-read cannot be found.",
    );
    assert!(iam
        .list_user_policies()
        .user_name("frank")
        .send()
        .await
        .unwrap()
        .policy_names()
        .is_empty());
    assert_error(
        iam.put_user_policy()
            .user_name("ghost")
            .policy_name("p")
            .policy_document(&doc)
            .send()
            .await,
        "NoSuchEntity",
        "The user with name ghost cannot be found.",
    );
    iam.delete_user().user_name("frank").send().await.unwrap();
}

#[tokio::test]
async fn inline_policies_of_a_role() {
    let w = Ward::start();
    let iam = w.root_iam();
    iam.create_role()
        .role_name("worker")
        .assume_role_policy_document(trust_account())
        .send()
        .await
        .unwrap();
    let doc = allow(&["iam:ListRoles", "iam:GetRole"], "*");
    iam.put_role_policy()
        .role_name("worker")
        .policy_name("roles-read")
        .policy_document(&doc)
        .send()
        .await
        .unwrap();
    let got = iam
        .get_role_policy()
        .role_name("worker")
        .policy_name("roles-read")
        .send()
        .await
        .unwrap();
    assert_eq!(got.role_name(), "worker");
    assert_eq!(got.policy_name(), "roles-read");
    assert_eq!(policy_json(got.policy_document()), json(&doc));
    let listed = iam
        .list_role_policies()
        .role_name("worker")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.policy_names(), ["roles-read"]);
    assert_error(
        iam.delete_role().role_name("worker").send().await,
        "DeleteConflict",
        "Cannot delete entity, must delete policies first.",
    );
    iam.delete_role_policy()
        .role_name("worker")
        .policy_name("roles-read")
        .send()
        .await
        .unwrap();
    assert_error(
        iam.get_role_policy()
            .role_name("worker")
            .policy_name("roles-read")
            .send()
            .await,
        "NoSuchEntity",
        "The role policy with name roles-read cannot be found.",
    );
    assert!(iam
        .list_role_policies()
        .role_name("worker")
        .send()
        .await
        .unwrap()
        .policy_names()
        .is_empty());
    iam.delete_role().role_name("worker").send().await.unwrap();
}

/// A request body over the 1 MiB cap is refused before it is read whole,
/// with an XML error the SDK understands; nothing is created.
#[tokio::test]
async fn an_oversized_request_is_refused() {
    let w = Ward::start();
    let iam = w.root_iam();
    let huge = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"{}","Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}]}}"#,
        "x".repeat(1 << 20)
    );
    let (code, message) = crate::harness::error_of(
        iam.create_policy()
            .policy_name("huge")
            .policy_document(huge)
            .send()
            .await,
    );
    assert_eq!(
        (code.as_str(), message.as_str()),
        (
            "RequestEntityTooLarge",
            "Request body exceeds the limit of 1048576 bytes"
        )
    );
    assert!(iam
        .get_policy()
        .policy_arn(arn("policy/huge"))
        .send()
        .await
        .is_err());
}
