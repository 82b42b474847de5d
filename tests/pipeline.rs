//! The pipeline on one machine, end to end: a working directory made from
//! ../shared/testdata the way padocc users write their CSV, every phase, every
//! completed product checked with the real clients; validation catching broken
//! products; hostile project codes; compatibility with padocc 1.5.1 itself.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

fn padocc_in(wd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_padocc")).arg("-w").arg(wd).args(args).env_remove("WORKDIR").output().expect("run padocc")
}

fn ok(o: Output) -> Output {
    assert!(o.status.success(), "failed: {}\n{}", String::from_utf8_lossy(&o.stdout), stderr(&o));
    o
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
    }
}

/// Check a completed product with check_refs.py using the test set's own
/// arguments for the case.
fn check_case(product: &Path, sources: &[PathBuf], case: &serde_json::Value) {
    let mut args: Vec<String> = case["checker_args"].as_array().map(|a| a.iter().map(|x| x.as_str().unwrap().to_string()).collect()).unwrap_or_default();
    if sources.len() > 1 {
        if case["combine"].as_str() == Some("by_coords") {
            args.extend(["--combine".into(), "by_coords".into()]);
        } else {
            args.extend(["--concat-dim".into(), case["concat_dim"].as_str().unwrap_or("time").into()]);
        }
    }
    let name = case["name"].as_str().unwrap_or("");
    let reencoded = match name {
        "cmip6-BCC-CSM2-MR-day-ta" => Some("time_bnds"),
        "arm-sgp30ebbrE32-b1" => Some("time_bounds,time_offset"),
        _ => None,
    };
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    match reencoded {
        // Raw numbers of re-encoded time bounds legitimately differ (see docs/testing.md).
        Some(ignore) => {
            check(product, sources, &[a.clone(), vec!["--modes", "decoded"]].concat());
            check(product, sources, &[a, vec!["--modes", "raw", "--ignore-vars", ignore]].concat());
        }
        None => check(product, sources, &a),
    }
}

