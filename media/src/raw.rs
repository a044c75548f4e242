//! Raw Ethernet: hb's own `raw DEV [ETHERTYPE]` medium, on links that have no IP at all.
//!
//! An `AF_PACKET` socket bound to one interface and one EtherType (0x88B5, IEEE 802's first
//! local-experimental type, unless the line names another) carries each heartbeat as the
//! payload of a broadcast Ethernet frame, built and parsed with `pnet_packet`. The kernel's
//! filter hands the socket only frames of that EtherType, never our own outgoing ones
//! (`PACKET_IGNORE_OUTGOING`), each with its arrival stamp (`SO_TIMESTAMPNS`). No IP address,
//! route or firewall rule is involved: the link works on an interface with no address.
//! Opening needs CAP_NET_RAW.

use crate::MediaError;
use pnet_base::MacAddr;
use pnet_packet::ethernet::{EtherType, EthernetPacket, MutableEthernetPacket};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::os::fd::AsRawFd;

/// IEEE 802's local experimental EtherType 1: hb's default.
pub const DEFAULT_ETHERTYPE: u16 = 0x88B5;
/// Bytes of an Ethernet header.
pub const HEADER_LEN: usize = 14;
/// `PACKET_IGNORE_OUTGOING` (linux/if_packet.h, Linux 4.20).
const PACKET_IGNORE_OUTGOING: libc::c_int = 23;

/// Everything needed to open one raw Ethernet link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawSpec {
    /// The interface.
    pub dev: String,
    /// The EtherType (host order).
    pub ethertype: u16,
}

impl RawSpec {
    /// A short human name for logs and `hbctl links`, e.g. `raw eth0`.
    pub fn name(&self) -> String {
        if self.ethertype == DEFAULT_ETHERTYPE {
            format!("raw {}", self.dev)
        } else {
            format!("raw {} 0x{:04x}", self.dev, self.ethertype)
        }
    }
}

/// Parses an EtherType as `ha.cf` writes it: `0x88b5` or decimal, at least 0x0600 (smaller
/// values are 802.3 lengths, not types).
pub fn parse_ethertype(s: &str) -> Option<u16> {
    let v = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u16::from_str_radix(h, 16).ok()?,
        None => s.parse().ok()?,
    };
    (v >= 0x0600).then_some(v)
}

/// An opened raw link: the socket, the frame header we send, and where the kernel sends it.
#[derive(Debug)]
pub struct RawLink {
    /// Non-blocking, close-on-exec, bound to the interface and EtherType.
    pub socket: Socket,
    /// `sockaddr_ll` for the broadcast destination, for `sendto`/io_uring.
    pub dest: SockAddr,
    /// Broadcast destination, our address, the EtherType.
    pub header: [u8; HEADER_LEN],
    /// The EtherType (host order).
    pub ethertype: u16,
    /// Something that worked only partly (a receive buffer smaller than asked).
    pub warnings: Vec<String>,
}

