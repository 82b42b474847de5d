//! The worker: `padocc worker --manifest M [--index I]` on a compute node runs
//! the projects of one array index with the same phase code as local mode.
//!
//! It records, on the shared filesystem: `Running` (with the job id) when a
//! project starts, a heartbeat file every 30 s, and per project the end status,
//! wall time and the task's peak RSS (`tasks/<index>.json`). Status rows go to
//! this process's own journal file, so 1000 tasks never write one file.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;

use super::coordinator::Manifest;
use crate::control::Control;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::pipeline::{phase_rank, run_project_then, Options, Phase};
use crate::workdir::group::{hostname, GroupDir};
use crate::workdir::project::{local_time, StatusRow};
use crate::workdir::Workdir;

/// The array index from the scheduler's environment.
pub fn index_from_env() -> Option<u32> {
    ["SLURM_ARRAY_TASK_ID", "LSB_JOBINDEX", "PBS_ARRAY_INDEX", "PBS_ARRAYID"].iter().find_map(|v| std::env::var(v).ok().and_then(|s| s.parse().ok()))
}

fn job_from_env() -> String {
    if let Ok(j) = std::env::var("SLURM_ARRAY_JOB_ID") {
        return j;
    }
    if let Ok(j) = std::env::var("LSB_JOBID") {
        return j;
    }
    if let Ok(j) = std::env::var("PBS_JOBID") {
        // "77[3].server" -> "77[].server", the id qstat takes for the array.
        return match (j.find('['), j.find(']')) {
            (Some(a), Some(b)) => format!("{}[]{}", &j[..a], &j[b + 1..]),
            _ => j,
        };
    }
    "local".into()
}

fn peak_rss_kb() -> u64 {
    // SAFETY: getrusage fills the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    ru.ru_maxrss as u64
}

/// Test hook for the scheduler integration tests: make a named project use a
/// lot of memory or time, so the real scheduler ends the task with
/// OUT_OF_MEMORY or TIMEOUT. `PADOCC_TEST_FAULTS="code:oom,code2:sleep"`;
/// `code:oomonce` runs out of memory on the project's first attempt only (a
/// marker file in `PADOCC_TEST_FAULTS_DIR`).
fn test_fault(code: &str) {
    let Ok(spec) = std::env::var("PADOCC_TEST_FAULTS") else { return };
    for item in spec.split(',') {
        let once = |c: &str| {
            let Some(dir) = std::env::var_os("PADOCC_TEST_FAULTS_DIR") else { return false };
            let mark = std::path::Path::new(&dir).join(format!("{c}.oomonce"));
            std::fs::OpenOptions::new().write(true).create_new(true).open(mark).is_ok()
        };
        match item.split_once(':') {
            Some((c, "oomonce")) if c == code && once(c) => eat_memory(),
            Some((c, "oom")) if c == code => eat_memory(),
            Some((c, "sleep")) if c == code => std::thread::sleep(Duration::from_secs(600)),
            _ => {}
        }
    }
}

fn eat_memory() {
    let mut v: Vec<u8> = Vec::new();
    for _ in 0..64 {
        v.extend(std::iter::repeat_n(1u8, 64 << 20));
        std::thread::sleep(Duration::from_millis(20));
    }
    std::hint::black_box(&v);
}

pub fn run(manifest_path: &Path, index: Option<u32>, ctl: &Control) -> Result<i32> {
    let index = index
        .or_else(index_from_env)
        .ok_or_else(|| Error::Usage("no array index: give --index I, or run under SLURM, LSF or PBS (SLURM_ARRAY_TASK_ID, LSB_JOBINDEX, PBS_ARRAY_INDEX)".into()))?;
    run_as(manifest_path, index, &job_from_env(), allocated_cores(|k| std::env::var(k).ok()), ctl)
}

/// Whether `phase` (a status row's) comes before `than` in the pipeline.
fn before(phase: &str, than: Phase) -> bool {
    matches!((phase_rank(phase), phase_rank(than.name())), (Some(a), Some(b)) if a < b)
}

/// The CPUs the scheduler gave this task, for a validation's processes. SLURM
/// with cgroups limits the task's affinity, which `available_parallelism`
/// reports; LSF and PBS without cpusets do not, and every core of a shared
/// node would be taken, each process with a validation's memory. So the
/// count the scheduler states wins where it is smaller.
fn allocated_cores(env: impl Fn(&str) -> Option<String>) -> usize {
    let usable = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    ["SLURM_CPUS_PER_TASK", "LSB_DJOB_NUMPROC", "NCPUS"].iter().find_map(|k| env(k)?.trim().parse::<usize>().ok().filter(|n| *n > 0)).map_or(usable, |n| n.min(usable))
}

