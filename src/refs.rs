//! `padocc refs`: files in, one reference set out.

use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;

use crate::combine::{self, Options};
use crate::error::{Error, Result};
use crate::model::VirtualDataset;
use crate::progress::Progress;
use crate::source;
use crate::writer::{self, Kind};

#[derive(Debug, Clone)]
pub struct Request {
    pub files: Vec<PathBuf>,
    pub out: PathBuf,
    pub kind: Option<Kind>,
    pub combine: Options,
    pub record_size: u64,
    pub quiet: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    pub files: usize,
    pub variables: usize,
    pub references: u64,
    pub seconds: f64,
    pub output: PathBuf,
    pub kind: &'static str,
}

/// The output kind: explicit, or from the extension.
pub fn kind_for(out: &Path, kind: Option<Kind>) -> Result<Kind> {
    if let Some(k) = kind {
        return Ok(k);
    }
    match out.extension().and_then(|e| e.to_str()) {
        Some("json") => Ok(Kind::Json),
        Some("parquet" | "parq") => Ok(Kind::Parquet),
        _ => Err(Error::Usage(format!(
            "cannot tell the output kind of {}: name it *.json or *.parquet, or give --format json|parquet",
            out.display()
        ))),
    }
}

/// Read every file (in parallel) and combine them.
pub fn build(files: &[PathBuf], opts: &Options, quiet: bool) -> Result<VirtualDataset> {
    combine::combine(read_all(files, opts, quiet)?, opts)
}

/// Read every file's structure and references, in parallel, in the order given.
pub fn read_all(files: &[PathBuf], opts: &Options, quiet: bool) -> Result<Vec<VirtualDataset>> {
    read_all_with(files, opts, quiet, source::read_file)
}

/// As [`read_all`], with the per-file reader given (e.g. [`source::read_structure`]).
pub fn read_all_with(
    files: &[PathBuf],
    opts: &Options,
    quiet: bool,
    reader: fn(&std::path::Path, &[String]) -> Result<VirtualDataset>,
) -> Result<Vec<VirtualDataset>> {
    if files.is_empty() {
        return Err(Error::Usage("no input files".into()));
    }
    let files: Vec<PathBuf> = files.iter().map(|f| std::path::absolute(f).unwrap_or_else(|_| f.clone())).collect();
    let progress = Progress::new("reading", files.len() as u64, quiet);
    let parts = files
        .par_iter()
        .map(|f| {
            crate::pipeline::check_interrupted()?;
            let r = reader(f, &opts.concat_dims);
            progress.inc();
            r
        })
        .collect::<Result<Vec<_>>>();
    progress.finish();
    parts
}

pub fn run(req: &Request) -> Result<Summary> {
    let t0 = Instant::now();
    let kind = kind_for(&req.out, req.kind)?;
    let vds = build(&req.files, &req.combine, req.quiet)?;
    match kind {
        Kind::Json => writer::json::write(&vds, &req.out)?,
        Kind::Parquet => writer::parquet::write(&vds, &req.out, req.record_size)?,
    }
    Ok(Summary {
        files: vds.files.len(),
        variables: vds.n_vars(),
        references: vds.n_refs(),
        seconds: t0.elapsed().as_secs_f64(),
        output: req.out.clone(),
        kind: match kind {
            Kind::Json => "json",
            Kind::Parquet => "parquet",
        },
    })
}
