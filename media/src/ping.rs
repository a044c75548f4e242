//! Ping pseudo-members: ICMP echo to routers (heartbeat's `ping`, `ping6`, `ping_group`).
//!
//! One raw ICMP socket per address family (CAP_NET_RAW), non-blocking, with receive stamps.
//! Echo requests carry an identifier chosen per hbd start and the send time; replies are
//! parsed and matched on that identifier, so other programs' pings (and requests sent to us)
//! are ignored. Packets are built and parsed with `pnet_packet`, in fixed buffers, without
//! allocating: the core's RT loop sends and reads them.

use crate::MediaError;
use pnet_packet::icmp::echo_reply::EchoReplyPacket;
use pnet_packet::icmp::echo_request::MutableEchoRequestPacket;
use pnet_packet::icmp::{IcmpPacket, IcmpTypes};
use pnet_packet::icmpv6::{Icmpv6Packet, Icmpv6Types, MutableIcmpv6Packet};
use pnet_packet::ip::IpNextHeaderProtocols;
use pnet_packet::ipv4::Ipv4Packet;
use pnet_packet::Packet;
use socket2::{Domain, Protocol, Socket, Type};
use std::net::IpAddr;
use std::os::fd::AsRawFd;

/// Bytes of an echo request: the 8-byte ICMP echo header and an 8-byte send time.
pub const ECHO_LEN: usize = 16;

/// Opens the raw ICMP (`v6`: ICMPv6) socket pings go out and come back on.
pub fn open_icmp(v6: bool) -> Result<Socket, MediaError> {
    let link = if v6 { "ping6" } else { "ping" }.to_string();
    let (domain, proto) = if v6 { (Domain::IPV6, Protocol::ICMPV6) } else { (Domain::IPV4, Protocol::ICMPV4) };
    let sock = Socket::new(domain, Type::RAW.nonblocking().cloexec(), Some(proto)).map_err(|source| {
        if source.raw_os_error() == Some(libc::EPERM) {
            MediaError::BadAddress { link: link.clone(), what: "a raw ICMP socket needs CAP_NET_RAW (run hbd as root)".into() }
        } else {
            MediaError::Socket { link: link.clone(), source }
        }
    })?;
    crate::sys::enable_rx_timestamps(sock.as_raw_fd()).map_err(|source| MediaError::SetOption {
        option: "SO_TIMESTAMPNS",
        link,
        source,
    })?;
    Ok(sock)
}

/// Writes an echo request (`v6`: ICMPv6, whose checksum the kernel fills in) into `out`.
pub fn build_echo_request(v6: bool, ident: u16, seq: u16, sent_ns: u64, out: &mut [u8; ECHO_LEN]) {
    out.fill(0);
    if v6 {
        out[4..6].copy_from_slice(&ident.to_be_bytes());
        out[6..8].copy_from_slice(&seq.to_be_bytes());
        out[8..16].copy_from_slice(&sent_ns.to_be_bytes());
        let mut p = MutableIcmpv6Packet::new(out).expect("16 bytes hold an ICMPv6 echo");
        p.set_icmpv6_type(Icmpv6Types::EchoRequest);
        return;
    }
    {
        let mut p = MutableEchoRequestPacket::new(out).expect("16 bytes hold an ICMP echo");
        p.set_icmp_type(IcmpTypes::EchoRequest);
        p.set_identifier(ident);
        p.set_sequence_number(seq);
        p.set_payload(&sent_ns.to_be_bytes());
    }
    let sum = pnet_packet::icmp::checksum(&IcmpPacket::new(out).expect("16 bytes"));
    out[2..4].copy_from_slice(&sum.to_be_bytes());
}

/// An echo reply that answers one of ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EchoReply {
    /// Who answered.
    pub from: IpAddr,
    /// The sequence number we sent.
    pub seq: u16,
    /// The send time we put in the request.
    pub sent_ns: u64,
}

