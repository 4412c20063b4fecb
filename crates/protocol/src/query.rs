//! Decoding AWS Query requests.
//!
//! A Query request (IAM, STS) is a flat set of `name=value` pairs sent as an
//! `application/x-www-form-urlencoded` POST body, in the URL's query string,
//! or both (presigned URLs put `X-Amz-*` in the query string, the AWS CLI
//! puts everything in the body). [`Params::parse`] merges the two; a name in
//! the body wins over the same name in the query string, and within one
//! source the first occurrence wins.
//!
//! Aggregates are spelled in the names:
//!
//! | model | wire |
//! | --- | --- |
//! | list of strings | `ClientIDList.member.1=a&ClientIDList.member.2=b` |
//! | list of structures | `Tags.member.1.Key=k&Tags.member.1.Value=v` |
//! | structure | `ContextProvider.ProviderArn=...` |
//! | map | `Properties.entry.1.key=k&Properties.entry.1.value=v` |
//! | empty list | `Tags=` (what botocore sends for `[]`) |
//!
//! List indices are 1-based; items come back in index order and gaps are
//! tolerated (`member.1`, `member.5` is a list of two).
//!
//! Decoding is strict where form decoders are usually lenient: a `%` not
//! followed by two hex digits, or a value that is not UTF-8 once decoded, is
//! a [`ProtocolError`] (AWS's `MalformedQueryString`), and more than
//! [`MAX_PARAMS`] pairs is refused outright.

use std::collections::BTreeMap;
use std::ops::Bound;

use crate::error::ProtocolError;

/// The most name/value pairs a request may carry (query string and body
/// together). The largest legitimate IAM/STS requests carry a few hundred
/// (50 tags are 100 pairs); anything near this is an attack or a bug.
pub const MAX_PARAMS: usize = 10_000;

/// The decoded parameters of one Query request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    map: BTreeMap<String, String>,
}

impl Params {
    /// Decode a request: `query` is the URL's query string without the `?`
    /// (may be empty), `body` the form-encoded body (may be empty).
    ///
    /// Errors: malformed percent-encoding, non-UTF-8 text, or more than
    /// [`MAX_PARAMS`] pairs in all.
    pub fn parse(query: &str, body: &[u8]) -> Result<Params, ProtocolError> {
        let mut count = 0usize;
        let from_query = decode_pairs(query.as_bytes(), Source::QueryString, &mut count)?;
        let from_body = decode_pairs(body, Source::Body, &mut count)?;
        let mut map = BTreeMap::new();
        // Body first, then the query string fills only what the body lacks;
        // within each source the first occurrence of a name wins.
        for (k, v) in from_body.into_iter().chain(from_query) {
            map.entry(k).or_insert(v);
        }
        Ok(Params { map })
    }

