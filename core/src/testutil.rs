//! Helpers for unit tests.

use std::path::Path;

/// Decompresses a `.gz` file with the system's `gzip -dc`, or `None` when it is missing.
pub fn gunzip(path: &Path) -> Option<String> {
    if !path.exists() {
        return None;
    }
    let out = std::process::Command::new("gzip").arg("-dc").arg(path).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}
