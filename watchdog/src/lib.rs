//! The Linux watchdog device API and the pet decision — **not implemented yet**.
//!
//! This crate will hold the `/dev/watchdog` ioctls (GETSUPPORT, SETTIMEOUT, KEEPALIVE, magic
//! close) and the pure "pet now?" function of a health snapshot and `now` (open issue: "The
//! hardware watchdog, self-fencing and application heartbeats"). Until then `hbd` refuses the
//! `watchdog` directive by name rather than pretending to pet anything.
