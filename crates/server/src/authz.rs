//! The authorization endpoint for other services (`X-Amz-Target:
//! WardAuthorization.Authorize`, JSON 1.1; schema in `docs/authorize.md`).
//!
//! A service that fronts a resource (a deployment bucket, a build system)
//! forwards what its client sent — method, path, query, headers with the
//! client's SigV4 signature, the payload hash — and the action(s) and
//! resource ARN(s) the request maps to. Ward verifies the client's
//! signature, resolves the caller (user, role session with its session
//! policies, MFA state, tags, organization), evaluates every layer —
//! including the resource's own policy when supplied — and answers with the
//! decision per action and resource, AWS's AccessDenied sentence, and the
//! caller's identity. The calling service signs its own request to Ward and
//! needs `ward:Authorize`.

use crate::{authenticate, Api, AppState};
use serde_json::{json, Value};
use ward_core::auth::{Caller, RequestInfo, Target};
use ward_core::store::Store;
use ward_core::ApiError;
use ward_policy::{ContextValue, Policy, PolicySet, PolicyType};

/// Most action × resource pairs one call may ask about.
pub const MAX_CHECKS: usize = 100;

fn invalid(msg: impl Into<String>) -> ApiError {
    ApiError::new("InvalidInputException", 400, msg)
}

fn strings(input: &Value, name: &str) -> Result<Vec<String>, ApiError> {
    let v = input
        .get(name)
        .ok_or_else(|| invalid(format!("You must specify a value for {name}.")))?;
    let list: Vec<String> = match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| invalid(format!("{name} must hold strings.")))
            })
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(invalid(format!(
                "{name} must be a string or a list of strings."
            )))
        }
    };
    if list.is_empty() {
        return Err(invalid(format!("{name} must not be empty.")));
    }
    Ok(list)
}

/// The caller as the answer describes it.
fn principal(c: &Caller) -> Value {
    use ward_core::auth::CallerKind;
    let ty = match &c.kind {
        CallerKind::Root => "Root",
        CallerKind::User { .. } => "IAMUser",
        CallerKind::Role { .. } => "AssumedRole",
        CallerKind::UserSession { user: Some(_) } => "IAMUser",
        CallerKind::UserSession { user: None } => "Root",
    };
    let mfa = c.session.as_ref().and_then(|s| s.mfa_authenticated_at);
    json!({
        "Arn": c.arn,
        "Account": c.account,
        "UserId": c.user_id,
        "Type": ty,
        "AccessKeyId": c.access_key_id,
        "MultiFactorAuthPresent": mfa.is_some(),
    })
}

pub(crate) fn dispatch<S: Store>(
    st: &AppState<S>,
    action: &str,
    input: &Value,
    service: &Caller,
    info: &RequestInfo,
) -> Result<Value, ApiError> {
    if action != "Authorize" {
        return Err(ApiError::new(
            "UnknownOperationException",
            400,
            format!("WardAuthorization has no operation {action}"),
        ));
    }
    // The asking service's own permission.
    st.iam
        .authorize(service, "ward:Authorize", "*", &[], None, info)
        .map_err(|e| ApiError::new("AccessDeniedException", 400, e.message))?;

    // The input.
    let r = input
        .get("Request")
        .ok_or_else(|| invalid("You must specify a value for Request."))?;
    let field = |name: &str| r.get(name).and_then(Value::as_str);
    let method = field("Method").ok_or_else(|| invalid("Request.Method is required."))?;
    let path = field("Path").unwrap_or("/");
    let query = field("Query").unwrap_or("");
    let headers: Vec<(String, String)> = match r.get("Headers") {
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| {
                v.as_str()
                    .map(|v| (k.to_ascii_lowercase(), v.to_string()))
                    .ok_or_else(|| invalid(format!("Request.Headers.{k} must be a string.")))
            })
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(invalid(
                "Request.Headers must be an object of header names to values.",
            ))
        }
    };
    // The payload hash: given, or the one S3 clients send in a header.
    let body_sha256 = field("BodySha256")
        .map(str::to_string)
        .or_else(|| {
            headers
                .iter()
                .find(|(k, _)| k == "x-amz-content-sha256")
                .map(|(_, v)| v.clone())
        })
        .ok_or_else(|| {
            invalid("Request.BodySha256 is required when the request has no x-amz-content-sha256 header.")
        })?;
    let actions = strings(input, "Actions")?;
    let resources = strings(input, "Resources")?;
    if actions.len() * resources.len() > MAX_CHECKS {
        return Err(invalid(format!(
            "At most {MAX_CHECKS} action and resource pairs may be asked at once."
        )));
    }
    let resource_account = input.get("ResourceAccount").and_then(Value::as_str);
    let resource_policy = match input.get("ResourcePolicy") {
        None | Some(Value::Null) => None,
        Some(v) => {
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let p = Policy::parse("resource-policy", &text, PolicyType::Resource).map_err(|e| {
                ApiError::new(
                    "MalformedPolicyDocumentException",
                    400,
                    format!("ResourcePolicy: {e}"),
                )
            })?;
            Some(PolicySet::from_policies([p]))
        }
    };
    let mut extra: Vec<(String, ContextValue)> = Vec::new();
    if let Some(Value::Object(m)) = input.get("Context") {
        for (k, v) in m {
            let scalar = |x: &Value| match x {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let cv = match v {
                Value::Array(a) => {
                    ContextValue::Multi(a.iter().map(|x| scalar(x).as_str().into()).collect())
                }
                other => ContextValue::Single(scalar(other).as_str().into()),
            };
            extra.push((k.clone(), cv));
        }
    }

    // The client's signature.
    let sreq = ward_sigv4::Request {
        method,
        path,
        query,
        headers: &headers,
        body_sha256: &body_sha256,
    };
    let client = ward_sigv4::parse(&sreq)
        .map_err(|e| crate::sigv4_error(Api::Authorization, &e))
        .and_then(|parsed| authenticate(st, &sreq, &parsed, info.now, Api::Authorization));
    let client = match client {
        Ok(c) => c,
        // The client is not who it claims: the answer says why, so the
        // fronting service can relay AWS's error.
        Err(e) => {
            return Ok(json!({
                "Allowed": false,
                "Error": {"Code": e.code, "Message": e.message},
                "Results": [],
            }))
        }
    };

    // Every action on every resource.
    let client_info = RequestInfo {
        user_agent: headers
            .iter()
            .find(|(k, _)| k == "user-agent")
            .map(|(_, v)| v.clone()),
        ..info.clone()
    };
    let mut results = Vec::new();
    let mut all = true;
    for a in &actions {
        for res in &resources {
            let target = Target {
                resource: res,
                account: resource_account,
                policy: resource_policy.clone(),
            };
            let v = st
                .iam
                .decide(&client, a, &target, &extra, &client_info, |req, d| {
                    ward_core::audit::note_decision(&client, req, d);
                    let mut v = ward_policy::case::result_json(None, req, d);
                    if let Value::Object(m) = &mut v {
                        m.remove("id");
                        m.insert("action".into(), json!(a));
                        m.insert("resource".into(), json!(res));
                    }
                    (d.is_allowed(), v)
                })?;
            all &= v.0;
            results.push(v.1);
        }
    }
    Ok(json!({
        "Allowed": all,
        "Principal": principal(&client),
        "Results": results,
    }))
}