/// Run task `index` of a manifest as part of job `job` (the local back end
/// calls this in-process for every index), with `cores` for a validation.
pub fn run_as(manifest_path: &Path, index: u32, job: &str, cores: usize, ctl: &Control) -> Result<i32> {
    let m = Manifest::read(manifest_path)?;
    let task = index
        .checked_sub(m.index_base)
        .and_then(|i| m.tasks.get(i as usize))
        .ok_or_else(|| Error::Usage(format!("index {index} is not in {} ({} tasks from {})", manifest_path.display(), m.tasks.len(), m.index_base)))?;
    let group = GroupDir::open(&Workdir { root: m.workdir.clone() }, &m.group)?;
    let jobid = format!("{job}_{index}");
    let dir = manifest_path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let tasks_dir = dir.join("tasks");
    let _ = std::fs::create_dir_all(&tasks_dir);

    // Heartbeat: a file rewritten every 30 s while the task lives.
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    let hb = {
        let path = tasks_dir.join(format!("{index}.alive"));
        let jobid = jobid.clone();
        // A small stack, and no panic when no thread can be had (a tight
        // memory limit): the task then runs without a heartbeat.
        std::thread::Builder::new()
            .name("heartbeat".into())
            .stack_size(256 << 10)
            .spawn(move || loop {
                let text = json!({"job": jobid, "host": hostname(), "time": local_time(true)}).to_string();
                let _ = fsutil::write_file_atomic(&path, |w| w.write_all(text.as_bytes()).map_err(|e| Error::output(&path, e)));
                if stopped.recv_timeout(Duration::from_secs(30)) != Err(std::sync::mpsc::RecvTimeoutError::Timeout) {
                    return;
                }
            })
            .ok()
    };

    let opts = Options { jobid: Some(jobid.clone()), processes: cores, control: ctl.quiet(), ..m.options.to_options() };
    let main = group.codes("main").unwrap_or_default();
    let t0 = Instant::now();
    let mut results = Vec::new();
    let mut failed = 0;
    for code in &task.projects {
        // Chained phases start whatever the previous array did (afterany: one
        // failed task must not hold up a whole group); a project whose earlier
        // phase did not succeed keeps that status instead of running on.
        if m.chained {
            if let Some(r) = group.project(code).ok().and_then(|p| p.last_status().ok().flatten()).filter(|r| before(&r.phase, m.phase) && r.status != "Success") {
                results.push(json!({"code": code, "status": r.status, "seconds": 0.0, "message": format!("not run: {} ended {}", r.phase, r.status)}));
                continue;
            }
        }
        let i = main.iter().position(|c| c == code).unwrap_or(0);
        let out = run_project_then(&group, i, code, m.phase, &opts, || {
            group.record(code, &StatusRow { phase: m.phase.name().into(), status: "Running".into(), time: local_time(false), jobid: jobid.clone() })?;
            test_fault(code);
            Ok(())
        });
        if !out.ok {
            failed += 1;
        }
        results.push(json!({"code": code, "status": out.status, "seconds": out.seconds, "message": out.message}));
    }
    drop(stop);
    if let Some(hb) = hb {
        let _ = hb.join();
    }
    let rec = json!({"job": jobid, "host": hostname(), "attempt": m.attempt, "wall_seconds": t0.elapsed().as_secs_f64(),
                     "max_rss_kb": peak_rss_kb(), "results": results});
    let rpath = tasks_dir.join(format!("{index}.json"));
    let text = serde_json::to_string_pretty(&rec).expect("JSON");
    fsutil::write_file_atomic(&rpath, |w| w.write_all(text.as_bytes()).map_err(|e| Error::output(&rpath, e)))?;
    Ok(if failed == 0 { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_in_pipeline_order() {
        assert!(before("init", Phase::Scan) && before("scan", Phase::Compute) && before("compute", Phase::Validate));
        assert!(!before("validate", Phase::Validate) && !before("complete", Phase::Validate) && !before("Running", Phase::Scan));
    }

    #[test]
    fn cores_are_the_schedulers_count_at_most() {
        let usable = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        assert_eq!(allocated_cores(|_| None), usable);
        assert_eq!(allocated_cores(|k| (k == "LSB_DJOB_NUMPROC").then(|| "1".into())), 1);
        assert_eq!(allocated_cores(|k| (k == "NCPUS").then(|| "100000".into())), usable);
        assert_eq!(allocated_cores(|k| (k == "SLURM_CPUS_PER_TASK").then(|| "0".into())), usable);
    }
}
