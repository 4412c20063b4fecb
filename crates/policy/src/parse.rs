//! Text → [`Document`]: the IAM policy grammar and the rules each policy type
//! adds, with AWS's `MalformedPolicyDocument` wording and a precise location.
//!
//! Grammar: <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html>
//! Elements: <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements.html>
//!
//! The parser stops at the first error (as IAM does). Softer problems that
//! IAM accepts but a reviewer should hear about are the validator's job
//! ([`crate::validate`]).

use crate::document::*;
use crate::error::PolicyError;
use crate::json::{self, Json, LineIndex, Spanned};

/// AWS's messages (`MalformedPolicyDocument`), collected here so the wording
/// is in one place.
pub mod msg {
    pub const SYNTAX: &str = "Syntax errors in policy.";
    pub const LEGACY: &str = "The policy failed legacy parsing";
    pub const NO_ACTIONS: &str = "Policy statement must contain actions.";
    pub const NO_RESOURCES: &str = "Policy statement must contain resources.";
    pub const NO_PRINCIPAL_ALLOWED: &str = "Policy document should not specify a principal.";
    pub const DUPLICATE_SID: &str = "Statement IDs (SID) in a single policy must be unique.";
    pub const ONE_COLON: &str = "Actions/Condition can contain only one colon.";
    pub const VENDOR: &str =
        "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.";
    pub const CONDITION_VENDOR: &str =
        "Conditions must be prefaced by a vendor, e.g. iam, sdb, ec2, etc.";
    pub fn missing_field(f: &str) -> String {
        format!("Missing required field {f}")
    }
    pub fn prohibited_field(f: &str) -> String {
        format!("Has prohibited field {f}")
    }
    pub fn iam_region(r: &str) -> String {
        format!("IAM resource {r} cannot contain region information.")
    }
    pub fn bad_resource(r: &str) -> String {
        format!("Resource {r} must be in ARN format or \"*\".")
    }
    pub fn bad_principal(key: &str, v: &str) -> String {
        format!("Invalid principal in policy: \"{key}\":\"{v}\"")
    }
    pub fn bad_condition_type(t: &str) -> String {
        format!("Invalid Condition type : {t}")
    }
}

/// The issue code for a parser message.
fn code_for(message: &str, detail: Option<&str>) -> &'static str {
    let d = detail.unwrap_or("");
    match message {
        msg::SYNTAX if d.contains("unknown field") => "UNSUPPORTED_ELEMENT",
        msg::SYNTAX if d.contains("no `Effect`") => "MISSING_EFFECT",
        msg::SYNTAX
            if d.contains("must be")
                || d.contains("cannot have both")
                || d.contains("names no")
                || d.contains("holds no") =>
        {
            "SYNTAX_ERROR"
        }
        msg::SYNTAX => "JSON_SYNTAX_ERROR",
        msg::LEGACY => "INVALID_VERSION",
        msg::NO_ACTIONS => "MISSING_ACTION",
        msg::NO_RESOURCES => "MISSING_RESOURCE",
        msg::NO_PRINCIPAL_ALLOWED => "UNSUPPORTED_PRINCIPAL",
        msg::DUPLICATE_SID => "DUPLICATE_SID",
        msg::VENDOR | msg::ONE_COLON => "INVALID_ACTION",
        msg::CONDITION_VENDOR => "INVALID_CONTEXT_KEY",
        m if m.starts_with("Missing required field") => "MISSING_PRINCIPAL",
        m if m.starts_with("Has prohibited field") => "UNSUPPORTED_ELEMENT",
        m if m.starts_with("Invalid principal") => "INVALID_PRINCIPAL",
        m if m.starts_with("Resource ") => "INVALID_ARN_RESOURCE",
        m if m.starts_with("IAM resource") => "INVALID_ARN_REGION",
        m if m.starts_with("Invalid Condition type") && d.contains("IfExists") => {
            "NULL_WITH_IF_EXISTS"
        }
        m if m.starts_with("Invalid Condition type") => "INVALID_CONDITION_OPERATOR",
        _ => "MALFORMED_POLICY",
    }
}

