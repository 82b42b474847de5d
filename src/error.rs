//! One error type for the whole tool, each variant mapped to a documented exit
//! code (see `docs/exit-codes.md`), so scripts can tell "fix your input" from
//! "this cannot be combined" from "the disk is full".

use std::path::{Path, PathBuf};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: file not found", path.display())]
    Missing { path: PathBuf },

    #[error("{}: cannot read: {source}", path.display())]
    Unreadable { path: PathBuf, source: std::io::Error },

    /// `magic` says what the file looks like (never its bytes: a message must
    /// not show the content of a file it was pointed at by mistake).
    #[error("{}: not a netCDF or HDF5 file ({magic}); padocc reads netCDF-3 (CDF-1/2/5), netCDF-4 and HDF5", path.display())]
    UnknownFormat { path: PathBuf, magic: String },

    #[error("{}: corrupt or truncated: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: String },

    #[error("{}: variable '{var}': {reason}", path.display())]
    Unsupported { path: PathBuf, var: String, reason: String },

    /// The files are each fine but cannot form one dataset as asked.
    #[error("{0}")]
    Incompatible(String),

    #[error("{}: cannot write output: {source}", path.display())]
    Output { path: PathBuf, source: std::io::Error },

    #[error("{0}")]
    Usage(String),

    /// Memory (or another resource of the machine) ran out: the data is not
    /// blamed.
    #[error("{0}")]
    Resources(String),

    /// A project another run is working on (its lock is held).
    #[error("{0}")]
    Busy(String),

    /// The job scheduler refused or failed (sbatch, bsub, qsub, sacct...).
    #[error("{0}")]
    Scheduler(String),

    #[error("interrupted")]
    Interrupted,

    /// Something padocc itself did went wrong (a helper process died...).
    #[error("{0}")]
    Internal(String),
}

