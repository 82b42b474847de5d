//! The Zarr and CFA products: made from files the tests write and from the
//! shared test data, opened with the real clients (xarray + zarr-python 3,
//! cfapyx), checked by `padocc verify`, broken on purpose, and, for Zarr,
//! killed with SIGKILL mid-conversion and resumed.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn run(args: &[&str]) -> Output {
    padocc(args)
}

fn ok(o: Output) -> Output {
    assert!(o.status.success(), "failed: {}\n{}", String::from_utf8_lossy(&o.stdout), stderr(&o));
    o
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn with_files<'a>(head: &[&'a str], files: &'a [PathBuf], tail: &[&'a str]) -> Vec<&'a str> {
    let mut v: Vec<&str> = head.to_vec();
    v.extend(files.iter().map(|f| s(f)));
    v.extend_from_slice(tail);
    v
}

fn series_of(dir: &Path, specs: &[(f64, usize, Option<usize>)], units: &str, deflate: bool) -> Vec<PathBuf> {
    specs
        .iter()
        .enumerate()
        .map(|(i, (start, n, chunk))| {
            let p = dir.join(format!("f{i}.nc"));
            let t: Vec<f64> = (0..*n).map(|k| start + k as f64).collect();
            Series { time: &t, units, calendar: "standard", nx: 3, chunk_time: *chunk, deflate, offset: *start as f32, unlimited: true }.write(&p);
            p
        })
        .collect()
}

fn verify(product: &Path, files: &[PathBuf], extra: &[&str]) -> Output {
    run(&with_files(&["verify", s(product)], files, extra))
}

#[test]
fn zarr_v3_and_v2_of_compressed_chunks_of_different_shapes_open_equal() {
    // References cannot hold this series (see features.rs); a copy can.
    let d = tempfile::tempdir().unwrap();
    let files = series_of(d.path(), &[(0.0, 6, Some(3)), (6.0, 5, Some(5)), (11.0, 7, Some(2))], "days since 2000-01-01", true);
    for (fmt, name) in [("3", "v3.zarr"), ("2", "v2.zarr")] {
        let out = d.path().join(name);
        ok(run(&with_files(&["zarr", "-q", "-o", s(&out), "--concat-dim", "time", "--zarr-format", fmt, "--chunks", "time=4"], &files, &[])));
        check(&out, &files, &["--concat-dim", "time", "--kind", "zarr"]);
        ok(verify(&out, &files, &["--concat-dim", "time"]));
        assert!(!padocc_partial(&out).exists(), "the partial store is renamed into place");
    }
    // Sharded v3 with blosc.
    let out = d.path().join("sharded.zarr");
    ok(run(&with_files(&["zarr", "-q", "-o", s(&out), "--chunks", "time=2", "--shards", "time=8", "--compression", "blosc"], &files, &[])));
    check(&out, &files, &["--concat-dim", "time", "--kind", "zarr"]);
    ok(verify(&out, &files, &["--concat-dim", "time"]));
    let meta = std::fs::read_to_string(out.join("tas/zarr.json")).unwrap();
    assert!(meta.contains("sharding_indexed") && meta.contains("\"chunk_shape\": [8, 3]"), "{meta}");
}

fn padocc_partial(out: &Path) -> PathBuf {
    PathBuf::from(format!("{}.partial", out.display()))
}

#[test]
fn zarr_and_cfa_of_every_shared_series_verify_equal() {
    // Every multi-file series of the shared test data (the acceptance run
    // covers the singles and the clients).
    let manifest: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(testdata("MANIFEST.json")).unwrap()).unwrap();
    let d = tempfile::tempdir().unwrap();
    for sr in manifest["series"].as_array().unwrap() {
        let name = sr["name"].as_str().unwrap();
        let files = series(name);
        let dims = sr["kerchunk_concat_dims"].as_array().map(|a| a.iter().map(|x| x.as_str().unwrap()).collect::<Vec<_>>().join(",")).unwrap_or_else(|| "time".into());
        let mut extra = vec!["--concat-dim".to_string(), dims];
        let ca: Vec<&str> = sr["checker_args"].as_array().map(|a| a.iter().map(|x| x.as_str().unwrap()).collect()).unwrap_or_default();
        if let Some(i) = ca.iter().position(|x| *x == "--dedupe") {
            extra.extend(["--dedupe".to_string(), ca[i + 1].to_string()]);
        }
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        for (cmd, ext) in [("zarr", "zarr"), ("cfa", "nca")] {
            let out = d.path().join(format!("{name}.{ext}"));
            ok(run(&with_files(&[cmd, "-q", "-o", s(&out)], &files, &extra)));
            let v = verify(&out, &files, &extra);
            assert!(v.status.success(), "{cmd} {name}: {}", String::from_utf8_lossy(&v.stdout));
        }
    }
}

