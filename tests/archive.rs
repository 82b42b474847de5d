//! Properties of real archive files that used to fail, each on a file the
//! test writes, every product checked with the real clients (check_refs.py)
//! and with `padocc verify`.

mod common;

use std::path::{Path, PathBuf};

use common::*;

/// A three-file series whose variable has `_FillValue = NaN` and
/// `missing_value = NaN` in every file (and a global NaN attribute).
fn write_nan_fill_series(dir: &Path) -> Vec<PathBuf> {
    (0..3)
        .map(|i| {
            let p = dir.join(format!("nanfill_{i}.nc"));
            let _g = writing();
            let mut f = netcdf::create(&p).unwrap();
            f.add_unlimited_dimension("time").unwrap();
            f.add_dimension("x", 4).unwrap();
            f.add_attribute("valid_max_global", f64::NAN).unwrap();
            let mut t = f.add_variable::<f64>("time", &["time"]).unwrap();
            t.put_attribute("units", "days since 2000-01-01").unwrap();
            t.put_values(&[(2 * i) as f64, (2 * i + 1) as f64], 0..2).unwrap();
            let mut v = f.add_variable::<f32>("v", &["time", "x"]).unwrap();
            v.set_fill_value(f32::NAN).unwrap();
            v.put_attribute("missing_value", f32::NAN).unwrap();
            let vals: Vec<f32> = (0..8).map(|k| if k == 3 { f32::NAN } else { (k + 10 * i) as f32 }).collect();
            v.put_values(&vals, (0..2, 0..4)).unwrap();
            p
        })
        .collect()
}

/// `padocc CMD FILES -o OUT --concat-dim time -q` (refs, zarr or cfa), which must succeed.
fn make_along_time(cmd: &str, files: &[PathBuf], out: &Path) {
    let mut args = vec![cmd.to_string()];
    args.extend(files.iter().map(|f| f.display().to_string()));
    args.extend(["-o".into(), out.display().to_string(), "--concat-dim".into(), "time".into(), "-q".into()]);
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_padocc")).args(&args).output().unwrap();
    assert!(o.status.success(), "{cmd} -> {}: {}", out.display(), stderr(&o));
}

fn verify_ok(product: &Path, files: &[PathBuf]) {
    let mut args = vec!["verify".to_string(), product.display().to_string()];
    args.extend(files.iter().map(|f| f.display().to_string()));
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_padocc")).args(&args).output().unwrap();
    assert!(o.status.success(), "verify {}: {}{}", product.display(), String::from_utf8_lossy(&o.stdout), stderr(&o));
}

/// Item 1: NaN fill values are one fill value across files, in every product.
#[test]
fn nan_fill_values_are_equal_across_files() {
    let d = tempfile::tempdir().unwrap();
    let files = write_nan_fill_series(d.path());
    for name in ["o.json", "o.parquet"] {
        let out = d.path().join(name);
        refs_ok(&files, &out, &[]);
        check(&out, &files, &[]);
        verify_ok(&out, &files);
    }
    let z = d.path().join("o.zarr");
    let mut args = vec!["zarr".to_string()];
    args.extend(files.iter().map(|f| f.display().to_string()));
    args.extend(["-o".into(), z.display().to_string(), "-q".into()]);
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_padocc")).args(&args).output().unwrap();
    assert!(o.status.success(), "zarr: {}", stderr(&o));
    check(&z, &files, &[]);
    verify_ok(&z, &files);
    let c = d.path().join("o.nca");
    args[0] = "cfa".into();
    let n = args.len();
    args[n - 2] = c.display().to_string();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_padocc")).args(&args).output().unwrap();
    assert!(o.status.success(), "cfa: {}", stderr(&o));
    check(&c, &files, &[]);
    verify_ok(&c, &files);
}

/// Item 4: attributes whose names start with `_nc` (any case), which xarray's
/// zarr engine hides, are kept in the product and compared by `verify`.
#[test]
fn attributes_xarray_hides_are_kept() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("nc_attrs.nc");
    {
        let _g = writing();
        let mut f = netcdf::create(&p).unwrap();
        f.add_dimension("x", 3).unwrap();
        f.add_attribute("_NCextra", 7i32).unwrap();
        let mut v = f.add_variable::<f64>("v", &["x"]).unwrap();
        v.put_attribute("_ncHidden", "kept").unwrap();
        v.put_values(&[1.0, 2.0, 3.0], ..).unwrap();
    }
    let out = d.path().join("o.json");
    refs_ok(std::slice::from_ref(&p), &out, &[]);
    let j: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let zattrs: serde_json::Value = serde_json::from_str(j["refs"][".zattrs"].as_str().unwrap()).unwrap();
    let vattrs: serde_json::Value = serde_json::from_str(j["refs"]["v/.zattrs"].as_str().unwrap()).unwrap();
    assert_eq!((zattrs["_NCextra"].as_i64(), vattrs["_ncHidden"].as_str()), (Some(7), Some("kept")), "{zattrs} {vattrs}");
    verify_ok(&out, std::slice::from_ref(&p));
    check(&out, std::slice::from_ref(&p), &[]);
    // verify sees them: a product that lost one is a difference.
    let mut lost = j.clone();
    lost["refs"]["v/.zattrs"] = serde_json::Value::String(r#"{"_ARRAY_DIMENSIONS": ["x"]}"#.into());
    let bad = d.path().join("lost.json");
    std::fs::write(&bad, lost.to_string()).unwrap();
    let o = padocc(&["verify", bad.to_str().unwrap(), p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stdout));
}

