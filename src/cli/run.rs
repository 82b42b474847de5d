//! Parsed arguments to library requests, the call, and the rendering of what
//! comes back. No decisions about projects, files or schedulers are made here.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use serde_json::json;

use super::args::{Command, InitLegacy, PhaseArgs, SchedArgs, Sel, ShepardMode};
use super::output::Out;
use crate::api::phases::{self, SchedulerRequest, TaskBounds};
use crate::api::products::{self as prod, VerifyRequest};
use crate::api::projects::{self, RepeatBy};
use crate::api::{self, Control, GroupDir, Phase, PhaseOptions, Selection};
use crate::error::{exit, Error, Result};
use crate::workdir::check_name;

/// Everything a command needs besides its own arguments.
pub(crate) struct Ctx<'a> {
    pub(crate) workdir: Option<PathBuf>,
    pub(crate) out: &'a Out,
    pub(crate) control: Control,
}

impl Ctx<'_> {
    fn group(&self, name: &str) -> Result<GroupDir> {
        api::open_group(&api::open_workdir(self.workdir.as_deref())?, name)
    }
}

fn selection(sel: &Sel) -> Selection {
    Selection { repeat_id: sel.repeat_id.clone(), projects: sel.proj.clone() }
}

fn scheduler_request(s: &SchedArgs, bounds: TaskBounds, repeat_id: &str) -> SchedulerRequest {
    SchedulerRequest { scheduler: s.scheduler.clone(), dry_run: s.dry_run, config: s.config.clone(), bounds, env_lines: vec![], job_label: Some(repeat_id.to_string()) }
}

