//! eventfd, timerfd and epoll as owned, typed handles.
#![allow(unsafe_code)]

use crate::time::Nanos;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

fn cvt(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// A non-blocking eventfd used to wake a thread.
#[derive(Debug)]
pub struct EventFd(OwnedFd);

impl EventFd {
    /// Creates one.
    pub fn new() -> io::Result<EventFd> {
        // SAFETY: eventfd takes plain flags; a non-negative result is a new fd we own.
        let fd = cvt(unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) })?;
        // SAFETY: `fd` was just returned by eventfd and is owned by nobody else.
        Ok(EventFd(unsafe { OwnedFd::from_raw_fd(fd) }))
    }
    /// Adds one to the counter (wakes a waiter). Never blocks.
    pub fn notify(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a valid u64 to our own fd. A full counter (EAGAIN) means
        // the waiter has a wake-up pending already, which is all we want.
        unsafe { libc::write(self.0.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }
    /// Resets the counter. Never blocks.
    pub fn drain(&self) {
        let mut v: u64 = 0;
        // SAFETY: reads 8 bytes into a valid u64 from our own non-blocking fd.
        unsafe { libc::read(self.0.as_raw_fd(), (&mut v as *mut u64).cast(), 8) };
    }
}

impl AsRawFd for EventFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// A CLOCK_MONOTONIC timerfd armed with absolute deadlines.
#[derive(Debug)]
pub struct TimerFd(OwnedFd);

impl TimerFd {
    /// Creates one.
    pub fn new() -> io::Result<TimerFd> {
        // SAFETY: plain flags; a non-negative result is a new fd we own.
        let fd = cvt(unsafe { libc::timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_NONBLOCK | libc::TFD_CLOEXEC) })?;
        // SAFETY: `fd` was just returned by timerfd_create.
        Ok(TimerFd(unsafe { OwnedFd::from_raw_fd(fd) }))
    }
    /// Arms the timer to fire at the absolute time `at`.
    pub fn set_abs(&self, at: Nanos) -> io::Result<()> {
        let at = if at == Nanos::MAX { Nanos(i64::MAX as u64 / 2) } else { at.max(Nanos(1)) };
        let spec = libc::itimerspec {
            it_interval: libc::timespec { tv_sec: 0, tv_nsec: 0 },
            it_value: libc::timespec { tv_sec: (at.0 / 1_000_000_000) as libc::time_t, tv_nsec: (at.0 % 1_000_000_000) as libc::c_long },
        };
        // SAFETY: `spec` is valid for the call; the old-value pointer may be null.
        cvt(unsafe { libc::timerfd_settime(self.0.as_raw_fd(), libc::TFD_TIMER_ABSTIME, &spec, std::ptr::null_mut()) })?;
        Ok(())
    }
    /// Clears an expiry. Never blocks.
    pub fn drain(&self) {
        let mut v: u64 = 0;
        // SAFETY: reads 8 bytes into a valid u64 from our own non-blocking fd.
        unsafe { libc::read(self.0.as_raw_fd(), (&mut v as *mut u64).cast(), 8) };
    }
}

impl AsRawFd for TimerFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// An epoll instance with `u64` tokens.
#[derive(Debug)]
pub struct Epoll(OwnedFd);

impl Epoll {
    /// Creates one.
    pub fn new() -> io::Result<Epoll> {
        // SAFETY: plain flags; a non-negative result is a new fd we own.
        let fd = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: `fd` was just returned by epoll_create1.
        Ok(Epoll(unsafe { OwnedFd::from_raw_fd(fd) }))
    }
    /// Watches `fd` for readability (level-triggered), reporting `token`.
    pub fn add(&self, fd: RawFd, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event { events: libc::EPOLLIN as u32, u64: token };
        // SAFETY: `ev` is valid for the call; `fd` is a live fd owned by the caller, which
        // keeps it open for as long as this epoll is used.
        cvt(unsafe { libc::epoll_ctl(self.0.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) })?;
        Ok(())
    }
    /// Stops watching `fd`.
    pub fn del(&self, fd: RawFd) -> io::Result<()> {
        let mut ev = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: `ev` is valid for the call (ignored by DEL on modern kernels).
        cvt(unsafe { libc::epoll_ctl(self.0.as_raw_fd(), libc::EPOLL_CTL_DEL, fd, &mut ev) })?;
        Ok(())
    }
    /// Waits for events (forever if `timeout_ms` is -1); returns the tokens through `out`.
    pub fn wait(&self, out: &mut [libc::epoll_event], timeout_ms: i32) -> io::Result<usize> {
        // SAFETY: `out` is a valid, writable array of `out.len()` events.
        let n = unsafe { libc::epoll_wait(self.0.as_raw_fd(), out.as_mut_ptr(), out.len() as i32, timeout_ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                return Ok(0);
            }
            return Err(e);
        }
        Ok(n as usize)
    }
}