/// Exit codes, stable across releases.
pub mod exit {
    pub const OK: i32 = 0;
    /// An internal error (a bug): please report it.
    pub const INTERNAL: i32 = 1;
    /// Some projects failed (phase commands), or `verify` found differences.
    pub const SOME_FAILED: i32 = 1;
    /// Bad command line (clap uses 2 as well).
    pub const USAGE: i32 = 2;
    /// An input file is missing, unreadable, corrupt or of an unknown format.
    pub const INPUT: i32 = 3;
    /// The inputs cannot be combined as asked (mismatched variables, duplicates...).
    pub const INCOMPATIBLE: i32 = 4;
    /// A feature of the input that references cannot express (unknown filter...).
    pub const UNSUPPORTED: i32 = 5;
    /// The output could not be written.
    pub const OUTPUT: i32 = 6;
    /// The job scheduler could not be run or refused a submission.
    pub const SCHEDULER: i32 = 7;
    /// Memory ran out (a limit of the job or the machine), not a fault of the data.
    pub const RESOURCES: i32 = 8;
    /// A project is held by another run: nothing was changed.
    pub const BUSY: i32 = 9;
    /// Stopped by a signal (128 + SIGINT).
    pub const INTERRUPTED: i32 = 130;
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Missing { .. } | Error::Unreadable { .. } | Error::UnknownFormat { .. } | Error::Corrupt { .. } => exit::INPUT,
            Error::Unsupported { .. } => exit::UNSUPPORTED,
            Error::Incompatible(_) => exit::INCOMPATIBLE,
            Error::Output { .. } => exit::OUTPUT,
            Error::Usage(_) => exit::USAGE,
            Error::Scheduler(_) => exit::SCHEDULER,
            Error::Resources(_) => exit::RESOURCES,
            Error::Busy(_) => exit::BUSY,
            Error::Interrupted => exit::INTERRUPTED,
            Error::Internal(_) => exit::INTERNAL,
        }
    }

    /// For another padocc process to hand its error back (validation shares).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            Error::Missing { path } => json!({"kind": "missing", "path": path}),
            Error::Unreadable { path, source } => json!({"kind": "unreadable", "path": path, "reason": source.to_string()}),
            Error::UnknownFormat { path, magic } => json!({"kind": "unknown_format", "path": path, "reason": magic}),
            Error::Corrupt { path, reason } => json!({"kind": "corrupt", "path": path, "reason": reason}),
            Error::Unsupported { path, var, reason } => json!({"kind": "unsupported", "path": path, "var": var, "reason": reason}),
            Error::Incompatible(m) => json!({"kind": "incompatible", "reason": m}),
            Error::Output { path, source } => json!({"kind": "output", "path": path, "reason": source.to_string()}),
            Error::Usage(m) => json!({"kind": "usage", "reason": m}),
            Error::Scheduler(m) => json!({"kind": "scheduler", "reason": m}),
            Error::Resources(m) => json!({"kind": "resources", "reason": m}),
            Error::Busy(m) => json!({"kind": "busy", "reason": m}),
            Error::Interrupted => json!({"kind": "interrupted"}),
            Error::Internal(m) => json!({"kind": "internal", "reason": m}),
        }
    }

    /// The error [`Error::to_json`] described.
    pub fn from_json(v: &serde_json::Value) -> Error {
        let s = |k: &str| v.get(k).and_then(serde_json::Value::as_str).unwrap_or_default().to_string();
        let path = PathBuf::from(s("path"));
        match s("kind").as_str() {
            "missing" => Error::Missing { path },
            "unreadable" => Error::Unreadable { path, source: std::io::Error::other(s("reason")) },
            "unknown_format" => Error::UnknownFormat { path, magic: s("reason") },
            "corrupt" => Error::Corrupt { path, reason: s("reason") },
            "unsupported" => Error::Unsupported { path, var: s("var"), reason: s("reason") },
            "incompatible" => Error::Incompatible(s("reason")),
            "output" => Error::Output { path, source: std::io::Error::other(s("reason")) },
            "interrupted" => Error::Interrupted,
            "internal" => Error::Internal(s("reason")),
            "scheduler" => Error::Scheduler(s("reason")),
            "resources" => Error::Resources(s("reason")),
            "busy" => Error::Busy(s("reason")),
            _ => Error::Usage(s("reason")),
        }
    }

    /// netCDF-C or HDF5 could not open or read a source. The file is blamed
    /// only when nothing else explains it: a file the system will not let us
    /// read is unreadable, and a library that ran out of memory says nothing
    /// about the file.
    pub fn source(path: &Path, reason: impl Into<String>) -> Error {
        let reason = reason.into();
        if let Err(e) = std::fs::File::open(path) {
            return Error::input_io(path, e);
        }
        let lower = reason.to_ascii_lowercase();
        if lower.contains("memory") || lower.contains("cannot allocate") || lower.contains("resource temporarily") || crate::memory::nearly_exhausted() {
            return Error::Resources(format!(
                "{}: ran out of memory reading it ({reason}); the file is not at fault: give the run more memory (-M, --mem-allowed) or run fewer projects at once (-j)",
                path.display()
            ));
        }
        Error::corrupt(path, reason)
    }

    /// The same error, with a sentence added to its message (what was kept,
    /// what to do).
    pub fn with_note(self, note: &str) -> Error {
        let more = |s: String| format!("{s}; {note}");
        match self {
            Error::Unreadable { path, source } => Error::Unreadable { path, source: std::io::Error::other(more(source.to_string())) },
            Error::UnknownFormat { path, magic } => Error::UnknownFormat { path, magic: more(magic) },
            Error::Corrupt { path, reason } => Error::Corrupt { path, reason: more(reason) },
            Error::Unsupported { path, var, reason } => Error::Unsupported { path, var, reason: more(reason) },
            Error::Incompatible(m) => Error::Incompatible(more(m)),
            Error::Output { path, source } => Error::Output { path, source: std::io::Error::other(more(source.to_string())) },
            Error::Usage(m) => Error::Usage(more(m)),
            Error::Scheduler(m) => Error::Scheduler(more(m)),
            Error::Resources(m) => Error::Resources(more(m)),
            Error::Busy(m) => Error::Busy(more(m)),
            Error::Internal(m) => Error::Internal(more(m)),
            e @ (Error::Missing { .. } | Error::Interrupted) => e,
        }
    }

    pub fn corrupt(path: &Path, reason: impl Into<String>) -> Error {
        Error::Corrupt { path: path.to_path_buf(), reason: reason.into() }
    }

    pub fn unsupported(path: &Path, var: &str, reason: impl Into<String>) -> Error {
        Error::Unsupported { path: path.to_path_buf(), var: var.to_string(), reason: reason.into() }
    }

    /// Classify an I/O error on an input file.
    pub fn input_io(path: &Path, e: std::io::Error) -> Error {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::Missing { path: path.to_path_buf() }
        } else {
            Error::Unreadable { path: path.to_path_buf(), source: e }
        }
    }

    pub fn output(path: &Path, e: std::io::Error) -> Error {
        Error::Output { path: path.to_path_buf(), source: e }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_is_blamed_only_when_nothing_else_explains_it() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("ok.nc");
        std::fs::write(&f, b"CDF\x01").unwrap();
        assert_eq!(Error::source(&f, "NetCDF: Not enough memory").exit_code(), exit::RESOURCES);
        assert_eq!(Error::source(&f, "NetCDF: HDF error").exit_code(), exit::INPUT);
        assert!(matches!(Error::source(&f, "NetCDF: HDF error"), Error::Corrupt { .. }));
        assert!(matches!(Error::source(&d.path().join("gone.nc"), "NetCDF: HDF error"), Error::Missing { .. }));
    }

    #[test]
    fn errors_cross_processes_unchanged() {
        let p = Path::new("/data/x y.nc");
        for e in [
            Error::Missing { path: p.into() },
            Error::corrupt(p, "HDF5 header truncated"),
            Error::unsupported(p, "tas", "filter 32015"),
            Error::Incompatible("variables differ".into()),
            Error::Usage("no product".into()),
            Error::Scheduler("sbatch failed".into()),
            Error::Resources("out of memory".into()),
            Error::Busy("p0 is busy".into()),
            Error::Interrupted,
            Error::Internal("validation process 1 was killed by signal 9".into()),
        ] {
            let back = Error::from_json(&e.to_json());
            assert_eq!(back.to_string(), e.to_string());
            assert_eq!(back.exit_code(), e.exit_code());
        }
    }
}
