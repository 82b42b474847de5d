//! A working directory's groups and projects: creating them, subsets, moves,
//! deletions, settings, logs, reports and data summaries.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{json, Map, Value};

use super::Selection;
use crate::error::{Error, Result};
use crate::pipeline::init::{self, InitSummary};
use crate::workdir::config::{BaseCfg, DetailCfg};
use crate::workdir::group::{self as group_ops, GroupDir};
use crate::workdir::project::{format_size, local_time, parse_size, StatusRow};
use crate::workdir::{check_name, Workdir};

/// Create an empty group (idempotent).
pub fn new_group(wd: &Workdir, name: &str) -> Result<GroupDir> {
    GroupDir::create(wd, name)
}

/// What `init`/`add` did.
#[derive(Debug, serde::Serialize)]
pub struct InitResult {
    #[serde(flatten)]
    pub summary: InitSummary,
    /// Projects in the group afterwards.
    pub total: usize,
}

/// Create (or, with `update`, also update) a group's projects from a CSV
/// (`proj_code,pattern[,updates,removals[,var...]]`) or a JSON list. Every
/// row is checked before anything is written.
pub fn init_group(wd: &Workdir, group: &str, input: &Path, update: bool, subs: &init::Substitutions) -> Result<InitResult> {
    if input.extension().is_some_and(|e| e == "txt") {
        return Err(Error::Usage("init takes a CSV (proj_code,pattern,...); a .txt file list belongs in a CSV's pattern column".into()));
    }
    let rows = init::rows_from_input_with(input, subs)?;
    let existed = wd.group_dir(group).exists();
    let g = GroupDir::create(wd, group)?;
    let summary = match init::apply(&g, &rows, update, subs) {
        Ok(s) => s,
        Err(e) => {
            // Every row is checked before anything is written: a group this
            // call created is still empty, and goes.
            if !existed {
                let _ = group_ops::delete_group(&g);
            }
            return Err(e);
        }
    };
    Ok(InitResult { summary, total: g.codes("main")?.len() })
}

/// How many projects `input` holds, checked as `init` would; nothing is written.
pub fn init_dry_run(group: &str, input: &Path, subs: &init::Substitutions) -> Result<usize> {
    check_name("group", group)?;
    Ok(init::rows_from_input_with(input, subs)?.len())
}

#[derive(Debug, serde::Serialize)]
pub struct GroupInfo {
    pub group: String,
    pub projects: usize,
}

/// The groups of a working directory, with their sizes.
pub fn list_groups(wd: &Workdir) -> Vec<GroupInfo> {
    wd.groups()
        .into_iter()
        .map(|g| {
            let projects = GroupDir::open(wd, &g).and_then(|gd| gd.codes("main")).map(|c| c.len()).unwrap_or(0);
            GroupInfo { group: g, projects }
        })
        .collect()
}

/// padocc's selector: phase `p1&p2` (union), status `s1&s2` (intersection) of
/// `Any`, exact, prefix before the first '-', or `!x`. Only `codes` are looked at.
pub fn matching(g: &GroupDir, codes: Vec<String>, phase: &str, status: &str) -> Result<Vec<String>> {
    let cur = g.current_statuses(&codes)?;
    let phases: Vec<&str> = phase.split('&').collect();
    let conds: Vec<&str> = status.split('&').collect();
    let one = |cond: &str, s: &str| -> bool {
        let (neg, c) = match cond.strip_prefix('!') {
            Some(c) => (true, c),
            None => (false, cond),
        };
        let m = c == "Any" || s == c || s.split('-').next() == Some(c);
        m != neg
    };
    Ok(codes.into_iter().filter(|c| cur.get(c).is_some_and(|r| phases.contains(&r.phase.as_str()) && conds.iter().all(|k| one(k, &r.status)))).collect())
}

/// Which projects a new subset takes: the selection's codes, or those of the
/// subset whose status matches.
#[derive(Debug, Clone)]
pub enum RepeatBy {
    Selection,
    Status { phase: String, status: String },
}

