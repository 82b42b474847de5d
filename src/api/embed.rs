//! What an embedding interface (the Python module `padocc._padocc`) needs
//! beyond the command line: projects from explicit descriptions (file lists,
//! path substitutions, extra settings), single status rows, and the global
//! attributes of netCDF/CFA files. Typed requests in, typed values out.

use std::collections::{BTreeMap, HashSet};
use std::ffi::{c_char, c_int, CString};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use crate::error::{Error, Result};
use crate::fsutil;
use crate::pipeline::init::{self, InitSummary};
use crate::workdir::group::GroupDir;
use crate::workdir::project::{local_time, Project, StatusRow};
use crate::workdir::{check_name, Workdir};

/// The engine's version (`padocc --version`).
pub fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// Where a project's files come from: a glob or a `.txt` list file, or the
/// paths themselves.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(untagged)]
pub enum Pattern {
    One(String),
    Files(Vec<String>),
}

impl Default for Pattern {
    fn default() -> Pattern {
        Pattern::One(String::new())
    }
}

/// One project to create or update.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct ProjectSpec {
    pub proj_code: String,
    pub pattern: Pattern,
    /// Stored as base-cfg `update` (the CSV's third column).
    pub update: Value,
    /// Stored as base-cfg `remove` (the CSV's fourth column).
    pub remove: Value,
    /// Variables to keep (empty: all).
    pub keep_vars: Vec<String>,
    /// padocc's substitutions; `datasets` ({old: new}) applies to every path
    /// as globbed or listed, before it is made absolute. Stored in base-cfg.
    pub substitutions: Option<Map<String, Value>>,
    /// This project's `datasets.csv` line.
    pub line: Option<String>,
    /// Other base-cfg keys, stored as given (`remote_s3`...).
    pub base_cfg: Map<String, Value>,
}

/// How [`init_projects`] treats what exists.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(default)]
pub struct InitOptions {
    /// Update existing projects (else leave them unchanged).
    pub update_existing: bool,
    /// Add new codes to the group's `main` subset.
    pub add_to_main: bool,
    /// Take the file list as given: no existence checks.
    pub skip_filechecks: bool,
    /// Check everything, write nothing.
    pub dryrun: bool,
}

impl Default for InitOptions {
    fn default() -> InitOptions {
        InitOptions { update_existing: true, add_to_main: true, skip_filechecks: false, dryrun: false }
    }
}

impl ProjectSpec {
    /// The source files, substituted and absolute. The Python layer has
    /// applied `init_file` and `dataset_file` (to the CSV's lines and to a
    /// `.txt` pattern, as padocc does): only `datasets` is left, for every path.
    fn files(&self, skip_checks: bool) -> std::result::Result<Vec<PathBuf>, String> {
        let datasets = self.substitutions.as_ref().and_then(|s| s.get("datasets")).cloned().unwrap_or(Value::Null);
        let subs = init::Substitutions {
            datasets: if datasets.is_null() {
                Default::default()
            } else {
                serde_json::from_value(datasets).map_err(|e| format!("substitutions: \"datasets\" must be {{\"old\": \"new\"}} ({e})"))?
            },
            ..Default::default()
        };
        let files = match &self.pattern {
            Pattern::Files(f) => init::given_files(f.iter().map(PathBuf::from).collect(), &subs)?,
            Pattern::One(p) if p.is_empty() => return Err("no file pattern".into()),
            Pattern::One(p) => init::list_with(p, &subs)?,
        };
        if files.is_empty() {
            return Err(match &self.pattern {
                Pattern::One(p) => format!("pattern {p} matches no files"),
                Pattern::Files(_) => "the file list is empty".into(),
            });
        }
        if !skip_checks {
            if let Some(missing) = files.iter().find(|f| !f.is_file()) {
                return Err(format!("{} does not exist or is not a file", missing.display()));
            }
        }
        Ok(files)
    }
}

fn project_of(g: &GroupDir, code: &str) -> Result<Project> {
    check_name("project code", code)?;
    Ok(Project::new(&g.name, code, g.wd.project_dir(&g.name, code)))
}

