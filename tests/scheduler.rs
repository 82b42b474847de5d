//! Scheduler deployment against a real single-node SLURM (started by the
//! test with slurm/start-local-slurm.sh), and LSF/PBS through fake clients on
//! PATH that replay recorded output.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::*;

fn padocc_env(wd: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_padocc"));
    c.arg("-w").arg(wd).args(args).env_remove("WORKDIR");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run padocc")
}

fn ok(o: Output) -> Output {
    assert!(o.status.success(), "failed: {}\n{}", String::from_utf8_lossy(&o.stdout), stderr(&o));
    o
}

fn status_json(wd: &Path) -> serde_json::Value {
    let o = ok(padocc_env(wd, &["status", "-G", "g", "--format", "json"], &[]));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// Current status of each project, by code.
fn statuses(wd: &Path) -> std::collections::HashMap<String, String> {
    let v = status_json(wd);
    let codes: Vec<String> = std::fs::read_to_string(wd.join("groups/g/proj_codes/main.txt")).unwrap().lines().map(String::from).collect();
    let mut out = std::collections::HashMap::new();
    for (_, st) in v["phases"].as_object().unwrap() {
        for (status, ids) in st.as_object().unwrap() {
            for i in ids.as_array().unwrap() {
                out.insert(codes[i.as_u64().unwrap() as usize].clone(), status.clone());
            }
        }
    }
    out
}

fn wait_settled(wd: &Path, limit: Duration) -> std::collections::HashMap<String, String> {
    let t0 = Instant::now();
    loop {
        let s = statuses(wd);
        if !s.values().any(|v| v == "Pending" || v == "Running") || t0.elapsed() > limit {
            return s;
        }
        std::thread::sleep(Duration::from_secs(3));
    }
}

fn project_csv(dir: &Path, rows: &[(&str, String)]) -> PathBuf {
    let p = dir.join("in.csv");
    let mut t = String::from("proj_code,pattern,updates,removals\n");
    for (c, pat) in rows {
        t.push_str(&format!("{c},{pat},,\n"));
    }
    std::fs::write(&p, t).unwrap();
    p
}

#[test]
fn slurm_arrays_with_oom_timeout_and_errors_then_rerun_failed() {
    let _slurm = start_slurm();
    let d = tempfile::tempdir_in("/tmp").unwrap();
    let wd = d.path().join("wd");
    let series = |s: &str| format!("{}/*.nc", testdata(&format!("series/{s}")).display());
    // A project that cannot be combined: an error in the data, not the scheduler's.
    let mixed = d.path().join("mixed.txt");
    std::fs::write(&mixed, format!("{}\n{}\n", testdata("single/air.nc").display(), series("padocc-1DAgg").replace("*.nc", "file0.nc"))).unwrap();
    let input = project_csv(
        d.path(),
        &[
            ("okA", series("padocc-1DAgg")),
            ("okB", series("cmip6-FGOALS-g3-Amon-ta")),
            ("hog", series("padocc-rain")),
            ("slow", series("cmip6-BCC-CSM2-MR-day-ta")),
            ("bad", mixed.display().to_string()),
        ],
    );
    // Small limits so the scheduler's OOM and TIMEOUT come fast; one project per task.
    std::fs::write(
        wd.parent().unwrap().join("padocc.toml"),
        "scheduler = \"slurm\"\n[resources]\nfloor_time_s = 60\ncap_time_s = 600\nfloor_mem_mb = 200\ncap_mem_mb = 2048\npack_seconds = 0.0001\n",
    )
    .unwrap();
    let cfg = wd.parent().unwrap().join("padocc.toml");
    let cfg = cfg.to_str().unwrap();
    ok(padocc_env(&wd, &["init", "-G", "g", "-i", input.to_str().unwrap()], &[]));
    // scan runs here; "bad" fails here already, which is fine: compute tries it again.
    let _ = padocc_env(&wd, &["scan", "-G", "g"], &[]);
    let faults = [("PADOCC_TEST_FAULTS", "hog:oom,slow:sleep")];
    let o = ok(padocc_env(&wd, &["compute", "-G", "g", "--parallel", "--config", cfg, "--format", "json"], &faults));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["submissions"].as_array().map(|a| a.len()), Some(1), "{v:#}");
    // Every project is Pending with a job id right after submission.
    for (c, s) in statuses(&wd) {
        assert!(s == "Pending" || s == "Running" || s == "Success", "{c}: {s}");
    }
    // padocc's job names, which `squeue --name`/`sacct --name` filters rely on.
    let named = Command::new("sacct").args(["-n", "-X", "--name", "PADOCC_g-main_compute", "-o", "JobID"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&named.stdout).trim().is_empty(), "no job named PADOCC_g-main_compute: {}", stderr(&named));
    let s = wait_settled(&wd, Duration::from_secs(240));
    assert_eq!(s["okA"], "Success", "{s:?}");
    // Each attempt of a phase is kept in the project's phase log, under a header naming its job.
    let log = std::fs::read_to_string(wd.join("in_progress/g/bad/phase_logs/compute.log")).unwrap();
    assert!(log.starts_with("=== compute attempt 1: ") && log.contains(", job ") && log.contains("ConcatFatalError"), "{log}");
    assert_eq!(s["okB"], "Success", "{s:?}");
    assert_eq!(s["hog"], "OUT_OF_MEMORY", "{s:?}");
    assert_eq!(s["slow"], "TIMEOUT", "{s:?}");
    assert_eq!(s["bad"], "ConcatFatalError", "{s:?}");
    let human = String::from_utf8_lossy(&ok(padocc_env(&wd, &["status", "-G", "g"], &[])).stdout).to_string();
    assert!(human.contains("OUT_OF_MEMORY (job") && human.contains("TIMEOUT (job"), "{human}");

    // Rerun: only hog (memory x2) and slow (time x1.5); bad is an error in the data.
    let first_mem = mem_of(&wd, "hog");
    let first_time = time_of(&wd, "slow");
    let o = padocc_env(&wd, &["rerun-failed", "-G", "g", "--config", cfg, "--format", "json"], &[]);
    assert_eq!(o.status.code(), Some(75), "{}", stderr(&o));
    assert_eq!(mem_of(&wd, "hog"), first_mem * 2);
    assert!(time_of(&wd, "slow") >= first_time * 3 / 2, "{} vs {first_time}", time_of(&wd, "slow"));
    let s = wait_settled(&wd, Duration::from_secs(180));
    assert_eq!(s["hog"], "Success", "{s:?}");
    assert_eq!(s["slow"], "Success", "{s:?}");
    assert_eq!(s["bad"], "ConcatFatalError", "{s:?}");
    // Nothing left to rerun (without --include-errors).
    assert_eq!(padocc_env(&wd, &["rerun-failed", "-G", "g", "--config", cfg], &[]).status.code(), Some(0));
}

