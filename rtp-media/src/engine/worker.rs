//! One worker thread: many calls, one 20 ms schedule.
//!
//! Each tick the worker first reads the sockets that have data and only
//! those: every call's RTP and RTCP socket is registered for edge-triggered
//! readiness (epoll through `mio`), one non-blocking poll at the start of
//! the tick says which received datagrams since they were last drained, and
//! each of those is read in batches ([`super::batch`]). An idle socket costs
//! nothing per tick, an RTCP socket is read about once in five seconds, and
//! an active RTP socket takes one system call per tick instead of a read
//! per packet plus one that finds it empty. Then the worker walks its calls
//! in order: play out, send, timers.
//!
//! Packets of a ptime that is not a multiple of 20 ms (10, 30, 50 ms ...)
//! leave one every ptime, on 10 ms slots: when a call has such a packet
//! due between two ticks, the worker wakes on the half tick and sends it
//! (only those calls do anything then). With no such call it wakes once
//! per tick, as before.

use super::bridge::BridgedFrame;
use super::call::{CallMedia, MediaPort};
use super::command::Command;
use super::event::FRAME_DURATION;
use super::tick::TickCtx;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

const FRAME_NS: u64 = FRAME_DURATION.as_nanos() as u64;

/// Calls open on a worker, read by [`MediaEngine::worker_loads`](super::MediaEngine::worker_loads).
pub(crate) type Load = Arc<AtomicUsize>;

/// The engine's side of a worker.
pub(crate) struct WorkerHandle {
    pub(crate) tx: mpsc::UnboundedSender<Command>,
    /// Where calls joined to one of this worker's calls send their frames.
    pub(crate) bridged: mpsc::UnboundedSender<BridgedFrame>,
    pub(crate) load: Load,
}

/// Starts worker `index`.
pub(crate) fn spawn(
    index: usize,
    stop: Arc<AtomicBool>,
) -> std::io::Result<(WorkerHandle, JoinHandle<()>)> {
    let (tx, rx) = mpsc::unbounded_channel();
    let (bridged, bridged_rx) = mpsc::unbounded_channel();
    let load = Load::default();
    let poll = Poll::new()?;
    let worker_load = Arc::clone(&load);
    let thread = std::thread::Builder::new()
        .name(format!("rtp-worker-{index}"))
        .spawn(move || {
            // Built on the worker's own thread: the receive batch is not
            // `Send`.
            let worker = Worker {
                rx,
                bridged: bridged_rx,
                calls: Vec::new(),
                index_of: HashMap::new(),
                load: worker_load,
                stop,
                ctx: TickCtx::new(),
                poll,
                events: Events::with_capacity(EVENTS_PER_POLL),
                ready: Vec::new(),
                carry: Vec::new(),
            };
            worker.run()
        })?;
    Ok((WorkerHandle { tx, bridged, load }, thread))
}

struct Worker {
    rx: mpsc::UnboundedReceiver<Command>,
    /// Frames of calls on other workers joined to calls of this one.
    bridged: mpsc::UnboundedReceiver<BridgedFrame>,
    /// Calls in tick order. A call's sockets are registered under tokens
    /// made from its index here ([`socket_token`]), re-registered when a
    /// removal moves it.
    calls: Vec<CallMedia>,
    index_of: HashMap<u64, usize>,
    load: Load,
    stop: Arc<AtomicBool>,
    ctx: TickCtx,
    poll: Poll,
    events: Events,
    /// Tokens of the sockets to read this tick.
    ready: Vec<usize>,
    /// Sockets whose read stopped at the per-tick cap: read again next tick.
    carry: Vec<usize>,
}

/// Readiness events taken per poll; a busy tick polls again until fewer
/// come back.
const EVENTS_PER_POLL: usize = 1024;

/// The readiness token of a call's socket: call index × 2, + 1 for RTCP.
fn socket_token(index: usize, port: MediaPort) -> usize {
    index * 2 + usize::from(port == MediaPort::Rtcp)
}

/// The call index and socket a token stands for.
fn token_socket(token: usize) -> (usize, MediaPort) {
    let port = if token % 2 == 0 {
        MediaPort::Rtp
    } else {
        MediaPort::Rtcp
    };
    (token / 2, port)
}

/// Ticks this far behind are skipped rather than caught up (the machine
/// stalled); RTP timestamps still follow real time.
const MAX_CATCH_UP: Duration = Duration::from_millis(200);

