//! Creating the status page and publishing into it (hbd's side).
//!
//! The page must live in memory: see [`StatusWriter::create`]. Nothing planted in a shared
//! directory is ever opened: the page is created `O_EXCL|O_NOFOLLOW`.

use super::*;
use crate::engine::Engine;
use crate::sys::shm::PageMut;
use crate::time::Nanos;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{fence, Ordering::*};

/// hbd's side: creates, maps and publishes.
pub struct StatusWriter {
    map: PageMut,
    _file: File,
}

/// Where a page goes when the run directory is on a disk filesystem.
const SHM_DIR: &str = "/dev/shm";

impl StatusWriter {
    /// Creates `<run_dir>/status` and writes the fixed parts (names, timing).
    ///
    /// The RT thread stores into this page every iteration, so it must live in memory: on a
    /// disk filesystem, writeback write-protects the page again and the next store faults into
    /// the filesystem, which may wait for its journal. When `run_dir` is not on tmpfs/ramfs,
    /// the page is created in `/dev/shm` and `<run_dir>/status` is a symlink to it (readers
    /// follow it unchanged). Returns the writer and, if the page could only go on a disk, a
    /// warning for the log.
    pub fn create(
        run_dir: &Path,
        self_name: &str,
        peers: &[String],
        pings: &[String],
        links: &[String],
        timing: &crate::liveness::Timing,
        started: Nanos,
    ) -> io::Result<(StatusWriter, Option<String>)> {
        let path = run_dir.join(FILE_NAME);
        remove_stale_page(&path);
        let mut warning = None;
        let in_shm = if crate::sys::shm::is_ram_fs(run_dir)? {
            false
        } else if crate::sys::shm::is_ram_fs(Path::new(SHM_DIR)).unwrap_or(false) {
            true
        } else {
            warning = Some(format!(
                "the status page is on a disk filesystem ({}; no tmpfs at {SHM_DIR}): the real-time thread may stall on writeback; put the run directory on tmpfs",
                run_dir.display()
            ));
            false
        };
        // The run directory is ours alone (checked at start-up), so its temporary names are
        // safe to clear; /dev/shm is shared, so a page there is only ever created exclusively.
        let (file, backing) = if in_shm {
            let (file, backing, planted) = create_in_shm(run_dir)?;
            if let Some(p) = planted {
                warning = Some(p);
            }
            (file, backing)
        } else {
            let tmp = run_dir.join(".status.new");
            let _ = std::fs::remove_file(&tmp);
            (crate::files::create_exclusive(&tmp, 0o644)?, tmp)
        };
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o644))?;
        file.set_len(std::mem::size_of::<Page>() as u64)?;
        let map = PageMut::map(&file)?;
        let p = map.page();
        p.magic.store(MAGIC, Relaxed);
        p.version.store(VERSION, Relaxed);
        p.size.store(std::mem::size_of::<Page>() as u64, Relaxed);
        p.pid.store(u64::from(std::process::id()), Relaxed);
        p.started.store(started.0, Relaxed);
        p.node_count.store((peers.len() + pings.len()).min(MAX_NODES) as u64, Relaxed);
        p.link_count.store(links.len() as u64, Relaxed);
        p.keepalive.store(timing.keepalive.0, Relaxed);
        p.warntime.store(timing.warntime.0, Relaxed);
        p.deadtime.store(timing.deadtime.0, Relaxed);
        p.initdead.store(timing.initdead.0, Relaxed);
        write_name(&p.self_name, self_name);
        for (i, n) in peers.iter().enumerate() {
            write_name(&p.nodes[i].name, n);
            p.nodes[i].id.store(u64::from(crate::wire::node_id(n)), Relaxed);
        }
        for (i, n) in pings.iter().enumerate().take(MAX_NODES.saturating_sub(peers.len())) {
            let d = &p.nodes[peers.len() + i];
            write_name(&d.name, n);
            d.kind.store(1, Relaxed);
        }
        for (i, l) in links.iter().enumerate() {
            write_name(&p.links[i].name, l);
        }
        // Readers find the page only once it is complete.
        if in_shm {
            let link_tmp = run_dir.join(".status.link");
            let _ = std::fs::remove_file(&link_tmp);
            std::os::unix::fs::symlink(&backing, &link_tmp)?;
            std::fs::rename(&link_tmp, &path)?;
        } else {
            std::fs::rename(&backing, &path)?;
        }
        Ok((StatusWriter { map, _file: file }, warning))
    }

    /// Records what is weak about the keys in use (written once, before the loop starts).
    pub fn set_auth_weakness(&self, w: crate::auth::Weakness) {
        self.map.page().auth_weak.store(w.bits(), Relaxed);
    }

    /// Removes the page (and its link) on a clean stop.
    pub fn remove(run_dir: &Path) {
        let path = run_dir.join(FILE_NAME);
        remove_stale_page(&path);
        let _ = std::fs::remove_file(&path);
    }

    /// Publishes the engine's state. Allocation-free; called by the RT thread.
    pub fn publish(&self, e: &Engine, pings: Option<&crate::ping::Pinger>, now: Nanos, ls: &LoopStats) {
        let p = self.map.page();
        let s = p.seq.load(Relaxed);
        p.seq.store(s.wrapping_add(1), Relaxed);
        fence(Release);
        p.generation.store(e.generation(), Relaxed);
        p.updated.store(now.0, Relaxed);
        p.iterations.store(ls.iterations, Relaxed);
        p.backend.store(ls.backend as u64, Relaxed);
        p.rt_flags.store(ls.rt_flags, Relaxed);
        p.log_dropped.store(ls.log_dropped, Relaxed);
        p.stopping.store(u64::from(ls.stopping), Relaxed);
        p.wd_state.store(ls.wd_state as u64, Relaxed);
        p.wd_pets.store(ls.wd_pets, Relaxed);
        p.wd_last_pet.store(ls.wd_last_pet, Relaxed);
        p.wd_timeout_s.store(ls.wd_timeout_s, Relaxed);
        let (stalls, stalled, max_late) = e.stall_stats();
        p.stalls.store(stalls, Relaxed);
        p.stalled.store(stalled.0, Relaxed);
        p.max_late.store(max_late.0, Relaxed);
        p.tx_missed.store(e.tx_missed(), Relaxed);
        p.events_dropped.store(e.events_dropped(), Relaxed);
        let nl = e.link_count();
        for l in 0..nl {
            let c = e.link_counters(l);
            let d = &p.links[l];
            d.rx_ok.store(c.rx_ok, Relaxed);
            d.own.store(c.own, Relaxed);
            d.tx.store(c.tx, Relaxed);
            d.tx_err.store(c.tx_err, Relaxed);
            d.kernel_dropped.store(c.kernel_dropped, Relaxed);
            for (r, v) in d.rejects.iter().zip(c.rejects.iter()) {
                r.store(*v, Relaxed);
            }
        }
        for n in 0..e.peer_count() {
            let d = &p.nodes[n];
            d.state.store(e.node_state(n) as u64, Relaxed);
            d.generation.store(e.peer_generation(n), Relaxed);
            d.watchdog_ms.store(u64::from(e.peer_watchdog_ms(n)), Relaxed);
            let mut last = 0;
            for l in 0..nl {
                let (st, heard) = e.link_state(n, l);
                let ps = e.pair(n, l);
                let q = &p.pairs[n * MAX_LINKS + l];
                q.state.store(st as u64, Relaxed);
                let heard = if ps.rx == 0 { 0 } else { heard.0 };
                q.last_heard.store(heard, Relaxed);
                last = last.max(heard);
                q.rx.store(ps.rx, Relaxed);
                q.rtt_last.store(ps.rtt_last, Relaxed);
                q.rtt_min.store(ps.rtt_min, Relaxed);
                q.rtt_max.store(ps.rtt_max, Relaxed);
                q.rtt_sum.store(ps.rtt_sum, Relaxed);
                q.rtt_count.store(ps.rtt_count, Relaxed);
                q.rtt_p50.store(ps.rtt_p50, Relaxed);
                q.rtt_p99.store(ps.rtt_p99, Relaxed);
                q.loss_ppm.store(e.loss_ppm(n, l), Relaxed);
                q.ups.store(ps.ups, Relaxed);
                q.downs.store(ps.downs, Relaxed);
            }
            d.last_heard.store(last, Relaxed);
        }
        if let Some(pg) = pings {
            p.ping_rejected.store(pg.rejected(), Relaxed);
            for i in 0..pg.node_count().min(MAX_NODES.saturating_sub(e.peer_count())) {
                let d = &p.nodes[e.peer_count() + i];
                let replies = pg.replies(i);
                d.state.store(pg.node_state(i) as u64, Relaxed);
                d.last_heard.store(if replies == 0 { 0 } else { pg.last_heard(i).0 }, Relaxed);
                d.replies.store(replies, Relaxed);
                d.rtt_last.store(pg.rtt_last(i), Relaxed);
            }
        }
        p.seq.store(s.wrapping_add(2), Release);
    }
}

