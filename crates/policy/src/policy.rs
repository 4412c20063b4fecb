//! Compiled policies and policy sets.
//!
//! A [`Policy`] is a document compiled for evaluation: actions lowercased
//! into [`Glob`]s, resources into [`ArnPattern`]s, condition values parsed
//! for their operator family. A [`PolicySet`] is the policies of one
//! evaluation layer (all identity policies of a principal, the policies of
//! one SCP level, ...) with an index from service prefix to the statements
//! that can apply to it, so a decision only looks at statements about the
//! request's service (plus those whose action is a wildcard or `NotAction`):
//! the cost of a decision does not grow with unrelated statements.

use crate::arn::ArnPattern;
use crate::condition::Condition;
use crate::document::{Document, Effect, PolicyType, PrincipalBlock, PrincipalKey, Version};
use crate::error::PolicyError;
use crate::request::Request;
use crate::request::{Principal, PrincipalKind};
use crate::wildcard::Glob;
use hashbrown::HashTable;
use rustc_hash::FxHashMap;
use std::sync::Arc;

/// How a resource-policy statement's `Principal` matched the caller; the
/// evaluator treats each differently (see [`crate::evaluate`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PrincipalMatch {
    /// The caller's account (`123456789012` or `arn:aws:iam::123456789012:root`):
    /// the policy delegates to the account, whose identity policies must allow.
    Account,
    /// The role ARN of a role session.
    Role,
    /// The caller itself: user ARN, session ARN, service, provider, or `*`.
    Direct,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PrincipalSpec {
    pub negated: bool,
    pub any: bool,
    pub accounts: Vec<Box<str>>,
    pub arns: Vec<Box<str>>,
    pub services: Vec<Box<str>>,
    pub federated: Vec<Box<str>>,
    pub canonical: Vec<Box<str>>,
}

impl PrincipalSpec {
    fn compile(b: &PrincipalBlock) -> PrincipalSpec {
        let mut s = PrincipalSpec {
            negated: b.negated,
            any: b.wildcard,
            accounts: vec![],
            arns: vec![],
            services: vec![],
            federated: vec![],
            canonical: vec![],
        };
        for (k, v) in &b.entries {
            let v = v.value.as_str();
            match k {
                PrincipalKey::Aws => {
                    if v == "*" {
                        s.any = true;
                    } else if v.len() == 12 && v.bytes().all(|c| c.is_ascii_digit()) {
                        s.accounts.push(v.into());
                    } else if let Some(acct) = v
                        .strip_suffix(":root")
                        .and_then(|p| p.rsplit(':').nth(1).map(|_| p))
                        .and_then(|p| p.rsplit(':').next())
                    {
                        s.accounts.push(acct.into());
                    } else {
                        s.arns.push(v.into());
                    }
                }
                PrincipalKey::Service => s.services.push(v.to_ascii_lowercase().into()),
                PrincipalKey::Federated => s.federated.push(v.into()),
                PrincipalKey::CanonicalUser => s.canonical.push(v.into()),
            }
        }
        s
    }

    /// The strongest way the listed principals name the caller.
    pub(crate) fn best_match(&self, p: &Principal) -> Option<PrincipalMatch> {
        if self.any {
            return Some(PrincipalMatch::Direct);
        }
        match p.kind() {
            PrincipalKind::Service => self
                .services
                .iter()
                .any(|s| s.eq_ignore_ascii_case(p.arn()))
                .then_some(PrincipalMatch::Direct),
            PrincipalKind::Federated => self
                .federated
                .iter()
                .any(|s| **s == *p.arn())
                .then_some(PrincipalMatch::Direct),
            PrincipalKind::Anonymous => None,
            _ => {
                if self.arns.iter().any(|a| **a == *p.arn()) {
                    return Some(PrincipalMatch::Direct);
                }
                if let Some(role) = p.role_arn() {
                    if self.arns.iter().any(|a| **a == *role) {
                        return Some(PrincipalMatch::Role);
                    }
                }
                match p.account() {
                    Some(acct) if self.accounts.iter().any(|a| **a == *acct) => {
                        Some(if p.kind() == PrincipalKind::Root {
                            PrincipalMatch::Direct
                        } else {
                            PrincipalMatch::Account
                        })
                    }
                    _ => None,
                }
            }
        }
    }

