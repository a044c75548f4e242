//! `apcmastersnmp`: APC power distribution units over SNMP v1, v2c or v3, spoken natively over a
//! UDP socket connected to the PDU at configuration. Both PowerNet-MIB outlet tables: the
//! rPDU table of switched rack PDUs (AP79xx; sysObjectID `.1.3.6.1.4.1.318.1.3.4.5`) and the
//! sPDU table of the older MasterSwitch (any other APC sysObjectID). [`ber`] is the codec.
//!
//! Parameters (cluster-glue's `apcmastersnmp`, and fence_apc_snmp's names in brackets):
//! - `ipaddr` [`ip`], `port` [`ipport`] (default 161), `community` (default `private`);
//! - `snmp_version`: `1` (default), `2c` or `3`; for 3 (USM, as fence_apc_snmp names them):
//!   `username`, `password`, `snmp_auth_prot` (`MD5` or `SHA`, default `MD5`),
//!   `snmp_sec_level` (`authNoPriv` or `authPriv`; noAuthNoPriv is refused: it would be a
//!   community without the secret), `snmp_priv_prot` (`AES`; DES is refused),
//!   `snmp_priv_passwd`. The password keys are derived at configuration, localised to the
//!   PDU's engine at the first exchange (discovery), and a time-window report resynchronises;
//! - `hostmap` (optional): `node1:1,node2:2,4` — which outlets power which host (a host may
//!   have several). Without it the outlet names are read from the PDU at configuration and a
//!   host is fenced through every outlet named after it, as cluster-glue does;
//! - `table` (optional): `rpdu` or `spdu`; without it the PDU's sysObjectID decides.
//!
//! An off is refused while the PDU has a command pending on the outlet; the power read back
//! is the outlet state object, not the command object. A reset sets "reboot" on every outlet
//! of the host and waits until all read on again.

pub mod ber;
pub mod usm;

use crate::outlets::Outlets;
use crate::{Action, Code, Driver, Info, Params, Power, StonithError};
use ber::{Oid, Value, Version};
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::{Duration, Instant};

/// This driver's description.
pub const INFO: Info = Info {
    name: "apcmastersnmp",
    description: "APC PDUs over SNMP v1, v2c and v3 (USM), native (PowerNet-MIB rPDU and sPDU outlet tables)",
    params: &["ipaddr", "port", "community"],
    forks: false,
    confirms: true,
    operator: false,
};

const OPTIONAL: &[&str] = &[
    "ip",
    "ipport",
    "snmp_version",
    "hostmap",
    "table",
    "username",
    "password",
    "snmp_auth_prot",
    "snmp_sec_level",
    "snmp_priv_prot",
    "snmp_priv_passwd",
];

/// SNMPv3 credentials: password keys derived at configuration, the session once discovered.
struct V3 {
    user: Vec<u8>,
    auth: usm::AuthProto,
    ku_auth: Vec<u8>,
    ku_priv: Option<Vec<u8>>,
    /// The agent's session, and when its engine time was learned.
    session: Option<(usm::Usm, Instant)>,
    msg_id: i32,
}

/// usmStats report OIDs (RFC 3414) and what each means here.
const USM_REPORTS: &[(&str, &str)] = &[
    ("1.3.6.1.6.3.15.1.1.1.0", "unsupported security level"),
    ("1.3.6.1.6.3.15.1.1.2.0", "not in time window"),
    ("1.3.6.1.6.3.15.1.1.3.0", "unknown user name"),
    ("1.3.6.1.6.3.15.1.1.4.0", "unknown engine id"),
    ("1.3.6.1.6.3.15.1.1.5.0", "wrong digest (a wrong password)"),
    ("1.3.6.1.6.3.15.1.1.6.0", "decryption error (a wrong privacy password)"),
];

/// How long a request waits for its answer before it is sent again.
const RESEND: Duration = Duration::from_millis(250);
/// How often a reset's outlets are read while waiting for them to come back on.
const POLL: Duration = Duration::from_millis(100);

/// One PowerNet-MIB outlet table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Table {
    name: &'static str,
    /// Control object (set 1 on, 2 off, 3 reboot).
    control: &'static str,
    /// State object (reads 1 on, 2 off).
    state: &'static str,
    /// Outlet names.
    names: &'static str,
    /// The number of outlets.
    count: &'static str,
    /// Command pending (1 pending, 2 none).
    pending: &'static str,
}

