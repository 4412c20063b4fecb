//! Service-model tables generated from botocore by `gen/gen_shapes.py`.
//!
//! Do not edit `iam.rs` or `sts.rs` by hand: their header says which botocore
//! release they come from and how to regenerate them. The types they are
//! built from live in [`crate::model`].

#[rustfmt::skip]
pub mod iam;
#[rustfmt::skip]
pub mod sts;
