//! compute: the product of a project from all its files, with the concat
//! dimension(s) scan found: kerchunk references (`k<v>a.json` or
//! `k<v>a.parquet`, the default), a Zarr store (`-C zarr`: `zr<v>a.zarr`), and,
//! as padocc does unless `--CFA n`, the CF aggregation file `<proj>.nca`
//! beside it (the only product with `-C CFA`).
//!
//! An existing product is left alone (the phase is done) unless `-f` (redo it)
//! or `-n` (a new minor version beside it); padocc 1.5.1 aborts the whole group
//! on the first existing product.

use std::time::Instant;

use serde_json::{json, Value};

use super::{Done, Options};
use crate::aggregate::combine::{Dedupe, Options as CombineOptions};
use crate::error::{Error, Result};
use crate::model::AttrValue;
use crate::products::writer::{self, parquet::DEFAULT_RECORD_SIZE};
use crate::workdir::config::{BaseCfg, DetailCfg};
use crate::workdir::project::{format_size, Project};

/// Concat dims and dedupe rule recorded by scan (or given now).
/// The project's variable selection: base-cfg.json's `keep_vars` and `drop_vars`.
pub fn selection(base: &BaseCfg) -> crate::aggregate::select::Selection {
    crate::aggregate::select::Selection::from_config(&base.keep_vars, base.extra.get("drop_vars"))
}

pub fn combine_options(base: &BaseCfg, detail: &DetailCfg, opts: &Options) -> Result<CombineOptions> {
    let kw = detail.kwargs.get("combine_kwargs");
    let recorded: Vec<String> =
        kw.and_then(|k| k.get("concat_dims")).and_then(Value::as_array).map(|a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect()).unwrap_or_default();
    let dedupe = opts.dedupe.unwrap_or_else(|| match detail.kwargs.get("dedupe").and_then(Value::as_str) {
        Some("keep") => Dedupe::Keep,
        Some("first") => Dedupe::First,
        Some("last") => Dedupe::Last,
        _ => Dedupe::Error,
    });
    Ok(CombineOptions {
        concat_dims: if opts.concat_dims.is_empty() { recorded } else { opts.concat_dims.clone() },
        dedupe,
        layout_only: false,
        select: selection(base),
        edits: crate::aggregate::edit::AttrEdits::from_config(base.extra.get("update"), base.extra.get("remove"))?,
    })
}

fn bump_minor(v: &str) -> String {
    match v.split_once('.') {
        Some((a, b)) => format!("{a}.{}", b.parse::<u64>().map(|x| x + 1).unwrap_or(1)),
        None => format!("{v}.1"),
    }
}

/// base-cfg with `-C` applied: the product it names is the one compute makes.
fn base_for(p: &Project, opts: &Options) -> Result<BaseCfg> {
    let mut base = p.base()?;
    if let Some(cf) = &opts.cloud_format {
        base.cloud.cloud_type = cf.clone();
    }
    Ok(base)
}

/// Why compute would leave the project as it is, if it would: its product
/// exists and neither -f nor -n asks for another.
pub fn skip_reason(p: &Project, opts: &Options) -> Result<Option<String>> {
    let base = base_for(p, opts)?;
    let (_, product) = p.product(&base);
    if opts.force || opts.new_version {
        return Ok(None);
    }
    if base.cloud.cloud_type.eq_ignore_ascii_case("icechunk") {
        // A repository grows: it is done only while it holds every file.
        let Some(snapshot) = base.extra.get("icechunk").and_then(|i| i.get("snapshot")).and_then(Value::as_str) else { return Ok(None) };
        let committed = committed_files(&p.detail()?);
        let missing = p.allfiles()?.iter().filter(|f| !committed.contains(*f)).count();
        return Ok((missing == 0).then(|| format!("{} holds every file (snapshot {snapshot}; use -f to rebuild it)", p.product_location(&base))));
    }
    let remote = base.extra.get("remote_product").and_then(Value::as_str).filter(|u| *u == p.product_location(&base));
    if let Some(url) = remote {
        return Ok(Some(format!("{url} was published (use -f to redo it, -n for a new version)")));
    }
    Ok(product.exists().then(|| format!("{} exists (use -f to redo it, -n for a new version)", product.display())))
}

