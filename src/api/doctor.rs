//! `padocc doctor`: what is wrong with a group's files, each finding with what
//! to do about it. It reads and never writes: crashes, hand edits and padocc
//! 1.5.1 itself leave states the phases stop on one project at a time, and a
//! data manager wants them all listed before a run of thousands of tasks.
//!
//! Checks: project configs that do not parse; codes without a directory and
//! directories without a code; codes listed twice in a subset, or in a subset
//! but not in `main`; temporaries left by writes a kill interrupted; Zarr
//! conversions left part-way (which compute resumes); projects left `Running`
//! by a task whose heartbeat stopped.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::workdir::group::GroupDir;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// A phase will fail on it.
    Error,
    /// Likely a mistake; nothing fails on it.
    Warning,
    /// Worth knowing; harmless.
    Info,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Finding {
    pub severity: Severity,
    pub path: PathBuf,
    pub problem: String,
    pub fix: String,
}

fn finding(severity: Severity, path: &Path, problem: impl Into<String>, fix: impl Into<String>) -> Finding {
    Finding { severity, path: path.to_path_buf(), problem: problem.into(), fix: fix.into() }
}

/// Every finding of the group, errors first.
pub fn examine(g: &GroupDir) -> Result<Vec<Finding>> {
    let mut out = Vec::new();
    // Codes as written: a code that is not a safe path component is reported
    // here and left out of everything below (it never becomes a path).
    let mut main = g.raw_codes("main")?;
    main.retain(|c| crate::workdir::check_name("project code", c).is_ok());
    let in_main: HashSet<&str> = main.iter().map(String::as_str).collect();

    // Subsets: duplicates, and codes main does not know.
    let codes_dir = g.dir.join("proj_codes");
    let mut subsets: Vec<PathBuf> = std::fs::read_dir(&codes_dir).into_iter().flatten().flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "txt")).collect();
    subsets.sort();
    for p in &subsets {
        let id = p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let Ok(raw) = g.raw_codes(&id) else { continue };
        let bad: Vec<String> = raw.iter().filter_map(|c| crate::workdir::check_name("project code", c).err().map(|e| e.to_string())).collect();
        if !bad.is_empty() {
            out.push(finding(
                Severity::Error,
                p,
                format!("entries that are not project codes (they could name paths outside the working directory): {}", bad.join("; ")),
                "fix or remove those lines; until then padocc refuses this subset",
            ));
        }
        let codes: Vec<String> = raw.into_iter().filter(|c| crate::workdir::check_name("project code", c).is_ok()).collect();
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for c in &codes {
            *seen.entry(c).or_default() += 1;
        }
        let mut twice: Vec<&str> = seen.iter().filter(|(_, n)| **n > 1).map(|(c, _)| *c).collect();
        twice.sort();
        if !twice.is_empty() {
            out.push(finding(
                Severity::Error,
                p,
                format!("listed more than once: {}", twice.join(", ")),
                "a project listed twice runs twice, and the two runs race: remove the repeats from the file",
            ));
        }
        if id != "main" {
            let unknown: Vec<&str> = codes.iter().map(String::as_str).filter(|c| !in_main.contains(c)).collect();
            if !unknown.is_empty() {
                out.push(finding(
                    Severity::Warning,
                    p,
                    format!("not in main: {}", unknown.join(", ")),
                    "these were transferred or deleted since the subset was written: write the subset again with padocc repeat",
                ));
            }
        }
    }

    // Projects: each code's directory and its files; each directory's code.
    let progress = g.wd.root.join("in_progress").join(&g.name);
    for code in &main {
        let p = g.project(code)?;
        if !p.exists() {
            out.push(finding(
                Severity::Error,
                &p.dir,
                format!("project '{code}' is in main but has no directory"),
                "run padocc init again with its CSV line, or remove it with padocc delete -p",
            ));
            continue;
        }
        for (name, read) in [("base-cfg.json", p.base().err()), ("detail-cfg.json", p.detail().err())] {
            if let Some(e) = read {
                out.push(finding(
                    Severity::Error,
                    &p.path(name),
                    e.to_string(),
                    "restore it from a copy, or delete it and rerun the phase that writes it (init for base-cfg, scan for detail-cfg)",
                ));
            }
        }
        if let Err(e) = p.status_rows() {
            out.push(finding(Severity::Error, &p.path("status_log.csv"), e.to_string(), "make it readable again; the group's journal (groups/<G>/status/) still has every status"));
        }
        leftovers(&p.dir, &mut out);
        if let Ok(base) = p.base() {
            let (_, product) = p.product(&base);
            if product.exists() && !crate::pipeline::compute::recorded_done(&p).unwrap_or(true) {
                out.push(finding(
                    Severity::Warning,
                    &product,
                    format!("project '{code}' has a product but no compute status (a run was killed between the two)"),
                    "run compute again: it checks the product opens and records it (or remakes it)",
                ));
            }
        }
    }
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&progress).into_iter().flatten().flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
    dirs.sort();
    for d in dirs {
        let name = d.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if !in_main.contains(name.as_str()) && !name.starts_with('.') {
            out.push(finding(
                Severity::Warning,
                &d,
                format!("a project directory whose code '{name}' is not in main"),
                "add it back with padocc add, or remove the directory if it is not wanted",
            ));
        }
    }
    stale_running(g, &main, std::time::SystemTime::now(), &mut out)?;
    for e in std::fs::read_dir(g.dir.join("status")).into_iter().flatten().flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "jnl") && std::fs::read(&p).is_ok_and(|b| std::str::from_utf8(&b).is_err()) {
            out.push(finding(
                Severity::Warning,
                &p,
                "a status journal that is not UTF-8 text (damaged, or not written by padocc): its unreadable lines are ignored",
                "the projects' own status_log.csv files still hold their statuses; move the file away if it is not padocc's",
            ));
        }
    }
    for (code, holder, stale) in g.locks() {
        if stale {
            out.push(finding(
                Severity::Warning,
                &g.dir.join("locks").join(format!("{code}.lock")),
                format!("project '{code}' is locked by {holder}, which is gone"),
                "nothing to do: the next run takes the lock over (or delete the file)",
            ));
        }
    }
    out.sort_by(|a, b| a.severity.cmp(&b.severity).then_with(|| a.path.cmp(&b.path)));
    Ok(out)
}

