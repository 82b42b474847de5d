//! Validation of a product (references, Zarr store or CFA file) against its
//! sources, value by value.
//!
//! The product is read as a client reads it (`product.rs`: references, byte
//! ranges, codecs; zarrs; CFA fragments); the sources are read independently through netCDF-C. The
//! placement of each file in the aggregation is recomputed from the file order
//! (nested) or the coordinate values (tiles), not taken from the product, so a
//! swapped file, a shifted offset or a changed source shows up as a difference
//! naming the variable.
//!
//! Reports follow padocc 1.5.1's `data_report.json` / `metadata_report.json`
//! layout; the status is `Success`, `Warn-<key>` or `Fatal-<key>` with padocc's
//! priority order.

use std::ffi::c_int;
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use crate::aggregate::cftime::{self, Calendar};
use crate::error::{Error, Result};
use crate::model::dtype_itemsize;
use crate::products::reader::{FileCache, Product, ProductVar};
use crate::source::ncapi::{self, NcFile};

mod split;

/// Bytes of source data compared at once per variable.
const BLOCK_BYTES: u64 = 64 << 20;

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Concat dims of the aggregation (empty: a single file or guessed).
    pub concat_dims: Vec<String>,
    /// Compare only this many blocks per variable (first, last and spread); 0 = all.
    pub sample: usize,
    /// How repeated values along a single concat dim were resolved.
    pub dedupe: crate::aggregate::combine::Dedupe,
    /// Processes to share the work between (0 or 1: this one only); see
    /// [`validate`].
    pub processes: usize,
    /// This process's share: (index, count): the files `f % count == index`.
    pub part: Option<(usize, usize)>,
    /// Stops the comparison at the next block.
    pub cancel: crate::control::Cancel,
    /// How to reach a product in an object store (None: the AWS_* environment).
    pub s3: Option<crate::products::s3::S3Settings>,
    /// The variables the product was made from (keep_vars/drop_vars): the
    /// others are not expected in it.
    pub select: crate::aggregate::select::Selection,
    /// The attribute edits the product was made with: applied to the
    /// sources' attributes before they are compared.
    pub edits: crate::aggregate::edit::AttrEdits,
}

impl Options {
    fn s3_settings(&self) -> crate::products::s3::S3Settings {
        self.s3.clone().unwrap_or_else(crate::products::s3::S3Settings::from_env)
    }
}

/// Below this much source data one process validates alone: starting others
/// and reading every file's header in each costs more than it saves.
const MIN_BYTES_TO_SPLIT: u64 = 256 << 20;

#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Report {
    pub metadata: Map<String, Value>,
    pub data: Map<String, Value>,
    /// Values compared, for the summary.
    pub values_compared: u64,
    /// Values of a CF aggregation file whose fragment is the source file
    /// itself, at the same place (see [`same_file`]): not read twice.
    pub values_by_identity: u64,
}

impl Report {
    fn add(section: &mut Map<String, Value>, path: &[&str], value: Value) {
        let mut cur = section;
        for (i, k) in path.iter().enumerate() {
            if i + 1 == path.len() {
                cur.insert(k.to_string(), value);
                return;
            }
            cur = cur.entry(k.to_string()).or_insert_with(|| json!({})).as_object_mut().expect("object");
        }
    }
    fn data_err(&mut self, key: &str, var: &str, value: Value) {
        Self::add(&mut self.data, &["variables", key, var], value);
    }
    fn meta_err(&mut self, section: &str, parent: &str, name: &str, value: Value) {
        Self::add(&mut self.metadata, &[section, parent, name], value);
    }

    /// padocc's classification order (first match wins), except that a
    /// difference of dtype or attributes is Fatal: padocc only warns, because it
    /// adds attributes itself; padocc-rs adds none, so any difference is a defect.
    pub fn status(&self) -> String {
        let vars = self.data.get("variables").and_then(Value::as_object);
        let dims = self.data.get("dimensions").and_then(Value::as_object);
        if self.data.contains_key("source_changed") {
            return "Fatal-source_changed".into();
        }
        for key in ["size_errors", "dim_size_errors", "data_errors", "dim_errors", "dtype_errors"] {
            if vars.is_some_and(|v| v.contains_key(key)) || dims.is_some_and(|d| d.contains_key(key)) {
                return format!("Fatal-{key}");
            }
        }
        if let Some(dv) = self.metadata.get("data_vars").and_then(Value::as_object) {
            if let Some((name, _)) = dv.iter().next() {
                return format!("Fatal-{name}_missing");
            }
        }
        if let Some(g) = self.metadata.get("groups").and_then(Value::as_object) {
            if let Some((name, _)) = g.iter().next() {
                return format!("Fatal-group_{name}_missing");
            }
        }
        // A dropped or changed attribute is Fatal; one the product adds is a Warn.
        let attrs = self.metadata.get("attributes").and_then(Value::as_object);
        let mut added = None;
        for (parent, a) in attrs.into_iter().flatten() {
            for (name, v) in a.as_object().into_iter().flatten() {
                let t = v.get("type").and_then(Value::as_str).unwrap_or("not_equal");
                if v.get("info").and_then(Value::as_str) == Some("missing from source") {
                    added.get_or_insert(format!("Warn-{parent}_{name}_added"));
                } else {
                    return format!("Fatal-{}_{name}_{t}", parent.trim_end_matches('/'));
                }
            }
        }
        if let Some(w) = added {
            return w;
        }
        for key in ["growbox", "bypassed"] {
            if vars.is_some_and(|v| v.contains_key(key)) {
                return format!("Warn-{key}");
            }
        }
        "Success".into()
    }

    /// What was compared, in words.
    pub fn summary(&self) -> String {
        let mut s = format!("{} values compared", self.values_compared);
        if self.values_by_identity > 0 {
            s += &format!(", {} placed in fragments that are the source files themselves", self.values_by_identity);
        }
        s
    }

