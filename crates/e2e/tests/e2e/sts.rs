//! STS: caller identity, AssumeRole, session credentials and session policies.

use crate::harness::{allow, arn, assert_error, trust_account, Creds, Ward, ACCOUNT};

const INVALID_TOKEN: &str = "The security token included in the request is invalid.";

/// Create role `name` trusted by the account, with an inline policy
/// allowing `actions` on everything when `actions` is not empty.
async fn role(w: &Ward, name: &str, actions: &[&str]) -> String {
    let iam = w.root_iam();
    let r = iam
        .create_role()
        .role_name(name)
        .assume_role_policy_document(trust_account())
        .send()
        .await
        .unwrap();
    if !actions.is_empty() {
        iam.put_role_policy()
            .role_name(name)
            .policy_name("permissions")
            .policy_document(allow(actions, "*"))
            .send()
            .await
            .unwrap();
    }
    r.role().unwrap().role_id().to_string()
}

/// A user allowed to assume any role (AWS refuses root credentials).
async fn assumer(w: &Ward) -> Creds {
    let c = w.user_with_key("assumer").await;
    w.put_user_policy("assumer", "assume", &allow(&["sts:AssumeRole"], "*"))
        .await;
    c
}

/// Session credentials of an AssumeRole answer.
fn session_creds(out: &aws_sdk_sts::operation::assume_role::AssumeRoleOutput) -> Creds {
    let c = out.credentials().expect("Credentials");
    Creds::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token()),
    )
}

#[tokio::test]
async fn caller_identity_of_root_and_of_a_user() {
    let w = Ward::start();
    let root = w.root_sts().get_caller_identity().send().await.unwrap();
    assert_eq!(root.account(), Some(ACCOUNT));
    assert_eq!(
        root.arn(),
        Some(format!("arn:aws:iam::{ACCOUNT}:root").as_str())
    );
    assert_eq!(root.user_id(), Some(ACCOUNT));

    let alice = w.user_with_key("alice").await;
    let user_id = w
        .root_iam()
        .get_user()
        .user_name("alice")
        .send()
        .await
        .unwrap()
        .user()
        .unwrap()
        .user_id()
        .to_string();
    // GetCallerIdentity needs no permission.
    let me = w.sts(&alice).get_caller_identity().send().await.unwrap();
    assert_eq!(me.account(), Some(ACCOUNT));
    assert_eq!(me.arn(), Some(arn("user/alice").as_str()));
    assert_eq!(me.user_id(), Some(user_id.as_str()));
}

#[tokio::test]
async fn assume_role_needs_an_identity_permission_and_yields_working_credentials() {
    let w = Ward::start();
    let role_id = role(&w, "deployer", &[]).await;
    let role_arn = arn("role/deployer");
    let alice = w.user_with_key("alice").await;
    let sts = w.sts(&alice);

    // The trust policy trusts the account, which delegates to alice's own
    // policies: she has none.
    assert_error(
        sts.assume_role()
            .role_arn(&role_arn)
            .role_session_name("s1")
            .send()
            .await,
        "AccessDenied",
        &format!(
            "User: {} is not authorized to perform: sts:AssumeRole on resource: {role_arn} \
             because no identity-based policy allows the sts:AssumeRole action",
            arn("user/alice")
        ),
    );
    w.put_user_policy("alice", "assume", &allow(&["sts:AssumeRole"], &role_arn))
        .await;
    let out = sts
        .assume_role()
        .role_arn(&role_arn)
        .role_session_name("s1")
        .send()
        .await
        .unwrap();
    let assumed = out.assumed_role_user().expect("AssumedRoleUser");
    let session_arn = format!("arn:aws:sts::{ACCOUNT}:assumed-role/deployer/s1");
    assert_eq!(assumed.arn(), session_arn);
    assert_eq!(assumed.assumed_role_id(), format!("{role_id}:s1"));
    let creds = session_creds(&out);
    assert!(
        creds.access_key_id.starts_with("ASIA"),
        "{}",
        creds.access_key_id
    );
    assert!(creds
        .session_token
        .as_deref()
        .is_some_and(|t| !t.is_empty()));
    // One hour by default.
    let exp = out.credentials().unwrap().expiration().secs();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let left = exp - i64::try_from(now).unwrap();
    assert!((3500..=3600).contains(&left), "expires in {left} s");

    let me = w.sts(&creds).get_caller_identity().send().await.unwrap();
    assert_eq!(me.arn(), Some(session_arn.as_str()));
    assert_eq!(me.account(), Some(ACCOUNT));
    assert_eq!(me.user_id(), Some(format!("{role_id}:s1").as_str()));

    // The role has no permissions of its own.
    assert_error(
        w.iam(&creds).get_user().user_name("alice").send().await,
        "AccessDenied",
        &format!(
            "User: {session_arn} is not authorized to perform: iam:GetUser on resource: {} \
             because no identity-based policy allows the iam:GetUser action",
            arn("user/alice")
        ),
    );

    // A wrong session token, or none, is refused.
    let forged = Creds::new(
        &creds.access_key_id,
        &creds.secret_access_key,
        Some("bm90IHRoZSB0b2tlbg=="),
    );
    assert_error(
        w.sts(&forged).get_caller_identity().send().await,
        "InvalidClientTokenId",
        INVALID_TOKEN,
    );
    let tokenless = Creds::new(&creds.access_key_id, &creds.secret_access_key, None);
    assert_error(
        w.sts(&tokenless).get_caller_identity().send().await,
        "InvalidClientTokenId",
        INVALID_TOKEN,
    );

    // A role that does not exist is refused like one that does not trust.
    let missing = arn("role/nope");
    assert_error(
        sts.assume_role()
            .role_arn(&missing)
            .role_session_name("s1")
            .send()
            .await,
        "AccessDenied",
        &format!(
            "User: {} is not authorized to perform: sts:AssumeRole on resource: {missing}",
            arn("user/alice")
        ),
    );
}

