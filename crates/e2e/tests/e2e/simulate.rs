//! The policy simulator through the SDK: its decisions are the engine's,
//! so they agree with what the server enforces.

use crate::harness::{allow, arn, Ward};
use aws_sdk_iam::types::{ContextEntry, ContextKeyTypeEnum, PolicyEvaluationDecisionType as D};

const DOC: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "Read", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"},
    {"Sid": "NoDelete", "Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "*"},
    {"Sid": "WithMfa", "Effect": "Allow", "Action": "s3:PutObject", "Resource": "*",
     "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}}
  ]
}"#;

#[tokio::test]
async fn simulate_custom_policy_decides_as_the_engine() {
    let w = Ward::start();
    let iam = w.root_iam();
    let out = iam
        .simulate_custom_policy()
        .policy_input_list(DOC)
        .action_names("s3:GetObject")
        .action_names("s3:DeleteObject")
        .action_names("s3:PutObject")
        .action_names("s3:ListBucket")
        .resource_arns("arn:aws:s3:::b/k")
        .send()
        .await
        .unwrap();
    let r = out.evaluation_results();
    let decisions: Vec<(&str, &D)> = r
        .iter()
        .map(|r| (r.eval_action_name(), r.eval_decision()))
        .collect();
    assert_eq!(
        decisions,
        [
            ("s3:GetObject", &D::Allowed),
            ("s3:DeleteObject", &D::ExplicitDeny),
            ("s3:PutObject", &D::ImplicitDeny),
            ("s3:ListBucket", &D::ImplicitDeny),
        ]
    );
    // Where the deciding statement is.
    let m = &r[1].matched_statements()[0];
    assert_eq!(m.source_policy_id(), Some("PolicyInputList.1"));
    let start = m.start_position().unwrap();
    let end = m.end_position().unwrap();
    assert_eq!((start.line(), start.column()), (5, 5));
    assert_eq!((end.line(), end.column()), (5, 87));
    // The MFA condition's key is missing, and named.
    assert_eq!(
        r[2].missing_context_values(),
        ["aws:MultiFactorAuthPresent"]
    );
    // PutObject with `aws:MultiFactorAuthPresent` given as a boolean `value`.
    let put_with_mfa = |value: &str| {
        iam.simulate_custom_policy()
            .policy_input_list(DOC)
            .action_names("s3:PutObject")
            .context_entries(
                ContextEntry::builder()
                    .context_key_name("aws:MultiFactorAuthPresent")
                    .context_key_values(value)
                    .context_key_type(ContextKeyTypeEnum::Boolean)
                    .build(),
            )
            .send()
    };
    // Given the key, the statement applies.
    let out = put_with_mfa("true").await.unwrap();
    assert_eq!(out.evaluation_results()[0].eval_decision(), &D::Allowed);
    // A value that is not of its declared type is refused by name, not
    // simulated as a key that matches nothing.
    let e = put_with_mfa("yes").await;
    let (code, message) = crate::harness::error_of(e);
    assert_eq!(code, "InvalidInput");
    assert!(
        message.contains("aws:MultiFactorAuthPresent") && message.contains("yes"),
        "{message}"
    );
    // Context keys of a policy.
    let keys = iam
        .get_context_keys_for_custom_policy()
        .policy_input_list(DOC)
        .send()
        .await
        .unwrap();
    assert_eq!(keys.context_key_names(), ["aws:MultiFactorAuthPresent"]);
    // A malformed policy is refused with AWS's code.
    let e = iam
        .simulate_custom_policy()
        .policy_input_list("{\"Statement\": 1}")
        .action_names("s3:GetObject")
        .send()
        .await;
    assert_eq!(crate::harness::error_of(e).0, "MalformedPolicyDocument");
}

