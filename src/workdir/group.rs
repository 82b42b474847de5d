//! A group of projects: `groups/<G>/` (codesets, datasets.csv, faultlist) and
//! the status index.
//!
//! Status index: padocc reads one `status_log.csv` per project, which takes
//! minutes for 100 000 projects on a parallel filesystem. Every status row padocc
//! writes here also goes into an append-only journal under `groups/<G>/status/`,
//! one file per writing process (so no two processes ever write one file, and
//! nothing relies on locks over NFS). `status` reads the journals, newest row per
//! project wins; projects absent from them (a workdir made by padocc 1.5.1) fall
//! back to their `status_log.csv`.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use crate::error::{Error, Result};
use crate::fsutil;
use crate::workdir::project::{append_line, Project, StatusRow};
use crate::workdir::{check_name, Workdir};

#[derive(Debug, Clone)]
pub struct GroupDir {
    pub wd: Workdir,
    pub name: String,
    pub dir: PathBuf,
}

impl GroupDir {
    pub fn open(wd: &Workdir, name: &str) -> Result<GroupDir> {
        check_name("group", name)?;
        let dir = wd.group_dir(name);
        if !dir.is_dir() {
            return Err(Error::Usage(format!(
                "group '{name}' does not exist in {}: create it with `padocc init -G {name} -i datasets.csv` (or `padocc new -G {name}`)",
                wd.root.display()
            )));
        }
        Ok(GroupDir { wd: wd.clone(), name: name.to_string(), dir })
    }

    /// Create the group's directories and an empty `datasets.csv` (idempotent).
    pub fn create(wd: &Workdir, name: &str) -> Result<GroupDir> {
        check_name("group", name)?;
        let dir = wd.group_dir(name);
        for d in [dir.join("proj_codes"), dir.join("status"), wd.root.join("in_progress").join(name)] {
            std::fs::create_dir_all(&d).map_err(|e| Error::output(&d, e))?;
        }
        let csv = dir.join("datasets.csv");
        if !csv.exists() {
            fsutil::write_file_atomic(&csv, |_| Ok(()))?;
        }
        Ok(GroupDir { wd: wd.clone(), name: name.to_string(), dir })
    }

    /// A project of this group: always a child of `in_progress/<G>/`. Codes
    /// come from files anyone can edit (codesets, manifests, padocc 1.5.1's
    /// state), so each is checked here, where it becomes a path.
    pub fn project(&self, code: &str) -> Result<Project> {
        check_name("project code", code)?;
        Ok(Project::new(&self.name, code, self.wd.project_dir(&self.name, code)))
    }

    fn codes_path(&self, repeat_id: &str) -> PathBuf {
        self.dir.join("proj_codes").join(format!("{repeat_id}.txt"))
    }

    /// Take project `code`'s lock for `what` (a phase, an edit): every writer
    /// of a project holds it, so a second run skips a busy project.
    pub fn lock(&self, code: &str, what: &str) -> Result<super::lock::Acquired> {
        check_name("project code", code)?;
        super::lock::acquire(&self.dir.join("locks").join(format!("{code}.lock")), what)
    }

    /// Hold the locks of `codes` for an edit (`what`): all of them, or an
    /// error naming the first project another run holds (nothing is changed).
    pub fn lock_all(&self, codes: &[String], what: &str) -> Result<Vec<super::lock::Lock>> {
        let mut held = Vec::with_capacity(codes.len());
        for c in codes {
            match self.lock(c, what)? {
                super::lock::Acquired::Held(l) => held.push(l),
                super::lock::Acquired::Busy(h) => {
                    return Err(Error::Busy(format!("project '{c}' of group '{}' is busy: {h}; nothing was changed: try again when it has finished", self.name)))
                }
            }
        }
        Ok(held)
    }