/// Parses what a raw ICMP socket received: IPv4 packets arrive with their IP header; ICMPv6
/// arrives without, and `from` is the address `recvfrom` reported. `None` for anything but an
/// echo reply carrying `ident`.
pub fn parse_echo_reply(v6: bool, pkt: &[u8], from: Option<IpAddr>, ident: u16) -> Option<EchoReply> {
    if v6 {
        let p = Icmpv6Packet::new(pkt)?;
        if p.get_icmpv6_type() != Icmpv6Types::EchoReply || pkt.len() < ECHO_LEN {
            return None;
        }
        if u16::from_be_bytes([pkt[4], pkt[5]]) != ident {
            return None;
        }
        let seq = u16::from_be_bytes([pkt[6], pkt[7]]);
        let sent_ns = u64::from_be_bytes(pkt[8..16].try_into().ok()?);
        return Some(EchoReply { from: from?, seq, sent_ns });
    }
    let ip = Ipv4Packet::new(pkt)?;
    let ihl = usize::from(ip.get_header_length()) * 4;
    if ihl < 20 || ihl > pkt.len() || ip.get_next_level_protocol() != IpNextHeaderProtocols::Icmp {
        return None;
    }
    let r = EchoReplyPacket::new(&pkt[ihl..])?;
    if r.get_icmp_type() != IcmpTypes::EchoReply || r.get_identifier() != ident {
        return None;
    }
    let sent_ns = u64::from_be_bytes(r.payload().get(..8)?.try_into().ok()?);
    Some(EchoReply { from: IpAddr::V4(ip.get_source()), seq: r.get_sequence_number(), sent_ns })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_echo_request_is_well_formed() {
        let mut out = [0u8; ECHO_LEN];
        build_echo_request(false, 0x1234, 7, 99, &mut out);
        assert_eq!(out[0], 8, "echo request");
        assert_eq!(&out[4..8], &[0x12, 0x34, 0, 7]);
        // The internet checksum over the whole message is zero when it is right.
        let sum: u32 = out.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], c[1]]))).sum();
        let folded = (sum & 0xffff) + (sum >> 16);
        assert_eq!(folded, 0xffff);
        build_echo_request(true, 0x1234, 7, 99, &mut out);
        assert_eq!(out[0], 128, "ICMPv6 echo request");
    }

    #[test]
    fn replies_match_on_the_identifier_only() {
        // An IPv4 header (20 bytes, protocol 1) from 10.0.0.9, then an echo reply.
        let mut pkt = vec![0x45, 0, 0, 36, 0, 0, 0, 0, 64, 1, 0, 0, 10, 0, 0, 9, 10, 0, 0, 1];
        let mut echo = [0u8; ECHO_LEN];
        build_echo_request(false, 0xbeef, 3, 123_456, &mut echo);
        echo[0] = 0; // echo reply
        pkt.extend_from_slice(&echo);
        let r = parse_echo_reply(false, &pkt, None, 0xbeef).unwrap();
        assert_eq!(r, EchoReply { from: "10.0.0.9".parse().unwrap(), seq: 3, sent_ns: 123_456 });
        assert!(parse_echo_reply(false, &pkt, None, 0xbeee).is_none(), "someone else's ping");
        pkt[20] = 8;
        assert!(parse_echo_reply(false, &pkt, None, 0xbeef).is_none(), "a request, not a reply");
        assert!(parse_echo_reply(false, &pkt[..25], None, 0xbeef).is_none(), "truncated");
        let mut v6 = [0u8; ECHO_LEN];
        build_echo_request(true, 0xbeef, 4, 5, &mut v6);
        v6[0] = 129;
        let from: IpAddr = "fd77::2".parse().unwrap();
        assert_eq!(parse_echo_reply(true, &v6, Some(from), 0xbeef), Some(EchoReply { from, seq: 4, sent_ns: 5 }));
    }
}
