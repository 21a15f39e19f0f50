//! The media side of a call: joins an `rtp-media` [`MediaSession`] to the
//! agent's [`CallHandle`](crate::call::CallHandle).
//!
//! A [`MediaBridge`] forwards the session's decoded frames (converted to
//! the agent's rate) and events (speech, keys, playback finished) to the
//! agent, and carries out the agent's commands (play, stop playback, wait
//! for playback, keys, recording). Barge-in happens here, on the media
//! side: with it on, the first [`MediaEvent::SpeechStarted`] while audio is
//! queued clears the playback at once, without a round trip through the
//! agent.
//!
//! The bridge knows nothing of SIP: the switch opens the session with the
//! negotiated parameters, runs the bridge beside the agent, and resolves
//! the bridge's hang-up future when the far end sends BYE.
//!
//! What the switch does with one answered call, once SDP has given the
//! session parameters:
//!
//! ```no_run
//! use agent::call::{AgentOutcome, CallContext, CallHandle, CallOptions};
//! use agent::media::{BridgeEnd, MediaBridge};
//! use agent::supervise::{supervise, Supervision, Verdict};
//! use agent::SharedAgent;
//! use rtp_media::engine::MediaSession;
//! use tokio::sync::oneshot;
//!
//! async fn serve(
//!     session: MediaSession,
//!     ctx: CallContext,
//!     agent: SharedAgent,
//!     bye: oneshot::Receiver<()>,
//! ) -> Result<(), Box<dyn std::error::Error>> {
//!     let options = CallOptions { audio_rate: agent.audio_rate(), ..CallOptions::default() };
//!     let (call, line) = CallHandle::new(ctx.call_id.clone(), options);
//!     let mut bridge = MediaBridge::new(session)?;
//!     let hung_up = async { let _ = bye.await; };
//!     let limits = Supervision::default();
//!     let (end, verdict) = tokio::join!(
//!         bridge.run(line, hung_up),
//!         supervise(agent, ctx, call, &limits),
//!     );
//!     match (end, verdict) {
//!         // The far end is gone: send nothing more, close the record.
//!         (BridgeEnd::RemoteHungUp | BridgeEnd::MediaTimeout { .. }, _) => {}
//!         (_, Verdict::Finished(AgentOutcome::HangUp { .. })) => { /* send BYE */ }
//!         (_, Verdict::Finished(AgentOutcome::Transfer { .. })) => { /* REFER, or run another agent */ }
//!         (_, Verdict::Finished(AgentOutcome::CallerHungUp)) => {}
//!         // Run the profile's fallback agent on the same bridge with a
//!         // new CallHandle, or play a prompt and hang up.
//!         (_, Verdict::Fallback(_failure)) => {}
//!     }
//!     bridge.into_session().close().await;
//!     Ok(())
//! }
//! ```

use crate::call::{CallCommand, CallError, CallEvent, EventSender, Frame, LineSide, PlaybackId};
use crate::call::{RecordingMode, LINE_RATE};
use rtp_media::engine::{
    AudioFrame, FrameKind, FrameReceiver, MediaError, MediaEvent, MediaSession, MediaStats,
    PlaybackId as MediaPlaybackId, SessionParams,
};
use rtp_media::recording::RecordMode;
use rtp_media::resample::{resample, Quality, Resampler};
use std::collections::VecDeque;
use std::future::Future;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// Longest wait for a recording's file to be finished when the agent
/// stops it (a stalled disk); the file is finished in the background after.
const STOP_RECORDING_WAIT: Duration = Duration::from_secs(5);

/// Why [`MediaBridge::run`] returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BridgeEnd {
    /// The agent is done with the call (its handle was dropped).
    AgentDone,
    /// The hang-up future resolved (BYE from the far end).
    RemoteHungUp,
    /// No RTP for the engine's media timeout.
    MediaTimeout {
        /// How long the line was silent.
        silent_for: Duration,
    },
    /// The media session ended under the bridge (the engine stopped).
    MediaStopped,
}

/// What the signalling side of a call tells its media while the agent
/// runs: the switch sends these as SIP reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineSignal {
    /// The far end changed the session (re-INVITE: hold, a new address, a
    /// codec change): the session takes these parameters at once.
    Media(SessionParams),
    /// A key press that came in the signalling (SIP INFO).
    Dtmf {
        /// `0`-`9`, `*`, `#`, `A`-`D`.
        digit: char,
        /// How long it was held, when the far end said.
        duration: Option<Duration>,
    },
}

/// The way a key press reached us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtmfSource {
    /// The media: RFC 4733 `telephone-event` in the RTP stream, or tones
    /// detected in the audio (the media session reports each press once).
    Media,
    /// The signalling (SIP INFO `application/dtmf-relay`).
    Signalling,
}

