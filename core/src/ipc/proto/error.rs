//! The protocol's error codes, and the small record types of the newer requests
//! (`crm-peers`), under the same stability rules as the rest of the protocol.

use serde::{Deserialize, Serialize};

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorCode {
    /// Not a request: not JSON, a missing field, a wrong type, or too long.
    BadRequest,
    /// An `op` this hbd does not know.
    UnknownRequest,
    /// `hello` with version 0.
    UnsupportedVersion,
    /// The connection was refused: this user is not on the allow list (`apiauth`). hbd closes it.
    PermissionDenied,
    /// The connection was refused: this user (or everyone) has too many open. hbd closes it.
    TooManyClients,
    /// No such application heartbeat.
    NotRegistered,
    /// The name is taken by a live registration.
    AlreadyRegistered,
    /// The registration belongs to another user or connection.
    NotOwner,
    /// A name starting `hb-` from a user other than root or hbd's own.
    ReservedName,
    /// The application-heartbeat table is full.
    TooMany,
    /// A value out of range (interval, name).
    Invalid,
    /// A request only root and hbd's user may make.
    NotPrivileged,
    /// No device can fence that node (or none is configured).
    NoFencing,
    /// Not a node of this cluster (or this node itself).
    NoSuchNode,
    /// The fencing queue is full.
    Busy,
    /// `fence-confirm` for a node no action waits for.
    NothingWaiting,
    /// A code this client's version does not know.
    #[serde(other)]
    Other,
}

/// One peer's CRM state, as `crm-peers` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrmPeer {
    /// The peer.
    pub node: String,
    /// Its state, in hex.
    pub state: String,
}
