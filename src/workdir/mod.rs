//! The padocc working directory (compatible with padocc 1.5.1):
//!
//! ```text
//! $WORKDIR/groups/<G>/{datasets.csv, faultlist.csv, proj_codes/<repeat_id>.txt, status/}
//! $WORKDIR/in_progress/<G>/<proj>/{base-cfg.json, detail-cfg.json, allfiles.txt,
//!                                  status_log.csv, phase_logs/, products...}
//! ```
//!
//! Every name that becomes a path is checked first (`check_name`), so no group
//! or project code can reach outside WORKDIR or carry shell syntax into a job
//! script.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

pub mod config;
pub mod group;
pub mod lock;
pub mod project;
pub mod status;

#[derive(Debug, Clone)]
pub struct Workdir {
    pub root: PathBuf,
}

impl Workdir {
    /// `-w` wins over `$WORKDIR` (padocc 1.5.1 crashes when both are set).
    pub fn resolve(flag: Option<&Path>) -> Result<Workdir> {
        let root = match flag {
            Some(p) => p.to_path_buf(),
            None => match std::env::var_os("WORKDIR") {
                Some(v) if !v.is_empty() => PathBuf::from(v),
                _ => return Err(Error::Usage("no working directory: give -w DIR or set WORKDIR (padocc keeps all pipeline state there)".into())),
            },
        };
        let root = std::path::absolute(&root).unwrap_or(root);
        Ok(Workdir { root })
    }

    pub fn groups_dir(&self) -> PathBuf {
        self.root.join("groups")
    }

    pub fn group_dir(&self, group: &str) -> PathBuf {
        self.groups_dir().join(group)
    }

    pub fn project_dir(&self, group: &str, code: &str) -> PathBuf {
        self.root.join("in_progress").join(group).join(code)
    }

    /// Groups with a `proj_codes/main.txt`, as `padocc list` shows them.
    pub fn groups(&self) -> Vec<String> {
        let mut out: Vec<String> = std::fs::read_dir(self.groups_dir())
            .map(|rd| rd.filter_map(|e| e.ok()).filter(|e| e.path().join("proj_codes/main.txt").is_file()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        out.sort();
        out
    }
}

/// Make what this process creates group-writable, as padocc 1.5.1 does
/// (`umask 002`), so that a group workspace's members can all update it.
/// `PADOCC_UMASK` (octal) sets another mask; returns the mask applied.
pub fn apply_umask() -> u32 {
    let mask = std::env::var("PADOCC_UMASK").ok().and_then(|s| u32::from_str_radix(s.trim(), 8).ok()).filter(|m| *m <= 0o777).unwrap_or(0o002);
    // SAFETY: umask only sets this process's file creation mask.
    unsafe { libc::umask(mask as libc::mode_t) };
    mask
}

/// Characters that would change meaning in a path or a shell script.
const FORBIDDEN: &[char] = &['/', '\\', '(', ')', '{', '}', '[', ']', '<', '>', ':', ';', '$', '`', '\'', '"', '|', '&', '*', '?', '!', '#', '~', ',', '=', '%', '^'];

/// Accept a group name, project code or repeat id only if it is a safe path
/// component: no separators, no `..`, no spaces, control characters or shell
/// metacharacters, not starting with `-` or `.`. Project codes must also not be
/// purely numeric (padocc reads numbers as indices).
pub fn check_name(kind: &str, name: &str) -> Result<()> {
    let bad = |why: &str| Err(Error::Usage(format!("{kind} {name:?} is not allowed: {why}. Use letters, digits, '_', '-' and '.', starting with a letter or digit")));
    if name.is_empty() {
        return bad("it is empty");
    }
    if name.len() > 200 {
        return bad("it is longer than 200 bytes");
    }
    if name.starts_with('-') || name.starts_with('.') {
        return bad("it starts with '-' or '.'");
    }
    // Invisible characters (zero-width, bidirectional controls) make two codes
    // that look alike differ, or a code display as another.
    if let Some(c) =
        name.chars().find(|c| matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{feff}' | '\u{00ad}'))
    {
        return bad(&format!("it contains the invisible character U+{:04X}", c as u32));
    }
    if let Some(c) = name.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return bad(&format!("it contains {c:?}"));
    }
    if let Some(c) = name.chars().find(|c| FORBIDDEN.contains(c)) {
        return bad(&format!("it contains {c:?}"));
    }
    if kind == "project code" && name.chars().all(|c| c.is_ascii_digit()) {
        return bad("a purely numeric code would be read as an index");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_are_rejected() {
        for n in ["", "../x", "a/b", "a b", "x$(rm)", "a;b", "-rf", ".hidden", "tab\there", "nl\nx", "quote'", "123", "a,b", "ab\u{200b}c", "x\u{202e}y", "\u{feff}a"] {
            assert!(check_name("project code", n).is_err(), "{n:?} accepted");
        }
        for n in ["rain1", "CMIP6.CMIP.MOHC.UKESM1-0-LL.r1i1p1f2.Amon.tas", "a_b-c"] {
            check_name("project code", n).unwrap();
        }
        check_name("group", "2024").unwrap();
    }

    #[test]
    fn flag_wins_over_environment() {
        let w = Workdir::resolve(Some(Path::new("/tmp/x"))).unwrap();
        assert_eq!(w.root, PathBuf::from("/tmp/x"));
    }
}
