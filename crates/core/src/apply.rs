//! `ward apply`: the environment model as code. A TOML document declares
//! accounts (organization members), customer managed policies, groups,
//! users, roles with their trust requirements (MFA, maximum MFA age,
//! external id), permission boundaries and SCP guardrails; [`Iam::plan`]
//! computes the changes that make the store match it, [`Iam::apply`] makes
//! them through the same IAM and Organizations logic as the API (same
//! validation, each change authorized as the caller).
//!
//! Everything in the file is checked before anything changes: TOML syntax,
//! unknown keys, references (a group, a policy, an account, a boundary),
//! every policy document with the engine's parser — an error names the
//! line. What the file does not mention is left alone; a second apply of
//! the same file changes nothing. The format: `docs/apply.md`.

use crate::auth::{Caller, RequestInfo};
use crate::error::{ApiError, ApiResult};
use crate::iam::{Entity, Iam};
use crate::model::Tag;
use crate::org;
use crate::store::Store;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use toml::Spanned;
use ward_policy::PolicyType;

/// The environment model (see `docs/apply.md`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Model {
    #[serde(default)]
    pub accounts: BTreeMap<String, AccountSpec>,
    #[serde(default)]
    pub policies: BTreeMap<String, PolicySpec>,
    #[serde(default)]
    pub groups: BTreeMap<String, GroupSpec>,
    #[serde(default)]
    pub users: BTreeMap<String, UserSpec>,
    #[serde(default)]
    pub roles: BTreeMap<String, RoleSpec>,
    #[serde(default)]
    pub scps: BTreeMap<String, ScpSpec>,
}

/// A member account of the caller's organization, by name.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountSpec {
    pub email: String,
    /// The OU (directly under the root) the account sits in.
    #[serde(default)]
    pub ou: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySpec {
    #[serde(default)]
    pub description: Option<String>,
    pub document: Spanned<String>,
    /// More accounts to create it in (names from `[accounts]`, or `self`)
    /// besides those whose users, groups or roles attach it: session-policy
    /// templates that people pass to `AssumeRole` as `PolicyArns` live in
    /// the role's account without being attached.
    #[serde(default)]
    pub accounts: Vec<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    #[serde(default)]
    pub policies: Vec<Spanned<String>>,
    #[serde(default)]
    pub inline: BTreeMap<String, Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSpec {
    #[serde(default)]
    pub groups: Vec<Spanned<String>>,
    #[serde(default)]
    pub policies: Vec<Spanned<String>>,
    #[serde(default)]
    pub inline: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    pub boundary: Option<Spanned<String>>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleSpec {
    /// The account (a name from `[accounts]`, or `self`, the default).
    #[serde(default)]
    pub account: Option<Spanned<String>>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub max_session_duration: Option<u32>,
    #[serde(default)]
    pub policies: Vec<Spanned<String>>,
    #[serde(default)]
    pub inline: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    pub boundary: Option<Spanned<String>>,
    pub trust: TrustSpec,
}

/// Who may assume a role, and on what terms.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustSpec {
    /// ARNs, 12-digit account ids, account names, or `self` (the caller's
    /// account). Default: `self`.
    #[serde(default)]
    pub principals: Vec<Spanned<String>>,
    /// Service principals (`ec2.amazonaws.com`).
    #[serde(default)]
    pub services: Vec<String>,
    #[serde(default)]
    pub require_mfa: bool,
    /// Seconds since MFA authentication, at most.
    #[serde(default)]
    pub max_mfa_age: Option<u64>,
    #[serde(default)]
    pub external_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScpSpec {
    #[serde(default)]
    pub description: Option<String>,
    pub document: Spanned<String>,
    /// Account names, OU names, or `root`.
    pub targets: Vec<Spanned<String>>,
}

/// One change, as `--plan` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// `+` create, `~` update, `-` remove.
    pub sign: char,
    pub what: String,
}

/// What a change does.
#[derive(Debug, Clone)]
enum Op {
    CreateOrganization,
    CreateOu(String),
    CreateAccount {
        name: String,
        email: String,
    },
    MoveAccount {
        name: String,
        ou: Option<String>,
    },
    EnableScps,
    CreatePolicy {
        account: Acct,
        name: String,
        doc: String,
        description: Option<String>,
    },
    PolicyVersion {
        account: Acct,
        name: String,
        doc: String,
    },
    CreateGroup(String),
    CreateUser(String),
    AddToGroup {
        user: String,
        group: String,
    },
    RemoveFromGroup {
        user: String,
        group: String,
    },
    CreateRole {
        account: Acct,
        name: String,
        trust: String,
        description: Option<String>,
        max: Option<u32>,
    },
    Trust {
        account: Acct,
        name: String,
        trust: String,
    },
    UpdateRole {
        account: Acct,
        name: String,
        description: Option<String>,
        max: Option<u32>,
    },
    Attach {
        account: Acct,
        e: Entity,
        name: String,
        policy: String,
    },
    Detach {
        account: Acct,
        e: Entity,
        name: String,
        arn: String,
    },
    PutInline {
        account: Acct,
        e: Entity,
        name: String,
        policy: String,
        doc: String,
    },
    DeleteInline {
        account: Acct,
        e: Entity,
        name: String,
        policy: String,
    },
    Boundary {
        account: Acct,
        e: Entity,
        name: String,
        policy: Option<String>,
    },
    Tags {
        user: String,
        tags: Vec<Tag>,
    },
    CreateScp {
        name: String,
        doc: String,
        description: String,
    },
    UpdateScp {
        name: String,
        doc: String,
    },
    AttachScp {
        name: String,
        target: String,
    },
    DetachScp {
        name: String,
        target: String,
    },
}

/// An account a change is in: the caller's, or a member account by name
/// (it may not exist yet when the plan is made).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Acct {
    Own,
    Member(String),
}