/// Resources of the newest submission that ran `code`.
fn newest_task(wd: &Path, code: &str) -> serde_json::Value {
    let mut best: Option<(String, serde_json::Value)> = None;
    for e in std::fs::read_dir(wd.join("groups/g/jobs")).unwrap().flatten() {
        let m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(e.path().join("manifest.json")).unwrap()).unwrap();
        let stamp = m["submission"].as_str().unwrap().split('-').nth(1).unwrap().to_string();
        for t in m["tasks"].as_array().unwrap() {
            if t["projects"].as_array().unwrap().iter().any(|p| p == code) && best.as_ref().is_none_or(|b| b.0.parse::<u128>().unwrap() < stamp.parse::<u128>().unwrap()) {
                best = Some((stamp.clone(), t.clone()));
            }
        }
    }
    best.unwrap().1
}

fn mem_of(wd: &Path, code: &str) -> u64 {
    newest_task(wd, code)["mem_mb"].as_u64().unwrap()
}

fn time_of(wd: &Path, code: &str) -> u64 {
    newest_task(wd, code)["time_s"].as_u64().unwrap()
}

/// Write an executable script into `dir`.
fn fake(dir: &Path, name: &str, body: &str) {
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/bash\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn fake_scheduler_group(d: &Path) -> PathBuf {
    let wd = d.join("wd path with spaces");
    let input = project_csv(d, &[("a1", format!("{}/*.nc", testdata("series/padocc-1DAgg").display())), ("a2", testdata("single/air.nc").display().to_string())]);
    ok(padocc_env(&wd, &["init", "-G", "g", "-i", input.to_str().unwrap()], &[]));
    ok(padocc_env(&wd, &["scan", "-G", "g"], &[]));
    wd
}

#[test]
fn lsf_through_fake_bsub_and_bjobs() {
    let d = tempfile::tempdir().unwrap();
    let bin = d.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    // bsub reads the script on stdin; bjobs replays what LSF 10.1 prints.
    fake(&bin, "bsub", &format!("cat > {}/submitted.sh\necho 'Job <4821> is submitted to queue <short-serial>.'", d.path().display()));
    fake(&bin, "bjobs", "cat <<'EOF'\n4821|1|EXIT|137|2.1 Gbytes|TERM_MEMLIMIT: job killed after reaching LSF memory usage limit\n4821|2|EXIT|140|10 Mbytes|TERM_RUNLIMIT: job killed after reaching LSF run time limit\nEOF");
    let wd = fake_scheduler_group(d.path());
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    std::fs::write(d.path().join("site.toml"), "[resources]\npack_seconds = 0.0001\n").unwrap();
    let cfg = d.path().join("site.toml");
    ok(padocc_env(&wd, &["compute", "-G", "g", "--parallel", "--scheduler", "lsf", "--config", cfg.to_str().unwrap()], &[("PATH", &path)]));
    let script = std::fs::read_to_string(d.path().join("submitted.sh")).unwrap();
    assert!(script.contains("#BSUB -J PADOCC_g-main_compute[1-2]"), "{script}");
    assert!(script.contains("#BSUB -o \"") && script.contains("%J_%I.out"), "{script}");
    assert!(script.contains("worker --manifest '"), "{script}");
    let o = ok(padocc_env(&wd, &["status", "-G", "g", "--format", "json"], &[("PATH", &path)]));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let compute = &v["phases"]["compute"];
    assert_eq!(compute["OUT_OF_MEMORY"], serde_json::json!([0]), "{v:#}");
    assert_eq!(compute["TIMEOUT"], serde_json::json!([1]), "{v:#}");
}

#[test]
fn pbs_through_fake_qsub_and_qstat() {
    let d = tempfile::tempdir().unwrap();
    let bin = d.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    fake(&bin, "qsub", &format!("cp \"$1\" {}/submitted.sh\necho '77[].pbs1'", d.path().display()));
    // qstat -x -t -f -F json, as PBS Pro 2022 prints it.
    fake(&bin, "qstat", "cat <<'EOF'\n{\"timestamp\":1732500000,\"pbs_version\":\"2022.1.4\",\"pbs_server\":\"pbs1\",\"Jobs\":{\"77[].pbs1\":{\"job_state\":\"F\"},\"77[1].pbs1\":{\"job_state\":\"F\",\"Exit_status\":-29,\"resources_used\":{\"mem\":\"1048576kb\"}},\"77[2].pbs1\":{\"job_state\":\"R\"}}}\nEOF");
    let wd = fake_scheduler_group(d.path());
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    std::fs::write(d.path().join("site.toml"), "partition = \"short\"\naccount = \"proj1\"\nenv = [\"module load jaspy\"]\n[resources]\npack_seconds = 0.0001\n").unwrap();
    let cfg = d.path().join("site.toml");
    ok(padocc_env(&wd, &["validate", "-G", "g", "--parallel", "--scheduler", "pbs", "--config", cfg.to_str().unwrap()], &[("PATH", &path)]));
    let script = std::fs::read_to_string(d.path().join("submitted.sh")).unwrap();
    for want in ["#PBS -J 1-2", "#PBS -q short", "#PBS -A proj1", "module load jaspy", "#PBS -l walltime="] {
        assert!(script.contains(want), "{want} missing:\n{script}");
    }
    let o = ok(padocc_env(&wd, &["status", "-G", "g", "--format", "json"], &[("PATH", &path)]));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["phases"]["validate"]["TIMEOUT"], serde_json::json!([0]), "{v:#}");
    assert_eq!(v["phases"]["validate"]["Pending"], serde_json::json!([1]), "{v:#}");
}

