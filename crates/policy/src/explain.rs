//! The result of a decision and how it is explained: AWS's `EvalDecision`
//! strings, the deciding policy type, the matched statements, the context
//! keys the policies wanted but the request lacked, and AWS's enhanced
//! AccessDenied sentence.
//!
//! Messages follow <https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html>:
//! `User: ARN is not authorized to perform: ACTION on resource: ARN because
//! no identity-based policy allows the ACTION action` and `... with an
//! explicit deny in a service control policy`. A role's trust policy is
//! named "role trust policy", as AWS does for `sts:AssumeRole`.

use crate::document::{Effect, PolicyType};
use crate::policy::Policy;
use crate::request::Request;
use smallvec::SmallVec;
use std::fmt;

/// AWS's `EvalDecision`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EvalDecision {
    Allowed,
    ExplicitDeny,
    ImplicitDeny,
}

impl EvalDecision {
    pub fn as_str(self) -> &'static str {
        match self {
            EvalDecision::Allowed => "allowed",
            EvalDecision::ExplicitDeny => "explicitDeny",
            EvalDecision::ImplicitDeny => "implicitDeny",
        }
    }
}

impl fmt::Display for EvalDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A statement that took part in the decision (16 bytes: it points into
/// the compiled policy).
#[derive(Debug, Clone, Copy)]
pub struct MatchedStatement<'a> {
    pub(crate) policy: &'a Policy,
    pub(crate) statement: u32,
    pub(crate) level: u16,
    pub(crate) policy_type: PolicyType,
}

impl PartialEq for MatchedStatement<'_> {
    fn eq(&self, o: &Self) -> bool {
        std::ptr::eq(self.policy, o.policy)
            && self.statement == o.statement
            && self.level == o.level
            && self.policy_type == o.policy_type
    }
}

impl Eq for MatchedStatement<'_> {}

impl<'a> MatchedStatement<'a> {
    pub fn policy_type(&self) -> PolicyType {
        self.policy_type
    }

    pub fn policy_id(&self) -> &'a str {
        self.policy.id()
    }

    /// Index of the statement within its policy (0-based).
    pub fn statement_index(&self) -> usize {
        self.statement as usize
    }

    pub fn sid(&self) -> Option<&'a str> {
        self.policy
            .statements
            .get(self.statement as usize)
            .and_then(|s| s.sid.as_deref())
    }

    pub fn effect(&self) -> Effect {
        self.policy
            .statements
            .get(self.statement as usize)
            .map_or(Effect::Deny, |s| s.effect)
    }

    /// For SCPs and RCPs: the level in the chain (0 = root).
    pub fn level(&self) -> Option<usize> {
        (self.level != u16::MAX).then_some(self.level as usize)
    }
}

/// A decision and why. Borrows ids and key names from the policies, so a
/// decision allocates nothing on the common path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision<'a> {
    pub decision: EvalDecision,
    /// The policy type that decided: the one holding the explicit deny, the
    /// one that lacked an allow, or the one that granted.
    pub decided_by: Option<PolicyType>,
    /// For `allowed`, the Allow statements that matched; for
    /// `explicitDeny`, the Deny statements; empty for `implicitDeny`.
    pub matched_statements: SmallVec<[MatchedStatement<'a>; 6]>,
    /// Condition keys referenced by applicable statements but absent from
    /// the request (AWS's `MissingContextValues`), as written in the policy.
    pub missing_context_keys: SmallVec<[&'a str; 4]>,
}

impl Decision<'_> {
    pub fn is_allowed(&self) -> bool {
        self.decision == EvalDecision::Allowed
    }

    /// AWS's AccessDenied sentence; `None` when allowed.
    pub fn message(&self, req: &Request) -> Option<String> {
        let action = req.action();
        let head = format!(
            "User: {} is not authorized to perform: {} on resource: {}",
            req.principal().arn(),
            action,
            req.resource()
        );
        let trust = self.decided_by == Some(PolicyType::Resource)
            && action.to_ascii_lowercase().starts_with("sts:")
            && req.resource().contains(":role/");
        let phrase = |t: PolicyType| {
            if trust {
                "role trust policy"
            } else {
                t.phrase()
            }
        };
        match (self.decision, self.decided_by) {
            (EvalDecision::Allowed, _) => None,
            (EvalDecision::ExplicitDeny, Some(t)) => {
                let article = if trust {
                    "the"
                } else if t == PolicyType::Identity {
                    "an"
                } else {
                    "a"
                };
                Some(format!(
                    "{head} with an explicit deny in {article} {}",
                    phrase(t)
                ))
            }
            (EvalDecision::ImplicitDeny, Some(t)) => Some(format!(
                "{head} because no {} allows the {action} action",
                phrase(t)
            )),
            (_, None) => Some(format!(
                "{head} because no identity-based policy allows the {action} action"
            )),
        }
    }
}
