//! The few syscalls the bench needs that std lacks; the only unsafe code in `hb-hwtest`.
#![allow(unsafe_code)]

use std::os::fd::AsRawFd;

pub(crate) fn euid() -> u32 {
    // SAFETY: no preconditions.
    unsafe { libc::geteuid() }
}

pub(crate) fn kill(pid: u32, sig: i32) {
    // SAFETY: sends a signal to a pid this process spawned and has not reaped yet.
    unsafe { libc::kill(pid as libc::pid_t, sig) };
}

/// Moves the calling thread into the network namespace at `path`.
pub(crate) fn enter_netns(path: &str) -> std::io::Result<()> {
    let f = std::fs::File::open(path)?;
    // SAFETY: `f` is an open namespace file; setns affects only the calling thread.
    if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Makes every `io_uring_setup` in the process that `cmd` starts fail with ENOSYS, as on a
/// kernel built without io_uring: a seccomp filter installed between fork and exec
/// (inherited across exec, and by `ip netns exec`'s own exec of the real program).
pub(crate) fn deny_io_uring(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // BPF opcodes (linux/filter.h).
    const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
    const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
    const RET_K: u16 = 0x06; // BPF_RET | BPF_K
    const ARCH_OFFSET: u32 = 4; // seccomp_data.arch
    const NR_OFFSET: u32 = 0; // seccomp_data.nr
    #[cfg(target_arch = "x86_64")]
    const ARCH: u32 = 0xC000_003E; // AUDIT_ARCH_X86_64
    #[cfg(target_arch = "aarch64")]
    const ARCH: u32 = 0xC000_00B7; // AUDIT_ARCH_AARCH64
    const NR_IO_URING_SETUP: u32 = 425;
    let f = |code, jt, jf, k| libc::sock_filter { code, jt, jf, k };
    let prog = [
        f(LD_W_ABS, 0, 0, ARCH_OFFSET),
        f(JEQ_K, 0, 3, ARCH),
        f(LD_W_ABS, 0, 0, NR_OFFSET),
        f(JEQ_K, 0, 1, NR_IO_URING_SETUP),
        f(RET_K, 0, 0, libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32),
        f(RET_K, 0, 0, libc::SECCOMP_RET_ALLOW),
    ];
    // SAFETY: the closure runs in the forked child before exec and only makes two prctl calls
    // on memory (`prog`, moved into the closure) that stays valid for them; it allocates
    // nothing and takes no locks, as pre_exec requires.
    unsafe {
        cmd.pre_exec(move || {
            let fprog = libc::sock_fprog { len: prog.len() as u16, filter: prog.as_ptr() as *mut libc::sock_filter };
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &fprog as *const libc::sock_fprog) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// CLOCK_MONOTONIC in ns (the clock hbd's events and the emulators' records share).
pub(crate) fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Starts `cmd`'s process with every signal at its default disposition, as init does.
///
/// A program spawned by a multi-threaded Rust process through `posix_spawn` otherwise
/// inherits SIG_IGN for glibc's internal signals 32 and 33 (glibc sets them so in the spawned
/// child, and an ignored disposition survives exec). glibc's `sigaction` refuses those two,
/// so this uses the raw system call between fork and exec.
pub(crate) fn default_signals(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the child between fork and exec and makes only
    // async-signal-safe raw system calls on stack data.
    unsafe {
        cmd.pre_exec(|| {
            // The kernel's struct sigaction on x86_64 and aarch64: handler, flags, restorer,
            // mask (8 bytes). SIG_DFL is a null handler.
            let act = [0u64; 4];
            for sig in 1..=64 {
                if sig == libc::SIGKILL || sig == libc::SIGSTOP {
                    continue;
                }
                libc::syscall(libc::SYS_rt_sigaction, sig, act.as_ptr(), std::ptr::null_mut::<u64>(), 8usize);
            }
            Ok(())
        });
    }
}