impl Worker {
    fn run(mut self) {
        let start = Instant::now();
        let mut tick: u64 = 0;
        while !self.stop.load(Ordering::Relaxed) {
            self.ctx.tick = tick;
            self.ctx.slot = tick * 2;
            self.drain_commands();
            self.ctx.now = Instant::now();
            self.read_ready_sockets();
            let mut half_tick = false;
            for call in &mut self.calls {
                half_tick |= call.run_tick(&mut self.ctx);
            }
            self.hand_over_bridged_frames();
            if half_tick {
                // Packets of a ptime that is not a multiple of 20 ms due
                // between this tick and the next (a 30 ms stream leaves
                // every 30 ms, not at 20/40 ms).
                let half = start + Duration::from_nanos(tick * FRAME_NS + FRAME_NS / 2);
                let now = Instant::now();
                if half > now {
                    std::thread::sleep(half - now);
                }
                self.ctx.slot = tick * 2 + 1;
                for call in &mut self.calls {
                    call.run_half_tick(&mut self.ctx);
                }
            }
            tick += 1;
            let deadline = start + Duration::from_nanos(tick * FRAME_NS);
            let now = Instant::now();
            if deadline > now {
                std::thread::sleep(deadline - now);
            } else if now - deadline > MAX_CATCH_UP {
                self.ctx.overruns += 1;
                let behind = ((now - start).as_nanos() / u128::from(FRAME_NS)) as u64;
                self.ctx.ticks_skipped += behind.saturating_sub(tick);
                tick = behind;
            }
        }
    }

    /// Gives each frame a bridged call left for a call of this worker to
    /// that call's playback.
    fn hand_over_bridged_frames(&mut self) {
        let Worker {
            ctx,
            calls,
            index_of,
            ..
        } = self;
        for (peer, samples) in ctx.forwarded.drain(..) {
            if let Some(call) = index_of.get(&peer).and_then(|&i| calls.get_mut(i)) {
                call.play_frame(&samples);
            }
        }
    }

    /// Reads every socket that received datagrams since it was last
    /// drained, and those left over from the previous tick's cap.
    fn read_ready_sockets(&mut self) {
        std::mem::swap(&mut self.ready, &mut self.carry);
        let carried = self.ready.len();
        loop {
            if let Err(e) = self.poll.poll(&mut self.events, Some(Duration::ZERO)) {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    tracing::warn!(error = %e, "rtp worker: readiness poll failed");
                }
                break;
            }
            let before = self.ready.len();
            self.ready
                .extend(self.events.iter().map(|event| event.token().0));
            if self.ready.len() - before < EVENTS_PER_POLL {
                break;
            }
        }
        if carried > 0 {
            // A carried socket may also have been reported again; reading
            // it twice would let it carry twice, and a flood grow its share.
            self.ready.sort_unstable();
            self.ready.dedup();
        }
        let mut ready = std::mem::take(&mut self.ready);
        for &token in &ready {
            let (index, port) = token_socket(token);
            if let Some(call) = self.calls.get_mut(index) {
                if call.receive(&mut self.ctx, port) {
                    self.carry.push(token);
                }
            }
        }
        ready.clear();
        self.ready = ready;
    }

    /// Registers (or, for a call moved to `index`, re-registers) a call's
    /// sockets for readiness under the tokens of `index`.
    fn register(&self, index: usize, again: bool) {
        let Some(call) = self.calls.get(index) else {
            return;
        };
        let registry = self.poll.registry();
        for (port, fd) in call.socket_fds() {
            let token = Token(socket_token(index, port));
            let mut source = SourceFd(&fd);
            let done = if again {
                registry.reregister(&mut source, token, Interest::READABLE)
            } else {
                registry.register(&mut source, token, Interest::READABLE)
            };
            if let Err(e) = done {
                // The call still sends; it cannot receive.
                tracing::warn!(call = call.id(), ?port, error = %e,
                    "rtp worker: cannot watch a media socket");
            }
        }
    }

    fn drain_commands(&mut self) {
        while let Ok((peer, samples)) = self.bridged.try_recv() {
            if let Some(call) = self
                .index_of
                .get(&peer)
                .and_then(|&i| self.calls.get_mut(i))
            {
                call.play_frame(&samples);
            }
        }
        while let Ok(cmd) = self.rx.try_recv() {
            match cmd {
                Command::Add(call) => {
                    let mut call = *call;
                    call.start(self.ctx.tick);
                    let index = self.calls.len();
                    self.index_of.insert(call.id(), index);
                    self.calls.push(call);
                    self.register(index, false);
                }
                Command::Remove { id, done } => {
                    if let Some(i) = self.index_of.remove(&id) {
                        let mut call = self.calls.swap_remove(i);
                        // A key still down is reported before the events
                        // channel closes with the call.
                        call.close_keys();
                        for (_, fd) in call.socket_fds() {
                            // Closing the socket would unregister it too.
                            let _ = self.poll.registry().deregister(&mut SourceFd(&fd));
                        }
                        let last = self.calls.len();
                        self.carry.retain(|&t| token_socket(t).0 != i);
                        if let Some(moved) = self.calls.get(i) {
                            self.index_of.insert(moved.id(), i);
                            self.register(i, true);
                            for t in &mut self.carry {
                                if token_socket(*t).0 == last {
                                    *t = socket_token(i, token_socket(*t).1);
                                }
                            }
                        }
                        drop(call);
                        self.load.fetch_sub(1, Ordering::Relaxed);
                    }
                    if let Some(done) = done {
                        let _ = done.send(());
                    }
                }
                Command::Call { id, op } => {
                    if let Some(&i) = self.index_of.get(&id) {
                        if let Some(call) = self.calls.get_mut(i) {
                            op.apply(call);
                        }
                    }
                }
            }
        }
    }
}
