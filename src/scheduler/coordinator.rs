//! The coordinator: plan a phase as job arrays, write one immutable manifest
//! per submission (task index -> projects, resources, attempt), render the
//! script, submit it, and record `Pending` with the job id for each project.
//!
//! Layout: `groups/<G>/jobs/<submission>/{manifest.json, submit.sh, job.json,
//! logs/<job>_<index>.{out,err}, tasks/<index>.json}`.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::Backend;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::pipeline::{Options, Phase};
use crate::workdir::group::GroupDir;
use crate::workdir::project::{local_time, StatusRow};

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Task {
    pub projects: Vec<String>,
    pub time_s: u64,
    pub mem_mb: u64,
}

/// What a worker needs of the command line's options.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct TaskOptions {
    pub force: bool,
    pub new_version: bool,
    pub sample: usize,
    pub dedupe: Option<String>,
    pub concat_dims: Vec<String>,
    pub completion_dir: Option<PathBuf>,
    pub sub: Option<String>,
    pub replace: Option<String>,
    /// complete `--version_separator` ("_" when empty or absent).
    pub version_separator: String,
    /// complete `--delete`.
    pub delete: bool,
    /// validate `-i`: the bypass file's content, as read by the coordinator.
    pub bypass: Option<Value>,
    /// compute `--mem-allowed`: a Zarr conversion's chunk buffers, in bytes.
    pub mem_allowed: Option<u64>,
}

impl TaskOptions {
    /// The phase options they stand for (no job id, one process).
    pub fn to_options(&self) -> Options {
        Options {
            force: self.force,
            new_version: self.new_version,
            sample: self.sample,
            concat_dims: self.concat_dims.clone(),
            dedupe: self.dedupe.as_deref().map(|d| match d {
                "keep" => crate::aggregate::combine::Dedupe::Keep,
                "first" => crate::aggregate::combine::Dedupe::First,
                "last" => crate::aggregate::combine::Dedupe::Last,
                _ => crate::aggregate::combine::Dedupe::Error,
            }),
            completion_dir: self.completion_dir.clone(),
            sub: self.sub.clone(),
            replace: self.replace.clone(),
            version_separator: if self.version_separator.is_empty() { "_".into() } else { self.version_separator.clone() },
            delete: self.delete,
            bypass: self.bypass.clone(),
            mem_allowed: self.mem_allowed,
            ..Options::default()
        }
    }

    /// What of `opts` a worker on another node needs to run the same phase.
    pub fn from_options(opts: &Options) -> TaskOptions {
        TaskOptions {
            force: opts.force,
            new_version: opts.new_version,
            sample: opts.sample,
            dedupe: opts.dedupe.map(|d| format!("{d:?}").to_lowercase()),
            concat_dims: opts.concat_dims.clone(),
            completion_dir: opts.completion_dir.clone(),
            sub: opts.sub.clone(),
            replace: opts.replace.clone(),
            version_separator: opts.version_separator.clone(),
            delete: opts.delete,
            bypass: opts.bypass.clone(),
            mem_allowed: opts.mem_allowed,
        }
    }
}

/// The clock reading in a submission's name (`<phase>-<ms>-...`): the order
/// submissions were made in.
fn submission_clock(name: &str) -> u128 {
    name.split('-').nth(1).and_then(|t| t.parse().ok()).unwrap_or(0)
}

