//! One SHEPARD pass (`shepard batch`): look at every flock once, decide
//! each project's next step from its status, and act on up to `batch_limit`
//! projects.
//!
//! Deciding is a pure function of a project's current status ([`step`]);
//! acting goes through the library's phases and moves. Everything a pass does
//! is recorded where the next pass reads it (status rows, submissions, the
//! groups' codesets), and each action can be redone: a pass killed at any
//! point is finished by the next one.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::conf::Conf;
use super::flocks::{self, Intake, QUARANTINE, SIDELINE};
use crate::api::phases::{self, SchedulerRequest};
use crate::control::Control;
use crate::error::{Error, Result};
use crate::pipeline::{Options, Phase};
use crate::scheduler::coordinator::{self, Boosts};
use crate::scheduler::TaskState;
use crate::workdir::group::{self as group_ops, GroupDir};
use crate::workdir::project::{append_line, local_time, StatusRow};
use crate::workdir::status::{Ended, Kind, Status};
use crate::workdir::Workdir;

/// How a pass runs.
#[derive(Debug, Clone, Default)]
pub struct PassRequest {
    /// Submit job arrays through the scheduler of `padocc.toml`; otherwise
    /// run the phases in this process.
    pub parallel: bool,
    /// Say what would be done; change nothing.
    pub dry_run: bool,
    pub scheduler: SchedulerRequest,
    pub control: Control,
}

/// Why a phase is run for a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Why {
    /// The previous phase succeeded.
    Next,
    /// Marked `Redo`, interrupted or cancelled: the same phase again.
    Redo,
    /// The scheduler ended it out of memory: again with more.
    MoreMemory,
    /// The scheduler ended it out of time: again with more.
    MoreTime,
    /// Its node failed, it was preempted, or its task ended without a word.
    Lost,
    /// A data error, retried once in the sideline as it was.
    Retry,
    /// A data error with references: retried in the sideline as a Zarr copy.
    RetryAsZarr,
}

/// What a project needs next, decided from its current status alone.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Pending or running: left alone.
    Wait,
    /// Published.
    Done,
    Run(Phase, Why),
    /// A data error in a flock: moved to the sideline to be retried there.
    Sideline,
    Quarantine(String),
}

/// The next step of a project whose current status is `row`; `in_sideline`:
/// it is in the sideline flock already, where data errors get their retry.
pub fn step(row: Option<&StatusRow>, in_sideline: bool) -> Step {
    let Some(row) = row else { return Step::Run(Phase::Scan, Why::Next) };
    let status = Status::parse(&row.status);
    let this = Phase::from_name(&row.phase);
    // Phases that are not the pipeline's (e.g. `init`) lead to scan.
    let same = this.unwrap_or(Phase::Scan);
    match status.kind {
        Kind::Success | Kind::Warn => match row.phase.as_str() {
            "init" => Step::Run(Phase::Scan, Why::Next),
            "scan" => Step::Run(Phase::Compute, Why::Next),
            "compute" => Step::Run(Phase::Validate, Why::Next),
            "validate" => Step::Run(Phase::Complete, Why::Next),
            "complete" => Step::Done,
            other => Step::Quarantine(format!("status row of an unknown phase '{other}'")),
        },
        Kind::Pending | Kind::Running => Step::Wait,
        // padocc's per-project parallel compute: its own jobs record the end.
        Kind::Other if row.status.ends_with("SubsetDeployed") => Step::Wait,
        // Redo means redo: padocc 1.5.1's SHEPARD advanced these (spec §8.1 item 16).
        Kind::Redo | Kind::Interrupted | Kind::Cancelled => Step::Run(same, Why::Redo),
        Kind::Ended(Ended::OutOfMemory) => Step::Run(same, Why::MoreMemory),
        Kind::Ended(Ended::Timeout) => Step::Run(same, Why::MoreTime),
        Kind::Ended(Ended::NodeFail | Ended::Preempted | Ended::Lost) => Step::Run(same, Why::Lost),
        // The worker's own record of running out of memory (its allocator
        // failed before the scheduler's limit was reached).
        Kind::Failed if row.status.contains("MemoryError") => Step::Run(same, Why::MoreMemory),
        _ if row.status.contains("ConcatFatalError") => Step::Quarantine(format!("{} {}: the files cannot be combined into one dataset", row.phase, row.status)),
        _ if !in_sideline => Step::Sideline,
        _ => match this {
            Some(Phase::Compute | Phase::Validate) => Step::Run(Phase::Compute, Why::RetryAsZarr),
            Some(p) => Step::Run(p, Why::Retry),
            None => Step::Quarantine(format!("{} {}", row.phase, row.status)),
        },
    }
}