#[test]
fn every_phase_over_the_shared_test_data_and_every_product_opens_equal() {
    let d = tempfile::tempdir().unwrap();
    let wd = d.path().join("wd");
    let manifest: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(testdata("MANIFEST.json")).unwrap()).unwrap();
    // A CSV as users write it: a header, one line per dataset, glob patterns.
    let mut csv = String::from("proj_code,pattern,updates,removals\n");
    let mut cases = Vec::new();
    for s in manifest["series"].as_array().unwrap() {
        let name = s["name"].as_str().unwrap();
        csv.push_str(&format!("{name},{}/*.nc,,\n", testdata(&format!("series/{name}")).display()));
        cases.push((name.to_string(), s.clone()));
    }
    for s in manifest["singles"].as_array().unwrap() {
        let file = s["file"].as_str().unwrap();
        let code = Path::new(file).file_stem().unwrap().to_string_lossy().replace('.', "_");
        csv.push_str(&format!("{code},{},,\n", testdata(file).display()));
        let mut c = s.clone();
        c["name"] = serde_json::Value::String(code.clone());
        cases.push((code, c));
    }
    let input = d.path().join("datasets.csv");
    std::fs::write(&input, csv).unwrap();
    ok(padocc_in(&wd, &["init", "-G", "t", "-i", input.to_str().unwrap()]));
    ok(padocc_in(&wd, &["scan", "-G", "t"]));
    // The test set says how duplicates in this series are to be resolved.
    ok(padocc_in(&wd, &["scan", "-G", "t", "-p", "cmip5-HadGEM2-ES-Amon-tas", "--dedupe", "last"]));
    ok(padocc_in(&wd, &["compute", "-G", "t"]));
    let v = ok(padocc_in(&wd, &["validate", "-G", "t", "--format", "json"]));
    let report: serde_json::Value = serde_json::from_slice(&v.stdout).unwrap();
    assert_eq!(report["failed"], 0, "{report:#}");
    let done = d.path().join("done");
    ok(padocc_in(&wd, &["complete", "-G", "t", "--completion_dir", done.to_str().unwrap()]));
    let status = ok(padocc_in(&wd, &["status", "-G", "t", "--format", "json"]));
    let st: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(st["phases"]["complete"]["Success"].as_array().map(|a| a.len()), Some(cases.len()), "{st:#}");

    for (code, case) in &cases {
        let product = done.join(format!("data/{code}_k1.0.json"));
        assert!(product.exists(), "{} missing", product.display());
        assert!(done.join(format!("reports/{code}_1.0_report.json")).exists());
        let sources: Vec<PathBuf> = match case.get("files") {
            Some(files) => files.as_array().unwrap().iter().map(|f| testdata(f["file"].as_str().unwrap())).collect(),
            None => vec![testdata(case["file"].as_str().unwrap())],
        };
        check_case(&product, &sources, case);
        // The CFA file compute made beside it (and validate checked), through
        // cfapyx: every case, grouped sources too.
        let cfa = done.join(format!("data/{code}_c1.0.nca"));
        assert!(cfa.exists(), "{}", cfa.display());
        let a = cfa_args(case, sources.len());
        check(&cfa, &sources, &a.iter().map(String::as_str).collect::<Vec<_>>());
    }

    // The same group as Zarr stores: -C zarr is recorded, validated, published.
    ok(padocc_in(&wd, &["compute", "-G", "t", "-C", "zarr"]));
    let v = ok(padocc_in(&wd, &["validate", "-G", "t", "--format", "json"]));
    let report: serde_json::Value = serde_json::from_slice(&v.stdout).unwrap();
    assert_eq!(report["failed"], 0, "{report:#}");
    let done2 = d.path().join("done-zarr");
    ok(padocc_in(&wd, &["complete", "-G", "t", "-f", "--completion_dir", done2.to_str().unwrap()]));
    for (code, case) in &cases {
        let product = done2.join(format!("data/{code}_zr1.0.zarr"));
        assert!(product.exists(), "{} missing", product.display());
        // xarray cannot open a v3 `|S1` variable with a fill value (docs/products.md).
        if code == "h5netcdf_test" {
            continue;
        }
        let sources: Vec<PathBuf> = match case.get("files") {
            Some(files) => files.as_array().unwrap().iter().map(|f| testdata(f["file"].as_str().unwrap())).collect(),
            None => vec![testdata(case["file"].as_str().unwrap())],
        };
        let mut a = cfa_args(case, sources.len());
        let last = a.len() - 1;
        a[last] = "zarr".into();
        check(&product, &sources, &a.iter().map(String::as_str).collect::<Vec<_>>());
    }
}

fn cfa_args(case: &serde_json::Value, n_sources: usize) -> Vec<String> {
    let mut args: Vec<String> = case["checker_args"].as_array().map(|a| a.iter().map(|x| x.as_str().unwrap().to_string()).collect()).unwrap_or_default();
    if n_sources > 1 {
        if case["combine"].as_str() == Some("by_coords") {
            args.extend(["--combine".into(), "by_coords".into()]);
        } else {
            args.extend(["--concat-dim".into(), case["concat_dim"].as_str().unwrap_or("time").into()]);
        }
    }
    args.extend(["--kind".into(), "cfa".into()]);
    args
}

/// Copy the 1-D sample series into a fresh workdir and run it to validation.
fn small_project(d: &Path) -> (PathBuf, PathBuf) {
    let data = d.join("data");
    copy_dir(&repo().join("samples/padocc-1DAgg"), &data);
    let wd = d.join("wd");
    let input = d.join("in.csv");
    std::fs::write(&input, format!("oneD,{}/*.nc,,\n", data.display())).unwrap();
    ok(padocc_in(&wd, &["init", "-G", "g", "-i", input.to_str().unwrap()]));
    ok(padocc_in(&wd, &["scan", "-G", "g"]));
    // References to every chunk, however small: the tests damage them.
    ok(padocc_in(&wd, &["set_attr", "-G", "g", "--attr", "inline_threshold", "--value", "0"]));
    ok(padocc_in(&wd, &["compute", "-G", "g"]));
    ok(padocc_in(&wd, &["validate", "-G", "g"]));
    (wd, data)
}

