//! Per-project locks that hold on NFS and Lustre, where `flock` may not: a
//! lock is a file whose name is taken atomically (a hard link, which fails
//! when the name exists: the classic NFS-safe lock), holding who took it: host, process id and the process's
//! start (boot id and start time, so a reused pid is not mistaken for the
//! holder). All of a group's locks are in one directory,
//! `groups/<G>/locks/<code>.lock`, so `status` sees every holder with one
//! directory listing.
//!
//! The holder's record is written to a file of its own and then hard-linked
//! to the lock's name, so a lock is never seen half-written, even when its
//! maker is killed mid-way.
//!
//! A lock is stale when its holder is gone: on this host, its process no
//! longer exists (or another process has its pid); on another host, its file
//! has not been touched for [`stale_after`] (a holder touches its locks every
//! minute). A stale lock is taken over by renaming it away first, so two
//! processes cannot both take it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, Once};
use std::time::{Duration, SystemTime};

use crate::error::{Error, Result};

/// Who holds a lock.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Holder {
    pub host: String,
    pub pid: u32,
    /// `<boot id>:<start time in clock ticks>` of the holding process.
    pub start: String,
    /// What it is doing (a phase name, `set_attr`...).
    pub what: String,
    /// When it took the lock (local time, padocc's format).
    pub since: String,
}

impl Holder {
    fn me(what: &str) -> Holder {
        Holder {
            host: super::group::hostname(),
            pid: std::process::id(),
            start: process_start(std::process::id()).unwrap_or_default(),
            what: what.to_string(),
            since: super::project::local_time(true),
        }
    }

    /// Whether the holder is gone, judged from this host.
    pub fn is_stale(&self, touched: Option<SystemTime>) -> bool {
        if self.host == super::group::hostname() {
            return process_start(self.pid).is_none_or(|s| !self.start.is_empty() && s != self.start);
        }
        touched.and_then(|t| t.elapsed().ok()).is_some_and(|age| age > stale_after())
    }
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} on {} (pid {}) since {}", self.what, self.host, self.pid, self.since)
    }
}

/// How long a lock of another host may go untouched before it counts as
/// abandoned (`PADOCC_LOCK_STALE_SECONDS`, default 15 minutes).
pub fn stale_after() -> Duration {
    Duration::from_secs(std::env::var("PADOCC_LOCK_STALE_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(900))
}

/// `<boot id>:<start ticks>` of a live process, None when it does not exist.
fn process_start(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let start = rest.split_whitespace().nth(19)?;
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    Some(format!("{}:{start}", boot.trim()))
}

/// A held lock; dropping it releases it (if it is still ours).
#[derive(Debug)]
pub struct Lock {
    path: PathBuf,
    me: Holder,
}

/// The outcome of trying to take a lock.
#[derive(Debug)]
pub enum Acquired {
    Held(Lock),
    /// Another live process holds it.
    Busy(Holder),
}

/// The holder written in a lock file, and when it was last touched.
pub fn read(path: &Path) -> Option<(Holder, Option<SystemTime>)> {
    let text = std::fs::read(path).ok()?;
    let holder = serde_json::from_slice(&text).ok()?;
    Some((holder, std::fs::metadata(path).and_then(|m| m.modified()).ok()))
}

/// Take the lock at `path` for `what`, taking over a stale one.
pub fn acquire(path: &Path, what: &str) -> Result<Acquired> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::output(dir, e))?;
    let me = Holder::me(what);
    let body = serde_json::to_vec(&me).expect("a holder serialises");
    // The holder is written to a file of our own first, which is then linked
    // to the lock's name: a link is made whole or not at all (and fails if the
    // name exists, atomically, on NFS too), so no lock is ever seen half-written,
    // even when its maker is killed.
    let mine = path.with_extension(format!("new.{}.{}", std::process::id(), super::group::now_ns()));
    {
        let mut f = std::fs::File::create(&mine).map_err(|e| Error::output(&mine, e))?;
        f.write_all(&body).and_then(|_| f.sync_all()).map_err(|e| Error::output(&mine, e))?;
    }
    let result = take(path, &mine, me);
    let _ = std::fs::remove_file(&mine);
    result
}

