//! `ipmilan`: a BMC spoken to natively over UDP (RMCP, port 623): IPMI 1.5 sessions (auth
//! `none`, `straight` or `md5`) and IPMI 2.0 RMCP+ sessions (`lanplus=1`, cipher suite 3 or
//! 17). Each operation opens a session, sends its chassis command and closes the session, all
//! before its deadline, resending a request that got no answer. The address is resolved and
//! the socket opened (and connected to the BMC, so the kernel drops every other sender) at
//! configuration. [`lan`] is the protocol, without I/O.
//!
//! Parameters, as cluster-glue's `ipmilan` names them (fence_ipmilan's names are accepted
//! too, in brackets):
//! - `hostname`: the host this BMC powers;
//! - `ipaddr` [`ip`], `port` [`ipport`] (default 623);
//! - `auth`: `none`, `straight` or `md5` for IPMI 1.5 (default `md5`; `md2` is refused);
//! - `priv` [`privlvl`]: `operator` or `admin` (default `admin`);
//! - `login` [`username`, `userid`], `password` [`passwd`];
//! - `reset_method`: `hard_reset` (default) or `power_cycle`;
//! - `lanplus`: `1` for IPMI 2.0 (RMCP+), `cipher`: `3` (default) or `17`.
//!
//! A reset of a host that is off powers it on (as cluster-glue's `external/ipmi` does). A
//! reset answered with completion code 0xC3 or 0xFF counts as done: the BMC may reset before
//! it replies (as cluster-glue's `ipmilan` does).

pub mod lan;

use crate::{Action, Code, Driver, Info, Params, Power, StonithError};
use lan::{cmd, payload, Auth15, Keys, LanError, Rakp, Suite};
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::{Duration, Instant};

/// This driver's description.
pub const INFO: Info = Info {
    name: "ipmilan",
    description: "IPMI over LAN, native: 1.5 (none, straight, MD5) and 2.0/RMCP+ (cipher suites 3 and 17)",
    params: &["hostname", "ipaddr", "port", "auth", "priv", "login", "password", "reset_method"],
    forks: false,
    confirms: true,
    operator: false,
};

/// Optional parameters and aliases besides [`Info::params`].
const OPTIONAL: &[&str] = &["lanplus", "cipher", "ip", "ipport", "username", "userid", "passwd", "privlvl"];

/// How long a request waits for its answer before it is sent again.
const RESEND: Duration = Duration::from_millis(250);

/// The session kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    V15(Auth15),
    V20(Suite),
}

/// A configured BMC.
pub struct Ipmilan {
    host: String,
    sock: UdpSocket,
    bmc: SocketAddr,
    version: Version,
    priv_level: u8,
    user: Vec<u8>,
    password: String,
    cycle: bool,
    rq_seq: u8,
    tag: u8,
}

/// An open session.
enum Session {
    V15 { auth: Auth15, sid: u32, seq: u32, unauth_replies: bool },
    V20 { bmc_sid: u32, console_sid: u32, seq: u32, keys: Keys },
}

fn bad(what: String) -> StonithError {
    StonithError::new(Code::BadConfig, what)
}

