//! complete: copy a validated product to `--completion_dir` under padocc's
//! names (`data/<proj>_<k><rev>.json`, `data/<proj>_zr<rev>.zarr`,
//! `data/<proj>_c<rev>.nca`, `reports/<proj>_<rev>_report.json`).
//!
//! A project whose validation did not pass is refused unless `-f`; paths inside
//! the product are rewritten only when `--sub` and `--replace` are given
//! (padocc 1.5.1 always rewrites them to https://dap.ceda.ac.uk/).

use std::io::{BufRead, Write};
use std::path::Path;

use serde_json::{Map, Value};

use super::{Done, Options};
use crate::error::{Error, Result};
use crate::fsutil;
use crate::workdir::project::Project;

/// Why complete would leave the project as it is, if it would: it is
/// complete already and -f does not ask again.
pub fn skip_reason(p: &Project, opts: &Options) -> Result<Option<String>> {
    let done = p.status_rows()?.last().is_some_and(|r| r.phase == "complete" && r.status == "Success");
    Ok((done && !opts.force).then(|| "already complete (use -f to complete it again)".to_string()))
}

pub fn run(p: &Project, opts: &Options) -> Result<Done> {
    let dir = opts.completion_dir.as_ref().ok_or_else(|| Error::Usage("complete needs --completion_dir DIR".into()))?;
    if let Some(why) = skip_reason(p, opts)? {
        return Ok(Done::skipped(why));
    }
    let rows = p.status_rows()?;
    if !opts.force {
        match rows.iter().rev().find(|r| r.phase == "validate") {
            None => return Err(Error::Usage(format!("project '{}' has not been validated: run validate first (or complete -f)", p.code))),
            Some(r) if !(r.status.contains("Success") || r.status.contains("Warn")) => {
                return Err(Error::Usage(format!("project '{}' failed validation ({}): fix it, or complete -f to publish anyway", p.code, r.status)))
            }
            _ => {}
        }
    }
    let base = p.base()?;
    let (stem, product) = p.product(&base);
    let location = p.product_location(&base);
    let published = crate::products::s3::is_remote(&location);
    if !published && !product.exists() {
        return Err(Error::Usage(format!("no product at {}: run compute first", product.display())));
    }
    let version = base.version_no.as_str();
    let remote = opts.sub.is_some() && opts.replace.is_some();
    let id = stem.chars().next().unwrap_or('k');
    let sep = if opts.version_separator.is_empty() { "_" } else { &opts.version_separator };
    // padocc counts a Zarr store as remote always (`zr1.0`).
    let name = format!("{}{sep}{id}{}{version}", p.code, if remote || id == 'z' { "r" } else { "" });
    let data = dir.join("data");
    let reports = dir.join("reports");
    for d in [&data, &reports] {
        std::fs::create_dir_all(d).map_err(|e| Error::output(d, e))?;
    }
    let ext = product.extension().and_then(|e| e.to_str()).unwrap_or("json");
    let dest = data.join(format!("{name}.{ext}"));
    if published {
        // In an object store already: the completion records where it is.
        let dest = data.join(format!("{name}.{ext}.url"));
        fsutil::write_file_atomic(&dest, |w| writeln!(w, "{location}").map_err(|e| Error::output(&dest, e)))?;
    } else if ext == "nca" {
        let sub = if remote { Some((opts.sub.as_deref().unwrap_or(""), opts.replace.as_deref().unwrap_or(""))) } else { None };
        publish(&dest, &base, |tmp| crate::products::cfa::export(&product, tmp, sub))?;
    } else if ext == "zarr" || ext == "icechunk" {
        // A Zarr store holds the data itself: there are no paths to rewrite.
        // An Icechunk repository's references are absolute `file://` URLs
        // (and it takes no history: an edit there is a commit).
        if ext == "zarr" {
            publish(&dest, &base, |tmp| copy_dir_new(&product, tmp))?;
        } else {
            fsutil::write_dir_atomic(&dest, |tmp| copy_dir(&product, tmp))?;
        }
    } else if product.is_dir() {
        match (remote, opts.sub.as_deref(), opts.replace.as_deref()) {
            (true, Some(from), Some(to)) => publish(&dest, &base, |tmp| crate::products::writer::parquet::copy_rewriting(&product, tmp, from, to))?,
            _ => publish(&dest, &base, |tmp| copy_dir_new(&product, tmp))?,
        }
    } else {
        let (sub, rep) = (opts.sub.as_deref().unwrap_or(""), opts.replace.as_deref().unwrap_or(""));
        publish(&dest, &base, |tmp| copy_rewriting(&product, tmp, if remote { Some((sub, rep)) } else { None }))?;
    }
    let mut exported = vec![if published { location.clone() } else { dest.display().to_string() }];
    let cfa = p.cfa_path();
    if cfa.exists() && cfa != product && p.cfa_enabled(&base) {
        let cdest = data.join(format!("{}{sep}c{}{version}.nca", p.code, if remote { "r" } else { "" }));
        let sub = if remote { Some((opts.sub.as_deref().unwrap_or(""), opts.replace.as_deref().unwrap_or(""))) } else { None };
        publish(&cdest, &base, |tmp| crate::products::cfa::export(&cfa, tmp, sub))?;
        exported.push(cdest.display().to_string());
    }
    let mut report = Map::new();
    for (k, f) in [("metadata", "metadata_report.json"), ("data", "data_report.json")] {
        if let Ok(t) = std::fs::read_to_string(p.path(f)) {
            report.insert(k.into(), serde_json::from_str(&t).map_err(|e| Error::corrupt(&p.path(f), e.to_string()))?);
        }
    }
    let rpath = reports.join(format!("{}_{version}_report.json", p.code));
    let text = serde_json::to_string_pretty(&Value::Object(report)).expect("JSON");
    fsutil::write_file_atomic(&rpath, |w| w.write_all(text.as_bytes()).map_err(|e| Error::output(&rpath, e)))?;
    Ok(Done { status: "Success".into(), message: Some(exported.join(", ")), skipped: false })
}

