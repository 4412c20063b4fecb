//! `ward-sigv4`: verify AWS Signature Version 4, in the `Authorization`
//! header or in a presigned query string. Pure: no I/O, no clock (the caller
//! passes the time), no knowledge of accounts (the caller looks the access
//! key up between [`parse`] and [`verify`]).
//!
//! The steps follow
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html>:
//! canonical request → string to sign → signing key → signature, each a
//! public function so tests can check them one by one against the AWS
//! signing test suite shipped in the `aws-sigv4` crate. Signatures are
//! compared in constant time; secrets are zeroized on drop and never
//! printed.
//!
//! Errors carry AWS's codes (`MissingAuthenticationToken`,
//! `IncompleteSignature`, `SignatureDoesNotMatch`, ...) and messages; the
//! server maps them onto its wire format.

use hmac::{Hmac, Mac};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};
use std::fmt;
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

type HmacSha256 = Hmac<Sha256>;

/// The only algorithm Ward accepts (SigV4A is not supported).
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// How far a request's time may be from the server's: 15 minutes, as AWS.
pub const MAX_SKEW_SECS: i64 = 15 * 60;

/// Longest presigned URL lifetime AWS accepts: 7 days.
pub const MAX_PRESIGNED_EXPIRES: u64 = 7 * 24 * 3600;

/// Hex SHA-256 of the empty string.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Characters left as they are: RFC 3986 unreserved.
const URI_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Like [`URI_ENCODE`] but keeping `/` (for paths).
const PATH_ENCODE: &AsciiSet = &URI_ENCODE.remove(b'/');

/// Why a request's signature was refused. The variants are AWS's error
/// codes; [`SigV4Error::message`] is AWS's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigV4Error {
    /// No `Authorization` header and no presigned query.
    #[error("{}", self.message())]
    MissingAuthenticationToken,
    /// The authorization is malformed or lacks a part.
    #[error("{}", self.message())]
    IncompleteSignature(String),
    /// The signature is wrong, or the time is outside the window.
    #[error("{}", self.message())]
    SignatureDoesNotMatch(String),
    /// The access key is unknown (reported by the caller's lookup).
    #[error("{}", self.message())]
    InvalidClientTokenId,
    /// Temporary credentials past their expiry (reported by the caller).
    #[error("{}", self.message())]
    ExpiredToken,
}

impl SigV4Error {
    /// AWS's error code.
    pub fn code(&self) -> &'static str {
        match self {
            SigV4Error::MissingAuthenticationToken => "MissingAuthenticationToken",
            SigV4Error::IncompleteSignature(_) => "IncompleteSignature",
            SigV4Error::SignatureDoesNotMatch(_) => "SignatureDoesNotMatch",
            SigV4Error::InvalidClientTokenId => "InvalidClientTokenId",
            SigV4Error::ExpiredToken => "ExpiredToken",
        }
    }

    /// AWS's message.
    pub fn message(&self) -> String {
        match self {
            SigV4Error::MissingAuthenticationToken => {
                "Request is missing Authentication Token".into()
            }
            SigV4Error::IncompleteSignature(m) | SigV4Error::SignatureDoesNotMatch(m) => m.clone(),
            SigV4Error::InvalidClientTokenId => {
                "The security token included in the request is invalid.".into()
            }
            SigV4Error::ExpiredToken => {
                "The security token included in the request is expired".into()
            }
        }
    }

    /// HTTP status AWS uses.
    pub fn status(&self) -> u16 {
        match self {
            SigV4Error::IncompleteSignature(_) => 400,
            _ => 403,
        }
    }
}

/// The parts of a request that are signed. Paths and queries are as sent
/// (percent-encoded); header names in any case; a header may repeat.
/// Headers are pairs of owned strings or of borrowed ones (`S = &str`: a
/// server borrows them from its HTTP request instead of copying each).
#[derive(Debug, Clone, Copy)]
pub struct Request<'a, S = String> {
    pub method: &'a str,
    /// The path as sent, e.g. `/` or `/a%20b`.
    pub path: &'a str,
    /// The query string as sent, without `?`.
    pub query: &'a str,
    pub headers: &'a [(S, S)],
    /// Hex SHA-256 of the body, computed by the caller (bounded in size).
    pub body_sha256: &'a str,
}