/// The name prefix of pages in `/dev/shm`.
const SHM_PREFIX: &str = "hb-status-";

/// Removes the `/dev/shm` page that `link` (our run directory's `status`) points at, if it is
/// one of ours: directly in `/dev/shm`, named as we name pages, a regular file owned by us.
/// Anything else is left alone — the link could be old, the file someone else's.
fn remove_stale_page(link: &Path) {
    let Ok(target) = std::fs::read_link(link) else { return };
    let ours = target.parent() == Some(Path::new(SHM_DIR))
        && target.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(SHM_PREFIX))
        && std::fs::symlink_metadata(&target).is_ok_and(|m| is_own_page(&m));
    if ours {
        let _ = std::fs::remove_file(&target);
    }
}

/// A regular file owned by our effective uid with one name: a page we created.
fn is_own_page(m: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    m.file_type().is_file() && m.uid() == nix::unistd::geteuid().as_raw() && m.nlink() == 1
}

/// Where the page of an hbd with run directory `run_dir` goes in `/dev/shm` when the run
/// directory is on a disk filesystem (unless something was planted there: see
/// [`StatusWriter::create`]).
pub fn shm_page_name(run_dir: &Path) -> PathBuf {
    PathBuf::from(SHM_DIR).join(format!("{SHM_PREFIX}{:08x}", crate::wire::fnv1a(&run_dir.display().to_string())))
}