/// Within this time, the same key from another way is the same press.
pub const DTMF_SAME_PRESS: Duration = Duration::from_millis(500);

/// Keeps a key press from reaching the agent twice when the far end sends
/// it more than one way (a gateway sending RFC 4733 and SIP INFO for the
/// same press): the same key from a different
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

/// One play queued on the session.
#[derive(Debug)]
struct Pending {
    media: MediaPlaybackId,
    agent: Option<PlaybackId>,
    on_air: Option<oneshot::Sender<Instant>>,
}

/// Playback bookkeeping of one run.
#[derive(Debug, Default)]
struct Playback {
    pending: VecDeque<Pending>,
    waiters: Vec<oneshot::Sender<()>>,
    barge_in: bool,
}

/// A call's media session, served to an agent; see the module docs.
#[derive(Debug)]
pub struct MediaBridge {
    session: MediaSession,
    frames: FrameReceiver,
    last_stats: Option<MediaStats>,
    /// A recording an agent started is running (it outlives the run of
    /// the agent that started it).
    recording: bool,
    /// Key presses seen, over every run, so none is reported twice.
    dtmf: DtmfDedup,
}

impl MediaBridge {
    /// Takes over `session` (and its frames).
    pub fn new(mut session: MediaSession) -> Result<MediaBridge, MediaError> {
        let frames = session.take_frames()?;
        Ok(MediaBridge {
            session,
            frames,
            last_stats: None,
            recording: false,
            dtmf: DtmfDedup::default(),
        })
    }

    /// The session, e.g. to apply a re-INVITE with
    /// [`MediaSession::update`].
    pub fn session(&self) -> &MediaSession {
        &self.session
    }

    /// The last quality report of the session.
    pub fn last_stats(&self) -> Option<&MediaStats> {
        self.last_stats.as_ref()
    }

    /// Gives the session back (to close it, or to join it to another call).
    pub fn into_session(self) -> MediaSession {
        self.session
    }

    /// Serves `line` until the agent is done, the far end hangs up
    /// (`hangup` resolves), or the media ends. Can be run again with
    /// another agent's line (a fallback) on the same session.
    ///
    /// The agent gets [`CallEvent::HungUp`] unless it was the one that
    /// left; queued playback is dropped when the run ends. When the call
    /// is over (not when the agent merely left), a recording the agent
    /// started is stopped and its file complete before this returns.
    pub async fn run(&mut self, line: LineSide, hangup: impl Future<Output = ()>) -> BridgeEnd {
        self.serve(line, hangup, None).await
    }

    /// [`run`](Self::run), also taking what the signalling reports while
    /// the agent runs ([`LineSignal`]): renegotiated media is applied to
    /// the session at once, and keys sent in the signalling reach the
    /// agent like those in the media, each press once whichever way it
    /// came ([`DtmfDedup`]).
    pub async fn run_following(
        &mut self,
        line: LineSide,
        hangup: impl Future<Output = ()>,
        signals: &mut mpsc::UnboundedReceiver<LineSignal>,
    ) -> BridgeEnd {
        self.serve(line, hangup, Some(signals)).await
    }