/// slurm-wlm-torque's qstat (and a site's older PBS) rejects the JSON
/// options: status must still show what the shared filesystem knows.
#[test]
fn status_warns_and_goes_on_when_the_scheduler_cannot_be_asked() {
    let d = tempfile::tempdir().unwrap();
    let bin = d.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    fake(&bin, "qsub", "echo '78[].pbs1'");
    fake(&bin, "qstat", "echo 'Unknown option: x' >&2\nexit 2");
    let wd = fake_scheduler_group(d.path());
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    ok(padocc_env(&wd, &["compute", "-G", "g", "--parallel", "--scheduler", "pbs"], &[("PATH", &path)]));
    let o = ok(padocc_env(&wd, &["status", "-G", "g", "--format", "json"], &[("PATH", &path)]));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("could not ask the scheduler") && err.contains("qstat"), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["phases"]["compute"]["Pending"], serde_json::json!([0, 1]), "{v:#}");
}

#[test]
fn dry_run_prints_the_plan_and_submits_nothing() {
    let d = tempfile::tempdir().unwrap();
    let wd = fake_scheduler_group(d.path());
    let o = ok(padocc_env(&wd, &["compute", "-G", "g", "--parallel", "--dry-run", "--scheduler", "slurm"], &[("PATH", "/nonexistent")]));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("#SBATCH --array=0-0") && out.contains("worker --manifest"), "{out}");
    // Only the in-process scan of the set-up is recorded; no compute submission.
    let subs: Vec<String> = std::fs::read_dir(wd.join("groups/g/jobs")).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    assert!(subs.iter().all(|s| s.starts_with("scan-") && s.ends_with("-local")), "{subs:?}");
}

