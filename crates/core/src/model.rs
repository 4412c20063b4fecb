//! The records Ward keeps, as stored (JSON in the store's values), and the
//! identifiers AWS gives them.
//!
//! Unique ids follow AWS's prefixes
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-unique-ids>):
//! `AIDA` users, `AGPA` groups, `AROA` roles, `ANPA` managed policies,
//! `AIPA` instance profiles, `AKIA` access keys, `ASIA` temporary keys.

use serde::{Deserialize, Serialize};

/// A tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// An account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub id: String,
    pub created: i64,
    #[serde(default)]
    pub alias: Option<String>,
}

/// An IAM user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub account: String,
    pub name: String,
    pub path: String,
    pub id: String,
    pub arn: String,
    pub created: i64,
    #[serde(default)]
    pub tags: Vec<Tag>,
    #[serde(default)]
    pub permissions_boundary: Option<String>,
}

/// An IAM group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub account: String,
    pub name: String,
    pub path: String,
    pub id: String,
    pub arn: String,
    pub created: i64,
}

/// An IAM role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    pub account: String,
    pub name: String,
    pub path: String,
    pub id: String,
    pub arn: String,
    pub created: i64,
    /// The trust policy, as given (JSON text).
    pub assume_role_policy: String,
    #[serde(default)]
    pub description: Option<String>,
    pub max_session_duration: u32,
    #[serde(default)]
    pub tags: Vec<Tag>,
    #[serde(default)]
    pub permissions_boundary: Option<String>,
}

/// A customer managed policy (its versions are separate records).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagedPolicy {
    pub account: String,
    pub name: String,
    pub path: String,
    pub id: String,
    pub arn: String,
    pub created: i64,
    pub updated: i64,
    pub default_version: String,
    /// The number the next version takes (`v{n}`); never reused.
    pub next_version: u32,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// One version of a managed policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyVersion {
    pub version_id: String,
    pub document: String,
    pub created: i64,
}

/// An inline policy of a user, group or role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InlinePolicy {
    pub name: String,
    pub document: String,
}

/// `Active` or `Inactive`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyStatus {
    Active,
    Inactive,
}

impl KeyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "Active",
            KeyStatus::Inactive => "Inactive",
        }
    }
}

/// A long-term access key: of an IAM user, or of an account's root user
/// (`user` is `None`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessKey {
    pub id: String,
    pub account: String,
    pub user: Option<String>,
    /// The secret, sealed with the master key.
    pub sealed_secret: String,
    pub status: KeyStatus,
    pub created: i64,
    #[serde(default)]
    pub last_used: Option<LastUsed>,
}

/// When and where a key was last used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastUsed {
    pub at: i64,
    pub service: String,
    pub region: String,
}

/// What kind of principal a session belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SessionKind {
    /// `AssumeRole`: a role session.
    Role {
        role_name: String,
        role_arn: String,
        role_id: String,
        session_name: String,
    },
    /// `GetSessionToken`: the calling user (or root) with temporary keys.
    User { user: Option<String> },
}

/// Temporary credentials and everything the engine needs about them.
///
/// Sessions are not stored: the session token *is* the session, sealed
/// (AES-256-GCM under the master key) together with its secret, as AWS's
/// tokens are self-contained. So issuing credentials costs no write, and a
/// token cannot be forged or altered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub access_key_id: String,
    pub account: String,
    pub kind: SessionKind,
    pub issued: i64,
    pub expires: i64,
    /// Inline and managed session policies (JSON documents with ids).
    #[serde(default)]
    pub policies: Vec<(String, String)>,
    #[serde(default)]
    pub tags: Vec<Tag>,
    #[serde(default)]
    pub transitive_tag_keys: Vec<String>,
    #[serde(default)]
    pub source_identity: Option<String>,
    /// MFA used to obtain the session: when it was authenticated.
    #[serde(default)]
    pub mfa_authenticated_at: Option<i64>,
    /// For chained role sessions: the session that assumed this one.
    #[serde(default)]
    pub chained: bool,
}

