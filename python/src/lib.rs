//! `padocc._padocc`: the padocc library for Python. Only argument conversion
//! lives here: every call goes to [`padocc::api`]; long calls release the
//! GIL; errors become `EngineError` (turned into `padocc.core.errors`
//! classes by `padocc._native`); progress and log records go to Python.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use padocc::aggregate::combine::Dedupe;
use padocc::api::{self, embed, phases, Cancel, Control, GroupDir, Phase, PhaseOptions, Reporter, Selection, Tick};
use padocc::error::Error;
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use serde_json::{json, Map, Value};

create_exception!(_padocc, EngineError, PyException, "A padocc call failed as a whole (attributes: message, kind, exit_code, path).");

/// Cancellation tokens of the runs in progress (`interrupt` stops them all).
static ACTIVE: Mutex<Vec<(u64, Cancel)>> = Mutex::new(Vec::new());

/// The logger padocc's engine messages go to (Python's `logging`).
const LOG_TARGET: &str = "padocc_engine";

fn kind_of(e: &Error) -> (&'static str, Option<&Path>) {
    match e {
        Error::Missing { path } => ("missing", Some(path)),
        Error::Unreadable { path, .. } => ("unreadable", Some(path)),
        Error::UnknownFormat { path, .. } => ("unknown_format", Some(path)),
        Error::Corrupt { path, .. } => ("corrupt", Some(path)),
        Error::Unsupported { path, .. } => ("unsupported", Some(path)),
        Error::Incompatible(_) => ("incompatible", None),
        Error::Output { path, .. } => ("output", Some(path)),
        Error::Usage(_) => ("usage", None),
        Error::Resources(_) => ("resources", None),
        Error::Scheduler(_) => ("scheduler", None),
        Error::Interrupted => ("interrupted", None),
        Error::Internal(_) => ("internal", None),
        #[allow(unreachable_patterns)]
        _ => ("internal", None),
    }
}

fn engine_error(py: Python<'_>, message: String, kind: &str, exit_code: i32, path: Option<&Path>) -> PyErr {
    let err = EngineError::new_err(message.clone());
    let v = err.value(py);
    let path = path.map(|p| p.display().to_string());
    let set = || -> PyResult<()> {
        v.setattr("message", &message)?;
        v.setattr("kind", kind)?;
        v.setattr("exit_code", exit_code)?;
        v.setattr("path", path)?;
        Ok(())
    };
    match set() {
        Ok(()) => err,
        Err(e) => e,
    }
}

fn to_py_err(py: Python<'_>, e: Error) -> PyErr {
    let (kind, path) = kind_of(&e);
    engine_error(py, e.to_string(), kind, e.exit_code(), path)
}

fn usage(py: Python<'_>, message: impl Into<String>) -> PyErr {
    to_py_err(py, Error::Usage(message.into()))
}

trait OrPy<T> {
    fn or_py(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> OrPy<T> for Result<T, Error> {
    fn or_py(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| to_py_err(py, e))
    }
}

fn to_py<'py>(py: Python<'py>, v: &impl serde::Serialize) -> PyResult<Bound<'py, PyAny>> {
    pythonize::pythonize(py, v).map_err(PyErr::from)
}

/// A dict argument (None: empty) as a JSON object.
fn json_object(py: Python<'_>, v: Option<&Bound<'_, PyAny>>, what: &str) -> PyResult<Map<String, Value>> {
    let Some(v) = v.filter(|v| !v.is_none()) else { return Ok(Map::new()) };
    match pythonize::depythonize::<Value>(v).map_err(PyErr::from)? {
        Value::Object(m) => Ok(m),
        other => Err(usage(py, format!("{what} must be a dict, not {other}"))),
    }
}

fn workdir(py: Python<'_>, path: &Path) -> PyResult<api::Workdir> {
    api::open_workdir(Some(path)).or_py(py)
}

fn group(py: Python<'_>, workdir_path: &Path, name: &str) -> PyResult<GroupDir> {
    let wd = workdir(py, workdir_path)?;
    api::open_group(&wd, name).or_py(py)
}

fn phase_of(py: Python<'_>, name: &str) -> PyResult<Phase> {
    Ok(match name {
        "scan" => Phase::Scan,
        "compute" => Phase::Compute,
        "validate" => Phase::Validate,
        "complete" => Phase::Complete,
        other => return Err(usage(py, format!("unknown phase '{other}' (scan, compute, validate or complete)"))),
    })
}

