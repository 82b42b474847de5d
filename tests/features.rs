//! Each reader and combiner feature on files the tests write themselves with
//! the netcdf and hdf5 crates, checked with the real clients.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn series_files(dir: &Path, specs: &[(&[f64], &str)], make: impl Fn(&[f64], &str) -> Series<'static>) -> Vec<PathBuf> {
    specs
        .iter()
        .enumerate()
        .map(|(i, (t, u))| {
            let p = dir.join(format!("f{i}.nc"));
            make(t, u).write(&p);
            p
        })
        .collect()
}

fn leak<T: ?Sized>(b: Box<T>) -> &'static T {
    Box::leak(b)
}

fn times(start: f64, n: usize) -> &'static [f64] {
    leak((0..n).map(|i| start + i as f64).collect::<Vec<_>>().into_boxed_slice())
}

fn simple(t: &[f64], units: &str, calendar: &'static str, unlimited: bool, chunk: Option<usize>, deflate: bool) -> Series<'static> {
    Series {
        time: leak(t.to_vec().into_boxed_slice()),
        units: leak(units.to_string().into_boxed_str()),
        calendar,
        nx: 3,
        chunk_time: chunk,
        deflate,
        offset: t.first().copied().unwrap_or(0.0) as f32,
        unlimited,
    }
}

#[test]
fn uneven_contiguous_netcdf4_series_is_recut_and_reads_equal() {
    let d = tmp();
    let files =
        series_files(d.path(), &[(times(0.0, 12), "days since 2000-01-01"), (times(12.0, 12), "days since 2000-01-01"), (times(24.0, 8), "days since 2000-01-01")], |t, u| {
            simple(t, u, "noleap", false, None, false)
        });
    let out = d.path().join("out.json");
    refs_ok(&files, &out, &["--concat-dim", "time"]);
    check(&out, &files, &["--concat-dim", "time"]);
    let pq = d.path().join("out.parquet");
    refs_ok(&files, &pq, &["--concat-dim", "time"]);
    check(&pq, &files, &["--concat-dim", "time"]);
}

#[test]
fn compressed_chunks_of_different_shapes_give_a_clear_error() {
    let d = tmp();
    let a = d.path().join("a.nc");
    let b = d.path().join("b.nc");
    simple(times(0.0, 6), "days since 2000-01-01", "standard", true, Some(3), true).write(&a);
    simple(times(6.0, 5), "days since 2000-01-01", "standard", true, Some(5), true).write(&b);
    let out = d.path().join("out.json");
    let o = refs(&[a, b], &out, &["--concat-dim", "time"]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("'tas'") && e.contains("a.nc") && e.contains("b.nc") && e.contains("CFA"), "{e}");
    assert!(!out.exists(), "no partial output");
}

#[test]
fn chunked_deflate_shuffle_series_with_unlimited_time() {
    let d = tmp();
    let files: Vec<PathBuf> = (0..3)
        .map(|i| {
            let p = d.path().join(format!("f{i}.nc"));
            simple(times(i as f64 * 4.0, 4), "hours since 1990-01-01 00:00:00", "standard", true, Some(2), true).write(&p);
            p
        })
        .collect();
    let out = d.path().join("out.json");
    refs_ok(&files, &out, &[]);
    check(&out, &files, &["--concat-dim", "time"]);
}

#[test]
fn per_file_time_units_are_reencoded_in_julian_and_366_day_calendars() {
    for cal in ["julian", "366_day", "360_day", "proleptic_gregorian"] {
        let d = tmp();
        let a = d.path().join("a.nc");
        let b = d.path().join("b.nc");
        simple(&[0.5, 1.5, 2.5], "days since 1900-02-27", cal, true, Some(3), false).write(&a);
        simple(&[0.5, 1.5], "days since 1900-03-02", cal, true, Some(3), false).write(&b);
        let out = d.path().join("out.json");
        refs_ok(&[a.clone(), b.clone()], &out, &["--concat-dim", "time"]);
        check(&out, &[a, b], &["--concat-dim", "time"]);
    }
}

#[test]
fn duplicate_times_are_reported_then_deduplicated_on_request() {
    let d = tmp();
    let a = d.path().join("a.nc");
    let b = d.path().join("b.nc");
    simple(&[0.0, 1.0, 2.0], "days since 2000-01-01", "standard", true, Some(1), false).write(&a);
    simple(&[2.0, 3.0], "days since 2000-01-01", "standard", true, Some(1), false).write(&b);
    let out = d.path().join("out.json");
    let o = refs(&[a.clone(), b.clone()], &out, &["--concat-dim", "time"]);
    assert_eq!(o.status.code(), Some(4));
    let e = stderr(&o);
    assert!(e.contains("duplicate") && e.contains("2000-01-03") && e.contains("a.nc") && e.contains("b.nc"), "{e}");
    assert!(!out.exists());
    refs_ok(&[a.clone(), b.clone()], &out, &["--concat-dim", "time", "--dedupe", "last"]);
    check(&out, &[a.clone(), b.clone()], &["--concat-dim", "time", "--dedupe", "last"]);
    refs_ok(&[a.clone(), b.clone()], &out, &["--concat-dim", "time", "--dedupe", "keep"]);
    check(&out, &[a, b], &["--concat-dim", "time"]);
}

#[test]
fn files_in_the_wrong_order_are_reported() {
    let d = tmp();
    let a = d.path().join("a.nc");
    let b = d.path().join("b.nc");
    simple(&[0.0, 1.0], "days since 2000-01-01", "standard", true, Some(1), false).write(&a);
    simple(&[2.0, 3.0], "days since 2000-01-01", "standard", true, Some(1), false).write(&b);
    let o = refs(&[b, a], &d.path().join("o.json"), &["--concat-dim", "time"]);
    assert_eq!(o.status.code(), Some(4));
    assert!(stderr(&o).contains("decrease"), "{}", stderr(&o));
}

/// netCDF-3 record variables interleave: every record is its own byte range.
#[test]
fn netcdf3_interleaved_record_variables_1440_records_per_file() {
    for (opts, tag) in [(netcdf::Options::CLASSIC, "cdf1"), (netcdf::Options::_64BIT_OFFSET, "cdf2"), (netcdf::Options::_64BIT_DATA, "cdf5")] {
        let d = tmp();
        let files: Vec<PathBuf> = (0..3)
            .map(|k| {
                let p = d.path().join(format!("{tag}_{k}.nc"));
                let _g = writing();
                let mut f = netcdf::create_with(&p, netcdf::Options::from_bits_truncate(opts.bits())).unwrap();
                f.add_unlimited_dimension("time").unwrap();
                f.add_dimension("x", 2).unwrap();
                f.add_dimension("len", 3).unwrap();
                f.add_attribute("valid_range", vec![0.0f64, 1.0]).unwrap();
                let n = 1440;
                let tv: Vec<f64> = (0..n).map(|i| (k * n + i) as f64).collect();
                // Classic files are defined first, then written.
                {
                    let mut t = f.add_variable::<f64>("time", &["time"]).unwrap();
                    t.put_attribute("units", "minutes since 2001-01-01").unwrap();
                }
                {
                    let mut a = f.add_variable::<i16>("a", &["time", "x"]).unwrap();
                    a.put_attribute("missing_value", -1i16).unwrap();
                    a.put_attribute("scale_factor", 0.5f32).unwrap();
                }
                f.add_variable::<f32>("b", &["time"]).unwrap();
                f.add_variable::<i8>("code", &["x", "len"]).unwrap();
                f.enddef().unwrap();
                f.variable_mut("time").unwrap().put_values(&tv, 0..n).unwrap();
                let av: Vec<i16> = (0..n * 2).map(|i| (i % 3000) as i16).collect();
                f.variable_mut("a").unwrap().put_values(&av, (0..n, 0..2)).unwrap();
                f.variable_mut("b").unwrap().put_values(&tv.iter().map(|x| *x as f32).collect::<Vec<_>>(), 0..n).unwrap();
                f.variable_mut("code").unwrap().put_values(&[1i8, 2, 3, -4, -5, -6], ..).unwrap();
                p
            })
            .collect();
        let out = d.path().join("out.json");
        refs_ok(&files, &out, &["--concat-dim", "time"]);
        check(&out, &files, &["--concat-dim", "time"]);
    }
}

#[test]
fn big_endian_strings_scalars_groups_and_char_arrays() {
    let d = tmp();
    let p = d.path().join("mixed.nc");
    write_mixed(&p);
    let out = d.path().join("out.json");
    refs_ok(std::slice::from_ref(&p), &out, &[]);
    check(&out, std::slice::from_ref(&p), &[]);
    // zarr-python 3 cannot list a subgroup through a "reference://" URL (its
    // FsspecStore asks ReferenceFileSystem for "/sub", which has no leading-slash
    // keys), so subgroups are checked through an fsspec mapper.
    check(&out, std::slice::from_ref(&p), &["--groups", "all", "--open-methods", "mapper"]);
    let pq = d.path().join("out.parq");
    refs_ok(std::slice::from_ref(&p), &pq, &[]);
    check(&pq, &[p], &["--groups", "all", "--open-methods", "mapper"]);
}

#[test]
fn unwritten_chunks_read_as_netcdf_fill_with_and_without_fillvalue() {
    let d = tmp();
    let p = d.path().join("sparse.nc");
    {
        let _g = writing();
        let mut f = netcdf::create(&p).unwrap();
        f.add_dimension("t", 8).unwrap();
        f.add_dimension("x", 4).unwrap();
        let mut a = f.add_variable::<f32>("nofill", &["t", "x"]).unwrap();
        a.set_chunking(&[2, 4]).unwrap();
        a.set_compression(2, true).unwrap();
        a.put_values(&[1.0f32; 8], (0..2, 0..4)).unwrap();
        let mut b = f.add_variable::<i16>("withfill", &["t", "x"]).unwrap();
        b.set_chunking(&[2, 2]).unwrap();
        b.put_attribute("_FillValue", -7i16).unwrap();
        b.put_values(&[3i16; 4], (2..4, 0..2)).unwrap();
        let mut c = f.add_variable::<f64>("raw", &["t"]).unwrap();
        c.set_chunking(&[4]).unwrap();
        c.put_values(&[9.0f64; 4], 4..8).unwrap();
    }
    let out = d.path().join("out.json");
    refs_ok(std::slice::from_ref(&p), &out, &[]);
    check(&out, &[p], &[]);
}

fn h5_file(path: &Path, latest: bool) -> hdf5::File {
    let mut b = hdf5::File::with_options();
    if latest {
        b.with_fapl(|p| p.libver_latest());
    } else {
        b.with_fapl(|p| p.libver_earliest());
    }
    b.create(path).unwrap()
}

/// Plain HDF5 (no dimension scales): phony dims named as netCDF-C names them,
/// fletcher32, resizable datasets (v2 B-tree / extensible array indexes in the
/// latest format, v1 B-tree in the earliest).
#[test]
fn plain_hdf5_phony_dims_fletcher32_resizable_earliest_and_latest_formats() {
    for latest in [false, true] {
        let d = tmp();
        let p = d.path().join(format!("plain_{latest}.h5"));
        {
            let _g = writing();
            let f = h5_file(&p, latest);
            let a = f.new_dataset::<f32>().chunk((2, 3)).fletcher32().deflate(3).shape((5, 6)).create("checksummed").unwrap();
            let data: Vec<f32> = (0..30).map(|i| i as f32 * 1.5).collect();
            a.write_raw(&data).unwrap();
            let r = f.new_dataset::<i64>().chunk((2, 2)).shape((0.., 0..)).create("grown").unwrap();
            r.resize((3, 5)).unwrap();
            r.write_raw(&(0..15i64).collect::<Vec<_>>()).unwrap();
            let c = f.new_dataset::<u8>().shape(6).create("same_len_as_other_axis").unwrap();
            c.write_raw(&[1u8, 2, 3, 4, 5, 6]).unwrap();
        }
        let out = d.path().join("out.json");
        refs_ok(std::slice::from_ref(&p), &out, &[]);
        check(&out, &[p], &["--no-mask"]);
    }
}

#[test]
fn tiling_in_two_dimensions_places_files_by_coordinates() {
    let d = tmp();
    let mut files = Vec::new();
    // Written out of order on purpose: placement comes from coordinate values.
    for (i, (la, lo)) in [(1, 1), (0, 0), (1, 0), (0, 1)].iter().enumerate() {
        let p = d.path().join(format!("tile{i}.nc"));
        let _g = writing();
        let mut f = netcdf::create(&p).unwrap();
        f.add_dimension("lat", 2).unwrap();
        f.add_dimension("lon", 3).unwrap();
        let mut lat = f.add_variable::<f64>("lat", &["lat"]).unwrap();
        lat.put_values(&[la * 2, la * 2 + 1].map(|x| x as f64), ..).unwrap();
        let mut lon = f.add_variable::<f64>("lon", &["lon"]).unwrap();
        lon.put_values(&[lo * 3, lo * 3 + 1, lo * 3 + 2].map(|x| x as f64 * 10.0), ..).unwrap();
        let mut v = f.add_variable::<f32>("v", &["lat", "lon"]).unwrap();
        let vals: Vec<f32> = (0..6).map(|k| (i * 100 + k) as f32).collect();
        v.put_values(&vals, ..).unwrap();
        drop(f);
        drop(_g);
        files.push(p);
    }
    let out = d.path().join("out.json");
    refs_ok(&files, &out, &["--concat-dim", "lat,lon"]);
    check(&out, &files, &["--combine", "by_coords"]);
}

/// A series whose subgroup holds a variable along the concat dimension (a
/// station's readings under `obs/`): it is concatenated like a root variable,
/// in references and in a Zarr copy, and the clients open the subgroup equal
/// to the sources.
#[test]
fn subgroup_variables_along_the_concat_dimension_are_concatenated() {
    let d = tmp();
    let files: Vec<PathBuf> = (0..3)
        .map(|i| {
            let p = d.path().join(format!("g{i}.nc"));
            let _g = writing();
            let mut f = netcdf::create(&p).unwrap();
            f.add_unlimited_dimension("time").unwrap();
            let mut t = f.add_variable::<f64>("time", &["time"]).unwrap();
            t.put_attribute("units", "days since 2000-01-01").unwrap();
            t.put_values(&[2.0 * i as f64, 2.0 * i as f64 + 1.0], 0..2).unwrap();
            let mut g = f.add_group("obs").unwrap();
            g.add_attribute("source", "station").unwrap();
            let mut v = g.add_variable::<f32>("temp", &["time"]).unwrap();
            v.put_attribute("units", "K").unwrap();
            v.put_values(&[270.0 + i as f32, 270.5 + i as f32], 0..2).unwrap();
            let mut s = g.add_variable::<i32>("station_id", &[]).unwrap();
            s.put_value(7, ..).unwrap();
            p
        })
        .collect();
    let verify = |product: &Path| {
        let o = Command::new(env!("CARGO_BIN_EXE_padocc")).arg("verify").arg(product).args(&files).args(["--concat-dim", "time", "--json"]).output().unwrap();
        let rep: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(rep["status"], "Success", "{rep:#}");
    };
    let out = d.path().join("g.json");
    refs_ok(&files, &out, &["--concat-dim", "time"]);
    check(&out, &files, &["--concat-dim", "time", "--groups", "all", "--open-methods", "mapper"]);
    verify(&out);
    let z = d.path().join("g.zarr");
    let o = Command::new(env!("CARGO_BIN_EXE_padocc")).args(["zarr", "-q", "-o"]).arg(&z).args(&files).args(["--concat-dim", "time"]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    check(&z, &files, &["--concat-dim", "time", "--groups", "all", "--kind", "zarr"]);
    verify(&z);
    let meta = std::fs::read_to_string(z.join("obs/temp/zarr.json")).unwrap();
    assert!(meta.contains("\"shape\": [6]"), "{meta}");
}
