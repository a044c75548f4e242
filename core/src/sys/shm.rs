//! Mapping the status page: read-write for hbd, read-only for readers.
#![allow(unsafe_code)]

use crate::status::Page;
use memmap2::{Mmap, MmapMut};
use std::fs::File;
use std::io;

/// A shared, writable mapping of a [`Page`].
pub struct PageMut {
    map: MmapMut,
}

impl PageMut {
    /// Maps `file` (already sized to at least `size_of::<Page>()`) shared and writable.
    pub fn map(file: &File) -> io::Result<PageMut> {
        // SAFETY: the file is hbd's own status file in its run directory; other processes map it
        // read-only. Concurrent modification is only ever through the atomics of `Page`.
        let map = unsafe { MmapMut::map_mut(file)? };
        if map.len() < std::mem::size_of::<Page>() {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "status file too small"));
        }
        Ok(PageMut { map })
    }

    /// The page.
    pub fn page(&self) -> &Page {
        // SAFETY: the mapping is page-aligned (≥ Page's alignment of 8) and at least
        // size_of::<Page>() long (checked in `map`); `Page` consists only of atomics, for which
        // every bit pattern is valid and shared access is sound.
        unsafe { &*(self.map.as_ptr() as *const Page) }
    }
}

/// A shared, read-only mapping of a [`Page`].
pub struct PageRef {
    map: Mmap,
}

impl PageRef {
    /// Maps `file` read-only.
    pub fn map(file: &File) -> io::Result<PageRef> {
        // SAFETY: hbd changes the file's contents only through atomics (see PageMut) and never
        // truncates it while running; we only read.
        let map = unsafe { Mmap::map(file)? };
        if map.len() < std::mem::size_of::<Page>() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "status file is smaller than this hbctl's status page (version mismatch?)",
            ));
        }
        Ok(PageRef { map })
    }

    /// The page.
    pub fn page(&self) -> &Page {
        // SAFETY: as in PageMut::page; atomic loads on a read-only mapping never write.
        unsafe { &*(self.map.as_ptr() as *const Page) }
    }
}

/// Whether `dir` is on a memory-backed filesystem (tmpfs or ramfs), where a shared mapping's
/// stores never wait on disk writeback.
pub fn is_ram_fs(dir: &std::path::Path) -> io::Result<bool> {
    use nix::sys::statfs::{statfs, FsType, TMPFS_MAGIC};
    // linux/magic.h; nix names tmpfs's but not ramfs's.
    const RAMFS_MAGIC: FsType = FsType(0x8584_58f6_u32 as _);
    let t = statfs(dir)?.filesystem_type();
    Ok(t == TMPFS_MAGIC || t == RAMFS_MAGIC)
}