/// The selection of `codes` in `main` (an empty selection: none).
fn selection(codes: &[String]) -> Selection {
    Selection { repeat_id: "main".into(), projects: Some(codes.join(",")) }
}

/// A byte count: an int, or text such as "100MB" / "2G".
fn bytes_of(v: &Value) -> Option<u64> {
    if let Some(n) = v.as_u64() {
        return Some(n);
    }
    let s = v.as_str()?.trim().to_ascii_uppercase();
    let s = s.trim_end_matches('B').trim_end_matches('I');
    let (num, mult) = match s.chars().last()? {
        'K' => (&s[..s.len() - 1], 1u64 << 10),
        'M' => (&s[..s.len() - 1], 1 << 20),
        'G' => (&s[..s.len() - 1], 1 << 30),
        'T' => (&s[..s.len() - 1], 1 << 40),
        _ => (s, 1),
    };
    num.trim().parse::<f64>().ok().map(|n| (n * mult as f64) as u64)
}

/// Seconds from an int (seconds), or padocc's `-t` text (`MM:SS`, `H:MM:SS`, minutes).
fn seconds_of(v: &Value) -> Option<u64> {
    if let Some(n) = v.as_u64() {
        return Some(n);
    }
    let s = v.as_str()?.trim();
    let parts: Vec<u64> = s.split(':').map(|p| p.trim().parse::<u64>()).collect::<Result<_, _>>().ok()?;
    Some(match parts.as_slice() {
        [m] => m * 60,
        [m, sec] => m * 60 + sec,
        [h, m, sec] => h * 3600 + m * 60 + sec,
        _ => return None,
    })
}

/// Run options as `padocc._native` documents them.
struct RunRequest {
    opts: PhaseOptions,
    jobs: Option<usize>,
    dryrun: bool,
    indices: Option<Vec<usize>>,
}

fn run_request(py: Python<'_>, m: &Map<String, Value>, control: Control) -> PyResult<RunRequest> {
    let mut o = PhaseOptions { version_separator: "_".into(), control, ..PhaseOptions::default() };
    let (mut jobs, mut dryrun, mut indices) = (None, false, None);
    let bad = |k: &str, v: &Value| usage(py, format!("run option {k}: unexpected value {v}"));
    let text = |k: &str, v: &Value| -> PyResult<Option<String>> {
        match v {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s.clone())),
            _ => Err(bad(k, v)),
        }
    };
    for (k, v) in m {
        let flag = || v.as_bool().or(v.is_null().then_some(false)).ok_or_else(|| bad(k, v));
        match k.as_str() {
            "force" => o.force = flag()?,
            "new_version" => o.new_version = flag()?,
            "delete" => o.delete = flag()?,
            "dryrun" => dryrun = flag()?,
            "quiet" => {}
            "indices" => {
                indices = match v {
                    Value::Null => None,
                    Value::Array(a) => Some(a.iter().map(|x| x.as_u64().map(|i| i as usize).ok_or_else(|| bad(k, v))).collect::<PyResult<_>>()?),
                    _ => return Err(bad(k, v)),
                }
            }
            "cloud_format" => o.cloud_format = text(k, v)?,
            "mem_allowed" => o.mem_allowed = if v.is_null() { None } else { Some(bytes_of(v).ok_or_else(|| bad(k, v))?) },
            "concat_dims" => {
                o.concat_dims = match v {
                    Value::Null => vec![],
                    Value::String(s) => s.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect(),
                    Value::Array(a) => a.iter().map(|x| x.as_str().map(String::from).ok_or_else(|| bad(k, v))).collect::<PyResult<_>>()?,
                    _ => return Err(bad(k, v)),
                }
            }
            "dedupe" => {
                o.dedupe = match text(k, v)?.as_deref() {
                    None => None,
                    Some("error") => Some(Dedupe::Error),
                    Some("keep") => Some(Dedupe::Keep),
                    Some("first") => Some(Dedupe::First),
                    Some("last") => Some(Dedupe::Last),
                    Some(_) => return Err(bad(k, v)),
                }
            }
            "sample" => o.sample = if v.is_null() { 0 } else { v.as_u64().ok_or_else(|| bad(k, v))? as usize },
            "bypass" => o.bypass = if v.is_null() { None } else { Some(v.clone()) },
            "completion_dir" => o.completion_dir = text(k, v)?.map(PathBuf::from),
            "sub" => o.sub = text(k, v)?,
            "replace" => o.replace = text(k, v)?,
            "version_separator" => o.version_separator = text(k, v)?.unwrap_or_else(|| "_".into()),
            "jobid" => o.jobid = text(k, v)?.filter(|s| !s.is_empty()),
            "jobs" => jobs = if v.is_null() { None } else { Some((v.as_u64().ok_or_else(|| bad(k, v))? as usize).max(1)) },
            other => return Err(usage(py, format!("unknown run option '{other}'"))),
        }
    }
    Ok(RunRequest { opts: o, jobs, dryrun, indices })
}

