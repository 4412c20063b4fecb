//! Last-accessed data and access review, computed from the audit trail.
//!
//! Every authorization decision a request makes is written into its audit
//! record and folded, as the record is stored, into one row per entity and
//! action ([`crate::audit::LastAccess`]): when it was last attempted, last
//! allowed, from which region and on which resources. From those rows come:
//!
//! - IAM's service last accessed reports
//!   (`GenerateServiceLastAccessedDetails`, `GetServiceLastAccessedDetails`,
//!   `GetServiceLastAccessedDetailsWithEntities`): every service the
//!   entity's permissions policies allow, with its most recent attempt (AWS
//!   counts denied attempts too:
//!   <https://docs.aws.amazon.com/IAM/latest/APIReference/API_GenerateServiceLastAccessedDetails.html>);
//! - [`Iam::review`]: Access Analyzer's unused-access findings (unused
//!   roles, access keys and permissions) and a least-privilege policy
//!   generated from what was allowed and used, as a diff against the
//!   current policies.
//!
//! Ward tracks actions of every service (AWS tracks actions of some); an
//! action-level report lists the actions the policies name and the actions
//! attempted.

use crate::audit::{LastAccess, LAST_ACCESS};
use crate::error::{ApiError, ApiResult};
use crate::iam::{get, put, scan_all_raw, Iam, Paging};
use crate::model::iso8601;
use crate::sim::SimPolicy;
use crate::store::{Store, Tx};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use ward_policy::{Effect, PolicyType};

/// Stored report jobs: job id → [`Job`].
const JOB: &str = "sla_job";

/// Service names as IAM's reports show them; other namespaces show as
/// themselves.
const SERVICE_NAMES: &[(&str, &str)] = &[
    ("cloudtrail", "AWS CloudTrail"),
    ("cloudwatch", "Amazon CloudWatch"),
    ("codebuild", "AWS CodeBuild"),
    ("codedeploy", "AWS CodeDeploy"),
    ("codepipeline", "AWS CodePipeline"),
    ("dynamodb", "Amazon DynamoDB"),
    ("ec2", "Amazon EC2"),
    ("ecr", "Amazon Elastic Container Registry"),
    ("ecs", "Amazon Elastic Container Service"),
    ("iam", "AWS Identity and Access Management"),
    ("kms", "AWS Key Management Service"),
    ("lambda", "AWS Lambda"),
    ("logs", "Amazon CloudWatch Logs"),
    ("organizations", "AWS Organizations"),
    ("s3", "Amazon S3"),
    ("secretsmanager", "AWS Secrets Manager"),
    ("sns", "Amazon SNS"),
    ("sqs", "Amazon SQS"),
    ("ssm", "AWS Systems Manager"),
    ("sts", "AWS Security Token Service"),
];

/// The services Ward itself serves (what `*` reaches here for certain).
const SERVED: &[&str] = &["cloudtrail", "iam", "organizations", "sts"];

pub fn service_name(namespace: &str) -> String {
    SERVICE_NAMES
        .iter()
        .find(|(n, _)| *n == namespace)
        .map_or_else(|| namespace.to_string(), |(_, name)| (*name).to_string())
}

/// One IAM entity a report covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityInfo {
    pub arn: String,
    pub name: String,
    /// `USER`, `ROLE` or `GROUP`.
    pub kind: String,
    pub id: String,
    pub path: String,
}

/// An action's most recent attempt (action-level reports).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionAccess {
    pub name: String,
    pub last: Option<i64>,
    pub entity: Option<String>,
    pub region: Option<String>,
}

/// A service's most recent attempt by the report's entities.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceAccess {
    pub namespace: String,
    pub name: String,
    pub last: Option<i64>,
    pub entity: Option<String>,
    pub region: Option<String>,
    pub total_entities: u32,
    /// For action-level reports.
    pub actions: Option<Vec<ActionAccess>>,
    /// Each entity's most recent attempt (`...WithEntities`).
    pub entities: Vec<(EntityInfo, Option<i64>)>,
}

/// A generated report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    pub id: String,
    pub account: String,
    pub arn: String,
    pub action_level: bool,
    pub created: i64,
    pub completed: i64,
    pub services: Vec<ServiceAccess>,
}

