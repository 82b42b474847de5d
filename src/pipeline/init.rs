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

/// Parse padocc's CSV: a first line containing `proj_code` is a header; a
/// pattern in double quotes may contain commas; cells are trimmed.
pub fn parse_csv(path: &Path, text: &str) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || (i == 0 && line.contains("proj_code")) {
            continue;
        }
        let (pattern_q, rest) = match (line.find('"'), line.rfind('"')) {
            (Some(a), Some(b)) if b > a => (Some(line[a + 1..b].to_string()), format!("{}{}", &line[..a], &line[b + 1..])),
            (Some(_), _) => {
                errors.push(format!("{}:{line_no}: unbalanced double quote", path.display()));
                continue;
            }
            _ => (None, line.to_string()),
        };
        let cols: Vec<String> = rest.split(',').map(|c| c.trim().to_string()).collect();
        // padocc deletes every space; padocc-rs trims the ends only, so a code with
        // a space inside is refused rather than silently renamed, and a path with
        // a space inside still works.
        let code: String = cols.first().cloned().unwrap_or_default();
        let pattern = match pattern_q {
            Some(p) => p,
            None => cols.get(1).cloned().unwrap_or_default(),
        };
        if let Err(e) = check_name("project code", &code) {
            errors.push(format!("{}:{line_no}: {e}", path.display()));
            continue;
        }
        if pattern.is_empty() {
            errors.push(format!("{}:{line_no}: project '{code}' has no file pattern (second column)", path.display()));
            continue;
        }
        // A quoted pattern leaves an empty second column behind: columns keep their places.
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

/// Expand a pattern: a `.txt` file listing paths, or a glob (sorted).
pub fn expand(pattern: &str) -> std::result::Result<Vec<PathBuf>, String> {
    let files: Vec<PathBuf> = if pattern.ends_with(".txt") {
        let text = std::fs::read_to_string(pattern).map_err(|e| format!("cannot read file list {pattern}: {e}"))?;
        text.lines().map(str::trim).filter(|l| !l.is_empty()).map(PathBuf::from).collect()
    } else {
        let mut v: Vec<PathBuf> = glob::glob(pattern).map_err(|e| format!("bad pattern {pattern}: {e}"))?.filter_map(|p| p.ok()).collect();
        v.sort();
        v
    };
    if files.is_empty() {
        return Err(format!("pattern {pattern} matches no files"));
    }
    let files: Vec<PathBuf> = files.into_iter().map(|f| std::path::absolute(&f).unwrap_or(f)).collect();
    if let Some(missing) = files.iter().find(|f| !f.is_file()) {
        return Err(format!("{} does not exist or is not a file", missing.display()));
    }
    Ok(files)
}

#[derive(Debug, Default, serde::Serialize)]
pub struct InitSummary {
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub unchanged: Vec<String>,
}

/// Create or update the projects of `rows` in `group`.
pub fn apply(group: &GroupDir, rows: &[Row], update_existing: bool) -> Result<InitSummary> {
    // Expand every pattern before writing anything.
    let mut expanded = Vec::with_capacity(rows.len());
    let mut errors = Vec::new();
    for r in rows {
        match expand(&r.pattern) {
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
        let p = group.project(&r.code);
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
    let text = std::fs::read_to_string(path).map_err(|e| Error::input_io(path, e))?;
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
        return Ok(out);
    }
    parse_csv(path, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_header_quotes_and_variables() {
        let text = "proj_code,pattern,updates,removals\nrain1,/d/rain/*.nc,,\nq,\"/d/a,b/*.nc\",,,tas,pr\n\n";
        let rows = parse_csv(Path::new("x.csv"), text).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].pattern, "/d/a,b/*.nc");
        assert_eq!(rows[1].keep_vars, vec!["tas", "pr"]);
    }

    #[test]
    fn bad_rows_are_all_reported_with_line_numbers() {
        let text = "ok,/x/*.nc,,\n../evil,/x/*.nc,,\nnopattern,,,\nok,/y/*.nc,,\n";
        let e = parse_csv(Path::new("in.csv"), text).unwrap_err().to_string();
        assert!(e.contains("in.csv:2") && e.contains("in.csv:3") && e.contains("in.csv:4"), "{e}");
    }
}