/// The line (1-based) of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset).map_or(0, |t| t.matches('\n').count()) + 1
}

fn bad(text: &str, at: std::ops::Range<usize>, msg: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        "InvalidInputException",
        400,
        format!("line {}: {msg}", line_of(text, at.start)),
    )
}

/// Parse and check a model; errors name the line.
pub fn parse_model(text: &str) -> ApiResult<Model> {
    let m: Model = toml::from_str(text).map_err(|e| {
        let line = e.span().map_or(0, |s| line_of(text, s.start));
        ApiError::new(
            "InvalidInputException",
            400,
            format!("line {line}: {}", e.message()),
        )
    })?;
    let check_doc = |d: &Spanned<String>, ty: PolicyType| -> ApiResult<()> {
        ward_policy::parse(d.get_ref(), ty)
            .map(|_| ())
            .map_err(|e| bad(text, d.span(), format!("policy document: {}", e.message)))
    };
    let names = |kind: &str, n: &str| -> ApiResult<()> {
        let ok = !n.is_empty()
            && n.len() <= 64
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b));
        if ok {
            Ok(())
        } else {
            Err(ApiError::new(
                "InvalidInputException",
                400,
                format!("{kind} name `{n}` must be 1-64 characters of letters, digits and +=,.@_-"),
            ))
        }
    };
    for (n, p) in &m.policies {
        names("policy", n)?;
        check_doc(&p.document, PolicyType::Identity)?;
        for a in &p.accounts {
            if a.get_ref() != "self" && !m.accounts.contains_key(a.get_ref()) {
                return Err(bad(
                    text,
                    a.span(),
                    format!("no account `{}` in [accounts]", a.get_ref()),
                ));
            }
        }
    }
    let policy_ref = |r: &Spanned<String>| -> ApiResult<()> {
        let s = r.get_ref();
        if s.starts_with("arn:") || m.policies.contains_key(s) {
            Ok(())
        } else {
            Err(bad(
                text,
                r.span(),
                format!("no policy `{s}` in [policies] (or give an ARN)"),
            ))
        }
    };
    let inline = |i: &BTreeMap<String, Spanned<String>>| -> ApiResult<()> {
        for (n, d) in i {
            names("inline policy", n)?;
            check_doc(d, PolicyType::Identity)?;
        }
        Ok(())
    };
    for (n, g) in &m.groups {
        names("group", n)?;
        g.policies.iter().try_for_each(policy_ref)?;
        inline(&g.inline)?;
    }
    for (n, u) in &m.users {
        names("user", n)?;
        for g in &u.groups {
            if !m.groups.contains_key(g.get_ref()) {
                return Err(bad(
                    text,
                    g.span(),
                    format!("no group `{}` in [groups]", g.get_ref()),
                ));
            }
        }
        u.policies.iter().try_for_each(policy_ref)?;
        u.boundary.iter().try_for_each(policy_ref)?;
        inline(&u.inline)?;
    }
    let account_ref = |a: &Spanned<String>| -> ApiResult<()> {
        let s = a.get_ref();
        if s == "self" || m.accounts.contains_key(s) {
            Ok(())
        } else {
            Err(bad(
                text,
                a.span(),
                format!("no account `{s}` in [accounts]"),
            ))
        }
    };
    for (n, r) in &m.roles {
        names("role", n)?;
        r.account.iter().try_for_each(account_ref)?;
        r.policies.iter().try_for_each(policy_ref)?;
        r.boundary.iter().try_for_each(policy_ref)?;
        inline(&r.inline)?;
        for p in &r.trust.principals {
            let s = p.get_ref();
            let ok = s == "self"
                || s.starts_with("arn:")
                || (s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()))
                || m.accounts.contains_key(s);
            if !ok {
                return Err(bad(text, p.span(), format!("trust principal `{s}` is not an ARN, an account id, an account name or `self`")));
            }
        }
        if let Some(d) = r.max_session_duration {
            if !(3600..=43_200).contains(&d) {
                return Err(ApiError::new(
                    "InvalidInputException",
                    400,
                    format!("role {n}: max_session_duration must be 3600 to 43200 seconds"),
                ));
            }
        }
    }
    for (n, s) in &m.scps {
        names("SCP", n)?;
        check_doc(&s.document, PolicyType::Scp)?;
        for t in &s.targets {
            let v = t.get_ref();
            let known = v == "root"
                || m.accounts.contains_key(v)
                || m.accounts
                    .values()
                    .any(|a| a.ou.as_deref() == Some(v.as_str()));
            if !known {
                return Err(bad(
                    text,
                    t.span(),
                    format!("SCP target `{v}` is not `root`, an account or an OU of [accounts]"),
                ));
            }
        }
    }
    Ok(m)
}

