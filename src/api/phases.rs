//! Running a phase over a selection of a group's projects: in-process (the
//! embedded default, recorded as a local manifest), as job arrays on a
//! scheduler, chained, or again for what failed.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Instant;

use super::Selection;
use crate::error::{exit, Result};
use crate::pipeline::{self, local, Options, Outcome, Phase};
use crate::scheduler::coordinator::{self, Boosts, Resources, Submitted};
use crate::workdir::group::GroupDir;
use crate::workdir::project::{append_line, StatusRow};
use crate::workdir::status::{Kind, Status};

/// padocc's `-t` and `-M` (what each task asks for at least) and `-s` (how
/// many projects it holds at most), over the site config's resources.
#[derive(Debug, Clone, Default)]
pub struct TaskBounds {
    pub time_s: Option<u64>,
    pub mem_mb: Option<u64>,
    pub per_task: Option<usize>,
}

impl TaskBounds {
    fn apply(&self, r: &mut Resources) {
        if let Some(t) = self.time_s {
            r.floor_time_s = r.floor_time_s.max(t);
            r.cap_time_s = r.cap_time_s.max(t);
        }
        if let Some(m) = self.mem_mb {
            r.floor_mem_mb = r.floor_mem_mb.max(m);
            r.cap_mem_mb = r.cap_mem_mb.max(m);
        }
        if let Some(n) = self.per_task {
            r.max_per_task = n.max(1);
        }
    }
}

/// Where and how job arrays are submitted.
#[derive(Debug, Clone, Default)]
pub struct SchedulerRequest {
    /// slurm, lsf, pbs or local (None: the site config's, else slurm).
    pub scheduler: Option<String>,
    /// Plan and render the scripts; submit nothing.
    pub dry_run: bool,
    /// The site config (None: $WORKDIR/padocc.toml, then the user's).
    pub config: Option<PathBuf>,
    pub bounds: TaskBounds,
    /// Lines added to every job script after the site's (SHEPARD's
    /// `source_venv` activation).
    pub env_lines: Vec<String>,
    /// The `<R>` of the job names `PADOCC_<G>-<R>_<phase>`: the subset run.
    pub job_label: Option<String>,
}

/// What a phase run in this process did.
#[derive(Debug, serde::Serialize)]
pub struct PhaseRun {
    pub group: String,
    pub phase: Phase,
    pub projects: usize,
    pub ran: usize,
    pub failed: usize,
    pub skipped: usize,
    pub interrupted: bool,
    pub seconds: f64,
    pub results: Vec<Outcome>,
}

impl PhaseRun {
    /// Projects by end status (`Skipped` for those left as they were).
    pub fn histogram(&self) -> BTreeMap<&str, usize> {
        let mut hist = BTreeMap::new();
        for o in &self.results {
            *hist.entry(if o.skipped { "Skipped" } else { o.status.as_str() }).or_default() += 1;
        }
        hist
    }

    pub fn exit_code(&self) -> i32 {
        if self.interrupted {
            exit::INTERRUPTED
        } else if self.failed > 0 {
            exit::SOME_FAILED
        } else {
            exit::OK
        }
    }
}

/// Record `-C` (cloud format) and `--CFA` (y/n) in each selected project's
/// base-cfg, as padocc does, so workers and later phases see them.
pub fn record_formats(g: &GroupDir, codes: &[String], cloud_format: Option<&str>, cfa: Option<bool>) -> Result<()> {
    if cloud_format.is_none() && cfa.is_none() {
        return Ok(());
    }
    for code in codes {
        // A project another run holds is that run's to change: the phase
        // will leave it as busy too.
        let _held = match g.lock(code, "set the cloud format")? {
            crate::workdir::lock::Acquired::Held(l) => l,
            crate::workdir::lock::Acquired::Busy(_) => continue,
        };
        let p = g.project(code)?;
        let mut base = p.base()?;
        if let Some(cf) = cloud_format {
            base.cloud.cloud_type = if cf.eq_ignore_ascii_case("cfa") { "CFA".into() } else { cf.to_string() };
        }
        if let Some(c) = cfa {
            base.disable_cfa = !c;
        }
        p.save_base(&base)?;
    }
    Ok(())
}

