//! CloudTrail's `responseElements`: an answer as CloudTrail records it.
//!
//! CloudTrail writes the service's response body as JSON with lowerCamel
//! member names (`{"user": {"userName": ..., "createDate": ...}}`), lists as
//! arrays, timestamps as `Mar 24, 2014 9:11:59 PM` (STS puts a comma after
//! the year: `Aug 2, 2024, 8:45:00 AM`), and secrets removed outright — no
//! `secretAccessKey` in `CreateAccessKey` or in STS credentials, no MFA
//! seed in `CreateVirtualMFADevice`; the STS session token is kept.
//! <https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html>,
//! examples at <https://docs.aws.amazon.com/IAM/latest/UserGuide/cloudtrail-integration.html>
//! and <https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-log-file-examples.html>.
//!
//! An answer with no result members (`AttachUserPolicy`) is `None`: the
//! record's `responseElements` stays `null`, as CloudTrail's does.

use quick_xml::events::Event;
use quick_xml::Reader;
use serde_json::Value;

/// Members CloudTrail leaves out of a record.
const SECRETS: &[&str] = &["SecretAccessKey", "Base32StringSeed", "QRCodePNG"];

/// Members whose text is a number in the AWS model.
const NUMBERS: &[&str] = &[
    "AttachmentCount",
    "PermissionsBoundaryUsageCount",
    "MaxSessionDuration",
    "PackedPolicySize",
];

/// Members whose text is a boolean in the AWS model.
const BOOLEANS: &[&str] = &["IsDefaultVersion", "IsAttachable", "PasswordResetRequired"];

/// `UserName` → `userName`: CloudTrail's member names (only the first
/// letter changes: `VirtualMFADevice` → `virtualMFADevice`).
pub fn lower_camel(name: &str) -> String {
    let mut c = name.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// `2014-03-24T21:11:59Z` (optionally with fractions) as CloudTrail writes
/// it in `responseElements`; `None` for any other text.
fn cloudtrail_time(iso: &str, comma: bool) -> Option<String> {
    let b = iso.as_bytes();
    if b.len() < 20 || b.get(4) != Some(&b'-') || b.get(10) != Some(&b'T') || !iso.ends_with('Z') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| iso.get(r).and_then(|s| s.parse::<u32>().ok());
    let (y, mo, d, h, mi, s) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.get(usize::try_from(mo).ok()?.checked_sub(1)?)?;
    let (h12, ampm) = match h {
        0 => (12, "AM"),
        1..=11 => (h, "AM"),
        12 => (12, "PM"),
        _ => (h - 12, "PM"),
    };
    let sep = if comma { "," } else { "" };
    Some(format!("{month} {d}, {y}{sep} {h12}:{mi:02}:{s:02} {ampm}"))
}

/// One element of the answer, read into a tree.
#[derive(Debug, Default)]
struct Node {
    name: String,
    text: String,
    children: Vec<Node>,
}

/// A JSON string, escaped as serde_json escapes it.
fn json_str(out: &mut Vec<u8>, s: &str) {
    // Most text has nothing to escape: copied whole (serde_json escapes
    // exactly `"`, `\\` and control characters below U+0020).
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
        return;
    }
    let _ = serde_json::to_writer(out, s);
}

/// A member name as a JSON key in lowerCamel case (`UserName` →
/// `"userName"`), without building the name first.
fn json_key(out: &mut Vec<u8>, name: &str) {
    match name.as_bytes().split_first() {
        Some((first, rest)) if name.bytes().all(|b| b.is_ascii_alphanumeric()) => {
            out.push(b'"');
            out.push(first.to_ascii_lowercase());
            out.extend_from_slice(rest);
            out.push(b'"');
        }
        _ => json_str(out, &lower_camel(name)),
    }
}

/// An element as JSON text (members in the answer's order).
fn write_json(n: &Node, comma: bool, out: &mut Vec<u8>) {
    if n.children.is_empty() {
        leaf(&n.name, &n.text, comma, out);
        return;
    }
    if n.children.iter().all(|c| c.name == "member") {
        out.push(b'[');
        for (i, c) in n.children.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_json(c, comma, out);
        }
        out.push(b']');
        return;
    }
    out.push(b'{');
    let mut first = true;
    for c in &n.children {
        if SECRETS.contains(&c.name.as_str()) {
            continue;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        json_key(out, &c.name);
        out.push(b':');
        write_json(c, comma, out);
    }
    out.push(b'}');
}

/// What a container being mirrored has become so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Opened, nothing inside yet: text makes it a string, a child an object.
    Pending,
    Object,
    Array,
    Text,
}

