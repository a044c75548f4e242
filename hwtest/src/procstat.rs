//! What `/proc` says of a running process: CPU time and wake-ups per thread (schedstat) and
//! resident memory — for tests that check which threads an idle daemon runs, and for the
//! bench's and demo's cost figures.

/// One thread's scheduler accounting, from `/proc/PID/task/TID/{comm,schedstat}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadCpu {
    /// Thread id.
    pub tid: u32,
    /// Thread name (`comm`).
    pub name: String,
    /// Time on a CPU, ns.
    pub cpu_ns: u64,
    /// Times it was put on a CPU (about its wake-ups, for a thread that sleeps between them).
    pub slices: u64,
}

/// Every thread of `pid` with its CPU time and run count (schedstat: exact, unlike
/// tick-sampled utime).
pub fn threads_cpu(pid: u32) -> Option<Vec<ThreadCpu>> {
    let mut out = Vec::new();
    for t in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let dir = t.ok()?.path();
        let Some(tid) = dir.file_name().and_then(|n| n.to_str()).and_then(|n| n.parse().ok()) else { continue };
        // A thread that ended between the listing and the read is skipped, not an error.
        let Ok(s) = std::fs::read_to_string(dir.join("schedstat")) else { continue };
        let mut f = s.split_whitespace().map(|v| v.parse::<u64>().ok());
        let (Some(Some(cpu_ns)), Some(_), Some(Some(slices))) = (f.next(), f.next(), f.next()) else { return None };
        let name = std::fs::read_to_string(dir.join("comm")).map(|c| c.trim_end().to_string()).unwrap_or_default();
        out.push(ThreadCpu { tid, name, cpu_ns, slices });
    }
    Some(out)
}

/// CPU time of every thread of `pid`, ns.
pub fn cpu_ns(pid: u32) -> Option<u64> {
    Some(threads_cpu(pid)?.iter().map(|t| t.cpu_ns).sum())
}

/// Resident set size of `pid`, kB.
pub fn rss_kb(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()
}
