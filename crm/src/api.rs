//! The CRM's own local API, for `hbctl crm` and monitoring: `RUN_DIR/crmd.sock`, a
//! SOCK_SEQPACKET socket of mode 0600 that only root and the CRM's own user may use (checked
//! with SO_PEERCRED). One JSON request per message, one reply per request, with the same rules
//! as hbd's API (`docs/ipc.md`): typed, versioned by addition, unknown fields ignored.
//!
//! A listener thread takes requests and hands each to the CRM's loop, which answers between
//! two operations (within [`REPLY_TIMEOUT`]).

use hb_core::ipc::SeqPacket;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

/// The socket's name in the run directory.
pub const SOCKET_NAME: &str = "crmd.sock";
/// The longest request.
pub const MAX_REQUEST: usize = 4096;
/// How long the listener waits for the loop's answer.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// A request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    /// Every group and resource, as this node's CRM knows them.
    CrmStatus,
    /// This node gives up the groups `which` names and will not run them (heartbeat's
    /// `hb_standby`), until a `takeover` here.
    Standby {
        /// Which groups (default `all`).
        #[serde(default)]
        which: Which,
    },
    /// This node asks for the groups `which` names (heartbeat's `hb_takeover`): the peer
    /// holding them gives them up and stands by for them; here, any standby for them ends.
    Takeover {
        /// Which groups (default `all`).
        #[serde(default)]
        which: Which,
    },
    /// What the CRMs would do if something happened, without doing it (as `crm_simulate`):
    /// this node's plan from its own view, and each live peer's from what it has said.
    Simulate {
        /// What to suppose.
        #[serde(flatten)]
        what_if: WhatIf,
    },
}

/// What a `simulate` supposes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct WhatIf {
    /// This node dies (or a peer does; fencing, where configured, is taken to succeed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_dead: Option<String>,
    /// This resource fails its monitor on the node that runs it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_fails: Option<String>,
    /// This node goes into standby (all its groups).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standby: Option<String>,
}

/// One node's part of a simulated transition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodePlan {
    /// The node.
    pub node: String,
    /// What it would do, in order (`start svc::one`, `stop db`, `svc::one waits: …`).
    pub steps: Vec<String>,
}

/// The groups a `standby` or `takeover` names, as `hb_standby` and `hb_takeover` take them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Which {
    /// Every group.
    #[default]
    All,
    /// The groups whose preferred node is this one.
    Local,
    /// The groups whose preferred node is another.
    Foreign,
}

/// One resource on this node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceStatus {
    /// Its id.
    pub id: String,
    /// `unknown`, `running`, `stopped` or `failed`, here.
    pub state: String,
    /// Its last operation here (`start`, `stop`, `monitor`), if any.
    pub last_op: Option<String>,
    /// That operation's result (`OCF_SUCCESS`, …).
    pub last_rc: Option<String>,
    /// How long it took, ms.
    pub last_ms: Option<f64>,
}

/// One group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupStatus {
    /// Its key.
    pub group: String,
    /// Its preferred node.
    pub preferred: String,
    /// Where the policy places it now (`None`: nowhere may run it yet).
    pub owner: Option<String>,
    /// Whether any of it runs (or failed) here.
    pub here: bool,
    /// What it waits for, if it waits.
    pub waiting: Option<String>,
    /// Its failures here (against the migration threshold).
    pub fail_count: u32,
    /// Its resources, in start order.
    pub resources: Vec<ResourceStatus>,
}

/// A peer, as this node's CRM knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerStatus {
    /// Its name.
    pub node: String,
    /// `up`, `dead`, `fenced` or `left`.
    pub state: String,
    /// The groups its CRM says it holds (`None`: it has not said).
    pub holds: Option<Vec<String>>,
}

/// A reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "kebab-case")]
pub enum Reply {
    /// Answers `crm-status`.
    CrmStatus {
        /// This node.
        node: String,
        /// In standby.
        standby: bool,
        /// Without fencing: `refuse` or `r1`.
        no_fencing: String,
        /// Every group, in configuration order.
        groups: Vec<GroupStatus>,
        /// Every peer.
        peers: Vec<PeerStatus>,
    },
    /// Answers `standby`: the groups given up.
    Standby {
        /// Their keys.
        groups: Vec<String>,
    },
    /// Answers `takeover`: the groups asked for.
    Takeover {
        /// Their keys.
        groups: Vec<String>,
    },
    /// Answers `simulate`: each live node's plan, and where each group would be.
    Simulate {
        /// Each node that would be alive.
        nodes: Vec<NodePlan>,
        /// Each group's placement after it, by this node's reckoning.
        placements: Vec<(String, Option<String>)>,
    },
    /// The request was refused.
    Error {
        /// Why.
        message: String,
    },
}

