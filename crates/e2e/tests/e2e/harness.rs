//! The shared harness: the real `ward` binary as a child process on a free
//! loopback port with a fresh data directory, and SDK clients pointed at it.

use aws_sdk_iam::config::http::HttpResponse;
use aws_sdk_iam::config::{BehaviorVersion, Credentials, Region, SharedHttpClient};
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_iam::operation::RequestId;
use std::fmt::Debug;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

/// The account every test server is created with.
pub const ACCOUNT: &str = "111122223333";

/// How long a server may take to print its address.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The workspace root (`crates/e2e/../..`).
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The newest modification time of the files that make up the `ward`
/// binary: the workspace manifest and lock file, and every other crate's
/// manifest, build script and sources.
fn newest_source(root: &Path) -> SystemTime {
    fn walk(p: &Path, newest: &mut SystemTime) {
        let Ok(meta) = std::fs::metadata(p) else {
            return;
        };
        if meta.is_dir() {
            if let Ok(rd) = std::fs::read_dir(p) {
                for e in rd.flatten() {
                    walk(&e.path(), newest);
                }
            }
        } else if let Ok(m) = meta.modified() {
            *newest = (*newest).max(m);
        }
    }
    let mut newest = SystemTime::UNIX_EPOCH;
    walk(&root.join("Cargo.toml"), &mut newest);
    walk(&root.join("Cargo.lock"), &mut newest);
    if let Ok(rd) = std::fs::read_dir(root.join("crates")) {
        for c in rd.flatten() {
            if c.file_name() == "e2e" {
                continue;
            }
            for part in ["Cargo.toml", "build.rs", "src"] {
                walk(&c.path().join(part), &mut newest);
            }
        }
    }
    newest
}

/// The `ward` binary of this build (`target/PROFILE/ward`, beside the
/// directory holding this test executable), built once with
/// `cargo build -p ward --bin ward` when it is missing or older than the
/// sources. `CARGO_BIN_EXE_ward` only exists inside the binary's own package.
pub fn ward_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().expect("the test executable's path");
        // target/PROFILE/deps/e2e-HASH
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("the test executable lives in target/PROFILE/deps")
            .to_path_buf();
        let bin = profile_dir.join(format!("ward{}", std::env::consts::EXE_SUFFIX));
        let root = workspace_root();
        let fresh = std::fs::metadata(&bin)
            .and_then(|m| m.modified())
            .is_ok_and(|built| built >= newest_source(&root));
        if !fresh {
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let mut cmd = Command::new(cargo);
            cmd.current_dir(&root)
                .args(["build", "--quiet", "-p", "ward", "--bin", "ward"]);
            if let Some(target_dir) = profile_dir.parent() {
                cmd.env("CARGO_TARGET_DIR", target_dir);
            }
            match profile_dir.file_name().and_then(|n| n.to_str()) {
                Some("debug") | None => {}
                Some(profile) => {
                    cmd.args(["--profile", profile]);
                }
            }
            let status = cmd.status().expect("cannot run cargo to build `ward`");
            assert!(status.success(), "`cargo build -p ward --bin ward` failed");
        }
        assert!(bin.exists(), "no `ward` binary at {}", bin.display());
        bin
    })
}

/// A key pair, with a session token for temporary credentials.
#[derive(Debug, Clone)]
pub struct Creds {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl Creds {
    pub fn new(id: &str, secret: &str, token: Option<&str>) -> Creds {
        Creds {
            access_key_id: id.into(),
            secret_access_key: secret.into(),
            session_token: token.map(Into::into),
        }
    }

    fn sdk(&self) -> Credentials {
        Credentials::new(
            &self.access_key_id,
            &self.secret_access_key,
            self.session_token.clone(),
            None,
            "ward-e2e",
        )
    }
}

/// Read `aws_access_key_id` and `aws_secret_access_key` of profile `[ward]`.
fn read_root_credentials(path: &Path) -> Creds {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut section = "";
    let (mut id, mut secret) = (None, None);
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = s.trim();
            continue;
        }
        if section != "ward" {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            match k.trim() {
                "aws_access_key_id" => id = Some(v.trim().to_string()),
                "aws_secret_access_key" => secret = Some(v.trim().to_string()),
                _ => {}
            }
        }
    }
    Creds {
        access_key_id: id.expect("aws_access_key_id in [ward]"),
        secret_access_key: secret.expect("aws_secret_access_key in [ward]"),
        session_token: None,
    }
}

