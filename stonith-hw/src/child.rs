//! Running another program under a deadline, for the only drivers allowed to fork
//! ([`crate::Info::forks`]): standard input written, standard output and error read (each
//! bounded), the child killed and reaped when the deadline passes.

use crate::{Code, StonithError};
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Bytes kept of a child's standard output and of its standard error.
const MAX_OUTPUT: u64 = 64 * 1024;

/// What a child did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    /// Its exit status (`None`: killed by a signal).
    pub status: Option<i32>,
    /// Its standard output (at most 64 KiB).
    pub stdout: String,
    /// Its standard error (at most 64 KiB).
    pub stderr: String,
}

/// Runs `cmd` with `input` on its standard input, until it exits or `deadline` passes (then it
/// is killed: `S_TIMEOUT`).
pub fn run(mut cmd: Command, input: &str, deadline: Instant) -> Result<Finished, StonithError> {
    let what = format!("{:?}", cmd.get_program());
    crate::sys::unblock_signals_on_exec(&mut cmd);
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| StonithError::new(Code::BadConfig, format!("cannot run {what}: {e}")))?;
    if let Some(mut i) = child.stdin.take() {
        // A child that exits without reading its input is not an error here.
        let _ = i.write_all(input.as_bytes());
    }
    let (out, err) = (child.stdout.take(), child.stderr.take());
    let readers = [out.map(|o| reader(Box::new(o))), err.map(|e| reader(Box::new(e)))];
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(StonithError::new(Code::Timeout, format!("{what} did not finish before the deadline; killed")));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(StonithError::new(Code::Oops, format!("waiting for {what}: {e}"))),
        }
    };
    let [stdout, stderr] = readers.map(|r| r.and_then(|h| h.join().ok()).unwrap_or_default());
    Ok(Finished { status: status.code(), stdout, stderr })
}

/// Reads a pipe to its end on a thread, keeping the first [`MAX_OUTPUT`] bytes.
fn reader(pipe: Box<dyn Read + Send>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        let mut p = pipe;
        let _ = (&mut p).take(MAX_OUTPUT).read_to_end(&mut kept);
        // Drain the rest so the child never blocks on a full pipe.
        let _ = std::io::copy(&mut p, &mut std::io::sink());
        String::from_utf8_lossy(&kept).into_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// hbd blocks SIGTERM in every thread; the agents it runs start with nothing blocked.
    #[test]
    fn agents_start_with_no_signal_blocked() {
        use nix::sys::signal::{SigSet, Signal};
        let mut set = SigSet::empty();
        set.add(Signal::SIGTERM);
        set.thread_block().unwrap();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "grep SigBlk /proc/self/status"]);
        let out = run(cmd, "", Instant::now() + Duration::from_secs(10)).unwrap();
        assert_eq!(out.stdout.trim(), "SigBlk:\t0000000000000000", "{out:?}");
    }
}
