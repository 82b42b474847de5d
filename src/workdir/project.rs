//! One project's state in `in_progress/<G>/<proj>/`, in padocc 1.5.1's files:
//! `base-cfg.json`, `detail-cfg.json`, `allfiles.txt`, `status_log.csv`.
//!
//! Unlike padocc, every rewrite is atomic (temporary file, fsync, rename), a
//! status row is one `O_APPEND` write, and a corrupt JSON file is an error that
//! names the file, never silently reset to `{}`.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::config::{BaseCfg, DetailCfg};

use crate::error::{Error, Result};
use crate::fsutil;

pub const PHASES: [&str; 5] = ["init", "scan", "compute", "validate", "complete"];

/// One status row: `phase,status,HH:MM dd/mm/yy,jobid`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StatusRow {
    pub phase: String,
    pub status: String,
    pub time: String,
    pub jobid: String,
}

impl StatusRow {
    pub fn parse(line: &str) -> Option<StatusRow> {
        let mut it = line.trim().splitn(4, ',');
        let phase = it.next()?.to_string();
        if phase.is_empty() {
            return None;
        }
        Some(StatusRow { phase, status: it.next().unwrap_or("").to_string(), time: it.next().unwrap_or("").to_string(), jobid: it.next().unwrap_or("").to_string() })
    }

    pub fn line(&self) -> String {
        // Commas and newlines inside a status would break the CSV (padocc maps them to '.').
        let clean = |s: &str| s.replace([',', '\n', '\r'], ".");
        format!("{},{},{},{}", clean(&self.phase), clean(&self.status), self.time, clean(&self.jobid))
    }
}

/// Local time in padocc's formats: `HH:MM dd/mm/yy` (status) or
/// `dd/mm/yy HH:MM:SS` (last_run).
pub fn local_time(long: bool) -> String {
    let tm = local_tm();
    let (y, mo, d, h, mi, s) = (tm.tm_year % 100, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    if long {
        format!("{d:02}/{mo:02}/{y:02} {h:02}:{mi:02}:{s:02}")
    } else {
        format!("{h:02}:{mi:02} {d:02}/{mo:02}/{y:02}")
    }
}

/// Now in UTC as padocc writes `aggregation_date`: `%Y-%m-%dT%H:%M:%SZ`.
pub fn utc_time_iso() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0) as libc::time_t;
    // SAFETY: gmtime_r writes into our struct only.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    unsafe { libc::gmtime_r(&now, &mut tm) };
    format!("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec)
}

/// The local clock now, broken down (`tm_year` counts from 1900, `tm_mon` from 0).
pub fn local_tm() -> libc::tm {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0) as libc::time_t;
    // SAFETY: localtime_r writes into our struct only.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    unsafe { libc::localtime_r(&now, &mut tm) };
    tm
}

#[derive(Debug, Clone)]
pub struct Project {
    pub group: String,
    pub code: String,
    pub dir: PathBuf,
}

