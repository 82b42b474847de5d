//! Shared helpers of the integration tests: run the real binary, write small
//! real netCDF/HDF5 files, and check products with the real Python clients
//! (xarray + fsspec, zarr-python 3 and 2) through ../shared/tools/check_refs.py.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn shared() -> PathBuf {
    std::env::var_os("PADOCC_SHARED").map(PathBuf::from).unwrap_or_else(|| repo().join("../shared"))
}

pub fn testdata(rel: &str) -> PathBuf {
    shared().join("testdata").join(rel)
}

/// Files of a shared series, sorted.
pub fn series(name: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(testdata(&format!("series/{name}"))).expect("shared series").map(|e| e.unwrap().path()).collect();
    v.sort();
    v
}

pub fn padocc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_padocc")).args(args).output().expect("run padocc")
}

/// `padocc refs FILES -o OUT EXTRA...`; panics with stderr unless it succeeds.
pub fn refs_ok(files: &[PathBuf], out: &Path, extra: &[&str]) {
    let o = refs(files, out, extra);
    assert!(o.status.success(), "padocc refs failed: {}", String::from_utf8_lossy(&o.stderr));
    assert!(out.exists(), "no product at {}", out.display());
}

pub fn refs(files: &[PathBuf], out: &Path, extra: &[&str]) -> Output {
    let mut args: Vec<String> = vec!["refs".into()];
    args.extend(files.iter().map(|f| f.display().to_string()));
    args.extend(["-o".into(), out.display().to_string(), "-q".into()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    Command::new(env!("CARGO_BIN_EXE_padocc")).args(&args).output().expect("run padocc")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Make sure /tmp/refenv and /tmp/refenv-z2 exist (installs them if not).
fn refenv() -> &'static Path {
    static READY: OnceLock<PathBuf> = OnceLock::new();
    READY.get_or_init(|| {
        let st = Command::new("bash").arg(repo().join("scripts/refenv.sh")).status().expect("run scripts/refenv.sh");
        assert!(st.success(), "the Python client environments could not be created");
        PathBuf::from("/tmp/refenv/bin/python")
    })
}

/// Check a product against its sources with the real clients; panics with the
/// checker's report on any difference.
pub fn check(product: &Path, sources: &[PathBuf], extra: &[&str]) {
    let py = refenv();
    let mut cmd = Command::new(py);
    cmd.arg(shared().join("tools/check_refs.py")).arg(product).args(sources).args(extra);
    if product.extension().is_some_and(|e| e == "json") {
        cmd.args(["--also-python", "/tmp/refenv-z2/bin/python"]);
    }
    let o = cmd.output().expect("run check_refs.py");
    assert!(o.status.success(), "check_refs.py found differences for {}:\n{}\n{}", product.display(), String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
}

/// netCDF-C keeps global state between calls while a file is being defined, so
/// test threads take turns writing files (the HDF5/netCDF lock is reentrant).
pub fn writing() -> impl Drop {
    hdf5_sys::LOCK.lock()
}

/// Write a netCDF-4 time series file: `var(time, x)` f32 plus a `time` coordinate.
pub struct Series<'a> {
    pub time: &'a [f64],
    pub units: &'a str,
    pub calendar: &'a str,
    pub nx: usize,
    pub chunk_time: Option<usize>,
    pub deflate: bool,
    pub offset: f32,
    /// Unlimited time (always chunked in netCDF-4); fixed time without chunking is contiguous.
    pub unlimited: bool,
}

impl Series<'_> {
    pub fn write(&self, path: &Path) {
        let _g = writing();
        let mut f = netcdf::create(path).unwrap();
        if self.unlimited {
            f.add_unlimited_dimension("time").unwrap();
        } else {
            f.add_dimension("time", self.time.len()).unwrap();
        }
        f.add_dimension("x", self.nx).unwrap();
        f.add_attribute("title", "padocc test series").unwrap();
        let mut t = f.add_variable::<f64>("time", &["time"]).unwrap();
        t.put_attribute("units", self.units).unwrap();
        t.put_attribute("calendar", self.calendar).unwrap();
        t.put_attribute("standard_name", "time").unwrap();
        t.put_values(self.time, 0..self.time.len()).unwrap();
        let mut x = f.add_variable::<f32>("x", &["x"]).unwrap();
        let xs: Vec<f32> = (0..self.nx).map(|i| i as f32 * 0.5).collect();
        x.put_values(&xs, ..).unwrap();
        let mut v = f.add_variable::<f32>("tas", &["time", "x"]).unwrap();
        if let Some(c) = self.chunk_time {
            v.set_chunking(&[c, self.nx]).unwrap();
        }
        if self.deflate {
            v.set_compression(4, true).unwrap();
        }
        v.put_attribute("units", "K").unwrap();
        v.put_attribute("_FillValue", -999f32).unwrap();
        let n = self.time.len() * self.nx;
        let data: Vec<f32> = (0..n).map(|i| self.offset + i as f32 * 0.25).collect();
        v.put_values(&data, (0..self.time.len(), 0..self.nx)).unwrap();
    }
}

/// Make sure the Python client environments (and padocc 1.5.1 in them) exist.
pub fn check_env_ready() {
    refenv();
}

/// A netCDF-4 file with a big-endian variable, vlen strings, a scalar and a
/// group `sub` holding its own dimension and an attributed variable.
pub fn write_mixed(p: &Path) {
    let _g = writing();
    let mut f = netcdf::create(p).unwrap();
    f.add_dimension("x", 4).unwrap();
    f.add_dimension("n", 3).unwrap();
    let mut be = f.add_variable::<i32>("be", &["x"]).unwrap();
    be.set_endianness(netcdf::Endianness::Big).unwrap();
    be.put_values(&[1, -2, 3, 1 << 20], ..).unwrap();
    let mut s = f.add_string_variable("names", &["x"]).unwrap();
    for (i, n) in ["alpha", "β", "", "delta"].iter().enumerate() {
        s.put_string(n, [i]).unwrap();
    }
    let mut sc = f.add_variable::<f64>("scalar", &[]).unwrap();
    sc.put_value(42.5, ..).unwrap();
    let mut g = f.add_group("sub").unwrap();
    g.add_attribute("history", "grouped").unwrap();
    g.add_dimension("y", 2).unwrap();
    let mut gv = g.add_variable::<u16>("inner", &["y"]).unwrap();
    gv.put_values(&[7u16, 65535], ..).unwrap();
    gv.put_attribute("comment", "nested").unwrap();
}