const RPDU: Table = Table {
    name: "rpdu",
    control: "1.3.6.1.4.1.318.1.1.12.3.3.1.1.4",
    state: "1.3.6.1.4.1.318.1.1.12.3.5.1.1.4",
    names: "1.3.6.1.4.1.318.1.1.12.3.5.1.1.2",
    count: "1.3.6.1.4.1.318.1.1.12.1.8.0",
    pending: "1.3.6.1.4.1.318.1.1.12.3.5.1.1.5",
};

const SPDU: Table = Table {
    name: "spdu",
    control: "1.3.6.1.4.1.318.1.1.4.4.2.1.3",
    state: "1.3.6.1.4.1.318.1.1.4.4.2.1.3",
    names: "1.3.6.1.4.1.318.1.1.4.5.2.1.3",
    count: "1.3.6.1.4.1.318.1.1.4.4.1.0",
    pending: "1.3.6.1.4.1.318.1.1.4.4.2.1.2",
};

/// sysObjectID of switched rack PDUs.
const RPDU_OBJECT_ID: &str = "1.3.6.1.4.1.318.1.3.4.5";
/// How long configuration may take to read the PDU's class and outlet names.
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);

/// A configured PDU.
pub struct ApcSnmp {
    sock: UdpSocket,
    pdu: SocketAddr,
    version: Version,
    community: Vec<u8>,
    table: Table,
    /// Hosts and their outlets.
    hosts: Outlets,
    request_id: i32,
    /// SNMPv3 instead of a community.
    v3: Option<V3>,
}

fn bad(what: String) -> StonithError {
    StonithError::new(Code::BadConfig, what)
}

fn oid_of(prefix: &str, index: Option<u32>) -> Oid {
    let mut o = ber::oid(prefix).expect("a valid OID constant");
    o.extend(index);
    o
}

impl ApcSnmp {
    /// Configures it: parameters, address and socket; the table and outlet names read from the
    /// PDU unless `table` and `hostmap` are given.
    pub fn open(p: &Params) -> Result<ApcSnmp, StonithError> {
        let mut known = INFO.params.to_vec();
        known.extend_from_slice(OPTIONAL);
        if let Some(u) = p.unknown(&known).first() {
            return Err(bad(format!("apcmastersnmp has no parameter {u} (it takes {})", known.join(", "))));
        }
        let ip = p.opt("ipaddr").or_else(|| p.opt("ip")).ok_or_else(|| bad("parameter ipaddr is missing".into()))?;
        let port: u16 = match p.opt("port").or_else(|| p.opt("ipport")) {
            None => 161,
            Some(v) => v.parse().map_err(|_| bad(format!("port {v:?} is not a port number")))?,
        };
        let pdu = (ip, port)
            .to_socket_addrs()
            .map_err(|e| bad(format!("ipaddr {ip:?}: {e}")))?
            .next()
            .ok_or_else(|| bad(format!("ipaddr {ip:?} has no address")))?;
        let version = match p.opt("snmp_version").unwrap_or("1") {
            "1" => Version::V1,
            "2c" | "2" => Version::V2c,
            "3" => Version::V2c,
            other => return Err(bad(format!("snmp_version {other:?} must be 1, 2c or 3"))),
        };
        let v3 = if p.opt("snmp_version") == Some("3") { Some(v3_credentials(p)?) } else { None };
        let community = p.opt("community").unwrap_or("private").as_bytes().to_vec();
        let local: SocketAddr = if pdu.is_ipv6() { "[::]:0".parse() } else { "0.0.0.0:0".parse() }.expect("a literal address");
        let sock =
            UdpSocket::bind(local).and_then(|s| s.connect(pdu).map(|()| s)).map_err(|e| bad(format!("a UDP socket to {pdu}: {e}")))?;
        let mut d = ApcSnmp {
            sock,
            pdu,
            version,
            community,
            table: RPDU,
            hosts: Outlets::default(),
            request_id: std::process::id() as i32 & 0xFFFF,
            v3,
        };
        let deadline = Instant::now() + OPEN_TIMEOUT;
        let unreachable = |e: StonithError| {
            bad(format!("cannot read the PDU at {pdu} at configuration ({e}); give table= and hostmap= to configure it without asking"))
        };
        d.table = match p.opt("table") {
            Some("rpdu") => RPDU,
            Some("spdu") => SPDU,
            Some(other) => return Err(bad(format!("table {other:?} must be rpdu or spdu"))),
            None => match d.get(&ber::oid("1.3.6.1.2.1.1.2.0").expect("sysObjectID"), deadline).map_err(unreachable)? {
                Value::Oid(o) if o == ber::oid(RPDU_OBJECT_ID).expect("constant") => RPDU,
                _ => SPDU,
            },
        };
        d.hosts = match p.opt("hostmap") {
            Some(map) => Outlets::parse(map)?,
            None => d.read_names(deadline).map_err(unreachable)?,
        };
        if d.hosts.is_empty() {
            return Err(bad(format!("no outlet of the PDU at {pdu} is named after a host; give hostmap=")));
        }
        Ok(d)
    }

