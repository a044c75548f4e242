//! Helpers for unit tests.

use crate::liveness::Timing;
use crate::time::Nanos;
use std::path::Path;

/// The timing the liveness and ping unit tests share: keepalive 10 ms, warntime 30 ms,
/// deadtime 50 ms, initdead 200 ms, stall threshold 5 ms.
pub fn timing() -> Timing {
    Timing {
        keepalive: Nanos::from_millis(10),
        warntime: Nanos::from_millis(30),
        deadtime: Nanos::from_millis(50),
        initdead: Nanos::from_millis(200),
        stall_threshold: Nanos::from_millis(5),
    }
}

/// Decompresses a `.gz` file with the system's `gzip -dc`, or `None` when it is missing.
pub fn gunzip(path: &Path) -> Option<String> {
    if !path.exists() {
        return None;
    }
    let out = std::process::Command::new("gzip").arg("-dc").arg(path).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}
