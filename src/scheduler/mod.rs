//! Job schedulers behind one trait: SLURM, LSF, PBS, and local (the same
//! manifests run in-process). The coordinator
//! (`submit`) plans a phase as job arrays, writes an immutable manifest per
//! submission, renders the script from `templates/`, submits it and records
//! `Pending` per project; the worker (`worker`) runs one array index.

pub mod config;
pub mod coordinator;
pub mod local;
pub mod lsf;
pub mod pbs;
pub mod slurm;
pub mod worker;

use std::path::Path;
use std::process::Command;

use crate::error::{Error, Result};

/// What the scheduler says about one array task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum State {
    Pending,
    Running,
    Completed,
    Failed,
    Timeout,
    OutOfMemory,
    NodeFail,
    Preempted,
    Cancelled,
    Unknown,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Pending => "PENDING",
            State::Running => "RUNNING",
            State::Completed => "COMPLETED",
            State::Failed => "FAILED",
            State::Timeout => "TIMEOUT",
            State::OutOfMemory => "OUT_OF_MEMORY",
            State::NodeFail => "NODE_FAIL",
            State::Preempted => "PREEMPTED",
            State::Cancelled => "CANCELLED",
            State::Unknown => "UNKNOWN",
        }
    }

    /// The scheduler ended the task before padocc could record an outcome.
    pub fn killed(self) -> bool {
        matches!(self, State::Timeout | State::OutOfMemory | State::NodeFail | State::Preempted | State::Cancelled)
    }

    /// Keep the most telling of several steps' states (a batch step may show
    /// OUT_OF_MEMORY while the array task shows FAILED).
    fn severity(self) -> u8 {
        match self {
            State::OutOfMemory | State::Timeout | State::NodeFail | State::Preempted => 5,
            State::Cancelled => 4,
            State::Failed => 3,
            State::Running => 2,
            State::Pending => 1,
            State::Completed | State::Unknown => 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TaskState {
    pub job_id: String,
    pub index: u32,
    pub state: State,
    pub exit_code: String,
    pub max_rss_kb: Option<u64>,
}

/// Merge per-step rows into one per (job, index), keeping the worst state and
/// the largest RSS.
pub fn merge(rows: Vec<TaskState>) -> Vec<TaskState> {
    let mut out: Vec<TaskState> = Vec::new();
    let mut at: std::collections::HashMap<(String, u32), usize> = std::collections::HashMap::new();
    for r in rows {
        match at.get(&(r.job_id.clone(), r.index)).map(|&i| &mut out[i]) {
            Some(o) => {
                if r.state.severity() > o.state.severity() {
                    o.state = r.state;
                    o.exit_code = r.exit_code.clone();
                }
                o.max_rss_kb = o.max_rss_kb.max(r.max_rss_kb);
            }
            None => {
                at.insert((r.job_id.clone(), r.index), out.len());
                out.push(r);
            }
        }
    }
    out
}

pub trait Backend {
    fn name(&self) -> &'static str;
    /// The script template (in `templates/`).
    fn template(&self) -> &'static str;
    /// First array index (SLURM 0; LSF and PBS arrays here start at 1).
    fn index_base(&self) -> u32;
    /// Largest array the site accepts.
    fn max_array_size(&self) -> u32;
    /// Submit a script; returns the job id.
    fn submit(&self, script: &Path) -> Result<String>;
    /// One call for all of a group's jobs.
    fn query(&self, job_ids: &[String]) -> Result<Vec<TaskState>>;
    /// Dependency expression: start once these jobs have ended, however they
    /// ended (a failed project must not hold back the others' next phase).
    fn dependency(&self, jobs: &[String]) -> String;
    /// `submit` runs the tasks itself and returns when they have finished
    /// (the local back end): projects are marked Pending before, not after.
    fn runs_inline(&self) -> bool {
        false
    }
}

pub fn backend(name: &str, ctl: &crate::control::Control) -> Result<Box<dyn Backend>> {
    match name {
        "slurm" => Ok(Box::new(slurm::Slurm)),
        "lsf" => Ok(Box::new(lsf::Lsf)),
        "pbs" => Ok(Box::new(pbs::Pbs)),
        "local" => Ok(Box::new(local::Local { control: ctl.clone() })),
        other => Err(Error::Usage(format!("unknown scheduler '{other}': use slurm, lsf, pbs or local"))),
    }
}

/// Run a scheduler command; its failure is an error that quotes its stderr.
pub(crate) fn run(cmd: &mut Command) -> Result<String> {
    let shown = format!("{cmd:?}");
    let o = cmd.output().map_err(|e| Error::Scheduler(format!("cannot run {shown}: {e} (is the scheduler's client installed and on PATH?)")))?;
    if !o.status.success() {
        return Err(Error::Scheduler(format!("{shown} failed ({}): {}", o.status, String::from_utf8_lossy(&o.stderr).trim())));
    }
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
}

/// `HH:MM:SS` for SLURM/PBS.
pub fn hms(secs: u64) -> String {
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

/// Parse sizes like `1084K`, `2.5G`, `512M` into KiB.
pub fn parse_kib(s: &str) -> Option<u64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let (num, unit) = s.split_at(s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len()));
    let x: f64 = num.parse().ok()?;
    let mult = match unit.to_ascii_uppercase().trim_end_matches('B') {
        "" | "K" => 1.0,
        "M" => 1024.0,
        "G" => 1024.0 * 1024.0,
        "T" => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    Some((x * mult) as u64)
}

/// Join projects that the shared filesystem says are `Pending`/`Running` with
/// what the scheduler says of their array task, with one query per scheduler
/// for all of the group's jobs. A task the scheduler ended (TIMEOUT,
/// OUT_OF_MEMORY, NODE_FAIL, PREEMPTED, CANCELLED, or a crash) replaces the
/// stale status, which padocc 1.5.1 leaves `Pending` forever.
pub fn join(
    group: &crate::workdir::group::GroupDir,
    current: &mut std::collections::HashMap<String, crate::workdir::project::StatusRow>,
) -> Result<std::collections::HashMap<String, TaskState>> {
    Ok(join_many(&mut [(group, current)])?.pop().unwrap_or_default())
}

/// [`join`] over several groups at once (SHEPARD's flocks), still with one
/// query per scheduler; one map of found tasks per group, in order.
pub fn join_many(
    groups: &mut [(&crate::workdir::group::GroupDir, &mut std::collections::HashMap<String, crate::workdir::project::StatusRow>)],
) -> Result<Vec<std::collections::HashMap<String, TaskState>>> {
    use std::collections::HashMap;
    // (group index, code, job, array index) of every waiting project.
    let mut waiting: Vec<(usize, String, String, u32)> = Vec::new();
    for (gi, (_, current)) in groups.iter().enumerate() {
        waiting.extend(current.iter().filter(|(_, r)| r.status == "Pending" || r.status == "Running").filter_map(|(c, r)| {
            let (job, idx) = r.jobid.rsplit_once('_')?;
            Some((gi, c.clone(), job.to_string(), idx.parse().ok()?))
        }));
    }
    let mut found: Vec<HashMap<String, TaskState>> = groups.iter().map(|_| HashMap::new()).collect();
    if waiting.is_empty() {
        return Ok(found);
    }
    // The jobs each group waits on, each once; then which scheduler each is.
    let mut jobs_of: Vec<std::collections::BTreeSet<&str>> = groups.iter().map(|_| Default::default()).collect();
    for (gi, _, job, _) in &waiting {
        jobs_of[*gi].insert(job);
    }
    let mut by_sched: HashMap<String, Vec<String>> = HashMap::new();
    for ((group, _), jobs) in groups.iter().zip(&jobs_of).filter(|(_, j)| !j.is_empty()) {
        let subs = coordinator::submissions(group);
        for job in jobs {
            if let Some((_, sched, j)) = subs.iter().find(|(_, _, j)| j == job) {
                let v = by_sched.entry(sched.clone()).or_default();
                if !v.contains(j) {
                    v.push(j.clone());
                }
            }
        }
    }
    let mut states: Vec<TaskState> = Vec::new();
    for (sched, jobs) in by_sched {
        states.extend(backend(&sched, &Default::default())?.query(&jobs)?);
    }
    // One lookup per waiting project: a linear search was quadratic for
    // arrays of one project per task.
    let by_task: HashMap<(&str, u32), &TaskState> = states.iter().map(|t| ((t.job_id.as_str(), t.index), t)).collect();
    for (gi, code, job, idx) in waiting {
        let Some(&t) = by_task.get(&(job.as_str(), idx)) else { continue };
        if let Some(row) = groups[gi].1.get_mut(&code) {
            if t.state.killed() || t.state == State::Failed {
                row.status = t.state.name().to_string();
            } else if t.state == State::Completed {
                // The task ended but never recorded this project's end.
                row.status = "LOST".into();
            }
        }
        found[gi].insert(code, t.clone());
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worst_step_state_wins() {
        let row = |s: State, rss| TaskState { job_id: "7".into(), index: 1, state: s, exit_code: "0:0".into(), max_rss_kb: rss };
        let m = merge(vec![row(State::Failed, None), row(State::OutOfMemory, Some(2048))]);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].state, State::OutOfMemory);
        assert_eq!(m[0].max_rss_kb, Some(2048));
    }

    #[test]
    fn sizes_and_times() {
        assert_eq!(parse_kib("1084K"), Some(1084));
        assert_eq!(parse_kib("2G"), Some(2 * 1024 * 1024));
        assert_eq!(parse_kib(""), None);
        assert_eq!(hms(3725), "01:02:05");
    }
}
