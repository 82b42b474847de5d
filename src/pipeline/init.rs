//! `init -i datasets.csv` and `add`: projects from padocc's input CSV
//! (`proj_code,pattern,updates,removals[,var,...]`).
//!
//! Every row is checked before anything is written, so one bad row leaves the
//! group untouched and the error names the file and line. Re-running `init`
//! updates existing projects instead of duplicating them (padocc 1.5.1 appends
//! the codes to `main.txt` again).

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::fsutil;
use crate::workdir::check_name;
use crate::workdir::group::GroupDir;
use crate::workdir::project::{local_time, StatusRow};

#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub line_no: usize,
    pub line: String,
    pub code: String,
    pub pattern: String,
    pub update: String,
    pub remove: String,
    pub keep_vars: Vec<String>,
}

/// One CSV line's cells: a cell in double quotes may hold commas and
/// doubled quotes (`""`); cells are trimmed.
fn split_csv_line(line: &str) -> std::result::Result<Vec<String>, String> {
    let mut cells = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', true) => quoted = false,
            ('"', false) if cur.trim().is_empty() => {
                cur.clear();
                quoted = true;
            }
            (',', false) => cells.push(std::mem::take(&mut cur).trim().to_string()),
            (c, _) => cur.push(c),
        }
    }
    if quoted {
        return Err("unbalanced double quote".into());
    }
    cells.push(cur.trim().to_string());
    Ok(cells)
}

/// Parse padocc's CSV: a first line containing `proj_code` is a header; a
/// UTF-8 byte-order mark is dropped; cells may be quoted.
pub fn parse_csv(path: &Path, text: &str) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || (i == 0 && line.contains("proj_code")) {
            continue;
        }
        let cols = match split_csv_line(line) {
            Ok(c) => c,
            Err(e) => {
                errors.push(format!("{}:{line_no}: {e}", path.display()));
                continue;
            }
        };
        // padocc deletes every space; padocc-rs trims the ends only, so a code with
        // a space inside is refused rather than silently renamed, and a path with
        // a space inside still works.
        let code: String = cols.first().cloned().unwrap_or_default();
        let pattern = cols.get(1).cloned().unwrap_or_default();
        if let Err(e) = check_name("project code", &code) {
            errors.push(format!("{}:{line_no}: {e}", path.display()));
            continue;
        }
        if pattern.is_empty() {
            errors.push(format!("{}:{line_no}: project '{code}' has no file pattern (second column)", path.display()));
            continue;
        }
        let col = |i: usize| cols.get(i).cloned().unwrap_or_default();
        let keep_vars = cols.iter().skip(4).filter(|c| !c.is_empty()).cloned().collect();
        rows.push(Row { line_no, line: raw.to_string(), code, pattern, update: col(2), remove: col(3), keep_vars });
    }
    let mut seen = std::collections::HashMap::new();
    for r in &rows {
        if let Some(prev) = seen.insert(r.code.clone(), r.line_no) {
            errors.push(format!("{}:{}: project '{}' is already defined on line {prev}", path.display(), r.line_no, r.code));
        }
    }
    if errors.is_empty() {
        Ok(rows)
    } else {
        Err(Error::Usage(format!("{} problem(s) in the input, nothing was changed:\n  {}", errors.len(), errors.join("\n  "))))
    }
}

/// padocc's substitutions (spec §2.5): literal replacements in the CSV's
/// lines (`init_file`), in a pattern that is a `.txt` file list
/// (`dataset_file`) and in every expanded file path (`datasets`).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Substitutions {
    pub init_file: std::collections::BTreeMap<String, String>,
    pub dataset_file: std::collections::BTreeMap<String, String>,
    pub datasets: std::collections::BTreeMap<String, String>,
}

impl Substitutions {
    /// From a JSON file: `{"init_file": {"old": "new"}, "dataset_file": {...}, "datasets": {...}}`.
    pub fn from_file(path: &Path) -> Result<Substitutions> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::input_io(path, e))?;
        serde_json::from_str(&text)
            .map_err(|e| Error::corrupt(path, format!("not padocc's substitutions ({e}): expected {{\"init_file\"|\"dataset_file\"|\"datasets\": {{\"old\": \"new\"}}}}")))
    }

    pub fn is_empty(&self) -> bool {
        self.init_file.is_empty() && self.dataset_file.is_empty() && self.datasets.is_empty()
    }

    fn replace(map: &std::collections::BTreeMap<String, String>, s: &str) -> String {
        map.iter().filter(|(a, _)| !a.is_empty()).fold(s.to_string(), |s, (a, b)| s.replace(a.as_str(), b))
    }
}