/// An instance profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceProfile {
    pub account: String,
    pub name: String,
    pub path: String,
    pub id: String,
    pub arn: String,
    pub created: i64,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// ISO 8601 in UTC, as AWS writes timestamps: `2026-11-29T18:35:24Z`.
static CLOCK_OFFSET: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

/// Run this process's clock `secs` seconds ahead of the system's (a testing
/// aid: `ward serve --clock-offset`, to see temporary credentials expire).
pub fn set_clock_offset(secs: i64) {
    CLOCK_OFFSET.store(secs, std::sync::atomic::Ordering::Relaxed);
}

/// Seconds since the Unix epoch, now (plus the clock offset, if one is set).
pub fn now() -> i64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    t.saturating_add(CLOCK_OFFSET.load(std::sync::atomic::Ordering::Relaxed))
}

/// Seconds since the epoch as (year, month, day, hour, minute, second), UTC.
fn civil(t: i64) -> (i64, i64, i64, i64, i64, i64) {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, secs / 3600, (secs / 60) % 60, secs % 60)
}

pub fn iso8601(t: i64) -> String {
    let (y, m, d, h, min, sec) = civil(t);
    if !(0..=9999).contains(&y) {
        return format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{sec:02}Z");
    }
    // Every record's time is written with this: digit by digit, without
    // the formatting machinery.
    let mut out = String::with_capacity(20);
    let digits = |out: &mut String, v: i64, n: u32| {
        for p in (0..n).rev() {
            let d = (v / 10_i64.pow(p)) % 10;
            out.push(char::from(b'0' + u8::try_from(d).unwrap_or(0)));
        }
    };
    digits(&mut out, y, 4);
    out.push('-');
    digits(&mut out, m, 2);
    out.push('-');
    digits(&mut out, d, 2);
    out.push('T');
    digits(&mut out, h, 2);
    out.push(':');
    digits(&mut out, min, 2);
    out.push(':');
    digits(&mut out, sec, 2);
    out.push('Z');
    out
}

/// The inverse of [`iso8601`]: `2026-11-29T18:35:24Z` (fractions of a
/// second and a `+00:00` zone accepted) to seconds since the epoch. Only
/// the full date-and-time form; the policy language's date reader does
/// the rest.
pub fn parse_iso8601(s: &str) -> Option<i64> {
    if s.get(4..5)? != "-" || s.get(7..8)? != "-" || s.get(10..11)? != "T" {
        return None;
    }
    let nanos = ward_policy::condition::parse_date(s)?;
    i64::try_from(nanos.div_euclid(1_000_000_000)).ok()
}

/// 128 bits in UUID form (`8-4-4-4-12` hex digits), with the version
/// nibble set when given (4: random, 7: time first).
pub fn uuid(bits: u128, version: Option<u8>) -> String {
    let bits = match version {
        Some(v) => (bits & !(0xf << 76)) | (u128::from(v & 0xf) << 76),
        None => bits,
    };
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(36);
    for (i, x) in bits.to_be_bytes().iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        for d in [x >> 4, x & 15] {
            out.push(char::from(HEX.get(usize::from(d)).copied().unwrap_or(b'0')));
        }
    }
    out
}

/// Random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    // A failing OS random source leaves zeros; ids stay well-formed, and the
    // caller's uniqueness checks still hold. Secrets use `secret_bytes`.
    let _ = getrandom::fill(&mut b);
    b
}

/// Random bytes for a secret (key, seed): an error, never zeros, when the
/// operating system's random source fails.
pub fn secret_bytes<const N: usize>() -> Result<[u8; N], crate::ApiError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| {
        let mut a = crate::ApiError::internal();
        a.cause = Some(format!("the random source failed: {e}"));
        a
    })?;
    Ok(b)
}

