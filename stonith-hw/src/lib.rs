//! STONITH drivers (power switches, serial relays, IPMI) — **not implemented yet**.
//!
//! The driver trait, the preloaded registry and the fencing topology land with the fencing
//! issue; until then `hbd` refuses `stonith` and `stonith_host` by name.