/// One thing a pass does (or, dry, would do).
#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    Run {
        flock: String,
        phase: Phase,
        why: Why,
        projects: Vec<String>,
    },
    Sideline {
        flock: String,
        project: String,
        status: String,
    },
    Quarantine {
        flock: String,
        project: String,
        reason: String,
    },
    /// Every project published: summary written, flock removed.
    Retire {
        flock: String,
        projects: usize,
    },
}

/// What one pass did.
#[derive(Debug, Default, serde::Serialize)]
pub struct PassReport {
    pub started: String,
    pub seconds: f64,
    pub dry_run: bool,
    pub parallel: bool,
    pub intake: Intake,
    pub flocks: usize,
    pub projects: usize,
    /// Pending or running, left alone.
    pub waiting: usize,
    pub published: usize,
    pub actions: Vec<Action>,
    /// In-process runs: end statuses and how many ended so.
    pub outcomes: BTreeMap<String, usize>,
    /// Submissions made (job ids).
    pub submitted: Vec<String>,
    /// What went wrong with one flock or action, without stopping the pass.
    pub errors: Vec<String>,
}

impl PassReport {
    /// Whether the pass changed anything (a cron driver's "nothing to do").
    pub fn changed(&self) -> bool {
        !self.actions.is_empty() || !self.intake.made.is_empty() || !self.intake.swept.is_empty()
    }
}

/// A flock's projects and their statuses as a pass sees them.
struct FlockState {
    group: GroupDir,
    codes: Vec<String>,
    current: HashMap<String, StatusRow>,
    tasks: HashMap<String, TaskState>,
}

/// Read every flock's statuses, then ask each scheduler once for the tasks of
/// all flocks' waiting projects.
fn read_flocks(wd: &Workdir, names: &[String], errors: &mut Vec<String>) -> Vec<FlockState> {
    let mut out = Vec::new();
    for name in names {
        let read = || -> Result<FlockState> {
            let group = GroupDir::open(wd, name)?;
            let codes = group.codes("main")?;
            let current = group.current_statuses(&codes)?;
            Ok(FlockState { group, codes, current, tasks: HashMap::new() })
        };
        match read() {
            Ok(f) => out.push(f),
            Err(e) => errors.push(format!("flock {name}: {e}")),
        }
    }
    let mut items: Vec<(&GroupDir, &mut HashMap<String, StatusRow>)> = out.iter_mut().map(|f| (&f.group, &mut f.current)).collect();
    match crate::scheduler::join_many(&mut items) {
        Ok(found) => {
            for (f, tasks) in out.iter_mut().zip(found) {
                f.tasks = tasks;
            }
        }
        Err(e) => errors.push(format!("could not ask the scheduler ({e}); waiting projects are left as they are")),
    }
    out
}

/// How many times `phase` has failed for a project, from its status log.
fn failures(group: &GroupDir, code: &str, phase: Phase) -> usize {
    let rows = group.project(code).and_then(|p| p.status_rows()).unwrap_or_default();
    rows.iter().filter(|r| r.phase == phase.name() && !matches!(Status::parse(&r.status).kind, Kind::Success | Kind::Warn | Kind::Pending | Kind::Running | Kind::Redo)).count()
}

/// Why a rerun with more of what ran out cannot be: the last task asked for
/// the most a task may ask already.
fn at_cap(phase: Phase, why: Why, last: &coordinator::LastAttempt, res: &coordinator::Resources) -> Option<String> {
    let (what, asked, cap, unit, key) = match why {
        Why::MoreMemory => ("memory", last.mem_mb, res.cap_mem_mb, "MB", "cap_mem_mb"),
        Why::MoreTime => ("time", last.time_s, res.cap_time_s, "s", "cap_time_s"),
        _ => return None,
    };
    (asked >= cap).then(|| format!("{} ran out of {what} with {asked} {unit}, the most a task may ask ({key} in padocc.toml)", phase.name()))
}