    /// Every project lock of the group: (code, holder, whether it is stale).
    pub fn locks(&self) -> Vec<(String, super::lock::Holder, bool)> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(self.dir.join("locks")).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(code) = name.strip_suffix(".lock") else { continue };
            if let Some((h, touched)) = super::lock::read(&e.path()) {
                let stale = h.is_stale(touched);
                out.push((code.to_string(), h, stale));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// The codes of a subset, each checked: a line that is not a safe code
    /// (`../x`, a path, shell syntax) is an error naming the file and line,
    /// never a path.
    pub fn codes(&self, repeat_id: &str) -> Result<Vec<String>> {
        let raw = self.raw_codes(repeat_id)?;
        for (i, c) in raw.iter().enumerate() {
            if let Err(e) = check_name("project code", c) {
                return Err(Error::corrupt(
                    &self.codes_path(repeat_id),
                    format!("entry {}: {e}; fix or remove it (`padocc doctor -G {}` lists every such entry)", i + 1, self.name),
                ));
            }
        }
        Ok(raw)
    }

    /// The lines of a subset file as written (a UTF-8 byte-order mark and
    /// blank lines dropped), unchecked: for `doctor`, which reports bad ones.
    pub fn raw_codes(&self, repeat_id: &str) -> Result<Vec<String>> {
        check_name("repeat id", repeat_id)?;
        let p = self.codes_path(repeat_id);
        match std::fs::read(&p) {
            Ok(bytes) => {
                let text = String::from_utf8_lossy(&bytes);
                let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
                Ok(text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if repeat_id == "main" {
                    Ok(vec![])
                } else {
                    Err(Error::Usage(format!("group '{}' has no repeat id '{repeat_id}' ({} is missing)", self.name, p.display())))
                }
            }
            Err(e) => Err(Error::input_io(&p, e)),
        }
    }

    /// padocc's `logs --clear`: every subset but `main`, and the job files
    /// padocc 1.5.1 left in `sbatch/`, `outs/` and `errs/`. Returns how many
    /// of each went. (This tool's own records under `jobs/` stay: status and
    /// rerun-failed read them.)
    pub fn clear_job_files(&self) -> Result<(usize, usize)> {
        let mut subsets = 0;
        let codes = self.dir.join("proj_codes");
        for e in std::fs::read_dir(&codes).map_err(|e| Error::input_io(&codes, e))?.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "txt") && p.file_stem().is_some_and(|s| s != "main") {
                std::fs::remove_file(&p).map_err(|e| Error::output(&p, e))?;
                subsets += 1;
            }
        }
        Ok((subsets, self.remove_job_logs()?))
    }

    /// The job files padocc 1.5.1 left in `sbatch/`, `outs/` and `errs/`;
    /// returns how many went.
    pub fn remove_job_logs(&self) -> Result<usize> {
        let mut files = 0;
        for d in ["sbatch", "outs", "errs"] {
            for e in std::fs::read_dir(self.dir.join(d)).into_iter().flatten().flatten() {
                let p = e.path();
                let gone = if p.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
                gone.map_err(|e| Error::output(&p, e))?;
                files += 1;
            }
        }
        Ok(files)
    }

    /// Codes one per line, no trailing newline, as padocc writes them.
    pub fn save_codes(&self, repeat_id: &str, codes: &[String]) -> Result<()> {
        check_name("repeat id", repeat_id)?;
        let p = self.codes_path(repeat_id);
        let text = codes.join("\n");
        fsutil::write_file_atomic(&p, |w| w.write_all(text.as_bytes()).map_err(|e| Error::output(&p, e)))
    }

