//! `padocc shepard`: unattended passes over a flock_dir, as cron runs them:
//! on the real local SLURM (escalation, quarantine, a manifest arriving
//! mid-way, products checked by the real clients), two passes at once, passes
//! killed at random points, and a flock_dir written by padocc 1.5.1's own
//! SHEPARD.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn shepard(conf: &Path, mode: &str, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_padocc"));
    c.args(["shepard", mode, "--conf"]).arg(conf).args(extra).env_remove("WORKDIR");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run padocc shepard")
}

fn pass_json(conf: &Path, extra: &[&str], env: &[(&str, &str)]) -> serde_json::Value {
    let mut args = vec!["--format", "json"];
    args.extend_from_slice(extra);
    let o = shepard(conf, "batch", &args, env);
    assert!(o.status.code().is_some_and(|c| c == 0 || c == 1), "shepard batch: {:?}\n{}", o.status, stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", String::from_utf8_lossy(&o.stdout), stderr(&o)))
}

fn padocc_ok(wd: &Path, args: &[&str]) {
    let o = Command::new(env!("CARGO_BIN_EXE_padocc")).arg("-w").arg(wd).args(args).env_remove("WORKDIR").output().unwrap();
    assert!(o.status.success(), "padocc {args:?}: {}", stderr(&o));
}

struct Site {
    root: PathBuf,
    conf: PathBuf,
    flocks: PathBuf,
    complete: PathBuf,
    sweep: PathBuf,
}

fn site(root: &Path, extra_conf: &str) -> Site {
    let s = Site { root: root.into(), conf: root.join("conf.yaml"), flocks: root.join("flocks"), complete: root.join("complete"), sweep: root.join("sweep") };
    std::fs::create_dir_all(&s.sweep).unwrap();
    std::fs::create_dir_all(&s.flocks).unwrap();
    // padocc 1.5.1's keys, as its docs give them.
    std::fs::write(
        &s.conf,
        format!(
            "source_venv: {root}/venv\nbatch_limit: 1000\nflock_dir: {root}/flocks\ncomplete_dir: {root}/complete\nobliterate_quarantine: false\n\
             sweep_dir: {root}/sweep\ncache_dir: {root}/cache\nflock_size_limit: 100\nflock_limit: 20\ndeployment_label: 'SHEPARD'\n{extra_conf}",
            root = root.display()
        ),
    )
    .unwrap();
    // `source_venv` is activated in job scripts: a real (empty) one.
    std::fs::create_dir_all(root.join("venv/bin")).unwrap();
    std::fs::write(root.join("venv/bin/activate"), format!("touch {}/venv-activated\n", root.display())).unwrap();
    s
}

/// A project that cannot be combined: files of two unrelated datasets.
fn mixed(dir: &Path) -> PathBuf {
    let p = dir.join("mixed-files.txt");
    std::fs::write(&p, format!("{}\n{}\n", series("padocc-1DAgg")[0].display(), series("cmip6-FGOALS-g3-Amon-ta")[0].display())).unwrap();
    p
}

fn manifest(dir: &Path, code: &str, files: &[PathBuf]) {
    let text: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    std::fs::write(dir.join(format!("{code}.txt")), text.join("\n") + "\n").unwrap();
}

/// Files published for `code` (kerchunk JSON by default).
fn published(s: &Site, code: &str) -> PathBuf {
    s.complete.join("data").join(format!("{code}_k1.0.json"))
}

fn quarantine_reasons(s: &Site) -> String {
    std::fs::read_to_string(s.flocks.join("groups/shp_quarantine/reasons.csv")).unwrap_or_default()
}

/// How the shared set's manifest says a series is compared with its sources.
fn checker_args(name: &str) -> Vec<String> {
    let m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(testdata("MANIFEST.json")).unwrap()).unwrap();
    let case = m["series"].as_array().unwrap().iter().find(|c| c["name"] == name).expect("a shared series");
    let mut args: Vec<String> = case["checker_args"].as_array().map(|a| a.iter().map(|x| x.as_str().unwrap().to_string()).collect()).unwrap_or_default();
    match case["combine"].as_str() {
        Some("by_coords") => args.extend(["--combine".into(), "by_coords".into()]),
        _ => args.extend(["--concat-dim".into(), case["concat_dim"].as_str().unwrap_or("time").into()]),
    }
    provenance_ignored(&args)
}