#[tokio::test]
async fn a_session_policy_narrows_the_role() {
    let w = Ward::start();
    role(&w, "reader", &["iam:GetUser", "iam:ListUsers"]).await;
    let role_arn = arn("role/reader");
    let sts = w.sts(&assumer(&w).await);

    // Without a session policy the role may do both.
    let full = sts
        .assume_role()
        .role_arn(&role_arn)
        .role_session_name("full")
        .send()
        .await
        .unwrap();
    let full_iam = w.iam(&session_creds(&full));
    full_iam.list_users().send().await.unwrap();

    let narrow = sts
        .assume_role()
        .role_arn(&role_arn)
        .role_session_name("narrow")
        .policy(allow(&["iam:GetUser"], "*"))
        .send()
        .await
        .unwrap();
    let iam = w.iam(&session_creds(&narrow));
    w.root_iam()
        .create_user()
        .user_name("target")
        .send()
        .await
        .unwrap();
    let got = iam.get_user().user_name("target").send().await.unwrap();
    assert_eq!(got.user().unwrap().user_name(), "target");
    let (code, message) = crate::harness::error_of(iam.list_users().send().await);
    assert_eq!(code, "AccessDenied");
    let principal = format!("arn:aws:sts::{ACCOUNT}:assumed-role/reader/narrow");
    assert!(
        message.starts_with(&format!(
            "User: {principal} is not authorized to perform: iam:ListUsers on resource: "
        )),
        "{message}"
    );
    assert!(
        message.ends_with(" because no session policy allows the iam:ListUsers action"),
        "{message}"
    );
    assert_eq!(
        message,
        format!(
            "User: {principal} is not authorized to perform: iam:ListUsers on resource: {} because no session policy allows the iam:ListUsers action",
            arn("user/")
        )
    );

    // The session policy cannot add what the role lacks.
    let wide = sts
        .assume_role()
        .role_arn(&role_arn)
        .role_session_name("wide")
        .policy(allow(&["iam:*"], "*"))
        .send()
        .await
        .unwrap();
    assert_error(
        w.iam(&session_creds(&wide))
            .create_user()
            .user_name("x")
            .send()
            .await,
        "AccessDenied",
        &format!(
            "User: arn:aws:sts::{ACCOUNT}:assumed-role/reader/wide is not authorized to perform: \
             iam:CreateUser on resource: {} because no identity-based policy allows the \
             iam:CreateUser action",
            arn("user/x")
        ),
    );

    // A malformed session policy.
    let (code, _) = crate::harness::error_of(
        sts.assume_role()
            .role_arn(&role_arn)
            .role_session_name("bad")
            .policy("{not json")
            .send()
            .await,
    );
    assert_eq!(code, "MalformedPolicyDocument");
}

#[tokio::test]
async fn duration_seconds_is_bounded_by_the_role() {
    let w = Ward::start();
    role(&w, "short", &[]).await;
    let role_arn = arn("role/short");
    let sts = w.sts(&assumer(&w).await);
    assert_error(
        sts.assume_role()
            .role_arn(&role_arn)
            .role_session_name("s1")
            .duration_seconds(7200)
            .send()
            .await,
        "ValidationError",
        "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
    );
    assert_error(
        sts.assume_role()
            .role_arn(&role_arn)
            .role_session_name("s1")
            .duration_seconds(899)
            .send()
            .await,
        "ValidationError",
        "1 validation error detected: Value '899' at 'durationSeconds' failed to satisfy constraint: \
         Member must have value greater than or equal to 900",
    );
    let out = sts
        .assume_role()
        .role_arn(&role_arn)
        .role_session_name("s1")
        .duration_seconds(900)
        .send()
        .await
        .unwrap();
    let exp = out.credentials().unwrap().expiration().secs();
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap();
    assert!((800..=900).contains(&(exp - now)), "{}", exp - now);

    // A role allowing longer sessions grants them.
    w.root_iam()
        .create_role()
        .role_name("long")
        .assume_role_policy_document(trust_account())
        .max_session_duration(7200)
        .send()
        .await
        .unwrap();
    sts.assume_role()
        .role_arn(arn("role/long"))
        .role_session_name("s1")
        .duration_seconds(7200)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn invalid_role_session_name_is_a_validation_error() {
    let w = Ward::start();
    role(&w, "r", &[]).await;
    let (code, message) = crate::harness::error_of(
        w.sts(&assumer(&w).await)
            .assume_role()
            .role_arn(arn("role/r"))
            .role_session_name("has space")
            .send()
            .await,
    );
    assert_eq!(code, "ValidationError");
    assert!(
        message.starts_with(
            "1 validation error detected: Value 'has space' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: "
        ),
        "{message}"
    );
}

#[tokio::test]
async fn get_session_token_for_a_user() {
    let w = Ward::start();
    let lee = w.user_with_key("lee").await;
    let out = w
        .sts(&lee)
        .get_session_token()
        .duration_seconds(900)
        .send()
        .await
        .unwrap();
    let c = out.credentials().expect("Credentials");
    assert!(c.access_key_id().starts_with("ASIA"));
    let session = Creds::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token()),
    );
    let me = w.sts(&session).get_caller_identity().send().await.unwrap();
    assert_eq!(me.arn(), Some(arn("user/lee").as_str()));
    assert_error(
        w.sts(&session).get_session_token().send().await,
        "AccessDenied",
        "Cannot call GetSessionToken with session credentials",
    );
    assert_error(
        w.sts(&lee)
            .get_session_token()
            .duration_seconds(600)
            .send()
            .await,
        "ValidationError",
        "1 validation error detected: Value '600' at 'durationSeconds' failed to satisfy constraint: \
         Member must have value greater than or equal to 900",
    );
}

