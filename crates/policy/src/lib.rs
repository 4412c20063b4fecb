//! `ward-policy`: the AWS IAM policy language — parse, validate, evaluate,
//! explain. Pure: no I/O, no async, no global state.
//!
//! The pipeline is visible in the module names:
//! [`json`] (text → spanned tree) → [`parse`] (tree → [`Document`], with
//! AWS's `MalformedPolicyDocument` wording and a location) → [`policy`]
//! (document → compiled [`Policy`], grouped into indexed [`PolicySet`]s) →
//! [`evaluate`] (request + [`Layers`] → [`Decision`]) → [`explain`]
//! (AccessDenied sentence). [`validate`] reviews a document the way IAM
//! Access Analyzer does. [`case`] is the `ward policy eval` machine
//! interface, shared by the CLI, the tests and the benchmark.
//!
//! ```
//! use ward_policy::{Context, Layers, Policy, PolicySet, PolicyType, Request, evaluate};
//!
//! let p = Policy::parse("id", r#"{"Version":"2012-10-17","Statement":[
//!     {"Effect":"Allow","Action":"s3:Get*","Resource":"arn:aws:s3:::bucket/${aws:username}/*"}]}"#,
//!     PolicyType::Identity).unwrap();
//! let layers = Layers { identity: PolicySet::from_policies([p]), ..Default::default() };
//! let mut ctx = Context::new();
//! ctx.set("aws:username", "alice");
//! let req = Request::new("arn:aws:iam::111111111111:user/alice", "s3:GetObject",
//!     "arn:aws:s3:::bucket/alice/notes.txt", Some("111111111111"), ctx);
//! assert!(evaluate(&req, &layers).is_allowed());
//! ```

pub mod arn;
pub mod case;
pub mod condition;
pub mod context;
pub mod document;
pub mod error;
pub mod evaluate;
pub mod explain;
pub mod json;
pub mod parse;
pub mod policy;
pub mod request;
pub mod validate;
pub mod variables;
pub mod wildcard;

pub use context::{Context, ContextValue};
pub use document::{context_keys, object_end, Document, Effect, PolicyType, Version};
pub use error::PolicyError;
pub use evaluate::{evaluate, Layers};
pub use explain::{Decision, EvalDecision, MatchedStatement};
pub use parse::parse;
pub use policy::{Policy, PolicySet, PrincipalMatch};
pub use request::{Principal, PrincipalKind, Request};
pub use validate::{validate, Finding, Severity};