const ID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// An AWS-style unique id: prefix + 17 base32 characters (21 in all).
pub fn new_id(prefix: &str) -> String {
    let bytes: [u8; 17] = random_bytes();
    let mut s = String::with_capacity(prefix.len() + 17);
    s.push_str(prefix);
    for b in bytes {
        s.push(char::from(
            ID_ALPHABET
                .get(usize::from(b) % 32)
                .copied()
                .unwrap_or(b'A'),
        ));
    }
    s
}

/// An access key id: `AKIA`/`ASIA` + 16 characters (20 in all).
pub fn new_access_key_id(prefix: &str) -> String {
    let mut id = new_id(prefix);
    id.truncate(20);
    id
}

/// A secret access key: 40 characters of base64 alphabet, as AWS's.
pub fn new_secret() -> Result<String, crate::ApiError> {
    const ALPHA: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes: [u8; 40] = secret_bytes()?;
    Ok(bytes
        .iter()
        .map(|b| char::from(ALPHA.get(usize::from(*b) % 64).copied().unwrap_or(b'A')))
        .collect())
}

/// Whether `arn` names an AWS managed policy (`arn:aws:iam::aws:policy/…`):
/// in no customer's account.
pub fn is_aws_managed_policy(arn: &str) -> bool {
    arn.strip_prefix("arn:")
        .and_then(|rest| rest.split_once(':'))
        .is_some_and(|(_, rest)| rest.starts_with("iam::aws:policy/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates() {
        assert_eq!(iso8601(1_440_938_160), "2015-08-30T12:36:00Z");
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(951_782_400), "2000-02-29T00:00:00Z");
        for t in [0, 951_782_400, 1_440_938_160, 1_796_000_000, 4_102_444_799] {
            assert_eq!(parse_iso8601(&iso8601(t)), Some(t));
        }
        assert_eq!(
            parse_iso8601("2015-08-30T12:36:00.123Z"),
            Some(1_440_938_160)
        );
        assert_eq!(parse_iso8601("2015-13-30T12:36:00Z"), None);
        assert_eq!(parse_iso8601("2015-08-30 12:36:00Z"), None);
        assert_eq!(parse_iso8601("yesterday"), None);
    }

    /// The digit-by-digit writer says what `format!` says, from before the
    /// epoch to the last second of year 9999 and beyond.
    #[test]
    fn iso_dates_as_format_writes_them() {
        let reference = |t: i64| {
            let (y, m, d, h, min, sec) = civil(t);
            format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{sec:02}Z")
        };
        let last = 253_402_300_799; // 9999-12-31T23:59:59Z
        let mut t = -62_167_219_200 - 86_400; // before 0000-01-01
        while t < last + 10 * 86_400 {
            assert_eq!(iso8601(t), reference(t), "{t}");
            // Every third day, at a second that moves through the day.
            t += 3 * 86_400 + 7_919;
        }
        for t in [last, last + 1, -1, 0, 59, 3_599, 86_399] {
            assert_eq!(iso8601(t), reference(t), "{t}");
        }
    }

    #[test]
    fn uuid_layout() {
        let u = uuid(u128::MAX, Some(7));
        assert_eq!(u, "ffffffff-ffff-7fff-ffff-ffffffffffff");
        assert_eq!(uuid(0, None), "00000000-0000-0000-0000-000000000000");
        assert_eq!(
            uuid(0x1234 << 112, Some(4)).get(..19),
            Some("12340000-0000-4000-")
        );
    }

    #[test]
    fn id_shapes() {
        let u = new_id("AIDA");
        assert_eq!(u.len(), 21);
        assert!(u.starts_with("AIDA"));
        let k = new_access_key_id("AKIA");
        assert_eq!(k.len(), 20);
        assert!(k
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()));
        assert_eq!(new_secret().unwrap().len(), 40);
        assert_ne!(new_secret().unwrap(), new_secret().unwrap());
    }
}
