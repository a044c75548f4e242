//! Socket filters (classic BPF) that drop in the kernel what can never be an hb packet for
//! this cluster, before it takes room in a receive buffer or a microsecond of the RT thread:
//! the wrong length, magic, version, cluster or sender, and on unicast links a source address
//! or port that is not a peer's. A forgery that copies all of those (the peer's address
//! included) still reaches the engine, which refuses it by its MAC, cheaply; see
//! `hb-bench reject`.
//!
//! Sans-I/O: this module only builds the instructions; `sys::fd::attach_filter` attaches them.
//! What the kernel drops is counted by the kernel (`sk_drops`), which hbd reads from every
//! received datagram (`SO_RXQ_OVFL`) and shows as the link's `kernel_dropped`.

use crate::wire::{HEADER_LEN, MAGIC, MAX_PACKET, VERSION};
use std::net::IpAddr;

/// One classic BPF instruction (`struct sock_filter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    /// Opcode.
    pub code: u16,
    /// Jump offset if true.
    pub jt: u8,
    /// Jump offset if false.
    pub jf: u8,
    /// Operand.
    pub k: u32,
}

// Opcodes (linux/filter.h).
const LD_W_ABS: u16 = 0x20;
const LD_H_ABS: u16 = 0x28;
const LD_B_ABS: u16 = 0x30;
const LD_W_LEN: u16 = 0x80;
const JEQ_K: u16 = 0x15;
const JGT_K: u16 = 0x25;
const JGE_K: u16 = 0x35;
const RET_K: u16 = 0x06;
/// `SKF_NET_OFF`: loads relative to the network (IP) header.
const NET_OFF: u32 = (-0x10_0000i32) as u32;

/// The smallest hb packet: a header and a crc MAC.
const MIN_PACKET: u32 = HEADER_LEN as u32 + 4;

/// What a link's filter lets through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterSpec {
    /// Bytes before the hb packet: 8 (the UDP header) on a UDP socket, 14 (Ethernet) on a
    /// packet socket.
    pub base: u32,
    /// Our cluster's id.
    pub cluster: u32,
    /// Every node id of the cluster, ours included (our own broadcasts come back).
    pub nodes: Vec<u32>,
    /// The UDP source port every node sends from (UDP links only).
    pub port: Option<u16>,
    /// The only source addresses allowed (unicast links); empty: any.
    pub sources: Vec<IpAddr>,
}

/// A program under construction: instructions whose jumps to the two exits are patched at the
/// end, when the exits' positions are known.
struct Prog {
    insns: Vec<Insn>,
    /// (instruction, jump to accept when true, jump to drop when false).
    to_exit: Vec<(usize, Option<bool>, Option<bool>)>,
}

impl Prog {
    fn op(&mut self, code: u16, k: u32) {
        self.insns.push(Insn { code, jt: 0, jf: 0, k });
    }
    /// A test whose true/false branches either fall through (None) or leave: Some(true) to
    /// accept, Some(false) to drop.
    fn test(&mut self, code: u16, k: u32, jt: Option<bool>, jf: Option<bool>) {
        self.to_exit.push((self.insns.len(), jt, jf));
        self.insns.push(Insn { code, jt: 0, jf: 0, k });
    }
    /// Drops the packet unless the value loaded equals `k`.
    fn require_eq(&mut self, load: u16, off: u32, k: u32) {
        self.op(load, off);
        self.test(JEQ_K, k, None, Some(false));
    }
    /// Appends the exits (accept, then drop) and resolves every jump to them.
    fn finish(mut self) -> Result<Vec<Insn>, FilterTooLong> {
        let accept = self.insns.len();
        self.op(RET_K, u32::MAX);
        let drop = self.insns.len();
        self.op(RET_K, 0);
        for (i, jt, jf) in self.to_exit {
            let jump = |exit: Option<bool>| -> Result<u8, FilterTooLong> {
                match exit {
                    None => Ok(0),
                    Some(a) => u8::try_from((if a { accept } else { drop }) - i - 1).map_err(|_| FilterTooLong),
                }
            };
            self.insns[i].jt = jump(jt)?;
            self.insns[i].jf = jump(jf)?;
        }
        Ok(self.insns)
    }
}

