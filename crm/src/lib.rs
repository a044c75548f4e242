//! The cluster resource manager (`hb-crmd`) — **not implemented yet**.
//!
//! Resources, the policy engine and the executor will run here, in a separate process at
//! normal priority, so nothing they do can delay a heartbeat. Until it exists `hbd` refuses
//! `crm`, `pacemaker` and `respawn` by name, and `haresources` is not read.
