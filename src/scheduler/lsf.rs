//! LSF: `bsub < script`, `bjobs -a -o ...` with one call for all jobs. Array
//! indices start at 1. LSF cannot run here: tested with recorded output and a
//! fake `bsub`/`bjobs` on PATH (tests/scheduler.rs).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use super::{merge, parse_kib, Backend, State, TaskState};
use crate::error::{Error, Result};

pub struct Lsf;

impl Backend for Lsf {
    fn name(&self) -> &'static str {
        "lsf"
    }
    fn template(&self) -> &'static str {
        include_str!("../../templates/lsf.sh.j2")
    }
    fn index_base(&self) -> u32 {
        1
    }
    fn max_array_size(&self) -> u32 {
        // LSF's default MAX_JOB_ARRAY_SIZE.
        1000
    }
    fn submit(&self, script: &Path) -> Result<String> {
        let body = std::fs::read(script).map_err(|e| Error::input_io(script, e))?;
        let mut child = Command::new("bsub")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| Error::Scheduler(format!("cannot run bsub: {e} (is LSF's client on PATH?)")))?;
        child.stdin.take().expect("piped").write_all(&body).map_err(|e| Error::Scheduler(format!("bsub: {e}")))?;
        let o = child.wait_with_output().map_err(|e| Error::Scheduler(format!("bsub: {e}")))?;
        let out = String::from_utf8_lossy(&o.stdout);
        if !o.status.success() {
            return Err(Error::Scheduler(format!("bsub failed: {}", String::from_utf8_lossy(&o.stderr).trim())));
        }
        parse_submit(&out).ok_or_else(|| Error::Scheduler(format!("bsub said {out:?}: no job id in it")))
    }
    fn dependency(&self, jobs: &[String]) -> String {
        jobs.iter().map(|j| format!("ended({j})")).collect::<Vec<_>>().join(" && ")
    }
    fn query(&self, job_ids: &[String]) -> Result<Vec<TaskState>> {
        if job_ids.is_empty() {
            return Ok(vec![]);
        }
        let out = super::run(Command::new("bjobs").args(["-a", "-noheader", "-o", "jobid jobindex stat exit_code max_mem exit_reason delimiter='|'"]).args(job_ids))?;
        Ok(parse_bjobs(&out))
    }
}

/// `Job <1234> is submitted to queue <normal>.`
pub fn parse_submit(out: &str) -> Option<String> {
    let s = out.find("Job <")? + 5;
    let e = out[s..].find('>')? + s;
    Some(out[s..e].to_string())
}

/// `bjobs -o "jobid jobindex stat exit_code max_mem exit_reason delimiter='|'"`.
pub fn parse_bjobs(out: &str) -> Vec<TaskState> {
    let mut rows = Vec::new();
    for line in out.lines() {
        let f: Vec<&str> = line.split('|').map(str::trim).collect();
        if f.len() < 6 {
            continue;
        }
        let Ok(index) = f[1].parse() else { continue };
        let reason = f[5];
        let state = match f[2] {
            "PEND" | "PSUSP" | "USUSP" | "SSUSP" => State::Pending,
            "RUN" => State::Running,
            "DONE" => State::Completed,
            "EXIT" if reason.contains("TERM_MEMLIMIT") => State::OutOfMemory,
            "EXIT" if reason.contains("TERM_RUNLIMIT") || reason.contains("TERM_CPULIMIT") => State::Timeout,
            "EXIT" if reason.contains("TERM_OWNER") || reason.contains("TERM_FORCE_OWNER") || reason.contains("TERM_ADMIN") || reason.contains("TERM_FORCE_ADMIN") => {
                State::Cancelled
            }
            "EXIT" if reason.contains("TERM_PREEMPT") => State::Preempted,
            "EXIT" if reason.contains("TERM_HOST") || reason.contains("TERM_REQUEUE") => State::NodeFail,
            "EXIT" => State::Failed,
            _ => State::Unknown,
        };
        // max_mem reads like "1.2 Gbytes" or "350 Mbytes".
        let mem = f[4].replace(" Gbytes", "G").replace(" Mbytes", "M").replace(" Kbytes", "K");
        rows.push(TaskState { job_id: f[0].to_string(), index, state, exit_code: f[3].to_string(), max_rss_kb: parse_kib(&mem) });
    }
    merge(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn submit_and_bjobs_output() {
        assert_eq!(parse_submit("Job <4821> is submitted to queue <short-serial>.\n").as_deref(), Some("4821"));
        let out = "4821|1|DONE|-|350 Mbytes|-\n4821|2|EXIT|137|2.1 Gbytes|TERM_MEMLIMIT: job killed after reaching LSF memory usage limit\n4821|3|EXIT|140|10 Mbytes|TERM_RUNLIMIT: job killed after reaching LSF run time limit\n4821|4|EXIT|1|12 Mbytes|-\n4821|5|PEND|-|-|-\n";
        let t = parse_bjobs(out);
        let st: Vec<State> = t.iter().map(|x| x.state).collect();
        assert_eq!(st, vec![State::Completed, State::OutOfMemory, State::Timeout, State::Failed, State::Pending]);
        assert_eq!(t[1].max_rss_kb, Some((2.1 * 1024.0 * 1024.0) as u64));
    }
}