/// Creates the page in `/dev/shm` under a name derived from the run directory, exclusively.
/// A stale page of ours at that name is replaced; anything else there (a symlink, a file of
/// another user: a plant) is left alone, and the page gets a random name instead — returned
/// with a warning naming what was found.
fn create_in_shm(run_dir: &Path) -> io::Result<(File, PathBuf, Option<String>)> {
    let name = shm_page_name(run_dir);
    match crate::files::create_exclusive(&name, 0o644) {
        Ok(f) => return Ok((f, name, None)),
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
        Err(_) => {}
    }
    let found = std::fs::symlink_metadata(&name)?;
    if is_own_page(&found) {
        std::fs::remove_file(&name)?;
        return crate::files::create_exclusive(&name, 0o644).map(|f| (f, name, None));
    }
    let mut r = [0u8; 8];
    getrandom::getrandom(&mut r).map_err(|e| io::Error::other(e.to_string()))?;
    let other = PathBuf::from(format!("{}-{:016x}", name.display(), u64::from_le_bytes(r)));
    let f = crate::files::create_exclusive(&other, 0o644)?;
    use std::os::unix::fs::MetadataExt;
    let warning = format!(
        "{} was already there ({} owned by uid {}), planted by someone else: left alone; the status page is {} instead",
        name.display(),
        crate::files::type_name(found.file_type()),
        found.uid(),
        other.display()
    );
    Ok((f, other, Some(warning)))
}