impl Project {
    pub fn new(group: &str, code: &str, dir: PathBuf) -> Project {
        Project { group: group.to_string(), code: code.to_string(), dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn exists(&self) -> bool {
        self.dir.is_dir()
    }

    fn read_json<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<Option<T>> {
        let p = self.path(name);
        let text = match std::fs::read_to_string(&p) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::input_io(&p, e)),
        };
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| Error::corrupt(&p, format!("{e}; padocc will not reset it: restore it from a copy, or delete it and rerun the phase that writes it")))?;
        if !v.is_object() {
            return Err(Error::corrupt(&p, "expected a JSON object"));
        }
        serde_json::from_value(v).map(Some).map_err(|e| Error::corrupt(&p, format!("{e}; padocc will not reset it: correct or restore it")))
    }

    fn write_json(&self, name: &str, value: &impl serde::Serialize) -> Result<()> {
        let p = self.path(name);
        let text = serde_json::to_string(value).expect("JSON values serialise");
        fsutil::write_file_atomic(&p, |w| w.write_all(text.as_bytes()).map_err(|e| Error::output(&p, e)))
    }

    /// The project's settings. A missing or empty `base-cfg.json` is an error,
    /// never replaced by defaults: defaults would silently turn a Zarr project
    /// back into a kerchunk one (padocc 1.5.1's defect, spec §8.2).
    pub fn base(&self) -> Result<BaseCfg> {
        let p = self.path("base-cfg.json");
        let lost = |what: &str| {
            Error::corrupt(&p, format!("{what}: this project's settings are lost; restore the file from a copy, or run `padocc init` again for project '{}'", self.code))
        };
        let raw: Option<Map<String, Value>> = self.read_json("base-cfg.json")?;
        match raw {
            None => Err(lost("the file is missing")),
            Some(m) if m.is_empty() => Err(lost("the file holds an empty object")),
            Some(m) => BaseCfg::from_map(m).map_err(|e| Error::corrupt(&p, format!("{e}; correct or restore it"))),
        }
    }

    /// The settings, or padocc's defaults for a project being created.
    pub fn base_or_new(&self) -> Result<BaseCfg> {
        match self.path("base-cfg.json").exists() {
            true => self.base(),
            false => Ok(BaseCfg::new(&self.code)),
        }
    }

    pub fn save_base(&self, v: &BaseCfg) -> Result<()> {
        self.write_json("base-cfg.json", v)
    }

    /// What scan and compute found (padocc's defaults before scan).
    pub fn detail(&self) -> Result<DetailCfg> {
        Ok(self.read_json("detail-cfg.json")?.unwrap_or_default())
    }

    pub fn save_detail(&self, v: &DetailCfg) -> Result<()> {
        self.write_json("detail-cfg.json", v)
    }

    pub fn allfiles(&self) -> Result<Vec<PathBuf>> {
        let p = self.path("allfiles.txt");
        let text = std::fs::read_to_string(&p).map_err(|e| Error::input_io(&p, e))?;
        Ok(text.lines().map(str::trim).filter(|l| !l.is_empty()).map(PathBuf::from).collect())
    }

    pub fn save_allfiles(&self, files: &[PathBuf]) -> Result<()> {
        let p = self.path("allfiles.txt");
        let text = files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join("\n");
        fsutil::write_file_atomic(&p, |w| w.write_all(text.as_bytes()).map_err(|e| Error::output(&p, e)))
    }

    pub fn status_rows(&self) -> Result<Vec<StatusRow>> {
        let p = self.path("status_log.csv");
        match std::fs::read_to_string(&p) {
            Ok(t) => Ok(t.lines().filter_map(StatusRow::parse).collect()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(vec![]),
            Err(e) => Err(Error::input_io(&p, e)),
        }
    }

    pub fn last_status(&self) -> Result<Option<StatusRow>> {
        Ok(self.status_rows()?.pop())
    }

    /// Append one status row with a single `O_APPEND` write, so a kill can never
    /// leave half a row and readers never see a rewritten file.
    pub fn append_status(&self, row: &StatusRow) -> Result<()> {
        let p = self.path("status_log.csv");
        append_line(&p, &row.line())
    }

    /// The CF aggregation file compute makes beside the main product
    /// (`<proj>.nca`, padocc's name for local sources).
    pub fn cfa_path(&self) -> PathBuf {
        self.path(&format!("{}.nca", self.code))
    }

    /// Whether compute makes the CFA file (`--CFA n` or `disable_CFA` turn it off).
    pub fn cfa_enabled(&self, base: &BaseCfg) -> bool {
        !base.disable_cfa
    }

    /// `k1.0a`-style product stem and its file name (`k1.0a.json`, `k1.0a.parquet`,
    /// `zr1.0a.zarr`; for the CFA format, the CFA file).
    pub fn product(&self, base: &BaseCfg) -> (String, PathBuf) {
        let version = &base.version_no;
        if base.is_cfa() {
            return (format!("c{version}a"), self.cfa_path());
        }
        let ct = base.cloud.cloud_type.as_str();
        let remote = base.remote || ct == "zarr";
        let id = ct.chars().next().unwrap_or('k');
        let stem = format!("{id}{}{version}a", if remote { "r" } else { "" });
        let ext = match (ct, base.cloud.file_type.as_str()) {
            ("zarr", _) => "zarr",
            ("icechunk", _) => "icechunk",
            (_, "parq" | "parquet") => "parquet",
            _ => "json",
        };
        let path = self.path(&format!("{stem}.{ext}"));
        (stem, path)
    }
}

impl Project {
    /// Where the product is published: `s3://<bucket_id>/<name>` for a Zarr
    /// store or Icechunk repository of a project with padocc's `remote_s3`
    /// settings (`store_name`, else `<proj>_<stem>.<ext>`), else the local
    /// product path. A remote Zarr store is still built at the local path first.
    pub fn product_location(&self, base: &BaseCfg) -> String {
        let (stem, local) = self.product(base);
        let ext = local.extension().and_then(|e| e.to_str()).unwrap_or("");
        match (ext, remote_s3(base)) {
            ("zarr" | "icechunk", Some(r)) => {
                let bucket = r.get("bucket_id").and_then(serde_json::Value::as_str).unwrap_or_default();
                let name = r.get("store_name").and_then(serde_json::Value::as_str).map(String::from).unwrap_or_else(|| format!("{}_{stem}.{ext}", self.code));
                format!("s3://{bucket}/{}", name.trim_start_matches('/'))
            }
            _ => local.to_string_lossy().into_owned(),
        }
    }
}

