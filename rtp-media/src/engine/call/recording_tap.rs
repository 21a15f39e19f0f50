//! Recording a call without disk I/O on the worker thread.
//!
//! The worker copies each 20 ms frame (the caller's as delivered, the
//! agent's as sent) into a bounded queue; a writer thread owned by the
//! recording drains it into a [`Recorder`]. When the writer falls behind
//! (a slow disk) the queue fills and further frames are dropped and
//! counted rather than stalling the calls of the worker.

use super::CallMedia;
use crate::engine::{MediaError, RecordingSummary, FRAME_SAMPLES};
use crate::recording::Recorder;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::thread::JoinHandle;
use tokio::sync::oneshot;

/// Frames queued towards the writer thread (5 s of a stereo recording).
pub(crate) const RECORDING_QUEUE: usize = 500;

/// Which direction of the call a frame is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// Received from the far end, as delivered to the application.
    Caller,
    /// Sent to the far end.
    Agent,
}

#[derive(Debug)]
struct TapFrame {
    side: Side,
    samples: [i16; FRAME_SAMPLES],
}

/// How the worker asks the writer to finish: the reply channel and the
/// frames the worker dropped.
#[derive(Debug)]
struct Finish {
    dropped: u64,
    reply: oneshot::Sender<Result<RecordingSummary, MediaError>>,
}

/// The worker's end of one recording.
#[derive(Debug)]
pub(crate) struct RecordingTap {
    frames: Option<SyncSender<TapFrame>>,
    finish: std::sync::mpsc::Sender<Finish>,
    dropped: u64,
    _writer: JoinHandle<()>,
}

impl RecordingTap {
    /// Starts the writer thread for `recorder` (created by the application,
    /// so file creation errors reach it directly).
    pub(crate) fn start(call_id: u64, recorder: Recorder) -> Result<Self, MediaError> {
        let (frames_tx, frames_rx) = sync_channel(RECORDING_QUEUE);
        let (finish_tx, finish_rx) = std::sync::mpsc::channel();
        let writer = std::thread::Builder::new()
            .name(format!("call-recorder-{call_id}"))
            .spawn(move || write_recording(call_id, recorder, frames_rx, finish_rx))?;
        Ok(RecordingTap {
            frames: Some(frames_tx),
            finish: finish_tx,
            dropped: 0,
            _writer: writer,
        })
    }

    /// Hands one frame to the writer without blocking.
    fn push(&mut self, side: Side, samples: &[i16; FRAME_SAMPLES]) {
        let Some(tx) = &self.frames else { return };
        match tx.try_send(TapFrame {
            side,
            samples: *samples,
        }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => self.dropped += 1,
            Err(TrySendError::Disconnected(_)) => {
                // The writer gave up (I/O error, logged there).
                self.dropped += 1;
                self.frames = None;
            }
        }
    }

    /// Closes the queue; the writer writes what is queued, closes the file
    /// and answers on `reply`.
    fn stop(mut self, reply: oneshot::Sender<Result<RecordingSummary, MediaError>>) {
        self.frames = None;
        let _ = self.finish.send(Finish {
            dropped: self.dropped,
            reply,
        });
    }
}

/// The writer thread: frames until the worker closes the queue, then the
/// file is finished.
fn write_recording(
    call_id: u64,
    mut recorder: Recorder,
    frames: Receiver<TapFrame>,
    finish: Receiver<Finish>,
) {
    let mut failed = None;
    while let Ok(f) = frames.recv() {
        if failed.is_some() {
            continue;
        }
        let written = match f.side {
            Side::Caller => recorder.write_caller(&f.samples),
            Side::Agent => recorder.write_agent(&f.samples),
        };
        if let Err(e) = written {
            tracing::warn!(call = call_id, error = %e, "recording failed, later audio not written");
            failed = Some(e);
            // Stop taking frames: the worker counts the rest as dropped.
            break;
        }
    }
    drop(frames);
    let finished = recorder.finish();
    // `Err` here: the call ended without stop_recording; nobody waits.
    if let Ok(Finish { dropped, reply }) = finish.recv() {
        let result = match (failed, finished) {
            (Some(e), _) | (None, Err(e)) => Err(MediaError::Recording(e)),
            (None, Ok(frames)) => Ok(RecordingSummary {
                frames,
                frames_dropped: dropped,
            }),
        };
        let _ = reply.send(result);
    }
}

impl CallMedia {
    /// Starts recording, finishing any recording already running.
    pub(crate) fn start_recording(&mut self, tap: RecordingTap) {
        self.recording = Some(tap);
    }

    /// Stops recording; the writer thread answers on `reply`.
    pub(crate) fn stop_recording(
        &mut self,
        reply: oneshot::Sender<Result<RecordingSummary, MediaError>>,
    ) {
        match self.recording.take() {
            Some(tap) => tap.stop(reply),
            None => {
                let _ = reply.send(Err(MediaError::NotRecording));
            }
        }
    }

    /// Frames dropped by the running recording so far.
    pub(crate) fn recording_dropped(&self) -> u64 {
        self.recording.as_ref().map_or(0, |t| t.dropped)
    }

    /// Records one frame of `side`, if recording.
    pub(crate) fn record(&mut self, side: Side, samples: &[i16; FRAME_SAMPLES]) {
        if let Some(tap) = self.recording.as_mut() {
            tap.push(side, samples);
        }
    }
}
