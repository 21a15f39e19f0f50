//! One worker thread: many calls, one 20 ms schedule.

use super::call::{CallMedia, RecordingTap, TickCtx};
use super::{
    Load, MediaError, PlaybackId, RecordingSummary, SessionParams, FRAME_DURATION, FRAME_SAMPLES,
};

const FRAME_NS: u64 = FRAME_DURATION.as_nanos() as u64;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// An operation on one call.
#[derive(Debug)]
// `Frame` is as large as the audio it carries; boxing it would allocate per
// forwarded frame, which is what the worker avoids.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Op {
    Update(Box<SessionParams>),
    Play { id: PlaybackId, samples: Vec<i16> },
    Frame([i16; FRAME_SAMPLES]),
    ClearPlayback,
    RequestStats,
    Bridge(Option<(u64, mpsc::UnboundedSender<Command>)>),
    Dtmf { digit: char, length: Duration },
    StartRecording(Box<RecordingTap>),
    StopRecording(oneshot::Sender<Result<RecordingSummary, MediaError>>),
}

/// A message to a worker.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // see `Op`
pub(crate) enum Command {
    Add(Box<CallMedia>),
    Remove {
        id: u64,
        done: Option<oneshot::Sender<()>>,
    },
    Call {
        id: u64,
        op: Op,
    },
}

/// The engine's side of a worker.
pub(crate) struct WorkerHandle {
    pub(crate) tx: mpsc::UnboundedSender<Command>,
    pub(crate) load: Load,
}

/// Starts worker `index`.
pub(crate) fn spawn(
    index: usize,
    stop: Arc<AtomicBool>,
) -> std::io::Result<(WorkerHandle, JoinHandle<()>)> {
    let (tx, rx) = mpsc::unbounded_channel();
    let load = Load::default();
    let worker = Worker {
        rx,
        calls: Vec::new(),
        index_of: HashMap::new(),
        load: Arc::clone(&load),
        stop,
        ctx: TickCtx::new(),
    };
    let thread = std::thread::Builder::new()
        .name(format!("rtp-worker-{index}"))
        .spawn(move || worker.run())?;
    Ok((WorkerHandle { tx, load }, thread))
}

struct Worker {
    rx: mpsc::UnboundedReceiver<Command>,
    calls: Vec<CallMedia>,
    index_of: HashMap<u64, usize>,
    load: Load,
    stop: Arc<AtomicBool>,
    ctx: TickCtx,
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
            self.drain_commands();
            for call in &mut self.calls {
                call.run_tick(&mut self.ctx);
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

    fn drain_commands(&mut self) {
        while let Ok(cmd) = self.rx.try_recv() {
            match cmd {
                Command::Add(call) => {
                    let mut call = *call;
                    call.start(self.ctx.tick);
                    self.index_of.insert(call.id(), self.calls.len());
                    self.calls.push(call);
                }
                Command::Remove { id, done } => {
                    if let Some(i) = self.index_of.remove(&id) {
                        let call = self.calls.swap_remove(i);
                        if let Some(moved) = self.calls.get(i) {
                            self.index_of.insert(moved.id(), i);
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
                            call.apply(op);
                        }
                    }
                }
            }
        }
    }
}
