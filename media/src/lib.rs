//! Heartbeat media: opening and configuring the sockets the core's loop reads and writes.
//!
//! UDP media as heartbeat's `ha.cf` names them — `bcast`, `mcast`, `ucast`, `mcast6`,
//! `ucast6` — open as one non-blocking socket per [`UdpSpec`], returned as an [`UdpLink`] with
//! its destinations already converted to raw socket addresses so the RT loop never builds one.
//! `serial` ports open in [`serial`] (raw 8N1, locked), and [`frame`] is the framing that
//! carries packets over their byte stream; [`raw`] is hb's raw Ethernet medium (AF_PACKET, its
//! own EtherType, no IP needed); [`ping`] opens the ICMP sockets of ping pseudo-members and
//! builds and parses their echoes.
//!
//! The crate does no I/O after opening: the core's io_uring or epoll loop owns the fds.

pub mod frame;
pub mod ping;
pub mod raw;
pub mod serial;
mod sys;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6, UdpSocket};

use std::os::fd::AsRawFd;
pub use sys::{enable_rx_timestamps, interface_index, local_addresses};

/// Which UDP medium a link is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UdpKind {
    /// `bcast dev`: IPv4 broadcast to 255.255.255.255 on `dev`.
    Bcast,
    /// `mcast`/`mcast6 dev group port ttl loop`.
    Mcast {
        /// The multicast group.
        group: IpAddr,
        /// Multicast TTL (IPv4) or hop limit (IPv6).
        ttl: u8,
        /// Whether our own multicast is looped back to us.
        loopback: bool,
    },
    /// `ucast`/`ucast6 dev peer…`: unicast to each peer.
    Ucast {
        /// The peers' addresses (our own addresses already removed).
        peers: Vec<IpAddr>,
    },
}

/// Everything needed to open one UDP link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpSpec {
    /// The medium.
    pub kind: UdpKind,
    /// The interface name (`SO_BINDTODEVICE`).
    pub dev: String,
    /// The UDP port (heartbeat's `udpport`, 694 by default).
    pub port: u16,
    /// IPv6 (`mcast6`, `ucast6`) rather than IPv4.
    pub ipv6: bool,
    /// A local address to bind instead of the wildcard (hb's `bind` directive).
    pub bind: Option<IpAddr>,
}

impl UdpSpec {
    /// A short human name for logs and `hbctl links`, e.g. `ucast eth0`.
    pub fn name(&self) -> String {
        let kind = match (&self.kind, self.ipv6) {
            (UdpKind::Bcast, _) => "bcast",
            (UdpKind::Mcast { .. }, false) => "mcast",
            (UdpKind::Mcast { .. }, true) => "mcast6",
            (UdpKind::Ucast { .. }, false) => "ucast",
            (UdpKind::Ucast { .. }, true) => "ucast6",
        };
        format!("{kind} {}", self.dev)
    }
}

/// An opened UDP link: a non-blocking socket and where to send.
#[derive(Debug)]
pub struct UdpLink {
    /// The socket, non-blocking, close-on-exec.
    pub socket: UdpSocket,
    /// Destinations, pre-converted for `sendto`/io_uring.
    pub dests: Vec<SockAddr>,
    /// Something that worked only partly (e.g. `SO_BINDTODEVICE` refused without privilege).
    pub warnings: Vec<String>,
}