    /// Every outlet's name, grouped: a host is every outlet named after it.
    fn read_names(&mut self, deadline: Instant) -> Result<Outlets, StonithError> {
        let count = match self.get(&oid_of(self.table.count, None), deadline)? {
            Value::Integer(n) if (1..=256).contains(&n) => n as u32,
            other => return Err(StonithError::new(Code::Oops, format!("the outlet count reads {other:?}"))),
        };
        let mut names = Vec::new();
        for n in 1..=count {
            if let Value::Octets(name) = self.get(&oid_of(self.table.names, Some(n)), deadline)? {
                names.push((n, String::from_utf8_lossy(&name).into_owned()));
            }
        }
        Ok(Outlets::from_names(names))
    }

    /// Sends `pkt` (again every [`RESEND`]) until `accept` takes an answer or `deadline`.
    fn send_until<T>(
        &mut self,
        pkt: &[u8],
        deadline: Instant,
        accept: impl FnMut(&[u8]) -> Option<Result<T, StonithError>>,
    ) -> Result<T, StonithError> {
        let pdu = self.pdu;
        crate::udp::send_until(&self.sock, pkt, deadline, RESEND, &|| format!("the PDU at {pdu} (a wrong community gets none)"), accept)
    }

    /// One SNMPv3 exchange: discovery first if needed, and one resynchronisation on a
    /// time-window report.
    fn exchange_v3(&mut self, pdu: u8, bindings: &[(Oid, Value)], deadline: Instant) -> Result<Vec<(Oid, Value)>, StonithError> {
        for _ in 0..3 {
            let v3 = self.v3.as_mut().expect("v3 credentials");
            v3.msg_id = v3.msg_id.wrapping_add(1) & 0x7FFF_FFFF;
            let msg_id = v3.msg_id;
            self.request_id = self.request_id.wrapping_add(1) & 0x7FFF_FFFF;
            let id = self.request_id;
            if self.v3.as_ref().is_some_and(|v| v.session.is_none()) {
                let pkt = usm::discovery(msg_id, id);
                let engine = self.send_until(&pkt, deadline, |b| match usm::answer(b, None) {
                    Ok(a) if a.msg_id == msg_id && a.report && !a.engine.0.is_empty() => Some(Ok(a.engine)),
                    _ => None,
                })?;
                let v3 = self.v3.as_mut().expect("v3 credentials");
                let auth_key = v3.auth.localize(&v3.ku_auth, &engine.0);
                let priv_key = v3.ku_priv.as_ref().map(|k| {
                    let l = v3.auth.localize(k, &engine.0);
                    let mut key = [0u8; 16];
                    key.copy_from_slice(&l[..16]);
                    key
                });
                let u = usm::Usm {
                    user: v3.user.clone(),
                    auth: v3.auth,
                    auth_key,
                    priv_key,
                    engine_id: engine.0,
                    boots: engine.1,
                    time: engine.2,
                };
                v3.session = Some((u, Instant::now()));
                continue;
            }
            let v3 = self.v3.as_ref().expect("v3 credentials");
            let (base, learned) = v3.session.as_ref().expect("discovered");
            let mut u = base.clone();
            u.time = base.time.saturating_add(learned.elapsed().as_secs() as u32);
            let mut salt = [0u8; 8];
            getrandom::getrandom(&mut salt).map_err(|e| StonithError::new(Code::Oops, format!("no randomness: {e}")))?;
            let pkt = u.request(msg_id, pdu, id, bindings, salt);
            let got = self.send_until(&pkt, deadline, |b| {
                let a = usm::answer(b, Some(&u)).or_else(|_| usm::answer(b, None)).ok()?;
                (a.msg_id == msg_id).then_some(Ok(a))
            })?;
            if got.report {
                let oid = got.pdu.bindings.first().map(|b| b.0.clone()).unwrap_or_default();
                let what = USM_REPORTS.iter().find(|(o, _)| ber::oid(o).as_ref() == Some(&oid)).map_or("an unknown report", |r| r.1);
                if what == "not in time window" {
                    let v3 = self.v3.as_mut().expect("v3 credentials");
                    if let Some((s, at)) = v3.session.as_mut() {
                        (s.boots, s.time, *at) = (got.engine.1, got.engine.2, Instant::now());
                    }
                    continue;
                }
                return Err(StonithError::new(Code::Access, format!("the PDU at {} refused the SNMPv3 request: {what}", self.pdu)));
            }
            return checked(got.pdu, bindings);
        }
        Err(StonithError::new(Code::Oops, format!("the PDU at {} kept answering with reports", self.pdu)))
    }

