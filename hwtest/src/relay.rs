//! An LCUS-style USB relay board on a pseudo-terminal: the driver under test opens
//! [`LcusBoard::path`] as it would `/dev/ttyUSB0`; the board decodes `A0 ch state sum` frames
//! as the real one does (a frame with a wrong sum or start byte is ignored, and the board
//! resynchronises on the next `A0`), records every relay change with its time, and counts
//! the garbage. It never answers, like the hardware.

use crate::TempDir;
use std::collections::VecDeque;
use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// What the board has seen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RelayLog {
    /// Every valid command: (CLOCK_MONOTONIC ns, channel, energised).
    pub commands: Vec<(u64, u8, bool)>,
    /// Bytes that were not part of a valid frame.
    pub garbage: u64,
}

impl RelayLog {
    /// The state of relay `channel` after every command (false: never set).
    pub fn state(&self, channel: u8) -> bool {
        self.commands.iter().rev().find(|c| c.1 == channel).is_some_and(|c| c.2)
    }
}

/// A running emulated board; stops on drop.
pub struct LcusBoard {
    dir: TempDir,
    log: Arc<Mutex<RelayLog>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LcusBoard {
    /// Plugs a board in: a pty whose slave is at [`Self::path`].
    pub fn start() -> std::io::Result<LcusBoard> {
        let dir = TempDir::new("hb-lcus");
        let (mut master, slave, pts) = crate::sys::open_pty()?;
        std::os::unix::fs::symlink(&pts, dir.path.join("ttyUSB0"))?;
        let log = Arc::new(Mutex::new(RelayLog::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (l, s) = (log.clone(), stop.clone());
        let thread = std::thread::Builder::new().name("lcus-board".into()).spawn(move || {
            let _keep = slave;
            let mut pending: VecDeque<u8> = VecDeque::new();
            let mut buf = [0u8; 256];
            while !s.load(Ordering::Relaxed) {
                use std::os::fd::AsFd;
                if !crate::sys::poll_readable(&[master.as_fd()], 50)[0] {
                    continue;
                }
                let n = match master.read(&mut buf) {
                    Ok(n) => n,
                    Err(_) => {
                        std::thread::sleep(std::time::Duration::from_millis(5));
                        continue;
                    }
                };
                pending.extend(&buf[..n]);
                decode(&mut pending, &mut l.lock().unwrap());
            }
        })?;
        Ok(LcusBoard { dir, log, stop, thread: Some(thread) })
    }

    /// The tty the driver opens.
    pub fn path(&self) -> PathBuf {
        self.dir.path.join("ttyUSB0")
    }

    /// What the board has seen so far.
    pub fn log(&self) -> RelayLog {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for LcusBoard {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Takes every whole frame off the front of `pending`, skipping garbage byte by byte.
fn decode(pending: &mut VecDeque<u8>, log: &mut RelayLog) {
    while pending.len() >= 4 {
        let f = [pending[0], pending[1], pending[2], pending[3]];
        let sum_ok = f[3] == f[0].wrapping_add(f[1]).wrapping_add(f[2]);
        if f[0] == 0xA0 && f[2] <= 1 && sum_ok {
            log.commands.push((crate::sys::monotonic_ns(), f[1], f[2] == 1));
            pending.drain(..4);
        } else {
            pending.pop_front();
            log.garbage += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_decode_and_garbage_is_skipped() {
        let mut log = RelayLog::default();
        let mut q: VecDeque<u8> = [0x00, 0xA0, 0x02, 0x01, 0xA3, 0xA0, 0x01, 0x00, 0xFF, 0xA0, 0x01, 0x00, 0xA1].into_iter().collect();
        decode(&mut q, &mut log);
        let got: Vec<(u8, bool)> = log.commands.iter().map(|c| (c.1, c.2)).collect();
        assert_eq!(got, vec![(2, true), (1, false)]);
        assert_eq!(log.garbage, 5);
        assert!(log.state(2) && !log.state(1) && !log.state(3));
    }
}