/// A cancellation token, registered for `interrupt` until dropped.
struct Registered {
    id: u64,
    cancel: Cancel,
}

impl Registered {
    fn new() -> Registered {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        let cancel = Cancel::new();
        ACTIVE.lock().unwrap_or_else(|e| e.into_inner()).push((id, cancel.clone()));
        Registered { id, cancel }
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        ACTIVE.lock().unwrap_or_else(|e| e.into_inner()).retain(|(id, _)| *id != self.id);
    }
}

/// Progress to a Python callable `progress(label, done, total)`; an exception
/// from it (KeyboardInterrupt...) cancels the run.
fn reporter(progress: Option<Py<PyAny>>, cancel: &Cancel) -> Reporter {
    let Some(cb) = progress else { return Reporter::Silent };
    let cancel = cancel.clone();
    Reporter::Callback(Arc::new(move |t: Tick<'_>| {
        Python::attach(|py| {
            if py.check_signals().is_err() || cb.call1(py, (t.label, t.done, t.total)).is_err() {
                cancel.cancel();
            }
        })
    }))
}

// -- the functions -------------------------------------------------------------

/// The engine's version.
#[pyfunction]
fn engine_version() -> &'static str {
    embed::version()
}

/// Create or update projects of a group; see `padocc._native.init_projects`.
#[pyfunction]
#[pyo3(signature = (workdir, group, rows, options=None))]
fn init_projects<'py>(py: Python<'py>, workdir: PathBuf, group: String, rows: Bound<'py, PyAny>, options: Option<Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyAny>> {
    let specs: Vec<embed::ProjectSpec> = pythonize::depythonize(&rows).map_err(|e| usage(py, format!("init rows: {e}")))?;
    let opts: embed::InitOptions = match options.as_ref().filter(|o| !o.is_none()) {
        Some(o) => pythonize::depythonize(o).map_err(|e| usage(py, format!("init options: {e}")))?,
        None => embed::InitOptions::default(),
    };
    let wd = self::workdir(py, &workdir)?;
    let summary = py.detach(|| embed::init_projects(&wd, &group, &specs, &opts)).or_py(py)?;
    for (what, codes) in [("created", &summary.created), ("updated", &summary.updated)] {
        if !codes.is_empty() {
            log::info!(target: LOG_TARGET, "{group}: {what} {}", codes.join(", "));
        }
    }
    to_py(py, &summary)
}