/// cfapyx cannot open an aggregation file without a `Conventions` attribute,
/// so padocc adds one when the sources have none (the files written here).
const CFA_CHECK: [&str; 2] = ["--ignore-attrs", "Conventions"];

#[test]
fn cfa_holds_what_references_cannot_and_cfapyx_reads_it_equal() {
    let d = tempfile::tempdir().unwrap();
    // Compressed chunks whose shapes differ from file to file, uneven lengths.
    let files = series_of(d.path(), &[(0.0, 6, Some(3)), (6.0, 5, Some(5)), (11.0, 7, Some(2))], "days since 2000-01-01", true);
    let out = d.path().join("agg.nca");
    let o = ok(run(&with_files(&["cfa", "-o", s(&out), "--concat-dim", "time", "--json"], &files, &[])));
    let summary: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(summary["aggregated"], 1, "tas is aggregated: {summary}");
    assert_eq!(summary["fragments"], 3, "{summary}");
    check(&out, &files, &[&["--concat-dim", "time", "--kind", "cfa"][..], &CFA_CHECK].concat());
    ok(verify(&out, &files, &["--concat-dim", "time"]));

    // Time units that differ per file: time is re-encoded and copied.
    let e = tempfile::tempdir().unwrap();
    let mut files = series_of(e.path(), &[(0.0, 4, Some(2))], "days since 2000-01-01", true);
    let b = e.path().join("b.nc");
    let t: Vec<f64> = (0..4).map(|k| 96.0 + 24.0 * k as f64).collect();
    Series { time: &t, units: "hours since 2000-01-01", calendar: "standard", nx: 3, chunk_time: Some(4), deflate: true, offset: 4.0, unlimited: true }.write(&b);
    files.push(b);
    let out = e.path().join("units.nca");
    ok(run(&with_files(&["cfa", "-q", "-o", s(&out), "--concat-dim", "time"], &files, &[])));
    check(&out, &files, &[&["--concat-dim", "time", "--kind", "cfa"][..], &CFA_CHECK].concat());
    ok(verify(&out, &files, &["--concat-dim", "time"]));

    // Tiles in three dimensions, placed by coordinate values.
    let tiles = series("padocc-3DAgg");
    let out = e.path().join("tiles.nca");
    ok(run(&with_files(&["cfa", "-q", "-o", s(&out), "--concat-dim", "time,lat,lon"], &tiles, &[])));
    check(&out, &tiles, &["--combine", "by_coords", "--kind", "cfa", "--no-decode-coords"]);
}

/// Rewrite one string of a netCDF variable with the reference environment's netCDF4.
fn python(code: &str) {
    let st = Command::new("/tmp/refenv/bin/python").args(["-c", code]).status().unwrap();
    assert!(st.success(), "{code}");
}

