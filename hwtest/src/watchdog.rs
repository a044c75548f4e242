//! A watchdog emulator: a FUSE file that answers the real `/dev/watchdog` API.
//!
//! This kernel has no softdog and no CUSE, but a FUSE *regular file* receives "restricted"
//! ioctls — those whose size and direction are encoded in the request number, as every
//! `WDIOC_*` is — so the real `open`/`write`/`ioctl`/`close` syscalls of a watchdog client
//! reach this emulator unchanged. It keeps the Linux semantics: one opener at a time
//! (`EBUSY`), open arms, any write or `WDIOC_KEEPALIVE` pets, a `'V'` in the last write arms
//! magic close, and close disarms only after it. It records every pet with its
//! CLOCK_MONOTONIC time, and a monitor thread records the moment the timer expires — the
//! moment a real board would reset.
//!
//! Limits, by design of FUSE rather than of the emulator: the path is a regular file, not a
//! character device (clients need a test-mode switch to accept it), and `WDIOC_SETOPTIONS`
//! is encoded `_IOR` although drivers *read* its argument, so FUSE cannot deliver that
//! argument: the emulator answers it `ENOTTY`, as drivers without the option do.
//!
//! [`Features`] turns `WDIOC_KEEPALIVE`, `WDIOC_SETTIMEOUT` and magic close off, to test
//! clients against simpler drivers.

use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, INodeNo, IoctlFlags, LockOwner, OpenFlags, ReplyAttr, ReplyEmpty,
    ReplyEntry, ReplyIoctl, ReplyOpen, ReplyWrite, Request, WriteFlags,
};
use std::ffi::OsStr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

/// What the emulated driver supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Features {
    /// `WDIOC_KEEPALIVE` (and `WDIOF_KEEPALIVEPING`).
    pub keepalive_ioctl: bool,
    /// `WDIOC_SETTIMEOUT` (and `WDIOF_SETTIMEOUT`).
    pub settimeout: bool,
    /// Magic close (`WDIOF_MAGICCLOSE`).
    pub magic_close: bool,
    /// The timeout at open, seconds.
    pub timeout_s: u32,
}

impl Default for Features {
    fn default() -> Features {
        Features { keepalive_ioctl: true, settimeout: true, magic_close: true, timeout_s: 60 }
    }
}

/// What happened to the emulated device (times: CLOCK_MONOTONIC ns).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WdState {
    /// Currently open.
    pub open: bool,
    /// The timer is running.
    pub armed: bool,
    /// The last write held a `'V'`.
    pub expect_close: bool,
    /// Timeout, seconds.
    pub timeout_s: u32,
    /// Pretimeout, seconds.
    pub pretimeout_s: u32,
    /// Every pet (write or keepalive ioctl), when.
    pub pets: Vec<u64>,
    /// Successful opens.
    pub opens: u32,
    /// Opens refused with EBUSY.
    pub busy_refusals: u32,
    /// When the timer expired (a real board resets here).
    pub expired_at: Option<u64>,
    /// When a magic close disarmed it.
    pub disarmed_at: Option<u64>,
    /// When the last close happened without disarming.
    pub closed_armed_at: Option<u64>,
    last_ping: u64,
}

/// `WDIOC_*` request numbers (x86-64 and arm64 share them). Written out here rather than taken
/// from `hb-watchdog` on purpose: the emulator encodes the kernel ABI independently, so a wrong
/// number in the client fails its tests instead of agreeing with itself.
mod req {
    pub const GETSUPPORT: u32 = 0x8028_5700;
    pub const GETSTATUS: u32 = 0x8004_5701;
    pub const GETBOOTSTATUS: u32 = 0x8004_5702;
    pub const SETOPTIONS: u32 = 0x8004_5704;
    pub const KEEPALIVE: u32 = 0x8004_5705;
    pub const SETTIMEOUT: u32 = 0xC004_5706;
    pub const GETTIMEOUT: u32 = 0x8004_5707;
    pub const SETPRETIMEOUT: u32 = 0xC004_5708;
    pub const GETPRETIMEOUT: u32 = 0x8004_5709;
    pub const GETTIMELEFT: u32 = 0x8004_570A;
}