/// A task rewrites its heartbeat (`jobs/<submission>/tasks/<index>.alive`)
/// every 30 s; this long without one, it is gone.
const STALE: std::time::Duration = std::time::Duration::from_secs(600);

/// Projects whose newest status is `Running` under a scheduler task whose
/// heartbeat stopped (or never started): the task died, and the scheduler's
/// accounting, which `status` joins, no longer says how (purged, or a node
/// lost). Plain runs have no heartbeat and are not judged.
fn stale_running(g: &GroupDir, main: &[String], now: std::time::SystemTime, out: &mut Vec<Finding>) -> Result<()> {
    let running: Vec<(String, crate::workdir::project::StatusRow)> = g.current_statuses(main)?.into_iter().filter(|(_, r)| r.status == "Running").collect();
    if running.is_empty() {
        return Ok(());
    }
    let jobs: HashMap<String, PathBuf> = crate::scheduler::coordinator::submissions(g).into_iter().map(|(dir, _, job)| (job, dir)).collect();
    for (code, row) in running {
        let Some((job, index)) = row.jobid.rsplit_once('_') else { continue };
        let Some(dir) = jobs.get(job) else { continue };
        let beat = dir.join("tasks").join(format!("{index}.alive"));
        let age = std::fs::metadata(&beat).and_then(|m| m.modified()).ok().and_then(|t| now.duration_since(t).ok());
        let quiet = match age {
            Some(a) if a < STALE => continue,
            Some(a) => format!("no heartbeat for {} min", a.as_secs() / 60),
            None => "no heartbeat at all".to_string(),
        };
        out.push(finding(
            Severity::Warning,
            &g.wd.project_dir(&g.name, &code),
            format!("'{code}' is {} in task {} ({quiet})", row.status, row.jobid),
            format!(
                "the task has died: padocc status -G {} shows what the scheduler says; padocc rerun-failed -G {} --include-errors, or run {} again with -p {code}",
                g.name, g.name, row.phase
            ),
        ));
    }
    Ok(())
}

