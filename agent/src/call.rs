//! One call as an agent sees it: who is calling and on which line
//! ([`CallContext`]), what happens on the line ([`CallEvent`]: the caller's
//! audio in 20 ms frames, speech, keys, hang-up), and what the agent can do
//! ([`CallHandle`]'s methods: play, stop playback, wait for it, keys,
//! recording, transcript), and how it ends ([`AgentOutcome`]).
//!
//! Nothing here speaks of SIP or RTP: a SIP call and an analog line give
//! the agent the same handle. The line's side of a call is a
//! [`LineSide`]: the [`CallCommand`]s the agent sends and the sender of
//! its events. [`crate::media::MediaBridge`] serves it from a media
//! session; a DAHDI channel serves the same protocol.

use crate::customer::Customer;
use crate::journal::RecordLog;
use crate::record::{
    CallDirection, CallUpdate, DtmfEntry, Party, Speaker, TranscriptEntry, TurnTimings,
};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use thiserror::Error;
use tokio::sync::{mpsc, oneshot};

/// A boxed future that can move between threads: what the object-safe
/// extension traits ([`crate::DynAgent`], the [`crate::speech`] engines)
/// return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The rate of the line's own audio (G.711, an analog channel), in Hz.
pub const LINE_RATE: u32 = 8000;
/// The length of one frame of audio, in and out.
pub const FRAME_DURATION: Duration = Duration::from_millis(20);

/// What is known about a call when its agent starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallContext {
    /// The call's id (the SIP Call-ID, or the id the switch gave an analog
    /// call); the call record's key.
    pub call_id: String,
    /// The line the call came in on or went out by, by its configured name.
    pub line: String,
    /// The tenant the line belongs to, where there are several.
    pub tenant: Option<String>,
    /// Whether the call came in or went out.
    pub direction: CallDirection,
    /// Who is calling: number as received, E.164 where known, name.
    pub caller: Party,
    /// The number of ours that was dialled (inbound) or that we dialled.
    pub did: Option<String>,
    /// The profile routing chose.
    pub profile: Option<String>,
    /// The caller as the tenant's customer list knows them (name, fields),
    /// as routing found them; `None` for an unknown caller.
    pub customer: Option<Customer>,
}

impl CallContext {
    /// A context with only the call id, line, direction and caller known.
    pub fn new(
        call_id: impl Into<String>,
        line: impl Into<String>,
        direction: CallDirection,
        caller: Party,
    ) -> Self {
        CallContext {
            call_id: call_id.into(),
            line: line.into(),
            tenant: None,
            direction,
            caller,
            did: None,
            profile: None,
            customer: None,
        }
    }
}

/// 20 ms of the caller's audio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Linear 16-bit samples at [`Frame::rate`] (160 at 8 kHz, 320 at
    /// 16 kHz, 480 at 24 kHz).
    pub samples: Vec<i16>,
    /// Sample rate in Hz, as asked for by [`crate::Agent::audio_rate`].
    pub rate: u32,
    /// Where the frame starts on the call's clock of delivered audio (the
    /// same clock as [`CallEvent::SpeechStarted`]'s `at`).
    pub at: Duration,
    /// The line had no audio for this frame (loss concealed, comfort
    /// noise, nothing received yet): the samples are made up.
    pub concealed: bool,
}

/// Identifies one [`CallHandle::play`] in [`CallEvent::PlaybackFinished`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PlaybackId(pub u64);

/// Something that happened on the call, in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallEvent {
    /// The next 20 ms of the caller's audio.
    Audio(Frame),
    /// The caller started talking (voice activity detection), `at` on the
    /// delivered-audio clock.
    SpeechStarted {
        /// Position of the start of speech.
        at: Duration,
    },
    /// The caller stopped talking.
    SpeechStopped {
        /// Position of the end of speech.
        at: Duration,
    },
    /// The caller pressed a key.
    Dtmf {
        /// `0`-`9`, `*`, `#`, `A`-`D`.
        digit: char,
        /// How long the key was held, where the line knows it.
        duration: Option<Duration>,
    },
    /// A [`CallHandle::play`] was all sent, or cut short by
    /// [`CallHandle::stop_playback`] or barge-in (`interrupted`).
    PlaybackFinished {
        /// Which play.
        id: PlaybackId,
        /// Stopped before the end.
        interrupted: bool,
    },
    /// The call is over (the caller hung up, the line went dead). No
    /// event follows; commands fail with [`CallError::Ended`].
    HungUp,
}

