//! The shape of the service-model tables in [`crate::generated`].
//!
//! `gen/gen_shapes.py` reads botocore's `service-2.json` for IAM and STS and
//! writes one static table per service: every operation with its input
//! members (recursively, down to list members, structure members and map
//! keys/values), the constraints the model declares on them, the wrapper
//! element names of its XML response, and the errors it documents. Nothing
//! here is written per operation by hand; this module only defines the types
//! the generated statics are made of, and the [`Service`] handle that ties a
//! table to its API version and XML namespace.

use std::fmt;
use std::sync::OnceLock;

use regex::Regex;

use crate::generated;

/// One of the two Query-protocol services Ward speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    /// AWS Identity and Access Management, API version 2010-05-08.
    Iam,
    /// AWS Security Token Service, API version 2011-06-15.
    Sts,
}

impl Service {
    /// Both services, IAM first.
    pub const ALL: [Service; 2] = [Service::Iam, Service::Sts];

    /// The model's `apiVersion`, which Query requests carry as `Version`.
    pub fn api_version(self) -> &'static str {
        match self {
            Service::Iam => generated::iam::API_VERSION,
            Service::Sts => generated::sts::API_VERSION,
        }
    }

    /// The `xmlns` of every response and error document of this service.
    pub fn xml_namespace(self) -> &'static str {
        match self {
            Service::Iam => generated::iam::XML_NAMESPACE,
            Service::Sts => generated::sts::XML_NAMESPACE,
        }
    }

    /// The SigV4 signing name / endpoint prefix: `iam` or `sts`.
    pub fn signing_name(self) -> &'static str {
        match self {
            Service::Iam => "iam",
            Service::Sts => "sts",
        }
    }

    /// Every operation of the model, sorted by name.
    pub fn operations(self) -> &'static [Operation] {
        match self {
            Service::Iam => generated::iam::OPERATIONS,
            Service::Sts => generated::sts::OPERATIONS,
        }
    }

    /// Every error shape the model declares, sorted by code.
    pub fn errors(self) -> &'static [&'static ErrorInfo] {
        match self {
            Service::Iam => generated::iam::ERRORS,
            Service::Sts => generated::sts::ERRORS,
        }
    }

    /// The botocore release the tables were generated from.
    pub fn botocore_version(self) -> &'static str {
        match self {
            Service::Iam => generated::iam::BOTOCORE_VERSION,
            Service::Sts => generated::sts::BOTOCORE_VERSION,
        }
    }

    /// The operation called `name` (case-sensitive, as AWS matches `Action`).
    pub fn operation(self, name: &str) -> Option<&'static Operation> {
        let ops = self.operations();
        ops.binary_search_by(|op| op.name.cmp(name))
            .ok()
            .and_then(|i| ops.get(i))
    }

    /// The modeled error whose wire code is `code` (e.g. `NoSuchEntity`).
    pub fn error(self, code: &str) -> Option<&'static ErrorInfo> {
        self.errors().iter().copied().find(|e| e.code == code)
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.signing_name())
    }
}

/// The operation called `name` in `service`'s model; `None` is AWS's
/// `InvalidAction` ("Could not find operation X for version 2010-05-08").
pub fn operation(service: Service, name: &str) -> Option<&'static Operation> {
    service.operation(name)
}

/// One operation of a service model.
#[derive(Debug)]
pub struct Operation {
    /// The `Action` value, e.g. `CreateUser`.
    pub name: &'static str,
    /// The members of the input structure, in model order (empty when the
    /// operation takes no input).
    pub input: &'static [Member],
    /// The root element of a successful response: `{name}Response`.
    pub response_element: &'static str,
    /// The element wrapping the output members, `{name}Result`; `None` when
    /// the operation has no output (its response holds only
    /// `ResponseMetadata`).
    pub result_element: Option<&'static str>,
    /// The errors the model documents for this operation, in model order.
    pub errors: &'static [&'static ErrorInfo],
}

impl Operation {
    /// Whether the model documents the error code `code` for this operation.
    pub fn documents_error(&self, code: &str) -> bool {
        self.errors.iter().any(|e| e.code == code)
    }

    /// The input member called `name` (its wire name, e.g. `UserName`).
    pub fn input_member(&self, name: &str) -> Option<&'static Member> {
        self.input.iter().find(|m| m.name == name)
    }
}

