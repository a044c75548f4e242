//! What every STONITH driver does ([`Driver`]) and says about itself ([`Info`]).

use crate::{Code, StonithError};
use std::time::Instant;

/// What to do to a host (cluster-glue's `ST_GENERIC_RESET`, `ST_POWERON`, `ST_POWEROFF`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Power-cycle (or reset) the host: off, then on.
    Reset,
    /// Power it on.
    On,
    /// Power it off.
    Off,
}

impl Action {
    /// The name `stonith -T` and fence agents use: `reset`, `on`, `off`.
    pub fn name(self) -> &'static str {
        match self {
            Action::Reset => "reset",
            Action::On => "on",
            Action::Off => "off",
        }
    }

    /// Parses [`Action::name`] (and `reboot`, the fence agents' word for a reset).
    pub fn parse(s: &str) -> Option<Action> {
        match s {
            "reset" | "reboot" => Some(Action::Reset),
            "on" => Some(Action::On),
            "off" => Some(Action::Off),
            _ => None,
        }
    }
}

/// A driver type's description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Info {
    /// The type name (`stonith -t NAME`).
    pub name: &'static str,
    /// One line about the device.
    pub description: &'static str,
    /// Its parameter names, in `-p` order (`stonith -t NAME -n`).
    pub params: &'static [&'static str],
    /// Whether it runs other programs (only `external` and `meatware`-style drivers may).
    pub forks: bool,
    /// Whether it can confirm a host's power state by reading it back ([`Driver::power`]); a
    /// driver that cannot reports success once the command is on the wire.
    pub confirms: bool,
    /// Whether a person carries out its actions (`meatware`): hbd announces what it waits for.
    pub operator: bool,
}

/// A host's power as a device reads it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Power {
    /// Powered.
    On,
    /// Not powered.
    Off,
}

/// A configured device. Configuration happens when it is opened (`registry::open`); after
/// that, no operation allocates more than its reply, forks, or touches a disk (unless
/// [`Info::forks`]).
pub trait Driver: Send {
    /// What kind of device this is.
    fn info(&self) -> &'static Info;
    /// The hosts this device can fence, in configuration order.
    fn hosts(&self) -> Vec<String>;
    /// Whether the device answers (`stonith -S`).
    fn status(&mut self, deadline: Instant) -> Result<(), StonithError>;
    /// Does `action` to `host` before `deadline`, retrying within it where that makes sense.
    fn act(&mut self, action: Action, host: &str, deadline: Instant) -> Result<(), StonithError>;
    /// Reads `host`'s power back, for drivers whose [`Info::confirms`] is true: after an `off`
    /// that reported success, hbd counts the host as fenced only once this says [`Power::Off`].
    fn power(&mut self, host: &str, deadline: Instant) -> Result<Power, StonithError> {
        let _ = (host, deadline);
        Err(StonithError::new(Code::Inval, format!("{} cannot read a host's power back", self.info().name)))
    }
    /// Powers `host` off and reads it back until it reads off, before `deadline`: what a
    /// fencing counts as done, for drivers whose [`Info::confirms`] is true. This default
    /// acts, then polls [`Driver::power`] every [`CONFIRM_POLL`]; a driver that can do both
    /// in one session overrides it.
    fn off_confirmed(&mut self, host: &str, deadline: Instant) -> Result<(), StonithError> {
        self.act(Action::Off, host, deadline)?;
        let mut reads = Reads::default();
        loop {
            let read = self.power(host, deadline);
            if reads.done(read, deadline)? {
                return Ok(());
            }
        }
    }
}

/// How often an `off` is read back while waiting for the host to go dark.
pub const CONFIRM_POLL: std::time::Duration = std::time::Duration::from_millis(50);

/// The read-backs of one confirmation: a definite "on" outranks a read cut short by the
/// deadline, so the error says what the device last knew.
#[derive(Debug, Default)]
pub struct Reads {
    read_on: bool,
}

impl Reads {
    /// Takes one read: `Ok(true)` once it says off; `Ok(false)` after waiting
    /// [`CONFIRM_POLL`] to read again; an error once the deadline is too close for another.
    pub fn done(&mut self, read: Result<Power, StonithError>, deadline: Instant) -> Result<bool, StonithError> {
        match read {
            Ok(Power::Off) => return Ok(true),
            Ok(Power::On) => self.read_on = true,
            Err(_) => {}
        }
        if Instant::now() + CONFIRM_POLL >= deadline {
            let why = match read {
                _ if self.read_on => "the device reported the off done, but the host still reads on".to_string(),
                Err(e) => format!("the off cannot be confirmed: {e}"),
                Ok(_) => "the off cannot be confirmed".to_string(),
            };
            return Err(StonithError::new(Code::ResetFail, why));
        }
        // A device cannot tell us when the host goes dark: it is read again until then.
        std::thread::sleep(CONFIRM_POLL);
        Ok(false)
    }
}
