//! The public surface: every operation the command line and the Python module
//! offer, as functions that take typed requests and return typed values.
//! Nothing here prints; the interfaces render what comes back.
//!
//! - [`products`]: `refs`, `zarr`, `cfa`, `verify` over a list of files;
//! - [`projects`]: a working directory's groups and projects (init, subsets,
//!   settings, moves, deletions, reports);
//! - [`phases`]: running a phase over a selection, in-process or as job
//!   arrays, and rerunning what failed;
//! - [`status`], [`doctor`]: where a group stands, and what is wrong with it;
//! - [`embed`]: what the Python module needs beyond the command line.

pub mod doctor;
pub mod embed;
pub mod phases;
pub mod products;
pub mod projects;
pub mod status;

use std::path::Path;

pub use crate::control::{Cancel, Control, Reporter, Tick};
pub use crate::error::{exit, Error, Result};
pub use crate::pipeline::{Options as PhaseOptions, Outcome, Phase};
pub use crate::workdir::group::GroupDir;
pub use crate::workdir::Workdir;

/// The working directory: `flag` (e.g. `-w`) or else `$WORKDIR`.
pub fn open_workdir(flag: Option<&Path>) -> Result<Workdir> {
    Workdir::resolve(flag)
}

/// An existing group (an error that says how to create it otherwise).
pub fn open_group(wd: &Workdir, name: &str) -> Result<GroupDir> {
    GroupDir::open(wd, name)
}

/// Which projects of a group an operation is about: a subset (repeat id) and,
/// optionally, codes or indices within it (`-p`: a code, an index, or a
/// comma list of either).
#[derive(Debug, Clone)]
pub struct Selection {
    pub repeat_id: String,
    pub projects: Option<String>,
}

impl Default for Selection {
    fn default() -> Selection {
        Selection { repeat_id: "main".into(), projects: None }
    }
}

impl Selection {
    /// (index in the subset, code) of every selected project; an unknown code
    /// or an index out of range is an error.
    pub fn resolve(&self, g: &GroupDir) -> Result<Vec<(usize, String)>> {
        g.select(&self.repeat_id, self.projects.as_deref())
    }

    pub fn codes(&self, g: &GroupDir) -> Result<Vec<String>> {
        Ok(self.resolve(g)?.into_iter().map(|x| x.1).collect())
    }
}
