#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! Property tests of the evaluation algebra
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html>):
//! explicit deny wins regardless of order; adding an Allow never removes
//! access; adding a Deny never adds access; a permissions boundary, a session
//! policy or an SCP never widens access; an empty policy set denies.

use proptest::prelude::*;
use ward_policy::{
    evaluate, Context, EvalDecision, Layers, Policy, PolicySet, PolicyType, Request,
};

const ACTIONS: &[&str] = &[
    "s3:GetObject",
    "s3:PutObject",
    "s3:*",
    "s3:Get*",
    "ec2:*",
    "*",
    "iam:PassRole",
    "s3:*Object",
];
const RESOURCES: &[&str] = &[
    "*",
    "arn:aws:s3:::b/*",
    "arn:aws:s3:::b/k",
    "arn:aws:s3:::c/*",
    "arn:aws:s3:::${aws:username}/*",
];
const CONDITIONS: &[&str] = &[
    "",
    r#","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}"#,
    r#","Condition":{"StringNotEquals":{"aws:username":"alice"}}"#,
    r#","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#,
    r#","Condition":{"ForAllValues:StringEquals":{"aws:TagKeys":["team"]}}"#,
    r#","Condition":{"NumericLessThanIfExists":{"aws:MultiFactorAuthAge":"300"}}"#,
];
const REQ_ACTIONS: &[&str] = &[
    "s3:GetObject",
    "s3:PutObject",
    "ec2:RunInstances",
    "iam:PassRole",
];
const REQ_RESOURCES: &[&str] = &[
    "arn:aws:s3:::b/k",
    "arn:aws:s3:::c/x",
    "arn:aws:s3:::alice/f",
    "arn:aws:ec2:eu-west-1:111111111111:instance/i-1",
];

#[derive(Debug, Clone)]
struct Stmt {
    deny: bool,
    not_action: bool,
    action: usize,
    resource: usize,
    condition: usize,
}

impl Stmt {
    fn json(&self) -> String {
        format!(
            r#"{{"Effect":"{}","{}":"{}","Resource":"{}"{}}}"#,
            if self.deny { "Deny" } else { "Allow" },
            if self.not_action {
                "NotAction"
            } else {
                "Action"
            },
            ACTIONS[self.action],
            RESOURCES[self.resource],
            CONDITIONS[self.condition]
        )
    }
}

fn stmt() -> impl Strategy<Value = Stmt> {
    (
        any::<bool>(),
        prop::bool::weighted(0.15),
        0..ACTIONS.len(),
        0..RESOURCES.len(),
        0..CONDITIONS.len(),
    )
        .prop_map(|(deny, not_action, action, resource, condition)| Stmt {
            deny,
            not_action,
            action,
            resource,
            condition,
        })
}

fn allow_stmt() -> impl Strategy<Value = Stmt> {
    stmt().prop_map(|mut s| {
        s.deny = false;
        s
    })
}

fn deny_stmt() -> impl Strategy<Value = Stmt> {
    stmt().prop_map(|mut s| {
        s.deny = true;
        s
    })
}

fn policy(id: &str, ty: PolicyType, stmts: &[Stmt]) -> Policy {
    let body: Vec<String> = stmts.iter().map(Stmt::json).collect();
    let text = format!(
        r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
        body.join(",")
    );
    Policy::parse(id, &text, ty).unwrap()
}

fn set(ty: PolicyType, policies: &[Vec<Stmt>]) -> PolicySet {
    PolicySet::from_policies(
        policies
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.is_empty())
            .map(|(i, s)| policy(&format!("{ty}-{i}"), ty, s)),
    )
}

#[derive(Debug, Clone)]
struct Req {
    action: usize,
    resource: usize,
    mfa: Option<bool>,
    username: bool,
    ip: bool,
    tags: Option<Vec<&'static str>>,
}

fn request() -> impl Strategy<Value = Req> {
    (
        0..REQ_ACTIONS.len(),
        0..REQ_RESOURCES.len(),
        prop::option::of(any::<bool>()),
        any::<bool>(),
        any::<bool>(),
        prop::option::of(prop::sample::subsequence(vec!["team", "env"], 0..=2)),
    )
        .prop_map(|(action, resource, mfa, username, ip, tags)| Req {
            action,
            resource,
            mfa,
            username,
            ip,
            tags,
        })
}

