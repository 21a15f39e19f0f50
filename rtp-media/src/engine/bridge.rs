//! Two calls joined inside the workers: each one's decoded frames become
//! the other's playback (see [`MediaSession::join`](super::MediaSession::join)).

use super::event::FRAME_SAMPLES;
use tokio::sync::mpsc;

/// One frame for the call `.0`, from the call it is joined with.
pub(crate) type BridgedFrame = (u64, [i16; FRAME_SAMPLES]);

/// Where a bridged call's frames go.
#[derive(Debug)]
pub(crate) struct BridgeEnd {
    /// The call receiving this call's frames.
    pub(crate) peer: u64,
    /// The bridged-frame queue of the worker of `peer`, which it drains at
    /// the start of each tick.
    pub(crate) tx: mpsc::UnboundedSender<BridgedFrame>,
    /// `peer` runs on this call's worker: frames go through the worker's
    /// hand-over after the tick instead of the queue.
    pub(crate) same_worker: bool,
}
