//! End-to-end: requests as the AWS CLI sends them are decoded and validated
//! with AWS's exact messages, and the XML we write parses back (with
//! quick-xml) to exactly the text we put in, hostile text included.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::BTreeMap;

use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::Event;
use quick_xml::Reader;
use ward_protocol::{
    error_response, resolve, response, url_encode_policy, validate, validate_input, ErrorType,
    Params, ProtocolError, Service, XmlWriter,
};

/// Parse `xml` into (slash-joined element path, text) pairs in document
/// order, plus the root's `xmlns`. Panics on anything malformed.
fn parse(xml: &str) -> (Vec<(String, String)>, String) {
    let mut reader = Reader::from_str(xml);
    let mut stack: Vec<(String, String)> = Vec::new();
    let mut out = Vec::new();
    let mut ns = String::new();
    loop {
        match reader.read_event().unwrap() {
            Event::Start(e) => {
                let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                if stack.is_empty() {
                    for a in e.attributes() {
                        let a = a.unwrap();
                        if a.key.as_ref() == b"xmlns" {
                            ns = a.unescape_value().unwrap().into_owned();
                        }
                    }
                }
                stack.push((name, String::new()));
            }
            Event::Empty(e) => {
                let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                let path: Vec<&str> = stack
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .chain([name.as_str()])
                    .collect();
                out.push((path.join("/"), String::new()));
            }
            Event::Text(t) => {
                let text = t.decode().unwrap();
                stack
                    .last_mut()
                    .expect("text outside the root")
                    .1
                    .push_str(&text);
            }
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref().unwrap() {
                    Some(c) => c.to_string(),
                    None => {
                        let name = r.decode().unwrap();
                        resolve_predefined_entity(&name)
                            .expect("unknown entity")
                            .to_owned()
                    }
                };
                stack
                    .last_mut()
                    .expect("reference outside the root")
                    .1
                    .push_str(&resolved);
            }
            Event::End(_) => {
                let path: Vec<&str> = stack.iter().map(|(n, _)| n.as_str()).collect();
                let path = path.join("/");
                let (_, text) = stack.pop().unwrap();
                out.push((path, text));
            }
            Event::Eof => break,
            Event::Decl(_)
            | Event::Comment(_)
            | Event::PI(_)
            | Event::DocType(_)
            | Event::CData(_) => {
                panic!("unexpected XML construct in {xml}")
            }
        }
    }
    assert!(stack.is_empty(), "unclosed elements in {xml}");
    (out, ns)
}

fn text_of<'a>(parsed: &'a [(String, String)], path: &str) -> &'a str {
    &parsed
        .iter()
        .find(|(p, _)| p == path)
        .unwrap_or_else(|| panic!("no {path}"))
        .1
}

/// The body the AWS CLI sends for
/// `aws iam create-user --user-name bob --tags Key=a,Value=b`.
const CREATE_USER_BODY: &str =
    "Action=CreateUser&Version=2010-05-08&UserName=bob&Tags.member.1.Key=a&Tags.member.1.Value=b";

#[test]
fn awscli_create_user_decodes_and_validates() {
    let params = Params::parse("", CREATE_USER_BODY.as_bytes()).unwrap();
    assert_eq!(params.action(), Some("CreateUser"));
    assert_eq!(params.version(), Some("2010-05-08"));
    assert_eq!(params.get("UserName"), Some("bob"));
    let tags = params.struct_list("Tags");
    let expected: Vec<BTreeMap<String, String>> = vec![[
        ("Key".to_owned(), "a".to_owned()),
        ("Value".to_owned(), "b".to_owned()),
    ]
    .into()];
    assert_eq!(tags, expected);
    let op = resolve(Service::Iam, &params).unwrap();
    assert_eq!(op.name, "CreateUser");
    validate_input(op, &params).unwrap();
    validate(Service::Iam, "CreateUser", &params).unwrap();
}

