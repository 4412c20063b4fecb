//! `ward-core`: Ward's domain — accounts, users, groups, roles, managed and
//! inline policies, access keys, sessions — and the IAM and STS operations
//! over a narrow [`store::Store`] trait. No HTTP, no XML, no SQL: the wire
//! protocols live in `ward-protocol` and `ward-server`, the databases in
//! `ward-store`.

pub mod access;
pub mod apply;
pub mod audit;
pub mod auth;
pub mod cache;
pub mod crypto;
pub mod digest;
pub mod error;
pub mod iam;
pub mod mfa;
pub mod model;
pub mod org;
pub mod report;
pub mod sim;
pub mod store;
pub mod sts;
pub mod view;
pub mod workload;

pub use error::{ApiError, ApiResult, Fault};