/// The options of the newest run of `phase` in the group (a submission or a
/// plain run): what `rerun-failed` runs again with.
pub fn last_options(group: &GroupDir, phase: Phase) -> Option<TaskOptions> {
    let mut best: Option<(u128, TaskOptions)> = None;
    for e in std::fs::read_dir(group.dir.join("jobs")).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with(&format!("{}-", phase.name())) {
            continue;
        }
        let clock = submission_clock(&name);
        if best.as_ref().is_some_and(|(c, _)| *c >= clock) {
            continue;
        }
        if let Ok(m) = Manifest::read(&e.path().join("manifest.json")) {
            best = Some((clock, m.options));
        }
    }
    best.map(|b| b.1)
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub submission: String,
    pub group: String,
    pub workdir: PathBuf,
    pub phase: Phase,
    pub scheduler: String,
    pub index_base: u32,
    pub created: String,
    pub attempt: u32,
    pub options: TaskOptions,
    pub tasks: Vec<Task>,
    /// Resource multipliers (memory, time) of projects rerun after the
    /// scheduler ended them; compound over attempts.
    #[serde(default)]
    pub boosts: Boosts,
    /// Submitted to start after the previous phase's arrays (`run --phases`):
    /// a project whose earlier phase did not succeed is left as it is.
    #[serde(default)]
    pub chained: bool,
}

impl Manifest {
    #[allow(clippy::too_many_arguments)]
    pub fn new(group: &GroupDir, submission: &str, phase: Phase, scheduler: &str, index_base: u32, attempt: u32, opts: &Options, tasks: Vec<Task>, boosts: &Boosts) -> Manifest {
        Manifest {
            format: 1,
            submission: submission.to_string(),
            group: group.name.clone(),
            workdir: group.wd.root.clone(),
            phase,
            scheduler: scheduler.into(),
            index_base,
            created: local_time(true),
            attempt,
            options: TaskOptions::from_options(opts),
            boosts: tasks.iter().flat_map(|t| &t.projects).filter_map(|c| boosts.get(c).map(|b| (c.clone(), *b))).collect(),
            tasks,
            chained: false,
        }
    }

    /// Read a manifest; a code in it that is not a project code (a path, shell
    /// syntax) makes the manifest corrupt: it never reaches a path or a script.
    pub fn read(path: &Path) -> Result<Manifest> {
        let t = std::fs::read_to_string(path).map_err(|e| Error::input_io(path, e))?;
        let m: Manifest = serde_json::from_str(&t).map_err(|e| Error::corrupt(path, e.to_string()))?;
        for code in m.tasks.iter().flat_map(|t| &t.projects) {
            crate::workdir::check_name("project code", code).map_err(|e| Error::corrupt(path, e.to_string()))?;
        }
        Ok(m)
    }

    /// Written once, atomically; never rewritten.
    pub fn write(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).expect("JSON");
        fsutil::write_file_atomic(path, |w| w.write_all(text.as_bytes()).map_err(|e| Error::output(path, e)))
    }
}

/// A submission name: phase, a clock reading (orders submissions), this
/// process and a suffix.
pub fn submission_name(phase: Phase, suffix: &str) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    format!("{}-{now}-{}-{suffix}", phase.name(), std::process::id())
}

/// A new submission directory under `jobs`, made with an exclusive mkdir
/// (atomic on NFS and Lustre too), so two coordinators or plain runs started in
/// the same millisecond, on one node or on several, never share one.
pub fn new_submission(jobs: &Path, phase: Phase, suffix: &str) -> Result<(String, PathBuf)> {
    std::fs::create_dir_all(jobs).map_err(|e| Error::output(jobs, e))?;
    loop {
        let name = submission_name(phase, suffix);
        let dir = jobs.join(&name);
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok((name, dir)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => std::thread::sleep(std::time::Duration::from_millis(1)),
            Err(e) => return Err(Error::output(&dir, e)),
        }
    }
}

/// The suffix of the records of plain (embedded) runs: see
/// [`super::local::record_run`].
pub const EMBEDDED_SUFFIX: &str = "-local";

/// Resource policy: floors, caps and packing, from the site config.
#[derive(Debug, Clone)]
pub struct Resources {
    pub floor_time_s: u64,
    pub cap_time_s: u64,
    pub floor_mem_mb: u64,
    pub cap_mem_mb: u64,
    /// Pack small projects into tasks of about this many seconds.
    pub pack_seconds: f64,
    pub max_per_task: usize,
    /// `%N`: at most N tasks of an array at once (0: no limit).
    pub throttle: u32,
}

