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

/// The global attributes a pipeline product gets from the tool itself, as
/// padocc's do (aggregation_date, aggregation): not the sources'. Added to the
/// checker's --ignore-attrs (which it reads once: the last one wins).
pub const PROVENANCE_ATTRS: &str = "aggregation_date,aggregation";

pub fn provenance_ignored<S: AsRef<str>>(args: &[S]) -> Vec<String> {
    let mut out: Vec<String> = args.iter().map(|a| a.as_ref().to_string()).collect();
    match out.iter().position(|a| a == "--ignore-attrs") {
        Some(i) if i + 1 < out.len() => out[i + 1] = format!("{},{PROVENANCE_ATTRS}", out[i + 1]),
        _ => out.extend(["--ignore-attrs".to_string(), PROVENANCE_ATTRS.to_string()]),
    }
    out
}

/// Check a product against its sources with the real clients; panics with the
/// checker's report on any difference.
pub fn check(product: &Path, sources: &[PathBuf], extra: &[&str]) {
    let py = refenv();
    let mut cmd = Command::new(py);
    cmd.arg(shared().join("tools/check_refs.py")).arg(product).args(sources).args(provenance_ignored(extra));
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

/// The cloud Python environment (/tmp/cloudenv: Python 3.12, icechunk, s3fs,
/// moto), created by scripts/cloudenv.sh when missing.
pub fn cloudenv() -> &'static Path {
    static READY: OnceLock<PathBuf> = OnceLock::new();
    READY.get_or_init(|| {
        let st = Command::new("bash").arg(repo().join("scripts/cloudenv.sh")).status().expect("run scripts/cloudenv.sh");
        assert!(st.success(), "the cloud Python environment could not be created");
        PathBuf::from("/tmp/cloudenv/bin/python")
    })
}

/// An S3 endpoint for a test: the one in PADOCC_TEST_S3_ENDPOINT (with
/// credentials from the AWS_* variables and PADOCC_TEST_BUCKET, which must
/// exist), or a real moto server started here on a free port and stopped on drop.
pub struct S3Server {
    pub endpoint: String,
    pub bucket: String,
    key: String,
    secret: String,
    child: Option<std::process::Child>,
}

impl S3Server {
    pub fn start() -> S3Server {
        if let Ok(endpoint) = std::env::var("PADOCC_TEST_S3_ENDPOINT") {
            return S3Server {
                endpoint,
                bucket: std::env::var("PADOCC_TEST_BUCKET").expect("PADOCC_TEST_BUCKET names an existing bucket"),
                key: std::env::var("AWS_ACCESS_KEY_ID").unwrap_or_default(),
                secret: std::env::var("AWS_SECRET_ACCESS_KEY").unwrap_or_default(),
                child: None,
            };
        }
        Self::start_moto(0)
    }

    /// A moto server on `port` (0: a free one) with a bucket `padocc-test`.
    pub fn start_moto(port: u16) -> S3Server {
        Self::moto(port, false)
    }

    /// A moto server that checks credentials (an IAM user's key; others are refused).
    pub fn start_moto_with_auth() -> S3Server {
        Self::moto(0, true)
    }

    // The child is kept in the S3Server, which waits for it in stop() and Drop.
    #[allow(clippy::zombie_processes)]
    fn moto(port: u16, auth: bool) -> S3Server {
        use std::io::BufRead as _;
        let py = cloudenv();
        let mut cmd = Command::new(py);
        cmd.arg(repo().join("tests/support/s3server.py")).args(["--port", &port.to_string(), "--buckets", "padocc-test"]);
        if auth {
            cmd.arg("--auth");
        }
        let mut child = cmd.stdout(std::process::Stdio::piped()).spawn().expect("start moto");
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let (mut key, mut secret) = ("testing".to_string(), "testing".to_string());
        loop {
            let mut line = String::new();
            if out.read_line(&mut line).unwrap_or(0) == 0 {
                let _ = child.wait();
                panic!("moto did not start (see its output above)");
            }
            if let Some(k) = line.trim().strip_prefix("KEY ") {
                let (a, b) = k.split_once(' ').unwrap();
                (key, secret) = (a.to_string(), b.to_string());
            } else if let Some(p) = line.trim().strip_prefix("PORT ") {
                let port: u16 = p.parse().unwrap();
                return S3Server { endpoint: format!("http://127.0.0.1:{port}"), bucket: "padocc-test".into(), key, secret, child: Some(child) };
            }
        }
    }

    pub fn port(&self) -> u16 {
        self.endpoint.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// Stop the server (the fault tests); nothing it held survives.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").arg(c.id().to_string()).status();
            let _ = c.wait();
        }
    }

    /// The environment a client of this server needs.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", self.key.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.secret.clone()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent".into()),
        ]
    }

    pub fn url(&self, name: &str) -> String {
        format!("s3://{}/{name}", self.bucket)
    }

    /// `padocc ARGS` as a client of this server.
    pub fn padocc(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_padocc")).args(args).envs(self.env()).output().expect("run padocc")
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Check a cloud product (Icechunk, local or s3://; Zarr in s3://) with the
/// real clients under Python 3.12 (ci/check_cloud.py: check_refs.py's rules).
pub fn check_cloud(product: &str, sources: &[PathBuf], extra: &[&str], env: &[(&str, String)]) {
    let py = cloudenv();
    let o = Command::new(py)
        .arg(repo().join("ci/check_cloud.py"))
        .arg(product)
        .args(sources)
        .args(provenance_ignored(extra))
        .args(["--kind", "zarr"])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("PADOCC_SHARED", shared())
        .output()
        .expect("run check_cloud.py");
    assert!(o.status.success(), "check_cloud.py found differences for {product}:\n{}\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
}