#[test]
fn sts_assume_role_with_policy_arns_and_contexts() {
    // As botocore serialises AssumeRole (URL-encoded ':' and '/').
    let body = "Action=AssumeRole&Version=2011-06-15\
                &RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fdemo&RoleSessionName=s1\
                &PolicyArns.member.1.arn=arn%3Aaws%3Aiam%3A%3Aaws%3Apolicy%2FReadOnlyAccess\
                &PolicyArns.member.2.arn=arn%3Aaws%3Aiam%3A%3A123456789012%3Apolicy%2Fp\
                &ProvidedContexts.member.1.ProviderArn=arn%3Aaws%3Aiam%3A%3Aaws%3AcontextProvider%2FIdentityCenter\
                &ProvidedContexts.member.1.ContextAssertion=abcd\
                &TransitiveTagKeys.member.1=k1&TransitiveTagKeys.member.2=k2\
                &DurationSeconds=3600";
    let params = Params::parse("", body.as_bytes()).unwrap();
    let arns: Vec<String> = params
        .struct_list("PolicyArns")
        .into_iter()
        .map(|m| m["arn"].clone())
        .collect();
    assert_eq!(
        arns,
        [
            "arn:aws:iam::aws:policy/ReadOnlyAccess",
            "arn:aws:iam::123456789012:policy/p"
        ]
    );
    assert_eq!(
        params.struct_list("ProvidedContexts")[0]["ProviderArn"],
        "arn:aws:iam::aws:contextProvider/IdentityCenter"
    );
    assert_eq!(params.list("TransitiveTagKeys"), ["k1", "k2"]);
    assert_eq!(params.get_i64("DurationSeconds"), Some(3600));
    let op = resolve(Service::Sts, &params).unwrap();
    validate_input(op, &params).unwrap();
}

fn iam_error(body: &str) -> String {
    let params = Params::parse("", body.as_bytes()).unwrap();
    let op = resolve(Service::Iam, &params).unwrap();
    validate_input(op, &params).unwrap_err().to_string()
}

fn sts_error(body: &str) -> String {
    let params = Params::parse("", body.as_bytes()).unwrap();
    let op = resolve(Service::Sts, &params).unwrap();
    validate_input(op, &params).unwrap_err().to_string()
}

#[test]
fn validation_messages_match_aws() {
    // Bad pattern.
    assert_eq!(
        iam_error("Action=CreateUser&Version=2010-05-08&UserName=bad+name%21"),
        "1 validation error detected: Value 'bad name!' at 'userName' failed to satisfy constraint: \
         Member must satisfy regular expression pattern: [\\w+=,.@-]+"
    );
    // Too long.
    let long = "r".repeat(65);
    assert_eq!(
        iam_error(&format!(
            "Action=CreateRole&Version=2010-05-08&RoleName={long}&AssumeRolePolicyDocument=%7B%7D"
        )),
        format!(
            "1 validation error detected: Value '{long}' at 'roleName' failed to satisfy constraint: \
             Member must have length less than or equal to 64"
        )
    );
    // Missing required members, in model order.
    assert_eq!(
        iam_error("Action=CreateRole&Version=2010-05-08"),
        "2 validation errors detected: Value null at 'roleName' failed to satisfy constraint: Member must \
         not be null; Value null at 'assumeRolePolicyDocument' failed to satisfy constraint: Member must not \
         be null"
    );
    // Out of range: IAM's MaxSessionDuration and STS's DurationSeconds.
    assert_eq!(
        iam_error(
            "Action=UpdateRole&Version=2010-05-08&RoleName=r&MaxSessionDuration=50000"
        ),
        "1 validation error detected: Value '50000' at 'maxSessionDuration' failed to satisfy constraint: \
         Member must have value less than or equal to 43200"
    );
    let assume = "Action=AssumeRole&Version=2011-06-15&RoleArn=arn:aws:iam::123456789012:role/demo&RoleSessionName=s1";
    assert_eq!(
        sts_error(&format!("{assume}&DurationSeconds=43201")),
        "1 validation error detected: Value '43201' at 'durationSeconds' failed to satisfy constraint: \
         Member must have value less than or equal to 43200"
    );
    assert_eq!(
        sts_error(&format!("{assume}&DurationSeconds=899")),
        "1 validation error detected: Value '899' at 'durationSeconds' failed to satisfy constraint: \
         Member must have value greater than or equal to 900"
    );
    // Several at once, across a nested list item.
    assert_eq!(
        iam_error("Action=CreateUser&Version=2010-05-08&UserName=&Tags.member.1.Key=a%26b"),
        "4 validation errors detected: Value '' at 'userName' failed to satisfy constraint: Member must \
         satisfy regular expression pattern: [\\w+=,.@-]+; Value '' at 'userName' failed to satisfy \
         constraint: Member must have length greater than or equal to 1; Value 'a&b' at 'tags.1.member.key' \
         failed to satisfy constraint: Member must satisfy regular expression pattern: \
         [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+; Value null at 'tags.1.member.value' failed to satisfy constraint: \
         Member must not be null"
    );
}

