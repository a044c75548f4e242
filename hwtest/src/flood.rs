//! A packet flood from a third host on a veth segment: forged frames sent at a paced rate
//! through a packet socket, so that the source address, port and MAC can be anyone's —
//! including the peer's, the case no kernel filter on addresses can stop.
//!
//! [`capture_udp`] is the attacker's other half: it records the UDP datagrams that pass on the
//! segment (a packet socket), for replaying later with [`send_frames`].
//!
//! One frame is built once (Ethernet, then IPv4 and UDP for the IP media, or the payload as is
//! for hb's raw Ethernet medium) and sent again and again with `sendmmsg(2)` in batches,
//! paced against CLOCK_MONOTONIC to the asked rate. [`Flood::stop`] returns how many went out
//! and over how long, so a test reports the rate it actually achieved, not the one it asked.

use crate::{sys, Netns};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Frames per `sendmmsg` call.
const BATCH: usize = 64;

/// Where the forged frames go and what they carry.
#[derive(Debug, Clone)]
pub struct FloodSpec {
    /// The attacker's interface (in the namespace the flood runs in).
    pub dev: String,
    /// Destination MAC: the victim's, `ff:…` for broadcast, `01:00:5e:…` for multicast.
    pub dst_mac: [u8; 6],
    /// Source MAC written in each frame.
    pub src_mac: [u8; 6],
    /// What the frames carry.
    pub what: FloodPayload,
    /// Frames per second asked for (0: as fast as the sender can).
    pub rate: u64,
}

/// The frame's contents after the Ethernet header.
#[derive(Debug, Clone)]
pub enum FloodPayload {
    /// A UDP datagram in IPv4, with any source address and port (spoofing allowed).
    Udp {
        /// Source address and port written in the headers.
        src: (Ipv4Addr, u16),
        /// Destination address and port.
        dst: (Ipv4Addr, u16),
        /// The UDP payload.
        data: Vec<u8>,
    },
    /// A frame of this EtherType carrying `data` as is (hb's raw medium).
    Ether {
        /// The EtherType.
        ethertype: u16,
        /// The frame's payload.
        data: Vec<u8>,
    },
}

/// What a flood did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FloodReport {
    /// Frames the kernel accepted for sending.
    pub sent: u64,
    /// How long the flood ran.
    pub elapsed: Duration,
    /// Send calls the kernel refused (e.g. `ENOBUFS`).
    pub errors: u64,
}

