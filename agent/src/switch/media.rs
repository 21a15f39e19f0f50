//! The media join: one answered SIP call and its media session, seen by
//! the agent as one [`SwitchCall`] with one event stream.
//!
//! [`session_params`] is the one place where what SDP negotiated becomes
//! the media session's parameters. [`join`] runs beside the agent for the
//! life of the call: it applies re-INVITEs (hold, a new remote address, a
//! codec change) to the session, merges signalling and media events,
//! reports each key press once whichever way it came (RFC 4733, SIP INFO,
//! in-band), carries out the agent's commands, hangs up on a media
//! timeout, and closes the session (its ports back in the pool) when the
//! call ends from either side.

use std::time::{Duration, Instant};

use rtp_media::engine::{
    AudioFrame, Direction as MediaDirection, FrameReceiver, MediaError, MediaEvent, MediaSession,
    PlaybackId, SessionParams,
};
use rtp_media::g711::Codec as MediaCodec;
use sip_core::call::{Call, CallEvent, HangupCause as SipHangupCause};
use sip_core::sdp::{Codec, Direction, NegotiatedMedia};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn, Instrument};

/// The media session's parameters for what SDP negotiated, field for
/// field. Keys are also listened for in the audio when the far end did
/// not agree on RFC 4733 `telephone-event` (an analog gateway that passes
/// the tones through).
pub fn session_params(media: &NegotiatedMedia) -> SessionParams {
    SessionParams {
        codec: match media.codec {
            Codec::Pcmu => MediaCodec::Pcmu,
            Codec::Pcma => MediaCodec::Pcma,
        },
        payload_type: media.payload_type,
        telephone_event_pt: media.telephone_event_pt,
        remote_rtp: media.remote_rtp,
        remote_rtcp: media.remote_rtcp,
        ptime: media.ptime,
        direction: match media.direction {
            Direction::SendRecv => MediaDirection::SendRecv,
            Direction::SendOnly => MediaDirection::SendOnly,
            Direction::RecvOnly => MediaDirection::RecvOnly,
            Direction::Inactive => MediaDirection::Inactive,
        },
        inband_dtmf: media.telephone_event_pt.is_none(),
    }
}

/// The way a key press reached us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtmfSource {
    /// RFC 4733 `telephone-event` in the RTP stream.
    Rfc4733,
    /// SIP INFO (`application/dtmf-relay`).
    SipInfo,
    /// Tones detected in the audio.
    InBand,
}

/// Within this time, the same key from another way is the same press.
pub const DTMF_SAME_PRESS: Duration = Duration::from_millis(500);

/// Keeps a key press from being reported twice when the far end sends it
/// more than one way (a gateway sending RFC 4733 and SIP INFO, or tones
/// left in the audio next to the events): the same key from a different
/// way within [`DTMF_SAME_PRESS`] of the last is dropped. The same key
/// twice the same way is two presses.
#[derive(Debug, Default)]
pub struct DtmfDedup {
    last: Option<(char, DtmfSource, Instant)>,
}

impl DtmfDedup {
    /// Whether the press of `digit` that came by `source` at `at` is new.
    pub fn is_new(&mut self, digit: char, source: DtmfSource, at: Instant) -> bool {
        let digit = digit.to_ascii_uppercase();
        if let Some((d, s, when)) = self.last {
            if d == digit && s != source && at.saturating_duration_since(when) < DTMF_SAME_PRESS {
                return false;
            }
        }
        self.last = Some((digit, source, at));
        true
    }
}

/// Something that happened on a call, whichever side (signalling or
/// media) it came from.
#[derive(Debug, Clone, PartialEq)]
pub enum SwitchEvent {
    /// The caller pressed a key (reported once, however it was sent).
    Dtmf {
        /// `0`-`9`, `*`, `#`, `A`-`D`.
        digit: char,
        /// How long it was held, when the way it came says so.
        duration: Option<Duration>,
    },
    /// The caller started talking.
    SpeechStarted,
    /// The caller stopped talking.
    SpeechStopped,
    /// A [`SwitchCall::play`] was all sent, or cleared (`interrupted`).
    PlaybackFinished {
        /// Which play.
        id: PlaybackId,
        /// Cleared before it was all sent.
        interrupted: bool,
    },
    /// The far end changed the session (re-INVITE) and the media follows
    /// it already; `on_hold` when we no longer send to it.
    MediaChanged {
        /// The far end put us on hold (or made the stream inactive).
        on_hold: bool,
    },
    /// The call ended; nothing follows.
    Hangup(CallEnding),
}