/// A filter whose jumps do not fit classic BPF's 8-bit offsets (never with hb's table sizes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilterTooLong;

/// The program for `spec`.
pub fn program(spec: &FilterSpec) -> Result<Vec<Insn>, FilterTooLong> {
    let mut p = Prog { insns: Vec::new(), to_exit: Vec::new() };
    let b = spec.base;
    // Length: a header and the smallest MAC, at most MAX_PACKET.
    p.op(LD_W_LEN, 0);
    p.test(JGE_K, b + MIN_PACKET, None, Some(false));
    p.test(JGT_K, b + MAX_PACKET as u32, Some(false), None);
    if let Some(port) = spec.port {
        p.require_eq(LD_H_ABS, 0, u32::from(port));
    }
    p.require_eq(LD_H_ABS, b, u32::from(u16::from_be_bytes(MAGIC)));
    p.require_eq(LD_B_ABS, b + 2, u32::from(VERSION));
    p.require_eq(LD_W_ABS, b + 4, spec.cluster);
    // The sender is one of the nodes: jump over the rest of the list to the next check.
    p.op(LD_W_ABS, b + 8);
    let n = spec.nodes.len();
    for (i, id) in spec.nodes.iter().enumerate() {
        let skip = u8::try_from(n - i - 1).map_err(|_| FilterTooLong)?;
        if i + 1 == n {
            p.test(JEQ_K, *id, None, Some(false));
        } else {
            p.insns.push(Insn { code: JEQ_K, jt: skip, jf: 0, k: *id });
        }
    }
    if n == 0 {
        p.test(JEQ_K, 0, Some(false), Some(false));
    }
    source_check(&mut p, &spec.sources);
    p.finish()
}