/// Which audio a recording keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordingMode {
    /// The caller only, mono (voicemail).
    Caller,
    /// The agent only, mono.
    Agent,
    /// Both, stereo: left the caller, right the agent.
    Both,
}

/// What a finished recording holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingInfo {
    /// The WAV file.
    pub path: PathBuf,
    /// How much audio it holds.
    pub length: Duration,
    /// 20 ms frames lost because the disk was too slow.
    pub frames_dropped: u64,
}

/// Why a [`CallHandle`] command failed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CallError {
    /// The call has ended; nothing more can be done on it.
    #[error("the call has ended")]
    Ended,
    /// Not a DTMF key.
    #[error("{0:?} is not a DTMF key (0-9, *, #, A-D)")]
    InvalidDigit(char),
    /// No recordings directory was configured for this call's line.
    #[error("recording is not configured for this call")]
    RecordingNotConfigured,
    /// The line could not do it; the line's own words.
    #[error("the line refused: {0}")]
    Line(String),
    /// An audio file could not be read or decoded.
    #[error("prompt {path}: {message}")]
    Prompt {
        /// The file.
        path: PathBuf,
        /// What was wrong with it.
        message: String,
    },
}

/// A command from the agent to the line; what a line implementation
/// ([`crate::media::MediaBridge`], a DAHDI channel) must carry out.
#[derive(Debug)]
pub enum CallCommand {
    /// Queue audio after what is queued. `id`: report
    /// [`CallEvent::PlaybackFinished`] for it (`None` for streamed frames,
    /// which report nothing). `on_air`: tell the moment its first 20 ms
    /// were sent to the line.
    Play {
        /// The agent's id for the play.
        id: Option<PlaybackId>,
        /// Linear samples at `rate`.
        samples: Vec<i16>,
        /// Sample rate of `samples`, Hz.
        rate: u32,
        /// Told when the first frame of the play is on the line.
        on_air: Option<oneshot::Sender<Instant>>,
    },
    /// Drop everything queued, at once.
    StopPlayback,
    /// Answer once everything queued has been sent or dropped.
    WaitPlayback(oneshot::Sender<()>),
    /// Stop playback by itself as soon as the caller starts talking.
    SetBargeIn(bool),
    /// Send a key to the far end.
    SendDtmf {
        /// The key.
        digit: char,
        /// How long to hold it.
        length: Duration,
    },
    /// Start recording to `path` (WAV).
    StartRecording {
        /// The file.
        path: PathBuf,
        /// Which audio.
        mode: RecordingMode,
        /// Whether it started.
        reply: oneshot::Sender<Result<(), CallError>>,
    },
    /// Stop the recording and answer once its file is complete.
    StopRecording {
        /// Samples written per channel at 8 kHz and frames dropped.
        reply: oneshot::Sender<Result<(u64, u64), CallError>>,
    },
}

/// What the line and the supervisor share with the agent's handle.
#[derive(Debug)]
pub(crate) struct Shared {
    base: Instant,
    /// Milliseconds since `base` of the agent's last command or event read.
    last_activity_ms: AtomicU64,
    /// Waits in progress (`next_event`, `wait_playback`, stopping a
    /// recording): while there is one, the agent is quiet, not hung.
    waiting: AtomicUsize,
    /// Audio frames queued towards the agent and not read yet.
    queued_audio: AtomicUsize,
}

impl Shared {
    fn touch(&self) {
        let ms = self.base.elapsed().as_millis() as u64;
        self.last_activity_ms.store(ms, Ordering::Relaxed);
    }
}

/// One wait of the agent, from its start until it ends or is cancelled
/// (its future dropped in a `select!`); the end counts as activity.
struct Waiting<'a>(&'a Shared);