/// Who or what ended a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallEnding {
    /// The far end hung up (BYE).
    Remote,
    /// We hung up: the agent asked, or dropped its handle.
    Local,
    /// No media arrived for the configured time; we sent BYE.
    MediaTimeout,
    /// The call failed (no ACK, in-dialog requests unanswered, the media
    /// engine stopped); the text says what.
    Failed(String),
}

/// Why a command on a call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SwitchCallError {
    /// The call has ended.
    #[error("the call has ended")]
    Ended,
    /// The media session refused the command.
    #[error("media: {0}")]
    Media(String),
}

impl From<MediaError> for SwitchCallError {
    fn from(e: MediaError) -> Self {
        SwitchCallError::Media(e.to_string())
    }
}

#[derive(Debug)]
pub(crate) enum Command {
    Play(
        Vec<i16>,
        oneshot::Sender<Result<PlaybackId, SwitchCallError>>,
    ),
    ClearPlayback,
    SendDtmf(char, Duration, oneshot::Sender<Result<(), SwitchCallError>>),
    Hangup(oneshot::Sender<()>),
}

/// What runs an answered call sees of it: who called which number on
/// which line, the caller's audio, one event stream, and commands. It
/// speaks of neither SIP nor RTP. Dropping it hangs up.
#[derive(Debug)]
pub struct SwitchCall {
    pub(crate) info: CallInfo,
    pub(crate) commands: mpsc::UnboundedSender<Command>,
    pub(crate) events: mpsc::UnboundedReceiver<SwitchEvent>,
    pub(crate) frames: Option<FrameReceiver>,
}

/// Who is on a call and where it came in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallInfo {
    /// The call's id (the SIP Call-ID), as in its call record.
    pub call_id: String,
    /// The line it came in on.
    pub line: String,
    /// The tenant.
    pub tenant: String,
    /// The caller in E.164, or as received when it is not a number.
    pub caller: String,
    /// The number dialled, in E.164 when it is one.
    pub did: String,
    /// The profile routing chose.
    pub profile: String,
    /// The greeting to play, when routing chose one instead of an agent.
    pub greeting: Option<String>,
}

impl SwitchCall {
    /// Who is on the call and where it came in.
    pub fn info(&self) -> &CallInfo {
        &self.info
    }

    /// The next event; `None` after [`SwitchEvent::Hangup`].
    pub async fn next_event(&mut self) -> Option<SwitchEvent> {
        self.events.recv().await
    }

    /// The next 20 ms of the caller's audio (8 kHz), `None` once the call
    /// ended or the frames were taken with [`take_frames`](Self::take_frames).
    pub async fn next_frame(&mut self) -> Option<AudioFrame> {
        self.frames.as_mut()?.recv().await
    }

    /// Takes the caller's audio stream, to read it in another task.
    pub fn take_frames(&mut self) -> Option<FrameReceiver> {
        self.frames.take()
    }

