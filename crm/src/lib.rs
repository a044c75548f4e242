//! The cluster resource manager, `hb-crmd`: it runs the cluster's resources and fails them
//! over, in a separate process, so nothing it does can delay a heartbeat. It talks to `hbd`
//! only through the IPC, and hbd starts it (`crm respawn`).
//!
//! - [`haresources`]: heartbeat's `haresources`, read as heartbeat reads it;
//! - [`config`]: `ha.cf`, `haresources` and `crm.cf` together, each resource resolved to its
//!   agent; [`native`]: `crm.cf`'s OCF, LSB and heartbeat resources in named groups;
//! - [`agent`]: OCF, LSB and heartbeat `resource.d` agents, run under a deadline in their own
//!   process group, their results in OCF's terms; [`process`]: the built-in process resource
//!   (no agent), which the recovery manager restarts when its application heartbeat stops;
//! - [`policy`]: the policy engine, a pure function from configuration and cluster state to
//!   this node's plan; [`simulate`]: what-ifs through it, nothing done (`hbctl simulate`);
//! - [`digest`]: what a CRM tells its peers through hbd (groups held, claimed, refused and
//!   asked for, ping nodes reached, acknowledgements);
//! - [`daemon`]: `hb-crmd`'s loop over hbd's IPC; [`api`]: its own socket, `crmd.sock`, for
//!   `hbctl crm|standby|takeover|simulate`; [`sys`]: its stop-signal handler.
//!
//! Not yet (issue 16): scores, ordering and colocation between groups, per-operation
//! intervals and timeouts, built-in IP address takeover.

pub mod agent;
pub mod api;
pub mod config;
pub mod daemon;
pub mod digest;
pub mod haresources;
pub mod native;
pub mod policy;
pub mod process;
pub mod simulate;
pub mod sys;