impl Ipmilan {
    /// Configures it: parameters checked, address resolved, socket opened and connected.
    pub fn open(p: &Params) -> Result<Ipmilan, StonithError> {
        let mut known = INFO.params.to_vec();
        known.extend_from_slice(OPTIONAL);
        if let Some(u) = p.unknown(&known).first() {
            return Err(bad(format!("ipmilan has no parameter {u} (it takes {})", known.join(", "))));
        }
        let either = |a: &str, b: &[&str]| p.opt(a).or_else(|| b.iter().find_map(|n| p.opt(n)));
        let host = p.get("hostname")?.to_string();
        let ip = either("ipaddr", &["ip"]).ok_or_else(|| bad("parameter ipaddr is missing".into()))?;
        let port: u16 = match either("port", &["ipport"]) {
            None => 623,
            Some(v) => v.parse().map_err(|_| bad(format!("port {v:?} is not a port number")))?,
        };
        let bmc = (ip, port)
            .to_socket_addrs()
            .map_err(|e| bad(format!("ipaddr {ip:?}: {e}")))?
            .next()
            .ok_or_else(|| bad(format!("ipaddr {ip:?} has no address")))?;
        let lanplus = matches!(p.opt("lanplus"), Some("1" | "true" | "yes" | "on"));
        let version = if lanplus {
            let c = p.opt("cipher").unwrap_or("3");
            let suite =
                c.parse().ok().and_then(Suite::from_number).ok_or_else(|| bad(format!("cipher {c:?}: this driver speaks 3 and 17")))?;
            Version::V20(suite)
        } else {
            Version::V15(match p.opt("auth").unwrap_or("md5") {
                "none" => Auth15::None,
                "straight" | "password" => Auth15::Straight,
                "md5" => Auth15::Md5,
                "md2" => return Err(bad("auth md2 is not supported (MD2 is broken); use md5 or lanplus=1".into())),
                other => return Err(bad(format!("auth {other:?} must be none, straight or md5"))),
            })
        };
        let priv_level = match either("priv", &["privlvl"]).unwrap_or("admin") {
            "operator" => 3,
            "admin" | "administrator" => 4,
            other => return Err(bad(format!("priv {other:?} must be operator or admin"))),
        };
        let user = either("login", &["username", "userid"]).unwrap_or("").as_bytes().to_vec();
        let password = either("password", &["passwd"]).unwrap_or("").to_string();
        let max = if lanplus { 20 } else { 16 };
        if user.len() > 16 || password.len() > max {
            return Err(bad(format!("login is at most 16 bytes and password at most {max}")));
        }
        let cycle = match p.opt("reset_method").unwrap_or("hard_reset") {
            "hard_reset" => false,
            "power_cycle" => true,
            other => return Err(bad(format!("reset_method {other:?} must be hard_reset or power_cycle"))),
        };
        let local: SocketAddr = if bmc.is_ipv6() { "[::]:0".parse() } else { "0.0.0.0:0".parse() }.expect("a literal address");
        let sock =
            UdpSocket::bind(local).and_then(|s| s.connect(bmc).map(|()| s)).map_err(|e| bad(format!("a UDP socket to {bmc}: {e}")))?;
        Ok(Ipmilan { host, sock, bmc, version, priv_level, user, password, cycle, rq_seq: 0, tag: 0 })
    }

    /// Sends `pkt` until `accept` takes an answer or `deadline` passes. `accept` returns
    /// `Ok(None)` for packets that are not the answer (they are ignored).
    fn exchange<T>(
        &mut self,
        pkt: &[u8],
        what: &str,
        deadline: Instant,
        mut accept: impl FnMut(&[u8]) -> Result<Option<T>, LanError>,
    ) -> Result<T, StonithError> {
        let (bmc, what_owned) = (self.bmc, what.to_string());
        crate::udp::send_until(&self.sock, pkt, deadline, RESEND, &|| format!("the BMC at {bmc} to {what_owned}"), |b| match accept(b) {
            Ok(Some(t)) => Some(Ok(t)),
            Ok(None) | Err(LanError::Truncated(_) | LanError::Unexpected(_) | LanError::Checksum) => None,
            Err(e @ LanError::BadAuth(_)) | Err(e @ LanError::Refused(_)) => {
                Some(Err(StonithError::new(Code::Access, format!("BMC at {bmc}: {what_owned}: {e}"))))
            }
        })
    }

    fn next_seq(&mut self) -> u8 {
        self.rq_seq = (self.rq_seq + 1) & 0x3F;
        self.rq_seq
    }

    fn next_tag(&mut self) -> u8 {
        self.tag = self.tag.wrapping_add(1);
        self.tag
    }

    /// One IPMI command outside a session (1.5, auth none): its completion code and data.
    fn sessionless(&mut self, netfn: u8, command: u8, data: &[u8], deadline: Instant) -> Result<(u8, Vec<u8>), StonithError> {
        let seq = self.next_seq();
        let pkt = lan::packet15(Auth15::None, &[0; 16], 0, 0, &lan::request(netfn, command, seq, data));
        self.exchange(&pkt, "a request", deadline, |r| {
            let m = lan::parse15(r, &[0; 16], None)?;
            lan::response(m, netfn, command, seq).map(|(cc, d)| Some((cc, d.to_vec())))
        })
    }

