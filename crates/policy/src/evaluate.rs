//! The decision: AWS's policy evaluation logic over every layer.
//!
//! Order of the checks, from
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_policy-eval-denyallow.html>
//! and <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html>:
//!
//! 1. An explicit `Deny` in any applicable policy decides (`explicitDeny`).
//! 2. Resource control policies: every level (root, OUs, account) of the
//!    resource's account must allow.
//! 3. Service control policies: every level of the principal's account must allow.
//! 4. Resource-based policy and identity side:
//!    - same account: the union of identity-based and resource-based
//!      policies, except that a resource policy naming only the account
//!      delegates to identity policies; a grant to an IAM user ARN or a role
//!      session ARN is not limited by the permissions boundary or session
//!      policy, a grant to a role ARN is;
//!    - across accounts, both the resource policy and the identity side must allow;
//!    - for `sts:AssumeRole*` on a role, the role's trust policy must allow
//!      even within one account.
//! 5. The identity side: identity policies, intersected with the permissions
//!    boundary and the session policies when present.
//!
//! An account's root user has every identity permission (no identity policy
//! applies to it) — across accounts the resource's policy must still allow;
//! SCPs, RCPs and explicit denies still bind it.

use crate::document::{Effect, PolicyType};
use crate::explain::{Decision, EvalDecision, MatchedStatement};
use crate::policy::{PolicySet, PrincipalMatch, Stmt};
use crate::request::{PrincipalKind, Request};
use smallvec::SmallVec;

/// The policies that apply to one request, by layer.
///
/// `None` for `permission_boundary` / `session` / `resource` means the
/// layer is absent (no boundary, no session policy, no resource policy);
/// empty `scp`/`rcp` means the account is not in an organization. A level
/// that holds no policy allows nothing.
#[derive(Debug, Clone, Default)]
pub struct Layers {
    pub identity: PolicySet,
    pub permission_boundary: Option<PolicySet>,
    pub session: Option<PolicySet>,
    pub resource: Option<PolicySet>,
    pub scp: Vec<PolicySet>,
    pub rcp: Vec<PolicySet>,
}

/// What one layer said.
#[derive(Debug, Clone, Copy, Default)]
struct LayerResult {
    allow: bool,
    deny: bool,
    /// For resource policies: the strongest principal match of an Allow.
    best: Option<PrincipalMatch>,
}

