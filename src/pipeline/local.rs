//! The embedded executor: one phase over a group's projects, in parallel on
//! all cores, never starting a project when the memory it is expected to need
//! (scan's estimate) is not available.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

use super::{run_project, Options, Outcome, Phase};
use crate::control::Progress;
use crate::workdir::group::GroupDir;

/// Memory a project is assumed to need when scan left no estimate.
const DEFAULT_MEMORY: u64 = 256 << 20;

struct Budget {
    free: Mutex<u64>,
    cv: Condvar,
}

impl Budget {
    /// Wait until `want` bytes are free (a project bigger than the whole budget
    /// runs alone).
    fn take(&self, want: u64, total: u64) -> u64 {
        let want = want.min(total);
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        while *free < want {
            free = self.cv.wait(free).unwrap_or_else(|e| e.into_inner());
        }
        *free -= want;
        want
    }
    fn give(&self, n: u64) {
        *self.free.lock().unwrap_or_else(|e| e.into_inner()) += n;
        self.cv.notify_all();
    }
}

fn estimate(group: &GroupDir, code: &str, phase: Phase) -> u64 {
    let key = match phase {
        Phase::Validate => "validate_memory_bytes",
        _ => "compute_memory_bytes",
    };
    group.project(code).ok().and_then(|p| p.detail().ok()).and_then(|d| d.estimate(key)).unwrap_or(DEFAULT_MEMORY)
}

/// Run `phase` for `projects` (index, code); `on_done` sees each outcome as it
/// finishes (for failure lines), in completion order. Returns outcomes in
/// input order.
pub fn run(group: &GroupDir, projects: &[(usize, String)], phase: Phase, opts: &Options, jobs: usize, on_done: &(dyn Fn(&Outcome) + Sync)) -> Vec<Option<Outcome>> {
    let total_mem = ((crate::memory::headroom() as f64) * 0.8) as u64;
    let total_mem = total_mem.max(DEFAULT_MEMORY);
    let budget = Budget { free: Mutex::new(total_mem), cv: Condvar::new() };
    let next = AtomicUsize::new(0);
    let results: Vec<Mutex<Option<Outcome>>> = projects.iter().map(|_| Mutex::new(None)).collect();
    let progress = Progress::new(phase.name(), projects.len() as u64, &opts.control.progress);
    let workers = jobs.max(1).min(projects.len().max(1));
    // The bar counts projects; a project's own steps report nothing.
    let inner = Options { control: opts.control.quiet(), ..opts.clone() };
    let work = || loop {
        if opts.control.cancel.is_cancelled() {
            return;
        }
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some((index, code)) = projects.get(i) else { return };
        let held = budget.take(estimate(group, code, phase), total_mem);
        let out = run_project(group, *index, code, phase, &inner);
        budget.give(held);
        on_done(&out);
        progress.inc();
        *results[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(out);
    };
    std::thread::scope(|s| {
        // Under a memory or process limit a thread may not start: the run goes
        // on with those that did, or on this thread alone.
        let started = (1..workers).take_while(|_| std::thread::Builder::new().spawn_scoped(s, work).is_ok()).count();
        if started + 1 < workers {
            tracing::warn!("{} of {workers} worker threads could not start (a memory or process limit); running with {}", workers - 1 - started, started + 1);
        }
        work();
    });
    progress.finish();
    results.into_iter().map(|m| m.into_inner().unwrap_or_else(|e| e.into_inner())).collect()
}