impl Default for Resources {
    fn default() -> Self {
        Resources { floor_time_s: 600, cap_time_s: 86400, floor_mem_mb: 1024, cap_mem_mb: 65536, pack_seconds: 600.0, max_per_task: 1000, throttle: 0 }
    }
}

/// Site settings that go into every script.
#[derive(Debug, Clone, Default)]
pub struct Site {
    pub partition: Option<String>,
    pub account: Option<String>,
    pub qos: Option<String>,
    pub env_lines: Vec<String>,
    pub extra_directives: Vec<String>,
    /// The `<R>` of padocc's job names, `PADOCC_<G>-<R>_<phase>` (the subset
    /// the jobs run; `main` when none is given), which `squeue --name` filters use.
    pub job_label: Option<String>,
}

/// Per-project resource multipliers for a rerun (memory, time) and its attempt.
pub type Boosts = HashMap<String, (f64, f64)>;

fn estimate(group: &GroupDir, code: &str, phase: Phase) -> (f64, f64) {
    let d = group.project(code).ok().and_then(|p| p.detail().ok());
    let est = d.as_ref().and_then(|d| d.extra.get("estimates"));
    let get = |k: &str| est.and_then(|e| e.get(k)).and_then(Value::as_f64);
    match phase {
        Phase::Scan | Phase::Complete => (5.0, 256e6),
        Phase::Compute => (get("compute_seconds").unwrap_or(30.0), get("compute_memory_bytes").unwrap_or(512e6)),
        Phase::Validate => (get("validate_seconds").unwrap_or(60.0), get("validate_memory_bytes").unwrap_or(512e6)),
    }
}

/// Pack projects into tasks: small ones together up to `pack_seconds`, a big one alone.
pub fn plan(group: &GroupDir, codes: &[String], phase: Phase, res: &Resources, boosts: &Boosts) -> Vec<Task> {
    let mut tasks: Vec<Task> = Vec::new();
    let mut cur: Vec<String> = Vec::new();
    let (mut cur_s, mut cur_mem) = (0.0f64, 0.0f64);
    let (mut cur_bt, mut cur_bm) = (1.0f64, 1.0f64);
    let close = |tasks: &mut Vec<Task>, cur: &mut Vec<String>, s: f64, mem: f64, bt: f64, bm: f64| {
        if cur.is_empty() {
            return;
        }
        // Margins: estimates come from a sample and jobs share nodes. A rerun's
        // boost multiplies what the task asked for last time, floors included.
        let base_time = ((s * 3.0 + 60.0) as u64).clamp(res.floor_time_s, res.cap_time_s).div_ceil(60) * 60;
        let base_mem = ((mem * 1.5 / 1e6) as u64).clamp(res.floor_mem_mb, res.cap_mem_mb).div_ceil(256) * 256;
        tasks.push(Task {
            projects: std::mem::take(cur),
            time_s: (((base_time as f64 * bt) as u64).div_ceil(60) * 60).min(res.cap_time_s.max(60)),
            mem_mb: ((base_mem as f64 * bm) as u64).min(res.cap_mem_mb.max(base_mem)),
        });
    };
    for c in codes {
        let (s, mem) = estimate(group, c, phase);
        let (bm, bt) = boosts.get(c).copied().unwrap_or((1.0, 1.0));
        let boosted = bm != 1.0 || bt != 1.0;
        if !cur.is_empty() && (cur_s + s > res.pack_seconds || cur.len() >= res.max_per_task || boosted || cur_bm != 1.0 || cur_bt != 1.0) {
            close(&mut tasks, &mut cur, cur_s, cur_mem, cur_bt, cur_bm);
            cur_s = 0.0;
            cur_mem = 0.0;
        }
        cur.push(c.clone());
        cur_s += s;
        cur_mem = cur_mem.max(mem);
        cur_bt = bt;
        cur_bm = bm;
    }
    close(&mut tasks, &mut cur, cur_s, cur_mem, cur_bt, cur_bm);
    tasks
}

