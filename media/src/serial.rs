//! Serial ports: heartbeat's `serial /dev/ttyS0` over a null-modem cable.
//!
//! [`open_serial`] opens a port with the `serialport` crate — raw mode, 8N1, no flow control,
//! the configured baud — and makes sure no other program shares it: `TIOCEXCL` and an
//! exclusive `flock` (both from `serialport`), plus a UUCP lock file (`/run/lock/LCK..ttyS0`
//! holding our pid, as heartbeat, minicom and cu use). When the port is taken, the error says
//! by whom: the pid in a live lock file, or every process that has the device open. The fd is
//! handed back non-blocking; the core's loop reads and writes it, framing packets with
//! [`crate::frame`].

use crate::MediaError;
use std::io;
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// The baud rates hb accepts for heartbeat links (heartbeat's range).
pub const BAUD_RATES: [u32; 7] = [9600, 19200, 38400, 57600, 115200, 230400, 460800];
/// The baud rates [`open_serial`] drives: the heartbeat range and the slower rates of serial
/// power devices (an APC Smart-UPS talks at 2400).
pub const OPEN_BAUD_RATES: [u32; 10] = [1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800];
/// heartbeat's default `baud`.
pub const DEFAULT_BAUD: u32 = 19200;
/// Where UUCP-style lock files live (Debian's `/var/lock` points here).
pub const LOCK_DIR: &str = "/run/lock";

/// Everything needed to open one serial link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SerialSpec {
    /// The device, e.g. `/dev/ttyS0`.
    pub path: PathBuf,
    /// Line speed; 8N1, so 10 bits per byte.
    pub baud: u32,
}

impl SerialSpec {
    /// A short human name for logs and `hbctl links`, e.g. `serial /dev/ttyS0`.
    pub fn name(&self) -> String {
        format!("serial {}", self.path.display())
    }

    /// Time on the line for `bytes` bytes, ns (10 bits per byte: start, 8 data, stop).
    pub fn line_time_ns(&self, bytes: usize) -> u64 {
        bytes as u64 * 10 * 1_000_000_000 / u64::from(self.baud.max(1))
    }
}

/// An open serial port: a non-blocking fd in raw 8N1 mode, locked for this process.
#[derive(Debug)]
pub struct SerialPort {
    fd: OwnedFd,
    lock: Option<LockFile>,
    /// What was opened.
    pub spec: SerialSpec,
}

impl std::os::fd::AsFd for SerialPort {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl SerialPort {
    /// The fd the loop reads and writes.
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
    /// The UUCP lock file held, if the lock directory exists.
    pub fn lock_file(&self) -> Option<&Path> {
        self.lock.as_ref().map(|l| l.path.as_path())
    }
}

/// A UUCP lock file we created; removed on drop.
#[derive(Debug)]
struct LockFile {
    path: PathBuf,
}

impl Drop for LockFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The lock file name for a device: `/dev/ttyS0` → `LCK..ttyS0`, `/dev/pts/3` → `LCK..pts_3`.
pub fn lock_file_name(path: &Path) -> String {
    let s = path.to_string_lossy();
    let rel = s.strip_prefix("/dev/").unwrap_or(&s);
    format!("LCK..{}", rel.trim_start_matches('/').replace('/', "_"))
}

/// Every other process that has the device at `path` open, as `pid N (comm)`.
pub fn holders(path: &Path) -> Vec<String> {
    let Ok(want) = std::fs::metadata(path).map(|m| m.rdev()) else {
        return Vec::new();
    };
    let me = std::process::id();
    let mut out = Vec::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return out;
    };
    for p in procs.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else {
            continue;
        };
        let has = fds
            .flatten()
            .any(|fd| std::fs::metadata(fd.path()).map(|m| m.file_type().is_char_device() && m.rdev() == want).unwrap_or(false));
        if has {
            out.push(format!("pid {pid} ({})", comm(pid)));
        }
    }
    out
}

fn comm(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).map(|s| s.trim().to_string()).unwrap_or_else(|_| "?".into())
}

fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Takes the UUCP lock in `dir` for `path`: refuses when a live process holds it, replaces a
/// stale one. `Ok(None)` when `dir` does not exist (a minimal image without `/run/lock`).
fn take_lock(dir: &Path, path: &Path) -> Result<Option<LockFile>, MediaError> {
    if !dir.is_dir() {
        return Ok(None);
    }
    let file = dir.join(lock_file_name(path));
    let busy = |by: String| MediaError::PortBusy { path: path.to_path_buf(), by };
    for _ in 0..2 {
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&file) {
            Ok(mut f) => {
                use std::io::Write;
                // The UUCP/heartbeat format: the pid, right-aligned in ten characters.
                let _ = writeln!(f, "{:>10}", std::process::id());
                return Ok(Some(LockFile { path: file }));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let text = std::fs::read_to_string(&file).unwrap_or_default();
                match text.trim().parse::<u32>() {
                    Ok(pid) if pid == std::process::id() => {
                        return Err(busy(format!("this process (lock file {})", file.display())));
                    }
                    Ok(pid) if pid_alive(pid) => {
                        return Err(busy(format!("pid {pid} ({}), lock file {}", comm(pid), file.display())));
                    }
                    // A stale lock (its process is gone) or garbage: take it over.
                    _ => {
                        let _ = std::fs::remove_file(&file);
                    }
                }
            }
            Err(source) => return Err(MediaError::Serial { path: path.to_path_buf(), what: "creating its lock file", source }),
        }
    }
    Err(busy(format!("a process that keeps recreating {}", file.display())))
}

