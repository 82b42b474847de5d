//! padocc: kerchunk references, Zarr and CFA products for archives of
//! netCDF/HDF5 datasets.
//!
//! Library layout, one module per concept:
//! - [`source`]: read one file into a [`model::VirtualDataset`];
//! - [`combine`]: merge many into one aggregation;
//! - [`writer`]: serialise it as kerchunk JSON or Parquet;
//! - [`cftime`]: CF calendars and time units;
//! - [`refs`]: the `padocc refs` pipeline tying those together.

pub mod cftime;
pub mod codec;
pub mod combine;
pub mod error;
pub mod fsutil;
pub mod model;
pub mod progress;
pub mod refs;
pub mod source;
pub mod writer;
