//! Operations: decode the Query parameters, authorize with the action and
//! resource ARN AWS uses (the Service Authorization Reference's resource
//! types: <https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsidentityandaccessmanagementiam.html>),
//! call `ward-core`, write AWS's XML.

use crate::AppState;
use std::collections::BTreeMap;
use ward_core::auth::{Caller, RequestInfo};
use ward_core::iam::{Entity, Page, Paging};
use ward_core::model::*;
use ward_core::store::Store;
use ward_core::sts::AssumeRoleInput;
use ward_core::ApiError;
use ward_policy::ContextValue;
use ward_protocol::model::Service;
use ward_protocol::query::Params;
use ward_protocol::xml::{empty_response, response, XmlWriter};

type R = Result<String, ApiError>;

fn req<'a>(p: &'a Params, name: &str) -> Result<&'a str, ApiError> {
    p.get(name).ok_or_else(|| {
        ApiError::validation(format!(
            "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
            lower_camel(name)
        ))
    })
}

fn lower_camel(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

fn tags(p: &Params) -> Vec<Tag> {
    p.struct_list("Tags")
        .into_iter()
        .map(|m: BTreeMap<String, String>| Tag {
            key: m.get("Key").cloned().unwrap_or_default(),
            value: m.get("Value").cloned().unwrap_or_default(),
        })
        .collect()
}

fn paging(p: &Params) -> Paging {
    Paging {
        marker: p.get("Marker").map(str::to_string),
        max_items: p.get_i64("MaxItems").and_then(|v| u32::try_from(v).ok()),
    }
}

fn ctx(pairs: &[(&str, &str)]) -> Vec<(String, ContextValue)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), ContextValue::Single((*v).into())))
        .collect()
}

fn request_tag_context(t: &[Tag]) -> Vec<(String, ContextValue)> {
    let mut out: Vec<(String, ContextValue)> = t
        .iter()
        .map(|t| {
            (
                format!("aws:RequestTag/{}", t.key),
                ContextValue::Single(t.value.as_str().into()),
            )
        })
        .collect();
    if !t.is_empty() {
        out.push((
            "aws:TagKeys".into(),
            ContextValue::Multi(t.iter().map(|t| t.key.as_str().into()).collect()),
        ));
    }
    out
}

fn write_tags(w: &mut XmlWriter, tags: &[Tag]) {
    if !tags.is_empty() {
        w.list("Tags", tags, |w, t| {
            w.element("Key", &t.key);
            w.element("Value", &t.value);
        });
    }
}

fn write_boundary(w: &mut XmlWriter, b: Option<&str>) {
    if let Some(b) = b {
        w.nested("PermissionsBoundary", |w| {
            w.element("PermissionsBoundaryType", "Policy");
            w.element("PermissionsBoundaryArn", b);
        });
    }
}

fn write_user(w: &mut XmlWriter, u: &User) {
    w.element("Path", &u.path);
    w.element("UserName", &u.name);
    w.element("UserId", &u.id);
    w.element("Arn", &u.arn);
    w.timestamp_element("CreateDate", u.created);
    write_boundary(w, u.permissions_boundary.as_deref());
    write_tags(w, &u.tags);
}

fn write_group(w: &mut XmlWriter, g: &Group) {
    w.element("Path", &g.path);
    w.element("GroupName", &g.name);
    w.element("GroupId", &g.id);
    w.element("Arn", &g.arn);
    w.timestamp_element("CreateDate", g.created);
}

fn write_role(w: &mut XmlWriter, r: &Role) {
    w.element("Path", &r.path);
    w.element("RoleName", &r.name);
    w.element("RoleId", &r.id);
    w.element("Arn", &r.arn);
    w.timestamp_element("CreateDate", r.created);
    w.policy_element("AssumeRolePolicyDocument", &r.assume_role_policy);
    w.opt_element("Description", r.description.as_deref());
    w.int_element("MaxSessionDuration", i64::from(r.max_session_duration));
    write_boundary(w, r.permissions_boundary.as_deref());
    write_tags(w, &r.tags);
}

fn write_policy(w: &mut XmlWriter, p: &ManagedPolicy, attachments: u64) {
    w.element("PolicyName", &p.name);
    w.element("PolicyId", &p.id);
    w.element("Arn", &p.arn);
    w.element("Path", &p.path);
    w.element("DefaultVersionId", &p.default_version);
    w.int_element(
        "AttachmentCount",
        i64::try_from(attachments).unwrap_or(i64::MAX),
    );
    w.int_element("PermissionsBoundaryUsageCount", 0);
    w.bool_element("IsAttachable", true);
    w.opt_element("Description", p.description.as_deref());
    w.timestamp_element("CreateDate", p.created);
    w.timestamp_element("UpdateDate", p.updated);
    write_tags(w, &p.tags);
}

/// One page of a list held in memory; the marker is the next index.
fn page_of<'a, T>(items: &'a [T], paging: &Paging) -> Result<(&'a [T], Option<String>), ApiError> {
    let start = match &paging.marker {
        Some(m) => m
            .parse::<usize>()
            .ok()
            .filter(|&n| n <= items.len())
            .ok_or_else(|| ApiError::invalid_input(format!("Invalid Marker: {m}")))?,
        None => 0,
    };
    let end = start.saturating_add(paging.max_items.map_or(100, |m| m.clamp(1, 1000) as usize));
    let end = end.min(items.len());
    let page = items.get(start..end).unwrap_or_default();
    Ok((page, (end < items.len()).then(|| end.to_string())))
}

fn truncation(w: &mut XmlWriter, marker: &Option<String>) {
    w.bool_element("IsTruncated", marker.is_some());
    w.opt_element("Marker", marker.as_deref());
}

