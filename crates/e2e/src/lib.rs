//! End-to-end tests of `ward serve` driven by the official AWS SDK for Rust.
//!
//! Everything lives in the integration test `tests/e2e/`: it starts the real
//! `ward` binary on a free loopback port with a fresh data directory and
//! talks to it through `aws-sdk-iam` and `aws-sdk-sts`. Run it with
//! `cargo test -p ward-e2e`.