    /// Opens a session at the configured privilege level.
    fn open_session(&mut self, deadline: Instant) -> Result<Session, StonithError> {
        let s = match self.version {
            Version::V15(auth) => self.open15(auth, deadline)?,
            Version::V20(suite) => self.open20(suite, deadline)?,
        };
        Ok(s)
    }

    fn open15(&mut self, auth: Auth15, deadline: Instant) -> Result<Session, StonithError> {
        let access = |what: String| StonithError::new(Code::Access, what);
        let (cc, caps) = self.sessionless(cmd::APP, cmd::GET_CHANNEL_AUTH_CAP, &[0x0E, self.priv_level], deadline)?;
        if cc != 0 || caps.len() < 3 {
            return Err(access(format!("Get Channel Authentication Capabilities: completion code 0x{cc:02x}")));
        }
        let bit = match auth {
            Auth15::None => 0x01,
            Auth15::Md5 => 0x04,
            Auth15::Straight => 0x10,
        };
        if caps[1] & bit == 0 {
            return Err(access(format!("the BMC does not offer auth {auth:?} on this channel")));
        }
        // Per-message authentication disabled: the BMC's replies inside the session are
        // not authenticated (ours still are).
        let unauth_replies = caps[2] & 0x10 != 0;
        let mut name = [0u8; 16];
        name[..self.user.len()].copy_from_slice(&self.user);
        let mut data = vec![auth as u8];
        data.extend_from_slice(&name);
        let (cc, ch) = self.sessionless(cmd::APP, cmd::GET_SESSION_CHALLENGE, &data, deadline)?;
        if cc != 0 || ch.len() < 20 {
            return Err(access(format!("Get Session Challenge: completion code 0x{cc:02x} (0x81: no such user)")));
        }
        let temp = u32::from_le_bytes([ch[0], ch[1], ch[2], ch[3]]);
        let pw = lan::password16(&self.password);
        let mut outbound = [0u8; 4];
        getrandom::getrandom(&mut outbound).map_err(|e| StonithError::new(Code::Oops, format!("no randomness: {e}")))?;
        outbound[0] |= 1;
        let mut data = vec![auth as u8, self.priv_level];
        data.extend_from_slice(&ch[4..20]);
        data.extend_from_slice(&outbound);
        let seq = self.next_seq();
        let pkt = lan::packet15(auth, &pw, 0, temp, &lan::request(cmd::APP, cmd::ACTIVATE_SESSION, seq, &data));
        let what = "Activate Session (an IPMI 1.5 BMC does not answer a wrong password)";
        let (cc, act) = self.exchange(&pkt, what, deadline, |r| {
            let m = lan::parse15(r, &pw, None)?;
            lan::response(m, cmd::APP, cmd::ACTIVATE_SESSION, seq).map(|(cc, d)| Some((cc, d.to_vec())))
        })?;
        if cc != 0 || act.len() < 9 {
            return Err(access(format!("Activate Session: completion code 0x{cc:02x} (wrong password, or no free session)")));
        }
        let sid = u32::from_le_bytes([act[1], act[2], act[3], act[4]]);
        let seq = u32::from_le_bytes([act[5], act[6], act[7], act[8]]).max(1);
        let mut s = Session::V15 { auth, sid, seq, unauth_replies };
        self.set_privilege(&mut s, deadline)?;
        Ok(s)
    }

