//! The real RT loop on a backend of the caller's: for the seeded simulation
//! (`core/tests/sim.rs`), which drives two of them on one virtual clock through a simulated
//! network, with the loop's own drain, stall discounting, send schedule, event forwarding and
//! status page — not only the engine.
//!
//! A [`SimLoop`] has UDP-like links with no socket: whatever the loop sends goes to the
//! backend's [`Backend::send`], whatever it receives comes from [`Backend::drain`], and its
//! clock is [`Backend::now`]. The caller decides when the loop ticks ([`SimLoop::tick`]);
//! waiting is the caller's business.

use super::link::RtLink;
use super::rt::{Loop, RtCtx};
use super::udp::UdpRt;
use crate::backend::Backend;
use crate::engine::{Engine, EngineConfig};
use crate::ipc::AppShared;
use crate::liveness::Event;
use crate::logging::{self, LogConfig, Logger, Names};
use crate::status::{LoopStats, Snapshot, StatusReader, StatusWriter};
use crate::sys::fd::EventFd;
use socket2::SockAddr;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// One node's real loop on a simulated backend.
pub struct SimLoop<B: Backend> {
    inner: Loop<B>,
    events: rtrb::Consumer<Event>,
    log_stop: Arc<AtomicBool>,
    log: Option<std::thread::JoinHandle<()>>,
    run_dir: PathBuf,
}

impl<B: Backend> SimLoop<B> {
    /// A loop for `engine`, whose link `i` sends to `links[i]` (one destination each), with
    /// its status page in `run_dir` (created). Logging goes nowhere; events come out of
    /// [`SimLoop::events`].
    pub fn new(backend: B, engine: EngineConfig, links: Vec<Vec<SockAddr>>, run_dir: &Path) -> io::Result<SimLoop<B>> {
        crate::files::private_dir(run_dir)?;
        let now = backend.now();
        let link_names: Vec<String> = (0..links.len()).map(|i| format!("sim{i}")).collect();
        let (status, _) = StatusWriter::create(run_dir, &engine.self_name, &engine.peers, &[], &link_names, &engine.timing, now)?;
        let names = Names {
            peers: engine.peers.clone(),
            links: link_names,
            pings: Vec::new(),
            deadtime: engine.timing.deadtime,
            warntime: engine.timing.warntime,
            deadping: engine.timing.deadtime,
        };
        let logger = Logger::new(&LogConfig::default());
        let log_stop = Arc::new(AtomicBool::new(false));
        let (rtlog, log) = logging::spawn_log_thread(logger.clone(), names, log_stop.clone())?;
        let (producer, events) = rtrb::RingBuffer::<Event>::new(crate::ipc::EVENT_RING);
        let ctx = RtCtx {
            engine: Box::new(Engine::new(engine, now)),
            pinger: None,
            icmp: Vec::new(),
            links: links.into_iter().map(|dests| RtLink::Udp(UdpRt { socket: None, dests })).collect(),
            port_slots: Arc::from(Vec::new()),
            status,
            rtlog,
            events: producer,
            ipc_wake: Arc::new(EventFd::new()?),
            wake: Arc::new(EventFd::new()?),
            stop: Arc::new(AtomicBool::new(false)),
            stats: LoopStats::default(),
            petter: None,
            apps: Arc::new(AppShared::default()),
            ring_lost: 0,
            logger,
        };
        Ok(SimLoop { inner: Loop::new(backend, ctx), events, log_stop, log: Some(log), run_dir: run_dir.to_path_buf() })
    }

    /// One iteration of the loop at the backend's `now`.
    pub fn tick(&mut self) {
        self.inner.tick();
    }

    /// When the loop wants to tick next.
    pub fn deadline(&self) -> crate::time::Nanos {
        self.inner.deadline()
    }

    /// The events the loop forwarded since the last call.
    pub fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.events.pop().ok()).collect()
    }

    /// Its status page, as hbctl reads it.
    pub fn status(&self) -> Result<Snapshot, crate::status::StatusError> {
        StatusReader::open(&self.run_dir)?.snapshot()
    }

    /// The backend.
    pub fn backend(&mut self) -> &mut B {
        &mut self.inner.backend
    }
}

impl<B: Backend> Drop for SimLoop<B> {
    fn drop(&mut self) {
        self.log_stop.store(true, Ordering::Release);
        if let Some(h) = self.log.take() {
            h.thread().unpark();
            let _ = h.join();
        }
        StatusWriter::remove(&self.run_dir);
    }
}
