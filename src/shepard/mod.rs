//! SHEPARD: unattended operation over a directory of groups (flocks), run
//! from cron. Each pass ([`pass::run_pass`]) turns new manifests into flocks,
//! submits (or runs) the next phase of every project that is ready, reruns
//! what the scheduler ended with more resources, retries data errors once in
//! the `shp_sideline` flock, quarantines what keeps failing, and retires
//! flocks whose every project is published.
//!
//! Only one pass runs per flock_dir at a time: [`lock`] takes
//! `<flock_dir>/shp_logs/shepard.lock`, a lock that holds on NFS and Lustre
//! (see [`crate::workdir::lock`]).

pub mod conf;
pub mod flocks;
pub mod pass;
mod status;

pub use conf::Conf;
pub use pass::{run_pass, Action, PassReport, PassRequest, Step, Why};
pub use status::{render_status, status, FlockLine, ShepardStatus};

use crate::error::{Error, Result};
use crate::workdir::group::GroupDir;
use crate::workdir::lock::{self, Acquired};
use crate::workdir::project::{local_time, StatusRow};
use crate::workdir::status::{Kind, Status};
use crate::workdir::Workdir;

/// Where SHEPARD's lock and logs are.
pub fn logs_dir(conf: &Conf) -> std::path::PathBuf {
    conf.flock_dir.join("shp_logs")
}

/// Take SHEPARD's lock of the flock_dir for `what`: held, or busy with who
/// holds it. A holder that is gone (killed, its host rebooted) is taken over.
pub fn lock(conf: &Conf, what: &str) -> Result<Acquired> {
    let dir = logs_dir(conf);
    std::fs::create_dir_all(&dir).map_err(|e| Error::output(&dir, e))?;
    lock::acquire(&dir.join("shepard.lock"), what)
}

/// The flock_dir as a working directory (created if new).
pub fn workdir(conf: &Conf) -> Result<Workdir> {
    let wd = Workdir { root: conf.flock_dir.clone() };
    std::fs::create_dir_all(wd.groups_dir()).map_err(|e| Error::output(&wd.groups_dir(), e))?;
    Ok(wd)
}

/// What runs under SHEPARD's lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// One pass (`batch`).
    Batch,
    /// One pass of `continuous` (named so in the lock, for whoever finds it held).
    Continuous,
    Quarantine,
    Scrub,
    Clear,
    Delete,
}

impl Job {
    pub fn name(self) -> &'static str {
        match self {
            Job::Batch => "batch",
            Job::Continuous => "continuous",
            Job::Quarantine => "quarantine",
            Job::Scrub => "scrub",
            Job::Clear => "clear",
            Job::Delete => "delete",
        }
    }
}

/// What a job under the lock came to.
#[derive(Debug)]
pub enum Outcome {
    /// Another process holds the lock: nothing was done.
    Busy(lock::Holder),
    Pass(Box<PassReport>),
    Maintenance(Maintenance),
}

/// Run `job` under SHEPARD's lock of the flock_dir, or say who holds it. A
/// pass first removes what a killed pass left half-deleted.
pub fn run_locked(conf: &Conf, job: Job, req: &PassRequest) -> Result<Outcome> {
    let _held = match lock(conf, &format!("shepard {}", job.name()))? {
        Acquired::Held(l) => l,
        Acquired::Busy(h) => return Ok(Outcome::Busy(h)),
    };
    Ok(match job {
        Job::Batch | Job::Continuous => {
            pass::empty_trash(&workdir(conf)?);
            Outcome::Pass(Box::new(run_pass(conf, req)?))
        }
        Job::Quarantine => Outcome::Maintenance(quarantine_failed(conf, req.dry_run)?),
        Job::Scrub => Outcome::Maintenance(scrub(conf, req.dry_run)?),
        Job::Clear => Outcome::Maintenance(clear(conf, true, req.dry_run)?),
        Job::Delete => Outcome::Maintenance(clear(conf, false, req.dry_run)?),
    })
}

/// What a maintenance mode (quarantine, scrub, clear, delete) did.
#[derive(Debug, Default, serde::Serialize)]
pub struct Maintenance {
    pub mode: String,
    /// (flock, project or file count, detail).
    pub done: Vec<(String, String, String)>,
    pub errors: Vec<String>,
}

/// (flock, project, current status) of every project of every flock.
fn current_rows(wd: &Workdir) -> Result<Vec<(String, String, StatusRow)>> {
    let mut out = Vec::new();
    for name in flocks::list(wd) {
        let g = GroupDir::open(wd, &name)?;
        let codes = g.codes("main")?;
        let mut cur = g.current_statuses(&codes)?;
        out.extend(codes.iter().filter_map(|c| cur.remove(c).map(|r| (name.clone(), c.clone(), r))));
    }
    Ok(out)
}

/// `shepard quarantine`: every project of every flock whose status is a
/// failure (not pending, running or successful) goes to the quarantine.
pub fn quarantine_failed(conf: &Conf, dry_run: bool) -> Result<Maintenance> {
    let wd = workdir(conf)?;
    let mut out = Maintenance { mode: "quarantine".into(), ..Default::default() };
    let moves: Vec<Action> = current_rows(&wd)?
        .into_iter()
        .filter(|(_, _, r)| Status::parse(&r.status).is_failure())
        .map(|(flock, project, r)| Action::Quarantine { reason: format!("shepard quarantine: {}", r.line()), flock, project })
        .collect();
    let done = match dry_run {
        true => moves,
        false => {
            let (done, errors) = pass::apply_moves(&wd, conf, moves);
            out.errors = errors;
            done
        }
    };
    for m in done {
        if let Action::Quarantine { flock, project, reason } = m {
            out.done.push((flock, project, reason));
        }
    }
    Ok(out)
}