/// The job scripts each back end renders, as snapshots (tests/snapshots/):
/// LSF and PBS cannot run here, so their scripts are reviewed this way.
#[test]
fn rendered_job_scripts_match_their_snapshots() {
    let d = tempfile::tempdir().unwrap();
    let wd = fake_scheduler_group(d.path());
    let cfg = d.path().join("site.toml");
    std::fs::write(
        &cfg,
        "partition = \"standard\"\naccount = \"ceda\"\nqos = \"high\"\nenv = [\"module load jaspy\"]\ndirectives = [\"--constraint=intel\"]\n[resources]\npack_seconds = 0.0001\n",
    )
    .unwrap();
    for sched in ["slurm", "lsf", "pbs", "local"] {
        let o = ok(padocc_env(&wd, &["compute", "-G", "g", "--parallel", "--dry-run", "--scheduler", sched, "--config", cfg.to_str().unwrap()], &[("PATH", "/nonexistent")]));
        let text = String::from_utf8_lossy(&o.stdout).replace(d.path().to_str().unwrap(), "[TMP]").replace(env!("CARGO_BIN_EXE_padocc"), "[PADOCC]");
        // Submission names carry a clock reading and the process id.
        let digits = |s: &str| s.trim_start_matches(|c: char| c.is_ascii_digit()).to_string();
        let text: String = text
            .split("compute-")
            .enumerate()
            .map(|(i, part)| match i {
                0 => part.to_string(),
                _ => format!("compute-[ID]-{}", digits(digits(part).trim_start_matches('-')).trim_start_matches('-')),
            })
            .collect();
        insta::assert_snapshot!(format!("job_script_{sched}"), text);
    }
}

/// The local back end: the same manifests and worker code, run in-process;
/// chained phases run one after another.
#[test]
fn local_backend_runs_the_same_manifests_in_process() {
    let d = tempfile::tempdir().unwrap();
    let wd = fake_scheduler_group(d.path());
    ok(padocc_env(&wd, &["run", "-G", "g", "--phases", "compute,validate", "--scheduler", "local"], &[("PATH", "/nonexistent")]));
    let o = ok(padocc_env(&wd, &["status", "-G", "g", "--format", "json"], &[("PATH", "/nonexistent")]));
    let st: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(st["phases"]["validate"]["Success"].as_array().map(|a| a.len()), Some(2), "{st:#}");
    // The set-up's plain `scan` (the embedded default) is a recorded local run
    // too: its manifest lists what ran, its outcomes are beside it.
    let all: Vec<_> = std::fs::read_dir(wd.join("groups/g/jobs")).unwrap().flatten().map(|e| e.path()).collect();
    let (plain, jobs): (Vec<_>, Vec<_>) = all.into_iter().partition(|p| p.to_string_lossy().ends_with("-local"));
    assert_eq!(plain.len(), 1, "{plain:?}");
    let m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(plain[0].join("manifest.json")).unwrap()).unwrap();
    assert_eq!((m["scheduler"].as_str(), m["phase"].as_str(), m["tasks"].as_array().map(Vec::len)), (Some("local"), Some("scan"), Some(2)), "{m:#}");
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(plain[0].join("outcomes.json")).unwrap()).unwrap();
    let codes: Vec<&str> = r["results"].as_array().unwrap().iter().map(|o| o["code"].as_str().unwrap()).collect();
    assert_eq!(codes, vec!["a1", "a2"], "{r:#}");
    assert!(r["results"].as_array().unwrap().iter().all(|o| o["status"] == "Success"), "{r:#}");
    // Each submission left its immutable manifest and one record per task.
    assert_eq!(jobs.len(), 2, "{jobs:?}");
    for j in jobs {
        assert!(j.join("manifest.json").is_file() && j.join("submit.sh").is_file());
        let records = std::fs::read_dir(j.join("tasks")).unwrap().flatten().filter(|e| e.path().extension().is_some_and(|x| x == "json")).count();
        assert!(records >= 1, "{}", j.display());
    }
}

