//! The Linux watchdog device API, and the decision to pet it.
//!
//! - [`Watchdog`]: exclusive open of `/dev/watchdog` (or any path holding the same API),
//!   `WDIOC_GETSUPPORT`, `SETTIMEOUT`/`GETTIMEOUT`, `SETPRETIMEOUT`, `GETTIMELEFT`,
//!   `KEEPALIVE` (falling back to a one-byte write where the driver lacks it), `SETOPTIONS`
//!   enable/disable, and magic close (`'V'`) — only in [`Watchdog::disarm`], for a clean stop.
//!   Dropping a `Watchdog` closes it *without* the magic character: the timer stays armed, as
//!   after a crash. Every error names the device.
//! - [`decision`]: whether to pet now, a pure function of a health snapshot and a policy.
//!
//! hbd pets from its RT loop; the device's own timeout then resets the node when hbd hangs,
//! crashes, is SIGSTOPped, or decides it must not run (a watchdog-only self-fence, as sbd does
//! without a shared disk). Unsafe code lives in `sys` only.

pub mod decision;
mod sys;

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// `WDIOF_SETTIMEOUT`: the timeout can be set.
pub const WDIOF_SETTIMEOUT: u32 = 0x80;
/// `WDIOF_MAGICCLOSE`: a `'V'` before close disarms.
pub const WDIOF_MAGICCLOSE: u32 = 0x100;
/// `WDIOF_PRETIMEOUT`: a pretimeout can be set.
pub const WDIOF_PRETIMEOUT: u32 = 0x200;
/// `WDIOF_KEEPALIVEPING`: `WDIOC_KEEPALIVE` is supported.
pub const WDIOF_KEEPALIVEPING: u32 = 0x8000;
/// `WDIOS_DISABLECARD`.
pub const WDIOS_DISABLECARD: i32 = 1;
/// `WDIOS_ENABLECARD`.
pub const WDIOS_ENABLECARD: i32 = 2;

/// A watchdog operation failed; every variant names the device.
#[derive(Debug, thiserror::Error)]
pub enum WatchdogError {
    /// Another process has the device open (the API allows one opener).
    #[error("watchdog {path} is already open by another process (only one opener is allowed)")]
    Busy {
        /// The device.
        path: PathBuf,
    },
    /// `open(2)` failed.
    #[error("cannot open watchdog {path}")]
    Open {
        /// The device.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Not a character device, outside test mode.
    #[error("{path} is not a character device (a watchdog driver's node is one)")]
    NotCharDevice {
        /// The path.
        path: PathBuf,
    },
    /// An ioctl failed.
    #[error("watchdog {path}: {op} failed")]
    Ioctl {
        /// The device.
        path: PathBuf,
        /// Which request.
        op: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A pet (keepalive ioctl or write) failed.
    #[error("watchdog {path}: pet failed")]
    Pet {
        /// The device.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Disarming (magic close) failed.
    #[error("watchdog {path}: disarm (magic close) failed")]
    Disarm {
        /// The device.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

/// What `WDIOC_GETSUPPORT` reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Support {
    /// `WDIOF_*` bits.
    pub options: u32,
    /// Firmware version.
    pub firmware_version: u32,
    /// The driver's identity string.
    pub identity: String,
}

/// How pets are delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PetMethod {
    /// `WDIOC_KEEPALIVE`.
    Ioctl,
    /// A one-byte write (drivers without `WDIOF_KEEPALIVEPING`).
    Write,
}

/// How to open a watchdog.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// Timeout to set, in seconds (`None`: keep the driver's).
    pub timeout: Option<u32>,
    /// Pretimeout to set, in seconds.
    pub pretimeout: Option<u32>,
    /// Accept a path that is not a character device (test mode: a FUSE emulator).
    pub allow_non_chardev: bool,
}

/// An open, armed watchdog.
#[derive(Debug)]
pub struct Watchdog {
    file: File,
    path: PathBuf,
    support: Option<Support>,
    method: PetMethod,
    timeout: Option<u32>,
    notes: Vec<String>,
}

fn not_supported(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOTTY) | Some(libc::EINVAL) | Some(libc::EOPNOTSUPP))
}