/// A modeled error: its wire code, HTTP status and fault side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorInfo {
    /// The botocore shape name, e.g. `NoSuchEntityException`.
    pub shape: &'static str,
    /// The code sent in `<Code>`, e.g. `NoSuchEntity`.
    pub code: &'static str,
    /// The HTTP status the model gives (400 when it gives none).
    pub status: u16,
    /// `true` for `<Type>Sender</Type>`, `false` for `Receiver`.
    pub sender_fault: bool,
}

/// A member of a structure: the name on the wire and the shape of its value.
#[derive(Debug)]
pub struct Member {
    /// The wire name (`UserName`); the name in validation messages is this
    /// with its first letter lowered (`userName`).
    pub name: &'static str,
    /// Whether the structure's `required` list names the member.
    pub required: bool,
    /// The member's value shape.
    pub shape: &'static Shape,
}

/// A shape with the constraints the model declares on it.
#[derive(Debug)]
pub struct Shape {
    /// The botocore shape name, e.g. `userNameType`.
    pub name: &'static str,
    /// What the value is, with its children for aggregates.
    pub kind: ShapeKind,
    /// `min` of a string, blob, list or map: the least length or item count.
    pub min_length: Option<u64>,
    /// `max` of a string, blob, list or map: the greatest length or count.
    pub max_length: Option<u64>,
    /// `min` of a number.
    pub min_value: Option<i64>,
    /// `max` of a number.
    pub max_value: Option<i64>,
    /// The `pattern` of a string.
    pub pattern: Option<&'static Pattern>,
    /// The `enum` of a string (empty when unconstrained).
    pub enum_values: &'static [&'static str],
    /// Whether the model marks the value sensitive: validation messages then
    /// leave the value out (`Value at 'password' failed ...`).
    pub sensitive: bool,
}

/// What a [`Shape`] is.
#[derive(Debug)]
pub enum ShapeKind {
    /// A string.
    String,
    /// A 32-bit integer.
    Integer,
    /// A 64-bit integer.
    Long,
    /// A floating-point number.
    Double,
    /// `true` or `false`.
    Boolean,
    /// An ISO-8601 timestamp.
    Timestamp,
    /// Base64 bytes.
    Blob,
    /// A list, sent as `Name.member.N`.
    List {
        /// The shape of each item.
        member: &'static Shape,
    },
    /// A map, sent as `Name.entry.N.key` / `Name.entry.N.value`.
    Map {
        /// The shape of the keys.
        key: &'static Shape,
        /// The shape of the values.
        value: &'static Shape,
    },
    /// A structure, sent as `Name.Member`.
    Structure {
        /// Its members in model order.
        members: &'static [Member],
    },
}

impl ShapeKind {
    /// The model's type name: `string`, `integer`, `list`, `structure`, ...
    pub fn type_name(&self) -> &'static str {
        match self {
            ShapeKind::String => "string",
            ShapeKind::Integer => "integer",
            ShapeKind::Long => "long",
            ShapeKind::Double => "double",
            ShapeKind::Boolean => "boolean",
            ShapeKind::Timestamp => "timestamp",
            ShapeKind::Blob => "blob",
            ShapeKind::List { .. } => "list",
            ShapeKind::Map { .. } => "map",
            ShapeKind::Structure { .. } => "structure",
        }
    }
}

/// A `pattern` constraint: the model's Java regular expression (quoted
/// verbatim in validation messages) and, when the generator could translate
/// it, the equivalent for the `regex` crate, compiled on first use.
pub struct Pattern {
    /// The pattern exactly as the model (and AWS's messages) spell it.
    pub source: &'static str,
    /// The translation, anchored for a whole-value match (Java's
    /// `Matcher.matches()`); `None` when the generator found a construct the
    /// `regex` crate lacks (look-around), in which case the pattern is not
    /// enforced.
    pub translated: Option<&'static str>,
    compiled: OnceLock<Option<Regex>>,
}

impl Pattern {
    /// A pattern; used by the generated tables.
    pub(crate) const fn new(source: &'static str, translated: Option<&'static str>) -> Self {
        Pattern {
            source,
            translated,
            compiled: OnceLock::new(),
        }
    }

    /// The compiled translation, or `None` when there is none or it did not
    /// compile (then the pattern is skipped rather than failing requests).
    pub fn regex(&self) -> Option<&Regex> {
        self.compiled
            .get_or_init(|| self.translated.and_then(|t| Regex::new(t).ok()))
            .as_ref()
    }