    fn open20(&mut self, suite: Suite, deadline: Instant) -> Result<Session, StonithError> {
        let mut rand = [0u8; 20];
        getrandom::getrandom(&mut rand).map_err(|e| StonithError::new(Code::Oops, format!("no randomness: {e}")))?;
        let console_sid = u32::from_le_bytes([rand[0], rand[1], rand[2], rand[3]]) | 1;
        let tag = self.next_tag();
        let req = lan::packet20(payload::OPEN_REQ, 0, 0, &lan::open_request(tag, self.priv_level, console_sid, suite), None);
        let bmc_sid = self.exchange(&req, "Open Session", deadline, |r| match lan::parse20(r, 0, None)? {
            (payload::OPEN_RESP, b) => lan::open_response(&b, tag, console_sid, suite).map(Some),
            _ => Ok(None),
        })?;
        let mut rm = [0u8; 16];
        rm.copy_from_slice(&rand[4..20]);
        // Name-only lookup (bit 4) at the configured privilege level.
        let role = 0x10 | self.priv_level;
        let mut rakp = Rakp { suite, console_sid, bmc_sid, rm, rc: [0; 16], guid: [0; 16], role, user: self.user.clone() };
        let tag = self.next_tag();
        let m1 = lan::packet20(payload::RAKP1, 0, 0, &lan::rakp1(tag, bmc_sid, &rm, role, &self.user), None);
        let pw = self.password.clone();
        self.exchange(&m1, "RAKP 1", deadline, |r| match lan::parse20(r, 0, None)? {
            (payload::RAKP2, b) => rakp.rakp2(&b, tag, pw.as_bytes()).map(Some),
            _ => Ok(None),
        })?;
        let tag = self.next_tag();
        let m3 = lan::packet20(payload::RAKP3, 0, 0, &rakp.rakp3(tag, pw.as_bytes()), None);
        let keys = self.exchange(&m3, "RAKP 3", deadline, |r| match lan::parse20(r, 0, None)? {
            (payload::RAKP4, b) => rakp.rakp4(&b, tag, pw.as_bytes()).map(Some),
            _ => Ok(None),
        })?;
        let mut s = Session::V20 { bmc_sid, console_sid, seq: 1, keys };
        self.set_privilege(&mut s, deadline)?;
        Ok(s)
    }

    fn set_privilege(&mut self, s: &mut Session, deadline: Instant) -> Result<(), StonithError> {
        let (cc, _) = self.command(s, cmd::APP, cmd::SET_SESSION_PRIV, &[self.priv_level], deadline)?;
        if cc != 0 {
            return Err(StonithError::new(Code::Access, format!("Set Session Privilege Level: completion code 0x{cc:02x}")));
        }
        Ok(())
    }

    /// One IPMI command inside session `s`: its completion code and data.
    fn command(&mut self, s: &mut Session, netfn: u8, command: u8, data: &[u8], deadline: Instant) -> Result<(u8, Vec<u8>), StonithError> {
        let seq = self.next_seq();
        let msg = lan::request(netfn, command, seq, data);
        match s {
            Session::V15 { auth, sid, seq: out, unauth_replies } => {
                let pw = lan::password16(&self.password);
                let pkt = lan::packet15(*auth, &pw, *out, *sid, &msg);
                *out = out.wrapping_add(1);
                let want = if *unauth_replies { None } else { Some(*auth) };
                let sid = *sid;
                self.exchange(&pkt, "a command", deadline, |r| {
                    let m = lan::parse15(r, &pw, want)?;
                    if r.len() >= 13 && u32::from_le_bytes([r[9], r[10], r[11], r[12]]) != sid {
                        return Ok(None);
                    }
                    lan::response(m, netfn, command, seq).map(|(cc, d)| Some((cc, d.to_vec())))
                })
            }
            Session::V20 { bmc_sid, console_sid, seq: out, keys } => {
                let mut iv = [0u8; 16];
                getrandom::getrandom(&mut iv).map_err(|e| StonithError::new(Code::Oops, format!("no randomness: {e}")))?;
                let pkt = lan::packet20(payload::IPMI, *bmc_sid, *out, &msg, Some((keys, iv)));
                *out = out.wrapping_add(1);
                let (csid, keys) = (*console_sid, keys.clone());
                self.exchange(&pkt, "a command", deadline, |r| match lan::parse20(r, csid, Some(&keys))? {
                    (payload::IPMI, m) => lan::response(&m, netfn, command, seq).map(|(cc, d)| Some((cc, d.to_vec()))),
                    _ => Ok(None),
                })
            }
        }
    }

    /// Closes `s` (best effort: a session the BMC does not close times out on its own).
    fn close(&mut self, mut s: Session, deadline: Instant) {
        let sid = match &s {
            Session::V15 { sid, .. } => *sid,
            Session::V20 { bmc_sid, .. } => *bmc_sid,
        };
        let _ = self.command(&mut s, cmd::APP, cmd::CLOSE_SESSION, &sid.to_le_bytes(), deadline.min(Instant::now() + RESEND * 2));
    }

