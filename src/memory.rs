//! How much memory this process may still use, from the limits actually in
//! force (the machine, the process's cgroup, its address-space limit).

/// The memory this process may still use: what the machine has available,
/// within this process's cgroup limit (a job's memory on SLURM, a
/// container's) and its address-space limit (`ulimit -v`), whichever is least.
pub fn headroom() -> u64 {
    let mut s = sysinfo::System::new();
    s.refresh_memory();
    let mut least = s.available_memory();
    let read = |p: &str| std::fs::read_to_string(p).ok().and_then(|t| t.trim().parse::<u64>().ok());
    // cgroup v2, then v1; "max" (no limit) does not parse.
    for (limit, usage) in
        [("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"), ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes")]
    {
        if let Some(l) = read(limit) {
            least = least.min(l.saturating_sub(read(usage).unwrap_or(0)));
            break;
        }
    }
    // SAFETY: getrlimit fills the struct we pass.
    let mut rl: libc::rlimit = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut rl) } == 0 && rl.rlim_cur != libc::RLIM_INFINITY {
        let vm = std::fs::read_to_string("/proc/self/statm").ok().and_then(|t| t.split_whitespace().next().and_then(|x| x.parse::<u64>().ok())).unwrap_or(0) * 4096;
        least = least.min((rl.rlim_cur as u64).saturating_sub(vm));
    }
    least
}

/// Whether memory is (nearly) exhausted now: what a library's failure is
/// then blamed on, rather than the file it was reading.
pub fn nearly_exhausted() -> bool {
    headroom() < 64 << 20
}