struct Scratch<'a> {
    allows: SmallVec<[MatchedStatement<'a>; 6]>,
    denies: SmallVec<[MatchedStatement<'a>; 6]>,
    missing: SmallVec<[&'a str; 4]>,
}

/// `sts:AssumeRole` and the actions evaluated against a role's trust policy.
fn is_trust_action(action_lower: &str) -> bool {
    matches!(
        action_lower,
        "sts:assumerole"
            | "sts:assumerolewithsaml"
            | "sts:assumerolewithwebidentity"
            | "sts:tagsession"
            | "sts:setsourceidentity"
            | "sts:setcontext"
    )
}

/// Decide a request.
pub fn evaluate<'a>(req: &Request, layers: &'a Layers) -> Decision<'a> {
    let mut sc = Scratch {
        allows: SmallVec::new(),
        denies: SmallVec::new(),
        missing: SmallVec::new(),
    };
    let p = &req.principal;
    let has_identity = p.has_identity();

    let identity = if has_identity {
        eval_set(req, &layers.identity, PolicyType::Identity, None, &mut sc)
    } else {
        LayerResult::default()
    };
    let boundary = layers
        .permission_boundary
        .as_ref()
        .filter(|_| has_identity)
        .map(|s| eval_set(req, s, PolicyType::PermissionBoundary, None, &mut sc));
    let session = layers
        .session
        .as_ref()
        .filter(|_| has_identity)
        .map(|s| eval_set(req, s, PolicyType::Session, None, &mut sc));
    let resource = layers.resource.as_ref().map(|s| {
        eval_set(
            req,
            s,
            PolicyType::Resource,
            Some(layers.permission_boundary.is_some()),
            &mut sc,
        )
    });
    let mut scp_ok = true;
    let mut scp_deny = false;
    for (lvl, set) in layers.scp.iter().enumerate() {
        let r = eval_level(req, set, PolicyType::Scp, lvl, &mut sc);
        scp_ok &= r.allow;
        scp_deny |= r.deny;
    }
    let mut rcp_ok = true;
    let mut rcp_deny = false;
    for (lvl, set) in layers.rcp.iter().enumerate() {
        let r = eval_level(req, set, PolicyType::Rcp, lvl, &mut sc);
        rcp_ok &= r.allow;
        rcp_deny |= r.deny;
    }

    let finish = |decision: EvalDecision, by: Option<PolicyType>, sc: Scratch<'a>| Decision {
        decision,
        decided_by: by,
        matched_statements: match decision {
            EvalDecision::ExplicitDeny => sc.denies,
            EvalDecision::Allowed => sc.allows,
            EvalDecision::ImplicitDeny => SmallVec::new(),
        },
        missing_context_keys: sc.missing,
    };

    // 1. Explicit deny anywhere.
    let deny_in = if scp_deny {
        Some(PolicyType::Scp)
    } else if rcp_deny {
        Some(PolicyType::Rcp)
    } else if resource.is_some_and(|r| r.deny) {
        Some(PolicyType::Resource)
    } else if identity.deny {
        Some(PolicyType::Identity)
    } else if boundary.is_some_and(|r| r.deny) {
        Some(PolicyType::PermissionBoundary)
    } else if session.is_some_and(|r| r.deny) {
        Some(PolicyType::Session)
    } else {
        None
    };
    if let Some(t) = deny_in {
        return finish(EvalDecision::ExplicitDeny, Some(t), sc);
    }
    // 2-3. Organization guardrails.
    if !rcp_ok {
        return finish(EvalDecision::ImplicitDeny, Some(PolicyType::Rcp), sc);
    }
    if !scp_ok {
        return finish(EvalDecision::ImplicitDeny, Some(PolicyType::Scp), sc);
    }

    // 4-5. Resource policy and identity side.
    let is_root = p.kind() == PrincipalKind::Root;
    let cross = req.is_cross_account();
    let res_best = resource.and_then(|r| r.best);
    let pb_ok = boundary.is_none_or(|b| b.allow) || is_root;
    let sess_ok = session.is_none_or(|s| s.allow) || is_root;
    // The root user's identity side allows everything, in its own account
    // and as the asking side of a cross-account request (the other account's
    // resource policy must still allow).
    let id_allow = identity.allow || is_root;
    // What stops the identity side, in AWS's order.
    let identity_gap = |id_allow: bool| -> Option<PolicyType> {
        if !id_allow {
            Some(PolicyType::Identity)
        } else if !pb_ok {
            Some(PolicyType::PermissionBoundary)
        } else if !sess_ok {
            Some(PolicyType::Session)
        } else {
            None
        }
    };

    if !has_identity {
        // Services, identity providers, anonymous callers: only the resource policy can grant.
        return match res_best {
            Some(_) => finish(EvalDecision::Allowed, Some(PolicyType::Resource), sc),
            None => finish(EvalDecision::ImplicitDeny, Some(PolicyType::Resource), sc),
        };
    }

    let trust = is_trust_action(&req.action_lower) && req.resource.as_str().contains(":role/");

    if cross || trust {
        // The resource policy must allow (any principal match, including the account) ...
        if res_best.is_none() {
            return finish(EvalDecision::ImplicitDeny, Some(PolicyType::Resource), sc);
        }
        if !cross {
            // ... within one account a trust policy naming the caller (not only the
            // account) grants by itself, as any same-account resource policy does.
            // (AssumeRole: a caller named in the trust policy needs no identity
            // policy, but a permissions boundary or session policy must still allow
            // sts:AssumeRole.)
            // https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html
            match res_best {
                Some(PrincipalMatch::Direct) if !trust => {
                    return finish(EvalDecision::Allowed, Some(PolicyType::Resource), sc)
                }
                Some(PrincipalMatch::Direct | PrincipalMatch::Role) => {
                    return match identity_gap(true) {
                        None => finish(EvalDecision::Allowed, Some(PolicyType::Resource), sc),
                        Some(t) => finish(EvalDecision::ImplicitDeny, Some(t), sc),
                    }
                }
                _ => {}
            }
        }
        // ... and the identity side must allow too.
        return match identity_gap(id_allow) {
            None => finish(EvalDecision::Allowed, Some(PolicyType::Identity), sc),
            Some(t) => finish(EvalDecision::ImplicitDeny, Some(t), sc),
        };
    }

    // Same account: union of identity-based and resource-based policies.
    match res_best {
        Some(PrincipalMatch::Direct) => {
            finish(EvalDecision::Allowed, Some(PolicyType::Resource), sc)
        }
        Some(PrincipalMatch::Role) => match identity_gap(true) {
            None => finish(
                EvalDecision::Allowed,
                Some(if identity.allow {
                    PolicyType::Identity
                } else {
                    PolicyType::Resource
                }),
                sc,
            ),
            Some(t) => finish(EvalDecision::ImplicitDeny, Some(t), sc),
        },
        _ => match identity_gap(id_allow) {
            None => finish(EvalDecision::Allowed, Some(PolicyType::Identity), sc),
            Some(t) => finish(EvalDecision::ImplicitDeny, Some(t), sc),
        },
    }
}

