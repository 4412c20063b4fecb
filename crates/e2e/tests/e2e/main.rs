//! End-to-end tests of `ward serve` with the official AWS SDK for Rust.
//!
//! Every test starts the real `ward` binary (built once when missing or
//! stale) on a free loopback port with a fresh data directory, reads the
//! root credentials it writes, and drives IAM and STS through `aws-sdk-iam`
//! and `aws-sdk-sts` over plain HTTP. Errors are asserted with the exact
//! codes and messages AWS returns.
//!
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod authorize;
mod enforcement;
mod harness;
mod iam_groups_roles;
mod iam_policies;
mod iam_users;
mod mfa;
mod pipeline;
mod review;
mod simulate;
mod sts;