    /// For `NotPrincipal`: whether the caller is left out by the list.
    /// AWS checks each identity the caller holds — the account, the role and
    /// the session for a role session; the account and the user for a user —
    /// so a `Deny` with `NotPrincipal` exempts the caller only when every one
    /// of them is listed. With `Allow`, naming any one exempts it.
    /// <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notprincipal.html>
    pub(crate) fn not_principal_applies(&self, p: &Principal, effect: Effect) -> bool {
        if self.any {
            return false;
        }
        let mut ids: [Option<bool>; 3] = [None; 3];
        match p.kind() {
            PrincipalKind::Service => {
                ids[0] = Some(
                    self.services
                        .iter()
                        .any(|s| s.eq_ignore_ascii_case(p.arn())),
                )
            }
            PrincipalKind::Federated => {
                ids[0] = Some(self.federated.iter().any(|s| **s == *p.arn()))
            }
            PrincipalKind::Anonymous => ids[0] = Some(false),
            _ => {
                let acct_listed = p
                    .account()
                    .is_some_and(|a| self.accounts.iter().any(|x| **x == *a));
                ids[0] = Some(acct_listed);
                if p.kind() != PrincipalKind::Root {
                    ids[1] = Some(self.arns.iter().any(|a| **a == *p.arn()));
                }
                if let (Some(role), PrincipalKind::AssumedRole) = (p.role_arn(), p.kind()) {
                    ids[2] = Some(self.arns.iter().any(|a| **a == *role));
                }
            }
        }
        let mut listed = ids.iter().flatten();
        match effect {
            Effect::Deny => !listed.all(|&l| l),
            Effect::Allow => !listed.any(|&l| l),
        }
    }
}

/// One compiled statement.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Stmt {
    pub sid: Option<Box<str>>,
    pub effect: Effect,
    pub principal: Option<PrincipalSpec>,
    pub not_action: bool,
    pub actions: Vec<Glob>,
    /// The patterns of `actions` that are not plain names (those are found
    /// through the set's exact-action index instead).
    pub wild_actions: Vec<Glob>,
    /// `None`: no `Resource` element (trust policies): the policy's own resource.
    pub resources: Option<(bool, Vec<ArnPattern>)>,
    pub conditions: Vec<Condition>,
}

/// A compiled policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    id: Box<str>,
    ty: PolicyType,
    pub(crate) statements: Vec<Stmt>,
}

impl Policy {
    /// Parse and compile a policy document.
    pub fn parse(id: &str, text: &str, ty: PolicyType) -> Result<Policy, PolicyError> {
        let doc = crate::parse::parse(text, ty)?;
        Ok(Policy::compile(id, &doc, ty))
    }

