//! String operators: `StringEquals`, `StringNotEquals`, `StringEqualsIgnoreCase`,
//! `StringNotEqualsIgnoreCase`, `StringLike`, `StringNotLike`.
//! Case-sensitive except the `IgnoreCase` pair; `Like` takes `*` and `?`.
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_String>

use crate::context::Context;
use crate::document::OpKind;
use crate::variables::Template;

/// A policy value whose variable cannot be resolved is null: it equals and
/// is like nothing (so the negated operators match it).
/// <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html#policy-vars-no-value>
pub(super) fn any(kind: OpKind, ts: &[Template], rv: &str, ctx: &Context) -> bool {
    let ignore_case = matches!(
        kind,
        OpKind::StringEqualsIgnoreCase | OpKind::StringNotEqualsIgnoreCase
    );
    for t in ts {
        let hit = if ignore_case {
            t.equals_ignore_case(rv, ctx)
        } else {
            t.matches(rv, ctx)
        };
        if hit == Some(true) {
            return true;
        }
    }
    false
}
