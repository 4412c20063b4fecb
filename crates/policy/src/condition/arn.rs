//! ARN operators: `ArnEquals`, `ArnLike`, `ArnNotEquals`, `ArnNotLike`.
//! Both `ArnEquals` and `ArnLike` match field by field with wildcards, case
//! sensitively; a request value that is not an ARN matches nothing.
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_ARN>

use crate::arn::{ArnPattern, ArnRef};
use crate::context::Context;

/// A value with an unresolvable variable matches nothing.
pub(super) fn any(ps: &[ArnPattern], rv: &str, ctx: &Context) -> bool {
    let arn = ArnRef::new(rv);
    if !arn.is_arn() {
        return false;
    }
    ps.iter().any(|p| p.matches(&arn, ctx) == Some(true))
}
