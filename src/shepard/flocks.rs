//! Flocks: the groups of the flock_dir SHEPARD drives, and new ones made
//! from the manifests dropped in `sweep_dir`.
//!
//! Every step that turns manifests into a flock can be killed and redone:
//! the manifests of a flock being made are first moved (renames, atomic)
//! into a staging directory `cache_dir/.flock-<name>/`, which the next pass
//! finishes if this one did not. A group file `<G>.csv` is renamed to
//! `<G>.csv_` (padocc's marker) while its flock is made. So a manifest is in
//! exactly one place at every moment, and becomes exactly one flock.

use std::path::{Path, PathBuf};

use super::conf::Conf;
use crate::error::{Error, Result};
use crate::workdir::{check_name, Workdir};

/// The group quarantined projects are moved to.
pub const QUARANTINE: &str = "shp_quarantine";
/// The group projects that failed with a data error are retried in.
pub const SIDELINE: &str = "shp_sideline";
/// A group holding this file is left alone.
pub const IGNORE_MARKER: &str = ".shpignore";

/// The flocks a pass drives: every group but the quarantine and those marked
/// to be ignored (the sideline is one of them).
pub fn list(wd: &Workdir) -> Vec<String> {
    wd.groups().into_iter().filter(|g| g != QUARANTINE && !wd.group_dir(g).join(IGNORE_MARKER).exists()).collect()
}

/// Flocks that count against `flock_limit`: the sideline does not.
pub fn active(wd: &Workdir) -> usize {
    list(wd).iter().filter(|g| *g != SIDELINE).count()
}

/// A flock made from manifests in this pass.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Made {
    pub flock: String,
    pub projects: usize,
    /// The manifest files it came from.
    pub from: Vec<String>,
}

/// What happened to the manifests in this pass.
#[derive(Debug, Default, serde::Serialize)]
pub struct Intake {
    /// Moved from `sweep_dir` to `cache_dir`.
    pub swept: Vec<String>,
    pub made: Vec<Made>,
    /// Manifests left waiting in `cache_dir` (flock_limit reached).
    pub waiting: usize,
    /// Manifests set aside in `cache_dir/rejected/`, with why.
    pub rejected: Vec<(String, String)>,
}

fn is_manifest(p: &Path) -> bool {
    p.is_file() && p.extension().is_some_and(|x| x == "txt" || x == "csv")
}

fn sorted_entries(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir).into_iter().flatten().flatten().map(|e| e.path()).collect();
    v.sort();
    v
}

fn file_name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Move `from` to `to`: a rename, or across filesystems a copy made whole
/// before the original goes (so a kill leaves at worst two copies, and the
/// sweep's next look finds the one in `cache_dir` already there).
fn move_file(from: &Path, to: &Path) -> Result<()> {
    match std::fs::rename(from, to) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
            let bytes = std::fs::read(from).map_err(|e| Error::input_io(from, e))?;
            crate::fsutil::write_file_atomic(to, |w| std::io::Write::write_all(w, &bytes).map_err(|e| Error::output(to, e)))?;
            std::fs::remove_file(from).map_err(|e| Error::output(from, e))
        }
        Err(e) => Err(Error::output(to, e)),
    }
}

/// Set a manifest aside in `cache_dir/rejected/`, with a `.why` beside it.
fn reject(cache: &Path, path: &Path, why: &str, intake: &mut Intake) -> Result<()> {
    let dir = cache.join("rejected");
    std::fs::create_dir_all(&dir).map_err(|e| Error::output(&dir, e))?;
    let dest = dir.join(file_name(path));
    move_file(path, &dest)?;
    let why_path = dir.join(format!("{}.why", file_name(path)));
    std::fs::write(&why_path, format!("{why}\n")).map_err(|e| Error::output(&why_path, e))?;
    intake.rejected.push((file_name(path), why.to_string()));
    Ok(())
}