/// Parse a policy document of the given type.
pub fn parse(text: &str, ty: PolicyType) -> Result<Document, PolicyError> {
    let p = Ctx {
        text,
        lines: LineIndex::new(text),
    };
    let root =
        json::parse(text).map_err(|e| p.error(msg::SYNTAX, Some(e.message), "$", e.offset))?;
    p.document(&root, ty)
}

struct Ctx<'a> {
    text: &'a str,
    lines: LineIndex,
}

type R<T> = Result<T, PolicyError>;

/// Where an element stands: a JSON path and a byte offset.
fn path_key(base: &str, key: &str) -> String {
    if base.is_empty() {
        key.to_string()
    } else {
        format!("{base}.{key}")
    }
}

impl Ctx<'_> {
    fn error(
        &self,
        message: &str,
        detail: Option<String>,
        path: &str,
        offset: usize,
    ) -> PolicyError {
        let (line, column) = self.lines.line_col(self.text, offset);
        PolicyError {
            code: code_for(message, detail.as_deref()),
            message: message.to_string(),
            detail,
            path: if path.is_empty() {
                "$".into()
            } else {
                path.into()
            },
            line,
            column,
        }
    }

    fn syntax(&self, detail: impl Into<String>, path: &str, offset: usize) -> PolicyError {
        self.error(msg::SYNTAX, Some(detail.into()), path, offset)
    }

    fn document(&self, root: &Spanned, ty: PolicyType) -> R<Document> {
        let Json::Object(members) = &root.value else {
            return Err(self.syntax("a policy must be a JSON object", "", root.offset));
        };
        let mut version = None;
        let mut id = None;
        let mut statement = None;
        for (k, v) in members {
            match k.name.as_str() {
                "Version" => version = Some(self.string(v, "Version")?),
                "Id" => id = Some(self.string(v, "Id")?),
                "Statement" => statement = Some(v),
                other => {
                    return Err(self.syntax(format!("unknown field `{other}`"), other, k.offset));
                }
            }
        }
        if let Some(v) = &version {
            if v.value != "2012-10-17" && v.value != "2008-10-17" {
                return Err(self.error(
                    msg::LEGACY,
                    Some(format!(
                        "`{}` is not a policy language version: use `2012-10-17`",
                        v.value
                    )),
                    "Version",
                    v.offset,
                ));
            }
        }
        let Some(st) = statement else {
            return Err(self.error(&msg::missing_field("Statement"), None, "", root.offset));
        };
        let (items, statement_is_object): (Vec<&Spanned>, bool) = match &st.value {
            Json::Array(a) => (a.iter().collect(), false),
            Json::Object(_) => (vec![st], true),
            other => {
                return Err(self.syntax(
                    format!(
                        "`Statement` must be an object or an array, not {}",
                        other.type_name()
                    ),
                    "Statement",
                    st.offset,
                ))
            }
        };
        let mut statements = Vec::with_capacity(items.len());
        for (i, s) in items.into_iter().enumerate() {
            let path = if statement_is_object {
                "Statement".to_string()
            } else {
                format!("Statement[{i}]")
            };
            statements.push(self.statement(s, &path, ty)?);
        }
        if statements.is_empty() {
            return Err(self.syntax("`Statement` holds no statement", "Statement", st.offset));
        }
        // Sids must be unique within one policy.
        for (i, s) in statements.iter().enumerate() {
            if let Some(sid) = &s.sid {
                if statements
                    .iter()
                    .take(i)
                    .any(|o| o.sid.as_ref().is_some_and(|x| x.value == sid.value))
                {
                    let path = format!("Statement[{i}].Sid");
                    return Err(self.error(
                        msg::DUPLICATE_SID,
                        Some(format!("`{}` is used twice", sid.value)),
                        &path,
                        sid.offset,
                    ));
                }
            }
        }
        Ok(Document {
            version,
            id,
            statements,
            statement_is_object,
        })
    }

    fn string(&self, v: &Spanned, path: &str) -> R<Located<String>> {
        match &v.value {
            Json::String(s) => Ok(Located {
                value: s.clone(),
                offset: v.offset,
            }),
            other => Err(self.syntax(
                format!("`{path}` must be a string, not {}", other.type_name()),
                path,
                v.offset,
            )),
        }
    }

    /// A string or a non-empty array of strings.
    fn strings(&self, v: &Spanned, path: &str) -> R<(Vec<Located<String>>, bool)> {
        match &v.value {
            Json::String(_) => Ok((vec![self.string(v, path)?], true)),
            Json::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, it) in items.iter().enumerate() {
                    out.push(self.string(it, &format!("{path}[{i}]"))?);
                }
                Ok((out, false))
            }
            other => Err(self.syntax(
                format!(
                    "`{path}` must be a string or an array of strings, not {}",
                    other.type_name()
                ),
                path,
                v.offset,
            )),
        }
    }

    fn statement(&self, s: &Spanned, path: &str, ty: PolicyType) -> R<Statement> {
        let Json::Object(members) = &s.value else {
            return Err(self.syntax("a statement must be a JSON object", path, s.offset));
        };
        let mut sid = None;
        let mut effect = None;
        let mut principal: Option<PrincipalBlock> = None;
        let mut action: Option<Block> = None;
        let mut resource: Option<Block> = None;
        let mut conditions = Vec::new();
        let mut condition_offset = None;
        for (k, v) in members {
            let kp = path_key(path, &k.name);
            match k.name.as_str() {
                "Sid" => {
                    let s = self.string(v, &kp)?;
                    // Sid: ASCII letters and digits (IAM); other services allow spaces.
                    sid = Some(s);
                }
                "Effect" => {
                    let e = self.string(v, &kp)?;
                    let val = match e.value.as_str() {
                        "Allow" => Effect::Allow,
                        "Deny" => Effect::Deny,
                        other => {
                            return Err(self.syntax(
                                format!("`Effect` must be `Allow` or `Deny`, not `{other}`"),
                                &kp,
                                e.offset,
                            ))
                        }
                    };
                    effect = Some(Located {
                        value: val,
                        offset: e.offset,
                    });
                }
                "Principal" | "NotPrincipal" => {
                    if principal.is_some() {
                        return Err(self.syntax(
                            "a statement cannot have both `Principal` and `NotPrincipal`",
                            &kp,
                            k.offset,
                        ));
                    }
                    principal = Some(self.principal(v, &kp, k.name == "NotPrincipal")?);
                }
                "Action" | "NotAction" => {
                    if action.is_some() {
                        return Err(self.syntax(
                            "a statement cannot have both `Action` and `NotAction`",
                            &kp,
                            k.offset,
                        ));
                    }
                    let (items, single) = self.strings(v, &kp)?;
                    for (i, a) in items.iter().enumerate() {
                        let ip = if single {
                            kp.clone()
                        } else {
                            format!("{kp}[{i}]")
                        };
                        if a.value.matches(':').count() > 1 {
                            return Err(self.error(
                                msg::ONE_COLON,
                                Some(format!("`{}` has more than one colon", a.value)),
                                &ip,
                                a.offset,
                            ));
                        }
                        if a.value != "*" && !a.value.contains(':') {
                            return Err(self.error(
                                msg::VENDOR,
                                Some(format!("`{}` has no service prefix", a.value)),
                                &ip,
                                a.offset,
                            ));
                        }
                    }
                    action = Some(Block {
                        negated: k.name == "NotAction",
                        single,
                        offset: v.offset,
                        items,
                    });
                }
                "Resource" | "NotResource" => {
                    if resource.is_some() {
                        return Err(self.syntax(
                            "a statement cannot have both `Resource` and `NotResource`",
                            &kp,
                            k.offset,
                        ));
                    }
                    let (items, single) = self.strings(v, &kp)?;
                    for (i, r) in items.iter().enumerate() {
                        let ip = if single {
                            kp.clone()
                        } else {
                            format!("{kp}[{i}]")
                        };
                        if !resource_is_well_formed(&r.value) {
                            return Err(self.error(
                                &msg::bad_resource(&r.value),
                                None,
                                &ip,
                                r.offset,
                            ));
                        }
                        let f: Vec<&str> = r.value.splitn(6, ':').collect();
                        if f.get(2) == Some(&"iam")
                            && f.get(3).is_some_and(|reg| {
                                !reg.is_empty() && !reg.contains(['*', '?', '$'])
                            })
                        {
                            return Err(self.error(
                                &msg::iam_region(&r.value),
                                None,
                                &ip,
                                r.offset,
                            ));
                        }
                    }
                    resource = Some(Block {
                        negated: k.name == "NotResource",
                        single,
                        offset: v.offset,
                        items,
                    });
                }
                "Condition" => {
                    condition_offset = Some(v.offset);
                    conditions = self.conditions(v, &kp)?;
                }
                other => {
                    return Err(self.syntax(format!("unknown field `{other}`"), &kp, k.offset));
                }
            }
        }
        let Some(effect) = effect else {
            return Err(self.syntax("the statement has no `Effect`", path, s.offset));
        };
        let Some(action) = action else {
            return Err(self.error(msg::NO_ACTIONS, None, path, s.offset));
        };
        if action.items.is_empty() {
            return Err(self.error(
                msg::NO_ACTIONS,
                None,
                &path_key(path, "Action"),
                action.offset,
            ));
        }
        if let Some(r) = &resource {
            if r.items.is_empty() {
                return Err(self.error(
                    msg::NO_RESOURCES,
                    None,
                    &path_key(path, "Resource"),
                    r.offset,
                ));
            }
        }
        // Per-type rules.
        match ty {
            PolicyType::Identity | PolicyType::PermissionBoundary | PolicyType::Session => {
                if let Some(p) = &principal {
                    let f = if p.negated {
                        "NotPrincipal"
                    } else {
                        "Principal"
                    };
                    return Err(self.error(
                        msg::NO_PRINCIPAL_ALLOWED,
                        Some(format!("an identity-based policy has no `{f}`")),
                        &path_key(path, f),
                        p.offset,
                    ));
                }
                if resource.is_none() {
                    return Err(self.error(msg::NO_RESOURCES, None, path, s.offset));
                }
            }
            PolicyType::Resource => {
                if principal.is_none() {
                    return Err(self.error(&msg::missing_field("Principal"), None, path, s.offset));
                }
            }
            PolicyType::Scp => {
                if let Some(p) = &principal {
                    let f = if p.negated {
                        "NotPrincipal"
                    } else {
                        "Principal"
                    };
                    return Err(self.error(
                        &msg::prohibited_field(f),
                        Some("a service control policy names no principal: it applies to every principal of the accounts it is attached to".into()),
                        &path_key(path, f),
                        p.offset,
                    ));
                }
                if resource.is_none() {
                    return Err(self.error(msg::NO_RESOURCES, None, path, s.offset));
                }
            }
            PolicyType::Rcp => {
                match &principal {
                    None => {
                        return Err(self.error(
                            &msg::missing_field("Principal"),
                            None,
                            path,
                            s.offset,
                        ))
                    }
                    Some(p) if p.negated => {
                        return Err(self.error(
                            &msg::prohibited_field("NotPrincipal"),
                            Some(
                                "a resource control policy supports only `\"Principal\": \"*\"`"
                                    .into(),
                            ),
                            &path_key(path, "NotPrincipal"),
                            p.offset,
                        ))
                    }
                    Some(p) if !p.wildcard => {
                        return Err(self.error(
                            "Invalid principal in policy",
                            Some(
                                "a resource control policy supports only `\"Principal\": \"*\"`"
                                    .into(),
                            ),
                            &path_key(path, "Principal"),
                            p.offset,
                        ))
                    }
                    _ => {}
                }
                if action.negated {
                    return Err(self.error(
                        &msg::prohibited_field("NotAction"),
                        Some("resource control policies do not support `NotAction`".into()),
                        &path_key(path, "NotAction"),
                        action.offset,
                    ));
                }
                if resource.is_none() {
                    return Err(self.error(msg::NO_RESOURCES, None, path, s.offset));
                }
            }
        }
        Ok(Statement {
            offset: s.offset,
            sid,
            effect,
            principal,
            action,
            resource,
            conditions,
            condition_offset,
        })
    }

    fn principal(&self, v: &Spanned, path: &str, negated: bool) -> R<PrincipalBlock> {
        match &v.value {
            Json::String(s) if s == "*" => Ok(PrincipalBlock {
                negated,
                offset: v.offset,
                wildcard: true,
                entries: vec![],
            }),
            Json::String(s) => Err(self.error(
                &format!("Invalid principal in policy: \"{s}\""),
                Some("a principal is `\"*\"` or an object such as `{\"AWS\": \"arn:aws:iam::123456789012:root\"}`".into()),
                path,
                v.offset,
            )),
            Json::Object(members) => {
                let mut entries = Vec::new();
                for (k, val) in members {
                    let key = match k.name.as_str() {
                        "AWS" => PrincipalKey::Aws,
                        "Service" => PrincipalKey::Service,
                        "Federated" => PrincipalKey::Federated,
                        "CanonicalUser" => PrincipalKey::CanonicalUser,
                        other => {
                            return Err(self.error(
                                &format!("Invalid principal in policy: \"{other}\""),
                                Some("principal keys are `AWS`, `Service`, `Federated` and `CanonicalUser`".into()),
                                &path_key(path, other),
                                k.offset,
                            ))
                        }
                    };
                    let kp = path_key(path, &k.name);
                    let (items, single) = self.strings(val, &kp)?;
                    for (i, it) in items.into_iter().enumerate() {
                        if !principal_is_well_formed(key, &it.value) {
                            let ip = if single { kp.clone() } else { format!("{kp}[{i}]") };
                            return Err(self.error(
                                &msg::bad_principal(key.as_str(), &it.value),
                                None,
                                &ip,
                                it.offset,
                            ));
                        }
                        entries.push((key, it));
                    }
                }
                if entries.is_empty() {
                    return Err(self.syntax("`Principal` names no principal", path, v.offset));
                }
                Ok(PrincipalBlock {
                    negated,
                    offset: v.offset,
                    wildcard: false,
                    entries,
                })
            }
            other => Err(self.syntax(
                format!("`Principal` must be `\"*\"` or an object, not {}", other.type_name()),
                path,
                v.offset,
            )),
        }
    }

    fn conditions(&self, v: &Spanned, path: &str) -> R<Vec<Condition>> {
        let Json::Object(ops) = &v.value else {
            return Err(self.syntax(
                format!("`Condition` must be an object, not {}", v.value.type_name()),
                path,
                v.offset,
            ));
        };
        let mut out = Vec::new();
        for (opk, block) in ops {
            let op_path = path_key(path, &opk.name);
            let Some(op) = Operator::parse(&opk.name) else {
                return Err(self.error(
                    &msg::bad_condition_type(&opk.name),
                    Some(format!("`{}` is not a condition operator", opk.name)),
                    &op_path,
                    opk.offset,
                ));
            };
            if op.kind == OpKind::Null && op.if_exists {
                // `NullIfExists` is not an operator: Null already asks whether the key exists.
                return Err(self.error(
                    &msg::bad_condition_type(&opk.name),
                    Some("the `Null` operator takes no `IfExists` suffix".into()),
                    &op_path,
                    opk.offset,
                ));
            }
            let Json::Object(keys) = &block.value else {
                return Err(self.syntax(
                    format!("`{}` must map condition keys to values", opk.name),
                    &op_path,
                    block.offset,
                ));
            };
            if keys.is_empty() {
                return Err(self.syntax(
                    format!("`{}` names no condition key", opk.name),
                    &op_path,
                    block.offset,
                ));
            }
            for (key, vals) in keys {
                let kp = path_key(&op_path, &key.name);
                if !key.name.contains(':') || key.name.starts_with(':') {
                    return Err(self.error(
                        msg::CONDITION_VENDOR,
                        Some(format!("`{}` has no service prefix", key.name)),
                        &kp,
                        key.offset,
                    ));
                }
                let (values, single) = match &vals.value {
                    Json::Array(items) => {
                        let mut out = Vec::with_capacity(items.len());
                        for (i, it) in items.iter().enumerate() {
                            out.push(self.scalar(it, &format!("{kp}[{i}]"))?);
                        }
                        (out, false)
                    }
                    _ => (vec![self.scalar(vals, &kp)?], true),
                };
                out.push(Condition {
                    operator: Located {
                        value: opk.name.clone(),
                        offset: opk.offset,
                    },
                    op,
                    key: Located {
                        value: key.name.clone(),
                        offset: key.offset,
                    },
                    values,
                    single,
                });
            }
        }
        Ok(out)
    }

    /// Condition values: strings, or numbers and booleans taken as written.
    fn scalar(&self, v: &Spanned, path: &str) -> R<Located<String>> {
        let value = match &v.value {
            Json::String(s) => s.clone(),
            Json::Number(n) => n.clone(),
            Json::Bool(b) => b.to_string(),
            other => {
                return Err(self.syntax(
                    format!(
                        "a condition value must be a string, number or boolean, not {}",
                        other.type_name()
                    ),
                    path,
                    v.offset,
                ))
            }
        };
        Ok(Located {
            value,
            offset: v.offset,
        })
    }
}

