//! `padocc status`: padocc 1.5.1's layout (spec §5.3), plus the count per
//! phase and the failures grouped by reason, from the group's status index.

use std::collections::BTreeMap;

use super::Selection;
use crate::error::Result;
use crate::workdir::group::GroupDir;
use crate::workdir::project::{StatusRow, PHASES};
use crate::workdir::status::Status;

#[derive(Debug, serde::Serialize)]
pub struct GroupStatus {
    pub group: String,
    pub total: usize,
    /// phase -> status -> indices (into the repeat id's codeset).
    pub phases: BTreeMap<String, BTreeMap<String, Vec<usize>>>,
    /// Projects with no status at all.
    pub no_status: Vec<usize>,
    pub faultlist: Vec<(String, String)>,
    /// What the scheduler said of projects still Pending/Running on disk.
    pub scheduler: BTreeMap<String, crate::scheduler::TaskState>,
    /// What could not be found out (e.g. the scheduler could not be asked).
    pub warnings: Vec<String>,
    /// Projects a run is working on now: code -> who holds the lock.
    pub busy: BTreeMap<String, String>,
    /// Icechunk products: code -> the newest snapshot and its message.
    pub snapshots: BTreeMap<String, String>,
}

/// Where every selected project is (`sel.projects` narrows the subset; the
/// indices stay those of the subset). With `ask_scheduler`, projects Pending or
/// Running on disk are joined with what the scheduler says of their tasks; a
/// scheduler that cannot be asked gives a warning, not an error.
pub fn collect(group: &GroupDir, sel: &Selection, ask_scheduler: bool) -> Result<GroupStatus> {
    let picked = sel.resolve(group)?;
    let codes: Vec<String> = picked.iter().map(|p| p.1.clone()).collect();
    let mut current = group.current_statuses(&codes)?;
    let mut warnings = Vec::new();
    // A scheduler that cannot be asked (slurmdbd down, a site's qstat without
    // JSON) must not hide what the shared filesystem knows: warn and go on.
    let scheduler = if ask_scheduler {
        match crate::scheduler::join(group, &mut current) {
            Ok(found) => found.into_iter().collect(),
            Err(e) => {
                warnings.push(format!("could not ask the scheduler ({e}); statuses below are from the shared filesystem only"));
                BTreeMap::new()
            }
        }
    } else {
        BTreeMap::new()
    };
    let mut phases: BTreeMap<String, BTreeMap<String, Vec<usize>>> = BTreeMap::new();
    let mut no_status = Vec::new();
    for (i, c) in &picked {
        match current.get(c) {
            Some(StatusRow { phase, status, .. }) => phases.entry(phase.clone()).or_default().entry(status.clone()).or_default().push(*i),
            None => no_status.push(*i),
        }
    }
    let picked_codes: std::collections::HashSet<&str> = codes.iter().map(String::as_str).collect();
    let busy = group
        .locks()
        .into_iter()
        .filter(|(c, _, _)| picked_codes.contains(c.as_str()))
        .map(|(c, h, stale)| (c, if stale { format!("{h} (gone; the next run takes the lock over)") } else { h.to_string() }))
        .collect();
    // Only projects whose config names Icechunk say anything here; a project
    // that cannot be read is left to the phases to report.
    let snapshots = codes
        .iter()
        .filter_map(|c| {
            let base = group.project(c).ok()?.base().ok()?;
            let ic = base.extra.get("icechunk")?;
            let snap = ic.get("snapshot")?.as_str()?;
            Some((c.clone(), format!("{snap} ({})", ic.get("message").and_then(|m| m.as_str()).unwrap_or(""))))
        })
        .collect();
    Ok(GroupStatus { group: group.name.clone(), total: codes.len(), phases, no_status, faultlist: group.faultlist(), scheduler, warnings, busy, snapshots })
}