    /// One request until its response or `deadline`; the response's bindings.
    fn exchange(&mut self, pdu: u8, bindings: &[(Oid, Value)], deadline: Instant) -> Result<Vec<(Oid, Value)>, StonithError> {
        if self.v3.is_some() {
            return self.exchange_v3(pdu, bindings, deadline);
        }
        self.request_id = self.request_id.wrapping_add(1) & 0x7FFF_FFFF;
        let id = self.request_id;
        let pkt = ber::request(self.version, &self.community, pdu, id, bindings);
        let version = self.version;
        self.send_until(&pkt, deadline, |b| match ber::response(b, version) {
            Ok(r) if r.request_id == id => Some(checked(r, bindings)),
            _ => None,
        })
    }

    fn get(&mut self, oid: &Oid, deadline: Instant) -> Result<Value, StonithError> {
        let b = self.exchange(ber::GET, &[(oid.clone(), Value::Null)], deadline)?;
        match b.into_iter().next() {
            Some((o, Value::Missing(_))) => Err(StonithError::new(Code::BadConfig, format!("the PDU has no object {o:?}"))),
            Some((o, v)) if o == *oid => Ok(v),
            _ => Err(StonithError::new(Code::Oops, "the PDU answered about another object")),
        }
    }

    fn integer(&mut self, prefix: &'static str, outlet: u32, deadline: Instant) -> Result<i64, StonithError> {
        match self.get(&oid_of(prefix, Some(outlet)), deadline)? {
            Value::Integer(n) => Ok(n),
            other => Err(StonithError::new(Code::Oops, format!("outlet {outlet} reads {other:?}, not an integer"))),
        }
    }

    fn outlets(&self, host: &str) -> Result<Vec<u32>, StonithError> {
        self.hosts.of(host, &format!("outlet of the PDU at {}", self.pdu))
    }

    /// Sets `command` on every outlet of `host`, after checking none has a command pending.
    fn command(&mut self, host: &str, command: i64, deadline: Instant) -> Result<Vec<u32>, StonithError> {
        let outlets = self.outlets(host)?;
        for &n in &outlets {
            if self.integer(self.table.pending, n, deadline)? == 1 {
                return Err(StonithError::new(Code::ResetFail, format!("outlet {n} has a command pending; not touched")));
            }
        }
        for &n in &outlets {
            self.exchange(ber::SET, &[(oid_of(self.table.control, Some(n)), Value::Integer(command))], deadline)?;
        }
        Ok(outlets)
    }
}