pub(crate) fn run(command: Command, cx: &Ctx) -> Result<i32> {
    let out = cx.out;
    match command {
        Command::Refs { series, output, kind, append, message, inline_threshold, .. }
            if matches!(kind, Some(prod::RefsKind::Icechunk)) || prod::is_icechunk(&output.to_string_lossy()) =>
        {
            let req = prod::IcechunkRequest {
                combine: series.combine(false),
                files: series.files,
                out: output.to_string_lossy().into_owned(),
                append,
                message,
                s3: prod::S3Settings::from_env(),
                inline_threshold,
                control: cx.control.clone(),
            };
            let s = prod::icechunk(&req)?;
            out.either(&s, || {
                out.info(&format!(
                    "padocc refs: {} files ({} added), {} variables, {} references ({} written), {:.3} s -> {} (icechunk snapshot {}: {})",
                    s.files, s.added_files, s.variables, s.references, s.written, s.seconds, s.output, s.snapshot, s.message
                ));
                out.info(&format!("readers authorize: {}", s.containers.join(", ")));
            });
            Ok(exit::OK)
        }
        Command::Refs { series, output, kind, record_size, inline_threshold, append, .. } => {
            if append {
                return Err(Error::Usage("--append applies to Icechunk repositories (-o NAME.icechunk); a kerchunk product is rewritten whole".into()));
            }
            let req = prod::RefsRequest { combine: series.combine(false), files: series.files, out: output, kind, record_size, inline_threshold, control: cx.control.clone() };
            let s = prod::refs(&req)?;
            out.either(&s, || {
                out.info(&format!(
                    "padocc refs: {} files, {} variables, {} references{}, {:.3} s -> {} ({})",
                    s.files,
                    s.variables,
                    s.references,
                    if s.inlined > 0 { format!(" ({} small variable(s) stored inline)", s.inlined) } else { String::new() },
                    s.seconds,
                    s.output.display(),
                    s.kind
                ))
            });
            Ok(exit::OK)
        }
        Command::Zarr { series, output, zarr_format, chunks, chunk_size, compression, level, shards, mem_limit, stage, .. } => {
            let req = prod::ZarrRequest {
                combine: series.combine(true),
                files: series.files,
                out: output,
                zarr_format,
                chunks,
                chunk_target: chunk_size,
                compression,
                level: level.unwrap_or(compression.default_level()),
                shards,
                mem_limit,
                control: cx.control.clone(),
            };
            if let Some(url) = prod::S3Url::parse(&req.out.to_string_lossy()) {
                let s = prod::publish_zarr(&req, &url, &prod::S3Settings::from_env(), stage.as_deref())?;
                out.either(&s, || {
                    if let Some(z) = &s.zarr {
                        out.info(&format!(
                            "padocc zarr: {} files, {} variables, {} chunks converted, {:.3} s (staged in {})",
                            z.files,
                            z.variables,
                            z.chunks_written,
                            z.seconds,
                            s.stage.display()
                        ));
                    }
                    let u = &s.upload;
                    out.info(&format!(
                        "padocc zarr: {} objects: {} uploaded ({:.1} MB), {} already there, {} stale removed, {:.3} s -> {}",
                        u.objects,
                        u.uploaded,
                        u.bytes_uploaded as f64 / 1e6,
                        u.skipped,
                        u.deleted,
                        u.seconds,
                        s.output
                    ))
                });
                return Ok(exit::OK);
            }
            let s = prod::zarr(&req)?;
            out.either(&s, || {
                out.info(&format!(
                    "padocc zarr: {} files, {} variables, {} chunks written{}, {:.1} MB read, {:.3} s -> {} (Zarr v{})",
                    s.files,
                    s.variables,
                    s.chunks_written,
                    if s.chunks_resumed > 0 { format!(" ({} already there from an interrupted run)", s.chunks_resumed) } else { String::new() },
                    s.bytes_read as f64 / 1e6,
                    s.seconds,
                    s.output.display(),
                    s.zarr_format
                ))
            });
            Ok(exit::OK)
        }
        Command::Cfa { series, output, .. } => {
            let req = prod::CfaRequest { combine: series.combine(true), files: series.files, out: output, control: cx.control.clone() };
            let s = prod::cfa(&req)?;
            out.either(&s, || {
                for n in &s.notes {
                    out.info(&format!("padocc cfa: note: {n}"));
                }
                out.info(&format!(
                    "padocc cfa: {} files, {} variables aggregated ({} fragments), {} copied, {:.3} s -> {}",
                    s.files,
                    s.aggregated,
                    s.fragments,
                    s.copied,
                    s.seconds,
                    s.output.display()
                ))
            });
            Ok(exit::OK)
        }
        Command::Verify { product, series, sample, jobs, .. } => {
            let req = VerifyRequest { select: series.select(), concat_dims: series.concat_dim, dedupe: series.dedupe, sample, processes: jobs, edits: Default::default() };
            let rep = prod::verify(&product, &series.files, &req, &cx.control)?;
            let status = rep.status();
            let doc = json!({"status": status, "values_compared": rep.values_compared, "values_by_identity": rep.values_by_identity, "data": rep.data, "metadata": rep.metadata});
            out.either(&doc, || {
                if !out.quiet {
                    println!("{}: {status}", product.display());
                    match rep.first_problem() {
                        Some(m) => println!("  {m}"),
                        None => println!("  {}", rep.summary()),
                    }
                }
            });
            Ok(if status == "Success" { exit::OK } else { exit::SOME_FAILED })
        }
        Command::New { group, _legacy: InitLegacy { dryrun: true, .. }, .. } => {
            check_name("group", &group)?;
            out.info(&format!("dry run: would create group '{group}' in {}", api::open_workdir(cx.workdir.as_deref())?.root.display()));
            Ok(exit::OK)
        }
        Command::Init { group, input, substitutions, _legacy: InitLegacy { dryrun: true, .. }, .. }
        | Command::Add { group, input, substitutions, _legacy: InitLegacy { dryrun: true, .. }, .. } => {
            let n = projects::init_dry_run(&group, &input, &substitutions_of(substitutions.as_deref())?)?;
            out.info(&format!("dry run: {n} project(s) read from {}; nothing written", input.display()));
            Ok(exit::OK)
        }
        Command::New { group, .. } => {
            let g = projects::new_group(&api::open_workdir(cx.workdir.as_deref())?, &group)?;
            out.info(&format!("created group '{group}' in {}", g.wd.root.display()));
            Ok(exit::OK)
        }
        Command::Init { group, input, substitutions, .. } => init(cx, &group, &input, true, &substitutions_of(substitutions.as_deref())?),
        Command::Add { group, input, force, substitutions, .. } => init(cx, &group, &input, force, &substitutions_of(substitutions.as_deref())?),
        Command::List { .. } => {
            let w = api::open_workdir(cx.workdir.as_deref())?;
            let groups = projects::list_groups(&w);
            out.either(&json!({"workdir": w.root, "groups": groups}), || {
                println!("Groups in {}", w.root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
                for g in &groups {
                    println!(" > {}: {}", g.group, if g.projects == 0 { "(empty)".to_string() } else { g.projects.to_string() });
                }
            });
            Ok(exit::OK)
        }
        Command::Scan(a) => phase(cx, Phase::Scan, a, None),
        Command::Compute(a) => phase(cx, Phase::Compute, a, None),
        Command::Validate(a) => phase(cx, Phase::Validate, a, None),
        Command::Complete { sel, completion_dir, sub, replace, version_separator, force, fmt, delete, dryrun } => {
            let opts = PhaseOptions { completion_dir: Some(completion_dir), sub, replace, version_separator, force, delete, ..PhaseOptions::default() };
            let a = PhaseArgs { sel, fmt, force, dryrun, ..PhaseArgs::default() };
            phase(cx, Phase::Complete, a, Some(opts))
        }
        Command::Shepard { mode, conf, parallel, autolog, dry_run, cycles, interval, scheduler, config, .. } => {
            let conf = crate::shepard::Conf::read(&conf)?;
            let req = crate::shepard::PassRequest {
                parallel,
                dry_run,
                scheduler: SchedulerRequest { scheduler, config: config.or_else(|| Some(conf.flock_dir.join("padocc.toml")).filter(|p| p.exists())), ..Default::default() },
                control: cx.control.clone(),
            };
            shepard(mode, &conf, &req, autolog, cycles, interval, cx)
        }
        Command::Status { sel, display_upto, long, separate, watch, no_scheduler, .. } => {
            let g = cx.group(&sel.group)?;
            loop {
                let s = api::status::collect(&g, &selection(&sel), !no_scheduler)?;
                for w in &s.warnings {
                    eprintln!("padocc: warning: {w}");
                }
                out.either(&s, || {
                    if watch.is_some() && std::io::stdout().is_terminal() {
                        print!("\x1b[2J\x1b[H");
                    }
                    print!("{}", api::status::render(&s, display_upto, long, separate));
                });
                // Polite polling: a scheduler query is not free on a busy login node.
                let Some(every) = watch else { break };
                for _ in 0..every.max(5) {
                    if cx.control.cancel.is_cancelled() {
                        return Ok(exit::OK);
                    }
                    std::thread::sleep(std::time::Duration::from_secs(1));
                }
            }
            Ok(exit::OK)
        }
        Command::Run { sel, phases: chain, force, sched, .. } => {
            let g = cx.group(&sel.group)?;
            let opts = PhaseOptions { force: force || sel.thorough, control: cx.control.clone(), ..PhaseOptions::default() };
            let req = scheduler_request(&sched, TaskBounds { per_task: sel.subset, ..TaskBounds::default() }, &sel.repeat_id);
            let r = phases::run_chain(&g, &selection(&sel), &chain, &opts, &req)?;
            for link in &r.chain {
                for s in &link.submissions {
                    out.info(&format!("{} {}: {} task(s) -> {}", g.name, link.phase.name(), s.tasks, s.job_id.as_deref().unwrap_or("(dry run)")));
                }
            }
            if !out.human() {
                out.value(&r);
            }
            Ok(exit::OK)
        }
        Command::Worker { manifest, index } => crate::scheduler::worker::run(&manifest, index, &cx.control),
        Command::ValidatePart { product, part, parts, concat_dim, dedupe, sample, keep_vars, drop_vars, update, remove } => {
            let edits = crate::aggregate::edit::AttrEdits::from_config(update.map(serde_json::Value::from).as_ref(), remove.map(serde_json::Value::from).as_ref())?;
            let select = crate::aggregate::select::Selection { keep: keep_vars, drop: drop_vars };
            validate_part(cx, &product, part, parts, VerifyRequest { concat_dims: concat_dim, dedupe, sample, processes: Some(1), select, edits })
        }
        Command::RerunFailed { sel, phase, include_errors, sched, .. } => {
            let g = cx.group(&sel.group)?;
            let req = scheduler_request(&sched, TaskBounds { per_task: sel.subset, ..TaskBounds::default() }, &sel.repeat_id);
            let r = phases::rerun_failed(&g, &selection(&sel), phase, include_errors, &req, &cx.control)?;
            if !r.faultlisted.is_empty() {
                out.info(&format!("{} project(s) moved to the faultlist after their last attempt", r.faultlisted.len()));
            }
            if r.resubmitted.is_empty() {
                out.info(&format!("{}: nothing to rerun", g.name));
                return Ok(exit::OK);
            }
            for s in &r.resubmitted {
                render_submission(out, s);
            }
            Ok(r.exit_code())
        }
        Command::Summarise { sel, .. } => {
            let g = cx.group(&sel.group)?;
            let s = projects::summarise(&g, &selection(&sel))?;
            out.either(&s, || print!("{}", s.render()));
            Ok(exit::OK)
        }
        Command::Repeat { sel, new_repeat, phase, status, .. } => {
            let g = cx.group(&sel.group)?;
            let by = match (phase, status, &sel.proj) {
                (_, _, Some(_)) => RepeatBy::Selection,
                (Some(phase), Some(status), None) => RepeatBy::Status { phase, status },
                _ => return Err(Error::Usage("repeat needs --phase and --status, or -p codes".into())),
            };
            let codes = projects::repeat(&g, &selection(&sel), &new_repeat, &by)?;
            out.info(&format!("wrote {} project(s) to repeat id '{new_repeat}'", codes.len()));
            if !out.human() {
                out.json(&json!({"repeat_id": new_repeat, "projects": codes}));
            }
            Ok(exit::OK)
        }
        Command::MergeSubsets { group, subsets, new_repeat, remove_after } => {
            let g = cx.group(&group)?;
            let codes = projects::merge_subsets(&g, &subsets, &new_repeat, remove_after)?;
            out.info(&format!("wrote {} project(s) to repeat id '{new_repeat}'", codes.len()));
            Ok(exit::OK)
        }
        Command::RemoveSubset { group, repeat_id } => {
            projects::remove_subset(&cx.group(&group)?, &repeat_id)?;
            out.info(&format!("removed repeat id '{repeat_id}'"));
            Ok(exit::OK)
        }
        Command::RemoveByStatus { sel, phase, status, yes } => {
            let g = cx.group(&sel.group)?;
            let codes = projects::matching(&g, selection(&sel).codes(&g)?, &phase, &status)?;
            if codes.is_empty() {
                out.info("no project matches; nothing deleted");
                return Ok(exit::OK);
            }
            if !yes && !confirm(&format!("Delete {} project(s) of group '{}' ({})? (y/N) ", codes.len(), g.name, codes.join(", ")))? {
                out.info("nothing deleted");
                return Ok(exit::OK);
            }
            projects::delete(&g, &Selection { repeat_id: "main".into(), projects: Some(codes.join(",")) })?;
            out.info(&format!("deleted {} project(s): {}", codes.len(), codes.join(", ")));
            Ok(exit::OK)
        }
        Command::UpdateStatus { sel, old_phase, old_status, new_status, new_phase } => {
            let g = cx.group(&sel.group)?;
            let codes = projects::update_status(&g, &selection(&sel), &old_phase, &old_status, &new_status, new_phase.as_deref())?;
            out.info(&format!("updated {} project(s)", codes.len()));
            Ok(exit::OK)
        }
        Command::Transfer { sel, new_group } => {
            let g = cx.group(&sel.group)?;
            let moved = projects::transfer(&g, &selection(&sel), &new_group)?;
            out.info(&format!("moved {} project(s) from '{}' to '{new_group}'", moved, g.name));
            Ok(exit::OK)
        }
        Command::Delete { sel, yes } => {
            let g = cx.group(&sel.group)?;
            let s = selection(&sel);
            let what = projects::describe_deletion(&g, &s)?;
            if !yes && !confirm(&format!("Delete {what}? (y/N) "))? {
                out.info("nothing deleted");
                return Ok(exit::OK);
            }
            projects::delete(&g, &s)?;
            out.info(&format!("deleted {what}"));
            Ok(exit::OK)
        }
        Command::Aggregations { sel } => {
            let a = projects::aggregations(&cx.group(&sel.group)?, &selection(&sel))?;
            println!("padocc-rs: {}\nIncomplete: {}", a.done, a.incomplete);
            Ok(exit::OK)
        }
        Command::Logs { sel, clear: Some(_), .. } => {
            let g = cx.group(&sel.group)?;
            let cleared = projects::clear_logs(&g)?;
            out.info(&format!("{}: removed {} subset(s) other than main and {} of padocc's job file(s)", g.name, cleared.0, cleared.1));
            Ok(exit::OK)
        }
        Command::Doctor { group, .. } => {
            let g = cx.group(&group)?;
            let found = api::doctor::examine(&g)?;
            let count = |s: api::doctor::Severity| found.iter().filter(|f| f.severity == s).count();
            let errors = count(api::doctor::Severity::Error);
            out.either(&json!({"group": g.name, "errors": errors, "findings": found}), || {
                for f in &found {
                    let sev = serde_json::to_value(f.severity).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
                    println!("{sev}: {}: {}\n    what to do: {}", f.path.display(), f.problem, f.fix);
                }
                out.info(&match found.is_empty() {
                    true => format!("{}: no problems found", g.name),
                    false => format!("{}: {errors} error(s), {} warning(s), {} note(s)", g.name, count(api::doctor::Severity::Warning), count(api::doctor::Severity::Info)),
                });
            });
            Ok(if errors > 0 { exit::SOME_FAILED } else { exit::OK })
        }
        Command::Pfunc { .. } => Err(Error::Usage("pfunc does nothing (padocc 1.5.1 raises NotImplementedError too)".into())),
        Command::Logs { sel, log_phase, .. } => {
            let g = cx.group(&sel.group)?;
            let log_phase = log_phase.unwrap_or_default();
            for l in projects::logs(&g, &selection(&sel), &log_phase)? {
                println!("{}Project Code: {} (ID {})", l.log, l.code, l.index);
                println!("Status: {:?}", l.status);
                println!("Rerun with: padocc {log_phase} -G {} -p {} -vv\n", g.name, l.code);
            }
            Ok(exit::OK)
        }
        Command::Report { sel } => {
            out.json(&serde_json::Value::Object(projects::reports(&cx.group(&sel.group)?, &selection(&sel))?));
            Ok(exit::OK)
        }
        Command::CheckAttr { sel, attr } => {
            for (code, v) in projects::check_attr(&cx.group(&sel.group)?, &selection(&sel), &attr)? {
                println!("{code} - {attr}: {}", v.map(|v| v.to_string()).unwrap_or_else(|| "(not set)".into()));
            }
            Ok(exit::OK)
        }
        Command::UpdateAttribute { sel, attr, value, .. } => {
            let v: serde_json::Value = match serde_json::from_str(&value) {
                Ok(v @ (serde_json::Value::Number(_) | serde_json::Value::Array(_))) => v,
                _ => serde_json::Value::String(value.clone()),
            };
            let value = crate::aggregate::edit::attr_value(&v).ok_or_else(|| Error::Usage(format!("--value {value}: a list must hold only numbers or only strings")))?;
            let (var, name) = crate::aggregate::edit::target(&attr);
            let edits = crate::aggregate::edit::AttrEdits { set: vec![(var, name, value)], remove: vec![] };
            Ok(report_attribute_edits(out, &projects::edit_attributes(&cx.group(&sel.group)?, &selection(&sel), &edits)?, &format!("{attr} = {v}")))
        }
        Command::RemoveAttribute { sel, attr, .. } => {
            let edits = crate::aggregate::edit::AttrEdits { set: vec![], remove: vec![crate::aggregate::edit::target(&attr)] };
            Ok(report_attribute_edits(out, &projects::edit_attributes(&cx.group(&sel.group)?, &selection(&sel), &edits)?, &format!("{attr} removed")))
        }
        Command::SetAttr { sel, attr, value } => {
            let v = projects::parse_attr_value(&value);
            for code in projects::set_attr(&cx.group(&sel.group)?, &selection(&sel), &attr, &v)? {
                out.info(&format!("{code} - {attr} = {v}"));
            }
            Ok(exit::OK)
        }
    }
}

/// The outcome of each project; exit 1 when any failed.
fn report_attribute_edits(out: &Out, done: &[projects::AttributeEdit], what: &str) -> i32 {
    out.either(&done, || {
        for d in done {
            if let Some(e) = &d.error {
                println!("{}: FAILED: {e}", d.code);
                continue;
            }
            let edited: Vec<String> = d.edited.iter().map(|(p, n)| if *n == 0 { format!("{p} (already so)") } else { p.clone() }).collect();
            let mut line = format!("{}: {what}", d.code);
            if !edited.is_empty() {
                line.push_str(&format!(" in {}", edited.join(", ")));
            }
            if edited.is_empty() && d.pending.is_empty() {
                line.push_str("; recorded (no product yet: compute makes it with the edit)");
            }
            for p in &d.pending {
                line.push_str(&format!("; {p}"));
            }
            println!("{line}");
        }
    });
    if done.iter().any(|d| d.error.is_some()) {
        exit::SOME_FAILED
    } else {
        exit::OK
    }
}

/// Ask on the terminal; without one, refuse (use --yes in scripts).
fn confirm(question: &str) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        return Err(Error::Usage("refusing to delete without a terminal to ask on: add --yes".into()));
    }
    eprint!("{question}");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).map_err(|e| Error::Usage(e.to_string()))?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}