    /// Compile a parsed document.
    pub fn compile(id: &str, doc: &Document, ty: PolicyType) -> Policy {
        let version = doc.version();
        let vars = version == Version::V2012_10_17;
        let statements = doc
            .statements
            .iter()
            .map(|s| Stmt {
                sid: s.sid.as_ref().map(|x| x.value.as_str().into()),
                effect: s.effect.value,
                principal: s.principal.as_ref().map(PrincipalSpec::compile),
                not_action: s.action.negated,
                actions: s
                    .action
                    .items
                    .iter()
                    .map(|a| Glob::new(&a.value.to_ascii_lowercase()))
                    .collect(),
                wild_actions: s
                    .action
                    .items
                    .iter()
                    .map(|a| Glob::new(&a.value.to_ascii_lowercase()))
                    .filter(|g| !matches!(g, Glob::Exact(_)))
                    .collect(),
                resources: s.resource.as_ref().map(|r| {
                    (
                        r.negated,
                        r.items
                            .iter()
                            .map(|x| ArnPattern::parse(&x.value, vars))
                            .collect(),
                    )
                }),
                conditions: s
                    .conditions
                    .iter()
                    .map(|c| Condition::compile(c, version))
                    .collect(),
            })
            .collect();
        Policy {
            id: id.into(),
            ty,
            statements,
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn policy_type(&self) -> PolicyType {
        self.ty
    }

    /// Every condition key the policy refers to (in conditions and as
    /// variables), as written, deduplicated case-insensitively.
    pub fn context_keys(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut push = |k: &str| {
            if !out.iter().any(|o| o.eq_ignore_ascii_case(k)) {
                out.push(k.to_string());
            }
        };
        for s in &self.statements {
            for c in &s.conditions {
                push(c.key());
                for v in c.variable_keys() {
                    push(v);
                }
            }
            if let Some((_, rs)) = &s.resources {
                for r in rs {
                    for t in r.templates() {
                        for v in t.variable_keys() {
                            push(v);
                        }
                    }
                }
            }
        }
        out
    }
}

/// Reference to one statement of a set: its index in the set's flat
/// statement array.
pub(crate) type StmtRef = u32;

/// Hash of an action or service name, as the request precomputes it.
pub(crate) fn name_hash(s: &str) -> u64 {
    use std::hash::BuildHasher;
    rustc_hash::FxBuildHasher.hash_one(s)
}

/// A candidate statement: (index in the set's flat statement array,
/// whether its action is already known to match — true for every
/// statement of an exact-action list).
pub(crate) type Candidate = (u32, bool);

/// Name → candidate statements, probed with a precomputed hash.
#[derive(Debug, Clone, Default)]
struct NameIndex(HashTable<(Box<str>, Box<[Candidate]>)>);

impl NameIndex {
    fn insert(&mut self, name: Box<str>, list: Box<[Candidate]>) {
        let h = name_hash(&name);
        self.0.insert_unique(h, (name, list), |(k, _)| name_hash(k));
    }

    #[inline]
    fn get(&self, hash: u64, name: &str) -> Option<&[Candidate]> {
        if self.0.is_empty() {
            return None;
        }
        self.0
            .find(hash, |(k, _)| crate::wildcard::str_eq(k, name))
            .map(|(_, v)| &**v)
    }
}

/// Sorted, deduplicated candidates; an exact hit wins over the same
/// statement found by a wildcard.
fn merge(parts: &[(&[StmtRef], bool)]) -> Box<[Candidate]> {
    let mut v: Vec<Candidate> = parts
        .iter()
        .flat_map(|(list, exact)| list.iter().map(move |&i| (i, *exact)))
        .collect();
    v.sort_unstable_by_key(|&(i, e)| (i, !e));
    v.dedup_by_key(|c| c.0);
    v.into_boxed_slice()
}

/// Whether a statement's `Action` / `NotAction` applies to every action of
/// service `svc` (`None`: a service none of the set's patterns names):
/// `Some(true)` for all of them, `Some(false)` for none, `None` when it
/// depends on the action (`s3:Get*` for `s3`, or a wildcard in the service
/// part such as `s?:*`).
fn action_matches_service(st: &Stmt, svc: Option<&str>) -> Option<bool> {
    let mut all_false = true;
    for g in &st.actions {
        let one = match g {
            Glob::Any => Some(true),
            _ => match g.literal_prefix().split_once(':') {
                Some((s, _)) if Some(s) != svc => Some(false),
                // `svc:*` names every action of the service.
                Some((_, rest)) if matches!(g, Glob::Prefix(_)) && rest.is_empty() => Some(true),
                _ => None,
            },
        };
        match one {
            Some(true) => return Some(!st.not_action),
            Some(false) => {}
            None => all_false = false,
        }
    }
    all_false.then_some(st.not_action)
}

/// One statement of a set, with where it comes from.
#[derive(Debug)]
pub(crate) struct SetStmt {
    pub(crate) stmt: Stmt,
    /// Index of its policy in the set.
    pub(crate) policy: u32,
    /// Index of the statement within its policy.
    pub(crate) index: u32,
}

/// The policies of one evaluation layer, indexed by action.
///
/// Statements are sorted into those naming an action exactly
/// (`s3:getobject`), those with a wildcard action within one service
/// (`s3:Get*`), and those that can apply to any service (`*`, `s?:*`,
/// `NotAction`). At build time each exact action gets the merged list of
/// every statement that can apply to it, and so does each service; a
/// request then looks up one list by a precomputed hash and sees only the
/// statements that can match it.
///
/// The statements of every policy are copied into one contiguous array in
/// policy order, and the lists hold indices into it: a decision walks one
/// array instead of following set → policy → statement pointers.
///
/// Cloning a set is cheap (it is shared), so a compiled set can be cached
/// and handed to many decisions.
#[derive(Debug, Clone, Default)]
pub struct PolicySet(Arc<SetInner>);

#[derive(Debug, Default)]
pub(crate) struct SetInner {
    pub(crate) policies: Vec<Arc<Policy>>,
    pub(crate) stmts: Vec<SetStmt>,
    exact: NameIndex,
    service: NameIndex,
    global: Box<[Candidate]>,
}

impl PolicySet {
    pub fn new(policies: Vec<Arc<Policy>>) -> PolicySet {
        let mut exact: FxHashMap<Box<str>, Vec<StmtRef>> = FxHashMap::default();
        let mut service: FxHashMap<Box<str>, Vec<StmtRef>> = FxHashMap::default();
        let mut global: Vec<StmtRef> = Vec::new();
        let mut stmts: Vec<SetStmt> = Vec::new();
        for (pi, p) in policies.iter().enumerate() {
            for (si, s) in p.statements.iter().enumerate() {
                let r = u32::try_from(stmts.len()).unwrap_or(u32::MAX);
                stmts.push(SetStmt {
                    stmt: s.clone(),
                    policy: u32::try_from(pi).unwrap_or(u32::MAX),
                    index: u32::try_from(si).unwrap_or(u32::MAX),
                });
                if s.not_action {
                    global.push(r);
                    continue;
                }
                for g in &s.actions {
                    match g {
                        Glob::Exact(a) => exact.entry(a.clone()).or_default().push(r),
                        other => match other.literal_prefix().split_once(':') {
                            Some((svc, _)) => service.entry(svc.into()).or_default().push(r),
                            None => global.push(r),
                        },
                    }
                }
            }
        }
        let mut exact_index = NameIndex::default();
        for (action, list) in &exact {
            let svc = action.split_once(':').map_or(&**action, |(s, _)| s);
            let by_svc = service.get(svc).map_or(&[][..], |v| v);
            // The action is known here, so decide the wildcard and `NotAction`
            // statements now: keep those whose action matches, marked as
            // matched, and drop the rest — a decision for this action then
            // does no action matching at all.
            let decided: Vec<Candidate> = merge(&[(list, true), (by_svc, false), (&global, false)])
                .iter()
                .filter_map(|&(i, exact_hit)| {
                    if exact_hit {
                        return Some((i, true));
                    }
                    let st = &stmts.get(i as usize)?.stmt;
                    let hit = st.actions.iter().any(|g| g.matches(action));
                    (hit != st.not_action).then_some((i, true))
                })
                .collect();
            exact_index.insert(action.clone(), decided.into_boxed_slice());
        }
        // Services that statements about any service name literally
        // (`NotAction: ["iam:*", "sts:*"]`): each gets a list of its own, so
        // the fallback list below serves only services that no pattern
        // names, and every statement in it can be decided now too.
        for &i in &global {
            let Some(st) = stmts.get(i as usize) else {
                continue;
            };
            for g in &st.stmt.actions {
                if let Some((svc, _)) = g.literal_prefix().split_once(':') {
                    service.entry(svc.into()).or_default();
                }
            }
        }
        let decide = |list: Box<[Candidate]>, svc: Option<&str>| -> Box<[Candidate]> {
            list.iter()
                .filter_map(|&(i, _)| {
                    let st = &stmts.get(i as usize)?.stmt;
                    match action_matches_service(st, svc) {
                        Some(true) => Some((i, true)),
                        Some(false) => None,
                        None => Some((i, false)),
                    }
                })
                .collect()
        };
        let mut service_index = NameIndex::default();
        for (svc, list) in &service {
            service_index.insert(
                svc.clone(),
                decide(merge(&[(list, false), (&global, false)]), Some(svc)),
            );
        }
        PolicySet(Arc::new(SetInner {
            exact: exact_index,
            service: service_index,
            global: decide(merge(&[(&global, false)]), None),
            policies,
            stmts,
        }))
    }

    /// Build a set from owned policies.
    pub fn from_policies(policies: impl IntoIterator<Item = Policy>) -> PolicySet {
        PolicySet::new(policies.into_iter().map(Arc::new).collect())
    }

    pub fn policies(&self) -> &[Arc<Policy>] {
        &self.0.policies
    }

    pub fn is_empty(&self) -> bool {
        self.0.policies.is_empty()
    }

    /// The set's statements, in policy order.
    #[inline]
    pub(crate) fn stmts(&self) -> &[SetStmt] {
        &self.0.stmts
    }

    /// The statements that may apply to the request's action, in policy order.
    #[inline]
    pub(crate) fn candidates(&self, req: &Request) -> &[Candidate] {
        let s = &*self.0;
        s.exact
            .get(req.action_hash, &req.action_lower)
            .or_else(|| s.service.get(req.service_hash, req.service_lower()))
            .unwrap_or(&s.global)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::Context;

    #[test]
    fn unrelated_statements_are_not_candidates() {
        let text = r#"{"Version":"2012-10-17","Statement":[{"Sid":"U","Effect":"Allow","Action":["rds:Describe*","rds:Get*"],"Resource":"arn:aws:rds:*:111111111111:thing/1/*"},{"Effect":"Deny","Action":"rds:Delete*","Resource":"*"}]}"#;
        let s3 = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"},{"Effect":"Allow","Action":"s3:Get*","Resource":"*"},{"Effect":"Deny","NotAction":"iam:*","Resource":"*"}]}"#;
        let set = PolicySet::from_policies([
            Policy::parse("u", text, PolicyType::Identity).unwrap(),
            Policy::parse("s", s3, PolicyType::Identity).unwrap(),
        ]);
        let req = Request::new(
            "arn:aws:iam::1:user/a",
            "s3:GetObject",
            "*",
            None,
            Context::new(),
        );
        let c: Vec<_> = set.candidates(&req).to_vec();
        assert_eq!(c, [(2, true), (3, true), (4, true)]);
        // An action no statement names exactly: the service list. `s3:Get*`
        // depends on the action; `NotAction: iam:*` is decided for all of s3.
        let req =
            |action: &str| Request::new("arn:aws:iam::1:user/a", action, "*", None, Context::new());
        assert_eq!(
            set.candidates(&req("s3:GetBucketAcl")).to_vec(),
            [(3, false), (4, true)]
        );
        // iam has a list of its own (the `NotAction` names it), without the
        // statement that excludes it.
        assert_eq!(set.candidates(&req("iam:GetUser")).to_vec(), []);
        // A service no pattern names: only statements about any service, decided.
        assert_eq!(
            set.candidates(&req("ec2:RunInstances")).to_vec(),
            [(4, true)]
        );
    }

    #[test]
    fn statements_are_decided_per_service_where_the_pattern_allows() {
        let text = r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":"*","Resource":"*"},
            {"Effect":"Allow","Action":"s?:*","Resource":"*"},
            {"Effect":"Allow","Action":["ec2:*","s3:Put*"],"Resource":"*"},
            {"Effect":"Deny","NotAction":["s3:*","ec2:Describe*"],"Resource":"*"}]}"#;
        let set =
            PolicySet::from_policies([Policy::parse("p", text, PolicyType::Identity).unwrap()]);
        let c = |action: &str| {
            let r = Request::new("arn:aws:iam::1:user/a", action, "*", None, Context::new());
            set.candidates(&r).to_vec()
        };
        // s3: `*` and `NotAction s3:*` decided (the latter drops out), `s?:*`
        // and `s3:Put*` depend on the action.
        assert_eq!(c("s3:GetObject"), [(0, true), (1, false), (2, false)]);
        // ec2: `ec2:*` decided; `NotAction ec2:Describe*` depends on the action.
        assert_eq!(
            c("ec2:RunInstances"),
            [(0, true), (1, false), (2, true), (3, false)]
        );
        // sqs: no pattern names it; `s?:*` still depends on it.
        assert_eq!(c("sqs:SendMessage"), [(0, true), (1, false), (3, true)]);
        // Whatever the list says, the decisions agree with matching each pattern.
        for action in [
            "s3:GetObject",
            "s3:PutObject",
            "ec2:RunInstances",
            "ec2:DescribeVpcs",
            "sqs:SendMessage",
            "sns:Publish",
            "iam:GetUser",
        ] {
            let r = Request::new("arn:aws:iam::1:user/a", action, "*", None, Context::new());
            let lower = action.to_ascii_lowercase();
            for (i, st) in set.stmts().iter().enumerate() {
                let hit = st.stmt.actions.iter().any(|g| g.matches(&lower)) != st.stmt.not_action;
                let listed = set
                    .candidates(&r)
                    .iter()
                    .find(|c| c.0 as usize == i)
                    .copied();
                match listed {
                    None => assert!(!hit, "{action}: statement {i} applies but is not listed"),
                    Some((_, true)) => assert!(hit, "{action}: statement {i} marked matching"),
                    Some((_, false)) => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod bench_index_tests {
    //! The cost of a decision must not grow with policies that cannot apply:
    //! the index hands the evaluator exactly the same statements.
    use super::*;

    #[test]
    fn unrelated_policies_add_no_candidates_to_the_bench_cases() {
        let services = [
            "rds",
            "sns",
            "glue",
            "athena",
            "ecs",
            "eks",
            "redshift",
            "cloudformation",
        ];
        let extra: Vec<Arc<Policy>> = (0..200)
            .map(|i| {
                let svc = services[i % services.len()];
                let text = format!(
                    r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"U{i}","Effect":"Allow","Action":["{svc}:Describe*","{svc}:Get*"],"Resource":"arn:aws:{svc}:*:111111111111:thing/{i}/*","Condition":{{"StringEquals":{{"aws:PrincipalTag/team":"t{i}"}}}}}},{{"Effect":"Deny","Action":"{svc}:Delete*","Resource":"*"}}]}}"#
                );
                Arc::new(Policy::parse("u", &text, PolicyType::Identity).unwrap())
            })
            .collect();
        for line in include_str!("../tests/data/bench-cases.jsonl").lines() {
            let case = crate::case::parse_case(line).unwrap();
            let before: Vec<_> = case.layers.identity.candidates(&case.request).to_vec();
            let mut ps = case.layers.identity.policies().to_vec();
            ps.extend(extra.iter().cloned());
            let set = PolicySet::new(ps);
            assert_eq!(
                set.candidates(&case.request).to_vec(),
                before,
                "{:?}",
                case.id
            );
        }
    }
}