/// Evaluate one level of an organization policy chain.
fn eval_level<'a>(
    req: &Request,
    set: &'a PolicySet,
    ty: PolicyType,
    level: usize,
    sc: &mut Scratch<'a>,
) -> LayerResult {
    let (a, d) = (sc.allows.len(), sc.denies.len());
    let r = eval_set(req, set, ty, None, sc);
    let level = u16::try_from(level).unwrap_or(u16::MAX - 1);
    for m in sc
        .allows
        .iter_mut()
        .skip(a)
        .chain(sc.denies.iter_mut().skip(d))
    {
        m.level = level;
    }
    r
}

/// Evaluate the statements of one set that can apply to the request.
/// `boundary_present` is `Some` for resource policies (the NotPrincipal rule needs it).
fn eval_set<'a>(
    req: &Request,
    set: &'a PolicySet,
    ty: PolicyType,
    boundary_present: Option<bool>,
    sc: &mut Scratch<'a>,
) -> LayerResult {
    let mut out = LayerResult::default();
    let stmts = set.stmts();
    for &(i, exact_hit) in set.candidates(req) {
        let Some(s) = stmts.get(i as usize) else {
            continue;
        };
        let stmt = &s.stmt;
        let Some(pm) = statement_applies(req, stmt, exact_hit, boundary_present, sc) else {
            continue;
        };
        let Some(policy) = set.policies().get(s.policy as usize) else {
            continue;
        };
        match stmt.effect {
            Effect::Deny => out.deny = true,
            Effect::Allow => {
                out.allow = true;
                if out.best.is_none_or(|b| pm > b) {
                    out.best = Some(pm);
                }
            }
        }
        let m = MatchedStatement {
            policy,
            statement: s.index,
            level: u16::MAX,
            policy_type: ty,
        };
        match stmt.effect {
            Effect::Deny => sc.denies.push(m),
            Effect::Allow => sc.allows.push(m),
        }
    }
    out
}