struct WdFs {
    f: Features,
    st: Arc<Mutex<WdState>>,
}

const TTL: Duration = Duration::from_secs(1);

fn attr(ino: u64, kind: FileType, perm: u16) -> FileAttr {
    FileAttr {
        ino: INodeNo(ino),
        size: 0,
        blocks: 0,
        atime: UNIX_EPOCH,
        mtime: UNIX_EPOCH,
        ctime: UNIX_EPOCH,
        crtime: UNIX_EPOCH,
        kind,
        perm,
        nlink: if kind == FileType::Directory { 2 } else { 1 },
        uid: 0,
        gid: 0,
        rdev: 0,
        flags: 0,
        blksize: 512,
    }
}

fn ping(st: &mut WdState) {
    let now = crate::sys::monotonic_ns();
    st.last_ping = now;
    st.pets.push(now);
}

impl Filesystem for WdFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        if parent == INodeNo::ROOT && name == "watchdog" {
            reply.entry(&TTL, &attr(2, FileType::RegularFile, 0o600), fuser::Generation(0));
        } else {
            reply.error(Errno::ENOENT);
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match ino.0 {
            1 => reply.attr(&TTL, &attr(1, FileType::Directory, 0o755)),
            2 => reply.attr(&TTL, &attr(2, FileType::RegularFile, 0o600)),
            _ => reply.error(Errno::ENOENT),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        if ino.0 != 2 {
            return reply.opened(FileHandle(0), FopenFlags::empty());
        }
        let mut st = self.st.lock().unwrap();
        if st.open {
            st.busy_refusals += 1;
            return reply.error(Errno::EBUSY);
        }
        st.open = true;
        st.armed = true;
        st.expect_close = false;
        st.opens += 1;
        ping(&mut st);
        reply.opened(FileHandle(0), FopenFlags::FOPEN_DIRECT_IO);
    }

    #[allow(clippy::too_many_arguments)]
    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _offset: u64,
        data: &[u8],
        _wf: WriteFlags,
        _flags: OpenFlags,
        _lo: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let mut st = self.st.lock().unwrap();
        st.expect_close = self.f.magic_close && data.contains(&b'V');
        ping(&mut st);
        reply.written(data.len() as u32);
    }

    fn flush(&self, _req: &Request, _ino: INodeNo, _fh: FileHandle, _lo: LockOwner, reply: ReplyEmpty) {
        reply.ok();
    }

    fn release(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _flags: OpenFlags,
        _lo: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        if ino.0 == 2 {
            let mut st = self.st.lock().unwrap();
            let now = crate::sys::monotonic_ns();
            st.open = false;
            if st.expect_close && st.armed {
                st.armed = false;
                st.disarmed_at = Some(now);
            } else if st.armed {
                st.closed_armed_at = Some(now);
            }
        }
        reply.ok();
    }

    #[allow(clippy::too_many_arguments)]
    fn ioctl(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _flags: IoctlFlags,
        cmd: u32,
        in_data: &[u8],
        _out_size: u32,
        reply: ReplyIoctl,
    ) {
        if ino.0 != 2 {
            return reply.error(Errno::ENOTTY);
        }
        let int_in = || in_data.get(..4).map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
        let mut st = self.st.lock().unwrap();
        let out = |v: i32| v.to_ne_bytes();
        match cmd {
            req::GETSUPPORT => {
                let mut opts = 0u32;
                if self.f.settimeout {
                    opts |= 0x80;
                }
                if self.f.magic_close {
                    opts |= 0x100;
                }
                opts |= 0x200;
                if self.f.keepalive_ioctl {
                    opts |= 0x8000;
                }
                let mut info = [0u8; 40];
                info[0..4].copy_from_slice(&opts.to_ne_bytes());
                info[4..8].copy_from_slice(&1u32.to_ne_bytes());
                let id = b"hb-hwtest fuse watchdog";
                info[8..8 + id.len()].copy_from_slice(id);
                reply.ioctl(0, &info);
            }
            req::GETSTATUS | req::GETBOOTSTATUS => reply.ioctl(0, &out(0)),
            req::KEEPALIVE if self.f.keepalive_ioctl => {
                ping(&mut st);
                reply.ioctl(0, &out(0));
            }
            req::SETTIMEOUT if self.f.settimeout => match int_in() {
                Some(t) if t > 0 => {
                    st.timeout_s = t as u32;
                    ping(&mut st);
                    reply.ioctl(0, &out(t));
                }
                _ => reply.error(Errno::EINVAL),
            },
            req::GETTIMEOUT => reply.ioctl(0, &out(st.timeout_s as i32)),
            req::SETPRETIMEOUT => match int_in() {
                Some(t) if t >= 0 && (t as u32) < st.timeout_s => {
                    st.pretimeout_s = t as u32;
                    reply.ioctl(0, &out(t));
                }
                _ => reply.error(Errno::EINVAL),
            },
            req::GETPRETIMEOUT => reply.ioctl(0, &out(st.pretimeout_s as i32)),
            req::GETTIMELEFT => {
                let elapsed = crate::sys::monotonic_ns().saturating_sub(st.last_ping) / 1_000_000_000;
                reply.ioctl(0, &out(u64::from(st.timeout_s).saturating_sub(elapsed) as i32));
            }
            // SETOPTIONS's argument cannot cross FUSE (see the module docs); KEEPALIVE and
            // SETTIMEOUT when switched off; anything else: not a watchdog request.
            req::SETOPTIONS | req::KEEPALIVE | req::SETTIMEOUT => reply.error(Errno::ENOTTY),
            _ => reply.error(Errno::ENOTTY),
        }
    }
}

