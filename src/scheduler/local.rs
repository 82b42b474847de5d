//! The local back end: the same manifests as the batch schedulers, run
//! in-process on this machine's cores.
//!
//! - A phase without `--parallel` (the embedded default) records its run as a
//!   manifest of this back end, one task per project, and runs what the
//!   manifest lists with the embedded executor ([`crate::pipeline::local`]:
//!   memory budget, progress, Ctrl-C); the outcomes go beside it
//!   (`outcomes.json`). [`record_run`] and [`finish_run`].
//! - `--parallel --scheduler local` (and `run --scheduler local`) goes through
//!   the coordinator like SLURM: packed tasks, `submit.sh`, and the worker code
//!   per task. `submit` returns when every task has finished, so there is
//!   nothing to query afterwards: the workers have recorded each outcome.

use std::io::Write;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::{Backend, TaskState};
use crate::error::{Error, Result};

pub struct Local {
    /// Tasks run in this process: they stop when it is cancelled.
    pub control: crate::control::Control,
}

impl Backend for Local {
    fn name(&self) -> &'static str {
        "local"
    }
    fn template(&self) -> &'static str {
        include_str!("../../templates/local.sh.j2")
    }
    fn index_base(&self) -> u32 {
        0
    }
    fn max_array_size(&self) -> u32 {
        u32::MAX
    }
    fn runs_inline(&self) -> bool {
        true
    }
    fn submit(&self, script: &Path) -> Result<String> {
        let manifest = script.with_file_name("manifest.json");
        let m = super::coordinator::Manifest::read(&manifest)?;
        let job = format!("local{}", std::process::id());
        // Tasks run side by side on the rayon pool; a lone task may spread a
        // validation over every core.
        let cores = (rayon::current_num_threads() / m.tasks.len().max(1)).max(1);
        (0..m.tasks.len() as u32).into_par_iter().try_for_each(|i| -> Result<()> {
            self.control.cancel.check()?;
            // A task whose projects failed has recorded why; that is not a submission error.
            super::worker::run_as(&manifest, i, &job, cores, &self.control).map(|_| ())
        })?;
        if m.tasks.is_empty() {
            return Err(Error::Usage(format!("{}: no tasks", manifest.display())));
        }
        Ok(job)
    }
    fn query(&self, _job_ids: &[String]) -> Result<Vec<TaskState>> {
        Ok(vec![])
    }
    fn dependency(&self, _jobs: &[String]) -> String {
        String::new()
    }
}

/// Record a phase run of the embedded default as an immutable manifest of
/// this back end (`groups/<G>/jobs/<phase>-<clock>-local/manifest.json`), one
/// task per project: resources are the executor's memory budget, not a
/// request. Returns the submission directory and the manifest read back, so
/// what runs is what was recorded.
pub fn record_run(
    group: &crate::workdir::group::GroupDir,
    codes: &[String],
    phase: crate::pipeline::Phase,
    opts: &crate::pipeline::Options,
) -> Result<(PathBuf, super::coordinator::Manifest)> {
    use super::coordinator::{new_submission, Manifest, Task, EMBEDDED_SUFFIX};
    let (submission, dir) = new_submission(&group.dir.join("jobs"), phase, &EMBEDDED_SUFFIX[1..])?;
    let tasks = codes.iter().map(|c| Task { projects: vec![c.clone()], time_s: 0, mem_mb: 0 }).collect();
    let path = dir.join("manifest.json");
    Manifest::new(group, &submission, phase, "local", 0, 1, opts, tasks, &Default::default()).write(&path)?;
    Ok((dir, super::coordinator::Manifest::read(&path)?))
}

/// The outcomes of a recorded run, beside its manifest (`outcomes.json`,
/// the same objects as `--format json` prints).
pub fn finish_run(dir: &Path, outcomes: &[&crate::pipeline::Outcome], interrupted: bool) -> Result<()> {
    let path = dir.join("outcomes.json");
    let text = serde_json::to_string(&serde_json::json!({"finished": crate::workdir::project::local_time(true), "interrupted": interrupted, "results": outcomes})).expect("JSON");
    crate::fsutil::write_file_atomic(&path, |w| w.write_all(text.as_bytes()).map_err(|e| Error::output(&path, e)))
}