impl<'a> Waiting<'a> {
    fn start(shared: &'a Shared) -> Self {
        shared.waiting.fetch_add(1, Ordering::Relaxed);
        Waiting(shared)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.touch();
        self.0.waiting.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The agent's liveness as the supervisor sees it.
#[derive(Debug, Clone)]
pub struct AgentActivity(Arc<Shared>);

impl AgentActivity {
    /// How long the agent has been busy without reading an event or
    /// giving a command; zero while it waits for an event or for playback.
    pub fn busy_for(&self) -> Duration {
        let s = &self.0;
        if s.waiting.load(Ordering::Relaxed) > 0 {
            return Duration::ZERO;
        }
        let last = Duration::from_millis(s.last_activity_ms.load(Ordering::Relaxed));
        s.base.elapsed().saturating_sub(last)
    }
}

/// The line's end of a call: what [`CallHandle::new`] pairs with the
/// agent's handle.
#[derive(Debug)]
pub struct LineSide {
    /// The agent's commands, in order. Closed when the agent is done
    /// (its handle dropped).
    pub commands: mpsc::UnboundedReceiver<CallCommand>,
    /// Where the line puts events for the agent.
    pub events: EventSender,
    /// The rate the agent wants its audio at.
    pub audio_rate: u32,
}

/// Sends events to the agent; audio frames are dropped (and counted) while
/// the agent has [`EventSender::MAX_QUEUED_AUDIO`] frames unread, so an
/// agent that stops reading cannot make a call hold unbounded memory.
/// Other events are never dropped.
#[derive(Debug, Clone)]
pub struct EventSender {
    tx: mpsc::UnboundedSender<CallEvent>,
    shared: Arc<Shared>,
}

impl EventSender {
    /// Unread audio frames beyond which new ones are dropped (10 s).
    pub const MAX_QUEUED_AUDIO: usize = 500;

    /// Queues `event` for the agent. `false` if the agent is gone, or the
    /// event was an audio frame it had no room for.
    pub fn send(&self, event: CallEvent) -> bool {
        if matches!(event, CallEvent::Audio(_)) {
            let queued = self.shared.queued_audio.load(Ordering::Relaxed);
            if queued >= Self::MAX_QUEUED_AUDIO {
                return false;
            }
            self.shared.queued_audio.fetch_add(1, Ordering::Relaxed);
        }
        self.tx.send(event).is_ok()
    }

    /// Whether the agent's handle is gone.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

/// Settings of one call's handle.
#[derive(Debug, Clone, Default)]
pub struct CallOptions {
    /// Rate of the audio the agent receives, Hz (8000 when zero).
    pub audio_rate: u32,
    /// Where [`CallHandle::start_recording`] writes; `None` refuses it.
    pub recordings_dir: Option<PathBuf>,
    /// The call's record, for transcript lines, digits and recordings.
    pub record: Option<RecordLog>,
}

/// What an agent holds to serve one call: events in, commands out.
///
/// Commands are quick: they queue work on the line and return. Playback is
/// queued audio; [`CallHandle::wait_playback`] waits for it to be sent.
#[derive(Debug)]
pub struct CallHandle {
    call_id: String,
    commands: mpsc::UnboundedSender<CallCommand>,
    events: mpsc::UnboundedReceiver<CallEvent>,
    shared: Arc<Shared>,
    next_play: AtomicU64,
    audio_rate: u32,
    recordings_dir: Option<PathBuf>,
    record: Option<RecordLog>,
    started: Instant,
    ended: bool,
}

impl CallHandle {
    /// A handle for call `call_id` and the line's side that serves it.
    pub fn new(call_id: impl Into<String>, options: CallOptions) -> (CallHandle, LineSide) {
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let now = Instant::now();
        let shared = Arc::new(Shared {
            base: now,
            last_activity_ms: AtomicU64::new(0),
            waiting: AtomicUsize::new(0),
            queued_audio: AtomicUsize::new(0),
        });
        let audio_rate = if options.audio_rate == 0 {
            LINE_RATE
        } else {
            options.audio_rate
        };
        let handle = CallHandle {
            call_id: call_id.into(),
            commands: cmd_tx,
            events: ev_rx,
            shared: Arc::clone(&shared),
            next_play: AtomicU64::new(1),
            audio_rate,
            recordings_dir: options.recordings_dir,
            record: options.record,
            started: now,
            ended: false,
        };
        let line = LineSide {
            commands: cmd_rx,
            events: EventSender { tx: ev_tx, shared },
            audio_rate,
        };
        (handle, line)
    }

    /// The call's id.
    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    /// The rate of [`CallEvent::Audio`] frames and of [`CallHandle::play`].
    pub fn audio_rate(&self) -> u32 {
        self.audio_rate
    }

    /// Time since the agent got the call (transcript offsets count from
    /// here).
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// The agent's liveness, for a supervisor.
    pub fn activity(&self) -> AgentActivity {
        AgentActivity(Arc::clone(&self.shared))
    }

    /// The call's record, where the line keeps one.
    pub fn record(&self) -> Option<&RecordLog> {
        self.record.as_ref()
    }

    /// Waits for the next event: audio frames and everything else in one
    /// stream, in order. `None` after [`CallEvent::HungUp`] (or if the
    /// line went away). Cancel-safe: dropping the future loses no event.
    pub async fn next_event(&mut self) -> Option<CallEvent> {
        if self.ended {
            return None;
        }
        let event = {
            let _waiting = Waiting::start(&self.shared);
            self.events.recv().await
        };
        self.on_event(event)
    }

    /// The next event if one is waiting.
    pub fn try_next_event(&mut self) -> Option<CallEvent> {
        if self.ended {
            return None;
        }
        let event = self.events.try_recv().ok()?;
        self.shared.touch();
        self.on_event(Some(event))
    }

    fn on_event(&mut self, event: Option<CallEvent>) -> Option<CallEvent> {
        match &event {
            Some(CallEvent::Audio(_)) => {
                self.shared.queued_audio.fetch_sub(1, Ordering::Relaxed);
            }
            Some(CallEvent::Dtmf { digit, duration }) => {
                if let Some(record) = &self.record {
                    record.update(CallUpdate::Dtmf(DtmfEntry {
                        digit: *digit,
                        offset: self.elapsed(),
                        duration: *duration,
                    }));
                }
            }
            Some(CallEvent::HungUp) | None => self.ended = true,
            _ => {}
        }
        event
    }

    fn send(&self, command: CallCommand) -> Result<(), CallError> {
        self.shared.touch();
        self.commands.send(command).map_err(|_| CallError::Ended)
    }

    /// A player for this call that other tasks can hold (a TTS stream
    /// playing while this handle reads events).
    pub fn player(&self) -> Player {
        Player {
            commands: self.commands.clone(),
            shared: Arc::clone(&self.shared),
            rate: self.audio_rate,
        }
    }

    /// Queues audio at [`CallHandle::audio_rate`]; its
    /// [`CallEvent::PlaybackFinished`] carries the returned id.
    pub fn play(&self, samples: Vec<i16>) -> Result<PlaybackId, CallError> {
        self.play_at(samples, self.audio_rate)
    }

    /// Queues audio at `rate` Hz (converted to the line's rate).
    pub fn play_at(&self, samples: Vec<i16>, rate: u32) -> Result<PlaybackId, CallError> {
        let id = PlaybackId(self.next_play.fetch_add(1, Ordering::Relaxed));
        self.send(CallCommand::Play {
            id: Some(id),
            samples,
            rate,
            on_air: None,
        })?;
        Ok(id)
    }

    /// Queues streamed audio (a frame of an echo, a chunk of a model's
    /// output) at [`CallHandle::audio_rate`], without a finish event.
    pub fn play_stream(&self, samples: Vec<i16>) -> Result<(), CallError> {
        self.player().play(samples)
    }

    /// Decodes an audio file (WAV, MP3, FLAC, OGG) and queues it.
    pub async fn play_file(&self, path: impl Into<PathBuf>) -> Result<PlaybackId, CallError> {
        let path = path.into();
        let samples = load_prompt(path).await?;
        self.play_at(samples, LINE_RATE)
    }

    /// Drops all queued audio at once (barge-in by hand).
    pub fn stop_playback(&self) -> Result<(), CallError> {
        self.send(CallCommand::StopPlayback)
    }

    /// Waits until all queued audio has been sent (or dropped).
    pub async fn wait_playback(&self) -> Result<(), CallError> {
        self.player().wait().await
    }

    /// With barge-in on, the line stops playback by itself the moment the
    /// caller starts talking, without waiting for the agent to react.
    pub fn set_barge_in(&self, on: bool) -> Result<(), CallError> {
        self.send(CallCommand::SetBargeIn(on))
    }

    /// Sends a key press to the far end (after queued keys).
    pub fn send_dtmf(&self, digit: char, length: Duration) -> Result<(), CallError> {
        if !matches!(digit, '0'..='9' | '*' | '#' | 'A'..='D') {
            return Err(CallError::InvalidDigit(digit));
        }
        self.send(CallCommand::SendDtmf { digit, length })
    }

    /// Starts recording the call to its recording file (named by the call
    /// id in the configured directory) and notes it in the call record.
    pub async fn start_recording(&self, mode: RecordingMode) -> Result<PathBuf, CallError> {
        let dir = self
            .recordings_dir
            .as_ref()
            .ok_or(CallError::RecordingNotConfigured)?;
        let path = crate::record::recording_path(dir, &self.call_id);
        let (reply, done) = oneshot::channel();
        self.send(CallCommand::StartRecording {
            path: path.clone(),
            mode,
            reply,
        })?;
        done.await.map_err(|_| CallError::Ended)??;
        if let Some(record) = &self.record {
            record.update(CallUpdate::Recording(path.clone()));
        }
        Ok(path)
    }

    /// Stops the recording and waits until its file is complete.
    pub async fn stop_recording(&self) -> Result<RecordingInfo, CallError> {
        let dir = self
            .recordings_dir
            .as_ref()
            .ok_or(CallError::RecordingNotConfigured)?;
        let (reply, done) = oneshot::channel();
        self.send(CallCommand::StopRecording { reply })?;
        let answer = {
            let _waiting = Waiting::start(&self.shared);
            done.await
        };
        let (samples, frames_dropped) = answer.map_err(|_| CallError::Ended)??;
        Ok(RecordingInfo {
            path: crate::record::recording_path(dir, &self.call_id),
            length: Duration::from_secs_f64(samples as f64 / f64::from(LINE_RATE)),
            frames_dropped,
        })
    }

    /// Adds a line to the call's transcript, `offset` from the start of
    /// the call for the agent.
    pub fn transcript(
        &self,
        speaker: Speaker,
        text: impl Into<String>,
        offset: Duration,
        timings: TurnTimings,
    ) {
        self.shared.touch();
        if let Some(record) = &self.record {
            record.update(CallUpdate::Transcript(TranscriptEntry {
                speaker,
                text: text.into(),
                offset,
                timings,
            }));
        }
    }

    /// The offset of `at` from the start of the call for the agent.
    pub fn offset_of(&self, at: Instant) -> Duration {
        at.saturating_duration_since(self.started)
    }
}

/// Plays into a call without borrowing its [`CallHandle`]; cheap to clone.
#[derive(Debug, Clone)]
pub struct Player {
    commands: mpsc::UnboundedSender<CallCommand>,
    shared: Arc<Shared>,
    rate: u32,
}

impl Player {
    /// Queues streamed audio at the call's audio rate, no finish event.
    pub fn play(&self, samples: Vec<i16>) -> Result<(), CallError> {
        self.play_at(samples, self.rate)
    }

    /// Queues streamed audio at `rate` Hz, no finish event.
    pub fn play_at(&self, samples: Vec<i16>, rate: u32) -> Result<(), CallError> {
        self.send(CallCommand::Play {
            id: None,
            samples,
            rate,
            on_air: None,
        })
    }

    /// Queues audio at `rate` Hz and returns when its first 20 ms will be
    /// on the line: the receiver gets that moment.
    pub fn play_on_air(
        &self,
        samples: Vec<i16>,
        rate: u32,
    ) -> Result<oneshot::Receiver<Instant>, CallError> {
        let (tx, rx) = oneshot::channel();
        self.send(CallCommand::Play {
            id: None,
            samples,
            rate,
            on_air: Some(tx),
        })?;
        Ok(rx)
    }

    /// Drops all queued audio at once.
    pub fn stop(&self) -> Result<(), CallError> {
        self.send(CallCommand::StopPlayback)
    }

    /// Waits until all audio queued so far has been sent (or dropped).
    pub async fn wait(&self) -> Result<(), CallError> {
        let (tx, rx) = oneshot::channel();
        self.send(CallCommand::WaitPlayback(tx))?;
        let done = {
            let _waiting = Waiting::start(&self.shared);
            rx.await
        };
        done.map_err(|_| CallError::Ended)
    }

    fn send(&self, command: CallCommand) -> Result<(), CallError> {
        self.shared.touch();
        self.commands.send(command).map_err(|_| CallError::Ended)
    }
}

/// Decodes an audio file to 8 kHz mono, off the async threads.
pub(crate) async fn load_prompt(path: PathBuf) -> Result<Vec<i16>, CallError> {
    let p = path.clone();
    let loaded = tokio::task::spawn_blocking(move || rtp_media::prompt::Prompt::load(&p)).await;
    match loaded {
        Ok(Ok(prompt)) => Ok(prompt.samples().to_vec()),
        Ok(Err(e)) => Err(CallError::Prompt {
            path,
            message: e.to_string(),
        }),
        Err(e) => Err(CallError::Prompt {
            path,
            message: e.to_string(),
        }),
    }
}

/// How an agent ended its part of the call; the switch acts on it.
///
/// Audio still queued when the agent returns is dropped: an agent that
/// says goodbye calls [`CallHandle::wait_playback`] before returning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentOutcome {
    /// Hang up the call.
    HangUp {
        /// Why, in words, for the call record.
        reason: String,
    },
    /// Hand the call on.
    Transfer {
        /// Where to.
        target: TransferTarget,
        /// Why, for the call record.
        reason: Option<String>,
    },
    /// The caller hung up (the agent saw [`CallEvent::HungUp`]).
    CallerHungUp,
}

impl AgentOutcome {
    /// [`AgentOutcome::HangUp`] with `reason`.
    pub fn hang_up(reason: impl Into<String>) -> Self {
        AgentOutcome::HangUp {
            reason: reason.into(),
        }
    }
}

/// Where a call is handed on to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TransferTarget {
    /// A person: the profile's operator (IVR key `0`).
    Operator,
    /// The profile's voicemail.
    Voicemail,
    /// Another agent, by its configured name, on the same call.
    Agent(String),
    /// A telephone number (E.164 or as dialled on the line).
    Number(String),
    /// A SIP URI.
    Uri(String),
}

impl std::fmt::Display for TransferTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TransferTarget::Operator => f.write_str("operator"),
            TransferTarget::Voicemail => f.write_str("voicemail"),
            TransferTarget::Agent(name) => write!(f, "agent {name}"),
            TransferTarget::Number(n) => write!(f, "number {n}"),
            TransferTarget::Uri(u) => write!(f, "{u}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_agent_waiting_for_events_is_quiet_and_a_cancelled_wait_is_not_left_waiting() {
        let (mut call, line) = CallHandle::new("c1", CallOptions::default());
        let activity = call.activity();
        // Waiting in next_event: never busy, however long.
        let check = async {
            tokio::time::sleep(Duration::from_millis(60)).await;
            activity.busy_for()
        };
        tokio::select! {
            _ = call.next_event() => panic!("no event was sent"),
            busy = check => assert_eq!(busy, Duration::ZERO),
        }
        // The wait above was cancelled: from then on the agent is busy.
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(activity.busy_for() >= Duration::from_millis(50));
        // A command is activity.
        call.stop_playback().unwrap();
        assert!(activity.busy_for() < Duration::from_millis(50));
        drop(line);
    }

    #[tokio::test]
    async fn audio_frames_beyond_the_queue_limit_are_dropped_but_other_events_are_not() {
        let (mut call, line) = CallHandle::new("c2", CallOptions::default());
        let frame = || {
            CallEvent::Audio(Frame {
                samples: vec![0; 160],
                rate: LINE_RATE,
                at: Duration::ZERO,
                concealed: false,
            })
        };
        for _ in 0..EventSender::MAX_QUEUED_AUDIO {
            assert!(line.events.send(frame()));
        }
        assert!(!line.events.send(frame()), "the agent is not reading");
        assert!(line.events.send(CallEvent::Dtmf {
            digit: '1',
            duration: None
        }));
        // Reading a frame makes room for one.
        assert!(matches!(call.next_event().await, Some(CallEvent::Audio(_))));
        assert!(line.events.send(frame()));
        assert!(line.events.send(CallEvent::HungUp));
        let mut keys = 0;
        while let Some(event) = call.next_event().await {
            keys += usize::from(matches!(event, CallEvent::Dtmf { .. }));
        }
        assert_eq!(keys, 1);
        assert!(
            call.next_event().await.is_none(),
            "nothing after the hang-up"
        );
    }
}