/// Compare two JSON documents by meaning, not by spacing.
fn same_json(a: &str, b: &str) -> bool {
    match (
        serde_json::from_str::<serde_json::Value>(a),
        serde_json::from_str::<serde_json::Value>(b),
    ) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// The trust policy a `TrustSpec` stands for.
fn trust_document(t: &TrustSpec, own: &str, accounts: &BTreeMap<String, String>) -> String {
    let mut aws: Vec<String> = t
        .principals
        .iter()
        .map(|p| {
            let s = p.get_ref().as_str();
            if s == "self" {
                format!("arn:aws:iam::{own}:root")
            } else if let Some(id) = accounts.get(s) {
                format!("arn:aws:iam::{id}:root")
            } else if s.starts_with("arn:") {
                s.to_string()
            } else {
                format!("arn:aws:iam::{s}:root")
            }
        })
        .collect();
    if aws.is_empty() && t.services.is_empty() {
        aws.push(format!("arn:aws:iam::{own}:root"));
    }
    let mut principal = serde_json::Map::new();
    if !aws.is_empty() {
        principal.insert("AWS".into(), serde_json::json!(aws));
    }
    if !t.services.is_empty() {
        principal.insert("Service".into(), serde_json::json!(t.services));
    }
    let mut cond = serde_json::Map::new();
    if t.require_mfa || t.max_mfa_age.is_some() {
        cond.insert(
            "Bool".into(),
            serde_json::json!({"aws:MultiFactorAuthPresent": "true"}),
        );
    }
    if let Some(age) = t.max_mfa_age {
        cond.insert(
            "NumericLessThanEquals".into(),
            serde_json::json!({"aws:MultiFactorAuthAge": age.to_string()}),
        );
    }
    if let Some(x) = &t.external_id {
        cond.insert(
            "StringEquals".into(),
            serde_json::json!({"sts:ExternalId": x}),
        );
    }
    let mut stmt = serde_json::json!({
        "Effect": "Allow",
        "Principal": principal,
        "Action": "sts:AssumeRole",
    });
    if !cond.is_empty() {
        if let Some(o) = stmt.as_object_mut() {
            o.insert("Condition".into(), serde_json::Value::Object(cond));
        }
    }
    serde_json::json!({"Version": "2012-10-17", "Statement": [stmt]}).to_string()
}

/// The outcome of a plan or an apply.
#[derive(Debug, Default)]
pub struct Outcome {
    pub changes: Vec<Change>,
    /// Changes made (apply), in order.
    pub applied: usize,
    /// Changes of the plan still to make.
    pub remaining: usize,
}

impl<S: Store> Iam<S> {
    /// The member accounts of the caller's organization, by name → id.
    fn member_ids(&self, own: &str) -> ApiResult<BTreeMap<String, String>> {
        match self.list_org_accounts(own, None) {
            Ok(v) => Ok(v
                .into_iter()
                .filter(|m| m.account != own)
                .map(|m| (m.name, m.account))
                .collect()),
            Err(e) if e.code == "AWSOrganizationsNotInUseException" => Ok(BTreeMap::new()),
            Err(e) => Err(e),
        }
    }

    /// The changes that make the store match `m`, for a caller in `own`.
    fn changes(&self, own: &str, m: &Model) -> ApiResult<Vec<(Change, Op)>> {
        let mut out: Vec<(Change, Op)> = Vec::new();
        let mut push = |sign: char, what: String, op: Op| out.push((Change { sign, what }, op));
        let members = self.member_ids(own)?;
        let acct_id = |a: &Acct| -> Option<String> {
            match a {
                Acct::Own => Some(own.to_string()),
                Acct::Member(n) => members.get(n).cloned(),
            }
        };
        let acct_name = |a: &Acct| match a {
            Acct::Own => "self".to_string(),
            Acct::Member(n) => n.clone(),
        };

        // Organization, OUs, accounts.
        if !m.accounts.is_empty() || !m.scps.is_empty() {
            let org = match self.describe_organization(own) {
                Ok(o) => Some(o),
                Err(e) if e.code == "AWSOrganizationsNotInUseException" => None,
                Err(e) => return Err(e),
            };
            if org.is_none() {
                push(
                    '+',
                    "organization (this account manages it)".into(),
                    Op::CreateOrganization,
                );
            }
            let root = org.as_ref().map(|o| o.root_id.clone());
            let ous: BTreeMap<String, String> = match &root {
                Some(r) => self
                    .list_ous(own, r)?
                    .into_iter()
                    .map(|u| (u.name, u.id))
                    .collect(),
                None => BTreeMap::new(),
            };
            let wanted_ous: BTreeSet<&str> = m
                .accounts
                .values()
                .filter_map(|a| a.ou.as_deref())
                .collect();
            for ou in &wanted_ous {
                if !ous.contains_key(*ou) {
                    push(
                        '+',
                        format!("organizational unit {ou}"),
                        Op::CreateOu((*ou).to_string()),
                    );
                }
            }
            for (name, a) in &m.accounts {
                match members.get(name) {
                    None => {
                        push(
                            '+',
                            format!("account {name} <{}>", a.email),
                            Op::CreateAccount {
                                name: name.clone(),
                                email: a.email.clone(),
                            },
                        );
                        if a.ou.is_some() {
                            push(
                                '~',
                                format!(
                                    "account {name}: into OU {}",
                                    a.ou.as_deref().unwrap_or("")
                                ),
                                Op::MoveAccount {
                                    name: name.clone(),
                                    ou: a.ou.clone(),
                                },
                            );
                        }
                    }
                    Some(id) => {
                        let parent = self.list_parents(own, id)?.0;
                        let want = match &a.ou {
                            Some(ou) => ous.get(ou).cloned(),
                            None => root.clone(),
                        };
                        if want.as_deref() != Some(parent.as_str()) {
                            push(
                                '~',
                                format!(
                                    "account {name}: into {}",
                                    a.ou.as_deref().unwrap_or("the root")
                                ),
                                Op::MoveAccount {
                                    name: name.clone(),
                                    ou: a.ou.clone(),
                                },
                            );
                        }
                    }
                }
            }
            if !m.scps.is_empty() {
                let enabled = org
                    .as_ref()
                    .is_some_and(|o| o.enabled_types.iter().any(|t| t == org::SCP));
                if !enabled {
                    push(
                        '+',
                        "service control policies enabled".into(),
                        Op::EnableScps,
                    );
                }
                let existing: BTreeMap<String, org::OrgPolicy> = if org.is_some() {
                    self.list_org_policies(own, org::SCP)?
                        .into_iter()
                        .map(|p| (p.name.clone(), p))
                        .collect()
                } else {
                    BTreeMap::new()
                };
                for (name, s) in &m.scps {
                    let doc = s.document.get_ref();
                    let attached: BTreeSet<String> = match existing.get(name) {
                        None => {
                            push(
                                '+',
                                format!("SCP {name}"),
                                Op::CreateScp {
                                    name: name.clone(),
                                    doc: doc.clone(),
                                    description: s.description.clone().unwrap_or_default(),
                                },
                            );
                            BTreeSet::new()
                        }
                        Some(p) => {
                            if !same_json(&p.content, doc) {
                                push(
                                    '~',
                                    format!("SCP {name}: document"),
                                    Op::UpdateScp {
                                        name: name.clone(),
                                        doc: doc.clone(),
                                    },
                                );
                            }
                            self.list_targets_for_policy(own, &p.id)?
                                .into_iter()
                                .map(|t| t.id)
                                .collect()
                        }
                    };
                    // Targets by id where they exist already; by name otherwise.
                    let target_id = |t: &str| -> Option<String> {
                        if t == "root" {
                            root.clone()
                        } else if let Some(id) = members.get(t) {
                            Some(id.clone())
                        } else {
                            ous.get(t).cloned()
                        }
                    };
                    let mut wanted_ids = BTreeSet::new();
                    for t in &s.targets {
                        let t = t.get_ref();
                        let id = target_id(t);
                        if let Some(id) = &id {
                            wanted_ids.insert(id.clone());
                        }
                        if id.as_ref().is_none_or(|id| !attached.contains(id)) {
                            push(
                                '+',
                                format!("SCP {name} on {t}"),
                                Op::AttachScp {
                                    name: name.clone(),
                                    target: t.clone(),
                                },
                            );
                        }
                    }
                    for id in attached.difference(&wanted_ids) {
                        push(
                            '-',
                            format!("SCP {name} from {id}"),
                            Op::DetachScp {
                                name: name.clone(),
                                target: id.clone(),
                            },
                        );
                    }
                }
            }
        }

        // Managed policies, in every account that uses them.
        let mut uses: BTreeSet<(Acct, String)> = BTreeSet::new();
        let mut note = |a: &Acct, r: &Spanned<String>| {
            if m.policies.contains_key(r.get_ref()) {
                uses.insert((a.clone(), r.get_ref().clone()));
            }
        };
        for g in m.groups.values() {
            g.policies.iter().for_each(|p| note(&Acct::Own, p));
        }
        for u in m.users.values() {
            u.policies
                .iter()
                .chain(u.boundary.iter())
                .for_each(|p| note(&Acct::Own, p));
        }
        let role_acct = |r: &RoleSpec| match r.account.as_ref().map(|a| a.get_ref().as_str()) {
            None | Some("self") => Acct::Own,
            Some(n) => Acct::Member(n.to_string()),
        };
        for r in m.roles.values() {
            let a = role_acct(r);
            r.policies
                .iter()
                .chain(r.boundary.iter())
                .for_each(|p| note(&a, p));
        }
        for (n, p) in &m.policies {
            for a in &p.accounts {
                let a = match a.get_ref().as_str() {
                    "self" => Acct::Own,
                    other => Acct::Member(other.to_string()),
                };
                uses.insert((a, n.clone()));
            }
            if !uses.iter().any(|(_, x)| x == n) {
                uses.insert((Acct::Own, n.clone()));
            }
        }
        for (a, n) in &uses {
            let spec = m.policies.get(n).ok_or_else(ApiError::internal)?;
            let doc = spec.document.get_ref();
            let current = match acct_id(a) {
                Some(id) => {
                    let arn = format!("arn:aws:iam::{id}:policy/{n}");
                    match self.get_policy(&arn) {
                        Ok((p, _)) => Some(
                            self.get_policy_version(&arn, &p.default_version)?
                                .0
                                .document,
                        ),
                        Err(e) if e.code == "NoSuchEntity" => None,
                        Err(e) => return Err(e),
                    }
                }
                None => None,
            };
            match current {
                None => push(
                    '+',
                    format!("policy {n} in {}", acct_name(a)),
                    Op::CreatePolicy {
                        account: a.clone(),
                        name: n.clone(),
                        doc: doc.clone(),
                        description: spec.description.clone(),
                    },
                ),
                Some(cur) if !same_json(&cur, doc) => push(
                    '~',
                    format!("policy {n} in {}: new default version", acct_name(a)),
                    Op::PolicyVersion {
                        account: a.clone(),
                        name: n.clone(),
                        doc: doc.clone(),
                    },
                ),
                Some(_) => {}
            }
        }

        // Attachments, inline policies and boundaries of one entity.
        let policy_arn = |a: &Acct, r: &str| -> String {
            if r.starts_with("arn:") {
                r.to_string()
            } else {
                format!(
                    "arn:aws:iam::{}:policy/{r}",
                    acct_id(a).unwrap_or_else(|| "ACCOUNT".into())
                )
            }
        };
        let entity = |a: &Acct,
                      e: Entity,
                      name: &str,
                      exists: bool,
                      policies: &[Spanned<String>],
                      inline: &BTreeMap<String, Spanned<String>>,
                      boundary: Option<&Spanned<String>>,
                      current_boundary: Option<String>|
         -> ApiResult<Vec<(Change, Op)>> {
            let mut v = Vec::new();
            let who = format!("{} {name}", e.as_str());
            let id = acct_id(a);
            let (attached, inl): (BTreeSet<String>, BTreeMap<String, String>) = match (&id, exists)
            {
                (Some(id), true) => {
                    let att = self
                        .list_attached(id, e, name)?
                        .into_iter()
                        .map(|(_, arn)| arn)
                        .collect();
                    let mut inl = BTreeMap::new();
                    for p in self.list_inline(id, e, name)? {
                        let d = self.get_inline(id, e, name, &p)?.document;
                        inl.insert(p, d);
                    }
                    (att, inl)
                }
                _ => (BTreeSet::new(), BTreeMap::new()),
            };
            let wanted: BTreeSet<String> = policies
                .iter()
                .map(|p| policy_arn(a, p.get_ref()))
                .collect();
            for p in policies {
                let arn = policy_arn(a, p.get_ref());
                if !attached.contains(&arn) {
                    v.push((
                        Change {
                            sign: '+',
                            what: format!("{who}: attach {}", p.get_ref()),
                        },
                        Op::Attach {
                            account: a.clone(),
                            e,
                            name: name.into(),
                            policy: p.get_ref().clone(),
                        },
                    ));
                }
            }
            for arn in attached.difference(&wanted) {
                v.push((
                    Change {
                        sign: '-',
                        what: format!("{who}: detach {arn}"),
                    },
                    Op::Detach {
                        account: a.clone(),
                        e,
                        name: name.into(),
                        arn: arn.clone(),
                    },
                ));
            }
            for (pn, d) in inline {
                if inl.get(pn).is_none_or(|cur| !same_json(cur, d.get_ref())) {
                    let sign = if inl.contains_key(pn) { '~' } else { '+' };
                    v.push((
                        Change {
                            sign,
                            what: format!("{who}: inline policy {pn}"),
                        },
                        Op::PutInline {
                            account: a.clone(),
                            e,
                            name: name.into(),
                            policy: pn.clone(),
                            doc: d.get_ref().clone(),
                        },
                    ));
                }
            }
            for pn in inl.keys().filter(|k| !inline.contains_key(*k)) {
                v.push((
                    Change {
                        sign: '-',
                        what: format!("{who}: inline policy {pn}"),
                    },
                    Op::DeleteInline {
                        account: a.clone(),
                        e,
                        name: name.into(),
                        policy: pn.clone(),
                    },
                ));
            }
            let want_b = boundary.map(|b| policy_arn(a, b.get_ref()));
            if want_b != current_boundary && e != Entity::Group {
                v.push((
                    Change {
                        sign: '~',
                        what: format!(
                            "{who}: permissions boundary {}",
                            want_b.as_deref().unwrap_or("removed")
                        ),
                    },
                    Op::Boundary {
                        account: a.clone(),
                        e,
                        name: name.into(),
                        policy: boundary.map(|b| b.get_ref().clone()),
                    },
                ));
            }
            Ok(v)
        };

        for (n, g) in &m.groups {
            let exists = self.get_group(own, n).is_ok();
            if !exists {
                push('+', format!("group {n}"), Op::CreateGroup(n.clone()));
            }
            for c in entity(
                &Acct::Own,
                Entity::Group,
                n,
                exists,
                &g.policies,
                &g.inline,
                None,
                None,
            )? {
                push(c.0.sign, c.0.what, c.1);
            }
        }
        for (n, u) in &m.users {
            let current = self.get_user(own, n).ok();
            if current.is_none() {
                push('+', format!("user {n}"), Op::CreateUser(n.clone()));
            }
            let have: BTreeSet<String> = match &current {
                Some(_) => self
                    .groups_for_user(own, n)?
                    .into_iter()
                    .map(|g| g.name)
                    .collect(),
                None => BTreeSet::new(),
            };
            let want: BTreeSet<String> = u.groups.iter().map(|g| g.get_ref().clone()).collect();
            for g in want.difference(&have) {
                push(
                    '+',
                    format!("user {n}: member of {g}"),
                    Op::AddToGroup {
                        user: n.clone(),
                        group: g.clone(),
                    },
                );
            }
            for g in have.difference(&want) {
                if m.groups.contains_key(g) {
                    push(
                        '-',
                        format!("user {n}: member of {g}"),
                        Op::RemoveFromGroup {
                            user: n.clone(),
                            group: g.clone(),
                        },
                    );
                }
            }
            let tags: Vec<Tag> = u
                .tags
                .iter()
                .map(|(k, v)| Tag {
                    key: k.clone(),
                    value: v.clone(),
                })
                .collect();
            let cur_tags: BTreeMap<String, String> = current
                .as_ref()
                .map(|c| {
                    c.tags
                        .iter()
                        .map(|t| (t.key.clone(), t.value.clone()))
                        .collect()
                })
                .unwrap_or_default();
            if !tags.is_empty() && u.tags.iter().any(|(k, v)| cur_tags.get(k) != Some(v)) {
                push(
                    '~',
                    format!("user {n}: tags"),
                    Op::Tags {
                        user: n.clone(),
                        tags,
                    },
                );
            }
            let cb = current
                .as_ref()
                .and_then(|c| c.permissions_boundary.clone());
            for c in entity(
                &Acct::Own,
                Entity::User,
                n,
                current.is_some(),
                &u.policies,
                &u.inline,
                u.boundary.as_ref(),
                cb,
            )? {
                push(c.0.sign, c.0.what, c.1);
            }
        }
        for (n, r) in &m.roles {
            let a = role_acct(r);
            let trust = trust_document(&r.trust, own, &members);
            let current = acct_id(&a).and_then(|id| self.get_role(&id, n).ok());
            match &current {
                None => push(
                    '+',
                    format!("role {n} in {}", acct_name(&a)),
                    Op::CreateRole {
                        account: a.clone(),
                        name: n.clone(),
                        trust: trust.clone(),
                        description: r.description.clone(),
                        max: r.max_session_duration,
                    },
                ),
                Some(c) => {
                    if !same_json(&c.assume_role_policy, &trust) {
                        push(
                            '~',
                            format!("role {n} in {}: trust policy", acct_name(&a)),
                            Op::Trust {
                                account: a.clone(),
                                name: n.clone(),
                                trust: trust.clone(),
                            },
                        );
                    }
                    let want_max = r.max_session_duration.unwrap_or(3600);
                    if (r.description.is_some() && r.description != c.description)
                        || want_max != c.max_session_duration
                    {
                        push(
                            '~',
                            format!(
                                "role {n} in {}: description / session duration",
                                acct_name(&a)
                            ),
                            Op::UpdateRole {
                                account: a.clone(),
                                name: n.clone(),
                                description: r.description.clone(),
                                max: Some(want_max),
                            },
                        );
                    }
                }
            }
            let cb = current
                .as_ref()
                .and_then(|c| c.permissions_boundary.clone());
            for c in entity(
                &a,
                Entity::Role,
                n,
                current.is_some(),
                &r.policies,
                &r.inline,
                r.boundary.as_ref(),
                cb,
            )? {
                push(c.0.sign, c.0.what, c.1);
            }
        }
        Ok(out)
    }

    /// What `apply` would change.
    pub fn plan(&self, caller: &Caller, text: &str) -> ApiResult<Outcome> {
        let m = parse_model(text)?;
        let changes = self.changes(&caller.account, &m)?;
        Ok(Outcome {
            remaining: changes.len(),
            changes: changes.into_iter().map(|(c, _)| c).collect(),
            applied: 0,
        })
    }

    /// Make the store match the model; `progress` hears of each change as
    /// it is made. The caller needs `ward:Apply` and, for each change in its
    /// own account, the IAM permission the change's API call needs; changes
    /// in member accounts need the caller to be in the management account.
    /// A failure stops the run; what was done stays, and a second run
    /// continues from there.
    pub fn apply(
        &self,
        caller: &Caller,
        text: &str,
        info: &RequestInfo,
        progress: impl FnMut(&Change),
    ) -> ApiResult<Outcome> {
        self.apply_some(caller, text, info, None, progress)
    }

    /// [`Iam::apply`] of at most `limit` changes (the first ones of the
    /// plan); `Outcome::remaining` says how many more the plan holds.
    /// (`ward apply` goes in steps to show progress as it goes.)
    pub fn apply_some(
        &self,
        caller: &Caller,
        text: &str,
        info: &RequestInfo,
        limit: Option<usize>,
        mut progress: impl FnMut(&Change),
    ) -> ApiResult<Outcome> {
        self.authorize(caller, "ward:Apply", "*", &[], None, info)?;
        let m = parse_model(text)?;
        let own = caller.account.clone();
        let mut changes = self.changes(&own, &m)?;
        let remaining = changes.len().saturating_sub(limit.unwrap_or(usize::MAX));
        changes.truncate(limit.unwrap_or(usize::MAX));
        // Every change authorized before any is made.
        for (_, op) in &changes {
            self.authorize_op(caller, op, info)?;
        }
        let mut out = Outcome {
            changes: Vec::new(),
            applied: 0,
            remaining,
        };
        let now = info.now;
        let total = changes.len();
        for (c, op) in changes {
            let done = out.applied;
            self.run_op(&own, op, now).map_err(|mut e| {
                e.message = format!(
                    "change {} of {total} ({} {}) failed: {}; the {done} before it were made, and a new apply continues from there",
                    done + 1,
                    c.sign,
                    c.what,
                    e.message
                );
                e
            })?;
            progress(&c);
            out.changes.push(c);
            out.applied += 1;
        }
        Ok(out)
    }

    fn authorize_op(&self, caller: &Caller, op: &Op, info: &RequestInfo) -> ApiResult<()> {
        let own = caller.account.as_str();
        let arn = |what: &str, name: &str| format!("arn:aws:iam::{own}:{what}/{name}");
        let (action, res) = match op {
            Op::CreateOrganization
            | Op::CreateOu(_)
            | Op::CreateAccount { .. }
            | Op::MoveAccount { .. }
            | Op::EnableScps
            | Op::CreateScp { .. }
            | Op::UpdateScp { .. }
            | Op::AttachScp { .. }
            | Op::DetachScp { .. } => {
                let a = match op {
                    Op::CreateOrganization => "organizations:CreateOrganization",
                    Op::CreateOu(_) => "organizations:CreateOrganizationalUnit",
                    Op::CreateAccount { .. } => "organizations:CreateAccount",
                    Op::MoveAccount { .. } => "organizations:MoveAccount",
                    Op::EnableScps => "organizations:EnablePolicyType",
                    Op::CreateScp { .. } => "organizations:CreatePolicy",
                    Op::UpdateScp { .. } => "organizations:UpdatePolicy",
                    Op::AttachScp { .. } => "organizations:AttachPolicy",
                    _ => "organizations:DetachPolicy",
                };
                (a.to_string(), "*".to_string())
            }
            Op::CreatePolicy {
                account: Acct::Own,
                name,
                ..
            } => ("iam:CreatePolicy".into(), arn("policy", name)),
            Op::PolicyVersion {
                account: Acct::Own,
                name,
                ..
            } => ("iam:CreatePolicyVersion".into(), arn("policy", name)),
            Op::CreateGroup(n) => ("iam:CreateGroup".into(), arn("group", n)),
            Op::CreateUser(n) => ("iam:CreateUser".into(), arn("user", n)),
            Op::AddToGroup { group, .. } => ("iam:AddUserToGroup".into(), arn("group", group)),
            Op::RemoveFromGroup { group, .. } => {
                ("iam:RemoveUserFromGroup".into(), arn("group", group))
            }
            Op::Tags { user, .. } => ("iam:TagUser".into(), arn("user", user)),
            Op::CreateRole {
                account: Acct::Own,
                name,
                ..
            } => ("iam:CreateRole".into(), arn("role", name)),
            Op::Trust {
                account: Acct::Own,
                name,
                ..
            } => ("iam:UpdateAssumeRolePolicy".into(), arn("role", name)),
            Op::UpdateRole {
                account: Acct::Own,
                name,
                ..
            } => ("iam:UpdateRole".into(), arn("role", name)),
            Op::Attach {
                account: Acct::Own,
                e,
                name,
                ..
            } => (
                format!("iam:Attach{}Policy", title(*e)),
                arn(e.as_str(), name),
            ),
            Op::Detach {
                account: Acct::Own,
                e,
                name,
                ..
            } => (
                format!("iam:Detach{}Policy", title(*e)),
                arn(e.as_str(), name),
            ),
            Op::PutInline {
                account: Acct::Own,
                e,
                name,
                ..
            } => (format!("iam:Put{}Policy", title(*e)), arn(e.as_str(), name)),
            Op::DeleteInline {
                account: Acct::Own,
                e,
                name,
                ..
            } => (
                format!("iam:Delete{}Policy", title(*e)),
                arn(e.as_str(), name),
            ),
            Op::Boundary {
                account: Acct::Own,
                e,
                name,
                ..
            } => (
                format!("iam:Put{}PermissionsBoundary", title(*e)),
                arn(e.as_str(), name),
            ),
            // Member accounts: only through the organization's management.
            _ => {
                // (No organization yet: this plan creates it, with the caller
                // as its management account.)
                let mgmt = match self.describe_organization(own) {
                    Ok(o) => o.management_account,
                    Err(e) if e.code == "AWSOrganizationsNotInUseException" => own.to_string(),
                    Err(e) => return Err(e),
                };
                if mgmt != own {
                    return Err(ApiError::access_denied(
                        "Changes in member accounts need credentials of the organization's management account.",
                    ));
                }
                ("organizations:DescribeOrganization".into(), "*".into())
            }
        };
        self.authorize(caller, &action, &res, &[], None, info)
    }

    fn run_op(&self, own: &str, op: Op, now: i64) -> ApiResult<()> {
        let id_of =
            |a: &Acct| -> ApiResult<String> {
                match a {
                    Acct::Own => Ok(own.to_string()),
                    Acct::Member(n) => self.member_ids(own)?.get(n).cloned().ok_or_else(|| {
                        ApiError::no_such_entity(format!("account {n} does not exist"))
                    }),
                }
            };
        let parr = |id: &str, p: &str| {
            if p.starts_with("arn:") {
                p.to_string()
            } else {
                format!("arn:aws:iam::{id}:policy/{p}")
            }
        };
        let root = || -> ApiResult<String> { Ok(self.list_roots(own)?.root_id) };
        let ou_id = |name: &str| -> ApiResult<String> {
            let r = root()?;
            self.list_ous(own, &r)?
                .into_iter()
                .find(|u| u.name == name)
                .map(|u| u.id)
                .ok_or_else(|| ApiError::no_such_entity(format!("OU {name} does not exist")))
        };
        let target_id = |t: &str| -> ApiResult<String> {
            if t == "root" {
                root()
            } else if let Some(id) = self.member_ids(own)?.get(t) {
                Ok(id.clone())
            } else if t.starts_with("ou-")
                || t.starts_with("r-")
                || t.bytes().all(|b| b.is_ascii_digit())
            {
                Ok(t.to_string())
            } else {
                ou_id(t)
            }
        };
        let scp_id = |n: &str| -> ApiResult<String> {
            self.list_org_policies(own, org::SCP)?
                .into_iter()
                .find(|p| p.name == n)
                .map(|p| p.id)
                .ok_or_else(|| ApiError::no_such_entity(format!("SCP {n} does not exist")))
        };
        match op {
            Op::CreateOrganization => self.create_organization(own, Some("ALL"), now).map(|_| ()),
            Op::CreateOu(n) => self.create_ou(own, &root()?, &n).map(|_| ()),
            Op::CreateAccount { name, email } => {
                let s = self.create_org_account(own, &name, &email, None, now)?;
                match s.failure_reason {
                    Some(r) => Err(ApiError::new(
                        "InvalidInputException",
                        400,
                        format!("account {name}: {r}"),
                    )),
                    None => Ok(()),
                }
            }
            Op::MoveAccount { name, ou } => {
                let id = id_of(&Acct::Member(name))?;
                let from = self.list_parents(own, &id)?.0;
                let to = match ou {
                    Some(o) => ou_id(&o)?,
                    None => root()?,
                };
                self.move_account(own, &id, &from, &to)
            }
            Op::EnableScps => self
                .set_policy_type(own, &root()?, org::SCP, true)
                .map(|_| ()),
            Op::CreateScp {
                name,
                doc,
                description,
            } => self
                .create_org_policy(own, &name, &description, org::SCP, &doc)
                .map(|_| ()),
            Op::UpdateScp { name, doc } => self
                .update_org_policy(own, &scp_id(&name)?, None, None, Some(&doc))
                .map(|_| ()),
            Op::AttachScp { name, target } => {
                self.attach_org_policy(own, &scp_id(&name)?, &target_id(&target)?)
            }
            Op::DetachScp { name, target } => {
                self.detach_org_policy(own, &scp_id(&name)?, &target_id(&target)?)
            }
            Op::CreatePolicy {
                account,
                name,
                doc,
                description,
            } => {
                let id = id_of(&account)?;
                self.create_policy(&id, &name, None, &doc, description.as_deref(), vec![], now)
                    .map(|_| ())
            }
            Op::PolicyVersion { account, name, doc } => {
                let id = id_of(&account)?;
                let arn = parr(&id, &name);
                let (versions, _) = self.list_policy_versions(&arn)?;
                if versions.len() >= 5 {
                    // Make room: the oldest version that is not the default.
                    let (p, _) = self.get_policy(&arn)?;
                    if let Some(old) = versions
                        .iter()
                        .filter(|v| v.version_id != p.default_version)
                        .min_by_key(|v| v.created)
                    {
                        self.delete_policy_version(&arn, &old.version_id)?;
                    }
                }
                self.create_policy_version(&arn, &doc, true, now)
                    .map(|_| ())
            }
            Op::CreateGroup(n) => self.create_group(own, &n, None, now).map(|_| ()),
            Op::CreateUser(n) => self
                .create_user(own, &n, None, vec![], None, now)
                .map(|_| ()),
            Op::AddToGroup { user, group } => self.add_user_to_group(own, &group, &user),
            Op::RemoveFromGroup { user, group } => self.remove_user_from_group(own, &group, &user),
            Op::Tags { user, tags } => self.tag(own, crate::iam::Taggable::User, &user, &tags),
            Op::CreateRole {
                account,
                name,
                trust,
                description,
                max,
            } => {
                let id = id_of(&account)?;
                self.create_role(
                    &id,
                    &name,
                    None,
                    &trust,
                    description.as_deref(),
                    max,
                    vec![],
                    None,
                    now,
                )
                .map(|_| ())
            }
            Op::Trust {
                account,
                name,
                trust,
            } => self.update_assume_role_policy(&id_of(&account)?, &name, &trust),
            Op::UpdateRole {
                account,
                name,
                description,
                max,
            } => self
                .update_role(&id_of(&account)?, &name, description.as_deref(), max)
                .map(|_| ()),
            Op::Attach {
                account,
                e,
                name,
                policy,
            } => {
                let id = id_of(&account)?;
                self.attach_policy(&id, e, &name, &parr(&id, &policy))
            }
            Op::Detach {
                account,
                e,
                name,
                arn,
            } => self.detach_policy(&id_of(&account)?, e, &name, &arn),
            Op::PutInline {
                account,
                e,
                name,
                policy,
                doc,
            } => self.put_inline(&id_of(&account)?, e, &name, &policy, &doc),
            Op::DeleteInline {
                account,
                e,
                name,
                policy,
            } => self.delete_inline(&id_of(&account)?, e, &name, &policy),
            Op::Boundary {
                account,
                e,
                name,
                policy,
            } => {
                let id = id_of(&account)?;
                let arn = policy.map(|p| parr(&id, &p));
                self.set_boundary(&id, e, &name, arn.as_deref())
            }
        }
    }
}

fn title(e: Entity) -> &'static str {
    match e {
        Entity::User => "User",
        Entity::Group => "Group",
        Entity::Role => "Role",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::CallerKind;
    use crate::crypto::Sealer;
    use crate::store::MemStore;
    use std::sync::Arc;

    const M: &str = "111111111111";
    const PIPELINE: &str = include_str!("../../../examples/pipeline.toml");

    fn setup() -> (Iam<MemStore>, Caller, RequestInfo) {
        let i = Iam::new(
            Arc::new(MemStore::new()),
            Sealer::new(&Sealer::generate_key()),
        );
        i.ensure_account(M, 0).unwrap();
        let root = Caller {
            account: M.into(),
            arn: format!("arn:aws:iam::{M}:root"),
            user_id: M.into(),
            kind: CallerKind::Root,
            access_key_id: String::new(),
            session: None,
        };
        let info = RequestInfo {
            now: 1,
            region: "us-east-1".into(),
            ..RequestInfo::default()
        };
        (i, root, info)
    }

    #[test]
    fn the_pipeline_applies_once_and_then_changes_nothing() {
        let (i, root, info) = setup();
        let plan = i.plan(&root, PIPELINE).unwrap();
        assert!(plan.changes.len() > 30, "{:?}", plan.changes);
        // A plan changes nothing.
        assert!(i.get_user(M, "alice").is_err());
        let mut seen = 0;
        let out = i.apply(&root, PIPELINE, &info, |_| seen += 1).unwrap();
        assert_eq!(out.applied, plan.changes.len());
        assert_eq!(seen, out.applied);
        // Idempotent.
        let again = i.plan(&root, PIPELINE).unwrap();
        assert!(again.changes.is_empty(), "{:?}", again.changes);
        // What it built.
        let prod = i.member_ids(M).unwrap()["prod"].clone();
        let r = i.get_role(&prod, "prod-readonly").unwrap();
        assert!(
            r.assume_role_policy.contains("aws:MultiFactorAuthPresent"),
            "{}",
            r.assume_role_policy
        );
        assert!(r
            .assume_role_policy
            .contains(&format!("arn:aws:iam::{M}:root")));
        assert_eq!(i.groups_for_user(M, "bob").unwrap()[0].name, "test");
        let prod_ou = i.list_parents(M, &prod).unwrap().0;
        let pols = i.list_policies_for_target(M, &prod_ou, org::SCP).unwrap();
        assert!(pols.iter().any(|p| p.name == "protect-audit"));
        // A changed document is one change.
        let edited = PIPELINE.replace("\"s3:Get*\", \"s3:List*\"", "\"s3:Get*\"");
        let plan = i.plan(&root, &edited).unwrap();
        assert_eq!(plan.changes.len(), 1, "{:?}", plan.changes);
        assert_eq!(plan.changes[0].sign, '~');
        i.apply(&root, &edited, &info, |_| {}).unwrap();
        assert!(i.plan(&root, &edited).unwrap().changes.is_empty());
    }

    #[test]
    fn a_bad_file_names_the_line_and_changes_nothing() {
        let (i, root, info) = setup();
        let bad_ref = PIPELINE.replace("groups = [\"test\"]", "groups = [\"testers\"]");
        let e = i.apply(&root, &bad_ref, &info, |_| {}).unwrap_err();
        let line = PIPELINE
            .lines()
            .position(|l| l.contains("groups = [\"test\"]"))
            .unwrap()
            + 1;
        assert_eq!(
            e.message,
            format!("line {line}: no group `testers` in [groups]")
        );
        let bad_doc = PIPELINE.replace(
            r#""Resource": "arn:aws:iam::*:role/break-glass"}]}"#,
            r#""Resourc": "*"}]}"#,
        );
        let e = i.apply(&root, &bad_doc, &info, |_| {}).unwrap_err();
        assert!(e.message.starts_with("line "), "{}", e.message);
        assert!(e.message.contains("policy document"), "{}", e.message);
        let e = i
            .apply(&root, "[users.x]\ngroup = 1\n", &info, |_| {})
            .unwrap_err();
        assert!(
            e.message.starts_with("line 2: unknown field `group`"),
            "{}",
            e.message
        );
        // Nothing was created by any of them.
        assert!(i.get_user(M, "alice").is_err());
        assert!(i.describe_organization(M).is_err());
    }
}
