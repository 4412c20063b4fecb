//! Writing Query-protocol XML responses.
//!
//! Every successful IAM/STS response has the same frame:
//!
//! ```xml
//! <CreateUserResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">
//!   <CreateUserResult>…output members…</CreateUserResult>
//!   <ResponseMetadata><RequestId>…</RequestId></ResponseMetadata>
//! </CreateUserResponse>
//! ```
//!
//! (operations without output, like `DeleteUser`, have no `…Result`).
//! [`response`] and [`empty_response`] write the frame; an [`XmlWriter`]
//! writes the members: elements, optional elements, lists as
//! `<Users><member>…</member></Users>`, booleans as `true`/`false`,
//! timestamps as ISO-8601 UTC (`2026-11-29T18:35:24Z`), and policy
//! documents URL-encoded as IAM sends them ([`url_encode_policy`]). The
//! output is compact (no indentation), which every AWS parser accepts.
//!
//! All text is escaped: `&`, `<`, `>`, `"` and `'` become entities, a
//! carriage return becomes `&#13;` (a literal one would be normalised away
//! by the reader), and the characters XML 1.0 cannot carry at all (C0
//! controls other than tab, newline and CR; U+FFFE, U+FFFF) become U+FFFD,
//! so the document always parses. Element names are the caller's and are
//! written as given: pass model member names.

use std::borrow::Cow;
use std::fmt::Write as _;

use crate::model::{Operation, Service};

/// Writes the members of a response (or any XML fragment) into a string.
#[derive(Debug, Default, Clone)]
pub struct XmlWriter {
    buf: String,
    /// The result's `responseElements`, written alongside when asked for
    /// ([`crate::elements::mirror_next_response`]).
    json: Option<Box<crate::elements::Mirror>>,
}

impl XmlWriter {
    /// An empty writer.
    pub fn new() -> Self {
        XmlWriter::default()
    }

    /// `<name>text</name>`, text escaped.
    pub fn element(&mut self, name: &str, text: &str) -> &mut Self {
        self.open_xml(name);
        self.buf.push_str(&escape_text(text));
        self.close_xml(name);
        if let Some(j) = &mut self.json {
            j.element(name, text);
        }
        self
    }

    /// [`XmlWriter::element`] when `text` is `Some`, nothing when `None`
    /// (absent members are left out, as AWS does).
    pub fn opt_element(&mut self, name: &str, text: Option<&str>) -> &mut Self {
        if let Some(text) = text {
            self.element(name, text);
        }
        self
    }

    /// `<name>true</name>` or `<name>false</name>`.
    pub fn bool_element(&mut self, name: &str, value: bool) -> &mut Self {
        self.element(name, if value { "true" } else { "false" })
    }

    /// `<name>42</name>`.
    pub fn int_element(&mut self, name: &str, value: i64) -> &mut Self {
        self.element(name, &value.to_string())
    }

    /// [`XmlWriter::int_element`] when `Some`.
    pub fn opt_int_element(&mut self, name: &str, value: Option<i64>) -> &mut Self {
        if let Some(value) = value {
            self.int_element(name, value);
        }
        self
    }

    /// `<name>2026-11-29T18:35:24Z</name>` from seconds since the Unix epoch
    /// (IAM's `CreateDate` and friends).
    pub fn timestamp_element(&mut self, name: &str, epoch_secs: i64) -> &mut Self {
        self.element(name, &iso8601(epoch_secs))
    }

    /// [`XmlWriter::timestamp_element`] when `Some`.
    pub fn opt_timestamp_element(&mut self, name: &str, epoch_secs: Option<i64>) -> &mut Self {
        if let Some(secs) = epoch_secs {
            self.timestamp_element(name, secs);
        }
        self
    }

    /// `<name>2011-07-15T23:28:33.359Z</name>` from milliseconds since the
    /// Unix epoch (the form STS gives `Expiration` in).
    pub fn timestamp_millis_element(&mut self, name: &str, epoch_millis: i64) -> &mut Self {
        self.element(name, &iso8601_millis(epoch_millis))
    }

    /// A policy document, URL-encoded as IAM returns `PolicyDocument` and
    /// `AssumeRolePolicyDocument` (botocore URL-decodes them back).
    pub fn policy_element(&mut self, name: &str, json: &str) -> &mut Self {
        self.element(name, &url_encode_policy(json))
    }

    /// [`XmlWriter::policy_element`] when `Some`.
    pub fn opt_policy_element(&mut self, name: &str, json: Option<&str>) -> &mut Self {
        if let Some(json) = json {
            self.policy_element(name, json);
        }
        self
    }