    async fn serve(
        &mut self,
        line: LineSide,
        hangup: impl Future<Output = ()>,
        mut signals: Option<&mut mpsc::UnboundedReceiver<LineSignal>>,
    ) -> BridgeEnd {
        let LineSide {
            mut commands,
            events,
            audio_rate,
        } = line;
        let mut upsample = (audio_rate != LINE_RATE)
            .then(|| Resampler::for_20ms(LINE_RATE, audio_rate, Quality::Sinc))
            .and_then(|r| {
                r.map_err(|e| tracing::error!(audio_rate, error = %e, "audio at 8 kHz instead"))
                    .ok()
            });
        let mut playback = Playback::default();
        tokio::pin!(hangup);
        let end = loop {
            tokio::select! {
                biased;
                () = &mut hangup => {
                    events.send(CallEvent::HungUp);
                    break BridgeEnd::RemoteHungUp;
                }
                event = self.session.next_event() => {
                    let Some(event) = event else {
                        events.send(CallEvent::HungUp);
                        break BridgeEnd::MediaStopped;
                    };
                    if let Some(end) = self.on_media_event(event, &events, &mut playback) {
                        break end;
                    }
                }
                signal = next_signal(&mut signals) => match signal {
                    Some(signal) => self.on_signal(signal, &events),
                    // The signalling side is gone; the hang-up future
                    // says whether the call is.
                    None => signals = None,
                },
                command = commands.recv() => {
                    let Some(command) = command else {
                        break BridgeEnd::AgentDone;
                    };
                    self.on_command(command, &events, &mut playback).await;
                }
                frame = self.frames.recv() => {
                    let Some(frame) = frame else {
                        events.send(CallEvent::HungUp);
                        break BridgeEnd::MediaStopped;
                    };
                    events.send(CallEvent::Audio(to_agent(&frame, upsample.as_mut())));
                }
            }
        };
        if !playback.pending.is_empty() {
            let _ = self.session.clear_playback();
        }
        // The call is over: the recording (a voicemail left by a caller
        // who hung up) is complete when this returns. An agent that left
        // a call still up leaves its recording running for the next one.
        if self.recording && end != BridgeEnd::AgentDone {
            self.recording = false;
            match tokio::time::timeout(STOP_RECORDING_WAIT, self.session.stop_recording()).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "recording incomplete"),
                Err(_) => tracing::warn!("recording still being written"),
            }
        }
        end
    }

    fn on_signal(&mut self, signal: LineSignal, events: &EventSender) {
        match signal {
            LineSignal::Media(params) => {
                if let Err(e) = self.session.update(params) {
                    tracing::warn!(error = %e, "the renegotiated media cannot be applied");
                }
            }
            LineSignal::Dtmf { digit, duration } => {
                if self
                    .dtmf
                    .is_new(digit, DtmfSource::Signalling, Instant::now())
                {
                    events.send(CallEvent::Dtmf { digit, duration });
                }
            }
        }
    }

    fn on_media_event(
        &mut self,
        event: MediaEvent,
        events: &EventSender,
        playback: &mut Playback,
    ) -> Option<BridgeEnd> {
        match event {
            MediaEvent::SpeechStarted { media_ts } => {
                if playback.barge_in && !playback.pending.is_empty() {
                    if let Err(e) = self.session.clear_playback() {
                        tracing::warn!(error = %e, "barge-in could not clear playback");
                    }
                }
                events.send(CallEvent::SpeechStarted {
                    at: clock(media_ts),
                });
            }
            MediaEvent::SpeechStopped { media_ts } => {
                events.send(CallEvent::SpeechStopped {
                    at: clock(media_ts),
                });
            }
            // A key reaches the agent once, when it goes down, so a menu
            // moves on while the caller still holds it; its release only
            // says how long it was held, which the agent does not wait for.
            MediaEvent::DtmfStarted { digit, .. } => {
                if self.dtmf.is_new(digit, DtmfSource::Media, Instant::now()) {
                    events.send(CallEvent::Dtmf {
                        digit,
                        duration: None,
                    });
                }
            }
            MediaEvent::Dtmf { .. } => {}
            MediaEvent::PlaybackFinished { id, interrupted } => {
                // Plays finish in order, so `id` finishing means every
                // earlier one has too (even if its event was lost).
                while playback.pending.front().is_some_and(|p| p.media <= id) {
                    let Some(done) = playback.pending.pop_front() else {
                        break;
                    };
                    if let Some(on_air) = done.on_air {
                        if !interrupted {
                            let _ = on_air.send(Instant::now());
                        }
                    }
                    if let Some(id) = done.agent {
                        events.send(CallEvent::PlaybackFinished { id, interrupted });
                    }
                }
                if playback.pending.is_empty() {
                    for waiter in playback.waiters.drain(..) {
                        let _ = waiter.send(());
                    }
                }
            }
            MediaEvent::Timeout { silent_for } => {
                events.send(CallEvent::HungUp);
                return Some(BridgeEnd::MediaTimeout { silent_for });
            }
            MediaEvent::Stats(stats) => self.last_stats = Some(stats),
            MediaEvent::RemoteAddressChanged { from, to } => {
                tracing::info!(?from, %to, "media source moved");
            }
            MediaEvent::DtmfSent { .. } | MediaEvent::DtmfCancelled { .. } => {}
        }
        None
    }

    async fn on_command(
        &mut self,
        command: CallCommand,
        events: &EventSender,
        playback: &mut Playback,
    ) {
        match command {
            CallCommand::Play {
                id,
                samples,
                rate,
                on_air,
            } => self.play(id, samples, rate, on_air, events, playback),
            CallCommand::StopPlayback => {
                if let Err(e) = self.session.clear_playback() {
                    tracing::warn!(error = %e, "playback could not be stopped");
                }
            }
            CallCommand::WaitPlayback(reply) => {
                if playback.pending.is_empty() {
                    let _ = reply.send(());
                } else {
                    playback.waiters.push(reply);
                }
            }
            CallCommand::SetBargeIn(on) => playback.barge_in = on,
            CallCommand::SendDtmf { digit, length } => {
                if let Err(e) = self.session.send_dtmf(digit, length) {
                    tracing::warn!(%digit, error = %e, "key not sent");
                }
            }
            CallCommand::StartRecording { path, mode, reply } => {
                let mode = match mode {
                    RecordingMode::Caller => RecordMode::Caller,
                    RecordingMode::Agent => RecordMode::Agent,
                    RecordingMode::Both => RecordMode::Stereo,
                };
                let started = self
                    .session
                    .start_recording(&path, mode)
                    .map_err(|e| CallError::Line(e.to_string()));
                self.recording |= started.is_ok();
                let _ = reply.send(started);
            }
            CallCommand::StopRecording { reply } => {
                self.recording = false;
                let stopped =
                    tokio::time::timeout(STOP_RECORDING_WAIT, self.session.stop_recording()).await;
                let answer = match stopped {
                    Ok(Ok(summary)) => Ok((summary.samples, summary.frames_dropped)),
                    Ok(Err(e)) => Err(CallError::Line(e.to_string())),
                    Err(_) => Err(CallError::Line(
                        "the recording's file is still being written".into(),
                    )),
                };
                let _ = reply.send(answer);
            }
        }
    }

    fn play(
        &mut self,
        id: Option<PlaybackId>,
        samples: Vec<i16>,
        rate: u32,
        on_air: Option<oneshot::Sender<Instant>>,
        events: &EventSender,
        playback: &mut Playback,
    ) {
        let mut samples = if rate == LINE_RATE {
            samples
        } else {
            resample(&samples, rate, LINE_RATE)
        };
        if samples.is_empty() {
            if let Some(id) = id {
                events.send(CallEvent::PlaybackFinished {
                    id,
                    interrupted: false,
                });
            }
            return;
        }
        // The first frame of a play whose start is wanted goes on its own:
        // its finish is the moment it was sent.
        if let Some(on_air) = on_air {
            let rest = samples.split_off(samples.len().min(rtp_media::engine::FRAME_SAMPLES));
            let first = std::mem::replace(&mut samples, rest);
            self.queue(first, None, Some(on_air), playback);
            if samples.is_empty() {
                if let Some(id) = id {
                    // Reported with the first frame's finish.
                    if let Some(last) = playback.pending.back_mut() {
                        last.agent = Some(id);
                    }
                }
                return;
            }
        }
        self.queue(samples, id, None, playback);
    }

    fn queue(
        &mut self,
        samples: Vec<i16>,
        agent: Option<PlaybackId>,
        on_air: Option<oneshot::Sender<Instant>>,
        playback: &mut Playback,
    ) {
        match self.session.play(samples) {
            Ok(media) => playback.pending.push_back(Pending {
                media,
                agent,
                on_air,
            }),
            Err(e) => tracing::warn!(error = %e, "audio not queued"),
        }
    }
}

