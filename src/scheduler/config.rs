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
    let r = f.resources.unwrap_or_default();
    let d = Resources::default();
    Ok(Config {
        scheduler: f.scheduler.unwrap_or_else(|| "slurm".into()),
        site: Site { partition: f.partition, account: f.account, qos: f.qos, env_lines: f.env, extra_directives: f.directives },
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