/// Check many products (each of a shared series) against their sources in
/// one interpreter.
fn check_all(cases: &[(PathBuf, &str)], dir: &Path) {
    let st = Command::new("bash").arg(repo().join("scripts/refenv.sh")).status().unwrap();
    assert!(st.success(), "the Python client environments could not be created");
    let list: Vec<Vec<String>> = cases
        .iter()
        .map(|(p, name)| std::iter::once(p.display().to_string()).chain(series(name).iter().map(|s| s.display().to_string())).chain(checker_args(name)).collect())
        .collect();
    let jf = dir.join("cases.json");
    std::fs::write(&jf, serde_json::to_string(&list).unwrap()).unwrap();
    let o = Command::new("/tmp/refenv/bin/python").arg(repo().join("tests/support/check_many.py")).arg(shared().join("tools/check_refs.py")).arg(&jf).output().unwrap();
    assert!(o.status.success(), "products differ from their sources:\n{}\n{}", String::from_utf8_lossy(&o.stdout), stderr(&o));
}

const SERIES: [&str; 5] = ["padocc-1DAgg", "padocc-3DAgg", "cmip6-FGOALS-g3-Amon-ta", "cmip6-BCC-CSM2-MR-day-ta", "arm-sgp30ebbrE32-b1"];

/// The issue's whole story on the real SLURM: 3 flocks of 21 projects, one
/// that cannot be combined (quarantined, saying why), one that runs out of
/// memory once (escalated, then published), a manifest dropped mid-way (a new
/// flock, published); `shepard batch --parallel` every few seconds until
/// nothing changes; every published product equals its sources.
#[test]
fn shepard_on_slurm_publishes_every_flock_escalates_and_quarantines() {
    let st = Command::new("bash").arg(repo().join("slurm/start-local-slurm.sh")).stdout(Stdio::null()).status().expect("start local slurm");
    assert!(st.success(), "the local SLURM did not start");
    let d = tempfile::tempdir_in("/tmp").unwrap();
    let s = site(d.path(), "");
    std::fs::write(
        s.flocks.join("padocc.toml"),
        "scheduler = \"slurm\"\n[resources]\nfloor_time_s = 120\ncap_time_s = 900\nfloor_mem_mb = 256\ncap_mem_mb = 2048\npack_seconds = 60\n",
    )
    .unwrap();
    let mut sources: Vec<(String, &str)> = Vec::new();
    let bad = mixed(d.path());
    for f in 1..=3 {
        let mut csv = String::new();
        for i in 0..21 {
            let code = format!("f{f}p{i:02}");
            let (code, pattern) = match (f, i) {
                (1, 7) => ("bad".to_string(), bad.display().to_string()),
                (2, 3) => ("hog".to_string(), format!("{}/*.nc", testdata("series/padocc-1DAgg").display())),
                _ => {
                    let name = SERIES[(f + i) % SERIES.len()];
                    sources.push((code.clone(), name));
                    (code, format!("{}/*.nc", testdata(&format!("series/{name}")).display()))
                }
            };
            csv.push_str(&format!("{code},{pattern},,\n"));
        }
        let p = d.path().join(format!("flock{f}.csv"));
        std::fs::write(&p, csv).unwrap();
        padocc_ok(&s.flocks, &["init", "-G", &format!("flock{f}"), "-i", p.to_str().unwrap()]);
    }
    sources.push(("hog".into(), "padocc-1DAgg"));
    let marks = d.path().join("marks");
    std::fs::create_dir_all(&marks).unwrap();
    let env = [("PADOCC_TEST_FAULTS", "hog:oomonce"), ("PADOCC_TEST_FAULTS_DIR", marks.to_str().unwrap())];

    let t0 = Instant::now();
    let mut reports = Vec::new();
    let mut quiet = 0;
    for n in 0.. {
        if n == 3 {
            // A new dataset arrives while the others are under way.
            manifest(&s.sweep, "late", &series("padocc-3DAgg"));
            sources.push(("late".into(), "padocc-3DAgg"));
        }
        let r = pass_json(&s.conf, &["--parallel"], &env);
        let busy = r["flocks"].as_u64().unwrap_or(1) > 0 || r["actions"].as_array().is_some_and(|a| !a.is_empty());
        quiet = if busy || n < 4 { 0 } else { quiet + 1 };
        reports.push(r);
        if quiet >= 2 {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(1200),
            "SHEPARD did not finish in 20 minutes; last passes:\n{:#}",
            serde_json::json!(reports[reports.len().saturating_sub(3)..])
        );
        std::thread::sleep(Duration::from_secs(3));
    }
    let all = serde_json::json!(reports);
    let text = all.to_string();
    // Escalated: hog ran out of memory once and was resubmitted with more.
    let escalated =
        reports.iter().flat_map(|r| r["actions"].as_array().cloned().unwrap_or_default()).any(|a| a["why"] == "more_memory" && a["projects"].to_string().contains("\"hog\""));
    assert!(escalated, "hog was not escalated:\n{all:#}");
    assert!(marks.join("hog.oomonce").exists(), "the out-of-memory hook never ran");
    // padocc's SHEPARD job names.
    let named = Command::new("sacct").args(["-n", "-X", "--name", "PADOCC_flock1-SHEPARD_scan", "-o", "JobID", "-S", "now-1hour"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&named.stdout).trim().is_empty(), "no job named PADOCC_flock1-SHEPARD_scan");
    // The manifest became a flock.
    assert!(text.contains("late.txt"), "the late manifest made no flock:\n{all:#}");
    // Quarantined, saying why; nothing else was.
    let reasons = quarantine_reasons(&s);
    assert!(reasons.starts_with("bad,flock1,") && reasons.contains("cannot be combined"), "{reasons}");
    assert_eq!(reasons.lines().count(), 1, "{reasons}");
    // Every other project published, every flock retired with a summary.
    for (code, _) in &sources {
        assert!(published(&s, code).exists(), "{code} was not published:\n{all:#}");
    }
    let summaries = std::fs::read_dir(s.complete.join("summaries")).unwrap().count();
    assert_eq!(summaries, 4, "one summary per flock");
    let left: Vec<String> = std::fs::read_dir(s.flocks.join("groups")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(left, vec!["shp_quarantine".to_string()], "flocks left behind");
    assert!(d.path().join("venv-activated").exists(), "job scripts did not activate source_venv");
    let status = shepard(&s.conf, "status", &[], &[]);
    assert!(String::from_utf8_lossy(&status.stdout).contains("bad (from flock1"), "{}", String::from_utf8_lossy(&status.stdout));
    let cases: Vec<(PathBuf, &str)> = sources.iter().map(|(c, name)| (published(&s, c), *name)).collect();
    check_all(&cases, d.path());
}

/// A flock_dir of `n` manifests in the sweep (flocks of 2), plus one that
/// cannot be combined.
fn swept_site(root: &Path, n: usize) -> Site {
    let s = site(root, "");
    std::fs::write(&s.conf, std::fs::read_to_string(&s.conf).unwrap().replace("flock_size_limit: 100", "flock_size_limit: 2")).unwrap();
    for i in 0..n {
        manifest(&s.sweep, &format!("ds{i}"), &series(SERIES[i % SERIES.len()]));
    }
    let bad = mixed(root);
    std::fs::copy(&bad, s.sweep.join("bad.txt")).unwrap();
    s
}

/// Passes (in-process) until one changes nothing; at most `max`.
fn settle(s: &Site, max: usize) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for _ in 0..max {
        let r = pass_json(&s.conf, &[], &[]);
        let changed = r["actions"].as_array().is_some_and(|a| !a.is_empty()) || r["intake"]["made"].as_array().is_some_and(|a| !a.is_empty());
        out.push(r);
        if !changed {
            return out;
        }
    }
    panic!("still changing after {max} passes: {:#}", serde_json::json!(out));
}

