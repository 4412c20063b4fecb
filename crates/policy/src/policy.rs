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

/// Reference to one statement of a set: (policy index, statement index).
pub(crate) type StmtRef = (u32, u32);

/// Hash of an action or service name, as the request precomputes it.
pub(crate) fn name_hash(s: &str) -> u64 {
    use std::hash::BuildHasher;
    rustc_hash::FxBuildHasher.hash_one(s)
}

/// A candidate statement: (policy, statement, whether its action is already
/// known to match — true for every statement of an exact-action list).
pub(crate) type Candidate = (u32, u32, bool);

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
        self.0.find(hash, |(k, _)| **k == *name).map(|(_, v)| &**v)
    }
}

/// Sorted, deduplicated candidates; an exact hit wins over the same
/// statement found by a wildcard.
fn merge(parts: &[(&[StmtRef], bool)]) -> Box<[Candidate]> {
    let mut v: Vec<Candidate> = parts
        .iter()
        .flat_map(|(list, exact)| list.iter().map(move |&(p, s)| (p, s, *exact)))
        .collect();
    v.sort_unstable_by_key(|&(p, s, e)| (p, s, !e));
    v.dedup_by_key(|c| (c.0, c.1));
    v.into_boxed_slice()
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
/// Cloning a set is cheap (it is shared), so a compiled set can be cached
/// and handed to many decisions.
#[derive(Debug, Clone, Default)]
pub struct PolicySet(Arc<SetInner>);

#[derive(Debug, Default)]
pub(crate) struct SetInner {
    pub(crate) policies: Vec<Arc<Policy>>,
    exact: NameIndex,
    service: NameIndex,
    global: Box<[Candidate]>,
}

impl PolicySet {
    pub fn new(policies: Vec<Arc<Policy>>) -> PolicySet {
        let mut exact: FxHashMap<Box<str>, Vec<StmtRef>> = FxHashMap::default();
        let mut service: FxHashMap<Box<str>, Vec<StmtRef>> = FxHashMap::default();
        let mut global: Vec<StmtRef> = Vec::new();
        for (pi, p) in policies.iter().enumerate() {
            for (si, s) in p.statements.iter().enumerate() {
                let r = (
                    u32::try_from(pi).unwrap_or(u32::MAX),
                    u32::try_from(si).unwrap_or(u32::MAX),
                );
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
                .filter_map(|&(pi, si, exact_hit)| {
                    if exact_hit {
                        return Some((pi, si, true));
                    }
                    let st = policies.get(pi as usize)?.statements.get(si as usize)?;
                    let hit = st.actions.iter().any(|g| g.matches(action));
                    (hit != st.not_action).then_some((pi, si, true))
                })
                .collect();
            exact_index.insert(action.clone(), decided.into_boxed_slice());
        }
        let mut service_index = NameIndex::default();
        for (svc, list) in &service {
            service_index.insert(svc.clone(), merge(&[(list, false), (&global, false)]));
        }
        PolicySet(Arc::new(SetInner {
            exact: exact_index,
            service: service_index,
            global: merge(&[(&global, false)]),
            policies,
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
        assert_eq!(c, [(1, 0, true), (1, 1, true), (1, 2, true)]);
        // An action no statement names exactly: the service list, undecided.
        let req = Request::new(
            "arn:aws:iam::1:user/a",
            "s3:GetBucketAcl",
            "*",
            None,
            Context::new(),
        );
        assert_eq!(
            set.candidates(&req).to_vec(),
            [(1, 1, false), (1, 2, false)]
        );
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