/// How the sideline retried a project already, if it did.
fn retried(group: &GroupDir, code: &str) -> Option<String> {
    let base = group.project(code).ok()?.base().ok()?;
    base.extra.get("shepard_retry").and_then(|v| v.as_str()).map(String::from)
}

/// The last line of a project's phase log: the error a status stands for.
fn last_log_line(group: &GroupDir, code: &str, phase: &str) -> Option<String> {
    let p = group.project(code).ok()?;
    let text = std::fs::read_to_string(p.path(&format!("phase_logs/{phase}.log"))).ok()?;
    text.lines().rev().find(|l| !l.trim().is_empty()).map(|l| l.trim().to_string())
}

/// A planned run and what it needs beyond its projects.
#[derive(Default)]
struct RunPlan {
    projects: Vec<String>,
    boosts: Boosts,
    attempt: u32,
}

/// Run one SHEPARD pass over the flock_dir. The caller holds SHEPARD's lock.
pub fn run_pass(conf: &Conf, req: &PassRequest) -> Result<PassReport> {
    let t0 = Instant::now();
    let wd = super::workdir(conf)?;
    let mut report = PassReport { started: local_time(true), dry_run: req.dry_run, parallel: req.parallel, ..Default::default() };
    report.intake = flocks::intake(&wd, conf, req.dry_run)?;
    let mut budget = conf.batch_limit;
    // In-process, a project can go through several phases in one pass (a
    // cron pass an hour apart would otherwise move each project one phase an
    // hour); submissions happen once a pass, as their jobs take time to end.
    let rounds = if req.parallel || req.dry_run { 1 } else { 5 };
    for round in 0..rounds {
        if req.control.cancel.is_cancelled() {
            break;
        }
        let names = flocks::list(&wd);
        let states = read_flocks(&wd, &names, &mut report.errors);
        let resources = match req.parallel {
            true => Some(crate::scheduler::config::load(req.scheduler.config.as_deref(), &wd.root)?.resources),
            false => None,
        };
        let mut runs: BTreeMap<(Phase, Why, String), RunPlan> = BTreeMap::new();
        let mut moves = Vec::new();
        let mut retire = Vec::new();
        let (mut waiting, mut published, mut projects) = (0, 0, 0);
        for f in &states {
            projects += f.codes.len();
            let in_sideline = f.group.name == SIDELINE;
            let mut all_done = true;
            let last = match req.parallel {
                true => coordinator::last_attempts(&f.group, &f.codes),
                false => HashMap::new(),
            };
            for code in &f.codes {
                let row = f.current.get(code);
                let mut s = step(row, in_sideline);
                if !matches!(s, Step::Done) {
                    all_done = false;
                }
                // The sideline retries a data error once.
                if let Step::Run(_, Why::Retry | Why::RetryAsZarr) = s {
                    if let Some(how) = retried(&f.group, code) {
                        s = Step::Quarantine(format!("failed again after the sideline's retry ({how}): {}", row.map(|r| r.line()).unwrap_or_default()));
                    }
                }
                // Reruns are counted: a project that keeps failing is set aside.
                if let Step::Run(phase, why) = s {
                    if why != Why::Next {
                        let n = failures(&f.group, code, phase);
                        if n >= conf.max_attempts {
                            s = Step::Quarantine(format!(
                                "{} failed {n} times (max_attempts {}); last: {}",
                                phase.name(),
                                conf.max_attempts,
                                row.map(|r| r.status.as_str()).unwrap_or("")
                            ));
                        }
                    }
                }
                match s {
                    Step::Wait => waiting += 1,
                    Step::Done => published += 1,
                    Step::Sideline => moves.push(Action::Sideline { flock: f.group.name.clone(), project: code.clone(), status: row.map(|r| r.line()).unwrap_or_default() }),
                    Step::Quarantine(why) => {
                        let detail = row.and_then(|r| last_log_line(&f.group, code, &r.phase));
                        let reason = match detail {
                            Some(d) => format!("{why}; log: {d}"),
                            None => why,
                        };
                        moves.push(Action::Quarantine { flock: f.group.name.clone(), project: code.clone(), reason })
                    }
                    Step::Run(phase, why) => {
                        let mut plan_boost = None;
                        let mut attempt = 1;
                        if let (Some(res), true) = (&resources, matches!(why, Why::MoreMemory | Why::MoreTime | Why::Lost | Why::Redo)) {
                            let l = last.get(code).copied();
                            attempt = l.map_or(1, |l| l.attempt) + 1;
                            let (bm, bt) = l.map_or((1.0, 1.0), |l| l.boosts);
                            let peak_mb = f.tasks.get(code).and_then(|t| t.max_rss_kb).map(|k| k as f64 / 1024.0);
                            if let Some(reason) = l.and_then(|l| at_cap(phase, why, &l, res)) {
                                moves.push(Action::Quarantine { flock: f.group.name.clone(), project: code.clone(), reason });
                                continue;
                            }
                            match (why, l) {
                                (Why::MoreMemory, l) => {
                                    // Twice what was asked, or more when the measured peak says so.
                                    let asked = l.map_or(res.floor_mem_mb, |l| l.mem_mb).max(1) as f64;
                                    let f = peak_mb.map_or(2.0, |p| (1.5 * p / asked).max(2.0));
                                    plan_boost = Some((bm * f, bt));
                                }
                                (Why::MoreTime, _) => plan_boost = Some((bm, bt * 2.0)),
                                _ => plan_boost = Some((bm, bt)),
                            }
                        }
                        if budget == 0 {
                            continue;
                        }
                        budget -= 1;
                        let e = runs.entry((phase, why, f.group.name.clone())).or_default();
                        e.projects.push(code.clone());
                        e.attempt = e.attempt.max(attempt);
                        if let Some(b) = plan_boost.filter(|b| *b != (1.0, 1.0)) {
                            e.boosts.insert(code.clone(), b);
                        }
                    }
                }
            }
            let made_here = f.group.dir.join("datasets.csv").exists();
            if all_done && (!f.codes.is_empty() || (made_here && round == 0)) && !req.control.cancel.is_cancelled() {
                retire.push((f.group.clone(), f.codes.len()));
            }
        }
        if round == 0 {
            report.flocks = states.len();
            report.projects = projects;
        }
        report.waiting = waiting;
        report.published = published;
        if runs.is_empty() && moves.is_empty() && retire.is_empty() {
            break;
        }
        if req.dry_run {
            report.actions.extend(moves);
        } else {
            let (done, errors) = apply_moves(&wd, conf, moves);
            report.actions.extend(done);
            report.errors.extend(errors);
        }
        // Later phases first: what is nearly published is published first.
        let mut ordered: Vec<_> = runs.into_iter().collect();
        ordered.sort_by_key(|((phase, _, flock), _)| (std::cmp::Reverse(crate::pipeline::phase_rank(phase.name())), flock.clone()));
        for ((phase, why, flock), plan) in ordered {
            if req.control.cancel.is_cancelled() {
                break;
            }
            let action = Action::Run { flock: flock.clone(), phase, why, projects: plan.projects.clone() };
            if !req.dry_run {
                if let Err(e) = run_action(&wd, conf, req, &flock, phase, why, &plan, &mut report) {
                    report.errors.push(format!("{} of flock {flock}: {e}", phase.name()));
                }
            }
            report.actions.push(action);
        }
        for (g, n) in retire {
            if !req.dry_run {
                if let Err(e) = retire_flock(&g, conf) {
                    report.errors.push(format!("retiring flock {}: {e}", g.name));
                    continue;
                }
            }
            report.actions.push(Action::Retire { flock: g.name.clone(), projects: n });
        }
        if budget == 0 {
            break;
        }
    }
    report.seconds = t0.elapsed().as_secs_f64();
    Ok(report)
}