/// Two passes started at once: one runs, the other says who holds the lock
/// and exits 0.
#[test]
fn a_second_pass_leaves_the_flock_dir_to_the_first() {
    let d = tempfile::tempdir_in("/tmp").unwrap();
    let s = swept_site(d.path(), 40);
    let spawn = || Command::new(env!("CARGO_BIN_EXE_padocc")).args(["shepard", "batch", "--conf"]).arg(&s.conf).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let a = spawn();
    let lock = s.flocks.join("shp_logs/shepard.lock");
    let t0 = Instant::now();
    while !lock.exists() {
        assert!(t0.elapsed() < Duration::from_secs(30), "the first pass never took the lock");
        std::thread::sleep(Duration::from_millis(2));
    }
    let b = spawn().wait_with_output().unwrap();
    let a = a.wait_with_output().unwrap();
    assert_eq!(a.status.code(), Some(0), "{}", stderr(&a));
    assert_eq!(b.status.code(), Some(0), "{}", stderr(&b));
    let ta = String::from_utf8_lossy(&a.stdout).to_string();
    let tb = String::from_utf8_lossy(&b.stdout).to_string() + &stderr(&b);
    assert!(ta.contains("new flock"), "{ta}");
    assert!(tb.contains("another pass holds") && tb.contains("shepard batch on") && tb.lines().count() == 1, "{tb}");
}

