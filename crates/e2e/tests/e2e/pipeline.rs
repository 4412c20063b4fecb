//! The Dev / Test / Prod pipeline end to end: `examples/pipeline.toml`
//! applied with `ward apply`, people with MFA assuming per-environment roles
//! through the AWS SDK for Rust, a deployment bucket's service asking the
//! authorization endpoint, and the Prod guardrail SCP.

use crate::authorize::{ask, json_call};
use crate::harness::{arn, ward_binary, Creds, Ward};
use crate::mfa::App;
use serde_json::json;

fn example() -> String {
    format!(
        "{}/../../examples/pipeline.toml",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// A person of the pipeline: their key, and their MFA device enabled.
async fn person(w: &Ward, name: &str) -> (Creds, String, App) {
    let iam = w.root_iam();
    let k = iam
        .create_access_key()
        .user_name(name)
        .send()
        .await
        .unwrap()
        .access_key
        .unwrap();
    let (serial, app) = crate::mfa::enable_mfa(w, name).await;
    (
        Creds::new(&k.access_key_id, &k.secret_access_key, None),
        serial,
        app,
    )
}

/// MFA session credentials of a person (GetSessionToken with a code).
async fn mfa_session(w: &Ward, c: &Creds, serial: &str, app: &App) -> Creds {
    let out = w
        .sts(c)
        .get_session_token()
        .serial_number(serial)
        .token_code(app.code(1))
        .send()
        .await
        .unwrap();
    let c = out.credentials().unwrap();
    Creds::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token()),
    )
}

async fn assume(
    w: &Ward,
    c: &Creds,
    role: &str,
    policy: Option<String>,
) -> Result<Creds, (String, String)> {
    let r = w
        .sts(c)
        .assume_role()
        .role_arn(role)
        .role_session_name("pipeline")
        .set_policy(policy)
        .send()
        .await;
    match r {
        Ok(out) => {
            let c = out.credentials().unwrap();
            Ok(Creds::new(
                c.access_key_id(),
                c.secret_access_key(),
                Some(c.session_token()),
            ))
        }
        Err(e) => Err(crate::harness::error_of::<(), _>(Err(e))),
    }
}

