//! Unix `SOCK_SEQPACKET` sockets (std has only stream and datagram) with peer credentials.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

fn cvt(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

fn sockaddr_un(path: &Path) -> io::Result<(libc::sockaddr_un, libc::socklen_t)> {
    // SAFETY: sockaddr_un is plain data; all-zero is a valid empty address.
    let mut a: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    a.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let b = path.as_os_str().as_bytes();
    if b.len() >= a.sun_path.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("socket path {} is longer than {} bytes", path.display(), a.sun_path.len() - 1),
        ));
    }
    for (d, s) in a.sun_path.iter_mut().zip(b) {
        *d = *s as libc::c_char;
    }
    let len = std::mem::size_of::<libc::sa_family_t>() + b.len() + 1;
    Ok((a, len as libc::socklen_t))
}

/// A seqpacket socket: one message per `send`, message boundaries kept.
#[derive(Debug)]
pub struct SeqPacket(OwnedFd);

/// The credentials of the process at the other end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerCred {
    /// Process id.
    pub pid: i32,
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
}

fn new_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain arguments; a non-negative result is a new fd we own.
    let fd = cvt(unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: `fd` was just returned by socket().
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

impl SeqPacket {
    /// Binds and listens at `path` (an existing socket file is replaced) with file mode `mode`.
    pub fn listen(path: &Path, mode: u32) -> io::Result<SeqPacket> {
        let _ = std::fs::remove_file(path);
        let fd = new_socket()?;
        let (a, len) = sockaddr_un(path)?;
        // SAFETY: `a` is a valid sockaddr_un of `len` bytes.
        cvt(unsafe { libc::bind(fd.as_raw_fd(), (&a as *const libc::sockaddr_un).cast(), len) })?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
        // SAFETY: `fd` is a bound socket we own.
        cvt(unsafe { libc::listen(fd.as_raw_fd(), 16) })?;
        Ok(SeqPacket(fd))
    }

    /// Connects to a listener at `path`.
    pub fn connect(path: &Path) -> io::Result<SeqPacket> {
        let fd = new_socket()?;
        let (a, len) = sockaddr_un(path)?;
        // SAFETY: `a` is a valid sockaddr_un of `len` bytes.
        cvt(unsafe { libc::connect(fd.as_raw_fd(), (&a as *const libc::sockaddr_un).cast(), len) })?;
        Ok(SeqPacket(fd))
    }

    /// Accepts one connection (non-blocking if the listener is).
    pub fn accept(&self) -> io::Result<SeqPacket> {
        // SAFETY: null address pointers are allowed; the result is a new fd we own.
        let fd = cvt(unsafe {
            libc::accept4(self.0.as_raw_fd(), std::ptr::null_mut(), std::ptr::null_mut(), libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK)
        })?;
        // SAFETY: `fd` was just returned by accept4.
        Ok(SeqPacket(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// The peer's credentials (`SO_PEERCRED`).
    pub fn peer_cred(&self) -> io::Result<PeerCred> {
        let mut c = libc::ucred { pid: 0, uid: 0, gid: 0 };
        let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
        // SAFETY: `c` and `len` are valid and writable; `len` is the size of `c`.
        cvt(unsafe {
            libc::getsockopt(self.0.as_raw_fd(), libc::SOL_SOCKET, libc::SO_PEERCRED, (&mut c as *mut libc::ucred).cast(), &mut len)
        })?;
        Ok(PeerCred { pid: c.pid, uid: c.uid, gid: c.gid })
    }

    /// The peer's supplementary groups (`SO_PEERGROUPS`, Linux 4.13), as they were when it
    /// connected.
    pub fn peer_groups(&self) -> io::Result<Vec<u32>> {
        // asm-generic's value (x86, arm, riscv); the libc crate does not export it for every
        // target.
        const SO_PEERGROUPS: libc::c_int = 59;
        let mut groups = vec![0 as libc::gid_t; 64];
        loop {
            let mut len = (groups.len() * std::mem::size_of::<libc::gid_t>()) as libc::socklen_t;
            // SAFETY: `groups` is writable for `len` bytes; the kernel writes at most `len`.
            let r = unsafe { libc::getsockopt(self.0.as_raw_fd(), libc::SOL_SOCKET, SO_PEERGROUPS, groups.as_mut_ptr().cast(), &mut len) };
            if r == 0 {
                groups.truncate(len as usize / std::mem::size_of::<libc::gid_t>());
                return Ok(groups);
            }
            let e = io::Error::last_os_error();
            // ERANGE: `len` now says how much is needed (NGROUPS_MAX bounds it).
            let need = len as usize / std::mem::size_of::<libc::gid_t>();
            if e.raw_os_error() != Some(libc::ERANGE) || need <= groups.len() || need > 65536 {
                return Err(e);
            }
            groups.resize(need, 0);
        }
    }

    /// Sends one message; `nonblocking` adds `MSG_DONTWAIT`.
    pub fn send(&self, msg: &[u8], nonblocking: bool) -> io::Result<()> {
        let flags = libc::MSG_NOSIGNAL | if nonblocking { libc::MSG_DONTWAIT } else { 0 };
        // SAFETY: `msg` is valid for `msg.len()` bytes.
        let n = unsafe { libc::send(self.0.as_raw_fd(), msg.as_ptr().cast(), msg.len(), flags) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    /// Receives one message into `buf`; 0 means the peer closed.
    pub fn recv(&self, buf: &mut [u8], nonblocking: bool) -> io::Result<usize> {
        let flags = if nonblocking { libc::MSG_DONTWAIT } else { 0 };
        // SAFETY: `buf` is valid and writable for `buf.len()` bytes.
        let n = unsafe { libc::recv(self.0.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), flags) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }

    /// Sets a receive timeout for blocking `recv`.
    pub fn set_recv_timeout(&self, ms: u64) -> io::Result<()> {
        let tv = libc::timeval { tv_sec: (ms / 1000) as libc::time_t, tv_usec: ((ms % 1000) * 1000) as libc::suseconds_t };
        // SAFETY: `tv` is a valid timeval and its size is passed.
        cvt(unsafe {
            libc::setsockopt(
                self.0.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        })?;
        Ok(())
    }

    /// Makes the socket non-blocking.
    pub fn set_nonblocking(&self) -> io::Result<()> {
        // SAFETY: F_GETFL/F_SETFL on our own fd.
        let fl = cvt(unsafe { libc::fcntl(self.0.as_raw_fd(), libc::F_GETFL) })?;
        // SAFETY: as above.
        cvt(unsafe { libc::fcntl(self.0.as_raw_fd(), libc::F_SETFL, fl | libc::O_NONBLOCK) })?;
        Ok(())
    }
}

impl AsRawFd for SeqPacket {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// `poll(2)` over `fds` (events POLLIN); returns how many are ready. EINTR counts as zero.
pub fn poll_in(fds: &mut [libc::pollfd], timeout_ms: i32) -> io::Result<usize> {
    // SAFETY: `fds` is a valid, writable array of `fds.len()` pollfd.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return if e.raw_os_error() == Some(libc::EINTR) { Ok(0) } else { Err(e) };
    }
    Ok(n as usize)
}
