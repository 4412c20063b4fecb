//! Ward's administration API (`X-Amz-Target: WardAdmin.*`, JSON 1.1):
//! `Plan` and `Apply` of an environment model (`ward apply`,
//! `docs/apply.md`; the caller needs `ward:Apply`, and each change is
//! authorized as the IAM or Organizations call it stands for), and `Review`
//! of unused access (`ward review`; the caller needs `ward:Review`).

use crate::AppState;
use serde_json::{json, Value};
use ward_core::apply::Change;
use ward_core::auth::{Caller, RequestInfo};
use ward_core::store::Store;
use ward_core::ApiError;

fn changes(v: &[Change]) -> Value {
    Value::Array(
        v.iter()
            .map(|c| json!({"Sign": c.sign.to_string(), "Change": c.what}))
            .collect(),
    )
}

pub(crate) fn dispatch<S: Store>(
    st: &AppState<S>,
    action: &str,
    input: &Value,
    caller: &Caller,
    info: &RequestInfo,
) -> Result<Value, ApiError> {
    if action == "Review" {
        return review(st, input, caller, info);
    }
    let doc = input
        .get("Document")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            ApiError::new(
                "InvalidInputException",
                400,
                "You must specify a value for Document.",
            )
        })?;
    match action {
        "Plan" => {
            st.iam
                .authorize(caller, "ward:Apply", "*", &[], None, info)
                .map_err(|e| ApiError::new("AccessDeniedException", 400, e.message))?;
            let out = st.iam.plan(caller, doc)?;
            Ok(json!({"Changes": changes(&out.changes), "Applied": 0, "Remaining": out.remaining}))
        }
        "Apply" => {
            let limit = input
                .get("MaxChanges")
                .and_then(Value::as_u64)
                .and_then(|n| usize::try_from(n).ok())
                .filter(|n| *n > 0);
            let out = st
                .iam
                .apply_some(caller, doc, info, limit, |c| {
                    tracing::info!(sign = %c.sign, change = %c.what, "apply");
                })
                .map_err(|e| {
                    if e.code == "AccessDenied" {
                        ApiError::new("AccessDeniedException", 400, e.message)
                    } else {
                        e
                    }
                })?;
            Ok(json!({
                "Changes": changes(&out.changes),
                "Applied": out.applied,
                "Remaining": out.remaining,
            }))
        }
        other => Err(ApiError::new(
            "UnknownOperationException",
            400,
            format!("WardAdmin has no operation {other}"),
        )),
    }
}

/// `Review`: `{"Principal"?: ARN, "Days"?: N}` → every reviewed principal's
/// findings, generated policy and diff.
fn review<S: Store>(
    st: &AppState<S>,
    input: &Value,
    caller: &Caller,
    info: &RequestInfo,
) -> Result<Value, ApiError> {
    st.iam
        .authorize(caller, "ward:Review", "*", &[], None, info)
        .map_err(|e| ApiError::new("AccessDeniedException", 400, e.message))?;
    let principal = input.get("Principal").and_then(Value::as_str);
    let days = match input.get("Days") {
        None | Some(Value::Null) => 90,
        Some(v) => {
            v.as_i64()
                .filter(|d| (1..=400).contains(d))
                .ok_or_else(|| {
                    ApiError::new(
                "InvalidInputException",
                400,
                format!("Days must be a whole number from 1 to 400 (IAM tracks 400 days), not {v}"),
            )
                })?
        }
    };
    let since = info.now - days * 86_400;
    let reviews = st
        .iam
        .review(&caller.account, principal, since)
        .map_err(|e| match e.code {
            // The JSON protocol's spelling of IAM's codes.
            "InvalidInput" => ApiError::new("InvalidInputException", 400, e.message),
            "NoSuchEntity" => ApiError::new("NoSuchEntityException", 404, e.message),
            _ => e,
        })?;
    Ok(json!({
        "Since": ward_core::model::iso8601(since),
        "Principals": reviews.iter().map(|r| json!({
            "Arn": r.arn,
            "Type": r.kind,
            "Findings": r.findings.iter().map(|f| json!({"FindingType": f.kind, "Detail": f.detail})).collect::<Vec<_>>(),
            "ActionsAllowed": r.actions_allowed,
            "ActionsUsed": r.actions_used,
            "GeneratedPolicy": r.generated,
            "Diff": r.diff,
        })).collect::<Vec<_>>(),
    }))
}