/// `sendto(2)` with `MSG_DONTWAIT`: never blocks; returns the OS error number on failure.
pub fn send_to(fd: RawFd, data: &[u8], dest: &socket2::SockAddr) -> Result<(), i32> {
    // SAFETY: `data` and `dest` are valid for the call and their lengths are passed with them.
    let n = unsafe { libc::sendto(fd, data.as_ptr().cast(), data.len(), libc::MSG_DONTWAIT, dest.as_ptr().cast(), dest.len()) };
    if n < 0 {
        Err(io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO))
    } else {
        Ok(())
    }
}

/// Writes `data` to a non-blocking stream fd (a serial port) in one call; a short write is an
/// error (`EAGAIN`): the rest of the frame is lost and the receiver resynchronises.
pub fn write_all_once(fd: RawFd, data: &[u8]) -> Result<(), i32> {
    // SAFETY: `data` is valid for reads of `data.len()` bytes for the call.
    let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
    if n < 0 {
        Err(io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO))
    } else if (n as usize) < data.len() {
        Err(libc::EAGAIN)
    } else {
        Ok(())
    }
}

/// Reads what a non-blocking fd has (a serial port); `Ok(0)` is end of file (a hung-up tty).
pub fn read_some(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the call.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Bytes a tty has not yet put on the line (`TIOCOUTQ`).
pub fn tty_outq(fd: RawFd) -> io::Result<usize> {
    let mut n: libc::c_int = 0;
    // SAFETY: TIOCOUTQ writes one int through the valid pointer passed.
    cvt(unsafe { libc::ioctl(fd, libc::TIOCOUTQ, &mut n) })?;
    Ok(n.max(0) as usize)
}

/// CLOCK_REALTIME in ns (only to convert kernel receive stamps, never to judge time).
pub fn realtime_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Receives one datagram without blocking. Returns its length and the kernel's receive stamp
/// (CLOCK_REALTIME ns, from `SO_TIMESTAMPNS`) if the socket delivers one. A datagram longer
/// than `buf` is truncated; the returned length is then `buf.len()`.
///
/// Kernel detail: receive stamping is switched on system-wide (a static key) by deferred work
/// after the first socket asks for it; a datagram that passed the stack before that carries
/// no stamp, and the kernel then stamps it when it is read. So the first packets after hbd
/// starts may be timed at read — which the loop's clamp to `[previous drain, now]` bounds.
pub fn recv_stamped(fd: RawFd, buf: &mut [u8]) -> io::Result<(usize, Option<u64>)> {
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    // SAFETY: sockaddr_storage is plain data; all-zero is a valid (AF_UNSPEC) value.
    let mut from: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut cbuf = [0u64; CMSG_WORDS];
    // SAFETY: msghdr is plain data; all-zero is a valid empty header, filled in below.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    point_msghdr(&mut msg, &mut from, &mut iov, &mut cbuf);
    // SAFETY: `msg` points at `from`, `iov` (covering `buf`) and `cbuf`, all valid for the call.
    let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((n as usize, stamp_of(&msg)))
}

/// Room for the cmsgs asked for (a timespec and a u32 drop count), 8-byte aligned, in u64
/// words.
const CMSG_WORDS: usize = 8;

/// Points `msg` at a sender address, one iovec and a control buffer (lengths reset to full).
fn point_msghdr(msg: &mut libc::msghdr, from: &mut libc::sockaddr_storage, iov: &mut libc::iovec, cbuf: &mut [u64; CMSG_WORDS]) {
    msg.msg_name = (from as *mut libc::sockaddr_storage).cast();
    msg.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    msg.msg_iov = iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(cbuf);
    msg.msg_flags = 0;
}

/// The `SO_TIMESTAMPNS` stamp (CLOCK_REALTIME ns) among a received message's cmsgs.
fn stamp_of(msg: &libc::msghdr) -> Option<u64> {
    cmsgs_of(msg).0
}

/// The arrival stamp (`SO_TIMESTAMPNS`, CLOCK_REALTIME ns) and the socket's drop count
/// (`SO_RXQ_OVFL`) among a received message's cmsgs.
fn cmsgs_of(msg: &libc::msghdr) -> (Option<u64>, Option<u32>) {
    let (mut stamp, mut drops) = (None, None);
    // SAFETY: the kernel filled msg_control/msg_controllen; CMSG_FIRSTHDR/NXTHDR stay inside it.
    let mut c = unsafe { libc::CMSG_FIRSTHDR(msg) };
    while !c.is_null() {
        // SAFETY: `c` is a non-null cmsghdr inside the control buffer.
        let h = unsafe { &*c };
        if h.cmsg_level == libc::SOL_SOCKET
            && h.cmsg_type == libc::SCM_TIMESTAMPNS
            && h.cmsg_len as usize >= std::mem::size_of::<libc::cmsghdr>() + std::mem::size_of::<libc::timespec>()
        {
            // SAFETY: the kernel wrote a timespec as this cmsg's data (length checked above);
            // read_unaligned because cmsg data alignment is not guaranteed for timespec.
            let ts: libc::timespec = unsafe { std::ptr::read_unaligned(libc::CMSG_DATA(c).cast()) };
            stamp = Some(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64);
        } else if h.cmsg_level == libc::SOL_SOCKET
            && h.cmsg_type == libc::SO_RXQ_OVFL
            && h.cmsg_len as usize >= std::mem::size_of::<libc::cmsghdr>() + std::mem::size_of::<u32>()
        {
            // SAFETY: the kernel wrote a u32 as this cmsg's data (length checked above).
            drops = Some(unsafe { std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<u32>()) });
        }
        // SAFETY: as for CMSG_FIRSTHDR.
        c = unsafe { libc::CMSG_NXTHDR(msg, c) };
    }
    (stamp, drops)
}

