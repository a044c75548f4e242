//! The types of the fencing requests, replies and events (`fence`, `fence-confirm`,
//! `stonith-status`, `fence-*`), under the same stability rules as the rest of the protocol.

use serde::{Deserialize, Serialize};

/// What a fence request does to a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FenceOp {
    /// Off (confirmed), then on.
    #[default]
    Reboot,
    /// Off, confirmed.
    Off,
    /// On.
    On,
}

impl FenceOp {
    /// Its name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            FenceOp::Reboot => "reboot",
            FenceOp::Off => "off",
            FenceOp::On => "on",
        }
    }
}

/// Why a node is being fenced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FenceReason {
    /// A `fence` request.
    Request,
    /// hbd declared it dead.
    NodeDead,
    /// A reason this client's version does not know.
    #[serde(other)]
    Other,
}

/// One fencing device, as `stonith-status` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceStatus {
    /// Its name (`stonith_device`'s, or `TYPE@LINE`).
    pub name: String,
    /// Its driver type.
    pub kind: String,
    /// The hosts it can fence.
    pub hosts: Vec<String>,
    /// It runs another program to act (external scripts and fence agents).
    pub forks: bool,
    /// It reads a host's power back to confirm an off.
    pub confirms: bool,
    /// A person acts for it (meatware).
    pub operator: bool,
}

/// One node's topology, as `stonith-status` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetStatus {
    /// The node.
    pub node: String,
    /// Its levels in order, each the devices that must all succeed.
    pub levels: Vec<Vec<String>>,
}