/// The SLURM tests share one queue: they take turns, so one test's array
/// cannot hold up another's tasks past its deadlines.
static SLURM: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn start_slurm() -> std::sync::MutexGuard<'static, ()> {
    let guard = SLURM.lock().unwrap_or_else(|e| e.into_inner());
    let st = Command::new("bash").arg(repo().join("slurm/start-local-slurm.sh")).stdout(std::process::Stdio::null()).status().expect("start local slurm");
    assert!(st.success(), "the local SLURM did not start");
    guard
}

fn tiny_group(d: &Path, n: usize) -> PathBuf {
    let data = d.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let src = testdata("series/padocc-1DAgg/file0.nc");
    let mut rows = Vec::new();
    for i in 0..n {
        let f = data.join(format!("f{i}.nc"));
        std::fs::copy(&src, &f).unwrap();
        rows.push((format!("p{i}"), f.display().to_string()));
    }
    let rows: Vec<(&str, String)> = rows.iter().map(|(c, f)| (c.as_str(), f.clone())).collect();
    let input = project_csv(d, &rows);
    let wd = d.join("wd");
    ok(padocc_env(&wd, &["init", "-G", "g", "-i", input.to_str().unwrap()], &[]));
    wd
}

/// 1000 tasks write their status at once: every project's final status is
/// there, and no journal or status line is torn.
#[test]
fn a_1000_task_array_records_every_status() {
    let _slurm = start_slurm();
    let d = tempfile::tempdir_in("/tmp").unwrap();
    let wd = tiny_group(d.path(), 1000);
    std::fs::write(d.path().join("site.toml"), "[resources]\npack_seconds = 0.0001\nfloor_mem_mb = 100\n").unwrap();
    ok(padocc_env(&wd, &["scan", "-G", "g", "--parallel", "--config", d.path().join("site.toml").to_str().unwrap()], &[]));
    let s = wait_settled(&wd, Duration::from_secs(900));
    let ok_count = s.values().filter(|v| *v == "Success").count();
    assert_eq!(ok_count, 1000, "{:?}", s.iter().filter(|(_, v)| *v != "Success").take(5).collect::<Vec<_>>());
    for e in std::fs::read_dir(wd.join("groups/g/status")).unwrap().flatten() {
        let t = std::fs::read_to_string(e.path()).unwrap();
        assert!(t.ends_with('\n'));
        assert!(t.lines().all(|l| l.split('\t').count() == 6), "torn line in {}", e.path().display());
    }
    for i in 0..1000 {
        let log = std::fs::read_to_string(wd.join(format!("in_progress/g/p{i}/status_log.csv"))).unwrap();
        let last = log.lines().last().unwrap();
        assert!(last.starts_with("scan,Success,"), "p{i}: {last}");
    }
}