/// What permissions policies allow, by service: every service (`*`,
/// `NotAction`), or these services with these named actions (lowercase
/// action → as written; a service with wildcard actions may name none).
#[derive(Debug, Default)]
pub struct Allowed {
    pub everything: bool,
    pub services: BTreeMap<String, BTreeMap<String, String>>,
    /// Action patterns with wildcards (`s3:Get*`), lowercase.
    pub patterns: Vec<String>,
}

impl Allowed {
    pub fn of(policies: &[SimPolicy]) -> Allowed {
        let mut a = Allowed::default();
        for p in policies {
            let Ok(doc) = ward_policy::parse(&p.text, PolicyType::Identity) else {
                continue;
            };
            for st in &doc.statements {
                if st.effect.value != Effect::Allow {
                    continue;
                }
                if st.action.negated {
                    a.everything = true;
                    continue;
                }
                for item in &st.action.items {
                    let action = item.value.as_str();
                    match action.split_once(':') {
                        None => a.everything = true,
                        Some((svc, name)) => {
                            let svc = svc.to_ascii_lowercase();
                            if svc.contains(['*', '?']) {
                                a.everything = true;
                                continue;
                            }
                            let names = a.services.entry(svc).or_default();
                            if name.contains(['*', '?']) {
                                a.patterns.push(action.to_ascii_lowercase());
                            } else {
                                names.insert(action.to_ascii_lowercase(), action.to_string());
                            }
                        }
                    }
                }
            }
        }
        a
    }

    /// Whether an action (as written by a request) is allowed by name or
    /// by pattern.
    pub fn covers(&self, action: &str) -> bool {
        let lc = action.to_ascii_lowercase();
        self.everything
            || self
                .patterns
                .iter()
                .any(|p| ward_policy::wildcard::Glob::new(p).matches(&lc))
            || lc
                .split_once(':')
                .and_then(|(s, _)| self.services.get(s))
                .is_some_and(|n| n.contains_key(&lc))
    }
}

/// One entity's last-access rows, by lowercase action.
pub(crate) fn rows_of(tx: &dyn Tx, entity: &str) -> ApiResult<BTreeMap<String, LastAccess>> {
    let prefix = format!("{entity}\u{1}");
    let mut out = BTreeMap::new();
    for (k, v) in scan_all_raw(tx, LAST_ACCESS, &prefix)? {
        let action = k.get(prefix.len()..).unwrap_or("").to_string();
        let la: LastAccess = serde_json::from_slice(&v).map_err(|e| {
            let mut a = ApiError::internal();
            a.cause = Some(format!("corrupt last-access row {k}: {e}"));
            a
        })?;
        out.insert(action, la);
    }
    Ok(out)
}

fn namespace(action: &str) -> &str {
    action.split_once(':').map_or(action, |(s, _)| s)
}

impl<S: Store> Iam<S> {
    /// The entities a report on `arn` covers (a user, a role, a group's
    /// members, a managed policy's users, roles and groups' members) and
    /// the permissions policies that decide which services it lists.
    fn report_scope(&self, arn: &str) -> ApiResult<(String, Vec<EntityInfo>, Vec<SimPolicy>)> {
        let not_found = || ApiError::no_such_entity(format!("The entity {arn} cannot be found."));
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let (Some(&"iam"), Some(&account), Some(res)) = (parts.get(2), parts.get(4), parts.get(5))
        else {
            return Err(ApiError::invalid_input(format!(
                "ARN {arn} is not an IAM user, group, role or policy ARN"
            )));
        };
        let (kind, name) = res.split_once('/').ok_or_else(not_found)?;
        let name = name.rsplit('/').next().unwrap_or(name);
        let user = |u: crate::model::User| EntityInfo {
            arn: u.arn,
            name: u.name,
            kind: "USER".into(),
            id: u.id,
            path: u.path,
        };
        let role = |r: crate::model::Role| EntityInfo {
            arn: r.arn,
            name: r.name,
            kind: "ROLE".into(),
            id: r.id,
            path: r.path,
        };
        match kind {
            "user" | "role" | "group" => {
                let (_, policies, _) = self.principal_policies(arn)?;
                let entities = match kind {
                    "user" => vec![user(self.get_user(account, name).map_err(|_| not_found())?)],
                    "role" => vec![role(self.get_role(account, name).map_err(|_| not_found())?)],
                    _ => {
                        let (_, members) =
                            self.get_group(account, name).map_err(|_| not_found())?;
                        members.into_iter().map(user).collect()
                    }
                };
                Ok((account.to_string(), entities, policies))
            }
            "policy" => {
                let (p, _) = self.get_policy(arn)?;
                let doc = self.get_policy_version(arn, &p.default_version)?.0.document;
                let (groups, users, roles) = self.entities_for_policy(arn)?;
                let mut entities: Vec<EntityInfo> = users.into_iter().map(user).collect();
                for g in groups {
                    let (_, members) = self.get_group(account, &g.name)?;
                    entities.extend(members.into_iter().map(user));
                }
                entities.extend(roles.into_iter().map(role));
                entities.sort_by(|a, b| a.arn.cmp(&b.arn));
                entities.dedup_by(|a, b| a.arn == b.arn);
                let policies = vec![SimPolicy {
                    id: p.name,
                    source_type: "user-managed",
                    text: doc,
                }];
                Ok((account.to_string(), entities, policies))
            }
            _ => Err(not_found()),
        }
    }