fn substitutions_of(path: Option<&Path>) -> Result<crate::pipeline::init::Substitutions> {
    path.map(crate::pipeline::init::Substitutions::from_file).transpose().map(Option::unwrap_or_default)
}

fn init(cx: &Ctx, group: &str, input: &Path, update: bool, subs: &crate::pipeline::init::Substitutions) -> Result<i32> {
    let r = projects::init_group(&api::open_workdir(cx.workdir.as_deref())?, group, input, update, subs)?;
    cx.out.either(&r, || {
        cx.out.info(&format!(
            "group '{group}': {} created, {} updated, {} unchanged ({} projects in all)",
            r.summary.created.len(),
            r.summary.updated.len(),
            r.summary.unchanged.len(),
            r.total
        ))
    });
    Ok(exit::OK)
}

/// One share of a validation: the file list comes NUL-separated on stdin, the
/// report (or the error) goes as JSON to stdout for the parent to read.
fn validate_part(cx: &Ctx, product: &Path, part: usize, parts: usize, req: VerifyRequest) -> Result<i32> {
    let mut list = Vec::new();
    std::io::Read::read_to_end(&mut std::io::stdin(), &mut list).map_err(|e| Error::Usage(format!("validate-part: cannot read the file list on stdin: {e}")))?;
    let files: Vec<PathBuf> = list.split(|b| *b == 0).filter(|p| !p.is_empty()).map(|p| PathBuf::from(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(p))).collect();
    // The exit code tells the parent early that this share failed.
    let (text, code) = match prod::validate_part(product, &files, part, parts, &req, &cx.control) {
        Ok(rep) => (serde_json::to_string(&rep).expect("JSON"), exit::OK),
        Err(e) => (json!({"error": e.to_json()}).to_string(), e.exit_code()),
    };
    println!("{text}");
    Ok(code)
}

