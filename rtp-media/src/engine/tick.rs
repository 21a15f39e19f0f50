//! The clock and scratch space a worker shares with the calls it runs.

use super::batch::RecvBatch;
use super::event::FRAME_SAMPLES;
use std::time::{Duration, Instant};

/// The worker's finest step: packets of any ptime (a multiple of 10 ms)
/// leave on these slots, two per 20 ms tick.
pub(crate) const SLOT: Duration = Duration::from_millis(10);

/// Scratch space and clock shared by the calls of one worker.
#[derive(Debug)]
pub(crate) struct TickCtx {
    /// 20 ms ticks since the worker started.
    pub(crate) tick: u64,
    /// 10 ms slots since the worker started: `2 × tick` on a tick, one
    /// more on the half tick between two ticks, where only packets of a
    /// ptime that is not a multiple of 20 ms go out.
    pub(crate) slot: u64,
    /// When the current tick began; the timers of every call use it.
    pub(crate) now: Instant,
    pub(crate) overruns: u64,
    pub(crate) ticks_skipped: u64,
    pub(crate) batch: RecvBatch,
    /// One outgoing datagram (RTP or RTCP), written in place.
    pub(crate) out: Box<[u8]>,
    /// Frames of bridged calls for a call of the same worker, handed over
    /// once every call has run this tick (its capacity grows to the number
    /// of such calls once, then stays).
    pub(crate) forwarded: Vec<(u64, [i16; FRAME_SAMPLES])>,
}

impl TickCtx {
    pub(crate) fn new() -> Self {
        TickCtx {
            tick: 0,
            slot: 0,
            now: Instant::now(),
            overruns: 0,
            ticks_skipped: 0,
            batch: RecvBatch::new(),
            out: vec![0; 1500].into_boxed_slice(),
            forwarded: Vec::new(),
        }
    }
}