    /// `GenerateServiceLastAccessedDetails`: the report is computed at once
    /// from the trail's last-access rows and kept under its job id.
    pub fn generate_last_accessed(
        &self,
        account: &str,
        arn: &str,
        action_level: bool,
        now: i64,
    ) -> ApiResult<String> {
        let (owner, entities, policies) = self.report_scope(arn)?;
        // As of every write so far (see `generate_credential_report`).
        self.record_events::<&str>(&[])?;
        if owner != account {
            return Err(ApiError::no_such_entity(format!(
                "The entity {arn} cannot be found."
            )));
        }
        let allowed = Allowed::of(&policies);
        let rows: Vec<(EntityInfo, BTreeMap<String, LastAccess>)> = self.store.read(|tx| {
            entities
                .iter()
                .map(|e| Ok((e.clone(), rows_of(tx, &e.arn)?)))
                .collect::<ApiResult<Vec<_>>>()
        })?;
        // The services listed: what the policies allow (and, for `*`, what
        // Ward serves and what was attempted).
        let mut namespaces: BTreeSet<String> = allowed.services.keys().cloned().collect();
        if allowed.everything {
            namespaces.extend(SERVED.iter().map(|s| (*s).to_string()));
            for (_, r) in &rows {
                namespaces.extend(r.keys().map(|a| namespace(a).to_string()));
            }
        }
        let mut services = Vec::new();
        for ns in namespaces {
            let mut s = ServiceAccess {
                name: service_name(&ns),
                namespace: ns.clone(),
                last: None,
                entity: None,
                region: None,
                total_entities: 0,
                actions: None,
                entities: Vec::new(),
            };
            let mut actions: BTreeMap<String, ActionAccess> = BTreeMap::new();
            if action_level {
                for (lc, written) in allowed.services.get(&ns).into_iter().flatten() {
                    actions.insert(
                        lc.clone(),
                        ActionAccess {
                            name: written.split_once(':').map_or("", |x| x.1).to_string(),
                            last: None,
                            entity: None,
                            region: None,
                        },
                    );
                }
            }
            for (e, r) in &rows {
                let mut latest: Option<i64> = None;
                for (lc, la) in r.iter().filter(|(a, _)| namespace(a) == ns) {
                    latest = latest.max(Some(la.attempted));
                    if s.last < Some(la.attempted) {
                        s.last = Some(la.attempted);
                        s.entity = Some(e.arn.clone());
                        s.region = Some(la.region.clone());
                    }
                    if action_level {
                        let a = actions.entry(lc.clone()).or_insert_with(|| ActionAccess {
                            name: la.action.split_once(':').map_or("", |x| x.1).to_string(),
                            last: None,
                            entity: None,
                            region: None,
                        });
                        if a.last < Some(la.attempted) {
                            a.last = Some(la.attempted);
                            a.entity = Some(e.arn.clone());
                            a.region = Some(la.region.clone());
                        }
                    }
                }
                if latest.is_some() {
                    s.total_entities += 1;
                }
                s.entities.push((e.clone(), latest));
            }
            if action_level {
                s.actions = Some(actions.into_values().collect());
            }
            services.push(s);
        }
        let job = Job {
            id: uuid(),
            account: account.to_string(),
            arn: arn.to_string(),
            action_level,
            created: now,
            completed: now,
            services,
        };
        self.write(|tx| put(tx, JOB, &job.id, &job))?;
        Ok(job.id)
    }