/// Make a published product at a temporary name beside `dest` (its
/// extension kept, so its kind is known), add padocc's history to it, then
/// put it in place: no reader sees a copy without its history.
fn publish(dest: &Path, base: &crate::workdir::config::BaseCfg, make: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dest.with_file_name(format!(".publishing.{}.{name}", std::process::id()));
    let clear = |p: &Path| {
        let _ = std::fs::remove_dir_all(p).or_else(|_| std::fs::remove_file(p));
    };
    clear(&tmp);
    let result = make(&tmp).and_then(|_| add_history(&tmp, base)).and_then(|_| {
        if tmp.is_dir() {
            fsutil::replace_dir(&tmp, dest)
        } else {
            std::fs::rename(&tmp, dest).map_err(|e| Error::output(dest, e))?;
            fsutil::sync_dir(dest.parent().unwrap_or(Path::new(".")));
            Ok(())
        }
    });
    if result.is_err() {
        clear(&tmp);
    }
    result
}

/// A copy of directory `src` as the new directory `dst`.
fn copy_dir_new(src: &Path, dst: &Path) -> Result<()> {
    std::fs::create_dir(dst).map_err(|e| Error::output(dst, e))?;
    copy_dir(src, dst)
}

/// padocc's `history` on completion: the product's own lines, then the
/// project's `internal_history` (one line per earlier version, from compute
/// -n). Nothing to add, nothing written.
fn add_history(published: &Path, base: &crate::workdir::config::BaseCfg) -> Result<()> {
    let added: Vec<&str> = base.extra.get("internal_history").and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    if added.is_empty() {
        return Ok(());
    }
    let mut lines: Vec<String> = match crate::products::meta::read_global(published)?.get("history") {
        Some(Value::String(s)) => s.split('\n').map(String::from).collect(),
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(String::from).collect(),
        _ => Vec::new(),
    };
    lines.retain(|l| !l.is_empty());
    lines.extend(added.iter().map(|s| s.to_string()));
    let edits = crate::aggregate::edit::AttrEdits { set: vec![(None, "history".into(), crate::model::AttrValue::Str(lines.join("\n")))], remove: vec![] };
    crate::products::meta::edit(published, &edits).map(|_| ())
}

/// Copy a JSON product line by line, rewriting reference paths that start with
/// `sub` (a reference is `["<path>", offset, size]`).
fn copy_rewriting(src: &Path, dest: &Path, sub: Option<(&str, &str)>) -> Result<()> {
    let quote = |s: &str| serde_json::to_string(s).expect("JSON string");
    let pat = sub.map(|(s, r)| {
        let (qs, qr) = (quote(s), quote(r));
        (format!("[{}", &qs[..qs.len() - 1]), format!("[{}", &qr[..qr.len() - 1]))
    });
    let f = std::fs::File::open(src).map_err(|e| Error::input_io(src, e))?;
    let reader = std::io::BufReader::new(f);
    fsutil::write_file_atomic(dest, |w| {
        for line in reader.split(b'\n') {
            let line = line.map_err(|e| Error::input_io(src, e))?;
            let out = match &pat {
                Some((from, to)) => String::from_utf8_lossy(&line).replace(from.as_str(), to),
                None => String::from_utf8_lossy(&line).into_owned(),
            };
            w.write_all(out.as_bytes()).and_then(|_| w.write_all(b"\n")).map_err(|e| Error::output(dest, e))?;
        }
        Ok(())
    })
}

fn copy_dir(src: &Path, dst: &Path) -> Result<()> {
    for e in std::fs::read_dir(src).map_err(|e| Error::input_io(src, e))? {
        let e = e.map_err(|e| Error::input_io(src, e))?;
        let to = dst.join(e.file_name());
        if e.path().is_dir() {
            std::fs::create_dir_all(&to).map_err(|x| Error::output(&to, x))?;
            copy_dir(&e.path(), &to)?;
        } else {
            std::fs::copy(e.path(), &to).map_err(|x| Error::output(&to, x))?;
        }
    }
    Ok(())
}