    /// Build parameters from decoded pairs (first occurrence of a name wins);
    /// for tests and for callers that decoded the request themselves.
    pub fn from_pairs<I, K, V>(pairs: I) -> Params
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let mut map = BTreeMap::new();
        for (k, v) in pairs {
            map.entry(k.into()).or_insert_with(|| v.into());
        }
        Params { map }
    }

    /// The value of `name`, exactly as sent (decoded).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.map.get(name).map(String::as_str)
    }

    /// `Action`: the operation name.
    pub fn action(&self) -> Option<&str> {
        self.get("Action")
    }

    /// `Version`: the API version the client was written for.
    pub fn version(&self) -> Option<&str> {
        self.get("Version")
    }

    /// Whether `name` itself was sent.
    pub fn contains(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    /// Whether `name` was sent, either itself or as the head of an aggregate
    /// (`name.…`): how Query tells an absent member from a present one.
    pub fn has(&self, name: &str) -> bool {
        // The names that start with `name` sit together in the sorted map.
        self.with_prefix(name)
            .any(|(k, _)| k.len() == name.len() || k.as_bytes().get(name.len()) == Some(&b'.'))
    }

    /// The number of distinct names.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no parameter was sent.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// All pairs, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.map.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The items of the list of strings `name`: `name.member.1`,
    /// `name.member.2`, … in index order, gaps skipped.
    pub fn list(&self, name: &str) -> Vec<&str> {
        let prefix = format!("{name}.member.");
        let mut items: BTreeMap<u32, &str> = BTreeMap::new();
        for (key, value) in self.with_prefix(&prefix) {
            if let Some(idx) = key.get(prefix.len()..).and_then(parse_index) {
                items.entry(idx).or_insert(value);
            }
        }
        items.into_values().collect()
    }

    /// The items of the list of structures `name`, each as a map from the
    /// member name to its value: `Tags.member.1.Key=a&Tags.member.1.Value=b`
    /// gives `[{"Key": "a", "Value": "b"}]`; `PolicyArns.member.1.arn=…`
    /// gives `[{"arn": …}]`. Deeper names stay whole
    /// (`Values.member.1`). Index order, gaps skipped.
    pub fn struct_list(&self, name: &str) -> Vec<BTreeMap<String, String>> {
        let prefix = format!("{name}.member.");
        let mut items: BTreeMap<u32, BTreeMap<String, String>> = BTreeMap::new();
        for (key, value) in self.with_prefix(&prefix) {
            let Some(rest) = key.get(prefix.len()..) else {
                continue;
            };
            let Some((idx, field)) = rest.split_once('.') else {
                continue;
            };
            let Some(idx) = parse_index(idx) else {
                continue;
            };
            if field.is_empty() {
                continue;
            }
            items
                .entry(idx)
                .or_default()
                .entry(field.to_owned())
                .or_insert_with(|| value.to_owned());
        }
        items.into_values().collect()
    }

    /// The map `name`, sent as `name.entry.N.key` / `name.entry.N.value`.
    /// Entries without a key are dropped; an entry without a value maps to
    /// the empty string; a repeated key keeps its lowest-indexed value.
    pub fn map(&self, name: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for entry in self.struct_list_at(&format!("{name}.entry")) {
            if let Some(key) = entry.get("key") {
                let value = entry.get("value").cloned().unwrap_or_default();
                out.entry(key.clone()).or_insert(value);
            }
        }
        out
    }

    /// `name` as an integer; `None` when absent or not an integer.
    pub fn get_i64(&self, name: &str) -> Option<i64> {
        self.get(name).and_then(|v| v.trim().parse().ok())
    }

    /// `name` as a boolean (`true`/`false`, any case); `None` when absent or
    /// neither.
    pub fn get_bool(&self, name: &str) -> Option<bool> {
        self.get(name).and_then(parse_bool)
    }

    /// The pairs whose name starts with `prefix`, in name order.
    pub fn with_prefix<'a, 'p>(
        &'a self,
        prefix: &'p str,
    ) -> impl Iterator<Item = (&'a str, &'a str)> + use<'a, 'p> {
        self.map
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(move |(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The distinct indices `N` of names `prefix.N` or `prefix.N.…`, sorted.
    pub(crate) fn indices(&self, prefix: &str) -> Vec<u32> {
        let dotted = format!("{prefix}.");
        let mut out: Vec<u32> = self
            .with_prefix(&dotted)
            .filter_map(|(k, _)| {
                let rest = k.get(dotted.len()..)?;
                let seg = rest.split('.').next()?;
                parse_index(seg)
            })
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Like [`Params::struct_list`] but over a full prefix (`X.entry`).
    fn struct_list_at(&self, prefix: &str) -> Vec<BTreeMap<String, String>> {
        let dotted = format!("{prefix}.");
        let mut items: BTreeMap<u32, BTreeMap<String, String>> = BTreeMap::new();
        for (key, value) in self.with_prefix(&dotted) {
            let Some((idx, field)) = key.get(dotted.len()..).and_then(|r| r.split_once('.')) else {
                continue;
            };
            if let Some(idx) = parse_index(idx) {
                items
                    .entry(idx)
                    .or_default()
                    .entry(field.to_owned())
                    .or_insert_with(|| value.to_owned());
            }
        }
        items.into_values().collect()
    }
}

/// A list index: ASCII digits only, at most nine of them.
pub(crate) fn parse_index(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 9 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `true`/`false` in any case, as AWS's Query deserializer accepts them.
pub(crate) fn parse_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// Where a pair came from, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The URL's query string.
    QueryString,
    /// The form-encoded body.
    Body,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Source::QueryString => "query string",
            Source::Body => "request body",
        })
    }
}

fn decode_pairs(
    input: &[u8],
    source: Source,
    count: &mut usize,
) -> Result<Vec<(String, String)>, ProtocolError> {
    let mut out = Vec::new();
    let mut offset = 0usize;
    for segment in input.split(|&b| b == b'&') {
        let start = offset;
        offset += segment.len() + 1;
        if segment.is_empty() {
            continue;
        }
        *count += 1;
        if *count > MAX_PARAMS {
            return Err(ProtocolError::TooManyParams { max: MAX_PARAMS });
        }
        let (raw_key, raw_value) = match segment.iter().position(|&b| b == b'=') {
            Some(eq) => (
                segment.get(..eq).unwrap_or_default(),
                segment.get(eq + 1..).unwrap_or_default(),
            ),
            None => (segment, &[][..]),
        };
        let key = decode_component(raw_key, source, start)?;
        if key.is_empty() {
            continue;
        }
        let value = decode_component(raw_value, source, start)?;
        out.push((key, value));
    }
    Ok(out)
}

/// Form-decode one name or value: `+` is a space, `%XX` a byte; the bytes
/// must be UTF-8. `at` is the byte offset of the pair, for the message.
fn decode_component(raw: &[u8], source: Source, at: usize) -> Result<String, ProtocolError> {
    let mut bytes = Vec::with_capacity(raw.len());
    let mut i = 0usize;
    while let Some(&b) = raw.get(i) {
        match b {
            b'+' => {
                bytes.push(b' ');
                i += 1;
            }
            b'%' => {
                let hi = raw.get(i + 1).copied().and_then(hex_value);
                let lo = raw.get(i + 2).copied().and_then(hex_value);
                match (hi, lo) {
                    (Some(hi), Some(lo)) => bytes.push(hi << 4 | lo),
                    _ => {
                        return Err(ProtocolError::MalformedEncoding {
                            source_: source,
                            offset: at,
                        })
                    }
                }
                i += 3;
            }
            _ => {
                bytes.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(bytes).map_err(|_| ProtocolError::InvalidUtf8 {
        source_: source,
        offset: at,
    })
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )]

    use super::*;

    #[test]
    fn decodes_body_and_query() {
        let p = Params::parse(
            "Action=GetUser&Version=2010-05-08",
            b"UserName=bob%20smith&Path=%2Fa%2F",
        )
        .unwrap();
        assert_eq!(p.action(), Some("GetUser"));
        assert_eq!(p.version(), Some("2010-05-08"));
        assert_eq!(p.get("UserName"), Some("bob smith"));
        assert_eq!(p.get("Path"), Some("/a/"));
        assert_eq!(p.len(), 4);
    }

    #[test]
    fn body_wins_over_query_and_first_wins_within_a_source() {
        let p = Params::parse("UserName=q&X=1&X=2", b"UserName=b&UserName=c").unwrap();
        assert_eq!(p.get("UserName"), Some("b"));
        assert_eq!(p.get("X"), Some("1"));
    }

    #[test]
    fn plus_is_space_and_bare_names_are_empty() {
        let p = Params::parse("", b"A=a+b&B&&C=&=ignored").unwrap();
        assert_eq!(p.get("A"), Some("a b"));
        assert_eq!(p.get("B"), Some(""));
        assert_eq!(p.get("C"), Some(""));
        assert_eq!(p.len(), 3);
        // An escaped plus stays a plus.
        assert_eq!(Params::parse("A=a%2Bb", b"").unwrap().get("A"), Some("a+b"));
    }

    #[test]
    fn utf8_values() {
        let p = Params::parse("", "K=%C3%A9t%C3%A9&L=\u{e9}".as_bytes()).unwrap();
        assert_eq!(p.get("K"), Some("\u{e9}t\u{e9}"));
        assert_eq!(p.get("L"), Some("\u{e9}"));
    }

    #[test]
    fn malformed_percent_encoding_is_an_error() {
        for bad in ["A=%", "A=%4", "A=%zz", "A=%4g", "%=1", "A=ok&B=50%"] {
            let err = Params::parse("", bad.as_bytes()).unwrap_err();
            assert!(
                matches!(err, ProtocolError::MalformedEncoding { .. }),
                "{bad}: {err:?}"
            );
            assert_eq!(err.code(), "MalformedQueryString");
        }
        let err = Params::parse("A=%G0", b"").unwrap_err();
        assert!(err.to_string().contains("query string"), "{err}");
    }

    #[test]
    fn non_utf8_is_an_error() {
        let err = Params::parse("", b"A=%FF%FE").unwrap_err();
        assert!(matches!(err, ProtocolError::InvalidUtf8 { .. }), "{err:?}");
        let err = Params::parse("", b"A=\xC3").unwrap_err();
        assert!(matches!(err, ProtocolError::InvalidUtf8 { .. }), "{err:?}");
        let err = Params::parse("%C3%28=1", b"").unwrap_err();
        assert!(matches!(err, ProtocolError::InvalidUtf8 { .. }), "{err:?}");
    }

    #[test]
    fn too_many_params() {
        let body: String = (0..=MAX_PARAMS).map(|i| format!("P{i}=x&")).collect();
        let err = Params::parse("", body.as_bytes()).unwrap_err();
        assert!(matches!(err, ProtocolError::TooManyParams { .. }));
        assert!(err.to_string().contains("10000"), "{err}");
        // Exactly the limit is fine, counting both sources.
        let body: String = (1..MAX_PARAMS).map(|i| format!("P{i}=x&")).collect();
        assert_eq!(
            Params::parse("Q=1", body.as_bytes()).unwrap().len(),
            MAX_PARAMS
        );
        assert!(Params::parse("Q=1&R=2", body.as_bytes()).is_err());
    }

    #[test]
    fn lists_in_index_order_with_gaps() {
        let p = Params::parse(
            "",
            b"L.member.10=ten&L.member.2=two&L.member.1=one&L.member.x=no&L.member.3.Deep=no&Lx.member.1=no",
        )
        .unwrap();
        assert_eq!(p.list("L"), vec!["one", "two", "ten"]);
        assert!(p.list("Missing").is_empty());
        assert!(Params::parse("", b"L=").unwrap().list("L").is_empty());
    }

    #[test]
    fn struct_lists() {
        let p = Params::parse(
            "",
            b"Tags.member.2.Key=k2&Tags.member.1.Key=k1&Tags.member.1.Value=v1&Tags.member.2.Value=v2\
              &PolicyArns.member.1.arn=arn1&PolicyArns.member.3.arn=arn3\
              &ProvidedContexts.member.1.ProviderArn=p&ProvidedContexts.member.1.ContextAssertion=c",
        )
        .unwrap();
        let tags = p.struct_list("Tags");
        assert_eq!(tags.len(), 2);
        assert_eq!(tags[0]["Key"], "k1");
        assert_eq!(tags[0]["Value"], "v1");
        assert_eq!(tags[1]["Key"], "k2");
        let arns: Vec<_> = p
            .struct_list("PolicyArns")
            .into_iter()
            .map(|m| m["arn"].clone())
            .collect();
        assert_eq!(arns, ["arn1", "arn3"]);
        let ctx = p.struct_list("ProvidedContexts");
        assert_eq!(ctx[0]["ProviderArn"], "p");
        assert_eq!(ctx[0]["ContextAssertion"], "c");
    }

    #[test]
    fn maps_and_presence() {
        let p = Params::parse(
            "",
            b"M.entry.2.key=b&M.entry.2.value=2&M.entry.1.key=a&M.entry.1.value=1&M.entry.3.value=orphan\
              &S.Field=x&B=TRUE&N=-12",
        )
        .unwrap();
        let m = p.map("M");
        assert_eq!(m.len(), 2);
        assert_eq!(m["a"], "1");
        assert_eq!(m["b"], "2");
        assert!(p.has("S") && !p.contains("S") && !p.has("Field") && !p.has("M.entry.9"));
        assert_eq!(p.get_bool("B"), Some(true));
        assert_eq!(p.get_i64("N"), Some(-12));
        assert_eq!(p.get_i64("B"), None);
        assert_eq!(p.indices("M.entry"), vec![1, 2, 3]);
        // Names that only start like a member (sorting before and after
        // `Tag.`) do not make it present.
        let q = Params::parse("", b"Tag-x=1&Tag%2C=2&TagA=3&Tags.member.1=4").unwrap();
        assert!(
            !q.has("Tag") && q.has("Tags") && q.has("Tags.member.1") && !q.has("Tags.member.2")
        );
        let r = Params::parse("", b"Tag-x=1&Tag.Key=k").unwrap();
        assert!(r.has("Tag") && r.has("Tag-x") && !r.has("Tag-"));
    }
}
