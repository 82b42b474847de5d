//! One status type for what `status_log.csv` rows say, parsed from and
//! printed as padocc 1.5.1's strings: an optional shorthand prefix such as
//! `(V>K)`, then `Success`, `Warn-<why>`, `Fatal-<why>`, `Failed-<why>`,
//! `<Name>Error`, `Pending`, `Running`, `Redo`, `Interrupted`, or what a
//! scheduler said of the task (`TIMEOUT`, `OUT_OF_MEMORY`, ...).

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Success,
    /// Succeeded with something to note (`Warn-...`).
    Warn,
    /// The data cannot make a product as asked (`Fatal-...`).
    Fatal,
    /// The phase failed (`Failed-...`, `...Error`).
    Failed,
    Pending,
    Running,
    /// Marked to be done again (by a person or SHEPARD).
    Redo,
    /// Stopped by a signal (Ctrl-C, SIGTERM).
    Interrupted,
    /// The scheduler ended the task: out of memory or time, node failure,
    /// preemption, loss.
    Ended(Ended),
    /// Cancelled (`CANCELLED`, padocc's `JobCancelled`).
    Cancelled,
    Other,
}

/// How a scheduler ended a task, and what a rerun should change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    OutOfMemory,
    Timeout,
    NodeFail,
    Preempted,
    Lost,
    Failed,
}

impl Ended {
    /// (memory, time) factors for the next attempt: more of what ran out.
    pub fn rerun_factors(self) -> Option<(f64, f64)> {
        match self {
            Ended::OutOfMemory => Some((2.0, 1.0)),
            Ended::Timeout => Some((1.0, 1.5)),
            Ended::NodeFail | Ended::Preempted | Ended::Lost => Some((1.0, 1.0)),
            Ended::Failed => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// padocc's shorthand of the phases run, e.g. `(V>K)`.
    pub prefix: Option<String>,
    pub kind: Kind,
    /// The whole string, as written.
    raw: String,
}

impl Status {
    pub fn parse(s: &str) -> Status {
        let (prefix, token) = match s.strip_prefix('(').and_then(|r| r.split_once(')')) {
            Some((p, rest)) => (Some(format!("({p})")), rest),
            None => (None, s),
        };
        let kind = match token {
            "Success" => Kind::Success,
            "Pending" => Kind::Pending,
            "Running" => Kind::Running,
            "Redo" => Kind::Redo,
            "Interrupted" => Kind::Interrupted,
            "CANCELLED" | "JobCancelled" => Kind::Cancelled,
            "OUT_OF_MEMORY" => Kind::Ended(Ended::OutOfMemory),
            "TIMEOUT" => Kind::Ended(Ended::Timeout),
            "NODE_FAIL" => Kind::Ended(Ended::NodeFail),
            "PREEMPTED" => Kind::Ended(Ended::Preempted),
            "LOST" => Kind::Ended(Ended::Lost),
            "FAILED" => Kind::Ended(Ended::Failed),
            t if t.starts_with("Warn") => Kind::Warn,
            t if t.starts_with("Fatal") => Kind::Fatal,
            t if t.starts_with("Failed") || t.ends_with("Error") => Kind::Failed,
            _ => Kind::Other,
        };
        Status { prefix, kind, raw: s.to_string() }
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// Success, or success with a warning.
    pub fn is_success(&self) -> bool {
        matches!(self.kind, Kind::Success | Kind::Warn)
    }

    /// Whatever a data manager has to look at: errors, stops and tasks the
    /// scheduler ended.
    pub fn is_failure(&self) -> bool {
        matches!(self.kind, Kind::Fatal | Kind::Failed | Kind::Interrupted | Kind::Ended(_) | Kind::Cancelled)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padoccs_strings_parse_and_print_back() {
        for (s, kind, prefix) in [
            ("Success", Kind::Success, None),
            ("(V>K)Success", Kind::Success, Some("(V>K)")),
            ("(V>K)Warn-global_aggregation_date_added", Kind::Warn, Some("(V>K)")),
            ("Fatal-data_errors", Kind::Fatal, None),
            ("(PVK)Failed-ValueError", Kind::Failed, Some("(PVK)")),
            ("SourceNotFoundError", Kind::Failed, None),
            ("OUT_OF_MEMORY", Kind::Ended(Ended::OutOfMemory), None),
            ("JobCancelled", Kind::Cancelled, None),
            ("Redo", Kind::Redo, None),
            ("Pending", Kind::Pending, None),
            ("something else", Kind::Other, None),
        ] {
            let st = Status::parse(s);
            assert_eq!((st.kind, st.prefix.as_deref()), (kind, prefix), "{s}");
            assert_eq!(st.to_string(), s);
        }
        assert!(Status::parse("(V>K)Fatal-x").is_failure() && !Status::parse("Redo").is_failure());
        assert!(Status::parse("Warn-x").is_success());
        assert_eq!(Status::parse("TIMEOUT").kind, Kind::Ended(Ended::Timeout));
        assert_eq!(Ended::Timeout.rerun_factors(), Some((1.0, 1.5)));
    }
}