/// padocc 1.5.1 behaviours: files are group-writable (umask 002, or
/// PADOCC_UMASK); `set_attr cloud_format` writes the key padocc reads and
/// `check_attr revision` shows the revision.
#[test]
fn group_workspaces_and_project_properties() {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().unwrap();
    let wd = d.path().join("wd");
    let csv = d.path().join("in.csv");
    std::fs::write(&csv, format!("p0,{}/*.nc\n", testdata("series/padocc-1DAgg").display())).unwrap();
    let pad = |args: &[&str], umask: Option<&str>| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_padocc"));
        c.arg("-w").arg(&wd).args(args).env_remove("WORKDIR").env_remove("PADOCC_UMASK");
        if let Some(m) = umask {
            c.env("PADOCC_UMASK", m);
        }
        let o = c.output().unwrap();
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        o
    };
    pad(&["init", "-G", "g", "-i", csv.to_str().unwrap()], None);
    for f in ["groups/g/proj_codes/main.txt", "in_progress/g/p0/base-cfg.json", "in_progress/g/p0/status_log.csv"] {
        let mode = std::fs::metadata(wd.join(f)).unwrap().permissions().mode();
        assert_eq!(mode & 0o020, 0o020, "{f} is not group-writable: {mode:o}");
    }
    let mode = std::fs::metadata(wd.join("in_progress/g/p0")).unwrap().permissions().mode();
    assert_eq!(mode & 0o020, 0o020, "project directory: {mode:o}");
    pad(&["init", "-G", "h", "-i", csv.to_str().unwrap()], Some("022"));
    assert_eq!(std::fs::metadata(wd.join("in_progress/h/p0/base-cfg.json")).unwrap().permissions().mode() & 0o020, 0);
    let show = |attr: &str| String::from_utf8_lossy(&pad(&["check_attr", "-G", "g", "--attr", attr], None).stdout).trim().to_string();
    assert_eq!(show("revision"), "p0 - revision: \"1.0\"");
    pad(&["set_attr", "-G", "g", "--attr", "cloud_format", "--value", "zarr"], None);
    let base: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(wd.join("in_progress/g/p0/base-cfg.json")).unwrap()).unwrap();
    assert_eq!(base["override"]["cloud_type"], "zarr", "{base:#}");
    assert!(base.get("cloud_format").is_none(), "a stray key: {base:#}");
    assert_eq!(show("revision"), "p0 - revision: \"r1.0\"");
    assert_eq!(show("cloud_format"), "p0 - cloud_format: \"zarr\"");
    assert_eq!(show("outproduct"), "p0 - outproduct: \"zr1.0a\"");
}

/// padocc 1.5.1's subset operations on the command line: merge_subsets,
/// remove_subset and remove_by_status (which padocc's own API never managed:
/// it always failed).
#[test]
fn subsets_merged_removed_and_projects_removed_by_status() {
    let d = tempfile::tempdir().unwrap();
    let wd = d.path().join("wd");
    let csv = d.path().join("in.csv");
    let pattern = format!("{}/*.nc", testdata("series/padocc-1DAgg").display());
    std::fs::write(&csv, (0..4).map(|i| format!("p{i},{pattern}")).collect::<Vec<_>>().join("\n")).unwrap();
    let pad = |args: &[&str]| padocc_ok(&wd, args);
    pad(&["init", "-G", "g", "-i", csv.to_str().unwrap()]);
    pad(&["repeat", "-G", "g", "-p", "p0,p1", "--new_repeat", "a"]);
    pad(&["repeat", "-G", "g", "-p", "p1,p2", "--new_repeat", "b"]);
    pad(&["merge_subsets", "-G", "g", "--subsets", "a,b", "--new_repeat", "ab", "--remove_after"]);
    let codes = |r: &str| std::fs::read_to_string(wd.join(format!("groups/g/proj_codes/{r}.txt"))).unwrap();
    assert_eq!(codes("ab"), "p0\np1\np2");
    assert!(!wd.join("groups/g/proj_codes/a.txt").exists() && !wd.join("groups/g/proj_codes/b.txt").exists());
    pad(&["remove_subset", "-G", "g", "-r", "ab"]);
    assert!(!wd.join("groups/g/proj_codes/ab.txt").exists());
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_padocc")).arg("-w").arg(&wd).args(["remove_subset", "-G", "g", "-r", "main"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    pad(&["update_status", "-G", "g", "-p", "p3", "--old_phase", "init", "--old_status", "Success", "--new_status", "Fatal-bad_data"]);
    pad(&["remove_by_status", "-G", "g", "--phase", "init", "--status", "Fatal", "--yes"]);
    assert_eq!(codes("main"), "p0\np1\np2");
    assert!(!wd.join("in_progress/g/p3").exists());
}

/// Met-station files: netCDF-3, an unlimited time of 1440 records and
/// several scalar-per-record variables, time units that differ per file.
fn write_station_series(dir: &Path) -> Vec<PathBuf> {
    (0..3)
        .map(|k| {
            let p = dir.join(format!("station_{k}.nc"));
            let _g = writing();
            let mut f = netcdf::create_with(&p, netcdf::Options::CLASSIC).unwrap();
            f.add_unlimited_dimension("time").unwrap();
            let n = 1440usize;
            {
                let mut t = f.add_variable::<f64>("time", &["time"]).unwrap();
                t.put_attribute("units", format!("minutes since 2001-01-0{} 00:00", k + 1).as_str()).unwrap();
            }
            for v in ["temp", "rh", "wspd", "wdir", "pres"] {
                let mut x = f.add_variable::<f32>(v, &["time"]).unwrap();
                x.put_attribute("units", "1").unwrap();
            }
            f.enddef().unwrap();
            f.variable_mut("time").unwrap().put_values(&(0..n).map(|i| i as f64).collect::<Vec<_>>(), 0..n).unwrap();
            for (j, v) in ["temp", "rh", "wspd", "wdir", "pres"].iter().enumerate() {
                let vals: Vec<f32> = (0..n).map(|i| (k * n + i) as f32 * 0.01 + j as f32).collect();
                f.variable_mut(v).unwrap().put_values(&vals, 0..n).unwrap();
            }
            p
        })
        .collect()
}

