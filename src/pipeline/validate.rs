//! validate: every value of every variable of the product (and of the CFA
//! file beside it) against the sources
//! (or `--sample N` blocks per variable), plus the metadata; padocc's reports
//! and status (`Success`, `Warn-...`, `Fatal-...`).

use std::io::Write;

use serde_json::{json, Value};

use super::{Done, Options};
use crate::error::{Error, Result};
use crate::fsutil;
use crate::validate::{self, Options as ValidateOptions};
use crate::workdir::project::{local_time, Project};

pub fn run(p: &Project, opts: &Options) -> Result<Done> {
    let mut base = p.base()?;
    let location = p.product_location(&base);
    let product = std::path::PathBuf::from(&location);
    if !crate::products::s3::is_remote(&location) && !product.exists() {
        return Err(Error::Usage(format!("no product to validate at {}: run compute first", product.display())));
    }
    opts.control.cancel.check()?;
    let files = p.allfiles()?;
    let detail = p.detail()?;
    let copts = super::compute::combine_options(&base, &detail, opts)?;
    let vopts = ValidateOptions {
        concat_dims: copts.concat_dims.clone(),
        sample: opts.sample,
        dedupe: copts.dedupe,
        processes: opts.processes,
        part: None,
        cancel: opts.control.cancel.clone(),
        // The project's remote_s3 settings reach its published product.
        s3: Some(super::compute::s3_settings(&base)?),
        select: copts.select.clone(),
        edits: copts.edits.clone(),
    };
    let mut rep = validate::validate(&product, &files, &vopts)?;
    // References read a source's bytes as they are now: a source rewritten since
    // compute reads "equal" through them, so compare what compute saw.
    if let Some(fps) = detail.extra.get("source_fingerprint").and_then(Value::as_array) {
        for fp in fps {
            let Some(path) = fp.get(0).and_then(Value::as_str) else { continue };
            let now = super::compute::fingerprint(std::path::Path::new(path));
            if &now != fp {
                rep.source_changed(std::path::Path::new(path), format!("size/mtime then {} {}, now {} {}", fp[1], fp[2], now[1], now[2]));
            }
        }
    }
    // The CFA file made beside the product is published too: check it the same way.
    let cfa = p.cfa_path();
    let mut cfa_problem = None;
    if cfa.exists() && cfa != product && p.cfa_enabled(&base) {
        opts.control.cancel.check()?;
        let crep = validate::validate(&cfa, &files, &vopts)?;
        let mut counted = crep.clone();
        if let Some(b) = &opts.bypass {
            counted.bypass(b);
        }
        let cstatus = counted.status();
        if cstatus != "Success" {
            cfa_problem = Some((cstatus, counted.first_problem().unwrap_or_default()));
            if !crep.data.is_empty() {
                rep.data.insert("cfa".into(), Value::Object(crep.data));
            }
            if !crep.metadata.is_empty() {
                rep.metadata.insert("cfa".into(), Value::Object(crep.metadata));
            }
        }
    }
    for (name, section) in [("data_report.json", &rep.data), ("metadata_report.json", &rep.metadata)] {
        let path = p.path(name);
        if section.is_empty() {
            let _ = std::fs::remove_file(&path);
        } else {
            let text = serde_json::to_string_pretty(section).expect("JSON");
            fsutil::write_file_atomic(&path, |w| w.write_all(text.as_bytes()).map_err(|e| Error::output(&path, e)))?;
        }
    }
    base.last_run = json!(["validate", local_time(true)]);
    p.save_base(&base)?;
    // The reports above keep everything; the status counts what is not bypassed.
    if let Some(b) = &opts.bypass {
        rep.bypass(b);
    }
    let mut status = rep.status();
    let sampled = if opts.sample > 0 { format!(" (sample of {} blocks per variable)", opts.sample) } else { String::new() };
    let mut message = match rep.first_problem() {
        Some(m) => m,
        None => format!("{}{sampled}", rep.summary()),
    };
    if let Some((cstatus, why)) = cfa_problem {
        if status == "Success" || (status.starts_with("Warn") && cstatus.starts_with("Fatal")) {
            status = cstatus;
            message = format!("CFA file {}: {why}", cfa.display());
        }
    }
    Ok(Done { status, message: Some(message), skipped: false })
}
