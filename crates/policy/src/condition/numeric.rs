//! Numeric operators: `NumericEquals`, `NumericNotEquals`, `NumericLessThan`,
//! `NumericLessThanEquals`, `NumericGreaterThan`, `NumericGreaterThanEquals`.
//! A request value that is not a number matches nothing.
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_Numeric>

use crate::document::OpKind;

pub(super) fn parse(v: &str) -> Option<f64> {
    let v = v.trim();
    if v.is_empty() || v.contains(['x', 'X', 'n', 'N', 'i', 'I']) {
        // No hex, NaN or infinity.
        return None;
    }
    v.parse::<f64>().ok().filter(|f| f.is_finite())
}

pub(super) fn any(kind: OpKind, ns: &[Option<f64>], r: Option<f64>) -> bool {
    let Some(r) = r else { return false };
    ns.iter().flatten().any(|&p| match kind {
        OpKind::NumericEquals | OpKind::NumericNotEquals => r == p,
        OpKind::NumericLessThan => r < p,
        OpKind::NumericLessThanEquals => r <= p,
        OpKind::NumericGreaterThan => r > p,
        OpKind::NumericGreaterThanEquals => r >= p,
        _ => false,
    })
}