/// Accepts only packets from one of `sources` (IPv4: one word; IPv6: four).
fn source_check(p: &mut Prog, sources: &[IpAddr]) {
    for (i, ip) in sources.iter().enumerate() {
        let last = i + 1 == sources.len();
        // Mismatch: on to the next address, or drop after the last.
        match ip {
            IpAddr::V4(v4) => {
                p.op(LD_W_ABS, NET_OFF.wrapping_add(12));
                p.test(JEQ_K, u32::from(*v4), Some(true), last.then_some(false));
            }
            IpAddr::V6(v6) => {
                let o = v6.octets();
                for w in 0..4 {
                    let word = u32::from_be_bytes([o[4 * w], o[4 * w + 1], o[4 * w + 2], o[4 * w + 3]]);
                    p.op(LD_W_ABS, NET_OFF.wrapping_add(8 + 4 * w as u32));
                    // A differing word skips the rest of this address's words.
                    if w < 3 {
                        // Past this test: the rest of this address's 8 instructions.
                        let rest = 6 - 2 * w as u8;
                        if last {
                            p.test(JEQ_K, word, None, Some(false));
                        } else {
                            p.insns.push(Insn { code: JEQ_K, jt: 0, jf: rest, k: word });
                        }
                    } else {
                        p.test(JEQ_K, word, Some(true), last.then_some(false));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small classic-BPF interpreter for the instructions used here, to check programs
    /// without a socket (the kernel test in `sys::fd` checks them for real).
    fn run(prog: &[Insn], pkt: &[u8], src: IpAddr) -> bool {
        let net: Vec<u8> = match src {
            IpAddr::V4(a) => [vec![0u8; 12], a.octets().to_vec(), vec![0; 4]].concat(),
            IpAddr::V6(a) => [vec![0u8; 8], a.octets().to_vec(), vec![0; 16]].concat(),
        };
        let load = |off: u32, size: usize| -> Option<u32> {
            let (buf, o) = if off >= NET_OFF { (&net[..], off.wrapping_sub(NET_OFF) as usize) } else { (pkt, off as usize) };
            let b = buf.get(o..o + size)?;
            Some(b.iter().fold(0u32, |acc, x| acc << 8 | u32::from(*x)))
        };
        let (mut a, mut pc) = (0u32, 0usize);
        loop {
            let i = prog[pc];
            pc += 1;
            match i.code {
                LD_W_LEN => a = pkt.len() as u32,
                LD_W_ABS | LD_H_ABS | LD_B_ABS => {
                    let size = match i.code {
                        LD_W_ABS => 4,
                        LD_H_ABS => 2,
                        _ => 1,
                    };
                    match load(i.k, size) {
                        Some(v) => a = v,
                        None => return false, // the kernel drops on an out-of-bounds load
                    }
                }
                JEQ_K | JGT_K | JGE_K => {
                    let t = match i.code {
                        JEQ_K => a == i.k,
                        JGT_K => a > i.k,
                        _ => a >= i.k,
                    };
                    pc += usize::from(if t { i.jt } else { i.jf });
                }
                RET_K => return i.k != 0,
                c => panic!("opcode {c:#x}"),
            }
        }
    }

    fn udp(port: u16, body: &[u8]) -> Vec<u8> {
        [port.to_be_bytes().to_vec(), vec![0; 6], body.to_vec()].concat()
    }

    fn hb(cluster: u32, sender: u32, len: usize) -> Vec<u8> {
        let mut p = vec![0u8; len];
        p[..2].copy_from_slice(&MAGIC);
        p[2] = VERSION;
        p[4..8].copy_from_slice(&cluster.to_be_bytes());
        p[8..12].copy_from_slice(&sender.to_be_bytes());
        p
    }

    #[test]
    fn unicast_filters_pass_only_the_clusters_packets_from_its_peers() {
        let peer4: IpAddr = "10.0.0.2".parse().unwrap();
        let peer6: IpAddr = "fd00::2".parse().unwrap();
        let spec = FilterSpec { base: 8, cluster: 7, nodes: vec![1, 2, 3], port: Some(694), sources: vec![peer4, peer6] };
        let p = program(&spec).unwrap();
        let good = udp(694, &hb(7, 2, 100));
        assert!(run(&p, &good, peer4));
        assert!(run(&p, &good, peer6));
        assert!(run(&p, &udp(694, &hb(7, 3, 44)), peer4), "the shortest packet");
        assert!(!run(&p, &udp(694, &hb(7, 3, 43)), peer4), "shorter than a header and a MAC");
        assert!(!run(&p, &udp(694, &hb(7, 3, 513)), peer4), "longer than MAX_PACKET");
        assert!(!run(&p, &good, "10.0.0.3".parse().unwrap()), "a third address");
        assert!(!run(&p, &good, "fd00::3".parse().unwrap()), "a third v6 address");
        assert!(!run(&p, &good, "fd01::2".parse().unwrap()), "differs in the first word");
        assert!(!run(&p, &udp(695, &hb(7, 2, 100)), peer4), "another source port");
        assert!(!run(&p, &udp(694, &hb(8, 2, 100)), peer4), "another cluster");
        assert!(!run(&p, &udp(694, &hb(7, 9, 100)), peer4), "an unknown sender");
        let mut v2 = hb(7, 2, 100);
        v2[2] = 2;
        assert!(!run(&p, &udp(694, &v2), peer4), "another version");
        let mut junk = hb(7, 2, 100);
        junk[0] = b'X';
        assert!(!run(&p, &udp(694, &junk), peer4), "not hb");
    }

    #[test]
    fn broadcast_and_raw_filters_ignore_addresses() {
        let spec = FilterSpec { base: 14, cluster: 7, nodes: vec![1, 2], port: None, sources: vec![] };
        let p = program(&spec).unwrap();
        let frame = [vec![0u8; 14], hb(7, 1, 100)].concat();
        assert!(run(&p, &frame, "1.2.3.4".parse().unwrap()));
        let frame = [vec![0u8; 14], hb(7, 5, 100)].concat();
        assert!(!run(&p, &frame, "1.2.3.4".parse().unwrap()));
        // The largest tables hb has fit classic BPF's jumps.
        let nodes: Vec<u32> = (1..=16).collect();
        let sources: Vec<IpAddr> = (1..=15).map(|i| format!("fd00::{i}").parse().unwrap()).collect();
        let big = FilterSpec { base: 8, cluster: 7, nodes, port: Some(694), sources };
        let p = program(&big).unwrap();
        assert!(run(&p, &udp(694, &hb(7, 16, 100)), "fd00::15".parse().unwrap()));
        assert!(!run(&p, &udp(694, &hb(7, 16, 100)), "fd00::16".parse().unwrap()));
    }
}