impl Watchdog {
    /// Opens (and thereby arms) the watchdog at `path`, sets the timeouts asked for where the
    /// driver allows, and picks the pet method.
    pub fn open(path: &Path, o: &OpenOptions) -> Result<Watchdog, WatchdogError> {
        use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
        let p = path.to_path_buf();
        let file = std::fs::OpenOptions::new().write(true).custom_flags(libc::O_CLOEXEC).open(path).map_err(|source| {
            if source.raw_os_error() == Some(libc::EBUSY) {
                WatchdogError::Busy { path: p.clone() }
            } else {
                WatchdogError::Open { path: p.clone(), source }
            }
        })?;
        let meta = file.metadata().map_err(|source| WatchdogError::Open { path: p.clone(), source })?;
        if !meta.file_type().is_char_device() && !o.allow_non_chardev {
            return Err(WatchdogError::NotCharDevice { path: p });
        }
        let fd = file.as_raw_fd();
        let mut notes = Vec::new();
        let support = match sys::get_support(fd) {
            Ok(i) => {
                let end = i.identity.iter().position(|&b| b == 0).unwrap_or(i.identity.len());
                Some(Support {
                    options: i.options,
                    firmware_version: i.firmware_version,
                    identity: String::from_utf8_lossy(&i.identity[..end]).into_owned(),
                })
            }
            Err(e) if not_supported(&e) => {
                notes.push(format!("watchdog {}: WDIOC_GETSUPPORT not supported; assuming the basic API", p.display()));
                None
            }
            Err(source) => return Err(WatchdogError::Ioctl { path: p, op: "WDIOC_GETSUPPORT", source }),
        };
        let opts = support.as_ref().map_or(0, |s| s.options);
        let method = if support.is_none() || opts & WDIOF_KEEPALIVEPING != 0 { PetMethod::Ioctl } else { PetMethod::Write };
        let mut timeout = None;
        if let Some(t) = o.timeout {
            match sys::ioctl_int(fd, sys::SETTIMEOUT, t as i32) {
                Ok(actual) => {
                    timeout = Some(actual as u32);
                    if actual as u32 != t {
                        notes.push(format!("watchdog {}: asked for a {t} s timeout, the driver set {actual} s", p.display()));
                    }
                }
                Err(e) if not_supported(&e) => {
                    notes.push(format!("watchdog {}: the timeout cannot be set (no WDIOC_SETTIMEOUT); using the driver's", p.display()))
                }
                Err(source) => return Err(WatchdogError::Ioctl { path: p, op: "WDIOC_SETTIMEOUT", source }),
            }
        }
        if timeout.is_none() {
            timeout = sys::ioctl_int(fd, sys::GETTIMEOUT, 0).ok().map(|v| v as u32);
        }
        if let Some(pt) = o.pretimeout {
            match sys::ioctl_int(fd, sys::SETPRETIMEOUT, pt as i32) {
                Ok(_) => {}
                Err(e) if not_supported(&e) => {
                    notes.push(format!("watchdog {}: no pretimeout support; ignoring the pretimeout", p.display()))
                }
                Err(source) => return Err(WatchdogError::Ioctl { path: p, op: "WDIOC_SETPRETIMEOUT", source }),
            }
        }
        // Some drivers need an explicit enable; most are enabled by open and answer ENOTTY.
        if let Err(e) = sys::ioctl_int(fd, sys::SETOPTIONS, WDIOS_ENABLECARD) {
            if !not_supported(&e) {
                return Err(WatchdogError::Ioctl { path: p, op: "WDIOC_SETOPTIONS(ENABLECARD)", source: e });
            }
        }
        Ok(Watchdog { file, path: p, support, method, timeout, notes })
    }

    /// Pets the watchdog. If `WDIOC_KEEPALIVE` turns out unsupported, switches to writes.
    pub fn pet(&mut self) -> Result<(), WatchdogError> {
        self.pet_raw().map_err(|source| WatchdogError::Pet { path: self.path.clone(), source })
    }

    /// [`Self::pet`] for the RT loop: one syscall, no allocation even on failure.
    pub fn pet_raw(&mut self) -> io::Result<()> {
        if self.method == PetMethod::Ioctl {
            match sys::ioctl_int(self.file.as_raw_fd(), sys::KEEPALIVE, 0) {
                Ok(_) => return Ok(()),
                Err(e) if not_supported(&e) => self.method = PetMethod::Write,
                Err(e) => return Err(e),
            }
        }
        // Any byte but 'V' pets without arming magic close.
        self.file.write_all(&[0])
    }

    /// Seconds left before the reset, where the driver says (`WDIOC_GETTIMELEFT`).
    pub fn time_left(&self) -> Result<Option<u32>, WatchdogError> {
        match sys::ioctl_int(self.file.as_raw_fd(), sys::GETTIMELEFT, 0) {
            Ok(v) => Ok(Some(v as u32)),
            Err(e) if not_supported(&e) => Ok(None),
            Err(source) => Err(WatchdogError::Ioctl { path: self.path.clone(), op: "WDIOC_GETTIMELEFT", source }),
        }
    }

    /// `WDIOC_GETSTATUS` and `WDIOC_GETBOOTSTATUS`, where supported.
    pub fn status(&self) -> (Option<i32>, Option<i32>) {
        let fd = self.file.as_raw_fd();
        (sys::ioctl_int(fd, sys::GETSTATUS, 0).ok(), sys::ioctl_int(fd, sys::GETBOOTSTATUS, 0).ok())
    }

    /// The pretimeout in force, where supported.
    pub fn pretimeout(&self) -> Option<u32> {
        sys::ioctl_int(self.file.as_raw_fd(), sys::GETPRETIMEOUT, 0).ok().map(|v| v as u32)
    }

    /// Disarms for a clean stop: `SETOPTIONS(DISABLECARD)` where supported, then the magic
    /// `'V'`, then close. Returns whether the driver promises magic close (`WDIOF_MAGICCLOSE`);
    /// without it, closing may leave the timer running.
    pub fn disarm(mut self) -> Result<bool, WatchdogError> {
        let fd = self.file.as_raw_fd();
        if let Err(e) = sys::ioctl_int(fd, sys::SETOPTIONS, WDIOS_DISABLECARD) {
            if !not_supported(&e) {
                return Err(WatchdogError::Ioctl { path: self.path.clone(), op: "WDIOC_SETOPTIONS(DISABLECARD)", source: e });
            }
        }
        self.file.write_all(b"V").map_err(|source| WatchdogError::Disarm { path: self.path.clone(), source })?;
        Ok(self.support.as_ref().is_none_or(|s| s.options & WDIOF_MAGICCLOSE != 0))
    }

    /// The device path.
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// What the driver supports, if it said.
    pub fn support(&self) -> Option<&Support> {
        self.support.as_ref()
    }
    /// How pets are delivered.
    pub fn method(&self) -> PetMethod {
        self.method
    }
    /// The timeout in force, seconds, if known.
    pub fn timeout(&self) -> Option<u32> {
        self.timeout
    }
    /// Things that worked only partly during open (for the log).
    pub fn notes(&self) -> &[String] {
        &self.notes
    }
}