/// `arn:aws:iam::ACCOUNT:{what}{path}{name}`.
fn write_matched(w: &mut XmlWriter, matched: &[ward_core::sim::SimStatement]) {
    w.list("MatchedStatements", matched, |w, m| {
        w.element("SourcePolicyId", &m.source_policy_id);
        w.element("SourcePolicyType", m.source_policy_type);
        w.nested("StartPosition", |w| {
            w.int_element("Line", i64::try_from(m.start.line).unwrap_or(i64::MAX));
            w.int_element("Column", i64::try_from(m.start.column).unwrap_or(i64::MAX));
        });
        w.nested("EndPosition", |w| {
            w.int_element("Line", i64::try_from(m.end.line).unwrap_or(i64::MAX));
            w.int_element("Column", i64::try_from(m.end.column).unwrap_or(i64::MAX));
        });
    });
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn iam_arn(account: &str, what: &str, path: &str, name: &str) -> String {
    format!("arn:aws:iam::{account}:{what}{path}{name}")
}

/// Run one operation.
pub(crate) fn dispatch<S: Store>(
    st: &AppState<S>,
    service: Service,
    action: &str,
    p: &Params,
    caller: &Caller,
    info: &RequestInfo,
    rid: &str,
) -> R {
    if action.is_empty() {
        return Err(ApiError::new(
            "MissingAction",
            400,
            "Could not find operation  for version ".to_string() + service.api_version(),
        ));
    }
    let Some(_op) = service.operation(action) else {
        return Err(ApiError::new(
            "InvalidAction",
            400,
            format!(
                "Could not find operation {action} for version {}",
                service.api_version()
            ),
        ));
    };
    if let Err(e) = ward_protocol::validate::validate(service, action, p) {
        return Err(ApiError::new(e.code(), e.status(), e.to_string()));
    }
    match service {
        Service::Sts => sts(st, action, p, caller, info, rid),
        Service::Iam => iam(st, action, p, caller, info, rid),
    }
}

fn not_implemented(action: &str) -> ApiError {
    ApiError::new(
        "NotImplemented",
        501,
        format!("Ward does not implement {action} yet (see docs/compat.md)"),
    )
}

fn sts<S: Store>(
    st: &AppState<S>,
    action: &str,
    p: &Params,
    caller: &Caller,
    info: &RequestInfo,
    rid: &str,
) -> R {
    let ns = Service::Sts.xml_namespace();
    match action {
        // Always allowed, as in AWS.
        "GetCallerIdentity" => Ok(response(ns, action, rid, |w| {
            w.element("UserId", &caller.user_id);
            w.element("Account", &caller.account);
            w.element("Arn", &caller.arn);
        })),
        // No permission is needed, and policies cannot refuse it: "You
        // cannot use policies to control authentication operations"
        // (<https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_temp_control-access_getsessiontoken.html>).
        "GetSessionToken" => {
            let d = p
                .get_i64("DurationSeconds")
                .and_then(|v| u32::try_from(v).ok());
            let c = st.iam.get_session_token(
                caller,
                d,
                (p.get("SerialNumber"), p.get("TokenCode")),
                info,
            )?;
            Ok(response(ns, action, rid, |w| {
                w.nested("Credentials", |w| {
                    w.element("AccessKeyId", &c.access_key_id);
                    w.element("SecretAccessKey", &c.secret_access_key);
                    w.element("SessionToken", &c.session_token);
                    w.timestamp_element("Expiration", c.expiration);
                });
            }))
        }
        "GetAccessKeyInfo" => {
            let id = req(p, "AccessKeyId")?;
            // An action with no resource type in the Service Authorization
            // Reference: authorized on `*`.
            st.iam
                .authorize(caller, "sts:GetAccessKeyInfo", "*", &[], None, info)?;
            let account = st
                .iam
                .access_key(id)?
                .map(|k| k.account)
                .unwrap_or_else(|| caller.account.clone());
            Ok(response(ns, action, rid, |w| {
                w.element("Account", &account);
            }))
        }
        "AssumeRole" => {
            let input = AssumeRoleInput {
                role_arn: req(p, "RoleArn")?.into(),
                role_session_name: req(p, "RoleSessionName")?.into(),
                duration_seconds: p
                    .get_i64("DurationSeconds")
                    .and_then(|v| u32::try_from(v).ok()),
                policy: p.get("Policy").map(Into::into),
                policy_arns: p
                    .struct_list("PolicyArns")
                    .into_iter()
                    .filter_map(|m| m.get("arn").cloned())
                    .collect(),
                tags: tags(p),
                transitive_tag_keys: p
                    .list("TransitiveTagKeys")
                    .into_iter()
                    .map(Into::into)
                    .collect(),
                external_id: p.get("ExternalId").map(Into::into),
                source_identity: p.get("SourceIdentity").map(Into::into),
                serial_number: p.get("SerialNumber").map(Into::into),
                token_code: p.get("TokenCode").map(Into::into),
            };
            let out = st.iam.assume_role(caller, &input, info)?;
            Ok(response(ns, action, rid, |w| {
                w.nested("Credentials", |w| {
                    w.element("AccessKeyId", &out.credentials.access_key_id);
                    w.element("SecretAccessKey", &out.credentials.secret_access_key);
                    w.element("SessionToken", &out.credentials.session_token);
                    w.timestamp_element("Expiration", out.credentials.expiration);
                });
                w.nested("AssumedRoleUser", |w| {
                    w.element("AssumedRoleId", &out.assumed_role_id);
                    w.element("Arn", &out.assumed_role_arn);
                });
                w.opt_int_element("PackedPolicySize", out.packed_policy_size.map(i64::from));
                w.opt_element("SourceIdentity", out.source_identity.as_deref());
            }))
        }
        other => Err(not_implemented(other)),
    }
}

fn iam<S: Store>(
    st: &AppState<S>,
    action: &str,
    p: &Params,
    caller: &Caller,
    info: &RequestInfo,
    rid: &str,
) -> R {
    let ns = Service::Iam.xml_namespace();
    let a = caller.account.as_str();
    let i = &st.iam;
    let authz = |res: &str, extra: Vec<(String, ContextValue)>| {
        let r = i.authorize(caller, &format!("iam:{action}"), res, &extra, None, info);
        let result = match &r {
            Ok(()) => "allowed",
            Err(e) if e.code == "AccessDenied" => "denied",
            Err(_) => "error",
        };
        metrics::counter!("ward_decisions_total", "result" => result).increment(1);
        r
    };
    let now = info.now;
    let user_arn = |name: &str| i.entity_arn(a, "user", name);
    // An operation on "the caller's own user" when UserName is absent.
    let target_user = |p: &Params| -> Result<Option<String>, ApiError> {
        Ok(match p.get("UserName") {
            Some(u) => Some(u.to_string()),
            None => caller.user_name().map(str::to_string),
        })
    };
    match action {
        // ---------- users ----------
        "CreateUser" => {
            let name = req(p, "UserName")?;
            let path = p.get("Path").unwrap_or("/");
            let t = tags(p);
            let mut extra = request_tag_context(&t);
            if let Some(b) = p.get("PermissionsBoundary") {
                extra.extend(ctx(&[("iam:PermissionsBoundary", b)]));
            }
            authz(&iam_arn(a, "user", path, name), extra)?;
            let u = i.create_user(a, name, p.get("Path"), t, p.get("PermissionsBoundary"), now)?;
            Ok(response(ns, action, rid, |w| {
                w.nested("User", |w| write_user(w, &u));
            }))
        }
        "GetUser" => {
            let Some(name) = target_user(p)? else {
                if caller.is_root() {
                    // The root user: AWS answers with the account's root identity.
                    let arn = caller.arn.clone();
                    return Ok(response(ns, action, rid, |w| {
                        w.nested("User", |w| {
                            w.element("UserId", &caller.account);
                            w.element("Arn", &arn);
                            w.timestamp_element("CreateDate", 0);
                        });
                    }));
                }
                return Err(ApiError::validation(
                    "Must specify userName when calling with non-User credentials",
                ));
            };
            authz(&user_arn(&name)?, vec![])?;
            let u = i.get_user(a, &name)?;
            Ok(response(ns, action, rid, |w| {
                w.nested("User", |w| write_user(w, &u));
            }))
        }
        "ListUsers" => {
            // AWS authorizes listings on the path prefix: `arn:aws:iam::ACCOUNT:user/`.
            authz(
                &iam_arn(a, "user", p.get("PathPrefix").unwrap_or("/"), ""),
                vec![],
            )?;
            let page = i.list_users(a, p.get("PathPrefix"), &paging(p))?;
            Ok(response(ns, action, rid, |w| {
                w.list("Users", &page.items, write_user);
                truncation(w, &page.marker);
            }))
        }
        "DeleteUser" => {
            let name = req(p, "UserName")?;
            authz(&user_arn(name)?, vec![])?;
            i.delete_user(a, name)?;
            Ok(empty_response(ns, action, rid))
        }
        "UpdateUser" => {
            let name = req(p, "UserName")?;
            let old = i.get_user(a, name)?;
            authz(&old.arn, vec![])?;
            // Renaming needs the permission on the target as well.
            // https://docs.aws.amazon.com/IAM/latest/UserGuide/id_users_manage.html#id_users_renaming
            let new_name = p.get("NewUserName");
            let new_path = p.get("NewPath");
            if new_name.is_some() || new_path.is_some() {
                let target = iam_arn(
                    a,
                    "user",
                    new_path.unwrap_or(&old.path),
                    new_name.unwrap_or(&old.name),
                );
                if target != old.arn {
                    authz(&target, vec![])?;
                }
            }
            i.update_user(a, name, new_name, new_path)?;
            Ok(empty_response(ns, action, rid))
        }
        "ListGroupsForUser" => {
            let name = req(p, "UserName")?;
            authz(&user_arn(name)?, vec![])?;
            let groups = i.groups_for_user(a, name)?;
            Ok(response(ns, action, rid, |w| {
                w.list("Groups", &groups, write_group);
                w.bool_element("IsTruncated", false);
            }))
        }
        // ---------- access keys ----------
        "CreateAccessKey" => {
            let user = target_user(p)?;
            authz(
                &user.as_deref().map_or(Ok(caller.arn.clone()), user_arn)?,
                vec![],
            )?;
            let k = i.create_access_key(a, user.as_deref(), now)?;
            Ok(response(ns, action, rid, |w| {
                w.nested("AccessKey", |w| {
                    w.opt_element("UserName", k.key.user.as_deref());
                    w.element("AccessKeyId", &k.key.id);
                    w.element("Status", k.key.status.as_str());
                    w.element("SecretAccessKey", &k.secret);
                    w.timestamp_element("CreateDate", k.key.created);
                });
            }))
        }
        "ListAccessKeys" => {
            let user = target_user(p)?;
            authz(
                &user.as_deref().map_or(Ok(caller.arn.clone()), user_arn)?,
                vec![],
            )?;
            let keys = i.list_access_keys(a, user.as_deref())?;
            Ok(response(ns, action, rid, |w| {
                w.opt_element("UserName", user.as_deref());
                w.list("AccessKeyMetadata", &keys, |w, k| {
                    w.opt_element("UserName", k.user.as_deref());
                    w.element("AccessKeyId", &k.id);
                    w.element("Status", k.status.as_str());
                    w.timestamp_element("CreateDate", k.created);
                });
                w.bool_element("IsTruncated", false);
            }))
        }
        "UpdateAccessKey" => {
            let user = target_user(p)?;
            authz(
                &user.as_deref().map_or(Ok(caller.arn.clone()), user_arn)?,
                vec![],
            )?;
            let status = match req(p, "Status")? {
                "Active" => KeyStatus::Active,
                _ => KeyStatus::Inactive,
            };
            i.update_access_key(a, user.as_deref(), req(p, "AccessKeyId")?, status)?;
            Ok(empty_response(ns, action, rid))
        }
        "DeleteAccessKey" => {
            let user = target_user(p)?;
            authz(
                &user.as_deref().map_or(Ok(caller.arn.clone()), user_arn)?,
                vec![],
            )?;
            i.delete_access_key(a, user.as_deref(), req(p, "AccessKeyId")?)?;
            Ok(empty_response(ns, action, rid))
        }
        "GetAccessKeyLastUsed" => {
            let id = req(p, "AccessKeyId")?;
            let k = i
                .access_key(id)?
                .filter(|k| k.account == a)
                .ok_or_else(|| {
                    ApiError::no_such_entity(format!(
                        "The Access Key with id {id} cannot be found."
                    ))
                })?;
            let res = match &k.user {
                Some(u) => user_arn(u)?,
                None => caller.arn.clone(),
            };
            authz(&res, vec![])?;
            Ok(response(ns, action, rid, |w| {
                w.opt_element("UserName", k.user.as_deref());
                w.nested("AccessKeyLastUsed", |w| match &k.last_used {
                    Some(l) => {
                        w.timestamp_element("LastUsedDate", l.at);
                        w.element("ServiceName", &l.service);
                        w.element("Region", &l.region);
                    }
                    None => {
                        w.element("ServiceName", "N/A");
                        w.element("Region", "N/A");
                    }
                });
            }))
        }
        // ---------- groups ----------
        "CreateGroup" => {
            let name = req(p, "GroupName")?;
            authz(
                &iam_arn(a, "group", p.get("Path").unwrap_or("/"), name),
                vec![],
            )?;
            let g = i.create_group(a, name, p.get("Path"), now)?;
            Ok(response(ns, action, rid, |w| {
                w.nested("Group", |w| write_group(w, &g));
            }))
        }
        "GetGroup" => {
            let name = req(p, "GroupName")?;
            authz(&i.entity_arn(a, "group", name)?, vec![])?;
            let (g, users) = i.get_group(a, name)?;
            Ok(response(ns, action, rid, |w| {
                w.nested("Group", |w| write_group(w, &g));
                w.list("Users", &users, write_user);
                w.bool_element("IsTruncated", false);
            }))
        }
        "UpdateGroup" => {
            let name = req(p, "GroupName")?;
            let old = i.get_group(a, name)?.0;
            authz(&old.arn, vec![])?;
            let new_name = p.get("NewGroupName");
            let new_path = p.get("NewPath");
            let target = iam_arn(
                a,
                "group",
                new_path.unwrap_or(&old.path),
                new_name.unwrap_or(&old.name),
            );
            if target != old.arn {
                authz(&target, vec![])?;
            }
            i.update_group(a, name, new_name, new_path)?;
            Ok(empty_response(ns, action, rid))
        }
        "AddUserToGroup" | "RemoveUserFromGroup" => {
            let g = req(p, "GroupName")?;
            let u = req(p, "UserName")?;
            authz(&i.entity_arn(a, "group", g)?, vec![])?;
            if action == "AddUserToGroup" {
                i.add_user_to_group(a, g, u)?;
            } else {
                i.remove_user_from_group(a, g, u)?;
            }
            Ok(empty_response(ns, action, rid))
        }
        "DeleteGroup" => {
            let g = req(p, "GroupName")?;
            authz(&i.entity_arn(a, "group", g)?, vec![])?;
            i.delete_group(a, g)?;
            Ok(empty_response(ns, action, rid))
        }
        // ---------- roles ----------
        "CreateRole" => {
            let name = req(p, "RoleName")?;
            let path = p.get("Path").unwrap_or("/");
            let t = tags(p);
            let mut extra = request_tag_context(&t);
            if let Some(b) = p.get("PermissionsBoundary") {
                extra.extend(ctx(&[("iam:PermissionsBoundary", b)]));
            }
            authz(&iam_arn(a, "role", path, name), extra)?;
            let r = i.create_role(
                a,
                name,
                p.get("Path"),
                req(p, "AssumeRolePolicyDocument")?,
                p.get("Description"),
                p.get_i64("MaxSessionDuration")
                    .and_then(|v| u32::try_from(v).ok()),
                t,
                p.get("PermissionsBoundary"),
                now,
            )?;
            Ok(response(ns, action, rid, |w| {
                w.nested("Role", |w| write_role(w, &r));
            }))
        }
        "GetRole" => {
            let name = req(p, "RoleName")?;
            let r = i.get_role(a, name);
            authz(
                &r.as_ref()
                    .map_or_else(|_| iam_arn(a, "role/", "", name), |r| r.arn.clone()),
                vec![],
            )?;
            let r = r?;
            Ok(response(ns, action, rid, |w| {
                w.nested("Role", |w| write_role(w, &r));
            }))
        }
        "ListRoles" => {
            authz(
                &iam_arn(a, "role", p.get("PathPrefix").unwrap_or("/"), ""),
                vec![],
            )?;
            let page = i.list_roles(a, p.get("PathPrefix"), &paging(p))?;
            Ok(response(ns, action, rid, |w| {
                w.list("Roles", &page.items, write_role);
                truncation(w, &page.marker);
            }))
        }
        "UpdateAssumeRolePolicy" => {
            let name = req(p, "RoleName")?;
            authz(&i.entity_arn(a, "role", name)?, vec![])?;
            i.update_assume_role_policy(a, name, req(p, "PolicyDocument")?)?;
            Ok(empty_response(ns, action, rid))
        }
        "DeleteRole" => {
            let name = req(p, "RoleName")?;
            authz(&i.entity_arn(a, "role", name)?, vec![])?;
            i.delete_role(a, name)?;
            Ok(empty_response(ns, action, rid))
        }
        // ---------- managed policies ----------
        "CreatePolicy" => {
            let name = req(p, "PolicyName")?;
            let t = tags(p);
            authz(
                &iam_arn(a, "policy", p.get("Path").unwrap_or("/"), name),
                request_tag_context(&t),
            )?;
            let pol = i.create_policy(
                a,
                name,
                p.get("Path"),
                req(p, "PolicyDocument")?,
                p.get("Description"),
                t,
                now,
            )?;
            Ok(response(ns, action, rid, |w| {
                w.nested("Policy", |w| write_policy(w, &pol, 0));
            }))
        }
        "GetPolicy" => {
            let arn = req(p, "PolicyArn")?;
            authz(arn, vec![])?;
            let (pol, n) = i.get_policy(arn)?;
            Ok(response(ns, action, rid, |w| {
                w.nested("Policy", |w| write_policy(w, &pol, n));
            }))
        }
        "DeletePolicy" => {
            let arn = req(p, "PolicyArn")?;
            authz(arn, vec![])?;
            i.delete_policy(arn)?;
            Ok(empty_response(ns, action, rid))
        }
        "ListPolicies" => {
            authz("*", vec![])?;
            if p.get("Scope") == Some("AWS") {
                return Ok(response(ns, action, rid, |w| {
                    w.list("Policies", std::iter::empty::<()>(), |_, _| {});
                    w.bool_element("IsTruncated", false);
                }));
            }
            let page = i.list_policies(
                a,
                p.get("PathPrefix"),
                p.get_bool("OnlyAttached").unwrap_or(false),
                &paging(p),
            )?;
            Ok(response(ns, action, rid, |w| {
                w.list("Policies", &page.items, |w, (pol, n)| {
                    write_policy(w, pol, *n)
                });
                truncation(w, &page.marker);
            }))
        }
        "CreatePolicyVersion" => {
            let arn = req(p, "PolicyArn")?;
            authz(arn, vec![])?;
            let v = i.create_policy_version(
                arn,
                req(p, "PolicyDocument")?,
                p.get_bool("SetAsDefault").unwrap_or(false),
                now,
            )?;
            let default = i.get_policy(arn)?.0.default_version == v.version_id;
            Ok(response(ns, action, rid, |w| {
                w.nested("PolicyVersion", |w| {
                    w.element("VersionId", &v.version_id);
                    w.bool_element("IsDefaultVersion", default);
                    w.timestamp_element("CreateDate", v.created);
                });
            }))
        }
        "GetPolicyVersion" => {
            let arn = req(p, "PolicyArn")?;
            authz(arn, vec![])?;
            let (v, default) = i.get_policy_version(arn, req(p, "VersionId")?)?;
            Ok(response(ns, action, rid, |w| {
                w.nested("PolicyVersion", |w| {
                    w.policy_element("Document", &v.document);
                    w.element("VersionId", &v.version_id);
                    w.bool_element("IsDefaultVersion", default);
                    w.timestamp_element("CreateDate", v.created);
                });
            }))
        }
        "ListPolicyVersions" => {
            let arn = req(p, "PolicyArn")?;
            authz(arn, vec![])?;
            let (vs, default) = i.list_policy_versions(arn)?;
            Ok(response(ns, action, rid, |w| {
                w.list("Versions", &vs, |w, v| {
                    w.element("VersionId", &v.version_id);
                    w.bool_element("IsDefaultVersion", v.version_id == default);
                    w.timestamp_element("CreateDate", v.created);
                });
                w.bool_element("IsTruncated", false);
            }))
        }
        "SetDefaultPolicyVersion" | "DeletePolicyVersion" => {
            let arn = req(p, "PolicyArn")?;
            authz(arn, vec![])?;
            let v = req(p, "VersionId")?;
            if action == "SetDefaultPolicyVersion" {
                i.set_default_policy_version(arn, v)?;
            } else {
                i.delete_policy_version(arn, v)?;
            }
            Ok(empty_response(ns, action, rid))
        }
        "AttachUserPolicy" | "AttachGroupPolicy" | "AttachRolePolicy" | "DetachUserPolicy"
        | "DetachGroupPolicy" | "DetachRolePolicy" => {
            let (e, key, what) = entity_of(action);
            let name = req(p, key)?;
            let arn = req(p, "PolicyArn")?;
            authz(
                &i.entity_arn(a, what, name)?,
                ctx(&[("iam:PolicyARN", arn)]),
            )?;
            if action.starts_with("Attach") {
                i.attach_policy(a, e, name, arn)?;
            } else {
                i.detach_policy(a, e, name, arn)?;
            }
            Ok(empty_response(ns, action, rid))
        }
        "ListAttachedUserPolicies" | "ListAttachedGroupPolicies" | "ListAttachedRolePolicies" => {
            let (e, key, what) = entity_of(action);
            let name = req(p, key)?;
            authz(&i.entity_arn(a, what, name)?, vec![])?;
            let list = i.list_attached(a, e, name)?;
            Ok(response(ns, action, rid, |w| {
                w.list("AttachedPolicies", &list, |w, (n, arn)| {
                    w.element("PolicyName", n);
                    w.element("PolicyArn", arn);
                });
                w.bool_element("IsTruncated", false);
            }))
        }
        // ---------- inline policies ----------
        "PutUserPolicy" | "PutGroupPolicy" | "PutRolePolicy" => {
            let (e, key, what) = entity_of(action);
            let name = req(p, key)?;
            authz(&i.entity_arn(a, what, name)?, vec![])?;
            i.put_inline(a, e, name, req(p, "PolicyName")?, req(p, "PolicyDocument")?)?;
            Ok(empty_response(ns, action, rid))
        }
        "GetUserPolicy" | "GetGroupPolicy" | "GetRolePolicy" => {
            let (e, key, what) = entity_of(action);
            let name = req(p, key)?;
            authz(&i.entity_arn(a, what, name)?, vec![])?;
            let pol = i.get_inline(a, e, name, req(p, "PolicyName")?)?;
            Ok(response(ns, action, rid, |w| {
                w.element(key, name);
                w.element("PolicyName", &pol.name);
                w.policy_element("PolicyDocument", &pol.document);
            }))
        }
        "ListUserPolicies" | "ListGroupPolicies" | "ListRolePolicies" => {
            let (e, key, what) = entity_of(action);
            let name = req(p, key)?;
            authz(&i.entity_arn(a, what, name)?, vec![])?;
            let names = i.list_inline(a, e, name)?;
            Ok(response(ns, action, rid, |w| {
                w.string_list("PolicyNames", names.iter().map(String::as_str));
                w.bool_element("IsTruncated", false);
            }))
        }
        "DeleteUserPolicy" | "DeleteGroupPolicy" | "DeleteRolePolicy" => {
            let (e, key, what) = entity_of(action);
            let name = req(p, key)?;
            authz(&i.entity_arn(a, what, name)?, vec![])?;
            i.delete_inline(a, e, name, req(p, "PolicyName")?)?;
            Ok(empty_response(ns, action, rid))
        }
        // ---------- boundaries, updates, tags ----------
        "PutUserPermissionsBoundary"
        | "DeleteUserPermissionsBoundary"
        | "PutRolePermissionsBoundary"
        | "DeleteRolePermissionsBoundary" => {
            let (e, key, what) = entity_of(action);
            let name = req(p, key)?;
            let arn = if action.starts_with("Put") {
                Some(req(p, "PermissionsBoundary")?)
            } else {
                None
            };
            let extra = arn
                .map(|b| ctx(&[("iam:PermissionsBoundary", b)]))
                .unwrap_or_default();
            authz(&i.entity_arn(a, what, name)?, extra)?;
            i.set_boundary(a, e, name, arn)?;
            Ok(empty_response(ns, action, rid))
        }
        "UpdateRole" | "UpdateRoleDescription" => {
            let name = req(p, "RoleName")?;
            authz(&i.entity_arn(a, "role", name)?, vec![])?;
            let r = i.update_role(
                a,
                name,
                p.get("Description"),
                p.get_i64("MaxSessionDuration")
                    .and_then(|v| u32::try_from(v).ok()),
            )?;
            if action == "UpdateRole" {
                Ok(response(ns, action, rid, |_| {}))
            } else {
                Ok(response(ns, action, rid, |w| {
                    w.nested("Role", |w| write_role(w, &r));
                }))
            }
        }
        "TagUser" | "TagRole" | "TagPolicy" | "TagMFADevice" | "UntagUser" | "UntagRole"
        | "UntagPolicy" | "UntagMFADevice" | "ListUserTags" | "ListRoleTags" | "ListPolicyTags"
        | "ListMFADeviceTags" => {
            use ward_core::iam::Taggable;
            let (t, key) = if action.ends_with("User") || action.ends_with("UserTags") {
                (Taggable::User, "UserName")
            } else if action.ends_with("Role") || action.ends_with("RoleTags") {
                (Taggable::Role, "RoleName")
            } else if action.ends_with("MFADevice") || action.ends_with("MFADeviceTags") {
                (Taggable::MfaDevice, "SerialNumber")
            } else {
                (Taggable::Policy, "PolicyArn")
            };
            let name = req(p, key)?;
            let res = match t {
                Taggable::User => user_arn(name)?,
                Taggable::Role => i
                    .get_role(a, name)
                    .map_or_else(|_| iam_arn(a, "role/", "", name), |r| r.arn),
                Taggable::Policy | Taggable::MfaDevice => name.to_string(),
            };
            if action.starts_with("Tag") {
                let new = tags(p);
                authz(&res, request_tag_context(&new))?;
                i.tag(a, t, name, &new)?;
                Ok(empty_response(ns, action, rid))
            } else if action.starts_with("Untag") {
                let keys = p.list("TagKeys");
                let extra = vec![(
                    "aws:TagKeys".to_string(),
                    ContextValue::Multi(keys.iter().map(|k| (*k).into()).collect()),
                )];
                authz(&res, extra)?;
                i.untag(a, t, name, &keys)?;
                Ok(empty_response(ns, action, rid))
            } else {
                authz(&res, vec![])?;
                let list = i.list_tags(a, t, name)?;
                Ok(response(ns, action, rid, |w| {
                    w.list("Tags", &list, |w, t| {
                        w.element("Key", &t.key);
                        w.element("Value", &t.value);
                    });
                    w.bool_element("IsTruncated", false);
                }))
            }
        }
        // ---------- credential report ----------
        "GenerateCredentialReport" => {
            authz("*", vec![])?;
            let started = i.generate_credential_report(a, now)?;
            Ok(response(ns, action, rid, |w| {
                if started {
                    w.element("State", "STARTED");
                    w.element(
                        "Description",
                        "No report exists. Starting a new report generation task",
                    );
                } else {
                    w.element("State", "COMPLETE");
                }
            }))
        }
        "GetCredentialReport" => {
            authz("*", vec![])?;
            let r = i.credential_report(a, now)?;
            Ok(response(ns, action, rid, |w| {
                w.element("Content", &b64(r.csv.as_bytes()));
                w.element("ReportFormat", "text/csv");
                w.timestamp_element("GeneratedTime", r.generated);
            }))
        }
        // ---------- last accessed (from the audit trail) ----------
        "GenerateServiceLastAccessedDetails" => {
            let arn = req(p, "Arn")?;
            authz(arn, vec![])?;
            let action_level = p.get("Granularity") == Some("ACTION_LEVEL");
            let id = i.generate_last_accessed(a, arn, action_level, now)?;
            Ok(response(ns, action, rid, |w| {
                w.element("JobId", &id);
            }))
        }
        "GetServiceLastAccessedDetails" => {
            authz("*", vec![])?;
            let job = i.last_accessed_job(a, req(p, "JobId")?)?;
            let (items, marker) = page_of(&job.services, &paging(p))?;
            Ok(response(ns, action, rid, |w| {
                w.element("JobStatus", "COMPLETED");
                w.element(
                    "JobType",
                    if job.action_level {
                        "ACTION_LEVEL"
                    } else {
                        "SERVICE_LEVEL"
                    },
                );
                w.timestamp_element("JobCreationDate", job.created);
                w.list("ServicesLastAccessed", items, |w, s| {
                    w.element("ServiceName", &s.name);
                    w.opt_timestamp_element("LastAuthenticated", s.last);
                    w.element("ServiceNamespace", &s.namespace);
                    w.opt_element("LastAuthenticatedEntity", s.entity.as_deref());
                    w.opt_element("LastAuthenticatedRegion", s.region.as_deref());
                    w.int_element("TotalAuthenticatedEntities", i64::from(s.total_entities));
                    if let Some(actions) = &s.actions {
                        w.list("TrackedActionsLastAccessed", actions, |w, t| {
                            w.element("ActionName", &t.name);
                            w.opt_element("LastAccessedEntity", t.entity.as_deref());
                            w.opt_timestamp_element("LastAccessedTime", t.last);
                            w.opt_element("LastAccessedRegion", t.region.as_deref());
                        });
                    }
                });
                w.timestamp_element("JobCompletionDate", job.completed);
                truncation(w, &marker);
            }))
        }
        "GetServiceLastAccessedDetailsWithEntities" => {
            authz("*", vec![])?;
            let job = i.last_accessed_job(a, req(p, "JobId")?)?;
            let ns_name = req(p, "ServiceNamespace")?;
            let service = job.services.iter().find(|s| s.namespace == ns_name);
            let entities: Vec<_> = service
                .map(|s| {
                    s.entities
                        .iter()
                        .filter(|(_, t)| t.is_some())
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            let (items, marker) = page_of(&entities, &paging(p))?;
            Ok(response(ns, action, rid, |w| {
                w.element("JobStatus", "COMPLETED");
                w.timestamp_element("JobCreationDate", job.created);
                w.timestamp_element("JobCompletionDate", job.completed);
                w.list("EntityDetailsList", items, |w, (e, t)| {
                    w.nested("EntityInfo", |w| {
                        w.element("Arn", &e.arn);
                        w.element("Name", &e.name);
                        w.element("Type", &e.kind);
                        w.element("Id", &e.id);
                        w.element("Path", &e.path);
                    });
                    w.opt_timestamp_element("LastAuthenticated", *t);
                });
                truncation(w, &marker);
            }))
        }
        // ---------- the policy simulator ----------
        "SimulatePrincipalPolicy" | "SimulateCustomPolicy" => {
            use ward_core::sim::{SimInput, SimPolicy};
            let inputs = |name: &str, prefix: &str| -> Vec<SimPolicy> {
                p.list(name)
                    .into_iter()
                    .enumerate()
                    .map(|(n, text)| SimPolicy {
                        id: format!("{prefix}.{}", n + 1),
                        source_type: "none",
                        text: text.to_string(),
                    })
                    .collect()
            };
            let mut context = Vec::new();
            for e in p.struct_list("ContextEntries") {
                let mut values: Vec<(u32, String)> = e
                    .iter()
                    .filter_map(|(k, v)| {
                        let i = k.strip_prefix("ContextKeyValues.member.")?.parse().ok()?;
                        Some((i, v.clone()))
                    })
                    .collect();
                values.sort();
                let name = e.get("ContextKeyName").cloned().unwrap_or_default();
                let ty = e.get("ContextKeyType").map_or("string", String::as_str);
                context.push(ward_core::sim::context_entry(
                    &name,
                    values.into_iter().map(|(_, v)| v).collect(),
                    ty,
                )?);
            }
            let input = SimInput {
                actions: p
                    .list("ActionNames")
                    .into_iter()
                    .map(str::to_string)
                    .collect(),
                resources: p
                    .list("ResourceArns")
                    .into_iter()
                    .map(str::to_string)
                    .collect(),
                context,
                resource_policy: p.get("ResourcePolicy").map(str::to_string),
                resource_owner: p.get("ResourceOwner").map(str::to_string),
                caller_arn: p.get("CallerArn").map(str::to_string),
            };
            let (principal, account, mut identity, mut boundary) =
                if action == "SimulatePrincipalPolicy" {
                    let source = req(p, "PolicySourceArn")?;
                    authz(source, vec![])?;
                    let (acct, identity, boundary) = i.principal_policies(source)?;
                    (
                        source.to_string(),
                        Some(acct),
                        identity,
                        boundary.into_iter().collect::<Vec<_>>(),
                    )
                } else {
                    authz("*", vec![])?;
                    // The policies alone decide, for an IAM user of the caller's
                    // account (never the root user, whom no policy binds), unless
                    // `CallerArn` names one.
                    (
                        iam_arn(a, "user/", "", "simulated-principal"),
                        None,
                        Vec::new(),
                        Vec::new(),
                    )
                };
            identity.extend(inputs("PolicyInputList", "PolicyInputList"));
            let given = inputs(
                "PermissionsBoundaryPolicyInputList",
                "PermissionsBoundaryPolicyInputList",
            );
            if !given.is_empty() {
                boundary = given;
            }
            let results =
                i.simulate(&principal, account.as_deref(), &identity, &boundary, &input)?;
            Ok(response(ns, action, rid, |w| {
                w.list("EvaluationResults", &results, |w, r| {
                    w.element("EvalActionName", &r.action);
                    w.element("EvalResourceName", &r.resource);
                    w.element("EvalDecision", r.decision);
                    write_matched(w, &r.matched);
                    w.string_list("MissingContextValues", r.missing.iter().map(String::as_str));
                    if let Some(a) = r.allowed_by_organizations {
                        w.nested("OrganizationsDecisionDetail", |w| {
                            w.bool_element("AllowedByOrganizations", a);
                        });
                    }
                    if let Some(a) = r.allowed_by_boundary {
                        w.nested("PermissionsBoundaryDecisionDetail", |w| {
                            w.bool_element("AllowedByPermissionsBoundary", a);
                        });
                    }
                    if !r.details.is_empty() {
                        w.map(
                            "EvalDecisionDetails",
                            r.details.iter().map(|(k, v)| (*k, (*v).to_string())),
                        );
                    }
                    w.list(
                        "ResourceSpecificResults",
                        std::slice::from_ref(r),
                        |w, r| {
                            w.element("EvalResourceName", &r.resource);
                            w.element("EvalResourceDecision", r.decision);
                            write_matched(w, &r.matched);
                            w.string_list(
                                "MissingContextValues",
                                r.missing.iter().map(String::as_str),
                            );
                        },
                    );
                });
                w.bool_element("IsTruncated", false);
            }))
        }
        "GetContextKeysForPrincipalPolicy" | "GetContextKeysForCustomPolicy" => {
            use ward_core::sim::SimPolicy;
            let mut policies: Vec<SimPolicy> = Vec::new();
            if action == "GetContextKeysForPrincipalPolicy" {
                let source = req(p, "PolicySourceArn")?;
                authz(source, vec![])?;
                let (_, identity, _) = i.principal_policies(source)?;
                policies = identity;
            } else {
                authz("*", vec![])?;
            }
            for (n, text) in p.list("PolicyInputList").into_iter().enumerate() {
                policies.push(SimPolicy {
                    id: format!("PolicyInputList.{}", n + 1),
                    source_type: "none",
                    text: text.to_string(),
                });
            }
            let keys = i.context_keys_of(&policies)?;
            Ok(response(ns, action, rid, |w| {
                w.string_list("ContextKeyNames", keys.iter().map(String::as_str));
            }))
        }
        // ---------- MFA devices ----------
        "CreateVirtualMFADevice" => {
            let name = req(p, "VirtualMFADeviceName")?;
            let path = p.get("Path").unwrap_or("/");
            let t = tags(p);
            authz(&iam_arn(a, "mfa", path, name), request_tag_context(&t))?;
            let new = i.create_virtual_mfa_device(a, name, Some(path), t, now)?;
            Ok(response(ns, action, rid, |w| {
                w.nested("VirtualMFADevice", |w| {
                    w.element("SerialNumber", &new.device.serial);
                    // Blobs travel base64-encoded; the seed itself is base32 text.
                    w.element("Base32StringSeed", &b64(new.seed.as_bytes()));
                    w.element("QRCodePNG", &b64(&new.qr_png));
                    write_tags(w, &new.device.tags);
                });
            }))
        }
        "EnableMFADevice" | "ResyncMFADevice" => {
            let user = req(p, "UserName")?;
            let serial = req(p, "SerialNumber")?;
            let (c1, c2) = (
                req(p, "AuthenticationCode1")?,
                req(p, "AuthenticationCode2")?,
            );
            authz(&user_arn(user)?, vec![])?;
            if action == "EnableMFADevice" {
                i.enable_mfa_device(a, user, serial, c1, c2, now)?;
            } else {
                i.resync_mfa_device(a, user, serial, c1, c2, now)?;
            }
            Ok(empty_response(ns, action, rid))
        }
        "DeactivateMFADevice" => {
            let serial = req(p, "SerialNumber")?;
            let user = match target_user(p)? {
                Some(u) => u,
                None => i
                    .get_mfa_device(a, serial)
                    .ok()
                    .and_then(|d| d.user)
                    .ok_or_else(|| {
                        ApiError::no_such_entity(format!(
                            "MFA Device with serial number {serial} does not exist."
                        ))
                    })?,
            };
            authz(&user_arn(&user)?, vec![])?;
            i.deactivate_mfa_device(a, &user, serial)?;
            Ok(empty_response(ns, action, rid))
        }
        "DeleteVirtualMFADevice" => {
            let serial = req(p, "SerialNumber")?;
            authz(serial, vec![])?;
            i.delete_virtual_mfa_device(a, serial)?;
            Ok(empty_response(ns, action, rid))
        }
        "GetMFADevice" => {
            let serial = req(p, "SerialNumber")?;
            let d = i.get_mfa_device(a, serial);
            let user = match (
                p.get("UserName"),
                d.as_ref().ok().and_then(|d| d.user.clone()),
            ) {
                (Some(u), _) => Some(u.to_string()),
                (None, u) => u,
            };
            match &user {
                Some(u) => authz(&user_arn(u)?, vec![])?,
                None => authz(serial, vec![])?,
            }
            let d = d?;
            Ok(response(ns, action, rid, |w| {
                w.opt_element("UserName", d.user.as_deref());
                w.element("SerialNumber", &d.serial);
                if let Some(t) = d.enabled {
                    w.timestamp_element("EnableDate", t);
                }
            }))
        }
        "ListMFADevices" => {
            let user = target_user(p)?;
            let page = match &user {
                Some(u) => {
                    authz(&user_arn(u)?, vec![])?;
                    i.list_mfa_devices(a, u, &paging(p))?
                }
                // The root user: its devices are managed outside the API.
                None => {
                    authz(&caller.arn, vec![])?;
                    Page {
                        items: vec![],
                        marker: None,
                    }
                }
            };
            Ok(response(ns, action, rid, |w| {
                w.list("MFADevices", &page.items, |w, d| {
                    w.opt_element("UserName", d.user.as_deref());
                    w.element("SerialNumber", &d.serial);
                    if let Some(t) = d.enabled {
                        w.timestamp_element("EnableDate", t);
                    }
                });
                truncation(w, &page.marker);
            }))
        }
        "ListVirtualMFADevices" => {
            use ward_core::mfa::Assignment;
            authz(&iam_arn(a, "mfa", "/", ""), vec![])?;
            let which = match p.get("AssignmentStatus") {
                Some("Assigned") => Assignment::Assigned,
                Some("Unassigned") => Assignment::Unassigned,
                _ => Assignment::Any,
            };
            let page = i.list_virtual_mfa_devices(a, which, &paging(p))?;
            Ok(response(ns, action, rid, |w| {
                w.list("VirtualMFADevices", &page.items, |w, (d, u)| {
                    w.element("SerialNumber", &d.serial);
                    if let Some(u) = u {
                        w.nested("User", |w| write_user(w, u));
                    }
                    if let Some(t) = d.enabled {
                        w.timestamp_element("EnableDate", t);
                    }
                    write_tags(w, &d.tags);
                });
                truncation(w, &page.marker);
            }))
        }
        // ---------- account ----------
        "CreateAccountAlias" | "DeleteAccountAlias" => {
            authz("*", vec![])?;
            let alias = req(p, "AccountAlias")?;
            if action == "CreateAccountAlias" {
                i.create_account_alias(a, alias)?;
            } else {
                i.delete_account_alias(a, alias)?;
            }
            Ok(empty_response(ns, action, rid))
        }
        "ListAccountAliases" => {
            authz("*", vec![])?;
            let alias = i.account(a)?.and_then(|acc| acc.alias);
            Ok(response(ns, action, rid, |w| {
                w.string_list("AccountAliases", alias.iter().map(String::as_str));
                w.bool_element("IsTruncated", false);
            }))
        }
        "GetAccountSummary" => {
            authz("*", vec![])?;
            let m = i.account_summary(a)?;
            Ok(response(ns, action, rid, |w| {
                w.map("SummaryMap", m.iter().map(|(k, v)| (*k, v.to_string())));
            }))
        }
        "ListEntitiesForPolicy" => {
            let arn = req(p, "PolicyArn")?;
            authz(arn, vec![])?;
            let (g, u, r) = i.entities_for_policy(arn)?;
            let filter = p.get("EntityFilter");
            let want = |k: &str| filter.is_none_or(|f| f == k);
            Ok(response(ns, action, rid, |w| {
                w.list(
                    "PolicyGroups",
                    g.iter().filter(|_| want("Group")),
                    |w, g| {
                        w.element("GroupName", &g.name);
                        w.element("GroupId", &g.id);
                    },
                );
                w.list("PolicyUsers", u.iter().filter(|_| want("User")), |w, u| {
                    w.element("UserName", &u.name);
                    w.element("UserId", &u.id);
                });
                w.list("PolicyRoles", r.iter().filter(|_| want("Role")), |w, r| {
                    w.element("RoleName", &r.name);
                    w.element("RoleId", &r.id);
                });
                w.bool_element("IsTruncated", false);
            }))
        }
        "ListGroups" => {
            authz(
                &iam_arn(a, "group", p.get("PathPrefix").unwrap_or("/"), ""),
                vec![],
            )?;
            let page = i.list_groups(a, p.get("PathPrefix"), &paging(p))?;
            Ok(response(ns, action, rid, |w| {
                w.list("Groups", &page.items, write_group);
                truncation(w, &page.marker);
            }))
        }
        "GetAccountAuthorizationDetails" => {
            authz("*", vec![])?;
            let filter = p.list("Filter");
            let want = |k: &str| filter.is_empty() || filter.contains(&k);
            let users = if want("User") {
                all_pages(|pg| i.list_users(a, None, pg))?
            } else {
                vec![]
            };
            let groups = if want("Group") {
                all_pages(|pg| i.list_groups(a, None, pg))?
            } else {
                vec![]
            };
            let roles = if want("Role") {
                all_pages(|pg| i.list_roles(a, None, pg))?
            } else {
                vec![]
            };
            let policies = if want("LocalManagedPolicy") {
                all_pages(|pg| i.list_policies(a, None, false, pg))?
            } else {
                vec![]
            };
            // Gather the details first: writing XML cannot fail.
            let inline_docs = |e: Entity, name: &str| -> Result<Vec<(String, String)>, ApiError> {
                let mut out = Vec::new();
                for pn in i.list_inline(a, e, name)? {
                    let pol = i.get_inline(a, e, name, &pn)?;
                    out.push((pol.name, pol.document));
                }
                Ok(out)
            };
            let mut user_details = Vec::new();
            for u in &users {
                let groups: Vec<String> = i
                    .groups_for_user(a, &u.name)?
                    .into_iter()
                    .map(|g| g.name)
                    .collect();
                user_details.push((
                    u,
                    inline_docs(Entity::User, &u.name)?,
                    groups,
                    i.list_attached(a, Entity::User, &u.name)?,
                ));
            }
            let mut group_details = Vec::new();
            for g in &groups {
                group_details.push((
                    g,
                    inline_docs(Entity::Group, &g.name)?,
                    i.list_attached(a, Entity::Group, &g.name)?,
                ));
            }
            let mut role_details = Vec::new();
            for r in &roles {
                let profiles = i.instance_profiles_for_role(a, &r.name)?;
                role_details.push((
                    r,
                    inline_docs(Entity::Role, &r.name)?,
                    i.list_attached(a, Entity::Role, &r.name)?,
                    profiles,
                ));
            }
            let mut policy_details = Vec::new();
            for (pol, n) in &policies {
                let (versions, default) = i.list_policy_versions(&pol.arn)?;
                policy_details.push((pol, *n, versions, default));
            }
            let attached = |w: &mut XmlWriter, list: &[(String, String)]| {
                w.list("AttachedManagedPolicies", list, |w, (n, arn)| {
                    w.element("PolicyName", n);
                    w.element("PolicyArn", arn);
                });
            };
            let inline = |w: &mut XmlWriter, name: &str, list: &[(String, String)]| {
                w.list(name, list, |w, (n, d)| {
                    w.element("PolicyName", n);
                    w.policy_element("PolicyDocument", d);
                });
            };
            Ok(response(ns, action, rid, |w| {
                w.list(
                    "UserDetailList",
                    &user_details,
                    |w, (u, pols, groups, att)| {
                        w.element("Path", &u.path);
                        w.element("UserName", &u.name);
                        w.element("UserId", &u.id);
                        w.element("Arn", &u.arn);
                        w.timestamp_element("CreateDate", u.created);
                        inline(w, "UserPolicyList", pols);
                        w.string_list("GroupList", groups.iter().map(String::as_str));
                        attached(w, att);
                        write_boundary(w, u.permissions_boundary.as_deref());
                        write_tags(w, &u.tags);
                    },
                );
                w.list("GroupDetailList", &group_details, |w, (g, pols, att)| {
                    w.element("Path", &g.path);
                    w.element("GroupName", &g.name);
                    w.element("GroupId", &g.id);
                    w.element("Arn", &g.arn);
                    w.timestamp_element("CreateDate", g.created);
                    inline(w, "GroupPolicyList", pols);
                    attached(w, att);
                });
                w.list(
                    "RoleDetailList",
                    &role_details,
                    |w, (r, pols, att, profiles)| {
                        w.element("Path", &r.path);
                        w.element("RoleName", &r.name);
                        w.element("RoleId", &r.id);
                        w.element("Arn", &r.arn);
                        w.timestamp_element("CreateDate", r.created);
                        w.policy_element("AssumeRolePolicyDocument", &r.assume_role_policy);
                        w.list("InstanceProfileList", profiles, |w, (ip, roles)| {
                            write_instance_profile(w, ip, roles)
                        });
                        inline(w, "RolePolicyList", pols);
                        attached(w, att);
                        write_boundary(w, r.permissions_boundary.as_deref());
                        write_tags(w, &r.tags);
                    },
                );
                w.list(
                    "Policies",
                    &policy_details,
                    |w, (pol, n, versions, default)| {
                        w.element("PolicyName", &pol.name);
                        w.element("PolicyId", &pol.id);
                        w.element("Arn", &pol.arn);
                        w.element("Path", &pol.path);
                        w.element("DefaultVersionId", &pol.default_version);
                        w.int_element("AttachmentCount", i64::try_from(*n).unwrap_or(i64::MAX));
                        w.int_element("PermissionsBoundaryUsageCount", 0);
                        w.bool_element("IsAttachable", true);
                        w.opt_element("Description", pol.description.as_deref());
                        w.timestamp_element("CreateDate", pol.created);
                        w.timestamp_element("UpdateDate", pol.updated);
                        w.list("PolicyVersionList", versions, |w, v| {
                            w.policy_element("Document", &v.document);
                            w.element("VersionId", &v.version_id);
                            w.bool_element("IsDefaultVersion", v.version_id == *default);
                            w.timestamp_element("CreateDate", v.created);
                        });
                    },
                );
                w.bool_element("IsTruncated", false);
            }))
        }
        // ---------- instance profiles ----------
        "CreateInstanceProfile" => {
            let name = req(p, "InstanceProfileName")?;
            let t = tags(p);
            authz(
                &iam_arn(a, "instance-profile", p.get("Path").unwrap_or("/"), name),
                request_tag_context(&t),
            )?;
            let ip = i.create_instance_profile(a, name, p.get("Path"), t, now)?;
            Ok(response(ns, action, rid, |w| {
                w.nested("InstanceProfile", |w| write_instance_profile(w, &ip, &[]));
            }))
        }
        "GetInstanceProfile" => {
            let name = req(p, "InstanceProfileName")?;
            authz(&i.entity_arn(a, "instance-profile", name)?, vec![])?;
            let (ip, roles) = i.get_instance_profile(a, name)?;
            Ok(response(ns, action, rid, |w| {
                w.nested("InstanceProfile", |w| {
                    write_instance_profile(w, &ip, &roles)
                });
            }))
        }
        "ListInstanceProfiles" => {
            authz(
                &iam_arn(
                    a,
                    "instance-profile",
                    p.get("PathPrefix").unwrap_or("/"),
                    "",
                ),
                vec![],
            )?;
            let page = i.list_instance_profiles(a, p.get("PathPrefix"), &paging(p))?;
            let mut full = Vec::new();
            for ip in &page.items {
                full.push(i.get_instance_profile(a, &ip.name)?);
            }
            Ok(response(ns, action, rid, |w| {
                w.list("InstanceProfiles", &full, |w, (ip, roles)| {
                    write_instance_profile(w, ip, roles)
                });
                truncation(w, &page.marker);
            }))
        }
        "ListInstanceProfilesForRole" => {
            let role = req(p, "RoleName")?;
            authz(&i.entity_arn(a, "role", role)?, vec![])?;
            let full = i.instance_profiles_for_role(a, role)?;
            Ok(response(ns, action, rid, |w| {
                w.list("InstanceProfiles", &full, |w, (ip, roles)| {
                    write_instance_profile(w, ip, roles)
                });
                w.bool_element("IsTruncated", false);
            }))
        }
        "AddRoleToInstanceProfile" | "RemoveRoleFromInstanceProfile" => {
            let name = req(p, "InstanceProfileName")?;
            let role = req(p, "RoleName")?;
            authz(&i.entity_arn(a, "instance-profile", name)?, vec![])?;
            if action.starts_with("Add") {
                // Putting a role on an instance profile passes it to the workloads that carry it.
                let r = i.get_role(a, role)?;
                i.authorize(
                    caller,
                    "iam:PassRole",
                    &r.arn,
                    &ctx(&[("iam:PassedToService", "ec2.amazonaws.com")]),
                    None,
                    info,
                )?;
                i.add_role_to_instance_profile(a, name, role)?;
            } else {
                i.remove_role_from_instance_profile(a, name, role)?;
            }
            Ok(empty_response(ns, action, rid))
        }
        "DeleteInstanceProfile" => {
            let name = req(p, "InstanceProfileName")?;
            authz(&i.entity_arn(a, "instance-profile", name)?, vec![])?;
            i.delete_instance_profile(a, name)?;
            Ok(empty_response(ns, action, rid))
        }
        other => Err(not_implemented(other)),
    }
}

fn write_instance_profile(w: &mut XmlWriter, ip: &InstanceProfile, roles: &[Role]) {
    w.element("Path", &ip.path);
    w.element("InstanceProfileName", &ip.name);
    w.element("InstanceProfileId", &ip.id);
    w.element("Arn", &ip.arn);
    w.timestamp_element("CreateDate", ip.created);
    w.list("Roles", roles, write_role);
    write_tags(w, &ip.tags);
}

/// Every item of a paged listing.
fn all_pages<T>(
    mut list: impl FnMut(&Paging) -> Result<Page<T>, ApiError>,
) -> Result<Vec<T>, ApiError> {
    let mut out = Vec::new();
    let mut paging = Paging {
        marker: None,
        max_items: Some(1000),
    };
    loop {
        let page = list(&paging)?;
        out.extend(page.items);
        match page.marker {
            Some(m) => paging.marker = Some(m),
            None => return Ok(out),
        }
    }
}

/// The entity an `...User...`/`...Group...`/`...Role...` action is about:
/// (kind, parameter name, ARN resource type).
fn entity_of(action: &str) -> (Entity, &'static str, &'static str) {
    if action.contains("Group") {
        (Entity::Group, "GroupName", "group")
    } else if action.contains("Role") {
        (Entity::Role, "RoleName", "role")
    } else {
        (Entity::User, "UserName", "user")
    }
}