/// Create or update projects of `group` (created when missing) from explicit
/// descriptions. Every description is checked before anything is written.
pub fn init_projects(wd: &Workdir, group: &str, specs: &[ProjectSpec], opts: &InitOptions) -> Result<InitSummary> {
    check_name("group", group)?;
    let mut errors = Vec::new();
    let mut expanded = Vec::with_capacity(specs.len());
    let mut seen = HashSet::new();
    for (i, s) in specs.iter().enumerate() {
        if let Err(e) = check_name("project code", &s.proj_code) {
            errors.push(format!("item {i}: {e}"));
        } else if !seen.insert(s.proj_code.clone()) {
            errors.push(format!("item {i}: project '{}' is given twice", s.proj_code));
        }
        match s.files(opts.skip_filechecks) {
            Ok(f) => expanded.push(f),
            Err(e) => {
                errors.push(format!("project '{}': {e}", s.proj_code));
                expanded.push(vec![]);
            }
        }
    }
    if !errors.is_empty() {
        return Err(Error::Usage(format!("{} problem(s) in the projects, nothing was changed:\n  {}", errors.len(), errors.join("\n  "))));
    }
    let mut summary = InitSummary::default();
    if opts.dryrun {
        for s in specs {
            let exists = wd.project_dir(group, &s.proj_code).is_dir();
            match (exists, opts.update_existing) {
                (false, _) => summary.created.push(s.proj_code.clone()),
                (true, true) => summary.updated.push(s.proj_code.clone()),
                (true, false) => summary.unchanged.push(s.proj_code.clone()),
            }
        }
        return Ok(summary);
    }
    let g = GroupDir::create(wd, group)?;
    let mut main = g.codes("main")?;
    for (s, files) in specs.iter().zip(expanded) {
        let p = project_of(&g, &s.proj_code)?;
        let existed = p.exists();
        if existed && !opts.update_existing {
            summary.unchanged.push(s.proj_code.clone());
            continue;
        }
        std::fs::create_dir_all(p.path("phase_logs")).map_err(|e| Error::output(&p.dir, e))?;
        let old = p.base_or_new()?;
        let before = (old.to_map(), p.allfiles().ok());
        let mut base = old.to_map();
        base.insert("proj_code".into(), json!(s.proj_code));
        base.insert(
            "pattern".into(),
            match &s.pattern {
                Pattern::One(p) => json!(p),
                Pattern::Files(f) => json!(f),
            },
        );
        base.insert("update".into(), s.update.clone());
        base.insert("remove".into(), s.remove.clone());
        base.insert("keep_vars".into(), if s.keep_vars.is_empty() { json!("all") } else { json!(s.keep_vars) });
        if let Some(subs) = &s.substitutions {
            base.insert("substitutions".into(), Value::Object(subs.clone()));
        }
        for (k, v) in &s.base_cfg {
            base.insert(k.clone(), v.clone());
        }
        let cfg_path = p.path("base-cfg.json");
        let base =
            crate::workdir::config::BaseCfg::from_map(base).map_err(|e| Error::Usage(format!("project '{}': settings do not fit {}: {e}", s.proj_code, cfg_path.display())))?;
        p.save_base(&base)?;
        let mut detail = p.detail()?;
        detail.num_files = Some(files.len() as u64);
        p.save_detail(&detail)?;
        p.save_allfiles(&files)?;
        let changed = before.0 != base.to_map() || before.1.as_deref() != Some(files.as_slice());
        if !existed || changed {
            g.record(&s.proj_code, &StatusRow { phase: "init".into(), status: "Success".into(), time: local_time(false), jobid: String::new() })?;
        }
        if opts.add_to_main && !main.contains(&s.proj_code) {
            main.push(s.proj_code.clone());
        }
        match (existed, changed) {
            (false, _) => summary.created.push(s.proj_code.clone()),
            (true, true) => summary.updated.push(s.proj_code.clone()),
            (true, false) => summary.unchanged.push(s.proj_code.clone()),
        }
    }
    g.save_codes("main", &main)?;
    merge_datasets_lines(&g, specs.iter().filter_map(|s| s.line.as_ref().map(|l| (s.proj_code.as_str(), l.as_str()))))?;
    Ok(summary)
}