/// `shepard scrub`: projects that failed (not pending, successful or warned)
/// go back to their first status (their `init`), so the next pass starts them
/// again from scan.
pub fn scrub(conf: &Conf, dry_run: bool) -> Result<Maintenance> {
    let wd = workdir(conf)?;
    let mut out = Maintenance { mode: "scrub".into(), ..Default::default() };
    for (name, c, r) in current_rows(&wd)? {
        if matches!(Status::parse(&r.status).kind, Kind::Pending | Kind::Running | Kind::Success | Kind::Warn) {
            continue;
        }
        if dry_run {
            out.done.push((name, c, r.line()));
            continue;
        }
        let g = GroupDir::open(&wd, &name)?;
        match scrub_one(&g, &c) {
            Ok(first) => out.done.push((name, c, format!("{} -> {}", r.line(), first.line()))),
            Err(e) => out.errors.push(format!("{name}/{c}: {e}")),
        }
    }
    Ok(out)
}

fn scrub_one(g: &GroupDir, code: &str) -> Result<StatusRow> {
    let _held = g.lock_all(&[code.to_string()], "shepard scrub")?;
    let p = g.project(code)?;
    let first = p.status_rows()?.into_iter().next().unwrap_or(StatusRow { phase: "init".into(), status: "Success".into(), time: local_time(false), jobid: String::new() });
    let log = p.path("status_log.csv");
    crate::fsutil::write_file_atomic(&log, |_| Ok(()))?;
    g.record(code, &first)?;
    Ok(first)
}

/// `shepard clear` (subsets and job files) and `shepard delete` (job files
/// only) over every flock. This tool's submission records under `jobs/` stay:
/// the next pass reads them.
pub fn clear(conf: &Conf, subsets_too: bool, dry_run: bool) -> Result<Maintenance> {
    let wd = workdir(conf)?;
    let mut out = Maintenance { mode: if subsets_too { "clear" } else { "delete" }.into(), ..Default::default() };
    for name in flocks::list(&wd) {
        let g = GroupDir::open(&wd, &name)?;
        if dry_run {
            out.done.push((name, String::new(), "would clear".into()));
            continue;
        }
        let r = if subsets_too { g.clear_job_files() } else { g.remove_job_logs().map(|n| (0, n)) };
        match r {
            Ok((s, f)) => out.done.push((name, format!("{s} subsets, {f} files"), String::new())),
            Err(e) => out.errors.push(format!("{name}: {e}")),
        }
    }
    Ok(out)
}

/// Append `text` to this pass's autolog, `<flock_dir>/shp_logs/shp_<HHMM_ddmmYYYY>`.
pub fn autolog(conf: &Conf, text: &str) -> Result<std::path::PathBuf> {
    let dir = logs_dir(conf);
    std::fs::create_dir_all(&dir).map_err(|e| Error::output(&dir, e))?;
    let path = dir.join(format!("shp_{}", flocks::stamp()));
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&path).map_err(|e| Error::output(&path, e))?;
    std::io::Write::write_all(&mut f, text.as_bytes()).map_err(|e| Error::output(&path, e))?;
    Ok(path)
}

/// A pass in words, for the terminal and the autolog.
pub fn render_pass(r: &PassReport) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "shepard batch{}{} at {}: {} flock(s), {} project(s); {} published, {} waiting on the scheduler",
        if r.dry_run { " (dry run)" } else { "" },
        if r.parallel { " --parallel" } else { "" },
        r.started,
        r.flocks,
        r.projects,
        r.published,
        r.waiting
    );
    if !r.intake.swept.is_empty() {
        let _ = writeln!(s, "  swept {} manifest(s) into the cache", r.intake.swept.len());
    }
    for m in &r.intake.made {
        let _ = writeln!(s, "  new flock {} ({} project(s) from {})", m.flock, m.projects, m.from.join(", "));
    }
    if r.intake.waiting > 0 {
        let _ = writeln!(s, "  {} manifest(s) wait in the cache (flock_limit reached)", r.intake.waiting);
    }
    for (f, why) in &r.intake.rejected {
        let _ = writeln!(s, "  manifest {f} set aside in the cache's rejected/: {why}");
    }
    for a in &r.actions {
        let _ = match a {
            Action::Run { flock, phase, why, projects } => writeln!(
                s,
                "  {} {} project(s) of {flock}{}: {}",
                phase.name(),
                projects.len(),
                match why {
                    Why::Next => String::new(),
                    w => format!(" ({})", serde_json::to_value(w).ok().and_then(|v| v.as_str().map(|x| x.replace('_', " "))).unwrap_or_default()),
                },
                abbreviate(projects)
            ),
            Action::Sideline { flock, project, status } => writeln!(s, "  sideline {project} of {flock} ({status})"),
            Action::Quarantine { flock, project, reason } => writeln!(s, "  quarantine {project} of {flock}: {reason}"),
            Action::Retire { flock, projects } => writeln!(s, "  retired flock {flock}: {projects} project(s) published, summary written"),
        };
    }
    for (k, n) in &r.outcomes {
        let _ = writeln!(s, "  ended {k}: {n}");
    }
    if !r.submitted.is_empty() {
        let _ = writeln!(s, "  submitted job(s) {}", r.submitted.join(" "));
    }
    for e in &r.errors {
        let _ = writeln!(s, "  error: {e}");
    }
    if !r.changed() {
        let _ = writeln!(s, "  nothing to do");
    }
    let _ = writeln!(s, "  ({:.2} s)", r.seconds);
    s
}

fn abbreviate(codes: &[String]) -> String {
    match codes.len() {
        0..=6 => codes.join(", "),
        n => format!("{}, ... ({} more)", codes[..5].join(", "), n - 5),
    }
}