    /// The first problem in words, for logs and the status line.
    pub fn first_problem(&self) -> Option<String> {
        if let Some(Value::Object(m)) = self.data.get("source_changed") {
            if let Some((f, d)) = m.iter().next() {
                return Some(format!("source {f} changed since compute ({d}): recompute with -f"));
            }
        }
        if let Some(vars) = self.data.get("variables").and_then(Value::as_object) {
            for (key, v) in vars {
                if let Some((var, detail)) = v.as_object().and_then(|m| m.iter().next()) {
                    return Some(format!("{key} in variable '{var}': {detail}"));
                }
            }
        }
        if let Some(dv) = self.metadata.get("data_vars").and_then(Value::as_object) {
            if let Some((name, d)) = dv.iter().next() {
                return Some(format!("variable '{name}': {d}"));
            }
        }
        if let Some(g) = self.metadata.get("groups").and_then(Value::as_object) {
            if let Some((name, d)) = g.iter().next() {
                return Some(format!("group '{name}': {d}"));
            }
        }
        if let Some(attrs) = self.metadata.get("attributes").and_then(Value::as_object) {
            for (parent, a) in attrs {
                if let Some((name, v)) = a.as_object().and_then(|a| a.iter().next()) {
                    let what = match parent.strip_suffix('/') {
                        _ if parent == "global" => "global attribute".to_string(),
                        Some(group) => format!("attribute of group '{group}':"),
                        None => format!("attribute of variable '{parent}':"),
                    };
                    return Some(format!("{what} '{name}': {v}"));
                }
            }
        }
        None
    }

    /// Add another process's share of `files`: its counts, and its data
    /// problems where this report has none of the same kind and variable, or a
    /// later file's (one process stops a variable at its first difference in
    /// file order, and the merged report says what it would). The metadata is
    /// the same in every share.
    fn merge(&mut self, other: Report, files: &[PathBuf]) {
        fn deep(into: &mut Map<String, Value>, from: Map<String, Value>, earlier: &dyn Fn(&Value, &Value) -> bool) {
            for (k, v) in from {
                match (into.get_mut(&k), v) {
                    (Some(Value::Object(a)), Value::Object(b)) if !b.contains_key("file") => deep(a, b, earlier),
                    (Some(mine), theirs) => {
                        if earlier(&theirs, mine) {
                            *mine = theirs;
                        }
                    }
                    (None, v) => {
                        into.insert(k, v);
                    }
                }
            }
        }
        let rank = |v: &Value| v.get("file").and_then(Value::as_str).and_then(|f| files.iter().position(|p| *p.as_os_str() == *f)).unwrap_or(usize::MAX);
        deep(&mut self.data, other.data, &|a, b| rank(a) < rank(b));
        self.values_compared += other.values_compared;
        self.values_by_identity += other.values_by_identity;
    }

    /// Drop what padocc's bypass file (`validate -i`) lists, so it no longer
    /// counts towards the status (spec §4.4.6). The file mirrors the reports:
    /// a metadata finding (`section/parent/name`, or `section/name` for
    /// padocc's `dims`) is dropped when the file gives the same `type` for it,
    /// or `skip_all: true` for its parent; a data finding
    /// (`section/key/variable`, e.g. `variables/growbox/rain`) when the file
    /// names it. Nothing else is dropped: an empty object drops nothing.
    pub fn bypass(&mut self, bypass: &Value) {
        fn obj(v: Option<&Value>) -> impl Iterator<Item = (&String, &Value)> {
            v.and_then(Value::as_object).into_iter().flatten()
        }
        let same_type = |finding: Option<&Value>, spec: &Value| {
            spec.get("type").and_then(Value::as_str).is_some_and(|t| finding.and_then(|f| f.get("type")).and_then(Value::as_str) == Some(t))
        };
        for (section, parents) in obj(bypass.get("metadata")) {
            let Some(Value::Object(report)) = self.metadata.get_mut(section) else { continue };
            for (parent, names) in obj(Some(parents)) {
                if names.get("skip_all").and_then(Value::as_bool) == Some(true) || same_type(report.get(parent), names) {
                    report.remove(parent);
                    continue;
                }
                let Some(Value::Object(found)) = report.get_mut(parent) else { continue };
                for (name, spec) in obj(Some(names)) {
                    if same_type(found.get(name), spec) {
                        found.remove(name);
                    }
                }
                if found.is_empty() {
                    report.remove(parent);
                }
            }
            if report.is_empty() {
                self.metadata.remove(section);
            }
        }
        for (section, keys) in obj(bypass.get("data")) {
            let Some(Value::Object(report)) = self.data.get_mut(section) else { continue };
            for (key, vars) in obj(Some(keys)) {
                let Some(Value::Object(found)) = report.get_mut(key) else { continue };
                for (var, _) in obj(Some(vars)) {
                    found.remove(var);
                }
                if found.is_empty() {
                    report.remove(key);
                }
            }
            if report.is_empty() {
                self.data.remove(section);
            }
        }
    }

    /// Record that a source no longer matches what compute saw.
    pub fn source_changed(&mut self, file: &Path, detail: String) {
        Self::add(&mut self.data, &["source_changed", &file.display().to_string()], json!(detail));
    }
}

/// A source file, opened when first needed. With many files (10 000 small
/// ones), each is closed again after use: netCDF-C keeps per-file state, and
/// holding every file open came to gigabytes.
struct Source {
    path: PathBuf,
    nc: std::cell::RefCell<Option<NcFile>>,
    keep_open: bool,
}

/// Up to this many sources stay open for the whole validation.
const KEEP_OPEN: usize = 64;

impl Source {
    fn ncid(&self) -> Result<c_int> {
        let mut nc = self.nc.borrow_mut();
        if nc.is_none() {
            *nc = Some(NcFile::open(&self.path).map_err(|e| Error::source(&self.path, e))?);
        }
        Ok(nc.as_ref().map(|n| n.ncid).expect("opened"))
    }

