#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! End-to-end with the real `aws` CLI (from pip; `./test.sh` installs it
//! into `.venv/` and sets `WARD_AWS_CLI`): a profile configured with
//! `aws configure set` against `ward serve`, then users, policies,
//! attachments, enforcement and `AssumeRole` as a user would run them; and
//! a `kill -9` of the server that must lose no acknowledged write.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

fn aws_cli() -> PathBuf {
    if let Ok(p) = std::env::var("WARD_AWS_CLI") {
        return PathBuf::from(p);
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/aws");
    if venv.exists() {
        return venv;
    }
    if Command::new("aws")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        return PathBuf::from("aws");
    }
    panic!("the aws CLI is needed: run ./test.sh, which installs it into .venv/");
}

/// Start `ward ARGS` (a `serve`) with `envs` and without `WARD_MASTER_KEY`;
/// the child (stderr piped when `stderr` is set) and the endpoint its first
/// line names.
fn spawn_ward(args: &[&str], envs: &[(&str, &str)], stderr: bool) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ward"))
        .args(args)
        .env_remove("WARD_MASTER_KEY")
        .envs(envs.iter().copied())
        .stdout(Stdio::piped())
        .stderr(if stderr {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let endpoint = first.rsplit(' ').next().unwrap().to_string();
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{first}");
    // Keep draining stdout in the background.
    std::thread::spawn(move || for _ in lines {});
    (child, endpoint)
}

struct Server {
    child: Child,
    endpoint: String,
    dir: PathBuf,
}

impl Server {
    fn start(dir: &Path, listen: &str) -> Server {
        Server::start_with(dir, listen, &[])
    }

    fn start_with(dir: &Path, listen: &str, extra: &[&str]) -> Server {
        std::fs::create_dir_all(dir).unwrap();
        let data = dir.join("data");
        let mut args = vec![
            "serve",
            "--listen",
            listen,
            "--data-dir",
            data.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let (child, endpoint) = spawn_ward(&args, &[], false);
        Server {
            child,
            endpoint,
            dir: dir.to_path_buf(),
        }
    }

    fn kill9(&mut self) {
        self.child.kill().unwrap(); // SIGKILL on unix
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run `aws ARGS` with a profile; `Ok(json)` or `Err(stderr)`.
fn aws(s: &Server, profile: &str, args: &[&str]) -> Result<Value, String> {
    let out = Command::new(aws_cli())
        .args(args)
        .args(["--output", "json", "--profile", profile])
        .env("AWS_ENDPOINT_URL", &s.endpoint)
        .env("AWS_CONFIG_FILE", s.dir.join("aws-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", s.dir.join("aws-credentials"))
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .output()
        .unwrap();
    if out.status.success() {
        let text = String::from_utf8(out.stdout).unwrap();
        Ok(if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        })
    } else {
        Err(String::from_utf8(out.stderr).unwrap())
    }
}

/// `aws configure set` a profile's keys (and token).
fn configure(s: &Server, profile: &str, id: &str, secret: &str, token: Option<&str>) {
    let mut sets = vec![("aws_access_key_id", id), ("aws_secret_access_key", secret)];
    if let Some(t) = token {
        sets.push(("aws_session_token", t));
    }
    for (k, v) in sets {
        let st = Command::new(aws_cli())
            .args(["configure", "set", k, v, "--profile", profile])
            .env("AWS_CONFIG_FILE", s.dir.join("aws-config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", s.dir.join("aws-credentials"))
            .status()
            .unwrap();
        assert!(st.success());
    }
}

/// The root key from the file `ward serve` wrote on first start.
fn root_key(s: &Server) -> (String, String) {
    let text = std::fs::read_to_string(s.dir.join("data/root-credentials")).unwrap();
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k} = ")))
            .unwrap()
            .to_string()
    };
    (get("aws_access_key_id"), get("aws_secret_access_key"))
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ward-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn aws_cli_scenario() {
    let dir = tmp("scenario");
    let s = Server::start(&dir, "127.0.0.1:0");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("data/root-credentials"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "root credentials must be owner-only");
        let mode = std::fs::metadata(dir.join("data/master.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the master key must be owner-only");
    }
    let (id, secret) = root_key(&s);
    configure(&s, "admin", &id, &secret, None);

    let me = aws(&s, "admin", &["sts", "get-caller-identity"]).unwrap();
    assert_eq!(me["Arn"], "arn:aws:iam::123456789012:root");
    assert_eq!(me["Account"], "123456789012");

    // A user, a policy, an attachment, a listing.
    let u = aws(
        &s,
        "admin",
        &[
            "iam",
            "create-user",
            "--user-name",
            "alice",
            "--path",
            "/dev/",
            "--tags",
            "Key=team,Value=data",
        ],
    )
    .unwrap();
    assert_eq!(u["User"]["Arn"], "arn:aws:iam::123456789012:user/dev/alice");
    let err = aws(&s, "admin", &["iam", "create-user", "--user-name", "ALICE"]).unwrap_err();
    assert!(
        err.contains("(EntityAlreadyExists)")
            && err.contains("User with name ALICE already exists."),
        "{err}"
    );
    let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:GetUser","iam:ListUsers","sts:AssumeRole"],"Resource":"*"}]}"#;
    let p = aws(
        &s,
        "admin",
        &[
            "iam",
            "create-policy",
            "--policy-name",
            "reader",
            "--policy-document",
            doc,
        ],
    )
    .unwrap();
    let parn = p["Policy"]["Arn"].as_str().unwrap().to_string();
    aws(
        &s,
        "admin",
        &[
            "iam",
            "attach-user-policy",
            "--user-name",
            "alice",
            "--policy-arn",
            &parn,
        ],
    )
    .unwrap();
    let att = aws(
        &s,
        "admin",
        &["iam", "list-attached-user-policies", "--user-name", "alice"],
    )
    .unwrap();
    assert_eq!(att["AttachedPolicies"][0]["PolicyArn"], parn.as_str());
    let users = aws(&s, "admin", &["iam", "list-users"]).unwrap();
    assert_eq!(users["Users"].as_array().unwrap().len(), 1);
    let v = aws(
        &s,
        "admin",
        &[
            "iam",
            "get-policy-version",
            "--policy-arn",
            &parn,
            "--version-id",
            "v1",
        ],
    )
    .unwrap();
    assert_eq!(
        v["PolicyVersion"]["Document"],
        serde_json::from_str::<Value>(doc).unwrap()
    );
    let bad = aws(&s, "admin", &["iam", "create-policy", "--policy-name", "bad", "--policy-document", r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"bucket"}]}"#]).unwrap_err();
    assert!(
        bad.contains("(MalformedPolicyDocument)")
            && bad.contains("Resource bucket must be in ARN format or \"*\"."),
        "{bad}"
    );

    // Alice's own key: she may read, not write.
    let k = aws(
        &s,
        "admin",
        &["iam", "create-access-key", "--user-name", "alice"],
    )
    .unwrap();
    configure(
        &s,
        "alice",
        k["AccessKey"]["AccessKeyId"].as_str().unwrap(),
        k["AccessKey"]["SecretAccessKey"].as_str().unwrap(),
        None,
    );
    assert_eq!(
        aws(&s, "alice", &["sts", "get-caller-identity"]).unwrap()["Arn"],
        "arn:aws:iam::123456789012:user/dev/alice"
    );
    assert_eq!(
        aws(&s, "alice", &["iam", "get-user", "--user-name", "alice"]).unwrap()["User"]["UserName"],
        "alice"
    );
    let denied = aws(
        &s,
        "alice",
        &["iam", "create-user", "--user-name", "mallory"],
    )
    .unwrap_err();
    assert!(denied.contains("(AccessDenied)"), "{denied}");
    assert!(denied.contains("User: arn:aws:iam::123456789012:user/dev/alice is not authorized to perform: iam:CreateUser on resource: arn:aws:iam::123456789012:user/mallory because no identity-based policy allows the iam:CreateUser action"), "{denied}");

    // A role that trusts the account; alice assumes it with a session policy.
    role_trusting_the_account(&s, "prod-readonly");
    aws(&s, "admin", &["iam", "put-role-policy", "--role-name", "prod-readonly", "--policy-name", "read", "--policy-document", r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:GetUser","iam:ListUsers"],"Resource":"*"}]}"#]).unwrap();
    let session = aws(&s, "alice", &["sts", "assume-role", "--role-arn", "arn:aws:iam::123456789012:role/prod-readonly", "--role-session-name", "alice", "--policy", r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:GetUser","Resource":"*"}]}"#]).unwrap();
    assert_eq!(
        session["AssumedRoleUser"]["Arn"],
        "arn:aws:sts::123456789012:assumed-role/prod-readonly/alice"
    );
    let c = &session["Credentials"];
    assert!(c["AccessKeyId"].as_str().unwrap().starts_with("ASIA"));
    configure(
        &s,
        "prod",
        c["AccessKeyId"].as_str().unwrap(),
        c["SecretAccessKey"].as_str().unwrap(),
        c["SessionToken"].as_str(),
    );
    assert_eq!(
        aws(&s, "prod", &["sts", "get-caller-identity"]).unwrap()["Arn"],
        "arn:aws:sts::123456789012:assumed-role/prod-readonly/alice"
    );
    aws(&s, "prod", &["iam", "get-user", "--user-name", "alice"]).unwrap();
    let narrowed = aws(&s, "prod", &["iam", "list-users"]).unwrap_err();
    assert!(
        narrowed.contains("because no session policy allows the iam:ListUsers action"),
        "{narrowed}"
    );

    // Tags, account alias and summary, policy entities, boundaries, instance profiles.
    aws(
        &s,
        "admin",
        &[
            "iam",
            "tag-user",
            "--user-name",
            "alice",
            "--tags",
            "Key=env,Value=dev",
        ],
    )
    .unwrap();
    let t = aws(
        &s,
        "admin",
        &["iam", "list-user-tags", "--user-name", "alice"],
    )
    .unwrap();
    assert_eq!(t["Tags"].as_array().unwrap().len(), 2);
    aws(
        &s,
        "admin",
        &[
            "iam",
            "untag-user",
            "--user-name",
            "alice",
            "--tag-keys",
            "env",
        ],
    )
    .unwrap();
    assert_eq!(
        aws(
            &s,
            "admin",
            &["iam", "list-user-tags", "--user-name", "alice"]
        )
        .unwrap()["Tags"][0]["Key"],
        "team"
    );
    aws(
        &s,
        "admin",
        &["iam", "create-account-alias", "--account-alias", "acme-dev"],
    )
    .unwrap();
    assert_eq!(
        aws(&s, "admin", &["iam", "list-account-aliases"]).unwrap()["AccountAliases"][0],
        "acme-dev"
    );
    let sum = aws(&s, "admin", &["iam", "get-account-summary"]).unwrap();
    assert_eq!(sum["SummaryMap"]["Users"], 1);
    assert_eq!(sum["SummaryMap"]["Roles"], 1);
    let ents = aws(
        &s,
        "admin",
        &["iam", "list-entities-for-policy", "--policy-arn", &parn],
    )
    .unwrap();
    assert_eq!(ents["PolicyUsers"][0]["UserName"], "alice");
    aws(
        &s,
        "admin",
        &[
            "iam",
            "put-user-permissions-boundary",
            "--user-name",
            "alice",
            "--permissions-boundary",
            &parn,
        ],
    )
    .unwrap();
    assert_eq!(
        aws(&s, "admin", &["iam", "get-user", "--user-name", "alice"]).unwrap()["User"]
            ["PermissionsBoundary"]["PermissionsBoundaryArn"],
        parn.as_str()
    );
    aws(
        &s,
        "admin",
        &[
            "iam",
            "create-instance-profile",
            "--instance-profile-name",
            "runner",
        ],
    )
    .unwrap();
    aws(
        &s,
        "admin",
        &[
            "iam",
            "add-role-to-instance-profile",
            "--instance-profile-name",
            "runner",
            "--role-name",
            "prod-readonly",
        ],
    )
    .unwrap();
    let ip = aws(
        &s,
        "admin",
        &[
            "iam",
            "get-instance-profile",
            "--instance-profile-name",
            "runner",
        ],
    )
    .unwrap();
    assert_eq!(
        ip["InstanceProfile"]["Roles"][0]["RoleName"],
        "prod-readonly"
    );
    let e = aws(
        &s,
        "admin",
        &["iam", "delete-role", "--role-name", "prod-readonly"],
    )
    .unwrap_err();
    assert!(e.contains("(DeleteConflict)"), "{e}");

    // The whole account in one call.
    let d = aws(&s, "admin", &["iam", "get-account-authorization-details"]).unwrap();
    assert_eq!(d["UserDetailList"][0]["UserName"], "alice");
    assert_eq!(
        d["UserDetailList"][0]["AttachedManagedPolicies"][0]["PolicyArn"],
        parn.as_str()
    );
    assert_eq!(d["RoleDetailList"][0]["RoleName"], "prod-readonly");
    assert_eq!(
        d["RoleDetailList"][0]["RolePolicyList"][0]["PolicyName"],
        "read"
    );
    assert_eq!(
        d["RoleDetailList"][0]["InstanceProfileList"][0]["InstanceProfileName"],
        "runner"
    );
    assert_eq!(
        d["Policies"][0]["PolicyVersionList"][0]["Document"],
        serde_json::from_str::<Value>(doc).unwrap()
    );
    let only_roles = aws(
        &s,
        "admin",
        &[
            "iam",
            "get-account-authorization-details",
            "--filter",
            "Role",
        ],
    )
    .unwrap();
    assert!(only_roles["UserDetailList"]
        .as_array()
        .is_none_or(|u| u.is_empty()));

    // Rename a user: its key keeps working under the new name.
    aws(&s, "admin", &["iam", "create-user", "--user-name", "temp"]).unwrap();
    let tk = aws(
        &s,
        "admin",
        &["iam", "create-access-key", "--user-name", "temp"],
    )
    .unwrap();
    aws(
        &s,
        "admin",
        &[
            "iam",
            "update-user",
            "--user-name",
            "temp",
            "--new-user-name",
            "renamed",
            "--new-path",
            "/ops/",
        ],
    )
    .unwrap();
    configure(
        &s,
        "renamed",
        tk["AccessKey"]["AccessKeyId"].as_str().unwrap(),
        tk["AccessKey"]["SecretAccessKey"].as_str().unwrap(),
        None,
    );
    assert_eq!(
        aws(&s, "renamed", &["sts", "get-caller-identity"]).unwrap()["Arn"],
        "arn:aws:iam::123456789012:user/ops/renamed"
    );

    aws(&s, "admin", &["iam", "create-group", "--group-name", "g1"]).unwrap();
    aws(
        &s,
        "admin",
        &[
            "iam",
            "add-user-to-group",
            "--group-name",
            "g1",
            "--user-name",
            "renamed",
        ],
    )
    .unwrap();
    aws(
        &s,
        "admin",
        &[
            "iam",
            "update-group",
            "--group-name",
            "g1",
            "--new-group-name",
            "g2",
        ],
    )
    .unwrap();
    let g = aws(&s, "admin", &["iam", "get-group", "--group-name", "g2"]).unwrap();
    assert_eq!(g["Users"][0]["UserName"], "renamed");

    // Bad signatures and unknown keys.
    configure(&s, "forged", &id, "not-the-secret", None);
    let e = aws(&s, "forged", &["sts", "get-caller-identity"]).unwrap_err();
    assert!(e.contains("(SignatureDoesNotMatch)"), "{e}");
    configure(&s, "unknown", "AKIAXXXXXXXXXXXXXXXX", "whatever", None);
    let e = aws(&s, "unknown", &["sts", "get-caller-identity"]).unwrap_err();
    assert!(e.contains("(InvalidClientTokenId)"), "{e}");
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn acknowledged_writes_survive_kill_9() {
    let dir = tmp("kill9");
    let mut s = Server::start(&dir, "127.0.0.1:0");
    let (id, secret) = root_key(&s);
    configure(&s, "admin", &id, &secret, None);
    let mut acked = Vec::new();
    for n in 0..12 {
        let name = format!("user{n:02}");
        aws(&s, "admin", &["iam", "create-user", "--user-name", &name]).unwrap();
        acked.push(name);
    }
    s.kill9();
    // Restart on the same data directory.
    let s2 = Server::start(&dir, "127.0.0.1:0");
    let users = aws(&s2, "admin", &["iam", "list-users"]).unwrap();
    let names: Vec<&str> = users["Users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["UserName"].as_str().unwrap())
        .collect();
    for a in &acked {
        assert!(
            names.contains(&a.as_str()),
            "{a} was acknowledged but is gone after kill -9"
        );
    }
    drop(s2);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A bare HTTP POST: status, response head, body.
fn post_raw(endpoint: &str, path: &str, body: &str) -> (u16, String, String) {
    use std::io::{Read, Write};
    let addr = endpoint.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out.split_whitespace().nth(1).unwrap().parse().unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    (status, head.to_string(), body.to_string())
}

/// A bare HTTP POST (for the emulator's control endpoints): status and body.
fn post(endpoint: &str, path: &str, body: &str) -> (u16, String) {
    let (status, _, body) = post_raw(endpoint, path, body);
    (status, body)
}

#[test]
fn emulator_mode_like_moto_server() {
    let dir = tmp("emulator");
    std::fs::create_dir_all(&dir).unwrap();
    let (child, endpoint) = spawn_ward(
        &["serve", "--emulator", "--listen", "127.0.0.1:0"],
        &[],
        false,
    );
    let s = Server {
        child,
        endpoint,
        dir: dir.clone(),
    };
    configure(&s, "test", "test", "test", None);
    configure(&s, "acct", "111111111111", "test", None);
    // Authentication off: any key is the default account's root; a 12-digit key picks the account.
    assert_eq!(
        aws(&s, "test", &["sts", "get-caller-identity"]).unwrap()["Arn"],
        "arn:aws:iam::123456789012:root"
    );
    assert_eq!(
        aws(&s, "acct", &["sts", "get-caller-identity"]).unwrap()["Account"],
        "111111111111"
    );
    aws(&s, "test", &["iam", "create-user", "--user-name", "bob"]).unwrap();
    let k = aws(
        &s,
        "test",
        &["iam", "create-access-key", "--user-name", "bob"],
    )
    .unwrap();
    configure(
        &s,
        "bob",
        k["AccessKey"]["AccessKeyId"].as_str().unwrap(),
        k["AccessKey"]["SecretAccessKey"].as_str().unwrap(),
        None,
    );
    // One more free call, then every call is verified and authorized.
    let (status, body) = post(&s.endpoint, "/moto-api/reset-auth", "1");
    assert_eq!(status, 200);
    assert_eq!(
        body,
        r#"{"status": "ok", "PREVIOUS_INITIAL_NO_AUTH_ACTION_COUNT": "inf"}"#
    );
    aws(&s, "test", &["iam", "list-users"]).unwrap();
    let e = aws(&s, "test", &["iam", "list-users"]).unwrap_err();
    assert!(e.contains("(InvalidClientTokenId)"), "{e}");
    assert_eq!(
        aws(&s, "bob", &["sts", "get-caller-identity"]).unwrap()["Arn"],
        "arn:aws:iam::123456789012:user/bob"
    );
    let e = aws(&s, "bob", &["iam", "create-user", "--user-name", "eve"]).unwrap_err();
    assert!(e.contains("(AccessDenied)"), "{e}");
    // Reset wipes every record: bob's key is gone.
    assert_eq!(post(&s.endpoint, "/moto-api/reset", "").0, 200);
    let e = aws(&s, "bob", &["sts", "get-caller-identity"]).unwrap_err();
    assert!(e.contains("(InvalidClientTokenId)"), "{e}");
    let (_, body) = post(&s.endpoint, "/moto-api/reset-auth", "5");
    assert_eq!(
        body,
        r#"{"status": "ok", "PREVIOUS_INITIAL_NO_AUTH_ACTION_COUNT": "0"}"#
    );
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--log-format json` with `WARD_LOG=info`: one JSON object a request on
/// stderr, carrying the request id the response's `x-amzn-RequestId` has.
#[test]
fn json_logs_carry_the_request_id() {
    let (mut child, endpoint) = spawn_ward(
        &[
            "serve",
            "--emulator",
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
        ],
        &[("WARD_LOG", "info")],
        true,
    );
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    let (_, head, _) = post_raw(
        &endpoint,
        "/",
        "Action=GetCallerIdentity&Version=2011-06-15",
    );
    let rid = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("x-amzn-requestid")
                .then(|| v.trim().to_string())
        })
        .expect("x-amzn-RequestId header");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let line = loop {
        let l = rx
            .recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
            .expect("a log line for the request");
        if l.contains(&rid) {
            break l;
        }
    };
    let v: Value = serde_json::from_str(&line).expect("a JSON log line");
    assert_eq!(v["request_id"], rid.as_str(), "{line}");
    assert_eq!(v["action"], "GetCallerIdentity", "{line}");
    assert_eq!(v["status"], 200, "{line}");
    assert_eq!(v["level"], "INFO", "{line}");
    assert!(v["latency_us"].as_u64().is_some(), "{line}");
    // The same calls counted in Prometheus's text format, by action and
    // outcome, with their latency.
    post_raw(
        &endpoint,
        "/",
        "Action=GetCallerIdentity&Version=2011-06-15",
    );
    post_raw(&endpoint, "/", "Action=NoSuchAction&Version=2010-05-08");
    let metrics = {
        use std::io::{Read, Write};
        let addr = endpoint.trim_start_matches("http://");
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(
            s,
            "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    };
    let value = |series: &str| -> Option<f64> {
        metrics.lines().find_map(|l| {
            let (name, v) = l.rsplit_once(' ')?;
            (name == series).then(|| v.parse().ok())?
        })
    };
    assert_eq!(
        value(r#"ward_requests_total{action="GetCallerIdentity",outcome="ok"}"#),
        Some(2.0),
        "{metrics}"
    );
    assert_eq!(
        value(r#"ward_requests_total{action="(unknown)",outcome="error"}"#),
        Some(1.0),
        "an action the model lacks is not a label of its own: {metrics}"
    );
    assert!(!metrics.contains("NoSuchAction"), "{metrics}");
    assert_eq!(
        value(r#"ward_requests_total{action="GetCallerIdentity",outcome="error"}"#),
        None,
        "no series for an outcome that never happened: {metrics}"
    );
    assert_eq!(
        value(r#"ward_request_seconds_count{action="GetCallerIdentity"}"#),
        Some(2.0),
        "{metrics}"
    );
    let _ = child.kill();
    let _ = child.wait();
}

fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Wait while a TOTP step boundary is less than 3 seconds away, so codes
/// computed by separate processes belong to the steps the test means.
fn away_from_step_edge() {
    let secs = unix_secs();
    if secs % 30 >= 27 {
        std::thread::sleep(std::time::Duration::from_secs(31 - secs % 30));
    }
}

/// The TOTP code `ward mfa code` computes from a seed file.
fn mfa_code(seed_file: &Path, step: i64) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_ward"))
        .args(["mfa", "code", "--seed-file"])
        .arg(seed_file)
        .args(["--step", &step.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A virtual MFA device set up and used through the aws CLI: the seed file
/// `--bootstrap-method Base32StringSeed` writes, enable with two codes, a
/// role whose trust policy requires MFA assumed with a code, once.
#[test]
fn aws_cli_mfa() {
    let dir = tmp("mfa");
    let s = Server::start(&dir, "127.0.0.1:0");
    let (id, secret) = root_key(&s);
    configure(&s, "admin", &id, &secret, None);
    aws(&s, "admin", &["iam", "create-user", "--user-name", "erin"]).unwrap();
    let k = aws(
        &s,
        "admin",
        &["iam", "create-access-key", "--user-name", "erin"],
    )
    .unwrap();
    configure(
        &s,
        "erin",
        k["AccessKey"]["AccessKeyId"].as_str().unwrap(),
        k["AccessKey"]["SecretAccessKey"].as_str().unwrap(),
        None,
    );
    let seed = dir.join("erin.seed");
    let qr = dir.join("erin.png");
    let dev = aws(
        &s,
        "admin",
        &[
            "iam",
            "create-virtual-mfa-device",
            "--virtual-mfa-device-name",
            "erin",
            "--outfile",
            seed.to_str().unwrap(),
            "--bootstrap-method",
            "Base32StringSeed",
        ],
    )
    .unwrap();
    let serial = dev["VirtualMFADevice"]["SerialNumber"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(serial, "arn:aws:iam::123456789012:mfa/erin");
    assert_eq!(std::fs::read_to_string(&seed).unwrap().trim().len(), 64);
    aws(
        &s,
        "admin",
        &[
            "iam",
            "create-virtual-mfa-device",
            "--virtual-mfa-device-name",
            "erin-qr",
            "--outfile",
            qr.to_str().unwrap(),
            "--bootstrap-method",
            "QRCodePNG",
        ],
    )
    .unwrap();
    assert!(std::fs::read(&qr).unwrap().starts_with(b"\x89PNG"));
    away_from_step_edge();
    aws(
        &s,
        "admin",
        &[
            "iam",
            "enable-mfa-device",
            "--user-name",
            "erin",
            "--serial-number",
            &serial,
            "--authentication-code1",
            &mfa_code(&seed, -1),
            "--authentication-code2",
            &mfa_code(&seed, 0),
        ],
    )
    .unwrap();
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}}]}"#;
    aws(
        &s,
        "admin",
        &[
            "iam",
            "create-role",
            "--role-name",
            "prod-deploy",
            "--assume-role-policy-document",
            trust,
        ],
    )
    .unwrap();
    aws(&s, "admin", &["iam", "put-user-policy", "--user-name", "erin", "--policy-name", "assume", "--policy-document", r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}"#]).unwrap();
    let role = "arn:aws:iam::123456789012:role/prod-deploy";
    let e = aws(
        &s,
        "erin",
        &[
            "sts",
            "assume-role",
            "--role-arn",
            role,
            "--role-session-name",
            "erin",
        ],
    )
    .unwrap_err();
    assert!(
        e.contains("(AccessDenied)") && e.contains("because no role trust policy allows"),
        "{e}"
    );
    away_from_step_edge();
    let code = mfa_code(&seed, 1);
    let ok = aws(
        &s,
        "erin",
        &[
            "sts",
            "assume-role",
            "--role-arn",
            role,
            "--role-session-name",
            "erin",
            "--serial-number",
            &serial,
            "--token-code",
            &code,
        ],
    )
    .unwrap();
    assert!(ok["Credentials"]["SessionToken"].is_string());
    let e = aws(
        &s,
        "erin",
        &[
            "sts",
            "assume-role",
            "--role-arn",
            role,
            "--role-session-name",
            "erin",
            "--serial-number",
            &serial,
            "--token-code",
            &code,
        ],
    )
    .unwrap_err();
    assert!(e.contains("invalid MFA one time pass code"), "{e}");
    let listed = aws(
        &s,
        "admin",
        &["iam", "list-mfa-devices", "--user-name", "erin"],
    )
    .unwrap();
    assert_eq!(listed["MFADevices"][0]["SerialNumber"], serial.as_str());

    // `ward profiles` writes erin's AWS CLI config: the role she may assume
    // (with her MFA device), none she may not.
    aws(&s, "admin", &["iam", "create-role", "--role-name", "not-for-erin", "--assume-role-policy-document", r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:user/someone-else"},"Action":"sts:AssumeRole"}]}"#]).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ward"))
        .args([
            "profiles",
            "--user",
            "erin",
            "--endpoint-url",
            &s.endpoint,
            "--data-dir",
        ])
        .arg(dir.join("data"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config = String::from_utf8(out.stdout).unwrap();
    assert!(config.contains("[profile prod-deploy]\nrole_arn = arn:aws:iam::123456789012:role/prod-deploy\nsource_profile = erin\nmfa_serial = arn:aws:iam::123456789012:mfa/erin\n"), "{config}");
    assert!(!config.contains("not-for-erin"), "{config}");
    let config_file = dir.join("erin-config");
    std::fs::write(&config_file, &config).unwrap();
    // The codes up to the next step are used up: wait for a fresh one, as a
    // person would.
    std::thread::sleep(std::time::Duration::from_secs(31 - unix_secs() % 30));
    // The aws CLI asks for the code (on stdin: no terminal) and assumes
    // the role through the profile, endpoint included.
    let mut child = Command::new("setsid")
        .arg(aws_cli())
        .args([
            "sts",
            "get-caller-identity",
            "--output",
            "json",
            "--profile",
            "prod-deploy",
        ])
        .env("AWS_CONFIG_FILE", &config_file)
        // The CLI caches assumed-role credentials under ~/.aws/cli/cache:
        // keep this run's cache to itself.
        .env("HOME", &dir)
        .env("AWS_SHARED_CREDENTIALS_FILE", s.dir.join("aws-credentials"))
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_DEFAULT_REGION")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "{}", mfa_code(&seed, 1)).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let me: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        me["Arn"],
        "arn:aws:sts::123456789012:assumed-role/prod-deploy/erin"
    );
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

/// An organization run with `aws organizations`: accounts, OUs, SCPs; an
/// SCP denies in a member account what its role's policy allows; a
/// cross-account `AssumeRole` needs both the trust policy and the caller's
/// own identity policy.
#[test]
fn aws_cli_organizations() {
    let dir = tmp("orgs");
    let s = Server::start(&dir, "127.0.0.1:0");
    let (id, secret) = root_key(&s);
    configure(&s, "admin", &id, &secret, None);
    let org = |args: &[&str]| {
        let mut v = vec!["organizations"];
        v.extend_from_slice(args);
        aws(&s, "admin", &v)
    };
    let o = org(&["create-organization", "--feature-set", "ALL"]).unwrap();
    let org_id = o["Organization"]["Id"].as_str().unwrap().to_string();
    assert!(org_id.starts_with("o-"), "{o}");
    assert_eq!(o["Organization"]["MasterAccountId"], "123456789012");
    let e = org(&["create-organization"]).unwrap_err();
    assert!(e.contains("(AlreadyInOrganizationException)"), "{e}");
    let roots = org(&["list-roots"]).unwrap();
    let root = roots["Roots"][0]["Id"].as_str().unwrap().to_string();
    org(&[
        "enable-policy-type",
        "--root-id",
        &root,
        "--policy-type",
        "SERVICE_CONTROL_POLICY",
    ])
    .unwrap();

    // A new account, created at once, with its access role.
    let st = org(&[
        "create-account",
        "--email",
        "prod@example.com",
        "--account-name",
        "prod",
    ])
    .unwrap();
    let req = st["CreateAccountStatus"]["Id"]
        .as_str()
        .unwrap()
        .to_string();
    let st = org(&[
        "describe-create-account-status",
        "--create-account-request-id",
        &req,
    ])
    .unwrap();
    assert_eq!(st["CreateAccountStatus"]["State"], "SUCCEEDED");
    let prod = st["CreateAccountStatus"]["AccountId"]
        .as_str()
        .unwrap()
        .to_string();
    let accounts = org(&["list-accounts"]).unwrap();
    assert_eq!(accounts["Accounts"].as_array().unwrap().len(), 2);
    let ou = org(&[
        "create-organizational-unit",
        "--parent-id",
        &root,
        "--name",
        "Prod",
    ])
    .unwrap();
    let ou = ou["OrganizationalUnit"]["Id"].as_str().unwrap().to_string();
    org(&[
        "move-account",
        "--account-id",
        &prod,
        "--source-parent-id",
        &root,
        "--destination-parent-id",
        &ou,
    ])
    .unwrap();
    let parents = org(&["list-parents", "--child-id", &prod]).unwrap();
    assert_eq!(parents["Parents"][0]["Id"], ou.as_str());

    // A guardrail on the Prod OU.
    let guard = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":["iam:CreateUser","organizations:LeaveOrganization"],"Resource":"*"}]}"#;
    let p = org(&[
        "create-policy",
        "--type",
        "SERVICE_CONTROL_POLICY",
        "--name",
        "guard",
        "--description",
        "no users in prod",
        "--content",
        guard,
    ])
    .unwrap();
    let pid = p["Policy"]["PolicySummary"]["Id"]
        .as_str()
        .unwrap()
        .to_string();
    org(&["attach-policy", "--policy-id", &pid, "--target-id", &ou]).unwrap();
    let on_ou = org(&[
        "list-policies-for-target",
        "--target-id",
        &ou,
        "--filter",
        "SERVICE_CONTROL_POLICY",
    ])
    .unwrap();
    let names: Vec<&str> = on_ou["Policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["Name"].as_str().unwrap())
        .collect();
    let mut names = names;
    names.sort_unstable();
    assert_eq!(names, ["FullAWSAccess", "guard"]);
    let e = org(&[
        "detach-policy",
        "--policy-id",
        "p-FullAWSAccess",
        "--target-id",
        &prod,
    ])
    .unwrap_err();
    assert!(e.contains("(ConstraintViolationException)"), "{e}");
    let e = org(&[
        "create-policy",
        "--type",
        "SERVICE_CONTROL_POLICY",
        "--name",
        "bad",
        "--description",
        "",
        "--content",
        "{\"Statement\":[]",
    ])
    .unwrap_err();
    assert!(e.contains("(MalformedPolicyDocumentException)"), "{e}");

    // A management-account user reaches prod through the access role: the
    // role's trust policy (naming the management account) and the user's
    // own identity policy must both allow. Root credentials may not.
    let role = format!("arn:aws:iam::{prod}:role/OrganizationAccountAccessRole");
    let e = aws(
        &s,
        "admin",
        &[
            "sts",
            "assume-role",
            "--role-arn",
            &role,
            "--role-session-name",
            "root",
        ],
    )
    .unwrap_err();
    assert!(
        e.contains("Roles may not be assumed by root accounts."),
        "{e}"
    );
    aws(&s, "admin", &["iam", "create-user", "--user-name", "dev"]).unwrap();
    let k = aws(
        &s,
        "admin",
        &["iam", "create-access-key", "--user-name", "dev"],
    )
    .unwrap();
    configure(
        &s,
        "dev",
        k["AccessKey"]["AccessKeyId"].as_str().unwrap(),
        k["AccessKey"]["SecretAccessKey"].as_str().unwrap(),
        None,
    );
    let e = aws(
        &s,
        "dev",
        &[
            "sts",
            "assume-role",
            "--role-arn",
            &role,
            "--role-session-name",
            "dev",
        ],
    )
    .unwrap_err();
    assert!(
        e.contains("(AccessDenied)")
            && e.contains("because no identity-based policy allows the sts:AssumeRole action"),
        "{e}"
    );
    aws(&s, "admin", &["iam", "put-user-policy", "--user-name", "dev", "--policy-name", "assume", "--policy-document", r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}"#]).unwrap();
    let c = aws(
        &s,
        "dev",
        &[
            "sts",
            "assume-role",
            "--role-arn",
            &role,
            "--role-session-name",
            "dev",
        ],
    )
    .unwrap();
    let cred = |c: &Value, k: &str| c["Credentials"][k].as_str().unwrap().to_string();
    configure(
        &s,
        "prod-admin",
        &cred(&c, "AccessKeyId"),
        &cred(&c, "SecretAccessKey"),
        Some(&cred(&c, "SessionToken")),
    );
    let me = aws(&s, "prod-admin", &["sts", "get-caller-identity"]).unwrap();
    assert_eq!(me["Account"], prod.as_str());

    // In prod the role's AdministratorAccess is cut by the OU's SCP.
    aws(&s, "prod-admin", &["iam", "list-users"]).unwrap();
    aws(
        &s,
        "prod-admin",
        &["iam", "create-group", "--group-name", "ops"],
    )
    .unwrap();
    let e = aws(
        &s,
        "prod-admin",
        &["iam", "create-user", "--user-name", "x"],
    )
    .unwrap_err();
    assert!(
        e.contains("(AccessDenied)")
            && e.contains("with an explicit deny in a service control policy"),
        "{e}"
    );
    // The member account sees the organization but cannot run it.
    let d = aws(
        &s,
        "prod-admin",
        &["organizations", "describe-organization"],
    )
    .unwrap();
    assert_eq!(d["Organization"]["Id"], org_id.as_str());
    let e = aws(&s, "prod-admin", &["organizations", "list-accounts"]).unwrap_err();
    assert!(e.contains("(AccessDeniedException)"), "{e}");

    // Once the trust policy no longer names the management account, the
    // user's own permission is not enough.
    aws(&s, "prod-admin", &["iam", "update-assume-role-policy", "--role-name", "OrganizationAccountAccessRole", "--policy-document", &format!(r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{prod}:root"}},"Action":"sts:AssumeRole"}}]}}"#)]).unwrap();
    let e = aws(
        &s,
        "dev",
        &[
            "sts",
            "assume-role",
            "--role-arn",
            &role,
            "--role-session-name",
            "dev",
        ],
    )
    .unwrap_err();
    assert!(e.contains("(AccessDenied)"), "{e}");
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A workload registered against an instance profile gets its role's
/// credentials through the aws CLI's container credentials provider, with
/// no key anywhere, and is denied outside its role; a revoked token stops.
#[test]
fn aws_cli_workload_credentials() {
    let dir = tmp("workload");
    let s = Server::start(&dir, "127.0.0.1:0");
    let (id, secret) = root_key(&s);
    configure(&s, "admin", &id, &secret, None);
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    aws(
        &s,
        "admin",
        &[
            "iam",
            "create-role",
            "--role-name",
            "builder",
            "--assume-role-policy-document",
            trust,
        ],
    )
    .unwrap();
    aws(&s, "admin", &["iam", "put-role-policy", "--role-name", "builder", "--policy-name", "read", "--policy-document", r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:ListUsers","Resource":"*"}]}"#]).unwrap();
    aws(
        &s,
        "admin",
        &[
            "iam",
            "create-instance-profile",
            "--instance-profile-name",
            "runner",
        ],
    )
    .unwrap();
    aws(
        &s,
        "admin",
        &[
            "iam",
            "add-role-to-instance-profile",
            "--instance-profile-name",
            "runner",
            "--role-name",
            "builder",
        ],
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ward"))
        .args([
            "workload",
            "register",
            "--instance-profile",
            "runner",
            "--endpoint-url",
            &s.endpoint,
            "--data-dir",
        ])
        .arg(dir.join("data"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let var = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("export {name}=")))
            .unwrap_or_else(|| panic!("{name} in {text}"))
            .to_string()
    };
    let (uri, token) = (
        var("AWS_CONTAINER_CREDENTIALS_FULL_URI"),
        var("AWS_CONTAINER_AUTHORIZATION_TOKEN"),
    );
    let wid = text.split_whitespace().nth(2).unwrap().to_string();
    let empty = dir.join("empty");
    std::fs::write(&empty, "").unwrap();
    let as_workload = |args: &[&str]| {
        let out = Command::new(aws_cli())
            .args(args)
            .args(["--output", "json"])
            .env("AWS_ENDPOINT_URL", &s.endpoint)
            .env("AWS_CONFIG_FILE", &empty)
            .env("AWS_SHARED_CREDENTIALS_FILE", &empty)
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_CONTAINER_CREDENTIALS_FULL_URI", &uri)
            .env("AWS_CONTAINER_AUTHORIZATION_TOKEN", &token)
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_SESSION_TOKEN")
            .output()
            .unwrap();
        if out.status.success() {
            Ok(serde_json::from_slice::<Value>(&out.stdout).unwrap_or(Value::Null))
        } else {
            Err(String::from_utf8(out.stderr).unwrap())
        }
    };
    let me = as_workload(&["sts", "get-caller-identity"]).unwrap();
    assert_eq!(
        me["Arn"],
        format!("arn:aws:sts::123456789012:assumed-role/builder/{wid}").as_str()
    );
    as_workload(&["iam", "list-users"]).unwrap();
    let e = as_workload(&["iam", "create-user", "--user-name", "x"]).unwrap_err();
    assert!(
        e.contains("(AccessDenied)") && e.contains("assumed-role/builder"),
        "{e}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_ward"))
        .args(["workload", "revoke", "--id", &wid, "--data-dir"])
        .arg(dir.join("data"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let e = as_workload(&["sts", "get-caller-identity"]).unwrap_err();
    assert!(
        e.contains("The workload token is not valid, or was revoked."),
        "{e}"
    );
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `ward apply` of the example pipeline: a plan that changes nothing, an
/// apply with progress, a second apply that changes nothing, a bad file
/// refused with its line; the aws CLI sees what was built.
#[test]
fn ward_apply_the_pipeline() {
    let dir = tmp("apply");
    let s = Server::start(&dir, "127.0.0.1:0");
    let (id, secret) = root_key(&s);
    configure(&s, "admin", &id, &secret, None);
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/pipeline.toml");
    let apply = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_ward"))
            .arg("apply")
            .args(args)
            .env("AWS_ENDPOINT_URL", &s.endpoint)
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                dir.join("data/root-credentials"),
            )
            .env("AWS_PROFILE", "ward")
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    let (ok, plan, err) = apply(&[example, "--plan"]);
    assert!(ok, "{err}");
    assert!(plan.contains("+ account prod <prod@example.com>"), "{plan}");
    assert!(plan.contains("nothing applied (--plan)"), "{plan}");
    let users = aws(&s, "admin", &["iam", "list-users"]).unwrap();
    assert_eq!(
        users["Users"].as_array().unwrap().len(),
        0,
        "a plan changes nothing"
    );
    let (ok, out, err) = apply(&[example]);
    assert!(ok, "{err}");
    let n = plan
        .lines()
        .filter(|l| l.starts_with(['+', '~', '-']))
        .count();
    assert!(out.contains(&format!("[1/{n}] + organization")), "{out}");
    assert!(out.contains(&format!("applied {n} change(s)")), "{out}");
    let (ok, out, _) = apply(&[example]);
    assert!(ok && out.contains("nothing to change"), "{out}");
    // What was built, as the aws CLI sees it.
    let g = aws(&s, "admin", &["iam", "get-group", "--group-name", "test"]).unwrap();
    assert_eq!(g["Users"][0]["UserName"], "bob");
    let accounts = aws(&s, "admin", &["organizations", "list-accounts"]).unwrap();
    assert_eq!(accounts["Accounts"].as_array().unwrap().len(), 4);
    // A bad file: the line, and nothing applied.
    let bad = dir.join("bad.toml");
    let text = std::fs::read_to_string(example)
        .unwrap()
        .replace("groups = [\"test\"]", "groups = [\"tester\"]")
        .replace(
            "[users.carol]",
            "[users.dave]\ngroups = [\"dev\"]\n\n[users.carol]",
        );
    std::fs::write(&bad, &text).unwrap();
    let line = text.lines().position(|l| l.contains("\"tester\"")).unwrap() + 1;
    let (ok, _, err) = apply(&[bad.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        err.contains(&format!("line {line}: no group `tester` in [groups]")),
        "{err}"
    );
    assert!(aws(&s, "admin", &["iam", "get-user", "--user-name", "dave"]).is_err());
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A role (made by the `admin` profile) whose trust policy lets the
/// account's principals assume it.
fn role_trusting_the_account(s: &Server, name: &str) {
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}]}"#;
    aws(
        s,
        "admin",
        &[
            "iam",
            "create-role",
            "--role-name",
            name,
            "--assume-role-policy-document",
            trust,
        ],
    )
    .unwrap();
}

/// `Mar 24, 2014 9:11:59 PM`: CloudTrail's time in `responseElements`
/// (`sts`: with a comma after the year, `Aug 2, 2024, 8:45:00 AM`).
fn cloudtrail_time_shape(t: &str, sts: bool) -> bool {
    let parts: Vec<&str> = t.split(' ').collect();
    let [month, day, year, time, ampm] = parts[..] else {
        return false;
    };
    let year = if sts {
        year.strip_suffix(',').unwrap_or("")
    } else {
        year
    };
    let hms: Vec<&str> = time.split(':').collect();
    month.len() == 3
        && day.ends_with(',')
        && day.trim_end_matches(',').parse::<u32>().is_ok()
        && year.len() == 4
        && year.parse::<u32>().is_ok()
        && hms.len() == 3
        && hms.iter().all(|x| x.parse::<u32>().is_ok())
        && (ampm == "AM" || ampm == "PM")
}

/// Every call is in the audit trail, found with `aws cloudtrail
/// lookup-events` by each lookup attribute; a denied call is recorded with
/// its error code.
#[test]
fn aws_cli_lookup_events() {
    let dir = tmp("trail");
    let s = Server::start(&dir, "127.0.0.1:0");
    let (id, secret) = root_key(&s);
    configure(&s, "admin", &id, &secret, None);
    aws(
        &s,
        "admin",
        &[
            "iam",
            "create-user",
            "--user-name",
            "audited",
            "--path",
            "/team/",
        ],
    )
    .unwrap();
    aws(&s, "admin", &["iam", "list-users"]).unwrap();
    let k = aws(
        &s,
        "admin",
        &["iam", "create-access-key", "--user-name", "audited"],
    )
    .unwrap();
    let key = k["AccessKey"]["AccessKeyId"].as_str().unwrap().to_string();
    configure(
        &s,
        "audited",
        &key,
        k["AccessKey"]["SecretAccessKey"].as_str().unwrap(),
        None,
    );
    let e = aws(&s, "audited", &["iam", "create-user", "--user-name", "x"]).unwrap_err();
    assert!(e.contains("(AccessDenied)"), "{e}");
    let lookup = |k: &str, v: &str| -> Vec<Value> {
        let out = aws(
            &s,
            "admin",
            &[
                "cloudtrail",
                "lookup-events",
                "--lookup-attributes",
                &format!("AttributeKey={k},AttributeValue={v}"),
            ],
        )
        .unwrap();
        out["Events"].as_array().unwrap().clone()
    };
    let trail = |e: &Value| -> Value {
        serde_json::from_str(e["CloudTrailEvent"].as_str().unwrap()).unwrap()
    };
    // By event name: the create and the refused create, newest first.
    let creates = lookup("EventName", "CreateUser");
    assert_eq!(creates.len(), 2, "{creates:?}");
    let denied = trail(&creates[0]);
    assert_eq!(denied["errorCode"], "AccessDenied");
    assert_eq!(denied["userIdentity"]["type"], "IAMUser");
    assert_eq!(denied["userIdentity"]["userName"], "audited");
    assert_eq!(denied["requestParameters"]["userName"], "x");
    let made = trail(&creates[1]);
    assert_eq!(made["userIdentity"]["type"], "Root");
    assert_eq!(made["eventSource"], "iam.amazonaws.com");
    assert_eq!(made["recipientAccountId"], "123456789012");
    assert!(made.get("errorCode").is_none());
    // What the call answered, as CloudTrail records it; nothing for a refusal.
    assert_eq!(made["responseElements"]["user"]["userName"], "audited");
    assert!(made["responseElements"]["user"]["arn"]
        .as_str()
        .unwrap()
        .ends_with(":user/team/audited"));
    // `resources`: ARNs with their owner, as CloudTrail lists them; the
    // lookup shows the name the request gave.
    let arn = "arn:aws:iam::123456789012:user/team/audited";
    let listed = json!([{"ARN": arn, "accountId": "123456789012", "type": "AWS::IAM::User"}]);
    assert_eq!(made["resources"], listed);
    assert_eq!(
        creates[1]["Resources"],
        json!([{"ResourceType": "AWS::IAM::User", "ResourceName": "audited"}])
    );
    let date = made["responseElements"]["user"]["createDate"]
        .as_str()
        .unwrap();
    assert!(
        cloudtrail_time_shape(date, false),
        "CloudTrail's date format, not {date}"
    );
    assert!(denied["responseElements"].is_null());
    // A new access key's record has its id but never its secret.
    let made_key = lookup("EventName", "CreateAccessKey");
    assert_eq!(made_key.len(), 1);
    let text = made_key[0]["CloudTrailEvent"].as_str().unwrap();
    assert!(!text.contains(k["AccessKey"]["SecretAccessKey"].as_str().unwrap()));
    let rk = trail(&made_key[0]);
    assert_eq!(
        rk["responseElements"]["accessKey"]["accessKeyId"],
        key.as_str()
    );
    assert_eq!(rk["responseElements"]["accessKey"]["status"], "Active");
    // Named by its name only, the user is listed on its stored path.
    assert_eq!(rk["resources"], listed);
    assert!(rk["responseElements"]["accessKey"]
        .get("secretAccessKey")
        .is_none());
    // Reads record no answer.
    let list = lookup("EventName", "ListUsers");
    assert!(trail(&list[0])["responseElements"].is_null());
    // By each other attribute.
    assert_eq!(lookup("Username", "audited").len(), 1);
    assert_eq!(lookup("AccessKeyId", &key).len(), 1);
    let ro = lookup("ReadOnly", "true");
    assert!(ro.iter().any(|e| e["EventName"] == "ListUsers"), "{ro:?}");
    assert!(ro.iter().all(|e| e["ReadOnly"] == "true"));
    assert!(lookup("ResourceName", "audited").len() >= 2);
    assert!(lookup("ResourceType", "AWS::IAM::User").len() >= 3);
    assert!(lookup("EventSource", "iam.amazonaws.com").len() >= 4);
    let id = creates[1]["EventId"].as_str().unwrap();
    let one = lookup("EventId", id);
    assert_eq!(one.len(), 1);
    assert_eq!(one[0]["EventName"], "CreateUser");
    // Pages.
    let page = aws(
        &s,
        "admin",
        &["cloudtrail", "lookup-events", "--max-items", "2"],
    )
    .unwrap();
    assert_eq!(page["Events"].as_array().unwrap().len(), 2);
    assert!(page["NextToken"].is_string(), "{page}");
    // An AssumeRole record carries the credentials issued, as CloudTrail's
    // do: key id, session token and expiration, never the secret key.
    role_trusting_the_account(&s, "ops");
    aws(
        &s,
        "admin",
        &[
            "iam", "put-user-policy", "--user-name", "audited", "--policy-name", "assume",
            "--policy-document",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}"#,
        ],
    )
    .unwrap();
    let creds = aws(
        &s,
        "audited",
        &[
            "sts",
            "assume-role",
            "--role-arn",
            "arn:aws:iam::123456789012:role/ops",
            "--role-session-name",
            "night-shift",
        ],
    )
    .unwrap();
    let secret = creds["Credentials"]["SecretAccessKey"].as_str().unwrap();
    let assumed = lookup("EventName", "AssumeRole");
    assert_eq!(assumed.len(), 1);
    let text = assumed[0]["CloudTrailEvent"].as_str().unwrap();
    assert!(!text.contains(secret), "the secret key is never recorded");
    let r = trail(&assumed[0]);
    // Issuing credentials changes nothing: CloudTrail files it as a read.
    assert_eq!(r["readOnly"], true);
    assert_eq!(assumed[0]["ReadOnly"], "true");
    let c = &r["responseElements"]["credentials"];
    assert_eq!(c["accessKeyId"], creds["Credentials"]["AccessKeyId"]);
    assert_eq!(c["sessionToken"], creds["Credentials"]["SessionToken"]);
    assert!(c.get("secretAccessKey").is_none());
    // STS writes its times with a comma after the year.
    let exp = c["expiration"].as_str().unwrap();
    assert!(cloudtrail_time_shape(exp, true), "{exp}");
    assert_eq!(
        r["responseElements"]["assumedRoleUser"]["arn"],
        "arn:aws:sts::123456789012:assumed-role/ops/night-shift"
    );
    // The user's key with a wrong secret: refused, and recorded in the key
    // owner's trail, where a lookup by the key finds it.
    configure(
        &s,
        "forged",
        &key,
        "not-the-secret-not-the-secret-0000000000",
        None,
    );
    let e = aws(&s, "forged", &["iam", "get-user"]).unwrap_err();
    assert!(e.contains("(SignatureDoesNotMatch)"), "{e}");
    let forged = lookup("AccessKeyId", &key)
        .iter()
        .map(trail)
        .find(|r| r["errorCode"] == "SignatureDoesNotMatch")
        .expect("the refused request's record, found by its key");
    assert_eq!(forged["eventName"], "GetUser");
    assert_eq!(forged["userIdentity"]["type"], "Unknown");
    assert_eq!(forged["userIdentity"]["accessKeyId"], key.as_str());
    assert_eq!(forged["recipientAccountId"], "123456789012");
    // A key no account has: in the trail of the account Ward first
    // started with (its operator's), found by the key too.
    let unknown = "AKIAUNKNOWNKEY000000";
    configure(
        &s,
        "nobody",
        unknown,
        "not-the-secret-not-the-secret-0000000000",
        None,
    );
    let e = aws(&s, "nobody", &["iam", "get-user"]).unwrap_err();
    assert!(e.contains("(InvalidClientTokenId)"), "{e}");
    let stray = lookup("AccessKeyId", unknown);
    assert_eq!(stray.len(), 1, "{stray:?}");
    assert_eq!(trail(&stray[0])["errorCode"], "InvalidClientTokenId");
    // Nobody was authenticated: the event names no user.
    assert!(stray[0].get("Username").is_none(), "{:?}", stray[0]);
    assert_eq!(lookup("EventName", "ListUsers")[0]["Username"], "root");
    // Bad input is refused with CloudTrail's errors, not answered.
    let lookup_with = |args: &[&str]| {
        let mut v = vec!["cloudtrail", "lookup-events"];
        v.extend_from_slice(args);
        aws(&s, "admin", &v)
    };
    let e = lookup_with(&["--max-results", "51"]).unwrap_err();
    assert!(e.contains("(InvalidMaxResultsException)"), "{e}");
    let e = lookup_with(&[
        "--start-time",
        "2026-12-08T00:00:00Z",
        "--end-time",
        "2026-12-01T00:00:00Z",
    ])
    .unwrap_err();
    assert!(e.contains("(InvalidTimeRangeException)"), "{e}");
    let e = lookup_with(&["--event-category", "management"]).unwrap_err();
    assert!(e.contains("(InvalidEventCategoryException)"), "{e}");
    // Insights events only: Ward makes none.
    let insights = lookup_with(&["--event-category", "insight"]).unwrap();
    assert_eq!(insights["Events"], json!([]), "{insights}");
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A stopped server's directory whose trail holds `users` CreateUser
/// records and one ListUsers record, made through the aws CLI with the
/// `admin` profile (the root user).
fn trail_of_users(name: &str, users: usize) -> PathBuf {
    let dir = tmp(name);
    let mut s = Server::start(&dir, "127.0.0.1:0");
    let (id, secret) = root_key(&s);
    configure(&s, "admin", &id, &secret, None);
    for n in 0..users {
        aws(
            &s,
            "admin",
            &["iam", "create-user", "--user-name", &format!("u{n}")],
        )
        .unwrap();
    }
    aws(&s, "admin", &["iam", "list-users"]).unwrap();
    // Read-only calls' records are stored by the appender within 50 ms.
    std::thread::sleep(std::time::Duration::from_millis(300));
    s.kill9();
    dir
}

/// `ward audit verify` passes on an untouched trail and reports each of an
/// edit, a deletion, a reordering and an insertion made directly to the store.
#[test]
fn ward_audit_verify_reports_tampering() {
    use ward_core::store::Store;
    let dir = trail_of_users("verify", 4);
    let verify = || {
        let out = Command::new(env!("CARGO_BIN_EXE_ward"))
            .args(["audit", "verify", "--data-dir"])
            .arg(dir.join("data"))
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8(out.stdout).unwrap())
    };
    let (code, out) = verify();
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("audit trail intact: 5 records"), "{out}");
    use ward_core::audit::raw;
    let store = ward_store::SqliteStore::open(&dir.join("data/ward.db")).unwrap();
    let get = |seq: u64| store.read(|tx| raw::get(tx, seq)).unwrap().unwrap();
    // Edit record 2.
    let mut edited = get(2);
    edited.event = edited.event.replace("u1", "ux");
    store.write(|tx| raw::put(tx, 2, &edited)).unwrap();
    let (code, out) = verify();
    assert_eq!(code, Some(1));
    assert!(
        out.contains("record 2: its content does not match its hash (edited)"),
        "{out}"
    );
    // Delete record 4.
    store.write(|tx| raw::delete(tx, 4)).unwrap();
    let (_, out) = verify();
    assert!(out.contains("records 4..4 are missing (deleted)"), "{out}");
    // Reorder: swap records 1 and 3.
    let (r1, r3) = (get(1), get(3));
    store
        .write(|tx| {
            raw::put(tx, 1, &r3)?;
            raw::put(tx, 3, &r1)
        })
        .unwrap();
    let (_, out) = verify();
    assert!(
        out.contains("stored under the key of another position"),
        "{out}"
    );
    // Insert a record after the last one.
    let mut fake = get(5);
    fake.seq = 6;
    store.write(|tx| raw::insert(tx, &fake)).unwrap();
    let (_, out) = verify();
    assert!(
        out.contains("record 6: does not follow the record before it"),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `ward audit` over a data directory: (exit code, stdout).
fn ward_audit(args: &[&str], dir: &Path) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ward"))
        .arg("audit")
        .args(args)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap() + &String::from_utf8(out.stderr).unwrap(),
    )
}

/// Signed digests: `ward audit verify` checks them with a public key kept
/// outside the data directory, and sees a trail rewritten with a valid hash
/// chain, a forged digest and a deleted one; `ward audit export` writes
/// files CloudTrail tooling reads.
#[test]
fn ward_audit_digests_and_export() {
    use std::io::Read as _;
    use ward_core::audit::{chain_hash, raw};
    use ward_core::store::Store;
    let dir = trail_of_users("digests", 3);
    // Sealed now (the server seals every hour by default); then one record
    // more, not sealed yet.
    let (code, out) = ward_audit(&["seal"], &dir);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("digest 1 seals records 1..=4"), "{out}");
    let mut s = Server::start(&dir, "127.0.0.1:0");
    aws(&s, "admin", &["iam", "get-user", "--user-name", "u0"]).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    s.kill9();

    let (code, pem) = ward_audit(&["public-key"], &dir);
    assert_eq!(code, Some(0), "{pem}");
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"), "{pem}");
    let kept = dir.join("kept-public-key.pem");
    std::fs::write(&kept, &pem).unwrap();
    let verify = || ward_audit(&["verify", "--public-key", kept.to_str().unwrap()], &dir);
    let (code, out) = verify();
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("audit trail intact: 5 records"), "{out}");
    assert!(out.contains("digest(s) verified with key"), "{out}");
    assert!(
        out.contains("records 1..=4 sealed; the 1 newest not yet"),
        "{out}"
    );

    // Export: CloudTrail's folders and names; gzip JSON with every record.
    let export = dir.join("export");
    let (code, out) = ward_audit(&["export", "--out", export.to_str().unwrap()], &dir);
    assert_eq!(code, Some(0), "{out}");
    let mut records = Vec::new();
    let mut stack = vec![export.join("AWSLogs")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let rel = p
                .strip_prefix(&export)
                .unwrap()
                .to_str()
                .unwrap()
                .to_string();
            let parts: Vec<&str> = rel.split('/').collect();
            assert_eq!(parts.len(), 8, "{rel}");
            assert_eq!(
                &parts[..4],
                ["AWSLogs", "123456789012", "CloudTrail", "us-east-1"],
                "{rel}"
            );
            let name = parts[7];
            let prefix = format!(
                "123456789012_CloudTrail_us-east-1_{}{}{}T",
                parts[4], parts[5], parts[6]
            );
            assert!(name.starts_with(&prefix), "{rel}");
            let rest = &name[prefix.len()..];
            // HHmmZ_ + 16 characters + .json.gz
            assert_eq!(rest.len(), 4 + 2 + 16 + 8, "{rel}");
            assert!(rest.ends_with(".json.gz") && &rest[4..6] == "Z_", "{rel}");
            let mut text = String::new();
            flate2::read::GzDecoder::new(std::fs::File::open(&p).unwrap())
                .read_to_string(&mut text)
                .unwrap();
            let v: Value = serde_json::from_str(&text).unwrap();
            records.extend(v["Records"].as_array().unwrap().iter().cloned());
        }
    }
    assert_eq!(records.len(), 5, "{records:?}");
    let created: Vec<&str> = records
        .iter()
        .filter(|r| r["eventName"] == "CreateUser")
        .map(|r| r["requestParameters"]["userName"].as_str().unwrap())
        .collect();
    assert_eq!(created.len(), 3);
    for r in &records {
        assert_eq!(r["eventVersion"], "1.11");
        assert_eq!(r["eventSource"], "iam.amazonaws.com");
        assert_eq!(r["userIdentity"]["type"], "Root");
    }

    // Rewrite record 2 and every hash after it: the chain verifies, the
    // digest does not.
    let store = ward_store::SqliteStore::open(&dir.join("data/ward.db")).unwrap();
    let get = |seq: u64| store.read(|tx| raw::get(tx, seq)).unwrap().unwrap();
    let mut prev = get(1).hash;
    for seq in 2..=5 {
        let mut r = get(seq);
        if seq == 2 {
            r.event = r.event.replace("u1", "ux");
        }
        r.prev = prev.clone();
        r.hash = chain_hash(&r.prev, r.seq, &r.event);
        prev = r.hash.clone();
        store.write(|tx| raw::put(tx, seq, &r)).unwrap();
    }
    let head = serde_json::to_vec(&serde_json::json!({"seq": 5, "hash": prev})).unwrap();
    store
        .write(|tx| tx.put("trail_head", "head", &head))
        .unwrap();
    let (code, out) = verify();
    assert_eq!(code, Some(1), "{out}");
    assert!(
        !out.contains("record 2:"),
        "the chain itself was made whole: {out}"
    );
    assert!(
        out.contains("digest 1: record 4 no longer has the hash it was sealed with"),
        "{out}"
    );

    // Forge the digest to match: its signature breaks.
    let mut d: Value = serde_json::from_slice(
        &store
            .read(|tx| tx.get("audit_digest", &format!("{:020}", 1)))
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    d["end_hash"] = json!(get(4).hash);
    let bytes = serde_json::to_vec(&d).unwrap();
    store
        .write(|tx| tx.put("audit_digest", &format!("{:020}", 1), &bytes))
        .unwrap();
    let (code, out) = verify();
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("digest 1: its signature does not verify"),
        "{out}"
    );

    // Delete it: the digest head no longer matches.
    store
        .write(|tx| tx.delete("audit_digest", &format!("{:020}", 1)).map(|_| ()))
        .unwrap();
    let (_, out) = verify();
    assert!(out.contains("every digest is missing (deleted)"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Retention: records past `--audit-retention-days` are removed once
/// sealed, and the trail still verifies from where it now starts.
#[test]
fn ward_audit_retention_removes_sealed_old_records() {
    let dir = tmp("retention");
    let mut s = Server::start_with(&dir, "127.0.0.1:0", &["--audit-digest-interval", "1"]);
    let (id, secret) = root_key(&s);
    configure(&s, "admin", &id, &secret, None);
    for n in 0..3 {
        aws(
            &s,
            "admin",
            &["iam", "create-user", "--user-name", &format!("u{n}")],
        )
        .unwrap();
    }
    std::thread::sleep(std::time::Duration::from_millis(1600));
    s.kill9();
    let (code, out) = ward_audit(&["verify"], &dir);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("intact: 3 records"), "{out}");
    // Ten days on, with five days' retention: all three go.
    let mut s = Server::start_with(
        &dir,
        "127.0.0.1:0",
        &[
            "--audit-digest-interval",
            "1",
            "--audit-retention-days",
            "5",
            "--clock-offset",
            "864000",
        ],
    );
    std::thread::sleep(std::time::Duration::from_millis(1600));
    s.kill9();
    let (code, out) = ward_audit(&["verify"], &dir);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("intact: 0 records"), "{out}");
    assert!(
        out.contains("records before 4 removed by retention"),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `ward review` as a reviewer runs it: a user allowed five named actions who
/// used two through the aws CLI is shown the three unused and a policy of the
/// two (and of GetUser, which a wildcard allowed: used, but not one of the
/// five named ones it is counted against).
#[test]
fn ward_review_of_a_user() {
    let dir = tmp("review");
    let s = Server::start(&dir, "127.0.0.1:0");
    let (id, secret) = root_key(&s);
    configure(&s, "admin", &id, &secret, None);
    aws(&s, "admin", &["iam", "create-user", "--user-name", "dev"]).unwrap();
    let doc = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": [
        "iam:ListUsers", "iam:ListRoles", "iam:ListGroups", "iam:ListPolicies", "iam:GetAccountSummary",
    ], "Resource": "*"}, {"Effect": "Allow", "Action": "iam:GetUser*", "Resource": "*"}]})
    .to_string();
    aws(
        &s,
        "admin",
        &[
            "iam",
            "put-user-policy",
            "--user-name",
            "dev",
            "--policy-name",
            "read",
            "--policy-document",
            &doc,
        ],
    )
    .unwrap();
    let key = aws(
        &s,
        "admin",
        &["iam", "create-access-key", "--user-name", "dev"],
    )
    .unwrap();
    let k = &key["AccessKey"];
    configure(
        &s,
        "dev",
        k["AccessKeyId"].as_str().unwrap(),
        k["SecretAccessKey"].as_str().unwrap(),
        None,
    );
    aws(&s, "dev", &["iam", "list-users"]).unwrap();
    aws(&s, "dev", &["iam", "list-roles"]).unwrap();
    aws(&s, "dev", &["iam", "get-user"]).unwrap();
    // The trail's appender stores read-only calls' records within 50 ms.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let out = Command::new(env!("CARGO_BIN_EXE_ward"))
        .args([
            "review",
            "--principal",
            "arn:aws:iam::123456789012:user/dev",
            "--days",
            "7",
        ])
        .env("AWS_ENDPOINT_URL", &s.endpoint)
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            dir.join("data/root-credentials"),
        )
        .env("AWS_PROFILE", "ward")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{text}{err}");
    assert!(text.contains("review of 1 principal(s)"), "{text}");
    assert!(
        text.contains("arn:aws:iam::123456789012:user/dev (USER): 2 of 5 named action(s) used"),
        "{text}"
    );
    for unused in [
        "iam:ListGroups",
        "iam:ListPolicies",
        "iam:GetAccountSummary",
    ] {
        assert!(
            text.contains(&format!("UnusedPermission: action {unused} not used")),
            "{text}"
        );
    }
    assert!(!text.contains("action iam:ListUsers not used"), "{text}");
    // The diff takes the unused three away and keeps the two.
    assert!(text.contains("-        \"iam:ListGroups\","), "{text}");
    assert!(text.contains("\"iam:ListRoles\""), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}
