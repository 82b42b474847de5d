//! PBS Pro: `qsub script`, `qstat -x -t -f -F json` with one call for all jobs.
//! Array indices start at 1. PBS cannot run here: tested with recorded output
//! and a fake `qsub`/`qstat` on PATH (tests/scheduler.rs).

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::{merge, parse_kib, run, Backend, State, TaskState};
use crate::error::Result;

pub struct Pbs;

impl Backend for Pbs {
    fn name(&self) -> &'static str {
        "pbs"
    }
    fn template(&self) -> &'static str {
        include_str!("../../templates/pbs.sh.j2")
    }
    fn index_base(&self) -> u32 {
        1
    }
    fn max_array_size(&self) -> u32 {
        // PBS Pro's default max_array_size.
        10000
    }
    fn submit(&self, script: &Path) -> Result<String> {
        Ok(run(Command::new("qsub").arg(script))?.trim().to_string())
    }
    fn dependency(&self, jobs: &[String]) -> String {
        format!("afterany:{}", jobs.join(":"))
    }
    fn query(&self, job_ids: &[String]) -> Result<Vec<TaskState>> {
        if job_ids.is_empty() {
            return Ok(vec![]);
        }
        let out = run(Command::new("qstat").args(["-x", "-t", "-f", "-F", "json"]).args(job_ids))?;
        Ok(parse_qstat_json(&out))
    }
}

/// PBS Pro exit statuses for jobs the server killed.
const KILL_MEM: i64 = -27;
const KILL_WALLTIME: i64 = -29;

/// `qstat -x -t -f -F json`: `{"Jobs": {"12[3].server": {"job_state": "F",
/// "Exit_status": 0, "resources_used": {"mem": "1084kb"}}}}`.
pub fn parse_qstat_json(out: &str) -> Vec<TaskState> {
    let Ok(v) = serde_json::from_str::<Value>(out) else { return vec![] };
    let mut rows = Vec::new();
    for (id, j) in v.get("Jobs").and_then(Value::as_object).into_iter().flatten() {
        let Some((job, rest)) = id.split_once('[') else { continue };
        let Some(idx) = rest.split(']').next().and_then(|i| i.parse::<u32>().ok()) else { continue };
        let exit = j.get("Exit_status").and_then(Value::as_i64);
        let state = match (j.get("job_state").and_then(Value::as_str).unwrap_or(""), exit) {
            ("Q" | "H" | "W" | "T" | "S", _) => State::Pending,
            ("R" | "E" | "B", _) => State::Running,
            ("F" | "X", Some(0)) => State::Completed,
            ("F" | "X", Some(KILL_MEM)) => State::OutOfMemory,
            ("F" | "X", Some(KILL_WALLTIME)) => State::Timeout,
            // 256 + signal: 271 = SIGTERM from qdel.
            ("F" | "X", Some(271)) => State::Cancelled,
            ("F" | "X", Some(_)) => State::Failed,
            _ => State::Unknown,
        };
        let mem = j.get("resources_used").and_then(|r| r.get("mem")).and_then(Value::as_str).map(|m| m.replace("kb", "K").replace("mb", "M").replace("gb", "G"));
        rows.push(TaskState {
            job_id: format!("{job}[]{}", rest.split_once(']').map(|x| x.1).unwrap_or("")),
            index: idx,
            state,
            exit_code: exit.map(|e| e.to_string()).unwrap_or_default(),
            max_rss_kb: mem.as_deref().and_then(parse_kib),
        });
    }
    merge(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qstat_json() {
        let out = r#"{"timestamp":1,"pbs_version":"2022.1","pbs_server":"pbs1","Jobs":{
            "77[1].pbs1":{"job_state":"F","Exit_status":0,"resources_used":{"mem":"2048kb"}},
            "77[2].pbs1":{"job_state":"F","Exit_status":-27,"resources_used":{"mem":"4gb"}},
            "77[3].pbs1":{"job_state":"F","Exit_status":-29},
            "77[4].pbs1":{"job_state":"Q"}}}"#;
        let t = parse_qstat_json(out);
        let st = |i| t.iter().find(|x| x.index == i).unwrap().state;
        assert_eq!((st(1), st(2), st(3), st(4)), (State::Completed, State::OutOfMemory, State::Timeout, State::Pending));
        assert_eq!(t[0].job_id, "77[].pbs1");
    }
}
