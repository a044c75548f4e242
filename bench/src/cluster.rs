//! Measurements on a real two-node cluster: detection of a killed peer, and idle cost.

use crate::hist::Hist;
use hb_tools::twonode::{cpu_ns, rss_kb, Settings, TwoNodes};
use std::time::Duration;

/// Detection times of `kill -9` over `trials`, from just before the kill to the survivor's
/// `node-dead` event on its IPC stream (both CLOCK_MONOTONIC). Returns the histogram and the
/// topology's description.
pub fn detect(s: &Settings, trials: usize, progress: &dyn Fn(usize)) -> Result<(Hist, String), String> {
    let mut t = TwoNodes::create(s)?;
    t.start('a');
    t.start('b');
    if !t.wait_up(Duration::from_secs(15)) {
        return Err(format!("the nodes did not see each other within 15 s; log of a:\n{}", t.log('a')));
    }
    let mut h = Hist::new();
    for i in 0..trials {
        // Let the pair settle (and any start-up transient pass) before each kill.
        std::thread::sleep(Duration::from_millis(300));
        h.record(t.kill_b_and_time()?.0);
        progress(i + 1);
        if i + 1 < trials {
            t.start('b');
            if !t.wait_up(Duration::from_secs(15)) {
                return Err("b did not come back".into());
            }
        }
    }
    t.stop_a();
    Ok((h, t.description.clone()))
}

/// Idle cost of one hbd of a running pair.
#[derive(Debug, Clone, Copy)]
pub struct Cost {
    /// CPU, % of one core, all threads (schedstat).
    pub cpu_percent: f64,
    /// RSS, kB.
    pub rss_kb: u64,
}

/// Runs the pair for `seconds` and measures node a.
pub fn cost(s: &Settings, seconds: u64) -> Result<(Cost, String), String> {
    let mut t = TwoNodes::create(s)?;
    t.start('a');
    t.start('b');
    if !t.wait_up(Duration::from_secs(15)) {
        return Err("the nodes did not see each other within 15 s".into());
    }
    std::thread::sleep(Duration::from_millis(500));
    let pid = t.pid('a').ok_or("no pid")?;
    let c0 = cpu_ns(pid).ok_or("cannot read schedstat")?;
    let w0 = std::time::Instant::now();
    std::thread::sleep(Duration::from_secs(seconds));
    let c1 = cpu_ns(pid).ok_or("cannot read schedstat")?;
    let cpu_percent = c1.saturating_sub(c0) as f64 / w0.elapsed().as_nanos() as f64 * 100.0;
    let rss = rss_kb(pid).unwrap_or(0);
    t.stop_a();
    Ok((Cost { cpu_percent, rss_kb: rss }, t.description.clone()))
}
