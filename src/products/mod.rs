//! The products made from an aggregation, and reading them back as a client
//! would:
//! - [`refs`]: kerchunk references, written by [`writer`] as JSON or Parquet;
//! - [`zarr`]: a Zarr v3 or v2 store (values copied, rechunked);
//! - [`cfa`]: a CF aggregation file (`.nca`), written through [`ncwrite`];
//! - [`icechunk`]: an Icechunk repository of virtual references (local or
//!   [`s3`]);
//! - [`reader`]: any of them opened again, for validation;
//! - [`meta`]: their attributes edited where they lie.

pub mod cfa;
pub mod icechunk;
pub mod inline;
pub mod meta;
pub mod ncwrite;
pub mod reader;
pub mod refs;
pub mod s3;
pub mod upload;
pub mod writer;
pub mod zarr;
