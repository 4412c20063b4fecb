//! Query-protocol errors: the `<ErrorResponse>` document, the errors of
//! decoding a request ([`ProtocolError`]) and AWS's `ValidationError`
//! ([`ValidationError`]).
//!
//! IAM and STS send every error as
//!
//! ```xml
//! <ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">
//!   <Error>
//!     <Type>Sender</Type>
//!     <Code>NoSuchEntity</Code>
//!     <Message>The user with name bob cannot be found.</Message>
//!   </Error>
//!   <RequestId>4a3b…</RequestId>
//! </ErrorResponse>
//! ```
//!
//! botocore's Query parser reads `Error/Code`, `Error/Message` and
//! `Error/Type`, and takes `RequestId` (a sibling of `Error`, not inside a
//! `ResponseMetadata` as in successful responses) for the request id.

use std::fmt;

use crate::model::Service;
use crate::query::Source;
use crate::xml::{escape_attr, escape_text};

/// Who is at fault, sent as `<Type>`: `Sender` for 4xx, `Receiver` for 5xx.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorType {
    /// The caller's request was wrong.
    Sender,
    /// The service failed.
    Receiver,
}

impl ErrorType {
    /// `Sender` or `Receiver`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::Sender => "Sender",
            ErrorType::Receiver => "Receiver",
        }
    }

    /// `Sender` when `sender_fault`, else `Receiver`.
    pub fn from_sender_fault(sender_fault: bool) -> Self {
        if sender_fault {
            ErrorType::Sender
        } else {
            ErrorType::Receiver
        }
    }
}

impl fmt::Display for ErrorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `<ErrorResponse>` document IAM and STS send for an error. `ns` is the
/// service's XML namespace ([`Service::xml_namespace`]); all text is escaped.
pub fn error_response(
    ns: &str,
    type_: ErrorType,
    code: &str,
    message: &str,
    request_id: &str,
) -> String {
    let mut out = String::with_capacity(200 + message.len());
    out.push_str("<ErrorResponse xmlns=\"");
    out.push_str(&escape_attr(ns));
    out.push_str("\"><Error><Type>");
    out.push_str(type_.as_str());
    out.push_str("</Type><Code>");
    out.push_str(&escape_text(code));
    out.push_str("</Code><Message>");
    out.push_str(&escape_text(message));
    out.push_str("</Message></Error><RequestId>");
    out.push_str(&escape_text(request_id));
    out.push_str("</RequestId></ErrorResponse>");
    out
}

/// A request that cannot be decoded or routed, before any operation runs.
///
/// Each variant knows the AWS error code and HTTP status it is sent with
/// (from AWS's list of errors common to all Query APIs).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// A `%` not followed by two hex digits. `MalformedQueryString`, 404 (as
    /// AWS documents it).
    #[error(
        "The {source_} contains a malformed percent-encoding (in the parameter at byte {offset})."
    )]
    MalformedEncoding {
        /// Query string or body.
        source_: Source,
        /// Byte offset of the offending name=value pair.
        offset: usize,
    },
    /// Decoded bytes that are not UTF-8. `MalformedQueryString`, 404.
    #[error("The {source_} is not valid UTF-8 once decoded (in the parameter at byte {offset}).")]
    InvalidUtf8 {
        /// Query string or body.
        source_: Source,
        /// Byte offset of the offending name=value pair.
        offset: usize,
    },
    /// More pairs than [`crate::query::MAX_PARAMS`]. `InvalidQueryParameter`,
    /// 400.
    #[error("The request has too many parameters: at most {max} are accepted.")]
    TooManyParams {
        /// The limit.
        max: usize,
    },
    /// No `Action` parameter. `MissingAction`, 400.
    #[error("Missing Action")]
    MissingAction,
    /// An `Action` the service does not have, or a `Version` it does not
    /// speak. `InvalidAction`, 400, with AWS's message.
    #[error("Could not find operation {action} for version {version}")]
    InvalidAction {
        /// The `Action` sent.
        action: String,
        /// The `Version` sent (the service's own when none was).
        version: String,
    },
}

impl ProtocolError {
    /// The AWS error code sent in `<Code>`.
    pub fn code(&self) -> &'static str {
        match self {
            ProtocolError::MalformedEncoding { .. } | ProtocolError::InvalidUtf8 { .. } => {
                "MalformedQueryString"
            }
            ProtocolError::TooManyParams { .. } => "InvalidQueryParameter",
            ProtocolError::MissingAction => "MissingAction",
            ProtocolError::InvalidAction { .. } => "InvalidAction",
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            ProtocolError::MalformedEncoding { .. } | ProtocolError::InvalidUtf8 { .. } => 404,
            _ => 400,
        }
    }

    /// Always [`ErrorType::Sender`].
    pub fn error_type(&self) -> ErrorType {
        ErrorType::Sender
    }

    /// The `<ErrorResponse>` document for this error.
    pub fn to_xml(&self, service: Service, request_id: &str) -> String {
        error_response(
            service.xml_namespace(),
            self.error_type(),
            self.code(),
            &self.to_string(),
            request_id,
        )
    }
}