/// The files compute last made the product from (its recorded fingerprints).
fn committed_files(detail: &DetailCfg) -> std::collections::HashSet<std::path::PathBuf> {
    detail
        .extra
        .get("source_fingerprint")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|fp| fp.get(0).and_then(Value::as_str)).map(std::path::PathBuf::from).collect())
        .unwrap_or_default()
}

/// S3 settings of a project: the environment, then its `remote_s3`.
pub fn s3_settings(base: &BaseCfg) -> Result<crate::products::s3::S3Settings> {
    let env = crate::products::s3::S3Settings::from_env();
    match crate::workdir::project::remote_s3(base) {
        Some(r) => env.with_padocc(r),
        None => Ok(env),
    }
}

/// Whether the project's status says compute is done (it succeeded, or a
/// later phase has run).
pub fn recorded_done(p: &Project) -> Result<bool> {
    Ok(p.last_status()?.is_some_and(|r| {
        let rank = super::phase_rank(&r.phase);
        rank > super::phase_rank("compute") || (r.phase == "compute" && crate::workdir::status::Status::parse(&r.status).is_success())
    }))
}

pub fn run(p: &Project, opts: &Options) -> Result<Done> {
    if let Some(why) = skip_reason(p, opts)? {
        if recorded_done(p)? {
            return Ok(Done::skipped(why));
        }
        // A product no status speaks for: a run was killed after it published
        // the product (an atomic rename) and before it recorded the status.
        // Record it if it opens as a client would; make it again if not.
        let (_, product) = p.product(&base_for(p, opts)?);
        match crate::products::reader::Product::open(&product) {
            Ok(_) => {
                return Ok(Done {
                    status: "Success".into(),
                    message: Some(format!("{} was complete but its status was never recorded (a run killed in between): it opens, recorded now", product.display())),
                    skipped: false,
                })
            }
            Err(e) => {
                let redo = Options { force: true, ..opts.clone() };
                let mut done = run(p, &redo)?;
                done.message = Some(format!("remade {} (it did not open: {e}); {}", product.display(), done.message.unwrap_or_default()));
                return Ok(done);
            }
        }
    }
    let mut base = base_for(p, opts)?;
    let cloud = base.cloud.cloud_type.to_ascii_lowercase();
    let file_type = base.cloud.file_type.clone();
    if !matches!(cloud.as_str(), "kerchunk" | "zarr" | "cfa" | "icechunk") {
        return Err(Error::Usage(format!("unknown cloud format '{cloud}': use -C kerchunk, zarr, icechunk or CFA")));
    }
    let (_, mut product) = p.product(&base);
    if product.exists() && opts.new_version {
        let old = base.version_no.clone();
        let last = p.last_status()?.map(|r| r.status).unwrap_or_default();
        let mut hist = base.extra.get("internal_history").and_then(Value::as_array).cloned().unwrap_or_default();
        hist.push(json!(format!("{old}: {last} for padocc-rs")));
        base.extra.insert("internal_history".into(), Value::Array(hist));
        base.version_no = bump_minor(&old);
        product = p.product(&base).1;
    }
    opts.control.cancel.check()?;
    let files = p.allfiles()?;
    let mut detail = p.detail()?;
    let mut copts = combine_options(&base, &detail, opts)?;
    add_provenance(&mut copts, cloud != "icechunk");
    let t0 = Instant::now();
    let mut notes = Vec::new();

    // The CFA file first, as padocc does; in the reference and Zarr modes a
    // failure to make it does not stop the main product.
    if p.cfa_enabled(&base) || cloud == "cfa" {
        let cfa = p.cfa_path();
        // Kept only while it aggregates the same files (a grown project's
        // file list, e.g. an Icechunk append, needs a new one).
        // (No record, e.g. a padocc 1.5.1 workdir: kept, as before.)
        let committed = committed_files(&detail);
        let same_files = committed.is_empty() || committed == files.iter().cloned().collect();
        if cfa.exists() && !opts.force && cloud != "cfa" && same_files {
            notes.push(format!("{} kept", cfa.display()));
        } else {
            let req = crate::products::cfa::Request { files: files.clone(), out: cfa.clone(), combine: copts.clone(), control: opts.control.quiet() };
            match crate::products::cfa::run(&req) {
                Ok(s) => {
                    notes.push(format!("{} ({} aggregated, {} copied)", cfa.display(), s.aggregated, s.copied));
                    notes.extend(s.notes);
                    base.extra.insert("cfa_complete".into(), json!(true));
                    detail.extra.insert("CFA".into(), json!(true));
                }
                Err(e) if cloud != "cfa" && !matches!(e, Error::Interrupted) => {
                    // One made before (by an older padocc-rs, or for other
                    // files) no longer describes this project.
                    if std::fs::remove_file(&cfa).is_ok() {
                        notes.push(format!("removed the old {}", cfa.display()));
                    }
                    notes.push(format!("no CFA file: {e}"));
                    detail.extra.insert("CFA".into(), json!(false));
                }
                Err(e) => return Err(e),
            }
        }
    }
    opts.control.cancel.check()?;
    let what = match cloud.as_str() {
        "cfa" => format!("{}", product.display()),
        "zarr" => {
            let req = crate::products::zarr::Request {
                files: files.clone(),
                out: product.clone(),
                combine: CombineOptions { layout_only: true, ..copts.clone() },
                zarr_format: 3,
                chunks: vec![],
                chunk_target: 4 << 20,
                compression: crate::products::zarr::Compression::Blosc,
                level: crate::products::zarr::Compression::Blosc.default_level(),
                shards: vec![],
                mem_limit: opts.mem_allowed.unwrap_or(1_000_000_000),
                control: opts.control.quiet(),
            };
            match crate::products::s3::S3Url::parse(&p.product_location(&base)) {
                // padocc's remote_s3: built at the local path, then uploaded.
                Some(url) => {
                    let s = crate::products::upload::publish(&req, &url, &s3_settings(&base)?, product.clone())?;
                    base.extra.insert("remote_product".into(), json!(url.to_string().trim_end_matches('/')));
                    format!("{} objects in {url} ({} uploaded, {} already there)", s.upload.objects, s.upload.uploaded, s.upload.skipped)
                }
                None => {
                    let s = crate::products::zarr::run(&req)?;
                    format!("{} chunks in {}", s.chunks_written + s.chunks_resumed, product.display())
                }
            }
        }
        "icechunk" => {
            let location = p.product_location(&base);
            let committed = committed_files(&detail);
            // A repository of this version that holds some of the files grows by a commit.
            let append = !opts.force
                && base.extra.get("icechunk").is_some_and(|i| i.get("location").and_then(Value::as_str) == Some(location.as_str()))
                && !committed.is_empty()
                && committed.iter().all(|f| files.contains(f));
            let threshold = base.extra.get("inline_threshold").and_then(|v| v.as_u64()).unwrap_or(crate::products::inline::DEFAULT_INLINE_THRESHOLD);
            let req = crate::products::icechunk::Request {
                files: if append { files.iter().filter(|f| !committed.contains(*f)).cloned().collect() } else { files.clone() },
                out: location.clone(),
                combine: copts.clone(),
                append,
                message: None,
                s3: s3_settings(&base)?,
                inline_threshold: threshold,
                control: opts.control.quiet(),
            };
            let s = crate::products::icechunk::run(&req)?;
            base.extra.insert("icechunk".into(), json!({"location": location, "snapshot": s.snapshot, "message": s.message, "containers": s.containers}));
            detail.extra.insert("references".into(), json!(s.references));
            format!("snapshot {} of {location}: {} ({} references, {} written)", s.snapshot, s.message, s.references, s.written)
        }
        _ => {
            let mut vds = crate::aggregate::build(&files, &copts, &opts.control.quiet())?;
            opts.control.cancel.check()?;
            // `set_attr --attr inline_threshold --value N` changes it per project.
            let threshold = base.extra.get("inline_threshold").and_then(|v| v.as_u64()).unwrap_or(crate::products::inline::DEFAULT_INLINE_THRESHOLD);
            let inlined = crate::products::inline::consolidate(&mut vds, threshold)?;
            if inlined > 0 {
                detail.extra.insert("inlined_variables".into(), json!(inlined));
            }
            match file_type.as_str() {
                "parq" | "parquet" => writer::parquet::write(&vds, &product, DEFAULT_RECORD_SIZE)?,
                _ => writer::json::write(&vds, &product)?,
            }
            detail.extra.insert("references".into(), json!(vds.n_refs()));
            base.extra.insert("kerchunk_aggregation".into(), json!(true));
            format!("{} references in {}", vds.n_refs(), product.display())
        }
    };
    let secs = t0.elapsed().as_secs_f64();
    let size = dir_size(&product);
    detail.timings.insert("compute_actual".into(), json!(secs));
    detail.cloud_data = Some(format_size(size as f64));
    detail.virtual_concat = false;
    detail.extra.insert("source_fingerprint".into(), json!(files.iter().map(|f| fingerprint(f)).collect::<Vec<_>>()));
    p.save_detail(&detail)?;
    p.save_base(&base)?;
    let message = if notes.is_empty() { what } else { format!("{what}; CFA: {}", notes.join("; ")) };
    Ok(Done { status: "Success".into(), message: Some(message), skipped: false })
}

