//! SLURM: `sbatch --parsable`, one `sacct` call per poll, `scontrol show config`
//! for the site's MaxArraySize.

use std::path::Path;
use std::process::Command;

use super::{merge, parse_kib, run, Backend, State, TaskState};
use crate::error::Result;

pub struct Slurm;

impl Backend for Slurm {
    fn name(&self) -> &'static str {
        "slurm"
    }
    fn template(&self) -> &'static str {
        include_str!("../../templates/slurm.sh.j2")
    }
    fn index_base(&self) -> u32 {
        0
    }
    fn max_array_size(&self) -> u32 {
        run(Command::new("scontrol").args(["show", "config"]))
            .ok()
            .and_then(|o| o.lines().find(|l| l.trim_start().starts_with("MaxArraySize")).and_then(|l| l.split('=').nth(1)).and_then(|v| v.trim().parse::<u32>().ok()))
            // Indices run 0..MaxArraySize-1.
            .map(|m| m.saturating_sub(1).max(1))
            .unwrap_or(1000)
    }
    fn submit(&self, script: &Path) -> Result<String> {
        let out = run(Command::new("sbatch").arg("--parsable").arg(script))?;
        Ok(out.trim().split(';').next().unwrap_or("").to_string())
    }
    fn dependency(&self, jobs: &[String]) -> String {
        format!("afterany:{}", jobs.join(":"))
    }
    fn query(&self, job_ids: &[String]) -> Result<Vec<TaskState>> {
        if job_ids.is_empty() {
            return Ok(vec![]);
        }
        let out = run(Command::new("sacct").args(["-n", "-P", "-o", "JobID,State,ExitCode,MaxRSS", "-j", &job_ids.join(",")]))?;
        Ok(parse_sacct(&out))
    }
}

pub fn state(s: &str) -> State {
    match s.split_whitespace().next().unwrap_or("") {
        "PENDING" | "REQUEUED" | "RESIZING" | "SUSPENDED" => State::Pending,
        "RUNNING" | "COMPLETING" | "CONFIGURING" => State::Running,
        "COMPLETED" => State::Completed,
        "FAILED" | "BOOT_FAIL" | "DEADLINE" => State::Failed,
        "TIMEOUT" => State::Timeout,
        "OUT_OF_MEMORY" => State::OutOfMemory,
        "NODE_FAIL" => State::NodeFail,
        "PREEMPTED" => State::Preempted,
        "CANCELLED" | "REVOKED" => State::Cancelled,
        _ => State::Unknown,
    }
}

/// `sacct -n -P -o JobID,State,ExitCode,MaxRSS` rows: `12_3|COMPLETED|0:0|`,
/// `12_3.batch|OUT_OF_MEMORY|0:125|1084K`, and `12_[4-9]|PENDING|0:0|` for
/// array tasks not started yet.
pub fn parse_sacct(out: &str) -> Vec<TaskState> {
    let mut rows = Vec::new();
    for line in out.lines() {
        let f: Vec<&str> = line.split('|').collect();
        if f.len() < 4 {
            continue;
        }
        let id = f[0].split('.').next().unwrap_or("");
        let Some((job, idx)) = id.split_once('_') else { continue };
        let st = state(f[1]);
        let mk = |i: u32| TaskState { job_id: job.to_string(), index: i, state: st, exit_code: f[2].to_string(), max_rss_kb: parse_kib(f[3]) };
        if let Some(range) = idx.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            for part in range.split('%').next().unwrap_or("").split(',') {
                let (a, b) = part.split_once('-').unwrap_or((part, part));
                if let (Ok(a), Ok(b)) = (a.parse::<u32>(), b.parse::<u32>()) {
                    rows.extend((a..=b).map(mk));
                }
            }
        } else if let Ok(i) = idx.parse() {
            rows.push(mk(i));
        }
    }
    merge(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Recorded from the local SLURM 22.05 (an array with an OOM and a failure).
    const SACCT: &str = "2_0|COMPLETED|0:0|\n2_0.batch|COMPLETED|0:0|1084K\n2_1|OUT_OF_MEMORY|0:125|\n2_1.batch|OUT_OF_MEMORY|0:125|1084K\n2_2|FAILED|3:0|\n2_2.batch|FAILED|3:0|1084K\n5_[3-4%2]|PENDING|0:0|\n6_0|CANCELLED by 0|0:0|\n";

    #[test]
    fn sacct_rows_become_one_state_per_task() {
        let t = parse_sacct(SACCT);
        let get = |j: &str, i| t.iter().find(|x| x.job_id == j && x.index == i).unwrap().state;
        assert_eq!(get("2", 0), State::Completed);
        assert_eq!(get("2", 1), State::OutOfMemory);
        assert_eq!(get("2", 2), State::Failed);
        assert_eq!(get("5", 4), State::Pending);
        assert_eq!(get("6", 0), State::Cancelled);
        assert_eq!(t.iter().find(|x| x.job_id == "2" && x.index == 1).unwrap().max_rss_kb, Some(1084));
    }
}