impl<S: AsRef<str>> Request<'_, S> {
    /// All values of a header (case-insensitive name), in order.
    fn header_values<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s str> + 's {
        self.headers
            .iter()
            .filter(move |(n, _)| n.as_ref().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }

    fn header<'s>(&'s self, name: &'s str) -> Option<&'s str> {
        self.header_values(name).next()
    }

    /// Decoded query parameters.
    fn query_params(&self) -> Vec<(String, String)> {
        parse_query(self.query)
    }
}

/// Split and decode a query string (`+` is not a space in SigV4 queries).
fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                percent_decode_str(k).decode_utf8_lossy().into_owned(),
                percent_decode_str(v).decode_utf8_lossy().into_owned(),
            )
        })
        .collect()
}

/// Where the signature came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    Header,
    Query,
}

/// A parsed, not yet verified, signature.
#[derive(Clone, PartialEq, Eq)]
pub struct Parsed {
    pub location: Location,
    pub access_key_id: String,
    /// `YYYYMMDD` of the credential scope.
    pub scope_date: String,
    pub region: String,
    pub service: String,
    /// Lowercase, in the order given.
    pub signed_headers: Vec<String>,
    signature: String,
    /// `X-Amz-Date`, `YYYYMMDDTHHMMSSZ`.
    pub amz_date: String,
    /// Seconds since the epoch of `amz_date`.
    pub timestamp: i64,
    /// Presigned: `X-Amz-Expires`.
    pub expires: Option<u64>,
    /// `X-Amz-Security-Token`, for temporary credentials.
    pub security_token: Option<String>,
}

impl fmt::Debug for Parsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Parsed")
            .field("location", &self.location)
            .field("access_key_id", &self.access_key_id)
            .field("scope", &self.scope())
            .field("signed_headers", &self.signed_headers)
            .field("amz_date", &self.amz_date)
            .field("expires", &self.expires)
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

impl Parsed {
    /// `20150830/us-east-1/iam/aws4_request`.
    pub fn scope(&self) -> String {
        format!(
            "{}/{}/{}/aws4_request",
            self.scope_date, self.region, self.service
        )
    }
}

/// A secret access key: zeroized on drop, never printed.
#[derive(Clone)]
pub struct SecretKey(String);

impl SecretKey {
    pub fn new(s: impl Into<String>) -> Self {
        SecretKey(s.into())
    }

    /// The secret itself, for signing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl Drop for SecretKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

fn incomplete(msg: impl Into<String>) -> SigV4Error {
    SigV4Error::IncompleteSignature(msg.into())
}

/// Parse `YYYYMMDDTHHMMSSZ` into seconds since the epoch.
pub fn parse_amz_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b.get(8) != Some(&b'T') || b.get(15) != Some(&b'Z') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        if t.bytes().all(|c| c.is_ascii_digit()) {
            t.parse().ok()
        } else {
            None
        }
    };
    let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (h, mi, se) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    // Days from civil (Howard Hinnant).
    let yy = if mo <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + se)
}

