//! The telnet-menu switches' session, shared by their drivers (`wti_nps`, `apcmaster`,
//! `baytech`): a TCP connection made under the operation's deadline, telnet negotiation
//! (`IAC …`) taken out of the text and not answered, and reads until a token or a prompt, with
//! what came after it kept for the next read. Every read is bounded in time (the deadline)
//! and in size (the most recent [`MAX_REPLY`] bytes are kept).

use crate::code::quote_tail;
use crate::{Code, StonithError};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// The most bytes kept while waiting for a token.
pub(crate) const MAX_REPLY: usize = 16 * 1024;
/// How long to wait before trying a refused connection again.
const RETRY: Duration = Duration::from_millis(200);

/// Resolves `ipaddr` and an optional `port` parameter (default 23: cluster-glue's plugins can
/// use no other) once, at configuration.
pub(crate) fn resolve(ip: &str, port: Option<&str>) -> Result<SocketAddr, StonithError> {
    let bad = |w: String| StonithError::new(Code::BadConfig, w);
    let port: u16 = match port {
        None => 23,
        Some(v) => v.parse().map_err(|_| bad(format!("port {v:?} is not a port number")))?,
    };
    (ip, port)
        .to_socket_addrs()
        .map_err(|e| bad(format!("ipaddr {ip:?}: {e}")))?
        .next()
        .ok_or_else(|| bad(format!("ipaddr {ip:?} has no address")))
}

/// The parameters every telnet switch takes besides its own: `port` and `hostmap`.
pub(crate) const OPTIONAL: &[&str] = &["port", "hostmap"];
/// How long configuration may take to read the outlet names from a switch.
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);

/// What configuring a telnet switch `kind` (a `device`: "switch", "controller") shares with
/// the others: its parameters checked against `params` and [`OPTIONAL`], its address
/// resolved, and which outlets power which host — from `hostmap=`, or else as `read` (given
/// the address and a deadline) finds them on the device, by number and name.
pub(crate) fn configure(
    kind: &str,
    device: &str,
    p: &crate::Params,
    params: &[&str],
    read: impl FnOnce(SocketAddr, Instant) -> Result<Vec<(u32, String)>, StonithError>,
) -> Result<(SocketAddr, crate::outlets::Outlets), StonithError> {
    use crate::outlets::Outlets;
    let bad = |w: String| StonithError::new(Code::BadConfig, w);
    let mut known = params.to_vec();
    known.extend_from_slice(OPTIONAL);
    if let Some(u) = p.unknown(&known).first() {
        return Err(bad(format!("{kind} has no parameter {u} (it takes {})", known.join(", "))));
    }
    let addr = resolve(p.get("ipaddr")?, p.opt("port"))?;
    let hosts = match p.opt("hostmap") {
        Some(map) => Outlets::parse(map)?,
        None => {
            let names = read(addr, Instant::now() + OPEN_TIMEOUT).map_err(|e| {
                bad(format!("cannot read the {device} at {addr} at configuration ({e}); give hostmap= to configure it without asking"))
            })?;
            Outlets::from_names(names)
        }
    };
    if hosts.is_empty() {
        return Err(bad(format!("no outlet of the {device} at {addr} is named after a host; give hostmap=")));
    }
    Ok((addr, hosts))
}

/// Where a telnet byte stream is: text, or inside a negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Telnet {
    Text,
    /// After IAC.
    Iac,
    /// After IAC WILL/WONT/DO/DONT: one option byte follows.
    Option,
    /// Inside IAC SB … IAC SE.
    Sub,
    /// IAC inside a subnegotiation.
    SubIac,
}

/// Appends the text of `bytes` to `text` (telnet negotiation and NULs taken out, `IAC IAC`
/// as one 255), starting in `state`; returns the state at the end. Keeps the last
/// [`MAX_REPLY`] bytes of `text`.
pub(crate) fn strip_negotiation(mut state: Telnet, bytes: &[u8], text: &mut Vec<u8>) -> Telnet {
    for &b in bytes {
        state = match (state, b) {
            (Telnet::Text, 255) => Telnet::Iac,
            (Telnet::Text, 0) => Telnet::Text,
            (Telnet::Text, b) => {
                text.push(b);
                Telnet::Text
            }
            (Telnet::Iac, 255) => {
                text.push(255);
                Telnet::Text
            }
            (Telnet::Iac, 251..=254) => Telnet::Option,
            (Telnet::Iac, 250) => Telnet::Sub,
            (Telnet::Iac, _) | (Telnet::Option, _) => Telnet::Text,
            (Telnet::Sub, 255) => Telnet::SubIac,
            (Telnet::Sub, _) => Telnet::Sub,
            (Telnet::SubIac, 240) => Telnet::Text,
            (Telnet::SubIac, _) => Telnet::Sub,
        };
    }
    if text.len() > MAX_REPLY {
        text.drain(..text.len() - MAX_REPLY);
    }
    state
}

/// One connection to a switch.
pub(crate) struct Session {
    conn: TcpStream,
    /// Names the switch in errors (`WTI switch at 127.0.0.1:23`).
    pub(crate) what: String,
    /// Text received and not yet consumed by a read.
    text: Vec<u8>,
    state: Telnet,
}

