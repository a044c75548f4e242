//! This machine's floor: how late a SCHED_FIFO thread wakes from an absolute CLOCK_MONOTONIC
//! sleep (what cyclictest measures), and what waking at that interval costs in CPU with no
//! work at all — the baseline any heartbeat daemon's idle CPU should be read against.

use crate::hist::Hist;
use std::time::Duration;

/// A floor measurement.
#[derive(Clone)]
pub struct Floor {
    /// Wake-up latency (ns recorded).
    pub wake: Hist,
    /// The wake interval.
    pub interval: Duration,
    /// Whether SCHED_FIFO was granted.
    pub fifo: bool,
    /// The priority asked for.
    pub prio: u8,
    /// CPU used by the waking thread, % of one core.
    pub cpu_percent: f64,
}

fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat").ok().and_then(|s| s.split_whitespace().next()?.parse().ok()).unwrap_or(0)
}

/// Wakes every `interval` for `duration` on a SCHED_FIFO `prio` thread (normal priority if
/// refused, reported in the result). `progress` is called with the fraction done.
pub fn measure(interval: Duration, duration: Duration, prio: u8, progress: &(dyn Fn(f64) + Sync)) -> Floor {
    std::thread::scope(|s| {
        s.spawn(|| {
            let limits = hb_realtime::check_limits();
            let fifo = hb_realtime::set_fifo(prio, &limits).is_ok();
            let _ = hb_realtime::set_timer_slack(1);
            let step = interval.as_nanos() as u64;
            // Room for every wake-up's timed sample: recording allocates nothing as it goes.
            let mut wake = Hist::with_capacity((duration.as_nanos() as u64 / step.max(1)) as usize + 1);
            let start = hb_core::time::now().0;
            let end = start + duration.as_nanos() as u64;
            let cpu0 = thread_cpu_ns();
            let mut next = start + step;
            let mut n = 0u64;
            while next < end {
                crate::sys::sleep_until(next);
                let late = hb_core::time::now().0.saturating_sub(next);
                wake.record_at(late.max(1), next);
                next += step;
                n += 1;
                if n.is_multiple_of(1000) {
                    progress((next - start) as f64 / (end - start) as f64);
                }
            }
            let cpu = thread_cpu_ns().saturating_sub(cpu0);
            progress(1.0);
            Floor { wake, interval, fifo, prio, cpu_percent: cpu as f64 / duration.as_nanos() as f64 * 100.0 }
        })
        .join()
        .expect("floor thread")
    })
}

/// The bytes of a bare heartbeat: the size of hbd's UDP heartbeat with HMAC-SHA256.
pub const BARE_BYTES: usize = 100;

/// The least a heartbeat can cost here: two SCHED_FIFO `prio` threads, one per socket, each
/// waking every `interval` for `duration`, draining its socket with non-blocking reads and
/// sending [`BARE_BYTES`] to the other — no protocol, no authentication, no bookkeeping.
/// Returns the CPU of the first thread, % of one core. Read against hbd's idle CPU over the
/// same path it says what hbd adds to what the kernel (and, in a VM, the hypervisor) charges
/// any program for sending and receiving a datagram per interval.
pub fn bare_heartbeat(ends: [(std::net::UdpSocket, std::net::SocketAddr); 2], interval: Duration, duration: Duration, prio: u8) -> f64 {
    let step = interval.as_nanos() as u64;
    let start = hb_core::time::now().0 + step;
    let end = start + duration.as_nanos() as u64;
    let cpu: Vec<f64> = std::thread::scope(|s| {
        let threads: Vec<_> = ends
            .iter()
            .map(|(sock, peer)| {
                s.spawn(move || {
                    let limits = hb_realtime::check_limits();
                    let _ = hb_realtime::set_fifo(prio, &limits);
                    let _ = hb_realtime::set_timer_slack(1);
                    let _ = sock.set_nonblocking(true);
                    let (mut buf, out) = ([0u8; 2048], [0u8; BARE_BYTES]);
                    let mut next = start;
                    crate::sys::sleep_until(next);
                    let cpu0 = thread_cpu_ns();
                    while next < end {
                        next += step;
                        crate::sys::sleep_until(next);
                        while sock.recv_from(&mut buf).is_ok() {}
                        let _ = sock.send_to(&out, peer);
                    }
                    thread_cpu_ns().saturating_sub(cpu0) as f64 / duration.as_nanos() as f64 * 100.0
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().expect("bare heartbeat thread")).collect()
    });
    cpu[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_floor_run_records_every_wake() {
        let f = measure(Duration::from_millis(1), Duration::from_millis(200), 50, &|_| {});
        assert!(f.wake.len() >= 150 && f.wake.len() <= 200, "{}", f.wake.len());
        assert!(f.cpu_percent >= 0.0 && f.cpu_percent < 100.0);
    }
}