    /// Queues 8 kHz samples to be played to the caller.
    pub async fn play(&self, samples: Vec<i16>) -> Result<PlaybackId, SwitchCallError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Play(samples, tx))
            .map_err(|_| SwitchCallError::Ended)?;
        rx.await.map_err(|_| SwitchCallError::Ended)?
    }

    /// Drops what is queued for playing (barge-in).
    pub fn clear_playback(&self) -> Result<(), SwitchCallError> {
        self.commands
            .send(Command::ClearPlayback)
            .map_err(|_| SwitchCallError::Ended)
    }

    /// Sends a key to the far end: RFC 4733 when negotiated, else as tones.
    pub async fn send_dtmf(&self, digit: char, length: Duration) -> Result<(), SwitchCallError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::SendDtmf(digit, length, tx))
            .map_err(|_| SwitchCallError::Ended)?;
        rx.await.map_err(|_| SwitchCallError::Ended)?
    }

    /// Hangs up (BYE) and returns once the call's signalling and media
    /// are closed.
    pub async fn hangup(&self) {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Hangup(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

fn ending_of(cause: SipHangupCause) -> CallEnding {
    match cause {
        SipHangupCause::RemoteBye | SipHangupCause::Cancelled => CallEnding::Remote,
        SipHangupCause::LocalHangup => CallEnding::Local,
        SipHangupCause::NoAck => CallEnding::Failed("no ACK for our 200 OK".into()),
        SipHangupCause::Failed(why) | SipHangupCause::UnusableAnswer(why) => {
            CallEnding::Failed(why)
        }
    }
}

/// Runs the call until it ends from either side, then closes the media
/// session (its ports are free when this returns). Returns how it ended.
pub(crate) async fn join(
    mut call: Call,
    mut session: MediaSession,
    mut commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<SwitchEvent>,
) -> CallEnding {
    let span = call.span().clone();
    async move {
        let mut dtmf = DtmfDedup::default();
        let mut hangup_waiters = Vec::new();
        let emit = |e: SwitchEvent| {
            // The agent may have stopped reading; the call goes on.
            let _ = events.send(e);
        };
        let ending = loop {
            tokio::select! {
                event = call.next_event() => match event {
                    None => break CallEnding::Failed("the call's signalling stopped".into()),
                    Some(CallEvent::Hangup(cause)) => break ending_of(cause),
                    Some(CallEvent::Dtmf { digit, duration }) => {
                        if dtmf.is_new(digit, DtmfSource::SipInfo, Instant::now()) {
                            emit(SwitchEvent::Dtmf { digit, duration });
                        }
                    }
                    Some(CallEvent::SessionModified { media: Some(media), .. }) => {
                        match session.update(session_params(&media)) {
                            Ok(()) => {
                                info!(?media, "media follows the re-INVITE");
                                emit(SwitchEvent::MediaChanged { on_hold: !media.direction.sends() });
                            }
                            Err(e) => warn!(error = %e, "the renegotiated media cannot be applied"),
                        }
                    }
                    Some(other) => debug!(event = ?other, "call event"),
                },
                event = session.next_event() => match event {
                    None => {
                        let _ = call.hangup().await;
                        break CallEnding::Failed("the media engine stopped".into());
                    }
                    Some(MediaEvent::Dtmf { digit, duration, .. }) => {
                        // In-band detections carry no duration.
                        let source = if duration.is_zero() { DtmfSource::InBand } else { DtmfSource::Rfc4733 };
                        if dtmf.is_new(digit, source, Instant::now()) {
                            emit(SwitchEvent::Dtmf {
                                digit,
                                duration: (!duration.is_zero()).then_some(duration),
                            });
                        }
                    }
                    Some(MediaEvent::SpeechStarted { .. }) => emit(SwitchEvent::SpeechStarted),
                    Some(MediaEvent::SpeechStopped { .. }) => emit(SwitchEvent::SpeechStopped),
                    Some(MediaEvent::PlaybackFinished { id, interrupted }) => {
                        emit(SwitchEvent::PlaybackFinished { id, interrupted })
                    }
                    Some(MediaEvent::Timeout { silent_for }) => {
                        warn!(?silent_for, "no media; hanging up");
                        let _ = call.hangup().await;
                        break CallEnding::MediaTimeout;
                    }
                    Some(_) => {}
                },
                command = commands.recv() => match command {
                    None => {
                        let _ = call.hangup().await;
                        break CallEnding::Local;
                    }
                    Some(Command::Hangup(done)) => {
                        hangup_waiters.push(done);
                        let _ = call.hangup().await;
                        break CallEnding::Local;
                    }
                    Some(Command::Play(samples, reply)) => {
                        let _ = reply.send(session.play(samples).map_err(Into::into));
                    }
                    Some(Command::ClearPlayback) => {
                        if let Err(e) = session.clear_playback() {
                            warn!(error = %e, "clearing the playback failed");
                        }
                    }
                    Some(Command::SendDtmf(digit, length, reply)) => {
                        let _ = reply.send(session.send_dtmf(digit, length).map_err(Into::into));
                    }
                },
            }
        };
        info!(?ending, "call ended");
        emit(SwitchEvent::Hangup(ending.clone()));
        session.close().await;
        drop(call);
        for done in hangup_waiters {
            let _ = done.send(());
        }
        // Commands sent after the end are answered as ended.
        commands.close();
        while let Some(c) = commands.recv().await {
            if let Command::Hangup(done) = c {
                let _ = done.send(());
            }
        }
        ending
    }
    .instrument(span)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiated_media_becomes_session_params_field_by_field() {
        let media = NegotiatedMedia {
            codec: Codec::Pcma,
            payload_type: 8,
            telephone_event_pt: Some(96),
            remote_rtp: Some("192.0.2.7:40000".parse().unwrap()),
            remote_rtcp: Some("192.0.2.7:40005".parse().unwrap()),
            direction: Direction::RecvOnly,
            ptime: Duration::from_millis(30),
        };
        let p = session_params(&media);
        assert_eq!(p.codec, MediaCodec::Pcma);
        assert_eq!(p.payload_type, 8);
        assert_eq!(p.telephone_event_pt, Some(96));
        assert_eq!(p.remote_rtp, media.remote_rtp);
        assert_eq!(p.remote_rtcp, media.remote_rtcp);
        assert_eq!(p.ptime, Duration::from_millis(30));
        assert_eq!(p.direction, MediaDirection::RecvOnly);
        assert!(!p.inband_dtmf, "RFC 4733 negotiated: no tone detection");

        let plain = NegotiatedMedia {
            codec: Codec::Pcmu,
            payload_type: 0,
            telephone_event_pt: None,
            remote_rtp: None,
            remote_rtcp: None,
            direction: Direction::SendRecv,
            ptime: Duration::from_millis(20),
        };
        let p = session_params(&plain);
        assert_eq!(p.codec, MediaCodec::Pcmu);
        assert_eq!(p.payload_type, 0);
        assert_eq!(p.telephone_event_pt, None);
        assert_eq!(p.remote_rtp, None);
        assert_eq!(p.remote_rtcp, None);
        assert_eq!(p.ptime, Duration::from_millis(20));
        assert_eq!(p.direction, MediaDirection::SendRecv);
        assert!(p.inband_dtmf, "no telephone-event: keys are heard as tones");
        for (sdp, media) in [
            (Direction::SendOnly, MediaDirection::SendOnly),
            (Direction::Inactive, MediaDirection::Inactive),
        ] {
            let n = NegotiatedMedia {
                direction: sdp,
                ..plain.clone()
            };
            assert_eq!(session_params(&n).direction, media);
        }
    }

    #[test]
    fn a_key_sent_two_ways_is_reported_once_and_a_repeated_key_twice() {
        let mut d = DtmfDedup::default();
        let t0 = Instant::now();
        assert!(d.is_new('5', DtmfSource::Rfc4733, t0));
        // The gateway's INFO for the same press.
        assert!(!d.is_new('5', DtmfSource::SipInfo, t0 + Duration::from_millis(40)));
        // Pressed again, the same way: a second press.
        assert!(d.is_new('5', DtmfSource::Rfc4733, t0 + Duration::from_millis(300)));
        // Another key is always new.
        assert!(d.is_new('6', DtmfSource::SipInfo, t0 + Duration::from_millis(320)));
        // The same key another way, long after: a new press.
        assert!(d.is_new('6', DtmfSource::InBand, t0 + Duration::from_secs(2)));
        // Lower and upper case are one key.
        assert!(d.is_new('a', DtmfSource::SipInfo, t0 + Duration::from_secs(3)));
        assert!(!d.is_new('A', DtmfSource::Rfc4733, t0 + Duration::from_secs(3)));
    }
}
