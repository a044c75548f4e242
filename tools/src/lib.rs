//! hb-tools: the command-line tools that ship with hbd, as libraries behind thin binaries.
//!
//! - [`hbctl`]: status, nodes, links, events, check-config, keygen, apphb (`hbctl` binary).
//!
//! Shipped code only: nothing here depends on the test bench (`hb-hwtest`); the demo and
//! the two-node topology live in `hb-bench`.

pub mod hbctl;