    pub fn repeat_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = std::fs::read_dir(self.dir.join("proj_codes"))
            .map(|rd| rd.filter_map(|e| e.ok()).filter_map(|e| e.file_name().to_string_lossy().strip_suffix(".txt").map(String::from)).collect())
            .unwrap_or_default();
        ids.sort();
        ids
    }

    /// Resolve `-p` against a codeset: a code, an index, or a comma list of either.
    pub fn select(&self, repeat_id: &str, sel: Option<&str>) -> Result<Vec<(usize, String)>> {
        let codes = self.codes(repeat_id)?;
        let Some(sel) = sel else {
            return Ok(codes.into_iter().enumerate().collect());
        };
        let mut out = Vec::new();
        for part in sel.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if let Some(i) = codes.iter().position(|c| c == part) {
                out.push((i, part.to_string()));
            } else if let Ok(i) = part.parse::<usize>() {
                let code = codes.get(i).ok_or_else(|| Error::Usage(format!("index {i} is out of range: '{repeat_id}' of group '{}' has {} projects", self.name, codes.len())))?;
                out.push((i, code.clone()));
            } else {
                return Err(Error::Usage(format!("unknown project '{part}' in group '{}' (repeat id '{repeat_id}'); `padocc status -G {}` lists them", self.name, self.name)));
            }
        }
        Ok(out)
    }

    pub fn faultlist(&self) -> Vec<(String, String)> {
        std::fs::read_to_string(self.dir.join("faultlist.csv"))
            .map(|t| t.lines().filter_map(|l| l.split_once(',').map(|(a, b)| (a.trim().to_string(), b.trim().to_string()))).collect())
            .unwrap_or_default()
    }

    /// Record a status: a row in the project's `status_log.csv` and in this
    /// process's journal.
    pub fn record(&self, code: &str, row: &StatusRow) -> Result<()> {
        self.project(code)?.append_status(row)?;
        journal_append(&self.dir.join("status"), code, row)
    }

    /// The current (last) status of every project that has one.
    pub fn current_statuses(&self, codes: &[String]) -> Result<HashMap<String, StatusRow>> {
        let mut newest: HashMap<String, (u128, StatusRow)> = HashMap::with_capacity(codes.len());
        let dir = self.dir.join("status");
        if let Ok(rd) = std::fs::read_dir(&dir) {
            for e in rd.filter_map(|e| e.ok()) {
                let path = e.path();
                if path.extension().is_none_or(|x| x != "jnl") {
                    continue;
                }
                // A journal that is not UTF-8 (damaged, or not ours) must not hide
                // the whole group: its readable lines count, `doctor` reports it.
                let bytes = std::fs::read(&path).map_err(|e| Error::input_io(&path, e))?;
                let text = String::from_utf8_lossy(&bytes);
                for line in text.lines().filter(|l| !l.contains('\u{fffd}')) {
                    // A line cut by a kill has fewer fields: skip it (the project's own
                    // status_log.csv keeps the truth).
                    let f: Vec<&str> = line.split('\t').collect();
                    if f.len() != 6 {
                        continue;
                    }
                    let Ok(ns) = f[0].parse::<u128>() else { continue };
                    let row = StatusRow { phase: f[2].into(), status: f[3].into(), time: f[4].into(), jobid: f[5].into() };
                    match newest.get_mut(f[1]) {
                        Some(slot) if slot.0 > ns => {}
                        Some(slot) => *slot = (ns, row),
                        None => {
                            newest.insert(f[1].to_string(), (ns, row));
                        }
                    }
                }
            }
        }
        // A row appended to a project's status_log.csv after its newest journal
        // row was written by another tool (padocc 1.5.1's update_status,
        // repeat, SHEPARD): the file's last row is then the current status.
        // Every row padocc-rs records goes to both, so the file's last row is
        // never older than the journal's; its modification time says when
        // reading it is needed (clock skew only makes more files read).
        let newer_in_log: Vec<(String, StatusRow)> = {
            use rayon::prelude::*;
            let known: Vec<(&String, u128)> = codes.iter().filter_map(|c| newest.get(c).map(|(ns, _)| (c, *ns))).collect();
            known
                .par_iter()
                .filter_map(|(c, ns)| {
                    let p = self.project(c).ok()?;
                    let log = p.path("status_log.csv");
                    let modified = std::fs::metadata(&log).and_then(|m| m.modified()).ok()?.duration_since(std::time::UNIX_EPOCH).ok()?.as_nanos();
                    (modified > *ns).then(|| p.last_status().ok().flatten().map(|r| ((*c).clone(), r))).flatten()
                })
                .collect()
        };
        let mut out: HashMap<String, StatusRow> = newest.into_iter().map(|(k, v)| (k, v.1)).collect();
        out.extend(newer_in_log);
        for c in codes {
            if !out.contains_key(c) {
                if let Some(r) = self.project(c)?.last_status()? {
                    out.insert(c.clone(), r);
                }
            }
        }
        Ok(out)
    }
}