/// The options a phase runs with under SHEPARD.
fn phase_options(conf: &Conf, phase: Phase, why: Why, control: &Control) -> Result<Options> {
    let mut o = Options { control: control.clone(), version_separator: conf.version_separator.clone(), force: why != Why::Next, ..Options::default() };
    match phase {
        Phase::Compute => o.new_version = why == Why::RetryAsZarr,
        Phase::Validate => {
            if let Some(p) = &conf.common_valid {
                o.bypass = Some(crate::api::projects::read_bypass_file(p)?);
            }
        }
        Phase::Complete => {
            o.completion_dir = Some(conf.complete_dir.clone());
            o.sub = conf.remote_sub.clone();
            o.replace = conf.remote_replace.clone();
        }
        Phase::Scan => {}
    }
    Ok(o)
}

#[allow(clippy::too_many_arguments)]
fn run_action(wd: &Workdir, conf: &Conf, req: &PassRequest, flock: &str, phase: Phase, why: Why, plan: &RunPlan, report: &mut PassReport) -> Result<()> {
    let g = GroupDir::open(wd, flock)?;
    if matches!(why, Why::Retry | Why::RetryAsZarr) {
        // The sideline's one retry, recorded so that a second failure is
        // quarantined. As a Zarr copy, the data is read through the library,
        // where a reference can only point at bytes as they are.
        for code in &plan.projects {
            let p = g.project(code)?;
            let mut base = p.base()?;
            if why == Why::RetryAsZarr {
                base.cloud.cloud_type = "zarr".into();
            }
            base.extra.insert("shepard_retry".into(), serde_json::json!(if why == Why::RetryAsZarr { "as a Zarr copy" } else { "as it was" }));
            p.save_base(&base)?;
        }
    }
    let opts = phase_options(conf, phase, why, &req.control)?;
    if req.parallel {
        // padocc's SHEPARD labels its jobs so: PADOCC_<G>-SHEPARD_<phase>.
        let mut sched = SchedulerRequest { job_label: Some(super::conf::JOB_LABEL.into()), ..req.scheduler.clone() };
        if let Some(venv) = &conf.source_venv {
            sched.env_lines.push(format!("source {}", coordinator::shell_quote(&venv.join("bin/activate").display().to_string())));
        }
        let r = phases::submit_projects(&g, &plan.projects, phase, &opts, &sched, &plan.boosts, plan.attempt.max(1))?;
        report.submitted.extend(r.submissions.iter().filter_map(|s| s.job_id.clone()));
    } else {
        let main = g.codes("main")?;
        let picked: Vec<(usize, String)> = plan.projects.iter().map(|c| (main.iter().position(|m| m == c).unwrap_or(0), c.clone())).collect();
        let run = phases::run_projects(&g, &picked, phase, &opts, None, &|_| {})?;
        for (status, n) in run.histogram() {
            *report.outcomes.entry(format!("{} {status}", phase.name())).or_default() += n;
        }
    }
    Ok(())
}

