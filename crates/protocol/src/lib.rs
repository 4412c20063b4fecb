//! AWS wire formats for Ward: the Query protocol that IAM and STS speak.
//!
//! The only crate that knows XML. A request goes through it in four steps:
//!
//! 1. [`Params::parse`] decodes the form body and/or query string
//!    ([`query`]), strictly: bad percent-encoding, non-UTF-8 text or an
//!    absurd number of parameters is a [`ProtocolError`].
//! 2. [`resolve`] finds the [`Operation`] named by `Action` in the
//!    [`Service`]'s model (`MissingAction`, `InvalidAction` otherwise).
//! 3. [`validate_input`] (or [`validate()`]) checks the parameters against the
//!    model's constraints and yields AWS's [`ValidationError`] with AWS's
//!    exact message.
//! 4. The server runs the operation and answers with [`xml::response`]
//!    (members written with an [`XmlWriter`]) or, on failure,
//!    [`error_response`].
//!
//! The model tables in [`generated`] are produced from botocore's
//! `service-2.json` by `gen/gen_shapes.py`; see [`model`] for their types.

pub mod elements;
pub mod error;
pub mod generated;
pub mod model;
pub mod query;
pub mod validate;
pub mod xml;

pub use error::{error_response, ErrorType, ProtocolError, ValidationError, Violation};
pub use model::{operation, ErrorInfo, Member, Operation, Pattern, Service, Shape, ShapeKind};
pub use query::{Params, MAX_PARAMS};
pub use validate::{resolve, validate, validate_input};
pub use xml::{
    empty_response, iso8601, iso8601_millis, operation_response, response, url_encode_policy,
    XmlWriter,
};
