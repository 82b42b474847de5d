//! `shepard status`: padocc 1.5.1's table (spec §6.6), one line per flock,
//! then the failures by reason and the quarantine with why.

use std::collections::BTreeMap;

use super::conf::Conf;
use super::flocks::{self, QUARANTINE};
use crate::error::Result;
use crate::workdir::group::GroupDir;
use crate::workdir::status::{Kind, Status};

/// Counts of one phase: errors, pending (and running), successes.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct Eps {
    pub error: usize,
    pub pending: usize,
    pub success: usize,
}

#[derive(Debug, Default, serde::Serialize)]
pub struct FlockLine {
    pub flock: String,
    pub projects: usize,
    /// init, scan, compute, validate.
    pub phases: BTreeMap<String, Eps>,
    pub complete: usize,
    pub errors: usize,
}

#[derive(Debug, Default, serde::Serialize)]
pub struct ShepardStatus {
    pub flocks: Vec<FlockLine>,
    pub errors: usize,
    /// Failure statuses (without padocc's method prefix) and how many.
    pub failures: BTreeMap<String, usize>,
    /// Quarantined projects: code, flock of origin, when, why.
    pub quarantined: Vec<(String, String, String, String)>,
    /// Manifests waiting in the cache.
    pub waiting_manifests: usize,
    /// Groups SHEPARD leaves alone (`.shpignore`).
    pub ignored: Vec<String>,
    /// Flocks that could not be read, with why.
    pub unreadable: Vec<String>,
}

const PHASES: [&str; 4] = ["init", "scan", "compute", "validate"];

/// Where every flock stands, from the shared filesystem only (no scheduler
/// query: this is what a person looks at, and it must be quick).
pub fn status(conf: &Conf) -> Result<ShepardStatus> {
    use rayon::prelude::*;
    let wd = super::workdir(conf)?;
    let names = flocks::list(&wd);
    type Counted = std::result::Result<(FlockLine, BTreeMap<String, usize>), String>;
    let lines: Vec<Counted> = names
        .par_iter()
        .map(|name| {
            let g = GroupDir::open(&wd, name).map_err(|e| format!("{name}: {e}"))?;
            let codes = g.codes("main").map_err(|e| format!("{name}: {e}"))?;
            let cur = g.current_statuses(&codes).map_err(|e| format!("{name}: {e}"))?;
            let mut line = FlockLine { flock: name.clone(), projects: codes.len(), ..Default::default() };
            for p in PHASES {
                line.phases.insert(p.to_string(), Eps::default());
            }
            let mut failures = BTreeMap::new();
            for c in &codes {
                let Some(r) = cur.get(c) else { continue };
                let st = Status::parse(&r.status);
                if r.phase == "complete" && st.is_success() {
                    line.complete += 1;
                    continue;
                }
                let slot = line.phases.entry(r.phase.clone()).or_default();
                match st.kind {
                    Kind::Success | Kind::Warn => slot.success += 1,
                    Kind::Pending | Kind::Running | Kind::Redo => slot.pending += 1,
                    _ => {
                        slot.error += 1;
                        line.errors += 1;
                        let core = r.status.split_once(')').map_or(r.status.as_str(), |x| x.1);
                        *failures.entry(format!("{} {core}", r.phase)).or_insert(0) += 1;
                    }
                }
            }
            Ok((line, failures))
        })
        .collect();
    let mut out = ShepardStatus::default();
    for l in lines {
        match l {
            Ok((line, failures)) => {
                out.errors += line.errors;
                for (k, n) in failures {
                    *out.failures.entry(k).or_insert(0) += n;
                }
                out.flocks.push(line);
            }
            Err(e) => out.unreadable.push(e),
        }
    }
    out.quarantined = super::pass::quarantine_reasons(&wd).into_iter().map(|(c, (f, t, r))| (c, f, t, r)).collect();
    out.waiting_manifests = conf
        .cache_dir
        .iter()
        .chain(conf.sweep_dir.iter())
        .flat_map(|d| std::fs::read_dir(d).into_iter().flatten().flatten())
        .filter(|e| e.path().extension().is_some_and(|x| x == "txt" || x == "csv"))
        .count();
    out.ignored = wd.groups().into_iter().filter(|g| g != QUARANTINE && wd.group_dir(g).join(flocks::IGNORE_MARKER).exists()).collect();
    Ok(out)
}

/// padocc's table: `<G padded to 20> -> i: E P S |s: E P S |c: E P S |v: E P S |c:<n>, ET: <errors>`.
pub fn render_status(s: &ShepardStatus) -> String {
    use std::fmt::Write;
    let mut t = String::from("Group ID:            | By phase: error, pending, success\n");
    for f in &s.flocks {
        let e = |p: &str| f.phases.get(p).copied().unwrap_or_default();
        let c = |x: Eps| format!("{} {} {}", x.error, x.pending, x.success);
        let _ = writeln!(t, "{:<20} -> i: {} |s: {} |c: {} |v: {} |c:{}, ET: {}", f.flock, c(e("init")), c(e("scan")), c(e("compute")), c(e("validate")), f.complete, f.errors);
    }
    let _ = writeln!(t, "Errors: {}", s.errors);
    if !s.failures.is_empty() {
        let _ = writeln!(t, "\nFailures by reason:");
        let mut v: Vec<_> = s.failures.iter().collect();
        v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (k, n) in v {
            let _ = writeln!(t, "  {n:>6}  {k}");
        }
    }
    if !s.quarantined.is_empty() {
        let _ = writeln!(t, "\nQuarantined ({}; release with `padocc transfer -G {QUARANTINE} -p CODE --new_group FLOCK`, see docs/shepard.md):", s.quarantined.len());
        for (c, f, when, why) in &s.quarantined {
            let _ = writeln!(t, "  {c} (from {f}, {when}): {why}");
        }
    }
    if s.waiting_manifests > 0 {
        let _ = writeln!(t, "\n{} manifest(s) wait to become flocks", s.waiting_manifests);
    }
    for g in &s.ignored {
        let _ = writeln!(t, "ignored (.shpignore): {g}");
    }
    for u in &s.unreadable {
        let _ = writeln!(t, "unreadable flock: {u}");
    }
    t
}
