//! An APC switched rack PDU for the SNMP tests: Debian's real net-snmp `snmpd` does the SNMP
//! (v1, v2c, BER, error codes, getnext) on a free UDP port of 127.0.0.1, with sysObjectID
//! `.1.3.6.1.4.1.318.1.3.4.5` (an rPDU), communities `public` (read) and `private` (write),
//! and SNMPv3 users `fenceuser` (SHA `fencepass1`, AES `fencepriv1`) and `md5user` (MD5
//! `fencepass1`), both read-write from authNoPriv up. A `pass_persist` backend (a Python script) holds the PowerNet-MIB outlet state:
//! four outlets named `node1`, `node2`, `node2` and ``, each on; "reboot" turns an outlet off
//! with a command pending for [`REBOOT_S`] seconds, then on. Every SET is appended to a log
//! ([`ApcPdu::calls`]); a test can hold an outlet's command pending ([`ApcPdu::hold_pending`]).
//! Stops on drop.

use crate::{Proc, TempDir};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// How long a reboot keeps an outlet off.
pub const REBOOT_S: f64 = 1.0;

const BACKEND: &str = r#"
import os, sys, time
DIR = os.path.dirname(os.path.abspath(__file__))
REBOOT_S = float(sys.argv[1])
P = (1, 3, 6, 1, 4, 1, 318, 1, 1, 12)
names = {1: "node1", 2: "node2", 3: "node2", 4: ""}
state = {n: 1 for n in names}        # 1 on, 2 off
back_at = {n: 0.0 for n in names}    # a reboot's end
def settle():
    now = time.time()
    for n in names:
        if back_at[n] and now >= back_at[n]:
            state[n], back_at[n] = 1, 0.0
            save()
def save():
    with open(os.path.join(DIR, "outlets.new"), "w") as f:
        for n in sorted(names):
            f.write("%d %d\n" % (n, state[n]))
    os.replace(os.path.join(DIR, "outlets.new"), os.path.join(DIR, "outlets"))
def pending(n):
    return 1 if back_at[n] or os.path.exists(os.path.join(DIR, "pending.%d" % n)) else 2
def table():
    t = {P + (1, 5, 0): ("string", "AP7920"), P + (1, 8, 0): ("integer", len(names))}
    for n in names:
        t[P + (3, 3, 1, 1, 4, n)] = ("integer", state[n])
        t[P + (3, 4, 1, 1, 2, n)] = ("string", names[n])
        t[P + (3, 4, 1, 1, 6, n)] = ("integer", int(REBOOT_S))
        t[P + (3, 5, 1, 1, 2, n)] = ("string", names[n])
        t[P + (3, 5, 1, 1, 4, n)] = ("integer", state[n])
        t[P + (3, 5, 1, 1, 5, n)] = ("integer", pending(n))
    return t
def parse(s):
    return tuple(int(x) for x in s.strip().strip(".").split(".") if x)
def reply(*lines):
    sys.stdout.write("".join(l + "\n" for l in lines))
    sys.stdout.flush()
def read():
    while True:
        l = sys.stdin.readline()
        if not l:
            sys.exit(0)
        l = l.strip()
        if l:   # snmpd sends an empty line after a SET's value
            return l
save()
while True:
    cmd = read()
    settle()
    if cmd == "PING":
        reply("PONG")
    elif cmd in ("get", "getnext"):
        oid = parse(read())
        t = table()
        keys = sorted(t)
        k = oid if cmd == "get" else next((x for x in keys if x > oid), None)
        if k is None or k not in t:
            reply("NONE")
        else:
            typ, val = t[k]
            reply("." + ".".join(map(str, k)), typ, str(val))
    elif cmd == "set":
        oid = parse(read())
        typ, _, val = read().partition(" ")
        with open(os.path.join(DIR, "calls"), "a") as f:
            f.write("set %s %s\n" % (".".join(map(str, oid)), val))
        n = oid[-1]
        if oid[:-1] != P + (3, 3, 1, 1, 4) or n not in names:
            reply("not-writable")
        elif typ != "integer" or val not in ("1", "2", "3"):
            reply("wrong-value")
        else:
            v = int(val)
            if v == 3:
                state[n], back_at[n] = 2, time.time() + REBOOT_S
            else:
                state[n], back_at[n] = v, 0.0
            save()
            reply("DONE")
    else:
        reply("NONE")
"#;