#[tokio::test]
async fn simulate_principal_policy_agrees_with_enforcement() {
    let w = Ward::start();
    let root = w.root_iam();
    let kim = w.user_with_key("kim").await;
    root.create_group().group_name("ops").send().await.unwrap();
    root.add_user_to_group()
        .group_name("ops")
        .user_name("kim")
        .send()
        .await
        .unwrap();
    root.put_group_policy()
        .group_name("ops")
        .policy_name("users")
        .policy_document(allow(&["iam:CreateUser", "iam:ListUsers"], "*"))
        .send()
        .await
        .unwrap();
    let sim = |actions: &[&str]| {
        let mut b = root
            .simulate_principal_policy()
            .policy_source_arn(arn("user/kim"));
        for a in actions {
            b = b.action_names(*a);
        }
        b.send()
    };
    let out = sim(&["iam:CreateUser", "iam:DeleteUser"]).await.unwrap();
    let r = out.evaluation_results();
    assert_eq!(r[0].eval_decision(), &D::Allowed);
    assert_eq!(
        r[0].matched_statements()[0].source_policy_id(),
        Some("users")
    );
    assert_eq!(
        r[0].matched_statements()[0]
            .source_policy_type()
            .map(|t| t.as_str()),
        Some("group")
    );
    assert_eq!(r[1].eval_decision(), &D::ImplicitDeny);
    // The server agrees.
    w.iam(&kim)
        .create_user()
        .user_name("made-by-kim")
        .send()
        .await
        .unwrap();
    let e = w
        .iam(&kim)
        .delete_user()
        .user_name("made-by-kim")
        .send()
        .await;
    assert_eq!(crate::harness::error_of(e).0, "AccessDenied");

    // A permissions boundary without iam:CreateUser: both say no.
    root.create_policy()
        .policy_name("list-only")
        .policy_document(allow(&["iam:ListUsers"], "*"))
        .send()
        .await
        .unwrap();
    root.put_user_permissions_boundary()
        .user_name("kim")
        .permissions_boundary(arn("policy/list-only"))
        .send()
        .await
        .unwrap();
    let out = sim(&["iam:CreateUser", "iam:ListUsers"]).await.unwrap();
    let r = out.evaluation_results();
    assert_eq!(r[0].eval_decision(), &D::ImplicitDeny);
    assert_eq!(
        r[0].permissions_boundary_decision_detail()
            .map(|d| d.allowed_by_permissions_boundary()),
        Some(false)
    );
    assert_eq!(r[1].eval_decision(), &D::Allowed);
    let e = w.iam(&kim).create_user().user_name("another").send().await;
    let (code, msg) = crate::harness::error_of(e);
    assert_eq!(code, "AccessDenied");
    assert!(
        msg.ends_with("because no permissions boundary allows the iam:CreateUser action"),
        "{msg}"
    );
    // The principal's context keys.
    let keys = root
        .get_context_keys_for_principal_policy()
        .policy_source_arn(arn("user/kim"))
        .send()
        .await
        .unwrap();
    assert!(keys.context_key_names().is_empty());
    // An unknown principal.
    let e = sim(&["iam:ListUsers"]).await;
    assert!(e.is_ok());
    let e = root
        .simulate_principal_policy()
        .policy_source_arn(arn("user/nobody"))
        .action_names("iam:ListUsers")
        .send()
        .await;
    assert_eq!(crate::harness::error_of(e).0, "NoSuchEntity");
}

#[tokio::test]
async fn credential_report_lists_every_user_with_aws_columns() {
    use aws_sdk_iam::types::ReportStateType;
    let w = Ward::start();
    let iam = w.root_iam();
    let (code, _) = crate::harness::error_of(iam.get_credential_report().send().await);
    assert_eq!(code, "ReportNotPresent");
    w.user_with_key("lee").await;
    iam.create_user().user_name("max").send().await.unwrap();
    let g = iam.generate_credential_report().send().await.unwrap();
    assert_eq!(g.state(), Some(&ReportStateType::Started));
    let g = iam.generate_credential_report().send().await.unwrap();
    assert_eq!(g.state(), Some(&ReportStateType::Complete));
    let r = iam.get_credential_report().send().await.unwrap();
    assert_eq!(r.report_format().map(|f| f.as_str()), Some("text/csv"));
    let csv = String::from_utf8(r.content().unwrap().as_ref().to_vec()).unwrap();
    let rows: Vec<Vec<&str>> = csv.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(
        rows[0],
        [
            "user",
            "arn",
            "user_creation_time",
            "password_enabled",
            "password_last_used",
            "password_last_changed",
            "password_next_rotation",
            "mfa_active",
            "access_key_1_active",
            "access_key_1_last_rotated",
            "access_key_1_last_used_date",
            "access_key_1_last_used_region",
            "access_key_1_last_used_service",
            "access_key_2_active",
            "access_key_2_last_rotated",
            "access_key_2_last_used_date",
            "access_key_2_last_used_region",
            "access_key_2_last_used_service",
            "cert_1_active",
            "cert_1_last_rotated",
            "cert_2_active",
            "cert_2_last_rotated"
        ]
    );
    assert_eq!(rows[1][0], "<root_account>");
    // The root key that signed these calls is active and was used by IAM.
    assert_eq!(rows[1][8], "true");
    assert_eq!(rows[1][12], "iam");
    let lee = rows.iter().find(|r| r[0] == "lee").unwrap();
    assert_eq!(lee[1], arn("user/lee"));
    assert_eq!((lee[7], lee[8], lee[13]), ("false", "true", "false"));
    let max = rows.iter().find(|r| r[0] == "max").unwrap();
    assert_eq!((max[8], max[9]), ("false", "N/A"));
    assert_eq!(rows.len(), 4);
}