/// Move projects to the sideline or the quarantine (or, with
/// `obliterate_quarantine`, delete them and list them in `rejected/`): one
/// move per flock and destination, each project under its lock. Returns the
/// moves done and, for the others, why not (a project a run holds is left
/// for the next pass).
pub(super) fn apply_moves(wd: &Workdir, conf: &Conf, moves: Vec<Action>) -> (Vec<Action>, Vec<String>) {
    let mut by_flock: BTreeMap<(String, bool), Vec<Action>> = BTreeMap::new();
    for m in moves {
        match &m {
            Action::Sideline { flock, .. } => by_flock.entry((flock.clone(), true)).or_default().push(m),
            Action::Quarantine { flock, .. } => by_flock.entry((flock.clone(), false)).or_default().push(m),
            _ => {}
        }
    }
    let (mut done, mut errors) = (Vec::new(), Vec::new());
    for ((flock, sideline), ms) in by_flock {
        match move_from(wd, conf, &flock, sideline, ms) {
            Ok((d, busy)) => {
                done.extend(d);
                errors.extend(busy);
            }
            Err(e) => errors.push(format!("moving projects of flock {flock}: {e}")),
        }
    }
    (done, errors)
}

fn project_of(m: &Action) -> &str {
    match m {
        Action::Sideline { project, .. } | Action::Quarantine { project, .. } => project,
        Action::Run { flock, .. } | Action::Retire { flock, .. } => flock,
    }
}