/// A running emulated PDU.
pub struct ApcPdu {
    dir: TempDir,
    addr: String,
    port: u16,
    _proc: Proc,
}

impl ApcPdu {
    /// Starts `snmpd` with the backend on a free port of 127.0.0.1; waits until it answers.
    /// `Err` names what is missing (Debian packages snmpd and python3) or what failed.
    pub fn start() -> Result<ApcPdu, String> {
        ApcPdu::start_at("127.0.0.1", crate::free_udp_port())
    }

    /// [`ApcPdu::start`] at `addr`:`port` (a loopback address). cluster-glue's
    /// `apcmastersnmp` only ever talks to port 161, which needs root.
    pub fn start_at(addr: &str, port: u16) -> Result<ApcPdu, String> {
        if !std::path::Path::new("/usr/sbin/snmpd").exists() {
            return Err("snmpd is not installed (Debian package snmpd)".into());
        }
        let dir = TempDir::new("hb-apc-pdu");
        std::fs::write(dir.path.join("pdu.py"), BACKEND).map_err(|e| e.to_string())?;
        let conf = format!(
            "agentAddress udp:{addr}:{port}\nrocommunity public 127.0.0.0/8\nrwcommunity private 127.0.0.0/8\n\
             createUser fenceuser SHA \"fencepass1\" AES \"fencepriv1\"\ncreateUser md5user MD5 \"fencepass1\"\n\
             rwuser fenceuser auth\nrwuser md5user auth\n\
             sysObjectID .1.3.6.1.4.1.318.1.3.4.5\npass_persist .1.3.6.1.4.1.318.1.1.12 /usr/bin/python3 {} {REBOOT_S}\n",
            dir.path.join("pdu.py").display()
        );
        std::fs::write(dir.path.join("snmpd.conf"), conf).map_err(|e| e.to_string())?;
        let mut cmd = Command::new("/usr/sbin/snmpd");
        // Foreground, this configuration only (-C), log to a file, no pid file of the system's.
        cmd.args(["-f", "-C", "-c"]).arg(dir.path.join("snmpd.conf")).arg("-Lf").arg(dir.path.join("snmpd.log"));
        cmd.arg("-p").arg(dir.path.join("snmpd.pid"));
        cmd.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
        // Its engine id and USM users live here, not in the system's /var/lib/snmp.
        cmd.env("SNMP_PERSISTENT_DIR", &dir.path);
        let proc = Proc::spawn_checked(cmd).map_err(|e| format!("snmpd: {e}"))?;
        let pdu = ApcPdu { dir, addr: addr.to_string(), port, _proc: proc };
        crate::wait_for(Duration::from_secs(10), || pdu.answers().then_some(()))
            .ok_or_else(|| format!("snmpd did not answer on port {port}: {}", pdu.log()))?;
        Ok(pdu)
    }

    /// Whether `snmpget` reads the outlet count (the backend is up).
    fn answers(&self) -> bool {
        self.snmpget("1.3.6.1.4.1.318.1.1.12.1.8.0").is_some_and(|v| v.contains('4'))
    }

    /// `snmpget -v1 -c public -Oqv` of `oid`, as net-snmp's own client reads it.
    pub fn snmpget(&self, oid: &str) -> Option<String> {
        let out = Command::new("snmpget")
            .args(["-v1", "-c", "public", "-Oqv", "-t", "1", "-r", "0", &format!("{}:{}", self.addr, self.port), oid])
            .output()
            .ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// The UDP port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Outlet `n`'s power now (as the backend holds it).
    pub fn on(&self, n: u32) -> bool {
        let text = std::fs::read_to_string(self.dir.path.join("outlets")).unwrap_or_default();
        text.lines().any(|l| l == format!("{n} 1"))
    }

    /// Every SET that reached the backend: `set OID VALUE`.
    pub fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path.join("calls")).unwrap_or_default().lines().map(str::to_string).collect()
    }

    /// Makes outlet `n` report a command pending (or stops it).
    pub fn hold_pending(&self, n: u32, pending: bool) {
        let p = self.dir.path.join(format!("pending.{n}"));
        if pending {
            std::fs::write(p, "").expect("the pending file");
        } else {
            let _ = std::fs::remove_file(p);
        }
    }

    /// snmpd's log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path.join("snmpd.log")).unwrap_or_default()
    }

    /// Where its files are.
    pub fn dir(&self) -> PathBuf {
        self.dir.path.clone()
    }
}
