//! Kill padocc with SIGKILL at random moments during compute, validate and
//! status writes (120 kills), and check after every kill that no state file or
//! product is truncated or half-written; then a rerun must finish the work.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn padocc_cmd(wd: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_padocc"));
    c.arg("-w").arg(wd).args(args).env_remove("WORKDIR").stdout(Stdio::null()).stderr(Stdio::null());
    c
}

/// A small deterministic generator: the kill times must differ, not be secret.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % n.max(1)
    }
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                files_under(&p, out);
            } else {
                out.push(p);
            }
        }
    }
}

/// Every file padocc owns must be whole: JSON parses, CSV rows are complete.
fn assert_consistent(wd: &Path, when: &str) {
    let mut files = Vec::new();
    files_under(wd, &mut files);
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with('.') && name.contains(".tmp.") {
            continue; // an abandoned temporary file is never read
        }
        let text = || std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{when}: {}: {e}", f.display()));
        if name.ends_with(".json") || name == ".zmetadata" {
            let t = text();
            let parsed: Result<serde_json::Value, _> = serde_json::from_str(&t);
            // Products written by Python-compatible writers may hold NaN; ours only in attributes.
            assert!(parsed.is_ok() || t.contains("NaN"), "{when}: {} is not whole JSON ({} bytes)", f.display(), t.len());
        } else if name == "status_log.csv" {
            for line in text().lines() {
                assert_eq!(line.matches(',').count(), 3, "{when}: torn status row {line:?} in {}", f.display());
                let phase = line.split(',').next().unwrap();
                assert!(["init", "scan", "compute", "validate", "complete"].contains(&phase), "{when}: {line:?}");
            }
        } else if name.ends_with(".jnl") {
            let t = text();
            assert!(t.is_empty() || t.ends_with('\n'), "{when}: journal {} ends mid-line", f.display());
            for line in t.lines() {
                assert_eq!(line.split('\t').count(), 6, "{when}: torn journal line {line:?}");
            }
        } else if name.ends_with(".txt") {
            let _ = text();
        }
    }
}

fn setup(d: &Path) -> PathBuf {
    let wd = d.join("wd");
    let mut csv = String::from("proj_code,pattern,updates,removals\n");
    for s in ["padocc-rain", "padocc-1DAgg", "cmip6-FGOALS-g3-Amon-ta", "arm-sgp30ebbrE32-b1", "cmip6-BCC-CSM2-MR-day-ta"] {
        csv.push_str(&format!("{s},{}/*.nc,,\n", testdata(&format!("series/{s}")).display()));
    }
    for f in ["air.nc", "issue672.nc", "tdset.h5", "example_1.nc"] {
        csv.push_str(&format!("{},{},,\n", f.replace('.', "_"), testdata(&format!("single/{f}")).display()));
    }
    let input = d.join("in.csv");
    std::fs::write(&input, csv).unwrap();
    for args in [vec!["init", "-G", "g", "-i", input.to_str().unwrap()], vec!["scan", "-G", "g"]] {
        assert!(padocc_cmd(&wd, &args).status().unwrap().success(), "{args:?}");
    }
    wd
}

#[test]
fn sigkill_at_random_points_never_leaves_a_half_written_file() {
    let d = tempfile::tempdir().unwrap();
    let wd = setup(d.path());
    let mut rng = Lcg(0x5eed);
    let phases: [&[&str]; 3] = [
        &["compute", "-G", "g", "-f", "-j", "2"],
        &["validate", "-G", "g", "-j", "2"],
        &["update_status", "-G", "g", "--old_phase", "validate", "--old_status", "Any", "--new_status", "Redo"],
    ];
    // Measure how long each phase runs, to spread kills over its whole run.
    let mut spans = Vec::new();
    for args in phases {
        let t0 = Instant::now();
        let _ = padocc_cmd(&wd, args).status().unwrap();
        spans.push(t0.elapsed().as_micros() as u64);
    }
    let mut kills = 0;
    for round in 0..40 {
        for (i, args) in phases.iter().enumerate() {
            let mut child = padocc_cmd(&wd, args).spawn().unwrap();
            std::thread::sleep(Duration::from_micros(rng.next(spans[i] + 2000)));
            let _ = child.kill(); // SIGKILL
            let _ = child.wait();
            kills += 1;
            assert_consistent(&wd, &format!("round {round}, after killing {:?}", args[0]));
        }
    }
    assert!(kills >= 120);
    // A rerun finishes the work.
    assert!(padocc_cmd(&wd, &["compute", "-G", "g", "-f"]).status().unwrap().success());
    assert!(padocc_cmd(&wd, &["validate", "-G", "g"]).status().unwrap().success());
    let o = Command::new(env!("CARGO_BIN_EXE_padocc")).arg("-w").arg(&wd).args(["status", "-G", "g", "--format", "json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["phases"]["validate"]["Success"].as_array().map(|a| a.len()), Some(9), "{v:#}");
    assert_consistent(&wd, "after the rerun");
}
