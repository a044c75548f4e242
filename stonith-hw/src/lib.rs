//! STONITH drivers for hb: what powers a node off, on, or resets it.
//!
//! The model is cluster-glue's, kept for the hot path: every driver is compiled in
//! ([`registry`]), configured once at start-up with cluster-glue's parameter names
//! ([`Params`]), and then needs no fork, no exec and no disk to act. Each operation takes a
//! deadline and reports a cluster-glue result code ([`Code`], `S_OK` … `S_OOPS`).
//!
//! - [`Code`], [`StonithError`]: results, named as cluster-glue names them;
//! - [`Params`]: `name=value` pairs, or a positional `-p` string read against a driver's
//!   parameter names;
//! - [`Driver`], [`Action`], [`Info`]: what every driver does and says about itself;
//! - [`registry`]: the drivers compiled in, by type name, and [`registry::open`];
//! - [`lcus`]: LCUS-style USB relay boards (CH340, `A0 ch state sum` frames at 9600 baud);
//! - [`rps10`]: WTI RPS-10M switches on a serial line; [`nw_rpc100s`]: the Night/Ware
//!   RPC-100S; [`apcsmart`]: APC Smart-UPS (the Smart protocol);
//! - [`rcd_serial`]: a reset circuit on a serial port's DTR or RTS line;
//! - [`ipmi`]: IPMI over LAN, native (1.5 and 2.0/RMCP+), `ipmilan`;
//! - [`snmp`]: APC PDUs over SNMP v1, v2c and v3 (USM), native, `apcmastersnmp`;
//! - [`meatware`]: an operator powers the host off by hand and confirms;
//! - [`fence_agent`]: any Pacemaker fence agent, through its stdin protocol (it forks);
//! - [`external`]: cluster-glue's `external/*` plugin scripts (they fork).
//!
//! - [`wti_nps`]: WTI network power switches through their telnet menu, over TCP;
//!   [`apcmaster`]: APC MasterSwitch menus or AOS command line, over TCP; [`baytech`]:
//!   Baytech RPC remote power controllers' telnet menu, over TCP.

pub mod apcmaster;
pub mod apcsmart;
pub mod baytech;
mod child;
mod code;
mod driver;
pub mod external;
pub mod fence_agent;
pub mod ipmi;
pub mod lcus;
pub mod meatware;
pub mod nw_rpc100s;
mod outlets;
mod params;
pub mod rcd_serial;
pub mod registry;
pub mod rps10;
pub mod snmp;
mod sys;
mod telnet;
mod tty;
mod udp;
pub mod wti_nps;

pub use code::{Code, StonithError};
pub use driver::{Action, Driver, Info, Power};
pub use params::Params;

/// For the `device_replies` fuzz target: every decoder of what a telnet-menu switch, a serial
/// power switch or a UPS sends, run on `data` as it arrives (telnet negotiation stripped, in
/// two pieces split at every point the first byte picks) and as text. The fuzzer checks that
/// none panics; the drivers' tests check what they decode.
#[doc(hidden)]
pub fn fuzz_device_replies(data: &[u8]) {
    let split = usize::from(data.first().copied().unwrap_or(0)).min(data.len());
    let mut text = Vec::new();
    let state = telnet::strip_negotiation(telnet::Telnet::Text, &data[..split], &mut text);
    telnet::strip_negotiation(state, &data[split..], &mut text);
    assert!(text.len() <= telnet::MAX_REPLY);
    for t in [String::from_utf8_lossy(&text), String::from_utf8_lossy(data)] {
        let _ = wti_nps::fuzz(&t);
        let _ = apcmaster::fuzz(&t);
        let _ = baytech::fuzz(&t);
        let _ = apcsmart::fuzz(&t);
        let _ = rps10::fuzz(&t);
        let _ = code::quote_tail(&t);
    }
}