fn validate_status(wd: &Path) -> (String, String) {
    let o = padocc_in(wd, &["validate", "-G", "g", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let r = &v["results"][0];
    (r["status"].as_str().unwrap_or("").to_string(), r["message"].as_str().unwrap_or("").to_string())
}

#[test]
fn validation_catches_broken_products_and_changed_sources() {
    let d = tempfile::tempdir().unwrap();
    let (wd, data) = small_project(d.path());
    let proj = wd.join("in_progress/g/oneD");
    let product = proj.join("k1.0a.json");
    let good = std::fs::read_to_string(&product).unwrap();
    let restore = || std::fs::write(&product, &good).unwrap();

    // One chunk offset shifted.
    let re = "\"rain/3.0.0\": [";
    let at = good.find(re).unwrap() + re.len();
    let comma = at + good[at..].find(", ").unwrap() + 2;
    let end = comma + good[comma..].find(',').unwrap();
    let off: u64 = good[comma..end].parse().unwrap();
    std::fs::write(&product, format!("{}{}{}", &good[..comma], off + 8, &good[end..])).unwrap();
    let (s, m) = validate_status(&wd);
    assert!(s.starts_with("Fatal") && m.contains("'rain'"), "{s}: {m}");
    restore();

    // A dropped attribute, a changed dtype.
    for (from, to, what) in [("\\\"long_name\\\": \\\"Precipitation\\\", ", "", "long_name"), ("\\\"dtype\\\": \\\"<f8\\\"", "\\\"dtype\\\": \\\"<f4\\\"", "dtype")] {
        assert!(good.contains(from), "{from} not in product");
        std::fs::write(&product, good.replacen(from, to, 1)).unwrap();
        let (s, m) = validate_status(&wd);
        assert!(s.starts_with("Fatal") && (m.contains("rain") || s.contains("rain")), "{what}: {s}: {m}");
        restore();
    }
    assert_eq!(validate_status(&wd).0, "Success");

    // Two files swapped in the aggregation order.
    let allfiles = proj.join("allfiles.txt");
    let files = std::fs::read_to_string(&allfiles).unwrap();
    let mut lines: Vec<&str> = files.lines().collect();
    lines.swap(0, 1);
    std::fs::write(&allfiles, lines.join("\n")).unwrap();
    let (s, m) = validate_status(&wd);
    assert!(s.starts_with("Fatal") && m.contains("rain"), "{s}: {m}");
    std::fs::write(&allfiles, files).unwrap();

    // A source rewritten after compute.
    let f0 = data.join("file0.nc");
    let bytes = std::fs::read(&f0).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(&f0, &bytes).unwrap();
    let (s, m) = validate_status(&wd);
    assert_eq!(s, "Fatal-source_changed", "{m}");
    assert!(m.contains("file0.nc"), "{m}");
}

#[test]
fn cfa_is_made_by_default_checked_by_validate_and_off_with_cfa_n() {
    let d = tempfile::tempdir().unwrap();
    let (wd, data) = small_project(d.path());
    let proj = wd.join("in_progress/g/oneD");
    let nca = proj.join("oneD.nca");
    assert!(nca.exists(), "compute makes <proj>.nca by default");
    // A CFA file pointing at a moved fragment fails validation, naming it.
    let moved = data.join("moved.nc");
    let first = std::fs::read_dir(&data).unwrap().flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "nc")).min().unwrap();
    std::fs::rename(&first, &moved).unwrap();
    let o = padocc_in(&wd, &["validate", "-G", "g", "--format", "json"]);
    assert!(!o.status.success());
    std::fs::rename(&moved, &first).unwrap();
    ok(padocc_in(&wd, &["validate", "-G", "g"]));
    // --CFA n: recorded in the project, no CFA file made on recompute.
    std::fs::remove_file(&nca).unwrap();
    ok(padocc_in(&wd, &["compute", "-G", "g", "-f", "--CFA", "n"]));
    assert!(!nca.exists());
    let base: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(proj.join("base-cfg.json")).unwrap()).unwrap();
    assert_eq!(base["disable_CFA"], true);
    ok(padocc_in(&wd, &["validate", "-G", "g"]));
    // Back on, and published with rewritten fragment paths.
    ok(padocc_in(&wd, &["compute", "-G", "g", "-f", "--CFA", "y"]));
    ok(padocc_in(&wd, &["validate", "-G", "g"]));
    let done = d.path().join("done");
    let prefix = data.to_str().unwrap();
    ok(padocc_in(&wd, &["complete", "-G", "g", "--completion_dir", done.to_str().unwrap(), "--sub", prefix, "--replace", "/archive/oneD"]));
    let published = done.join("data/oneD_cr1.0.nca");
    let uris = std::process::Command::new("/tmp/refenv/bin/python")
        .arg("-c")
        .arg(format!("import netCDF4; d = netCDF4.Dataset('{}'); print(list(d['fragment_uris_0'][:].ravel()))", published.display()))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&uris.stdout);
    assert!(text.contains("/archive/oneD/") && !text.contains(prefix), "{text}");
}