/// Temporary credentials stop working when they expire: the server is
/// restarted on the same data directory with its clock 901 s ahead, past
/// the 900 s sessions.
#[tokio::test]
async fn temporary_credentials_expire() {
    let mut w = Ward::start();
    let lee = w.user_with_key("lee").await;
    w.put_user_policy("lee", "assume", &allow(&["sts:AssumeRole"], "*"))
        .await;
    w.root_iam()
        .create_role()
        .role_name("short")
        .assume_role_policy_document(trust_account())
        .send()
        .await
        .unwrap();
    let to_creds = |c: &aws_sdk_sts::types::Credentials| {
        Creds::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token()),
        )
    };
    let session = to_creds(
        w.sts(&lee)
            .get_session_token()
            .duration_seconds(900)
            .send()
            .await
            .unwrap()
            .credentials()
            .unwrap(),
    );
    let role = to_creds(
        w.sts(&lee)
            .assume_role()
            .role_arn(arn("role/short"))
            .role_session_name("lee")
            .duration_seconds(900)
            .send()
            .await
            .unwrap()
            .credentials()
            .unwrap(),
    );
    // Both work now, and still after a restart (the tokens are sealed
    // with the data directory's master key).
    w.restart(&[]);
    w.sts(&session).get_caller_identity().send().await.unwrap();
    w.sts(&role).get_caller_identity().send().await.unwrap();
    w.restart(&["--clock-offset", "901"]);
    for creds in [&session, &role] {
        assert_error(
            w.sts(creds).get_caller_identity().send().await,
            "ExpiredToken",
            "The security token included in the request is expired",
        );
    }
}

/// AWS refuses `AssumeRole` with root credentials.
#[tokio::test]
async fn roles_may_not_be_assumed_by_root() {
    let w = Ward::start();
    role(&w, "r", &[]).await;
    assert_error(
        w.root_sts()
            .assume_role()
            .role_arn(arn("role/r"))
            .role_session_name("root")
            .send()
            .await,
        "AccessDenied",
        "Roles may not be assumed by root accounts.",
    );
}

/// `GetAccessKeyInfo` answers the account a key belongs to; it is an
/// action like any other (`sts:GetAccessKeyInfo`, no resource type in the
/// Service Authorization Reference, so on `*`:
/// <https://docs.aws.amazon.com/service-authorization/latest/reference/list_awssecuritytokenservice.html>),
/// whereas `GetSessionToken` needs no permission at all.
#[tokio::test]
async fn get_access_key_info_needs_its_permission() {
    let w = Ward::start();
    let kim = w.user_with_key("kim").await;
    let out = w
        .root_sts()
        .get_access_key_info()
        .access_key_id(&kim.access_key_id)
        .send()
        .await
        .unwrap();
    assert_eq!(out.account(), Some(ACCOUNT));
    assert_error(
        w.sts(&kim)
            .get_access_key_info()
            .access_key_id(&w.root.access_key_id)
            .send()
            .await,
        "AccessDenied",
        &format!(
            "User: {} is not authorized to perform: sts:GetAccessKeyInfo on resource: * \
             because no identity-based policy allows the sts:GetAccessKeyInfo action",
            arn("user/kim")
        ),
    );
    w.put_user_policy("kim", "keys", &allow(&["sts:GetAccessKeyInfo"], "*"))
        .await;
    let out = w
        .sts(&kim)
        .get_access_key_info()
        .access_key_id(&w.root.access_key_id)
        .send()
        .await
        .unwrap();
    assert_eq!(out.account(), Some(ACCOUNT));
    // No policy is needed for a session token.
    w.sts(&kim).get_session_token().send().await.unwrap();
}