/// scan, compute, validate and complete: in this process, as a dry run, or as
/// job arrays (`--parallel`).
fn phase(cx: &Ctx, phase: Phase, a: PhaseArgs, base: Option<PhaseOptions>) -> Result<i32> {
    let out = cx.out;
    let g = cx.group(&a.sel.group)?;
    let sel = selection(&a.sel);
    let dry = a.dryrun || a.sched.dry_run;
    let bypass = match (&a.bypass_file, phase) {
        (Some(f), Phase::Validate) => Some(projects::read_bypass_file(f)?),
        _ => None,
    };
    let opts = PhaseOptions {
        mem_allowed: a.mem_allowed,
        bypass,
        force: a.force || a.sel.thorough,
        new_version: a.new_version,
        cloud_format: a.cloud_format.clone(),
        concat_dims: a.concat_dims,
        dedupe: a.dedupe,
        sample: a.sample,
        control: cx.control.clone(),
        ..base.unwrap_or_default()
    };
    if dry && !a.parallel {
        let rows = phases::plan_phase(&g, &sel, phase, &opts)?;
        out.either(&json!({"group": g.name, "phase": phase, "dry_run": true, "projects": rows}), || {
            for r in &rows {
                let verb = r.why_not.as_deref().map_or_else(|| "would run".to_string(), |w| format!("would be left: {w}"));
                println!("{} [{}] {}: {verb}", r.code, r.index, r.status);
            }
            out.info(&format!("{} {} dry run: {} project(s), nothing written", g.name, phase.name(), rows.len()));
        });
        return Ok(exit::OK);
    }
    // A dry run writes nothing, not even -C and --CFA.
    if !dry {
        phases::record_formats(&g, &sel.codes(&g)?, a.cloud_format.as_deref(), a.cfa.as_deref().map(|c| c != "n"))?;
    }
    if a.parallel {
        let mut req = scheduler_request(&a.sched, TaskBounds { time_s: a.time_allowed, mem_mb: a.memory, per_task: a.sel.subset }, &a.sel.repeat_id);
        req.dry_run |= a.dryrun;
        let r = phases::submit_phase(&g, &sel, phase, &opts, &req)?;
        if r.submissions.is_empty() {
            out.info(&format!("{} {}: nothing to submit (every selected project has done this phase; -f to redo)", g.name, phase.name()));
            if !out.human() {
                out.json(&json!({"group": g.name, "phase": phase, "submissions": []}));
            }
            return Ok(exit::OK);
        }
        render_submission(out, &r);
        return Ok(exit::OK);
    }
    let human = out.human() && !out.quiet;
    let on_done = |o: &api::Outcome| {
        if human && (!o.ok || o.status == crate::pipeline::BUSY) {
            let msg = o.message.clone().unwrap_or_default();
            eprintln!("{}{} [{}]: {} - {msg}", if std::io::stderr().is_terminal() { "\r" } else { "" }, o.code, o.index, o.status);
        }
    };
    let r = phases::run_phase(&g, &sel, phase, &opts, a.jobs, &on_done)?;
    out.either(&r, || {
        let parts: Vec<String> = r.histogram().iter().map(|(k, v)| format!("{k}: {v}")).collect();
        out.info(&format!(
            "{} {}: {} project(s) in {:.2} s - {}{}",
            g.name,
            phase.name(),
            r.ran,
            r.seconds,
            parts.join(", "),
            if r.failed > 0 { format!(" (see `padocc status -G {}`)", g.name) } else { String::new() }
        ));
    });
    Ok(r.exit_code())
}

