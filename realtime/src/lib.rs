//! Real-time set-up for the heartbeat core, as a checked phase (STYLE habit 9).
//!
//! [`check_limits`] reads what the process is allowed (`RLIMIT_MEMLOCK`, `RLIMIT_RTPRIO`, the
//! kernel's RT budget) before anything is attempted; [`lock_memory`], [`prefault_stack`],
//! [`set_fifo`], [`pin_to_cpu`] and [`set_timer_slack`] each do one thing and return a typed
//! error naming what was refused. The caller (hbd) decides whether a refusal is fatal or a
//! degraded start with one warning.
//!
//! All unsafe code lives in the private [`sys`] module.

mod sys;

use std::fmt;

/// What the kernel allows this process, read before the real-time set-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `RLIMIT_MEMLOCK` soft limit in bytes (`None` = unlimited).
    pub memlock: Option<u64>,
    /// `RLIMIT_RTPRIO` soft limit (the highest SCHED_FIFO priority allowed without privilege).
    pub rtprio: Option<u64>,
    /// `/proc/sys/kernel/sched_rt_runtime_us` (`-1` = no RT throttling).
    pub rt_runtime_us: Option<i64>,
    /// `/proc/sys/kernel/sched_rt_period_us`.
    pub rt_period_us: Option<i64>,
    /// Whether the process has an effective uid of 0 (privilege overrides both rlimits).
    pub root: bool,
}

impl Limits {
    /// Whether `mlockall` of `needed` bytes can be expected to succeed.
    pub fn may_lock(&self, needed: u64) -> bool {
        self.root || self.memlock.is_none_or(|l| l >= needed)
    }

    /// Whether SCHED_FIFO at `prio` can be expected to succeed.
    pub fn may_use_fifo(&self, prio: u8) -> bool {
        (self.root || self.rtprio.is_none_or(|l| l >= u64::from(prio))) && self.rt_runtime_us != Some(0)
    }
}

impl fmt::Display for Limits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let opt = |v: Option<u64>| v.map_or_else(|| "unlimited".to_string(), |v| v.to_string());
        write!(
            f,
            "RLIMIT_MEMLOCK={} RLIMIT_RTPRIO={} sched_rt_runtime_us={} sched_rt_period_us={} root={}",
            opt(self.memlock),
            opt(self.rtprio),
            self.rt_runtime_us.map_or_else(|| "?".into(), |v| v.to_string()),
            self.rt_period_us.map_or_else(|| "?".into(), |v| v.to_string()),
            self.root
        )
    }
}

