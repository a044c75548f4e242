//! hb-tools: the command-line tools, as libraries behind thin binaries.
//!
//! - [`hbctl`]: status, nodes, links, events, check-config, keygen (`hbctl` binary);
//! - [`demo`]: the two-node appliance demo (`hb-demo` binary), which also measures detection
//!   time, idle CPU and RSS until `hb-bench` exists.

pub mod demo;
pub mod hbctl;
