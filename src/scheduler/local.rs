//! The local back end: the same manifests and the same worker code as the
//! batch schedulers, run in-process on this machine's cores. `submit` returns
//! when every task has finished, so there is nothing to query afterwards: the
//! workers have recorded each project's outcome.

use std::path::Path;

use rayon::prelude::*;

use super::{Backend, TaskState};
use crate::error::{Error, Result};

pub struct Local;

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
        (0..m.tasks.len() as u32).into_par_iter().try_for_each(|i| -> Result<()> {
            crate::pipeline::check_interrupted()?;
            // A task whose projects failed has recorded why; that is not a submission error.
            super::worker::run_as(&manifest, i, &job).map(|_| ())
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