/// Write a subset (repeat id) of a group; returns its codes.
pub fn repeat(g: &GroupDir, sel: &Selection, new_repeat: &str, by: &RepeatBy) -> Result<Vec<String>> {
    check_name("repeat id", new_repeat)?;
    let codes = match by {
        RepeatBy::Selection => sel.codes(g)?,
        RepeatBy::Status { phase, status } => matching(g, sel.codes(g)?, phase, status)?,
    };
    g.save_codes(new_repeat, &codes)?;
    Ok(codes)
}

/// Combine subsets into `new_repeat` (appending to it when it exists): codes
/// in order, each once; with `remove_after`, the combined subsets go (main
/// never does).
pub fn merge_subsets(g: &GroupDir, subsets: &[String], new_repeat: &str, remove_after: bool) -> Result<Vec<String>> {
    check_name("repeat id", new_repeat)?;
    let mut codes: Vec<String> = if g.repeat_ids().iter().any(|r| r == new_repeat) { g.codes(new_repeat)? } else { vec![] };
    for s in subsets {
        for c in g.codes(s)? {
            if !codes.contains(&c) {
                codes.push(c);
            }
        }
    }
    g.save_codes(new_repeat, &codes)?;
    if remove_after {
        for s in subsets.iter().filter(|s| s.as_str() != "main" && s.as_str() != new_repeat) {
            remove_subset(g, s)?;
        }
    }
    Ok(codes)
}

/// Remove a subset (repeat id); its projects stay in the group. `main` is
/// the group itself and cannot be removed.
pub fn remove_subset(g: &GroupDir, repeat_id: &str) -> Result<()> {
    check_name("repeat id", repeat_id)?;
    if repeat_id == "main" {
        return Err(Error::Usage("main is the group's list of projects, not a subset: delete projects with padocc delete".into()));
    }
    g.codes(repeat_id)?;
    let p = g.dir.join("proj_codes").join(format!("{repeat_id}.txt"));
    std::fs::remove_file(&p).map_err(|e| Error::output(&p, e))
}

/// Append a status row to every selected project whose current phase and
/// status match; returns the codes changed.
pub fn update_status(g: &GroupDir, sel: &Selection, old_phase: &str, old_status: &str, new_status: &str, new_phase: Option<&str>) -> Result<Vec<String>> {
    let codes = matching(g, sel.codes(g)?, old_phase, old_status)?;
    let _held = g.lock_all(&codes, "update_status")?;
    let phase = new_phase.unwrap_or(old_phase);
    for c in &codes {
        g.record(c, &StatusRow { phase: phase.into(), status: new_status.into(), time: local_time(false), jobid: String::new() })?;
    }
    Ok(codes)
}

/// Move the selected projects to another group (created if needed).
pub fn transfer(g: &GroupDir, sel: &Selection, new_group: &str) -> Result<usize> {
    if sel.projects.is_none() && sel.repeat_id == "main" {
        return Err(Error::Usage("transfer needs -p (projects) or -r (a subset other than main)".into()));
    }
    let picked = sel.codes(g)?;
    let _held = g.lock_all(&picked, "transfer")?;
    let dest = GroupDir::create(&g.wd, new_group)?;
    group_ops::transfer(g, &dest, &picked)
}

/// What a deletion would remove, in words (for a confirmation question).
pub fn describe_deletion(g: &GroupDir, sel: &Selection) -> Result<String> {
    Ok(match &sel.projects {
        Some(p) => format!("project(s) {p} of group '{}'", g.name),
        None => format!("the whole group '{}' ({} projects)", g.name, g.codes("main")?.len()),
    })
}

/// Delete the selected projects or, with no `-p`, the whole group.
pub fn delete(g: &GroupDir, sel: &Selection) -> Result<()> {
    let _held = g.lock_all(&sel.codes(g)?, "delete")?;
    match &sel.projects {
        Some(_) => group_ops::remove_projects(g, &sel.codes(g)?, true),
        None => group_ops::delete_group(g),
    }
}

/// Products made (compute succeeded or later) and not.
#[derive(Debug, serde::Serialize)]
pub struct Aggregations {
    pub done: usize,
    pub incomplete: usize,
}

