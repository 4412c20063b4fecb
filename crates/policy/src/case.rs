//! The `ward policy eval` machine interface: one authorization case in, one
//! result out, both JSON. Shared by the CLI, the data-driven tests and the
//! benchmark, so all three decide exactly the same way.
//!
//! Input (one object, or one per line):
//! ```json
//! {"id": "optional",
//!  "request": {"principal": "arn:aws:sts::333333333333:assumed-role/prod-readonly/alice",
//!              "action": "s3:GetObject", "resource": "arn:aws:s3:::prod-artifacts/app.zip",
//!              "resource_account": "333333333333",
//!              "context": {"aws:MultiFactorAuthPresent": "true", "aws:TagKeys": ["team", "env"]}},
//!  "policies": {"identity": [{"id": "arn-or-name", "document": {}}],
//!               "permission_boundary": {"id": "...", "document": {}},
//!               "session": [{"id": "...", "document": {}}],
//!               "resource": {"id": "...", "document": {}},
//!               "scp": [[{"id": "...", "document": {}}]],
//!               "rcp": [[]]}}
//! ```
//! `document` is a JSON object or a string holding one. A missing or null
//! layer is absent. Output:
//! `{"id", "decision", "decided_by", "matched_statements", "missing_context_keys", "message"}`,
//! or `{"id", "error": {...}}` for a malformed case.

use crate::context::{Context, ContextValue};
use crate::document::PolicyType;
use crate::error::PolicyError;
use crate::evaluate::Layers;
use crate::explain::Decision;
use crate::policy::{Policy, PolicySet};
use crate::request::Request;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::fmt;
use std::sync::Arc;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    #[serde(default)]
    id: Option<Value>,
    request: RawRequest,
    #[serde(default)]
    policies: Option<RawPolicies>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRequest {
    principal: String,
    action: String,
    resource: String,
    #[serde(default)]
    resource_account: Option<String>,
    #[serde(default)]
    context: Option<Map<String, Value>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicies {
    #[serde(default)]
    identity: Option<Vec<RawPolicy>>,
    #[serde(default)]
    permission_boundary: Option<RawPolicy>,
    #[serde(default)]
    session: Option<Vec<RawPolicy>>,
    #[serde(default)]
    resource: Option<RawPolicy>,
    #[serde(default)]
    scp: Option<Vec<Vec<RawPolicy>>>,
    #[serde(default)]
    rcp: Option<Vec<Vec<RawPolicy>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(default)]
    id: Option<String>,
    document: Value,
}

/// A case ready to evaluate: the request and its compiled layers.
#[derive(Debug)]
pub struct Case {
    pub id: Option<Value>,
    pub request: Request,
    pub layers: Layers,
}

/// Why a case could not be read.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseError {
    pub id: Option<Value>,
    pub message: String,
    /// Where in the case (`policies.identity[2]`), when a policy is at fault.
    pub location: Option<String>,
    pub policy_error: Option<Box<PolicyError>>,
}

