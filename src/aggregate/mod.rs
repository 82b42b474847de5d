//! Many files into one aggregation: read every file (in parallel), then
//! combine them along the concat dimension(s), with CF time handling.
//! [`region`] reads any region of the aggregation back from its sources.

pub mod cftime;
pub mod combine;
pub mod region;

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::control::{Control, Progress};
use crate::error::{Error, Result};
use crate::model::VirtualDataset;
use crate::source;
use combine::Options;

/// Read every file (in parallel) and combine them.
pub fn build(files: &[PathBuf], opts: &Options, ctl: &Control) -> Result<VirtualDataset> {
    combine::combine(read_all(files, opts, ctl)?, opts)
}

/// Read every file's structure and references, in parallel, in the order given.
pub fn read_all(files: &[PathBuf], opts: &Options, ctl: &Control) -> Result<Vec<VirtualDataset>> {
    read_all_with(files, opts, ctl, source::read_file)
}

/// As [`read_all`], with the per-file reader given (e.g. [`source::read_structure`]).
pub fn read_all_with(files: &[PathBuf], opts: &Options, ctl: &Control, reader: fn(&Path, &[String]) -> Result<VirtualDataset>) -> Result<Vec<VirtualDataset>> {
    if files.is_empty() {
        return Err(Error::Usage("no input files".into()));
    }
    let files: Vec<PathBuf> = files.iter().map(|f| std::path::absolute(f).unwrap_or_else(|_| f.clone())).collect();
    let progress = Progress::new("reading", files.len() as u64, &ctl.progress);
    let parts = files
        .par_iter()
        .map(|f| {
            ctl.cancel.check()?;
            let r = reader(f, &opts.concat_dims);
            progress.inc();
            r
        })
        .collect::<Result<Vec<_>>>();
    progress.finish();
    parts
}
