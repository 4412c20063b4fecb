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
//! An account's root user has every identity permission in its own account
//! (no identity policy applies to it); SCPs, RCPs and explicit denies still do.

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
    matched: SmallVec<[MatchedStatement<'a>; 8]>,
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
        matched: SmallVec::new(),
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

    let missing = std::mem::take(&mut sc.missing);
    let finish = |decision: EvalDecision, by: Option<PolicyType>, sc: Scratch<'a>| {
        let want = match decision {
            EvalDecision::ExplicitDeny => Some(Effect::Deny),
            EvalDecision::Allowed => Some(Effect::Allow),
            EvalDecision::ImplicitDeny => None,
        };
        let matched = match want {
            Some(e) => sc.matched.into_iter().filter(|m| m.effect == e).collect(),
            None => SmallVec::new(),
        };
        Decision {
            decision,
            decided_by: by,
            matched_statements: matched,
            missing_context_keys: missing.clone(),
        }
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
    let id_allow = identity.allow || (is_root && !cross);
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
    let before = sc.matched.len();
    let r = eval_set(req, set, ty, None, sc);
    for m in sc.matched.iter_mut().skip(before) {
        m.level = Some(level);
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
    for &(pi, si) in set.candidates(req.service_lower()) {
        let Some(policy) = set.policies.get(pi as usize) else {
            continue;
        };
        let Some(stmt) = policy.statements.get(si as usize) else {
            continue;
        };
        let Some(pm) = statement_applies(req, stmt, boundary_present, sc) else {
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
        sc.matched.push(MatchedStatement {
            policy_type: ty,
            policy_id: policy.id(),
            statement_index: si as usize,
            sid: stmt.sid.as_deref(),
            effect: stmt.effect,
            level: None,
        });
    }
    out
}

/// Whether a statement applies; `Some(how the principal matched)`.
#[inline]
fn statement_applies<'a>(
    req: &Request,
    stmt: &'a Stmt,
    boundary_present: Option<bool>,
    sc: &mut Scratch<'a>,
) -> Option<PrincipalMatch> {
    // Action.
    let action = &*req.action_lower;
    let hit = stmt.actions.iter().any(|g| g.matches(action));
    if hit == stmt.not_action {
        return None;
    }
    // Resource.
    if let Some((negated, pats)) = &stmt.resources {
        let view = req.resource.view();
        let mut any = false;
        // An entry whose variable cannot be resolved matches no resource
        // (so in `NotResource` it excludes nothing).
        // https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html#policy-vars-no-value
        for pat in pats {
            if pat.matches(&view, &req.context) == Some(true) {
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
    // Conditions: all must hold. Evaluate them all so that every missing
    // key is reported.
    let mut ok = true;
    for c in &stmt.conditions {
        let o = c.evaluate(&req.context);
        if o.missing && !sc.missing.iter().any(|k| k.eq_ignore_ascii_case(c.key())) {
            sc.missing.push(c.key());
        }
        ok &= o.value;
    }
    ok.then_some(pm)
}
