#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! A presigned URL exactly as botocore's `generate_presigned_url` makes it
//! for `sts:GetCallerIdentity` (parameters and signature in the query; the
//! URL is used with the operation's method, so this one was signed as GET
//! by `SigV4QueryAuth` directly, and a POST-signed one must not verify as GET).

use ward_sigv4::*;

#[test]
fn botocore_presigned_get_caller_identity_verifies() {
    let query = "Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20261129%2Fus-east-1%2Fsts%2Faws4_request&X-Amz-Date=20261129T203455Z&X-Amz-Expires=300&X-Amz-SignedHeaders=host&X-Amz-Signature=6c52678f6ebd40d1f93476dbce4d97eba1b1b22ef4b333263f955a1490999497";
    let headers = vec![("host".to_string(), "127.0.0.1:18711".to_string())];
    let req = Request {
        method: "GET",
        path: "/",
        query,
        headers: &headers,
        body_sha256: EMPTY_SHA256,
    };
    let p = parse(&req).unwrap();
    assert_eq!(p.location, Location::Query);
    let opts = Options {
        now: parse_amz_date("20261129T203500Z").unwrap(),
        normalize_path: true,
        check_time: true,
    };
    verify(&req, &p, &SecretKey::new("secret"), opts).unwrap();
    // The same URL used with another method does not verify.
    let post = Request {
        method: "POST",
        ..req
    };
    let e = verify(
        &post,
        &parse(&post).unwrap(),
        &SecretKey::new("secret"),
        opts,
    )
    .unwrap_err();
    assert_eq!(e.code(), "SignatureDoesNotMatch");
}
