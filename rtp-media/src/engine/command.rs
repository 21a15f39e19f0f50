//! What the application's handles ask of a worker: add or remove a call,
//! or an operation on one call. The handles send these; the worker applies
//! them through the call's methods at the start of a tick.

use super::bridge::BridgeEnd;
use super::call::{CallMedia, RecordingTap};
use super::error::MediaError;
use super::event::{PlaybackId, RecordingSummary, FRAME_SAMPLES};
use super::params::SessionParams;
use std::time::Duration;
use tokio::sync::oneshot;

/// An operation on one call.
#[derive(Debug)]
// `Frame` is as large as the audio it carries; boxing it would allocate per
// streamed frame, which is what the worker avoids.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Op {
    Update(Box<SessionParams>),
    Play { id: PlaybackId, samples: Vec<i16> },
    Frame([i16; FRAME_SAMPLES]),
    ClearPlayback,
    RequestStats,
    Bridge(Option<BridgeEnd>),
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

impl Op {
    /// Applies the operation to `call`.
    pub(crate) fn apply(self, call: &mut CallMedia) {
        match self {
            Op::Update(params) => call.update(*params),
            Op::Play { id, samples } => call.play(id, samples),
            Op::Frame(samples) => call.play_frame(&samples),
            Op::ClearPlayback => call.clear_playback(),
            Op::RequestStats => call.request_stats(),
            Op::Bridge(to) => call.set_bridge(to),
            Op::Dtmf { digit, length } => call.queue_dtmf(digit, length),
            Op::StartRecording(tap) => call.start_recording(*tap),
            Op::StopRecording(reply) => call.stop_recording(reply),
        }
    }
}