/// Contiguous arrays of different lengths per file (a leap year: 366, 365,
/// 365 steps of 6 x 6 float32, 144 bytes each).
fn write_leap_year_series(dir: &Path) -> Vec<PathBuf> {
    [366usize, 365, 365]
        .iter()
        .enumerate()
        .map(|(k, &n)| {
            let p = dir.join(format!("year_{k}.nc"));
            let _g = writing();
            let mut f = netcdf::create(&p).unwrap();
            f.add_dimension("time", n).unwrap();
            f.add_dimension("y", 6).unwrap();
            f.add_dimension("x", 6).unwrap();
            let mut t = f.add_variable::<f64>("time", &["time"]).unwrap();
            t.put_attribute("units", format!("days since {}-01-01", 2000 + k).as_str()).unwrap();
            t.put_values(&(0..n).map(|i| i as f64).collect::<Vec<_>>(), 0..n).unwrap();
            let mut v = f.add_variable::<f32>("v", &["time", "y", "x"]).unwrap();
            v.put_values(&(0..n * 36).map(|i| (i + k * 100_000) as f32).collect::<Vec<_>>(), (0..n, 0..6, 0..6)).unwrap();
            p
        })
        .collect()
}

/// External references in a kerchunk JSON smaller than `threshold`, other
/// than each array's last chunk: (key, size).
fn small_refs(product: &Path, threshold: u64) -> Vec<(String, u64)> {
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(product).unwrap()).unwrap();
    let refs = v["refs"].as_object().unwrap();
    let mut by_var: std::collections::BTreeMap<&str, Vec<(&str, u64)>> = Default::default();
    for (k, r) in refs {
        if let (Some((var, idx)), Some(a)) = (k.rsplit_once('/'), r.as_array()) {
            if a.len() == 3 && !idx.starts_with('.') {
                by_var.entry(var).or_default().push((k.as_str(), a[2].as_u64().unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    for (_, mut v) in by_var {
        // The last chunk in C order (keys "i.j.k" compared as numbers).
        v.sort_by_key(|(k, _)| k.rsplit_once('/').unwrap().1.split('.').map(|x| x.parse::<u64>().unwrap()).collect::<Vec<_>>());
        v.pop();
        out.extend(v.into_iter().filter(|(_, s)| *s < threshold).map(|(k, s)| (k.to_string(), s)));
    }
    out
}

/// Item 2: many tiny references (netCDF-3 record variables; contiguous arrays
/// of uneven lengths cut per step) are stored inline instead: no external
/// reference smaller than the threshold but an array's last, the products
/// equal their sources, and `--inline-threshold 0` keeps the old references.
#[test]
fn tiny_pieces_are_stored_inline() {
    let d = tempfile::tempdir().unwrap();
    for (name, files) in [("station", write_station_series(d.path())), ("leap", write_leap_year_series(d.path()))] {
        let kept = d.path().join(format!("{name}-kept.json"));
        refs_ok(&files, &kept, &["--concat-dim", "time", "--inline-threshold", "0"]);
        assert!(small_refs(&kept, 4096).len() > 100, "{name}: the case no longer has tiny references");
        for out in [d.path().join(format!("{name}.json")), d.path().join(format!("{name}.parquet"))] {
            refs_ok(&files, &out, &["--concat-dim", "time"]);
            if out.extension().is_some_and(|e| e == "json") {
                let small = small_refs(&out, 4096);
                assert!(small.is_empty(), "{name}: small external references left: {:?}", &small[..small.len().min(5)]);
                let keys = |p: &Path| serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(p).unwrap()).unwrap()["refs"].as_object().unwrap().len();
                assert!(keys(&out) * 10 < keys(&kept), "{name}: {} keys, {} before", keys(&out), keys(&kept));
            }
            check(&out, &files, &["--concat-dim", "time"]);
            verify_ok(&out, &files);
        }
    }
}

/// Variable names of a product, as zarr-python 3 lists its arrays.
fn product_vars(product: &Path) -> Vec<String> {
    let code = "import sys, xarray as xr\np=sys.argv[1]\nif p.endswith('.nca'):\n    import netCDF4\n    print(' '.join(sorted(v for v in netCDF4.Dataset(p).variables if not v.startswith('fragment_'))))\nelse:\n    ds = xr.open_dataset(p, engine='kerchunk' if p.endswith('.json') else 'zarr', decode_times=False)\n    print(' '.join(sorted(ds.variables)))";
    check_env_ready();
    let o = std::process::Command::new("/tmp/refenv/bin/python").args(["-c", code, &product.display().to_string()]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    String::from_utf8_lossy(&o.stdout).split_whitespace().map(String::from).collect()
}

/// padocc's keep_vars / drop_vars: `--keep-vars`/`--drop-vars` outside a
/// working directory, and base-cfg.json's keep_vars (the CSV's fifth column)
/// and drop_vars in the pipeline, for every product kind; validation compares
/// the selection (and the full comparison names what was left out).
#[test]
fn variable_selection_keep_vars_and_drop_vars() {
    let d = tempfile::tempdir().unwrap();
    let files = series("cmip6-FGOALS-g3-Amon-ta");
    let strs: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    let run = |args: &[&str]| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_padocc")).args(args).args(&strs).output().unwrap();
        (o.status.code(), String::from_utf8_lossy(&o.stdout).into_owned() + &stderr(&o))
    };
    let bounds = "time_bnds,lat_bnds,lon_bnds";
    for (cmd, ext) in [("refs", "json"), ("zarr", "zarr"), ("cfa", "nca")] {
        let out = d.path().join(format!("keep.{ext}"));
        let o = out.display().to_string();
        let (code, msg) = run(&[cmd, "-o", &o, "--concat-dim", "time", "--keep-vars", "ta", "-q"]);
        assert_eq!(code, Some(0), "{cmd}: {msg}");
        let mut vars = product_vars(&out);
        vars.retain(|v| v != "bnds");
        assert_eq!(vars, ["lat", "lon", "plev", "ta", "time"], "{cmd}");
        if ext != "nca" {
            // (the bounds' dimension goes with them: check_refs ignores a dimension named there too)
            check(&out, &files, &["--concat-dim", "time", "--ignore-vars", &format!("{bounds},bnds")]);
        }
        let (code, msg) = run(&["verify", &o, "--concat-dim", "time", "--keep-vars", "ta"]);
        assert_eq!(code, Some(0), "verify {cmd} --keep-vars: {msg}");
        let (code, msg) = run(&["verify", &o, "--concat-dim", "time"]);
        assert_eq!(code, Some(1), "verify {cmd} of everything must name what was left out: {msg}");
        assert!(msg.contains("_bnds") && msg.contains("missing from product"), "{msg}");
    }
    let out = d.path().join("drop.json");
    let (code, msg) = run(&["refs", "-o", &out.display().to_string(), "--concat-dim", "time", "--drop-vars", bounds, "-q"]);
    assert_eq!(code, Some(0), "{msg}");
    assert_eq!(product_vars(&out), ["lat", "lon", "plev", "ta", "time"]);

    // The pipeline: keep_vars from the CSV, drop_vars from base-cfg.json.
    let wd = d.path().join("wd");
    let csv = d.path().join("in.csv");
    let dir = files[0].parent().unwrap().display().to_string();
    std::fs::write(&csv, format!("k,{dir}/*.nc,,,ta\nd,{dir}/*.nc,,\n")).unwrap();
    let pad = |args: &[&str]| padocc_ok(&wd, args);
    pad(&["init", "-G", "g", "-i", csv.to_str().unwrap()]);
    let cfg = wd.join("in_progress/g/d/base-cfg.json");
    let mut base: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&cfg).unwrap()).unwrap();
    base["drop_vars"] = serde_json::json!(["lat_bnds", "lon_bnds"]);
    std::fs::write(&cfg, base.to_string()).unwrap();
    pad(&["scan", "-G", "g"]);
    for cf in ["kerchunk", "zarr"] {
        pad(&["compute", "-G", "g", "-C", cf, "-f"]);
        let v: serde_json::Value = serde_json::from_slice(&pad(&["validate", "-G", "g", "--format", "json"]).stdout).unwrap();
        assert_eq!(v["failed"], 0, "{cf}: {v:#}");
    }
    let k = product_vars(&wd.join("in_progress/g/k/k1.0a.json"));
    assert_eq!(k, ["lat", "lon", "plev", "ta", "time"]);
    let dz = product_vars(&wd.join("in_progress/g/d/zr1.0a.zarr"));
    assert_eq!(dz, ["lat", "lon", "plev", "ta", "time", "time_bnds"]);
    let kc = product_vars(&wd.join("in_progress/g/k/k.nca"));
    assert!(!kc.iter().any(|v| v.ends_with("_bnds")), "{kc:?}");
}

/// Variables whose `units` is empty (and one without units) in a CF
/// aggregation file: cfapyx reads them (it converted "" to "None" and failed).
#[test]
fn cfa_variables_with_empty_units_read_in_cfapyx() {
    let d = tempfile::tempdir().unwrap();
    let files: Vec<PathBuf> = (0..2)
        .map(|i| {
            let p = d.path().join(format!("u{i}.nc"));
            let _g = writing();
            let mut f = netcdf::create(&p).unwrap();
            f.add_unlimited_dimension("time").unwrap();
            f.add_dimension("x", 3).unwrap();
            let mut t = f.add_variable::<f64>("time", &["time"]).unwrap();
            t.put_attribute("units", "days since 2000-01-01").unwrap();
            t.put_values(&[(2 * i) as f64, (2 * i + 1) as f64], 0..2).unwrap();
            let mut v = f.add_variable::<f32>("ratio", &["time", "x"]).unwrap();
            v.put_attribute("units", "").unwrap();
            v.put_values(&(0..6).map(|k| (k + 10 * i) as f32).collect::<Vec<_>>(), (0..2, 0..3)).unwrap();
            let mut w = f.add_variable::<i32>("flag", &["time"]).unwrap();
            w.put_values(&[i, i], 0..2).unwrap();
            p
        })
        .collect();
    let out = d.path().join("u.nca");
    make_along_time("cfa", &files, &out);
    check(&out, &files, &["--concat-dim", "time"]);
    verify_ok(&out, &files);
}

/// HDF5 chunks stored without some of their filters (filter mask): a series
/// where one file has such a chunk and the other not. Every product kind reads
/// equal to the sources; the references store that variable decoded, inline.
#[test]
fn chunks_that_skipped_filters_are_stored_decoded() {
    check_env_ready();
    let d = tempfile::tempdir().unwrap();
    let files: Vec<PathBuf> = [(0, true), (4, false)]
        .iter()
        .map(|&(t0, mask)| {
            let p = d.path().join(format!("masked_{t0}.h5"));
            let mut c = std::process::Command::new("/tmp/refenv/bin/python");
            c.arg(repo().join("tests/support/masked_chunks.py")).arg(&p).arg(t0.to_string());
            if mask {
                c.arg("--mask");
            }
            let o = c.output().unwrap();
            assert!(o.status.success(), "{}", stderr(&o));
            p
        })
        .collect();
    for (cmd, ext) in [("refs", "json"), ("refs", "parquet"), ("zarr", "zarr"), ("cfa", "nca")] {
        let out = d.path().join(format!("m.{ext}"));
        make_along_time(cmd, &files, &out);
        check(&out, &files, &["--concat-dim", "time"]);
        verify_ok(&out, &files);
    }
    let refs: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(d.path().join("m.json")).unwrap()).unwrap();
    let v_keys: Vec<(&String, &serde_json::Value)> = refs["refs"].as_object().unwrap().iter().filter(|(k, _)| k.starts_with("v/") && !k.contains(".z")).collect();
    assert!(!v_keys.is_empty() && v_keys.iter().all(|(_, r)| r.is_string()), "v is stored inline: {v_keys:?}");
}