    /// Done with this file for now (kept open when there are few files).
    fn release(&self) {
        if !self.keep_open {
            self.nc.borrow_mut().take();
        }
    }
}

struct SourceVar {
    /// The variable's group ("" for the root, "a/b" below it).
    group: String,
    varid: c_int,
    dims: Vec<String>,
    shape: Vec<u64>,
    xtype: c_int,
    size: usize,
    attrs: Vec<(String, crate::model::AttrValue)>,
}

impl SourceVar {
    /// The netCDF id of the variable's group, looked up on each use: a source
    /// closed and opened again has new ids.
    fn ncid(&self, s: &Source) -> Result<c_int> {
        ncapi::group_at(s.ncid()?, &self.group).map_err(|e| Error::corrupt(&s.path, e))
    }
}

/// The variable at `path` ("v" or "group/v") of a source, if it has one.
fn source_var(s: &Source, path: &str) -> Result<Option<SourceVar>> {
    let Ok((gid, varid)) = ncapi::locate_var(s.ncid()?, path) else { return Ok(None) };
    let group = path.rsplit_once('/').map_or("", |g| g.0);
    let bad = |e: String| Error::corrupt(&s.path, format!("variable '{path}': {e}"));
    let info = ncapi::var_info(gid, varid).map_err(bad)?;
    let mut dims = Vec::new();
    let mut shape = Vec::new();
    for d in &info.dimids {
        let (n, l) = ncapi::dim(gid, *d).map_err(bad)?;
        dims.push(n);
        shape.push(l);
    }
    let (_, _, size) = ncapi::type_info(gid, info.xtype).map_err(bad)?;
    let attrs = ncapi::attributes(gid, varid).map_err(bad)?;
    Ok(Some(SourceVar { group: group.to_string(), varid, dims, shape, xtype: info.xtype, size, attrs }))
}

/// Sources are opened by path, not mapped: validation reads every byte, and
/// mapped pages would count as the process's memory (6.6 GB for 100 CMIP
/// files), against a batch job's memory limit.
fn open_source(path: &Path, keep_open: bool) -> Result<Source> {
    let s = Source { path: path.to_path_buf(), nc: std::cell::RefCell::new(None), keep_open };
    s.ncid()?;
    s.release();
    Ok(s)
}

/// Compare `product` with `files` (in aggregation order).
///
/// With `opts.processes` > 1 and enough data, the files are shared between
/// that many processes (this one and `padocc validate-part` children), each
/// with its own netCDF-C: netCDF-C is not thread-safe, so in one process the
/// sources decode on one core whatever the machine has.
pub fn validate(product_path: &Path, files: &[PathBuf], opts: &Options) -> Result<Report> {
    if files.is_empty() {
        return Err(Error::Usage(format!("{}: no source files to compare it with", product_path.display())));
    }
    let text = product_path.to_string_lossy();
    if let (Some(url), false) = (crate::products::s3::S3Url::parse(&text), crate::products::icechunk::is_icechunk(&text)) {
        // A store in an object store is read back whole, then checked as a local one.
        let tmp = std::env::temp_dir().join(format!("padocc-verify-{}-{}", std::process::id(), url.prefix.replace('/', "_")));
        let _ = std::fs::remove_dir_all(&tmp);
        let got = crate::products::upload::download(&url, &opts.s3_settings(), &tmp).and_then(|_| validate(&tmp, files, opts));
        let _ = std::fs::remove_dir_all(&tmp);
        return got;
    }
    let procs = opts.processes.min(files.len());
    if procs <= 1 || opts.part.is_some() {
        return validate_share(product_path, files, opts);
    }
    // A sample reads little: starting processes that each read every file's
    // header would cost more than it saves. So does a small project.
    let bytes: u64 = files.iter().filter_map(|f| std::fs::metadata(f).ok()).map(|m| m.len()).sum();
    // PADOCC_SPLIT_MIN_BYTES: tests split small data too.
    let min = std::env::var("PADOCC_SPLIT_MIN_BYTES").ok().and_then(|v| v.parse().ok()).unwrap_or(MIN_BYTES_TO_SPLIT);
    if bytes < min || opts.sample > 0 {
        return validate_share(product_path, files, &Options { processes: 1, ..opts.clone() });
    }
    split::validate_split(product_path, files, opts, procs)
}

