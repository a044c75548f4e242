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

/// A progress bar on standard error (`[#####.....] 5/10 label`), drawn by `indicatif`: only
/// on a terminal, so a run whose standard error goes to a file or a pipe gets no progress
/// lines at all. A new label or total starts a new bar; reaching the total finishes it.
pub fn progress(done: usize, total: usize, label: &str) {
    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
    use std::sync::Mutex;
    static BAR: Mutex<Option<(String, usize, ProgressBar)>> = Mutex::new(None);
    let mut slot = BAR.lock().unwrap_or_else(|p| p.into_inner());
    let fresh = !matches!(&*slot, Some((l, t, _)) if l == label && *t == total);
    if fresh {
        let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template("[{bar:30}] {pos}/{len} {msg}") {
            bar.set_style(style.progress_chars("#>."));
        }
        bar.set_message(label.to_string());
        *slot = Some((label.to_string(), total, bar));
    }
    if let Some((_, _, bar)) = slot.as_ref() {
        bar.set_position(done as u64);
        if done >= total {
            bar.finish();
        }
    }
}