#[test]
fn published_products_follow_sources_moved_with_sub_and_replace() {
    // Parquet references and the CFA file, published for sources that move
    // from the scratch area to the archive: both must open there, equal.
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("scratch");
    copy_dir(&repo().join("samples/cmip6-FGOALS-g3-Amon-ta"), &data);
    let wd = d.path().join("wd");
    let input = d.path().join("in.csv");
    std::fs::write(&input, format!("fg,{}/*.nc,,\n", data.display())).unwrap();
    ok(padocc_in(&wd, &["init", "-G", "g", "-i", input.to_str().unwrap()]));
    ok(padocc_in(&wd, &["scan", "-G", "g"]));
    ok(padocc_in(&wd, &["set_attr", "-G", "g", "--attr", "override.file_type", "--value", "parq"]));
    ok(padocc_in(&wd, &["compute", "-G", "g"]));
    assert!(wd.join("in_progress/g/fg/k1.0a.parquet").is_dir());
    ok(padocc_in(&wd, &["validate", "-G", "g"]));
    let archive = d.path().join("archive");
    let done = d.path().join("done");
    ok(padocc_in(&wd, &["complete", "-G", "g", "--completion_dir", done.to_str().unwrap(), "--sub", data.to_str().unwrap(), "--replace", archive.to_str().unwrap()]));
    std::fs::rename(&data, &archive).unwrap();
    let mut moved: Vec<PathBuf> = std::fs::read_dir(&archive).unwrap().flatten().map(|e| e.path()).collect();
    moved.sort();
    check(&done.join("data/fg_kr1.0.parquet"), &moved, &["--concat-dim", "time"]);
    check(&done.join("data/fg_cr1.0.nca"), &moved, &["--concat-dim", "time", "--kind", "cfa"]);
}