impl fmt::Display for CaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(l) = &self.location {
            write!(f, "{l}: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(p) = &self.policy_error {
            write!(f, ": {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for CaseError {}

impl CaseError {
    /// The error object written for a malformed case.
    pub fn to_json(&self) -> Value {
        let mut e = Map::new();
        e.insert("message".into(), json!(self.message));
        if let Some(l) = &self.location {
            e.insert("location".into(), json!(l));
        }
        if let Some(p) = &self.policy_error {
            e.insert(
                "policy_error".into(),
                json!({
                    "message": p.message, "detail": p.detail, "path": p.path,
                    "line": p.line, "column": p.column,
                }),
            );
        }
        json!({"id": self.id.clone().unwrap_or(Value::Null), "error": e})
    }
}

fn context_value(key: &str, v: &Value) -> Result<ContextValue, String> {
    fn scalar(v: &Value) -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
    match v {
        Value::Array(items) => items
            .iter()
            .map(|i| scalar(i).map(String::into_boxed_str))
            .collect::<Option<Vec<_>>>()
            .map(ContextValue::Multi)
            .ok_or_else(|| {
                format!("context key `{key}` holds a value that is not a string, number or boolean")
            }),
        other => scalar(other)
            .map(|s| ContextValue::Single(s.into()))
            .ok_or_else(|| {
                format!("context key `{key}` must be a string, number, boolean or array of them")
            }),
    }
}

fn compile(
    raw: &RawPolicy,
    ty: PolicyType,
    location: &str,
) -> Result<Arc<Policy>, (String, Option<Box<PolicyError>>)> {
    let text = match &raw.document {
        Value::String(s) => s.clone(),
        Value::Object(_) => raw.document.to_string(),
        other => {
            return Err((
                format!(
                    "`document` must be a JSON object or a string holding one, not {}",
                    type_name(other)
                ),
                None,
            ))
        }
    };
    let id = raw.id.clone().unwrap_or_else(|| location.to_string());
    Policy::parse(&id, &text, ty)
        .map(Arc::new)
        .map_err(|e| ("malformed policy document".to_string(), Some(Box::new(e))))
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Read one case from its JSON text.
pub fn parse_case(text: &str) -> Result<Case, CaseError> {
    let value: Value = serde_json::from_str(text).map_err(|e| CaseError {
        id: None,
        message: format!("the case is not valid JSON: {e}"),
        location: None,
        policy_error: None,
    })?;
    parse_case_value(value)
}

/// Read one case from a parsed JSON value.
pub fn parse_case_value(value: Value) -> Result<Case, CaseError> {
    let id = value.get("id").cloned();
    let err = |message: String,
               location: Option<String>,
               policy_error: Option<Box<PolicyError>>| CaseError {
        id: id.clone(),
        message,
        location,
        policy_error,
    };
    let raw: RawCase = serde_json::from_value(value)
        .map_err(|e| err(format!("the case is malformed: {e}"), None, None))?;
    let mut ctx = Context::new();
    for (k, v) in raw.request.context.iter().flatten() {
        let cv = context_value(k, v).map_err(|m| err(m, Some("request.context".into()), None))?;
        ctx.insert(k, cv);
    }
    let request = Request::new(
        &raw.request.principal,
        &raw.request.action,
        &raw.request.resource,
        raw.request.resource_account.as_deref(),
        ctx,
    );
    let pols = raw.policies.unwrap_or_default();
    let one = |p: &RawPolicy, ty: PolicyType, loc: String| {
        compile(p, ty, &loc).map_err(|(m, pe)| err(m, Some(loc), pe))
    };
    let many = |ps: &[RawPolicy], ty: PolicyType, loc: &str| -> Result<PolicySet, CaseError> {
        let mut out = Vec::with_capacity(ps.len());
        for (i, p) in ps.iter().enumerate() {
            out.push(one(p, ty, format!("{loc}[{i}]"))?);
        }
        Ok(PolicySet::new(out))
    };
    let levels =
        |ls: &[Vec<RawPolicy>], ty: PolicyType, loc: &str| -> Result<Vec<PolicySet>, CaseError> {
            ls.iter()
                .enumerate()
                .map(|(i, l)| many(l, ty, &format!("{loc}[{i}]")))
                .collect()
        };
    let layers = Layers {
        identity: many(
            pols.identity.as_deref().unwrap_or(&[]),
            PolicyType::Identity,
            "policies.identity",
        )?,
        permission_boundary: pols
            .permission_boundary
            .as_ref()
            .map(|p| {
                one(
                    p,
                    PolicyType::PermissionBoundary,
                    "policies.permission_boundary".into(),
                )
                .map(|p| PolicySet::new(vec![p]))
            })
            .transpose()?,
        session: pols
            .session
            .as_deref()
            .map(|s| many(s, PolicyType::Session, "policies.session"))
            .transpose()?
            .filter(|s| !s.is_empty()),
        resource: pols
            .resource
            .as_ref()
            .map(|p| {
                one(p, PolicyType::Resource, "policies.resource".into())
                    .map(|p| PolicySet::new(vec![p]))
            })
            .transpose()?,
        scp: levels(
            pols.scp.as_deref().unwrap_or(&[]),
            PolicyType::Scp,
            "policies.scp",
        )?,
        rcp: levels(
            pols.rcp.as_deref().unwrap_or(&[]),
            PolicyType::Rcp,
            "policies.rcp",
        )?,
    };
    Ok(Case {
        id: raw.id,
        request,
        layers,
    })
}

/// The result object for a decision.
pub fn result_json(id: Option<&Value>, req: &Request, d: &Decision<'_>) -> Value {
    let matched: Vec<Value> = d
        .matched_statements
        .iter()
        .map(|m| {
            let mut o = json!({
                "policy_id": m.policy_id(),
                "policy_type": m.policy_type().as_str(),
                "statement_index": m.statement_index(),
                "sid": m.sid(),
            });
            if let (Some(l), Some(obj)) = (m.level(), o.as_object_mut()) {
                obj.insert("level".into(), json!(l));
            }
            o
        })
        .collect();
    json!({
        "id": id.cloned().unwrap_or(Value::Null),
        "decision": d.decision.as_str(),
        "decided_by": d.decided_by.map(PolicyType::as_str),
        "matched_statements": matched,
        "missing_context_keys": d.missing_context_keys.iter().collect::<Vec<_>>(),
        "message": d.message(req),
    })
}

/// Evaluate one case given as JSON text: the result object or the error object.
pub fn eval_text(text: &str) -> Value {
    match parse_case(text) {
        Ok(case) => {
            let d = crate::evaluate(&case.request, &case.layers);
            result_json(case.id.as_ref(), &case.request, &d)
        }
        Err(e) => e.to_json(),
    }
}