/// Opens and configures the port `spec` names. See the module docs.
pub fn open_serial(spec: &SerialSpec) -> Result<SerialPort, MediaError> {
    let path = &spec.path;
    if !OPEN_BAUD_RATES.contains(&spec.baud) {
        return Err(MediaError::BadBaud { baud: spec.baud });
    }
    match std::fs::metadata(path) {
        Ok(m) if m.file_type().is_char_device() => {}
        Ok(_) => {
            return Err(MediaError::Serial { path: path.clone(), what: "opening it", source: io::Error::other("not a character device") })
        }
        Err(source) => return Err(MediaError::Serial { path: path.clone(), what: "opening it", source }),
    }
    let lock = take_lock(Path::new(LOCK_DIR), path)?;
    let port = serialport::new(path.to_string_lossy(), spec.baud)
        .data_bits(serialport::DataBits::Eight)
        .parity(serialport::Parity::None)
        .stop_bits(serialport::StopBits::One)
        .flow_control(serialport::FlowControl::None)
        .dtr_on_open(true)
        .open_native();
    let port = match port {
        Ok(p) => p,
        Err(e) if e.kind() == serialport::ErrorKind::NoDevice => {
            let who = holders(path);
            let by = if who.is_empty() { format!("another program ({})", e.description) } else { who.join(", ") };
            return Err(MediaError::PortBusy { path: path.clone(), by });
        }
        Err(e) => {
            let source = match e.kind() {
                serialport::ErrorKind::Io(k) => io::Error::new(k, e.description),
                _ => io::Error::other(e.description),
            };
            return Err(MediaError::Serial { path: path.clone(), what: "configuring it (raw 8N1)", source });
        }
    };
    // serialport gives the fd up; from here `OwnedFd` closes it.
    let fd: OwnedFd = crate::sys::owned(port.into_raw_fd());
    let err = |what, source| MediaError::Serial { path: path.clone(), what, source };
    crate::sys::set_nonblocking(fd.as_raw_fd()).map_err(|e| err("making it non-blocking", e))?;
    // Whatever sat in the input buffer predates us (and the settings).
    crate::sys::flush_input(fd.as_raw_fd()).map_err(|e| err("flushing its input", e))?;
    Ok(SerialPort { fd, lock, spec: spec.clone() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_file_names_follow_uucp() {
        assert_eq!(lock_file_name(Path::new("/dev/ttyS0")), "LCK..ttyS0");
        assert_eq!(lock_file_name(Path::new("/dev/pts/3")), "LCK..pts_3");
        assert_eq!(lock_file_name(Path::new("/tmp/x/ttyA")), "LCK..tmp_x_ttyA");
    }

    #[test]
    fn line_time_counts_ten_bits_a_byte() {
        let s = SerialSpec { path: "/dev/ttyS0".into(), baud: 115200 };
        assert_eq!(s.line_time_ns(106), 9_201_388);
        assert_eq!(s.name(), "serial /dev/ttyS0");
    }

    #[test]
    fn a_missing_port_and_a_bad_baud_are_named() {
        let s = SerialSpec { path: "/dev/hb-no-such-tty".into(), baud: 115200 };
        let e = open_serial(&s).unwrap_err();
        assert!(e.to_string().contains("/dev/hb-no-such-tty"), "{e}");
        let s = SerialSpec { path: "/dev/null".into(), baud: 12345 };
        assert_eq!(
            open_serial(&s).unwrap_err().to_string(),
            "baud 12345 is not one of 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800"
        );
    }

    #[test]
    fn a_live_lock_file_names_its_owner_and_a_stale_one_is_taken_over() {
        let dir = std::env::temp_dir().join(format!("hb-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let dev = Path::new("/dev/ttyHBTEST");
        let file = dir.join(lock_file_name(dev));
        // pid 1 is always alive.
        std::fs::write(&file, "         1\n").unwrap();
        let e = take_lock(&dir, dev).unwrap_err().to_string();
        assert!(e.contains("pid 1 ("), "{e}");
        // A pid that cannot exist.
        std::fs::write(&file, "  99999999\n").unwrap();
        let l = take_lock(&dir, dev).unwrap().unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), std::process::id().to_string());
        drop(l);
        assert!(!file.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