fn take(path: &Path, mine: &Path, me: Holder) -> Result<Acquired> {
    for _ in 0..3 {
        match std::fs::hard_link(mine, path) {
            Ok(()) => {
                register(path);
                return Ok(Acquired::Held(Lock { path: path.to_path_buf(), me }));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::output(path, e)),
        }
        let Some((holder, touched)) = read(path) else {
            // Locks are never seen half-written (they are linked whole): one
            // that does not read is not a holder's, and is taken over.
            take_over(path, None)?;
            continue;
        };
        if !holder.is_stale(touched) {
            return Ok(Acquired::Busy(holder));
        }
        take_over(path, Some(&holder))?;
    }
    match read(path) {
        Some((holder, _)) => Ok(Acquired::Busy(holder)),
        None => Err(Error::output(path, std::io::Error::other("the lock keeps changing hands; try again"))),
    }
}

/// Move a stale lock out of the way. If what was moved is not the stale
/// lock judged (another process took over in between), put it back.
fn take_over(path: &Path, judged: Option<&Holder>) -> Result<()> {
    let aside = path.with_extension(format!("stale.{}.{}", std::process::id(), super::group::now_ns()));
    match std::fs::rename(path, &aside) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::output(path, e)),
    }
    let moved = read(&aside).map(|h| h.0);
    if judged.is_some() && moved.as_ref() != judged {
        // A live lock: put it back unless a new one is there already.
        let _ = std::fs::hard_link(&aside, path);
    }
    let _ = std::fs::remove_file(&aside);
    Ok(())
}

impl Drop for Lock {
    fn drop(&mut self) {
        unregister(&self.path);
        if read(&self.path).is_some_and(|(h, _)| h == self.me) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Locks this process holds, touched every minute so that other hosts see
/// them alive.
static HELD: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
static TOUCHER: Once = Once::new();

fn register(path: &Path) {
    HELD.lock().unwrap_or_else(|e| e.into_inner()).push(path.to_path_buf());
    TOUCHER.call_once(|| {
        // A small stack: under a tight address-space limit a default 2 MiB
        // one may not be had, and a run must not fail (or panic) for this.
        // Without the toucher a long run's locks may be taken for stale
        // after a while, which is what a run that cannot start threads risks.
        let _ = std::thread::Builder::new().name("lock-toucher".into()).stack_size(64 << 10).spawn(|| loop {
            std::thread::sleep(Duration::from_secs(60));
            let held = HELD.lock().unwrap_or_else(|e| e.into_inner()).clone();
            for p in held {
                if let Ok(f) = std::fs::OpenOptions::new().write(true).open(&p) {
                    let _ = f.set_modified(SystemTime::now());
                }
            }
        });
    });
}

fn unregister(path: &Path) {
    let mut held = HELD.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(i) = held.iter().position(|p| p == path) {
        held.swap_remove(i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_released_on_drop() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("locks/a.lock");
        let Acquired::Held(lock) = acquire(&p, "compute").unwrap() else { panic!("not taken") };
        match acquire(&p, "validate").unwrap() {
            Acquired::Busy(h) => assert_eq!((h.pid, h.what.as_str()), (std::process::id(), "compute")),
            Acquired::Held(_) => panic!("taken twice"),
        }
        drop(lock);
        assert!(!p.exists());
        assert!(matches!(acquire(&p, "scan").unwrap(), Acquired::Held(_)));
    }

    #[test]
    fn a_dead_or_reused_holder_is_taken_over() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.lock");
        // A process of this host that no longer exists.
        let dead = Holder { host: super::super::group::hostname(), pid: u32::MAX - 7, start: "x:1".into(), what: "compute".into(), since: "t".into() };
        std::fs::write(&p, serde_json::to_vec(&dead).unwrap()).unwrap();
        assert!(matches!(acquire(&p, "scan").unwrap(), Acquired::Held(_)));
        // This very pid, but another start: a reused pid.
        let reused = Holder { pid: std::process::id(), start: "other-boot:1".into(), ..dead.clone() };
        std::fs::write(&p, serde_json::to_vec(&reused).unwrap()).unwrap();
        assert!(matches!(acquire(&p, "scan").unwrap(), Acquired::Held(_)));
        // Another host: alive while touched, stale once old.
        let remote = Holder { host: "elsewhere".into(), ..dead };
        std::fs::write(&p, serde_json::to_vec(&remote).unwrap()).unwrap();
        assert!(matches!(acquire(&p, "scan").unwrap(), Acquired::Busy(_)));
        let old = SystemTime::now() - stale_after() - Duration::from_secs(5);
        std::fs::OpenOptions::new().write(true).open(&p).unwrap().set_modified(old).unwrap();
        assert!(matches!(acquire(&p, "scan").unwrap(), Acquired::Held(_)));
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 0, "nothing left behind");
    }
}