#[test]
fn validation_error_as_xml() {
    let params = Params::parse("", b"Action=GetUser&Version=2010-05-08&UserName=a%3Cb%3E").unwrap();
    let err = validate(Service::Iam, "GetUser", &params).unwrap_err();
    let xml = err.to_xml(Service::Iam, "req-1");
    let (parsed, ns) = parse(&xml);
    assert_eq!(ns, "https://iam.amazonaws.com/doc/2010-05-08/");
    assert_eq!(text_of(&parsed, "ErrorResponse/Error/Type"), "Sender");
    assert_eq!(
        text_of(&parsed, "ErrorResponse/Error/Code"),
        "ValidationError"
    );
    assert_eq!(
        text_of(&parsed, "ErrorResponse/Error/Message"),
        err.message()
    );
    assert!(err.message().contains("Value 'a<b>' at 'userName'"));
    assert_eq!(text_of(&parsed, "ErrorResponse/RequestId"), "req-1");
    assert_eq!(err.status(), 400);
}

#[test]
fn protocol_errors() {
    let err = Params::parse("", b"Action=CreateUser&UserName=%ZZ").unwrap_err();
    assert_eq!((err.code(), err.status()), ("MalformedQueryString", 404));
    let params = Params::parse("Action=Frobnicate&Version=2010-05-08", b"").unwrap();
    let err = resolve(Service::Iam, &params).unwrap_err();
    assert_eq!(
        err,
        ProtocolError::InvalidAction {
            action: "Frobnicate".into(),
            version: "2010-05-08".into()
        }
    );
    let (parsed, ns) = parse(&err.to_xml(Service::Iam, "r"));
    assert_eq!(ns, "https://iam.amazonaws.com/doc/2010-05-08/");
    assert_eq!(
        text_of(&parsed, "ErrorResponse/Error/Code"),
        "InvalidAction"
    );
    assert_eq!(
        text_of(&parsed, "ErrorResponse/Error/Message"),
        "Could not find operation Frobnicate for version 2010-05-08"
    );
}

const HOSTILE: &str =
    "</UserName><x a='1'>&amp;&lt;\"'\u{0}\u{1b}[31m\r\n\t]]>\u{FFFF}<!-- -->\u{1F600}";

/// What `HOSTILE` reads back as: XML 1.0 cannot carry NUL, ESC or U+FFFF,
/// so those come back as U+FFFD; everything else is intact.
fn hostile_read_back() -> String {
    HOSTILE
        .chars()
        .map(|c| {
            if matches!(c, '\u{0}' | '\u{1b}' | '\u{FFFF}') {
                '\u{FFFD}'
            } else {
                c
            }
        })
        .collect()
}

