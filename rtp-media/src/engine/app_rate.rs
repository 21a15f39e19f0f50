//! A call's audio at the application's sample rate.
//!
//! The line runs at 8 kHz; speech recognisers and voice models want
//! 16 kHz or 24 kHz. Conversion happens on the application's side of the
//! per-call channels, not in the worker: the worker's tick stays the same
//! for every call, and the CPU for the (sinc) conversion is spent on the
//! thread that wants the audio. Both converters are streaming
//! [`Resampler`]s sized at construction, so no frame allocates.

use super::command::{Command, Op};
use super::error::MediaError;
use super::event::{AudioFrame, FrameKind, FRAME_SAMPLES};
use super::frames::FrameReceiver;
use crate::g711::Codec;
use crate::resample::{Quality, Resampler};
use tokio::sync::mpsc;

/// 20 ms of the far end's audio at the application's rate; see
/// [`ResampledFrames`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResampledFrame<'a> {
    /// Index of the 8 kHz [`AudioFrame`](super::AudioFrame) it came from.
    pub index: u64,
    /// Position of that frame in the delivered-audio clock (8 kHz units).
    pub media_ts: u32,
    /// How the 8 kHz frame was produced.
    pub kind: FrameKind,
    /// 20 ms at [`ResampledFrames::rate`] (320 samples at 16 kHz, 480 at
    /// 24 kHz), valid until the next frame is taken.
    pub samples: &'a [i16],
}

/// Receives a call's decoded frames converted to another sample rate; from
/// [`MediaSession::take_frames_at`](super::MediaSession::take_frames_at).
///
/// The converter delays the audio by [`ResampledFrames::latency`] samples
/// (its filter's look-ahead); frame boundaries stay those of the line.
#[derive(Debug)]
pub struct ResampledFrames {
    rx: FrameReceiver,
    resampler: Resampler,
}

impl ResampledFrames {
    /// Converts the frames of `rx` (from
    /// [`MediaSession::take_frames`](super::MediaSession::take_frames))
    /// from 8 kHz to `rate` Hz.
    pub fn new(rx: FrameReceiver, rate: u32) -> Result<Self, MediaError> {
        let resampler = Resampler::for_20ms(Codec::CLOCK_RATE, rate, Quality::Sinc)?;
        Ok(ResampledFrames { rx, resampler })
    }

    /// The output rate in Hz.
    pub fn rate(&self) -> u32 {
        self.resampler.to_rate()
    }

    /// Delay added by the conversion, in output samples.
    pub fn latency(&self) -> usize {
        self.resampler.latency()
    }

    /// Waits for the next frame; `None` once the call's media has ended
    /// (as [`FrameReceiver::recv`]).
    pub async fn recv(&mut self) -> Option<ResampledFrame<'_>> {
        let frame = self.rx.recv().await?;
        Some(self.convert(frame))
    }

    /// The next frame if one is waiting (as [`FrameReceiver::try_recv`]).
    pub fn try_recv(&mut self) -> Option<ResampledFrame<'_>> {
        let frame = self.rx.try_recv()?;
        Some(self.convert(frame))
    }

    fn convert(&mut self, frame: AudioFrame) -> ResampledFrame<'_> {
        // 160 samples always fit the 20 ms converter.
        let samples = self.resampler.process(&frame.samples).unwrap_or(&[]);
        ResampledFrame {
            index: frame.index,
            media_ts: frame.media_ts,
            kind: frame.kind,
            samples,
        }
    }
}

/// Streams audio at the application's sample rate into a call's playback
/// queue, as 8 kHz 20 ms frames; from
/// [`MediaSession::frame_player`](super::MediaSession::frame_player).
///
/// Accepts any number of samples per call (a TTS engine's chunks rarely
/// line up with 20 ms); a partial frame waits for more input or for
/// [`FramePlayer::flush`]. Like
/// [`MediaSession::play_frame`](super::MediaSession::play_frame), no id or
/// finish event, and no allocation.
#[derive(Debug)]
pub struct FramePlayer {
    id: u64,
    tx: mpsc::UnboundedSender<Command>,
    resampler: Resampler,
    frame: [i16; FRAME_SAMPLES],
    filled: usize,
    chunk: usize,
}

impl FramePlayer {
    pub(super) fn new(
        id: u64,
        tx: mpsc::UnboundedSender<Command>,
        rate: u32,
    ) -> Result<Self, MediaError> {
        let resampler = Resampler::for_20ms(rate, Codec::CLOCK_RATE, Quality::Sinc)?;
        Ok(FramePlayer {
            id,
            tx,
            resampler,
            frame: [0; FRAME_SAMPLES],
            filled: 0,
            chunk: (rate as usize).div_ceil(50),
        })
    }

    /// The input rate in Hz.
    pub fn rate(&self) -> u32 {
        self.resampler.from_rate()
    }

    /// Converts `samples` (at [`FramePlayer::rate`]) and queues every
    /// complete 20 ms frame for sending.
    pub fn play(&mut self, samples: &[i16]) -> Result<(), MediaError> {
        for chunk in samples.chunks(self.chunk) {
            let out = self.resampler.process(chunk)?;
            let mut rest = out;
            while !rest.is_empty() {
                let n = (FRAME_SAMPLES - self.filled).min(rest.len());
                self.frame[self.filled..self.filled + n].copy_from_slice(&rest[..n]);
                self.filled += n;
                rest = &rest[n..];
                if self.filled == FRAME_SAMPLES {
                    self.filled = 0;
                    send_frame(&self.tx, self.id, &self.frame)?;
                }
            }
        }
        Ok(())
    }

    /// Queues the partial frame, padded with silence (end of an utterance).
    pub fn flush(&mut self) -> Result<(), MediaError> {
        if self.filled == 0 {
            return Ok(());
        }
        self.frame[self.filled..].fill(0);
        self.filled = 0;
        send_frame(&self.tx, self.id, &self.frame)
    }
}

fn send_frame(
    tx: &mpsc::UnboundedSender<Command>,
    id: u64,
    frame: &[i16; FRAME_SAMPLES],
) -> Result<(), MediaError> {
    tx.send(Command::Call {
        id,
        op: Op::Frame(*frame),
    })
    .map_err(|_| MediaError::Stopped)
}