#[tokio::test]
async fn the_pipeline_end_to_end() {
    let w = Ward::start();
    let out = std::process::Command::new(ward_binary())
        .args(["apply", &example()])
        .env("AWS_ENDPOINT_URL", &w.endpoint)
        .env("AWS_ACCESS_KEY_ID", &w.root.access_key_id)
        .env("AWS_SECRET_ACCESS_KEY", &w.root.secret_access_key)
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The accounts, from Organizations.
    let (status, accounts) = json_call(
        &w,
        &w.root,
        "organizations",
        "AWSOrganizationsV20161128.ListAccounts",
        &json!({}),
    );
    assert_eq!(status, 200, "{accounts}");
    let id_of = |name: &str| -> String {
        accounts["Accounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["Name"] == name)
            .unwrap()["Id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let prod = id_of("prod");
    let role = |name: &str| format!("arn:aws:iam::{prod}:role/{name}");

    let (alice, alice_mfa, alice_app) = person(&w, "alice").await;
    let (bob, bob_mfa, bob_app) = person(&w, "bob").await;
    let (carol, carol_mfa, carol_app) = person(&w, "carol").await;

    // Without MFA, no Prod role: the group's MFA guard denies first.
    let (code, msg) = assume(&w, &alice, &role("prod-readonly"), None)
        .await
        .unwrap_err();
    assert_eq!(code, "AccessDenied");
    assert!(
        msg.contains("with an explicit deny in an identity-based policy"),
        "{msg}"
    );

    // Dev reads Prod through prod-readonly, and changes nothing.
    let alice_s = mfa_session(&w, &alice, &alice_mfa, &alice_app).await;
    let ro = assume(&w, &alice_s, &role("prod-readonly"), None)
        .await
        .unwrap();
    let me = w.sts(&ro).get_caller_identity().send().await.unwrap();
    assert_eq!(me.account(), Some(prod.as_str()));
    w.iam(&ro).list_roles().send().await.unwrap();
    let e = crate::harness::error_of(w.iam(&ro).create_user().user_name("x").send().await);
    assert_eq!(
        e,
        (
            "AccessDenied".to_string(),
            format!("User: arn:aws:sts::{prod}:assumed-role/prod-readonly/pipeline is not authorized to perform: iam:CreateUser on resource: arn:aws:iam::{prod}:user/x because no identity-based policy allows the iam:CreateUser action")
        )
    );
    // Dev may not take the deploy role.
    let (code, _) = assume(&w, &alice_s, &role("prod-deploy"), None)
        .await
        .unwrap_err();
    assert_eq!(code, "AccessDenied");

    // Test deploys to Prod through prod-deploy, and only that: the
    // deployment bucket's service asks Ward about each request.
    let bob_s = mfa_session(&w, &bob, &bob_mfa, &bob_app).await;
    let dep = assume(&w, &bob_s, &role("prod-deploy"), None)
        .await
        .unwrap();
    let check = |client: &Creds, method: &str, key: &str, action: &str, resource: &str| {
        let req = crate::authorize::client_request(client, method, key);
        ask(&w, &w.root, &json!({"Request": req, "Actions": [action], "Resources": [resource], "ResourceAccount": prod}))
            .1
    };
    let put = check(
        &dep,
        "PUT",
        "releases/app-1.2.tgz",
        "s3:PutObject",
        "arn:aws:s3:::prod-deploy/releases/app-1.2.tgz",
    );
    assert_eq!(put["Allowed"], true, "{put}");
    assert_eq!(put["Principal"]["Type"], "AssumedRole");
    assert_eq!(put["Principal"]["MultiFactorAuthPresent"], true);
    let del = check(
        &dep,
        "DELETE",
        "releases/app-1.2.tgz",
        "s3:DeleteObject",
        "arn:aws:s3:::prod-deploy/releases/app-1.2.tgz",
    );
    assert_eq!(del["Allowed"], false, "{del}");
    assert_eq!(
        del["Results"][0]["message"],
        format!("User: arn:aws:sts::{prod}:assumed-role/prod-deploy/pipeline is not authorized to perform: s3:DeleteObject on resource: arn:aws:s3:::prod-deploy/releases/app-1.2.tgz because no identity-based policy allows the s3:DeleteObject action")
    );
    let other = check(
        &dep,
        "PUT",
        "config/secrets",
        "s3:PutObject",
        "arn:aws:s3:::prod-deploy/config/secrets",
    );
    assert_eq!(other["Allowed"], false);
    let build = check(
        &dep,
        "POST",
        "x",
        "codebuild:StartBuild",
        &format!("arn:aws:codebuild:us-east-1:{prod}:project/prod-deploy"),
    );
    assert_eq!(build["Allowed"], true, "{build}");
    let build2 = check(
        &dep,
        "POST",
        "x",
        "codebuild:StartBuild",
        &format!("arn:aws:codebuild:us-east-1:{prod}:project/other"),
    );
    assert_eq!(build2["Allowed"], false);

    // A session policy narrows a role further.
    let narrow = assume(
        &w,
        &bob_s,
        &role("prod-readonly"),
        Some(json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:ListRoles", "Resource": "*"}]}).to_string()),
    )
    .await
    .unwrap();
    w.iam(&narrow).list_roles().send().await.unwrap();
    let (_, msg) = crate::harness::error_of(w.iam(&narrow).list_users().send().await);
    assert!(
        msg.ends_with("because no session policy allows the iam:ListUsers action"),
        "{msg}"
    );

    // ... or by a session-policy template of the model (PolicyArns).
    let out = w
        .sts(&bob_s)
        .assume_role()
        .role_arn(role("prod-deploy"))
        .role_session_name("releases")
        .policy_arns(
            aws_sdk_sts::types::PolicyDescriptorType::builder()
                .arn(format!("arn:aws:iam::{prod}:policy/releases-only"))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let c = out.credentials().unwrap();
    let rel = Creds::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token()),
    );
    let put = check(
        &rel,
        "PUT",
        "releases/app-1.3.tgz",
        "s3:PutObject",
        "arn:aws:s3:::prod-deploy/releases/app-1.3.tgz",
    );
    assert_eq!(put["Allowed"], true, "{put}");
    let build = check(
        &rel,
        "POST",
        "x",
        "codebuild:StartBuild",
        &format!("arn:aws:codebuild:us-east-1:{prod}:project/prod-deploy"),
    );
    assert_eq!(build["Allowed"], false, "{build}");
    assert_eq!(build["Results"][0]["decided_by"], "session");

    // The SCP denies in Prod what break-glass's administrator policy allows.
    let carol_s = mfa_session(&w, &carol, &carol_mfa, &carol_app).await;
    let bg = assume(&w, &carol_s, &role("break-glass"), None)
        .await
        .unwrap();
    w.iam(&bg)
        .create_user()
        .user_name("incident")
        .send()
        .await
        .unwrap();
    let stop = check(
        &bg,
        "POST",
        "x",
        "cloudtrail:StopLogging",
        &format!("arn:aws:cloudtrail:us-east-1:{prod}:trail/main"),
    );
    assert_eq!(stop["Allowed"], false, "{stop}");
    assert_eq!(stop["Results"][0]["decided_by"], "scp");
    assert!(
        stop["Results"][0]["message"]
            .as_str()
            .unwrap()
            .ends_with("with an explicit deny in a service control policy"),
        "{stop}"
    );

    // The management account is where people live.
    assert_eq!(
        w.sts(&alice)
            .get_caller_identity()
            .send()
            .await
            .unwrap()
            .arn(),
        Some(arn("user/alice").as_str())
    );
}
