//! padocc: kerchunk references, Zarr stores and CF aggregation files for
//! archives of netCDF/HDF5 datasets, validated against their sources, over
//! padocc 1.5.1's working directories.
//!
//! The layers, from the bottom; nothing calls upward (cancellation and
//! progress are passed down as [`control::Control`] values):
//! - foundation: [`error`], [`control`], [`fsutil`], [`memory`], [`oom`],
//!   [`model`] (the virtual dataset), [`codec`], [`slab`];
//! - [`source`]: read one netCDF/HDF5 file into a [`model::VirtualDataset`];
//! - [`aggregate`]: many files into one aggregation (combine, CF time);
//! - [`products`]: kerchunk references (JSON, Parquet), Zarr stores, CFA files,
//!   and reading them back;
//! - [`validate`]: a product against its sources, value by value;
//! - [`workdir`]: padocc's working directory: groups, projects, their configs
//!   and statuses;
//! - [`pipeline`]: the phases (init, scan, compute, validate, complete) over a
//!   group's projects, in-process;
//! - [`scheduler`]: the same phases as SLURM/LSF/PBS job arrays;
//! - [`api`]: the public surface the CLI and the Python module call; every
//!   operation returns a typed value;
//! - [`shepard`]: unattended passes over a directory of groups, from cron,
//!   over [`api`];
//! - [`cli`]: the command line (parse, call [`api`], render).

pub mod aggregate;
pub mod api;
pub mod cli;
pub mod codec;
pub mod control;
pub mod error;
pub mod fsutil;
pub mod memory;
pub mod model;
pub mod oom;
pub mod pipeline;
pub mod products;
pub mod scheduler;
pub mod shepard;
pub mod slab;
pub mod source;
pub mod validate;
pub mod workdir;
