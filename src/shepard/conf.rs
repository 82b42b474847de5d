//! SHEPARD's configuration: padocc 1.5.1's YAML keys (spec §6.6), read
//! strictly. A key SHEPARD does not know is an error naming it: a misspelt
//! `batch_limt` silently falling back to the default is what makes an
//! unattended tool untrustworthy.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Conf {
    /// A virtual environment activated in job scripts (`source <venv>/bin/activate`).
    #[serde(default)]
    pub source_venv: Option<PathBuf>,
    /// The working directory whose groups are the flocks.
    pub flock_dir: PathBuf,
    /// Projects submitted or run per pass, over all flocks.
    #[serde(default = "default_batch_limit")]
    pub batch_limit: usize,
    /// Where `complete` publishes (`data/`, `reports/`, `summaries/`).
    pub complete_dir: PathBuf,
    /// The validation bypass file (padocc's `-i`).
    #[serde(default)]
    pub common_valid: Option<PathBuf>,
    /// Delete quarantined projects (listing them in `rejected/<time>.csv`)
    /// instead of moving them to the `shp_quarantine` group.
    #[serde(default, deserialize_with = "lenient_bool")]
    pub obliterate_quarantine: bool,
    /// Where new manifests are dropped (`<proj>.txt` file lists, `<G>.csv` groups).
    #[serde(default)]
    pub sweep_dir: Option<PathBuf>,
    /// Where manifests wait to become flocks.
    #[serde(default)]
    pub cache_dir: Option<PathBuf>,
    /// Projects per flock made from `.txt` manifests.
    #[serde(default = "default_flock_size_limit")]
    pub flock_size_limit: usize,
    /// Flocks active at once; further manifests wait in `cache_dir`.
    #[serde(default = "default_flock_limit")]
    pub flock_limit: usize,
    /// The first word of the names of flocks made from manifests.
    #[serde(default = "default_label")]
    pub deployment_label: String,
    #[serde(default = "default_separator")]
    pub version_separator: String,
    /// `complete`'s remote copies: this prefix of source paths ...
    #[serde(default)]
    pub remote_sub: Option<String>,
    /// ... becomes this (e.g. an https URL).
    #[serde(default)]
    pub remote_replace: Option<String>,
    /// Attempts of one phase before a project is quarantined (padocc: 5).
    #[serde(default = "default_max_attempts")]
    pub max_attempts: usize,
}

/// The `<R>` of SHEPARD's job names, `PADOCC_<G>-SHEPARD_<phase>`, as padocc 1.5.1's.
pub const JOB_LABEL: &str = "SHEPARD";

fn default_batch_limit() -> usize {
    100
}
fn default_flock_size_limit() -> usize {
    100
}
fn default_flock_limit() -> usize {
    20
}
fn default_label() -> String {
    "SHEPARD".into()
}
fn default_separator() -> String {
    "_".into()
}
fn default_max_attempts() -> usize {
    5
}

/// YAML booleans, and the strings padocc users write for them.
fn lenient_bool<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<bool, D::Error> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Loose {
        Bool(bool),
        Text(String),
        Number(i64),
    }
    Ok(match Loose::deserialize(d)? {
        Loose::Bool(b) => b,
        Loose::Number(n) => n != 0,
        Loose::Text(s) => matches!(s.trim().to_ascii_lowercase().as_str(), "true" | "yes" | "y" | "1" | "on"),
    })
}

use serde::Deserialize;

impl Conf {
    pub fn read(path: &Path) -> Result<Conf> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::input_io(path, e))?;
        let mut conf: Conf = serde_yaml_ng::from_str(&text).map_err(|e| {
            let mut msg = e.to_string();
            // serde's "unknown field `x`, expected one of ..." is the useful part; say where.
            if let Some(loc) = e.location() {
                msg = format!("line {}: {msg}", loc.line());
            }
            Error::Usage(format!("{}: {msg} (the keys are padocc 1.5.1's, see docs/shepard.md)", path.display()))
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        // Relative paths are relative to the conf file, not to wherever cron starts.
        for p in [Some(&mut conf.flock_dir), Some(&mut conf.complete_dir), conf.common_valid.as_mut(), conf.sweep_dir.as_mut(), conf.cache_dir.as_mut(), conf.source_venv.as_mut()]
            .into_iter()
            .flatten()
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        if conf.batch_limit == 0 || conf.flock_size_limit == 0 || conf.flock_limit == 0 {
            return Err(Error::Usage(format!("{}: batch_limit, flock_size_limit and flock_limit must be at least 1", path.display())));
        }
        if conf.sweep_dir.is_some() && conf.cache_dir.is_none() {
            return Err(Error::Usage(format!("{}: sweep_dir needs a cache_dir (where manifests wait to become flocks)", path.display())));
        }
        crate::workdir::check_name("deployment_label", &conf.deployment_label)?;
        Ok(conf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Conf> {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("conf.yaml");
        std::fs::write(&p, text).unwrap();
        Conf::read(&p)
    }

    #[test]
    fn padoccs_documented_conf_reads_unchanged() {
        let c = read(
            "source_venv: /path/to/virtual/env\nbatch_limit: 1000 # Number of jobs for simultaneous submission.\nflock_dir: /path/to/set/of/groups\n\
             complete_dir: /path/to/completion/directory\ncommon_valid: /path/to/validation/template\nobliterate_quarantine: false\n\
             # Optional parameters\nsweep_dir: /path/to/sweep/dir\ncache_dir: /path/to/cache/dir\nflock_size_limit: 100\nflock_limit: 20\n\
             deployment_label: 'SHEPARD'\nversion_separator: '_'\nremote_sub: /badc\nremote_replace: https://dap.ceda.ac.uk/badc\n",
        )
        .unwrap();
        assert_eq!((c.batch_limit, c.flock_limit, c.flock_size_limit), (1000, 20, 100));
        assert_eq!(c.flock_dir, PathBuf::from("/path/to/set/of/groups"));
        assert!(!c.obliterate_quarantine);
        assert_eq!(c.remote_replace.as_deref(), Some("https://dap.ceda.ac.uk/badc"));
    }

    #[test]
    fn an_unknown_key_is_named() {
        let e = read("flock_dir: /a\ncomplete_dir: /b\nbatch_limt: 3\n").unwrap_err().to_string();
        assert!(e.contains("batch_limt"), "{e}");
        let e = read("complete_dir: /b\n").unwrap_err().to_string();
        assert!(e.contains("flock_dir"), "{e}");
    }

    #[test]
    fn relative_paths_are_the_confs_and_defaults_are_padoccs() {
        let c = read("flock_dir: flocks\ncomplete_dir: done\nobliterate_quarantine: 'True'\n").unwrap();
        assert!(c.flock_dir.is_absolute() && c.flock_dir.ends_with("flocks"));
        assert_eq!((c.batch_limit, c.flock_size_limit, c.flock_limit, c.deployment_label.as_str()), (100, 100, 20, "SHEPARD"));
        assert!(c.obliterate_quarantine);
    }
}