/// Validate this process's share of the files (all of them without `part`).
fn validate_share(product_path: &Path, files: &[PathBuf], opts: &Options) -> Result<Report> {
    let product = Product::open_with(product_path, &opts.s3_settings())?;
    crate::source::filters::register();
    // Every chunk is read once, in order: a chunk cache only holds memory, and
    // netCDF-C's default (64 MiB per variable of every open file) came to 6.4 GB
    // for 100 CMIP files. (Each netCDF-C call below takes the global lock
    // itself, so product chunks decode on another core meanwhile.)
    {
        let _lock = hdf5_sys::LOCK.lock();
        // SAFETY: sets netCDF-C's default for files opened from now on.
        unsafe { netcdf_sys::nc_set_chunk_cache(1 << 20, 1009, 0.75) };
    }
    let keep = files.len() <= KEEP_OPEN;
    let sources = files.iter().enumerate().map(|(i, f)| open_source(f, keep || i == 0)).collect::<Result<Vec<_>>>()?;
    let mut rep = Report::default();
    // Checks of whole variables (strings, monotonic order) are share 0's.
    let share0 = opts.part.is_none_or(|(i, _)| i == 0);
    let first = &sources[0];
    let gattrs = ncapi::attributes(first.ncid()?, netcdf_sys::NC_GLOBAL).map_err(|e| Error::corrupt(&first.path, e))?;
    let mut pattrs = product.attrs.clone();
    if product.is_cfa() && !gattrs.iter().any(|(k, _)| k == "Conventions") {
        // cfapyx cannot open an aggregation file without it; padocc adds it.
        pattrs.remove("Conventions");
    }
    let src_var_exists = |v: &str| first.ncid().is_ok_and(|id| ncapi::locate_var(id, v).is_ok());
    let gattrs = {
        let mut a = crate::model::Attrs(gattrs);
        opts.edits.apply_to(&mut a, None, src_var_exists);
        a.0
    };
    compare_attrs(&mut rep, "global", &gattrs, &pattrs);

    // Every group's attributes and variables, not just the root's.
    for (path, gid) in ncapi::group_paths(first.ncid()?).map_err(|e| Error::corrupt(&first.path, e))? {
        let gattrs = ncapi::attributes(gid, netcdf_sys::NC_GLOBAL).map_err(|e| Error::corrupt(&first.path, e))?;
        match product.groups.iter().find(|(p, _)| *p == path) {
            Some((_, pattrs)) => compare_attrs(&mut rep, &format!("{path}/"), &gattrs, pattrs),
            None => rep.meta_err("groups", &path, "type", json!("missing from product")),
        }
    }
    let mut src_names = ncapi::var_paths(first.ncid()?).map_err(|e| Error::corrupt(&first.path, e))?;
    if !opts.select.is_all() {
        let mut with_dims = Vec::new();
        for n in &src_names {
            with_dims.push((n.clone(), source_var(first, n)?.map(|v| v.dims).unwrap_or_default()));
        }
        let kept = opts.select.kept(with_dims.iter().map(|(n, d)| (n.as_str(), d.as_slice())));
        src_names.retain(|n| kept.contains(n));
    }
    for n in &src_names {
        if product.var(n).is_none() {
            rep.meta_err("data_vars", n, "type", json!("missing from product"));
        }
    }

    let concat = if opts.concat_dims.is_empty() && sources.len() > 1 { vec![guess_concat(first)?] } else { opts.concat_dims.clone() };
    let mut placement = Placement::compute(&sources, &concat)?;
    if concat.len() == 1 && matches!(opts.dedupe, crate::aggregate::combine::Dedupe::First | crate::aggregate::combine::Dedupe::Last) {
        placement.rows = dedupe_rows(&sources, &concat[0], opts.dedupe)?;
    }
    let mut cache = FileCache::default();
    for pv in &product.vars {
        opts.cancel.check()?;
        let Some(sv0) = source_var(first, &pv.name)? else {
            rep.meta_err("data_vars", &pv.name, "type", json!("not in the first source file"));
            continue;
        };
        let mut attrs = crate::model::Attrs(sv0.attrs.iter().filter(|(k, _)| k != "_FillValue").cloned().collect());
        opts.edits.apply_to(&mut attrs, Some(pv.name.rsplit('/').next().unwrap_or(&pv.name)), src_var_exists);
        compare_attrs(&mut rep, &pv.name, &attrs.0, &pv.attrs);
        if pv.dims != sv0.dims {
            rep.data_err("dim_errors", &pv.name, json!({"product": pv.dims, "source": sv0.dims}));
            continue;
        }
        let axes: Vec<(usize, usize)> = pv.dims.iter().enumerate().filter_map(|(i, d)| concat.iter().position(|c| c == d).map(|t| (i, t))).collect();
        let mut expected = sv0.shape.clone();
        for &(ax, t) in &axes {
            expected[ax] = match (&placement.rows, t) {
                (Some(rows), 0) => rows.len() as u64,
                _ => placement.total[t],
            };
        }
        if pv.shape != expected {
            rep.data_err("size_errors", &pv.name, json!({"product": pv.shape, "source": expected}));
            continue;
        }
        if pv.dtype == "|O" || sv0.xtype == netcdf_sys::NC_STRING {
            if share0 {
                compare_strings(&mut rep, &product, pv, first, &sv0, &mut cache)?;
            }
            continue;
        }
        let kind = pv.dtype.as_bytes().get(1).map(|b| *b as char);
        let recoded_time = is_time(&pv.attrs) && axes.iter().any(|a| a.0 == 0);
        if (dtype_itemsize(&pv.dtype) as usize != sv0.size || kind != nc_kind(sv0.ncid(first)?, sv0.xtype)) && !recoded_time {
            rep.data_err("dtype_errors", &pv.name, json!({"product": pv.dtype, "source": format!("{} bytes", sv0.size)}));
            continue;
        }
        // Files holding this variable's tiles: the first file per tile (compat="override").
        let mut seen = std::collections::HashSet::new();
        let mut work: Vec<(usize, SourceVar, Vec<Segment>)> = Vec::new();
        for (f, src) in sources.iter().enumerate() {
            let key: Vec<usize> = axes.iter().map(|&(_, t)| placement.block[f][t]).collect();
            if !seen.insert(key) {
                continue;
            }
            let Some(sv) = source_var(src, &pv.name)? else { continue };
            src.release();
            let mut origin = vec![0u64; sv.shape.len()];
            for &(ax, t) in &axes {
                origin[ax] = placement.offset[t][placement.block[f][t]];
            }
            let rows = sv.shape.first().copied().unwrap_or(1);
            let segments = match (&placement.rows, axes.first()) {
                // Deduplicated: runs of this file's rows, wherever they landed.
                (Some(sel), Some(&(0, 0))) => runs(sel, f)
                    .into_iter()
                    .map(|(s0, n, p0)| {
                        let mut o = origin.clone();
                        o[0] = p0;
                        (s0, n, o)
                    })
                    .collect(),
                _ => vec![(0, rows, origin)],
            };
            work.push((f, sv, segments));
        }
        // --sample N: N blocks of this variable in all, spread over the blocks of
        // every file (first, last, and evenly between), not N per file.
        let counts: Vec<u64> = work.iter().flat_map(|(_, sv, segs)| segs.iter().map(move |seg| block_layout(sv, seg.1).1)).collect();
        let total: u64 = counts.iter().sum();
        let picked: Option<std::collections::BTreeSet<u64>> = (opts.sample > 0 && (opts.sample as u64) < total).then(|| spread(opts.sample as u64, total).collect());
        let (mut base, mut k) = (0u64, 0usize);
        'files: for (f, sv, segments) in &work {
            let src = &sources[*f];
            let theirs = opts.part.is_some_and(|(i, n)| f % n != i);
            for (row0, nrows, origin) in segments {
                let n = counts[k];
                k += 1;
                let chosen: Option<Vec<u64>> = picked.as_ref().map(|p| p.range(base..base + n).map(|g| g - base).collect());
                base += n;
                if theirs || chosen.as_ref().is_some_and(Vec::is_empty) {
                    continue;
                }
                compare_segment(&mut rep, &product, pv, src, sv, *row0, *nrows, origin, chosen.as_deref(), &mut cache, &opts.cancel)?;
                if rep.data.get("variables").and_then(|v| v.get("data_errors")).and_then(|d| d.get(&pv.name)).is_some() {
                    src.release();
                    break 'files;
                }
            }
            src.release();
        }
    }
    if let (Some(d), true) = (concat.first(), share0) {
        if let Some(pv) = product.var(d) {
            check_monotonic(&mut rep, &product, pv, &mut cache)?;
        }
    }
    Ok(rep)
}