#[derive(Debug, Clone, Copy)]
struct Frame {
    kind: Kind,
    first: bool,
}

/// `responseElements` written alongside the XML by [`crate::xml::XmlWriter`]
/// (so the answer need not be parsed back): the same JSON
/// [`query_response_elements`] makes of the XML, with lists known to be
/// lists (an empty one is `[]`).
#[derive(Debug, Clone)]
pub(crate) struct Mirror {
    out: Vec<u8>,
    stack: Vec<Frame>,
    sts: bool,
    /// Depth inside a member left out (a secret).
    skip: usize,
}

impl Mirror {
    /// A mirror of a `…Result` element's members.
    pub(crate) fn new(sts: bool) -> Mirror {
        Mirror {
            out: b"{".to_vec(),
            stack: vec![Frame {
                kind: Kind::Object,
                first: true,
            }],
            sts,
            skip: 0,
        }
    }

    /// Whether a member named `name` is left out (it is a secret, or inside one).
    fn skipping(&mut self, name: &str) -> bool {
        if self.skip > 0 || SECRETS.contains(&name) {
            self.skip += 1;
            return true;
        }
        false
    }

    /// What comes before a member: its key in an object, a comma.
    fn key(&mut self, name: &str) {
        let Some(top) = self.stack.last_mut() else {
            return;
        };
        if top.kind == Kind::Pending {
            self.out.push(b'{');
            top.kind = Kind::Object;
        }
        if !top.first {
            self.out.push(b',');
        }
        top.first = false;
        if top.kind == Kind::Object {
            json_key(&mut self.out, name);
            self.out.push(b':');
        }
    }

    pub(crate) fn open(&mut self, name: &str) {
        if self.skipping(name) {
            return;
        }
        self.key(name);
        self.stack.push(Frame {
            kind: Kind::Pending,
            first: true,
        });
    }

    pub(crate) fn open_list(&mut self, name: &str) {
        if self.skipping(name) {
            return;
        }
        self.key(name);
        self.out.push(b'[');
        self.stack.push(Frame {
            kind: Kind::Array,
            first: true,
        });
    }

    pub(crate) fn close(&mut self) {
        if self.skip > 0 {
            self.skip -= 1;
            return;
        }
        match self.stack.pop().map(|f| f.kind) {
            Some(Kind::Pending) => self.out.extend_from_slice(b"\"\""),
            Some(Kind::Object) => self.out.push(b'}'),
            Some(Kind::Array) => self.out.push(b']'),
            Some(Kind::Text) | None => {}
        }
    }

    /// `<name>text</name>`.
    pub(crate) fn element(&mut self, name: &str, text: &str) {
        if self.skipping(name) {
            self.skip -= 1;
            return;
        }
        self.key(name);
        leaf(name, text, self.sts, &mut self.out);
    }

    /// Text inside the element open (a list's string member).
    pub(crate) fn text(&mut self, text: &str) {
        if self.skip > 0 {
            return;
        }
        if let Some(top) = self.stack.last_mut() {
            if top.kind == Kind::Pending {
                top.kind = Kind::Text;
                leaf("", text, self.sts, &mut self.out);
            }
        }
    }

    /// The result's members as JSON text; `None` when it has none.
    pub(crate) fn finish(mut self) -> Option<String> {
        while !self.stack.is_empty() {
            self.close();
        }
        if self.out.len() <= 2 {
            return None;
        }
        String::from_utf8(self.out).ok()
    }
}

thread_local! {
    /// The next response frame on this thread mirrors its result (STS's
    /// time format when `true`).
    static MIRROR_NEXT: std::cell::Cell<Option<bool>> = const { std::cell::Cell::new(None) };
    /// What the last mirrored frame made.
    static MIRRORED: std::cell::RefCell<Option<Option<String>>> =
        const { std::cell::RefCell::new(None) };
}

/// Ask the next response written on this thread ([`crate::xml::response`])
/// to write its result as `responseElements` too; `sts` selects STS's time
/// format. Take it with [`take_mirrored`] on the same thread.
pub fn mirror_next_response(sts: bool) {
    MIRROR_NEXT.with(|m| m.set(Some(sts)));
    MIRRORED.with(|m| *m.borrow_mut() = None);
}

/// The `responseElements` the response written since
/// [`mirror_next_response`] made (`Some(None)`: it had no members; `None`:
/// no response was written, e.g. the call failed). Clears the request.
pub fn take_mirrored() -> Option<Option<String>> {
    MIRROR_NEXT.with(|m| m.set(None));
    MIRRORED.with(|m| m.borrow_mut().take())
}

