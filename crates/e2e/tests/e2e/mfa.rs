//! Virtual MFA devices and MFA-authenticated sessions, with codes computed
//! from the seed the server hands out (RFC 6238, by `totp-rs`, not Ward).

use crate::harness::{allow, arn, assert_error, Creds, Ward};
use aws_sdk_iam::types::AssignmentStatusType;
use totp_rs::{Algorithm, Secret, TOTP};

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// An authenticator app holding a device's seed.
pub(crate) struct App(TOTP);

impl App {
    pub(crate) fn new(seed_base32: &[u8]) -> App {
        let seed = String::from_utf8(seed_base32.to_vec()).expect("a base32 seed");
        let bytes = Secret::Encoded(seed).to_bytes().expect("base32");
        App(TOTP::new_unchecked(Algorithm::SHA1, 6, 0, 30, bytes))
    }

    /// The code `steps` 30-second steps from now.
    pub(crate) fn code(&self, steps: i64) -> String {
        let t = now().saturating_add_signed(steps * 30);
        self.0.generate(t)
    }
}

/// Create user `name` with a key and an enabled virtual MFA device; the
/// key, the device's serial number and the authenticator app.
async fn user_with_mfa(w: &Ward, name: &str) -> (Creds, String, App) {
    let creds = w.user_with_key(name).await;
    let (serial, app) = enable_mfa(w, name).await;
    (creds, serial, app)
}

/// A virtual MFA device named after user `name`, enabled for it: its
/// serial number and the authenticator app.
pub(crate) async fn enable_mfa(w: &Ward, name: &str) -> (String, App) {
    let iam = w.root_iam();
    let dev = iam
        .create_virtual_mfa_device()
        .virtual_mfa_device_name(name)
        .send()
        .await
        .unwrap();
    let dev = dev.virtual_mfa_device().unwrap();
    let serial = dev.serial_number().to_string();
    let app = App::new(dev.base32_string_seed().unwrap().as_ref());
    iam.enable_mfa_device()
        .user_name(name)
        .serial_number(&serial)
        .authentication_code1(app.code(-1))
        .authentication_code2(app.code(0))
        .send()
        .await
        .unwrap();
    (serial, app)
}