#[test]
fn hostile_project_codes_are_rejected_and_nothing_is_written() {
    let d = tempfile::tempdir().unwrap();
    let wd = d.path().join("wd");
    let data = testdata("series/padocc-1DAgg");
    for bad in ["../escape", "two words", "x$(touch pwned)", "semi;colon", "quote'd", "back`tick`"] {
        let input = d.path().join("in.csv");
        std::fs::write(&input, format!("good,{}/*.nc,,\n{bad},{}/*.nc,,\n", data.display(), data.display())).unwrap();
        let o = padocc_in(&wd, &["init", "-G", "g", "-i", input.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{bad}: {}", stderr(&o));
        assert!(stderr(&o).contains("in.csv:2"), "{bad}: {}", stderr(&o));
        assert!(!wd.join("in_progress/g/good").exists(), "{bad}: a project was created");
        assert!(!d.path().join("pwned").exists() && !d.path().join("escape").exists());
    }
    for bad in ["../g", "a b", "$(x)"] {
        let o = padocc_in(&wd, &["status", "-G", bad]);
        assert_eq!(o.status.code(), Some(2), "{bad}");
    }
}

#[test]
fn reruns_are_idempotent_and_new_versions_sit_beside_old_ones() {
    let d = tempfile::tempdir().unwrap();
    let (wd, _) = small_project(d.path());
    let o = ok(padocc_in(&wd, &["compute", "-G", "g", "--format", "json"]));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["results"][0]["skipped"], true, "{v:#}");
    ok(padocc_in(&wd, &["compute", "-G", "g", "-n"]));
    assert!(wd.join("in_progress/g/oneD/k1.0a.json").exists());
    assert!(wd.join("in_progress/g/oneD/k1.1a.json").exists());
    // Re-init updates instead of duplicating.
    let input = d.path().join("in.csv");
    ok(padocc_in(&wd, &["init", "-G", "g", "-i", input.to_str().unwrap()]));
    assert_eq!(std::fs::read_to_string(wd.join("groups/g/proj_codes/main.txt")).unwrap().lines().count(), 1);
}

#[test]
fn a_corrupt_state_file_is_reported_not_reset() {
    let d = tempfile::tempdir().unwrap();
    let (wd, _) = small_project(d.path());
    let cfg = wd.join("in_progress/g/oneD/detail-cfg.json");
    std::fs::write(&cfg, "{\"num_files\": 8, \"trunc").unwrap();
    let o = padocc_in(&wd, &["compute", "-G", "g", "-f"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("detail-cfg.json"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), "{\"num_files\": 8, \"trunc");
}

#[test]
fn workdir_flag_wins_over_environment() {
    let d = tempfile::tempdir().unwrap();
    let wd = d.path().join("wd");
    ok(padocc_in(&wd, &["new", "-G", "g"]));
    let o = Command::new(env!("CARGO_BIN_EXE_padocc")).args(["-w", wd.to_str().unwrap(), "status", "-G", "g"]).env("WORKDIR", "/nonexistent").output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
}

/// padocc 1.5.1 (from the reference environment) reads our working directory,
/// and ours continues one that padocc made.
#[test]
fn compatible_with_padocc_1_5_1_both_ways() {
    let py_padocc = Path::new("/tmp/refenv/bin/padocc");
    common::check_env_ready();
    let d = tempfile::tempdir().unwrap();
    let (wd, data) = small_project(d.path());
    let done = d.path().join("done");
    ok(padocc_in(&wd, &["complete", "-G", "g", "--completion_dir", done.to_str().unwrap()]));
    let theirs = |wd: &Path, args: &[&str]| Command::new(py_padocc).args(args).env("WORKDIR", wd).current_dir(d.path()).output().unwrap();
    let l = theirs(&wd, &["list"]);
    assert!(String::from_utf8_lossy(&l.stdout).contains("> g: 1"), "{}{}", String::from_utf8_lossy(&l.stdout), stderr(&l));
    let s = theirs(&wd, &["status", "-G", "g"]);
    let out = String::from_utf8_lossy(&s.stdout).to_string() + &stderr(&s);
    assert!(out.contains("Total Codes: 1") && out.contains("complete  : 1"), "{out}");

    // A workdir made by padocc 1.5.1: init, scan, compute.
    let pywd = d.path().join("pywd");
    let input = d.path().join("py.csv");
    std::fs::write(&input, format!("pyproj,{}/*.nc,,\n", data.display())).unwrap();
    for args in [vec!["init", "-G", "pyg", "-i", input.to_str().unwrap()], vec!["scan", "-G", "pyg"], vec!["compute", "-G", "pyg"]] {
        let o = theirs(&pywd, &args);
        assert!(o.status.success(), "padocc 1.5.1 {args:?}: {}", stderr(&o));
    }
    let st = ok(padocc_in(&pywd, &["status", "-G", "pyg", "--format", "json"]));
    let v: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
    assert_eq!(v["phases"]["compute"]["Success"], serde_json::json!([0]), "{v:#}");
    let o = ok(padocc_in(&pywd, &["validate", "-G", "pyg", "--format", "json"]));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let status = v["results"][0]["status"].as_str().unwrap().to_string();
    assert!(status == "Success" || status.starts_with("Warn"), "{v:#}");
    ok(padocc_in(&pywd, &["complete", "-G", "pyg", "--completion_dir", done.to_str().unwrap()]));
    assert!(done.join("data/pyproj_k1.0.json").exists());
}

#[test]
fn transfer_and_delete_move_and_remove_whole_projects() {
    let d = tempfile::tempdir().unwrap();
    let (wd, _) = small_project(d.path());
    ok(padocc_in(&wd, &["transfer", "-G", "g", "-p", "oneD", "--new_group", "quarantine"]));
    assert!(wd.join("in_progress/quarantine/oneD/k1.0a.json").exists());
    assert!(!wd.join("in_progress/g/oneD").exists());
    let s = ok(padocc_in(&wd, &["status", "-G", "quarantine", "--format", "json"]));
    let v: serde_json::Value = serde_json::from_slice(&s.stdout).unwrap();
    assert_eq!(v["phases"]["validate"]["Success"], serde_json::json!([0]), "{v:#}");
    // Without a terminal, delete refuses unless told --yes.
    assert_eq!(padocc_in(&wd, &["delete", "-G", "quarantine"]).status.code(), Some(2));
    ok(padocc_in(&wd, &["delete", "-G", "quarantine", "--yes"]));
    assert!(!wd.join("groups/quarantine").exists() && !wd.join("in_progress/quarantine").exists());
}

/// Every file under `dir` with its size and modification time.
fn tree(dir: &Path) -> Vec<(PathBuf, u64, std::time::SystemTime)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let m = e.metadata().unwrap();
            if m.is_dir() {
                todo.push(e.path());
            } else {
                out.push((e.path(), m.len(), m.modified().unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// padocc 1.5.1's own flags keep working, so users' scripts do (spec §10):
/// those with no use here are accepted; -d shows and writes nothing; -i is
/// padocc's bypass file; -t, -M and -s size --parallel tasks; complete
/// --delete and logs --clear do what padocc's do; pfunc is as unimplemented
/// as padocc's.
#[test]
fn padocc_1_5_1_flags_keep_working() {
    let d = tempfile::tempdir().unwrap();
    let (wd, _data) = small_project(d.path());
    let proj = wd.join("in_progress/g/oneD");
    let input = d.path().join("in.csv");
    for phase in ["scan", "compute", "validate"] {
        let legacy = [
            "-s",
            "2",
            "-A",
            "-e",
            "/venv",
            "--allow-band-increase",
            "--wait_sbatch",
            "--diagnostic",
            "--xarray_kwargs",
            "a:pyTrue",
            "--parallel_project",
            "-T",
            "-b",
            "D",
            "--identical_dims",
            "lat",
            "--b64vars",
            "time",
            "--aggregator",
            "K",
        ];
        ok(padocc_in(&wd, &[&[phase, "-G", "g", "-f"], &legacy[..]].concat()));
    }
    ok(padocc_in(&wd, &["add", "-G", "g", "-i", input.to_str().unwrap(), "--moles", "x", "-C", "kerchunk"]));

    // -d: what would run, and nothing written; with --parallel, the plan.
    let before = tree(&wd);
    let o = ok(padocc_in(&wd, &["compute", "-G", "g", "-d", "--format", "json"]));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!((v["dry_run"].as_bool(), v["projects"][0]["would_run"].as_bool()), (Some(true), Some(false)), "{v:#}");
    // Each phase's own rule: validate runs every time; -f and -n make compute run.
    for (args, runs) in [(vec!["validate"], true), (vec!["compute", "-n"], true), (vec!["complete", "--completion_dir", "/nowhere"], true)] {
        let o = ok(padocc_in(&wd, &[&args[..], &["-G", "g", "-d", "--format", "json"]].concat()));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["projects"][0]["would_run"].as_bool(), Some(runs), "{args:?}: {v:#}");
    }
    // --dry-run without --parallel is a dry run too: -C and --CFA are not recorded.
    ok(padocc_in(&wd, &["compute", "-G", "g", "--dry-run", "-C", "zarr", "--CFA", "n"]));
    ok(padocc_in(&wd, &["new", "-G", "h", "-d"]));
    ok(padocc_in(&wd, &["init", "-G", "h", "-i", input.to_str().unwrap(), "-d", "-M", "2G", "-t", "30:00"]));
    let o = Command::new(env!("CARGO_BIN_EXE_padocc"))
        .args(["-w", wd.to_str().unwrap(), "validate", "-G", "g", "--parallel", "--scheduler", "slurm", "-d", "-f", "-t", "90:00", "-M", "4G", "-C", "zarr"])
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    let script = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{script}{}", stderr(&o));
    assert!(script.contains("#SBATCH --time=01:30:00") && script.contains("#SBATCH --mem=4096M"), "{script}");
    assert_eq!(tree(&wd), before, "a dry run wrote something");
    assert!(!wd.join("groups/h").exists());

    // -i: padocc's bypass file. A dropped attribute is Fatal; listed there it
    // no longer counts, and the report still shows it.
    let product = proj.join("k1.0a.json");
    let good = std::fs::read_to_string(&product).unwrap();
    std::fs::write(&product, good.replacen("\\\"long_name\\\": \\\"Precipitation\\\", ", "", 1)).unwrap();
    assert!(validate_status(&wd).0.starts_with("Fatal-rain_long_name"));
    let bypass = d.path().join("bypass.json");
    std::fs::write(&bypass, r#"{"metadata": {"attributes": {"rain": {"long_name": {"type": "missing"}, "skip_all": false}}}}"#).unwrap();
    let o = padocc_in(&wd, &["validate", "-G", "g", "-i", bypass.to_str().unwrap(), "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["results"][0]["status"], "Success", "{v:#}");
    assert!(std::fs::read_to_string(proj.join("metadata_report.json")).unwrap().contains("long_name"));
    let bad = d.path().join("bad.json");
    std::fs::write(&bad, "{").unwrap();
    let o = padocc_in(&wd, &["validate", "-G", "g", "-i", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("bad.json"), "{}", stderr(&o));
    std::fs::write(&product, &good).unwrap();
    ok(padocc_in(&wd, &["validate", "-G", "g"]));

    // complete --delete: published, then the working copy goes; its status stays.
    let done = d.path().join("done");
    ok(padocc_in(&wd, &["complete", "-G", "g", "--completion_dir", done.to_str().unwrap(), "--delete"]));
    assert!(done.join("data/oneD_k1.0.json").exists());
    assert!(!proj.exists());
    let o = ok(padocc_in(&wd, &["status", "-G", "g", "--format", "json"]));
    let st: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(st["phases"]["complete"]["Success"].as_array().map(Vec::len), Some(1), "{st:#}");
    // Later runs over the group leave it be rather than fail on its missing directory.
    let o = ok(padocc_in(&wd, &["validate", "-G", "g", "--format", "json"]));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["results"][0]["skipped"], true, "{v:#}");

    // logs --clear VALUE: every subset but main goes.
    ok(padocc_in(&wd, &["repeat", "-G", "g", "--new_repeat", "redo", "-p", "oneD"]));
    let redo = wd.join("groups/g/proj_codes/redo.txt");
    assert!(redo.exists());
    ok(padocc_in(&wd, &["logs", "-G", "g", "--log_phase", "scan", "--clear", "y"]));
    assert!(!redo.exists() && wd.join("groups/g/proj_codes/main.txt").exists());

    // pfunc: not implemented, in padocc 1.5.1 too (a usage error).
    assert_eq!(padocc_in(&wd, &["pfunc", "-G", "g"]).status.code(), Some(2));
}

/// doctor lists what is wrong with a group's files, each with what to do,
/// and changes nothing.
#[test]
fn doctor_finds_broken_configs_lost_codes_and_leftovers() {
    let d = tempfile::tempdir().unwrap();
    let (wd, _data) = small_project(d.path());
    let o = ok(padocc_in(&wd, &["doctor", "-G", "g"]));
    assert!(stderr(&o).contains("no problems"), "{}", stderr(&o));
    let proj = wd.join("in_progress/g/oneD");
    std::fs::write(proj.join("detail-cfg.json"), "{\"num_files\": 8,").unwrap();
    std::fs::write(proj.join(".base-cfg.json.tmp.4711"), "half").unwrap();
    std::fs::write(wd.join("groups/g/proj_codes/redo.txt"), "oneD\noneD\ngone").unwrap();
    std::fs::create_dir(wd.join("in_progress/g/stray")).unwrap();
    std::fs::write(wd.join("groups/g/proj_codes/main.txt"), "oneD\nlost").unwrap();
    let before = tree(&wd);
    let o = padocc_in(&wd, &["doctor", "-G", "g", "--format", "json"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let found: Vec<(String, String)> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["severity"].as_str().unwrap().to_string(), f["path"].as_str().unwrap().rsplit('/').next().unwrap().to_string()))
        .collect();
    for want in [("error", "detail-cfg.json"), ("error", "redo.txt"), ("error", "lost"), ("warning", "redo.txt"), ("warning", "stray"), ("info", ".base-cfg.json.tmp.4711")] {
        assert!(found.contains(&(want.0.to_string(), want.1.to_string())), "{want:?} not in {found:?}");
    }
    assert!(v["findings"].as_array().unwrap().iter().all(|f| !f["fix"].as_str().unwrap().is_empty()));
    assert_eq!(tree(&wd), before, "doctor wrote something");
}