/// POSIX shell single quoting.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A path inside a `#SBATCH`/`#BSUB`/`#PBS` directive: double-quoted; quotes and
/// newlines cannot be expressed there, so they are refused.
fn directive_path(p: &Path) -> Result<String> {
    let s = p.display().to_string();
    if s.contains(['"', '\n', '\r', '\\']) {
        return Err(Error::Usage(format!("{s}: a path with quotes, backslashes or newlines cannot go into a job script directive; use a working directory without them")));
    }
    Ok(if s.contains(' ') { format!("\"{s}\"") } else { s })
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Submitted {
    pub submission: String,
    pub job_id: Option<String>,
    pub tasks: usize,
    pub projects: usize,
    pub time_s: u64,
    pub mem_mb: u64,
    pub script: PathBuf,
}

#[allow(clippy::too_many_arguments)]
pub fn submit(
    group: &GroupDir,
    codes: &[String],
    phase: Phase,
    opts: &Options,
    backend: &dyn Backend,
    site: &Site,
    res: &Resources,
    boosts: &Boosts,
    attempt: u32,
    after: &[String],
    dry_run: bool,
) -> Result<Vec<Submitted>> {
    let tasks = plan(group, codes, phase, res, boosts);
    let dependency = (!after.is_empty()).then(|| backend.dependency(after));
    // One array per resource class, split at the site's MaxArraySize.
    let mut classes: Vec<((u64, u64), Vec<Task>)> = Vec::new();
    for t in tasks {
        match classes.iter_mut().find(|(k, _)| *k == (t.time_s, t.mem_mb)) {
            Some((_, v)) => v.push(t),
            None => classes.push(((t.time_s, t.mem_mb), vec![t])),
        }
    }
    let max = backend.max_array_size().max(1) as usize;
    let exe = fsutil::padocc_exe()?;
    let mut out = Vec::new();
    let mut n = 0;
    for ((time_s, mem_mb), tasks) in classes {
        for chunk in tasks.chunks(max) {
            let jobs = group.dir.join("jobs");
            let (submission, dir) = match dry_run {
                true => {
                    let name = submission_name(phase, &n.to_string());
                    (name.clone(), jobs.join(name))
                }
                false => new_submission(&jobs, phase, &n.to_string())?,
            };
            n += 1;
            let logs = dir.join("logs");
            if !dry_run {
                std::fs::create_dir_all(&logs).map_err(|e| Error::output(&logs, e))?;
                std::fs::create_dir_all(dir.join("tasks")).map_err(|e| Error::output(&dir, e))?;
            }
            let manifest =
                Manifest { chained: !after.is_empty(), ..Manifest::new(group, &submission, phase, backend.name(), backend.index_base(), attempt, opts, chunk.to_vec(), boosts) };
            let mpath = dir.join("manifest.json");
            let base = backend.index_base();
            let last = base + chunk.len() as u32 - 1;
            let throttle = if res.throttle > 0 { format!("%{}", res.throttle) } else { String::new() };
            let ctx = minijinja::context! {
                phase => phase.name(), group => &group.name, submission => &submission, ntasks => chunk.len(),
                job_name => format!("PADOCC_{}-{}_{}", group.name, site.job_label.as_deref().unwrap_or("main"), phase.name()),
                array => format!("{base}-{last}{throttle}"), array_lsf => format!("{base}-{last}{throttle}"), array_pbs => format!("{base}-{last}"),
                time => super::hms(time_s), time_lsf => format!("{}:{:02}", time_s / 3600, time_s / 60 % 60), mem_mb => mem_mb,
                log_dir => directive_path(&logs)?, partition => &site.partition, account => &site.account, qos => &site.qos,
                dependency => &dependency, extra_directives => &site.extra_directives, env_lines => &site.env_lines,
                padocc => shell_quote(&exe.display().to_string()), manifest => shell_quote(&mpath.display().to_string()),
            };
            let mut env = minijinja::Environment::new();
            env.add_template("script", backend.template()).map_err(|e| Error::Internal(format!("job script template: {e}")))?;
            let script = env.get_template("script").and_then(|t| t.render(ctx)).map_err(|e| Error::Internal(format!("job script template: {e}")))?;
            let spath = dir.join("submit.sh");
            if dry_run {
                println!("# --- {} ({} task(s), {} project(s)) ---\n{}", spath.display(), chunk.len(), chunk.iter().map(|t| t.projects.len()).sum::<usize>(), script.trim_end());
                out.push(Submitted { submission, job_id: None, tasks: chunk.len(), projects: chunk.iter().map(|t| t.projects.len()).sum(), time_s, mem_mb, script: spath });
                continue;
            }
            manifest.write(&mpath)?;
            fsutil::write_file_atomic(&spath, |w| w.write_all(script.as_bytes()).map_err(|e| Error::output(&spath, e)))?;
            if backend.runs_inline() {
                for (i, t) in chunk.iter().enumerate() {
                    for code in &t.projects {
                        let row = StatusRow { phase: phase.name().into(), status: "Pending".into(), time: local_time(false), jobid: format!("local_{}", base + i as u32) };
                        group.record(code, &row)?;
                    }
                }
            }
            let job = backend.submit(&spath)?;
            let jpath = dir.join("job.json");
            let jtext = serde_json::json!({"job_id": job, "scheduler": backend.name(), "submitted": local_time(true)}).to_string();
            fsutil::write_file_atomic(&jpath, |w| w.write_all(jtext.as_bytes()).map_err(|e| Error::output(&jpath, e)))?;
            for (i, t) in chunk.iter().enumerate().filter(|_| !backend.runs_inline()) {
                for code in &t.projects {
                    let row = StatusRow { phase: phase.name().into(), status: "Pending".into(), time: local_time(false), jobid: format!("{job}_{}", base + i as u32) };
                    group.record(code, &row)?;
                }
            }
            out.push(Submitted { submission, job_id: Some(job), tasks: chunk.len(), projects: chunk.iter().map(|t| t.projects.len()).sum(), time_s, mem_mb, script: spath });
        }
    }
    Ok(out)
}

/// A project's newest submission to a scheduler: its attempt, its resource
/// boosts and what its task asked for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LastAttempt {
    pub attempt: u32,
    /// (memory, time) multipliers.
    pub boosts: (f64, f64),
    pub time_s: u64,
    pub mem_mb: u64,
}

