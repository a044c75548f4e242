//! The cluster resource manager, `hb-crmd`: it runs the cluster's resources and fails them
//! over, in a separate process at normal priority, so nothing it does can delay a heartbeat.
//! It talks to `hbd` only through the IPC.
//!
//! Built so far (issue 16, in progress):
//! - [`haresources`]: heartbeat's `haresources`, read as heartbeat reads it.
//!
//! Not yet: the native configuration, the agents' executor, the policy engine, the daemon.
//! Until they exist `hbd` refuses `crm respawn` by name.

pub mod haresources;