/// Run `phase` over the selection in this process, `jobs` projects at once
/// (None: every core). The run is recorded as a local manifest first, as a
/// scheduler submission is. `on_done` sees each outcome as it ends.
pub fn run_phase(g: &GroupDir, sel: &Selection, phase: Phase, opts: &Options, jobs: Option<usize>, on_done: &(dyn Fn(&Outcome) + Sync)) -> Result<PhaseRun> {
    run_projects(g, &sel.resolve(g)?, phase, opts, jobs, on_done)
}

/// As [`run_phase`], over `projects` (index, code) given by the caller (the
/// Python API's subsets and indices).
pub fn run_projects(g: &GroupDir, projects: &[(usize, String)], phase: Phase, opts: &Options, jobs: Option<usize>, on_done: &(dyn Fn(&Outcome) + Sync)) -> Result<PhaseRun> {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let jobs = jobs.unwrap_or(cores);
    // Cores a project's validation may spread over: all of them for one
    // project, none extra when every worker has a project.
    let opts = Options { processes: (cores / jobs.min(projects.len()).max(1)).max(1), ..opts.clone() };
    let t0 = Instant::now();
    let codes: Vec<String> = projects.iter().map(|p| p.1.clone()).collect();
    let (run_dir, manifest) = match codes.is_empty() {
        true => (None, None),
        false => crate::scheduler::local::record_run(g, &codes, phase, &opts).map(|(d, m)| (Some(d), Some(m)))?,
    };
    let index_of: HashMap<&str, usize> = projects.iter().map(|(i, c)| (c.as_str(), *i)).collect();
    let listed: Vec<(usize, String)> =
        manifest.iter().flat_map(|m| &m.tasks).flat_map(|t| &t.projects).map(|c| (index_of.get(c.as_str()).copied().unwrap_or(0), c.clone())).collect();
    let results: Vec<Outcome> = local::run(g, &listed, phase, &opts, jobs, on_done).into_iter().flatten().collect();
    let interrupted = opts.control.cancel.is_cancelled();
    if let Some(dir) = &run_dir {
        crate::scheduler::local::finish_run(dir, &results.iter().collect::<Vec<_>>(), interrupted)?;
    }
    Ok(PhaseRun {
        group: g.name.clone(),
        phase,
        projects: listed.len(),
        ran: results.len(),
        failed: results.iter().filter(|o| !o.ok).count(),
        skipped: results.iter().filter(|o| o.skipped).count(),
        interrupted,
        seconds: t0.elapsed().as_secs_f64(),
        results,
    })
}

/// What a phase would do to one project (a dry run).
#[derive(Debug, serde::Serialize)]
pub struct PlannedProject {
    pub index: usize,
    pub code: String,
    /// `phase,status` now, or `no status`.
    pub status: String,
    pub would_run: bool,
    pub why_not: Option<String>,
}

/// Which projects `phase` would run, and where each is now; writes nothing.
pub fn plan_phase(g: &GroupDir, sel: &Selection, phase: Phase, opts: &Options) -> Result<Vec<PlannedProject>> {
    plan_projects(g, &sel.resolve(g)?, phase, opts)
}

/// As [`plan_phase`], over `projects` (index, code) given by the caller.
pub fn plan_projects(g: &GroupDir, projects: &[(usize, String)], phase: Phase, opts: &Options) -> Result<Vec<PlannedProject>> {
    let codes: Vec<String> = projects.iter().map(|p| p.1.clone()).collect();
    let cur = g.current_statuses(&codes)?;
    let mut rows = Vec::new();
    for (index, code) in projects {
        let status = cur.get(code).map(|r| format!("{},{}", r.phase, r.status)).unwrap_or_else(|| "no status".into());
        let why_not = pipeline::skip_reason(g, code, phase, opts)?;
        rows.push(PlannedProject { index: *index, status, would_run: why_not.is_none(), why_not, code: code.clone() });
    }
    Ok(rows)
}