/// Passes SIGKILLed at points spread over a whole pass: the next passes
/// finish the work, with every dataset published once, in one flock, and
/// nothing left behind.
#[test]
fn passes_killed_at_random_points_are_finished_by_the_next() {
    let d = tempfile::tempdir_in("/tmp").unwrap();
    // How long an uninterrupted pass takes here.
    let clean = swept_site(&d.path().join("clean"), 6);
    let t0 = Instant::now();
    let first = pass_json(&clean.conf, &[], &[]);
    let whole = t0.elapsed();
    assert_eq!(first["intake"]["made"].as_array().map(Vec::len), Some(4), "{first:#}");
    let trials = 12;
    for k in 0..trials {
        let s = swept_site(&d.path().join(format!("t{k}")), 6);
        let mut child = Command::new(env!("CARGO_BIN_EXE_padocc")).args(["shepard", "batch", "--conf"]).arg(&s.conf).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        // Spread over the pass, from the lock's taking to its last retirement.
        std::thread::sleep(whole.mul_f64(k as f64 / trials as f64 * 1.1));
        let _ = child.kill();
        let _ = child.wait();
        settle(&s, 6);
        for i in 0..6 {
            assert!(published(&s, &format!("ds{i}")).exists(), "trial {k}: ds{i} not published");
        }
        let reasons = quarantine_reasons(&s);
        assert_eq!(reasons.lines().filter(|l| l.starts_with("bad,")).count(), 1, "trial {k}: {reasons}");
        // One flock per pair of manifests, each summarised once.
        let summaries = std::fs::read_dir(s.complete.join("summaries")).unwrap().count();
        assert_eq!(summaries, 4, "trial {k}");
        let groups: Vec<String> = std::fs::read_dir(s.flocks.join("groups")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        assert_eq!(groups, vec!["shp_quarantine".to_string()], "trial {k}");
        let quarantined = std::fs::read_to_string(s.flocks.join("groups/shp_quarantine/proj_codes/main.txt")).unwrap();
        assert_eq!(quarantined.trim(), "bad", "trial {k}");
        let cache: Vec<_> = std::fs::read_dir(s.root.join("cache")).unwrap().map(|e| e.unwrap().file_name()).filter(|n| n != ".making").collect();
        assert!(cache.is_empty(), "trial {k}: left in the cache: {cache:?}");
        assert_eq!(std::fs::read_dir(&s.sweep).unwrap().count(), 0, "trial {k}");
    }
}

/// A conf with an unknown key is refused, naming the key; `--dry-run`
/// changes nothing; `status` and `--format json` work on an empty flock_dir.
#[test]
fn conf_errors_dry_runs_and_status() {
    let d = tempfile::tempdir_in("/tmp").unwrap();
    let s = swept_site(d.path(), 2);
    let bad = d.path().join("bad.yaml");
    std::fs::write(&bad, std::fs::read_to_string(&s.conf).unwrap() + "batch_limt: 3\n").unwrap();
    let o = shepard(&bad, "batch", &[], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("batch_limt"), "{}", stderr(&o));
    let o = shepard(&s.conf, "batch", &["-d"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("dry run"));
    assert_eq!(std::fs::read_dir(&s.sweep).unwrap().count(), 3, "a dry run swept manifests");
    let o = shepard(&s.conf, "status", &["--format", "json"], &[]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["waiting_manifests"], 3, "{v:#}");
    // A manifest naming a file that is not there is set aside with why; the
    // others of its flock go on.
    std::fs::write(s.sweep.join("ghost.txt"), "/nonexistent/ghost.nc\n").unwrap();
    // Run it all, then look again.
    settle(&s, 4);
    let why = std::fs::read_to_string(s.root.join("cache/rejected/ghost.txt.why")).unwrap();
    assert!(why.contains("/nonexistent/ghost.nc") && why.contains("does not exist"), "{why}");
    assert!(published(&s, "ds0").exists() && published(&s, "ds1").exists());
    let o = shepard(&s.conf, "status", &[], &[]);
    let t = String::from_utf8_lossy(&o.stdout);
    assert!(t.starts_with("Group ID:") && t.contains("Errors: 0") && t.contains("Quarantined (1"), "{t}");
}

/// Failures by reason in `status`, and the maintenance modes: a project
/// marked Redo is redone (not advanced, padocc 1.5.1's bug), `scrub` sends a
/// failed project back to its start, `quarantine` sets failures aside.
#[test]
fn redo_scrub_and_quarantine_modes() {
    let d = tempfile::tempdir_in("/tmp").unwrap();
    let s = site(d.path(), "");
    let csv = d.path().join("g.csv");
    let files = |n: &str| format!("{}/*.nc", testdata(&format!("series/{n}")).display());
    std::fs::write(&csv, format!("a,{},,\nb,{},,\nc,{},,\n", files("padocc-1DAgg"), files("padocc-3DAgg"), files("cmip6-FGOALS-g3-Amon-ta"))).unwrap();
    padocc_ok(&s.flocks, &["init", "-G", "g", "-i", csv.to_str().unwrap()]);
    // Make it a flock SHEPARD leaves alone while we set statuses up.
    padocc_ok(&s.flocks, &["scan", "-G", "g"]);
    padocc_ok(&s.flocks, &["update_status", "-G", "g", "-p", "a", "--old_phase", "scan", "--old_status", "Success", "--new_status", "Redo"]);
    padocc_ok(&s.flocks, &["update_status", "-G", "g", "-p", "b", "--old_phase", "scan", "--old_status", "Success", "--new_status", "Failed-InputError"]);
    padocc_ok(&s.flocks, &["update_status", "-G", "g", "-p", "c", "--old_phase", "scan", "--old_status", "Success", "--new_status", "Failed-InputError"]);
    let t = String::from_utf8_lossy(&shepard(&s.conf, "status", &[], &[]).stdout).to_string();
    assert!(t.contains("g                    -> i: 0 0 0 |s: 2 1 0 |c: 0 0 0 |v: 0 0 0 |c:0, ET: 2"), "{t}");
    assert!(t.contains("2  scan Failed-InputError"), "{t}");
    let o = shepard(&s.conf, "scrub", &[], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = shepard(&s.conf, "quarantine", &["--format", "json"], &[]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["done"].as_array().map(Vec::len), Some(0), "scrubbed projects are not failures: {v:#}");
    let rows = std::fs::read_to_string(s.flocks.join("in_progress/g/b/status_log.csv")).unwrap();
    assert_eq!(rows.lines().filter(|l| !l.is_empty()).count(), 1, "{rows}");
    // Scrub took a back too (Redo is not a success): mark it again.
    padocc_ok(&s.flocks, &["update_status", "-G", "g", "-p", "a", "--old_phase", "init", "--old_status", "Success", "--new_status", "Redo", "--new_phase", "compute"]);
    // One pass: a (Redo of compute) computes again, b and c (back at init) scan.
    let r = pass_json(&s.conf, &["-d"], &[]);
    let acts = r["actions"].to_string();
    assert!(acts.contains(r#""phase":"compute","why":"redo","projects":["a"]"#) && acts.contains(r#""phase":"scan","why":"next","projects":["b","c"]"#), "{acts}");
    padocc_ok(&s.flocks, &["update_status", "-G", "g", "-p", "c", "--old_phase", "init", "--old_status", "Success", "--new_status", "Failed-InputError", "--new_phase", "scan"]);
    let o = shepard(&s.conf, "quarantine", &["--format", "json"], &[]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["done"].as_array().map(Vec::len), Some(1), "{v:#}");
    assert!(quarantine_reasons(&s).starts_with("c,g,"), "{}", quarantine_reasons(&s));
}

/// padocc 1.5.1's own SHEPARD makes a flock from manifests and scans it; this
/// tool's status reads that flock_dir and its passes publish it.
#[test]
fn a_flock_dir_of_padoccs_shepard_is_read_and_finished() {
    let st = Command::new("bash").arg(repo().join("scripts/refenv.sh")).status().unwrap();
    assert!(st.success(), "the reference environment could not be created");
    let d = tempfile::tempdir_in("/tmp").unwrap();
    let dest = d.path().join("padocc");
    let o = Command::new("bash").arg(repo().join("tests/support/padocc_shepard_flockdir.sh")).arg(&dest).output().unwrap();
    assert!(o.status.success(), "padocc 1.5.1's shepard: {}\n{}", String::from_utf8_lossy(&o.stdout), stderr(&o));
    // After padocc's first pass (flock made, scanned): ours takes over.
    let ours = d.path().join("ours");
    std::fs::create_dir_all(&ours).unwrap();
    let cp = Command::new("cp").arg("-a").arg(dest.join("snapshots/pass1")).arg(ours.join("flocks")).status().unwrap();
    assert!(cp.success());
    let s = site(&ours, "");
    let t = String::from_utf8_lossy(&shepard(&s.conf, "status", &[], &[]).stdout).to_string();
    assert!(t.contains("SHEPARD_") && t.contains("|s: 0 0 3 |"), "{t}");
    settle(&s, 6);
    for code in ["rain1", "rain2", "agg1d"] {
        assert!(published(&s, code).exists(), "{code} not published");
    }
    // And padocc's third pass (validated): status reads it as padocc wrote it.
    let t = String::from_utf8_lossy(&shepard(&dest.join("conf.yaml"), "status", &[], &[]).stdout).to_string();
    assert!(t.contains("|v: 0 0 3 |"), "{t}");
}

/// `obliterate_quarantine: true`: a quarantined project is deleted and
/// listed in `rejected/<time>.csv` with its last status and why; `continuous`
/// runs passes until its cycles are done.
#[test]
fn obliterated_quarantine_and_continuous_passes() {
    let d = tempfile::tempdir_in("/tmp").unwrap();
    let s = swept_site(d.path(), 3);
    std::fs::write(&s.conf, std::fs::read_to_string(&s.conf).unwrap().replace("obliterate_quarantine: false", "obliterate_quarantine: true")).unwrap();
    let o = shepard(&s.conf, "continuous", &["--cycles", "3", "--interval", "0", "--autolog"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout).matches("shepard batch at").count(), 3);
    for i in 0..3 {
        assert!(published(&s, &format!("ds{i}")).exists(), "ds{i}");
    }
    let rejected: Vec<PathBuf> = std::fs::read_dir(s.flocks.join("rejected")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(rejected.len(), 1);
    let text = std::fs::read_to_string(&rejected[0]).unwrap();
    assert!(text.starts_with("bad,scan,ConcatFatalError,") && text.contains("cannot be combined"), "{text}");
    assert!(!s.flocks.join("groups/shp_quarantine").exists());
    assert_eq!(std::fs::read_dir(s.flocks.join("in_progress")).unwrap().count(), 0, "the quarantined project's directory is gone");
    let logs = std::fs::read_dir(s.flocks.join("shp_logs")).unwrap().filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("shp_")).count();
    assert!(logs >= 1);
}