/// Keep one `datasets.csv` line per project: replace a project's line, or append it.
fn merge_datasets_lines<'a>(g: &GroupDir, rows: impl Iterator<Item = (&'a str, &'a str)>) -> Result<()> {
    let p = g.dir.join("datasets.csv");
    let existing = std::fs::read_to_string(&p).unwrap_or_default();
    let mut lines: Vec<String> = existing.lines().filter(|l| !l.trim().is_empty()).map(String::from).collect();
    let before = lines.clone();
    for (code, line) in rows {
        match lines.iter().position(|l| l.split(',').next().map(|c| c.replace(' ', "")).as_deref() == Some(code)) {
            Some(i) => lines[i] = line.to_string(),
            None => lines.push(line.to_string()),
        }
    }
    if lines == before {
        return Ok(());
    }
    let text = lines.join("\n");
    fsutil::write_file_atomic(&p, |w| w.write_all(text.as_bytes()).map_err(|e| Error::output(&p, e)))
}

/// The CSV rows of an input file, as [`ProjectSpec`]s (padocc's `init -i` grammar).
pub fn specs_from_csv(path: &Path) -> Result<Vec<ProjectSpec>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::input_io(path, e))?;
    Ok(init::parse_csv(path, &text)?
        .into_iter()
        .map(|r| ProjectSpec {
            proj_code: r.code,
            pattern: Pattern::One(r.pattern),
            update: json!(r.update),
            remove: json!(r.remove),
            keep_vars: r.keep_vars,
            line: Some(r.line),
            ..ProjectSpec::default()
        })
        .collect())
}

/// Append one status row for a project (its `status_log.csv` and the group's
/// status index); `,` and newlines in the fields become `.`.
pub fn record_status(g: &GroupDir, code: &str, phase: &str, status: &str, jobid: &str) -> Result<StatusRow> {
    let p = project_of(g, code)?;
    if !p.exists() {
        return Err(Error::Usage(format!("project '{code}' of group '{}' has no directory {}", g.name, p.dir.display())));
    }
    let row = StatusRow { phase: phase.into(), status: status.into(), time: local_time(false), jobid: jobid.into() };
    g.record(code, &row)?;
    Ok(row)
}

/// The newest status row of each of `codes` that has one.
pub fn current_statuses(g: &GroupDir, codes: &[String]) -> Result<BTreeMap<String, StatusRow>> {
    for c in codes {
        check_name("project code", c)?;
    }
    Ok(g.current_statuses(codes)?.into_iter().collect())
}

// ---------------------------------------------------------------------------
// Global attributes of netCDF / CFA files, edited in place with netCDF-C.

use netcdf_sys as nc;

fn nc_check(code: c_int, path: &Path, what: &str) -> Result<()> {
    if code == nc::NC_NOERR {
        return Ok(());
    }
    // SAFETY: nc_strerror returns a pointer to a static string.
    let msg = unsafe { std::ffi::CStr::from_ptr(nc::nc_strerror(code)) }.to_string_lossy().into_owned();
    if code == nc::NC_ENOTNC || code == nc::NC_EHDFERR {
        return Err(Error::corrupt(path, format!("{what}: {msg}")));
    }
    Err(Error::Internal(format!("{}: {what}: {msg}", path.display())))
}

/// An open netCDF file, closed on drop.
struct NcFile {
    ncid: c_int,
}

impl NcFile {
    fn open(path: &Path, write: bool) -> Result<NcFile> {
        if !path.is_file() {
            return Err(Error::Missing { path: path.to_path_buf() });
        }
        let p = CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| Error::Usage("path contains a NUL byte".into()))?;
        let mut ncid = 0;
        // SAFETY: valid C string and out-pointer; the caller holds the HDF5 lock.
        nc_check(unsafe { nc::nc_open(p.as_ptr(), if write { nc::NC_WRITE } else { nc::NC_NOWRITE }, &mut ncid) }, path, "nc_open")?;
        Ok(NcFile { ncid })
    }
}