/// Input files as padocc finds them: a pattern through a `latest` symlink
/// records the versioned files the links point to; `init --substitutions`
/// (padocc's schema: init_file, dataset_file, datasets) rewrites the CSV's
/// lines, a .txt pattern and every file path, and is kept in base-cfg.json.
#[test]
fn latest_links_and_substitutions_from_the_command_line() {
    use std::os::unix::fs::symlink;
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("archive");
    let src = series("padocc-1DAgg");
    for dir in ["files/d1", "files/d2", "v1"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    for (i, f) in src.iter().take(3).enumerate() {
        let name = format!("x_{i}.nc");
        std::fs::copy(f, root.join("files/d1").join(&name)).unwrap();
        std::fs::copy(f, root.join("files/d2").join(&name)).unwrap();
        symlink(format!("../files/d1/{name}"), root.join("v1").join(&name)).unwrap();
    }
    symlink("v1", root.join("latest")).unwrap();
    // padocc's dataset_file rewrites a .txt pattern (the list's own path).
    std::fs::create_dir(d.path().join("lists")).unwrap();
    let list = d.path().join("lists/list.txt");
    std::fs::write(&list, format!("{0}/files/d1/x_0.nc\n{0}/files/d1/x_1.nc\n", root.display())).unwrap();
    let csv = d.path().join("in.csv");
    std::fs::write(&csv, format!("proj_code,pattern,updates,removals\nlat,{}/latest/*.nc,,\nsub,@LIST@,,\n", root.display())).unwrap();
    let subs = d.path().join("subs.json");
    let subs_doc = serde_json::json!({
        "init_file": {"@LIST@": d.path().join("OLDLISTS/list.txt").display().to_string()},
        "dataset_file": {"OLDLISTS": "lists"},
        "datasets": {"/files/d1/": "/files/d2/"},
    });
    std::fs::write(&subs, subs_doc.to_string()).unwrap();
    let wd = d.path().join("wd");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_padocc"))
        .arg("-w")
        .arg(&wd)
        .args(["init", "-G", "g", "-i", csv.to_str().unwrap(), "--substitutions", subs.to_str().unwrap()])
        .env_remove("WORKDIR")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let allfiles = |code: &str| std::fs::read_to_string(wd.join(format!("in_progress/g/{code}/allfiles.txt"))).unwrap();
    // Through `latest`: the files the links point to (then `datasets` applies).
    let want_lat: Vec<String> = (0..3).map(|i| root.join(format!("files/d2/x_{i}.nc")).display().to_string()).collect();
    assert_eq!(allfiles("lat").lines().collect::<Vec<_>>(), want_lat);
    let want_sub: Vec<String> = (0..2).map(|i| root.join(format!("files/d2/x_{i}.nc")).display().to_string()).collect();
    assert_eq!(allfiles("sub").lines().collect::<Vec<_>>(), want_sub);
    let base: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(wd.join("in_progress/g/sub/base-cfg.json")).unwrap()).unwrap();
    assert_eq!(base["substitutions"], subs_doc);
    assert_eq!(base["pattern"], list.display().to_string());
    // A latest pattern without substitutions keeps the versioned d1 files.
    let csv2 = d.path().join("in2.csv");
    std::fs::write(&csv2, format!("lat2,{}/latest/*.nc,,\n", root.display())).unwrap();
    let o =
        std::process::Command::new(env!("CARGO_BIN_EXE_padocc")).arg("-w").arg(&wd).args(["init", "-G", "h", "-i", csv2.to_str().unwrap()]).env_remove("WORKDIR").output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let got = std::fs::read_to_string(wd.join("in_progress/h/lat2/allfiles.txt")).unwrap();
    assert_eq!(got.lines().collect::<Vec<_>>(), (0..3).map(|i| root.join(format!("files/d1/x_{i}.nc")).display().to_string()).collect::<Vec<_>>());
}