/// Opening a medium failed; each variant names the step.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// The interface does not exist.
    #[error("no such interface {dev:?}")]
    NoSuchInterface {
        /// The interface name.
        dev: String,
    },
    /// `socket(2)` failed.
    #[error("creating a UDP socket for {link} failed")]
    Socket {
        /// The link name.
        link: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Setting a socket option failed.
    #[error("setting {option} on {link} failed")]
    SetOption {
        /// The option.
        option: &'static str,
        /// The link name.
        link: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// `bind(2)` failed.
    #[error("binding {addr} for {link} failed")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The link name.
        link: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Joining the multicast group failed.
    #[error("joining multicast group {group} on {dev} failed")]
    JoinGroup {
        /// The group.
        group: IpAddr,
        /// The interface.
        dev: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A serial port is held by another program.
    #[error("serial port {path} is in use by {by}")]
    PortBusy {
        /// The device.
        path: std::path::PathBuf,
        /// Who holds it.
        by: String,
    },
    /// A serial port cannot be opened or set up.
    #[error("serial port {path}: {what} failed")]
    Serial {
        /// The device.
        path: std::path::PathBuf,
        /// The step.
        what: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A baud rate hb does not drive.
    #[error("baud {baud} is not one of 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800")]
    BadBaud {
        /// The rate asked for.
        baud: u32,
    },
    /// A multicast group that is not multicast, or a family mismatch.
    #[error("{link}: {what}")]
    BadAddress {
        /// The link name.
        link: String,
        /// What is wrong.
        what: String,
    },
}

/// Receive buffer asked for each socket (UDP and raw Ethernet): room for a flood of forged
/// packets between two drains of the core's loop. A small heartbeat takes about a kilobyte of
/// buffer in the kernel, so 4 MiB holds some 4,000: several milliseconds of the fastest flood
/// two cores could send here (0.9 million packets a second) while the loop, which drains every
/// millisecond under a flood, is delayed. Memory is charged only while packets wait. Without
/// CAP_NET_ADMIN the kernel caps it at `net.core.rmem_max` (208 KiB by default), and a
/// warning says so.
pub const RCVBUF: usize = 4 << 20;

/// Sizes `sock`'s receive buffer to [`RCVBUF`]; a warning for `link` when it ends up smaller.
pub(crate) fn size_receive_buffer(sock: &Socket, link: &str, warnings: &mut Vec<String>) {
    match sys::set_receive_buffer(sock, RCVBUF) {
        Ok((got, _)) if got >= RCVBUF => {}
        Ok((got, _)) => warnings.push(format!(
            "{link}: the receive buffer is {} KiB, not {} KiB (SO_RCVBUFFORCE needs CAP_NET_ADMIN; or raise net.core.rmem_max): a flood of forged packets can push out real heartbeats sooner",
            got / 1024,
            RCVBUF / 1024
        )),
        Err(e) => warnings.push(format!("{link}: setting the receive buffer failed: {e}")),
    }
}

/// Opens one UDP link as `spec` describes.
pub fn open_udp(spec: &UdpSpec) -> Result<UdpLink, MediaError> {
    let link = spec.name();
    let ifindex = interface_index(&spec.dev).ok_or_else(|| MediaError::NoSuchInterface { dev: spec.dev.clone() })?;
    let domain = if spec.ipv6 { Domain::IPV6 } else { Domain::IPV4 };
    let ty = Type::DGRAM.nonblocking().cloexec();
    let sock = Socket::new(domain, ty, Some(Protocol::UDP)).map_err(|source| MediaError::Socket { link: link.clone(), source })?;
    let opt =
        |option: &'static str, r: std::io::Result<()>| r.map_err(|source| MediaError::SetOption { option, link: link.clone(), source });
    let mut warnings = Vec::new();

    // Only multicast sockets share their port (the norm for a group); on unicast and
    // broadcast links a second process on the same port must fail to bind rather than
    // silently take a share of the heartbeats.
    if matches!(spec.kind, UdpKind::Mcast { .. }) {
        opt("SO_REUSEADDR", sock.set_reuse_address(true))?;
    }
    opt("SO_TIMESTAMPNS", sys::enable_rx_timestamps(sock.as_raw_fd()))?;
    size_receive_buffer(&sock, &link, &mut warnings);
    if spec.ipv6 {
        opt("IPV6_V6ONLY", sock.set_only_v6(true))?;
    }
    match sock.bind_device(Some(spec.dev.as_bytes())) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
            warnings.push(format!("{link}: SO_BINDTODEVICE {} needs CAP_NET_RAW; the socket is not tied to the interface", spec.dev));
        }
        Err(source) => return Err(MediaError::SetOption { option: "SO_BINDTODEVICE", link, source }),
    }

    let wildcard: IpAddr = if spec.ipv6 { Ipv6Addr::UNSPECIFIED.into() } else { Ipv4Addr::UNSPECIFIED.into() };
    let bind_ip = spec.bind.unwrap_or(wildcard);
    let mut dests: Vec<SocketAddr> = Vec::new();
    match &spec.kind {
        UdpKind::Bcast => {
            if spec.ipv6 {
                return Err(MediaError::BadAddress { link, what: "IPv6 has no broadcast; use mcast6".into() });
            }
            opt("SO_BROADCAST", sock.set_broadcast(true))?;
            dests.push(SocketAddr::new(Ipv4Addr::BROADCAST.into(), spec.port));
        }
        UdpKind::Mcast { group, ttl, loopback } => {
            match (group, spec.ipv6) {
                (IpAddr::V4(g), false) if g.is_multicast() => {
                    sock.join_multicast_v4_n(g, &socket2::InterfaceIndexOrAddress::Index(ifindex))
                        .map_err(|source| MediaError::JoinGroup { group: *group, dev: spec.dev.clone(), source })?;
                    opt("IP_MULTICAST_TTL", sock.set_multicast_ttl_v4(u32::from(*ttl)))?;
                    opt("IP_MULTICAST_LOOP", sock.set_multicast_loop_v4(*loopback))?;
                }
                (IpAddr::V6(g), true) if g.is_multicast() => {
                    sock.join_multicast_v6(g, ifindex).map_err(|source| MediaError::JoinGroup {
                        group: *group,
                        dev: spec.dev.clone(),
                        source,
                    })?;
                    opt("IPV6_MULTICAST_HOPS", sock.set_multicast_hops_v6(u32::from(*ttl)))?;
                    opt("IPV6_MULTICAST_LOOP", sock.set_multicast_loop_v6(*loopback))?;
                    opt("IPV6_MULTICAST_IF", sock.set_multicast_if_v6(ifindex))?;
                }
                _ => return Err(MediaError::BadAddress { link, what: format!("{group} is not a multicast group of this family") }),
            }
            dests.push(with_scope(SocketAddr::new(*group, spec.port), ifindex));
        }
        UdpKind::Ucast { peers } => {
            for p in peers {
                if p.is_ipv6() != spec.ipv6 {
                    return Err(MediaError::BadAddress { link, what: format!("peer {p} is not of this link's family") });
                }
                dests.push(with_scope(SocketAddr::new(*p, spec.port), ifindex));
            }
        }
    }
    let addr = SocketAddr::new(bind_ip, spec.port);
    sock.bind(&addr.into()).map_err(|source| MediaError::Bind { addr, link: link.clone(), source })?;
    Ok(UdpLink { socket: sock.into(), dests: dests.iter().map(|a| SockAddr::from(*a)).collect(), warnings })
}

/// Link-local IPv6 destinations need the interface as scope id.
fn with_scope(addr: SocketAddr, ifindex: u32) -> SocketAddr {
    match addr {
        SocketAddr::V6(a) if (a.ip().segments()[0] & 0xffc0) == 0xfe80 || a.ip().is_multicast() => {
            SocketAddr::V6(SocketAddrV6::new(*a.ip(), a.port(), 0, ifindex))
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_ucast_pair_exchanges_a_datagram() {
        let a = UdpSpec {
            kind: UdpKind::Ucast { peers: vec!["127.0.0.1".parse().unwrap()] },
            dev: "lo".into(),
            port: 0,
            ipv6: false,
            bind: Some("127.0.0.1".parse().unwrap()),
        };
        let link = open_udp(&a).expect("open");
        let port = link.socket.local_addr().unwrap().port();
        link.socket.send_to(b"hi", ("127.0.0.1", port)).unwrap();
        let mut buf = [0u8; 16];
        for _ in 0..100 {
            if let Ok((n, _)) = link.socket.recv_from(&mut buf) {
                assert_eq!(&buf[..n], b"hi");
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        panic!("no datagram");
    }

    #[test]
    fn unknown_interface_is_named() {
        let a = UdpSpec { kind: UdpKind::Bcast, dev: "nosuchif0".into(), port: 0, ipv6: false, bind: None };
        let e = open_udp(&a).unwrap_err();
        assert_eq!(e.to_string(), "no such interface \"nosuchif0\"");
    }

    #[test]
    fn loopback_has_local_addresses() {
        assert!(local_addresses().contains(&"127.0.0.1".parse::<IpAddr>().unwrap()));
        assert!(interface_index("lo").is_some());
    }
}