    /// Whether the pattern is enforced: translated and compiled.
    pub fn is_enforced(&self) -> bool {
        self.regex().is_some()
    }

    /// `Some(true/false)` when enforced; `None` when the pattern is skipped.
    pub fn matches(&self, value: &str) -> Option<bool> {
        self.regex().map(|re| re.is_match(value))
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pattern")
            .field("source", &self.source)
            .field("translated", &self.translated)
            .finish()
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

    fn walk(shape: &'static Shape, seen: &mut Vec<&'static Pattern>) {
        if let Some(p) = shape.pattern {
            if !seen.iter().any(|q| std::ptr::eq(*q, p)) {
                seen.push(p);
            }
        }
        match &shape.kind {
            ShapeKind::List { member } => walk(member, seen),
            ShapeKind::Map { key, value } => {
                walk(key, seen);
                walk(value, seen);
            }
            ShapeKind::Structure { members } => members.iter().for_each(|m| walk(m.shape, seen)),
            _ => {}
        }
    }

    fn patterns(service: Service) -> Vec<&'static Pattern> {
        let mut seen = Vec::new();
        for op in service.operations() {
            for m in op.input {
                walk(m.shape, &mut seen);
            }
        }
        seen
    }

    #[test]
    fn every_translated_pattern_compiles() {
        for service in Service::ALL {
            for p in patterns(service) {
                match p.translated {
                    Some(t) => assert!(
                        p.is_enforced(),
                        "{service}: {} -> {t} does not compile",
                        p.source
                    ),
                    // The one pattern with look-ahead (an IAM Organizations id).
                    None => assert!(
                        p.source.contains("(?!"),
                        "{service}: {} untranslated",
                        p.source
                    ),
                }
            }
        }
    }