/// Move projects to another group: directory (one rename each), codes in every
/// codeset, `datasets.csv` lines, and their current status into the new
/// group's journal.
///
/// The steps are ordered so that a move killed part-way is finished by doing
/// it again: the destination learns of the projects first (codes, lines,
/// status), then each directory is renamed, then the source forgets them. A
/// project whose directory is already in the destination and no longer in the
/// source counts as moved.
pub fn transfer(from: &GroupDir, to: &GroupDir, codes: &[String]) -> Result<usize> {
    let cur = from.current_statuses(codes)?;
    let csv = std::fs::read_to_string(from.dir.join("datasets.csv")).unwrap_or_default();
    let mut moved_lines = Vec::new();
    let mut to_main = to.codes("main")?;
    for c in codes {
        if to.project(c)?.exists() && from.project(c)?.exists() {
            return Err(Error::Usage(format!("group '{}' already has a project '{c}'", to.name)));
        }
    }
    let dest_csv = to.dir.join("datasets.csv");
    let mut lines: Vec<String> = std::fs::read_to_string(&dest_csv).unwrap_or_default().lines().map(String::from).collect();
    for c in codes {
        if let Some(r) = cur.get(c) {
            journal_append(&to.dir.join("status"), c, r)?;
        }
        if !to_main.contains(c) {
            to_main.push(c.clone());
        }
        let known = |l: &String| l.split(',').next().map(str::trim) == Some(c.as_str());
        if !lines.iter().any(known) {
            moved_lines.extend(csv.lines().filter(|l| l.split(',').next().map(str::trim) == Some(c.as_str())).map(String::from));
        }
    }
    to.save_codes("main", &to_main)?;
    lines.extend(moved_lines);
    let text = lines.join("\n");
    fsutil::write_file_atomic(&dest_csv, |w| w.write_all(text.as_bytes()).map_err(|e| Error::output(&dest_csv, e)))?;
    for c in codes {
        let (src, dst) = (from.project(c)?.dir, to.project(c)?.dir);
        if src.exists() {
            if let Some(parent) = dst.parent() {
                std::fs::create_dir_all(parent).map_err(|e| Error::output(parent, e))?;
            }
            std::fs::rename(&src, &dst).map_err(|e| Error::output(&dst, e))?;
        }
    }
    remove_projects(from, codes, false)?;
    Ok(codes.len())
}

/// Remove codes from every codeset and their `datasets.csv` lines; with
/// `delete_dirs`, also the project directories.
pub fn remove_projects(g: &GroupDir, codes: &[String], delete_dirs: bool) -> Result<()> {
    for id in g.repeat_ids() {
        let kept: Vec<String> = g.codes(&id)?.into_iter().filter(|c| !codes.contains(c)).collect();
        g.save_codes(&id, &kept)?;
    }
    let csv_path = g.dir.join("datasets.csv");
    let csv = std::fs::read_to_string(&csv_path).unwrap_or_default();
    let kept: Vec<&str> = csv.lines().filter(|l| !codes.iter().any(|c| l.split(',').next().map(str::trim) == Some(c.as_str()))).collect();
    let text = kept.join("\n");
    fsutil::write_file_atomic(&csv_path, |w| w.write_all(text.as_bytes()).map_err(|e| Error::output(&csv_path, e)))?;
    if delete_dirs {
        for c in codes {
            let d = g.project(c)?.dir;
            if d.exists() {
                std::fs::remove_dir_all(&d).map_err(|e| Error::output(&d, e))?;
            }
        }
    }
    Ok(())
}

/// Delete a group: its projects and its group directory.
pub fn delete_group(g: &GroupDir) -> Result<()> {
    let ip = g.wd.root.join("in_progress").join(&g.name);
    for d in [ip, g.dir.clone()] {
        if d.exists() {
            std::fs::remove_dir_all(&d).map_err(|e| Error::output(&d, e))?;
        }
    }
    Ok(())
}

/// This process's journal file per status directory.
static JOURNALS: Mutex<Vec<(PathBuf, PathBuf)>> = Mutex::new(Vec::new());

fn journal_append(status_dir: &std::path::Path, code: &str, row: &StatusRow) -> Result<()> {
    let file = journal_file(status_dir)?;
    append_line(&file, &journal_line(code, row))
}

