//! Bad input gives one clear error naming the file, a documented exit code and
//! no partial output; no input makes padocc panic.

mod common;

use std::path::{Path, PathBuf};

use common::*;

const INPUT: i32 = 3;
const INCOMPATIBLE: i32 = 4;
const UNSUPPORTED: i32 = 5;
const OUTPUT: i32 = 6;

fn assert_clean_failure(o: &std::process::Output, code: i32, mentions: &[&str], out: &Path) {
    let e = stderr(o);
    assert_eq!(o.status.code(), Some(code), "stderr: {e}");
    assert!(!e.contains("panicked"), "panic: {e}");
    for m in mentions {
        assert!(e.contains(m), "error should mention {m:?}: {e}");
    }
    assert!(!out.exists(), "partial output left at {}", out.display());
    if let Some(dir) = out.parent().filter(|d| d.is_dir()) {
        let leftovers: Vec<_> = std::fs::read_dir(dir).unwrap().filter_map(|e| e.ok()).filter(|e| e.file_name().to_string_lossy().contains(".tmp.")).collect();
        assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    }
}

#[test]
fn missing_file() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("o.json");
    let o = refs(&[PathBuf::from("/no/such/file.nc")], &out, &[]);
    assert_clean_failure(&o, INPUT, &["/no/such/file.nc", "not found"], &out);
}

#[test]
fn a_directory_is_not_readable_as_a_file() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("o.json");
    let o = refs(&[d.path().to_path_buf()], &out, &[]);
    assert_clean_failure(&o, INPUT, &["directory"], &out);
}

#[test]
fn not_netcdf() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("notes.nc");
    std::fs::write(&f, "this is a text file, not netCDF\n").unwrap();
    let out = d.path().join("o.json");
    let o = refs(&[f], &out, &[]);
    assert_clean_failure(&o, INPUT, &["notes.nc", "not a netCDF or HDF5 file"], &out);
}

#[test]
fn empty_file() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("empty.nc");
    std::fs::write(&f, "").unwrap();
    let out = d.path().join("o.json");
    assert_clean_failure(&refs(&[f], &out, &[]), INPUT, &["empty.nc", "empty"], &out);
}

#[test]
fn netcdf3_header_with_offsets_past_the_end() {
    let d = tempfile::tempdir().unwrap();
    let src = std::fs::read(testdata("single/example_1.nc")).unwrap();
    let f = d.path().join("cut.nc");
    // Keep the whole header but drop most of the data.
    std::fs::write(&f, &src[..src.len() / 2]).unwrap();
    let out = d.path().join("o.json");
    assert_clean_failure(&refs(&[f], &out, &[]), INPUT, &["cut.nc"], &out);
}

/// Every shared test file cut at many points: a clean input error, never a panic.
#[test]
fn truncated_copies_of_every_test_file() {
    let d = tempfile::tempdir().unwrap();
    let mut files: Vec<PathBuf> = std::fs::read_dir(testdata("single")).unwrap().map(|e| e.unwrap().path()).collect();
    for s in ["cmip5-HadGEM2-ES-Amon-tas", "arm-sgp30ebbrE32-b1", "cmip6-FGOALS-g3-Amon-ta", "padocc-1DAgg"] {
        files.push(series(s)[0].clone());
    }
    let out = d.path().join("o.json");
    for src in files {
        let bytes = std::fs::read(&src).unwrap();
        let n = bytes.len();
        let mut cuts: Vec<usize> = (0..64).chain([100, 300, 512, 1000, 2048, 4096]).chain((1..16).map(|k| n * k / 16)).filter(|c| *c < n).collect();
        cuts.push(n - 1);
        cuts.sort();
        cuts.dedup();
        for cut in cuts {
            let f = d.path().join("trunc.nc");
            std::fs::write(&f, &bytes[..cut]).unwrap();
            let o = refs(&[f], &out, &[]);
            let e = stderr(&o);
            assert!(!e.contains("panicked"), "{} cut at {cut}: panic: {e}", src.display());
            // HDF5 files cut after the last chunk can still be whole datasets; the
            // product must then be complete, otherwise a clean input error.
            match o.status.code() {
                Some(0) => assert!(out.exists()),
                Some(c) => {
                    assert_eq!(c, INPUT, "{} cut at {cut}: {e}", src.display());
                    assert!(e.contains("trunc.nc"), "{e}");
                }
                None => panic!("{} cut at {cut}: killed by a signal: {e}", src.display()),
            }
            let _ = std::fs::remove_file(&out);
        }
    }
}

