//! Review from the audit trail, through the SDK: service and action last
//! accessed reports, access key last used, and `WardAdmin.Review`'s
//! generated least-privilege policy.

use crate::authorize::json_call;
use crate::harness::{arn, Ward};
use aws_sdk_iam::types::AccessAdvisorUsageGranularityType as G;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// Twenty IAM actions the user is allowed by name.
const ALLOWED: [&str; 20] = [
    "iam:ListUsers",
    "iam:GetUser",
    "iam:ListRoles",
    "iam:GetRole",
    "iam:ListGroups",
    "iam:GetGroup",
    "iam:ListPolicies",
    "iam:GetPolicy",
    "iam:ListAccessKeys",
    "iam:ListUserPolicies",
    "iam:ListRolePolicies",
    "iam:ListGroupPolicies",
    "iam:ListAttachedUserPolicies",
    "iam:ListAttachedRolePolicies",
    "iam:ListAttachedGroupPolicies",
    "iam:GetAccountSummary",
    "iam:ListAccountAliases",
    "iam:ListInstanceProfiles",
    "iam:ListMFADevices",
    "iam:ListServerCertificates",
];

/// The report for `arn` once the trail holds an IAM attempt by it (the
/// trail's appender stores records a moment after the answer).
async fn report(
    iam: &aws_sdk_iam::Client,
    entity: &str,
    granularity: G,
) -> aws_sdk_iam::operation::get_service_last_accessed_details::GetServiceLastAccessedDetailsOutput
{
    for _ in 0..100 {
        let job = iam
            .generate_service_last_accessed_details()
            .arn(entity)
            .granularity(granularity.clone())
            .send()
            .await
            .unwrap();
        let out = iam
            .get_service_last_accessed_details()
            .job_id(job.job_id().unwrap())
            .send()
            .await
            .unwrap();
        let used = out
            .services_last_accessed()
            .iter()
            .find(|s| s.service_namespace() == "iam")
            .is_some_and(|s| s.last_authenticated().is_some());
        let all_three = granularity != G::ActionLevel
            || out
                .services_last_accessed()
                .iter()
                .flat_map(|s| s.tracked_actions_last_accessed())
                .filter(|a| a.last_accessed_time().is_some())
                .count()
                >= 4;
        if used && all_three {
            return out;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the trail never showed {entity}'s IAM calls");
}

#[tokio::test]
async fn a_principal_that_used_3_of_20_actions_gets_a_policy_of_those_3() {
    let w = Ward::start();
    let root = w.root_iam();
    let creds = w.user_with_key("auditor").await;
    let doc = json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "Read", "Effect": "Allow", "Action": ALLOWED, "Resource": "*"},
        {"Sid": "Logs", "Effect": "Allow", "Action": "logs:GetLogEvents", "Resource": "*"},
    ]})
    .to_string();
    w.put_user_policy("auditor", "read", &doc).await;
    let user = w.iam(&creds);
    // Three of the twenty, one of them twice; and one denied attempt.
    user.list_users().send().await.unwrap();
    user.get_user().user_name("auditor").send().await.unwrap();
    user.get_user().user_name("auditor").send().await.unwrap();
    user.list_roles().send().await.unwrap();
    assert!(user.create_user().user_name("x").send().await.is_err());

    let me = arn("user/auditor");
    // Service level: IAM attempted by the user, from us-east-1; logs allowed
    // but never attempted (listed without details, as AWS does).
    let out = report(&root, &me, G::ServiceLevel).await;
    let iam = out
        .services_last_accessed()
        .iter()
        .find(|s| s.service_namespace() == "iam")
        .unwrap();
    assert_eq!(iam.service_name(), "AWS Identity and Access Management");
    assert_eq!(iam.last_authenticated_entity(), Some(me.as_str()));
    assert_eq!(iam.last_authenticated_region(), Some("us-east-1"));
    assert_eq!(iam.total_authenticated_entities(), Some(1));
    let logs = out
        .services_last_accessed()
        .iter()
        .find(|s| s.service_namespace() == "logs")
        .unwrap();
    assert!(logs.last_authenticated().is_none());
    assert_eq!(out.services_last_accessed().len(), 2);

    // Action level: the three used and the denied attempt have times; the
    // other seventeen are listed without.
    let out = report(&root, &me, G::ActionLevel).await;
    let iam = out
        .services_last_accessed()
        .iter()
        .find(|s| s.service_namespace() == "iam")
        .unwrap();
    let attempted: BTreeSet<&str> = iam
        .tracked_actions_last_accessed()
        .iter()
        .filter(|a| a.last_accessed_time().is_some())
        .filter_map(|a| a.action_name())
        .collect();
    assert_eq!(
        attempted,
        BTreeSet::from(["CreateUser", "GetUser", "ListRoles", "ListUsers"])
    );
    assert_eq!(iam.tracked_actions_last_accessed().len(), 21);

    // With entities: the user, by id.
    let job = root
        .generate_service_last_accessed_details()
        .arn(&me)
        .send()
        .await
        .unwrap();
    let ents = root
        .get_service_last_accessed_details_with_entities()
        .job_id(job.job_id().unwrap())
        .service_namespace("iam")
        .send()
        .await
        .unwrap();
    let e = &ents.entity_details_list()[0];
    assert_eq!(e.entity_info().unwrap().arn(), me);
    assert_eq!(e.entity_info().unwrap().name(), "auditor");
    assert!(e.last_authenticated().is_some());

    // The key's last use comes from the trail too.
    let used = root
        .get_access_key_last_used()
        .access_key_id(&creds.access_key_id)
        .send()
        .await
        .unwrap();
    let last = used.access_key_last_used().unwrap();
    assert_eq!((last.service_name(), last.region()), ("iam", "us-east-1"));

    // The review: exactly the three allowed and used actions.
    let (status, answer) = json_call(
        &w,
        &w.root,
        "ward",
        "WardAdmin.Review",
        &json!({"Principal": me, "Days": 30}),
    );
    assert_eq!(status, 200, "{answer}");
    let p = &answer["Principals"][0];
    let generated: Value = serde_json::from_str(p["GeneratedPolicy"].as_str().unwrap()).unwrap();
    let statements = generated["Statement"].as_array().unwrap();
    let actions: BTreeSet<&str> = statements
        .iter()
        .flat_map(|s| s["Action"].as_array().unwrap())
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        BTreeSet::from(["iam:GetUser", "iam:ListRoles", "iam:ListUsers"]),
        "{generated:#}"
    );
    // On the resources used: GetUser on the user itself.
    let get_user = statements
        .iter()
        .find(|s| {
            s["Action"]
                .as_array()
                .unwrap()
                .contains(&json!("iam:GetUser"))
        })
        .unwrap();
    assert_eq!(get_user["Resource"], json!(me), "{generated:#}");
    assert_eq!(p["ActionsAllowed"], 21);
    assert_eq!(p["ActionsUsed"], 3);
    let findings: Vec<&str> = p["Findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["Detail"].as_str().unwrap())
        .collect();
    assert!(findings.contains(&"service logs (Amazon CloudWatch Logs) not used"));
    assert!(findings.contains(&"action iam:GetRole not used"));
    assert_eq!(findings.len(), 1 + 17, "{findings:?}");
    let diff = p["Diff"].as_str().unwrap();
    assert!(diff.contains("-        \"iam:GetRole\","), "{diff}");

    // The whole account: every user and role, the auditor among them.
    let (status, all) = json_call(&w, &w.root, "ward", "WardAdmin.Review", &json!({}));
    assert_eq!(status, 200, "{all}");
    let arns: Vec<&str> = all["Principals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["Arn"].as_str().unwrap())
        .collect();
    assert!(arns.contains(&me.as_str()), "{all}");
    // A period must be one IAM tracks.
    let (status, bad) = json_call(&w, &w.root, "ward", "WardAdmin.Review", &json!({"Days": 0}));
    assert_eq!(
        (status, bad["__type"].as_str()),
        (400, Some("InvalidInputException")),
        "{bad}"
    );

    // A group is not a principal to review.
    let (status, bad) = json_call(
        &w,
        &w.root,
        "ward",
        "WardAdmin.Review",
        &json!({"Principal": arn("group/nobody")}),
    );
    assert_eq!(
        (status, bad["__type"].as_str()),
        (400, Some("InvalidInputException")),
        "{bad}"
    );

    // A user may not review unless allowed `ward:Review`.
    let (status, answer) = json_call(&w, &creds, "ward", "WardAdmin.Review", &json!({}));
    assert_eq!(status, 400);
    assert_eq!(answer["__type"], "AccessDeniedException");
}

/// A role assumed with MFA: its code is spent (a write, which the record
/// commits with) before the trust policy and the caller's policies decide,
/// and the record still carries those decisions, so the generated policy
/// keeps `sts:AssumeRole` instead of taking the role away.
#[tokio::test]
async fn a_role_assumed_with_mfa_stays_in_the_generated_policy() {
    let w = Ward::start();
    let creds = w.user_with_key("erin").await;
    let (serial, app) = crate::mfa::enable_mfa(&w, "erin").await;
    w.put_user_policy(
        "erin",
        "assume",
        &crate::harness::allow(&["sts:AssumeRole", "iam:ListUsers"], "*"),
    )
    .await;
    let trust = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": arn("root")}, "Action": "sts:AssumeRole",
        "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}}]});
    w.root_iam()
        .create_role()
        .role_name("prod")
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .unwrap();
    w.sts(&creds)
        .assume_role()
        .role_arn(arn("role/prod"))
        .role_session_name("erin")
        .serial_number(&serial)
        .token_code(app.code(1))
        .send()
        .await
        .unwrap();
    let me = arn("user/erin");
    let mut generated = Value::Null;
    for _ in 0..100 {
        let (status, answer) = json_call(
            &w,
            &w.root,
            "ward",
            "WardAdmin.Review",
            &json!({"Principal": me, "Days": 30}),
        );
        assert_eq!(status, 200, "{answer}");
        generated =
            serde_json::from_str(answer["Principals"][0]["GeneratedPolicy"].as_str().unwrap())
                .unwrap();
        if generated["Statement"]
            .as_array()
            .is_some_and(|s| !s.is_empty())
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        generated["Statement"],
        json!([{"Action": ["sts:AssumeRole"], "Effect": "Allow", "Resource": arn("role/prod")}]),
        "{generated:#}"
    );
}
