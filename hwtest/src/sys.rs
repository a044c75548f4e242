//! The system calls the bench needs that std lacks: through `nix` where it reaches, raw
//! (seccomp, per-thread credentials, rt_sigaction for every signal) where it does not — the
//! only unsafe code in `hb-hwtest`.
#![allow(unsafe_code)]

pub(crate) fn euid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// Sends `sig` to a pid this process spawned and has not reaped yet.
pub(crate) fn kill(pid: u32, sig: i32) {
    if let Ok(sig) = nix::sys::signal::Signal::try_from(sig) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig);
    }
}

/// Moves the calling thread into the network namespace at `path`.
pub(crate) fn enter_netns(path: &str) -> std::io::Result<()> {
    let f = std::fs::File::open(path)?;
    nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET).map_err(std::io::Error::from)
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

/// Forbids this whole process (every thread, now and later) to start another program: fork,
/// vfork, execve and execveat fail with EPERM, and so does a clone that does not make a
/// thread. clone3 fails with ENOSYS, which makes glibc create threads with clone, whose flags
/// a seccomp filter can read (clone3's are behind a pointer). Irreversible.
pub(crate) fn forbid_forks() -> std::io::Result<()> {
    const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
    const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
    const JSET_K: u16 = 0x45; // BPF_JMP | BPF_JSET | BPF_K
    const RET_K: u16 = 0x06; // BPF_RET | BPF_K
    const NR_OFFSET: u32 = 0; // seccomp_data.nr
    const ARCH_OFFSET: u32 = 4; // seccomp_data.arch
    const ARG0_LOW: u32 = 16; // seccomp_data.args[0], low half (little-endian)
    #[cfg(target_arch = "x86_64")]
    const ARCH: u32 = 0xC000_003E;
    #[cfg(target_arch = "aarch64")]
    const ARCH: u32 = 0xC000_00B7;
    // (fork, vfork): x86_64 only; aarch64 forks through clone. A number no call has stands in.
    #[cfg(target_arch = "x86_64")]
    const FORKS: [u32; 2] = [57, 58];
    #[cfg(target_arch = "aarch64")]
    const FORKS: [u32; 2] = [u32::MAX, u32::MAX];
    let (execve, execveat, clone, clone3) = (libc::SYS_execve as u32, libc::SYS_execveat as u32, libc::SYS_clone as u32, 435u32);
    let eperm = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;
    let f = |code, jt, jf, k| libc::sock_filter { code, jt, jf, k };
    let prog = [
        f(LD_W_ABS, 0, 0, ARCH_OFFSET),
        f(JEQ_K, 1, 0, ARCH),
        f(RET_K, 0, 0, libc::SECCOMP_RET_KILL_PROCESS),
        f(LD_W_ABS, 0, 0, NR_OFFSET),
        f(JEQ_K, 6, 0, execve),
        f(JEQ_K, 5, 0, execveat),
        f(JEQ_K, 4, 0, FORKS[0]),
        f(JEQ_K, 3, 0, FORKS[1]),
        f(JEQ_K, 3, 0, clone3),
        f(JEQ_K, 3, 0, clone),
        f(RET_K, 0, 0, libc::SECCOMP_RET_ALLOW),
        f(RET_K, 0, 0, eperm),
        f(RET_K, 0, 0, libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32),
        // clone: a thread (CLONE_THREAD) is allowed, anything else is a new process.
        f(LD_W_ABS, 0, 0, ARG0_LOW),
        f(JSET_K, 0, 1, libc::CLONE_THREAD as u32),
        f(RET_K, 0, 0, libc::SECCOMP_RET_ALLOW),
        f(RET_K, 0, 0, eperm),
    ];
    let fprog = libc::sock_fprog { len: prog.len() as u16, filter: prog.as_ptr() as *mut libc::sock_filter };
    // SAFETY: prctl and seccomp read only `fprog` and the `prog` it points to, both alive for
    // the calls; TSYNC puts the filter on every thread of the process.
    unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let flags = libc::SECCOMP_FILTER_FLAG_TSYNC;
        if libc::syscall(libc::SYS_seccomp, libc::SECCOMP_SET_MODE_FILTER, flags, &fprog as *const libc::sock_fprog) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// CLOCK_MONOTONIC in ns (the clock hbd's events and the emulators' records share).
pub(crate) fn monotonic_ns() -> u64 {
    let ts = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).expect("CLOCK_MONOTONIC exists on Linux");
    ts.tv_sec() as u64 * 1_000_000_000 + ts.tv_nsec() as u64
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

/// Opens a new pseudo-terminal: its master (non-blocking, close-on-exec) and the slave's path.
/// The slave is opened once and set raw here, so bytes relayed before the program under test
/// opens it are neither echoed nor translated; that fd is returned too, to keep the slave side
/// alive while the program under test closes and reopens it.
pub(crate) fn open_pty() -> std::io::Result<(std::fs::File, std::fs::File, std::path::PathBuf)> {
    use nix::fcntl::OFlag;
    use std::os::unix::fs::OpenOptionsExt;
    let m = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)?;
    nix::pty::grantpt(&m)?;
    nix::pty::unlockpt(&m)?;
    let path = nix::pty::ptsname_r(&m)?;
    let master = std::fs::File::from(std::os::fd::OwnedFd::from(m));
    let slave = std::fs::OpenOptions::new().read(true).write(true).custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK).open(&path)?;
    make_raw(&slave)?;
    Ok((master, slave, path.into()))
}