/// A task cancelled mid-run shows as CANCELLED, leaves nothing corrupt, and a
/// new submission finishes the project. Editing the codeset after submission
/// does not change what a task runs (the manifest is immutable).
#[test]
fn scancel_mid_task_and_edited_codesets() {
    let _slurm = start_slurm();
    let d = tempfile::tempdir_in("/tmp").unwrap();
    let wd = tiny_group(d.path(), 3);
    std::fs::write(d.path().join("site.toml"), "[resources]\npack_seconds = 0.0001\nfloor_mem_mb = 100\n").unwrap();
    let cfg = d.path().join("site.toml");
    let cfg = cfg.to_str().unwrap();
    let o = ok(padocc_env(&wd, &["scan", "-G", "g", "--parallel", "--config", cfg, "--format", "json"], &[("PADOCC_TEST_FAULTS", "p1:sleep")]));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let job = v["submissions"][0]["job_id"].as_str().unwrap().to_string();
    // Reorder and shrink the codeset: tasks must still run p0, p1, p2.
    std::fs::write(wd.join("groups/g/proj_codes/main.txt"), "p2\np1\np0").unwrap();
    let t0 = Instant::now();
    while statuses(&wd).get("p1").map(String::as_str) != Some("Running") {
        assert!(t0.elapsed() < Duration::from_secs(120), "p1 never started");
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(Command::new("scancel").arg(format!("{job}_1")).status().unwrap().success());
    let s = wait_settled(&wd, Duration::from_secs(120));
    assert_eq!(s["p0"], "Success", "{s:?}");
    assert_eq!(s["p2"], "Success", "{s:?}");
    assert_eq!(s["p1"], "CANCELLED", "{s:?}");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(std::fs::read_dir(wd.join("groups/g/jobs")).unwrap().next().unwrap().unwrap().path().join("manifest.json")).unwrap())
            .unwrap();
    let order: Vec<&str> = manifest["tasks"].as_array().unwrap().iter().map(|t| t["projects"][0].as_str().unwrap()).collect();
    assert_eq!(order, vec!["p0", "p1", "p2"]);
    // Resubmitting the phase takes only what is not done, and finishes it.
    ok(padocc_env(&wd, &["scan", "-G", "g", "--parallel", "--config", cfg], &[]));
    let s = wait_settled(&wd, Duration::from_secs(120));
    assert!(s.values().all(|v| v == "Success"), "{s:?}");
}

/// `run --phases` submits one array per phase, each depending on the last.
#[test]
fn chained_phases_run_in_order() {
    let _slurm = start_slurm();
    let d = tempfile::tempdir_in("/tmp").unwrap();
    let wd = tiny_group(d.path(), 2);
    std::fs::write(d.path().join("site.toml"), "[resources]\nfloor_mem_mb = 100\n").unwrap();
    let o = ok(padocc_env(&wd, &["run", "-G", "g", "--phases", "scan,compute,validate", "--config", d.path().join("site.toml").to_str().unwrap(), "--format", "json"], &[]));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["chain"].as_array().map(|a| a.len()), Some(3), "{v:#}");
    let scripts: Vec<String> = std::fs::read_dir(wd.join("groups/g/jobs")).unwrap().flatten().map(|e| std::fs::read_to_string(e.path().join("submit.sh")).unwrap()).collect();
    assert_eq!(scripts.iter().filter(|s| s.contains("--dependency=afterany:")).count(), 2);
    let t0 = Instant::now();
    loop {
        let s = statuses(&wd);
        if s.values().all(|v| v == "Success") && s.len() == 2 && status_json(&wd)["phases"]["validate"]["Success"].as_array().map(|a| a.len()) == Some(2) {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(120), "{s:?}");
        std::thread::sleep(Duration::from_secs(2));
    }
}

/// `--mem-allowed` is a phase option the workers need: the manifest carries
/// it, so packed workers (and `rerun-failed`, which reads the last manifest)
/// convert with the memory the user allowed.
#[test]
fn mem_allowed_reaches_the_workers() {
    let d = tempfile::tempdir().unwrap();
    let wd = fake_scheduler_group(d.path());
    ok(padocc_env(&wd, &["compute", "-G", "g", "-C", "zarr", "--mem-allowed", "300MB", "--parallel", "--scheduler", "local"], &[("PATH", "/nonexistent")]));
    let subs: Vec<_> =
        std::fs::read_dir(wd.join("groups/g/jobs")).unwrap().flatten().map(|e| e.path()).filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("compute-")).collect();
    assert_eq!(subs.len(), 1, "{subs:?}");
    let m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(subs[0].join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["options"]["mem_allowed"], 300_000_000u64, "{m:#}");
    let st = statuses(&wd);
    assert!(st.values().all(|s| s == "Success"), "{st:?}");
    assert!(wd.join("in_progress/g/a1/zr1.0a.zarr").is_dir() && wd.join("in_progress/g/a2/zr1.0a.zarr").is_dir());
}
