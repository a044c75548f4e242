//! hb-tools: the command-line tools that ship with hbd, as libraries behind thin binaries.
//!
//! - [`hbctl`]: status, nodes, links, events, check-config, keygen, apphb, fence, stonith
//!   (`hbctl` binary); [`hbctl_fence`] is its fencing part;
//! - [`stonith_cli`]: cluster-glue's `stonith` command line over hb's drivers (`hb-stonith`);
//! - [`fence_cli`]: the same drivers as a Pacemaker fence agent (`fence_hb`);
//! - [`manpage`]: man pages rendered from the programs' `--help` texts (`docs/man/`).
//!
//! Shipped code only: nothing here depends on the test bench (`hb-hwtest`); the demo and
//! the two-node topology live in `hb-bench`.

pub mod fence_cli;
pub mod hbctl;
pub mod hbctl_crm;
pub mod hbctl_fence;
pub mod manpage;
pub mod stonith_cli;