/// For each project, its newest submission (by creation order of
/// submissions), reading each manifest once.
pub fn last_attempts(group: &GroupDir, codes: &[String]) -> HashMap<String, LastAttempt> {
    // Attempts are submissions to a scheduler: a plain run records its
    // projects too, without resources, and must not reset their count or boosts.
    let mut dirs: Vec<PathBuf> =
        std::fs::read_dir(group.dir.join("jobs")).into_iter().flatten().flatten().map(|e| e.path()).filter(|p| !p.to_string_lossy().ends_with(EMBEDDED_SUFFIX)).collect();
    dirs.sort_by_key(|d| d.file_name().and_then(|n| n.to_str()).map_or(0, submission_clock));
    let mut want: std::collections::HashSet<&str> = codes.iter().map(String::as_str).collect();
    let mut out = HashMap::new();
    for m in dirs.iter().rev().filter_map(|d| Manifest::read(&d.join("manifest.json")).ok()) {
        if want.is_empty() {
            break;
        }
        for t in &m.tasks {
            for p in &t.projects {
                if want.remove(p.as_str()) {
                    out.insert(p.clone(), LastAttempt { attempt: m.attempt, boosts: m.boosts.get(p).copied().unwrap_or((1.0, 1.0)), time_s: t.time_s, mem_mb: t.mem_mb });
                }
            }
        }
    }
    out
}