    /// Runs `f` in a fresh session, closing it afterwards whatever `f` returned.
    fn in_session<T>(
        &mut self,
        deadline: Instant,
        f: impl FnOnce(&mut Self, &mut Session) -> Result<T, StonithError>,
    ) -> Result<T, StonithError> {
        let mut s = self.open_session(deadline)?;
        let r = f(self, &mut s);
        self.close(s, deadline);
        r
    }

    fn check_host(&self, host: &str) -> Result<(), StonithError> {
        if !self.host.eq_ignore_ascii_case(host) {
            return Err(StonithError::new(Code::BadHost, format!("this BMC powers {}, not {host}", self.host)));
        }
        Ok(())
    }
}

/// The power state in a Get Chassis Status reply.
fn chassis_power(cc: u8, data: &[u8]) -> Result<Power, StonithError> {
    match (cc, data.first()) {
        (0, Some(b)) if b & 1 == 1 => Ok(Power::On),
        (0, Some(_)) => Ok(Power::Off),
        _ => Err(StonithError::new(Code::Oops, format!("Get Chassis Status: completion code 0x{cc:02x}"))),
    }
}

impl Driver for Ipmilan {
    fn info(&self) -> &'static Info {
        &INFO
    }

    fn hosts(&self) -> Vec<String> {
        vec![self.host.clone()]
    }

    fn status(&mut self, deadline: Instant) -> Result<(), StonithError> {
        self.in_session(deadline, |l, s| match l.command(s, cmd::APP, cmd::GET_DEVICE_ID, &[], deadline)? {
            (0, _) => Ok(()),
            (cc, _) => Err(StonithError::new(Code::Oops, format!("Get Device ID: completion code 0x{cc:02x}"))),
        })
    }

    fn act(&mut self, action: Action, host: &str, deadline: Instant) -> Result<(), StonithError> {
        self.check_host(host)?;
        self.in_session(deadline, |l, s| {
            let control = match action {
                Action::Off => 0,
                Action::On => 1,
                Action::Reset => {
                    let (cc, d) = l.command(s, cmd::CHASSIS, cmd::GET_CHASSIS_STATUS, &[], deadline)?;
                    match chassis_power(cc, &d)? {
                        Power::Off => 1,
                        Power::On if l.cycle => 2,
                        Power::On => 3,
                    }
                }
            };
            let (cc, _) = l.command(s, cmd::CHASSIS, cmd::CHASSIS_CONTROL, &[control], deadline)?;
            match cc {
                0 => Ok(()),
                0xC3 | 0xFF if control >= 2 => Ok(()),
                cc => Err(StonithError::new(Code::ResetFail, format!("Chassis Control {control}: completion code 0x{cc:02x}"))),
            }
        })
    }

    /// Off and its read-back in one session: four round trips fewer than a session each.
    fn off_confirmed(&mut self, host: &str, deadline: Instant) -> Result<(), StonithError> {
        self.check_host(host)?;
        self.in_session(deadline, |l, s| {
            match l.command(s, cmd::CHASSIS, cmd::CHASSIS_CONTROL, &[0], deadline)? {
                (0, _) => {}
                (cc, _) => return Err(StonithError::new(Code::ResetFail, format!("Chassis Control 0: completion code 0x{cc:02x}"))),
            }
            let mut reads = crate::driver::Reads::default();
            loop {
                let read = l.command(s, cmd::CHASSIS, cmd::GET_CHASSIS_STATUS, &[], deadline).and_then(|(cc, d)| chassis_power(cc, &d));
                if reads.done(read, deadline)? {
                    return Ok(());
                }
            }
        })
    }

    fn power(&mut self, host: &str, deadline: Instant) -> Result<Power, StonithError> {
        self.check_host(host)?;
        self.in_session(deadline, |l, s| {
            let (cc, d) = l.command(s, cmd::CHASSIS, cmd::GET_CHASSIS_STATUS, &[], deadline)?;
            chassis_power(cc, &d)
        })
    }
}
