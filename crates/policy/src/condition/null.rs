//! `Null`: `"true"` asks that the key be absent, `"false"` that it be
//! present. An empty multivalued key counts as absent.
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_Null>

use crate::context::ContextValue;

pub(super) fn evaluate(vals: &[Option<bool>], found: Option<&ContextValue>) -> bool {
    let absent = match found {
        None => true,
        Some(ContextValue::Multi(v)) => v.is_empty(),
        Some(ContextValue::Single(_)) => false,
    };
    vals.iter()
        .flatten()
        .any(|&want_absent| want_absent == absent)
}