/// Every submission of a group: (submission dir, scheduler, job id).
pub fn submissions(group: &GroupDir) -> Vec<(PathBuf, String, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(group.dir.join("jobs")).into_iter().flatten().flatten() {
        let Ok(t) = std::fs::read_to_string(e.path().join("job.json")) else { continue };
        let Ok(v) = serde_json::from_str::<Value>(&t) else { continue };
        if let (Some(s), Some(j)) = (v.get("scheduler").and_then(Value::as_str), v.get("job_id").and_then(Value::as_str)) {
            out.push((e.path(), s.to_string(), j.to_string()));
        }
    }
    out
}

#[cfg(test)]
mod tests {

    /// Every option a worker needs survives the manifest (`--mem-allowed` once did not).
    #[test]
    fn task_options_keep_every_phase_option() {
        let opts = Options {
            force: true,
            new_version: true,
            sample: 3,
            dedupe: Some(crate::aggregate::combine::Dedupe::Last),
            concat_dims: vec!["time".into()],
            completion_dir: Some("/pub".into()),
            sub: Some("/a".into()),
            replace: Some("https://b".into()),
            version_separator: ".".into(),
            delete: true,
            bypass: Some(serde_json::json!({"x": 1})),
            mem_allowed: Some(300_000_000),
            ..Options::default()
        };
        let text = serde_json::to_string(&TaskOptions::from_options(&opts)).unwrap();
        let back = serde_json::from_str::<TaskOptions>(&text).unwrap().to_options();
        assert_eq!(format!("{back:?}"), format!("{opts:?}"));
    }

    use super::*;

    #[test]
    fn submissions_started_together_get_their_own_directories() {
        let d = tempfile::tempdir().unwrap();
        let jobs = d.path().join("jobs");
        let names: std::collections::HashSet<String> = (0..200).map(|_| new_submission(&jobs, Phase::Scan, "local").unwrap().0).collect();
        assert_eq!(names.len(), 200);
        assert!(names.iter().all(|n| n.ends_with(EMBEDDED_SUFFIX) && n.split('-').nth(1).unwrap().parse::<u128>().is_ok()), "{names:?}");
    }

    #[test]
    fn a_plain_run_does_not_reset_attempts_or_boosts() {
        let d = tempfile::tempdir().unwrap();
        let wd = crate::workdir::Workdir { root: d.path().to_path_buf() };
        let g = GroupDir::create(&wd, "g").unwrap();
        let jobs = g.dir.join("jobs");
        let task = |c: &str| Task { projects: vec![c.to_string()], time_s: 60, mem_mb: 100 };
        let boosts: Boosts = [("a".to_string(), (2.0, 1.0))].into_iter().collect();
        let (name, dir) = new_submission(&jobs, Phase::Compute, "0").unwrap();
        Manifest::new(&g, &name, Phase::Compute, "slurm", 0, 2, &Options::default(), vec![task("a")], &boosts).write(&dir.join("manifest.json")).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let (name, dir) = new_submission(&jobs, Phase::Compute, &EMBEDDED_SUFFIX[1..]).unwrap();
        Manifest::new(&g, &name, Phase::Compute, "local", 0, 1, &Options::default(), vec![task("a")], &Default::default()).write(&dir.join("manifest.json")).unwrap();
        let last = last_attempts(&g, &["a".to_string()])["a"];
        assert_eq!((last.attempt, last.boosts, last.mem_mb), (2, (2.0, 1.0), 100));
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("/a b/it's"), r"'/a b/it'\''s'");
        assert_eq!(directive_path(Path::new("/w/x y")).unwrap(), "\"/w/x y\"");
        assert!(directive_path(Path::new("/w/\"x")).is_err());
    }
}