/// Provenance, as padocc adds it (validation knows these are not the
/// sources'). An Icechunk snapshot records its own time: a date there would
/// make every rerun a commit.
fn add_provenance(copts: &mut CombineOptions, dated: bool) {
    copts.edits.set.push((None, "aggregation".into(), AttrValue::Str("padocc".into())));
    if dated {
        copts.edits.set.push((None, "aggregation_date".into(), AttrValue::Str(crate::workdir::project::utc_time_iso())));
    }
}

/// Make a project's CFA file again from its sources, with its recorded
/// settings and edits (for an edit the file cannot take in place).
pub fn remake_cfa(p: &Project, control: &crate::control::Control) -> Result<crate::products::cfa::Summary> {
    let base = p.base()?;
    let detail = p.detail()?;
    let mut copts = combine_options(&base, &detail, &Options::default())?;
    add_provenance(&mut copts, true);
    let req = crate::products::cfa::Request { files: p.allfiles()?, out: p.cfa_path(), combine: copts, control: control.quiet() };
    crate::products::cfa::run(&req)
}

/// What identifies a source's content cheaply: path, size, mtime (ns).
pub fn fingerprint(f: &std::path::Path) -> Value {
    use std::os::unix::fs::MetadataExt;
    match std::fs::metadata(f) {
        Ok(m) => json!([f, m.len(), m.mtime() as i128 * 1_000_000_000 + m.mtime_nsec() as i128]),
        Err(_) => json!([f, null, null]),
    }
}

fn dir_size(p: &std::path::Path) -> u64 {
    if p.is_file() {
        return p.metadata().map(|m| m.len()).unwrap_or(0);
    }
    std::fs::read_dir(p).map(|rd| rd.filter_map(|e| e.ok()).map(|e| dir_size(&e.path())).sum()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn minor_versions() {
        assert_eq!(super::bump_minor("1.0"), "1.1");
        assert_eq!(super::bump_minor("1.9"), "1.10");
    }
}
