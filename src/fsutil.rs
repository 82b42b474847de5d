//! Crash-safe output: everything is written under a temporary name in the
//! destination directory, fsynced, then renamed into place, so a reader (or a
//! rerun after a kill) sees either the old product or the complete new one.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

pub(crate) fn temp_sibling(path: &Path, tag: &str) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.{tag}.{}", std::process::id()))
}

fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// fsync a directory so a rename inside it survives a crash.
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Write a file atomically through a buffered writer.
pub fn write_file_atomic<F>(path: &Path, body: F) -> Result<()>
where
    F: FnOnce(&mut BufWriter<fs::File>) -> Result<()>,
{
    let dir = parent_of(path);
    if !dir.is_dir() {
        return Err(Error::output(path, std::io::Error::other(format!("directory {} does not exist", dir.display()))));
    }
    let tmp = temp_sibling(path, "tmp");
    let result = (|| {
        let f = fs::File::create(&tmp).map_err(|e| Error::output(path, e))?;
        let mut w = BufWriter::with_capacity(1 << 20, f);
        body(&mut w)?;
        let f = w.into_inner().map_err(|e| Error::output(path, e.into_error()))?;
        f.sync_all().map_err(|e| Error::output(path, e))?;
        // A file replaced keeps its mode (e.g. group-writable in a shared workspace).
        if let Ok(m) = fs::metadata(path) {
            let _ = fs::set_permissions(&tmp, m.permissions());
        }
        fs::rename(&tmp, path).map_err(|e| Error::output(path, e))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    } else {
        sync_dir(dir);
    }
    result
}

/// Build a directory atomically: `body` fills a temporary directory, which then
/// replaces `path` (an existing product is moved aside and removed only after
/// the new one is in place).
pub fn write_dir_atomic<F>(path: &Path, body: F) -> Result<()>
where
    F: FnOnce(&Path) -> Result<()>,
{
    let dir = parent_of(path);
    if !dir.is_dir() {
        return Err(Error::output(path, std::io::Error::other(format!("directory {} does not exist", dir.display()))));
    }
    let tmp = temp_sibling(path, "tmp");
    let _ = fs::remove_dir_all(&tmp);
    let result = (|| {
        fs::create_dir(&tmp).map_err(|e| Error::output(path, e))?;
        body(&tmp)?;
        replace_dir(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
    result
}

/// Move the finished directory `built` to `path`; an existing product there
/// is moved aside first and removed only once the new one is in place.
pub fn replace_dir(built: &Path, path: &Path) -> Result<()> {
    let old = temp_sibling(path, "old");
    let had_old = path.exists();
    if had_old {
        fs::rename(path, &old).map_err(|e| Error::output(path, e))?;
    }
    fs::rename(built, path).map_err(|e| Error::output(path, e))?;
    if had_old {
        let _ = fs::remove_dir_all(&old).or_else(|_| fs::remove_file(&old));
    }
    sync_dir(parent_of(path));
    Ok(())
}

/// Write a small file inside a directory being built (no rename needed: the
/// directory itself is renamed into place).
pub fn write_new_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = fs::File::create(path).map_err(|e| Error::output(path, e))?;
    f.write_all(bytes).map_err(|e| Error::output(path, e))?;
    f.sync_all().map_err(|e| Error::output(path, e))
}

/// The padocc program that job scripts and helper processes run:
/// `PADOCC_EXE`, else this process's own program when it is padocc, else
/// `padocc` on `PATH`. A process that is not padocc is Python running the
/// package, whose `padocc` command is the one to run (the interpreter itself
/// would not understand padocc's arguments).
pub fn padocc_exe() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("PADOCC_EXE").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let me = std::env::current_exe().map_err(|e| Error::Internal(format!("cannot find the padocc program: {e}")))?;
    if me.file_name().is_some_and(|n| n.to_string_lossy().starts_with("padocc")) {
        return Ok(me);
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join("padocc"))
        .find(|p| p.is_file())
        .ok_or_else(|| Error::Usage(format!("this process ({}) is not padocc, and no `padocc` program is on PATH: set PADOCC_EXE to the padocc program", me.display())))
}

/// `path` with `.` and `..` resolved as text, as Python's `os.path.abspath`
/// does (symlinks are not followed).
pub fn lexical_clean(path: &Path) -> PathBuf {
    let mut clean = PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::ParentDir => {
                clean.pop();
            }
            std::path::Component::CurDir => {}
            c => clean.push(c),
        }
    }
    clean
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_file_replaces_whole_or_not_at_all() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("out.json");
        write_file_atomic(&p, |w| w.write_all(b"one").map_err(|e| Error::output(&p, e))).unwrap();
        let failed = write_file_atomic(&p, |w| {
            w.write_all(b"partial").unwrap();
            Err(Error::Usage("stop".into()))
        });
        assert!(failed.is_err());
        assert_eq!(fs::read_to_string(&p).unwrap(), "one");
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1, "no temporary file left behind");
    }

    #[test]
    fn atomic_dir_replaces_existing() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("out.parq");
        write_dir_atomic(&p, |t| write_new_file(&t.join("a"), b"1")).unwrap();
        write_dir_atomic(&p, |t| write_new_file(&t.join("b"), b"2")).unwrap();
        assert!(!p.join("a").exists());
        assert_eq!(fs::read(p.join("b")).unwrap(), b"2");
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn missing_directory_is_an_output_error() {
        let e = write_file_atomic(Path::new("/nonexistent-dir/x.json"), |_| Ok(())).unwrap_err();
        assert_eq!(e.exit_code(), crate::error::exit::OUTPUT);
    }
}