fn build(r: &Req) -> Request {
    let mut c = Context::new();
    if let Some(m) = r.mfa {
        c.set(
            "aws:MultiFactorAuthPresent",
            if m { "true" } else { "false" },
        );
    }
    if r.username {
        c.set("aws:username", "alice");
    }
    c.set(
        "aws:SourceIp",
        if r.ip { "10.1.2.3" } else { "203.0.113.9" },
    );
    if let Some(t) = &r.tags {
        c.set_multi("aws:TagKeys", t);
    }
    Request::new(
        "arn:aws:iam::111111111111:user/alice",
        REQ_ACTIONS[r.action],
        REQ_RESOURCES[r.resource],
        Some("111111111111"),
        c,
    )
}

fn decision(r: &Request, l: &Layers) -> EvalDecision {
    evaluate(r, l).decision
}

fn policies() -> impl Strategy<Value = Vec<Vec<Stmt>>> {
    prop::collection::vec(prop::collection::vec(stmt(), 1..4), 0..4)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn explicit_deny_wins_regardless_of_order(pols in policies(), r in request(), seed in any::<u64>()) {
        let req = build(&r);
        let l = Layers { identity: set(PolicyType::Identity, &pols), ..Default::default() };
        let d = decision(&req, &l);
        // Reverse policies and rotate statements: same decision.
        let mut shuffled: Vec<Vec<Stmt>> = pols.iter().rev().cloned().collect();
        for (i, p) in shuffled.iter_mut().enumerate() {
            let k = ((seed as usize).wrapping_add(i)) % p.len().max(1);
            p.rotate_left(k);
        }
        let l2 = Layers { identity: set(PolicyType::Identity, &shuffled), ..Default::default() };
        prop_assert_eq!(d, decision(&req, &l2));
        // If some Deny statement applies on its own, the decision is an explicit deny.
        for p in &pols {
            for s in p.iter().filter(|s| s.deny) {
                let mut alone = s.clone();
                alone.deny = false;
                let only = Layers { identity: set(PolicyType::Identity, &[vec![alone]]), ..Default::default() };
                if decision(&req, &only) == EvalDecision::Allowed {
                    prop_assert_eq!(d, EvalDecision::ExplicitDeny);
                }
            }
        }
    }

    #[test]
    fn adding_an_allow_never_removes_access(pols in policies(), extra in allow_stmt(), r in request()) {
        let req = build(&r);
        let before = decision(&req, &Layers { identity: set(PolicyType::Identity, &pols), ..Default::default() });
        let mut more = pols.clone();
        more.push(vec![extra]);
        let after = decision(&req, &Layers { identity: set(PolicyType::Identity, &more), ..Default::default() });
        if before == EvalDecision::Allowed {
            prop_assert_eq!(after, EvalDecision::Allowed);
        }
        if before == EvalDecision::ExplicitDeny {
            prop_assert_eq!(after, EvalDecision::ExplicitDeny);
        }
    }

    #[test]
    fn adding_a_deny_never_adds_access(pols in policies(), extra in deny_stmt(), r in request()) {
        let req = build(&r);
        let before = decision(&req, &Layers { identity: set(PolicyType::Identity, &pols), ..Default::default() });
        let mut more = pols.clone();
        more.push(vec![extra]);
        let after = decision(&req, &Layers { identity: set(PolicyType::Identity, &more), ..Default::default() });
        if before != EvalDecision::Allowed {
            prop_assert_ne!(after, EvalDecision::Allowed);
        }
    }

    #[test]
    fn boundary_session_and_scp_never_widen(
        pols in policies(),
        limit in prop::collection::vec(stmt(), 1..4),
        which in 0..3usize,
        r in request(),
    ) {
        let req = build(&r);
        let base = Layers { identity: set(PolicyType::Identity, &pols), ..Default::default() };
        let before = decision(&req, &base);
        let mut l = base.clone();
        match which {
            0 => l.permission_boundary = Some(set(PolicyType::PermissionBoundary, &[limit])),
            1 => l.session = Some(set(PolicyType::Session, &[limit])),
            _ => l.scp = vec![set(PolicyType::Scp, &[limit])],
        }
        let after = decision(&req, &l);
        if before != EvalDecision::Allowed {
            prop_assert_ne!(after, EvalDecision::Allowed);
        }
    }

    #[test]
    fn empty_policy_set_denies(r in request()) {
        let req = build(&r);
        prop_assert_eq!(decision(&req, &Layers::default()), EvalDecision::ImplicitDeny);
    }

    #[test]
    fn parser_never_panics(text in ".{0,200}") {
        let _ = ward_policy::parse(&text, PolicyType::Identity);
        let _ = ward_policy::validate(&text, PolicyType::Resource);
    }
}
