//! The padocc phases, each a function of one project, so that the same code
//! runs in-process (`local`) or as a scheduler task.
//!
//! `run_project` records the outcome as a status row (project `status_log.csv`
//! and the group journal) and appends a line to `phase_logs/<phase>.log`.

pub mod complete;
pub mod compute;
pub mod init;
pub mod local;
pub mod scan;
pub mod validate;

use std::path::PathBuf;
use std::time::Instant;

use crate::aggregate::combine::Dedupe;
use crate::control::Control;
use crate::error::{Error, Result};
use crate::workdir::group::GroupDir;
use crate::workdir::lock::Acquired;
use crate::workdir::project::{local_time, Project, StatusRow};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Scan,
    Compute,
    Validate,
    Complete,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Scan => "scan",
            Phase::Compute => "compute",
            Phase::Validate => "validate",
            Phase::Complete => "complete",
        }
    }

    /// The phase a status row's `phase` names; None for `init` and anything else.
    pub fn from_name(name: &str) -> Option<Phase> {
        [Phase::Scan, Phase::Compute, Phase::Validate, Phase::Complete].into_iter().find(|p| p.name() == name)
    }
}

/// Everything a phase may be told by the command line.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `-f`: redo even when the result exists.
    pub force: bool,
    /// `-n`: compute a new minor version beside the existing product.
    pub new_version: bool,
    /// `-C`: kerchunk, zarr or CFA.
    pub cloud_format: Option<String>,
    /// compute `--mem-allowed`: memory for a Zarr conversion's chunk buffers.
    pub mem_allowed: Option<u64>,
    /// `--concat-dims`: overrides what scan found.
    pub concat_dims: Vec<String>,
    pub dedupe: Option<Dedupe>,
    /// validate `--sample N`: compare N blocks per variable (0 = every value).
    pub sample: usize,
    pub completion_dir: Option<PathBuf>,
    pub sub: Option<String>,
    pub replace: Option<String>,
    pub version_separator: String,
    /// Job id for the status row (empty in-process: the index is used).
    pub jobid: Option<String>,
    /// validate: processes one project's validation may use (the cores left to
    /// it by the projects running beside it); 0 or 1: this process only.
    pub processes: usize,
    /// validate `-i`: padocc's bypass file, the differences that do not count.
    pub bypass: Option<serde_json::Value>,
    /// complete `--delete`: remove the project's directory once it is published.
    pub delete: bool,
    /// Cancellation and progress from the caller.
    pub control: Control,
}

/// What happened to one project in one phase.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Outcome {
    pub index: usize,
    pub code: String,
    pub phase: Phase,
    pub status: String,
    pub ok: bool,
    /// Nothing needed doing (product present, already complete...).
    pub skipped: bool,
    pub message: Option<String>,
    pub seconds: f64,
}

/// What a phase function returns on success.
pub struct Done {
    pub status: String,
    pub message: Option<String>,
    pub skipped: bool,
}

impl Done {
    pub fn success() -> Done {
        Done { status: "Success".into(), message: None, skipped: false }
    }
    pub fn skipped(why: impl Into<String>) -> Done {
        Done { status: "Success".into(), message: Some(why.into()), skipped: true }
    }
}

/// Status token of an error, in padocc's vocabulary where it has one.
pub fn error_status(e: &Error) -> &'static str {
    match e {
        Error::Missing { .. } => "SourceNotFoundError",
        Error::Incompatible(_) => "ConcatFatalError",
        Error::Unreadable { .. } | Error::Corrupt { .. } | Error::UnknownFormat { .. } => "Failed-InputError",
        Error::Unsupported { .. } => "Failed-Unsupported",
        Error::Output { .. } => "Failed-OutputError",
        Error::Usage(_) => "Failed-UsageError",
        Error::Scheduler(_) => "Failed-SchedulerError",
        Error::Resources(_) => "Failed-MemoryError",
        Error::Busy(_) => BUSY,
        Error::Interrupted => "Interrupted",
        Error::Internal(_) => "Failed-InternalError",
    }
}

/// Where a status row's phase (`init`, `scan`, ...) stands in the pipeline;
/// None for anything else.
pub fn phase_rank(phase: &str) -> Option<usize> {
    ["init", "scan", "compute", "validate", "complete"].iter().position(|p| *p == phase)
}

/// Why `phase` would leave project `code` as it is, if it would: each
/// phase's own rule (scan and validate always run).
pub fn skip_reason(group: &GroupDir, code: &str, phase: Phase, opts: &Options) -> Result<Option<String>> {
    let project = group.project(code)?;
    if !project.exists() {
        return Ok(None);
    }
    match phase {
        Phase::Scan | Phase::Validate => Ok(None),
        Phase::Compute => compute::skip_reason(&project, opts),
        Phase::Complete => complete::skip_reason(&project, opts),
    }
}

/// Run one phase for one project and record its outcome. The project's
/// lock is held throughout: a project another run is working on is left as it
/// is, with status `Busy` and who holds it.
pub fn run_project(group: &GroupDir, index: usize, code: &str, phase: Phase, opts: &Options) -> Outcome {
    run_project_then(group, index, code, phase, opts, || Ok(()))
}