/// Run a phase over projects of a group, in this process; see `padocc._native.run_phase`.
#[pyfunction]
#[pyo3(signature = (workdir, group, phase, codes, options=None, progress=None))]
fn run_phase<'py>(
    py: Python<'py>,
    workdir: PathBuf,
    group: String,
    phase: String,
    codes: Vec<String>,
    options: Option<Bound<'py, PyAny>>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let phase = phase_of(py, &phase)?;
    let g = self::group(py, &workdir, &group)?;
    let m = json_object(py, options.as_ref(), "run options")?;
    let run = Registered::new();
    let control = Control { progress: reporter(progress, &run.cancel), cancel: run.cancel.clone() };
    let req = run_request(py, &m, control)?;
    let result: Result<Value, Error> = py.detach(|| {
        if codes.is_empty() {
            return Ok(json!({"group": g.name, "phase": phase, "seconds": 0.0, "interrupted": false, "results": []}));
        }
        let projects = embed::resolve_codes(&g, &codes, req.indices.as_deref())?;
        if req.dryrun {
            let rows = embed::plan_projects(&g, &projects, phase, &req.opts)?;
            return Ok(json!({"group": g.name, "phase": phase, "dry_run": true, "projects": rows}));
        }
        phases::record_formats(&g, &codes, req.opts.cloud_format.as_deref(), None)?;
        let on_done = |o: &api::Outcome| {
            let msg = o.message.as_deref().map(|m| format!(": {m}")).unwrap_or_default();
            if o.ok {
                log::info!(target: LOG_TARGET, "{} [{}] {} {}{msg}", o.code, o.index, o.phase.name(), o.status);
            } else {
                log::error!(target: LOG_TARGET, "{} [{}] {} {}{msg}", o.code, o.index, o.phase.name(), o.status);
            }
        };
        let r = embed::run_projects(&g, &projects, phase, &req.opts, req.jobs, &on_done)?;
        Ok(serde_json::to_value(&r).expect("JSON"))
    });
    drop(run);
    let v = result.map_err(|e| to_py_err(py, e))?;
    to_py(py, &v)
}

/// The newest status row of each of `codes` that has one.
#[pyfunction]
fn current_statuses<'py>(py: Python<'py>, workdir: PathBuf, group: String, codes: Vec<String>) -> PyResult<Bound<'py, PyAny>> {
    let g = self::group(py, &workdir, &group)?;
    let rows = py.detach(|| embed::current_statuses(&g, &codes)).or_py(py)?;
    to_py(py, &rows)
}

/// Append a status row for a project (its status log and the group's index).
#[pyfunction]
#[pyo3(signature = (workdir, group, code, phase, status, jobid=String::new()))]
fn record_status(py: Python<'_>, workdir: PathBuf, group: String, code: String, phase: String, status: String, jobid: String) -> PyResult<()> {
    let g = self::group(py, &workdir, &group)?;
    py.detach(|| embed::record_status(&g, &code, &phase, &status, &jobid)).or_py(py)?;
    Ok(())
}

/// Move projects to another group (created when missing); returns how many moved.
#[pyfunction]
fn transfer_projects(py: Python<'_>, workdir: PathBuf, group: String, new_group: String, codes: Vec<String>) -> PyResult<usize> {
    if codes.is_empty() {
        return Ok(0);
    }
    let g = self::group(py, &workdir, &group)?;
    let n = py.detach(|| api::projects::transfer(&g, &selection(&codes), &new_group)).or_py(py)?;
    log::info!(target: LOG_TARGET, "moved {n} project(s) from {group} to {new_group}");
    Ok(n)
}

/// The global attributes of a netCDF/CFA file.
#[pyfunction]
fn nca_meta<'py>(py: Python<'py>, path: PathBuf) -> PyResult<Bound<'py, PyAny>> {
    let m = py.detach(|| embed::nc_global_attributes(&path)).or_py(py)?;
    to_py(py, &m)
}

/// Set and delete global attributes of a netCDF/CFA file in place.
#[pyfunction]
#[pyo3(signature = (path, attrs, remove=Vec::new()))]
fn set_nca_meta(py: Python<'_>, path: PathBuf, attrs: Bound<'_, PyAny>, remove: Vec<String>) -> PyResult<()> {
    let m = json_object(py, Some(&attrs), "attributes")?;
    py.detach(|| embed::set_nc_global_attributes(&path, &m, &remove)).or_py(py)
}

/// Rewrite, in place, the fragment URIs of a CFA file that start with `sub`;
/// returns how many were rewritten.
#[pyfunction]
fn rewrite_nca_uris(py: Python<'_>, path: PathBuf, sub: String, replace: String) -> PyResult<usize> {
    py.detach(|| embed::rewrite_cfa_uris(&path, &sub, &replace)).or_py(py)
}