impl Session {
    /// Connects before `deadline` (`S_TIMEOUT` if it cannot, `S_OOPS` if refused). A refused
    /// connection is tried again every [`RETRY`] until the deadline: these switches take one
    /// session at a time, and the other node (or an operator) may hold it.
    pub(crate) fn connect(addr: SocketAddr, what: String, deadline: Instant) -> Result<Session, StonithError> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
            match TcpStream::connect_timeout(&addr, left) {
                Ok(conn) => {
                    let _ = conn.set_nodelay(true);
                    return Ok(Session { conn, what, text: Vec::new(), state: Telnet::Text });
                }
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused && Instant::now() + RETRY < deadline => {
                    std::thread::sleep(RETRY);
                }
                Err(e) => {
                    let code = if e.kind() == std::io::ErrorKind::TimedOut { Code::Timeout } else { Code::Oops };
                    return Err(StonithError::new(code, format!("{what}: {e}")));
                }
            }
        }
    }

    /// Takes telnet negotiation out of `bytes` and appends the text.
    fn take(&mut self, bytes: &[u8]) {
        self.state = strip_negotiation(self.state, bytes, &mut self.text);
    }

    /// Reads until `found` gives the end of what it looks for in the text so far; returns the
    /// text up to that end and keeps the rest. `awaited` names it in the timeout error.
    pub(crate) fn expect_with(
        &mut self,
        awaited: &str,
        deadline: Instant,
        found: impl Fn(&str) -> Option<usize>,
    ) -> Result<String, StonithError> {
        let mut buf = [0u8; 512];
        loop {
            let text = String::from_utf8_lossy(&self.text).into_owned();
            if let Some(end) = found(&text) {
                let rest = text.as_bytes()[end..].to_vec();
                self.text = rest;
                return Ok(text[..end].to_string());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(StonithError::new(
                    Code::Timeout,
                    format!("{}: no {awaited} before the deadline (got {})", self.what, quote_tail(&text)),
                ));
            }
            let _ = self.conn.set_read_timeout(Some(left.max(Duration::from_millis(1))));
            match self.conn.read(&mut buf) {
                Ok(0) => return Err(StonithError::new(Code::Oops, format!("{}: the switch closed the connection", self.what))),
                Ok(n) => self.take(&buf[..n]),
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(e) => return Err(StonithError::new(Code::Oops, format!("{}: {e}", self.what))),
            }
        }
    }

    /// Reads until the first of `tokens` (returns the text up to and including it).
    pub(crate) fn expect(&mut self, tokens: &[&str], deadline: Instant) -> Result<String, StonithError> {
        self.expect_with(&tokens.join(" or "), deadline, |text| tokens.iter().filter_map(|t| text.find(t).map(|i| i + t.len())).min())
    }

    /// Sends `line` and a carriage return.
    pub(crate) fn send(&mut self, line: &str) -> Result<(), StonithError> {
        self.send_raw(format!("{line}\r").as_bytes())
    }

    /// Sends bytes as they are (an ESC, say).
    pub(crate) fn send_raw(&mut self, bytes: &[u8]) -> Result<(), StonithError> {
        self.conn.write_all(bytes).map_err(|e| StonithError::new(Code::Oops, format!("{}: {e}", self.what)))
    }
}

/// The end of the text when its last line is a prompt that `is_prompt` accepts (trimmed of
/// spaces): the switch has finished talking and waits.
pub(crate) fn prompt_end(text: &str, is_prompt: impl Fn(&str) -> bool) -> Option<usize> {
    let last = text.rsplit(['\n', '\r']).next().unwrap_or(text);
    is_prompt(last.trim()).then_some(text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_is_taken_out_of_the_text() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut s = Session::connect(addr, "test".into(), Instant::now() + Duration::from_secs(5)).unwrap();
        // IAC WILL ECHO, IAC SB 24 1 IAC SE, IAC IAC (a literal 255), IAC NOP, then text.
        s.take(&[255, 251, 1, b'a', 255, 250, 24, 1, 255, 240, b'b', 255, 255, 255, 241, b'c', 0]);
        assert_eq!(s.text, [b'a', b'b', 255, b'c']);
    }

    #[test]
    fn what_follows_a_token_is_kept_for_the_next_read() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let soon = Instant::now() + Duration::from_secs(5);
        let mut s = Session::connect(addr, "test".into(), soon).unwrap();
        let (mut peer, _) = listener.accept().unwrap();
        peer.write_all(b"User Name : Password  : x").unwrap();
        assert_eq!(s.expect(&["Password  :", "User Name :"], soon).unwrap(), "User Name :");
        assert_eq!(s.expect(&["Password  :"], soon).unwrap(), " Password  :");
        let e = s.expect(&["never"], Instant::now() + Duration::from_millis(50)).unwrap_err();
        assert_eq!(e.code, Code::Timeout);
        assert!(e.what.contains("\"x\""), "{e}");
        drop(peer);
        assert_eq!(s.expect(&["never"], soon).unwrap_err().code, Code::Oops);
    }

    #[test]
    fn a_refused_connection_is_tried_again_until_the_deadline() {
        // A port nobody listens on yet, opened a moment later (the switch's one session ended).
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = probe.local_addr().unwrap();
        drop(probe);
        let late = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            std::net::TcpListener::bind(addr).ok().map(|l| l.accept())
        });
        let s = Session::connect(addr, "test".into(), Instant::now() + Duration::from_secs(5));
        assert!(s.is_ok(), "{:?}", s.err());
        let _ = late.join();
        let start = Instant::now();
        let e = Session::connect(addr, "test".into(), Instant::now() + Duration::from_millis(500)).err().unwrap();
        assert_eq!(e.code, Code::Oops, "{e}");
        assert!(start.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn a_prompt_is_the_last_line() {
        assert_eq!(prompt_end("menu\r\n> ", |l| l == ">"), Some(8));
        assert_eq!(prompt_end("menu\r\n> x", |l| l == ">"), None);
        assert_eq!(prompt_end("", |l| l == ">"), None);
    }
}
