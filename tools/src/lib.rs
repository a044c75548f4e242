//! hb-tools: the command-line tools, as libraries behind thin binaries.
//!
//! - [`hbctl`]: status, nodes, links, events, check-config, keygen (`hbctl` binary);
//! - [`demo`]: the two-node appliance demo (`hb-demo` binary), which also measures detection
//!   time, idle CPU and RSS;
//! - [`twonode`]: the two-node cluster on this machine that the demo and `hb-bench` drive.

pub mod demo;
pub mod hbctl;
pub mod twonode;