/// The numpy kind of a netCDF type of group `ncid` (enums by their base type).
fn nc_kind(ncid: c_int, xtype: c_int) -> Option<char> {
    use netcdf_sys as nc;
    let t = match ncapi::type_info(ncid, xtype) {
        Ok((class, base, _)) if class == nc::NC_ENUM => base,
        _ => xtype,
    };
    Some(match t {
        nc::NC_FLOAT | nc::NC_DOUBLE => 'f',
        nc::NC_BYTE | nc::NC_SHORT | nc::NC_INT | nc::NC_INT64 => 'i',
        nc::NC_UBYTE | nc::NC_USHORT | nc::NC_UINT | nc::NC_UINT64 => 'u',
        nc::NC_CHAR => 'S',
        _ => return None,
    })
}

fn is_time(attrs: &Map<String, Value>) -> bool {
    attrs.get("units").and_then(Value::as_str).is_some_and(|u| u.contains(" since "))
}

fn guess_concat(s: &Source) -> Result<String> {
    let dims = ncapi::group_dims(s.ncid()?).map_err(|e| Error::corrupt(&s.path, e))?;
    Ok(dims.iter().find(|d| d.3).or_else(|| dims.iter().find(|d| d.1 == "time")).map(|d| d.1.clone()).unwrap_or_else(|| "time".into()))
}

/// Where each file sits along each concat dim.
struct Placement {
    /// With deduplication along a single concat dim: (file, row) of each
    /// product row.
    rows: Option<Vec<(usize, u64)>>,
    /// Per file, per concat dim: its block index.
    block: Vec<Vec<usize>>,
    /// Per concat dim: offset of each block.
    offset: Vec<Vec<u64>>,
    total: Vec<u64>,
}

impl Placement {
    fn compute(sources: &[Source], concat: &[String]) -> Result<Placement> {
        let mut block = vec![vec![0usize; concat.len()]; sources.len()];
        let mut offset = Vec::new();
        let mut total = Vec::new();
        for (t, d) in concat.iter().enumerate() {
            let mut lens = Vec::new();
            let mut firsts = Vec::new();
            for s in sources {
                let dims = ncapi::group_dims(s.ncid()?).map_err(|e| Error::corrupt(&s.path, e))?;
                let len = dims.iter().find(|x| &x.1 == d).map(|x| x.2).unwrap_or(0);
                let first = match source_var(s, d)? {
                    Some(sv) if concat.len() > 1 => {
                        let v = ncapi::get_all_f64(sv.ncid(s)?, sv.varid, &sv.shape).map_err(|e| Error::corrupt(&s.path, e))?;
                        v.first().copied().unwrap_or(f64::NAN)
                    }
                    _ => 0.0,
                };
                lens.push(len);
                firsts.push(first);
                s.release();
            }
            if concat.len() == 1 {
                // Nested: file order is the order.
                let mut off = Vec::new();
                let mut acc = 0;
                for (f, l) in lens.iter().enumerate() {
                    block[f][t] = f;
                    off.push(acc);
                    acc += l;
                }
                offset.push(off);
                total.push(acc);
            } else {
                let mut distinct: Vec<(f64, u64)> = Vec::new();
                for (f, s) in firsts.iter().enumerate() {
                    if !distinct.iter().any(|(x, _)| x == s) {
                        distinct.push((*s, lens[f]));
                    }
                }
                distinct.sort_by(|a, b| a.0.total_cmp(&b.0));
                for (f, s) in firsts.iter().enumerate() {
                    block[f][t] = distinct.iter().position(|(x, _)| x == s).unwrap_or(0);
                }
                let mut off = Vec::new();
                let mut acc = 0;
                for (_, l) in &distinct {
                    off.push(acc);
                    acc += l;
                }
                offset.push(off);
                total.push(acc);
            }
        }
        Ok(Placement { rows: None, block, offset, total })
    }
}

