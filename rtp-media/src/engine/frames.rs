//! The application's end of a call's decoded audio.

use super::event::AudioFrame;
use tokio::sync::mpsc;

/// Receives a call's decoded 20 ms frames (8 kHz), in order, from
/// [`MediaSession::take_frames`](super::MediaSession::take_frames); e.g.
/// moved into the task that feeds speech recognition while the session
/// keeps control and events.
///
/// The worker never waits for it: frames it has no room for (the engine's
/// `frame_queue`) are dropped and counted
/// ([`MediaStats::frames_overflowed`](super::MediaStats::frames_overflowed)),
/// and [`AudioFrame::index`] then skips.
#[derive(Debug)]
pub struct FrameReceiver {
    rx: mpsc::Receiver<AudioFrame>,
}

impl FrameReceiver {
    pub(crate) fn new(rx: mpsc::Receiver<AudioFrame>) -> Self {
        FrameReceiver { rx }
    }

    /// Waits for the next frame; `None` once the call's media has ended
    /// and every frame was taken.
    pub async fn recv(&mut self) -> Option<AudioFrame> {
        self.rx.recv().await
    }

    /// The next frame if one is waiting; `None` when none is (yet, or any
    /// more: [`FrameReceiver::is_closed`] tells which).
    pub fn try_recv(&mut self) -> Option<AudioFrame> {
        self.rx.try_recv().ok()
    }

    /// The call's media has ended: no frame will come after those waiting.
    pub fn is_closed(&self) -> bool {
        self.rx.is_closed()
    }
}