/// `*`, or something shaped like an ARN (`arn:partition:service:region:account:resource`,
/// six colon-separated fields, wildcards allowed). AWS accepts wildcards in
/// every field, e.g. `arn:aws:s3:::*`.
pub fn resource_is_well_formed(r: &str) -> bool {
    if r == "*" {
        return true;
    }
    let mut parts = r.splitn(6, ':');
    let first = parts.next().unwrap_or("");
    if first != "arn" && first != "*" && !first.contains('*') {
        return false;
    }
    let rest: Vec<&str> = parts.collect();
    if rest.len() < 5 {
        // `arn:aws:s3:::bucket` has six fields; allow a trailing-`*` pattern
        // such as `arn:aws:*` that spans the remaining fields.
        return r.ends_with('*');
    }
    // partition and service must be present (possibly wildcarded).
    rest.first().is_some_and(|p| !p.is_empty()) && rest.get(1).is_some_and(|s| !s.is_empty())
}

/// Shape checks on principal values. IAM resolves ARNs to unique ids when a
/// policy is saved; offline we check the shape only.
fn principal_is_well_formed(key: PrincipalKey, v: &str) -> bool {
    match key {
        PrincipalKey::Aws => {
            if v == "*" {
                return true;
            }
            if v.len() == 12 && v.bytes().all(|b| b.is_ascii_digit()) {
                return true;
            }
            // AIDA.../AROA... unique ids appear where AWS could not resolve an ARN.
            if (v.starts_with("AIDA") || v.starts_with("AROA")) && v.len() >= 16 {
                return v.bytes().all(|b| b.is_ascii_alphanumeric());
            }
            let f: Vec<&str> = v.splitn(6, ':').collect();
            if f.len() != 6 || f.first() != Some(&"arn") || v.contains('*') || v.contains('?') {
                return false;
            }
            let service = f.get(2).copied().unwrap_or("");
            let account = f.get(4).copied().unwrap_or("");
            let res = f.get(5).copied().unwrap_or("");
            let acct_ok = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
            match service {
                "iam" => {
                    acct_ok
                        && (res == "root"
                            || res.starts_with("user/")
                            || res.starts_with("role/")
                            || res.starts_with("federated-user/"))
                }
                "sts" => {
                    acct_ok
                        && (res.starts_with("assumed-role/") || res.starts_with("federated-user/"))
                }
                _ => false,
            }
        }
        PrincipalKey::Service => !v.is_empty() && !v.contains(char::is_whitespace),
        PrincipalKey::Federated | PrincipalKey::CanonicalUser => !v.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str, ty: PolicyType) -> PolicyError {
        parse(text, ty).unwrap_err()
    }

    #[test]
    fn statement_object_or_array() {
        let d = parse(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}"#,
            PolicyType::Identity,
        )
        .unwrap();
        assert!(d.statement_is_object);
        assert_eq!(d.statements.len(), 1);
        assert_eq!(d.version(), Version::V2012_10_17);
    }

    #[test]
    fn syntax_error_has_position() {
        let e = err(
            "{\n \"Version\": \"2012-10-17\",\n \"Statement\": [}\n",
            PolicyType::Identity,
        );
        assert_eq!(e.message, msg::SYNTAX);
        assert_eq!((e.line, e.column), (3, 16));
    }

    #[test]
    fn identity_policy_rejects_principal() {
        let e = err(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}]}"#,
            PolicyType::Identity,
        );
        assert_eq!(e.message, msg::NO_PRINCIPAL_ALLOWED);
        assert_eq!(e.path, "Statement[0].Principal");
    }

    #[test]
    fn resource_policy_needs_principal() {
        let e = err(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole"}]}"#,
            PolicyType::Resource,
        );
        assert_eq!(e.message, "Missing required field Principal");
    }

    #[test]
    fn bad_resource_and_vendor() {
        let e = err(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":["*","bucket"]}]}"#,
            PolicyType::Identity,
        );
        assert_eq!(e.message, "Resource bucket must be in ARN format or \"*\".");
        assert_eq!(e.path, "Statement[0].Resource[1]");
        let e = err(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"GetObject","Resource":"*"}]}"#,
            PolicyType::Identity,
        );
        assert_eq!(e.message, msg::VENDOR);
    }

    #[test]
    fn unknown_operator_and_version() {
        let e = err(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEqualz":{"aws:username":"a"}}}]}"#,
            PolicyType::Identity,
        );
        assert_eq!(e.message, "Invalid Condition type : StringEqualz");
        assert_eq!(e.path, "Statement[0].Condition.StringEqualz");
        let e = err(
            r#"{"Version":"2012-10-18","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#,
            PolicyType::Identity,
        );
        assert_eq!(e.message, msg::LEGACY);
    }

    #[test]
    fn duplicate_sid_and_missing_effect() {
        let e = err(
            r#"{"Version":"2012-10-17","Statement":[{"Sid":"A","Effect":"Allow","Action":"s3:*","Resource":"*"},{"Sid":"A","Effect":"Deny","Action":"s3:*","Resource":"*"}]}"#,
            PolicyType::Identity,
        );
        assert_eq!(e.message, msg::DUPLICATE_SID);
        let e = err(
            r#"{"Version":"2012-10-17","Statement":[{"Action":"s3:*","Resource":"*"}]}"#,
            PolicyType::Identity,
        );
        assert_eq!(e.message, msg::SYNTAX);
        assert_eq!(e.detail.as_deref(), Some("the statement has no `Effect`"));
    }

    #[test]
    fn rcp_principal_must_be_star_and_scp_has_none() {
        let e = err(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":{"AWS":"111111111111"},"Action":"s3:*","Resource":"*"}]}"#,
            PolicyType::Rcp,
        );
        assert_eq!(e.message, "Invalid principal in policy");
        let e = err(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"*"}]}"#,
            PolicyType::Scp,
        );
        assert_eq!(e.message, "Has prohibited field Principal");
    }

    #[test]
    fn principals_are_checked() {
        let e = err(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::1234:user/x"},"Action":"s3:*","Resource":"*"}]}"#,
            PolicyType::Resource,
        );
        assert_eq!(
            e.message,
            "Invalid principal in policy: \"AWS\":\"arn:aws:iam::1234:user/x\""
        );
        parse(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["111111111111","arn:aws:iam::111111111111:role/r","arn:aws:sts::111111111111:assumed-role/r/s"],"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
            PolicyType::Resource,
        )
        .unwrap();
    }

    #[test]
    fn condition_values_accept_scalars() {
        let d = parse(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":true},"NumericLessThan":{"aws:MultiFactorAuthAge":[3600, "7200"]}}}]}"#,
            PolicyType::Identity,
        )
        .unwrap();
        let c = &d.statements[0].conditions;
        assert_eq!(c[0].values[0].value, "true");
        assert_eq!(c[1].values[0].value, "3600");
        assert!(err(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"Null":{"aws:x":null}}}]}"#,
            PolicyType::Identity
        )
        .message
        .contains("Syntax"));
    }
}