#[test]
fn responses_parse_and_escape_hostile_text() {
    let xml = response(Service::Iam.xml_namespace(), "CreateUser", "rid-<&>", |w| {
        w.nested("User", |w| {
            w.element("Path", "/")
                .element("UserName", HOSTILE)
                .element("UserId", "AIDAEXAMPLE")
                .timestamp_element("CreateDate", 1_795_977_324)
                .list("Tags", [("a", HOSTILE), ("b", "")], |w, (k, v)| {
                    w.element("Key", k).element("Value", v);
                });
        });
    });
    let (parsed, ns) = parse(&xml);
    assert_eq!(ns, "https://iam.amazonaws.com/doc/2010-05-08/");
    let paths: Vec<&str> = parsed.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        [
            "CreateUserResponse/CreateUserResult/User/Path",
            "CreateUserResponse/CreateUserResult/User/UserName",
            "CreateUserResponse/CreateUserResult/User/UserId",
            "CreateUserResponse/CreateUserResult/User/CreateDate",
            "CreateUserResponse/CreateUserResult/User/Tags/member/Key",
            "CreateUserResponse/CreateUserResult/User/Tags/member/Value",
            "CreateUserResponse/CreateUserResult/User/Tags/member",
            "CreateUserResponse/CreateUserResult/User/Tags/member/Key",
            "CreateUserResponse/CreateUserResult/User/Tags/member/Value",
            "CreateUserResponse/CreateUserResult/User/Tags/member",
            "CreateUserResponse/CreateUserResult/User/Tags",
            "CreateUserResponse/CreateUserResult/User",
            "CreateUserResponse/CreateUserResult",
            "CreateUserResponse/ResponseMetadata/RequestId",
            "CreateUserResponse/ResponseMetadata",
            "CreateUserResponse",
        ]
    );
    let back = hostile_read_back();
    assert_eq!(
        text_of(&parsed, "CreateUserResponse/CreateUserResult/User/UserName"),
        back
    );
    assert_eq!(parsed[5].1, back);
    assert_eq!(
        text_of(
            &parsed,
            "CreateUserResponse/CreateUserResult/User/CreateDate"
        ),
        "2026-11-29T18:35:24Z"
    );
    assert_eq!(
        text_of(&parsed, "CreateUserResponse/ResponseMetadata/RequestId"),
        "rid-<&>"
    );
    // No raw control characters or CDATA end survive into the document.
    assert!(
        !xml.contains('\u{0}')
            && !xml.contains('\u{1b}')
            && !xml.contains('\r')
            && !xml.contains("]]>")
    );

    let err = error_response(
        Service::Sts.xml_namespace(),
        ErrorType::Sender,
        "AccessDenied",
        HOSTILE,
        "r",
    );
    let (parsed, ns) = parse(&err);
    assert_eq!(ns, "https://sts.amazonaws.com/doc/2011-06-15/");
    assert_eq!(text_of(&parsed, "ErrorResponse/Error/Message"), back);
}

/// Percent-decode as Python's `urllib.parse.unquote` (what botocore uses on
/// policy documents): `%XX` only, `+` stays `+`.
fn unquote(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push(
                u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap(), 16).unwrap(),
            );
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn policy_documents_round_trip_through_botocore_decoding() {
    let doc = "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [{\"Effect\": \"Allow\", \"Action\": \"s3:*\", \
               \"Resource\": \"arn:aws:s3:::a+b/caf\u{e9}/*\", \"Condition\": {\"StringLike\": {\"s3:prefix\": \
               [\"100%\", \"a&b<c>\"]}}}]\n}";
    let mut w = XmlWriter::new();
    w.nested("Role", |w| {
        w.policy_element("AssumeRolePolicyDocument", doc);
    });
    let xml = w.into_string();
    let (parsed, _) = parse(&xml);
    let encoded = text_of(&parsed, "Role/AssumeRolePolicyDocument");
    assert_eq!(encoded, url_encode_policy(doc));
    assert!(encoded
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"%-._~".contains(&b)));
    assert_eq!(unquote(encoded), doc);
}
