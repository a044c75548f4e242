//! The io_uring ring of the RT loop: the only caller of `unsafe push` in hb.
//!
//! What the ring carries: a multishot `POLL_ADD` for the wake eventfd and, when received
//! packets are to wake the loop (`rx_wakeup`), for each socket (readiness; the loop then
//! drains each socket with non-blocking reads so that everything already received is
//! processed before a deadline is judged), and a `SENDMSG` per heartbeat. The next deadline is
//! not a request in the ring but the timeout of the wait itself (`IORING_ENTER_EXT_ARG`, on
//! CLOCK_MONOTONIC, absolute with `IORING_ENTER_ABS_TIMER` where the kernel has it (6.12+),
//! else made relative just before the call): the kernel sleeps on one hrtimer, as
//! clock_nanosleep does, instead of completing a `TIMEOUT` request through task work and a
//! completion each tick. Serial ports are written with write(2), not
//! through the ring: a tty cannot take a non-blocking write from io_uring, which hands it to an
//! io-wq worker thread, where it can fail with EINTR (seen here) and costs a thread wake-up.
//!
//! One system call per tick: sends carry `MSG_DONTWAIT`, which makes io_uring finish them
//! inline at submission (sent, or failed with `EAGAIN`; never parked to be retried later), and,
//! where the kernel has `IORING_FEAT_CQE_SKIP` (5.17+), `IOSQE_CQE_SKIP_SUCCESS`, so a send
//! that went out posts nothing and the `io_uring_enter` that submits the tick's heartbeats
//! sleeps on to the next deadline. Only failed sends complete (and are counted). Without the
//! feature every send completes and the wait reaps those completions and sleeps again.
//!
//! Buffer-lifetime contract: every pointer handed to the kernel points into `Ring::slots`
//! (a boxed slice allocated once, never moved or resized), or, for the wait's timeout, into
//! the caller's stack for the duration of the `io_uring_enter` that reads it. A send
//! slot is marked busy from its push until its completion is reaped — or, with skipped
//! completions, until the submission that issued it has returned (a `MSG_DONTWAIT` send is
//! done by then) — and is never written while busy. The ring is
//! dropped only after the loop ends; dropping `IoUring` tears down in-flight operations before
//! the slots' memory is freed (the field order below guarantees `ring` drops first).

#![allow(unsafe_code)]

use crate::time::Nanos;
use io_uring::{cqueue, opcode, squeue, types, EnterFlags, IoUring, Probe};
use std::io;
use std::os::fd::RawFd;

/// Destinations per link (ucast peers).
pub const MAX_DESTS: usize = 16;

const KIND_POLL: u64 = 1;
const KIND_WAKE: u64 = 2;
const KIND_SEND: u64 = 3;
const KIND_CANCEL: u64 = 4;

/// Bytes a transmit slot holds: one heartbeat, in an Ethernet frame on a raw link.
const SLOT_BYTES: usize = crate::wire::MAX_HEARTBEAT + hb_media::raw::HEADER_LEN;

fn token(kind: u64, v: u64) -> u64 {
    (kind << 56) | (v & ((1 << 56) - 1))
}