/// A request waiting for the loop, with where its reply goes.
pub type Pending = (Request, mpsc::Sender<Reply>);

/// Decodes a request (bounded; garbage is an error, never a panic).
pub fn decode(b: &[u8]) -> Result<Request, String> {
    if b.len() > MAX_REQUEST {
        return Err(format!("a request is at most {MAX_REQUEST} bytes"));
    }
    serde_json::from_slice(b).map_err(|e| format!("not a request: {e}"))
}

/// Listens at `run_dir/crmd.sock` and hands requests to the returned receiver.
pub fn listen(run_dir: &Path) -> std::io::Result<mpsc::Receiver<Pending>> {
    let path: PathBuf = run_dir.join(SOCKET_NAME);
    let sock = SeqPacket::listen(&path, 0o600)?;
    let me = nix::unistd::geteuid().as_raw();
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new().name("crmd-api".into()).spawn(move || {
        let mut buf = vec![0u8; MAX_REQUEST + 1];
        while let Ok(conn) = sock.accept() {
            let allowed = conn.peer_cred().is_ok_and(|c| c.uid == 0 || c.uid == me);
            if !allowed {
                let _ = conn.send(
                    &serde_json::to_vec(&Reply::Error { message: "only root and the CRM's user may use this socket".into() })
                        .unwrap_or_default(),
                    true,
                );
                continue;
            }
            // Accepted connections are non-blocking: a request is waited for in short naps,
            // and a client silent for 5 s is dropped.
            let mut idle = Duration::ZERO;
            loop {
                let n = match conn.recv(&mut buf, false) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && idle < Duration::from_secs(5) => {
                        std::thread::sleep(Duration::from_millis(2));
                        idle += Duration::from_millis(2);
                        continue;
                    }
                    Err(_) => break,
                };
                idle = Duration::ZERO;
                let reply = match decode(&buf[..n]) {
                    Err(message) => Reply::Error { message },
                    Ok(req) => {
                        let (rtx, rrx) = mpsc::channel();
                        if tx.send((req, rtx)).is_err() {
                            return;
                        }
                        rrx.recv_timeout(REPLY_TIMEOUT).unwrap_or(Reply::Error { message: "the CRM is busy; try again".into() })
                    }
                };
                if conn.send(&serde_json::to_vec(&reply).unwrap_or_default(), false).is_err() {
                    break;
                }
            }
        }
    })?;
    Ok(rx)
}

/// Asks the CRM in `run_dir` one request (for `hbctl crm`).
pub fn ask(run_dir: &Path, req: &Request) -> Result<Reply, String> {
    let path = run_dir.join(SOCKET_NAME);
    let sock =
        SeqPacket::connect(&path).map_err(|e| format!("cannot reach the CRM at {}: {e} (is `crm respawn` in ha.cf?)", path.display()))?;
    sock.send(&serde_json::to_vec(req).map_err(|e| e.to_string())?, false).map_err(|e| e.to_string())?;
    sock.set_recv_timeout((REPLY_TIMEOUT.as_millis() as u64) + 5000).map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 1 << 20];
    let n = sock.recv(&mut buf, false).map_err(|e| format!("the CRM did not answer: {e}"))?;
    serde_json::from_slice(&buf[..n]).map_err(|e| format!("the CRM's answer is not a reply: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_decode_and_garbage_is_refused() {
        assert_eq!(decode(br#"{"op":"crm-status","extra":1}"#), Ok(Request::CrmStatus));
        assert_eq!(decode(br#"{"op":"standby","which":"foreign"}"#), Ok(Request::Standby { which: Which::Foreign }));
        assert!(decode(br#"{"op":"takeover","which":"some"}"#).is_err());
        assert_eq!(
            decode(br#"{"op":"simulate","node_dead":"b"}"#),
            Ok(Request::Simulate { what_if: WhatIf { node_dead: Some("b".into()), ..WhatIf::default() } })
        );
        assert!(decode(br#"{"op":"frob"}"#).is_err());
        assert!(decode(b"\xff\x00").is_err());
        assert!(decode(&[b' '; MAX_REQUEST + 1]).unwrap_err().contains("at most"));
    }
}