    /// `<name>…</name>` with `body` writing the children (a structure).
    pub fn nested(&mut self, name: &str, body: impl FnOnce(&mut XmlWriter)) -> &mut Self {
        self.open(name);
        body(self);
        self.close(name);
        self
    }

    /// A list: `<name><member>…</member>…</name>`, `item` writing the
    /// children of each `member`; `<name/>` when empty.
    pub fn list<I, T>(
        &mut self,
        name: &str,
        items: I,
        mut item: impl FnMut(&mut XmlWriter, T),
    ) -> &mut Self
    where
        I: IntoIterator<Item = T>,
    {
        let mut items = items.into_iter().peekable();
        if let Some(j) = &mut self.json {
            j.open_list(name);
        }
        if items.peek().is_none() {
            self.empty_xml(name);
        } else {
            self.open_xml(name);
            for it in items {
                self.open("member");
                item(self, it);
                self.close("member");
            }
            self.close_xml(name);
        }
        if let Some(j) = &mut self.json {
            j.close();
        }
        self
    }

    /// A list of strings: `<name><member>a</member><member>b</member></name>`.
    pub fn string_list<I, S>(&mut self, name: &str, items: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.list(name, items, |w, s| {
            w.text(s.as_ref());
        })
    }

    /// A map as the Query protocol writes one:
    /// `<name><entry><key>k</key><value>v</value></entry>…</name>`.
    pub fn map<I, K, V>(&mut self, name: &str, entries: I) -> &mut Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut entries = entries.into_iter().peekable();
        if let Some(j) = &mut self.json {
            j.open_list(name);
        }
        if entries.peek().is_none() {
            self.empty_xml(name);
        } else {
            self.open_xml(name);
            for (k, v) in entries {
                self.open("entry");
                self.element("key", k.as_ref());
                self.element("value", v.as_ref());
                self.close("entry");
            }
            self.close_xml(name);
        }
        if let Some(j) = &mut self.json {
            j.close();
        }
        self
    }

    /// Escaped text at the current position (inside an element the caller
    /// opened with [`XmlWriter::nested`] or a list item).
    pub fn text(&mut self, text: &str) -> &mut Self {
        self.buf.push_str(&escape_text(text));
        if let Some(j) = &mut self.json {
            j.text(text);
        }
        self
    }

    /// `<name/>`.
    pub fn empty(&mut self, name: &str) -> &mut Self {
        self.empty_xml(name);
        if let Some(j) = &mut self.json {
            j.element(name, "");
        }
        self
    }

    fn empty_xml(&mut self, name: &str) {
        self.buf.push('<');
        self.buf.push_str(name);
        self.buf.push_str("/>");
    }

    /// What has been written so far.
    pub fn as_str(&self) -> &str {
        &self.buf
    }

    /// The written XML.
    pub fn into_string(self) -> String {
        self.buf
    }

    fn open(&mut self, name: &str) {
        self.open_xml(name);
        if let Some(j) = &mut self.json {
            j.open(name);
        }
    }

    fn close(&mut self, name: &str) {
        self.close_xml(name);
        if let Some(j) = &mut self.json {
            j.close();
        }
    }

    fn open_xml(&mut self, name: &str) {
        self.buf.push('<');
        self.buf.push_str(name);
        self.buf.push('>');
    }

    fn close_xml(&mut self, name: &str) {
        self.buf.push_str("</");
        self.buf.push_str(name);
        self.buf.push('>');
    }
}

/// A successful response of `action` with a result:
/// `<{action}Response xmlns="{ns}"><{action}Result>…</{action}Result>
/// <ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>
/// </{action}Response>`, `result` writing the output members.
pub fn response(
    ns: &str,
    action: &str,
    request_id: &str,
    result: impl FnOnce(&mut XmlWriter),
) -> String {
    frame(ns, action, request_id, Some(result))
}

/// A successful response of an operation without output (`DeleteUser`):
/// only `ResponseMetadata` inside `<{action}Response>`.
pub fn empty_response(ns: &str, action: &str, request_id: &str) -> String {
    frame(ns, action, request_id, None::<fn(&mut XmlWriter)>)
}

/// The response of `op` of `service`, shaped by the model: with the
/// `…Result` wrapper when the operation has output (then `result` writes
/// its members), without it (and without calling `result`) when not.
pub fn operation_response(
    service: Service,
    op: &Operation,
    request_id: &str,
    result: impl FnOnce(&mut XmlWriter),
) -> String {
    if op.result_element.is_some() {
        response(service.xml_namespace(), op.name, request_id, result)
    } else {
        empty_response(service.xml_namespace(), op.name, request_id)
    }
}

