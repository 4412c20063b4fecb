//! `BinaryEquals`: base64-encoded values compared byte for byte.
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_BinaryEquals>

use base64::Engine;

pub(super) fn parse(v: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(v.trim())
        .ok()
}

pub(super) fn any(bs: &[Option<Vec<u8>>], rv: &str) -> bool {
    let Some(r) = parse(rv) else { return false };
    bs.iter().flatten().any(|b| *b == r)
}
