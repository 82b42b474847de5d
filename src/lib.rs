//! padocc: kerchunk references, Zarr and CFA products for archives of
//! netCDF/HDF5 datasets.
//!
//! Library layout, one module per concept:
//! - [`source`]: read one file into a [`model::VirtualDataset`];
//! - [`combine`]: merge many into one aggregation;
//! - [`writer`]: serialise it as kerchunk JSON or Parquet;
//! - [`cftime`]: CF calendars and time units;
//! - [`refs`]: the `padocc refs` pipeline tying those together;
//! - [`zarr`], [`cfa`]: the other products, a Zarr store and a CF aggregation file;
//! - [`workdir`], [`group`], [`project`]: padocc's working directory and state;
//! - [`pipeline`]: the phases (scan, compute, validate, complete) and the local executor;
//! - [`product`], [`validate`]: reading a product back and checking it against its sources;
//! - [`cli`]: the command line.

pub mod cfa;
pub mod cftime;
pub mod cli;
pub mod codec;
pub mod combine;
pub mod doctor;
pub mod error;
pub mod fsutil;
pub mod group;
pub mod model;
pub mod ncwrite;
pub mod pipeline;
pub mod product;
pub mod progress;
pub mod project;
pub mod refs;
pub mod scheduler;
pub mod slab;
pub mod source;
pub mod status;
pub mod validate;
pub mod workdir;
pub mod writer;
pub mod zarr;