/// Submit a phase as job arrays; see `padocc._native.submit`.
#[pyfunction]
#[pyo3(signature = (workdir, group, phase, codes, options=None, scheduler=None))]
fn submit<'py>(
    py: Python<'py>,
    workdir: PathBuf,
    group: String,
    phase: String,
    codes: Vec<String>,
    options: Option<Bound<'py, PyAny>>,
    scheduler: Option<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let phase = phase_of(py, &phase)?;
    let g = self::group(py, &workdir, &group)?;
    let m = json_object(py, options.as_ref(), "run options")?;
    let s = json_object(py, scheduler.as_ref(), "scheduler options")?;
    let mut req = phases::SchedulerRequest::default();
    for (k, v) in &s {
        let bad = || usage(py, format!("scheduler option {k}: unexpected value {v}"));
        match k.as_str() {
            "name" => req.scheduler = v.as_str().map(String::from),
            "config" => req.config = v.as_str().map(PathBuf::from),
            "dry_run" => req.dry_run = v.as_bool().unwrap_or(false),
            "time" => req.bounds.time_s = if v.is_null() { None } else { Some(seconds_of(v).ok_or_else(bad)?) },
            "memory" => req.bounds.mem_mb = if v.is_null() { None } else { Some(bytes_of(v).ok_or_else(bad)?.div_ceil(1 << 20)) },
            "per_task" => req.bounds.per_task = if v.is_null() { None } else { Some(v.as_u64().ok_or_else(bad)? as usize) },
            other => return Err(usage(py, format!("unknown scheduler option '{other}'"))),
        }
    }
    let run = Registered::new();
    let r = run_request(py, &m, Control { cancel: run.cancel.clone(), progress: Reporter::Silent })?;
    req.dry_run |= r.dryrun;
    let v: Result<Value, Error> = py.detach(|| {
        let sel = selection(&codes);
        if codes.is_empty() {
            return Ok(json!({"group": g.name, "phase": phase, "scheduler": req.scheduler, "dry_run": req.dry_run, "submissions": []}));
        }
        if !req.dry_run {
            phases::record_formats(&g, &sel.codes(&g)?, r.opts.cloud_format.as_deref(), None)?;
        }
        let res = phases::submit_phase(&g, &sel, phase, &r.opts, &req)?;
        Ok(serde_json::to_value(&res).expect("JSON"))
    });
    drop(run);
    let v = v.map_err(|e| to_py_err(py, e))?;
    to_py(py, &v)
}

/// Stop the runs in progress at their next safe point (as a first Ctrl-C
/// does in the command line).
#[pyfunction]
fn interrupt() {
    for (_, c) in ACTIVE.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        c.cancel();
    }
}

/// The `padocc` command line: `argv` with the program name first; returns
/// the exit code.
#[pyfunction]
fn cli_main(py: Python<'_>, argv: Vec<String>) -> i32 {
    py.detach(|| padocc::cli::main_from(argv))
}

#[pymodule]
fn _padocc(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // As the command line: padocc only reads HDF5 files, and HDF5's flock-based
    // locking fails on filesystems without flock.
    if std::env::var_os("HDF5_USE_FILE_LOCKING").is_none() {
        std::env::set_var("HDF5_USE_FILE_LOCKING", "FALSE");
    }
    let py = m.py();
    // Levels are asked of Python at each record (a notebook's basicConfig or
    // setLevel after the import still counts); the logger objects are cached.
    if let Ok(logger) = pyo3_log::Logger::new(py, pyo3_log::Caching::Loggers) {
        let _ = logger.install();
    }
    m.add("EngineError", py.get_type::<EngineError>())?;
    m.add("__version__", embed::version())?;
    m.add("LOGGER", LOG_TARGET)?;
    m.add_function(wrap_pyfunction!(engine_version, m)?)?;
    m.add_function(wrap_pyfunction!(init_projects, m)?)?;
    m.add_function(wrap_pyfunction!(run_phase, m)?)?;
    m.add_function(wrap_pyfunction!(current_statuses, m)?)?;
    m.add_function(wrap_pyfunction!(record_status, m)?)?;
    m.add_function(wrap_pyfunction!(transfer_projects, m)?)?;
    m.add_function(wrap_pyfunction!(nca_meta, m)?)?;
    m.add_function(wrap_pyfunction!(set_nca_meta, m)?)?;
    m.add_function(wrap_pyfunction!(rewrite_nca_uris, m)?)?;
    m.add_function(wrap_pyfunction!(submit, m)?)?;
    m.add_function(wrap_pyfunction!(interrupt, m)?)?;
    m.add_function(wrap_pyfunction!(cli_main, m)?)?;
    Ok(())
}
