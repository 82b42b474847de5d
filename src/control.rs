//! What a caller hands down to long work: a cancellation token and a progress
//! reporter. Library code never reaches up for a global flag or prints progress
//! itself; the CLI and the Python module decide what a cancel is (Ctrl-C,
//! SIGTERM, a notebook's interrupt) and where progress goes (a terminal line,
//! a notebook bar, nothing).

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// A shared flag: once cancelled, work stops at its next safe point with
/// [`Error::Interrupted`] (every write is atomic, so a stop loses nothing).
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    pub fn new() -> Cancel {
        Cancel::default()
    }

    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Cancel, and say whether it was cancelled already (a second Ctrl-C).
    pub fn cancel_again(&self) -> bool {
        self.0.swap(true, Ordering::SeqCst)
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    pub fn check(&self) -> Result<()> {
        if self.is_cancelled() {
            Err(Error::Interrupted)
        } else {
            Ok(())
        }
    }
}

/// One step of progress: `done` of `total` units of the work named `label`.
#[derive(Debug, Clone, Copy)]
pub struct Tick<'a> {
    pub label: &'a str,
    pub done: u64,
    pub total: u64,
}

pub type ProgressFn = Arc<dyn Fn(Tick<'_>) + Send + Sync>;

/// Where progress goes.
#[derive(Clone, Default)]
pub enum Reporter {
    #[default]
    Silent,
    /// One rewritten line on stderr, if stderr is a terminal (logs stay clean).
    Terminal,
    /// A callback (e.g. the Python module's progress bar), called at most ten
    /// times a second and at the end.
    Callback(ProgressFn),
}

impl std::fmt::Debug for Reporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Reporter::Silent => "Silent",
            Reporter::Terminal => "Terminal",
            Reporter::Callback(_) => "Callback",
        })
    }
}

/// Both, as one value to pass down.
#[derive(Debug, Clone, Default)]
pub struct Control {
    pub cancel: Cancel,
    pub progress: Reporter,
}

impl Control {
    /// The same cancellation, with no progress (inner steps of a larger run).
    pub fn quiet(&self) -> Control {
        Control { cancel: self.cancel.clone(), progress: Reporter::Silent }
    }
}

/// A counter reporting to a [`Reporter`].
pub struct Progress {
    label: String,
    total: u64,
    done: AtomicU64,
    reporter: Reporter,
    last: Mutex<Instant>,
}

impl Progress {
    pub fn new(label: &str, total: u64, reporter: &Reporter) -> Progress {
        let reporter = match reporter {
            Reporter::Terminal if !std::io::stderr().is_terminal() => Reporter::Silent,
            r => r.clone(),
        };
        Progress { label: label.to_string(), total, done: AtomicU64::new(0), reporter, last: Mutex::new(Instant::now()) }
    }

    pub fn inc(&self) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        if matches!(self.reporter, Reporter::Silent) {
            return;
        }
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if done != self.total && last.elapsed() < Duration::from_millis(100) {
            return;
        }
        *last = Instant::now();
        match &self.reporter {
            Reporter::Terminal => {
                eprint!("\r{}: {done}/{}", self.label, self.total);
                let _ = std::io::stderr().flush();
            }
            Reporter::Callback(f) => f(Tick { label: &self.label, done, total: self.total }),
            Reporter::Silent => {}
        }
    }

    pub fn finish(&self) {
        if matches!(self.reporter, Reporter::Terminal) {
            eprint!("\r\x1b[K");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancel_is_shared_by_clones() {
        let c = Cancel::new();
        let d = c.clone();
        assert!(d.check().is_ok());
        assert!(!c.cancel_again());
        assert!(c.cancel_again());
        assert!(matches!(d.check(), Err(Error::Interrupted)));
    }

    #[test]
    fn callbacks_see_the_last_tick() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let r = Reporter::Callback(Arc::new(move |t: Tick<'_>| s.lock().unwrap().push((t.done, t.total))));
        let p = Progress::new("files", 3, &r);
        for _ in 0..3 {
            p.inc();
        }
        assert_eq!(seen.lock().unwrap().last(), Some(&(3, 3)));
    }
}
