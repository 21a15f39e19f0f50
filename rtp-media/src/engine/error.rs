//! The one error type of the media engine.

use super::event::RecordingSummary;
use crate::recording::RecordingError;
use crate::resample::ResampleError;
use std::net::SocketAddr;
use std::time::Duration;
use thiserror::Error;

/// Why the engine could not do what was asked.
#[derive(Debug, Error)]
pub enum MediaError {
    /// Every RTP/RTCP port pair of the configured range is in use (or could
    /// not be bound).
    #[error("no free RTP port pair in {first}..={last}")]
    PortsExhausted {
        /// First port of the range.
        first: u16,
        /// Last port of the range.
        last: u16,
    },
    /// The packet time is not a multiple of 10 ms from 10 to 120 ms.
    #[error("ptime {0:?} is not supported (10 to 120 ms in steps of 10 ms)")]
    UnsupportedPtime(Duration),
    /// The audio and telephone-event payload types are the same, or not a
    /// valid RTP payload type (0..=127).
    #[error("payload types audio {audio} / telephone-event {event:?} are invalid")]
    BadPayloadType {
        /// Audio payload type.
        audio: u8,
        /// Telephone-event payload type.
        event: Option<u8>,
    },
    /// No address to put in SDP: the engine is bound to the unspecified
    /// address, [`EngineConfig::advertised_ip`](super::EngineConfig::advertised_ip) is not set, and the remote
    /// address (from which the kernel's route would give the local one) is
    /// not known yet. Set `advertised_ip` (the public address behind NAT)
    /// or `bind_ip`, or ask again once the offer's address is known.
    #[error(
        "no address to advertise in SDP: set advertised_ip or bind_ip, or give the remote address"
    )]
    NoAdvertisedAddress,
    /// The kernel has no route to the remote address, so no local address
    /// to advertise towards it.
    #[error("no route to {remote}: {source}")]
    NoRoute {
        /// The remote RTP address.
        remote: SocketAddr,
        /// What the routing lookup said.
        source: std::io::Error,
    },
    /// [`MediaSession::stop_recording`](super::MediaSession::stop_recording) without a recording running.
    #[error("the call is not being recorded")]
    NotRecording,
    /// The recording file could not be created (a failure while recording
    /// is [`MediaError::RecordingIncomplete`]).
    #[error(transparent)]
    Recording(#[from] RecordingError),
    /// The recording stopped but its file is not complete: writing failed
    /// part way (later audio was not written), or the WAV header could not
    /// be finished ([`RecordingError::Finalize`], e.g. the path is a pipe).
    /// `summary` still says what reached the file and what was dropped.
    #[error(
        "recording incomplete ({} samples per channel written, {} frames dropped): {source}",
        .summary.samples,
        .summary.frames_dropped
    )]
    RecordingIncomplete {
        /// Frames (samples per channel) written before the failure, and
        /// 20 ms frames dropped because the writer fell behind.
        summary: RecordingSummary,
        /// What failed.
        source: RecordingError,
    },
    /// A sample rate the converter does not take.
    #[error(transparent)]
    Resample(#[from] ResampleError),
    /// The frame receiver was already taken by [`MediaSession::take_frames`](super::MediaSession::take_frames)
    /// or [`MediaSession::take_frames_at`](super::MediaSession::take_frames_at).
    #[error("the call's frames were already taken")]
    FramesTaken,
    /// Not a DTMF key (`0`-`9`, `*`, `#`, `A`-`D`).
    #[error("{0:?} is not a DTMF key")]
    InvalidDigit(char),
    /// The engine configuration cannot work (e.g. zero workers).
    #[error("invalid engine configuration: {0}")]
    Config(&'static str),
    /// The engine (or the call's worker) has stopped.
    #[error("media engine stopped")]
    Stopped,
    /// A socket or thread operation failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}