/// The CSV's updates and removals (padocc 1.5.1 stores them and never applies
/// them) are applied to every product kind, kept by complete, and not counted
/// as differences by validate; the values are still the sources'.
#[test]
fn csv_updates_and_removals_are_applied_to_every_product() {
    check_env_ready();
    let d = tempfile::tempdir().unwrap();
    let files = series("padocc-1DAgg");
    let upd = d.path().join("upd.json");
    std::fs::write(&upd, r#"{"title": "edited by padocc", "rain.long_name": "rainfall", "nemo": 7}"#).unwrap();
    let rem = d.path().join("rem.json");
    std::fs::write(&rem, r#"["time.axis", "lon.standard_name"]"#).unwrap();
    let wd = d.path().join("wd");
    let csv = d.path().join("in.csv");
    std::fs::write(&csv, format!("e,{}/*.nc,{},{}\n", files[0].parent().unwrap().display(), upd.display(), rem.display())).unwrap();
    let pad = |args: &[&str]| padocc_ok(&wd, args);
    pad(&["init", "-G", "g", "-i", csv.to_str().unwrap()]);
    pad(&["scan", "-G", "g"]);
    let probe = "import sys, json, xarray as xr\np=sys.argv[1]\nkw={'engine':'kerchunk'} if p.endswith('.json') else ({'engine':'CFA'} if p.endswith('.nca') else {'engine':'zarr'})\nds=xr.open_dataset(p, decode_times=False, **kw)\nprint(json.dumps({'title': ds.attrs.get('title'), 'nemo': str(ds.attrs.get('nemo')), 'rain': ds['rain'].attrs.get('long_name'), 'axis': 'axis' in ds['time'].attrs, 'lon_sn': 'standard_name' in ds['lon'].attrs}))";
    let ignore = ["--ignore-attrs", "title,nemo,long_name,axis,standard_name"];
    for cf in ["kerchunk", "zarr"] {
        pad(&["compute", "-G", "g", "-C", cf, "-f"]);
        let v: serde_json::Value = serde_json::from_slice(&pad(&["validate", "-G", "g", "--format", "json"]).stdout).unwrap();
        assert_eq!(v["failed"], 0, "{cf}: {v:#}");
        let done = d.path().join(format!("done-{cf}"));
        pad(&["complete", "-G", "g", "-f", "--completion_dir", done.to_str().unwrap()]);
        let mut products: Vec<PathBuf> = std::fs::read_dir(done.join("data")).unwrap().flatten().map(|e| e.path()).collect();
        products.sort();
        assert!(products.len() >= 2, "{products:?}");
        for product in &products {
            let o = std::process::Command::new("/tmp/refenv/bin/python").args(["-c", probe, &product.display().to_string()]).output().unwrap();
            assert!(o.status.success(), "{}: {}", product.display(), stderr(&o));
            let got: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            assert_eq!(got, serde_json::json!({"title": "edited by padocc", "nemo": "7", "rain": "rainfall", "axis": false, "lon_sn": false}), "{}", product.display());
            if product.extension().is_some_and(|e| e != "nca") {
                check(product, &files, &[&["--concat-dim", "time"][..], &ignore[..]].concat());
            }
        }
    }
}

/// Run padocc on a working directory; panics with its output unless it succeeds.
fn padocc_ok(wd: &Path, args: &[&str]) -> std::process::Output {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_padocc")).arg("-w").arg(wd).args(args).env_remove("WORKDIR").output().unwrap();
    assert!(o.status.success(), "{args:?}: {}{}", String::from_utf8_lossy(&o.stdout), stderr(&o));
    o
}

/// The global attributes and one variable's, as xarray reads a product
/// (kerchunk, Zarr or, through cfapyx, CFA).
const ATTR_PROBE: &str = "import sys, json, xarray as xr\np=sys.argv[1]\nkw={'engine':'kerchunk'} if p.endswith('.json') else ({'engine':'CFA'} if p.endswith('.nca') else {'engine':'zarr'})\nds=xr.open_dataset(p, decode_times=False, **kw)\nv=sys.argv[2] if len(sys.argv) > 2 else 'rain'\nprint(json.dumps({'global': {k: str(v) for k, v in ds.attrs.items()}, 'rain': {k: str(v) for k, v in ds[v].attrs.items()}, 'time': {k: str(v) for k, v in ds['time'].attrs.items()}, 'sum': float(__import__('numpy').asarray(ds[v].values, dtype='float64').sum())}))";

fn probe_attrs(product: &Path) -> serde_json::Value {
    probe_var_attrs(product, "rain")
}

fn probe_var_attrs(product: &Path, var: &str) -> serde_json::Value {
    let o = std::process::Command::new("/tmp/refenv/bin/python").args(["-c", ATTR_PROBE, &product.display().to_string(), var]).output().unwrap();
    assert!(o.status.success(), "{}: {}", product.display(), stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// padocc's provenance attributes in every product (not differences for
/// validate), update_attribute/remove_attribute on existing products (the
/// CFA file whole and readable after each), kept by a new version, and
/// padocc's history on completion.
#[test]
fn provenance_and_attribute_edits_of_existing_products() {
    check_env_ready();
    let d = tempfile::tempdir().unwrap();
    let files = series("padocc-1DAgg");
    let wd = d.path().join("wd");
    let csv = d.path().join("in.csv");
    let ta = series("cmip6-FGOALS-g3-Amon-ta");
    std::fs::write(&csv, format!("e,{}/*.nc,,\nt,{}/*.nc,,\n", files[0].parent().unwrap().display(), ta[0].parent().unwrap().display())).unwrap();
    let pad = |args: &[&str]| padocc_ok(&wd, args);
    let validate_ok = |what: &str| {
        let v: serde_json::Value = serde_json::from_slice(&pad(&["validate", "-G", "g", "-f", "--format", "json"]).stdout).unwrap();
        assert_eq!(v["failed"], 0, "{what}: {v:#}");
    };
    pad(&["init", "-G", "g", "-i", csv.to_str().unwrap()]);
    pad(&["scan", "-G", "g"]);
    pad(&["compute", "-G", "g"]);
    let proj = wd.join("in_progress/g/e");
    let (kfile, nca) = (proj.join("k1.0a.json"), proj.join("e.nca"));
    let source_sum = probe_attrs(&kfile)["sum"].as_f64().unwrap();
    // Provenance, as padocc adds it; validate knows it is the tool's.
    for p in [&kfile, &nca] {
        let g = &probe_attrs(p)["global"];
        assert_eq!(g["aggregation"], "padocc", "{}", p.display());
        let date = g["aggregation_date"].as_str().unwrap();
        assert!(date.len() == 20 && date.ends_with('Z') && &date[10..11] == "T", "{date}");
    }
    validate_ok("fresh products");
    check(&kfile, &files, &["--concat-dim", "time"]);

    // Edits of the products where they lie, recorded for compute and validate.
    let k_before = std::fs::read_to_string(&kfile).unwrap();
    pad(&["update_attribute", "-G", "g", "--attr", "title", "--value", "Edited rainfall"]);
    pad(&["update_attribute", "-G", "g", "-p", "e", "--attr", "rain.units", "--value", "mm day-1"]);
    // An aggregated variable relabelled: the CFA file is made again with it copied
    // (cfapyx would convert its fragments to the new units).
    let t_nca = wd.join("in_progress/g/t/t.nca");
    let t_sum = probe_var_attrs(&t_nca, "ta")["sum"].as_f64().unwrap();
    pad(&["update_attribute", "-G", "g", "-p", "t", "--attr", "ta.units", "--value", "kelvin"]);
    let a = probe_var_attrs(&t_nca, "ta");
    assert_eq!((a["rain"]["units"].as_str(), a["sum"].as_f64()), (Some("kelvin"), Some(t_sum)), "{a}");
    pad(&["update_attribute", "-G", "g", "--attr", "version", "--value", "3"]);
    let o = pad(&["remove_attribute", "-G", "g", "--attr", "time.axis", "--format", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!((report[0]["code"].as_str(), report[0]["edited"].as_array().unwrap().len()), (Some("e"), 2), "{report:#}");
    for p in [&kfile, &nca] {
        let a = probe_attrs(p);
        assert_eq!(a["global"]["title"], "Edited rainfall", "{}", p.display());
        assert_eq!(a["global"]["version"], "3", "{}", p.display());
        assert_eq!(a["rain"]["units"], "mm day-1", "{}", p.display());
        assert!(a["time"].get("axis").is_none(), "{}: {a}", p.display());
        // The CFA file is whole: its aggregated values still read.
        assert_eq!(a["sum"].as_f64().unwrap(), source_sum, "{}", p.display());
    }
    // Only metadata lines changed in the reference file.
    let k_after = std::fs::read_to_string(&kfile).unwrap();
    let changed = k_before.lines().zip(k_after.lines()).filter(|(a, b)| a != b).count();
    assert_eq!((changed, k_before.lines().count()), (3, k_after.lines().count()));
    let base: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(proj.join("base-cfg.json")).unwrap()).unwrap();
    assert_eq!(base["update"], serde_json::json!({"title": "Edited rainfall", "rain.units": "mm day-1", "version": 3}));
    assert_eq!(base["remove"], serde_json::json!(["time.axis"]));
    validate_ok("edited products");
    let edited = ["--concat-dim", "time", "--ignore-attrs", "title,version,units,axis"];
    check(&kfile, &files, &edited);

    // A new version keeps the edits and, on completion, gets padocc's history.
    pad(&["compute", "-G", "g", "-n"]);
    let k11 = proj.join("k1.1a.json");
    assert_eq!(probe_attrs(&k11)["global"]["title"], "Edited rainfall");
    validate_ok("new version");
    let done = d.path().join("done");
    pad(&["complete", "-G", "g", "--completion_dir", done.to_str().unwrap()]);
    for name in ["e_k1.1.json", "e_c1.1.nca"] {
        let a = probe_attrs(&done.join("data").join(name));
        let history = a["global"]["history"].as_str().unwrap_or_default().to_string();
        assert!(history.contains("1.0: ") && history.ends_with(" for padocc-rs"), "{name}: {history:?}");
    }

    // A Zarr store, v3, edited in place too.
    pad(&["compute", "-G", "g", "-C", "zarr", "-f"]);
    pad(&["update_attribute", "-G", "g", "--attr", "title", "--value", "Zarr title"]);
    let zarr = std::fs::read_dir(&proj).unwrap().flatten().map(|e| e.path()).find(|p| p.extension().is_some_and(|e| e == "zarr")).unwrap();
    let a = probe_attrs(&zarr);
    assert_eq!((a["global"]["title"].as_str(), a["rain"]["units"].as_str()), (Some("Zarr title"), Some("mm day-1")));
    validate_ok("edited Zarr");

    // One project that cannot be edited (a damaged store) does not stop the others.
    let t_zarr = wd.join("in_progress/g/t").join(zarr.file_name().unwrap());
    std::fs::write(t_zarr.join("zarr.json"), "{not json").unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_padocc"))
        .arg("-w")
        .arg(&wd)
        .args(["update_attribute", "-G", "g", "--attr", "comment", "--value", "later", "--format", "json"])
        .env_remove("WORKDIR")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let by_code = |c: &str| report.as_array().unwrap().iter().find(|r| r["code"] == c).unwrap().clone();
    assert!(by_code("t")["error"].as_str().unwrap().contains("zarr.json"), "{report:#}");
    assert!(by_code("e")["error"].is_null() && by_code("e")["edited"].as_array().unwrap().len() == 2, "{report:#}");
    assert_eq!(probe_attrs(&zarr)["global"]["comment"], "later");
}

/// Three files along time, each with groups: `grp` (its own dimension `y`,
/// attributes, a variable on the root's `time`) and `grp/deep` below it.
fn write_grouped_series(dir: &Path) -> Vec<PathBuf> {
    (0..3)
        .map(|i| {
            let p = dir.join(format!("grouped_{i}.nc"));
            let _g = writing();
            let mut f = netcdf::create(&p).unwrap();
            f.add_attribute("Conventions", "CF-1.8").unwrap();
            f.add_dimension("time", 2).unwrap();
            f.add_dimension("x", 3).unwrap();
            let mut t = f.add_variable::<f64>("time", &["time"]).unwrap();
            t.put_attribute("units", "days since 2000-01-01").unwrap();
            t.put_values(&[(2 * i) as f64, (2 * i + 1) as f64], ..).unwrap();
            let mut tas = f.add_variable::<f32>("tas", &["time", "x"]).unwrap();
            tas.put_attribute("units", "K").unwrap();
            tas.put_values(&(0..6).map(|k| (k + 10 * i) as f32).collect::<Vec<_>>(), ..).unwrap();
            let mut g = f.add_group("grp").unwrap();
            g.add_attribute("title", "a group").unwrap();
            g.add_dimension("y", 4).unwrap();
            let mut v = g.add_variable::<f64>("v", &["time", "y"]).unwrap();
            v.put_attribute("units", "m").unwrap();
            v.put_values(&(0..8).map(|k| (k * 100 + i) as f64).collect::<Vec<_>>(), ..).unwrap();
            let mut deep = g.add_group("deep").unwrap();
            let mut w = deep.add_variable::<i32>("w", &["time"]).unwrap();
            w.put_values(&[i, -i], ..).unwrap();
            p
        })
        .collect()
}

/// Item 6: CF aggregation files keep the sources' groups. A variable in a
/// group of the root is aggregated (cfapyx reads its fragments as
/// "/grp/v"); deeper ones are copied (cfapyx reads fragments one group deep).
#[test]
fn cfa_files_aggregate_variables_in_groups() {
    check_env_ready();
    let d = tempfile::tempdir().unwrap();
    let files = write_grouped_series(d.path());
    let nca = d.path().join("grouped.nca");
    make_along_time("cfa", &files, &nca);
    // The root, with the real clients; every group, with our own reader.
    check(&nca, &files, &["--kind", "cfa", "--concat-dim", "time"]);
    verify_ok(&nca, &files);
    // Each group through cfapyx, against xarray's netCDF4 engine (cfapyx adds
    // the root's variables to a group's dataset: only the group's are compared).
    let probe = "import sys, xarray as xr, numpy as np\nnca, files = sys.argv[1], sys.argv[2:]\nfor group, names in (('grp', ['v']), ('grp/deep', ['w'])):\n    got = xr.open_dataset(nca, engine='CFA', group=group, decode_times=False)\n    exp = xr.open_mfdataset(files, group=group, combine='nested', concat_dim='time', decode_times=False)\n    for n in names:\n        assert got[n].dims == exp[n].dims, (n, got[n].dims, exp[n].dims)\n        np.testing.assert_array_equal(got[n].values, exp[n].values)\n        assert got[n].attrs == exp[n].attrs, (n, got[n].attrs, exp[n].attrs)\n    print(group, 'ok')\nimport netCDF4\nds = netCDF4.Dataset(nca)\nassert 'aggregated_dimensions' in ds['grp'].variables['v'].ncattrs()\nassert 'aggregated_dimensions' not in ds['grp/deep'].variables['w'].ncattrs()\nassert ds['grp'].getncattr('title') == 'a group'\n";
    let mut args = vec!["-c".to_string(), probe.to_string(), nca.display().to_string()];
    args.extend(files.iter().map(|f| f.display().to_string()));
    let o = std::process::Command::new("/tmp/refenv/bin/python").args(&args).output().unwrap();
    assert!(o.status.success(), "{}{}", String::from_utf8_lossy(&o.stdout), stderr(&o));

    // Through the pipeline: validated against every group, and published with
    // the sources' new place written into each group's fragment URIs.
    let wd = d.path().join("wd");
    let csv = d.path().join("in.csv");
    std::fs::write(&csv, format!("grouped,{}/grouped_*.nc,,\n", d.path().display())).unwrap();
    let pad = |args: &[&str]| padocc_ok(&wd, args);
    pad(&["init", "-G", "g", "-i", csv.to_str().unwrap()]);
    pad(&["scan", "-G", "g"]);
    pad(&["compute", "-G", "g", "-C", "CFA"]);
    let v: serde_json::Value = serde_json::from_slice(&pad(&["validate", "-G", "g", "--format", "json"]).stdout).unwrap();
    assert_eq!(v["failed"], 0, "{v:#}");
    let moved = d.path().join("moved");
    std::fs::create_dir(&moved).unwrap();
    for f in &files {
        std::fs::copy(f, moved.join(f.file_name().unwrap())).unwrap();
    }
    let done = d.path().join("done");
    let from = format!("{}/", d.path().display());
    let to = format!("{}/", moved.display());
    pad(&["complete", "-G", "g", "--completion_dir", done.to_str().unwrap(), "--sub", &from, "--replace", &to]);
    let published: Vec<PathBuf> = std::fs::read_dir(done.join("data")).unwrap().flatten().map(|e| e.path()).collect();
    assert_eq!(published.len(), 1, "{published:?}");
    let moved_files: Vec<PathBuf> = files.iter().map(|f| moved.join(f.file_name().unwrap())).collect();
    for f in &files {
        std::fs::remove_file(f).unwrap();
    }
    let mut args = vec!["-c".to_string(), probe.to_string(), published[0].display().to_string()];
    args.extend(moved_files.iter().map(|f| f.display().to_string()));
    let o = std::process::Command::new("/tmp/refenv/bin/python").args(&args).output().unwrap();
    assert!(o.status.success(), "{}{}", String::from_utf8_lossy(&o.stdout), stderr(&o));
}
