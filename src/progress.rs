//! Progress on stderr for long runs: a single rewritten line on a terminal,
//! nothing when quiet or when stderr is not a terminal (logs stay clean).

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Progress {
    label: String,
    total: u64,
    done: AtomicU64,
    enabled: bool,
    last: Mutex<Instant>,
}

impl Progress {
    pub fn new(label: &str, total: u64, quiet: bool) -> Progress {
        Progress {
            label: label.to_string(),
            total,
            done: AtomicU64::new(0),
            enabled: !quiet && std::io::stderr().is_terminal(),
            last: Mutex::new(Instant::now()),
        }
    }

    pub fn inc(&self) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        if !self.enabled {
            return;
        }
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if done == self.total || last.elapsed() > Duration::from_millis(100) {
            *last = Instant::now();
            eprint!("\r{}: {done}/{}", self.label, self.total);
            let _ = std::io::stderr().flush();
        }
    }

    pub fn finish(&self) {
        if self.enabled {
            eprint!("\r\x1b[K");
        }
    }
}