/// Whether the frame being written mirrors its result (taking the request).
pub(crate) fn mirror_requested() -> Option<bool> {
    MIRROR_NEXT.with(std::cell::Cell::take)
}

pub(crate) fn set_mirrored(v: Option<String>) {
    MIRRORED.with(|m| *m.borrow_mut() = Some(v));
}

/// A leaf's value as [`write_json`] writes it.
fn leaf(name: &str, t: &str, comma: bool, out: &mut Vec<u8>) {
    if BOOLEANS.contains(&name) && t.parse::<bool>().is_ok() {
        out.extend_from_slice(t.as_bytes());
        return;
    }
    if NUMBERS.contains(&name) {
        if let Ok(v) = t.parse::<i64>() {
            out.extend_from_slice(v.to_string().as_bytes());
            return;
        }
    }
    match cloudtrail_time(t, comma) {
        Some(time) => json_str(out, &time),
        None => json_str(out, t),
    }
}

/// The `responseElements` of a Query-protocol answer (`<XResponse><XResult>
/// ...`), as JSON text, members in the answer's order; `sts` selects STS's
/// time format. `None` when the result has no members or the text is not
/// such an answer.
pub fn query_response_elements(xml: &str, sts: bool) -> Option<String> {
    let mut reader = Reader::from_str(xml);
    let mut stack: Vec<Node> = Vec::new();
    let mut root: Option<Node> = None;
    loop {
        match reader.read_event().ok()? {
            Event::Start(e) => stack.push(Node {
                name: String::from_utf8_lossy(e.local_name().as_ref()).into_owned(),
                ..Node::default()
            }),
            Event::Empty(e) => {
                let n = Node {
                    name: String::from_utf8_lossy(e.local_name().as_ref()).into_owned(),
                    ..Node::default()
                };
                stack.last_mut()?.children.push(n);
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t.decode().ok()?);
                }
            }
            Event::GeneralRef(r) => {
                // `&amp;` and friends, and numeric references.
                let name = r.decode().ok()?;
                let ch = match &*name {
                    "amp" => Some('&'),
                    "lt" => Some('<'),
                    "gt" => Some('>'),
                    "quot" => Some('"'),
                    "apos" => Some('\''),
                    _ => r.resolve_char_ref().ok().flatten(),
                };
                if let (Some(top), Some(c)) = (stack.last_mut(), ch) {
                    top.text.push(c);
                }
            }
            Event::End(_) => {
                let n = stack.pop()?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(n),
                    None => root = Some(n),
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let root = root?;
    let result = root.children.iter().find(|c| c.name.ends_with("Result"))?;
    let mut out = Vec::with_capacity(xml.len());
    write_json(result, sts, &mut out);
    // Only an object with members is an answer to record.
    if out.first() != Some(&b'{') || out.len() <= 2 {
        return None;
    }
    String::from_utf8(out).ok()
}

/// The `responseElements` of a JSON-protocol answer, as JSON text: its
/// members with lowerCamel names, secrets left out. `None` for an empty
/// object.
pub fn json_response_elements(body: &str) -> Option<String> {
    fn walk(v: Value) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.into_iter()
                    .filter(|(k, _)| !SECRETS.contains(&k.as_str()))
                    .map(|(k, v)| (lower_camel(&k), walk(v)))
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.into_iter().map(walk).collect()),
            other => other,
        }
    }
    let v: Value = serde_json::from_str(body).ok()?;
    match walk(v) {
        Value::Object(m) if m.is_empty() => None,
        v @ Value::Object(_) => Some(v.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn query_response_elements(xml: &str, sts: bool) -> Option<Value> {
        super::query_response_elements(xml, sts).map(|t| serde_json::from_str(&t).unwrap())
    }

    fn json_response_elements(body: &str) -> Option<Value> {
        super::json_response_elements(body).map(|t| serde_json::from_str(&t).unwrap())
    }

    #[test]
    fn strings_and_keys_are_written_as_serde_writes_them() {
        for text in [
            "",
            "plain",
            "a\"quote",
            "back\\slash",
            "tab\there",
            "nl\n",
            "\u{1f}",
            "\u{7f}",
            "\u{20}",
            "é ü 漢字 🦀",
            "</tag>&amp;",
            "\u{0}",
        ] {
            let mut ours = Vec::new();
            json_str(&mut ours, text);
            assert_eq!(ours, serde_json::to_vec(text).unwrap(), "{text:?}");
        }
        for name in ["UserName", "ARN", "x", "Été", "Tags.member", "A-b", ""] {
            let mut ours = Vec::new();
            json_key(&mut ours, name);
            assert_eq!(
                ours,
                serde_json::to_vec(&lower_camel(name)).unwrap(),
                "{name:?}"
            );
        }
    }

    #[test]
    fn members_keep_the_answers_order() {
        let xml = "<R><RResult><Zeta>1</Zeta><Alpha>2</Alpha><Tags/></RResult></R>";
        assert_eq!(
            super::query_response_elements(xml, false).as_deref(),
            Some(r#"{"zeta":"1","alpha":"2","tags":""}"#)
        );
        // Text needing escapes stays valid JSON.
        let xml = "<R><RResult><A>q&quot;\\&#10;</A></RResult></R>";
        assert_eq!(
            query_response_elements(xml, false),
            Some(json!({"a": "q\"\\\n"}))
        );
    }

    #[test]
    fn create_user_as_cloudtrail_records_it() {
        // The shape of AWS's example record for CreateUser.
        let xml = r#"<CreateUserResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><CreateUserResult><User><Path>/</Path><UserName>Bob</UserName><UserId>AIDAEXAMPLE</UserId><Arn>arn:aws:iam::123456789012:user/Bob</Arn><CreateDate>2014-03-24T21:11:59Z</CreateDate><Tags><member><Key>team</Key><Value>a&amp;b</Value></member></Tags></User></CreateUserResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></CreateUserResponse>"#;
        assert_eq!(
            query_response_elements(xml, false),
            Some(json!({"user": {
                "path": "/", "userName": "Bob", "userId": "AIDAEXAMPLE",
                "arn": "arn:aws:iam::123456789012:user/Bob",
                "createDate": "Mar 24, 2014 9:11:59 PM",
                "tags": [{"key": "team", "value": "a&b"}],
            }}))
        );
    }

    #[test]
    fn secrets_are_left_out_and_sts_times_have_a_comma() {
        let xml = "<CreateAccessKeyResponse><CreateAccessKeyResult><AccessKey><UserName>u</UserName><AccessKeyId>AKIAX</AccessKeyId><Status>Active</Status><SecretAccessKey>s3cr3t</SecretAccessKey><CreateDate>2024-07-30T09:53:13Z</CreateDate></AccessKey></CreateAccessKeyResult></CreateAccessKeyResponse>";
        let v = query_response_elements(xml, false).unwrap();
        assert_eq!(
            v,
            json!({"accessKey": {"userName": "u", "accessKeyId": "AKIAX", "status": "Active", "createDate": "Jul 30, 2024 9:53:13 AM"}})
        );
        assert!(!v.to_string().contains("s3cr3t"));
        let sts = "<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>ASIAX</AccessKeyId><SecretAccessKey>s</SecretAccessKey><SessionToken>tok</SessionToken><Expiration>2024-08-02T08:45:00Z</Expiration></Credentials><AssumedRoleUser><AssumedRoleId>AROA:x</AssumedRoleId><Arn>arn:aws:sts::1:assumed-role/r/x</Arn></AssumedRoleUser><PackedPolicySize>4</PackedPolicySize></AssumeRoleResult></AssumeRoleResponse>";
        assert_eq!(
            query_response_elements(sts, true),
            Some(json!({
                "credentials": {"accessKeyId": "ASIAX", "sessionToken": "tok", "expiration": "Aug 2, 2024, 8:45:00 AM"},
                "assumedRoleUser": {"assumedRoleId": "AROA:x", "arn": "arn:aws:sts::1:assumed-role/r/x"},
                "packedPolicySize": 4,
            }))
        );
    }

    #[test]
    fn an_answer_without_members_is_none() {
        assert_eq!(
            query_response_elements(
                "<AttachUserPolicyResponse><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></AttachUserPolicyResponse>",
                false
            ),
            None
        );
        assert_eq!(query_response_elements("not xml <", false), None);
        assert_eq!(json_response_elements("{}"), None);
        assert_eq!(
            json_response_elements(
                r#"{"CreateAccountStatus":{"Id":"car-1","State":"IN_PROGRESS"}}"#
            ),
            Some(json!({"createAccountStatus": {"id": "car-1", "state": "IN_PROGRESS"}}))
        );
    }

    #[test]
    fn midnight_and_noon() {
        assert_eq!(
            cloudtrail_time("2024-01-05T00:07:09Z", false).as_deref(),
            Some("Jan 5, 2024 12:07:09 AM")
        );
        assert_eq!(
            cloudtrail_time("2024-12-31T12:00:00.123Z", true).as_deref(),
            Some("Dec 31, 2024, 12:00:00 PM")
        );
        assert_eq!(cloudtrail_time("2024-13-01T00:00:00Z", false), None);
        assert_eq!(cloudtrail_time("bob", false), None);
    }
}