/// Puts the tty `fd` in raw mode (cfmakeraw).
pub(crate) fn make_raw(fd: &impl std::os::fd::AsFd) -> std::io::Result<()> {
    use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
    let mut t = tcgetattr(fd)?;
    cfmakeraw(&mut t);
    tcsetattr(fd, SetArg::TCSANOW, &t)?;
    Ok(())
}

/// Waits up to `timeout_ms` for any of `fds` to be readable; returns which are (or have hung up).
pub(crate) fn poll_readable(fds: &[std::os::fd::BorrowedFd<'_>], timeout_ms: u16) -> Vec<bool> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let mut p: Vec<PollFd> = fds.iter().map(|fd| PollFd::new(*fd, PollFlags::POLLIN)).collect();
    match poll(&mut p, PollTimeout::from(timeout_ms)) {
        Ok(n) if n > 0 => p.iter().map(|x| x.revents().is_some_and(|r| !r.is_empty())).collect(),
        _ => vec![false; fds.len()],
    }
}

/// Gives the calling thread — only it — the credentials of `uid`/`gid` with no supplementary
/// groups. Linux keeps credentials per thread; glibc's `setuid` and friends broadcast the change
/// to every thread of the process, so the raw system calls are used instead.
pub(crate) fn become_user_on_this_thread(uid: u32, gid: u32) -> std::io::Result<()> {
    // SAFETY: three system calls with integer arguments (and a null group list of length 0);
    // each changes only the calling thread's credentials and touches no memory of ours.
    unsafe {
        if libc::syscall(libc::SYS_setgroups, 0usize, std::ptr::null::<libc::gid_t>()) != 0
            || libc::syscall(libc::SYS_setresgid, gid, gid, gid) != 0
            || libc::syscall(libc::SYS_setresuid, uid, uid, uid) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The index of interface `dev` in the calling thread's namespace.
fn ifindex(dev: &str) -> std::io::Result<i32> {
    let name = std::ffi::CString::new(dev).map_err(std::io::Error::other)?;
    // SAFETY: `name` is a valid NUL-terminated string for the duration of the call.
    let i = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if i == 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(i as i32)
}

/// A send-only packet socket (`AF_PACKET`, `SOCK_RAW`, protocol 0: it receives nothing) bound
/// to one interface, for [`crate::flood`].
pub(crate) struct PacketSender {
    fd: std::os::fd::OwnedFd,
    ifindex: i32,
}

impl PacketSender {
    /// Opens it on `dev` (in the calling thread's namespace). Needs CAP_NET_RAW.
    pub(crate) fn open(dev: &str) -> std::io::Result<PacketSender> {
        use std::os::fd::FromRawFd;
        let ifindex = ifindex(dev)?;
        // SAFETY: plain socket(2) call; the result is checked before use.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` is a new descriptor nothing else owns.
        Ok(PacketSender { fd: unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) }, ifindex })
    }

    /// Sends `count` (at most 64) copies of the Ethernet frame `frame` with one
    /// `sendmmsg(2)`; returns how many the kernel took.
    pub(crate) fn send_copies(&self, frame: &[u8], count: usize) -> std::io::Result<usize> {
        use std::os::fd::AsRawFd;
        const MAX: usize = 64;
        let count = count.min(MAX);
        // SAFETY: all-zero is a valid sockaddr_ll; the fields used are set below.
        let mut to: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        to.sll_family = libc::AF_PACKET as u16;
        to.sll_ifindex = self.ifindex;
        to.sll_halen = 6;
        to.sll_addr[..6].copy_from_slice(&frame[..6]);
        let mut iov = libc::iovec { iov_base: frame.as_ptr().cast_mut().cast(), iov_len: frame.len() };
        // SAFETY: all-zero is a valid mmsghdr; every pointer in it is set below.
        let mut hdrs: [libc::mmsghdr; MAX] = unsafe { std::mem::zeroed() };
        for h in &mut hdrs[..count] {
            h.msg_hdr.msg_name = (&mut to as *mut libc::sockaddr_ll).cast();
            h.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_ll>() as u32;
            h.msg_hdr.msg_iov = &mut iov;
            h.msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: every header points at `to` and `iov` (covering `frame`), which outlive the
        // call; the kernel only reads them.
        let n = unsafe { libc::sendmmsg(self.fd.as_raw_fd(), hdrs.as_mut_ptr(), count as u32, 0) };
        if n < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(n as usize)
    }
}

/// A packet socket that receives every frame on one interface (`ETH_P_ALL`), for capturing
/// what passes on a segment ([`crate::flood::capture_udp`]).
pub(crate) struct PacketCapture {
    fd: std::os::fd::OwnedFd,
}

impl PacketCapture {
    /// Opens it on `dev` (in the calling thread's namespace). Needs CAP_NET_RAW.
    pub(crate) fn open(dev: &str) -> std::io::Result<PacketCapture> {
        use std::os::fd::{AsRawFd, FromRawFd};
        let ifindex = ifindex(dev)?;
        let all = (libc::ETH_P_ALL as u16).to_be();
        // SAFETY: plain socket(2) call; the result is checked before use.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, i32::from(all)) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` is a new descriptor nothing else owns.
        let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
        // SAFETY: all-zero is a valid sockaddr_ll; the fields used are set below.
        let mut at: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        at.sll_family = libc::AF_PACKET as u16;
        at.sll_protocol = all;
        at.sll_ifindex = ifindex;
        // SAFETY: `at` is a valid sockaddr_ll and its size is passed.
        let rc = unsafe {
            libc::bind(fd.as_raw_fd(), (&at as *const libc::sockaddr_ll).cast(), std::mem::size_of::<libc::sockaddr_ll>() as u32)
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(PacketCapture { fd })
    }

    /// The next frame, waiting at most `timeout_ms`; `None` on timeout.
    pub(crate) fn next(&self, buf: &mut [u8], timeout_ms: u16) -> Option<usize> {
        use std::os::fd::{AsFd, AsRawFd};
        if !poll_readable(&[self.fd.as_fd()], timeout_ms)[0] {
            return None;
        }
        // SAFETY: `buf` is valid for writes of its length.
        let n = unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
        (n > 0).then_some(n as usize)
    }
}