impl FloodReport {
    /// Frames per second actually sent.
    pub fn pps(&self) -> f64 {
        self.sent as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// A running flood; [`Flood::stop`] ends it.
pub struct Flood {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<std::io::Result<FloodReport>>>,
}

impl Flood {
    /// Starts flooding from a thread inside `ns`.
    pub fn start(ns: &Netns, spec: FloodSpec) -> Flood {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let path = format!("/run/netns/{}", ns.name);
        let thread = std::thread::Builder::new()
            .name("flood".into())
            .spawn(move || {
                sys::enter_netns(&path)?;
                run(&spec, &s)
            })
            .expect("flood thread");
        Flood { stop, thread: Some(thread) }
    }

    /// Stops the flood and says what it sent; panics if it could not send at all.
    pub fn stop(mut self) -> FloodReport {
        self.stop.store(true, Ordering::Relaxed);
        let t = self.thread.take().expect("joined once");
        t.join().expect("flood thread").expect("flood")
    }
}

impl Drop for Flood {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(spec: &FloodSpec, stop: &AtomicBool) -> std::io::Result<FloodReport> {
    let frame = build_frame(spec);
    let sock = sys::PacketSender::open(&spec.dev)?;
    let t0 = Instant::now();
    let (mut sent, mut errors) = (0u64, 0u64);
    while !stop.load(Ordering::Relaxed) {
        let due = if spec.rate == 0 { sent + BATCH as u64 } else { (t0.elapsed().as_secs_f64() * spec.rate as f64) as u64 };
        if due <= sent {
            std::thread::sleep(Duration::from_micros(50));
            continue;
        }
        let n = (due - sent).min(BATCH as u64) as usize;
        match sock.send_copies(&frame, n) {
            Ok(k) => sent += k as u64,
            Err(_) => {
                errors += 1;
                std::thread::yield_now();
            }
        }
    }
    Ok(FloodReport { sent, elapsed: t0.elapsed(), errors })
}

/// Sends each of `frames` (whole Ethernet frames) once from `dev` in `ns`, `gap` apart.
pub fn send_frames(ns: &Netns, dev: &str, frames: &[Vec<u8>], gap: Duration) -> std::io::Result<()> {
    crate::in_netns(ns, || -> std::io::Result<()> {
        let sock = sys::PacketSender::open(dev)?;
        for f in frames {
            sock.send_copies(f, 1)?;
            std::thread::sleep(gap);
        }
        Ok(())
    })?
}

/// An Ethernet frame carrying `payload` in UDP over IPv4 from `src` to `dst` (address and
/// port), for `dst_mac`: what a third host on the segment sends when it claims to be `src`.
pub fn udp_frame(dst_mac: [u8; 6], src: (Ipv4Addr, u16), dst: (Ipv4Addr, u16), payload: &[u8]) -> Vec<u8> {
    let what = FloodPayload::Udp { src, dst, data: payload.to_vec() };
    build_frame(&FloodSpec { dev: String::new(), dst_mac, src_mac: [0x02, 0xee, 0x77, 0, 0, 3], what, rate: 0 })
}

/// Records the payloads of the next `count` UDP datagrams over IPv4 from `from` to port `port`
/// seen on `dev` in `ns` (within `timeout`).
pub fn capture_udp(ns: &Netns, dev: &str, from: Ipv4Addr, port: u16, count: usize, timeout: Duration) -> std::io::Result<Vec<Vec<u8>>> {
    crate::in_netns(ns, || -> std::io::Result<Vec<Vec<u8>>> {
        let cap = sys::PacketCapture::open(dev)?;
        let end = Instant::now() + timeout;
        let mut got = Vec::new();
        let mut buf = [0u8; 2048];
        while got.len() < count && Instant::now() < end {
            let Some(n) = cap.next(&mut buf, 100) else { continue };
            let f = &buf[..n];
            // Ethernet, IPv4 without options, UDP.
            if n < 42 || f[12..14] != [0x08, 0x00] || f[14] != 0x45 || f[23] != 17 || f[26..30] != from.octets() {
                continue;
            }
            let end = 34 + usize::from(u16::from_be_bytes([f[38], f[39]]));
            if u16::from_be_bytes([f[36], f[37]]) == port && end >= 42 && end <= n {
                got.push(f[42..end].to_vec());
            }
        }
        Ok(got)
    })?
}

/// The whole Ethernet frame `spec` describes.
pub fn build_frame(spec: &FloodSpec) -> Vec<u8> {
    let mut f = Vec::with_capacity(64);
    f.extend_from_slice(&spec.dst_mac);
    f.extend_from_slice(&spec.src_mac);
    match &spec.what {
        FloodPayload::Ether { ethertype, data } => {
            f.extend_from_slice(&ethertype.to_be_bytes());
            f.extend_from_slice(data);
        }
        FloodPayload::Udp { src, dst, data } => {
            f.extend_from_slice(&0x0800u16.to_be_bytes());
            let total = (20 + 8 + data.len()) as u16;
            let mut ip = [0u8; 20];
            ip[0] = 0x45;
            ip[2..4].copy_from_slice(&total.to_be_bytes());
            ip[6] = 0x40; // don't fragment
            ip[8] = 64; // TTL
            ip[9] = 17; // UDP
            ip[12..16].copy_from_slice(&src.0.octets());
            ip[16..20].copy_from_slice(&dst.0.octets());
            let sum = ip_checksum(&ip);
            ip[10..12].copy_from_slice(&sum.to_be_bytes());
            f.extend_from_slice(&ip);
            f.extend_from_slice(&src.1.to_be_bytes());
            f.extend_from_slice(&dst.1.to_be_bytes());
            f.extend_from_slice(&((8 + data.len()) as u16).to_be_bytes());
            f.extend_from_slice(&[0, 0]); // no UDP checksum (allowed over IPv4)
            f.extend_from_slice(data);
        }
    }
    f
}

/// The IPv4 header checksum (RFC 791): the ones' complement of the ones' complement sum.
fn ip_checksum(h: &[u8]) -> u16 {
    let mut sum: u32 = h.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], c[1]]))).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The multicast MAC for an IPv4 group: `01:00:5e` and the group's low 23 bits.
pub fn multicast_mac(group: Ipv4Addr) -> [u8; 6] {
    let o = group.octets();
    [0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]]
}

/// Parses `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut m = [0u8; 6];
    let mut parts = s.trim().split(':');
    for b in &mut m {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ip_header_checksum_verifies() {
        let spec = FloodSpec {
            dev: "x".into(),
            dst_mac: [2; 6],
            src_mac: [4; 6],
            what: FloodPayload::Udp {
                src: ("10.77.0.2".parse().unwrap(), 694),
                dst: ("10.77.0.1".parse().unwrap(), 694),
                data: vec![7; 10],
            },
            rate: 0,
        };
        let f = build_frame(&spec);
        assert_eq!(f.len(), 14 + 20 + 8 + 10);
        assert_eq!(ip_checksum(&f[14..34]), 0, "a header with its checksum sums to zero");
        assert_eq!(&f[12..14], &[0x08, 0x00]);
        assert_eq!(&f[34..36], &694u16.to_be_bytes());
    }

    #[test]
    fn macs_parse_and_groups_map() {
        assert_eq!(parse_mac("02:aB:00:01:ff:10"), Some([2, 0xab, 0, 1, 0xff, 0x10]));
        assert_eq!(parse_mac("02:ab:00:01:ff"), None);
        assert_eq!(multicast_mac("239.255.1.2".parse().unwrap()), [1, 0, 0x5e, 0x7f, 1, 2]);
    }
}