/// One journal line: `ns, code, phase, status, time, jobid`, tab-separated.
fn journal_line(code: &str, row: &StatusRow) -> String {
    let clean = |s: &str| s.replace(['\t', '\n', '\r'], " ");
    format!("{}\t{}\t{}\t{}\t{}\t{}", now_ns(), code, clean(&row.phase), clean(&row.status), clean(&row.time), clean(&row.jobid))
}

impl GroupDir {
    /// The two lines [`GroupDir::record`] would write for `row` (the project's
    /// `status_log.csv` and this process's journal), rendered now: what is
    /// written when memory runs out and nothing can be rendered any more.
    pub fn prepared_record(&self, code: &str, row: &StatusRow) -> Result<[(PathBuf, Vec<u8>); 2]> {
        let p = self.project(code)?;
        let journal = journal_file(&self.dir.join("status"))?;
        Ok([(p.path("status_log.csv"), format!("\n{}\n", row.line()).into_bytes()), (journal, format!("\n{}\n", journal_line(code, row)).into_bytes())])
    }
}

/// This process's journal file in `status_dir` (the directory is made).
fn journal_file(status_dir: &std::path::Path) -> Result<PathBuf> {
    std::fs::create_dir_all(status_dir).map_err(|e| Error::output(status_dir, e))?;
    Ok({
        let mut j = JOURNALS.lock().unwrap_or_else(|e| e.into_inner());
        match j.iter().find(|(d, _)| d == status_dir) {
            Some((_, f)) => f.clone(),
            None => {
                // Only characters that are safe in a file name.
                let host: String = hostname().chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '.').collect();
                let start = now_ns();
                let f = status_dir.join(format!("{host}-{}-{start}.jnl", std::process::id()));
                j.push((status_dir.to_path_buf(), f.clone()));
                f
            }
        }
    })
}

pub fn now_ns() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
}

pub(crate) fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "host".into();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_newest_row_wins_and_torn_lines_are_skipped() {
        let d = tempfile::tempdir().unwrap();
        let wd = Workdir { root: d.path().to_path_buf() };
        let g = GroupDir::create(&wd, "g").unwrap();
        for c in ["a", "b"] {
            std::fs::create_dir_all(g.project(c).unwrap().dir).unwrap();
        }
        let row = |p: &str, s: &str| StatusRow { phase: p.into(), status: s.into(), time: "t".into(), jobid: String::new() };
        g.record("a", &row("init", "Success")).unwrap();
        g.record("a", &row("scan", "Success")).unwrap();
        g.record("b", &row("init", "Success")).unwrap();
        std::fs::write(g.dir.join("status/other.jnl"), "12\tb\tscan\tSucc").unwrap();
        let s = g.current_statuses(&["a".into(), "b".into()]).unwrap();
        assert_eq!(s["a"].phase, "scan");
        assert_eq!(s["b"].phase, "init");
        // Another tool (padocc 1.5.1's update_status) appends to status_log.csv only.
        std::thread::sleep(std::time::Duration::from_millis(20));
        append_line(&g.project("a").unwrap().path("status_log.csv"), "scan,Redo,10:00 06/12/26,").unwrap();
        let s = g.current_statuses(&["a".into(), "b".into()]).unwrap();
        assert_eq!((s["a"].phase.as_str(), s["a"].status.as_str()), ("scan", "Redo"));
        assert_eq!(s["b"].phase, "init");
    }

    #[test]
    fn selection_by_code_index_and_list() {
        let d = tempfile::tempdir().unwrap();
        let wd = Workdir { root: d.path().to_path_buf() };
        let g = GroupDir::create(&wd, "g").unwrap();
        g.save_codes("main", &["x".into(), "y".into(), "z".into()]).unwrap();
        assert_eq!(g.select("main", Some("y")).unwrap(), vec![(1, "y".to_string())]);
        assert_eq!(g.select("main", Some("0,2")).unwrap().len(), 2);
        assert!(g.select("main", Some("7")).is_err());
        assert!(g.select("main", Some("nope")).is_err());
    }
}