/// Start `ward serve` on the data directory under `dir` (appending to its
/// log there); the child and its endpoint.
fn spawn(dir: &Path, extra: &[&str]) -> (Child, String) {
    let bin = ward_binary();
    let data = dir.join("data");
    let log_path = dir.join("ward.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .expect("the server's log file");
    let mut cmd = Command::new(bin);
    cmd.arg("serve")
        .args(["--listen", "127.0.0.1:0", "--account-id", ACCOUNT])
        .args(["--region", "us-east-1", "--data-dir"])
        .arg(&data)
        .args(extra);
    // No setting from the environment (`WARD_EMULATOR`, `WARD_MASTER_KEY`,
    // ...) may change the server under test.
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("WARD_") {
            cmd.env_remove(k);
        }
    }
    let mut child = cmd
        .env("WARD_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let stdout = child.stdout.take().expect("the server's stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        const PREFIX: &str = "Ward is serving IAM and STS at ";
        // Read every line, so that the server never writes to a closed pipe.
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(url) = line.strip_prefix(PREFIX) {
                let _ = tx.send(url.trim().to_string());
            }
        }
    });
    let endpoint = match rx.recv_timeout(START_TIMEOUT) {
        Ok(url) => url,
        Err(e) => {
            let _ = child.kill();
            let status = child.wait();
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            panic!("`ward serve` printed no address ({e}; exit: {status:?}); its log:\n{log}");
        }
    };
    assert!(
        endpoint.starts_with("http://127.0.0.1:"),
        "unexpected endpoint {endpoint}"
    );
    (child, endpoint)
}

/// A running `ward serve`, killed (by PID) when dropped.
#[derive(Debug)]
pub struct Ward {
    child: Child,
    pub endpoint: String,
    pub root: Creds,
    http: SharedHttpClient,
    // Dropped last: the data directory and the server's log.
    dir: tempfile::TempDir,
}

impl Ward {
    /// Start a server with a fresh data directory on `127.0.0.1:0`.
    pub fn start() -> Ward {
        let dir = tempfile::Builder::new()
            .prefix("ward-e2e-")
            .tempdir()
            .expect("a temporary directory");
        let (child, endpoint) = spawn(dir.path(), &[]);
        let root = read_root_credentials(&dir.path().join("data/root-credentials"));
        // Plain HTTP (no TLS) with the SDK's own hyper-based client.
        let http = aws_smithy_http_client::Builder::new().build_http();
        Ward {
            child,
            endpoint,
            root,
            http,
            dir,
        }
    }

    /// Stop the server (SIGKILL) and start it again on the same data
    /// directory with `extra` arguments; the endpoint may change.
    pub fn restart(&mut self, extra: &[&str]) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let (child, endpoint) = spawn(self.dir.path(), extra);
        self.child = child;
        self.endpoint = endpoint;
    }

    /// The server's log (its stderr) so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("ward.log")).unwrap_or_default()
    }

    /// An IAM client with `creds`.
    pub fn iam(&self, creds: &Creds) -> aws_sdk_iam::Client {
        let conf = aws_sdk_iam::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(&self.endpoint)
            .credentials_provider(creds.sdk())
            .http_client(self.http.clone())
            .build();
        aws_sdk_iam::Client::from_conf(conf)
    }

    /// An STS client with `creds`.
    pub fn sts(&self, creds: &Creds) -> aws_sdk_sts::Client {
        let conf = aws_sdk_sts::Config::builder()
            .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
            .region(aws_sdk_sts::config::Region::new("us-east-1"))
            .endpoint_url(&self.endpoint)
            .credentials_provider(creds.sdk())
            .http_client(self.http.clone())
            .build();
        aws_sdk_sts::Client::from_conf(conf)
    }

    /// IAM as the account's root user.
    pub fn root_iam(&self) -> aws_sdk_iam::Client {
        self.iam(&self.root)
    }

    /// STS as the account's root user.
    pub fn root_sts(&self) -> aws_sdk_sts::Client {
        self.sts(&self.root)
    }

    /// Create user `name` (as root) with one access key; its credentials.
    pub async fn user_with_key(&self, name: &str) -> Creds {
        let iam = self.root_iam();
        iam.create_user().user_name(name).send().await.unwrap();
        let k = iam
            .create_access_key()
            .user_name(name)
            .send()
            .await
            .unwrap()
            .access_key
            .expect("AccessKey");
        Creds::new(&k.access_key_id, &k.secret_access_key, None)
    }

    /// Give user `name` (as root) an inline policy `policy` with `doc`.
    pub async fn put_user_policy(&self, name: &str, policy: &str, doc: &str) {
        self.root_iam()
            .put_user_policy()
            .user_name(name)
            .policy_name(policy)
            .policy_document(doc)
            .send()
            .await
            .unwrap();
    }
}