/// Why the ring could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum UringError {
    /// `io_uring_setup` failed (no io_uring, `kernel.io_uring_disabled`, seccomp…).
    #[error("io_uring_setup failed")]
    Setup(#[source] io::Error),
    /// The kernel lacks an operation the loop needs.
    #[error("this kernel's io_uring lacks {0}")]
    Missing(&'static str),
    /// Registering the opcode probe failed.
    #[error("io_uring opcode probe failed")]
    Probe(#[source] io::Error),
}

struct TxSlot {
    buf: [u8; SLOT_BYTES],
    iov: libc::iovec,
    addr: libc::sockaddr_storage,
    msg: libc::msghdr,
    busy: bool,
    link: usize,
}

/// The ring and everything whose address it holds. See the module docs for the contract.
pub struct Ring {
    // INVARIANT: `ring` is declared first so it is dropped (and in-flight operations torn
    // down) before `slots` is freed.
    ring: IoUring,
    slots: Box<[TxSlot]>,
    socks: Vec<RawFd>,
    rearm: Vec<bool>,
    watched: Vec<bool>,
    /// Bumped when a link's fd is replaced, so a late completion of the old fd's poll is
    /// recognised and ignored (poll tokens carry `generation << 8 | link`).
    poll_gen: Vec<u64>,
    wake: RawFd,
    wake_rearm: bool,
    /// Successful sends post no completion (`IORING_FEAT_CQE_SKIP`).
    skip_sent: bool,
    /// The kernel takes the wait's timeout as an absolute time (`IORING_ENTER_ABS_TIMER`).
    abs_timer: bool,
    /// Set when the wake eventfd fired during the last wait.
    pub woken: bool,
}

impl Ring {
    /// Sets up a ring for the link fds `socks` and the `wake` eventfd; checks every opcode the
    /// loop uses. A link whose `watch` is false is only written to and never wakes the ring
    /// (the loop drains it on its ticks).
    pub fn new(socks: &[RawFd], watch: &[bool], wake: RawFd) -> Result<Ring, UringError> {
        let ring = IoUring::builder().build(256).map_err(UringError::Setup)?;
        let mut probe = Probe::new();
        ring.submitter().register_probe(&mut probe).map_err(UringError::Probe)?;
        for (code, name) in
            [(opcode::PollAdd::CODE, "POLL_ADD"), (opcode::SendMsg::CODE, "SENDMSG"), (opcode::PollRemove::CODE, "POLL_REMOVE")]
        {
            if !probe.is_supported(code) {
                return Err(UringError::Missing(name));
            }
        }
        if !ring.params().is_feature_ext_arg() {
            return Err(UringError::Missing("IORING_FEAT_EXT_ARG (a wait with a timeout, Linux 5.11)"));
        }
        let skip_sent = ring.params().is_feature_skip_cqe_on_success();
        let abs_timer = probe_abs_timer(&ring);
        let slots: Box<[TxSlot]> = (0..socks.len() * MAX_DESTS)
            .map(|i| TxSlot {
                buf: [0; SLOT_BYTES],
                iov: libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 },
                // SAFETY: sockaddr_storage and msghdr are plain C structs for which all-zero
                // is a valid (empty) value.
                addr: unsafe { std::mem::zeroed() },
                // SAFETY: as above.
                msg: unsafe { std::mem::zeroed() },
                busy: false,
                link: i / MAX_DESTS,
            })
            .collect();
        Ok(Ring {
            ring,
            slots,
            socks: socks.to_vec(),
            rearm: watch.to_vec(),
            watched: watch.to_vec(),
            poll_gen: vec![0; socks.len()],
            wake,
            wake_rearm: true,
            skip_sent,
            abs_timer,
            woken: false,
        })
    }

    fn push(&mut self, e: &squeue::Entry) -> io::Result<()> {
        loop {
            // SAFETY: every entry pushed here refers only to fds the caller keeps open for the
            // ring's life and to memory in `slots`/`ts` (see the module contract).
            if unsafe { self.ring.submission().push(e) }.is_ok() {
                return Ok(());
            }
            // Submission queue full: hand what is queued to the kernel, then retry.
            self.ring.submit()?;
        }
    }

    /// Queues a datagram to `dest` (copied into slot `(link, dest_idx)`). Returns the errno
    /// `EBUSY` if that slot's previous send has not completed yet.
    pub fn send(&mut self, link: usize, dest_idx: usize, dest: &socket2::SockAddr, data: &[u8]) -> Result<(), i32> {
        let i = link * MAX_DESTS + dest_idx;
        let fd = self.socks[link];
        let s = &mut self.slots[i];
        if s.busy {
            return Err(libc::EBUSY);
        }
        let n = data.len().min(s.buf.len());
        s.buf[..n].copy_from_slice(&data[..n]);
        let alen = (dest.len() as usize).min(std::mem::size_of::<libc::sockaddr_storage>());
        // SAFETY: copies `alen` bytes from the SockAddr's storage (valid for `dest.len()`) into
        // our sockaddr_storage, which is at least that large; the regions do not overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(dest.as_ptr().cast::<u8>(), (&mut s.addr as *mut libc::sockaddr_storage).cast::<u8>(), alen)
        };
        s.iov = libc::iovec { iov_base: s.buf.as_mut_ptr().cast(), iov_len: n };
        s.msg.msg_name = (&mut s.addr as *mut libc::sockaddr_storage).cast();
        s.msg.msg_namelen = alen as libc::socklen_t;
        s.msg.msg_iov = &mut s.iov;
        s.msg.msg_iovlen = 1;
        s.busy = true;
        let mut e =
            opcode::SendMsg::new(types::Fd(fd), &s.msg).flags(libc::MSG_DONTWAIT as u32).build().user_data(token(KIND_SEND, i as u64));
        if self.skip_sent {
            e = e.flags(squeue::Flags::SKIP_SUCCESS);
        }
        self.push(&e).map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))
    }

    /// The fd of link `link`.
    pub fn fd(&self, link: usize) -> RawFd {
        self.socks[link]
    }

    fn poll_token(&self, link: usize) -> u64 {
        (self.poll_gen[link] << 8) | link as u64
    }

    /// Link `link` has a new fd (a serial port reopened); watch it from the next wait.
    pub fn rewatch(&mut self, link: usize, fd: RawFd) {
        self.poll_gen[link] += 1;
        self.socks[link] = fd;
        self.watched[link] = true;
        self.rearm[link] = true;
    }

    /// Stops watching link `link` for readability (its multishot poll is removed).
    pub fn unwatch(&mut self, link: usize) {
        if !self.watched[link] {
            return;
        }
        self.watched[link] = false;
        self.rearm[link] = false;
        let e = opcode::PollRemove::new(token(KIND_POLL, self.poll_token(link))).build().user_data(token(KIND_CANCEL, link as u64));
        // A full queue is flushed by push; an error here leaves the poll armed, and the
        // loop's reads keep failing harmlessly.
        let _ = self.push(&e);
    }

    /// Submits what is queued and sleeps until `deadline`, socket readiness or the wake fd.
    /// Failed sends are reported through `on_tx_error(link, errno)`.
    pub fn wait(&mut self, deadline: Nanos, on_tx_error: &mut dyn FnMut(usize, i32)) -> io::Result<()> {
        for i in 0..self.socks.len() {
            if self.rearm[i] {
                let e = opcode::PollAdd::new(types::Fd(self.socks[i]), libc::POLLIN as u32)
                    .multi(true)
                    .build()
                    .user_data(token(KIND_POLL, self.poll_token(i)));
                self.push(&e)?;
                self.rearm[i] = false;
            }
        }
        if self.wake_rearm {
            let e = opcode::PollAdd::new(types::Fd(self.wake), libc::POLLIN as u32).multi(true).build().user_data(token(KIND_WAKE, 0));
            self.push(&e)?;
            self.wake_rearm = false;
        }
        self.woken = false;
        // Wait for the deadline or a completion that calls for a pass of the loop: socket
        // readiness or the wake fd. A send completion alone does not — without skipped
        // successes each tick's SENDMSG completes inline at the next submit, and returning for
        // it would run an empty pass of the loop per tick — so those are reaped here and the
        // wait resumes.
        loop {
            let r = self.submit_and_wait_until(deadline);
            if self.skip_sent {
                // Every busy slot was pushed since the last submission (they are all freed
                // after each one) and that submission issued it: a MSG_DONTWAIT send is done
                // by then. Its skipped success frees nothing, so free the slots here; a failure
                // still completes below. (A slot whose entry an error left queued is only ever
                // sent with newer content.)
                for slot in self.slots.iter_mut() {
                    slot.busy = false;
                }
            }
            match r {
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => return Ok(()),
                Err(e) if matches!(e.raw_os_error(), Some(libc::EBUSY) | Some(libc::ETIME)) => {}
                Err(e) => return Err(e),
            }
            let mut pass = false;
            let mut cq = self.ring.completion();
            cq.sync();
            for cqe in &mut cq {
                let ud = cqe.user_data();
                let (kind, v) = (ud >> 56, ud & ((1 << 56) - 1));
                match kind {
                    KIND_POLL => {
                        let link = (v & 0xff) as usize;
                        if (self.poll_gen[link] << 8) | link as u64 != v {
                            continue; // the poll of an fd this link no longer has
                        }
                        pass = true;
                        if !cqueue::more(cqe.flags()) && self.watched[link] {
                            self.rearm[link] = true;
                        }
                    }
                    KIND_WAKE => {
                        pass = true;
                        self.woken = true;
                        if !cqueue::more(cqe.flags()) {
                            self.wake_rearm = true;
                        }
                    }
                    KIND_SEND => {
                        let s = &mut self.slots[v as usize];
                        s.busy = false;
                        if cqe.result() < 0 {
                            on_tx_error(s.link, -cqe.result());
                        }
                    }
                    _ => {}
                }
            }
            // io_uring_enter reports what it submitted, not that the wait timed out: the
            // clock says whether the deadline has come (the kernel's timer, on the same clock,
            // never fires before it).
            if pass || crate::time::now() >= deadline {
                return Ok(());
            }
        }
    }

    /// Submits what is queued and waits for one completion or until `deadline`.
    fn submit_and_wait_until(&mut self, deadline: Nanos) -> io::Result<usize> {
        if deadline == Nanos::MAX {
            return self.ring.submit_and_wait(1);
        }
        let at = if self.abs_timer { deadline.0 } else { deadline.0.saturating_sub(crate::time::now().0) };
        let ts = timespec(at);
        let args = types::SubmitArgs::new().timespec(&ts);
        let mut flags = EnterFlags::GETEVENTS | EnterFlags::EXT_ARG;
        if self.abs_timer {
            flags |= EnterFlags::ABS_TIMER;
        }
        let to_submit = self.ring.submission().len() as u32;
        // SAFETY: with EXT_ARG the kernel reads an io_uring_getevents_arg (SubmitArgs is a
        // transparent wrapper of one; its size is passed) and through it `ts`, both on this
        // stack frame for the whole call; the queued entries obey the module contract.
        unsafe { self.ring.submitter().enter(to_submit, 1, flags.bits(), Some(&args)) }
    }
}

fn timespec(ns: u64) -> types::Timespec {
    types::Timespec::new().sec(ns / 1_000_000_000).nsec((ns % 1_000_000_000) as u32)
}

/// Whether this kernel takes `IORING_ENTER_ABS_TIMER` (6.12+): a wait until long ago times
/// out at once where it does and is refused with EINVAL where it does not.
fn probe_abs_timer(ring: &IoUring) -> bool {
    let ts = timespec(1);
    let args = types::SubmitArgs::new().timespec(&ts);
    let flags = EnterFlags::GETEVENTS | EnterFlags::EXT_ARG | EnterFlags::ABS_TIMER;
    // SAFETY: nothing is queued yet; the kernel reads `args` and `ts`, which outlive the call.
    let r = unsafe { ring.submitter().enter(0, 1, flags.bits(), Some(&args)) };
    matches!(r, Err(e) if e.raw_os_error() == Some(libc::ETIME))
}
