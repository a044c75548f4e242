//! Opening the files hbd reads and writes as if another local user had prepared a trap.
//!
//! - [`read_config`]: `ha.cf` and `authkeys` are opened non-blocking (a FIFO planted in their
//!   place cannot hang start-up or `--check-config`), checked on the open descriptor (no
//!   race between the check and the read): a regular file, of bounded size, and for secrets
//!   owned by hbd's user or root and unreadable by others.
//! - [`open_append`]: log files are opened with `O_NOFOLLOW` (a symlink planted at the path
//!   cannot redirect hbd's writes into another file) and must be regular files owned by
//!   hbd's user or root.
//! - [`create_exclusive`]: a new file that must not exist yet (`O_CREAT|O_EXCL|O_NOFOLLOW`),
//!   so nothing planted at its name is ever opened.

use nix::unistd::geteuid;
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

/// Largest configuration file read (heartbeat's own files are a few kilobytes).
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Why a file was refused (the OS error aside).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FileRefused {
    /// Not a regular file (a FIFO, a device, a directory, a socket).
    #[error("not a regular file (it is {0})")]
    NotRegular(&'static str),
    /// Owned by a user other than hbd's own or root.
    #[error("owned by uid {owner}, not by root or hbd's user (uid {euid}): that user could change it")]
    Owner {
        /// The file's owner.
        owner: u32,
        /// hbd's effective uid.
        euid: u32,
    },
    /// Readable or writable by group or others, for a secret.
    #[error("mode {0:04o} lets others read the keys; it must be 0600 (chmod 600)")]
    Mode(u32),
    /// Writable by group or others, for a file hbd trusts.
    #[error("mode {0:04o} lets other users change it; remove group and other write permission (chmod go-w)")]
    Writable(u32),
    /// Too large to be a configuration file.
    #[error("{0} bytes is too large for a configuration file (at most {MAX_CONFIG_BYTES})")]
    TooLarge(u64),
}

impl From<FileRefused> for io::Error {
    fn from(e: FileRefused) -> io::Error {
        io::Error::new(io::ErrorKind::PermissionDenied, e)
    }
}

/// A file type's name for messages.
pub fn type_name(ft: std::fs::FileType) -> &'static str {
    if ft.is_fifo() {
        "a FIFO"
    } else if ft.is_dir() {
        "a directory"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_symlink() {
        "a symbolic link"
    } else {
        "a regular file"
    }
}

/// Checks that `meta` is a regular file owned by root or by us.
pub fn check_owned_regular(meta: &std::fs::Metadata) -> Result<(), FileRefused> {
    if !meta.file_type().is_file() {
        return Err(FileRefused::NotRegular(type_name(meta.file_type())));
    }
    let euid = geteuid().as_raw();
    if meta.uid() != 0 && meta.uid() != euid {
        return Err(FileRefused::Owner { owner: meta.uid(), euid });
    }
    Ok(())
}

/// Reads a configuration file safely. `secret`: it holds keys (owner root or us, mode 0600
/// or stricter). Symlinks are followed: `/etc/ha.d` belongs to root, and heartbeat users
/// link their files from elsewhere.
pub fn read_config(path: &Path, secret: bool) -> io::Result<String> {
    let mut f = OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY).open(path)?;
    let meta = f.metadata()?;
    if !meta.file_type().is_file() {
        return Err(FileRefused::NotRegular(type_name(meta.file_type())).into());
    }
    if secret {
        check_owned_regular(&meta)?;
        let mode = meta.mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(FileRefused::Mode(mode).into());
        }
    }
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(FileRefused::TooLarge(meta.len()).into());
    }
    let mut text = String::new();
    f.by_ref().take(MAX_CONFIG_BYTES).read_to_string(&mut text)?;
    Ok(text)
}

/// Opens (creating with mode 0640) a log file for appending, without following a symlink at
/// its last component; an existing file must be a regular file owned by root or us.
pub fn open_append(path: &Path) -> io::Result<File> {
    let f = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| {
            if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
                io::Error::new(io::ErrorKind::PermissionDenied, "it is a symbolic link, which hbd does not follow for files it writes")
            } else {
                e
            }
        })?;
    check_owned_regular(&f.metadata()?)?;
    Ok(f)
}

/// Creates `dir` (and its parents, mode 0755) if missing; then checks it is a directory owned
/// by root or us that no other user can write to. Run and state directories hold the IPC
/// socket, the status page's link and the persisted generation: a directory others can write
/// to would let them replace any of those.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new().recursive(true).mode(0o755).create(dir)?;
    let meta = std::fs::metadata(dir)?;
    if !meta.is_dir() {
        return Err(FileRefused::NotRegular(type_name(meta.file_type())).into());
    }
    let euid = geteuid().as_raw();
    if meta.uid() != 0 && meta.uid() != euid {
        return Err(FileRefused::Owner { owner: meta.uid(), euid }.into());
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(FileRefused::Writable(mode).into());
    }
    Ok(())
}

/// Replaces `dir/name` with `contents` durably: written to a new temporary file in `dir`
/// (created exclusively), synced, renamed over the old one, and the directory synced, so that
/// after a crash the file holds either the old contents or the new, never a mix.
pub fn replace_durably(dir: &Path, name: &str, contents: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let tmp = dir.join(format!(".{name}.new"));
    let _ = std::fs::remove_file(&tmp);
    let mut f = create_exclusive(&tmp, 0o644)?;
    f.write_all(contents)?;
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join(name))?;
    File::open(dir)?.sync_all()
}

/// Creates `path` with `mode`; fails if anything exists there (a file, a symlink, a FIFO).
pub fn create_exclusive(path: &Path, mode: u32) -> io::Result<File> {
    OpenOptions::new().read(true).write(true).create_new(true).mode(mode).custom_flags(libc::O_NOFOLLOW | libc::O_NOCTTY).open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("hb-files-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let d = dir("fifo");
        let p = d.join("authkeys");
        nix::unistd::mkfifo(&p, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let e = read_config(&p, true).unwrap_err();
        assert!(e.to_string().contains("not a regular file (it is a FIFO)"), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn secrets_need_mode_0600() {
        use std::os::unix::fs::PermissionsExt;
        let d = dir("mode");
        let p = d.join("authkeys");
        std::fs::write(&p, "auth 1\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert!(read_config(&p, true).unwrap_err().to_string().contains("mode 0640"));
        assert!(read_config(&p, false).is_ok());
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_config(&p, true).unwrap(), "auth 1\n");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn logs_do_not_follow_symlinks_and_exclusive_creation_refuses_plants() {
        let d = dir("log");
        let victim = d.join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let link = d.join("hb.log");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        let e = open_append(&link).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert!(create_exclusive(&link, 0o644).is_err());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        let f = open_append(&d.join("real.log")).unwrap();
        drop(f);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