/// Whether a statement applies; `Some(how the principal matched)`.
#[inline]
fn statement_applies<'a>(
    req: &Request,
    stmt: &'a Stmt,
    exact_hit: bool,
    boundary_present: Option<bool>,
    sc: &mut Scratch<'a>,
) -> Option<PrincipalMatch> {
    // Action. A statement found by its exact action name matches; others
    // are checked against their wildcard patterns (all patterns for `NotAction`).
    // (`exact_hit`: the index already decided that the action matches.)
    let action = &*req.action_lower;
    if !exact_hit {
        if stmt.not_action {
            if stmt.actions.iter().any(|g| g.matches(action)) {
                return None;
            }
        } else if !stmt.wild_actions.iter().any(|g| g.matches(action)) {
            return None;
        }
    }
    // Resource.
    if let Some((negated, pats)) = &stmt.resources {
        let mut any = false;
        // An entry whose variable cannot be resolved matches no resource
        // (so in `NotResource` it excludes nothing).
        // https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html#policy-vars-no-value
        for pat in pats {
            if pat.matches(&req.resource, &req.context) == Some(true) {
                any = true;
                break;
            }
        }
        if any == *negated {
            return None;
        }
    }
    // Principal.
    let pm = match &stmt.principal {
        None => PrincipalMatch::Direct,
        Some(spec) if spec.negated => {
            // AWS: a Deny with NotPrincipal always applies to a principal
            // that has a permissions boundary.
            // https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_boundaries.html
            let forced = stmt.effect == Effect::Deny && boundary_present == Some(true);
            if !forced && !spec.not_principal_applies(&req.principal, stmt.effect) {
                return None;
            }
            PrincipalMatch::Direct
        }
        Some(spec) => spec.best_match(&req.principal)?,
    };
    // Conditions: all must hold. Once one fails the rest are only checked
    // for absent keys, so that every missing key is still reported.
    let mut ok = true;
    for c in &stmt.conditions {
        let missing = if ok {
            let o = c.evaluate(&req.context);
            ok = o.value;
            o.missing
        } else {
            c.key_is_absent(&req.context)
        };
        if missing && !sc.missing.iter().any(|k| k.eq_ignore_ascii_case(c.key())) {
            sc.missing.push(c.key());
        }
    }
    ok.then_some(pm)
}

#[cfg(test)]
mod tests {
    //! One test per rule of
    //! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html>.
    use super::*;
    use crate::context::Context;
    use crate::policy::Policy;

    const ALICE: &str = "arn:aws:iam::111111111111:user/alice";
    const SESSION: &str = "arn:aws:sts::111111111111:assumed-role/deploy/alice";
    const ROLE: &str = "arn:aws:iam::111111111111:role/deploy";
    const OBJ: &str = "arn:aws:s3:::bucket/key";

    fn set(ty: PolicyType, docs: &[&str]) -> PolicySet {
        PolicySet::from_policies(
            docs.iter()
                .enumerate()
                .map(|(i, d)| Policy::parse(&format!("{ty}-{i}"), d, ty).unwrap()),
        )
    }