    /// A report by job id (of this account).
    pub fn last_accessed_job(&self, account: &str, id: &str) -> ApiResult<Job> {
        let job: Option<Job> = self.store.read(|tx| get(tx, JOB, id))?;
        job.filter(|j| j.account == account)
            .ok_or_else(|| ApiError::no_such_entity(format!("No such job: {id}")))
    }

    /// Users and roles of an account (for an account-wide review).
    fn all_principals(&self, account: &str) -> ApiResult<Vec<String>> {
        let mut out: Vec<String> = every(|p| self.list_users(account, None, p))?
            .into_iter()
            .map(|u| u.arn)
            .collect();
        out.extend(
            every(|p| self.list_roles(account, None, p))?
                .into_iter()
                .map(|r| r.arn),
        );
        Ok(out)
    }

    /// `ward review`: for one principal (a user or role ARN) or every user
    /// and role of `account`, what went unused since `since` (Access
    /// Analyzer's finding types `UnusedIAMRole`, `UnusedIAMUserAccessKey`,
    /// `UnusedPermission`) and a least-privilege policy from what was
    /// allowed and used in that period.
    pub fn review(
        &self,
        account: &str,
        principal: Option<&str>,
        since: i64,
    ) -> ApiResult<Vec<PrincipalReview>> {
        let principals = match principal {
            Some(p) => {
                let resource = p.splitn(6, ':').nth(5).unwrap_or("");
                if !(resource.starts_with("user/") || resource.starts_with("role/")) {
                    return Err(ApiError::invalid_input(format!(
                        "A review is of a user or a role; {p} is neither"
                    )));
                }
                if p.split(':').nth(4) != Some(account) {
                    return Err(ApiError::no_such_entity(format!(
                        "The entity {p} cannot be found."
                    )));
                }
                vec![p.to_string()]
            }
            None => self.all_principals(account)?,
        };
        let mut out = Vec::new();
        for arn in principals {
            let (_, entities, policies) = self.report_scope(&arn)?;
            let Some(entity) = entities.into_iter().next() else {
                continue;
            };
            let rows = self.store.read(|tx| rows_of(tx, &entity.arn))?;
            let allowed = Allowed::of(&policies);
            let mut findings = Vec::new();
            let last_used = rows.values().map(|r| r.attempted).max();
            let created = if entity.kind == "ROLE" {
                self.get_role(account, &entity.name)?.created
            } else {
                self.get_user(account, &entity.name)?.created
            };
            if entity.kind == "ROLE" && created < since && last_used.is_none_or(|t| t < since) {
                findings.push(Finding {
                    kind: "UnusedIAMRole",
                    detail: match last_used {
                        Some(t) => format!("role last used {}", iso8601(t)),
                        None => "role never used".into(),
                    },
                });
            }
            if entity.kind == "USER" {
                for k in self.list_access_keys(account, Some(&entity.name))? {
                    let used = k.last_used.as_ref().map(|u| u.at);
                    if k.created < since && used.is_none_or(|t| t < since) {
                        findings.push(Finding {
                            kind: "UnusedIAMUserAccessKey",
                            detail: match used {
                                Some(t) => format!("access key {} last used {}", k.id, iso8601(t)),
                                None => format!("access key {} never used", k.id),
                            },
                        });
                    }
                }
            }
            // Permissions: services allowed and not used in the period, and
            // named actions allowed and not used.
            let used_in = |ns: &str| {
                rows.iter()
                    .any(|(a, r)| namespace(a) == ns && r.attempted >= since)
            };
            let mut named_used = 0;
            for (ns, names) in &allowed.services {
                if !used_in(ns) {
                    findings.push(Finding {
                        kind: "UnusedPermission",
                        detail: format!("service {ns} ({}) not used", service_name(ns)),
                    });
                    continue;
                }
                for (lc, written) in names {
                    if rows.get(lc).is_none_or(|r| r.attempted < since) {
                        findings.push(Finding {
                            kind: "UnusedPermission",
                            detail: format!("action {written} not used"),
                        });
                    } else {
                        named_used += 1;
                    }
                }
            }
            // The generated policy: the actions allowed and used in the
            // period, on the resources they were used on.
            let used: Vec<(&String, &LastAccess)> = rows
                .iter()
                .filter(|(_, r)| r.allowed.is_some_and(|t| t >= since))
                .collect();
            let generated = generated_policy(&used);
            let current = current_policies(&policies);
            out.push(PrincipalReview {
                arn: entity.arn.clone(),
                kind: entity.kind.clone(),
                findings,
                actions_allowed: allowed_count(&allowed),
                actions_used: named_used,
                diff: unified_diff(&current, &generated),
                generated,
            });
        }
        Ok(out)
    }
}