/// The rows kept by `--dedupe first|last`, sorted by decoded value, computed
/// from the sources themselves.
fn dedupe_rows(sources: &[Source], d: &str, dedupe: crate::aggregate::combine::Dedupe) -> Result<Option<Vec<(usize, u64)>>> {
    let mut keys: Vec<(f64, usize, u64)> = Vec::new();
    for (f, s) in sources.iter().enumerate() {
        let Some(sv) = source_var(s, d)? else { return Ok(None) };
        let vals = ncapi::get_all_f64(sv.ncid(s)?, sv.varid, &sv.shape).map_err(|e| Error::corrupt(&s.path, e))?;
        s.release();
        let units = sv.attrs.iter().find(|(k, _)| k == "units").and_then(|(_, v)| v.as_str().map(String::from));
        let cal = sv.attrs.iter().find(|(k, _)| k == "calendar").and_then(|(_, v)| v.as_str().and_then(Calendar::parse)).unwrap_or(Calendar::Standard);
        let u = units.as_deref().filter(|u| u.contains(" since ")).and_then(|u| cftime::parse_units(u, cal).ok());
        for (i, x) in vals.iter().enumerate() {
            let k = match &u {
                Some(u) => cftime::decode(*x, u).map_or(f64::NAN, |us| us as f64),
                None => *x,
            };
            keys.push((k, f, i as u64));
        }
    }
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by(|&a, &b| keys[a].0.total_cmp(&keys[b].0).then(a.cmp(&b)));
    let mut out = Vec::new();
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && keys[order[j + 1]].0 == keys[order[i]].0 {
            j += 1;
        }
        let pick = if dedupe == crate::aggregate::combine::Dedupe::First { order[i] } else { order[j] };
        out.push((keys[pick].1, keys[pick].2));
        i = j + 1;
    }
    Ok(Some(out))
}

/// Runs of consecutive rows of file `f`: (first source row, length, first product row).
fn runs(sel: &[(usize, u64)], f: usize) -> Vec<(u64, u64, u64)> {
    let mut out: Vec<(u64, u64, u64)> = Vec::new();
    for (p, &(file, row)) in sel.iter().enumerate() {
        if file != f {
            continue;
        }
        match out.last_mut() {
            Some(r) if r.0 + r.1 == row && r.2 + r.1 == p as u64 => r.1 += 1,
            _ => out.push((row, 1, p as u64)),
        }
    }
    out
}

use crate::products::reader::attr_json;

fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap_or(f64::NAN), y.as_f64().unwrap_or(f64::NAN));
            x == y || (x as f32) == (y as f32)
        }
        (Value::String(x), Value::String(y)) => x.trim_end_matches('\0') == y.trim_end_matches('\0'),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| values_equal(a, b)),
        (Value::Array(x), other) | (other, Value::Array(x)) if x.len() == 1 => values_equal(&x[0], other),
        (a, b) => a == b,
    }
}

/// Global attributes aggregators add themselves (padocc 1.5.1: the date of the
/// aggregation and the aggregator); not a difference from the sources.
const TOOL_ATTRS: &[&str] = &["aggregation_date", "aggregation"];

fn compare_attrs(rep: &mut Report, parent: &str, source: &[(String, crate::model::AttrValue)], product: &Map<String, Value>) {
    for (k, v) in source {
        match product.get(k) {
            None => rep.meta_err("attributes", parent, k, json!({"type": "missing", "info": "missing from product"})),
            Some(p) if !values_equal(&attr_json(v), p) => rep.meta_err("attributes", parent, k, json!({"type": "not_equal", "product": p, "source": attr_json(v)})),
            _ => {}
        }
    }
    for k in product.keys() {
        // Added by padocc 1.5.1 itself, not copied from the sources.
        if parent == "global" && TOOL_ATTRS.contains(&k.as_str()) {
            continue;
        }
        if !source.iter().any(|(s, _)| s == k) {
            rep.meta_err("attributes", parent, k, json!({"type": "missing", "info": "missing from source"}));
        }
    }
}

/// Native-endian f64 values of raw bytes in a numpy dtype.
fn to_f64(bytes: &[u8], dtype: &str) -> Vec<f64> {
    let big = dtype.starts_with('>');
    let size = dtype_itemsize(dtype) as usize;
    let kind = dtype.as_bytes().get(1).copied().unwrap_or(b'u');
    bytes
        .chunks_exact(size.max(1))
        .map(|el| {
            let mut b = [0u8; 8];
            b[..size].copy_from_slice(el);
            if big {
                b[..size].reverse();
            }
            match (kind, size) {
                (b'f', 4) => f64::from(f32::from_le_bytes(b[..4].try_into().expect("4"))),
                (b'f', 8) => f64::from_le_bytes(b),
                (b'i', 1) => f64::from(b[0] as i8),
                (b'i', 2) => f64::from(i16::from_le_bytes(b[..2].try_into().expect("2"))),
                (b'i', 4) => f64::from(i32::from_le_bytes(b[..4].try_into().expect("4"))),
                (b'i', 8) => i64::from_le_bytes(b) as f64,
                (b'u', 1) | (b'b', 1) => f64::from(b[0]),
                (b'u', 2) => f64::from(u16::from_le_bytes(b[..2].try_into().expect("2"))),
                (b'u', 4) => f64::from(u32::from_le_bytes(b[..4].try_into().expect("4"))),
                (b'u', 8) => u64::from_le_bytes(b) as f64,
                _ => f64::NAN,
            }
        })
        .collect()
}

/// Source rows `row0`, count and product origin of one stretch of a file.
type Segment = (u64, u64, Vec<u64>);

/// Rows per block and number of blocks of `nrows` rows of a source variable.
fn block_layout(sv: &SourceVar, nrows: u64) -> (u64, u64) {
    if sv.shape.contains(&0) {
        return (1, 0);
    }
    let rows = if sv.shape.is_empty() { 1 } else { nrows.max(1) };
    let row_bytes = (sv.shape.iter().skip(1).product::<u64>() * sv.size as u64).max(1);
    let block_rows = (BLOCK_BYTES / row_bytes).clamp(1, rows);
    (block_rows, rows.div_ceil(block_rows))
}

/// `k` of `0..n` (k < n): the first, the last and evenly between.
fn spread(k: u64, n: u64) -> impl Iterator<Item = u64> {
    (0..k).map(move |i| if k == 1 { 0 } else { i * (n - 1) / (k - 1) })
}

