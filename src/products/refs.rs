//! `padocc refs`: files in, one reference set out.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::aggregate::combine::Options;
use crate::control::Control;
use crate::error::{Error, Result};
use crate::products::writer::{self, Kind};

#[derive(Debug, Clone)]
pub struct Request {
    pub files: Vec<PathBuf>,
    pub out: PathBuf,
    pub kind: Option<Kind>,
    pub combine: Options,
    pub record_size: u64,
    /// References smaller than this are stored inline (see [`super::inline`]); 0 keeps them all.
    pub inline_threshold: u64,
    pub control: Control,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    pub files: usize,
    pub variables: usize,
    pub references: u64,
    /// Variables stored inline because their references were small.
    pub inlined: usize,
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
        _ => Err(Error::Usage(format!("cannot tell the output kind of {}: name it *.json or *.parquet, or give --format json|parquet", out.display()))),
    }
}

pub fn run(req: &Request) -> Result<Summary> {
    let t0 = Instant::now();
    let kind = kind_for(&req.out, req.kind)?;
    let mut vds = crate::aggregate::build(&req.files, &req.combine, &req.control)?;
    let inlined = super::inline::consolidate(&mut vds, req.inline_threshold)?;
    match kind {
        Kind::Json => writer::json::write(&vds, &req.out)?,
        Kind::Parquet => writer::parquet::write(&vds, &req.out, req.record_size)?,
        Kind::Icechunk => return Err(Error::Usage("Icechunk repositories are written by products::icechunk".into())),
    }
    Ok(Summary {
        files: vds.files.len(),
        variables: vds.n_vars(),
        references: vds.n_refs(),
        inlined,
        seconds: t0.elapsed().as_secs_f64(),
        output: req.out.clone(),
        kind: match kind {
            Kind::Json => "json",
            Kind::Parquet => "parquet",
            Kind::Icechunk => "icechunk",
        },
    })
}