impl Drop for NcFile {
    fn drop(&mut self) {
        // SAFETY: ncid came from nc_open and is closed once.
        unsafe { nc::nc_close(self.ncid) };
    }
}

fn read_att(f: &NcFile, path: &Path, name: &CString) -> Result<Value> {
    let (mut xtype, mut len) = (0, 0usize);
    // SAFETY: valid ids, C string and out-pointers.
    nc_check(unsafe { nc::nc_inq_att(f.ncid, nc::NC_GLOBAL, name.as_ptr(), &mut xtype, &mut len) }, path, "nc_inq_att")?;
    macro_rules! numbers {
        ($t:ty) => {{
            let mut v: Vec<$t> = vec![Default::default(); len];
            // SAFETY: the buffer holds `len` values of the attribute's type.
            nc_check(unsafe { nc::nc_get_att(f.ncid, nc::NC_GLOBAL, name.as_ptr(), v.as_mut_ptr().cast()) }, path, "nc_get_att")?;
            let v: Vec<Value> = v.into_iter().map(|x| json!(x)).collect();
            if v.len() == 1 {
                v.into_iter().next().unwrap_or(Value::Null)
            } else {
                Value::Array(v)
            }
        }};
    }
    Ok(match xtype {
        nc::NC_CHAR => {
            let mut buf = vec![0u8; len];
            // SAFETY: `len` chars.
            nc_check(unsafe { nc::nc_get_att_text(f.ncid, nc::NC_GLOBAL, name.as_ptr(), buf.as_mut_ptr().cast()) }, path, "nc_get_att_text")?;
            while buf.last() == Some(&0) {
                buf.pop();
            }
            json!(String::from_utf8_lossy(&buf))
        }
        nc::NC_STRING => {
            let mut ptrs: Vec<*mut c_char> = vec![std::ptr::null_mut(); len];
            // SAFETY: `len` string pointers, freed by nc_free_string below.
            nc_check(unsafe { nc::nc_get_att_string(f.ncid, nc::NC_GLOBAL, name.as_ptr(), ptrs.as_mut_ptr()) }, path, "nc_get_att_string")?;
            let v: Vec<Value> =
                ptrs.iter().map(|&p| if p.is_null() { Value::Null } else { json!(unsafe { std::ffi::CStr::from_ptr(p) }.to_string_lossy().into_owned()) }).collect();
            // SAFETY: the strings netCDF-C allocated above.
            unsafe { nc::nc_free_string(len, ptrs.as_mut_ptr()) };
            if v.len() == 1 {
                v.into_iter().next().unwrap_or(Value::Null)
            } else {
                Value::Array(v)
            }
        }
        nc::NC_BYTE => numbers!(i8),
        nc::NC_UBYTE => numbers!(u8),
        nc::NC_SHORT => numbers!(i16),
        nc::NC_USHORT => numbers!(u16),
        nc::NC_INT => numbers!(i32),
        nc::NC_UINT => numbers!(u32),
        nc::NC_INT64 => numbers!(i64),
        nc::NC_UINT64 => numbers!(u64),
        nc::NC_FLOAT => numbers!(f32),
        nc::NC_DOUBLE => numbers!(f64),
        _ => Value::Null,
    })
}

/// The global attributes of a netCDF (or CFA) file, as JSON values (a
/// one-element array as its element).
pub fn nc_global_attributes(path: &Path) -> Result<Map<String, Value>> {
    let _g = hdf5_sys::LOCK.lock();
    let f = NcFile::open(path, false)?;
    let mut natts = 0;
    // SAFETY: valid id and out-pointer.
    nc_check(unsafe { nc::nc_inq_natts(f.ncid, &mut natts) }, path, "nc_inq_natts")?;
    let mut out = Map::new();
    for i in 0..natts {
        let mut buf = vec![0 as c_char; nc::NC_MAX_NAME as usize + 1];
        // SAFETY: the buffer holds NC_MAX_NAME + 1 chars.
        nc_check(unsafe { nc::nc_inq_attname(f.ncid, nc::NC_GLOBAL, i, buf.as_mut_ptr()) }, path, "nc_inq_attname")?;
        // SAFETY: netCDF-C wrote a NUL-terminated name.
        let name = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) }.to_owned();
        let value = read_att(&f, path, &name)?;
        out.insert(name.to_string_lossy().into_owned(), value);
    }
    Ok(out)
}