fn frame(
    ns: &str,
    action: &str,
    request_id: &str,
    result: Option<impl FnOnce(&mut XmlWriter)>,
) -> String {
    // Room for a typical answer, so it is not grown a few bytes at a time.
    let mut w = XmlWriter {
        buf: String::with_capacity(1024),
        ..XmlWriter::default()
    };
    w.buf.push('<');
    w.buf.push_str(action);
    w.buf.push_str("Response xmlns=\"");
    w.buf.push_str(&escape_attr(ns));
    w.buf.push_str("\">");
    if let Some(result) = result {
        let mut wrapper = String::with_capacity(action.len() + 6);
        wrapper.push_str(action);
        wrapper.push_str("Result");
        w.open_xml(&wrapper);
        // The result's members are what CloudTrail records of the answer.
        let mirror = crate::elements::mirror_requested();
        w.json = mirror.map(|sts| Box::new(crate::elements::Mirror::new(sts)));
        result(&mut w);
        if let Some(j) = w.json.take() {
            crate::elements::set_mirrored(j.finish());
        }
        w.close_xml(&wrapper);
    } else if crate::elements::mirror_requested().is_some() {
        crate::elements::set_mirrored(None);
    }
    w.nested("ResponseMetadata", |w| {
        w.element("RequestId", request_id);
    });
    w.buf.push_str("</");
    w.buf.push_str(action);
    w.buf.push_str("Response>");
    w.buf
}

/// Whether XML 1.0 can carry `c` at all (as itself or as a reference).
fn xml_char_allowed(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

fn needs_escape(c: char) -> bool {
    matches!(c, '&' | '<' | '>' | '"' | '\'' | '\r') || !xml_char_allowed(c)
}

/// Escape `s` for element text (see the module docs for the rules).
pub fn escape_text(s: &str) -> Cow<'_, str> {
    escape(s, false)
}

/// Escape `s` for a double-quoted attribute value: as for text, and tab and
/// newline as references too (attribute normalisation would turn them into
/// spaces).
pub fn escape_attr(s: &str) -> Cow<'_, str> {
    escape(s, true)
}

/// Whether `s` is ASCII with nothing to escape: the usual answer (names,
/// ids, ARNs, times), found by a fold without an early exit, which the
/// compiler turns into a check of many bytes at once.
fn plain_ascii(s: &str, attr: bool) -> bool {
    !s.bytes().fold(false, |found, b| {
        found
            | (b >= 0x80)
            | (b == b'&')
            | (b == b'<')
            | (b == b'>')
            | (b == b'"')
            | (b == b'\'')
            | ((b < 0x20) & (attr | ((b != b'\t') & (b != b'\n'))))
    })
}

