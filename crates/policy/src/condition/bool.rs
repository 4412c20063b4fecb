//! `Bool`: `true`/`false`, case-insensitive. A request value that is not a
//! boolean matches nothing.
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_Boolean>

pub(super) fn parse(v: &str) -> Option<bool> {
    if v.eq_ignore_ascii_case("true") {
        Some(true)
    } else if v.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

pub(super) fn any(bs: &[Option<bool>], rv: &str) -> bool {
    let Some(r) = parse(rv) else { return false };
    bs.iter().flatten().any(|&b| b == r)
}