/// Compare source rows `row0..row0+nrows` (first axis) with the product at
/// `origin`, in blocks; `blocks`: only these (indices into the segment's
/// blocks), None: all.
#[allow(clippy::too_many_arguments)]
fn compare_segment(
    rep: &mut Report,
    product: &Product,
    pv: &ProductVar,
    src: &Source,
    sv: &SourceVar,
    row0: u64,
    nrows: u64,
    origin: &[u64],
    blocks: Option<&[u64]>,
    cache: &mut FileCache,
    cancel: &crate::control::Cancel,
) -> Result<()> {
    let isz = sv.size;
    let (src_units, prod_units) = effective_units(product, pv, src, sv);
    // A time variable re-encoded to the first file's units compares as instants.
    let recoded = match (&src_units, &prod_units) {
        (Some(s), Some(p)) if s != p && s.contains(" since ") => {
            let cal = pv
                .attrs
                .get("calendar")
                .or_else(|| product.vars.iter().find(|c| c.attrs.get("bounds").and_then(Value::as_str) == Some(pv.name.as_str())).and_then(|c| c.attrs.get("calendar")))
                .and_then(Value::as_str)
                .and_then(Calendar::parse)
                .unwrap_or(Calendar::Standard);
            Some((cftime::parse_units(s, cal).ok(), cftime::parse_units(p, cal).ok()))
        }
        _ => None,
    };
    let rows = if sv.shape.is_empty() { 1 } else { nrows.max(1) };
    let (block_rows, nblocks) = block_layout(sv, nrows);
    let blocks: Vec<u64> = blocks.map_or_else(|| (0..nblocks).collect(), <[u64]>::to_vec);
    let big = pv.dtype.starts_with('>');
    // A CFA fragment that is this very source file: a client reads the same
    // bytes with the same library, so reading both would compare the file with
    // itself. What can be wrong is where the fragment is placed and which file
    // and variable it names; that is checked here for every block.
    let identity = recoded.is_none() && product.is_cfa();
    let mut same: Option<(PathBuf, bool)> = None;
    for b in blocks {
        cancel.check()?;
        let r0 = b * block_rows;
        let n = block_rows.min(rows - r0);
        let (mut start, mut count) = (vec![0u64; sv.shape.len()], sv.shape.clone());
        if !sv.shape.is_empty() {
            start[0] = row0 + r0;
            count[0] = n;
        }
        if sv.shape.contains(&0) {
            return Ok(());
        }
        let mut pstart: Vec<u64> = start.iter().zip(origin).map(|(s, o)| s + o).collect();
        if !pstart.is_empty() {
            pstart[0] = origin[0] + r0;
        }
        if identity {
            if let Some((frag, ident, local)) = product.fragment_of(pv, &pstart, &count) {
                let is_source = match &same {
                    Some((f, yes)) if *f == frag => *yes,
                    _ => {
                        let yes = same_file(&frag, &src.path);
                        same = Some((frag, yes));
                        yes
                    }
                };
                if is_source && ident == pv.name && local == start {
                    rep.values_by_identity += count.iter().product::<u64>();
                    continue;
                }
            }
        }
        // The product's chunks decode on one core while netCDF-C reads (and
        // decodes) the same block from the source on the other.
        let src_id = sv.ncid(src)?;
        let side_by_side = std::thread::scope(|s| {
            // Under a tight memory limit no thread may start (EAGAIN): the two
            // reads then take turns on this one.
            let product_side = std::thread::Builder::new().spawn_scoped(s, || product.read_slab(pv, &pstart, &count, cache)).ok()?;
            let source_side = ncapi::get_vara(src_id, sv.varid, &start, &count, isz);
            Some((source_side, product_side.join().unwrap_or_else(|p| std::panic::resume_unwind(p))))
        });
        let (src_bytes, prod_bytes) = match side_by_side {
            Some(both) => both,
            None => (ncapi::get_vara(src_id, sv.varid, &start, &count, isz), product.read_slab(pv, &pstart, &count, cache)),
        };
        let src_bytes = src_bytes.map_err(|e| Error::corrupt(&src.path, format!("variable '{}': {e}", pv.name)))?;
        let mut prod_bytes = prod_bytes?;
        rep.values_compared += count.iter().product::<u64>();
        if let Some((Some(from), Some(to))) = &recoded {
            let s = to_f64(&src_bytes, &format!("<{}{}", &pv.dtype[1..2], isz));
            let p = to_f64(&prod_bytes, &pv.dtype);
            if let Some(i) = (0..s.len()).find(|&i| cftime::decode(s[i], from) != cftime::decode(p[i], to)) {
                rep.data_err("data_errors", &pv.name, json!({"type": "not_equal", "file": src.path, "index": index_of(i as u64, &count, &pstart), "source": s[i], "product": p[i], "note": "compared as decoded times"}));
                return Ok(());
            }
            continue;
        }
        if big && isz > 1 && !pv.dtype.contains('S') {
            for el in prod_bytes.chunks_exact_mut(isz) {
                el.reverse();
            }
        }
        if prod_bytes != src_bytes {
            let kind = pv.dtype.as_bytes().get(1).copied();
            let native = format!("<{}{}", &pv.dtype[1..2], isz);
            let (s, p) = (to_f64(&src_bytes, &native), to_f64(&prod_bytes, &native));
            let first = (0..src_bytes.len() / isz).find(|&i| {
                let a = &src_bytes[i * isz..(i + 1) * isz];
                let c = &prod_bytes[i * isz..(i + 1) * isz];
                a != c && !(kind == Some(b'f') && s[i].is_nan() && p[i].is_nan())
            });
            if let Some(i) = first {
                let count_diff = (0..src_bytes.len() / isz).filter(|&j| src_bytes[j * isz..(j + 1) * isz] != prod_bytes[j * isz..(j + 1) * isz]).count();
                rep.data_err(
                    "data_errors",
                    &pv.name,
                    json!({"type": "not_equal", "file": src.path, "index": index_of(i as u64, &count, &pstart), "source": s[i], "product": p[i], "count": count_diff}),
                );
                return Ok(());
            }
        }
    }
    Ok(())
}