pub fn aggregations(g: &GroupDir, sel: &Selection) -> Result<Aggregations> {
    let codes = sel.codes(g)?;
    let cur = g.current_statuses(&codes)?;
    let done = codes.iter().filter(|c| cur.get(*c).is_some_and(|r| r.phase == "validate" || r.phase == "complete" || (r.phase == "compute" && r.status == "Success"))).count();
    Ok(Aggregations { done, incomplete: codes.len() - done })
}

/// padocc's `logs --clear`: (subsets removed, job files removed).
pub fn clear_logs(g: &GroupDir) -> Result<(usize, usize)> {
    g.clear_job_files()
}

#[derive(Debug, serde::Serialize)]
pub struct PhaseLog {
    pub index: usize,
    pub code: String,
    pub log: String,
    pub status: Option<String>,
}

/// The phase log of every selected project, with its current status.
pub fn logs(g: &GroupDir, sel: &Selection, phase: &str) -> Result<Vec<PhaseLog>> {
    check_name("phase", phase)?;
    let mut out = Vec::new();
    for (index, code) in sel.resolve(g)? {
        let p = g.project(&code)?;
        let log = std::fs::read_to_string(p.path(&format!("phase_logs/{phase}.log"))).unwrap_or_default();
        let status = p.last_status()?.map(|r| r.line());
        out.push(PhaseLog { index, code, log, status });
    }
    Ok(out)
}

/// The validation reports of every selected project: code -> {data, metadata}.
pub fn reports(g: &GroupDir, sel: &Selection) -> Result<Map<String, Value>> {
    let mut all = Map::new();
    for code in sel.codes(g)? {
        let p = g.project(&code)?;
        let read = |f: &str| std::fs::read_to_string(p.path(f)).ok().and_then(|t| serde_json::from_str::<Value>(&t).ok()).unwrap_or(Value::Null);
        all.insert(code.clone(), json!({"data": read("data_report.json"), "metadata": read("metadata_report.json")}));
    }
    Ok(all)
}

fn lookup(m: &Map<String, Value>, path: &str) -> Option<Value> {
    let mut parts = path.split('.');
    let mut cur = m.get(parts.next()?)?;
    for p in parts {
        cur = cur.get(p)?;
    }
    Some(cur.clone())
}

fn set_path(m: &mut Map<String, Value>, path: &str, v: Value) {
    let parts: Vec<&str> = path.split('.').collect();
    let mut cur = m;
    for p in &parts[..parts.len() - 1] {
        let e = cur.entry(p.to_string()).or_insert_with(|| json!({}));
        if !e.is_object() {
            *e = json!({});
        }
        cur = e.as_object_mut().expect("object");
    }
    cur.insert(parts[parts.len() - 1].to_string(), v);
}

/// padocc 1.5.1's project properties that are not keys of its files:
/// `check_attr` shows them, `set_attr` writes the key they stand for.
fn property(base: &BaseCfg, code: &str, attr: &str) -> Option<Value> {
    let remote = base.remote || base.cloud.cloud_type == "zarr";
    let revision = format!("{}{}", if remote { "r" } else { "" }, base.version_no);
    let id = base.cloud.cloud_type.chars().next().unwrap_or('k');
    Some(match attr {
        "revision" => json!(revision),
        "cloud_format" => json!(base.cloud.cloud_type),
        "file_type" => json!(base.cloud.file_type),
        "cloud_format_id" => json!(id.to_string()),
        "outproduct" => json!(format!("{id}{revision}a")),
        "complete_product" => json!(format!("{code}_{id}{revision}")),
        _ => return None,
    })
}

/// The key a property is stored under (`cloud_format` is `override.cloud_type`).
fn stored_key(attr: &str) -> &str {
    match attr {
        "cloud_format" => "override.cloud_type",
        "file_type" => "override.file_type",
        a => a,
    }
}

/// A base-cfg (else detail-cfg) value of every selected project, by dotted
/// path, or one of padocc's project properties (`revision`, `cloud_format`...).
pub fn check_attr(g: &GroupDir, sel: &Selection, attr: &str) -> Result<Vec<(String, Option<Value>)>> {
    let mut out = Vec::new();
    for code in sel.codes(g)? {
        let p = g.project(&code)?;
        let base = p.base()?;
        let v = lookup(&base.to_map(), attr).or_else(|| p.detail().ok().and_then(|d| lookup(&d.to_map(), attr))).or_else(|| property(&base, &code, attr));
        out.push((code, v));
    }
    Ok(out)
}