impl Drop for Ward {
    fn drop(&mut self) {
        // `Child::kill` signals this child's PID (SIGKILL), nothing else.
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = self.log();
            if !log.is_empty() {
                eprintln!("--- log of `ward serve` at {} ---\n{log}", self.endpoint);
            }
        }
    }
}

/// An IAM ARN of the test account: `arn("user/bob")`.
pub fn arn(resource: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:{resource}")
}

/// An Allow statement's policy document.
pub fn allow(actions: &[&str], resource: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": actions, "Resource": resource}]
    })
    .to_string()
}

/// A Deny statement's policy document.
pub fn deny(actions: &[&str], resource: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Action": actions, "Resource": resource}]
    })
    .to_string()
}

/// A trust policy that lets principals of the test account assume a role
/// (who may still needs an identity policy allowing `sts:AssumeRole`).
pub fn trust_account() -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")},
            "Action": "sts:AssumeRole"
        }]
    })
    .to_string()
}

/// The HTTP status AWS answers an error code with.
fn aws_status(code: &str) -> Option<u16> {
    Some(match code {
        "ValidationError" | "MalformedPolicyDocument" | "InvalidInput" => 400,
        "AccessDenied"
        | "InvalidClientTokenId"
        | "SignatureDoesNotMatch"
        | "ExpiredToken"
        | "InvalidAuthenticationCode" => 403,
        "RequestEntityTooLarge" => 413,
        "ReportNotPresent" | "ReportExpired" => 410,
        "NoSuchEntity" => 404,
        "EntityAlreadyExists" | "LimitExceeded" | "DeleteConflict" => 409,
        _ => return None,
    })
}

/// The error code and message of a failed call, from the error response the
/// server sent; checks its HTTP status and request id on the way. Panics when
/// the call succeeded or never got a response.
#[track_caller]
pub fn error_of<T: Debug, E: ProvideErrorMetadata + Debug>(
    r: Result<T, SdkError<E, HttpResponse>>,
) -> (String, String) {
    let e = match r {
        Ok(v) => panic!("expected an error, the call succeeded: {v:?}"),
        Err(e) => e,
    };
    let (Some(code), Some(message)) = (e.code(), e.message()) else {
        panic!("the error carries no AWS code and message: {e:?}");
    };
    let status = e.raw_response().map(|r| r.status().as_u16());
    if let Some(want) = aws_status(code) {
        assert_eq!(status, Some(want), "HTTP status of {code}: {message}");
    }
    assert!(
        e.request_id().is_some_and(|id| !id.is_empty()),
        "no request id with {code}: {e:?}"
    );
    (code.to_string(), message.to_string())
}

/// Assert a call failed with `code` and exactly `message`.
#[track_caller]
pub fn assert_error<T: Debug, E: ProvideErrorMetadata + Debug>(
    r: Result<T, SdkError<E, HttpResponse>>,
    code: &str,
    message: &str,
) {
    let (c, m) = error_of(r);
    assert_eq!((c.as_str(), m.as_str()), (code, message));
}

/// Decode `%XX` escapes (policy documents come URL-encoded in IAM's XML).
pub fn url_decode(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match (b[i], b.get(i + 1).copied(), b.get(i + 2).copied()) {
            (b'%', Some(h), Some(l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push(hex(h).unwrap() * 16 + hex(l).unwrap());
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).expect("a URL-decoded document is UTF-8")
}

/// Parse a (URL-encoded) policy document as the SDK returns it.
pub fn policy_json(encoded: &str) -> serde_json::Value {
    let decoded = url_decode(encoded);
    serde_json::from_str(&decoded).unwrap_or_else(|e| panic!("not JSON ({e}): {decoded}"))
}

/// Parse a JSON document.
pub fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).expect("JSON")
}