/// Expand a pattern: a `.txt` file listing paths, or a glob (sorted).
pub fn expand(pattern: &str) -> std::result::Result<Vec<PathBuf>, String> {
    expand_with(pattern, &Substitutions::default())
}

/// A glob's matches (sorted), with padocc's `latest` rule: a file reached
/// through a pattern naming `latest` is recorded by where its link points
/// (the versioned file), so the list stays right when `latest` moves on.
pub fn glob_resolved(pattern: &str) -> std::result::Result<Vec<PathBuf>, String> {
    let found = glob_files(pattern, WALK_LIMIT)?;
    Ok(if pattern.contains("latest") { found.into_iter().map(|m| through_link(&m)).collect() } else { found })
}

/// [`expand`] with substitutions.
pub fn expand_with(pattern: &str, subs: &Substitutions) -> std::result::Result<Vec<PathBuf>, String> {
    let files = list_with(pattern, subs)?;
    if let Some(missing) = files.iter().find(|f| !f.is_file()) {
        return Err(format!("{} does not exist or is not a file", missing.display()));
    }
    Ok(files)
}

/// [`expand_with`] without checking that the files exist.
pub fn list_with(pattern: &str, subs: &Substitutions) -> std::result::Result<Vec<PathBuf>, String> {
    let files: Vec<PathBuf> = if pattern.ends_with(".txt") {
        let text = std::fs::read_to_string(pattern).map_err(|e| format!("cannot read file list {pattern}: {e}"))?;
        text.lines().map(str::trim).filter(|l| !l.is_empty()).map(PathBuf::from).collect()
    } else {
        glob_resolved(pattern)?
    };
    if files.is_empty() {
        return Err(format!("pattern {pattern} matches no files"));
    }
    given_files(files, subs)
}

/// Paths as listed, with the `datasets` substitutions, made absolute.
pub fn given_files(files: Vec<PathBuf>, subs: &Substitutions) -> std::result::Result<Vec<PathBuf>, String> {
    let files: Vec<PathBuf> =
        if subs.datasets.is_empty() { files } else { files.into_iter().map(|f| PathBuf::from(Substitutions::replace(&subs.datasets, &f.to_string_lossy()))).collect() };
    let files: Vec<PathBuf> = files.into_iter().map(|f| std::path::absolute(&f).unwrap_or(f)).collect();
    // allfiles.txt holds one path a line: a name with a line break would split.
    if let Some(bad) = files.iter().find(|f| f.as_os_str().as_encoded_bytes().iter().any(|b| *b == b'\n' || *b == b'\r')) {
        return Err(format!("{bad:?} has a line break in its name, which padocc's file lists cannot hold: rename the file"));
    }
    Ok(files)
}

/// A symlink's target, relative ones resolved against the link's directory
/// as text (`abspath(dir/readlink(link))`); other paths as they are.
fn through_link(m: &Path) -> PathBuf {
    match std::fs::read_link(m) {
        Ok(t) if t.is_absolute() => crate::fsutil::lexical_clean(&t),
        Ok(t) => crate::fsutil::lexical_clean(&std::path::absolute(m.parent().unwrap_or(Path::new("."))).unwrap_or_default().join(t)),
        Err(_) => m.to_path_buf(),
    }
}

/// Entries a pattern may make `init` look at before it gives up.
const WALK_LIMIT: usize = 1_000_000;