/// Set (`set`) and delete (`remove`) global attributes of a netCDF file in
/// place; nothing else in the file changes. Text is written as text, numbers
/// (or lists of them) as int64/double, booleans as "True"/"False", anything
/// else as its JSON text.
pub fn set_nc_global_attributes(path: &Path, set: &Map<String, Value>, remove: &[String]) -> Result<()> {
    use crate::model::AttrValue;
    // A copy is edited and then replaces the file: a kill never leaves it half-written.
    crate::products::cfa::edit_copy(path, path, |o| {
        o.redef()?;
        for name in remove {
            o.del_att(nc::NC_GLOBAL, name)?;
        }
        for (name, v) in set {
            let ints: Option<Vec<i64>> = match v {
                Value::Number(x) => x.as_i64().map(|i| vec![i]),
                Value::Array(a) if !a.is_empty() => a.iter().map(Value::as_i64).collect(),
                _ => None,
            };
            let floats: Option<Vec<f64>> = match v {
                Value::Number(x) => x.as_f64().map(|i| vec![i]),
                Value::Array(a) if !a.is_empty() => a.iter().map(Value::as_f64).collect(),
                _ => None,
            };
            let value = match (ints, floats) {
                (Some(i), _) => AttrValue::Ints(i),
                (None, Some(x)) => AttrValue::Floats(x),
                _ => AttrValue::Str(match v {
                    Value::String(s) => s.clone(),
                    Value::Bool(true) => "True".into(),
                    Value::Bool(false) => "False".into(),
                    Value::Null => "None".into(),
                    other => other.to_string(),
                }),
            };
            o.put_attr(nc::NC_GLOBAL, name, &value)?;
        }
        Ok(())
    })
}

/// Rewrite, in place, the fragment URIs of a CFA file that start with `sub`
/// to start with `replace` instead (as `complete --sub/--replace` does for the
/// published copy); returns how many there were. Nothing is written when
/// none matches.
pub fn rewrite_cfa_uris(path: &Path, sub: &str, replace: &str) -> Result<usize> {
    use crate::source::ncapi;
    if sub.is_empty() {
        return Err(Error::Usage("the prefix to replace (sub) must not be empty".into()));
    }
    let matching = {
        let _g = hdf5_sys::LOCK.lock();
        let f = NcFile::open(path, false)?;
        let bad = |e: String| Error::corrupt(path, e);
        let mut n = 0;
        for (gid, id, shape) in crate::products::cfa::fragment_uris(f.ncid).map_err(bad)? {
            n += ncapi::get_strings(gid, id, &shape).map_err(bad)?.iter().filter(|u| u.starts_with(sub)).count();
        }
        n
    };
    if matching > 0 {
        crate::products::cfa::export(path, path, Some((sub, replace)))?;
    }
    Ok(matching)
}

/// The projects a phase run from Python is about: each code with its index
/// (`indices`, the positions in the caller's subset, else its position in
/// `main`). A code outside `main` is taken if its project exists (a project
/// made on its own); an unknown code is the command line's error.
pub fn resolve_codes(g: &GroupDir, codes: &[String], indices: Option<&[usize]>) -> Result<Vec<(usize, String)>> {
    let main = g.codes("main")?;
    let mut out = Vec::with_capacity(codes.len());
    for (i, c) in codes.iter().enumerate() {
        let pos = main.iter().position(|m| m == c);
        if pos.is_none() && !project_of(g, c)?.exists() {
            g.select("main", Some(c))?;
            return Err(Error::Usage(format!("unknown project '{c}' in group '{}'", g.name)));
        }
        out.push((indices.and_then(|x| x.get(i).copied()).or(pos).unwrap_or(i), c.clone()));
    }
    Ok(out)
}

pub use super::phases::{plan_projects, run_projects};