#[tokio::test]
async fn virtual_mfa_device_lifecycle() {
    let w = Ward::start();
    let iam = w.root_iam();
    w.user_with_key("alice").await;
    let out = iam
        .create_virtual_mfa_device()
        .virtual_mfa_device_name("alice-phone")
        .path("/people/")
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key("team")
                .value("dev")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let dev = out.virtual_mfa_device().unwrap();
    let serial = dev.serial_number().to_string();
    assert_eq!(serial, arn("mfa/people/alice-phone"));
    let seed = dev.base32_string_seed().unwrap().as_ref().to_vec();
    assert_eq!(seed.len(), 64, "AWS-sized base32 seed");
    assert!(seed
        .iter()
        .all(|c| c.is_ascii_uppercase() || (b'2'..=b'7').contains(c)));
    let png = dev.qr_code_png().unwrap().as_ref();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    let app = App::new(&seed);

    // The name is taken.
    assert_error(
        iam.create_virtual_mfa_device()
            .virtual_mfa_device_name("alice-phone")
            .send()
            .await,
        "EntityAlreadyExists",
        "MFADevice entity at the same path and name already exists.",
    );
    // Unassigned until enabled.
    let unassigned = iam
        .list_virtual_mfa_devices()
        .assignment_status(AssignmentStatusType::Unassigned)
        .send()
        .await
        .unwrap();
    assert_eq!(unassigned.virtual_mfa_devices().len(), 1);
    assert!(unassigned.virtual_mfa_devices()[0].user().is_none());

    // Two codes that are not consecutive are refused.
    assert_error(
        iam.enable_mfa_device()
            .user_name("alice")
            .serial_number(&serial)
            .authentication_code1(app.code(0))
            .authentication_code2(app.code(-1))
            .send()
            .await,
        "InvalidAuthenticationCode",
        "Authentication code for device is not valid.",
    );
    iam.enable_mfa_device()
        .user_name("alice")
        .serial_number(&serial)
        .authentication_code1(app.code(-1))
        .authentication_code2(app.code(0))
        .send()
        .await
        .unwrap();
    let mine = iam
        .list_mfa_devices()
        .user_name("alice")
        .send()
        .await
        .unwrap();
    assert_eq!(mine.mfa_devices().len(), 1);
    assert_eq!(mine.mfa_devices()[0].serial_number(), serial);
    assert_eq!(mine.mfa_devices()[0].user_name(), "alice");
    let assigned = iam
        .list_virtual_mfa_devices()
        .assignment_status(AssignmentStatusType::Assigned)
        .send()
        .await
        .unwrap();
    let v = &assigned.virtual_mfa_devices()[0];
    assert_eq!(v.user().unwrap().user_name(), "alice");
    assert!(v.enable_date().is_some());
    assert!(v.base32_string_seed().is_none(), "the seed is shown once");
    let got = iam
        .get_mfa_device()
        .serial_number(&serial)
        .send()
        .await
        .unwrap();
    assert_eq!(got.user_name(), Some("alice"));
    let tags = iam
        .list_mfa_device_tags()
        .serial_number(&serial)
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tags()[0].key(), "team");

    // In use: neither the device nor its user can be deleted.
    assert_error(
        iam.delete_virtual_mfa_device()
            .serial_number(&serial)
            .send()
            .await,
        "DeleteConflict",
        "MFA device is still in use: deactivate it first.",
    );
    iam.delete_access_key()
        .user_name("alice")
        .access_key_id(
            iam.list_access_keys()
                .user_name("alice")
                .send()
                .await
                .unwrap()
                .access_key_metadata()[0]
                .access_key_id()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_error(
        iam.delete_user().user_name("alice").send().await,
        "DeleteConflict",
        "Cannot delete entity, must delete MFA device first.",
    );
    iam.deactivate_mfa_device()
        .user_name("alice")
        .serial_number(&serial)
        .send()
        .await
        .unwrap();
    iam.delete_virtual_mfa_device()
        .serial_number(&serial)
        .send()
        .await
        .unwrap();
    iam.delete_user().user_name("alice").send().await.unwrap();
    assert_error(
        iam.get_mfa_device().serial_number(&serial).send().await,
        "NoSuchEntity",
        &format!("VirtualMFADevice with serial number {serial} doesn't exist."),
    );
}

/// A role only people who signed in with MFA may assume.
fn mfa_trust() -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": arn("root")},
            "Action": "sts:AssumeRole",
            "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}
        }]
    })
    .to_string()
}

#[tokio::test]
async fn assume_role_requires_a_fresh_valid_code() {
    let w = Ward::start();
    let (bob, serial, app) = user_with_mfa(&w, "bob").await;
    w.put_user_policy("bob", "assume", &allow(&["sts:AssumeRole"], "*"))
        .await;
    w.root_iam()
        .create_role()
        .role_name("prod-admin")
        .assume_role_policy_document(mfa_trust())
        .send()
        .await
        .unwrap();
    let sts = w.sts(&bob);
    let role = arn("role/prod-admin");
    // Without MFA the trust policy's condition fails.
    assert_error(
        sts.assume_role()
            .role_arn(&role)
            .role_session_name("bob-s")
            .send()
            .await,
        "AccessDenied",
        &format!(
            "User: {} is not authorized to perform: sts:AssumeRole on resource: {role} because no role trust policy allows the sts:AssumeRole action",
            arn("user/bob")
        ),
    );
    // Half of the MFA parameters.
    assert_error(
        sts.assume_role()
            .role_arn(&role)
            .role_session_name("bob-s")
            .serial_number(&serial)
            .send()
            .await,
        "AccessDenied",
        "MultiFactorAuthentication failed, must provide both MFA serial number and one time pass code.",
    );
    // A wrong code.
    let wrong = if app.code(1) == "123456" {
        "654321"
    } else {
        "123456"
    };
    assert_error(
        sts.assume_role()
            .role_arn(&role)
            .role_session_name("bob-s")
            .serial_number(&serial)
            .token_code(wrong)
            .send()
            .await,
        "AccessDenied",
        "MultiFactorAuthentication failed with invalid MFA one time pass code.",
    );
    // Someone else's device.
    let (_, other_serial, other_app) = user_with_mfa(&w, "carol").await;
    assert_error(
        sts.assume_role()
            .role_arn(&role)
            .role_session_name("bob-s")
            .serial_number(&other_serial)
            .token_code(other_app.code(1))
            .send()
            .await,
        "AccessDenied",
        "MultiFactorAuthentication failed, unable to validate MFA code.  Please verify your MFA serial number is valid and associated with this user.",
    );
    // The next code works once; the session says MFA was used.
    let code = app.code(1);
    let out = sts
        .assume_role()
        .role_arn(&role)
        .role_session_name("bob-s")
        .serial_number(&serial)
        .token_code(&code)
        .send()
        .await
        .unwrap();
    let c = out.credentials().unwrap();
    let session = Creds::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token()),
    );
    let me = w.sts(&session).get_caller_identity().send().await.unwrap();
    assert_eq!(
        me.arn(),
        Some(
            arn("x")
                .replace(":iam:", ":sts:")
                .replace(":x", ":assumed-role/prod-admin/bob-s")
                .as_str()
        )
    );
    // Replayed: refused.
    assert_error(
        sts.assume_role()
            .role_arn(&role)
            .role_session_name("bob-s2")
            .serial_number(&serial)
            .token_code(&code)
            .send()
            .await,
        "AccessDenied",
        "MultiFactorAuthentication failed with invalid MFA one time pass code.",
    );
}