#[test]
fn files_that_do_not_agree() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("o.json");
    let a = series("padocc-1DAgg")[0].clone();
    let b = testdata("single/air.nc");
    let o = refs(&[a, b], &out, &["--concat-dim", "time"]);
    assert_clean_failure(&o, INCOMPATIBLE, &["air.nc"], &out);
}

#[test]
fn dtype_mismatch_names_the_variable() {
    let d = tempfile::tempdir().unwrap();
    let mk = |name: &str, double: bool| {
        let p = d.path().join(name);
        let _g = writing();
        let mut f = netcdf::create(&p).unwrap();
        f.add_unlimited_dimension("time").unwrap();
        let mut t = f.add_variable::<f64>("time", &["time"]).unwrap();
        t.put_values(&[if double { 1.0 } else { 0.0 }], 0..1).unwrap();
        if double {
            let mut v = f.add_variable::<f64>("v", &["time"]).unwrap();
            v.put_values(&[1.0f64], 0..1).unwrap();
        } else {
            let mut v = f.add_variable::<f32>("v", &["time"]).unwrap();
            v.put_values(&[1.0f32], 0..1).unwrap();
        }
        p
    };
    let a = mk("a.nc", false);
    let b = mk("b.nc", true);
    let out = d.path().join("o.json");
    let o = refs(&[a, b], &out, &[]);
    assert_clean_failure(&o, INCOMPATIBLE, &["'v'", "dtype", "a.nc", "b.nc"], &out);
}

/// An HDF5 filter padocc cannot express (written as "optional", so HDF5 stores
/// the chunks without it even though the filter is not available here).
#[test]
fn unknown_hdf5_filter_names_the_variable_and_filter() {
    use hdf5_sys::{h5d, h5p, h5s, h5t, h5z};
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("odd_filter.h5");
    {
        let f = hdf5::File::create(&p).unwrap();
        let _g = hdf5_sys::LOCK.lock();
        unsafe {
            let dims = [4u64];
            let space = h5s::H5Screate_simple(1, dims.as_ptr(), std::ptr::null());
            let dcpl = h5p::H5Pcreate(*h5p::H5P_CLS_DATASET_CREATE);
            h5p::H5Pset_chunk(dcpl, 1, [2u64].as_ptr());
            assert!(h5p::H5Pset_filter(dcpl, 32099, h5z::H5Z_FLAG_OPTIONAL, 0, std::ptr::null()) >= 0);
            let name = std::ffi::CString::new("mystery").unwrap();
            let ds = h5d::H5Dcreate2(f.id(), name.as_ptr(), *h5t::H5T_NATIVE_INT, space, h5p::H5P_DEFAULT, dcpl, h5p::H5P_DEFAULT);
            assert!(ds >= 0);
            let data = [1i32, 2, 3, 4];
            h5d::H5Dwrite(ds, *h5t::H5T_NATIVE_INT, h5s::H5S_ALL, h5s::H5S_ALL, h5p::H5P_DEFAULT, data.as_ptr().cast());
            h5d::H5Dclose(ds);
            hdf5_sys::h5p::H5Pclose(dcpl);
            h5s::H5Sclose(space);
        }
    }
    let out = d.path().join("o.json");
    let o = refs(&[p], &out, &[]);
    assert_clean_failure(&o, UNSUPPORTED, &["odd_filter.h5", "'mystery'", "32099"], &out);
}

#[test]
fn output_directory_that_cannot_be_written() {
    let d = tempfile::tempdir().unwrap();
    let src = testdata("single/air.nc");
    for out in [d.path().join("missing-dir/o.json"), d.path().join("missing-dir/o.parquet")] {
        let o = refs(std::slice::from_ref(&src), &out, &[]);
        assert_clean_failure(&o, OUTPUT, &["missing-dir", "cannot write output"], &out);
    }
    // A path under a regular file.
    let file = d.path().join("plain");
    std::fs::write(&file, "x").unwrap();
    let out = file.join("o.json");
    let o = refs(&[src], &out, &[]);
    assert_eq!(o.status.code(), Some(OUTPUT), "{}", stderr(&o));
}

#[test]
fn unknown_output_kind_is_a_usage_error() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("o.txt");
    let o = refs(&[testdata("single/air.nc")], &out, &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--format"), "{}", stderr(&o));
}

#[test]
fn a_failed_rerun_keeps_the_previous_product() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("o.json");
    refs_ok(&[testdata("single/air.nc")], &out, &[]);
    let before = std::fs::read(&out).unwrap();
    let o = refs(&[PathBuf::from("/no/such.nc")], &out, &[]);
    assert_eq!(o.status.code(), Some(INPUT));
    assert_eq!(std::fs::read(&out).unwrap(), before);
}