/// One failed constraint, rendered by AWS as
/// `Value '<value>' at '<path>' failed to satisfy constraint: <constraint>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The member's path with lowerCamelCase names and 1-based list
    /// positions: `userName`, `tags.1.member.value`, `policyArns.2.member.arn`.
    pub path: String,
    /// The value as AWS prints it; `None` for a missing member (`Value null`).
    pub value: Option<String>,
    /// A sensitive value is left out of the message (`Value at 'password'`).
    pub redacted: bool,
    /// The constraint, e.g. `Member must have length less than or equal to 64`.
    pub constraint: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.value, self.redacted) {
            (None, _) => write!(f, "Value null at '{}'", self.path)?,
            (Some(_), true) => write!(f, "Value at '{}'", self.path)?,
            (Some(v), false) => write!(f, "Value '{v}' at '{}'", self.path)?,
        }
        write!(f, " failed to satisfy constraint: {}", self.constraint)
    }
}

/// AWS's `ValidationError` (HTTP 400, `Sender`).
///
/// Built from model constraints by [`crate::validate()`], its message is AWS's:
/// `1 validation error detected: Value 'bad name!' at 'userName' failed to
/// satisfy constraint: Member must satisfy regular expression pattern:
/// [\w+=,.@-]+`, and for several `N validation errors detected: ...; ...`.
/// Service code can also raise one with its own message
/// ([`ValidationError::custom`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    violations: Vec<Violation>,
    custom: Option<String>,
}

impl ValidationError {
    /// A model-constraint error listing `violations` (in order).
    pub fn new(violations: Vec<Violation>) -> Self {
        ValidationError {
            violations,
            custom: None,
        }
    }

    /// A `ValidationError` with a message of the caller's, e.g. IAM's
    /// `The specified value for roleName is invalid. ...`.
    pub fn custom(message: impl Into<String>) -> Self {
        ValidationError {
            violations: Vec::new(),
            custom: Some(message.into()),
        }
    }

    /// `ValidationError`.
    pub fn code(&self) -> &'static str {
        "ValidationError"
    }

    /// 400.
    pub fn status(&self) -> u16 {
        400
    }

    /// [`ErrorType::Sender`].
    pub fn error_type(&self) -> ErrorType {
        ErrorType::Sender
    }

    /// The failed constraints (empty for a custom message).
    pub fn violations(&self) -> &[Violation] {
        &self.violations
    }

    /// The message sent in `<Message>`.
    pub fn message(&self) -> String {
        self.to_string()
    }

    /// The `<ErrorResponse>` document for this error.
    pub fn to_xml(&self, service: Service, request_id: &str) -> String {
        error_response(
            service.xml_namespace(),
            self.error_type(),
            self.code(),
            &self.message(),
            request_id,
        )
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(msg) = &self.custom {
            return f.write_str(msg);
        }
        let n = self.violations.len();
        write!(
            f,
            "{n} validation error{} detected: ",
            if n == 1 { "" } else { "s" }
        )?;
        for (i, v) in self.violations.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{v}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationError {}

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
    fn error_response_shape() {
        let xml = error_response(
            "https://iam.amazonaws.com/doc/2010-05-08/",
            ErrorType::Sender,
            "NoSuchEntity",
            "The user with name bob cannot be found.",
            "rid-1",
        );
        assert_eq!(
            xml,
            "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error><Type>Sender</Type>\
             <Code>NoSuchEntity</Code><Message>The user with name bob cannot be found.</Message></Error>\
             <RequestId>rid-1</RequestId></ErrorResponse>"
        );
    }

    #[test]
    fn error_response_escapes() {
        let xml = error_response("ns", ErrorType::Receiver, "C", "a<b & 'c' \"d\"", "r");
        assert!(xml.contains("<Type>Receiver</Type>"));
        assert!(
            xml.contains("<Message>a&lt;b &amp; &apos;c&apos; &quot;d&quot;</Message>"),
            "{xml}"
        );
    }

    #[test]
    fn validation_messages() {
        let one = ValidationError::new(vec![Violation {
            path: "userName".into(),
            value: Some("bad name!".into()),
            redacted: false,
            constraint: "Member must satisfy regular expression pattern: [\\w+=,.@-]+".into(),
        }]);
        assert_eq!(
            one.to_string(),
            "1 validation error detected: Value 'bad name!' at 'userName' failed to satisfy constraint: \
             Member must satisfy regular expression pattern: [\\w+=,.@-]+"
        );
        let two = ValidationError::new(vec![
            Violation {
                path: "roleName".into(),
                value: None,
                redacted: false,
                constraint: "Member must not be null".into(),
            },
            Violation {
                path: "password".into(),
                value: Some("x".into()),
                redacted: true,
                constraint: "Member must have length greater than or equal to 8".into(),
            },
        ]);
        assert_eq!(
            two.to_string(),
            "2 validation errors detected: Value null at 'roleName' failed to satisfy constraint: Member must not \
             be null; Value at 'password' failed to satisfy constraint: Member must have length greater than or \
             equal to 8"
        );
        assert_eq!(two.code(), "ValidationError");
        assert_eq!(two.status(), 400);
        assert_eq!(ValidationError::custom("nope").message(), "nope");
    }

    #[test]
    fn protocol_error_codes() {
        let e = ProtocolError::InvalidAction {
            action: "Frobnicate".into(),
            version: "2010-05-08".into(),
        };
        assert_eq!(
            e.to_string(),
            "Could not find operation Frobnicate for version 2010-05-08"
        );
        assert_eq!((e.code(), e.status()), ("InvalidAction", 400));
        let xml = e.to_xml(Service::Iam, "r");
        assert!(
            xml.starts_with("<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\">")
        );
        assert!(xml.contains("<Code>InvalidAction</Code>"));
        assert_eq!(ProtocolError::MissingAction.code(), "MissingAction");
        assert_eq!(ProtocolError::TooManyParams { max: 1 }.status(), 400);
    }
}
