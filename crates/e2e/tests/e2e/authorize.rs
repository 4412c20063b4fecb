//! The authorization endpoint: a service fronting a deployment bucket
//! forwards its client's SigV4-signed S3 request (signed here by the
//! official `aws-sigv4` signer, as an SDK would) and asks Ward whether the
//! client may do it.

use crate::harness::{allow, arn, Creds, Ward, ACCOUNT};
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::time::SystemTime;

/// Sign `method url` with `headers` and `body` for `service` as `creds`;
/// the headers to send (the given ones plus the signature's).
pub(crate) fn signed(
    creds: &Creds,
    service: &str,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    s3: bool,
) -> Vec<(String, String)> {
    let identity: Identity = Credentials::new(
        &creds.access_key_id,
        &creds.secret_access_key,
        creds.session_token.clone(),
        None,
        "test",
    )
    .into();
    let mut settings = SigningSettings::default();
    if s3 {
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    }
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name(service)
        .time(SystemTime::now())
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let signable = SignableRequest::new(
        method,
        url,
        headers.iter().copied(),
        SignableBody::Bytes(body),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut req = http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut req = req.body(()).unwrap();
    instructions.apply_to_request_http1x(&mut req);
    req.headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap().to_string()))
        .collect()
}

/// The client's S3 request, as the bucket service received it.
pub(crate) fn client_request(client: &Creds, method: &str, key: &str) -> Value {
    let host = "deploy.s3.example";
    let path = format!("/prod-deploy/{key}");
    let headers = signed(
        client,
        "s3",
        method,
        &format!("http://{host}{path}"),
        &[("host", host)],
        b"release bytes",
        true,
    );
    let headers: serde_json::Map<String, Value> = headers
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    json!({"Method": method, "Path": path, "Query": "", "Headers": headers})
}

/// POST `input` to `WardAuthorization.Authorize` signed as `service`:
/// the HTTP status and the JSON answer.
pub(crate) fn ask(w: &Ward, service: &Creds, input: &Value) -> (u16, Value) {
    json_call(w, service, "ward", "WardAuthorization.Authorize", input)
}

/// POST `input` to a JSON 1.1 `target` signed as `creds` for `signing_name`.
pub(crate) fn json_call(
    w: &Ward,
    creds: &Creds,
    signing_name: &str,
    target: &str,
    input: &Value,
) -> (u16, Value) {
    let body = input.to_string();
    let addr = w.endpoint.trim_start_matches("http://").to_string();
    let headers = signed(
        creds,
        signing_name,
        "POST",
        &format!("{}/", w.endpoint),
        &[
            ("host", addr.as_str()),
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", target),
        ],
        body.as_bytes(),
        false,
    );
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    let mut req = "POST / HTTP/1.1\r\n".to_string();
    for (k, v) in &headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    ));
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out.split_whitespace().nth(1).unwrap().parse().unwrap();
    let (_, body) = out.split_once("\r\n\r\n").unwrap();
    (status, serde_json::from_str(body).unwrap())
}

#[tokio::test]
async fn a_fronting_service_asks_ward_whether_its_client_may() {
    let w = Ward::start();
    let deployer = w.user_with_key("deployer").await;
    w.put_user_policy(
        "deployer",
        "releases",
        &allow(&["s3:PutObject"], "arn:aws:s3:::prod-deploy/releases/*"),
    )
    .await;
    let bucket = w.user_with_key("bucket-service").await;

    let put = client_request(&deployer, "PUT", "releases/app.tgz");
    let question = json!({
        "Request": put,
        "Actions": ["s3:PutObject"],
        "Resources": ["arn:aws:s3:::prod-deploy/releases/app.tgz"],
    });
    // The service itself needs ward:Authorize.
    let (status, answer) = ask(&w, &bucket, &question);
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["__type"], "AccessDeniedException", "{answer}");
    w.put_user_policy("bucket-service", "ask", &allow(&["ward:Authorize"], "*"))
        .await;

    let (status, answer) = ask(&w, &bucket, &question);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["Allowed"], true, "{answer}");
    assert_eq!(answer["Principal"]["Arn"], arn("user/deployer"));
    assert_eq!(answer["Principal"]["Type"], "IAMUser");
    assert_eq!(answer["Results"][0]["decision"], "allowed");
    assert_eq!(
        answer["Results"][0]["matched_statements"][0]["policy_type"],
        "identity"
    );

    // An action the client's policy does not allow: AWS's sentence.
    let del = client_request(&deployer, "DELETE", "releases/app.tgz");
    let (_, answer) = ask(
        &w,
        &bucket,
        &json!({"Request": del, "Actions": ["s3:DeleteObject"], "Resources": ["arn:aws:s3:::prod-deploy/releases/app.tgz"]}),
    );
    assert_eq!(answer["Allowed"], false, "{answer}");
    assert_eq!(answer["Results"][0]["decision"], "implicitDeny");
    assert_eq!(
        answer["Results"][0]["message"],
        format!(
            "User: {} is not authorized to perform: s3:DeleteObject on resource: arn:aws:s3:::prod-deploy/releases/app.tgz because no identity-based policy allows the s3:DeleteObject action",
            arn("user/deployer")
        )
    );

    // A bucket of another account: its policy must allow the client too.
    let mut cross = question.clone();
    cross["ResourceAccount"] = json!("999999999999");
    let (_, answer) = ask(&w, &bucket, &cross);
    assert_eq!(answer["Allowed"], false, "{answer}");
    assert_eq!(answer["Results"][0]["decided_by"], "resource");
    cross["ResourcePolicy"] = json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:user/deployer")},
                       "Action": "s3:PutObject", "Resource": "arn:aws:s3:::prod-deploy/*"}]
    });
    let (_, answer) = ask(&w, &bucket, &cross);
    assert_eq!(answer["Allowed"], true, "{answer}");

    // A request changed after the client signed it is not the client's.
    let mut forged = question.clone();
    forged["Request"]["Path"] = json!("/prod-deploy/releases/other.tgz");
    let (status, answer) = ask(&w, &bucket, &forged);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["Allowed"], false);
    assert_eq!(answer["Error"]["Code"], "SignatureDoesNotMatch", "{answer}");

    // A malformed resource policy is refused, naming the problem.
    let mut bad = question.clone();
    bad["ResourcePolicy"] = json!("{\"Statement\": 5}");
    let (status, answer) = ask(&w, &bucket, &bad);
    assert_eq!(status, 400);
    assert_eq!(
        answer["__type"], "MalformedPolicyDocumentException",
        "{answer}"
    );
}