/// padocc's `remote_s3` settings of a project, when they name a bucket.
pub fn remote_s3(base: &BaseCfg) -> Option<&serde_json::Value> {
    base.extra.get("remote_s3").filter(|r| r.get("bucket_id").and_then(serde_json::Value::as_str).is_some_and(|b| !b.is_empty()))
}

/// Append a line (adding the newline), in one write; if the file does not end
/// in a newline (padocc writes none), start with one.
pub fn append_line(path: &Path, line: &str) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().append(true).create(true).mode(0o664).open(path).map_err(|e| Error::output(path, e))?;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let needs_nl = len > 0 && {
        use std::io::{Read, Seek, SeekFrom};
        let mut r = std::fs::File::open(path).map_err(|e| Error::output(path, e))?;
        let mut last = [0u8; 1];
        r.seek(SeekFrom::Start(len - 1)).and_then(|_| r.read_exact(&mut last)).is_ok() && last[0] != b'\n'
    };
    let mut buf = String::with_capacity(line.len() + 2);
    if needs_nl {
        buf.push('\n');
    }
    buf.push_str(line);
    buf.push('\n');
    f.write_all(buf.as_bytes()).map_err(|e| Error::output(path, e))
}

/// Sizes as padocc formats them (1000-based): `15.49 KB`.
pub fn format_size(bytes: f64) -> String {
    let units = ["B", "KB", "MB", "GB", "TB", "PB"];
    let mut x = bytes;
    let mut i = 0;
    while x >= 1000.0 && i < units.len() - 1 {
        x /= 1000.0;
        i += 1;
    }
    format!("{x:.2} {}", units[i])
}

/// Parse a size written by `format_size` back into bytes.
pub fn parse_size(s: &str) -> Option<f64> {
    let mut it = s.split_whitespace();
    let x: f64 = it.next()?.parse().ok()?;
    let mult = match it.next().unwrap_or("B") {
        "B" => 1.0,
        "KB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "TB" => 1e12,
        "PB" => 1e15,
        _ => return None,
    };
    Some(x * mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_rows_round_trip_and_sanitise() {
        let r = StatusRow { phase: "validate".into(), status: "Fatal-a,b\nc".into(), time: "01:30 24/11/26".into(), jobid: "3".into() };
        assert_eq!(r.line(), "validate,Fatal-a.b.c,01:30 24/11/26,3");
        assert_eq!(StatusRow::parse(&r.line()).unwrap().status, "Fatal-a.b.c");
        assert_eq!(StatusRow::parse("init,Success,01:27 24/11/26,").unwrap().jobid, "");
    }

    #[test]
    fn appending_after_a_file_without_trailing_newline() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("status_log.csv");
        std::fs::write(&p, "init,Success,01:27 24/11/26,").unwrap();
        append_line(&p, "scan,Success,01:28 24/11/26,2").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "init,Success,01:27 24/11/26,\nscan,Success,01:28 24/11/26,2\n");
    }

    #[test]
    fn corrupt_config_is_an_error_not_a_reset() {
        let d = tempfile::tempdir().unwrap();
        let p = Project::new("g", "p", d.path().to_path_buf());
        std::fs::write(p.path("base-cfg.json"), "{\"proj_code\": \"p\", trunc").unwrap();
        let e = p.base().unwrap_err().to_string();
        assert!(e.contains("base-cfg.json") && e.contains("will not reset"), "{e}");
        for (text, why) in [(None, "missing"), (Some("{}"), "empty object")] {
            match text {
                Some(t) => std::fs::write(p.path("base-cfg.json"), t).unwrap(),
                None => std::fs::remove_file(p.path("base-cfg.json")).unwrap(),
            }
            let e = p.base().unwrap_err().to_string();
            assert!(e.contains(why) && e.contains("padocc init"), "{e}");
        }
    }

    #[test]
    fn product_names_follow_padocc() {
        let p = Project::new("g", "rain1", PathBuf::from("/w/in_progress/g/rain1"));
        let mut b = BaseCfg::new("rain1");
        assert_eq!(p.product(&b).1, PathBuf::from("/w/in_progress/g/rain1/k1.0a.json"));
        b.cloud.file_type = "parq".into();
        b.version_no = "1.1".into();
        assert_eq!(p.product(&b).0, "k1.1a");
        assert!(p.product(&b).1.ends_with("k1.1a.parquet"));
    }

    #[test]
    fn sizes() {
        assert_eq!(format_size(15490.0), "15.49 KB");
        assert_eq!(parse_size("5.26 MB"), Some(5.26e6));
    }
}