/// A response's bindings, or the error its error-status names.
fn checked(r: ber::Response, asked: &[(Oid, Value)]) -> Result<Vec<(Oid, Value)>, StonithError> {
    match r.error_status {
        0 => Ok(r.bindings),
        2 => Err(StonithError::new(Code::BadConfig, format!("the PDU has no object {:?} (noSuchName)", asked.first().map(|b| &b.0)))),
        4 | 6 | 16 | 17 => Err(StonithError::new(
            Code::Access,
            format!("the PDU refused the request (error-status {}; a read-only community or user?)", r.error_status),
        )),
        s => Err(StonithError::new(Code::ResetFail, format!("the PDU answered error-status {s}"))),
    }
}

/// The SNMPv3 parameters, password keys derived.
fn v3_credentials(p: &Params) -> Result<V3, StonithError> {
    let user = p.get("username")?.as_bytes().to_vec();
    let auth = match p.opt("snmp_auth_prot").unwrap_or("MD5") {
        "MD5" | "md5" => usm::AuthProto::Md5,
        "SHA" | "sha" | "SHA1" => usm::AuthProto::Sha,
        other => return Err(bad(format!("snmp_auth_prot {other:?} must be MD5 or SHA"))),
    };
    let password = p.get("password")?;
    if password.len() < 8 {
        return Err(bad("an SNMPv3 password has at least 8 characters".into()));
    }
    let ku_priv = match p.opt("snmp_sec_level").unwrap_or("authNoPriv") {
        "authNoPriv" => None,
        "authPriv" => {
            match p.opt("snmp_priv_prot").unwrap_or("AES") {
                "AES" | "aes" => {}
                "DES" | "des" => return Err(bad("snmp_priv_prot DES is not supported (broken); use AES".into())),
                other => return Err(bad(format!("snmp_priv_prot {other:?} must be AES"))),
            }
            let pp = p.get("snmp_priv_passwd")?;
            if pp.len() < 8 {
                return Err(bad("an SNMPv3 privacy password has at least 8 characters".into()));
            }
            Some(auth.password_key(pp.as_bytes()))
        }
        "noAuthNoPriv" => return Err(bad("snmp_sec_level noAuthNoPriv is refused: use authNoPriv or authPriv".into())),
        other => return Err(bad(format!("snmp_sec_level {other:?} must be authNoPriv or authPriv"))),
    };
    Ok(V3 {
        user,
        auth,
        ku_auth: auth.password_key(password.as_bytes()),
        ku_priv,
        session: None,
        msg_id: std::process::id() as i32 & 0xFFFF,
    })
}

impl Driver for ApcSnmp {
    fn info(&self) -> &'static Info {
        &INFO
    }

    fn hosts(&self) -> Vec<String> {
        self.hosts.hosts()
    }

    fn status(&mut self, deadline: Instant) -> Result<(), StonithError> {
        self.get(&oid_of(self.table.count, None), deadline).map(drop)
    }

    fn act(&mut self, action: Action, host: &str, deadline: Instant) -> Result<(), StonithError> {
        match action {
            Action::On => self.command(host, 1, deadline).map(drop),
            Action::Off => self.command(host, 2, deadline).map(drop),
            Action::Reset => {
                let outlets = self.command(host, 3, deadline)?;
                // Done once every outlet reads on again (it goes off first, for the PDU's
                // reboot duration).
                let mut seen_off = false;
                loop {
                    let mut all_on = true;
                    for &n in &outlets {
                        let on = self.integer(self.table.state, n, deadline)? == 1;
                        seen_off |= !on;
                        all_on &= on;
                    }
                    let pending = outlets.iter().map(|&n| self.integer(self.table.pending, n, deadline)).collect::<Result<Vec<_>, _>>()?;
                    if all_on && (seen_off || pending.iter().all(|p| *p != 1)) {
                        return Ok(());
                    }
                    if Instant::now() + POLL >= deadline {
                        return Err(StonithError::new(Code::Timeout, format!("{host}'s outlets did not come back on before the deadline")));
                    }
                    std::thread::sleep(POLL);
                }
            }
        }
    }

    fn power(&mut self, host: &str, deadline: Instant) -> Result<Power, StonithError> {
        let outlets = self.outlets(host)?;
        let mut any_on = false;
        for n in outlets {
            any_on |= self.integer(self.table.state, n, deadline)? == 1;
        }
        Ok(if any_on { Power::On } else { Power::Off })
    }
}