/// A real-time set-up step the kernel refused.
#[derive(Debug, thiserror::Error)]
pub enum RealtimeError {
    /// `mlockall(MCL_CURRENT|MCL_FUTURE)` failed.
    #[error("mlockall failed (RLIMIT_MEMLOCK={memlock})")]
    LockMemory {
        /// The soft limit in force, for the message.
        memlock: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// `sched_setscheduler(SCHED_FIFO, prio)` failed.
    #[error("SCHED_FIFO priority {prio} refused (RLIMIT_RTPRIO={rtprio})")]
    SetFifo {
        /// The priority asked for.
        prio: u8,
        /// The soft limit in force, for the message.
        rtprio: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// `sched_setaffinity` failed.
    #[error("pinning to CPU {cpu} failed")]
    Affinity {
        /// The CPU asked for.
        cpu: usize,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// `prctl(PR_SET_TIMERSLACK)` failed.
    #[error("setting timer slack to {ns} ns failed")]
    TimerSlack {
        /// The slack asked for.
        ns: u64,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The priority is outside SCHED_FIFO's 1..=99.
    #[error("rtprio {0} is outside 1..=99")]
    BadPriority(u8),
}

/// Reads the limits that decide whether the real-time set-up can succeed.
pub fn check_limits() -> Limits {
    let read = |p: &str| std::fs::read_to_string(p).ok().and_then(|s| s.trim().parse::<i64>().ok());
    Limits {
        memlock: sys::rlimit_soft(nix::sys::resource::Resource::RLIMIT_MEMLOCK),
        rtprio: sys::rlimit_soft(nix::sys::resource::Resource::RLIMIT_RTPRIO),
        rt_runtime_us: read("/proc/sys/kernel/sched_rt_runtime_us"),
        rt_period_us: read("/proc/sys/kernel/sched_rt_period_us"),
        root: sys::euid() == 0,
    }
}

/// Locks all current and future pages in RAM.
pub fn lock_memory(limits: &Limits) -> Result<(), RealtimeError> {
    sys::mlockall().map_err(|source| RealtimeError::LockMemory {
        memlock: limits.memlock.map_or_else(|| "unlimited".into(), |v| v.to_string()),
        source,
    })
}

/// Touches `bytes` of stack below the caller so later calls never page-fault on the stack.
///
/// Call it on the thread whose stack is to be prefaulted, after [`lock_memory`].
#[inline(never)]
pub fn prefault_stack(bytes: usize) {
    // A fixed 256 KiB frame; callers asking for more get this much (the RT thread's own
    // frames are far smaller).
    let mut buf = [0u8; 256 * 1024];
    let n = bytes.min(buf.len());
    for i in (0..n).step_by(4096) {
        buf[i] = 1;
    }
    std::hint::black_box(&buf);
}

/// Switches the calling thread to SCHED_FIFO at `prio`.
pub fn set_fifo(prio: u8, limits: &Limits) -> Result<(), RealtimeError> {
    if !(1..=99).contains(&prio) {
        return Err(RealtimeError::BadPriority(prio));
    }
    sys::set_fifo(prio).map_err(|source| RealtimeError::SetFifo {
        prio,
        rtprio: limits.rtprio.map_or_else(|| "unlimited".into(), |v| v.to_string()),
        source,
    })
}

/// Switches the calling thread to SCHED_FIFO at `prio`, with SCHED_RESET_ON_FORK: the
/// threads and processes it creates start at the normal policy (the CRM's agents must not
/// inherit a real-time priority).
pub fn set_fifo_reset_on_fork(prio: u8, limits: &Limits) -> Result<(), RealtimeError> {
    if !(1..=99).contains(&prio) {
        return Err(RealtimeError::BadPriority(prio));
    }
    sys::set_fifo_reset_on_fork(prio).map_err(|source| RealtimeError::SetFifo {
        prio,
        rtprio: limits.rtprio.map_or_else(|| "unlimited".into(), |v| v.to_string()),
        source,
    })
}

/// Pins the calling thread to one CPU.
pub fn pin_to_cpu(cpu: usize) -> Result<(), RealtimeError> {
    sys::pin_to_cpu(cpu).map_err(|source| RealtimeError::Affinity { cpu, source })
}

/// Sets the calling thread's timer slack (1 ns for the RT thread).
pub fn set_timer_slack(ns: u64) -> Result<(), RealtimeError> {
    sys::set_timer_slack(ns).map_err(|source| RealtimeError::TimerSlack { ns, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_readable_and_printable() {
        let l = check_limits();
        let s = l.to_string();
        assert!(s.contains("RLIMIT_MEMLOCK="), "{s}");
    }

    #[test]
    fn bad_priority_is_refused_before_the_syscall() {
        let l = check_limits();
        assert!(matches!(set_fifo(0, &l), Err(RealtimeError::BadPriority(0))));
        assert!(matches!(set_fifo(100, &l), Err(RealtimeError::BadPriority(100))));
    }

    #[test]
    fn may_lock_respects_the_limit() {
        let l = Limits { memlock: Some(1024), rtprio: Some(0), rt_runtime_us: Some(950_000), rt_period_us: Some(1_000_000), root: false };
        assert!(l.may_lock(1024));
        assert!(!l.may_lock(1025));
        assert!(!l.may_use_fifo(1));
        let r = Limits { root: true, ..l };
        assert!(r.may_lock(u64::MAX) && r.may_use_fifo(99));
    }

    #[test]
    fn timer_slack_and_prefault_work_unprivileged() {
        set_timer_slack(1).expect("PR_SET_TIMERSLACK is unprivileged");
        prefault_stack(64 * 1024);
    }
}