/// A mounted emulator; unmounted (and its monitor stopped) on drop.
pub struct WatchdogEmulator {
    st: Arc<Mutex<WdState>>,
    stop: Arc<AtomicBool>,
    monitor: Option<std::thread::JoinHandle<()>>,
    session: Option<fuser::BackgroundSession>,
    dir: crate::TempDir,
}

impl WatchdogEmulator {
    /// Mounts a fresh emulator (root: FUSE mounts need it here) with the given features.
    pub fn start(f: Features) -> std::io::Result<WatchdogEmulator> {
        let dir = crate::TempDir::new("hb-wd");
        let st = Arc::new(Mutex::new(WdState { timeout_s: f.timeout_s, ..Default::default() }));
        let fs = WdFs { f, st: st.clone() };
        let cfg = fuser::Config::default();
        let session = fuser::spawn_mount(fs, &dir.path, &cfg)?;
        let stop = Arc::new(AtomicBool::new(false));
        let (st2, stop2) = (st.clone(), stop.clone());
        let monitor = std::thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                {
                    let mut s = st2.lock().unwrap();
                    let now = crate::sys::monotonic_ns();
                    if s.armed && s.expired_at.is_none() && now.saturating_sub(s.last_ping) > u64::from(s.timeout_s) * 1_000_000_000 {
                        s.expired_at = Some(s.last_ping + u64::from(s.timeout_s) * 1_000_000_000);
                    }
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        Ok(WatchdogEmulator { st, stop, monitor: Some(monitor), session: Some(session), dir })
    }

    /// The device path to give a client.
    pub fn path(&self) -> PathBuf {
        self.dir.path.join("watchdog")
    }

    /// A copy of the state.
    pub fn state(&self) -> WdState {
        self.st.lock().unwrap().clone()
    }
}

impl Drop for WatchdogEmulator {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(m) = self.monitor.take() {
            let _ = m.join();
        }
        if let Some(s) = self.session.take() {
            let _ = s.umount_and_join();
        }
    }
}