fn move_from(wd: &Workdir, conf: &Conf, flock: &str, sideline: bool, ms: Vec<Action>) -> Result<(Vec<Action>, Vec<String>)> {
    let from = GroupDir::open(wd, flock)?;
    let mut held = Vec::new();
    let mut moving = Vec::new();
    let mut busy = Vec::new();
    for m in ms {
        match from.lock(project_of(&m), "shepard: move")? {
            crate::workdir::lock::Acquired::Held(l) => {
                held.push(l);
                moving.push(m);
            }
            crate::workdir::lock::Acquired::Busy(h) => busy.push(format!("{} of {flock}: busy ({h}); left for the next pass", project_of(&m))),
        }
    }
    let codes: Vec<String> = moving.iter().map(|m| project_of(m).to_string()).collect();
    if codes.is_empty() {
        return Ok((moving, busy));
    }
    if sideline {
        for c in &codes {
            if let Ok(p) = from.project(c) {
                if let Ok(mut base) = p.base() {
                    if !base.extra.contains_key("shepard_flock") {
                        base.extra.insert("shepard_flock".into(), serde_json::json!(flock));
                        p.save_base(&base)?;
                    }
                }
            }
        }
        let to = GroupDir::create(wd, SIDELINE)?;
        group_ops::transfer(&from, &to, &codes)?;
    } else if conf.obliterate_quarantine {
        let cur = from.current_statuses(&codes)?;
        let dir = wd.root.join("rejected");
        std::fs::create_dir_all(&dir).map_err(|e| Error::output(&dir, e))?;
        let lines: Vec<String> = moving
            .iter()
            .map(|m| {
                let (c, reason) = match m {
                    Action::Quarantine { project, reason, .. } => (project.as_str(), reason.as_str()),
                    _ => (project_of(m), ""),
                };
                format!("{c},{},{}", cur.get(c).map(|r| r.line()).unwrap_or_default(), reason.replace([',', '\n'], ";"))
            })
            .collect();
        append_line(&dir.join(format!("{}.csv", flocks::stamp())), &lines.join("\n"))?;
        group_ops::remove_projects(&from, &codes, true)?;
    } else {
        let to = GroupDir::create(wd, QUARANTINE)?;
        // Why first: a kill after it leaves the reason, and the move is redone.
        let reasons = to.dir.join("reasons.csv");
        let known: std::collections::HashSet<String> =
            std::fs::read_to_string(&reasons).unwrap_or_default().lines().filter_map(|l| l.split(',').next()).map(String::from).collect();
        let now = local_time(true);
        let lines: Vec<String> = moving
            .iter()
            .filter(|m| !known.contains(project_of(m)))
            .map(|m| {
                let c = project_of(m);
                let origin = from.project(c).ok().and_then(|p| p.base().ok()).and_then(|b| b.extra.get("shepard_flock").and_then(|v| v.as_str()).map(String::from));
                let reason = match m {
                    Action::Quarantine { reason, .. } => reason.as_str(),
                    _ => "",
                };
                format!("{c},{},{now},{}", origin.as_deref().unwrap_or(flock), reason.replace([',', '\n'], ";"))
            })
            .collect();
        if !lines.is_empty() {
            append_line(&reasons, &lines.join("\n"))?;
        }
        group_ops::transfer(&from, &to, &codes)?;
    }
    drop(held);
    Ok((moving, busy))
}

/// Why each quarantined project was set aside: code -> (flock, time, reason).
pub fn quarantine_reasons(wd: &Workdir) -> BTreeMap<String, (String, String, String)> {
    let text = std::fs::read_to_string(wd.group_dir(QUARANTINE).join("reasons.csv")).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let mut f = l.splitn(4, ',');
            Some((f.next()?.to_string(), (f.next()?.to_string(), f.next()?.to_string(), f.next()?.to_string())))
        })
        .collect()
}

/// A flock whose every project is published: its summary goes to
/// `complete_dir/summaries/`, then the flock is removed (padocc's
/// `_check_delete_flocks`). The removal renames the group away first, so a
/// kill leaves either the whole flock (retired again next pass, the summary
/// not rewritten) or none of it.
fn retire_flock(g: &GroupDir, conf: &Conf) -> Result<()> {
    let summaries = conf.complete_dir.join("summaries");
    std::fs::create_dir_all(&summaries).map_err(|e| Error::output(&summaries, e))?;
    let mut written = false;
    for e in std::fs::read_dir(&summaries).into_iter().flatten().flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if n.strip_prefix(&format!("{}_", g.name)).is_some_and(|rest| rest.len() == "HHMM_ddmmYYYY.txt".len()) {
            written = true;
        } else if n.starts_with(&format!(".{}_", g.name)) && n.contains(".txt.tmp.") {
            // A pass killed while writing this summary left its temporary
            // file; the pass holds the SHEPARD lock, so no writer owns it.
            let _ = std::fs::remove_file(e.path());
        }
    }
    if !written {
        let sel = crate::api::Selection::default();
        let mut text = crate::api::projects::summarise(g, &sel).map(|s| s.render()).unwrap_or_default();
        let status = crate::api::status::collect(g, &sel, false)?;
        text.push_str("\n\n");
        text.push_str(&crate::api::status::render(&status, 10, false, false));
        let path = summaries.join(format!("{}_{}.txt", g.name, flocks::stamp()));
        crate::fsutil::write_file_atomic(&path, |w| std::io::Write::write_all(w, text.as_bytes()).map_err(|e| Error::output(&path, e)))?;
    }
    let trash = g.wd.root.join("shp_logs").join(".retired");
    std::fs::create_dir_all(&trash).map_err(|e| Error::output(&trash, e))?;
    let ns = group_ops::now_ns();
    let aside = |p: &Path, what: &str| -> Result<Option<PathBuf>> {
        if !p.exists() {
            return Ok(None);
        }
        let to = trash.join(format!("{}-{what}-{ns}", g.name));
        std::fs::rename(p, &to).map_err(|e| Error::output(p, e))?;
        Ok(Some(to))
    };
    // The projects first: a kill between the two leaves a flock whose statuses
    // (in its journal) still say published, which the next pass retires again.
    let a = aside(&g.wd.root.join("in_progress").join(&g.name), "projects")?;
    let b = aside(&g.dir, "group")?;
    for d in [a, b].into_iter().flatten() {
        let _ = std::fs::remove_dir_all(d);
    }
    Ok(())
}