/// Format seconds since the epoch as `YYYYMMDDTHHMMSSZ`.
pub fn format_amz_date(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // Civil from days (Howard Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

/// Parse the credential `AKID/20150830/us-east-1/iam/aws4_request`.
fn parse_credential(c: &str) -> Result<(String, String, String, String), SigV4Error> {
    let mut parts = c.split('/');
    match (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) {
        (Some(akid), Some(date), Some(region), Some(service), Some("aws4_request"), None)
            if !akid.is_empty() && date.len() == 8 && !region.is_empty() && !service.is_empty() =>
        {
            Ok((
                akid.to_string(),
                date.to_string(),
                region.to_string(),
                service.to_string(),
            ))
        }
        _ => Err(incomplete(format!(
            "Credential should be scoped to a valid region, not a malformed value. Credential={c}"
        ))),
    }
}

/// Find and parse the signature of a request, header or presigned.
pub fn parse<S: AsRef<str>>(req: &Request<'_, S>) -> Result<Parsed, SigV4Error> {
    if let Some(auth) = req.header("authorization") {
        return parse_header(req, auth);
    }
    let params = req.query_params();
    if params
        .iter()
        .any(|(k, _)| k == "X-Amz-Signature" || k == "X-Amz-Algorithm")
    {
        return parse_query_auth(req, &params);
    }
    Err(SigV4Error::MissingAuthenticationToken)
}

fn parse_header<S: AsRef<str>>(req: &Request<'_, S>, auth: &str) -> Result<Parsed, SigV4Error> {
    let auth = auth.trim();
    let Some(rest) = auth.strip_prefix(ALGORITHM) else {
        return Err(incomplete(format!(
            "Unsupported AWS 'algorithm': '{}'",
            auth.split_whitespace().next().unwrap_or("")
        )));
    };
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in rest.split(',') {
        let part = part.trim();
        if let Some((k, v)) = part.split_once('=') {
            match k.trim() {
                "Credential" => credential = Some(v.trim()),
                "SignedHeaders" => signed_headers = Some(v.trim()),
                "Signature" => signature = Some(v.trim()),
                _ => {}
            }
        }
    }
    let amz_date = req.header("x-amz-date").map(str::trim);
    let mut missing = Vec::new();
    if credential.is_none() {
        missing.push("Authorization header requires 'Credential' parameter.");
    }
    if signature.is_none() {
        missing.push("Authorization header requires 'Signature' parameter.");
    }
    if signed_headers.is_none() {
        missing.push("Authorization header requires 'SignedHeaders' parameter.");
    }
    if amz_date.is_none() {
        missing.push(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
        );
    }
    let (Some(credential), Some(signed_headers), Some(signature), Some(amz_date)) =
        (credential, signed_headers, signature, amz_date)
    else {
        return Err(incomplete(format!(
            "{} Authorization={auth}",
            missing.join(" ")
        )));
    };
    let (access_key_id, scope_date, region, service) = parse_credential(credential)?;
    let timestamp = parse_amz_date(amz_date)
        .ok_or_else(|| incomplete(format!("Date must be in ISO-8601 'basic format'. Got '{amz_date}'. See http://en.wikipedia.org/wiki/ISO_8601")))?;
    Ok(Parsed {
        location: Location::Header,
        access_key_id,
        scope_date,
        region,
        service,
        signed_headers: signed_headers
            .split(';')
            .map(|h| h.trim().to_ascii_lowercase())
            .collect(),
        signature: signature.to_string(),
        amz_date: amz_date.to_string(),
        timestamp,
        expires: None,
        security_token: req
            .header("x-amz-security-token")
            .map(|s| s.trim().to_string()),
    })
}

fn parse_query_auth<S: AsRef<str>>(
    req: &Request<'_, S>,
    params: &[(String, String)],
) -> Result<Parsed, SigV4Error> {
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let algorithm = get("X-Amz-Algorithm").unwrap_or("");
    if algorithm != ALGORITHM {
        return Err(incomplete(format!(
            "Unsupported AWS 'algorithm': '{algorithm}'"
        )));
    }
    let mut missing = Vec::new();
    for k in [
        "X-Amz-Credential",
        "X-Amz-Signature",
        "X-Amz-SignedHeaders",
        "X-Amz-Date",
    ] {
        if get(k).is_none() {
            missing.push(format!("AWS query-string parameters must include '{k}'."));
        }
    }
    let (Some(credential), Some(signature), Some(signed_headers), Some(amz_date)) = (
        get("X-Amz-Credential"),
        get("X-Amz-Signature"),
        get("X-Amz-SignedHeaders"),
        get("X-Amz-Date"),
    ) else {
        return Err(incomplete(format!(
            "{} Re-examine the query-string parameters.",
            missing.join(" ")
        )));
    };
    let (access_key_id, scope_date, region, service) = parse_credential(credential)?;
    let timestamp = parse_amz_date(amz_date)
        .ok_or_else(|| incomplete(format!("Date must be in ISO-8601 'basic format'. Got '{amz_date}'. See http://en.wikipedia.org/wiki/ISO_8601")))?;
    let expires = match get("X-Amz-Expires") {
        Some(e) => Some(
            e.parse::<u64>()
                .map_err(|_| incomplete(format!("X-Amz-Expires should be a number, not `{e}`")))?,
        ),
        None => None,
    };
    if expires.is_some_and(|e| e > MAX_PRESIGNED_EXPIRES) {
        return Err(incomplete(
            "X-Amz-Expires must be less than a week (in seconds) that is 604800",
        ));
    }
    Ok(Parsed {
        location: Location::Query,
        access_key_id,
        scope_date,
        region,
        service,
        signed_headers: signed_headers
            .split(';')
            .map(|h| h.trim().to_ascii_lowercase())
            .collect(),
        signature: signature.to_string(),
        amz_date: amz_date.to_string(),
        timestamp,
        expires,
        security_token: get("X-Amz-Security-Token").map(str::to_string).or_else(|| {
            req.header("x-amz-security-token")
                .map(|s| s.trim().to_string())
        }),
    })
}

/// Remove `.` and `..` segments and (when `normalize`) empty segments, as
/// AWS does for every service but S3.
fn normalize_path(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    let mut p = String::from("/");
    p.push_str(&out.join("/"));
    if path.ends_with('/') && !out.is_empty() {
        p.push('/');
    }
    p
}

/// The canonical URI: normalized and URI-encoded again (`normalize`, every
/// service but S3), or the path as sent (S3).
pub fn canonical_uri(path: &str, normalize: bool) -> String {
    let path = if path.is_empty() { "/" } else { path };
    if normalize {
        utf8_percent_encode(&normalize_path(path), PATH_ENCODE).to_string()
    } else {
        path.to_string()
    }
}

/// The canonical query: decoded, re-encoded, sorted; `X-Amz-Signature` left out.
pub fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = parse_query(query)
        .into_iter()
        .filter(|(k, _)| k != "X-Amz-Signature")
        .map(|(k, v)| {
            (
                utf8_percent_encode(&k, URI_ENCODE).to_string(),
                utf8_percent_encode(&v, URI_ENCODE).to_string(),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Build the canonical request.
pub fn canonical_request<S: AsRef<str>>(
    req: &Request<'_, S>,
    p: &Parsed,
    normalize: bool,
) -> Result<String, SigV4Error> {
    let mut s = String::with_capacity(256);
    write_canonical_request(req, p, normalize, &mut s)?;
    Ok(s)
}

/// Write the canonical request into `out`, piece by piece.
fn write_canonical_request<S: AsRef<str>>(
    req: &Request<'_, S>,
    p: &Parsed,
    normalize: bool,
    out: &mut String,
) -> Result<(), SigV4Error> {
    out.push_str(req.method);
    out.push('\n');
    // A root path and an empty query (every Query-protocol call) are
    // already canonical.
    match req.path {
        "" | "/" => out.push('/'),
        path => out.push_str(&canonical_uri(path, normalize)),
    }
    out.push('\n');
    if !req.query.is_empty() {
        out.push_str(&canonical_query(req.query));
    }
    out.push('\n');
    for h in &p.signed_headers {
        if req.header(h).is_none() {
            return Err(SigV4Error::SignatureDoesNotMatch(format!(
                "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details. (signed header `{h}` is not in the request)"
            )));
        }
        out.push_str(h);
        out.push(':');
        // Each value trimmed, runs of white space folded into one space;
        // repeated headers joined with commas.
        for (i, v) in req.header_values(h).enumerate() {
            if i > 0 {
                out.push(',');
            }
            for (j, word) in v.split_whitespace().enumerate() {
                if j > 0 {
                    out.push(' ');
                }
                out.push_str(word);
            }
        }
        out.push('\n');
    }
    out.push('\n');
    for (i, h) in p.signed_headers.iter().enumerate() {
        if i > 0 {
            out.push(';');
        }
        out.push_str(h);
    }
    out.push('\n');
    match (p.location, req.header("x-amz-content-sha256")) {
        (_, Some(h)) => out.push_str(h.trim()),
        (Location::Query, None) if p.service == "s3" => out.push_str("UNSIGNED-PAYLOAD"),
        _ => out.push_str(req.body_sha256),
    }
    Ok(())
}

/// Hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The string to sign.
pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    )
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail.
    let mut m = match HmacSha256::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return [0; 32],
    };
    m.update(data);
    m.finalize().into_bytes().into()
}

/// The signing key for a scope.
pub fn signing_key(secret: &SecretKey, date: &str, region: &str, service: &str) -> [u8; 32] {
    let mut k_secret = format!("AWS4{}", secret.expose()).into_bytes();
    let k_date = hmac(&k_secret, date.as_bytes());
    k_secret.zeroize();
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

/// Hex signature of a string to sign.
pub fn signature(key: &[u8; 32], string_to_sign: &str) -> String {
    hex::encode(hmac(key, string_to_sign.as_bytes()))
}

/// What [`verify`] checks besides the signature.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Seconds since the epoch, now.
    pub now: i64,
    /// Normalize the path (every service but S3).
    pub normalize_path: bool,
    /// Check the request time against `now` (off in emulator mode).
    pub check_time: bool,
}

/// Verify a parsed signature with the secret of its access key.
pub fn verify<S: AsRef<str>>(
    req: &Request<'_, S>,
    p: &Parsed,
    secret: &SecretKey,
    opts: Options,
) -> Result<(), SigV4Error> {
    let key = signing_key(secret, &p.scope_date, &p.region, &p.service);
    verify_with_key(req, p, &key, opts)
}

/// [`verify`] with the signing key already derived (by [`signing_key`]
/// for the request's scope): a server that sees one key sign many requests
/// on one day derives the key once.
pub fn verify_with_key<S: AsRef<str>>(
    req: &Request<'_, S>,
    p: &Parsed,
    key: &[u8; 32],
    opts: Options,
) -> Result<(), SigV4Error> {
    if opts.check_time {
        check_time(p, opts.now)?;
    }
    if p.amz_date.get(..8) != Some(p.scope_date.as_str()) {
        return Err(SigV4Error::SignatureDoesNotMatch(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}', from '{}'.",
            p.scope_date,
            p.amz_date.get(..8).unwrap_or(""),
            p.amz_date
        )));
    }
    // The canonical request written into one buffer and hashed at once
    // (feeding its few dozen pieces to SHA-256 one by one costs more), the
    // string to sign straight into the HMAC.
    let mut cr = String::with_capacity(512);
    write_canonical_request(req, p, opts.normalize_path, &mut cr)?;
    let mut cr_hex = [0u8; 64];
    let _ = hex::encode_to_slice(Sha256::digest(cr.as_bytes()), &mut cr_hex);
    let Ok(mut mac) = HmacSha256::new_from_slice(key) else {
        return Err(SigV4Error::SignatureDoesNotMatch(MISMATCH.into()));
    };
    for piece in [
        ALGORITHM.as_bytes(),
        b"\n",
        p.amz_date.as_bytes(),
        b"\n",
        p.scope_date.as_bytes(),
        b"/",
        p.region.as_bytes(),
        b"/",
        p.service.as_bytes(),
        b"/aws4_request\n",
        &cr_hex,
    ] {
        mac.update(piece);
    }
    let mut expected = [0u8; 64];
    let _ = hex::encode_to_slice(mac.finalize().into_bytes(), &mut expected);
    if expected.ct_eq(p.signature.as_bytes()).into() {
        Ok(())
    } else {
        Err(SigV4Error::SignatureDoesNotMatch(MISMATCH.into()))
    }
}

