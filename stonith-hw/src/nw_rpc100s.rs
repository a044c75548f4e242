//! `nw_rpc100s`: the Micro Energetics Night/Ware RPC-100S, one outlet on a serial line (9600
//! 8N1). It takes `//0,WAIT,TIME;` and a carriage return — wait WAIT seconds, then switch the
//! relay for TIME seconds (`*`: until told otherwise) — and answers `OK` or `Invalid Entry`.
//! The commands, as cluster-glue sends them: off `//0,0,*;`, on `//0,0,0;`, reset
//! `//0,0,10;` (off for 10 s), and a bogus `//0,0,BOGUS;` whose `Invalid Entry` proves the
//! switch is there. It cannot read the outlet back.
//!
//! Parameters (cluster-glue's): `ttydev`, `hostlist` (the one host it powers).

use crate::tty::{discard_input, read_until, write_all_by};
use crate::{Action, Code, Driver, Info, Params, StonithError};
use hb_media::serial::{open_serial, SerialPort, SerialSpec};
use std::time::Instant;

/// This driver's description.
pub const INFO: Info = Info {
    name: "nw_rpc100s",
    description: "Micro Energetics Night/Ware RPC-100S on a serial line (no read-back)",
    params: &["ttydev", "hostlist"],
    forks: false,
    confirms: false,
    operator: false,
};

/// A configured switch.
pub struct NwRpc100s {
    port: SerialPort,
    host: String,
}

impl NwRpc100s {
    /// Configures it: the host, and the tty opened (and locked) at 9600 8N1.
    pub fn open(p: &Params) -> Result<NwRpc100s, StonithError> {
        let bad = |w: String| StonithError::new(Code::BadConfig, w);
        if let Some(u) = p.unknown(INFO.params).first() {
            return Err(bad(format!("nw_rpc100s has no parameter {u} (it takes ttydev, hostlist)")));
        }
        let hosts: Vec<&str> = p.get("hostlist")?.split(|c: char| c == ',' || c.is_whitespace()).filter(|h| !h.is_empty()).collect();
        let [host] = hosts.as_slice() else {
            return Err(bad(format!("hostlist must name the one host an RPC-100S powers, not {}", hosts.len())));
        };
        let port = open_serial(&SerialSpec { path: p.get("ttydev")?.into(), baud: 9600 }).map_err(|e| bad(e.to_string()))?;
        Ok(NwRpc100s { port, host: host.to_ascii_lowercase() })
    }

    fn send(&mut self, cmd: &str, want: &str, deadline: Instant) -> Result<(), StonithError> {
        discard_input(&self.port);
        write_all_by(&self.port, format!("{cmd}\r").as_bytes(), deadline)?;
        let answer = read_until(&self.port, &["OK", "Invalid Entry"], deadline)?;
        if answer.contains(want) {
            Ok(())
        } else {
            Err(StonithError::new(Code::ResetFail, format!("the RPC-100S answered {:?} to {cmd}", answer.trim())))
        }
    }
}

impl Driver for NwRpc100s {
    fn info(&self) -> &'static Info {
        &INFO
    }

    fn hosts(&self) -> Vec<String> {
        vec![self.host.clone()]
    }

    fn status(&mut self, deadline: Instant) -> Result<(), StonithError> {
        self.send("//0,0,BOGUS;", "Invalid Entry", deadline)
    }

    fn act(&mut self, action: Action, host: &str, deadline: Instant) -> Result<(), StonithError> {
        if !self.host.eq_ignore_ascii_case(host) {
            return Err(StonithError::new(Code::BadHost, format!("this RPC-100S powers {}, not {host}", self.host)));
        }
        let cmd = match action {
            Action::Off => "//0,0,*;",
            Action::On => "//0,0,0;",
            Action::Reset => "//0,0,10;",
        };
        self.send(cmd, "OK", deadline)
    }
}