/// Attaches the classic BPF program `prog` to socket `fd` (`SO_ATTACH_FILTER`): the kernel
/// drops what it refuses before queueing it, and counts the drop in the socket's `sk_drops`.
pub fn attach_filter(fd: RawFd, prog: &[crate::filter::Insn]) -> io::Result<()> {
    let insns: Vec<libc::sock_filter> = prog.iter().map(|i| libc::sock_filter { code: i.code, jt: i.jt, jf: i.jf, k: i.k }).collect();
    let len = u16::try_from(insns.len()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let fprog = libc::sock_fprog { len, filter: insns.as_ptr().cast_mut() };
    // SAFETY: `fprog` points at `insns`, which outlives the call (the kernel copies it); its
    // size is passed.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            (&fprog as *const libc::sock_fprog).cast(),
            std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Asks the kernel to attach the socket's drop count (`sk_drops`: filtered out, or no room in
/// the buffer) to every datagram it delivers (`SO_RXQ_OVFL`).
pub fn enable_drop_counts(fd: RawFd) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: `on` is a valid c_int and its size is passed.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RXQ_OVFL,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The IP address in a sender address the kernel filled in, if it is IPv4 or IPv6.
fn addr_of(from: &libc::sockaddr_storage) -> Option<std::net::IpAddr> {
    match i32::from(from.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the kernel wrote a sockaddr_in.
            let sin = unsafe { &*(from as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            Some(std::net::IpAddr::V4(std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr))))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the kernel wrote a sockaddr_in6.
            let sin6 = unsafe { &*(from as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            Some(std::net::IpAddr::V6(std::net::Ipv6Addr::from(sin6.sin6_addr.s6_addr)))
        }
        _ => None,
    }
}

/// Datagrams one [`RecvBatch::recv`] takes at most.
pub const BATCH: usize = 8;
/// Bytes kept of each datagram in a [`RecvBatch`]: more than the longest packet hb accepts
/// (`wire::MAX_PACKET`) plus an Ethernet header, so a longer datagram arrives cut to this
/// length and is still rejected as oversized.
pub const BATCH_BYTES: usize = 640;
const _: () = assert!(BATCH_BYTES > crate::wire::MAX_PACKET + hb_media::raw::HEADER_LEN);

/// What one drain of a socket did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drained {
    /// Datagrams handed over.
    pub count: usize,
    /// Whether the queue was seen empty; false when the budget ran out first.
    pub emptied: bool,
}

/// One datagram of a [`RecvBatch`].
#[derive(Debug, Clone, Copy)]
pub struct Datagram<'a> {
    /// Its bytes (at most [`BATCH_BYTES`]).
    pub data: &'a [u8],
    /// The kernel's arrival stamp, CLOCK_REALTIME ns, if the socket delivers one.
    pub stamp: Option<u64>,
    /// The sender's IP address (none on a packet socket).
    pub from: Option<std::net::IpAddr>,
    /// The socket's drops so far (filtered out or no room), if it reports them.
    pub drops: Option<u32>,
}

/// Buffers for receiving up to [`BATCH`] datagrams with one `recvmmsg(2)` — the RT loop's
/// drain: one system call per socket per tick where `recvmsg` needed two (the datagram, then
/// `EAGAIN`), since a batch that comes back short means the queue was empty. Plain data,
/// allocation-free; the kernel-facing pointers are set afresh on every call, so the value
/// may move between calls.
pub struct RecvBatch {
    bufs: [[u8; BATCH_BYTES]; BATCH],
    names: [libc::sockaddr_storage; BATCH],
    cmsgs: [[u64; CMSG_WORDS]; BATCH],
    iovs: [libc::iovec; BATCH],
    hdrs: [libc::mmsghdr; BATCH],
}

impl RecvBatch {
    /// Empty buffers (about 6.5 KiB; meant for the RT thread's prefaulted stack).
    pub fn new() -> RecvBatch {
        RecvBatch {
            bufs: [[0; BATCH_BYTES]; BATCH],
            // SAFETY: sockaddr_storage, iovec and mmsghdr are plain C structs for which
            // all-zero is a valid value; every pointer in them is set before use.
            names: unsafe { std::mem::zeroed() },
            cmsgs: [[0; CMSG_WORDS]; BATCH],
            // SAFETY: as above.
            iovs: unsafe { std::mem::zeroed() },
            // SAFETY: as above.
            hdrs: unsafe { std::mem::zeroed() },
        }
    }

    /// Receives what is queued on `fd`, up to [`BATCH`] datagrams, without blocking; returns
    /// how many ([`RecvBatch::get`] reads them). Fewer than [`BATCH`] means the queue was
    /// empty when the call returned; nothing queued is the error `WouldBlock`.
    pub fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        for i in 0..BATCH {
            self.iovs[i] = libc::iovec { iov_base: self.bufs[i].as_mut_ptr().cast(), iov_len: BATCH_BYTES };
            let h = &mut self.hdrs[i];
            point_msghdr(&mut h.msg_hdr, &mut self.names[i], &mut self.iovs[i], &mut self.cmsgs[i]);
            h.msg_len = 0;
        }
        // SAFETY: every header points at this batch's own name, iovec (covering its buffer)
        // and control buffer, all valid and unaliased for the call; no timeout is passed.
        let n = unsafe { libc::recvmmsg(fd, self.hdrs.as_mut_ptr(), BATCH as libc::c_uint, libc::MSG_DONTWAIT, std::ptr::null_mut()) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }

    /// Hands `f` the datagrams queued on `fd`, batch after batch, until a short batch says
    /// the queue is empty — or an error does: nothing queued, or a pending ICMP error on a
    /// UDP socket (port unreachable from a dead peer), which is not a datagram — or `budget`
    /// datagrams have been handed over. Returns how many were, and whether the queue was
    /// seen empty (false: the budget ran out first, more may be waiting).
    pub fn drain(&mut self, fd: RawFd, budget: usize, mut f: impl FnMut(Datagram<'_>)) -> Drained {
        let mut d = Drained { count: 0, emptied: false };
        while d.count < budget {
            let got = match self.recv(fd) {
                Ok(k) => k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    d.emptied = true;
                    return d;
                }
            };
            for i in 0..got {
                f(self.get(i));
            }
            d.count += got;
            if got < BATCH {
                d.emptied = true;
                return d;
            }
        }
        d
    }

    /// Datagram `i` of the last [`RecvBatch::recv`] (`i` below what it returned).
    pub fn get(&self, i: usize) -> Datagram<'_> {
        let h = &self.hdrs[i];
        let len = (h.msg_len as usize).min(BATCH_BYTES);
        // Read the cmsgs through a header that points at this value's own control buffer
        // (the batch may have moved since the call), with the length the kernel wrote.
        let mut m = h.msg_hdr;
        m.msg_control = self.cmsgs[i].as_ptr().cast_mut().cast();
        m.msg_controllen = m.msg_controllen.min(std::mem::size_of::<[u64; CMSG_WORDS]>());
        let (stamp, drops) = cmsgs_of(&m);
        Datagram { data: &self.bufs[i][..len], stamp, from: addr_of(&self.names[i]), drops }
    }
}