fn render_submission(out: &Out, r: &phases::SubmitResult) {
    out.either(r, || {
        for s in &r.submissions {
            out.info(&format!(
                "{} {}: {} project(s) in {} task(s), {} and {} MB each -> {} {}",
                r.group,
                r.phase.name(),
                s.projects,
                s.tasks,
                crate::scheduler::hms(s.time_s),
                s.mem_mb,
                r.scheduler,
                s.job_id.as_deref().map(|j| format!("job {j}")).unwrap_or_else(|| "(dry run)".into())
            ));
        }
        if !r.dry_run {
            out.info(&format!("follow it with: padocc status -G {} --watch", r.group));
        }
    });
}

/// `padocc shepard <mode>`: modes that change flocks run under SHEPARD's lock;
/// a second instance says who holds it and exits 0 (cron must not mail errors
/// every hour while a long pass runs).
fn shepard(mode: ShepardMode, conf: &crate::shepard::Conf, req: &crate::shepard::PassRequest, autolog: bool, cycles: u64, interval: u64, cx: &Ctx) -> Result<i32> {
    use crate::shepard::{self, Job, Outcome};
    let out = cx.out;
    let job = match mode {
        ShepardMode::Status => {
            let s = shepard::status(conf)?;
            out.either(&s, || print!("{}", shepard::render_status(&s)));
            return Ok(exit::OK);
        }
        ShepardMode::Batch => Job::Batch,
        ShepardMode::Continuous => Job::Continuous,
        ShepardMode::Quarantine => Job::Quarantine,
        ShepardMode::Scrub => Job::Scrub,
        ShepardMode::Clear => Job::Clear,
        ShepardMode::Delete => Job::Delete,
    };
    let passes = if job == Job::Continuous { cycles.max(1) } else { 1 };
    let mut code = exit::OK;
    for i in 0..passes {
        if cx.control.cancel.is_cancelled() {
            return Ok(exit::INTERRUPTED);
        }
        let started = std::time::Instant::now();
        let (text, doc, failed) = match shepard::run_locked(conf, job, req)? {
            Outcome::Busy(h) => {
                let msg = format!("padocc shepard: another pass holds {}: {h}; leaving it to finish", shepard::logs_dir(conf).join("shepard.lock").display());
                out.either(&json!({"busy": true, "holder": h.to_string()}), || out.info(&msg));
                if job != Job::Continuous {
                    return Ok(exit::OK);
                }
                sleep_until(started, interval, cx);
                continue;
            }
            Outcome::Pass(r) => (shepard::render_pass(&r), serde_json::to_value(&r).unwrap_or_default(), !r.errors.is_empty()),
            Outcome::Maintenance(m) => {
                let mut t = format!("shepard {}{}: {} done\n", m.mode, if req.dry_run { " (dry run)" } else { "" }, m.done.len());
                for (f, p, d) in &m.done {
                    t.push_str(&format!("  {f} {p} {d}\n"));
                }
                for e in &m.errors {
                    t.push_str(&format!("  error: {e}\n"));
                }
                (t, serde_json::to_value(&m).unwrap_or_default(), !m.errors.is_empty())
            }
        };
        if autolog {
            shepard::autolog(conf, &text)?;
        }
        out.either(&doc, || print!("{text}"));
        if failed {
            code = exit::SOME_FAILED;
        }
        if i + 1 < passes {
            sleep_until(started, interval, cx);
        }
    }
    Ok(code)
}

/// Sleep until `interval` seconds after `started`, waking for Ctrl-C.
fn sleep_until(started: std::time::Instant, interval: u64, cx: &Ctx) {
    let end = started + std::time::Duration::from_secs(interval);
    while std::time::Instant::now() < end && !cx.control.cancel.is_cancelled() {
        std::thread::sleep(std::time::Duration::from_millis(200).min(end.saturating_duration_since(std::time::Instant::now())));
    }
}