    fn allow(action: &str, resource: &str) -> String {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"A","Effect":"Allow","Action":"{action}","Resource":"{resource}"}}]}}"#
        )
    }

    fn deny(action: &str, resource: &str) -> String {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"D","Effect":"Deny","Action":"{action}","Resource":"{resource}"}}]}}"#
        )
    }

    fn res_allow(principal: &str, action: &str) -> String {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"R","Effect":"Allow","Principal":{{"AWS":"{principal}"}},"Action":"{action}","Resource":"*"}}]}}"#
        )
    }

    fn req(principal: &str, action: &str, resource: &str, res_acct: &str) -> Request {
        Request::new(principal, action, resource, Some(res_acct), Context::new())
    }

    fn decide(r: &Request, l: &Layers) -> (EvalDecision, Option<PolicyType>) {
        let d = evaluate(r, l);
        (d.decision, d.decided_by)
    }

    #[test]
    fn empty_policy_set_denies_implicitly() {
        let l = Layers::default();
        let r = req(ALICE, "s3:GetObject", OBJ, "111111111111");
        assert_eq!(
            decide(&r, &l),
            (EvalDecision::ImplicitDeny, Some(PolicyType::Identity))
        );
        assert_eq!(
            evaluate(&r, &l).message(&r).unwrap(),
            "User: arn:aws:iam::111111111111:user/alice is not authorized to perform: s3:GetObject on resource: arn:aws:s3:::bucket/key because no identity-based policy allows the s3:GetObject action"
        );
    }

    #[test]
    fn identity_allow_and_explicit_deny_wins() {
        let mut l = Layers {
            identity: set(PolicyType::Identity, &[&allow("s3:*", "*")]),
            ..Default::default()
        };
        let r = req(ALICE, "s3:GetObject", OBJ, "111111111111");
        assert_eq!(
            decide(&r, &l),
            (EvalDecision::Allowed, Some(PolicyType::Identity))
        );
        l.identity = set(
            PolicyType::Identity,
            &[&allow("s3:*", "*"), &deny("s3:Get*", "*")],
        );
        let d = evaluate(&r, &l);
        assert_eq!(d.decision, EvalDecision::ExplicitDeny);
        assert_eq!(d.matched_statements.len(), 1);
        assert_eq!(d.matched_statements[0].sid(), Some("D"));
        assert!(d
            .message(&r)
            .unwrap()
            .ends_with("with an explicit deny in an identity-based policy"));
    }

    #[test]
    fn every_scp_level_must_allow() {
        let r = req(ALICE, "s3:GetObject", OBJ, "111111111111");
        let full = allow("*", "*");
        let mut l = Layers {
            identity: set(PolicyType::Identity, &[&allow("s3:*", "*")]),
            scp: vec![
                set(PolicyType::Scp, &[&full]),
                set(PolicyType::Scp, &[&allow("ec2:*", "*")]),
                set(PolicyType::Scp, &[&full]),
            ],
            ..Default::default()
        };
        assert_eq!(
            decide(&r, &l),
            (EvalDecision::ImplicitDeny, Some(PolicyType::Scp))
        );
        assert!(evaluate(&r, &l)
            .message(&r)
            .unwrap()
            .ends_with("because no service control policy allows the s3:GetObject action"));
        l.scp[1] = set(PolicyType::Scp, &[&allow("s3:*", "*")]);
        assert_eq!(
            decide(&r, &l),
            (EvalDecision::Allowed, Some(PolicyType::Identity))
        );
        // A level with no policy allows nothing.
        l.scp[2] = PolicySet::default();
        assert_eq!(
            decide(&r, &l),
            (EvalDecision::ImplicitDeny, Some(PolicyType::Scp))
        );
        // An SCP deny is an explicit deny.
        l.scp[2] = set(PolicyType::Scp, &[&full, &deny("s3:*", "*")]);
        let d = evaluate(&r, &l);
        assert_eq!(
            (d.decision, d.decided_by),
            (EvalDecision::ExplicitDeny, Some(PolicyType::Scp))
        );
        assert_eq!(d.matched_statements[0].level(), Some(2));
        assert!(d
            .message(&r)
            .unwrap()
            .ends_with("with an explicit deny in a service control policy"));
    }

    #[test]
    fn every_rcp_level_must_allow() {
        let r = req(ALICE, "s3:GetObject", OBJ, "111111111111");
        let rcp_full = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]}"#;
        let l = Layers {
            identity: set(PolicyType::Identity, &[&allow("s3:*", "*")]),
            rcp: vec![set(PolicyType::Rcp, &[rcp_full]), PolicySet::default()],
            ..Default::default()
        };
        assert_eq!(
            decide(&r, &l),
            (EvalDecision::ImplicitDeny, Some(PolicyType::Rcp))
        );
    }

    #[test]
    fn boundary_and_session_intersect() {
        let r = req(SESSION, "s3:PutObject", OBJ, "111111111111");
        let mut l = Layers {
            identity: set(PolicyType::Identity, &[&allow("s3:*", "*")]),
            permission_boundary: Some(set(
                PolicyType::PermissionBoundary,
                &[&allow("s3:Get*", "*")],
            )),
            ..Default::default()
        };
        assert_eq!(
            decide(&r, &l),
            (
                EvalDecision::ImplicitDeny,
                Some(PolicyType::PermissionBoundary)
            )
        );
        assert!(evaluate(&r, &l)
            .message(&r)
            .unwrap()
            .ends_with("because no permissions boundary allows the s3:PutObject action"));
        l.permission_boundary = Some(set(PolicyType::PermissionBoundary, &[&allow("s3:*", "*")]));
        l.session = Some(set(PolicyType::Session, &[&allow("s3:Get*", "*")]));
        assert_eq!(
            decide(&r, &l),
            (EvalDecision::ImplicitDeny, Some(PolicyType::Session))
        );
        assert!(evaluate(&r, &l)
            .message(&r)
            .unwrap()
            .ends_with("because no session policy allows the s3:PutObject action"));
        // A boundary alone grants nothing.
        l.session = None;
        l.identity = PolicySet::default();
        assert_eq!(
            decide(&r, &l),
            (EvalDecision::ImplicitDeny, Some(PolicyType::Identity))
        );
    }

    // https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_policy-eval-basics.html
    #[test]
    fn same_account_resource_policy_principal_kinds() {
        let boundary = Some(set(PolicyType::PermissionBoundary, &[&allow("ec2:*", "*")]));
        let session = Some(set(PolicyType::Session, &[&allow("ec2:*", "*")]));
        // User ARN named: not limited by the identity policies or the boundary.
        let l = Layers {
            permission_boundary: boundary.clone(),
            resource: Some(set(
                PolicyType::Resource,
                &[&res_allow(ALICE, "s3:GetObject")],
            )),
            ..Default::default()
        };
        let r = req(ALICE, "s3:GetObject", OBJ, "111111111111");
        assert_eq!(
            decide(&r, &l),
            (EvalDecision::Allowed, Some(PolicyType::Resource))
        );
        // Session ARN named: not limited by boundary or session policy.
        let l = Layers {
            permission_boundary: boundary.clone(),
            session: session.clone(),
            resource: Some(set(
                PolicyType::Resource,
                &[&res_allow(SESSION, "s3:GetObject")],
            )),
            ..Default::default()
        };
        let r = req(SESSION, "s3:GetObject", OBJ, "111111111111");
        assert_eq!(
            decide(&r, &l),
            (EvalDecision::Allowed, Some(PolicyType::Resource))
        );
        // Role ARN named: limited by the boundary ...
        let mut l = Layers {
            permission_boundary: boundary.clone(),
            resource: Some(set(
                PolicyType::Resource,
                &[&res_allow(ROLE, "s3:GetObject")],
            )),
            ..Default::default()
        };
        assert_eq!(
            decide(&r, &l),
            (
                EvalDecision::ImplicitDeny,
                Some(PolicyType::PermissionBoundary)
            )
        );
        // ... and by a session policy; without them it grants.
        l.permission_boundary = None;
        l.session = session;
        assert_eq!(
            decide(&r, &l),
            (EvalDecision::ImplicitDeny, Some(PolicyType::Session))
        );
        l.session = None;
        assert_eq!(
            decide(&r, &l),
            (EvalDecision::Allowed, Some(PolicyType::Resource))
        );
        // Account named: delegates to identity policies.
        let mut l = Layers {
            resource: Some(set(
                PolicyType::Resource,
                &[&res_allow("111111111111", "s3:GetObject")],
            )),
            ..Default::default()
        };
        assert_eq!(
            decide(&r, &l),
            (EvalDecision::ImplicitDeny, Some(PolicyType::Identity))
        );
        l.identity = set(PolicyType::Identity, &[&allow("s3:GetObject", "*")]);
        assert_eq!(
            decide(&r, &l),
            (EvalDecision::Allowed, Some(PolicyType::Identity))
        );
    }

    // https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html
    #[test]
    fn cross_account_needs_both_sides() {
        let r = req(
            ALICE,
            "s3:GetObject",
            "arn:aws:s3:::other/key",
            "222222222222",
        );
        let mut l = Layers {
            identity: set(PolicyType::Identity, &[&allow("s3:*", "*")]),
            ..Default::default()
        };
        assert_eq!(
            decide(&r, &l),
            (EvalDecision::ImplicitDeny, Some(PolicyType::Resource))
        );
        assert!(evaluate(&r, &l)
            .message(&r)
            .unwrap()
            .ends_with("because no resource-based policy allows the s3:GetObject action"));
        l.resource = Some(set(
            PolicyType::Resource,
            &[&res_allow("111111111111", "s3:GetObject")],
        ));
        assert_eq!(
            decide(&r, &l),
            (EvalDecision::Allowed, Some(PolicyType::Identity))
        );
        // The resource policy naming the user directly is still not enough without identity.
        l.identity = PolicySet::default();
        l.resource = Some(set(
            PolicyType::Resource,
            &[&res_allow(ALICE, "s3:GetObject")],
        ));
        assert_eq!(
            decide(&r, &l),
            (EvalDecision::ImplicitDeny, Some(PolicyType::Identity))
        );
    }

    #[test]
    fn trust_policy_must_allow_assume_role_within_one_account() {
        let target = "arn:aws:iam::111111111111:role/prod-readonly";
        let r = req(ALICE, "sts:AssumeRole", target, "111111111111");
        let mut l = Layers {
            identity: set(PolicyType::Identity, &[&allow("sts:AssumeRole", "*")]),
            ..Default::default()
        };
        // Identity allows, but no trust policy does.
        assert_eq!(
            decide(&r, &l),
            (EvalDecision::ImplicitDeny, Some(PolicyType::Resource))
        );
        assert!(evaluate(&r, &l)
            .message(&r)
            .unwrap()
            .ends_with("because no role trust policy allows the sts:AssumeRole action"));
        // Trusting the account delegates to the identity policy.
        l.resource = Some(set(
            PolicyType::Resource,
            &[&res_allow(
                "arn:aws:iam::111111111111:root",
                "sts:AssumeRole",
            )],
        ));
        assert_eq!(
            decide(&r, &l),
            (EvalDecision::Allowed, Some(PolicyType::Identity))
        );
        l.identity = PolicySet::default();
        assert_eq!(
            decide(&r, &l),
            (EvalDecision::ImplicitDeny, Some(PolicyType::Identity))
        );
        // Naming the user needs no identity policy.
        l.resource = Some(set(
            PolicyType::Resource,
            &[&res_allow(ALICE, "sts:AssumeRole")],
        ));
        assert_eq!(
            decide(&r, &l),
            (EvalDecision::Allowed, Some(PolicyType::Resource))
        );
        // ... but a permissions boundary must still allow.
        l.permission_boundary = Some(set(PolicyType::PermissionBoundary, &[&allow("s3:*", "*")]));
        assert_eq!(
            decide(&r, &l),
            (
                EvalDecision::ImplicitDeny,
                Some(PolicyType::PermissionBoundary)
            )
        );
    }

    #[test]
    fn service_principal_needs_only_the_trust_policy() {
        let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        let l = Layers {
            resource: Some(set(PolicyType::Resource, &[trust])),
            ..Default::default()
        };
        let r = req(
            "lambda.amazonaws.com",
            "sts:AssumeRole",
            ROLE,
            "111111111111",
        );
        assert_eq!(
            decide(&r, &l),
            (EvalDecision::Allowed, Some(PolicyType::Resource))
        );
        let r = req("glue.amazonaws.com", "sts:AssumeRole", ROLE, "111111111111");
        assert_eq!(
            decide(&r, &l),
            (EvalDecision::ImplicitDeny, Some(PolicyType::Resource))
        );
    }

    #[test]
    fn root_user_is_bound_only_by_organizations_and_denies() {
        let root = "arn:aws:iam::111111111111:root";
        let r = req(
            root,
            "iam:CreateUser",
            "arn:aws:iam::111111111111:user/bob",
            "111111111111",
        );
        let mut l = Layers::default();
        assert_eq!(
            decide(&r, &l),
            (EvalDecision::Allowed, Some(PolicyType::Identity))
        );
        l.scp = vec![set(
            PolicyType::Scp,
            &[&allow("*", "*"), &deny("iam:*", "*")],
        )];
        assert_eq!(
            decide(&r, &l),
            (EvalDecision::ExplicitDeny, Some(PolicyType::Scp))
        );
        // Cross-account, the root needs the other account's resource policy.
        let r = req(root, "s3:GetObject", "arn:aws:s3:::other/k", "222222222222");
        assert_eq!(
            decide(&r, &Layers::default()),
            (EvalDecision::ImplicitDeny, Some(PolicyType::Resource))
        );
        // ... and that suffices: the root's own side allows everything.
        let grant = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"111111111111"},"Action":"s3:GetObject","Resource":"*"}]}"#;
        let l = Layers {
            resource: Some(PolicySet::from_policies([Policy::parse(
                "b",
                grant,
                PolicyType::Resource,
            )
            .unwrap()])),
            ..Layers::default()
        };
        assert_eq!(decide(&r, &l).0, EvalDecision::Allowed);
    }

    // https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notprincipal.html
    #[test]
    fn not_principal_with_deny() {
        let doc = |listed: &str| {
            format!(
                r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}},{{"Effect":"Deny","NotPrincipal":{{"AWS":[{listed}]}},"Action":"s3:*","Resource":"*"}}]}}"#
            )
        };
        let r = req(SESSION, "s3:GetObject", OBJ, "111111111111");
        // Listing the session alone does not exempt it: the role and the account must be listed too.
        let l = Layers {
            resource: Some(set(
                PolicyType::Resource,
                &[&doc(&format!("\"{SESSION}\""))],
            )),
            ..Default::default()
        };
        assert_eq!(decide(&r, &l).0, EvalDecision::ExplicitDeny);
        let all = format!("\"{SESSION}\",\"{ROLE}\",\"arn:aws:iam::111111111111:root\"");
        let mut l = Layers {
            resource: Some(set(PolicyType::Resource, &[&doc(&all)])),
            ..Default::default()
        };
        assert_eq!(decide(&r, &l).0, EvalDecision::Allowed);
        // A principal with a permissions boundary is always denied by it.
        l.permission_boundary = Some(set(PolicyType::PermissionBoundary, &[&allow("*", "*")]));
        assert_eq!(decide(&r, &l).0, EvalDecision::ExplicitDeny);
    }

    #[test]
    fn service_index_does_not_miss_wildcard_statements() {
        let l = Layers {
            identity: set(
                PolicyType::Identity,
                &[
                    &allow("ec2:*", "*"),
                    &allow("*", "*"),
                    &deny("s?:Get*", "*"),
                ],
            ),
            ..Default::default()
        };
        let r = req(ALICE, "s3:GetObject", OBJ, "111111111111");
        assert_eq!(decide(&r, &l).0, EvalDecision::ExplicitDeny);
        let r = req(ALICE, "S3:PutObject", OBJ, "111111111111");
        assert_eq!(
            decide(&r, &l),
            (EvalDecision::Allowed, Some(PolicyType::Identity))
        );
    }

    #[test]
    fn not_action_and_not_resource() {
        let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotAction":"iam:*","NotResource":"arn:aws:s3:::secret/*"}]}"#;
        let l = Layers {
            identity: set(PolicyType::Identity, &[doc]),
            ..Default::default()
        };
        assert_eq!(
            decide(&req(ALICE, "s3:GetObject", OBJ, "111111111111"), &l).0,
            EvalDecision::Allowed
        );
        assert_eq!(
            decide(&req(ALICE, "iam:GetUser", OBJ, "111111111111"), &l).0,
            EvalDecision::ImplicitDeny
        );
        assert_eq!(
            decide(
                &req(
                    ALICE,
                    "s3:GetObject",
                    "arn:aws:s3:::secret/k",
                    "111111111111"
                ),
                &l
            )
            .0,
            EvalDecision::ImplicitDeny
        );
    }

    #[test]
    fn missing_context_keys_are_reported() {
        let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}}]}"#;
        let l = Layers {
            identity: set(PolicyType::Identity, &[doc]),
            ..Default::default()
        };
        let d = evaluate(&req(ALICE, "s3:GetObject", OBJ, "111111111111"), &l);
        assert_eq!(d.decision, EvalDecision::ImplicitDeny);
        assert_eq!(
            d.missing_context_keys.as_slice(),
            ["aws:MultiFactorAuthPresent"]
        );
    }
}