/// AWS's words for a signature that is not the one expected.
const MISMATCH: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

/// Sign a request (for Ward's own clients: the load generator, tests):
/// the `Authorization` header value for the request's headers, which must
/// already hold `host` and `x-amz-date` (and `x-amz-security-token` for
/// temporary credentials). Every header given is signed.
pub fn authorization_header<S: AsRef<str>>(
    req: &Request<'_, S>,
    access_key_id: &str,
    secret: &SecretKey,
    region: &str,
    service: &str,
) -> Result<String, SigV4Error> {
    let amz_date = req
        .header("x-amz-date")
        .ok_or_else(|| incomplete("the request to sign has no x-amz-date header"))?
        .trim()
        .to_string();
    let timestamp = parse_amz_date(&amz_date)
        .ok_or_else(|| incomplete(format!("bad x-amz-date `{amz_date}`")))?;
    let mut signed: Vec<String> = req
        .headers
        .iter()
        .map(|(k, _)| k.as_ref().to_ascii_lowercase())
        .filter(|k| k != "authorization")
        .collect();
    signed.sort();
    signed.dedup();
    let p = Parsed {
        location: Location::Header,
        access_key_id: access_key_id.into(),
        scope_date: amz_date.get(..8).unwrap_or("").into(),
        region: region.into(),
        service: service.into(),
        signed_headers: signed,
        signature: String::new(),
        amz_date,
        timestamp,
        expires: None,
        security_token: None,
    };
    let cr = canonical_request(req, &p, service != "s3")?;
    let sts = string_to_sign(&p.amz_date, &p.scope(), &cr);
    let key = signing_key(secret, &p.scope_date, region, service);
    Ok(format!(
        "{ALGORITHM} Credential={access_key_id}/{}, SignedHeaders={}, Signature={}",
        p.scope(),
        p.signed_headers.join(";"),
        signature(&key, &sts)
    ))
}