/// A position on the 8 kHz delivered-audio clock as a time.
fn clock(media_ts: u32) -> Duration {
    Duration::from_micros(u64::from(media_ts) * 1_000_000 / u64::from(LINE_RATE))
}

/// One engine frame as the agent wants it.
fn to_agent(frame: &AudioFrame, upsample: Option<&mut Resampler>) -> Frame {
    let (samples, rate) = match upsample {
        Some(r) => match r.process(&frame.samples) {
            Ok(out) => (out.to_vec(), r.to_rate()),
            Err(_) => (frame.samples.to_vec(), LINE_RATE),
        },
        None => (frame.samples.to_vec(), LINE_RATE),
    };
    Frame {
        samples,
        rate,
        at: clock(frame.media_ts),
        concealed: frame.kind != FrameKind::Audio,
    }
}

/// The next signal, or never when there is no signalling side.
async fn next_signal(
    signals: &mut Option<&mut mpsc::UnboundedReceiver<LineSignal>>,
) -> Option<LineSignal> {
    match signals {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod dtmf_tests {
    use super::*;

    #[test]
    fn a_key_sent_two_ways_is_reported_once_and_a_repeated_key_twice() {
        let mut d = DtmfDedup::default();
        let t0 = Instant::now();
        assert!(d.is_new('5', DtmfSource::Media, t0));
        // The gateway's INFO for the same press.
        assert!(!d.is_new('5', DtmfSource::Signalling, t0 + Duration::from_millis(40)));
        // Pressed again, the same way: a second press.
        assert!(d.is_new('5', DtmfSource::Media, t0 + Duration::from_millis(300)));
        // Another key is always new.
        assert!(d.is_new('6', DtmfSource::Signalling, t0 + Duration::from_millis(320)));
        // The same key another way, long after: a new press.
        assert!(d.is_new('6', DtmfSource::Media, t0 + Duration::from_secs(2)));
        // Lower and upper case are one key.
        assert!(d.is_new('a', DtmfSource::Signalling, t0 + Duration::from_secs(3)));
        assert!(!d.is_new('A', DtmfSource::Media, t0 + Duration::from_secs(3)));
    }
}