/// Opens a raw link as `spec` describes.
pub fn open_raw(spec: &RawSpec) -> Result<RawLink, MediaError> {
    let link = spec.name();
    let ifindex = crate::interface_index(&spec.dev).ok_or_else(|| MediaError::NoSuchInterface { dev: spec.dev.clone() })?;
    let proto = Protocol::from(i32::from(spec.ethertype.to_be()));
    let sock = Socket::new(Domain::PACKET, Type::RAW.nonblocking().cloexec(), Some(proto)).map_err(|source| {
        if source.raw_os_error() == Some(libc::EPERM) {
            MediaError::BadAddress { link: link.clone(), what: "opening a packet socket needs CAP_NET_RAW (run hbd as root)".into() }
        } else {
            MediaError::Socket { link: link.clone(), source }
        }
    })?;
    let opt =
        |option: &'static str, r: std::io::Result<()>| r.map_err(|source| MediaError::SetOption { option, link: link.clone(), source });
    let fd = sock.as_raw_fd();
    opt("SO_TIMESTAMPNS", crate::sys::enable_rx_timestamps(fd))?;
    opt("PACKET_IGNORE_OUTGOING", crate::sys::set_int_opt(fd, libc::SOL_PACKET, PACKET_IGNORE_OUTGOING, 1))?;
    let mut warnings = Vec::new();
    crate::size_receive_buffer(&sock, &link, &mut warnings);
    let bind = crate::sys::packet_sockaddr(ifindex, spec.ethertype, [0; 6]);
    sock.bind(&bind).map_err(|source| MediaError::SetOption { option: "bind to the interface", link: link.clone(), source })?;
    let mac = sock.local_addr().ok().as_ref().and_then(crate::sys::packet_mac).ok_or_else(|| MediaError::BadAddress {
        link: link.clone(),
        what: format!("{} has no 6-byte hardware address (not an Ethernet interface?)", spec.dev),
    })?;
    let mut header = [0u8; HEADER_LEN];
    {
        let mut eth = MutableEthernetPacket::new(&mut header).expect("14 bytes hold an Ethernet header");
        eth.set_destination(MacAddr::broadcast());
        eth.set_source(MacAddr::from(mac));
        eth.set_ethertype(EtherType(spec.ethertype));
    }
    Ok(RawLink {
        socket: sock,
        dest: crate::sys::packet_sockaddr(ifindex, spec.ethertype, [0xff; 6]),
        header,
        ethertype: spec.ethertype,
        warnings,
    })
}

/// Builds a frame (`header` then `payload`) in `out`; its length, or `None` if `out` is short.
pub fn build_frame(header: &[u8; HEADER_LEN], payload: &[u8], out: &mut [u8]) -> Option<usize> {
    let n = HEADER_LEN + payload.len();
    let mut eth = MutableEthernetPacket::new(out.get_mut(..n)?)?;
    let h = EthernetPacket::new(header)?;
    eth.set_destination(h.get_destination());
    eth.set_source(h.get_source());
    eth.set_ethertype(h.get_ethertype());
    eth.set_payload(payload);
    Some(n)
}

/// The payload of a received frame of EtherType `ethertype`; `None` for a frame too short for
/// a header or of another type.
pub fn parse_frame(frame: &[u8], ethertype: u16) -> Option<&[u8]> {
    let eth = EthernetPacket::new(frame)?;
    if eth.get_ethertype() != EtherType(ethertype) {
        return None;
    }
    frame.get(HEADER_LEN..)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ethertypes_parse_as_ha_cf_writes_them() {
        assert_eq!(parse_ethertype("0x88b5"), Some(0x88b5));
        assert_eq!(parse_ethertype("0X88B6"), Some(0x88b6));
        assert_eq!(parse_ethertype("34997"), Some(0x88b5));
        assert_eq!(parse_ethertype("0x05dc"), None, "an 802.3 length, not a type");
        assert_eq!(parse_ethertype("ip"), None);
    }

    #[test]
    fn frames_round_trip_and_foreign_ones_are_refused() {
        let mut header = [0u8; HEADER_LEN];
        header[..6].copy_from_slice(&[0xff; 6]);
        header[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
        header[12..].copy_from_slice(&0x88b5u16.to_be_bytes());
        let mut out = [0u8; 128];
        let n = build_frame(&header, b"heartbeat", &mut out).unwrap();
        assert_eq!(n, 23);
        assert_eq!(&out[..14], &header);
        assert_eq!(parse_frame(&out[..n], 0x88b5), Some(&b"heartbeat"[..]));
        assert_eq!(parse_frame(&out[..n], 0x88b6), None);
        assert_eq!(parse_frame(&out[..10], 0x88b5), None);
        assert!(build_frame(&header, &[0; 200], &mut out).is_none());
        assert_eq!(RawSpec { dev: "eth1".into(), ethertype: DEFAULT_ETHERTYPE }.name(), "raw eth1");
        assert_eq!(RawSpec { dev: "eth1".into(), ethertype: 0x88b6 }.name(), "raw eth1 0x88b6");
    }
}