/// At most `n` bytes of `s`, cut at a character boundary.
fn truncate(s: &str, n: usize) -> &str {
    let mut end = n.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

pub fn is_failure(status: &str) -> bool {
    Status::parse(status).is_failure()
}

/// Render as padocc does, then our additions.
pub fn render(s: &GroupStatus, display_upto: usize, long: bool, separate: bool) -> String {
    let mut out = format!("Group: {}\n  Total Codes: {}\n\nPipeline Current:\n\n", s.group, s.total);
    let pct = |n: usize| if s.total == 0 { 0.0 } else { n as f64 * 100.0 / s.total as f64 };
    let order: Vec<&str> = PHASES.iter().copied().filter(|p| *p != "complete").collect();
    // As padocc: one width for every phase, the longest status (at most 30
    // unless -L) plus one; a status that does not fit ends in "...".
    let longest = s.phases.values().flat_map(|m| m.keys()).map(String::len).max().unwrap_or(0);
    let width = if long { longest } else { longest.min(30) } + 1;
    for ph in order {
        let Some(st) = s.phases.get(ph) else { continue };
        let n: usize = st.values().map(Vec::len).sum();
        out.push_str(&format!("   {ph:<10}: {n:<5} [{:<4}%] (Variety: {})\n", format!("{:.1}", pct(n)), st.len()));
        let mut rows: Vec<(&String, &Vec<usize>)> = st.iter().collect();
        rows.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(b.0)));
        let line = |(status, ids): &(&String, &Vec<usize>)| {
            let name = if status.len() >= width { format!("{}...", truncate(status, width.saturating_sub(3))) } else { status.to_string() };
            let idtxt = if ids.len() < display_upto { format!(" (IDs = {})", ids.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(",")) } else { String::new() };
            format!("    - {name:<width$}: {}{idtxt}\n", ids.len())
        };
        if separate && ph == "validate" {
            let (good, bad): (Vec<&(&String, &Vec<usize>)>, Vec<_>) = rows.iter().partition(|r| r.0.contains("Warn") || r.0.contains("Success"));
            let ng: usize = good.iter().map(|r| r.1.len()).sum();
            out.push_str(&format!("\n  > Success ({:.1} %)\n", if n == 0 { 0.0 } else { ng as f64 * 100.0 / n as f64 }));
            for r in &good {
                out.push_str(&line(r));
            }
            out.push_str(&format!("\n  > Error ({:.1} %)\n", if n == 0 { 0.0 } else { (n - ng) as f64 * 100.0 / n as f64 }));
            for r in &bad {
                out.push_str(&line(r));
            }
        } else {
            for r in &rows {
                out.push_str(&line(r));
            }
        }
        out.push('\n');
    }
    let complete: usize = s.phases.get("complete").map(|m| m.values().map(Vec::len).sum()).unwrap_or(0);
    out.push_str(&format!("\nPipeline Complete:\n\n   complete  : {complete:<5} [{:<4}%]\n", format!("{:.1}", pct(complete))));

    // Additions: where every project is, and what failed, grouped by reason.
    if !s.snapshots.is_empty() {
        out.push_str("\nIcechunk snapshots:\n");
        for (code, snap) in &s.snapshots {
            out.push_str(&format!("   {code}: {snap}\n"));
        }
    }
    out.push_str("\nBy phase (current):\n");
    for ph in PHASES {
        let n: usize = s.phases.get(ph).map(|m| m.values().map(Vec::len).sum()).unwrap_or(0);
        if n > 0 {
            out.push_str(&format!("   {ph:<10} {n}\n"));
        }
    }
    if !s.no_status.is_empty() {
        out.push_str(&format!("   {:<10} {}\n", "(none)", s.no_status.len()));
    }
    let mut failures: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (ph, st) in &s.phases {
        for (status, ids) in st {
            if is_failure(status) {
                failures.entry(format!("{ph}: {status}")).or_default().extend(ids);
            }
        }
    }
    if !failures.is_empty() {
        out.push_str("\nFailures by reason:\n");
        for (reason, ids) in &failures {
            let shown: Vec<String> = ids.iter().take(display_upto).map(|i| i.to_string()).collect();
            let more = if ids.len() > display_upto { ",..." } else { "" };
            out.push_str(&format!("   {reason}: {} (IDs = {}{more})\n", ids.len(), shown.join(",")));
        }
        out.push_str("   (details: padocc logs -G <group> --log_phase <phase> -p <ID>)\n");
    }
    let killed: Vec<_> = s.scheduler.iter().filter(|(_, t)| t.state.killed() || t.state == crate::scheduler::State::Failed).collect();
    if !killed.is_empty() {
        out.push_str("\nEnded by the scheduler:\n");
        for (code, t) in killed.iter().take(display_upto.max(10)) {
            let rss = t.max_rss_kb.map(|k| format!(", MaxRSS {} MB", k / 1024)).unwrap_or_default();
            out.push_str(&format!("   {code}: {} (job {}_{}, exit {}{rss})\n", t.state.name(), t.job_id, t.index, t.exit_code));
        }
        out.push_str("   (resubmit with more memory or time: padocc rerun-failed -G <group>)\n");
    }
    if !s.busy.is_empty() {
        out.push_str(&format!("\nBusy: {} project(s) held by a run\n", s.busy.len()));
        for (c, h) in s.busy.iter().take(display_upto.max(10)) {
            out.push_str(&format!("   {c}: {h}\n"));
        }
    }
    if !s.faultlist.is_empty() {
        out.push_str(&format!("\nFaultlist: {} project(s) set aside\n", s.faultlist.len()));
        for (c, r) in s.faultlist.iter().take(display_upto) {
            out.push_str(&format!("   {c}: {r}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The observed padocc 1.5.1 output of spec §5.3, line for line.
    #[test]
    fn renders_padoccs_layout() {
        let mut phases: BTreeMap<String, BTreeMap<String, Vec<usize>>> = BTreeMap::new();
        phases.entry("compute".into()).or_default().insert("(PVK)Failed-ValueError".into(), vec![1]);
        let v = phases.entry("validate".into()).or_default();
        v.insert("(V>K)Success".into(), vec![0, 2]);
        v.insert("(V>K)Warn-global_aggregation_date_added".into(), vec![3]);
        let s = GroupStatus {
            group: "testg".into(),
            total: 4,
            phases,
            no_status: vec![],
            faultlist: vec![],
            scheduler: BTreeMap::new(),
            warnings: vec![],
            busy: BTreeMap::new(),
            snapshots: BTreeMap::new(),
        };
        let out = render(&s, 10, false, true);
        for want in [
            "Group: testg",
            "  Total Codes: 4",
            "   compute   : 1     [25.0%] (Variety: 1)",
            "    - (PVK)Failed-ValueError         : 1 (IDs = 1)",
            "   validate  : 3     [75.0%] (Variety: 2)",
            "  > Success (100.0 %)",
            "    - (V>K)Success                   : 2 (IDs = 0,2)",
            "    - (V>K)Warn-global_aggregation...: 1 (IDs = 3)",
            "  > Error (0.0 %)",
            "   complete  : 0     [0.0 %]",
        ] {
            assert!(out.lines().any(|l| l == want), "missing {want:?} in\n{out}");
        }
        // -L: no cap, nothing cut.
        assert!(render(&s, 10, true, true).contains("    - (V>K)Warn-global_aggregation_date_added : 1 (IDs = 3)"));
    }
}
