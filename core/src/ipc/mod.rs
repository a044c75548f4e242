//! IPC: hb's local API on a unix seqpacket socket, `<run-dir>/hbd.sock`.
//!
//! - [`proto`]: the messages — [`proto::Request`], [`proto::Reply`], [`proto::EventMsg`] —
//!   versioned, with one encoder and decoder (JSON). `docs/ipc.md` is their public description.
//! - [`server`]: the IPC thread of hbd. Each connection's credentials (`SO_PEERCRED` and
//!   `SO_PEERGROUPS`) are checked against an allow list (root, hbd's user, `apiauth`);
//!   connections are limited per user, and root always has room of its own.
//! - [`client`]: [`Client`] (hbctl, the tests, the CRM) and [`AppHeartbeat`].
//! - [`crm`]: the CRMs' channel through hbd (`crm-state`, `crm-peers`, `peer-crm`).
//! - `fencing`: the fence requests, and the jobs a dead peer causes, for the fencing thread.

pub mod client;
pub mod crm;
mod fencing;
pub mod proto;
pub mod server;

/// The socket type of hb's local APIs, for the CRM's own (`crmd.sock`).
pub use crate::sys::seqpacket::SeqPacket;
pub use client::{AppHeartbeat, Client, ClientError};
pub use server::{spawn_server, AllowList, ServerCtx};

use std::sync::atomic::{AtomicBool, AtomicU64};

/// The socket's name inside the run directory.
pub const SOCKET_NAME: &str = "hbd.sock";
/// Capacity of the RT → IPC event ring.
pub const EVENT_RING: usize = 1024;
/// The application-heartbeat name the CRM registers under.
pub const CRM_NAME: &str = "hb-crmd";

/// State the IPC thread shares with the RT thread, lock-free.
#[derive(Debug, Default)]
pub struct AppShared {
    /// Some application heartbeat has failed (missed, or its process exited). Written by IPC.
    pub failed: AtomicBool,
    /// Last check-in of the application heartbeat named [`CRM_NAME`] (CLOCK_MONOTONIC ns; 0 =
    /// never). Written by IPC.
    pub crm_last_seen: AtomicU64,
    /// Events lost before reaching the IPC thread (its ring or the engine's queue full), since
    /// start. Written by the RT thread.
    pub events_lost: AtomicU64,
    /// Events not queued for some subscriber because it fell behind, since start. Written by
    /// IPC.
    pub subscriber_missed: AtomicU64,
    /// This node's CRM state, which its heartbeats carry. Written by IPC, read by RT.
    pub crm_state: crm::CrmSlot,
    /// The CRM may have left resources running (it died, or did not release them when
    /// stopped): a clean stop must not send the leaving mark. Written by the CRM supervisor.
    pub crm_unreleased: AtomicBool,
}
