//! Site settings for job scripts, from `padocc.toml`: `--config FILE`, else
//! `$WORKDIR/padocc.toml`, else `~/.config/padocc/padocc.toml`; defaults
//! otherwise.
//!
//! ```toml
//! scheduler = "slurm"            # or "lsf", "pbs"
//! partition = "standard"
//! account = "myproj"
//! qos = "short"
//! env = ["module load jaspy"]    # lines before the worker runs
//! directives = ["--constraint=intel"]
//! [resources]
//! floor_time_s = 600
//! cap_time_s = 86400
//! floor_mem_mb = 1024
//! cap_mem_mb = 65536
//! pack_seconds = 600             # pack small projects into tasks of about this long
//! throttle = 0                   # %N: at most N tasks at once
//! max_attempts = 3
//! ```
//!
//! padocc's `$LOTUS_CFG` JSON is read too, for sites that already have one:
//! `{"lotus_vn": 2, "partition": "standard", "account": "no-project", "qos": "standard"}`
//! gives partition, account and qos (with padocc's defaults for missing keys);
//! a legacy file (no `lotus_vn` 2) gives the partition only (default
//! `short-serial`). Settings in `padocc.toml` win over it.

use std::path::{Path, PathBuf};

use super::coordinator::{Resources, Site};
use crate::error::{Error, Result};

#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    scheduler: Option<String>,
    partition: Option<String>,
    account: Option<String>,
    qos: Option<String>,
    #[serde(default)]
    env: Vec<String>,
    #[serde(default)]
    directives: Vec<String>,
    resources: Option<Res>,
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Res {
    floor_time_s: Option<u64>,
    cap_time_s: Option<u64>,
    floor_mem_mb: Option<u64>,
    cap_mem_mb: Option<u64>,
    pack_seconds: Option<f64>,
    throttle: Option<u32>,
    max_attempts: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub scheduler: String,
    pub site: Site,
    pub resources: Resources,
    pub max_attempts: u32,
    pub source: Option<PathBuf>,
}

#[derive(Debug, Default, PartialEq)]
struct Lotus {
    partition: Option<String>,
    account: Option<String>,
    qos: Option<String>,
}

/// padocc's `$LOTUS_CFG`, when set.
fn lotus_cfg() -> Result<Lotus> {
    let Some(p) = std::env::var_os("LOTUS_CFG").map(PathBuf::from) else { return Ok(Lotus::default()) };
    let t = std::fs::read_to_string(&p).map_err(|e| Error::input_io(&p, e))?;
    parse_lotus(&t).map_err(|e| Error::corrupt(&p, format!("$LOTUS_CFG is not padocc's LOTUS JSON: {e}")))
}

fn parse_lotus(text: &str) -> std::result::Result<Lotus, String> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let o = v.as_object().ok_or("not a JSON object")?;
    let get = |k: &str, default: &str| Some(o.get(k).and_then(|x| x.as_str()).unwrap_or(default).to_string());
    if o.get("lotus_vn").and_then(|x| x.as_i64()) == Some(2) {
        Ok(Lotus { partition: get("partition", "standard"), account: get("account", "no-project"), qos: get("qos", "standard") })
    } else {
        Ok(Lotus { partition: get("partition", "short-serial"), account: None, qos: None })
    }
}

pub fn load(explicit: Option<&Path>, workdir: &Path) -> Result<Config> {
    let home = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config/padocc/padocc.toml"));
    let path = match explicit {
        Some(p) => Some(p.to_path_buf()),
        None => [Some(workdir.join("padocc.toml")), home].into_iter().flatten().find(|p| p.is_file()),
    };
    let f: File = match &path {
        Some(p) => {
            let t = std::fs::read_to_string(p).map_err(|e| Error::input_io(p, e))?;
            toml::from_str(&t).map_err(|e| Error::corrupt(p, format!("not a padocc config: {e}")))?
        }
        None => File::default(),
    };
    let lotus = lotus_cfg()?;
    let r = f.resources.unwrap_or_default();
    let d = Resources::default();
    Ok(Config {
        scheduler: f.scheduler.unwrap_or_else(|| "slurm".into()),
        site: Site {
            partition: f.partition.or(lotus.partition),
            account: f.account.or(lotus.account),
            qos: f.qos.or(lotus.qos),
            env_lines: f.env,
            extra_directives: f.directives,
            job_label: None,
        },
        resources: Resources {
            floor_time_s: r.floor_time_s.unwrap_or(d.floor_time_s),
            cap_time_s: r.cap_time_s.unwrap_or(d.cap_time_s),
            floor_mem_mb: r.floor_mem_mb.unwrap_or(d.floor_mem_mb),
            cap_mem_mb: r.cap_mem_mb.unwrap_or(d.cap_mem_mb),
            pack_seconds: r.pack_seconds.unwrap_or(d.pack_seconds),
            throttle: r.throttle.unwrap_or(d.throttle),
            ..d
        },
        max_attempts: r.max_attempts.unwrap_or(3),
        source: path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lotus_cfg_v2_and_legacy_as_padocc_reads_them() {
        let v2 = parse_lotus(r#"{"lotus_vn": 2, "partition": "highres", "account": "ceda"}"#).unwrap();
        assert_eq!(v2, Lotus { partition: Some("highres".into()), account: Some("ceda".into()), qos: Some("standard".into()) });
        let legacy = parse_lotus(r#"{"partition": "par-single"}"#).unwrap();
        assert_eq!(legacy, Lotus { partition: Some("par-single".into()), account: None, qos: None });
        assert_eq!(parse_lotus("{}").unwrap().partition.as_deref(), Some("short-serial"));
        assert!(parse_lotus("[1]").is_err());
    }
}