/// Remove what retired flocks left in the trash (a pass killed mid-removal).
pub fn empty_trash(wd: &Workdir) {
    for e in std::fs::read_dir(wd.root.join("shp_logs").join(".retired")).into_iter().flatten().flatten() {
        let _ = std::fs::remove_dir_all(e.path());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(phase: &str, status: &str) -> StatusRow {
        StatusRow { phase: phase.into(), status: status.into(), time: "t".into(), jobid: String::new() }
    }

    #[test]
    fn each_status_leads_to_its_step() {
        let s = |p: &str, st: &str| step(Some(&row(p, st)), false);
        assert_eq!(step(None, false), Step::Run(Phase::Scan, Why::Next));
        assert_eq!(s("init", "Success"), Step::Run(Phase::Scan, Why::Next));
        assert_eq!(s("scan", "Success"), Step::Run(Phase::Compute, Why::Next));
        assert_eq!(s("compute", "Success"), Step::Run(Phase::Validate, Why::Next));
        assert_eq!(s("validate", "(V>K)Warn-global_aggregation_date_missing"), Step::Run(Phase::Complete, Why::Next));
        assert_eq!(s("complete", "Success"), Step::Done);
        assert_eq!(s("compute", "Pending"), Step::Wait);
        assert_eq!(s("compute", "SubsetDeployed"), Step::Wait);
        // Redo is redone, not advanced (padocc 1.5.1's bug).
        assert_eq!(s("compute", "Redo"), Step::Run(Phase::Compute, Why::Redo));
        assert_eq!(s("validate", "JobCancelled"), Step::Run(Phase::Validate, Why::Redo));
        assert_eq!(s("compute", "OUT_OF_MEMORY"), Step::Run(Phase::Compute, Why::MoreMemory));
        assert_eq!(s("compute", "Failed-MemoryError"), Step::Run(Phase::Compute, Why::MoreMemory));
        assert_eq!(s("scan", "TIMEOUT"), Step::Run(Phase::Scan, Why::MoreTime));
        assert_eq!(s("scan", "LOST"), Step::Run(Phase::Scan, Why::Lost));
        assert!(matches!(s("compute", "(PVK)ConcatFatalError"), Step::Quarantine(_)));
        assert_eq!(s("compute", "Failed-InputError"), Step::Sideline);
        assert_eq!(s("validate", "(V>K)Fatal-data_errors"), Step::Sideline);
    }

    #[test]
    fn the_sideline_retries_data_errors_once_more() {
        let s = |p: &str, st: &str| step(Some(&row(p, st)), true);
        assert_eq!(s("compute", "Failed-InputError"), Step::Run(Phase::Compute, Why::RetryAsZarr));
        assert_eq!(s("validate", "(V>K)Fatal-data_errors"), Step::Run(Phase::Compute, Why::RetryAsZarr));
        assert_eq!(s("scan", "Failed-InputError"), Step::Run(Phase::Scan, Why::Retry));
        assert!(matches!(s("compute", "ConcatFatalError"), Step::Quarantine(_)));
    }
}