/// One finding of a review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Access Analyzer's finding type.
    pub kind: &'static str,
    pub detail: String,
}

/// A principal's review.
#[derive(Debug, Clone, Serialize)]
pub struct PrincipalReview {
    pub arn: String,
    pub kind: String,
    pub findings: Vec<Finding>,
    /// Named actions the policies allow (`None`-like 0 when only wildcards).
    pub actions_allowed: usize,
    /// Of those, the ones used in the period (so "used of allowed" never
    /// counts an action a wildcard allowed against the named ones).
    pub actions_used: usize,
    /// The generated least-privilege policy (pretty JSON).
    pub generated: String,
    /// The current permissions policies against the generated one.
    pub diff: String,
}

/// Every item of a paged list, page after page.
fn every<T>(list: impl Fn(&Paging) -> ApiResult<crate::iam::Page<T>>) -> ApiResult<Vec<T>> {
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

fn allowed_count(a: &Allowed) -> usize {
    a.services.values().map(BTreeMap::len).sum()
}

/// Statements grouped by the resources their actions were used on, actions
/// sorted: deterministic, so a review can be diffed over time.
fn generated_policy(used: &[(&String, &LastAccess)]) -> String {
    let mut by_resources: BTreeMap<Vec<String>, BTreeSet<String>> = BTreeMap::new();
    for (_, r) in used {
        let mut res = r.resources.clone();
        // A full list may have forgotten older resources: any resource.
        if res.is_empty()
            || res.len() >= crate::audit::RESOURCES_KEPT
            || res.iter().any(|x| x == "*")
        {
            res = vec!["*".into()];
        }
        res.sort();
        by_resources
            .entry(res)
            .or_default()
            .insert(r.action.clone());
    }
    let statements: Vec<serde_json::Value> = by_resources
        .into_iter()
        .map(|(res, actions)| {
            let actions: Vec<String> = actions.into_iter().collect();
            serde_json::json!({
                "Effect": "Allow",
                "Action": actions,
                "Resource": match res.as_slice() {
                    [one] => serde_json::json!(one),
                    many => serde_json::json!(many),
                },
            })
        })
        .collect();
    let doc = serde_json::json!({"Version": "2012-10-17", "Statement": statements});
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

/// The current permissions policies as one document of all their statements.
fn current_policies(policies: &[SimPolicy]) -> String {
    let mut statements = Vec::new();
    for p in policies {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&p.text) else {
            continue;
        };
        match v.get("Statement") {
            Some(serde_json::Value::Array(a)) => statements.extend(a.iter().cloned()),
            Some(one) => statements.push(one.clone()),
            None => {}
        }
    }
    let doc = serde_json::json!({"Version": "2012-10-17", "Statement": statements});
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

fn unified_diff(current: &str, generated: &str) -> String {
    similar::TextDiff::from_lines(current, generated)
        .unified_diff()
        .header("current", "generated")
        .to_string()
}

/// A random UUID (version 4 layout), as IAM's job ids.
fn uuid() -> String {
    let b: [u8; 16] = crate::model::random_bytes();
    crate::model::uuid(u128::from_be_bytes(b), Some(4))
}