/// A command-line value as padocc reads it: True/False/None, numbers, else text.
pub fn parse_attr_value(value: &str) -> Value {
    match value {
        "True" | "true" => json!(true),
        "False" | "false" => json!(false),
        "None" | "null" => Value::Null,
        s => s.parse::<i64>().map(|i| json!(i)).or_else(|_| s.parse::<f64>().map(|f| json!(f))).unwrap_or_else(|_| json!(s)),
    }
}

/// Set a value in every selected project: in detail-cfg if it holds that key
/// (and base-cfg has no such default), else in base-cfg.
pub fn set_attr(g: &GroupDir, sel: &Selection, attr: &str, value: &Value) -> Result<Vec<String>> {
    if matches!(attr, "revision" | "cloud_format_id" | "outproduct" | "complete_product") {
        return Err(Error::Usage(format!("{attr} is derived from version_no, remote and the cloud format: set those instead")));
    }
    let attr = stored_key(attr);
    let _held = g.lock_all(&sel.codes(g)?, "set_attr")?;
    let mut done = Vec::new();
    for code in sel.codes(g)? {
        let p = g.project(&code)?;
        let top = attr.split('.').next().unwrap_or("");
        let invalid = |path: &str, e: serde_json::Error| Error::Usage(format!("{attr} = {value} does not fit {path}: {e}"));
        let mut detail = p.detail()?.to_map();
        if detail.contains_key(top) && !BaseCfg::new(&code).to_map().contains_key(top) {
            set_path(&mut detail, attr, value.clone());
            p.save_detail(&DetailCfg::from_map(detail).map_err(|e| invalid("detail-cfg.json", e))?)?;
        } else {
            let mut base = p.base()?.to_map();
            set_path(&mut base, attr, value.clone());
            p.save_base(&BaseCfg::from_map(base).map_err(|e| invalid("base-cfg.json", e))?)?;
        }
        done.push(code);
    }
    Ok(done)
}

/// What [`edit_attributes`] did to one project.
#[derive(Debug, serde::Serialize)]
pub struct AttributeEdit {
    pub code: String,
    /// Each product edited where it lies, with the attribute documents it changed.
    pub edited: Vec<(String, usize)>,
    /// What takes the edit only when compute makes it again, or cannot take
    /// it, and why.
    pub pending: Vec<String>,
    /// Why this project could not be edited (the others still are).
    pub error: Option<String>,
}

/// Edit attributes of the selected projects' products where they lie
/// (kerchunk JSON/Parquet, a local Zarr store, the CFA file), and record the
/// edits in base-cfg's `update`/`remove` (padocc's CSV columns), so that a
/// recompute makes them again and validate expects them. An edit that
/// contradicts a recorded one replaces it. A project that fails is reported
/// in its outcome; the others go on.
pub fn edit_attributes(g: &GroupDir, sel: &Selection, edits: &crate::aggregate::edit::AttrEdits) -> Result<Vec<AttributeEdit>> {
    let codes = sel.codes(g)?;
    let _held = g.lock_all(&codes, "editing attributes")?;
    Ok(codes
        .into_iter()
        .map(|code| edit_project_attributes(g, &code, edits).unwrap_or_else(|e| AttributeEdit { code, edited: vec![], pending: vec![], error: Some(e.to_string()) }))
        .collect())
}