    fn pattern(service: Service, source: &str) -> &'static Pattern {
        patterns(service)
            .into_iter()
            .find(|p| p.source == source)
            .unwrap()
    }

    #[test]
    fn java_semantics() {
        let name = pattern(Service::Iam, r"[\w+=,.@-]+");
        assert_eq!(name.matches("bob+1=2,x.y@z-_"), Some(true));
        assert_eq!(name.matches("bad name!"), Some(false));
        // Java's \w is ASCII-only.
        assert_eq!(name.matches("caf\u{e9}"), Some(false));
        assert_eq!(name.matches(""), Some(false));
        // Whole-value match, not a search.
        assert_eq!(name.matches("ok\n"), Some(false));
        let tag = pattern(Service::Iam, r"[\p{L}\p{Z}\p{N}_.:/=+\-@]*");
        assert_eq!(tag.matches("caf\u{e9} 42 a-b"), Some(true));
        assert_eq!(tag.matches("a&b"), Some(false));
        let path = pattern(Service::Iam, r"(\u002F)|(\u002F[\u0021-\u007E]+\u002F)");
        assert_eq!(path.matches("/"), Some(true));
        assert_eq!(path.matches("/a/b/"), Some(true));
        assert_eq!(path.matches("/a"), Some(false));
        assert_eq!(path.matches("/a b/"), Some(false));
        let doc = pattern(Service::Iam, r"[\u0009\u000A\u000D\u0020-\u00FF]+");
        assert_eq!(doc.matches("{\"a\":\t\"\u{ff}\"}\r\n"), Some(true));
        assert_eq!(doc.matches("\u{100}"), Some(false));
        let ou = pattern(
            Service::Iam,
            r"^o-[0-9a-z]{10,32}\/r-[0-9a-z]{4,32}[0-9a-z-\/]*",
        );
        assert_eq!(ou.matches("o-abcdefghij/r-abcd/ou-ab-cd/"), Some(true));
        assert_eq!(ou.matches("o-abcdefghij/r-ab"), Some(false));
        // STS's arnType: Java reads \u10000 as U+1000 then '0', so the class
        // ends up holding U+1000, '0'-U+10FF and 'F', and no character beyond
        // the BMP: that is what AWS enforces.
        let arn = pattern(
            Service::Sts,
            r"[\u0009\u000A\u000D\u0020-\u007E\u0085\u00A0-\uD7FF\uE000-\uFFFD\u10000-\u10FFFF]+",
        );
        assert_eq!(arn.matches("arn:aws:iam::123456789012:role/x"), Some(true));
        assert_eq!(arn.matches("\u{1F600}"), Some(false));
        assert_eq!(arn.matches("\u{1}"), Some(false));
        let untranslated = pattern(Service::Iam, r"^[a-z0-9]([a-z0-9]|-(?!-)){1,61}[a-z0-9]$");
        assert!(!untranslated.is_enforced());
        assert_eq!(untranslated.matches("anything"), None);
    }

    #[test]
    fn tables() {
        for service in Service::ALL {
            let ops = service.operations();
            assert!(
                ops.windows(2).all(|w| w[0].name < w[1].name),
                "{service} not sorted"
            );
            for op in ops {
                assert_eq!(op.response_element, format!("{}Response", op.name));
                if let Some(r) = op.result_element {
                    assert_eq!(r, format!("{}Result", op.name));
                }
                assert_eq!(service.operation(op.name).map(|o| o.name), Some(op.name));
            }
            let errors = service.errors();
            assert!(errors.windows(2).all(|w| w[0].code <= w[1].code));
        }
        assert_eq!(Service::Iam.operations().len(), 181);
        assert_eq!(Service::Sts.operations().len(), 12);
        assert_eq!(
            Service::Iam.xml_namespace(),
            "https://iam.amazonaws.com/doc/2010-05-08/"
        );
        assert_eq!(
            Service::Sts.xml_namespace(),
            "https://sts.amazonaws.com/doc/2011-06-15/"
        );
        assert_eq!(Service::Iam.api_version(), "2010-05-08");
        assert_eq!(Service::Sts.api_version(), "2011-06-15");
        assert!(operation(Service::Iam, "createUser").is_none());
        assert!(operation(Service::Sts, "CreateUser").is_none());

        let create = operation(Service::Iam, "CreateUser").unwrap();
        assert_eq!(create.result_element, Some("CreateUserResult"));
        let names: Vec<_> = create.input.iter().map(|m| (m.name, m.required)).collect();
        assert_eq!(
            names,
            [
                ("Path", false),
                ("UserName", true),
                ("PermissionsBoundary", false),
                ("Tags", false)
            ]
        );
        let user = create.input_member("UserName").unwrap().shape;
        assert_eq!((user.min_length, user.max_length), (Some(1), Some(64)));
        assert_eq!(user.pattern.map(|p| p.source), Some(r"[\w+=,.@-]+"));
        let ShapeKind::List { member } = create.input_member("Tags").unwrap().shape.kind else {
            panic!("Tags is a list")
        };
        assert_eq!(
            create.input_member("Tags").unwrap().shape.max_length,
            Some(50)
        );
        let ShapeKind::Structure { members } = member.kind else {
            panic!("Tag is a structure")
        };
        assert!(members.iter().all(|m| m.required));
        for code in [
            "EntityAlreadyExists",
            "NoSuchEntity",
            "LimitExceeded",
            "InvalidInput",
        ] {
            assert!(create.documents_error(code), "{code}");
        }
        assert_eq!(
            operation(Service::Iam, "DeleteUser")
                .unwrap()
                .result_element,
            None
        );

        let no_such = Service::Iam.error("NoSuchEntity").unwrap();
        assert_eq!(
            (no_such.shape, no_such.status, no_such.sender_fault),
            ("NoSuchEntityException", 404, true)
        );
        let failure = Service::Iam.error("ServiceFailure").unwrap();
        assert_eq!((failure.status, failure.sender_fault), (500, false));
        let expired = Service::Sts.error("ExpiredTokenException").unwrap();
        assert_eq!(expired.status, 400);

        let assume = operation(Service::Sts, "AssumeRole").unwrap();
        let duration = assume.input_member("DurationSeconds").unwrap().shape;
        assert_eq!(duration.kind.type_name(), "integer");
        assert_eq!(
            (duration.min_value, duration.max_value),
            (Some(900), Some(43200))
        );
        assert!(assume.documents_error("MalformedPolicyDocument"));
        assert!(assume.documents_error("RegionDisabledException"));
        let saml = operation(Service::Sts, "AssumeRoleWithSAML").unwrap();
        assert!(saml
            .input
            .iter()
            .all(|m| m.shape.name != "SAMLAssertionType" || m.shape.sensitive));
    }
}