/// Whether two paths name the same file (device and inode), as a fragment URI
/// and a source path may differ by symlinks or `..`.
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// A variable's own units, or, for the bounds of a coordinate (CF `bounds`),
/// the coordinate's: xarray decodes bounds with them, and the combiner
/// re-encodes them with the coordinate.
fn effective_units(product: &Product, pv: &ProductVar, src: &Source, sv: &SourceVar) -> (Option<String>, Option<String>) {
    let own_src = sv.attrs.iter().find(|(k, _)| k == "units").and_then(|(_, v)| v.as_str().map(String::from));
    let own_prod = pv.attrs.get("units").and_then(Value::as_str).map(String::from);
    if own_src.is_some() || own_prod.is_some() {
        return (own_src, own_prod);
    }
    let Some(coord) = product.vars.iter().find(|c| c.attrs.get("bounds").and_then(Value::as_str) == Some(pv.name.as_str())) else {
        return (None, None);
    };
    let src_units = source_var(src, &coord.name).ok().flatten().and_then(|c| c.attrs.iter().find(|(k, _)| k == "units").and_then(|(_, v)| v.as_str().map(String::from)));
    (src_units, coord.attrs.get("units").and_then(Value::as_str).map(String::from))
}

fn index_of(mut i: u64, count: &[u64], origin: &[u64]) -> Vec<u64> {
    let mut out = vec![0; count.len()];
    for d in (0..count.len()).rev() {
        out[d] = origin[d] + i % count[d];
        i /= count[d];
    }
    out
}

fn compare_strings(rep: &mut Report, product: &Product, pv: &ProductVar, src: &Source, sv: &SourceVar, cache: &mut FileCache) -> Result<()> {
    let want = ncapi::get_strings(sv.ncid(src)?, sv.varid, &sv.shape).map_err(|e| Error::corrupt(&src.path, e))?;
    if want.is_empty() {
        return Ok(());
    }
    let mut got = Vec::new();
    for lin in 0..pv.refs.len() as u64 {
        let Some(b) = product.chunk(pv, lin, cache)? else { continue };
        got.extend(decode_vlen_utf8(&b));
    }
    rep.values_compared += want.len() as u64;
    if got != want {
        rep.data_err("data_errors", &pv.name, json!({"type": "not_equal", "source": want.iter().take(3).collect::<Vec<_>>(), "product": got.iter().take(3).collect::<Vec<_>>()}));
    }
    Ok(())
}

fn decode_vlen_utf8(b: &[u8]) -> Vec<String> {
    let rd = |i: usize| b.get(i..i + 4).map(|x| u32::from_le_bytes(x.try_into().expect("4")) as usize);
    let Some(n) = rd(0) else { return vec![] };
    let mut at = 4;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let Some(len) = rd(at) else { break };
        at += 4;
        out.push(String::from_utf8_lossy(b.get(at..at + len).unwrap_or_default()).into_owned());
        at += len;
    }
    out
}

fn check_monotonic(rep: &mut Report, product: &Product, pv: &ProductVar, cache: &mut FileCache) -> Result<()> {
    if pv.shape.len() != 1 || pv.dtype == "|O" {
        return Ok(());
    }
    let bytes = product.read_slab(pv, &[0], &pv.shape, cache)?;
    let v = to_f64(&bytes, &pv.dtype);
    let inc = v.windows(2).all(|w| w[1] > w[0]);
    let dec = v.windows(2).all(|w| w[1] < w[0]);
    if !(inc || dec) {
        let i = v.windows(2).position(|w| w[1] <= w[0]).unwrap_or(0);
        Report::add(&mut rep.data, &["dimensions", "data_errors", &pv.name], json!({"type": "not_monotonic", "index": i + 1, "values": [v[i], v[i + 1]]}));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bypass_drops_what_the_file_lists_and_nothing_else() {
        let mut r = Report::default();
        r.meta_err("attributes", "global", "history", json!({"type": "missing"}));
        r.meta_err("attributes", "global", "title", json!({"type": "not_equal"}));
        r.meta_err("attributes", "rain", "units", json!({"type": "missing"}));
        r.data_err("growbox", "rain", json!({}));
        r.data_err("data_errors", "tas", json!({"type": "not_equal", "file": "f.nc"}));
        // Empty objects and other types drop nothing.
        r.bypass(&json!({"metadata": {"attributes": {"global": {}, "rain": {"units": {"type": "not_equal"}}}}, "data": {"variables": {}}}));
        assert_eq!(r.metadata["attributes"]["global"].as_object().map(Map::len), Some(2));
        assert!(r.metadata["attributes"]["rain"].get("units").is_some());
        assert_eq!(r.status(), "Fatal-data_errors");
        // A named data finding goes whatever its type; a metadata finding by its type or skip_all.
        r.bypass(&json!({
            "metadata": {"attributes": {"global": {"history": {"type": "missing"}, "skip_all": false}, "rain": {"skip_all": true}}},
            "data": {"variables": {"data_errors": {"tas": {"type": "not_equal,mean_not_equal"}}}}
        }));
        assert!(r.metadata["attributes"]["global"].get("history").is_none());
        assert!(r.metadata["attributes"]["global"].get("title").is_some());
        assert!(r.metadata["attributes"].get("rain").is_none());
        assert!(r.data["variables"].get("data_errors").is_none());
        assert!(r.data["variables"]["growbox"].get("rain").is_some());
        assert_eq!(r.status(), "Fatal-global_title_not_equal");
    }
}
