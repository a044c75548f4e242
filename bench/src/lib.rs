//! `hb-bench`: how users judge the appliance and how we judge ourselves.
//!
//! - [`hist`]: latency histograms and their renderings (table, `.hgrm`, JSON);
//! - [`plot`]: latency by percentile as SVG;
//! - [`report`]: the environment every report records, where results are written, PNG from
//!   SVG when `rsvg-convert` is installed;
//! - [`floor`]: this machine's own timer wake-up latency at SCHED_FIFO (what cyclictest
//!   measures), and the CPU cost of merely waking at a given interval;
//! - [`cluster`]: measurements on a real two-node cluster (`detect`, `cost`, `soak`, `jitter`,
//!   `rtt` per link), driven through [`twonode`];
//! - [`twonode`]: the two-node cluster on this machine (namespaces as root, loopback
//!   otherwise) that the bench and the demo drive;
//! - [`demo`]: the README's two-node appliance demo (`hb-demo` binary).
//! - [`reject`]: the engine's cost per refused packet, by reason (what a flood costs);
//! - [`flood`]: a forged-heartbeat flood from a third host on every medium, with its false
//!   deaths, lost heartbeats, watchdog pets and hbd's CPU;
//! - [`fence`]: `hbctl fence` through hbd's fencing thread and the native `ipmilan` driver,
//!   against OpenIPMI's `ipmi_sim`;
//! - [`compare`]: the `detect` scenario on Debian's heartbeat 3.0.6 and corosync 3.1.7, each
//!   node in its own network, UTS, mount and PID namespaces.
//!
//! Not yet: `failover` (it needs the CRM). The binary says so rather than pretending.

pub mod cluster;
pub mod compare;
pub mod demo;
pub mod fence;
pub mod flood;
pub mod floor;
pub mod hist;
pub mod plot;
pub mod reject;
pub mod report;
mod sys;
pub mod twonode;