/// Sweep, then make flocks within `flock_limit`: `.txt` manifests (one
/// project each, named after the file) in flocks of `flock_size_limit`, and
/// `<G>.csv` group files as flocks named `G`. With `dry_run`, only says what
/// would be swept and made.
pub fn intake(wd: &Workdir, conf: &Conf, dry_run: bool) -> Result<Intake> {
    let mut intake = Intake::default();
    let Some(cache) = &conf.cache_dir else { return Ok(intake) };
    if let Some(sweep) = &conf.sweep_dir {
        for p in sorted_entries(sweep).into_iter().filter(|p| is_manifest(p)) {
            let dest = cache.join(file_name(&p));
            if dest.exists() {
                // Two manifests of one name: the waiting one is not replaced.
                tracing::warn!("{} waits: {} already holds a manifest of that name", p.display(), cache.display());
                continue;
            }
            if !dry_run {
                std::fs::create_dir_all(cache).map_err(|e| Error::output(cache, e))?;
                move_file(&p, &dest)?;
            }
            intake.swept.push(file_name(&p));
        }
    }
    if dry_run {
        intake.waiting = sorted_entries(cache).into_iter().filter(|p| is_manifest(p)).count() + intake.swept.len();
        return Ok(intake);
    }
    // Flocks a killed pass left half-made come first: they are already counted.
    for p in sorted_entries(cache) {
        let name = file_name(&p);
        if let Some(flock) = name.strip_prefix(".flock-") {
            let made = finish_txt_flock(wd, &p, flock)?;
            intake.made.push(made);
        } else if let Some(stem) = name.strip_suffix(".csv_") {
            intake.made.push(finish_csv_flock(wd, &p, stem)?);
        }
    }
    let mut room = conf.flock_limit.saturating_sub(active(wd));
    let entries: Vec<PathBuf> = sorted_entries(cache).into_iter().filter(|p| is_manifest(p)).collect();
    let mut txts = Vec::new();
    for p in entries.iter().filter(|p| p.extension().is_some_and(|x| x == "txt")) {
        let stem = p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        // Checked one by one: a manifest naming a missing file must not hold
        // back the others of its flock (padocc 1.5.1 crashed every pass on one).
        let checked = check_name("project", &stem).map_err(|e| e.to_string()).and_then(|()| crate::pipeline::init::expand(&p.display().to_string()).map(|_| ()));
        match checked {
            Ok(()) => txts.push(p.clone()),
            Err(e) => reject(cache, p, &e, &mut intake)?,
        }
    }
    for chunk in txts.chunks(conf.flock_size_limit) {
        if room == 0 {
            intake.waiting += chunk.len();
            continue;
        }
        let flock = new_flock_name(wd, cache, &conf.deployment_label);
        let staging = cache.join(format!(".flock-{flock}"));
        std::fs::create_dir(&staging).map_err(|e| Error::output(&staging, e))?;
        for p in chunk {
            std::fs::rename(p, staging.join(file_name(p))).map_err(|e| Error::output(p, e))?;
        }
        match finish_txt_flock(wd, &staging, &flock) {
            Ok(made) => intake.made.push(made),
            Err(e) => {
                for p in sorted_entries(&staging) {
                    reject(cache, &p, &format!("flock {flock} could not be made from it: {e}"), &mut intake)?;
                }
                let _ = std::fs::remove_dir_all(&staging);
                let _ = crate::workdir::group::delete_group(&crate::workdir::group::GroupDir::create(wd, &flock)?);
            }
        }
        room -= 1;
    }
    for p in entries.iter().filter(|p| p.extension().is_some_and(|x| x == "csv")) {
        let stem = p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        if let Err(e) = check_name("group", &stem) {
            reject(cache, p, &e.to_string(), &mut intake)?;
            continue;
        }
        if wd.group_dir(&stem).exists() {
            reject(cache, p, &format!("a group '{stem}' exists already in {}; rename the file to make another flock", wd.root.display()), &mut intake)?;
            continue;
        }
        if room == 0 {
            intake.waiting += 1;
            continue;
        }
        let marked = p.with_extension("csv_");
        std::fs::rename(p, &marked).map_err(|e| Error::output(p, e))?;
        match finish_csv_flock(wd, &marked, &stem) {
            Ok(made) => intake.made.push(made),
            Err(e) => {
                let _ = crate::workdir::group::delete_group(&crate::workdir::group::GroupDir::create(wd, &stem)?);
                let back = cache.join(format!("{stem}.csv"));
                std::fs::rename(&marked, &back).map_err(|e| Error::output(&marked, e))?;
                reject(cache, &back, &e.to_string(), &mut intake)?;
            }
        }
        room -= 1;
    }
    Ok(intake)
}

