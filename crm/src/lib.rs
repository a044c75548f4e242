//! The cluster resource manager, `hb-crmd`: it runs the cluster's resources and fails them
//! over, in a separate process at normal priority, so nothing it does can delay a heartbeat.
//! It talks to `hbd` only through the IPC.
//!
//! Built so far (issue 16, in progress):
//! - [`haresources`]: heartbeat's `haresources`, read as heartbeat reads it;
//! - [`agent`]: OCF, LSB and heartbeat `resource.d` agents, run under a deadline in their own
//!   process group, their results in OCF's terms;
//! - [`policy`]: the policy engine, a pure function from configuration and cluster state to
//!   this node's plan.
//!
//! Not yet: the native configuration, the built-in resources, the transition executor, the daemon.
//! Until they exist `hbd` refuses `crm respawn` by name.

pub mod agent;
pub mod api;
pub mod config;
pub mod daemon;
pub mod digest;
pub mod haresources;
pub mod native;
pub mod policy;
pub mod sys;