#[test]
fn verify_catches_a_broken_zarr_chunk_and_swapped_cfa_fragments() {
    let d = tempfile::tempdir().unwrap();
    let files = series_of(d.path(), &[(0.0, 4, Some(2)), (4.0, 4, Some(2))], "days since 2000-01-01", true);
    let z = d.path().join("s.zarr");
    ok(run(&with_files(&["zarr", "-q", "-o", s(&z), "--chunks", "time=2"], &files, &[])));
    std::fs::copy(z.join("tas/c/1/0"), z.join("tas/c/0/0")).unwrap();
    let o = verify(&z, &files, &["--concat-dim", "time"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(text.contains("data_errors") && text.contains("'tas'"), "{text}");

    let c = d.path().join("s.nca");
    ok(run(&with_files(&["cfa", "-q", "-o", s(&c)], &files, &[])));
    // Intact, its fragments are the sources at their places: nothing to read twice.
    let o = ok(verify(&c, &files, &["--concat-dim", "time"]));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("placed in fragments that are the source files themselves"), "{text}");
    check_env_ready();
    python(&format!("import netCDF4; d = netCDF4.Dataset('{}', 'a'); v = d['fragment_uris_0']; a = v[:]; a[0], a[1] = a[1], a[0]; v[:] = a; d.close()", c.display()));
    let o = verify(&c, &files, &["--concat-dim", "time"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(text.contains("'tas'"), "{text}");
}

/// `--sample N` takes N blocks of each variable over all its files, not N per file.
#[test]
fn sample_takes_n_blocks_per_variable_over_all_files() {
    let d = tempfile::tempdir().unwrap();
    let files = series_of(d.path(), &[(0.0, 4, Some(2)), (4.0, 4, Some(2)), (8.0, 4, Some(2)), (12.0, 4, Some(2))], "days since 2000-01-01", true);
    let z = d.path().join("s.zarr");
    ok(run(&with_files(&["zarr", "-q", "-o", s(&z), "--chunks", "time=2"], &files, &[])));
    let compared = |extra: &[&str]| -> u64 {
        let mut a = vec!["--concat-dim", "time", "--json"];
        a.extend_from_slice(extra);
        let o = ok(verify(&z, &files, &a));
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()["values_compared"].as_u64().unwrap()
    };
    let (all, two, one) = (compared(&[]), compared(&["--sample", "2"]), compared(&["--sample", "1"]));
    // Each file is one block of each time-varying variable: --sample 2 reads the
    // first and the last file's, --sample 1 the first's; lat and lon are one block.
    assert!(one < two && two < all, "{one} {two} {all}");
    let per_file = (all - one) / 3;
    assert_eq!(two, one + per_file, "{one} {two} {all}");
    // A changed value in the last file is among what --sample 2 reads.
    check_env_ready();
    python(&format!("import netCDF4; d = netCDF4.Dataset('{}', 'a'); d['tas'][3, 0] = 1e6; d.close()", files[3].display()));
    let o = verify(&z, &files, &["--concat-dim", "time", "--sample", "2"]);
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stdout));
}

/// A validation shared between processes compares the same values as one
/// process (strings included, counted once), and reports what one process
/// would: the difference in the earliest file, whichever process found it.
#[test]
fn validation_split_between_processes_agrees_and_catches_differences() {
    let d = tempfile::tempdir().unwrap();
    let files = series_of(d.path(), &[(0.0, 4, Some(2)), (4.0, 4, Some(2)), (8.0, 4, Some(2)), (12.0, 4, Some(2)), (16.0, 4, Some(2))], "days since 2000-01-01", true);
    check_env_ready();
    for f in &files {
        python(&format!("import netCDF4; d = netCDF4.Dataset('{}', 'a'); v = d.createVariable('site', str, ('x',)); v[:] = __import__('numpy').array(['a', 'bb', 'ccc'], dtype=object); d.close()", f.display()));
    }
    let z = d.path().join("s.zarr");
    ok(run(&with_files(&["zarr", "-q", "-o", s(&z), "--chunks", "time=2"], &files, &[])));
    // -j 3 on any machine: files 0 and 3 are this process's, 1 and 4 the first
    // child's, 2 the second's.
    let verify_j = |j: &str| -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_padocc"));
        c.arg("verify").arg(&z).args(&files).args(["--concat-dim", "time", "--json", "-j", j]).env("PADOCC_SPLIT_MIN_BYTES", "0");
        c.output().unwrap()
    };
    let one: serde_json::Value = serde_json::from_slice(&ok(verify_j("1")).stdout).unwrap();
    let split: serde_json::Value = serde_json::from_slice(&ok(verify_j("3")).stdout).unwrap();
    assert_eq!(split["values_compared"], one["values_compared"], "{split:#}");
    assert_eq!(split["status"], "Success");
    // Differences in file 3 (this process) and file 1 (a child): one process
    // stops at file 1's, and so must the merged report.
    for (f, v) in [(3, -5.0), (1, -7.0)] {
        python(&format!("import netCDF4; d = netCDF4.Dataset('{}', 'a'); d['tas'][1, 2] = {v}; d.close()", files[f].display()));
    }
    for j in ["1", "3"] {
        let o = verify_j(j);
        let text = String::from_utf8_lossy(&o.stdout);
        assert_eq!(o.status.code(), Some(1), "-j {j}: {text}");
        let rep: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let err = &rep["data"]["variables"]["data_errors"]["tas"];
        assert!(err["file"].as_str().unwrap().ends_with("f1.nc"), "-j {j}: {err:#}");
        assert_eq!(err["source"], -7.0, "-j {j}: {err:#}");
    }
    // A file that is not netCDF stops it with the input error (exit 3), naming the file.
    std::fs::write(&files[4], b"not netCDF").unwrap();
    let o = verify_j("3");
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("f4.nc"), "{}", stderr(&o));
}