/// `<label>_<d>_<m>_<Y>_<H><M><S>` as padocc names them; a suffix when
/// several are made in one second.
fn new_flock_name(wd: &Workdir, cache: &Path, label: &str) -> String {
    let t = crate::workdir::project::local_tm();
    let base = format!("{label}_{}_{}_{}_{:02}{:02}{:02}", t.tm_mday, t.tm_mon + 1, t.tm_year + 1900, t.tm_hour, t.tm_min, t.tm_sec);
    let free = |n: &str| !wd.group_dir(n).exists() && !cache.join(format!(".flock-{n}")).exists();
    if free(&base) {
        return base;
    }
    (2..).map(|k| format!("{base}_{k}")).find(|n| free(n)).expect("some suffix is free")
}

/// `HHMM_ddmmYYYY`, padocc's stamp for logs, summaries and rejected lists.
pub fn stamp() -> String {
    let t = crate::workdir::project::local_tm();
    format!("{:02}{:02}_{:02}{:02}{}", t.tm_hour, t.tm_min, t.tm_mday, t.tm_mon + 1, t.tm_year + 1900)
}

/// Make (or finish making) flock `flock` from the `.txt` manifests in
/// `staging`: each is kept in the flock's `manifests/` (its projects'
/// pattern), then the group is initialised and the staging directory goes.
fn finish_txt_flock(wd: &Workdir, staging: &Path, flock: &str) -> Result<Made> {
    check_name("group", flock)?;
    let manifests = wd.group_dir(flock).join("manifests");
    std::fs::create_dir_all(&manifests).map_err(|e| Error::output(&manifests, e))?;
    let mut lines = Vec::new();
    let mut from = Vec::new();
    for p in sorted_entries(staging).into_iter().filter(|p| p.extension().is_some_and(|x| x == "txt")) {
        let kept = manifests.join(file_name(&p));
        let bytes = std::fs::read(&p).map_err(|e| Error::input_io(&p, e))?;
        crate::fsutil::write_file_atomic(&kept, |w| std::io::Write::write_all(w, &bytes).map_err(|e| Error::output(&kept, e)))?;
        let stem = p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        lines.push(format!("{stem},{},,", kept.display()));
        from.push(file_name(&p));
    }
    let csv = staging.join("flock.csv");
    crate::fsutil::write_file_atomic(&csv, |w| std::io::Write::write_all(w, lines.join("\n").as_bytes()).map_err(|e| Error::output(&csv, e)))?;
    let made = crate::api::projects::init_group(wd, flock, &csv, true, &Default::default())?;
    std::fs::remove_dir_all(staging).map_err(|e| Error::output(staging, e))?;
    Ok(Made { flock: flock.to_string(), projects: made.total, from })
}

/// Make (or finish making) flock `flock` from a group file renamed `<G>.csv_`.
fn finish_csv_flock(wd: &Workdir, marked: &Path, flock: &str) -> Result<Made> {
    check_name("group", flock)?;
    // init takes a `.csv`: a copy out of the manifests' way (a kill must not
    // leave a `.csv` the next sweep would take for a group file).
    let making = marked.parent().unwrap_or(Path::new(".")).join(".making");
    std::fs::create_dir_all(&making).map_err(|e| Error::output(&making, e))?;
    let csv = making.join(format!("{flock}.csv"));
    std::fs::copy(marked, &csv).map_err(|e| Error::output(&csv, e))?;
    let made = crate::api::projects::init_group(wd, flock, &csv, true, &Default::default());
    let _ = std::fs::remove_file(&csv);
    let made = made?;
    std::fs::remove_file(marked).map_err(|e| Error::output(marked, e))?;
    Ok(Made { flock: flock.to_string(), projects: made.total, from: vec![format!("{flock}.csv")] })
}
