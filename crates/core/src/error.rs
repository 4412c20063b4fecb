//! Errors of the IAM and STS operations, with AWS's codes, HTTP statuses,
//! fault types and messages. The server turns them into `<ErrorResponse>`.

use crate::store::StoreError;

/// Who is at fault, as AWS's `<Type>` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Sender,
    Receiver,
}

/// An IAM/STS error as AWS returns it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub code: &'static str,
    pub message: String,
    pub status: u16,
    pub fault: Fault,
    /// For internal failures: the cause, for the log only (never sent).
    pub cause: Option<String>,
}

impl ApiError {
    pub fn new(code: &'static str, status: u16, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            status,
            fault: if status >= 500 {
                Fault::Receiver
            } else {
                Fault::Sender
            },
            cause: None,
        }
    }

    /// `NoSuchEntity` (404).
    pub fn no_such_entity(message: impl Into<String>) -> Self {
        Self::new("NoSuchEntity", 404, message)
    }

    /// `EntityAlreadyExists` (409).
    pub fn already_exists(message: impl Into<String>) -> Self {
        Self::new("EntityAlreadyExists", 409, message)
    }

    /// `LimitExceeded` (409).
    pub fn limit_exceeded(message: impl Into<String>) -> Self {
        Self::new("LimitExceeded", 409, message)
    }

    /// `DeleteConflict` (409).
    pub fn delete_conflict(message: impl Into<String>) -> Self {
        Self::new("DeleteConflict", 409, message)
    }

    /// `MalformedPolicyDocument` (400).
    pub fn malformed_policy(message: impl Into<String>) -> Self {
        Self::new("MalformedPolicyDocument", 400, message)
    }

    /// `InvalidInput` (400).
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new("InvalidInput", 400, message)
    }

    /// `ValidationError` (400).
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new("ValidationError", 400, message)
    }

    /// `AccessDenied` (403) with the engine's sentence.
    pub fn access_denied(message: impl Into<String>) -> Self {
        Self::new("AccessDenied", 403, message)
    }

    /// `ServiceFailure` (500): an internal cause, logged, never echoed.
    pub fn internal() -> Self {
        Self::new(
            "ServiceFailure",
            500,
            "The request processing has failed because of an unknown error, exception or failure.",
        )
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let mut a = ApiError::internal();
        a.cause = Some(e.to_string());
        a
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
