//! Many files into one aggregation: read every file (in parallel), then
//! combine them along the concat dimension(s), with CF time handling.
//! [`region`] reads any region of the aggregation back from its sources.

pub mod cftime;
pub mod combine;
pub mod edit;
pub mod region;
pub mod select;

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::control::{Control, Progress};
use crate::error::{Error, Result};
use crate::model::{ChunkData, Group, Layout, Variable, VirtualDataset};
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
    let mut parts = files
        .par_iter()
        .map(|f| {
            ctl.cancel.check()?;
            let r = reader(f, &opts.concat_dims).map(|mut vds| {
                opts.select.apply(&mut vds);
                opts.edits.apply(&mut vds);
                vds
            });
            progress.inc();
            r
        })
        .collect::<Result<Vec<_>>>()?;
    progress.finish();
    decoded_everywhere(&files, &mut parts)?;
    Ok(parts)
}

/// Stored as one decoded chunk: compact data, or chunks that skipped filters.
fn is_decoded_whole(v: &Variable) -> bool {
    matches!(&v.data, ChunkData::Inline(c) if c.len() <= 1) && v.filters.is_empty() && v.compressor.is_none() && v.chunks == v.shape && v.dtype != "|O"
}

/// A variable that one file stores decoded and whole (compact, or chunks that
/// skipped filters) is read decoded from the files that reference it too:
/// the combined variable needs one storage.
fn decoded_everywhere(files: &[PathBuf], parts: &mut [VirtualDataset]) -> Result<()> {
    if parts.len() < 2 {
        return Ok(());
    }
    let mut names = std::collections::BTreeSet::new();
    for p in parts.iter() {
        for g in p.groups() {
            for v in g.vars.iter().filter(|v| is_decoded_whole(v)) {
                names.insert(format!("{}{}", g.key_prefix(), v.name));
            }
        }
    }
    for (p, file) in parts.iter_mut().zip(files) {
        for name in &names {
            let Some(v) = var_mut(&mut p.root, name) else { continue };
            let bytes = v.shape.iter().product::<u64>() * v.itemsize();
            if matches!(v.data, ChunkData::Refs(_)) && bytes <= source::MAX_DECODED_INLINE {
                v.data = ChunkData::Inline(vec![source::read_decoded(file, name, v)?]);
                v.layout = Layout::Inline;
                v.chunks = v.shape.clone();
                v.filters.clear();
                v.compressor = None;
                v.missing_chunk = None;
            }
        }
    }
    Ok(())
}

fn var_mut<'a>(g: &'a mut Group, path: &str) -> Option<&'a mut Variable> {
    match path.split_once('/') {
        Some((head, rest)) => g.groups.iter_mut().find(|s| s.path.rsplit('/').next() == Some(head)).and_then(|s| var_mut(s, rest)),
        None => g.vars.iter_mut().find(|v| v.name == path),
    }
}
