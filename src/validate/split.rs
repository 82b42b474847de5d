//! One validation shared between processes: this one and `padocc validate-part`
//! children, each with its own netCDF-C. netCDF-C is not thread-safe, so within
//! one process the sources decode on one core whatever the machine has.
//!
//! A child never outlives the validation that started it: it is killed when the
//! parent returns early for any reason (an error, Ctrl-C, a panic: see
//! [`Children`]'s `Drop`), and the kernel kills it if the parent dies
//! (`PR_SET_PDEATHSIG`). Its pipes are drained from the moment it starts, so a
//! child that writes a lot (HDF5 diagnostics) never blocks on a full pipe.
//!
//! The merged report is what one process would have written: strings and the
//! monotonic check are compared by share 0 only, and where two shares found
//! differing values in the same variable the one in the earlier file is kept.

use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;

use super::{Options, Report};
use crate::error::{Error, Result};

struct Share {
    child: Child,
    stdout: Option<JoinHandle<Vec<u8>>>,
    stderr: Option<JoinHandle<Vec<u8>>>,
    status: Option<ExitStatus>,
}

/// The children of one validation. Whatever is still running when this is
/// dropped is killed and reaped.
struct Children(Vec<Share>);

impl Drop for Children {
    fn drop(&mut self) {
        for s in &mut self.0 {
            if s.status.is_none() {
                let _ = s.child.kill();
                let _ = s.child.wait();
            }
        }
    }
}

fn drain(mut r: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        buf
    })
}

/// Validate `files` in `procs` processes: file `f` goes to share `f % procs`;
/// share 0 runs here.
pub(super) fn validate_split(product_path: &Path, files: &[PathBuf], opts: &Options, procs: usize) -> Result<Report> {
    let exe = crate::fsutil::padocc_exe()?;
    // The file list goes on stdin, NUL-separated: 10 000 paths would not fit on
    // a command line, and a path may hold any byte but NUL.
    let mut list = Vec::new();
    for f in files {
        list.extend_from_slice(f.as_os_str().as_encoded_bytes());
        list.push(0);
    }
    let list = Arc::new(list);
    let mut children = Children(Vec::with_capacity(procs - 1));
    for i in 1..procs {
        let mut c = Command::new(&exe);
        c.arg("validate-part").arg(product_path).args(["--part", &i.to_string(), "--parts", &procs.to_string(), "--sample", &opts.sample.to_string()]);
        c.args(["--dedupe", &format!("{:?}", opts.dedupe).to_lowercase()]);
        if !opts.select.keep.is_empty() {
            c.args(["--keep-vars", &opts.select.keep.join(",")]);
        }
        if !opts.select.drop.is_empty() {
            c.args(["--drop-vars", &opts.select.drop.join(",")]);
        }
        if !opts.edits.is_empty() {
            let (update, remove) = opts.edits.to_config();
            c.args(["--update", &update.to_string(), "--remove", &remove.to_string()]);
        }
        if !opts.concat_dims.is_empty() {
            c.args(["--concat-dim", &opts.concat_dims.join(",")]);
        }
        c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let parent = std::process::id() as libc::pid_t;
        // SAFETY: prctl, getppid and _exit are async-signal-safe and touch no
        // memory of ours. A parent that died before prctl took effect is
        // caught by the getppid check.
        unsafe {
            c.pre_exec(move || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                if libc::getppid() != parent {
                    libc::_exit(1);
                }
                Ok(())
            });
        }
        let mut child = c.spawn().map_err(|e| Error::Internal(format!("cannot start a validation process ({}): {e}", exe.display())))?;
        let mut stdin = child.stdin.take().expect("piped");
        let l = Arc::clone(&list);
        // A child that fails before reading its list closes the pipe; that
        // failure is reported from its output, not from this write.
        std::thread::spawn(move || {
            let _ = stdin.write_all(&l);
        });
        let stdout = Some(drain(child.stdout.take().expect("piped")));
        let stderr = Some(drain(child.stderr.take().expect("piped")));
        children.0.push(Share { child, stdout, stderr, status: None });
    }
    let mut rep = super::validate_share(product_path, files, &Options { part: Some((0, procs)), ..opts.clone() })?;
    wait(&mut children, &opts.cancel)?;
    let mut first_err = None;
    for (i, s) in children.0.iter_mut().enumerate() {
        // Still running: another child failed first; Drop kills this one.
        let Some(status) = s.status else { continue };
        let out = s.stdout.take().map(|h| h.join().unwrap_or_default()).unwrap_or_default();
        let err = s.stderr.take().map(|h| h.join().unwrap_or_default()).unwrap_or_default();
        match serde_json::from_slice::<Value>(&out) {
            Ok(v) if v.get("error").is_some() => {
                first_err.get_or_insert_with(|| Error::from_json(&v["error"]));
            }
            Ok(v) => match serde_json::from_value::<Report>(v) {
                Ok(r) => rep.merge(r, files),
                Err(e) => {
                    first_err.get_or_insert(Error::Internal(format!("validation process {} gave an unreadable report: {e}", i + 1)));
                }
            },
            Err(_) => {
                first_err.get_or_insert(died(i + 1, status, &err));
            }
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(rep),
    }
}

/// Wait until every child has ended or one has failed, polling so that
/// Ctrl-C is noticed (the caller's `Children` then kills the rest).
fn wait(children: &mut Children, cancel: &crate::control::Cancel) -> Result<()> {
    loop {
        let mut running = false;
        for s in &mut children.0 {
            if s.status.is_some() {
                continue;
            }
            match s.child.try_wait() {
                Ok(Some(st)) if !st.success() => {
                    s.status = Some(st);
                    return Ok(());
                }
                Ok(Some(st)) => s.status = Some(st),
                Ok(None) => running = true,
                Err(e) => return Err(Error::Internal(format!("cannot wait for a validation process: {e}"))),
            }
        }
        if !running {
            return Ok(());
        }
        cancel.check()?;
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The error for a child that ended without a report.
fn died(n: usize, status: ExitStatus, stderr: &[u8]) -> Error {
    let said = String::from_utf8_lossy(stderr);
    let said = said.trim();
    let said = if said.is_empty() { String::new() } else { format!(": {said}") };
    match status.signal() {
        Some(libc::SIGKILL) => Error::Internal(format!("validation process {n} was killed (SIGKILL: out of memory?){said}; rerun validate with fewer jobs (-j) or more memory")),
        Some(sig) => Error::Internal(format!("validation process {n} was killed by signal {sig}{said}")),
        None => Error::Internal(format!("validation process {n} ended with {status} and no report{said}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_killed_child_is_named_with_what_to_do() {
        let e = died(2, ExitStatus::from_raw(libc::SIGKILL), b"");
        assert!(matches!(e, Error::Internal(_)));
        assert!(e.to_string().contains("validation process 2 was killed"), "{e}");
        assert!(e.to_string().contains("more memory"), "{e}");
        let e = died(1, ExitStatus::from_raw(3 << 8), b"boom\n");
        assert_eq!(e.to_string(), "validation process 1 ended with exit status: 3 and no report: boom");
    }
}