/// The 15-minute window (header) or the presigned lifetime (query).
fn check_time(p: &Parsed, now: i64) -> Result<(), SigV4Error> {
    match (p.location, p.expires) {
        (Location::Query, Some(exp)) => {
            let until = p
                .timestamp
                .saturating_add(i64::try_from(exp).unwrap_or(i64::MAX));
            if now > until {
                return Err(SigV4Error::SignatureDoesNotMatch(format!(
                    "Signature expired: {} is now earlier than {} ({} - {} sec.)",
                    format_amz_date(until),
                    format_amz_date(now),
                    format_amz_date(now),
                    0
                )));
            }
            if p.timestamp > now + MAX_SKEW_SECS {
                return Err(not_yet(p, now));
            }
            Ok(())
        }
        _ => {
            if p.timestamp < now - MAX_SKEW_SECS {
                return Err(SigV4Error::SignatureDoesNotMatch(format!(
                    "Signature expired: {} is now earlier than {} ({} - 15 min.)",
                    p.amz_date,
                    format_amz_date(now - MAX_SKEW_SECS),
                    format_amz_date(now)
                )));
            }
            if p.timestamp > now + MAX_SKEW_SECS {
                return Err(not_yet(p, now));
            }
            Ok(())
        }
    }
}

fn not_yet(p: &Parsed, now: i64) -> SigV4Error {
    SigV4Error::SignatureDoesNotMatch(format!(
        "Signature not yet current: {} is still later than {} ({} + 15 min.)",
        p.amz_date,
        format_amz_date(now + MAX_SKEW_SECS),
        format_amz_date(now)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        let t = parse_amz_date("20150830T123600Z").unwrap();
        assert_eq!(t, 1_440_938_160);
        assert_eq!(format_amz_date(t), "20150830T123600Z");
        assert_eq!(parse_amz_date("2015-08-30T12:36:00Z"), None);
        assert_eq!(format_amz_date(0), "19700101T000000Z");
    }

    #[test]
    fn signing_key_matches_the_documented_example() {
        // https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html
        let k = signing_key(
            &SecretKey::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
            "20150830",
            "us-east-1",
            "iam",
        );
        assert_eq!(
            hex::encode(k),
            "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
        );
    }

    #[test]
    fn own_signatures_verify() {
        let mut headers = vec![
            ("host".to_string(), "127.0.0.1:8700".to_string()),
            ("x-amz-date".to_string(), "20150830T123600Z".to_string()),
            (
                "content-type".to_string(),
                "application/x-www-form-urlencoded".to_string(),
            ),
        ];
        let body = sha256_hex(b"Action=GetCallerIdentity&Version=2011-06-15");
        let secret = SecretKey::new("s3cr3t");
        let auth = {
            let req = Request {
                method: "POST",
                path: "/",
                query: "",
                headers: &headers,
                body_sha256: &body,
            };
            authorization_header(&req, "AKIDTEST", &secret, "us-east-1", "sts").unwrap()
        };
        headers.push(("authorization".to_string(), auth));
        let req = Request {
            method: "POST",
            path: "/",
            query: "",
            headers: &headers,
            body_sha256: &body,
        };
        let p = parse(&req).unwrap();
        let opts = Options {
            now: p.timestamp,
            normalize_path: true,
            check_time: true,
        };
        assert!(verify(&req, &p, &secret, opts).is_ok());
    }

    #[test]
    fn hashed_canonical_request_is_the_built_one() {
        // The verifier hashes the canonical request and feeds the string to
        // sign to the HMAC itself; the signer builds both as strings.
        // Folded white space, a repeated header, a path to normalize and a
        // query to sort must agree.
        let mut headers = vec![
            ("Host".to_string(), "example.com".to_string()),
            ("x-amz-date".to_string(), "20150830T123600Z".to_string()),
            ("X-Custom".to_string(), "  a   b  ".to_string()),
            ("x-custom".to_string(), "c\td".to_string()),
        ];
        let body = sha256_hex(b"");
        let secret = SecretKey::new("s3cr3t");
        let auth = authorization_header(
            &Request {
                method: "GET",
                path: "/a/./b//c/../d",
                query: "b=2&a=1&a%20b=x",
                headers: &headers,
                body_sha256: &body,
            },
            "AKIDTEST",
            &secret,
            "us-east-1",
            "iam",
        )
        .unwrap();
        headers.push(("authorization".to_string(), auth));
        let verify_with = |h: &[(String, String)]| {
            let r = Request {
                method: "GET",
                path: "/a/./b//c/../d",
                query: "b=2&a=1&a%20b=x",
                headers: h,
                body_sha256: &body,
            };
            let p = parse(&r).unwrap();
            let opts = Options {
                now: p.timestamp,
                normalize_path: true,
                check_time: true,
            };
            verify(&r, &p, &secret, opts)
        };
        assert_eq!(verify_with(&headers), Ok(()));
        // Borrowed headers verify the same.
        let borrowed: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let r = Request {
            method: "GET",
            path: "/a/./b//c/../d",
            query: "b=2&a=1&a%20b=x",
            headers: &borrowed,
            body_sha256: &body,
        };
        let p = parse(&r).unwrap();
        let opts = Options {
            now: p.timestamp,
            normalize_path: true,
            check_time: true,
        };
        assert_eq!(verify(&r, &p, &secret, opts), Ok(()));
        // One changed byte in a signed value does not.
        let mut changed = headers.clone();
        changed[3].1 = "c\te".to_string();
        assert!(verify_with(&changed).is_err());
    }

    #[test]
    fn secrets_are_not_printed() {
        assert_eq!(
            format!("{:?}", SecretKey::new("hunter2")),
            "SecretKey(<redacted>)"
        );
    }

    #[test]
    fn missing_parts_are_named() {
        let headers = vec![(
            "Authorization".to_string(),
            "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/iam/aws4_request".to_string(),
        )];
        let r = Request {
            method: "POST",
            path: "/",
            query: "",
            headers: &headers,
            body_sha256: EMPTY_SHA256,
        };
        let e = parse(&r).unwrap_err();
        assert_eq!(e.code(), "IncompleteSignature");
        assert!(e.message().contains("requires 'Signature' parameter"));
        assert!(e.message().contains("'X-Amz-Date'"));
        let none = Request { headers: &[], ..r };
        assert_eq!(
            parse(&none).unwrap_err(),
            SigV4Error::MissingAuthenticationToken
        );
    }
}
