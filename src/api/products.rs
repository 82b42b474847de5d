//! Products over a list of files, without a working directory.

use std::path::{Path, PathBuf};

use crate::aggregate::combine::Dedupe;
use crate::control::Control;
use crate::error::Result;
pub use crate::products::cfa::{Request as CfaRequest, Summary as CfaSummary};
pub use crate::products::icechunk::{is_icechunk, Request as IcechunkRequest, Summary as IcechunkSummary};
pub use crate::products::refs::{Request as RefsRequest, Summary as RefsSummary};
pub use crate::products::s3::{S3Settings, S3Url};
pub use crate::products::upload::{PublishSummary, Summary as UploadSummary};
pub use crate::products::writer::Kind as RefsKind;
pub use crate::products::zarr::{Compression, Request as ZarrRequest, Summary as ZarrSummary};
pub use crate::validate::Report;

/// Kerchunk references (JSON or Parquet) over a series of files.
pub fn refs(req: &RefsRequest) -> Result<RefsSummary> {
    crate::products::refs::run(req)
}

/// An Icechunk repository of virtual references over a series of files, as
/// one commit (replacing its content, or appending files to it).
pub fn icechunk(req: &IcechunkRequest) -> Result<IcechunkSummary> {
    crate::products::icechunk::run(req)
}

/// A Zarr store copied from a series of files.
pub fn zarr(req: &ZarrRequest) -> Result<ZarrSummary> {
    crate::products::zarr::run(req)
}

/// A Zarr store copied from a series of files into an object store: built in
/// a stage directory, then uploaded (resumable; metadata last).
pub fn publish_zarr(req: &ZarrRequest, url: &S3Url, settings: &S3Settings, stage: Option<&Path>) -> Result<PublishSummary> {
    crate::products::upload::publish(req, url, settings, crate::products::upload::stage_dir(url, stage))
}

/// A CF aggregation file over a series of files.
pub fn cfa(req: &CfaRequest) -> Result<CfaSummary> {
    crate::products::cfa::run(req)
}

/// How to check a product against its sources.
#[derive(Debug, Clone, Default)]
pub struct VerifyRequest {
    pub concat_dims: Vec<String>,
    pub dedupe: Dedupe,
    /// Blocks per variable to compare (0: every value).
    pub sample: usize,
    /// Processes to share the files between (None: every core).
    pub processes: Option<usize>,
    /// The variables the product was made from (--keep-vars/--drop-vars).
    pub select: crate::aggregate::select::Selection,
    /// The attribute edits it was made with (a project's updates/removals).
    pub edits: crate::aggregate::edit::AttrEdits,
}

/// Any product against its sources, value by value (the validate phase
/// without a working directory).
pub fn verify(product: &Path, files: &[PathBuf], req: &VerifyRequest, ctl: &Control) -> Result<Report> {
    let files: Vec<PathBuf> = files.iter().map(|f| std::path::absolute(f).unwrap_or_else(|_| f.clone())).collect();
    let processes = req.processes.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)).max(1);
    let opts = crate::validate::Options {
        concat_dims: req.concat_dims.clone(),
        sample: req.sample,
        dedupe: req.dedupe,
        processes,
        part: None,
        cancel: ctl.cancel.clone(),
        s3: None,
        select: req.select.clone(),
        edits: req.edits.clone(),
    };
    crate::validate::validate(product, &files, &opts)
}

/// One share (`part` of `parts`) of a validation split between processes.
pub fn validate_part(product: &Path, files: &[PathBuf], part: usize, parts: usize, req: &VerifyRequest, ctl: &Control) -> Result<Report> {
    let opts = crate::validate::Options {
        concat_dims: req.concat_dims.clone(),
        sample: req.sample,
        dedupe: req.dedupe,
        processes: 1,
        part: Some((part, parts.max(1))),
        cancel: ctl.cancel.clone(),
        s3: None,
        select: req.select.clone(),
        edits: req.edits.clone(),
    };
    crate::validate::validate(product, files, &opts)
}