/// As [`run_project`], calling `started` once the lock is held (a worker
/// records `Running` there, which a busy project must not get).
pub fn run_project_then(group: &GroupDir, index: usize, code: &str, phase: Phase, opts: &Options, started: impl FnOnce() -> Result<()>) -> Outcome {
    let t0 = Instant::now();
    let fail = |e: Error, skipped: bool| Outcome {
        index,
        code: code.into(),
        phase,
        status: error_status(&e).into(),
        ok: false,
        skipped,
        message: Some(e.to_string()),
        seconds: t0.elapsed().as_secs_f64(),
    };
    let project = match group.project(code) {
        Ok(p) => p,
        Err(e) => return fail(e, true),
    };
    let _lock = match group.lock(code, phase.name()) {
        Ok(Acquired::Held(l)) => l,
        Ok(Acquired::Busy(h)) => {
            return Outcome {
                index,
                code: code.into(),
                phase,
                status: BUSY.into(),
                ok: true,
                skipped: true,
                message: Some(format!("busy: {h}; left as it is")),
                seconds: t0.elapsed().as_secs_f64(),
            }
        }
        Err(e) => return fail(e, true),
    };
    if let Err(e) = started() {
        return fail(e, false);
    }
    run_locked(group, &project, index, code, phase, opts, t0)
}

/// The status of a project another run holds (never recorded).
pub const BUSY: &str = "Busy";

fn run_locked(group: &GroupDir, project: &Project, index: usize, code: &str, phase: Phase, opts: &Options, t0: Instant) -> Outcome {
    // Should memory run out in this process, these rows are what is left of
    // the run: rendered now, written by the allocator then.
    let jobid = opts.jobid.clone().unwrap_or_else(|| index.to_string());
    let row = |status: &str| StatusRow { phase: phase.name().into(), status: status.into(), time: local_time(false), jobid: jobid.clone() };
    let _armed = match project.exists() {
        true => match (group.prepared_record(code, &row(error_status(&Error::Resources(String::new())))), group.prepared_record(code, &row("Failed-Crashed"))) {
            (Ok(memory), Ok(crash)) => Some(crate::oom::arm(memory.into(), crash.into(), &format!("{code} ({})", phase.name()))),
            _ => None,
        },
        false => None,
    };
    let published_and_deleted =
        || group.current_statuses(&[code.to_string()]).ok().and_then(|m| m.get(code).map(|r| r.phase == "complete" && r.status == "Success")).unwrap_or(false);
    let result = if !project.exists() && published_and_deleted() {
        Ok(Done::skipped("published and its directory deleted (complete --delete)"))
    } else if !project.exists() {
        Err(Error::Usage(format!("project '{code}' has no directory {}; was it initialised (`padocc init`)?", project.dir.display())))
    } else {
        match phase {
            Phase::Scan => scan::run(project, opts),
            Phase::Compute => compute::run(project, opts),
            Phase::Validate => validate::run(project, opts),
            Phase::Complete => complete::run(project, opts),
        }
    };
    // A usage error (no product yet, not validated...) says nothing new about the
    // project: it is reported but not recorded over the project's status.
    let (status, message, skipped) = match result {
        Ok(d) => (d.status, d.message, d.skipped),
        Err(e @ Error::Usage(_)) => (error_status(&e).to_string(), Some(e.to_string()), true),
        Err(e) => (error_status(&e).to_string(), Some(e.to_string()), false),
    };
    let ok = !crate::workdir::status::Status::parse(&status).is_failure();
    let seconds = t0.elapsed().as_secs_f64();
    if project.exists() {
        if !skipped {
            let row = StatusRow { phase: phase.name().into(), status: status.clone(), time: local_time(false), jobid: opts.jobid.clone().unwrap_or_else(|| index.to_string()) };
            if let Err(e) = group.record(code, &row) {
                return Outcome { index, code: code.into(), phase, status: "Failed-OutputError".into(), ok: false, skipped, message: Some(e.to_string()), seconds };
            }
        }
        log_line(project, phase, &status, message.as_deref(), seconds, &opts.jobid.clone().unwrap_or_else(|| index.to_string()));
    }
    let mut message = message;
    if phase == Phase::Complete && opts.delete && ok && !skipped && project.exists() {
        // Published and recorded in the group's journal: the working copy goes.
        let note = match std::fs::remove_dir_all(&project.dir) {
            Ok(()) => format!("deleted {}", project.dir.display()),
            Err(e) => format!("could not delete {}: {e}", project.dir.display()),
        };
        message = Some(message.map_or(note.clone(), |m| format!("{m}; {note}")));
    }
    Outcome { index, code: code.into(), phase, status, ok, skipped, message, seconds }
}

/// Each attempt in `phase_logs/<phase>.log`, kept across runs (padocc
/// truncates it): a header naming the attempt, where and in which job it ran,
/// then its outcome.
fn log_line(p: &Project, phase: Phase, status: &str, message: Option<&str>, seconds: f64, jobid: &str) {
    let dir = p.path("phase_logs");
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    let path = dir.join(format!("{}.log", phase.name()));
    let attempt = std::fs::read_to_string(&path).map(|t| t.lines().filter(|l| l.starts_with("=== ")).count()).unwrap_or(0) + 1;
    let job = if jobid.is_empty() { String::new() } else { format!(", job {jobid}") };
    let header = format!("=== {} attempt {attempt}: {} on {} (pid {}){job} ===", phase.name(), local_time(true), crate::workdir::group::hostname(), std::process::id());
    let line = format!("{} {} {status} ({seconds:.3} s){}", local_time(true), phase.name(), message.map(|m| format!(": {}", m.replace('\n', " "))).unwrap_or_default());
    let _ = crate::workdir::project::append_line(&path, &format!("{header}\n{line}"));
}