/// AWS's "manage your own MFA, nothing else without MFA" policy
/// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_examples_iam_mfa-selfmanage.html),
/// reduced to the part under test.
fn deny_without_mfa() -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "AllowReadUsers", "Effect": "Allow", "Action": ["iam:ListUsers", "sts:AssumeRole"], "Resource": "*"},
            {"Sid": "DenyAllExceptListedIfNoMFA", "Effect": "Deny",
             "NotAction": ["iam:CreateVirtualMFADevice", "iam:EnableMFADevice", "iam:GetUser",
                           "iam:ListMFADevices", "iam:ListVirtualMFADevices", "iam:ResyncMFADevice",
                           "sts:GetSessionToken"],
             "Resource": "*",
             "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}}
        ]
    })
    .to_string()
}

#[tokio::test]
async fn session_token_with_mfa_unlocks_what_mfa_guards() {
    let w = Ward::start();
    let (dana, serial, app) = user_with_mfa(&w, "dana").await;
    w.put_user_policy("dana", "mfa", &deny_without_mfa()).await;
    w.root_iam()
        .create_role()
        .role_name("ops")
        .assume_role_policy_document(mfa_trust())
        .send()
        .await
        .unwrap();
    // Long-term keys carry no MFA: denied by the BoolIfExists deny.
    assert_error(
        w.iam(&dana).list_users().send().await,
        "AccessDenied",
        &format!(
            "User: {} is not authorized to perform: iam:ListUsers on resource: {} with an explicit deny in an identity-based policy",
            arn("user/dana"),
            arn("user/")
        ),
    );
    // A session without MFA may not call IAM at all (as in AWS).
    let plain = w.sts(&dana).get_session_token().send().await.unwrap();
    let pc = plain.credentials().unwrap();
    let plain = Creds::new(
        pc.access_key_id(),
        pc.secret_access_key(),
        Some(pc.session_token()),
    );
    assert_error(
        w.iam(&plain).list_users().send().await,
        "InvalidClientTokenId",
        "The security token included in the request is invalid",
    );
    // With MFA: IAM works and the deny no longer applies.
    let out = w
        .sts(&dana)
        .get_session_token()
        .serial_number(&serial)
        .token_code(app.code(1))
        .send()
        .await
        .unwrap();
    let c = out.credentials().unwrap();
    let mfa = Creds::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token()),
    );
    let users = w.iam(&mfa).list_users().send().await.unwrap();
    assert!(users.users().iter().any(|u| u.user_name() == "dana"));
    // The MFA of the session carries into a role that requires it.
    let r = w
        .sts(&mfa)
        .assume_role()
        .role_arn(arn("role/ops"))
        .role_session_name("dana")
        .send()
        .await
        .unwrap();
    assert!(r.credentials().is_some());
}