impl Default for RecvBatch {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests keep time with std
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn received_datagrams_carry_the_kernels_arrival_stamp() {
        let spec = hb_media::UdpSpec {
            kind: hb_media::UdpKind::Ucast { peers: vec![] },
            dev: "lo".into(),
            port: 0,
            ipv6: false,
            bind: Some("127.0.0.1".parse().unwrap()),
        };
        let link = hb_media::open_udp(&spec).unwrap();
        let port = link.socket.local_addr().unwrap().port();
        // Let the kernel switch receive stamping on (deferred work; see recv_stamped's docs):
        // warm-up datagrams until one comes back stamped well before it was read.
        let mut warm = [0u8; 16];
        let on = (0..100).any(|_| {
            link.socket.send_to(b"warm-up", ("127.0.0.1", port)).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(10));
            let reading = realtime_ns();
            let mut stamped_early = false;
            while let Ok((_, Some(st))) = recv_stamped(link.socket.as_raw_fd(), &mut warm) {
                stamped_early |= st + 5_000_000 < reading;
            }
            stamped_early
        });
        assert!(on, "receive stamping never switched on");
        // The stamp is taken when the datagram is queued to the socket (inside sendto(2) on an
        // idle machine, later in ksoftirqd on a loaded one) — in any case before we start to
        // read it, which is what "stamped at arrival, not at read" means.
        let before = realtime_ns();
        link.socket.send_to(b"stamp me", ("127.0.0.1", port)).unwrap();
        let mut buf = [0u8; 64];
        let (n, stamp, reading) = loop {
            std::thread::sleep(std::time::Duration::from_millis(20));
            let reading = realtime_ns();
            match recv_stamped(link.socket.as_raw_fd(), &mut buf) {
                Ok((n, stamp)) => break (n, stamp, reading),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => panic!("{e}"),
            }
        };
        assert_eq!(&buf[..n], b"stamp me");
        let stamp = stamp.expect("SO_TIMESTAMPNS stamp");
        assert!((before..=reading).contains(&stamp), "stamped at arrival, not at read: {before} <= {stamp} <= {reading}");
        assert_eq!(recv_stamped(link.socket.as_raw_fd(), &mut buf).unwrap_err().kind(), io::ErrorKind::WouldBlock);
    }

    #[test]
    fn a_batch_takes_what_is_queued_in_one_call_and_cuts_long_datagrams() {
        let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = rx.local_addr().unwrap();
        let mut batch = RecvBatch::new();
        assert_eq!(batch.recv(rx.as_raw_fd()).unwrap_err().kind(), io::ErrorKind::WouldBlock, "nothing queued");
        // More than a batch: BATCH short ones and a long one, then two more.
        for i in 0..BATCH {
            tx.send_to(&[i as u8; 10], to).unwrap();
        }
        tx.send_to(&[0xaa; 3000], to).unwrap();
        tx.send_to(b"last", to).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert_eq!(batch.recv(rx.as_raw_fd()).unwrap(), BATCH, "a full batch");
        for i in 0..BATCH {
            let d = batch.get(i);
            assert_eq!(d.data, &[i as u8; 10]);
            assert_eq!(d.from, Some("127.0.0.1".parse().unwrap()));
        }
        // The batch may move between calls; what it read stays readable.
        let moved = batch;
        assert_eq!(moved.get(0).data, &[0u8; 10]);
        let mut batch = moved;
        assert_eq!(batch.recv(rx.as_raw_fd()).unwrap(), 2, "a short batch: the queue is empty");
        assert_eq!(batch.get(0).data.len(), BATCH_BYTES, "a long datagram is cut, still longer than any accepted packet");
        assert_eq!(batch.get(1).data, b"last");
        assert_eq!(batch.recv(rx.as_raw_fd()).unwrap_err().kind(), io::ErrorKind::WouldBlock);
    }
}
