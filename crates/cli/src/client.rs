//! A small client of Ward's own JSON APIs (`WardAdmin.*`): credentials as the
//! AWS CLI finds them, SigV4 signing, one HTTP/1.1 request over plain TCP
//! (Ward serves plain HTTP on loopback; put TLS in front for more).

use anyhow::{anyhow, bail, Context as _, Result};
use serde_json::Value;
use std::io::{Read, Write};
use std::path::PathBuf;
use ward_sigv4::SecretKey;

/// Credentials and where to send requests.
pub struct Client {
    pub endpoint: String,
    pub region: String,
    access_key_id: String,
    secret: String,
    token: Option<String>,
}

/// A key of an INI section (`[name]` or `[profile name]`).
fn ini_get(text: &str, section: &str, key: &str) -> Option<String> {
    let mut inside = false;
    for line in text.lines() {
        let l = line.trim();
        if l.starts_with('[') && l.ends_with(']') {
            let name = l.trim_matches(|c| c == '[' || c == ']').trim();
            let name = name.strip_prefix("profile ").unwrap_or(name).trim();
            inside = name == section;
            continue;
        }
        if inside {
            if let Some((k, v)) = l.split_once('=') {
                if k.trim() == key {
                    return Some(v.trim().to_string());
                }
            }
        }
    }
    None
}

impl Client {
    /// Credentials from `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`
    /// (`AWS_SESSION_TOKEN`), else from the shared credentials file's
    /// profile (`AWS_SHARED_CREDENTIALS_FILE`, `AWS_PROFILE`), as the AWS CLI.
    pub fn from_env(endpoint: Option<&str>, profile: Option<&str>) -> Result<Client> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let endpoint = endpoint
            .map(str::to_string)
            .or_else(|| env("AWS_ENDPOINT_URL"))
            .unwrap_or_else(|| "http://127.0.0.1:8700".into());
        let region = env("AWS_REGION")
            .or_else(|| env("AWS_DEFAULT_REGION"))
            .unwrap_or_else(|| "us-east-1".into());
        if let (Some(id), Some(secret), None) = (
            env("AWS_ACCESS_KEY_ID"),
            env("AWS_SECRET_ACCESS_KEY"),
            profile,
        ) {
            return Ok(Client {
                endpoint,
                region,
                access_key_id: id,
                secret,
                token: env("AWS_SESSION_TOKEN"),
            });
        }
        let profile = profile
            .map(str::to_string)
            .or_else(|| env("AWS_PROFILE"))
            .unwrap_or_else(|| "default".into());
        let file = env("AWS_SHARED_CREDENTIALS_FILE")
            .map(PathBuf::from)
            .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".aws/credentials")))
            .ok_or_else(|| anyhow!("no credentials: set AWS_ACCESS_KEY_ID or a profile"))?;
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("cannot read credentials file `{}`", file.display()))?;
        let get = |k: &str| ini_get(&text, &profile, k);
        let (Some(id), Some(secret)) = (get("aws_access_key_id"), get("aws_secret_access_key"))
        else {
            bail!(
                "profile `{profile}` in `{}` has no access key",
                file.display()
            );
        };
        Ok(Client {
            endpoint,
            region,
            access_key_id: id,
            secret,
            token: get("aws_session_token"),
        })
    }

    /// Call `target` (JSON 1.1) with `input`: the HTTP status and the answer.
    pub fn call(&self, target: &str, input: &Value) -> Result<(u16, Value)> {
        let hostport = self
            .endpoint
            .strip_prefix("http://")
            .ok_or_else(|| anyhow!("`{}`: only http:// endpoints are supported", self.endpoint))?
            .trim_end_matches('/')
            .to_string();
        let body = input.to_string();
        let now = ward_core::model::now();
        let mut headers = vec![
            ("host".to_string(), hostport.clone()),
            (
                "content-type".to_string(),
                "application/x-amz-json-1.1".to_string(),
            ),
            ("x-amz-date".to_string(), ward_sigv4::format_amz_date(now)),
            ("x-amz-target".to_string(), target.to_string()),
        ];
        sign_post(
            &mut headers,
            &body,
            &self.access_key_id,
            &self.secret,
            self.token.as_deref(),
            &self.region,
            "ward",
        )?;
        let mut s = std::net::TcpStream::connect(&hostport)
            .with_context(|| format!("cannot reach Ward at {}", self.endpoint))?;
        let mut text = String::from("POST / HTTP/1.1\r\n");
        for (k, v) in &headers {
            text.push_str(&format!("{k}: {v}\r\n"));
        }
        text.push_str(&format!(
            "content-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        ));
        s.write_all(text.as_bytes())?;
        let mut out = Vec::new();
        s.read_to_end(&mut out)?;
        let out = String::from_utf8_lossy(&out);
        let status: u16 = out
            .split_whitespace()
            .nth(1)
            .and_then(|x| x.parse().ok())
            .ok_or_else(|| anyhow!("not an HTTP answer from {}", self.endpoint))?;
        let (_, body) = out.split_once("\r\n\r\n").unwrap_or(("", ""));
        let v: Value = serde_json::from_str(body)
            .with_context(|| format!("not a JSON answer (HTTP {status}): {body}"))?;
        Ok((status, v))
    }
}

/// Sign a `POST /` of `body` (Ward's own clients: this one, the load
/// generator): `headers` must hold `host` and `x-amz-date`; the session
/// token, if any, and then `authorization` are added. Every header is
/// signed; `content-length` is left to the sender.
pub(crate) fn sign_post(
    headers: &mut Vec<(String, String)>,
    body: &str,
    access_key_id: &str,
    secret: &str,
    token: Option<&str>,
    region: &str,
    service: &str,
) -> Result<()> {
    if let Some(t) = token {
        headers.push(("x-amz-security-token".to_string(), t.to_string()));
    }
    let hash = ward_sigv4::sha256_hex(body.as_bytes());
    let req = ward_sigv4::Request {
        method: "POST",
        path: "/",
        query: "",
        headers: headers.as_slice(),
        body_sha256: &hash,
    };
    let auth = ward_sigv4::authorization_header(
        &req,
        access_key_id,
        &SecretKey::new(secret.to_string()),
        region,
        service,
    )
    .map_err(|e| anyhow!("{e}"))?;
    headers.push(("authorization".to_string(), auth));
    Ok(())
}

/// A JSON error answer as one line: `Code: Message`.
pub fn error_text(v: &Value) -> String {
    format!(
        "{}: {}",
        v.get("__type").and_then(Value::as_str).unwrap_or("Error"),
        v.get("Message")
            .or_else(|| v.get("message"))
            .and_then(Value::as_str)
            .unwrap_or("")
    )
}