/// Whether a project whose newest status row is `row` has done `phase`: it
/// succeeded in it, or has gone on to a later phase.
pub fn phase_done(row: Option<&StatusRow>, phase: Phase) -> bool {
    row.is_some_and(|r| (r.phase == phase.name() && Status::parse(&r.status).kind == Kind::Success) || pipeline::phase_rank(&r.phase) > pipeline::phase_rank(phase.name()))
}

/// What a submission did.
#[derive(Debug, serde::Serialize)]
pub struct SubmitResult {
    pub group: String,
    pub phase: Phase,
    pub scheduler: String,
    pub dry_run: bool,
    pub submissions: Vec<Submitted>,
}

/// Submit `phase` for the selected projects that have not done it (all of
/// them with `opts.force`) as job arrays.
pub fn submit_phase(g: &GroupDir, sel: &Selection, phase: Phase, opts: &Options, sched: &SchedulerRequest) -> Result<SubmitResult> {
    let codes = sel.codes(g)?;
    let cur = g.current_statuses(&codes)?;
    let need: Vec<String> = codes.into_iter().filter(|c| opts.force || !phase_done(cur.get(c), phase)).collect();
    submit_codes(g, &need, phase, opts, sched, &Boosts::default(), 1)
}

/// Submit `phase` for exactly `codes` (none is filtered out), each with its
/// resource boosts (memory, time), as attempt `attempt`: SHEPARD's
/// escalations and `rerun-failed` submit through here.
pub fn submit_projects(g: &GroupDir, codes: &[String], phase: Phase, opts: &Options, sched: &SchedulerRequest, boosts: &Boosts, attempt: u32) -> Result<SubmitResult> {
    submit_codes(g, codes, phase, opts, sched, boosts, attempt)
}

/// The site config as this request changes it (bounds, extra script lines,
/// job label), the scheduler's name and its back end.
fn site_for(g: &GroupDir, sched: &SchedulerRequest, opts: &Options) -> Result<(crate::scheduler::config::Config, String, Box<dyn crate::scheduler::Backend>)> {
    let mut cfg = crate::scheduler::config::load(sched.config.as_deref(), &g.wd.root)?;
    sched.bounds.apply(&mut cfg.resources);
    cfg.site.env_lines.extend(sched.env_lines.iter().cloned());
    cfg.site.job_label = sched.job_label.clone();
    let name = sched.scheduler.clone().unwrap_or(cfg.scheduler.clone());
    let backend = crate::scheduler::backend(&name, &opts.control)?;
    Ok((cfg, name, backend))
}

fn submit_codes(g: &GroupDir, codes: &[String], phase: Phase, opts: &Options, sched: &SchedulerRequest, boosts: &Boosts, attempt: u32) -> Result<SubmitResult> {
    let (cfg, name, backend) = site_for(g, sched, opts)?;
    let submissions = match codes.is_empty() {
        true => vec![],
        false => coordinator::submit(g, codes, phase, opts, backend.as_ref(), &cfg.site, &cfg.resources, boosts, attempt, &[], sched.dry_run)?,
    };
    Ok(SubmitResult { group: g.name.clone(), phase, scheduler: name, dry_run: sched.dry_run, submissions })
}

/// One phase of a chain and its submissions.
#[derive(Debug, serde::Serialize)]
pub struct ChainLink {
    pub phase: Phase,
    pub submissions: Vec<Submitted>,
}

#[derive(Debug, serde::Serialize)]
pub struct ChainResult {
    pub group: String,
    pub scheduler: String,
    pub chain: Vec<ChainLink>,
}

/// Submit several phases as chained job arrays, each starting when the
/// previous one has ended.
pub fn run_chain(g: &GroupDir, sel: &Selection, phases: &[Phase], opts: &Options, sched: &SchedulerRequest) -> Result<ChainResult> {
    let codes = sel.codes(g)?;
    let (cfg, name, backend) = site_for(g, sched, opts)?;
    let mut after: Vec<String> = Vec::new();
    let mut chain = Vec::new();
    for &phase in phases {
        let subs = coordinator::submit(g, &codes, phase, opts, backend.as_ref(), &cfg.site, &cfg.resources, &Boosts::default(), 1, &after, sched.dry_run)?;
        after = subs.iter().filter_map(|s| s.job_id.clone()).collect();
        chain.push(ChainLink { phase, submissions: subs });
    }
    Ok(ChainResult { group: g.name.clone(), scheduler: name, chain })
}

