//! `meatware`: a person is the power switch. An action on a host asks the operator to power
//! it off (or cycle it) by hand and then waits, until its deadline, for the operator to say it
//! is done: [`confirm`], which `hbctl fence-confirm HOST` reaches through hbd's IPC (cluster-glue
//! used `meatclient -c HOST` and a FIFO; hb keeps the waiting inside hbd, so no file is
//! involved). Neither forks nor touches a device.
//!
//! Parameters: `hostlist`, the hosts it stands for (spaces or commas between them).
//!
//! Confirmation is the operator's word: after an `off` or `reset` they confirmed, [`Driver::power`]
//! answers [`Power::Off`] for that host; otherwise it cannot tell.

use crate::{Action, Code, Driver, Info, Params, Power, StonithError};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Instant;

/// This driver's description.
pub const INFO: Info = Info {
    name: "meatware",
    description: "an operator powers the host off by hand and confirms with `hbctl fence-confirm HOST`",
    params: &["hostlist"],
    forks: false,
    confirms: true,
    operator: true,
};

/// The hosts operators are being asked about, and confirmations not yet taken.
#[derive(Default)]
struct Board {
    waiting: Vec<String>,
    confirmed: Vec<String>,
}

static BOARD: Mutex<Board> = Mutex::new(Board { waiting: Vec::new(), confirmed: Vec::new() });
static CHANGED: Condvar = Condvar::new();

fn board() -> MutexGuard<'static, Board> {
    // A panic while holding the lock leaves the lists consistent (each change is one push or
    // one retain), so a poisoned lock is still usable.
    BOARD.lock().unwrap_or_else(|p| p.into_inner())
}

/// The operator says `host` is off (or was cycled). True if an action was waiting for it;
/// otherwise nothing is recorded, so a confirmation cannot be banked for a later fence.
pub fn confirm(host: &str) -> bool {
    let mut b = board();
    if !b.waiting.iter().any(|h| h.eq_ignore_ascii_case(host)) {
        return false;
    }
    b.confirmed.push(host.to_ascii_lowercase());
    CHANGED.notify_all();
    true
}

/// The hosts an operator is being asked to power off now.
pub fn waiting() -> Vec<String> {
    board().waiting.clone()
}

/// A configured meatware "device".
pub struct Meatware {
    hosts: Vec<String>,
    /// The host the operator last confirmed off through this device.
    confirmed_off: Option<String>,
}

impl Meatware {
    /// Configures it from `hostlist`.
    pub fn open(p: &Params) -> Result<Meatware, StonithError> {
        if let Some(u) = p.unknown(INFO.params).first() {
            return Err(StonithError::new(Code::BadConfig, format!("meatware has no parameter {u} (it takes hostlist)")));
        }
        let hosts: Vec<String> =
            p.get("hostlist")?.split(|c: char| c == ',' || c.is_whitespace()).filter(|h| !h.is_empty()).map(str::to_string).collect();
        if hosts.is_empty() {
            return Err(StonithError::new(Code::BadConfig, "hostlist names no host"));
        }
        Ok(Meatware { hosts, confirmed_off: None })
    }
}

impl Driver for Meatware {
    fn info(&self) -> &'static Info {
        &INFO
    }

    fn hosts(&self) -> Vec<String> {
        self.hosts.clone()
    }

    fn status(&mut self, _deadline: Instant) -> Result<(), StonithError> {
        Ok(())
    }

    fn act(&mut self, action: Action, host: &str, deadline: Instant) -> Result<(), StonithError> {
        if !self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host)) {
            return Err(StonithError::new(Code::BadHost, format!("meatware does not stand for {host}")));
        }
        let key = host.to_ascii_lowercase();
        let mut b = board();
        b.waiting.push(key.clone());
        let done = loop {
            if let Some(i) = b.confirmed.iter().position(|h| *h == key) {
                b.confirmed.remove(i);
                break true;
            }
            let now = Instant::now();
            if now >= deadline {
                break false;
            }
            b = CHANGED.wait_timeout(b, deadline - now).unwrap_or_else(|p| p.into_inner()).0;
        };
        if let Some(i) = b.waiting.iter().position(|h| *h == key) {
            b.waiting.remove(i);
        }
        drop(b);
        if !done {
            return Err(StonithError::new(
                Code::Timeout,
                format!("no operator confirmed {} of {host} (`hbctl fence-confirm {host}`) before the deadline", action.name()),
            ));
        }
        self.confirmed_off = (action != Action::On).then_some(key);
        Ok(())
    }

    fn power(&mut self, host: &str, _deadline: Instant) -> Result<Power, StonithError> {
        match &self.confirmed_off {
            Some(h) if h.eq_ignore_ascii_case(host) => Ok(Power::Off),
            _ => Err(StonithError::new(Code::Inval, format!("meatware knows {host}'s power only from an operator's confirmation"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn an_operator_confirms_a_waiting_action_and_nothing_else() {
        let mut m = Meatware::open(&Params::parse_pairs(&["hostlist=meat-a,meat-b"]).unwrap()).unwrap();
        assert!(!confirm("meat-a"), "nothing waits yet: a confirmation is not banked");
        let t = std::thread::spawn(|| {
            let start = Instant::now();
            while !waiting().contains(&"meat-a".to_string()) {
                assert!(start.elapsed() < Duration::from_secs(10));
                std::thread::sleep(Duration::from_millis(1));
            }
            assert!(!confirm("meat-b"), "b is not waited for");
            assert!(confirm("MEAT-A"));
        });
        m.act(Action::Off, "meat-a", Instant::now() + Duration::from_secs(30)).unwrap();
        t.join().unwrap();
        assert_eq!(m.power("meat-a", Instant::now()).unwrap(), Power::Off);
        assert_eq!(m.power("meat-b", Instant::now()).unwrap_err().code, Code::Inval);
        let e = m.act(Action::Reset, "meat-b", Instant::now() + Duration::from_millis(20)).unwrap_err();
        assert_eq!(e.code, Code::Timeout, "{e}");
        assert!(waiting().is_empty());
        assert_eq!(m.act(Action::Off, "c", Instant::now()).unwrap_err().code, Code::BadHost);
        assert_eq!(Meatware::open(&Params::parse_pairs(&["hostlist= "]).unwrap()).err().map(|e| e.code), Some(Code::BadConfig));
    }
}
