//! Recording a call without disk I/O on the worker thread.
//!
//! The worker copies each 20 ms frame (the caller's as delivered, the
//! agent's as sent) into the queue of one writer thread that serves every
//! recording of the process, and that thread writes them into each call's
//! [`Recorder`]. One thread, not one per recording: a thousand recorded
//! calls would otherwise be a thousand threads. When the writer falls
//! behind (a slow disk) and [`RECORDING_QUEUE`] frames wait, further frames
//! are dropped and counted rather than stalling the calls of the worker.
//! Starting and finishing a recording go through the same queue, so they
//! stay in order with the frames, and are never dropped.

use super::CallMedia;
use crate::engine::{MediaError, RecordingSummary, FRAME_SAMPLES};
use crate::recording::{Recorder, RecordingError};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::OnceLock;
use tokio::sync::oneshot;

/// Frames that may wait for the writer, across all recordings (10 s of a
/// hundred stereo recordings; 330 bytes each).
pub(crate) const RECORDING_QUEUE: usize = 10_000;

/// Which direction of the call a frame is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// Received from the far end, as delivered to the application.
    Caller,
    /// Sent to the far end.
    Agent,
}

type Reply = oneshot::Sender<Result<RecordingSummary, MediaError>>;

/// What the writer thread is asked to do.
// `Frame` is as large as the audio it carries; boxing it would allocate per
// recorded frame on the worker.
#[allow(clippy::large_enum_variant)]
enum WriterMsg {
    Start {
        id: u64,
        call_id: u64,
        recorder: Box<Recorder>,
    },
    Frame {
        id: u64,
        side: Side,
        samples: [i16; FRAME_SAMPLES],
    },
    /// Finish the file; `reply` is `None` when the call ended without
    /// `stop_recording` (nobody waits).
    Finish {
        id: u64,
        dropped: u64,
        reply: Option<Reply>,
    },
}

/// The process's recording writer: the sending end of its queue, or why
/// its thread could not start.
static WRITER: OnceLock<Result<Sender<WriterMsg>, String>> = OnceLock::new();
/// Frames waiting in the writer's queue, across all recordings.
static QUEUED: AtomicUsize = AtomicUsize::new(0);
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn writer_stopped() -> MediaError {
    MediaError::Io(std::io::Error::other("recording writer stopped"))
}

fn writer() -> Result<Sender<WriterMsg>, MediaError> {
    WRITER
        .get_or_init(|| {
            let (tx, rx) = channel();
            std::thread::Builder::new()
                .name("call-recorder".into())
                .spawn(move || write_recordings(rx))
                .map(|_| tx)
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(|e| MediaError::Io(std::io::Error::other(e)))
}

/// The worker's end of one recording.
#[derive(Debug)]
pub(crate) struct RecordingTap {
    id: u64,
    tx: Option<Sender<WriterMsg>>,
    dropped: u64,
}

impl std::fmt::Debug for WriterMsg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriterMsg::Start { id, .. } => write!(f, "Start({id})"),
            WriterMsg::Frame { id, side, .. } => write!(f, "Frame({id}, {side:?})"),
            WriterMsg::Finish { id, dropped, .. } => write!(f, "Finish({id}, {dropped})"),
        }
    }
}

impl RecordingTap {
    /// Registers `recorder` (created by the application, so file creation
    /// errors reach it directly) with the writer thread.
    pub(crate) fn start(call_id: u64, recorder: Recorder) -> Result<Self, MediaError> {
        let tx = writer()?;
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        tx.send(WriterMsg::Start {
            id,
            call_id,
            recorder: Box::new(recorder),
        })
        .map_err(|_| writer_stopped())?;
        Ok(RecordingTap {
            id,
            tx: Some(tx),
            dropped: 0,
        })
    }

    /// Hands one frame to the writer without blocking.
    fn push(&mut self, side: Side, samples: &[i16; FRAME_SAMPLES]) {
        let Some(tx) = &self.tx else { return };
        if QUEUED.load(Ordering::Relaxed) >= RECORDING_QUEUE {
            self.dropped += 1;
            return;
        }
        QUEUED.fetch_add(1, Ordering::Relaxed);
        let frame = WriterMsg::Frame {
            id: self.id,
            side,
            samples: *samples,
        };
        if tx.send(frame).is_err() {
            QUEUED.fetch_sub(1, Ordering::Relaxed);
            self.dropped += 1;
            self.tx = None;
        }
    }

    /// Asks the writer to write what is queued, close the file and answer
    /// on `reply` (if any).
    fn finish(&mut self, reply: Option<Reply>) {
        let unsent = match self.tx.take() {
            Some(tx) => match tx.send(WriterMsg::Finish {
                id: self.id,
                dropped: self.dropped,
                reply,
            }) {
                Ok(()) => None,
                Err(std::sync::mpsc::SendError(WriterMsg::Finish { reply, .. })) => reply,
                Err(_) => None,
            },
            None => reply,
        };
        if let Some(reply) = unsent {
            let _ = reply.send(Err(writer_stopped()));
        }
    }
}

impl Drop for RecordingTap {
    /// A call that ends, or starts another recording, finishes its file.
    fn drop(&mut self) {
        self.finish(None);
    }
}

/// One recording on the writer thread.
struct Open {
    call_id: u64,
    recorder: Recorder,
    failed: Option<RecordingError>,
}

/// The writer thread: serves every recording until the process ends.
fn write_recordings(rx: Receiver<WriterMsg>) {
    let mut open: HashMap<u64, Open> = HashMap::new();
    while let Ok(msg) = rx.recv() {
        match msg {
            WriterMsg::Start {
                id,
                call_id,
                recorder,
            } => {
                open.insert(
                    id,
                    Open {
                        call_id,
                        recorder: *recorder,
                        failed: None,
                    },
                );
            }
            WriterMsg::Frame { id, side, samples } => {
                QUEUED.fetch_sub(1, Ordering::Relaxed);
                let Some(rec) = open.get_mut(&id) else {
                    continue;
                };
                if rec.failed.is_some() {
                    continue;
                }
                let written = match side {
                    Side::Caller => rec.recorder.write_caller(&samples),
                    Side::Agent => rec.recorder.write_agent(&samples),
                };
                if let Err(e) = written {
                    tracing::warn!(call = rec.call_id, error = %e, "recording failed, later audio not written");
                    rec.failed = Some(e);
                }
            }
            WriterMsg::Finish { id, dropped, reply } => {
                let Some(rec) = open.remove(&id) else {
                    continue;
                };
                let finished = rec.recorder.finish();
                let result = match (rec.failed, finished) {
                    (Some(e), _) | (None, Err(e)) => Err(MediaError::Recording(e)),
                    (None, Ok(frames)) => Ok(RecordingSummary {
                        frames,
                        frames_dropped: dropped,
                    }),
                };
                if let Some(reply) = reply {
                    let _ = reply.send(result);
                } else if let Err(e) = result {
                    tracing::warn!(call = rec.call_id, error = %e, "recording not finished");
                }
            }
        }
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
            Some(mut tap) => tap.finish(Some(reply)),
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