/// The regular files (symlinks followed) a glob pattern matches, sorted. Each
/// directory is entered once, known by device and inode, so links that loop
/// (`a/b -> ..`) end; the walk gives up with a clear error after `limit`
/// entries rather than running away (`/usr/**/*`).
fn glob_files(pattern: &str, limit: usize) -> std::result::Result<Vec<PathBuf>, String> {
    use std::os::unix::fs::MetadataExt;
    let compiled = glob::Pattern::new(pattern).map_err(|e| format!("bad pattern {pattern}: {e}"))?;
    let opts = glob::MatchOptions { case_sensitive: true, require_literal_separator: true, require_literal_leading_dot: false };
    let parts: Vec<&str> = pattern.split('/').collect();
    let first_glob = parts.iter().position(|p| p.contains(['*', '?', '['])).unwrap_or(parts.len());
    if first_glob == parts.len() {
        // No wildcard: the path itself.
        let p = PathBuf::from(pattern);
        return Ok(if p.is_file() { vec![p] } else { vec![] });
    }
    let base = match parts[..first_glob].join("/") {
        b if b.is_empty() && pattern.starts_with('/') => "/".to_string(),
        b if b.is_empty() => ".".to_string(),
        b => b,
    };
    // Without `**`, no deeper than the pattern's components.
    let max_depth = if pattern.contains("**") { usize::MAX } else { parts.len() - first_glob };
    let mut seen = std::collections::HashSet::new();
    let mut stack = vec![(PathBuf::from(&base), 0usize)];
    let mut out = Vec::new();
    let mut looked = 0usize;
    while let Some((dir, depth)) = stack.pop() {
        let Ok(meta) = std::fs::metadata(&dir) else { continue };
        if !seen.insert((meta.dev(), meta.ino())) {
            continue;
        }
        let Ok(rd) = std::fs::read_dir(&dir) else { continue };
        for e in rd.flatten() {
            looked += 1;
            if looked > limit {
                return Err(format!("pattern {pattern} reaches more than {limit} entries under {base} (a very large tree, or directory links that loop): narrow the pattern or list the files in a .txt file"));
            }
            let path = if base == "." { PathBuf::from(e.file_name()) } else { e.path() };
            let Ok(m) = std::fs::metadata(&path) else { continue };
            if m.is_dir() {
                if depth + 1 < max_depth {
                    stack.push((path, depth + 1));
                }
            } else if m.is_file() && compiled.matches_path_with(&path, opts) {
                out.push(path);
            }
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

#[derive(Debug, Default, serde::Serialize)]
pub struct InitSummary {
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub unchanged: Vec<String>,
}

/// Create or update the projects of `rows` in `group`.
pub fn apply(group: &GroupDir, rows: &[Row], update_existing: bool, subs: &Substitutions) -> Result<InitSummary> {
    // Expand every pattern before writing anything.
    let mut expanded = Vec::with_capacity(rows.len());
    let mut errors = Vec::new();
    for r in rows {
        match expand_with(&r.pattern, subs) {
            Ok(f) => expanded.push(f),
            Err(e) => {
                errors.push(format!("line {} (project '{}'): {e}", r.line_no, r.code));
                expanded.push(vec![]);
            }
        }
    }
    if !errors.is_empty() {
        return Err(Error::Usage(format!("{} project(s) have no usable files, nothing was changed:\n  {}", errors.len(), errors.join("\n  "))));
    }
    let mut main = group.codes("main")?;
    let mut summary = InitSummary::default();
    for (r, files) in rows.iter().zip(expanded) {
        let p = group.project(&r.code)?;
        let existed = p.exists();
        if existed && !update_existing {
            summary.unchanged.push(r.code.clone());
            continue;
        }
        std::fs::create_dir_all(&p.dir).map_err(|e| Error::output(&p.dir, e))?;
        let mut base = p.base_or_new()?;
        let before = (base.pattern.clone(), p.allfiles().ok());
        base.proj_code = r.code.clone();
        base.pattern = json!(r.pattern);
        base.extra.insert("update".into(), json!(r.update));
        base.extra.insert("remove".into(), json!(r.remove));
        base.keep_vars = if r.keep_vars.is_empty() { json!("all") } else { json!(r.keep_vars) };
        if !subs.is_empty() {
            base.extra.insert("substitutions".into(), json!(subs));
        }
        p.save_base(&base)?;
        let mut detail = p.detail()?;
        detail.num_files = Some(files.len() as u64);
        p.save_detail(&detail)?;
        p.save_allfiles(&files)?;
        let changed = before.0 != Value::String(r.pattern.clone()) || before.1.as_deref() != Some(files.as_slice());
        if !existed || changed {
            group.record(&r.code, &StatusRow { phase: "init".into(), status: "Success".into(), time: local_time(false), jobid: String::new() })?;
        }
        if !main.contains(&r.code) {
            main.push(r.code.clone());
        }
        match (existed, changed) {
            (false, _) => summary.created.push(r.code.clone()),
            (true, true) => summary.updated.push(r.code.clone()),
            (true, false) => summary.unchanged.push(r.code.clone()),
        }
    }
    group.save_codes("main", &main)?;
    merge_datasets_csv(group, rows)?;
    Ok(summary)
}

/// Keep `datasets.csv` as the union of the input rows, one line per project.
fn merge_datasets_csv(group: &GroupDir, rows: &[Row]) -> Result<()> {
    let p = group.dir.join("datasets.csv");
    let existing = std::fs::read_to_string(&p).unwrap_or_default();
    let mut lines: Vec<String> = existing.lines().filter(|l| !l.trim().is_empty()).map(String::from).collect();
    for r in rows {
        let same = |l: &String| l.split(',').next().map(|c| c.replace(' ', "")) == Some(r.code.clone());
        match lines.iter().position(same) {
            Some(i) => lines[i] = r.line.clone(),
            None => lines.push(r.line.clone()),
        }
    }
    let text = lines.join("\n");
    fsutil::write_file_atomic(&p, |w| w.write_all(text.as_bytes()).map_err(|e| Error::output(&p, e)))
}

/// Rows from `add -i`: a CSV like init's, or a JSON object (or list of them)
/// with `proj_code` and `pattern`.
pub fn rows_from_input(path: &Path) -> Result<Vec<Row>> {
    rows_from_input_with(path, &Substitutions::default())
}

/// [`rows_from_input`], with the `init_file` substitutions applied to the text.
pub fn rows_from_input_with(path: &Path, subs: &Substitutions) -> Result<Vec<Row>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::input_io(path, e))?;
    let text = Substitutions::replace(&subs.init_file, &text);
    if path.extension().is_some_and(|e| e == "json") {
        let v: Value = serde_json::from_str(&text).map_err(|e| Error::corrupt(path, e.to_string()))?;
        let items = match v {
            Value::Array(a) => a,
            o => vec![o],
        };
        let mut out = Vec::new();
        for (i, it) in items.iter().enumerate() {
            let code = it.get("proj_code").and_then(Value::as_str).unwrap_or_default().to_string();
            let pattern = it.get("pattern").and_then(Value::as_str).unwrap_or_default().to_string();
            check_name("project code", &code).map_err(|e| Error::Usage(format!("{} item {i}: {e}", path.display())))?;
            if pattern.is_empty() {
                return Err(Error::Usage(format!("{} item {i}: no \"pattern\"", path.display())));
            }
            out.push(Row { line_no: i + 1, line: format!("{code},{pattern},,"), code, pattern, update: String::new(), remove: String::new(), keep_vars: vec![] });
        }
        return Ok(with_dataset_file(out, subs));
    }
    Ok(with_dataset_file(parse_csv(path, &text)?, subs))
}

/// padocc applies `dataset_file` to a pattern that is a `.txt` file list
/// (the list's own path), and records the pattern so substituted.
fn with_dataset_file(mut rows: Vec<Row>, subs: &Substitutions) -> Vec<Row> {
    for r in rows.iter_mut().filter(|r| r.pattern.ends_with(".txt")) {
        r.pattern = Substitutions::replace(&subs.dataset_file, &r.pattern);
    }
    rows
}

#[cfg(test)]
mod tests {

    #[test]
    fn patterns_walk_each_directory_once_and_within_a_bound() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        for f in ["a/x.nc", "a/b/y.nc", "a/b/z.txt"] {
            std::fs::write(root.join(f), b"CDF\x01").unwrap();
        }
        // Two links that loop, and one to the directory itself.
        std::os::unix::fs::symlink(root.join("a"), root.join("a/b/up")).unwrap();
        std::os::unix::fs::symlink(".", root.join("a/self")).unwrap();
        let pat = format!("{}/a/**/*.nc", root.display());
        let found = glob_files(&pat, 10_000).unwrap();
        let names: Vec<String> = found.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(names.iter().filter(|n| *n == "y.nc").count(), 1, "{found:?}");
        assert!(names.contains(&"x.nc".to_string()), "{found:?}");
        let e = glob_files(&pat, 3).unwrap_err();
        assert!(e.contains("more than 3 entries") && e.contains("narrow the pattern"), "{e}");
        // A FIFO named like a dataset is not listed.
        let fifo = root.join("a/pipe.nc");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
        assert!(!glob_files(&format!("{}/a/*.nc", root.display()), 100).unwrap().contains(&fifo));
    }

    use super::*;

    #[test]
    fn csv_with_header_quotes_and_variables() {
        let text = "proj_code,pattern,updates,removals\nrain1,/d/rain/*.nc,,\nq,\"/d/a,b/*.nc\",,,tas,pr\n\n";
        let rows = parse_csv(Path::new("x.csv"), text).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].pattern, "/d/a,b/*.nc");
        assert_eq!(rows[1].keep_vars, vec!["tas", "pr"]);
        // Quoted codes, a byte-order mark, doubled quotes.
        let rows = parse_csv(Path::new("x.csv"), "\u{feff}\"rain1\",\"/d/r \"\"x\"\"/*.nc\"\n").unwrap();
        assert_eq!((rows[0].code.as_str(), rows[0].pattern.as_str()), ("rain1", "/d/r \"x\"/*.nc"));
        assert!(parse_csv(Path::new("x.csv"), "a,\"/d/*.nc\n").is_err());
    }

    #[test]
    fn bad_rows_are_all_reported_with_line_numbers() {
        let text = "ok,/x/*.nc,,\n../evil,/x/*.nc,,\nnopattern,,,\nok,/y/*.nc,,\n";
        let e = parse_csv(Path::new("in.csv"), text).unwrap_err().to_string();
        assert!(e.contains("in.csv:2") && e.contains("in.csv:3") && e.contains("in.csv:4"), "{e}");
    }
}