fn edit_project_attributes(g: &GroupDir, code: &str, edits: &crate::aggregate::edit::AttrEdits) -> Result<AttributeEdit> {
    let p = g.project(code)?;
    let mut base = p.base()?;
    // Recorded first: a kill before the products are edited leaves a record
    // that the next run of the command (or a recompute) applies.
    let mut recorded = crate::aggregate::edit::AttrEdits::from_config(base.extra.get("update"), base.extra.get("remove"))?;
    recorded.merge(edits);
    let (update, remove) = recorded.to_config();
    base.extra.insert("update".into(), update);
    base.extra.insert("remove".into(), remove);
    p.save_base(&base)?;
    let (_, product) = p.product(&base);
    let location = p.product_location(&base);
    let mut done = AttributeEdit { code: code.to_string(), edited: Vec::new(), pending: Vec::new(), error: None };
    let mut targets = Vec::new();
    if crate::products::s3::is_remote(&location) {
        done.pending.push(format!("{location}: in an object store; compute -f publishes it again with the edit"));
    } else if product.extension().is_some_and(|e| e == "icechunk") {
        done.pending.push(format!("{}: an Icechunk repository; compute -f commits the edit", product.display()));
    } else if product.exists() {
        targets.push(product.clone());
    }
    let cfa = p.cfa_path();
    if cfa.exists() && cfa != product {
        targets.push(cfa.clone());
    }
    for t in targets {
        let n = match crate::products::meta::edit(&t, edits) {
            Ok(n) => n.documents,
            // A CFA file that cannot take the edit in place is made again.
            Err(Error::Unsupported { .. }) if t == cfa => {
                let made = crate::pipeline::compute::remake_cfa(&p, &crate::control::Control::default())?;
                done.pending.extend(made.notes.into_iter().filter(|n| n.contains("keeps its sources' units")).map(|n| format!("{}: {n}", t.display())));
                1
            }
            Err(e) => return Err(e),
        };
        done.edited.push((t.display().to_string(), n));
    }
    Ok(done)
}

/// Totals over the selected projects that scan has measured.
#[derive(Debug, serde::Serialize)]
pub struct DataSummary {
    pub group: String,
    pub projects: usize,
    pub source_files: u64,
    pub source_bytes: f64,
    pub cloud_bytes: f64,
    pub total_chunks: f64,
    pub file_types: BTreeSet<String>,
    pub drivers: BTreeSet<String>,
}

impl DataSummary {
    /// padocc's `summarise` report.
    pub fn render(&self) -> String {
        let n = self.projects;
        let avg = |x: f64| if n == 0 { 0.0 } else { x / n as f64 };
        let mut s = format!("Summary Report: {}\nProject Codes Assessed: {n}\n\n", self.group);
        s += &format!("Source Files: {} [Avg. {:.2} per project]\n", self.source_files, avg(self.source_files as f64));
        s += &format!("Source Data: {} [Avg. {} per project]\n", format_size(self.source_bytes), format_size(avg(self.source_bytes)));
        s += &format!("Cloud Data: {} [Avg. {} per project]\n\n", format_size(self.cloud_bytes), format_size(avg(self.cloud_bytes)));
        s += &format!("Source Formats: {:?}\nFile Types: {:?}\n\n", self.drivers, self.file_types);
        s += &format!("Total Chunks: {:.2} [Avg. {:.2} per project]\n", self.total_chunks, avg(self.total_chunks));
        s
    }
}

pub fn summarise(g: &GroupDir, sel: &Selection) -> Result<DataSummary> {
    let mut s = DataSummary {
        group: g.name.clone(),
        projects: 0,
        source_files: 0,
        source_bytes: 0.0,
        cloud_bytes: 0.0,
        total_chunks: 0.0,
        file_types: BTreeSet::new(),
        drivers: BTreeSet::new(),
    };
    for c in sel.codes(g)? {
        let d = g.project(&c)?.detail()?;
        let Some(src) = d.source_data.as_deref().and_then(parse_size) else {
            continue;
        };
        s.projects += 1;
        s.source_bytes += src;
        s.cloud_bytes += d.cloud_data.as_deref().and_then(parse_size).unwrap_or(0.0);
        s.source_files += d.num_files.unwrap_or(0);
        s.total_chunks += d.chunk_info.get("total_chunks").and_then(Value::as_str).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
        if let Some(t) = d.extra.get("type").and_then(Value::as_str) {
            s.file_types.insert(t.to_string());
        }
        if let Some(t) = d.extra.get("driver").and_then(Value::as_str) {
            s.drivers.insert(t.to_string());
        }
    }
    Ok(s)
}

/// The bypass file of `validate -i`: JSON shaped like the validation reports.
pub fn read_bypass_file(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::input_io(path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::corrupt(path, format!("not a bypass file (JSON shaped like the validation reports): {e}")))
}
