//! The client side of the local API: [`Client`] for requests and the event stream, and
//! [`AppHeartbeat`], an application's heartbeat bound to its connection.

use super::proto::{self, ErrorCode, EventMsg, Reply, Request, ServerMessage};
use super::SOCKET_NAME;
use crate::sys::seqpacket::SeqPacket;
use crate::time::{now, Nanos};
use std::collections::VecDeque;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The socket could not be reached.
    #[error("cannot connect to hbd at {path}")]
    Connect {
        /// The socket.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Sending or receiving failed (hbd stopped, or closed the connection).
    #[error("talking to hbd failed")]
    Io(#[from] io::Error),
    /// hbd did not answer in time.
    #[error("no reply from hbd within {0:?}")]
    Timeout(Duration),
    /// hbd sent something this client cannot decode.
    #[error("undecodable message from hbd")]
    Decode(#[from] proto::DecodeError),
    /// hbd refused the request (or the connection).
    #[error("hbd refused: {message} ({code:?})")]
    Refused {
        /// Why.
        code: ErrorCode,
        /// hbd's words.
        message: String,
    },
    /// hbd answered with a reply of another kind than the request calls for.
    #[error("unexpected reply from hbd: {0:?}")]
    Unexpected(Box<Reply>),
}

/// How long [`Client::request`] waits for a reply.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// A connection to hbd (hbctl, tests, the CRM). Connecting says `hello`.
pub struct Client {
    sock: SeqPacket,
    /// Events that arrived while waiting for a reply, in order.
    pending: VecDeque<EventMsg>,
    buf: Vec<u8>,
    /// The protocol version agreed in `hello`.
    pub version: u32,
    /// hbd's pid, from `hello`.
    pub hbd_pid: u32,
    /// hbd's node name, from `hello`.
    pub node: String,
}

impl Client {
    /// Connects to hbd's socket in `run_dir` and says hello (as `name`, for hbd's log).
    pub fn connect(run_dir: &Path) -> Result<Client, ClientError> {
        Client::connect_as(run_dir, "hb-client")
    }

    /// [`Client::connect`] naming the client.
    pub fn connect_as(run_dir: &Path, name: &str) -> Result<Client, ClientError> {
        let path = run_dir.join(SOCKET_NAME);
        let sock = SeqPacket::connect(&path).map_err(|source| ClientError::Connect { path, source })?;
        let mut c =
            Client { sock, pending: VecDeque::new(), buf: vec![0u8; proto::MAX_MESSAGE], version: 0, hbd_pid: 0, node: String::new() };
        match c.call(&Request::Hello { version: proto::VERSION, client: Some(name.into()) })? {
            Reply::Hello { version, pid, node, .. } => {
                c.version = version;
                c.hbd_pid = pid;
                c.node = node;
                Ok(c)
            }
            other => Err(ClientError::Unexpected(Box::new(other))),
        }
    }

    /// Sends one request and returns hbd's reply; an error reply is returned as a reply.
    /// Events that arrive meanwhile are kept for [`Client::next_event`].
    pub fn request(&mut self, req: &Request) -> Result<Reply, ClientError> {
        if let Err(e) = self.sock.send(&proto::encode(req), false) {
            // A refused connection is closed by hbd right after it says why: read that.
            if let Ok(Some(ServerMessage::Reply(r @ Reply::Error { .. }))) = self.recv_message(Duration::from_millis(100)) {
                return Err(refused(r));
            }
            return Err(e.into());
        }
        let end = now().add(Nanos(REPLY_TIMEOUT.as_nanos() as u64));
        loop {
            let left = Duration::from_nanos(end.sub(now()).0);
            if left.is_zero() {
                return Err(ClientError::Timeout(REPLY_TIMEOUT));
            }
            match self.recv_message(left)? {
                Some(ServerMessage::Reply(r)) => return Ok(r),
                Some(ServerMessage::Event(e)) => self.pending.push_back(e),
                None => {}
            }
        }
    }

    /// Sends a request and returns its reply, turning an error reply into
    /// [`ClientError::Refused`].
    pub fn call(&mut self, req: &Request) -> Result<Reply, ClientError> {
        match self.request(req)? {
            r @ Reply::Error { .. } => Err(refused(r)),
            r => Ok(r),
        }
    }

    /// Subscribes to the event stream; returns the sequence number events will follow.
    pub fn subscribe(&mut self) -> Result<u64, ClientError> {
        match self.call(&Request::Subscribe)? {
            Reply::Subscribed { seq } => Ok(seq),
            other => Err(ClientError::Unexpected(Box::new(other))),
        }
    }

    /// The next event, waiting up to `timeout`; `None` on timeout.
    pub fn next_event(&mut self, timeout: Duration) -> Result<Option<EventMsg>, ClientError> {
        if let Some(e) = self.pending.pop_front() {
            return Ok(Some(e));
        }
        let end = now().add(Nanos(timeout.as_nanos() as u64));
        loop {
            let left = Duration::from_nanos(end.sub(now()).0);
            match self.recv_message(left.max(Duration::from_millis(1)))? {
                Some(ServerMessage::Event(e)) => return Ok(Some(e)),
                // A reply nobody waits for (cannot happen with this client): skip it.
                Some(ServerMessage::Reply(_)) => {}
                None => return Ok(None),
            }
            if left.is_zero() {
                return Ok(None);
            }
        }
    }

    /// One message, waiting up to `timeout`.
    fn recv_message(&mut self, timeout: Duration) -> Result<Option<ServerMessage>, ClientError> {
        self.sock.set_recv_timeout((timeout.as_millis() as u64).max(1))?;
        let got = match self.sock.recv(&mut self.buf, false) {
            // hbd refuses a connection by sending why and closing it. When it closes before
            // reading our first request, the kernel reports the reset before the queued
            // message (and clears it): the reason is read on the next try.
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => match self.sock.recv(&mut self.buf, true) {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(e),
            },
            other => other,
        };
        match got {
            Ok(0) => Err(io::Error::new(io::ErrorKind::UnexpectedEof, "hbd closed the connection").into()),
            Ok(n) => Ok(Some(proto::decode_server(&self.buf[..n])?)),
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

fn refused(r: Reply) -> ClientError {
    match r {
        Reply::Error { code, message } => ClientError::Refused { code, message },
        other => ClientError::Unexpected(Box::new(other)),
    }
}

/// An application's heartbeat registration (heartbeat's `apphb_register` / `apphb_hb` /
/// `apphb_unregister`). Bound to its connection: dropping it without [`Self::unregister`] —
/// as when the process dies — is reported as the application having exited.
pub struct AppHeartbeat {
    client: Client,
    name: String,
}

impl AppHeartbeat {
    /// Registers `name`, promising a check-in at least every `interval`.
    pub fn register(run_dir: &Path, name: &str, interval: Duration) -> Result<AppHeartbeat, ClientError> {
        let mut client = Client::connect_as(run_dir, name)?;
        client.call(&Request::ApphbRegister { name: name.into(), interval_ms: interval.as_millis() as u64, persistent: false })?;
        Ok(AppHeartbeat { client, name: name.into() })
    }
    /// Checks in.
    pub fn checkin(&mut self) -> Result<(), ClientError> {
        self.client.call(&Request::ApphbCheckin { name: self.name.clone() }).map(drop)
    }
    /// Unregisters cleanly.
    pub fn unregister(mut self) -> Result<(), ClientError> {
        self.client.call(&Request::ApphbUnregister { name: self.name.clone() }).map(drop)
    }
}