/// Groups: a Zarr store holds every group at its path (the clients open them
/// equal), verify compares every group's values and attributes, and a CFA
/// file keeps the group with its variable aggregated.
#[test]
fn groups_are_kept_in_every_product_and_verified() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("mixed.nc");
    write_mixed(&p);
    let files = vec![p.clone()];
    for (fmt, name) in [("3", "g3.zarr"), ("2", "g2.zarr")] {
        let out = d.path().join(name);
        ok(run(&with_files(&["zarr", "-q", "-o", s(&out), "--zarr-format", fmt], &files, &[])));
        check(&out, &files, &["--kind", "zarr", "--groups", "all"]);
        let rep: serde_json::Value = serde_json::from_slice(&ok(verify(&out, &files, &["--json"])).stdout).unwrap();
        assert_eq!(rep["status"], "Success", "{rep:#}");
    }
    // References: the subgroup's attributes are compared like the root's.
    let refs = d.path().join("g.json");
    ok(run(&with_files(&["refs", "-q", "-o", s(&refs)], &files, &[])));
    ok(verify(&refs, &files, &[]));
    let mut j: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&refs).unwrap()).unwrap();
    j["refs"]["sub/inner/.zattrs"] = serde_json::json!("{\"_ARRAY_DIMENSIONS\": [\"y\"]}");
    std::fs::write(&refs, j.to_string()).unwrap();
    let o = verify(&refs, &files, &[]);
    let said = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{said}");
    assert!(said.contains("sub/inner") && said.contains("comment"), "{said}");
    // A value changed in the subgroup after the copy is found, by path.
    check_env_ready();
    python(&format!("import netCDF4; d = netCDF4.Dataset('{}', 'a'); d['sub/inner'][1] = 3; d.close()", p.display()));
    let o = verify(&d.path().join("g3.zarr"), &files, &["--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stdout));
    let rep: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(rep["data"]["variables"]["data_errors"]["sub/inner"].is_object(), "{rep:#}");
    // CFA: the group is kept, its variable aggregated as "/sub/inner" (the
    // source was changed above: verify finds it in the group, by path).
    let nca = d.path().join("g.nca");
    ok(run(&with_files(&["cfa", "-q", "-o", s(&nca)], &files, &[])));
    check(&nca, &files, &["--kind", "cfa"]);
    let o = verify(&nca, &files, &["--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stdout));
    python(&format!(
        "import netCDF4, xarray as xr; d = netCDF4.Dataset('{0}'); assert d['sub'].variables['fragment_identifiers_sub_inner'][...] == '/sub/inner'; g = xr.open_dataset('{0}', engine='CFA', group='sub'); assert list(g['inner'].values) == [7, 3], g['inner'].values",
        nca.display()
    ));
}

/// A small deterministic generator: kill times must differ, not be secret.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % n.max(1)
    }
}

#[test]
fn zarr_conversion_killed_at_random_points_resumes_to_an_equal_store() {
    let d = tempfile::tempdir().unwrap();
    // Enough chunks (and slow enough compression) that kills land mid-way.
    let files: Vec<PathBuf> = (0..4)
        .map(|i| {
            let p = d.path().join(format!("big{i}.nc"));
            let t: Vec<f64> = (0..400).map(|k| (i * 400 + k) as f64).collect();
            Series { time: &t, units: "days since 2000-01-01", calendar: "standard", nx: 4000, chunk_time: Some(50), deflate: true, offset: i as f32, unlimited: true }.write(&p);
            p
        })
        .collect();
    let out = d.path().join("killed.zarr");
    let args = with_files(&["zarr", "-q", "-o", s(&out), "--concat-dim", "time", "--chunk-size", "16KiB", "--compression", "gzip", "--level", "9", "--json"], &files, &[]);
    let cmd = |a: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_padocc"));
        c.args(a).stdout(Stdio::piped()).stderr(Stdio::null());
        c
    };
    // How long an uninterrupted conversion takes, to spread the kills over it.
    let t0 = Instant::now();
    let reference = d.path().join("reference.zarr");
    let mut ref_args = args.clone();
    let pos = ref_args.iter().position(|a| *a == s(&out)).unwrap();
    let ref_path = reference.to_str().unwrap().to_string();
    ref_args[pos] = &ref_path;
    assert!(cmd(&ref_args).status().unwrap().success());
    let full = t0.elapsed().as_millis() as u64;
    assert!(full >= 100, "the conversion is too quick ({full} ms) for kills to land mid-way");

    let mut rng = Lcg(42);
    let mut kills = 0;
    let mut resumed_runs = 0;
    for _ in 0..25 {
        let mut child = cmd(&args).spawn().unwrap();
        // Within the first half: the reference run may have been slowed by
        // other tests, and a kill after the end proves nothing.
        std::thread::sleep(Duration::from_millis(20 + rng.next(full / 2)));
        let finished = child.try_wait().unwrap().is_some();
        if !finished {
            child.kill().unwrap();
            kills += 1;
        }
        let status = child.wait().unwrap();
        if status.success() {
            // It finished before the kill: start over for the next round.
            let o = child.wait_with_output().unwrap();
            let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
            if v["chunks_resumed"].as_u64().unwrap_or(0) > 0 {
                resumed_runs += 1;
            }
            std::fs::remove_dir_all(&out).unwrap();
            continue;
        }
        if out.exists() {
            // The kill landed after the rename that publishes the store and
            // before the process exited: what is under the final name must
            // then be the whole store.
            assert!(!padocc_partial(&out).exists() && !out.join(".padocc").exists(), "a killed conversion must never appear under the final name");
            ok(verify(&out, &files, &["--concat-dim", "time"]));
            std::fs::remove_dir_all(&out).unwrap();
        }
    }
    // Whatever the random kills did (on a busy machine they may all land
    // before the first chunk is stored), one more is made after a chunk is
    // journalled, so the final run must resume.
    let journal = padocc_partial(&out).join(".padocc").join("done");
    let mut child = cmd(&args).spawn().unwrap();
    let t0 = Instant::now();
    while std::fs::metadata(&journal).map(|m| m.len()).unwrap_or(0) == 0 && child.try_wait().unwrap().is_none() {
        assert!(t0.elapsed() < Duration::from_secs(60), "no chunk journalled in 60 s");
        std::thread::sleep(Duration::from_millis(2));
    }
    if child.try_wait().unwrap().is_none() {
        child.kill().unwrap();
        kills += 1;
    }
    child.wait().unwrap();
    if out.exists() {
        std::fs::remove_dir_all(&out).unwrap();
    }
    let o = cmd(&args).output().unwrap();
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    if v["chunks_resumed"].as_u64().unwrap_or(0) > 0 {
        resumed_runs += 1;
    }
    assert!(kills >= 15, "only {kills} kills landed mid-conversion");
    assert!(resumed_runs >= 1, "no run resumed from an interrupted one: {v}");
    assert!(!padocc_partial(&out).exists());
    ok(verify(&out, &files, &["--concat-dim", "time"]));
    check(&out, &files, &["--concat-dim", "time", "--kind", "zarr"]);

    // Sources changed since the interrupted run: it starts again rather than mixing.
    let mut child = cmd(&args).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(full / 2));
    let _ = child.kill();
    let _ = child.wait();
    let t: Vec<f64> = (0..400).map(|k| k as f64).collect();
    Series { time: &t, units: "days since 2000-01-01", calendar: "standard", nx: 4000, chunk_time: Some(50), deflate: true, offset: 100.0, unlimited: true }.write(&files[0]);
    let o = cmd(&args).output().unwrap();
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["chunks_resumed"], 0, "a changed source must not resume: {v}");
    ok(verify(&out, &files, &["--concat-dim", "time"]));
}