fn escape(s: &str, attr: bool) -> Cow<'_, str> {
    if plain_ascii(s, attr) {
        return Cow::Borrowed(s);
    }
    if !s
        .chars()
        .any(|c| needs_escape(c) || (attr && matches!(c, '\t' | '\n')))
    {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            '\n' if attr => out.push_str("&#10;"),
            '\t' if attr => out.push_str("&#9;"),
            c if !xml_char_allowed(c) => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// URL-encode a policy document the way IAM returns one: every byte of the
/// UTF-8 text except the RFC 3986 unreserved characters (`A-Z a-z 0-9 - . _
/// ~`) becomes `%XX` with upper-case hex, so a space is `%20`, never `+`.
/// botocore decodes these with `urllib.parse.unquote`, which leaves `+`
/// alone, so `+` must be encoded (`%2B`) and a space must not be `+`.
pub fn url_encode_policy(json: &str) -> String {
    let mut out = String::with_capacity(json.len() * 2);
    for &b in json.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Seconds since the Unix epoch as ISO-8601 UTC: `2026-11-29T18:35:24Z`.
pub fn iso8601(epoch_secs: i64) -> String {
    let (y, mo, d, h, mi, s) = civil(epoch_secs);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// Milliseconds since the Unix epoch as ISO-8601 UTC with milliseconds:
/// `2011-07-15T23:28:33.359Z`.
pub fn iso8601_millis(epoch_millis: i64) -> String {
    let secs = epoch_millis.div_euclid(1000);
    let ms = epoch_millis.rem_euclid(1000);
    let (y, mo, d, h, mi, s) = civil(secs);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z")
}

/// Split seconds since the epoch into UTC (year, month, day, hour, minute,
/// second), by Howard Hinnant's days-to-civil algorithm.
fn civil(epoch_secs: i64) -> (i64, i64, i64, i64, i64, i64) {
    let days = epoch_secs.div_euclid(86_400);
    let rem = epoch_secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, rem / 3_600, rem % 3_600 / 60, rem % 60)
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

    /// The response and what its mirror made, with the mirror asked for.
    fn mirrored(sts: bool, result: impl FnOnce(&mut XmlWriter)) -> (String, Option<String>) {
        crate::elements::mirror_next_response(sts);
        let xml = response("ns", "Op", "rid", result);
        (
            xml,
            crate::elements::take_mirrored().expect("a frame was written"),
        )
    }

    /// The quick check says "nothing to escape" exactly when the
    /// character-by-character one does, for every ASCII string of up to two
    /// characters (and never for a non-ASCII one, which the slow check
    /// decides).
    #[test]
    fn the_quick_escape_check_agrees_with_the_full_one() {
        let slow = |s: &str, attr: bool| {
            !s.chars()
                .any(|c| needs_escape(c) || (attr && matches!(c, '\t' | '\n')))
        };
        for attr in [false, true] {
            for a in 0u8..128 {
                for b in 0u8..128 {
                    let s = String::from_utf8(vec![a, b]).unwrap();
                    assert_eq!(plain_ascii(&s, attr), slow(&s, attr), "{s:?} attr={attr}");
                    let one = &s[..1];
                    assert_eq!(plain_ascii(one, attr), slow(one, attr), "{one:?}");
                }
            }
            for s in ["é", "名前", "a\u{FFFE}", "\u{10000}x"] {
                assert!(!plain_ascii(s, attr));
            }
        }
        assert_eq!(
            escape_text("plain-name_1/x"),
            Cow::Borrowed("plain-name_1/x")
        );
        assert_eq!(escape_text("a<b&c"), "a&lt;b&amp;c");
        assert_eq!(escape_attr("a\tb"), "a&#9;b");
    }

    #[test]
    fn the_mirror_writes_what_parsing_the_answer_makes() {
        type Case = (bool, Box<dyn Fn(&mut XmlWriter)>);
        let cases: Vec<Case> = vec![
            (
                false,
                Box::new(|w| {
                    w.nested("User", |w| {
                        w.element("Path", "/")
                            .element("UserName", "Bob & <Al>")
                            .timestamp_element("CreateDate", 1_395_695_519)
                            .list("Tags", [("team", "a\"b")], |w, (k, v)| {
                                w.element("Key", k).element("Value", v);
                            });
                    });
                }),
            ),
            (
                false,
                Box::new(|w| {
                    w.nested("AccessKey", |w| {
                        w.element("AccessKeyId", "AKIAX")
                            .element("SecretAccessKey", "s3cr3t")
                            .element("Status", "Active");
                    });
                }),
            ),
            (
                true,
                Box::new(|w| {
                    w.nested("Credentials", |w| {
                        w.element("AccessKeyId", "ASIAX")
                            .element("SecretAccessKey", "s")
                            .element("SessionToken", "tok")
                            .timestamp_millis_element("Expiration", 1_722_588_300_000);
                    })
                    .int_element("PackedPolicySize", 4)
                    .bool_element("IsDefaultVersion", true)
                    .string_list("Names", ["a", "b"])
                    .policy_element("PolicyDocument", r#"{"Version":"2012-10-17"}"#);
                }),
            ),
            (
                false,
                Box::new(|w| {
                    w.nested("VirtualMFADevice", |w| {
                        w.element("SerialNumber", "arn:x")
                            .element("Base32StringSeed", "SEED")
                            .nested("User", |w| {
                                w.element("UserName", "u");
                            });
                    });
                }),
            ),
        ];
        for (sts, case) in &cases {
            let (xml, mirror) = mirrored(*sts, |w| case(w));
            let parsed = crate::elements::query_response_elements(&xml, *sts);
            assert_eq!(mirror, parsed, "{xml}");
            assert!(!xml.contains("s3cr3t") || !mirror.as_deref().unwrap_or("").contains("s3cr3t"));
        }
        // Lists are known to be lists: an empty one is [], not "".
        let (_, m) = mirrored(false, |w| {
            w.list("Tags", Vec::<&str>::new(), |_, _| {});
        });
        assert_eq!(m.as_deref(), Some(r#"{"tags":[]}"#));
        // A result without members, or no result at all: nothing.
        assert_eq!(mirrored(false, |_| {}).1, None);
        crate::elements::mirror_next_response(false);
        let _ = empty_response("ns", "Op", "rid");
        assert_eq!(crate::elements::take_mirrored(), Some(None));
        // Not asked for: nothing is mirrored, and nothing is left over.
        let _ = response("ns", "Op", "rid", |w| {
            w.element("A", "b");
        });
        assert_eq!(crate::elements::take_mirrored(), None);
    }

    #[test]
    fn frame_with_result() {
        let xml = response(
            "https://iam.amazonaws.com/doc/2010-05-08/",
            "CreateUser",
            "7a62c49f-347e-4fc4-9331-6e8eEXAMPLE",
            |w| {
                w.nested("User", |w| {
                    w.element("Path", "/").element("UserName", "bob");
                });
            },
        );
        assert_eq!(
            xml,
            "<CreateUserResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><CreateUserResult>\
             <User><Path>/</Path><UserName>bob</UserName></User></CreateUserResult><ResponseMetadata>\
             <RequestId>7a62c49f-347e-4fc4-9331-6e8eEXAMPLE</RequestId></ResponseMetadata></CreateUserResponse>"
        );
    }

    #[test]
    fn frame_without_result() {
        assert_eq!(
            empty_response("ns", "DeleteUser", "r"),
            "<DeleteUserResponse xmlns=\"ns\"><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata>\
             </DeleteUserResponse>"
        );
        let del = Service::Iam.operation("DeleteUser").unwrap();
        let xml = operation_response(Service::Iam, del, "r", |_| {
            panic!("no result for DeleteUser")
        });
        assert!(!xml.contains("DeleteUserResult"));
        let get = Service::Sts.operation("GetCallerIdentity").unwrap();
        let xml = operation_response(Service::Sts, get, "r", |w| {
            w.element("Account", "123456789012");
        });
        assert!(xml.starts_with(
            "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
             <GetCallerIdentityResult><Account>123456789012</Account></GetCallerIdentityResult>"
        ));
    }

    #[test]
    fn members() {
        let mut w = XmlWriter::new();
        w.opt_element("A", None)
            .opt_element("B", Some("b"))
            .bool_element("T", true)
            .bool_element("F", false)
            .int_element("N", -7)
            .opt_int_element("M", None)
            .string_list("L", ["x", "y"])
            .string_list("E", Vec::<String>::new())
            .list("Users", [1, 2], |w, i| {
                w.int_element("I", i);
            })
            .map("Props", [("k", "v")]);
        assert_eq!(
            w.as_str(),
            "<B>b</B><T>true</T><F>false</F><N>-7</N><L><member>x</member><member>y</member></L><E/>\
             <Users><member><I>1</I></member><member><I>2</I></member></Users>\
             <Props><entry><key>k</key><value>v</value></entry></Props>"
        );
    }

    #[test]
    fn escaping() {
        assert_eq!(escape_text("plain"), Cow::Borrowed("plain"));
        assert_eq!(
            escape_text("<a href=\"x\">&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&apos;&lt;/a&gt;"
        );
        assert_eq!(escape_text("a\r\nb\tc"), "a&#13;\nb\tc");
        assert_eq!(
            escape_text("nul\u{0}bell\u{7}\u{FFFE}ok\u{10348}"),
            "nul\u{FFFD}bell\u{FFFD}\u{FFFD}ok\u{10348}"
        );
        assert_eq!(escape_attr("a\tb\nc\"d"), "a&#9;b&#10;c&quot;d");
    }

    #[test]
    fn policy_encoding() {
        let json =
            "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"s3:*\",\
                    \"Resource\":\"arn:aws:s3:::b/a b+c~\u{e9}\"}]}";
        let enc = url_encode_policy(json);
        assert_eq!(
            enc,
            "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C\
             %22Action%22%3A%22s3%3A%2A%22%2C%22Resource%22%3A%22arn%3Aaws%3As3%3A%3A%3Ab%2Fa%20b%2Bc~%C3%A9%22%7D%5D%7D"
        );
        assert_eq!(url_encode_policy("\n  "), "%0A%20%20");
    }

    #[test]
    fn timestamps() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(1_795_977_324), "2026-11-29T18:35:24Z");
        assert_eq!(iso8601(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(iso8601(-1), "1969-12-31T23:59:59Z");
        assert_eq!(iso8601(253_402_300_799), "9999-12-31T23:59:59Z");
        assert_eq!(
            iso8601_millis(1_310_772_513_359),
            "2011-07-15T23:28:33.359Z"
        );
        assert_eq!(iso8601_millis(-1), "1969-12-31T23:59:59.999Z");
        let mut w = XmlWriter::new();
        w.timestamp_element("CreateDate", 1_795_977_324)
            .opt_timestamp_element("X", None);
        assert_eq!(
            w.into_string(),
            "<CreateDate>2026-11-29T18:35:24Z</CreateDate>"
        );
    }
}