/// What `rerun-failed` did.
#[derive(Debug, serde::Serialize)]
pub struct RerunResult {
    pub group: String,
    /// Projects moved to the faultlist after their last attempt, with why.
    pub faultlisted: Vec<(String, String)>,
    pub resubmitted: Vec<SubmitResult>,
    pub dry_run: bool,
}

impl RerunResult {
    /// 0: nothing left to rerun (or a dry run); 75: reruns were submitted.
    pub fn exit_code(&self) -> i32 {
        if self.dry_run || self.resubmitted.iter().all(|r| r.submissions.is_empty()) {
            exit::OK
        } else {
            RERUNS_OUTSTANDING
        }
    }
}

/// Exit code of `rerun-failed` when reruns were submitted.
pub const RERUNS_OUTSTANDING: i32 = 75;

/// Resubmit the selected projects whose phase the scheduler ended
/// (OUT_OF_MEMORY: twice the memory; TIMEOUT: 1.5 times the time; NODE_FAIL,
/// PREEMPTED, LOST: as they were), and with `include_errors` those that
/// failed with an error, each with the options its phase last ran with.
pub fn rerun_failed(g: &GroupDir, sel: &Selection, phase: Option<Phase>, include_errors: bool, sched: &SchedulerRequest, ctl: &crate::control::Control) -> Result<RerunResult> {
    let cfg = crate::scheduler::config::load(sched.config.as_deref(), &g.wd.root)?;
    let codes = sel.codes(g)?;
    let mut cur = g.current_statuses(&codes)?;
    crate::scheduler::join(g, &mut cur)?;
    let mut by_phase: BTreeMap<String, (Vec<String>, Boosts, u32)> = BTreeMap::new();
    let mut faults = Vec::new();
    let last = coordinator::last_attempts(g, &codes);
    for c in &codes {
        let Some(row) = cur.get(c) else { continue };
        if phase.is_some_and(|p| p.name() != row.phase) {
            continue;
        }
        let status = Status::parse(&row.status);
        let factor = match status.kind {
            Kind::Ended(how) if how.rerun_factors().is_some() => how.rerun_factors().unwrap_or((1.0, 1.0)),
            _ if include_errors && status.is_failure() => (1.0, 1.0),
            _ => continue,
        };
        let (prev_attempt, old) = last.get(c).map_or((1, (1.0, 1.0)), |l| (l.attempt, l.boosts));
        let attempt = prev_attempt + 1;
        if attempt > cfg.max_attempts {
            faults.push((c.clone(), format!("{} {} after {} attempts", row.phase, row.status, attempt - 1)));
            continue;
        }
        let e = by_phase.entry(row.phase.clone()).or_default();
        e.0.push(c.clone());
        e.1.insert(c.clone(), (old.0 * factor.0, old.1 * factor.1));
        e.2 = e.2.max(attempt);
    }
    if !faults.is_empty() {
        let p = g.dir.join("faultlist.csv");
        for (c, why) in &faults {
            append_line(&p, &format!("{c},{}", why.replace(',', ";")))?;
        }
    }
    let mut resubmitted = Vec::new();
    for (ph, (codes, boosts, attempt)) in &by_phase {
        let p = Phase::from_name(ph).unwrap_or(Phase::Complete);
        // As the phase last ran (completion dir, bypass file, sample...), forced.
        let last = coordinator::last_options(g, p).map(|o| o.to_options()).unwrap_or_default();
        let opts = Options { force: true, control: ctl.clone(), ..last };
        resubmitted.push(submit_codes(g, codes, p, &opts, sched, boosts, *attempt)?);
    }
    Ok(RerunResult { group: g.name.clone(), faultlisted: faults, resubmitted, dry_run: sched.dry_run })
}
