//! `hb-core`: the heartbeat core daemon `hbd` as a library.
//!
//! How the pieces connect:
//! - [`config`] and [`auth`] read `ha.cf` and `authkeys` into an [`config::HaCf`] and an
//!   [`auth::AuthKeys`];
//! - [`wire`] encodes and decodes packets; [`engine::Engine`] — sans-I/O — turns received bytes
//!   and `now` into [`liveness::Event`]s and heartbeats, using [`liveness::Liveness`];
//! - [`filter`] builds the socket filters that drop in the kernel what is not this cluster's;
//! - [`daemon`] sets everything up and runs the RT loop, which owns every socket and timer
//!   through a [`backend`] (io_uring, or epoll as fall-back);
//! - [`logging`] drains a lock-free ring the RT thread writes; [`status`] is the shared-memory
//!   page `hbctl` reads; [`ipc`] serves the unix seqpacket socket (commands, event stream);
//! - [`fence`] holds the STONITH devices this node runs and fences peers on its own thread.
//!
//! Unsafe code lives only in `sys` (STYLE habit 7).

pub mod apphb;
pub mod auth;
pub mod backend;
pub mod config;
pub mod counters;
pub mod daemon;
pub mod engine;
pub mod error;
pub mod fence;
pub mod files;
pub mod filter;
pub mod ipc;
pub mod liveness;
pub mod logging;
pub mod ping;
pub mod ports;
pub mod replay;
pub mod state;
pub mod status;
pub mod time;
pub mod wire;

mod sys;

#[cfg(test)]
mod testutil;
