//! What every report records about the run, and where its files go.

use std::path::{Path, PathBuf};

/// The environment of a run.
#[derive(Debug, Clone)]
pub struct Env {
    /// hb's version.
    pub version: &'static str,
    /// `uname -r`.
    pub kernel: String,
    /// CPUs available.
    pub cpus: usize,
    /// Whether this process may use SCHED_FIFO and mlockall (root or limits).
    pub realtime_allowed: bool,
    /// UTC time of the run.
    pub date: String,
}

impl Env {
    /// Reads it.
    pub fn read() -> Env {
        let limits = hb_realtime::check_limits();
        Env {
            version: env!("CARGO_PKG_VERSION"),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease").map(|s| s.trim().to_string()).unwrap_or_default(),
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            realtime_allowed: limits.may_use_fifo(50) && limits.may_lock(64 << 20),
            date: hb_core::logging::utc_now(),
        }
    }

    /// One line for the terminal.
    pub fn line(&self) -> String {
        format!(
            "hb {} on Linux {}, {} CPUs, real-time {}, {}",
            self.version,
            self.kernel,
            self.cpus,
            if self.realtime_allowed { "allowed" } else { "NOT allowed" },
            self.date
        )
    }

    /// As a JSON object.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "hb": self.version,
            "kernel": self.kernel,
            "cpus": self.cpus,
            "realtime_allowed": self.realtime_allowed,
            "date": self.date,
        })
    }
}

/// Where results are written.
#[derive(Debug, Clone)]
pub struct Out {
    /// The directory.
    pub dir: PathBuf,
}

impl Out {
    /// Creates the directory.
    pub fn new(dir: &Path) -> std::io::Result<Out> {
        std::fs::create_dir_all(dir)?;
        Ok(Out { dir: dir.to_path_buf() })
    }
    /// Writes `name` and returns its path.
    pub fn write(&self, name: &str, text: &str) -> std::io::Result<PathBuf> {
        let p = self.dir.join(name);
        std::fs::write(&p, text)?;
        Ok(p)
    }
}

/// Renders `svg` next to itself as PNG with `rsvg-convert` (Debian's librsvg2-bin), when that
/// is installed; `None` otherwise (the SVG is the report, the PNG a convenience).
pub fn png_from_svg(svg: &Path) -> Option<PathBuf> {
    let png = svg.with_extension("png");
    let ok = std::process::Command::new("rsvg-convert")
        .arg(svg)
        .arg("-o")
        .arg(&png)
        .stderr(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    ok.then_some(png)
}

/// A one-line progress bar on standard error (`[#####.....] 5/10 label`).
pub fn progress(done: usize, total: usize, label: &str) {
    use std::io::Write;
    let width = 30;
    let filled = (done * width).checked_div(total).unwrap_or(width).min(width);
    let mut e = std::io::stderr();
    let _ = write!(e, "\r[{}{}] {done}/{total} {label}   ", "#".repeat(filled), ".".repeat(width - filled));
    if done >= total {
        let _ = writeln!(e);
    }
    let _ = e.flush();
}
