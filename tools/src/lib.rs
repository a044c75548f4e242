//! hb-tools: the command-line tools. The logic of `hbctl` lives in [`hbctl`].
pub mod hbctl;