/// Temporaries of atomic writes (`.<name>.tmp.<pid>`) and Zarr stores being
/// built (`*.zarr.partial`) in a project directory.
fn leftovers(dir: &Path, out: &mut Vec<Finding>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let path = e.path();
        if is_write_temporary(&name, "tmp") {
            out.push(finding(Severity::Info, &path, "left by a write that was killed; the file it was to replace is whole", "delete it"));
        } else if is_write_temporary(&name, "old") {
            out.push(finding(
                Severity::Info,
                &path,
                "an older product moved aside by a replacement that was killed before it removed it",
                "delete it once the product beside it opens",
            ));
        } else if name.ends_with(".zarr.partial") {
            out.push(finding(Severity::Info, &path, "a Zarr conversion stopped part-way", "compute -C zarr resumes it; delete it to start over"));
        }
    }
}

/// `.<name>.<tag>.<pid>`, as [`crate::fsutil::temp_sibling`] names them.
fn is_write_temporary(name: &str, tag: &str) -> bool {
    let Some(rest) = name.strip_prefix('.') else { return false };
    rest.rsplit_once(&format!(".{tag}.")).is_some_and(|(stem, pid)| !stem.is_empty() && !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_project_whose_heartbeat_stopped_is_stale() {
        let d = tempfile::tempdir().unwrap();
        let g = GroupDir::create(&crate::workdir::Workdir { root: d.path().to_path_buf() }, "g").unwrap();
        let codes = vec!["a".to_string(), "b".to_string()];
        g.save_codes("main", &codes).unwrap();
        for c in &codes {
            std::fs::create_dir_all(&g.project(c).unwrap().dir).unwrap();
        }
        let row =
            |status: &str, jobid: &str| crate::workdir::project::StatusRow { phase: "compute".into(), status: status.into(), time: "12:00 25/11/26".into(), jobid: jobid.into() };
        g.record("a", &row("Running", "77_0")).unwrap();
        g.record("b", &row("Running", "local9_0")).unwrap();
        let sub = g.dir.join("jobs/compute-1-2-0");
        std::fs::create_dir_all(sub.join("tasks")).unwrap();
        std::fs::write(sub.join("job.json"), r#"{"scheduler": "slurm", "job_id": "77"}"#).unwrap();
        let stale = |now| {
            let mut out = Vec::new();
            stale_running(&g, &codes, now, &mut out).unwrap();
            out
        };
        // No heartbeat yet, a fresh one, one 11 minutes old; plain runs are not judged.
        assert!(stale(std::time::SystemTime::now())[0].problem.contains("no heartbeat at all"));
        std::fs::write(sub.join("tasks/0.alive"), "{}").unwrap();
        assert!(stale(std::time::SystemTime::now()).is_empty());
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(660);
        let found = stale(later);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].problem.contains("'a' is Running in task 77_0 (no heartbeat for 11 min)"), "{found:?}");
        assert!(found[0].fix.contains("rerun-failed"));
    }

    #[test]
    fn write_temporaries_are_told_from_other_dot_files() {
        assert!(is_write_temporary(".base-cfg.json.tmp.4711", "tmp"));
        assert!(!is_write_temporary(".base-cfg.json.tmp.", "tmp"));
        assert!(!is_write_temporary("base-cfg.json.tmp.4711", "tmp"));
        assert!(!is_write_temporary(".hidden", "tmp"));
        assert!(!is_write_temporary(".tmp.12", "tmp"));
        assert!(is_write_temporary(".zr1.0a.zarr.old.99", "old"));
    }
}
