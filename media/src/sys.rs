//! Interface look-ups libc offers and std does not; the only unsafe code in `hb-media`.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The kernel's index of interface `dev`, or `None` when it does not exist.
pub fn interface_index(dev: &str) -> Option<u32> {
    let c = CString::new(dev).ok()?;
    // SAFETY: `c` is a valid NUL-terminated string for the duration of the call.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (idx != 0).then_some(idx)
}

/// Every address configured on this host's interfaces (in this network namespace).
pub fn local_addresses() -> Vec<IpAddr> {
    let mut out = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: `head` is a valid out-pointer; on success it owns a list freed below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return out;
    }
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a non-null node of the list getifaddrs returned.
        let ifa = unsafe { &*cur };
        if !ifa.ifa_addr.is_null() {
            // SAFETY: ifa_addr is non-null and points at a sockaddr of the family it states.
            let family = i32::from(unsafe { (*ifa.ifa_addr).sa_family });
            if family == libc::AF_INET {
                // SAFETY: the family is AF_INET, so the sockaddr is a sockaddr_in.
                let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
                out.push(IpAddr::V4(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr))));
            } else if family == libc::AF_INET6 {
                // SAFETY: the family is AF_INET6, so the sockaddr is a sockaddr_in6.
                let sin6 = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in6) };
                out.push(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)));
            }
        }
        cur = ifa.ifa_next;
    }
    // SAFETY: `head` came from a successful getifaddrs and is freed exactly once.
    unsafe { libc::freeifaddrs(head) };
    out
}

/// Asks the kernel to stamp every received datagram with its arrival time (`SO_TIMESTAMPNS`,
/// CLOCK_REALTIME), so the loop knows when a packet arrived, not when it got round to it.
pub fn enable_rx_timestamps(fd: std::os::fd::RawFd) -> std::io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: `on` is a valid c_int and its size is passed; `fd` is a socket the caller owns.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Takes ownership of `fd`, which the caller got from an `into_raw_fd` and nothing else owns.
pub(crate) fn owned(fd: std::os::fd::RawFd) -> std::os::fd::OwnedFd {
    use std::os::fd::FromRawFd;
    // SAFETY: the caller passes an open fd whose previous owner gave it up (`into_raw_fd`), so
    // this OwnedFd is its only owner and closes it once.
    unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) }
}

/// Sets `O_NONBLOCK` on `fd`.
pub(crate) fn set_nonblocking(fd: std::os::fd::RawFd) -> std::io::Result<()> {
    // SAFETY: fcntl on an fd the caller owns; F_GETFL/F_SETFL take and return plain ints.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    // SAFETY: as above.
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Discards whatever the tty at `fd` has received and not yet been read (`TCIFLUSH`).
pub(crate) fn flush_input(fd: std::os::fd::RawFd) -> std::io::Result<()> {
    // SAFETY: tcflush on a tty fd the caller owns.
    if unsafe { libc::tcflush(fd, libc::TCIFLUSH) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// A `sockaddr_ll` for interface `ifindex`, EtherType `ethertype` (host order) and link-layer
/// address `mac`, as a [`socket2::SockAddr`].
pub(crate) fn packet_sockaddr(ifindex: u32, ethertype: u16, mac: [u8; 6]) -> socket2::SockAddr {
    let mut storage = socket2::SockAddrStorage::zeroed();
    // SAFETY: sockaddr_ll is one of this platform's sockaddr types, smaller than the storage.
    let ll = unsafe { storage.view_as::<libc::sockaddr_ll>() };
    ll.sll_family = libc::AF_PACKET as u16;
    ll.sll_protocol = ethertype.to_be();
    ll.sll_ifindex = ifindex as i32;
    ll.sll_halen = 6;
    ll.sll_addr[..6].copy_from_slice(&mac);
    // SAFETY: the storage holds an initialised sockaddr_ll of the length given.
    unsafe { socket2::SockAddr::new(storage, std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t) }
}

/// Sets an integer socket option.
pub(crate) fn set_int_opt(fd: std::os::fd::RawFd, level: libc::c_int, opt: libc::c_int, value: libc::c_int) -> std::io::Result<()> {
    // SAFETY: `value` is a valid c_int and its size is passed; `fd` is a socket the caller owns.
    let rc = unsafe {
        libc::setsockopt(fd, level, opt, (&value as *const libc::c_int).cast(), std::mem::size_of::<libc::c_int>() as libc::socklen_t)
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The link-layer address in a packet socket's address (`getsockname` of a bound one).
pub(crate) fn packet_mac(addr: &socket2::SockAddr) -> Option<[u8; 6]> {
    if i32::from(addr.family()) != libc::AF_PACKET {
        return None;
    }
    let mut storage = addr.clone().as_storage();
    // SAFETY: the family is AF_PACKET, so the storage holds a sockaddr_ll.
    let ll = unsafe { storage.view_as::<libc::sockaddr_ll>() };
    (ll.sll_halen == 6).then(|| {
        let mut mac = [0u8; 6];
        mac.copy_from_slice(&ll.sll_addr[..6]);
        mac
    })
}

/// Sets the socket's receive buffer to `bytes`: with `SO_RCVBUFFORCE` where allowed
/// (CAP_NET_ADMIN: above `net.core.rmem_max`), else with `SO_RCVBUF`, which the kernel caps
/// at `rmem_max`. Returns the size the kernel reports afterwards (it doubles what it is given,
/// for its own bookkeeping) and whether the force was refused.
pub fn set_receive_buffer(sock: &socket2::Socket, bytes: usize) -> std::io::Result<(usize, bool)> {
    use std::os::fd::AsRawFd;
    let v = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    // SAFETY: `v` is a valid c_int and its size is passed; the fd belongs to `sock`.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            (&v as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    let refused = rc != 0;
    if refused {
        sock.set_recv_buffer_size(bytes)?;
    }
    Ok((sock.recv_buffer_size()?, refused))
}
